"""Pooling on the CPU (NCHW, float32/float64): max, average and adaptive average, forward and
backward, one loop nest per plane, parallel over the N*C planes.

Contracts: ``x`` (N, C, H, W) C-contiguous unless stated, one float dtype throughout; the kernels
write (N, C, OH, OW) into caller-allocated ``out`` (and ``idx``) and return nothing. Padding may
be asymmetric: only the leading pad (``ph``, ``pw``) is passed, the trailing pad is implied by the
output size. Max-pool indices are int64 flat positions ``ih * W + iw`` within the plane (PyTorch's).
"""
import math

import numpy as np
from numba import prange

from .. import policy


def _max_pool2d(x, kh, kw, sh, sw, ph, pw, dh, dw, out, idx):
    n_, c_, h_, w_ = x.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    for p in prange(n_ * c_):
        n = p // c_
        c = p - n * c_
        for oh in range(oh_n):
            hs = oh * sh - ph
            for ow in range(ow_n):
                ws = ow * sw - pw
                best = x[n, c, 0, 0] * 0 - math.inf
                bi = -1
                for i in range(kh):
                    ih = hs + i * dh
                    if ih < 0 or ih >= h_:
                        continue
                    for j in range(kw):
                        iw = ws + j * dw
                        if iw < 0 or iw >= w_:
                            continue
                        v = x[n, c, ih, iw]
                        # NaN wins (and a later NaN replaces an earlier one), ties keep the first
                        if bi < 0 or v > best or v != v:
                            best = v
                            bi = ih * w_ + iw
                out[n, c, oh, ow] = best
                idx[n, c, oh, ow] = bi


# The dense kernels run one plane per prange iteration through a helper compiled on its own
# (never inlined into the parallel loop): with the window loops written inside the prange body,
# Numba's parallel lowering made the same code 3.5x slower per thread (measured at (64, 64, 14,
# 14) float32, one thread: 3.5 ms vs 1.0 ms serially; through the helper 1.1 ms).
@policy.kernel
def _max_pool2d_dense_plane(x, w_, kh, kw, sh, sw, oh_n, ow_n, xb, ob, out, idx):
    """One plane: window maxima of x[xb:] into out[ob:] and idx[ob:]. No padding or dilation,
    so every window lies inside the plane; unsigned offsets keep Numba from adding
    negative-index tests to the inner loop."""
    xb = np.uint64(xb)
    ob = np.uint64(ob)
    for oh in range(oh_n):
        row = xb + np.uint64(oh * sh) * np.uint64(w_)
        o = ob + np.uint64(oh) * np.uint64(ow_n)
        for ow in range(ow_n):
            start = row + np.uint64(ow * sw)
            best = x[start]
            bi = start
            for i in range(kh):
                r = start + np.uint64(i) * np.uint64(w_)
                for j in range(kw):
                    q = r + np.uint64(j)
                    v = x[q]
                    # NaN wins and a later NaN replaces an earlier one (PyTorch's CPU rule);
                    # ties keep the first position
                    if v > best or v != v:
                        best = v
                        bi = q
            out[o + np.uint64(ow)] = best
            idx[o + np.uint64(ow)] = np.int64(bi - xb)


def _max_pool2d_dense(x, w_, hw, kh, kw, sh, sw, oh_n, ow_n, out, idx):
    """No padding, no dilation (the common case): flat C-contiguous x (P*H*W,), out and idx
    (P*OH*OW,), one plane per iteration."""
    ohw = oh_n * ow_n
    P = out.shape[0] // ohw if ohw else 0
    for p in prange(P):
        _max_pool2d_dense_plane(x, w_, kh, kw, sh, sw, oh_n, ow_n, p * hw, p * ohw, out, idx)


