"""Reduction / scan / softmax kernels (numtorch.kernels.cpu.reduce) against NumPy and torch."""
import numpy as np
import pytest

from numtorch.kernels.cpu import reduce as R

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

BIG = (3, 20000, 1)  # above policy.PARALLEL_THRESHOLD: runs the parallel twins
SHAPES = [(2, 5, 3), (1, 7, 1), (4, 1, 2), (1, 1, 1), (3, 9, 1), (1, 300000, 1), (2, 2000, 40), BIG]
FLOATS = [np.float32, np.float64]


def cases(shapes, dtypes, big_dtype=np.float32):
    """(shape, dtype) pairs; shapes that run the parallel twins only with ``big_dtype`` (each
    dtype is one more cold compile of every parallel kernel)."""
    return [(s, d) for s in shapes for d in dtypes if np.prod(s) < 32768 or d == big_dtype]


def rand(shape, dtype, seed=0, lo=-2.0, hi=2.0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-3, 4, size=shape).astype(dtype)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,dtype", cases(SHAPES, FLOATS + [np.int64], np.float32))
def test_sum_mean_amax_amin(shape, dtype):
    x = rand(shape, dtype)
    out = np.empty((shape[0], shape[2]), dtype)
    R.sum(x, out)
    np.testing.assert_allclose(out, x.sum(1, dtype=np.float64).astype(dtype), **tol(dtype))
    R.amax(x, out)
    np.testing.assert_array_equal(out, x.max(1))
    R.amin(x, out)
    np.testing.assert_array_equal(out, x.min(1))
    if dtype != np.int64:
        R.mean(x, out)
        np.testing.assert_allclose(out, x.astype(np.float64).mean(1), **tol(dtype))


def test_sum_int32_into_int64_and_empty():
    x = rand((2, 6, 3), np.int32)
    out = np.empty((2, 3), np.int64)
    R.sum(x, out)
    np.testing.assert_array_equal(out, x.sum(1, dtype=np.int64))
    e = np.empty((2, 0, 3), np.float32)
    o = np.full((2, 3), 7, np.float32)
    R.sum(e, o)
    assert (o == 0).all()
    R.prod(e, o)
    assert (o == 1).all()
    R.logsumexp(e, o)
    assert (o == -np.inf).all()
    b = np.empty((2, 3), bool)
    R.all_(e, b)
    assert b.all()
    R.any_(e, b)
    assert not b.any()
    # outer * inner == 0 must not crash
    for f in (R.sum, R.amax, R.prod, R.logsumexp, R.mean):
        f(np.empty((0, 4, 3), np.float32), np.empty((0, 3), np.float32))
        f(np.empty((2, 4, 0), np.float32), np.empty((2, 0), np.float32))
    R.max_index(np.empty((0, 4, 3)), np.empty((0, 3)), np.empty((0, 3), np.int64))
    R.softmax(np.empty((0, 4, 3)), np.empty((0, 4, 3)))
    R.cumsum(np.empty((2, 0, 3)), np.empty((2, 0, 3)))


def test_float32_sum_accuracy_1m():
    x = np.random.default_rng(1).random(1 << 20, dtype=np.float32)
    for shape in [(1, 1 << 20, 1), (1, 1 << 10, 1 << 10), (1 << 10, 1 << 10, 1), (1, 1 << 18, 4)]:
        out = np.empty((shape[0], shape[2]), np.float32)
        x3 = x.reshape(shape)
        R.sum(x3, out)
        np.testing.assert_allclose(out, x3.sum(1, dtype=np.float64), rtol=1e-5)


