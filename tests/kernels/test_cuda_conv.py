"""numtorch.kernels.cuda.conv against numtorch.kernels.cpu.conv (in Numba's CUDA simulator).

Tiny shapes (the simulator runs each CUDA thread as a Python thread); conftest shrinks the launch
to 16 threads x 3 blocks, so every kernel's grid-stride and block loops run several rounds.
"""
import numpy as np
import pytest

from numtorch.kernels.cpu import conv as C
from numtorch.kernels.cuda import conv as G
from numtorch.kernels.cuda import memory

FLOATS = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


def dev(a):
    return memory.to_device(a)


def host(a):
    return memory.to_host(a)


def stale(shape, dtype):
    """A device array full of garbage: kernels must overwrite every element."""
    return dev(np.full(shape, 7.5, dtype))


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def out_size(size, k, s, p, d, p_end=None):
    p_end = p if p_end is None else p_end
    return (size + p + p_end - d * (k - 1) - 1) // s + 1


# --------------------------------------------------------------------------------------------
# conv2d
# --------------------------------------------------------------------------------------------
# (N, C, H, W, O, KH, KW, stride, pad, dilation, groups, trailing pad (None = same as leading))
CONV = [
    (2, 3, 5, 6, 3, 3, 3, (1, 1), (1, 1), (1, 1), 1, None),     # CPU: GEMM path
    (1, 1, 7, 7, 3, 3, 3, (2, 2), (1, 0), (1, 1), 1, None),     # 1 channel (CPU: direct)
    (2, 4, 6, 7, 4, 3, 2, (1, 2), (0, 1), (2, 1), 2, None),     # groups, dilation, stride
    (2, 4, 4, 5, 4, 3, 3, (1, 1), (1, 1), (1, 1), 4, None),     # depthwise
    (1, 2, 7, 5, 3, 1, 1, (2, 1), (0, 0), (1, 1), 1, None),     # 1x1
    (2, 2, 6, 6, 2, 2, 2, (1, 1), (0, 0), (2, 2), 2, (1, 1)),   # asymmetric ('same' even kernel)
    (1, 3, 4, 7, 2, 2, 3, (2, 2), (1, 1), (1, 2), 1, None),
]
CONV_CASES = [(c, d) for c in CONV for d in FLOATS]