@policy.kernel
def _max_pool2d_2x2_plane(x, w_, oh_n, ow_n, xb, ob, out, idx):
    """The 2x2, stride-2 case of ``_max_pool2d_dense_plane`` with the window unrolled: about
    twice as fast as the generic loop nest. Same NaN and tie rules."""
    for oh in range(oh_n):
        r0 = xb + 2 * oh * w_
        r1 = r0 + w_
        o = ob + oh * ow_n
        for ow in range(ow_n):
            q = r0 + 2 * ow
            best = x[q]
            bi = q
            v = x[q + 1]
            if v > best or v != v:
                best = v
                bi = q + 1
            q = r1 + 2 * ow
            v = x[q]
            if v > best or v != v:
                best = v
                bi = q
            v = x[q + 1]
            if v > best or v != v:
                best = v
                bi = q + 1
            out[o + ow] = best
            idx[o + ow] = bi - xb


def _max_pool2d_2x2(x, w_, hw, oh_n, ow_n, out, idx):
    ohw = oh_n * ow_n
    P = out.shape[0] // ohw if ohw else 0
    for p in prange(P):
        _max_pool2d_2x2_plane(x, w_, oh_n, ow_n, p * hw, p * ohw, out, idx)


def _max_pool2d_backward(g, idx, out):
    """out (P, H*W) <- zeros with g (P, L) added at idx (P, L)."""
    p_, hw = out.shape
    l_ = g.shape[1]
    for p in prange(p_):
        for k in range(hw):
            out[p, k] = 0
        for k in range(l_):
            out[p, idx[p, k]] += g[p, k]


def _avg_pool2d(x, kh, kw, sh, sw, ph, pw, include_pad, divisor, out):
    n_, c_, h_, w_ = x.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    for p in prange(n_ * c_):
        n = p // c_
        c = p - n * c_
        for oh in range(oh_n):
            hs = oh * sh - ph
            he = min(hs + kh, h_ + ph)
            for ow in range(ow_n):
                ws = ow * sw - pw
                we = min(ws + kw, w_ + pw)
                size = (he - hs) * (we - ws)
                h0 = max(hs, 0)
                h1 = min(he, h_)
                w0 = max(ws, 0)
                w1 = min(we, w_)
                s = x[n, c, 0, 0] * 0
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        s += x[n, c, ih, iw]
                if divisor > 0:
                    d = divisor
                elif include_pad:
                    d = size
                else:
                    d = (h1 - h0) * (w1 - w0)
                out[n, c, oh, ow] = s / d


def _avg_pool2d_backward(g, kh, kw, sh, sw, ph, pw, include_pad, divisor, out):
    n_, c_, h_, w_ = out.shape
    oh_n, ow_n = g.shape[2], g.shape[3]
    for p in prange(n_ * c_):
        n = p // c_
        c = p - n * c_
        for ih in range(h_):
            for iw in range(w_):
                out[n, c, ih, iw] = 0
        for oh in range(oh_n):
            hs = oh * sh - ph
            he = min(hs + kh, h_ + ph)
            for ow in range(ow_n):
                ws = ow * sw - pw
                we = min(ws + kw, w_ + pw)
                size = (he - hs) * (we - ws)
                h0 = max(hs, 0)
                h1 = min(he, h_)
                w0 = max(ws, 0)
                w1 = min(we, w_)
                if divisor > 0:
                    d = divisor
                elif include_pad:
                    d = size
                else:
                    d = (h1 - h0) * (w1 - w0)
                v = g[n, c, oh, ow] / d
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        out[n, c, ih, iw] += v


