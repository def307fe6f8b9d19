"""Pooling on the GPU (NCHW, float32/float64): CUDA twins of kernels/cpu/pool.py.

One thread per output element for the forward kernels. Backward: average and adaptive pooling
gather (each input element sums the outputs whose window covers it), max pooling scatters ``g``
to the stored argmax with atomic adds after zeroing (its signature carries no window geometry;
the sum order of overlapping windows is therefore not fixed). Element kernels are grid-stride
loops over ``memory.grid(n)``, so any grid covers any size.

Contracts as on the CPU: every array C-contiguous, one float dtype throughout, ``out`` (and
``idx``) caller-allocated device arrays, nothing returned. Padding may be asymmetric: only the
leading pad (``ph``, ``pw``) is passed. Max-pool indices are int64 flat positions
``ih * W + iw`` within the plane.
"""
import math

import numpy as np
from numba import cuda

from .. import policy
from . import memory
from ._block import zero as _zero
from ._strided import unravel4 as _unravel4


# --------------------------------------------------------------------------------------------
# Kernels: one thread per element of the written array, (n, c, h, w) with w fastest.
# --------------------------------------------------------------------------------------------
@policy.cuda_kernel
def _max_pool2d(x, kh, kw, sh, sw, ph, pw, dh, dw, out, idx):
    n_, c_, h_, w_ = x.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    total = n_ * c_ * oh_n * ow_n
    for k in range(cuda.grid(1), total, cuda.gridsize(1)):
        n, c, oh, ow = _unravel4(k, (0, c_, oh_n, ow_n))
        hs = oh * sh - ph
        ws = ow * sw - pw
        best = -math.inf
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