@pytest.mark.parametrize("shape,dtype", cases([(2, 5, 3), (1, 40, 1), (1, 70000, 1), (2, 300, 80)], [np.float32, np.int64], np.float32))
def test_prod(shape, dtype):
    x = rand(shape, dtype, lo=0.99, hi=1.01) if dtype != np.int64 else rand(shape, dtype) % 2 + 1
    if dtype == np.int64:
        x[:, 40:] = 1  # keep products in range
    out = np.empty((shape[0], shape[2]), dtype)
    R.prod(x, out)
    ref = x.astype(np.float64).prod(1)
    if dtype == np.int64:
        np.testing.assert_array_equal(out, x.prod(1))
    else:
        np.testing.assert_allclose(out, ref, rtol=1e-4 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("shape,dtype", cases([(2, 5, 3), (1, 40, 1), BIG, (2, 300, 80)], [np.float32, np.int32, np.bool_], np.bool_))
def test_all_any(shape, dtype):
    x = (rand(shape, np.float64, lo=0, hi=1) < 0.999).astype(dtype)
    x[0, :, 0] = 1
    b = np.empty((shape[0], shape[2]), bool)
    R.all_(x, b)
    np.testing.assert_array_equal(b, x.all(1))
    R.any_(x, b)
    np.testing.assert_array_equal(b, x.any(1))
    z = np.zeros(shape, dtype)
    R.any_(z, b)
    assert not b.any()


@pytest.mark.parametrize("shape,dtype", cases([(2, 5, 3), (1, 7, 1), (1, 1, 4), BIG, (2, 1000, 50)], [np.float32], np.float32))
def test_amax_nan_and_inf(shape, dtype):
    x = rand(shape, dtype)
    x[0, shape[1] // 2, 0] = np.nan
    x[-1, -1, -1] = np.inf
    out = np.empty((shape[0], shape[2]), dtype)
    R.amax(x, out)
    np.testing.assert_array_equal(out, x.max(1))
    R.amin(x, out)
    np.testing.assert_array_equal(out, x.min(1))


@pytest.mark.parametrize("shape,dtype", cases([(2, 5, 3), (1, 7, 1), (4, 1, 2), (1, 100003, 1), BIG, (2, 3000, 40)], [np.float32, np.int64], np.float32))
def test_max_min_index(shape, dtype):
    x = rand(shape, dtype)  # small integers / random floats: ties for ints
    for f, npf, arg in ((R.max_index, np.max, np.argmax), (R.min_index, np.min, np.argmin)):
        v = np.empty((shape[0], shape[2]), dtype)
        i = np.empty((shape[0], shape[2]), np.int64)
        f(x, v, i)
        np.testing.assert_array_equal(v, npf(x, 1))
        np.testing.assert_array_equal(i, arg(x, 1))  # numpy: first occurrence, first NaN


@pytest.mark.parametrize("shape", [(2, 9, 3), (1, 9, 1), (1, 100003, 1), (2, 3000, 40)])
def test_max_index_nan_torch(shape):
    x = rand(shape, np.float32)
    x[0, shape[1] // 3, 0] = np.nan
    x[0, shape[1] // 2, 0] = np.nan
    x[-1, -1, -1] = np.inf
    v = np.empty((shape[0], shape[2]), np.float32)
    i = np.empty((shape[0], shape[2]), np.int64)
    for f, tf in ((R.max_index, "max"), (R.min_index, "min")):
        f(x, v, i)
        np.testing.assert_array_equal(i, (np.argmax if tf == "max" else np.argmin)(x, 1))
        if torch is not None:
            tv, ti = getattr(torch, tf)(torch.from_numpy(x), dim=1)
            np.testing.assert_array_equal(v, tv.numpy())
            np.testing.assert_array_equal(i, ti.numpy())


@pytest.mark.parametrize("shape,dtype", cases([(2, 5, 3), (1, 7, 1), (4, 1, 2), BIG, (2, 1000, 50)], FLOATS, np.float32))
@pytest.mark.parametrize("correction", [0, 1, 2])
def test_var(shape, dtype, correction):
    x = rand(shape, dtype) + 100  # large offset: one-pass formulas lose digits
    out = np.empty((shape[0], shape[2]), dtype)
    with np.errstate(all="ignore"):
        R.var(x, correction, out)
        ref = x.astype(np.float64).var(1, ddof=correction) if shape[1] > correction else None
    if ref is None:
        assert not np.isfinite(out).any()
    else:
        np.testing.assert_allclose(out, ref, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-6)


@pytest.mark.parametrize("shape,dtype", cases([(2, 5, 3), (1, 7, 1), BIG, (2, 1000, 50)], FLOATS, np.float32))
def test_logsumexp_norm2(shape, dtype):
    x = rand(shape, dtype) * 30
    out = np.empty((shape[0], shape[2]), dtype)
    R.logsumexp(x, out)
    x64 = x.astype(np.float64)
    m = x64.max(1, keepdims=True)
    ref = (m + np.log(np.exp(x64 - m).sum(1, keepdims=True)))[:, 0]
    np.testing.assert_allclose(out, ref, **tol(dtype))
    R.norm2(x, out)
    np.testing.assert_allclose(out, np.sqrt((x64 ** 2).sum(1)), **tol(dtype))


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_logsumexp_special_values_torch():
    x = np.array([[-np.inf, -np.inf, -np.inf], [1.0, np.inf, 2.0], [1.0, np.nan, 2.0],
                  [-np.inf, 0.0, 1.0], [np.inf, -np.inf, 0.0]], np.float32)
    for x3 in (x[:, :, None], np.ascontiguousarray(x.T[None])):
        out = np.empty((x3.shape[0], x3.shape[2]), np.float32)
        with np.errstate(all="ignore"):
            R.logsumexp(x3, out)
        ref = torch.logsumexp(torch.from_numpy(np.ascontiguousarray(x3)), dim=1).numpy()
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("shape,dtype", cases([(2, 5, 3), (1, 7, 1), (4, 1, 2), (3, 20000, 1), (2, 500, 40)], [np.float64, np.int32], np.float64))
def test_cumsum_cumprod(shape, dtype):
    x = rand(shape, dtype)
    wide = np.int64 if dtype == np.int32 else dtype
    out = np.empty(shape, wide)
    R.cumsum(x, out)
    np.testing.assert_allclose(out, np.cumsum(x, axis=1, dtype=wide), rtol=1e-9)
    xp = rand(shape, np.float64, lo=0.999, hi=1.001).astype(dtype) if dtype != np.int32 \
        else (rand(shape, dtype) % 2 + 1) * (np.arange(shape[1]) < 20)[None, :, None] + \
        (np.arange(shape[1]) >= 20)[None, :, None].astype(dtype)
    R.cumprod(xp, out)
    np.testing.assert_allclose(out, np.cumprod(xp, axis=1, dtype=wide), rtol=1e-9)


def test_cumsum_float32():
    x = rand((2, 50, 3), np.float32)
    out = np.empty(x.shape, np.float32)
    R.cumsum(x, out)
    np.testing.assert_allclose(out, np.cumsum(x.astype(np.float64), 1), rtol=1e-5, atol=1e-5)


SOFT_SHAPES = [(2, 5, 3), (1, 7, 1), (4, 1, 2), (3, 20000, 1), (2, 500, 40), (1, 10, 5000)]


def _softmax_ref(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("shape,dtype", cases(SOFT_SHAPES, FLOATS, np.float32))
def test_softmax_forward_backward(shape, dtype):
    x = rand(shape, dtype) * 20
    g = rand(shape, dtype, seed=2)
    y = np.empty(shape, dtype)
    ly = np.empty(shape, dtype)
    R.softmax(x, y)
    R.log_softmax(x, ly)
    p = _softmax_ref(x)
    np.testing.assert_allclose(y, p, **tol(dtype))
    np.testing.assert_allclose(ly, np.log(p), rtol=tol(dtype)["rtol"], atol=1e-4 if dtype == np.float32 else 1e-10)
    gx = np.empty(shape, dtype)
    R.softmax_backward(y, g, gx)
    g64, y64 = g.astype(np.float64), y.astype(np.float64)
    np.testing.assert_allclose(gx, y64 * (g64 - (g64 * y64).sum(1, keepdims=True)), **tol(dtype))
    R.log_softmax_backward(ly, g, gx)
    ref = g64 - np.exp(ly.astype(np.float64)) * g64.sum(1, keepdims=True)
    np.testing.assert_allclose(gx, ref, rtol=1e-4 if dtype == np.float32 else 1e-9,
                               atol=1e-3 if dtype == np.float32 and shape[1] > 1000 else 1e-5)
    if torch is not None and shape[1] <= 1000:
        t = torch.from_numpy(x).requires_grad_(True)
        ty = torch.softmax(t, 1)
        np.testing.assert_allclose(y, ty.detach().numpy(), **tol(dtype))
        (ty * torch.from_numpy(g)).sum().backward()
        np.testing.assert_allclose(R_softmax_bw(y, g), t.grad.numpy(), **tol(dtype))
        t2 = torch.from_numpy(x).requires_grad_(True)
        tly = torch.log_softmax(t2, 1)
        np.testing.assert_allclose(ly, tly.detach().numpy(), rtol=1e-5, atol=1e-5)
        (tly * torch.from_numpy(g)).sum().backward()
        np.testing.assert_allclose(R_log_softmax_bw(ly, g), t2.grad.numpy(), rtol=1e-4, atol=1e-4)


def R_softmax_bw(y, g):
    out = np.empty_like(y)
    R.softmax_backward(y, g, out)
    return out


def R_log_softmax_bw(y, g):
    out = np.empty_like(y)
    R.log_softmax_backward(y, g, out)
    return out


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_softmax_special_values_torch():
    x = np.array([[1.0, np.nan, 2.0], [-np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf],
                  [1000.0, 0.0, -1000.0]], np.float32)
    for x3 in (x[:, :, None], np.ascontiguousarray(x.T[None])):
        t = torch.from_numpy(np.ascontiguousarray(x3))
        for f, tf in ((R.softmax, torch.softmax), (R.log_softmax, torch.log_softmax)):
            out = np.empty_like(x3)
            with np.errstate(all="ignore"):
                f(x3, out)
            np.testing.assert_allclose(out, tf(t, 1).numpy(), rtol=1e-6)