def _adaptive_avg_pool2d(x, out):
    n_, c_, h_, w_ = x.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    for p in prange(n_ * c_):
        n = p // c_
        c = p - n * c_
        for oh in range(oh_n):
            h0 = (oh * h_) // oh_n
            h1 = -((-(oh + 1) * h_) // oh_n)
            for ow in range(ow_n):
                w0 = (ow * w_) // ow_n
                w1 = -((-(ow + 1) * w_) // ow_n)
                s = x[n, c, 0, 0] * 0
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        s += x[n, c, ih, iw]
                out[n, c, oh, ow] = s / ((h1 - h0) * (w1 - w0))


def _adaptive_avg_pool2d_backward(g, out):
    n_, c_, h_, w_ = out.shape
    oh_n, ow_n = g.shape[2], g.shape[3]
    for p in prange(n_ * c_):
        n = p // c_
        c = p - n * c_
        for ih in range(h_):
            for iw in range(w_):
                out[n, c, ih, iw] = 0
        for oh in range(oh_n):
            h0 = (oh * h_) // oh_n
            h1 = -((-(oh + 1) * h_) // oh_n)
            for ow in range(ow_n):
                w0 = (ow * w_) // ow_n
                w1 = -((-(ow + 1) * w_) // ow_n)
                v = g[n, c, oh, ow] / ((h1 - h0) * (w1 - w0))
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        out[n, c, ih, iw] += v


_max_pool2d_k = policy.Twin(_max_pool2d)
_max_pool2d_dense_k = policy.Twin(_max_pool2d_dense)
_max_pool2d_2x2_k = policy.Twin(_max_pool2d_2x2)
_max_pool2d_backward_k = policy.Twin(_max_pool2d_backward)
_avg_pool2d_k = policy.Twin(_avg_pool2d)
_avg_pool2d_backward_k = policy.Twin(_avg_pool2d_backward)
_adaptive_avg_pool2d_k = policy.Twin(_adaptive_avg_pool2d)
_adaptive_avg_pool2d_backward_k = policy.Twin(_adaptive_avg_pool2d_backward)


def max_pool2d(x, kh, kw, sh, sw, ph, pw, dh, dw, out, idx):
    """out (N, C, OH, OW) <- window maxima of x (N, C, H, W); idx (int64, like out) <- argmax."""
    if out.size == 0:
        return
    n_, c_, h_, w_ = x.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    if ph == 0 and pw == 0 and dh == 1 and dw == 1 and x.flags.c_contiguous and \
            (oh_n - 1) * sh + kh <= h_ and (ow_n - 1) * sw + kw <= w_:
        if kh == kw == sh == sw == 2:
            _max_pool2d_2x2_k(x.reshape(-1), w_, h_ * w_, oh_n, ow_n, out.reshape(-1),
                              idx.reshape(-1), work=out.size * 4)
        else:
            _max_pool2d_dense_k(x.reshape(-1), w_, h_ * w_, kh, kw, sh, sw, oh_n, ow_n,
                                out.reshape(-1), idx.reshape(-1), work=out.size * kh * kw)
        return
    _max_pool2d_k(x, kh, kw, sh, sw, ph, pw, dh, dw, out, idx, work=out.size * kh * kw)


def max_pool2d_backward(g, idx, out):
    """out (N, C, H, W) <- g (N, C, OH, OW) scattered (added) to the argmax positions idx."""
    n_, c_, h_, w_ = out.shape
    p_ = n_ * c_
    if out.size == 0:
        return
    _max_pool2d_backward_k(g.reshape(p_, -1), idx.reshape(p_, -1), out.reshape(p_, h_ * w_),
                           work=out.size)


def avg_pool2d(x, kh, kw, sh, sw, ph, pw, include_pad, divisor, out):
    """out (N, C, OH, OW) <- window means of x; ``divisor`` > 0 overrides the count."""
    if out.size == 0:
        return
    _avg_pool2d_k(x, kh, kw, sh, sw, ph, pw, include_pad, divisor, out, work=out.size * kh * kw)


def avg_pool2d_backward(g, kh, kw, sh, sw, ph, pw, include_pad, divisor, out):
    """out (N, C, H, W) <- g (N, C, OH, OW) spread evenly over each window."""
    if out.size == 0:
        return
    _avg_pool2d_backward_k(g, kh, kw, sh, sw, ph, pw, include_pad, divisor, out,
                           work=g.size * kh * kw)


def adaptive_avg_pool2d(x, out):
    """out (N, C, OH, OW) <- means over PyTorch's adaptive windows of x (N, C, H, W)."""
    if out.size == 0:
        return
    _adaptive_avg_pool2d_k(x, out, work=x.size)


def adaptive_avg_pool2d_backward(g, out):
    """out (N, C, H, W) <- g (N, C, OH, OW) spread evenly over each adaptive window."""
    if out.size == 0:
        return
    _adaptive_avg_pool2d_backward_k(g, out, work=out.size)
