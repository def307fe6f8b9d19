"""Convolution on the CPU (NCHW, float32/float64); pooling is in pool.py.

Algorithms, picked by the taps per output (C/groups * KH * KW):
- few taps (a 1-channel first layer, depthwise): a direct convolution, parallel over (n, o)
  planes, one axpy per tap along each output row, or at stride 1 one per tap over the whole
  plane (the input zero-padded first); its backward kernels are direct too (at stride 1 the
  weight and bias gradients in one pass over the output gradient, by tasks over the images).
- otherwise GEMMs over patch matrices, by **tasks** where a CBLAS was found (``_blas``): a task
  per thread takes its share of the images, one at a time: the image's patches (C*KH*KW, L),
  L = OH*OW, in the task's own buffer (in its core's cache), then ``out[n] = W @ cols`` per
  group straight into NCHW (BLAS on the task's thread), the bias added; backward, the patches
  again, ``gW += g[n] @ cols^T`` and ``gb += g[n]`` summed into the task's partial sums
  (added up at the end) and ``gx[n] = col2im(W^T @ g[n])``. Seed CNN conv2 at batch 512
  (float32, 2 threads): forward 40 -> 28 ms, backward 85 -> 61 ms, and no patch matrix of the
  whole batch (115 MB) kept from forward to backward;
- the same GEMMs over the **whole batch** without a known CBLAS: ``cols`` (C*KH*KW, N*L) holds
  every patch, forward ``y = W @ cols`` (O, N*L) is regrouped into NCHW with the bias fused in;
  grad_weight is ``g' @ cols^T`` and grad_input col2im of ``W^T @ g'`` with g' the output
  gradient as (O, N*L), by NumPy's threaded BLAS (``np.matmul`` with ``out=``, as
  kernels/cpu/matmul.py: ``np.dot`` inside ``@njit`` needs SciPy). ``conv2d_cols_shape`` says
  which: a shape for the whole batch's ``cols``, None for the others.
The layout moves are Numba loops over unit-stride runs.

Contracts: every array C-contiguous unless stated, one float dtype throughout; ``out`` (and the
other written arguments, named in each docstring) are caller-allocated; nothing is returned.
Padding may be asymmetric: only the leading pad (``ph``, ``pw``) is passed, the trailing pad is
implied by the output size.
"""
import numba
import numpy as np
from numba import prange

from .. import policy
from . import _blas, _vmath
from ._blas import NO_TRANS, ROW_MAJOR, TRANS


# --------------------------------------------------------------------------------------------
# Layout moves for the GEMM convolution. ``cols`` is (C*KH*KW, N*L) with L = OH*OW:
# cols[(c*KH + i)*KW + j, n*L + oh*OW + ow] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw].
# Every move copies unit-stride runs along a row (``_clip`` gives the part inside x).
# --------------------------------------------------------------------------------------------
@policy.scalar
def _clip(j, dw, pw, sw, w_, ow_n):
    """(first ow, count, first iw) of the output columns whose tap j reads inside 0..w_-1."""
    off = j * dw - pw
    lo = 0 if off >= 0 else (sw - 1 - off) // sw
    hi = (w_ - 1 - off) // sw + 1 if w_ - 1 - off >= 0 else 0
    if hi > ow_n:
        hi = ow_n
    if hi < lo:
        hi = lo
    return lo, hi - lo, lo * sw + off


@policy.scalar(inline="never")
def _im2col_row(x, n, r, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, out, col0):
    """out[r, col0:col0 + OH*OW] <- tap r = (c, i, j) of image n's patches."""
    h_, w_ = x.shape[2], x.shape[3]
    kk = kh * kw
    usw = np.uint64(sw)
    c = r // kk
    ij = r - c * kk
    i = ij // kw
    j = ij - i * kw
    lo, cnt, iw0 = _clip(j, dw, pw, sw, w_, ow_n)
    ulo, ucnt, uiw0 = np.uint64(lo), np.uint64(cnt), np.uint64(iw0)
    for oh in range(oh_n):
        base = np.uint64(col0 + oh * ow_n)
        ih = oh * sh - ph + i * dh
        if ih < 0 or ih >= h_:
            for k in range(np.uint64(ow_n)):
                out[r, base + k] = 0
            continue
        uih = np.uint64(ih)
        for k in range(ulo):
            out[r, base + k] = 0
        if sw == 1:  # unit stride: a plain copy that vectorises
            for k in range(ucnt):
                out[r, base + ulo + k] = x[n, c, uih, uiw0 + k]
        else:
            for k in range(ucnt):
                out[r, base + ulo + k] = x[n, c, uih, uiw0 + k * usw]
        for k in range(ulo + ucnt, np.uint64(ow_n)):
            out[r, base + k] = 0


