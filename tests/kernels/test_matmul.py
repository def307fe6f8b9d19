"""Batched matmul kernels (``kernels/<device>/matmul.py``) against NumPy: dtypes, batch broadcast,
layouts (transposed, strided, stride-0 batches), empty sizes, integer wrap-around, NaN and inf.

On "cuda" the simulator runs with TILE = 8 and at most 3 blocks per grid dimension
(tests/conftest.py), so sizes up to 24 already cross tile edges in M, N and K and make the tile
and batch loops take grid-stride steps; each CUDA thread is a Python thread: shapes stay small.
"""
import numpy as np
import pytest

DTYPES = [np.float32, np.float64, np.int64, np.int32]


def cases(cpu, cuda):
    """Parameters for ``indirect=["device"]``: the full grid on "cpu", the lean one on "cuda"."""
    return [("cpu",) + tuple(c) for c in cpu] + [("cuda",) + tuple(c) for c in cuda]


def rand(shape, dtype, rng):
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-9, 10, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def matmul(device, a, b, batch=None):
    """The kernel on the device twins of the NumPy views a, b, into a stale out."""
    batch = batch or max(a.shape[0], b.shape[0])
    out = device.stale((batch, a.shape[1], b.shape[2]), a.dtype)  # stale values are overwritten
    device.matmul.matmul(device.like(a), device.like(b), out)
    return device.to_host(out)


def check(device, a, b, batch=None):
    got = matmul(device, a, b, batch)
    if a.dtype.kind == "f":
        want = np.matmul(a.astype(np.float64), b.astype(np.float64))
        # float32 sums of K products, in another order than float64: scale with K
        k = max(1, a.shape[2])
        rtol = 2e-5 if a.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), rtol=rtol,
                                   atol=rtol * k ** 0.5 * 4)
    else:
        np.testing.assert_array_equal(got, np.broadcast_to(np.matmul(a, b), got.shape))
    return got


CPU_SHAPES = [(1, 1, 1), (17, 33, 5), (5, 33, 17), (4, 4, 4), (16, 16, 16), (64, 64, 64),
              (1, 70, 9), (9, 70, 1), (130, 3, 129), (97, 1, 204)]  # (outer: the loop kernel)
CPU_BATCH = [(1, 1), (3, 3), (3, 1), (1, 3)]
# one tiny, the rest across tile edges in M, N and K, every dtype and batch broadcast once
CUDA_CASES = [(np.float32, (1, 1, 1), (1, 1)), (np.float32, (17, 8, 13), (3, 1)),
              (np.float64, (9, 3, 24), (1, 3)), (np.int64, (7, 9, 5), (3, 3)),
              (np.int32, (5, 17, 3), (1, 1))]


@pytest.mark.parametrize("device,dtype,shape,batch", cases(
    [(d, s, b) for d in DTYPES for s in CPU_SHAPES for b in CPU_BATCH], CUDA_CASES),
    indirect=["device"])
def test_matches_numpy(device, dtype, shape, batch):
    rng = np.random.default_rng(0)
    m, k, n = shape
    check(device, rand((batch[0], m, k), dtype, rng), rand((batch[1], k, n), dtype, rng))


@pytest.mark.parametrize("device,shape,nb", cases([], [((8, 24, 8), 1), ((24, 4, 24), 1),
                                                      ((9, 2, 9), 5)]), indirect=["device"])
def test_cuda_tile_multiples_and_many_tiles(device, shape, nb):
    # exact multiples of the tile and more tiles than blocks (grid-stride over tiles and batch)
    rng = np.random.default_rng(6)
    m, k, n = shape
    check(device, rand((nb, m, k), np.float32, rng), rand((nb, k, n), np.float32, rng))


def col_major(x):
    """The same matrices stored column-major (a transposed view of a C-contiguous array)."""
    return np.swapaxes(np.ascontiguousarray(np.swapaxes(x, -1, -2)), -1, -2)


@pytest.mark.parametrize("device,dtype,shape,ta,tb", cases(
    [(d, s, ta, tb) for d in DTYPES for s in [(3, 5, 2), (40, 50, 30), (4, 4, 4)]
     for ta, tb in [(True, False), (False, True), (True, True)]],
    [(np.float32, (7, 11, 10), True, True), (np.int64, (7, 11, 10), True, False)]),
    indirect=["device"])
def test_transposed_views(device, dtype, shape, ta, tb):
    rng = np.random.default_rng(1)
    m, k, n = shape
    a = rand((2, m, k), dtype, rng)
    b = rand((2, k, n), dtype, rng)
    a = col_major(a) if ta else a
    b = col_major(b) if tb else b
    assert not (ta and a.flags.c_contiguous) and not (tb and b.flags.c_contiguous)
    check(device, a, b)


@pytest.mark.parametrize("device,dtype,shape", cases(
    [(d, s) for d in DTYPES for s in [(6, 7, 5), (40, 50, 30)]],
    [(np.float32, (7, 11, 10)), (np.int64, (7, 11, 10))]), indirect=["device"])
def test_strided_views(device, dtype, shape):
    rng = np.random.default_rng(2)
    m, k, n = shape
    a = rand((4, 2 * m, k + 3), dtype, rng)[::2, ::2, 1:k + 1]    # every stride odd
    b = rand((2, k, 3 * n), dtype, rng)[:, :, ::3]                # inner stride 3
    check(device, a, b)
    if device.name == "cpu":  # (device views have no negative strides)
        check(device, a[::-1], b[:, ::-1, ::-1])
    # a column slice of a wider matrix: leading dimension larger than the width
    check(device, rand((2, m, k + 8), dtype, rng)[:, :, :k], b)
    # a broadcast batch given as a stride-0 view
    check(device, np.broadcast_to(a[:1], a.shape), b[:1])