@policy.cuda_kernel
def _max_pool2d_backward(g, idx, out):
    """out (N, C, H, W) (zeroed) += g at the argmax positions idx; one thread per element of g."""
    n_, c_, h_, w_ = out.shape
    oh_n, ow_n = g.shape[2], g.shape[3]
    hw = h_ * w_
    total = n_ * c_ * oh_n * ow_n
    for k in range(cuda.grid(1), total, cuda.gridsize(1)):
        n, c, oh, ow = _unravel4(k, (0, c_, oh_n, ow_n))
        q = idx[n, c, oh, ow]
        if q >= 0 and q < hw:  # never write outside the plane
            cuda.atomic.add(out, (n, c, q // w_, q % w_), g[n, c, oh, ow])


@policy.cuda_kernel(device=True)
def _avg_divisor(hs, ws, kh, kw, h_, w_, ph, pw, include_pad, divisor):
    """(row range, column range, divisor) of the average-pool window starting at (hs, ws)."""
    he = min(hs + kh, h_ + ph)
    we = min(ws + kw, w_ + pw)
    h0 = max(hs, 0)
    h1 = min(he, h_)
    w0 = max(ws, 0)
    w1 = min(we, w_)
    if divisor > 0:
        d = divisor
    elif include_pad:
        d = (he - hs) * (we - ws)
    else:
        d = (h1 - h0) * (w1 - w0)
    return h0, h1, w0, w1, d


@policy.cuda_kernel
def _avg_pool2d(x, kh, kw, sh, sw, ph, pw, include_pad, divisor, zero, out):
    n_, c_, h_, w_ = x.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    total = n_ * c_ * oh_n * ow_n
    for k in range(cuda.grid(1), total, cuda.gridsize(1)):
        n, c, oh, ow = _unravel4(k, (0, c_, oh_n, ow_n))
        h0, h1, w0, w1, d = _avg_divisor(oh * sh - ph, ow * sw - pw, kh, kw, h_, w_, ph, pw,
                                         include_pad, divisor)
        s = zero
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                s += x[n, c, ih, iw]
        out[n, c, oh, ow] = s / d


@policy.cuda_kernel
def _avg_pool2d_backward(g, kh, kw, sh, sw, ph, pw, include_pad, divisor, out):
    """Gather: input (ih, iw) sums g / divisor (float64) over the windows that cover it."""
    n_, c_, h_, w_ = out.shape
    oh_n, ow_n = g.shape[2], g.shape[3]
    total = n_ * c_ * h_ * w_
    for k in range(cuda.grid(1), total, cuda.gridsize(1)):
        n, c, ih, iw = _unravel4(k, (0, c_, h_, w_))
        # windows covering ih: oh * sh - ph <= ih < oh * sh - ph + kh (non-negative divisions)
        a = ih + ph - kh + 1
        oh0 = (a + sh - 1) // sh if a > 0 else 0
        oh1 = min((ih + ph) // sh + 1, oh_n)
        b = iw + pw - kw + 1
        ow0 = (b + sw - 1) // sw if b > 0 else 0
        ow1 = min((iw + pw) // sw + 1, ow_n)
        s = 0.0
        for oh in range(oh0, oh1):
            for ow in range(ow0, ow1):
                _, _, _, _, d = _avg_divisor(oh * sh - ph, ow * sw - pw, kh, kw, h_, w_, ph, pw,
                                             include_pad, divisor)
                s += np.float64(g[n, c, oh, ow]) / d
        out[n, c, ih, iw] = s


@policy.cuda_kernel
def _adaptive_avg_pool2d(x, zero, out):
    n_, c_, h_, w_ = x.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    total = n_ * c_ * oh_n * ow_n
    for k in range(cuda.grid(1), total, cuda.gridsize(1)):
        n, c, oh, ow = _unravel4(k, (0, c_, oh_n, ow_n))
        # PyTorch's windows: [floor(o * H / OH), ceil((o + 1) * H / OH))
        h0 = (oh * h_) // oh_n
        h1 = ((oh + 1) * h_ + oh_n - 1) // oh_n
        w0 = (ow * w_) // ow_n
        w1 = ((ow + 1) * w_ + ow_n - 1) // ow_n
        s = zero
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                s += x[n, c, ih, iw]
        out[n, c, oh, ow] = s / ((h1 - h0) * (w1 - w0))


@policy.cuda_kernel
def _adaptive_avg_pool2d_backward(g, out):
    """Gather: input (ih, iw) sums g / window size over the adaptive windows that cover it."""
    n_, c_, h_, w_ = out.shape
    oh_n, ow_n = g.shape[2], g.shape[3]
    total = n_ * c_ * h_ * w_
    for k in range(cuda.grid(1), total, cuda.gridsize(1)):
        n, c, ih, iw = _unravel4(k, (0, c_, h_, w_))
        # candidates: floor(ih * OH / H) <= oh < ceil((ih + 1) * OH / H); tested exactly below
        oh0 = (ih * oh_n) // h_
        oh1 = min(((ih + 1) * oh_n + h_ - 1) // h_, oh_n)
        ow0 = (iw * ow_n) // w_
        ow1 = min(((iw + 1) * ow_n + w_ - 1) // w_, ow_n)
        s = 0.0
        for oh in range(oh0, oh1):
            h0 = (oh * h_) // oh_n
            h1 = ((oh + 1) * h_ + oh_n - 1) // oh_n
            if ih < h0 or ih >= h1:
                continue
            for ow in range(ow0, ow1):
                w0 = (ow * w_) // ow_n
                w1 = ((ow + 1) * w_ + ow_n - 1) // ow_n
                if iw < w0 or iw >= w1:
                    continue
                s += np.float64(g[n, c, oh, ow]) / ((h1 - h0) * (w1 - w0))
        out[n, c, ih, iw] = s


# --------------------------------------------------------------------------------------------
# Pooling API.
# --------------------------------------------------------------------------------------------
def max_pool2d(x, kh, kw, sh, sw, ph, pw, dh, dw, out, idx):
    """out (N, C, OH, OW) <- window maxima of x (N, C, H, W); idx (int64, like out) <- argmax."""
    if out.size == 0:
        return
    _max_pool2d[memory.grid(out.size)](x, kh, kw, sh, sw, ph, pw, dh, dw, out, idx)


def max_pool2d_backward(g, idx, out):
    """out (N, C, H, W) <- g (N, C, OH, OW) scattered (added) to the argmax positions idx."""
    if out.size == 0:
        return
    _zero(out)
    if g.size:
        _max_pool2d_backward[memory.grid(g.size)](g, idx, out)


def avg_pool2d(x, kh, kw, sh, sw, ph, pw, include_pad, divisor, out):
    """out (N, C, OH, OW) <- window means of x; ``divisor`` > 0 overrides the count."""
    if out.size == 0:
        return
    _avg_pool2d[memory.grid(out.size)](x, kh, kw, sh, sw, ph, pw, bool(include_pad),
                                       int(divisor), out.dtype.type(0), out)


def avg_pool2d_backward(g, kh, kw, sh, sw, ph, pw, include_pad, divisor, out):
    """out (N, C, H, W) <- g (N, C, OH, OW) spread evenly over each window."""
    if out.size == 0:
        return
    _avg_pool2d_backward[memory.grid(out.size)](g, kh, kw, sh, sw, ph, pw, bool(include_pad),
                                                int(divisor), out)


def adaptive_avg_pool2d(x, out):
    """out (N, C, OH, OW) <- means over PyTorch's adaptive windows of x (N, C, H, W)."""
    if out.size == 0:
        return
    _adaptive_avg_pool2d[memory.grid(out.size)](x, out.dtype.type(0), out)


def adaptive_avg_pool2d_backward(g, out):
    """out (N, C, H, W) <- g (N, C, OH, OW) spread evenly over each adaptive window."""
    if out.size == 0:
        return
    _adaptive_avg_pool2d_backward[memory.grid(out.size)](g, out)


# --------------------------------------------------------------------------------------------
# Compile check (tests/kernels/test_cuda_ptx.py).
# --------------------------------------------------------------------------------------------
def ptx_cases():
    """Yield (label, py_func, signature) for every kernel this module can launch, for
    ``numba.cuda.compile_ptx``: each once per float dtype (float32, float64), with the
    launchers' argument types (C arrays, Python ints as int64, ``dtype.type(0)`` as the dtype)."""
    from numba import types as T
    i, b = T.int64, T.boolean
    i4 = T.Array(T.int64, 4, "C")
    for dt in (T.float32, T.float64):
        a4 = T.Array(dt, 4, "C")
        for k, sig in ((_max_pool2d, (a4,) + (i,) * 8 + (a4, i4)),
                       (_max_pool2d_backward, (a4, i4, a4)),
                       (_avg_pool2d, (a4,) + (i,) * 6 + (b, i, dt, a4)),
                       (_avg_pool2d_backward, (a4,) + (i,) * 6 + (b, i, a4)),
                       (_adaptive_avg_pool2d, (a4, dt, a4)),
                       (_adaptive_avg_pool2d_backward, (a4, a4))):
            yield f"{k.py_func.__name__}[{dt}]", k.py_func, T.void(*sig)