def _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, out):
    """out (C*KH*KW, N*OH*OW) <- patches of x (N, C, H, W); zeros where they leave x."""
    n_, c_ = x.shape[:2]
    for t in prange(c_ * kh * kw * n_):
        r = t // n_
        n = t - r * n_
        _im2col_row(x, n, r, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, out, n * oh_n * ow_n)


@policy.scalar(inline="never")
def _col2im_plane(cols, n, c, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, out, col0):
    """out[n, c] <- its taps' columns col0:col0 + OH*OW of cols added back in place."""
    h_, w_ = out.shape[2], out.shape[3]
    usw = np.uint64(sw)
    for ih in range(h_):
        for iw in range(w_):
            out[n, c, ih, iw] = 0
    for i in range(kh):
        for j in range(kw):
            r = (c * kh + i) * kw + j
            lo, cnt, iw0 = _clip(j, dw, pw, sw, w_, ow_n)
            ucnt, uiw0 = np.uint64(cnt), np.uint64(iw0)
            for oh in range(oh_n):
                ih = oh * sh - ph + i * dh
                if ih < 0 or ih >= h_:
                    continue
                uih = np.uint64(ih)
                base = np.uint64(col0 + oh * ow_n + lo)
                for k in range(ucnt):
                    out[n, c, uih, uiw0 + k * usw] += cols[r, base + k]


def _col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, out):
    """out (N, C, H, W) <- the columns cols (C*KH*KW, N*OH*OW) added back in place."""
    c_ = out.shape[1]
    for p in prange(out.shape[0] * c_):
        n = p // c_
        c = p - n * c_
        _col2im_plane(cols, n, c, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, out,
                      n * oh_n * ow_n)


def _cnl_to_ncl(src, bias, has_bias, out):
    """out (N, O, L) <- src (O, N*L) regrouped, plus bias (O,) when has_bias."""
    n_, o_, l_ = out.shape
    for p in prange(n_ * o_):
        n = p // o_
        o = p - n * o_
        b = bias[o] if has_bias else src[0, 0] * 0
        base = np.uint64(n * l_)
        for k in range(np.uint64(l_)):
            out[n, o, k] = src[o, base + k] + b


def _ncl_to_cnl(src, out):
    """out (O, N*L) <- src (N, O, L) regrouped."""
    n_, o_, l_ = src.shape
    for p in prange(n_ * o_):
        n = p // o_
        o = p - n * o_
        base = np.uint64(n * l_)
        for k in range(np.uint64(l_)):
            out[o, base + k] = src[n, o, k]


def _sum_nl(g, out):
    """out (O,) <- g (N, O, L) summed over N and L (the bias gradient)."""
    n_, o_, l_ = g.shape
    for o in prange(o_):
        s = g[0, 0, 0] * 0
        for n in range(n_):
            for k in range(l_):
                s += g[n, o, k]
        out[o] = s


def _add_bias(out, bias):
    """out (N, O, L) += bias (O,)."""
    n_, o_, l_ = out.shape
    for p in prange(n_ * o_):
        n = p // o_
        o = p - n * o_
        b = bias[o]
        for k in range(l_):
            out[n, o, k] += b


_im2col_k = policy.Twin(_im2col)
_col2im_k = policy.Twin(_col2im)
_cnl_to_ncl_k = policy.Twin(_cnl_to_ncl)
_ncl_to_cnl_k = policy.Twin(_ncl_to_cnl)
_sum_nl_k = policy.Twin(_sum_nl)
_add_bias_k = policy.Twin(_add_bias)


# --------------------------------------------------------------------------------------------
# Direct convolution for few taps per output (C/groups * KH * KW <= DIRECT_MAX_TAPS): a 1-channel
# first layer or a depthwise conv, where a GEMM with K = 9 runs far below BLAS peak and the
# layout moves cost more than the arithmetic. Each tap is an axpy along an output row (unsigned
# indices so it vectorises); ``lo``/``cnt`` clip the row to the columns whose input is inside x.
# --------------------------------------------------------------------------------------------
#: Largest C/groups*KH*KW run directly (1-channel 3x3 conv: direct 1.1 ms, im2row+GEMM 5.3 ms).
DIRECT_MAX_TAPS = 16


