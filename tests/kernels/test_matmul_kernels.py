"""numtorch.kernels.cpu.matmul against NumPy: dtypes, batch broadcast, layouts, empty sizes."""
import numpy as np
import pytest

from numtorch.kernels.cpu import matmul as mm

DTYPES = [np.float32, np.float64, np.int64, np.int32]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _rand(shape, dtype, rng):
    if np.issubdtype(dtype, np.integer):
        return rng.integers(-9, 10, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _check(a, b, batch=None):
    m, n = a.shape[1], b.shape[2]
    batch = batch or max(a.shape[0], b.shape[0])
    out = np.full((batch, m, n), 7, dtype=a.dtype)  # stale values must be overwritten
    mm.matmul(a, b, out)
    want = np.matmul(a.astype(np.float64) if a.dtype.kind == "f" else a,
                     b.astype(np.float64) if b.dtype.kind == "f" else b)
    want = np.broadcast_to(want, out.shape)
    if a.dtype.kind == "f":
        # scale the tolerance with K: float32 sums of K products
        tol = dict(TOL[a.dtype.type])
        tol["atol"] *= max(1, a.shape[2]) ** 0.5 * 4
        np.testing.assert_allclose(out, want, **tol)
    else:
        np.testing.assert_array_equal(out, want)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (17, 33, 5), (5, 33, 17), (4, 4, 4), (16, 16, 16),
                                   (64, 64, 64), (1, 70, 9), (9, 70, 1), (130, 3, 129)])
@pytest.mark.parametrize("batch", [(1, 1), (3, 3), (3, 1), (1, 3)])
def test_matches_numpy(dtype, shape, batch):
    rng = np.random.default_rng(0)
    m, k, n = shape
    a = _rand((batch[0], m, k), dtype, rng)
    b = _rand((batch[1], k, n), dtype, rng)
    _check(a, b)


def _t(x):
    """A transposed view: the same matrices, stored column-major (C-contiguous transpose)."""
    return np.swapaxes(np.ascontiguousarray(np.swapaxes(x, -1, -2)), -1, -2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 5, 2), (40, 50, 30), (4, 4, 4)])
@pytest.mark.parametrize("ta,tb", [(True, False), (False, True), (True, True)])
def test_transposed_views(dtype, shape, ta, tb):
    rng = np.random.default_rng(1)
    m, k, n = shape
    a = _rand((2, m, k), dtype, rng)
    b = _rand((2, k, n), dtype, rng)
    a = _t(a) if ta else a
    b = _t(b) if tb else b
    assert not (ta and a.flags.c_contiguous) and not (tb and b.flags.c_contiguous)
    _check(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 7, 5), (40, 50, 30)])
def test_strided_views(dtype, shape):
    rng = np.random.default_rng(2)
    m, k, n = shape
    a = _rand((4, 2 * m, k + 3), dtype, rng)[::2, ::2, 1:k + 1]    # every stride odd
    b = _rand((2, k, 3 * n), dtype, rng)[:, :, ::3]                # inner stride 3
    _check(a, b)
    _check(a[::-1], b[:, ::-1, ::-1])                              # negative strides
    # a column slice of a wider matrix: leading dimension larger than the width
    c = _rand((2, m, k + 8), dtype, rng)[:, :, :k]
    _check(c, b)
    # a broadcast batch given as a stride-0 view
    _check(np.broadcast_to(a[:1], a.shape), b[:1])


def test_transposed_view_is_not_copied(monkeypatch):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 64, 48)).astype(np.float32)
    w = rng.standard_normal((2, 80, 48)).astype(np.float32)
    calls = []
    real = np.ascontiguousarray
    monkeypatch.setattr(mm.np, "ascontiguousarray", lambda x: calls.append(x) or real(x))
    _check(a, np.swapaxes(w, -1, -2))
    wide = rng.standard_normal((2, 64, 100)).astype(np.float32)
    _check(np.swapaxes(a, -1, -2), wide[:, :, :50])
    assert calls == []


@pytest.mark.parametrize("dtype", DTYPES)
def test_both_inputs_broadcast(dtype):
    rng = np.random.default_rng(4)
    for m, k, n in [(3, 4, 5), (30, 40, 50)]:
        a = _rand((1, m, k), dtype, rng)
        b = _rand((1, k, n), dtype, rng)
        _check(a, b, batch=3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty(dtype):
    # K == 0: zeros, whatever out held
    out = np.full((2, 3, 4), 5, dtype=dtype)
    mm.matmul(np.empty((2, 3, 0), dtype), np.empty((1, 0, 4), dtype), out)
    assert (out == 0).all()
    # M, N or B == 0: nothing to write, must not fail
    for ashape, bshape, oshape in [((2, 0, 3), (2, 3, 4), (2, 0, 4)),
                                   ((2, 3, 3), (2, 3, 0), (2, 3, 0)),
                                   ((0, 3, 3), (1, 3, 4), (0, 3, 4))]:
        out = np.empty(oshape, dtype)
        mm.matmul(np.ones(ashape, dtype), np.ones(bshape, dtype), out)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_wraps_like_numpy(dtype):
    big = np.iinfo(dtype).max // 2 + 1
    a = np.full((1, 2, 3), big, dtype)
    b = np.full((1, 3, 2), 3, dtype)
    out = np.empty((1, 2, 2), dtype)
    mm.matmul(a, b, out)
    np.testing.assert_array_equal(out, np.matmul(a, b))


def test_large_integer_runs_parallel_twin():
    rng = np.random.default_rng(5)
    a = rng.integers(-5, 5, size=(2, 96, 80)).astype(np.int64)
    b = rng.integers(-5, 5, size=(1, 80, 70)).astype(np.int64)
    _check(a, b)


def test_nan_inf_propagate():
    for n in (3, 40):  # loop kernel and BLAS path
        a = np.ones((1, n, n), np.float32)
        b = np.ones((1, n, n), np.float32)
        a[0, 0, 0] = np.nan
        a[0, 1, 1] = np.inf
        out = np.empty((1, n, n), np.float32)
        mm.matmul(a, b, out)
        assert np.isnan(out[0, 0]).all()
        assert np.isposinf(out[0, 1]).all()