@pytest.mark.parametrize("device", ["cpu"], indirect=True)
def test_transposed_view_is_not_copied(device, monkeypatch):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 64, 48)).astype(np.float32)
    w = rng.standard_normal((2, 80, 48)).astype(np.float32)
    calls = []
    real = np.ascontiguousarray
    monkeypatch.setattr(device.matmul.np, "ascontiguousarray", lambda x: calls.append(x) or real(x))
    out = np.empty((2, 64, 80), np.float32)
    device.matmul.matmul(a, np.swapaxes(w, -1, -2), out)
    np.testing.assert_allclose(out, a @ np.swapaxes(w, -1, -2), rtol=1e-4, atol=1e-4)
    wide = rng.standard_normal((2, 64, 100)).astype(np.float32)
    out = np.empty((2, 48, 50), np.float32)
    device.matmul.matmul(np.swapaxes(a, -1, -2), wide[:, :, :50], out)
    np.testing.assert_allclose(out, np.swapaxes(a, -1, -2) @ wide[:, :, :50], rtol=1e-4,
                               atol=1e-4)
    assert calls == []


@pytest.mark.parametrize("device,dtype", cases([(d,) for d in DTYPES], [(d,) for d in DTYPES]),
                         indirect=["device"])
def test_both_inputs_broadcast(device, dtype):
    rng = np.random.default_rng(4)
    for m, k, n in ([(3, 4, 5), (30, 40, 50)] if device.name == "cpu" else [(3, 4, 5)]):
        check(device, rand((1, m, k), dtype, rng), rand((1, k, n), dtype, rng), batch=3)


@pytest.mark.parametrize("device,dtype", cases([(d,) for d in DTYPES], [(d,) for d in DTYPES]),
                         indirect=["device"])
def test_empty(device, dtype):
    # K == 0: zeros, whatever out held
    out = device.stale((2, 3, 4), dtype, 5)
    device.matmul.matmul(device.empty((2, 3, 0), dtype), device.empty((1, 0, 4), dtype), out)
    assert (device.to_host(out) == 0).all()
    # M, N or B == 0: nothing to write, must not fail
    for ashape, bshape, oshape in [((2, 0, 3), (2, 3, 4), (2, 0, 4)),
                                   ((2, 3, 3), (2, 3, 0), (2, 3, 0)),
                                   ((0, 3, 3), (1, 3, 4), (0, 3, 4))]:
        device.matmul.matmul(device.to_device(np.ones(ashape, dtype)),
                             device.to_device(np.ones(bshape, dtype)), device.empty(oshape, dtype))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the simulator's NumPy scalars warn
@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_wraps_like_numpy(device, dtype):
    big = np.iinfo(dtype).max // 2 + 1
    check(device, np.full((1, 2, 3), big, dtype), np.full((1, 3, 2), 3, dtype))


@pytest.mark.parametrize("device", ["cpu"], indirect=True)
def test_large_integer_runs_parallel_twin(device):
    rng = np.random.default_rng(5)
    check(device, rng.integers(-5, 5, size=(2, 96, 80)), rng.integers(-5, 5, size=(1, 80, 70)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf * 0 in CUDA threads past the edge
@pytest.mark.parametrize("device,n", cases([(3,), (11,), (40,)], [(11,)]), indirect=["device"])
def test_nan_inf_propagate(device, n):
    # CPU: n = 3 the loop kernel, 40 BLAS; CUDA: 11 has partial edge tiles
    a = np.ones((1, n, n), np.float32)
    b = np.ones((1, n, n), np.float32)
    a[0, 0, 0] = np.nan
    a[0, 1, 1] = np.inf
    got = matmul(device, a, b)
    assert np.isnan(got[0, 0]).all()
    assert np.isposinf(got[0, 1]).all()
    assert np.isfinite(got[0, 2:]).all()  # the zero padding of edge tiles adds no NaN


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_float32_accumulates_in_float32(device):
    # 1 + 2**-24 + ... is lost in float32 when added in order
    k = 9
    a = np.ones((1, 1, k), np.float32)
    b = np.full((1, k, 1), 2.0 ** -24, np.float32)
    b[0, 0, 0] = 1.0
    got = matmul(device, a, b)
    assert got.dtype == np.float32
    if device.is_cuda:  # the CUDA kernel adds in K order (BLAS may sum the small terms first)
        assert got[0, 0, 0] == np.float32(1.0)
    np.testing.assert_allclose(got[0, 0, 0], 1 + 8 * 2.0 ** -24, rtol=1e-6)


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_shape_mismatch_raises_value_error(device):
    # the CPU kernel raises NumPy's ValueError from np.matmul (BLAS path); the CUDA kernel
    # checks on the host before it would read out of bounds
    f32 = np.float32
    with pytest.raises(ValueError):
        device.matmul.matmul(device.empty((1, 20, 30), f32), device.empty((1, 31, 20), f32),
                             device.empty((1, 20, 20), f32))
    if device.is_cuda:
        with pytest.raises(ValueError, match="matmul"):
            device.matmul.matmul(device.empty((2, 3, 4), f32), device.empty((3, 4, 5), f32),
                                 device.empty((2, 3, 5), f32))
        with pytest.raises(ValueError, match="3-D"):
            device.matmul.matmul(device.empty((3, 4), f32), device.empty((4, 5), f32),
                                 device.empty((3, 5), f32))
