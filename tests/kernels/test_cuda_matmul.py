"""numtorch.kernels.cuda.matmul against numtorch.kernels.cpu.matmul (and NumPy).

Runs in Numba's simulator with TILE = 8 and at most 3 blocks per grid dimension
(tests/conftest.py), so sizes up to 24 already cross tile edges in M, N and K and make the
tile and batch loops take grid-stride steps. The simulator runs every CUDA thread as a Python
thread: shapes stay small.
"""
import numpy as np
import pytest

from numtorch.kernels.cpu import matmul as C
from numtorch.kernels.cuda import matmul as G
from numtorch.kernels.cuda import memory

DTYPES = [np.float32, np.float64, np.int64, np.int32]


def _rand(shape, dtype, rng):
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-9, 10, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _dev(view):
    """The device array with ``view``'s shape, strides and offset into a copy of its base."""
    base = view.base if view.base is not None else view
    while base.base is not None:
        base = base.base
    base = np.asarray(base)
    d = memory.to_device(base.reshape(-1))
    off = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    assert off % view.itemsize == 0 and all(s >= 0 for s in view.strides)
    return memory.as_strided(d[off // view.itemsize:], view.shape, view.strides)


def _check(a, b, batch=None):
    """CUDA against CPU on the same operands (device views with the same strides)."""
    m, n = a.shape[1], b.shape[2]
    batch = batch or max(a.shape[0], b.shape[0])
    want = np.full((batch, m, n), 7, a.dtype)  # stale values must be overwritten
    C.matmul(a, b, want)
    out = memory.to_device(np.full((batch, m, n), 7, a.dtype))
    G.matmul(_dev(a), _dev(b), out)
    got = memory.to_host(out)
    if a.dtype.kind == "f":
        # float32 sums in float32, in another order than BLAS: scale the tolerance with K
        k = max(1, a.shape[2])
        tol = 2e-6 * k ** 0.5 if a.dtype == np.float32 else 1e-14 * k ** 0.5
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 4)
    else:
        np.testing.assert_array_equal(got, want)
    return got


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,batch", [((1, 1, 1), (1, 1)), ((7, 9, 5), (3, 1)),
                                         ((17, 8, 13), (1, 1)), ((5, 17, 3), (1, 3)),
                                         ((9, 3, 24), (3, 3))])
def test_matches_cpu(dtype, shape, batch, rng):
    m, k, n = shape
    _check(_rand((batch[0], m, k), dtype, rng), _rand((batch[1], k, n), dtype, rng))


def test_tile_multiples_and_many_tiles(rng):
    # exact multiples of the tile and more tiles than blocks (grid-stride over tiles and batch)
    for (m, k, n), nb in [((16, 16, 16), 1), ((8, 24, 8), 1), ((24, 4, 24), 1), ((9, 2, 9), 5)]:
        _check(_rand((nb, m, k), np.float32, rng), _rand((nb, k, n), np.float32, rng))


def _t(x):
    """The same matrices stored column-major (a transposed view of a C-contiguous array)."""
    return np.swapaxes(np.ascontiguousarray(np.swapaxes(x, -1, -2)), -1, -2)


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_non_contiguous_operands(dtype, rng):
    m, k, n = 7, 11, 10
    a = _rand((2, m, k), dtype, rng)
    b = _rand((2, k, n), dtype, rng)
    _check(_t(a), b)                                               # column-major a
    _check(a, _t(b))                                               # column-major b
    _check(_t(a), _t(b))
    a2 = _rand((4, 2 * m, k + 3), dtype, rng)[::2, ::2, 1:k + 1]   # every stride odd
    b2 = _rand((2, k, 3 * n), dtype, rng)[:, :, ::3]               # inner stride 3
    _check(a2, b2)
    c = _rand((2, m, k + 8), dtype, rng)[:, :, :k]                 # column slice of a wider matrix
    _check(c, b2)
    _check(np.broadcast_to(a[:1], a.shape), b[:1])                 # a stride-0 batch


@pytest.mark.parametrize("dtype", DTYPES)
def test_both_inputs_broadcast(dtype, rng):
    _check(_rand((1, 3, 4), dtype, rng), _rand((1, 4, 5), dtype, rng), batch=3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty(dtype):
    # K == 0: zeros, whatever out held
    out = memory.to_device(np.full((2, 3, 4), 5, dtype))
    G.matmul(memory.empty((2, 3, 0), dtype), memory.empty((1, 0, 4), dtype), out)
    assert (memory.to_host(out) == 0).all()
    # M, N or B == 0: nothing to write, must not fail
    for ashape, bshape, oshape in [((2, 0, 3), (2, 3, 4), (2, 0, 4)),
                                   ((2, 3, 3), (2, 3, 0), (2, 3, 0)),
                                   ((0, 3, 3), (1, 3, 4), (0, 3, 4))]:
        G.matmul(memory.to_device(np.ones(ashape, dtype)), memory.to_device(np.ones(bshape, dtype)),
                 memory.empty(oshape, dtype))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the simulator's NumPy scalars warn
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_wraps_like_cpu(dtype):
    big = np.iinfo(dtype).max // 2 + 1
    a = np.full((1, 2, 3), big, dtype)
    b = np.full((1, 3, 2), 3, dtype)
    got = _check(a, b)
    np.testing.assert_array_equal(got, np.matmul(a, b))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf * 0 in threads past the edge
def test_nan_inf_propagate():
    n = 11
    a = np.ones((1, n, n), np.float32)
    b = np.ones((1, n, n), np.float32)
    a[0, 0, 0] = np.nan
    a[0, 1, 1] = np.inf
    out = memory.empty((1, n, n), np.float32)
    G.matmul(memory.to_device(a), memory.to_device(b), out)
    got = memory.to_host(out)
    assert np.isnan(got[0, 0]).all()
    assert np.isposinf(got[0, 1]).all()
    assert np.isfinite(got[0, 2:]).all()  # the zero padding of edge tiles adds no NaN


def test_float32_accumulates_in_float32():
    # 1 + 2**-24 + ... is lost in float32 as on the CPU, kept in float64
    k = 9
    a = np.ones((1, 1, k), np.float32)
    b = np.full((1, k, 1), 2.0 ** -24, np.float32)
    b[0, 0, 0] = 1.0
    got = _check(a, b)
    assert got[0, 0, 0] == np.float32(1.0)


def test_shape_mismatch_raises_value_error():
    # the CPU kernel raises NumPy's ValueError from np.matmul (BLAS path); the CUDA kernel
    # checks on the host before it would read out of bounds
    with pytest.raises(ValueError):
        C.matmul(np.ones((1, 20, 30), np.float32), np.ones((1, 31, 20), np.float32),
                 np.empty((1, 20, 20), np.float32))
    a, b = memory.empty((1, 20, 30), np.float32), memory.empty((1, 31, 20), np.float32)
    with pytest.raises(ValueError, match="matmul"):
        G.matmul(a, b, memory.empty((1, 20, 20), np.float32))
    with pytest.raises(ValueError, match="matmul"):
        G.matmul(memory.empty((2, 3, 4), np.float32), memory.empty((3, 4, 5), np.float32),
                 memory.empty((2, 3, 5), np.float32))
    with pytest.raises(ValueError, match="3-D"):
        G.matmul(memory.empty((3, 4), np.float32), memory.empty((4, 5), np.float32),
                 memory.empty((3, 5), np.float32))
