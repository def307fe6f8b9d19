"""Convolution on the CPU (NCHW, float32/float64); pooling is in pool.py.

Two algorithms, picked by the taps per output (C/groups * KH * KW):
- few taps (a 1-channel first layer, depthwise): a direct convolution, one axpy per tap along
  each output row, parallel over (n, o) planes; its backward kernels are direct too.
- otherwise im2col + one BLAS GEMM per group over the whole batch: ``cols`` (C*KH*KW, N*L),
  L = OH*OW, holds the patches; forward ``y = W @ cols`` (O, N*L) is regrouped into NCHW with
  the bias fused in; grad_weight is ``g' @ cols^T`` and grad_input col2im of ``W^T @ g'`` with g'
  the output gradient as (O, N*L). NumPy's threaded OpenBLAS runs the GEMMs (``np.matmul``
  with ``out=``, as kernels/cpu/matmul.py: ``np.dot`` inside ``@njit`` needs SciPy); the layout
  moves are Numba loops over unit-stride runs.

Contracts: every array C-contiguous unless stated, one float dtype throughout; ``out`` (and the
other written arguments, named in each docstring) are caller-allocated; nothing is returned.
Padding may be asymmetric: only the leading pad (``ph``, ``pw``) is passed, the trailing pad is
implied by the output size.
"""
import numpy as np
from numba import prange

from .. import policy


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


def _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, out):
    """out (C*KH*KW, N*OH*OW) <- patches of x (N, C, H, W); zeros where they leave x."""
    n_, c_, h_, w_ = x.shape
    l_ = oh_n * ow_n
    kk = kh * kw
    usw = np.uint64(sw)
    for t in prange(c_ * kk * n_):
        r = t // n_
        n = t - r * n_
        c = r // kk
        ij = r - c * kk
        i = ij // kw
        j = ij - i * kw
        lo, cnt, iw0 = _clip(j, dw, pw, sw, w_, ow_n)
        ulo, ucnt, uiw0 = np.uint64(lo), np.uint64(cnt), np.uint64(iw0)
        for oh in range(oh_n):
            base = np.uint64(n * l_ + oh * ow_n)
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


def _col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, oh_n, ow_n, out):
    """out (N, C, H, W) <- the columns cols (C*KH*KW, N*OH*OW) added back in place."""
    n_, c_, h_, w_ = out.shape
    l_ = oh_n * ow_n
    usw = np.uint64(sw)
    for p in prange(n_ * c_):
        n = p // c_
        c = p - n * c_
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
                    base = np.uint64(n * l_ + oh * ow_n + lo)
                    for k in range(ucnt):
                        out[n, c, uih, uiw0 + k * usw] += cols[r, base + k]


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


def conv2d_cols_shape(x_shape, w_shape, out_shape):
    """Shape of the patch matrix conv2d_forward writes, or None when it runs directly."""
    o_, cg, kh, kw = w_shape
    if cg * kh * kw <= DIRECT_MAX_TAPS:
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
    if cols is None:
        _conv_direct_k(x, w, bias if has_bias else w[0, 0, 0], has_bias, sh, sw, ph, pw, dh, dw,
                       groups, out, work=out.size * cg * kh * kw)
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
    if gb is not None:
        _sum_nl_k(g3, gb, work=g.size)
    if gx is None and gw is None:
        return
    if cols is None:
        if gw is not None:
            _conv_direct_gw_k(x, g, sh, sw, ph, pw, dh, dw, groups, gw, work=g.size * kg)
        if gx is not None:
            _conv_direct_gx_k(g, w, sh, sw, ph, pw, dh, dw, groups, gx, work=g.size * kg)
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
    (+ bias (O,) or None): col2im of W^T @ x, i.e. conv2d's input gradient."""
    n_, c_, h_, w_ = x.shape
    _, og, kh, kw = w.shape
    o_ = out.shape[1]
    cg = c_ // groups
    kg = og * kh * kw
    if out.size == 0:
        return
    if x.size == 0:
        out.fill(0)
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