def _conv_direct(x, w, bias, has_bias, sh, sw, ph, pw, dh, dw, groups, out):
    n_, c_, h_, w_ = x.shape
    o_, cg, kh, kw = w.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    og = o_ // groups
    usw = np.uint64(sw)
    for p in prange(n_ * o_):
        n = p // o_
        o = p - n * o_
        c0 = (o // og) * cg
        b = bias[o] if has_bias else x[0, 0, 0, 0] * 0
        for oh in range(oh_n):
            for ow in range(ow_n):
                out[n, o, oh, ow] = b
        for ci in range(cg):
            c = c0 + ci
            for i in range(kh):
                for j in range(kw):
                    wv = w[o, ci, i, j]
                    lo, cnt, iw0 = _clip(j, dw, pw, sw, w_, ow_n)
                    ulo, ucnt, uiw0 = np.uint64(lo), np.uint64(cnt), np.uint64(iw0)
                    for oh in range(oh_n):
                        ih = oh * sh - ph + i * dh
                        if ih < 0 or ih >= h_:
                            continue
                        uih = np.uint64(ih)
                        if sw == 1:
                            for k in range(ucnt):
                                out[n, o, oh, ulo + k] += wv * x[n, c, uih, uiw0 + k]
                        else:
                            for k in range(ucnt):
                                out[n, o, oh, ulo + k] += wv * x[n, c, uih, uiw0 + k * usw]


def _conv_direct_gw(x, g, sh, sw, ph, pw, dh, dw, groups, gw):
    n_, c_, h_, w_ = x.shape
    o_, cg, kh, kw = gw.shape
    oh_n, ow_n = g.shape[2], g.shape[3]
    og = o_ // groups
    usw = np.uint64(sw)
    for p in prange(o_ * cg):
        o = p // cg
        ci = p - o * cg
        c = (o // og) * cg + ci
        # the clipped column range of each tap column j, once per task
        los = np.empty(kw, np.uint64)
        cnts = np.empty(kw, np.uint64)
        iw0s = np.empty(kw, np.uint64)
        for j in range(kw):
            lo, cnt, iw0 = _clip(j, dw, pw, sw, w_, ow_n)
            los[j], cnts[j], iw0s[j] = lo, cnt, iw0
        acc = np.zeros(kh * kw, np.float64)
        # taps innermost: a row of g is read kh*kw times from L1, not the plane from L2
        for n in range(n_):
            for oh in range(oh_n):
                for i in range(kh):
                    ih = oh * sh - ph + i * dh
                    if ih < 0 or ih >= h_:
                        continue
                    uih = np.uint64(ih)
                    for j in range(kw):
                        ulo, ucnt, uiw0 = los[j], cnts[j], iw0s[j]
                        s = x[0, 0, 0, 0] * 0
                        if sw == 1:
                            for k in range(ucnt):
                                s += g[n, o, oh, ulo + k] * x[n, c, uih, uiw0 + k]
                        else:
                            for k in range(ucnt):
                                s += g[n, o, oh, ulo + k] * x[n, c, uih, uiw0 + k * usw]
                        acc[i * kw + j] += s
        for i in range(kh):
            for j in range(kw):
                gw[o, ci, i, j] = acc[i * kw + j]


# Stride 1: the input zero-padded once (``xp`` (N, C, Hp, Wp), Hp = OH + (KH-1)*dh, Wp = OW +
# (KW-1)*dw), an output plane is computed flat at the padded pitch Wp: tap (i, j) is one axpy of
# M = (OH-1)*Wp + OW elements, offset i*dh*Wp + j*dw into the plane, where the row-by-row kernels
# above make an axpy of OW per row and tap (seed CNN conv1, batch 64: forward 1.5 -> 0.8 ms).
def _conv_direct_s1(xp, wp, w, bias, has_bias, dh, dw, groups, accs, out):
    """accs (T, M): each task's accumulator, a scratch row (passed in, not allocated here: a
    kernel that calls np.empty loads Numba's array module on a warm start, ~20 ms); task t
    takes its share of the (image, output channel) planes."""
    n_ = xp.shape[0]
    o_, cg, kh, kw = w.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    og = o_ // groups
    m_ = (oh_n - 1) * wp + ow_n
    nt = accs.shape[0]
    for t in prange(nt):
        acc = accs[t]
        for p in range(t * (n_ * o_) // nt, (t + 1) * (n_ * o_) // nt):
            n = p // o_
            o = p - n * o_
            c0 = (o // og) * cg
            b = bias[o] if has_bias else xp[0, 0, 0] * 0
            for m in range(m_):
                acc[m] = b
            for ci in range(cg):
                xf = xp[n, c0 + ci]
                for i in range(kh):
                    for j in range(kw):
                        wv = w[o, ci, i, j]
                        src = xf[i * dh * wp + j * dw:]
                        for m in range(m_):
                            acc[m] += wv * src[m]
            for oh in range(oh_n):
                row = out[n, o, oh]
                a = acc[oh * wp:]
                for k in range(ow_n):
                    row[k] = a[k]


def _conv_direct_s1_gw(xp, wp, g, dh, dw, groups, want_gb, gps, gws, gbs):
    """Stride 1 from the padded input: gws (T, O, C/groups, KH, KW) and gbs (T, O) (when
    want_gb), each task's partial sums of the weight and bias gradients over its share of the
    images (float64); gps (T, M) holds each task's plane (passed in: see _conv_direct_s1). Per
    image and output channel, the output gradient plane is copied once to the padded pitch
    (zeros between its rows; the bias gradient summed on the way) and dotted with each tap's
    window of the input plane, which stays in cache for all output channels; g is read once,
    in order (seed CNN conv1 at batch 512, weight and bias gradients: 11.0 ->
    7.9 ms, where tasks over the output channels each read every image's input plane)."""
    n_ = xp.shape[0]
    o_, cg, kh, kw = gws.shape[1:]
    oh_n, ow_n = g.shape[2], g.shape[3]
    og = o_ // groups
    m_ = (oh_n - 1) * wp + ow_n
    nt = gws.shape[0]
    for t in prange(nt):
        gw = gws[t]
        gb = gbs[t]
        gw[:] = 0
        gb[:] = 0
        gp = gps[t]
        gp[:] = 0
        for n in range(t * n_ // nt, (t + 1) * n_ // nt):
            for o in range(o_):
                c0 = (o // og) * cg
                sb = gp[0] * 0
                for oh in range(oh_n):
                    src = g[n, o, oh]
                    dst = gp[oh * wp:]
                    for k in range(ow_n):
                        v = src[k]
                        dst[k] = v
                        sb += v
                if want_gb:
                    gb[o] += sb
                for ci in range(cg):
                    xf = xp[n, c0 + ci]
                    for i in range(kh):
                        for j in range(kw):
                            x0 = xf[i * dh * wp + j * dw:]
                            s = gp[0] * 0
                            for m in range(m_):
                                s += gp[m] * x0[m]
                            gw[o, ci, i, j] += s


def _direct_s1_gw(x, g, ph, pw, dh, dw, groups, gw, gb):
    """gw (O, C/groups, KH, KW) and gb (O,) or None, the weight and bias gradients of the
    direct stride-1 convolution, in one pass over g by tasks over the images."""
    n_, o_, oh_n, ow_n = g.shape
    kh, kw = gw.shape[2], gw.shape[3]
    xp, wp = _padded(x, ph, pw, oh_n + (kh - 1) * dh, ow_n + (kw - 1) * dw)
    work = g.size * gw[0].size
    nt = min(n_, numba.get_num_threads()) if work >= policy.PARALLEL_THRESHOLD else 1
    gps = np.empty((nt, (oh_n - 1) * wp + ow_n), g.dtype)
    gws = np.empty((nt,) + gw.shape, np.float64)
    gbs = np.empty((nt, o_), np.float64)
    _conv_direct_s1_gw_k(xp, wp, g, dh, dw, groups, gb is not None, gps, gws, gbs, work=work)
    np.sum(gws, axis=0, out=gw)
    if gb is not None:
        np.sum(gbs, axis=0, out=gb)


def _padded(x, ph, pw, hp, wp):
    """x (N, C, H, W) inside zeros of (N, C, hp, wp), its (0, 0) at (ph, pw) (the rows and
    columns that fit: an output smaller than the input allows drops some), as (N, C, hp*wp),
    and wp."""
    xp = np.zeros(x.shape[:2] + (hp, wp), x.dtype)
    hh, ww = max(0, min(x.shape[2], hp - ph)), max(0, min(x.shape[3], wp - pw))
    xp[:, :, ph:ph + hh, pw:pw + ww] = x[:, :, :hh, :ww]
    return xp.reshape(x.shape[:2] + (hp * wp,)), wp


def _conv_direct_gx(g, w, sh, sw, ph, pw, dh, dw, groups, gx):
    n_, c_, h_, w_ = gx.shape
    o_, cg, kh, kw = w.shape
    oh_n, ow_n = g.shape[2], g.shape[3]
    og = o_ // groups
    usw = np.uint64(sw)
    for p in prange(n_ * c_):
        n = p // c_
        c = p - n * c_
        q = c // cg
        ci = c - q * cg
        for ih in range(h_):
            for iw in range(w_):
                gx[n, c, ih, iw] = 0
        for oi in range(og):
            o = q * og + oi
            for i in range(kh):
                for j in range(kw):
                    wv = w[o, ci, i, j]
                    lo, cnt, iw0 = _clip(j, dw, pw, sw, w_, ow_n)
                    ulo, ucnt, uiw0 = np.uint64(lo), np.uint64(cnt), np.uint64(iw0)
                    for oh in range(oh_n):
                        ih = oh * sh - ph + i * dh
                        if ih < 0 or ih >= h_:
                            continue
                        uih = np.uint64(ih)
                        for k in range(ucnt):
                            gx[n, c, uih, uiw0 + k * usw] += wv * g[n, o, oh, ulo + k]


_conv_direct_k = policy.Twin(_conv_direct)
_conv_direct_gw_k = policy.Twin(_conv_direct_gw)
_conv_direct_gx_k = policy.Twin(_conv_direct_gx)
_conv_direct_s1_k = policy.Twin(_conv_direct_s1)
_conv_direct_s1_gw_k = policy.Twin(_conv_direct_s1_gw)


# --------------------------------------------------------------------------------------------
# Tasks: the GEMM convolution a few images at a time, a task per thread, each with its own patch
# matrix of one image (in its core's cache, never the whole batch's) and its own single-threaded
# GEMMs (BLAS called from the kernel, ``_blas``): forward ``out[n] = W @ cols(x[n])`` lands in
# NCHW as it is (no regrouping); backward ``gW += g[n] @ cols(x[n])^T`` into the task's own
# partial sum and ``gx[n] = col2im(W^T @ g[n])``. GEMM, F: bound per dtype (``_vmath``).
# --------------------------------------------------------------------------------------------
F = GEMM = ftask = btask = None


def _forward_task(x, wm, bias, has_bias, sh, sw, ph, pw, dh, dw, groups, kh, kw, oh_n, ow_n,
                  out, cols, n0, n1):
    """Images n0..n1 of :func:`_conv_tasks_forward`, on this thread."""
    o_, kg = wm.shape
    og = o_ // groups
    l_ = out.shape[2]
    it = cols.itemsize
    for n in range(n0, n1):
        for r in range(cols.shape[0]):  # the image's patches
            _im2col_row(x, n, r, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, cols, 0)
        for q in range(groups):
            GEMM(ROW_MAJOR, NO_TRANS, NO_TRANS, og, l_, kg, F(1),
                 wm.ctypes.data + q * og * kg * it, kg, cols.ctypes.data + q * kg * l_ * it,
                 l_, F(0), out.ctypes.data + (n * o_ + q * og) * l_ * it, l_)
        if has_bias:
            for o in range(o_):
                b = bias[o]
                row = out[n, o]
                for k in range(l_):
                    row[k] += b


def _conv_tasks_forward(x, wm, bias, has_bias, sh, sw, ph, pw, dh, dw, groups, kh, kw, oh_n,
                        ow_n, out, cols):
    """out (N, O, OH*OW) = conv of x with wm (O, C/groups*KH*KW) (+ bias); cols (T,
    C*KH*KW, OH*OW) a patch matrix per task; the images split evenly over the T tasks."""
    n_ = x.shape[0]
    nt = cols.shape[0]
    for t in prange(nt):
        ftask(x, wm, bias, has_bias, sh, sw, ph, pw, dh, dw, groups, kh, kw, oh_n, ow_n, out,
              cols[t], t * n_ // nt, (t + 1) * n_ // nt)


def _backward_task(g, x, wm, sh, sw, ph, pw, dh, dw, groups, kh, kw, want_gx, want_gw, want_gb,
                   gx, gw, gb, cols, dcols, n0, n1):
    """Images n0..n1 of :func:`_conv_tasks_backward`, on this thread: gw (O, Cg*KH*KW) and gb
    (O,) are this task's partial sums."""
    o_, kg = wm.shape
    og = o_ // groups
    l_ = g.shape[2] * g.shape[3]
    oh_n, ow_n = g.shape[2], g.shape[3]
    it = cols.itemsize
    if want_gw:
        gw[:] = 0
    if want_gb:
        gb[:] = 0
    for n in range(n0, n1):
        gp = g.ctypes.data + n * o_ * l_ * it
        if want_gb:  # the bias gradient from the image's g, read by the GEMMs next
            for o in range(o_):
                row = g[n, o]
                s = row[0, 0] * 0
                for oh in range(oh_n):
                    for k in range(ow_n):
                        s += row[oh, k]
                gb[o] += s
        if want_gw:
            for r in range(cols.shape[0]):
                _im2col_row(x, n, r, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, cols, 0)
            for q in range(groups):
                GEMM(ROW_MAJOR, NO_TRANS, TRANS, og, kg, l_, F(1), gp + q * og * l_ * it, l_,
                     cols.ctypes.data + q * kg * l_ * it, l_, F(1),
                     gw.ctypes.data + q * og * kg * it, kg)
        if want_gx:
            for q in range(groups):
                GEMM(ROW_MAJOR, TRANS, NO_TRANS, kg, l_, og, F(1),
                     wm.ctypes.data + q * og * kg * it, kg, gp + q * og * l_ * it, l_, F(0),
                     dcols.ctypes.data + q * kg * l_ * it, l_)
            for c in range(gx.shape[1]):
                _col2im_plane(dcols, n, c, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, gx, 0)


def _conv_tasks_backward(g, x, wm, sh, sw, ph, pw, dh, dw, groups, kh, kw, want_gx, want_gw,
                         want_gb, gx, gws, gbs, cols, dcols):
    """gx (like x), gws (T, O, Cg*KH*KW) and gbs (T, O), each task's part of gW and gb, for g
    (N, O, OH, OW); cols and dcols (T, C*KH*KW, L) scratch per task."""
    n_ = x.shape[0]
    nt = cols.shape[0]
    for t in prange(nt):
        btask(g, x, wm, sh, sw, ph, pw, dh, dw, groups, kh, kw, want_gx, want_gw, want_gb, gx,
              gws[t], gbs[t], cols[t], dcols[t], t * n_ // nt, (t + 1) * n_ // nt)


_TASK_ENV = _vmath.helpers("conv", {"ftask": _forward_task, "btask": _backward_task},
                           bind={dt: {"GEMM": gemm} for dt, gemm in _blas.GEMM.items()})
_TASKS_FORWARD = _vmath.twins(_conv_tasks_forward, "conv_tasks_forward", env=_TASK_ENV,
                              python_serial=True)
_TASKS_BACKWARD = _vmath.twins(_conv_tasks_backward, "conv_tasks_backward", env=_TASK_ENV,
                               python_serial=True)


def _use_tasks():
    """A CBLAS was found (else the whole batch's patches, np.matmul)."""
    return _blas.AVAILABLE


def _tasks(n_images, work):
    """Tasks for n_images: one per thread, when there is a CBLAS, two threads and two images
    or more, and work for the parallel build; else 0: the whole-batch way, whose patch moves
    and GEMM are threaded (one image by tasks: 2.1 vs 1.6 ms for a 64-channel 3x3 conv of
    56x56)."""
    nt = min(n_images, numba.get_num_threads())
    return nt if _use_tasks() and work >= policy.PARALLEL_THRESHOLD and nt > 1 else 0


def _by_tasks_forward(x, wm, bias, sh, sw, ph, pw, dh, dw, groups, kh, kw, out):
    """out (N, O, OH, OW) = W @ patches(x[n]) per image and group (+ bias (O,) or None), by
    tasks; wm (O, C/groups*KH*KW)."""
    n_, o_, oh_n, ow_n = out.shape
    work = out.size * wm.shape[1]
    nt = max(1, min(n_, numba.get_num_threads()))
    _blas.run_tasks(_TASKS_FORWARD[x.dtype], nt, x, wm, wm[0] if bias is None else bias,
                    bias is not None, sh, sw, ph, pw, dh, dw, groups, kh, kw, oh_n, ow_n,
                    out.reshape(n_, o_, oh_n * ow_n),
                    np.empty((nt, x.shape[1] * kh * kw, oh_n * ow_n), x.dtype), work=work)


def _by_tasks_backward(g, x, wm, sh, sw, ph, pw, dh, dw, groups, kh, kw, gx, gw, gb=None):
    """By tasks, for g (N, O, OH, OW) and wm (O, C/groups*KH*KW): gx (N, C, H, W) =
    col2im(W^T @ g[n]), gw (O, C/groups*KH*KW) = sum over n of g[n] @ patches(x[n])^T and gb
    (O,) = g summed over all but O, each None to skip (x only shapes the work when gw is
    None)."""
    n_, o_ = g.shape[:2]
    l_ = g.shape[2] * g.shape[3]
    work = g.size * wm.shape[1] * ((gx is not None) + (gw is not None))
    nt = max(1, min(n_, numba.get_num_threads()))
    gws = np.empty((nt, o_, wm.shape[1]) if gw is not None else (nt, 1, 1), g.dtype)
    gbs = np.empty((nt, o_) if gb is not None else (nt, 1), g.dtype)
    cols = np.empty((nt, x.shape[1] * kh * kw, l_) if gw is not None else (nt, 1, 1), g.dtype)
    dcols = np.empty((nt, gx.shape[1] * kh * kw, l_) if gx is not None else (nt, 1, 1), g.dtype)
    # (nt = 1 where the threads changed since the caller chose this way)
    _blas.run_tasks(_TASKS_BACKWARD[g.dtype], nt, g, x, wm, sh, sw, ph, pw, dh, dw, groups, kh,
                    kw, gx is not None, gw is not None, gb is not None, x if gx is None else gx,
                    gws, gbs, cols, dcols, work=work)
    if gw is not None:
        np.sum(gws, axis=0, out=gw)
    if gb is not None:
        np.sum(gbs, axis=0, out=gb)


def conv2d_cols_shape(x_shape, w_shape, out_shape):
    """Shape of the patch matrix conv2d_forward writes, or None when it runs directly or by
    tasks (patches per image, made again by the backward)."""
    o_, cg, kh, kw = w_shape
    n_, l_ = x_shape[0], out_shape[2] * out_shape[3]
    if cg * kh * kw <= DIRECT_MAX_TAPS or _tasks(n_, n_ * o_ * l_ * cg * kh * kw):
        return None
    return (x_shape[1] * kh * kw, x_shape[0] * out_shape[2] * out_shape[3])


def conv2d_forward(x, w, bias, sh, sw, ph, pw, dh, dw, groups, cols, out):
    """out (N, O, OH, OW) = conv of x (N, C, H, W) with w (O, C/groups, KH, KW) (+ bias (O,) or
    None); writes the patch matrix ``cols`` (shape from conv2d_cols_shape, None when that is
    None) that conv2d_backward reuses."""
    n_ = x.shape[0]
    o_, cg, kh, kw = w.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    if out.size == 0:
        return
    has_bias = bias is not None
    if cg * kh * kw <= DIRECT_MAX_TAPS:
        if sh == 1 and sw == 1:
            xp, wp = _padded(x, ph, pw, oh_n + (kh - 1) * dh, ow_n + (kw - 1) * dw)
            work = out.size * cg * kh * kw
            # tasks: a few per thread (balance), each over whole planes
            nt = min(n_ * o_, 4 * numba.get_num_threads()) \
                if work >= policy.PARALLEL_THRESHOLD else 1
            accs = np.empty((nt, (oh_n - 1) * wp + ow_n), out.dtype)
            _conv_direct_s1_k(xp, wp, w, bias if has_bias else w[0, 0, 0], has_bias, dh, dw, groups,
                              accs, out, work=work)
            return
        _conv_direct_k(x, w, bias if has_bias else w[0, 0, 0], has_bias, sh, sw, ph, pw, dh, dw,
                       groups, out, work=out.size * cg * kh * kw)
        return
    if cols is None:
        _by_tasks_forward(x, w.reshape(o_, cg * kh * kw), bias, sh, sw, ph, pw, dh, dw, groups,
                          kh, kw, out)
        return
    _im2col_k(x, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, cols, work=cols.size)
    # (O, N*L) = W (O, CgKK) @ cols (CgKK, N*L) per group (groups: blocks of rows of both)
    y = np.empty((o_, cols.shape[1]), out.dtype)
    wm = w.reshape(o_, cg * kh * kw)
    if groups == 1:
        np.matmul(wm, cols, out=y)
    else:
        og, kg = o_ // groups, cg * kh * kw
        for q in range(groups):
            np.matmul(wm[q * og:(q + 1) * og], cols[q * kg:(q + 1) * kg],
                      out=y[q * og:(q + 1) * og])
    _cnl_to_ncl_k(y, bias if has_bias else w[0, 0, 0], has_bias,
                  out.reshape(n_, o_, oh_n * ow_n), work=out.size)


def conv2d_backward(g, x, w, cols, sh, sw, ph, pw, dh, dw, groups, gx, gw, gb):
    """Gradients of conv2d_forward for g (N, O, OH, OW): writes gx (like x), gw (like w) and
    gb (O,); each may be None to skip it. ``cols`` is the forward's patch matrix (or None)."""
    n_, o_, oh_n, ow_n = g.shape
    _, cg, kh, kw = w.shape
    l_ = oh_n * ow_n
    kg = cg * kh * kw
    og = o_ // groups
    g3 = g.reshape(n_, o_, l_)
    if g.size == 0 or x.size == 0:
        for a in (gx, gw, gb):
            if a is not None:
                a.fill(0)
        return
    # the bias gradient with the weight gradient where a kernel below reads g image by image
    fused_gb = (gw is not None and sh == 1 and sw == 1) if kg <= DIRECT_MAX_TAPS else \
        (cols is None and (gx is not None or gw is not None))
    if gb is not None and not fused_gb:
        _sum_nl_k(g3, gb, work=g.size)
    if gx is None and gw is None:
        return
    if kg <= DIRECT_MAX_TAPS:
        if fused_gb:
            _direct_s1_gw(x, g, ph, pw, dh, dw, groups, gw, gb)
        elif gw is not None:
            _conv_direct_gw_k(x, g, sh, sw, ph, pw, dh, dw, groups, gw, work=g.size * kg)
        if gx is not None:
            _conv_direct_gx_k(g, w, sh, sw, ph, pw, dh, dw, groups, gx, work=g.size * kg)
        return
    if cols is None:
        _by_tasks_backward(g, x, w.reshape(o_, kg), sh, sw, ph, pw, dh, dw, groups, kh, kw, gx,
                           None if gw is None else gw.reshape(o_, kg), gb)
        return
    gy = np.empty((o_, n_ * l_), g.dtype)  # g as (O, N*L), the forward GEMM's output layout
    _ncl_to_cnl_k(g3, gy, work=g.size)
    wm = w.reshape(o_, kg)
    if gw is not None:  # gW (O, CgKK) = gy (O, N*L) @ cols^T, per group
        gwm = gw.reshape(o_, kg)
        for q in range(groups):
            np.matmul(gy[q * og:(q + 1) * og], cols[q * kg:(q + 1) * kg].T,
                      out=gwm[q * og:(q + 1) * og])
    if gx is not None:  # dcols (C*KK, N*L) = W^T @ gy per group, then col2im
        dcols = np.empty(cols.shape, g.dtype)
        for q in range(groups):
            np.matmul(wm[q * og:(q + 1) * og].T, gy[q * og:(q + 1) * og],
                      out=dcols[q * kg:(q + 1) * kg])
        _col2im_k(dcols, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, gx, work=dcols.size)


def conv_transpose2d_forward(x, w, bias, sh, sw, ph, pw, dh, dw, groups, out):
    """out (N, O, OH, OW) = transposed conv of x (N, C, H, W) with w (C, O/groups, KH, KW)
    (+ bias (O,) or None): col2im of W^T @ x, i.e. conv2d's input gradient (by tasks where
    conv2d runs by tasks, with the roles of its arrays swapped)."""
    n_, c_, h_, w_ = x.shape
    _, og, kh, kw = w.shape
    o_ = out.shape[1]
    cg = c_ // groups
    kg = og * kh * kw
    if out.size == 0:
        return
    if x.size == 0:
        out.fill(0)
    elif _tasks(n_, x.size * kg):  # conv2d's input gradient, by tasks
        _by_tasks_backward(x, out, w.reshape(c_, kg), sh, sw, ph, pw, dh, dw, groups, kh, kw,
                           out, None)
    else:
        xc = np.empty((c_, n_ * h_ * w_), x.dtype)
        _ncl_to_cnl_k(x.reshape(n_, c_, h_ * w_), xc, work=x.size)
        wm = w.reshape(c_, kg)
        dcols = np.empty((o_ * kh * kw, n_ * h_ * w_), x.dtype)
        for q in range(groups):
            np.matmul(wm[q * cg:(q + 1) * cg].T, xc[q * cg:(q + 1) * cg],
                      out=dcols[q * kg:(q + 1) * kg])
        _col2im_k(dcols, kh, kw, sh, sw, ph, pw, dh, dw, h_, w_, out, work=dcols.size)
    if bias is not None:
        _add_bias_k(out.reshape(n_, o_, -1), bias, work=out.size)


def conv_transpose2d_backward(g, x, w, sh, sw, ph, pw, dh, dw, groups, gx, gw, gb):
    """Gradients of conv_transpose2d_forward for g (N, O, OH, OW): gx (like x), gw (like w), gb
    (O,), each None to skip. gx is conv2d(g, w) and gw is x @ im2col(g)^T, per group."""
    n_, c_, h_, w_ = x.shape
    _, og, kh, kw = w.shape
    o_ = g.shape[1]
    cg = c_ // groups
    kg = og * kh * kw
    if x.size == 0 or g.size == 0:
        for a in (gx, gw, gb):
            if a is not None:
                a.fill(0)
        return
    if gb is not None:
        _sum_nl_k(g.reshape(n_, o_, -1), gb, work=g.size)
    if gx is None and gw is None:
        return
    if _tasks(n_, x.size * kg):  # gx: conv2d of g; gw: conv2d's weight gradient, x as output
        wm = w.reshape(c_, kg)
        if gx is not None:
            _by_tasks_forward(g, wm, None, sh, sw, ph, pw, dh, dw, groups, kh, kw, gx)
        if gw is not None:
            _by_tasks_backward(x, g, wm, sh, sw, ph, pw, dh, dw, groups, kh, kw, None,
                               gw.reshape(c_, kg))
        return
    gcols = np.empty((o_ * kh * kw, n_ * h_ * w_), g.dtype)
    _im2col_k(g, kh, kw, sh, sw, ph, pw, dh, dw, h_, w_, gcols, work=gcols.size)
    wm = w.reshape(c_, kg)
    if gx is not None:
        y = np.empty((c_, n_ * h_ * w_), g.dtype)
        for q in range(groups):
            np.matmul(wm[q * cg:(q + 1) * cg], gcols[q * kg:(q + 1) * kg],
                      out=y[q * cg:(q + 1) * cg])
        _cnl_to_ncl_k(y, wm[0], False, gx.reshape(n_, c_, h_ * w_), work=gx.size)
    if gw is not None:
        xc = np.empty((c_, n_ * h_ * w_), x.dtype)
        _ncl_to_cnl_k(x.reshape(n_, c_, h_ * w_), xc, work=x.size)
        gwm = gw.reshape(c_, kg)
        for q in range(groups):
            np.matmul(xc[q * cg:(q + 1) * cg], gcols[q * kg:(q + 1) * kg].T,
                      out=gwm[q * cg:(q + 1) * cg])