def _conv_case(case, dtype, rng):
    n, c, h, w_, o, kh, kw, (sh, sw), (ph, pw), (dh, dw), groups, tail = case
    th, tw = tail if tail else (ph, pw)
    oh, ow = out_size(h, kh, sh, ph, dh, th), out_size(w_, kw, sw, pw, dw, tw)
    x = rand(rng, (n, c, h, w_), dtype)
    w = rand(rng, (o, c // groups, kh, kw), dtype)
    b = rand(rng, (o,), dtype)
    return x, w, b, (sh, sw, ph, pw, dh, dw, groups), (n, o, oh, ow)


@pytest.mark.parametrize("case,dtype", CONV_CASES)
def test_conv2d_forward_backward(case, dtype, rng):
    x, w, b, geom, oshape = _conv_case(case, dtype, rng)
    with_bias = case[0] == 2  # half the cases without bias
    bias = b if with_bias else None
    assert G.conv2d_cols_shape(x.shape, w.shape, oshape) is None  # direct: no cols buffer
    cs = C.conv2d_cols_shape(x.shape, w.shape, oshape)
    cols = None if cs is None else np.empty(cs, dtype)
    want = np.empty(oshape, dtype)
    C.conv2d_forward(x, w, bias, *geom, cols, want)
    got = stale(oshape, dtype)
    G.conv2d_forward(dev(x), dev(w), None if bias is None else dev(b), *geom, None, got)
    np.testing.assert_allclose(host(got), want, **tol(dtype))

    g = rand(rng, oshape, dtype)
    wx, ww, wb = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    C.conv2d_backward(g, x, w, cols, *geom, wx, ww, wb)
    gx, gw, gb = stale(x.shape, dtype), stale(w.shape, dtype), stale(b.shape, dtype)
    G.conv2d_backward(dev(g), dev(x), dev(w), None, *geom, gx, gw, gb)
    np.testing.assert_allclose(host(gx), wx, **tol(dtype))
    np.testing.assert_allclose(host(gw), ww, **tol(dtype))
    np.testing.assert_allclose(host(gb), wb, **tol(dtype))


def test_conv2d_backward_partial_and_empty(rng):
    x, w, b, geom, oshape = _conv_case(CONV[2], np.float64, rng)
    g = rand(rng, oshape, np.float64)
    ww = np.empty_like(w)
    C.conv2d_backward(g, x, w, None, *geom, None, ww, None)
    gw = stale(w.shape, np.float64)
    G.conv2d_backward(dev(g), dev(x), dev(w), None, *geom, None, gw, None)  # only gw
    np.testing.assert_allclose(host(gw), ww, rtol=1e-11, atol=1e-11)
    wx = np.empty_like(x)
    C.conv2d_backward(g, x, w, None, *geom, wx, None, None)
    gx = stale(x.shape, np.float64)
    G.conv2d_backward(dev(g), dev(x), dev(w), None, *geom, gx, None, None)  # only gx
    np.testing.assert_allclose(host(gx), wx, rtol=1e-11, atol=1e-11)
    # empty batch: forward writes nothing, backward zeroes the weight and bias gradients
    xe = np.empty((0,) + x.shape[1:])
    ge = np.empty((0,) + oshape[1:])
    G.conv2d_forward(dev(xe), dev(w), dev(b), *geom, None, dev(ge))
    gx, gw, gb = dev(np.empty_like(xe)), stale(w.shape, np.float64), stale(b.shape, np.float64)
    G.conv2d_backward(dev(ge), dev(xe), dev(w), None, *geom, gx, gw, gb)
    assert (host(gw) == 0).all() and (host(gb) == 0).all()


# --------------------------------------------------------------------------------------------
# conv_transpose2d
# --------------------------------------------------------------------------------------------
# (N, C, H, W, O/groups, KH, KW, stride, pad, dilation, groups, output_padding)
CONVT = [
    (2, 2, 4, 3, 3, 3, 3, (1, 1), (1, 1), (1, 1), 1, (0, 0)),
    (1, 4, 3, 4, 1, 3, 2, (2, 2), (1, 0), (1, 2), 2, (1, 1)),
    (2, 2, 3, 3, 2, 2, 2, (2, 1), (0, 0), (2, 1), 2, (1, 0)),
    (1, 3, 5, 4, 2, 1, 3, (1, 2), (0, 1), (1, 1), 1, (0, 1)),
]
CONVT_CASES = [(c, d) for c in CONVT for d in FLOATS]


@pytest.mark.parametrize("case,dtype", CONVT_CASES)
def test_conv_transpose2d(case, dtype, rng):
    n, c, h, w_, og, kh, kw, (sh, sw), (ph, pw), (dh, dw), groups, (oph, opw) = case
    o = og * groups
    oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    ow = (w_ - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    geom = (sh, sw, ph, pw, dh, dw, groups)
    x = rand(rng, (n, c, h, w_), dtype)
    w = rand(rng, (c, og, kh, kw), dtype)
    b = rand(rng, (o,), dtype)
    bias = b if n == 2 else None
    want = np.empty((n, o, oh, ow), dtype)
    C.conv_transpose2d_forward(x, w, bias, *geom, want)
    got = stale(want.shape, dtype)
    G.conv_transpose2d_forward(dev(x), dev(w), None if bias is None else dev(b), *geom, got)
    np.testing.assert_allclose(host(got), want, **tol(dtype))

    g = rand(rng, want.shape, dtype)
    wx, ww, wb = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    C.conv_transpose2d_backward(g, x, w, *geom, wx, ww, wb)
    gx, gw, gb = stale(x.shape, dtype), stale(w.shape, dtype), stale(b.shape, dtype)
    G.conv_transpose2d_backward(dev(g), dev(x), dev(w), *geom, gx, gw, gb)
    np.testing.assert_allclose(host(gx), wx, **tol(dtype))
    np.testing.assert_allclose(host(gw), ww, **tol(dtype))
    np.testing.assert_allclose(host(gb), wb, **tol(dtype))
    if n == 1:  # skipping gradients
        gw = stale(w.shape, dtype)
        G.conv_transpose2d_backward(dev(g), dev(x), dev(w), *geom, None, gw, None)
        np.testing.assert_allclose(host(gw), ww, **tol(dtype))


def test_conv_transpose2d_empty():
    x = np.empty((0, 2, 3, 3))
    w = np.ones((2, 3, 2, 2))
    geom = (1, 1, 0, 0, 1, 1, 1)
    G.conv_transpose2d_forward(dev(x), dev(w), None, *geom, dev(np.empty((0, 3, 4, 4))))
    gw, gb = stale(w.shape, np.float64), stale((3,), np.float64)
    G.conv_transpose2d_backward(dev(np.empty((0, 3, 4, 4))), dev(x), dev(w), *geom,
                                dev(np.empty_like(x)), gw, gb)
    assert (host(gw) == 0).all() and (host(gb) == 0).all()


# --------------------------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------------------------
def pool_out(size, k, s, p, d, ceil_mode):
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    o = num // s + 1
    if ceil_mode and (o - 1) * s >= size + p:
        o -= 1
    return o


# (N, C, H, W, (KH, KW), (SH, SW), (PH, PW), (DH, DW), ceil_mode)
POOL = [
    (2, 3, 7, 6, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (1, 2, 7, 7, (3, 3), (2, 2), (1, 1), (1, 1), True),
    (2, 2, 6, 7, (3, 2), (1, 2), (1, 0), (2, 1), False),
    (1, 3, 5, 4, (1, 3), (1, 1), (0, 1), (1, 2), True),
]


@pytest.mark.parametrize("case", POOL)
@pytest.mark.parametrize("dtype", FLOATS)
def test_max_pool2d(case, dtype, rng):
    n, c, h, w_, (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil = case
    oh, ow = pool_out(h, kh, sh, ph, dh, ceil), pool_out(w_, kw, sw, pw, dw, ceil)
    x = rng.integers(-3, 4, size=(n, c, h, w_)).astype(dtype)  # many ties: first one wins
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 1, 2] = np.nan  # a later NaN replaces an earlier one
    args = (kh, kw, sh, sw, ph, pw, dh, dw)
    want, widx = np.empty((n, c, oh, ow), dtype), np.empty((n, c, oh, ow), np.int64)
    C.max_pool2d(x, *args, want, widx)
    got, idx = stale(want.shape, dtype), dev(np.full(want.shape, -7, np.int64))
    G.max_pool2d(dev(x), *args, got, idx)
    np.testing.assert_array_equal(host(got), want)
    np.testing.assert_array_equal(host(idx), widx)
    assert host(idx).dtype == np.int64

    g = rand(rng, want.shape, dtype)
    wg = np.empty_like(x)
    C.max_pool2d_backward(g, widx, wg)
    gx = stale(x.shape, dtype)
    G.max_pool2d_backward(dev(g), idx, gx)
    np.testing.assert_allclose(host(gx), wg, **tol(dtype))


AVG = [
    (2, 3, 7, 6, (2, 2), (2, 2), (0, 0), False, True, 0),
    (1, 2, 7, 7, (3, 3), (2, 2), (1, 1), True, True, 0),
    (1, 2, 7, 7, (3, 3), (2, 2), (1, 1), True, False, 0),
    (2, 2, 6, 5, (3, 2), (1, 2), (1, 1), False, False, 0),
    (1, 3, 5, 4, (2, 3), (2, 1), (1, 1), True, True, 3),
]


@pytest.mark.parametrize("case", AVG)
@pytest.mark.parametrize("dtype", FLOATS)
def test_avg_pool2d(case, dtype, rng):
    n, c, h, w_, (kh, kw), (sh, sw), (ph, pw), ceil, inc, div = case
    oh, ow = pool_out(h, kh, sh, ph, 1, ceil), pool_out(w_, kw, sw, pw, 1, ceil)
    x = rand(rng, (n, c, h, w_), dtype)
    args = (kh, kw, sh, sw, ph, pw, inc, div)
    want = np.empty((n, c, oh, ow), dtype)
    C.avg_pool2d(x, *args, want)
    got = stale(want.shape, dtype)
    G.avg_pool2d(dev(x), *args, got)
    np.testing.assert_allclose(host(got), want, **tol(dtype))
    g = rand(rng, want.shape, dtype)
    wg = np.empty_like(x)
    C.avg_pool2d_backward(g, *args, wg)
    gx = stale(x.shape, dtype)
    G.avg_pool2d_backward(dev(g), *args, gx)
    np.testing.assert_allclose(host(gx), wg, **tol(dtype))


@pytest.mark.parametrize("shape,size", [((2, 2, 7, 5), (3, 2)), ((1, 3, 6, 7), (1, 1)),
                                        ((1, 2, 5, 3), (7, 4)), ((2, 1, 4, 4), (4, 4))])
@pytest.mark.parametrize("dtype", FLOATS)
def test_adaptive_avg_pool2d(shape, size, dtype, rng):
    x = rand(rng, shape, dtype)
    want = np.empty(shape[:2] + size, dtype)
    C.adaptive_avg_pool2d(x, want)
    got = stale(want.shape, dtype)
    G.adaptive_avg_pool2d(dev(x), got)
    np.testing.assert_allclose(host(got), want, **tol(dtype))
    g = rand(rng, want.shape, dtype)
    wg = np.empty_like(x)
    C.adaptive_avg_pool2d_backward(g, wg)
    gx = stale(shape, dtype)
    G.adaptive_avg_pool2d_backward(dev(g), gx)
    np.testing.assert_allclose(host(gx), wg, **tol(dtype))


def test_pool_empty_outputs_untouched():
    x = dev(np.ones((0, 2, 4, 4), np.float32))
    out = dev(np.empty((0, 2, 2, 2), np.float32))
    G.max_pool2d(x, 2, 2, 2, 2, 0, 0, 1, 1, out, dev(np.empty((0, 2, 2, 2), np.int64)))
    G.avg_pool2d(x, 2, 2, 2, 2, 0, 0, True, 0, out)
    G.adaptive_avg_pool2d(x, out)
    G.max_pool2d_backward(out, dev(np.empty((0, 2, 2, 2), np.int64)), x)
    G.avg_pool2d_backward(out, 2, 2, 2, 2, 0, 0, True, 0, x)
    G.adaptive_avg_pool2d_backward(out, x)


def test_same_public_api_as_cpu():
    public = {k for k, v in vars(C).items() if callable(v) and not k.startswith("_")
              and getattr(v, "__module__", "") == C.__name__}
    for name in public:
        assert callable(getattr(G, name, None)), name


def test_odd_launch_sizes(monkeypatch, rng):
    """13 threads x 2 blocks: the grid-stride loops and the bias-gradient tree reduction with a
    block size that is no power of two."""
    monkeypatch.setattr(memory, "BLOCK", 13)
    monkeypatch.setattr(memory, "MAX_BLOCKS", 2)
    test_conv2d_forward_backward(CONV[2], np.float64, rng)
