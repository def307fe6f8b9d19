"""Pooling kernels (``kernels/<device>/pool.py``) against slow NumPy references.

The references loop over output windows in Python (PyTorch's window rules, written out). On
"cpu" every case runs, including the dense no-padding paths (the unrolled 2x2/stride-2 one and
the generic one) and sizes that run the parallel twins; on "cuda" (16 threads x 3 blocks in the
simulator) a few small cases with padding, dilation, ceil mode and divisors, whose grid-stride
loops run several rounds.
"""
import math

import numpy as np
import pytest

FLOATS = [np.float32, np.float64]


def cases(cpu, cuda):
    """Parameters for ``indirect=["device"]``: the full grid on "cpu", the lean one on "cuda"."""
    return [("cpu",) + tuple(c) for c in cpu] + [("cuda",) + tuple(c) for c in cuda]


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


def pool_out(size, k, s, p, d, ceil_mode):
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    o = num // s + 1
    if ceil_mode and (o - 1) * s >= size + p:
        o -= 1
    return o


# --------------------------------------------------------------------------------------------
# References.
# --------------------------------------------------------------------------------------------
def max_pool_ref(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """(values, flat argmax ih * W + iw): NaN wins and a later NaN replaces an earlier one;
    ties keep the first position in row-major window order."""
    n, c, h, w = x.shape
    out = np.empty((n, c, oh, ow), x.dtype)
    idx = np.empty((n, c, oh, ow), np.int64)
    for p in np.ndindex(n, c, oh, ow):
        best, bi = None, -1
        for i in range(kh):
            for j in range(kw):
                ih, iw = p[2] * sh - ph + i * dh, p[3] * sw - pw + j * dw
                if 0 <= ih < h and 0 <= iw < w:
                    v = x[p[0], p[1], ih, iw]
                    if best is None or v > best or math.isnan(v):
                        best, bi = v, ih * w + iw
        out[p], idx[p] = best, bi
    return out, idx


def max_pool_backward_ref(g, idx, x_shape):
    n, c, h, w = x_shape
    gx = np.zeros((n * c, h * w))
    np.add.at(gx, (np.arange(n * c)[:, None], idx.reshape(n * c, -1)), g.reshape(n * c, -1))
    return gx.reshape(x_shape)


def avg_windows(h, w, kh, kw, sh, sw, ph, pw, include_pad, divisor, oh, ow):
    """Yield ((oh, ow), rows, cols, divisor) for every window: rows/cols clipped to the input,
    the count from PyTorch's rule (the window clipped to the padded input, or to the input)."""
    for a in range(oh):
        hs = a * sh - ph
        he = min(hs + kh, h + ph)
        for b in range(ow):
            ws = b * sw - pw
            we = min(ws + kw, w + pw)
            rows, cols = slice(max(hs, 0), min(he, h)), slice(max(ws, 0), min(we, w))
            if divisor > 0:
                d = divisor
            elif include_pad:
                d = (he - hs) * (we - ws)
            else:
                d = (rows.stop - rows.start) * (cols.stop - cols.start)
            yield (a, b), rows, cols, d


def avg_pool_ref(x, *args):
    n, c, h, w = x.shape
    oh, ow = args[-2:]
    out = np.empty((n, c, oh, ow))
    for (a, b), rows, cols, d in avg_windows(h, w, *args):
        out[:, :, a, b] = x[:, :, rows, cols].astype(np.float64).sum((2, 3)) / d
    return out


def avg_pool_backward_ref(g, x_shape, *args):
    n, c, h, w = x_shape
    gx = np.zeros(x_shape)
    for (a, b), rows, cols, d in avg_windows(h, w, *args):
        gx[:, :, rows, cols] += g[:, :, a, b, None, None] / d
    return gx


def adaptive_windows(h, w, oh, ow):
    """PyTorch's adaptive windows: [floor(o * H / OH), ceil((o + 1) * H / OH))."""
    for a in range(oh):
        rows = slice(a * h // oh, -(-(a + 1) * h // oh))
        for b in range(ow):
            yield (a, b), rows, slice(b * w // ow, -(-(b + 1) * w // ow))


def adaptive_ref(x, oh, ow):
    out = np.empty(x.shape[:2] + (oh, ow))
    for (a, b), rows, cols in adaptive_windows(*x.shape[2:], oh, ow):
        out[:, :, a, b] = x[:, :, rows, cols].astype(np.float64).mean((2, 3))
    return out


def adaptive_backward_ref(g, x_shape):
    gx = np.zeros(x_shape)
    for (a, b), rows, cols in adaptive_windows(*x_shape[2:], *g.shape[2:]):
        size = (rows.stop - rows.start) * (cols.stop - cols.start)
        gx[:, :, rows, cols] += g[:, :, a, b, None, None] / size
    return gx


# --------------------------------------------------------------------------------------------
# max pooling
# --------------------------------------------------------------------------------------------
# (N, C, H, W, (KH, KW), (SH, SW), (PH, PW), (DH, DW), ceil_mode)
POOL = [
    (2, 3, 7, 6, (2, 2), (2, 2), (0, 0), (1, 1), False),  # CPU: the unrolled 2x2 kernel
    (1, 2, 7, 7, (3, 3), (2, 2), (1, 1), (1, 1), True),
    (2, 2, 6, 7, (3, 2), (1, 2), (1, 0), (2, 1), False),
    (1, 3, 5, 4, (1, 3), (1, 1), (0, 1), (1, 2), True),
    (2, 2, 7, 8, (3, 2), (2, 1), (0, 0), (1, 1), False),  # CPU: the generic dense kernel
    (2, 2, 7, 7, (2, 2), (2, 2), (0, 0), (1, 1), True),   # ceil mode: a clipped last window
    (4, 8, 32, 32, (2, 2), (2, 2), (0, 0), (1, 1), False),  # CPU: parallel twins
    (4, 4, 20, 20, (3, 3), (1, 1), (0, 0), (1, 1), False),
]
SMALL = POOL[:6]


@pytest.mark.parametrize("device,case,dtype", cases(
    [(c, d) for c in SMALL for d in FLOATS] + [(c, np.float32) for c in POOL[6:]],
    [(POOL[1], np.float32), (POOL[2], np.float64)]), indirect=["device"])
def test_max_pool2d(device, case, dtype, rng):
    n, c, h, w_, (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil = case
    oh, ow = pool_out(h, kh, sh, ph, dh, ceil), pool_out(w_, kw, sw, pw, dw, ceil)
    x = rng.integers(-3, 4, size=(n, c, h, w_)).astype(dtype)  # many ties: the first one wins
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 1, 2] = np.nan  # a later NaN replaces an earlier one
    x[-1, -1, 0, 1] = np.nan
    args = (kh, kw, sh, sw, ph, pw, dh, dw)
    out, idx = device.stale((n, c, oh, ow), dtype, 7.5), device.stale((n, c, oh, ow), np.int64, -7)
    device.pool.max_pool2d(device.to_device(x), *args, out, idx)
    want, widx = max_pool_ref(x, *args, oh, ow)
    np.testing.assert_array_equal(device.to_host(out), want)
    got_idx = device.to_host(idx)
    assert got_idx.dtype == np.int64
    np.testing.assert_array_equal(got_idx, widx)

    g = rng.standard_normal(want.shape).astype(dtype)
    gx = device.stale(x.shape, dtype, 7.5)
    device.pool.max_pool2d_backward(device.to_device(g), idx, gx)
    np.testing.assert_allclose(device.to_host(gx), max_pool_backward_ref(g, widx, x.shape),
                               **tol(dtype))


# --------------------------------------------------------------------------------------------
# average pooling
# --------------------------------------------------------------------------------------------
# (N, C, H, W, (KH, KW), (SH, SW), (PH, PW), ceil_mode, count_include_pad, divisor_override)
AVG = [
    (2, 3, 7, 6, (2, 2), (2, 2), (0, 0), False, True, 0),
    (1, 2, 7, 7, (3, 3), (2, 2), (1, 1), True, True, 0),
    (1, 2, 7, 7, (3, 3), (2, 2), (1, 1), True, False, 0),
    (2, 2, 6, 5, (3, 2), (1, 2), (1, 1), False, False, 0),
    (1, 3, 5, 4, (2, 3), (2, 1), (1, 1), True, True, 3),
    (8, 8, 24, 24, (3, 3), (1, 1), (1, 1), False, True, 0),  # CPU: parallel twins
]


@pytest.mark.parametrize("device,case,dtype", cases(
    [(c, d) for c in AVG[:-1] for d in FLOATS] + [(AVG[-1], np.float32)],
    [(AVG[2], np.float32), (AVG[4], np.float64)]), indirect=["device"])
def test_avg_pool2d(device, case, dtype, rng):
    n, c, h, w_, (kh, kw), (sh, sw), (ph, pw), ceil, inc, div = case
    oh, ow = pool_out(h, kh, sh, ph, 1, ceil), pool_out(w_, kw, sw, pw, 1, ceil)
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    args = (kh, kw, sh, sw, ph, pw, inc, div)
    out = device.stale((n, c, oh, ow), dtype, 7.5)
    device.pool.avg_pool2d(device.to_device(x), *args, out)
    np.testing.assert_allclose(device.to_host(out), avg_pool_ref(x, *args, oh, ow), **tol(dtype))
    g = rng.standard_normal((n, c, oh, ow)).astype(dtype)
    gx = device.stale(x.shape, dtype, 7.5)
    device.pool.avg_pool2d_backward(device.to_device(g), *args, gx)
    np.testing.assert_allclose(device.to_host(gx), avg_pool_backward_ref(g, x.shape, *args, oh, ow),
                               **tol(dtype))


# --------------------------------------------------------------------------------------------
# adaptive average pooling
# --------------------------------------------------------------------------------------------
ADAPTIVE = [((2, 2, 7, 5), (3, 2)), ((1, 3, 6, 7), (1, 1)), ((1, 2, 5, 3), (7, 4)),
            ((2, 1, 4, 4), (4, 4))]


@pytest.mark.parametrize("device,shape,size,dtype", cases(
    [(s, z, d) for s, z in ADAPTIVE for d in FLOATS] + [((8, 8, 30, 30), (7, 7), np.float32)],
    [(ADAPTIVE[0][0], ADAPTIVE[0][1], np.float32), (ADAPTIVE[2][0], ADAPTIVE[2][1], np.float64)]),
    indirect=["device"])
def test_adaptive_avg_pool2d(device, shape, size, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    out = device.stale(shape[:2] + size, dtype, 7.5)
    device.pool.adaptive_avg_pool2d(device.to_device(x), out)
    np.testing.assert_allclose(device.to_host(out), adaptive_ref(x, *size), **tol(dtype))
    g = rng.standard_normal(shape[:2] + size).astype(dtype)
    gx = device.stale(shape, dtype, 7.5)
    device.pool.adaptive_avg_pool2d_backward(device.to_device(g), gx)
    np.testing.assert_allclose(device.to_host(gx), adaptive_backward_ref(g, shape), **tol(dtype))


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_empty_outputs_untouched(device):
    P = device.pool
    x = device.to_device(np.ones((0, 2, 4, 4), np.float32))
    out = device.empty((0, 2, 2, 2), np.float32)
    idx = device.empty((0, 2, 2, 2), np.int64)
    P.max_pool2d(x, 2, 2, 2, 2, 0, 0, 1, 1, out, idx)
    P.avg_pool2d(x, 2, 2, 2, 2, 0, 0, True, 0, out)
    P.adaptive_avg_pool2d(x, out)
    P.max_pool2d_backward(out, idx, x)
    P.avg_pool2d_backward(out, 2, 2, 2, 2, 0, 0, True, 0, x)
    P.adaptive_avg_pool2d_backward(out, x)
