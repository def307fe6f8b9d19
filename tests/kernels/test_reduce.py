"""Reduction, scan and softmax kernels (``kernels/<device>/reduce.py``) against NumPy.

Every kernel works on the canonical ``(outer, n, inner)`` layout over axis 1. On "cpu" the full
grid of shapes runs, up to sizes above ``policy.PARALLEL_THRESHOLD`` (the parallel twins); on
"cuda" (16 threads x 3 blocks in the simulator) the shapes that take each launch layout: one
output, a long row (several rows per thread, a block per output), short rows packed several
outputs to a block with more groups than blocks, inner columns that do not fill a group.
"""
import numpy as np
import pytest

# The simulator runs kernels as Python threads on NumPy scalars: the NaN/inf arithmetic that a GPU
# does silently (0/0 for an empty mean, inf - inf in logsumexp) warns there, outside np.errstate.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

FLOATS = [np.float32, np.float64]
BIG = (3, 20000, 1)  # above policy.PARALLEL_THRESHOLD: the parallel twins
CPU_SHAPES = [(2, 5, 3), (1, 7, 1), (4, 1, 2), (1, 1, 1), (3, 9, 1), (1, 300000, 1),
              (2, 2000, 40), BIG]
# one output; a long row; short rows packed, more groups than blocks; inner not filling a group
CUDA_SHAPES = [(1, 1, 1), (2, 37, 1), (20, 3, 1), (5, 3, 7)]
BOUNDARY = (5, 3, 7)  # the CUDA shape for a second dtype


def cases(cpu, cuda):
    """Parameters for ``indirect=["device"]``: the full grid on "cpu", the lean one on "cuda"."""
    return [("cpu",) + tuple(c) for c in cpu] + [("cuda",) + tuple(c) for c in cuda]


def grid(shapes, dtypes, big_dtype):
    """(shape, dtype) pairs; shapes that run the parallel twins only with ``big_dtype`` (each
    dtype is one more cold compile of every parallel kernel)."""
    return [(s, d) for s in shapes for d in dtypes if np.prod(s) < 32768 or d == big_dtype]


def lean(dtypes):
    """CUDA cases: every CUDA shape with the first dtype, the boundary shape with the others."""
    return [(s, dtypes[0]) for s in CUDA_SHAPES] + [(BOUNDARY, d) for d in dtypes[1:]]


def rand(shape, dtype, seed=0, lo=-2.0, hi=2.0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) < 0.7
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-3, 4, size=shape).astype(dtype)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


SCANS = ("cumsum", "cumprod", "softmax", "log_softmax")


def run(device, name, x, *extra, out_dtype=None, out_shape=None):
    """Kernel ``name`` of x (+ scalar args) into a stale ``out``; the result on the host."""
    if out_shape is None:
        out_shape = x.shape if name in SCANS else (x.shape[0], x.shape[2])
    out = device.stale(out_shape, out_dtype or x.dtype)
    with np.errstate(all="ignore"):
        getattr(device.reduce, name)(device.to_device(x), *extra, out)
    return device.to_host(out)


def run_index(device, name, x):
    """(values, indices) of max_index / min_index."""
    shape = (x.shape[0], x.shape[2])
    v, i = device.stale(shape, x.dtype), device.stale(shape, np.int64)
    getattr(device.reduce, name)(device.to_device(x), v, i)
    return device.to_host(v), device.to_host(i)


# --------------------------------------------------------------------------------------------
# NumPy references (float64 for floats, int64 for integers, as the kernels accumulate).
# --------------------------------------------------------------------------------------------
def wide(x):
    return x.astype(np.float64 if x.dtype.kind == "f" else np.int64)


def logsumexp_ref(x):
    x = x.astype(np.float64)
    m = x.max(1, keepdims=True) if x.shape[1] else np.full((x.shape[0], 1, x.shape[2]), -np.inf)
    with np.errstate(all="ignore"):
        s = m + np.log(np.exp(x - m).sum(1, keepdims=True))
    return np.where(np.isfinite(m), s, m)[:, 0]  # an infinite or NaN max is the answer


def softmax_ref(x):
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        e = np.exp(x - x.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)


def log_softmax_ref(x):
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = x.max(1, keepdims=True)
        return x - (m + np.log(np.exp(x - m).sum(1, keepdims=True)))


def var_ref(x, correction):
    with np.errstate(all="ignore"):
        return x.astype(np.float64).var(1, ddof=correction)


# --------------------------------------------------------------------------------------------
# Folds.
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device,shape,dtype", cases(grid(CPU_SHAPES, FLOATS, np.float32),
                                                     lean(FLOATS)), indirect=["device"])
def test_float_folds(device, shape, dtype):
    x = rand(shape, dtype)
    t = tol(dtype)
    np.testing.assert_allclose(run(device, "sum", x), wide(x).sum(1), **t)
    np.testing.assert_allclose(run(device, "mean", x), wide(x).mean(1), **t)
    np.testing.assert_array_equal(run(device, "amax", x), x.max(1))
    np.testing.assert_array_equal(run(device, "amin", x), x.min(1))
    np.testing.assert_allclose(run(device, "logsumexp", x * 30), logsumexp_ref(x * 30), **t)
    xp = rand(shape, dtype, seed=1, lo=0.99, hi=1.01)
    np.testing.assert_allclose(run(device, "prod", xp), wide(xp).prod(1),
                               rtol=1e-4 if dtype == np.float32 else 1e-10)
    # a large offset: a one-pass formula would lose digits (CUDA: test_var_corrections)
    for correction in (0, 1, 2) if device.name == "cpu" else (1,):
        got = run(device, "var", x + 100, correction)
        np.testing.assert_allclose(got, var_ref(x + 100, correction),
                                   rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-6)


@pytest.mark.parametrize("device,shape", cases([((2, 37, 1),), ((5, 3, 7),)],
                                               [((5, 3, 7),)]), indirect=["device"])
@pytest.mark.parametrize("correction", [0, 2, 1.5, 40])
def test_var_corrections(device, shape, correction):
    x = rand(shape, np.float64)  # n <= correction: inf or NaN, as sum / max(n - correction, 0)
    np.testing.assert_allclose(run(device, "var", x, correction), var_ref(x, correction),
                               rtol=1e-12)


INT_CPU = grid(CPU_SHAPES, [np.int64, np.int32], np.int64)


# (CUDA: the launch geometries are the float folds'; here the integer accumulators)
@pytest.mark.parametrize("device,shape,dtype", cases(INT_CPU, [((20, 3, 1), np.int64),
                                                             (BOUNDARY, np.int32)]),
                         indirect=["device"])
def test_int_folds(device, shape, dtype):
    x = rand(shape, dtype)
    # int32 sums and products go into int64 (as ops.sum asks); amax/amin keep the dtype
    np.testing.assert_array_equal(run(device, "sum", x, out_dtype=np.int64), wide(x).sum(1))
    xp = x % 2 + 1
    xp[:, 40:] = 1  # keep products in range
    np.testing.assert_array_equal(run(device, "prod", xp, out_dtype=np.int64), wide(xp).prod(1))
    np.testing.assert_array_equal(run(device, "amax", x), x.max(1))
    np.testing.assert_array_equal(run(device, "amin", x), x.min(1))
    np.testing.assert_array_equal(run(device, "any_", x, out_dtype=np.bool_), x.any(1))
    np.testing.assert_array_equal(run(device, "all_", x, out_dtype=np.bool_), x.all(1))


@pytest.mark.parametrize("device,shape,dtype", cases(
    grid([(2, 5, 3), (1, 40, 1), BIG, (2, 300, 80)], [np.float32, np.int32, np.bool_], np.bool_),
    [((2, 37, 1), np.bool_), ((5, 3, 7), np.bool_)]), indirect=["device"])
def test_bool_and_all_any(device, shape, dtype):
    x = (rand(shape, np.float64, lo=0, hi=1) < 0.9).astype(dtype)
    x[0, :, 0] = 1
    x[-1, :, -1] = 0
    np.testing.assert_array_equal(run(device, "all_", x, out_dtype=np.bool_), x.all(1))
    np.testing.assert_array_equal(run(device, "any_", x, out_dtype=np.bool_), x.any(1))
    np.testing.assert_array_equal(run(device, "any_", np.zeros(shape, dtype), out_dtype=np.bool_),
                                  False)
    if dtype == np.bool_:
        np.testing.assert_array_equal(run(device, "sum", x, out_dtype=np.int64), wide(x).sum(1))
        np.testing.assert_array_equal(run(device, "amax", x), x.max(1))
        np.testing.assert_array_equal(run(device, "amin", x), x.min(1))


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_int64_sum_is_exact_and_float_into_float64(device):
    # int64 accumulation, not float64: 2**62 + 1 survives
    x = np.array([2 ** 62, 1, 3, -2 ** 61], np.int64).reshape(1, 4, 1)
    assert run(device, "sum", x)[0, 0] == 2 ** 62 + 4 - 2 ** 61
    x = rand((3, 5, 4), np.float32)
    np.testing.assert_allclose(run(device, "sum", x, out_dtype=np.float64), wide(x).sum(1),
                               rtol=1e-12)


@pytest.mark.parametrize("device", ["cpu"], indirect=True)
def test_float32_sum_accuracy_1m(device):
    x = np.random.default_rng(1).random(1 << 20, dtype=np.float32)
    for shape in [(1, 1 << 20, 1), (1, 1 << 10, 1 << 10), (1 << 10, 1 << 10, 1), (1, 1 << 18, 4)]:
        x3 = x.reshape(shape)
        np.testing.assert_allclose(run(device, "sum", x3), x3.sum(1, dtype=np.float64), rtol=1e-5)


# --------------------------------------------------------------------------------------------
# NaN, inf, signed zeros, ties.
# --------------------------------------------------------------------------------------------
def special():
    """Rows of special values, as (rows, n, 1) and as (1, n, rows) (inner > 1)."""
    x = np.array([[1.0, np.nan, 2.0, 5.0], [-np.inf, -np.inf, -np.inf, -np.inf],
                  [1.0, np.inf, 2.0, -np.inf], [np.nan, 1.0, np.nan, 7.0],
                  [-np.inf, 0.0, 1.0, 1.0], [1000.0, 0.0, -1000.0, 3.0],
                  [-0.0, 0.0, -0.0, -1.0], [np.inf, -np.inf, 0.0, 0.0]], np.float32)
    return [x[:, :, None].copy(), np.ascontiguousarray(x.T[None])]


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_special_values(device):
    for x3 in special():
        np.testing.assert_array_equal(run(device, "amax", x3), x3.max(1))
        np.testing.assert_array_equal(run(device, "amin", x3), x3.min(1))
        np.testing.assert_allclose(run(device, "logsumexp", x3), logsumexp_ref(x3), rtol=1e-6)
        np.testing.assert_allclose(run(device, "softmax", x3), softmax_ref(x3), rtol=1e-6,
                                   atol=1e-7)
        np.testing.assert_allclose(run(device, "log_softmax", x3), log_softmax_ref(x3),
                                   rtol=1e-6)
        for name, arg in (("max_index", np.argmax), ("min_index", np.argmin)):
            v, i = run_index(device, name, x3)
            np.testing.assert_array_equal(i, arg(x3, 1))  # the first NaN, the first of ties
            np.testing.assert_array_equal(v, np.take_along_axis(x3, i[:, None], 1)[:, 0])
        b = run(device, "all_", x3, out_dtype=np.bool_)  # NaN is nonzero, -0.0 is zero
        np.testing.assert_array_equal(b, x3.all(1))
        np.testing.assert_array_equal(run(device, "any_", x3, out_dtype=np.bool_), x3.any(1))


@pytest.mark.parametrize("device,shape,dtype", cases(
    grid([(2, 5, 3), (1, 7, 1), (1, 1, 4), BIG, (2, 1000, 50)], [np.float32], np.float32),
    [((2, 37, 1), np.float32), ((5, 3, 7), np.float32)]), indirect=["device"])
def test_amax_nan_and_inf(device, shape, dtype):
    x = rand(shape, dtype)
    x[0, shape[1] // 2, 0] = np.nan
    x[-1, -1, -1] = np.inf
    np.testing.assert_array_equal(run(device, "amax", x), x.max(1))
    np.testing.assert_array_equal(run(device, "amin", x), x.min(1))


INDEX_CPU = grid([(2, 5, 3), (1, 7, 1), (4, 1, 2), (1, 100003, 1), BIG, (2, 3000, 40)],
                 [np.float32, np.int64], np.float32) + [((5, 3, 7), np.int32),
                                                        ((2, 37, 1), np.bool_)]
INDEX_CUDA = [((2, 37, 1), np.float32), ((20, 3, 1), np.float32), (BOUNDARY, np.int64),
              (BOUNDARY, np.int32), ((2, 37, 1), np.bool_)]


@pytest.mark.parametrize("device,shape,dtype", cases(INDEX_CPU, INDEX_CUDA), indirect=["device"])
def test_max_min_index(device, shape, dtype):
    x = rand(shape, dtype)  # small integers and bools: many ties
    if dtype == np.float32:
        x = np.round(x)  # ties for floats too, with signed zeros
    for name, ref, arg in (("max_index", np.max, np.argmax), ("min_index", np.min, np.argmin)):
        v, i = run_index(device, name, x)
        np.testing.assert_array_equal(v, ref(x, 1))
        np.testing.assert_array_equal(i, arg(x, 1))  # NumPy: the first occurrence


@pytest.mark.parametrize("device,shape", cases(
    [((2, 9, 3),), ((1, 9, 1),), ((1, 100003, 1),), ((2, 3000, 40),)], [((2, 37, 1),)]),
    indirect=["device"])
def test_max_min_index_first_nan(device, shape):
    x = rand(shape, np.float32)
    x[0, shape[1] // 3, 0] = np.nan
    x[0, shape[1] // 2, 0] = np.nan
    x[-1, -1, -1] = np.inf
    for name, arg in (("max_index", np.argmax), ("min_index", np.argmin)):
        v, i = run_index(device, name, x)
        np.testing.assert_array_equal(i, arg(x, 1))
        np.testing.assert_array_equal(v, np.take_along_axis(x, i[:, None], 1)[:, 0])


# --------------------------------------------------------------------------------------------
# Scans.
# --------------------------------------------------------------------------------------------
SCAN_CPU = grid([(2, 5, 3), (1, 7, 1), (4, 1, 2), (3, 20000, 1), (2, 500, 40)],
                [np.float64, np.int32], np.float64) + [((2, 50, 3), np.float32)]
# a long row (the block scan with a carry), columns, one element
SCAN_CUDA = [((2, 37, 1), np.float64), ((2, 37, 1), np.int32), ((3, 5, 4), np.float32),
             ((1, 1, 1), np.int64)]


@pytest.mark.parametrize("device,shape,dtype", cases(SCAN_CPU, SCAN_CUDA), indirect=["device"])
def test_cumsum_cumprod(device, shape, dtype):
    wide_t = np.int64 if np.dtype(dtype).kind == "i" else dtype  # int32 scans into int64
    x = rand(shape, dtype)
    t = dict(rtol=1e-9) if dtype != np.float32 else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run(device, "cumsum", x, out_dtype=wide_t),
                               np.cumsum(wide(x), axis=1), **t)
    xp = rand(shape, dtype, seed=3, lo=0.999, hi=1.001) if dtype != np.int32 else \
        np.where(np.arange(shape[1])[None, :, None] < 20, x % 2 + 1, 1).astype(dtype)
    np.testing.assert_allclose(run(device, "cumprod", xp, out_dtype=wide_t),
                               np.cumprod(wide(xp), axis=1), **t)


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_cumsum_bool_into_int64(device):
    x = rand((2, 37, 1), np.bool_)
    np.testing.assert_array_equal(run(device, "cumsum", x, out_dtype=np.int64),
                                  np.cumsum(x, axis=1, dtype=np.int64))


# --------------------------------------------------------------------------------------------
# softmax / log_softmax.
# --------------------------------------------------------------------------------------------
SOFT_CPU = grid([(2, 5, 3), (1, 7, 1), (4, 1, 2), (3, 20000, 1), (2, 500, 40), (1, 10, 5000)],
                FLOATS, np.float32)


@pytest.mark.parametrize("device,shape,dtype", cases(SOFT_CPU, [((2, 37, 1), np.float32),
                                                             ((20, 3, 1), np.float32),
                                                             (BOUNDARY, np.float64)]),
                         indirect=["device"])
def test_softmax_log_softmax(device, shape, dtype):
    x = rand(shape, dtype) * 20
    np.testing.assert_allclose(run(device, "softmax", x), softmax_ref(x), **tol(dtype))
    np.testing.assert_allclose(run(device, "log_softmax", x), log_softmax_ref(x),
                               rtol=tol(dtype)["rtol"], atol=1e-4 if dtype == np.float32 else 1e-10)


# --------------------------------------------------------------------------------------------
# Empty sizes, layouts, errors.
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_empty_axis_gives_the_identities(device):
    x = np.empty((2, 0, 3), np.float32)
    assert (run(device, "sum", x) == 0).all()
    assert (run(device, "prod", x) == 1).all()
    assert np.isnan(run(device, "mean", x)).all()
    assert np.isnan(run(device, "var", x, 1)).all()
    assert (run(device, "logsumexp", x) == -np.inf).all()
    assert run(device, "all_", x, out_dtype=np.bool_).all()
    assert not run(device, "any_", x, out_dtype=np.bool_).any()
    assert (run(device, "sum", np.empty((2, 0, 3), np.int32), out_dtype=np.int64) == 0).all()
    assert (run(device, "prod", np.empty((2, 0, 1), np.int64)) == 1).all()
    for name in ("cumsum", "softmax", "log_softmax"):
        assert run(device, name, x).shape == x.shape  # nothing to write


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_empty_outputs(device):
    # outer * inner == 0: nothing to write, nothing may fail
    for shape in ((0, 4, 3), (2, 4, 0)):
        x = np.empty(shape, np.float32)
        for name in ("sum", "amax", "prod", "logsumexp", "mean"):
            assert run(device, name, x).shape == (shape[0], shape[2])
        run(device, "var", x, 1)
        v, i = run_index(device, "max_index", np.empty(shape, np.float64))
        assert v.shape == i.shape == (shape[0], shape[2])
        run(device, "softmax", x)
        run(device, "cumsum", x)


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_strided_input(device):
    base = rand((3, 11, 10), np.float64)
    xs, dx, _ = device.view(base, lambda t: t[:, 1::2, ::3])  # (3, 5, 4), strided on two axes
    assert not xs.flags.c_contiguous
    for name, extra, ref in (("sum", (), xs.sum(1)), ("amax", (), xs.max(1)),
                             ("var", (1,), var_ref(xs, 1)),
                             ("cumsum", (), np.cumsum(xs, 1)), ("softmax", (), softmax_ref(xs))):
        out = device.empty(ref.shape, np.float64)
        getattr(device.reduce, name)(dx, *extra, out)
        np.testing.assert_allclose(device.to_host(out), ref, rtol=1e-12, atol=1e-12)
    v, i = device.empty((3, 4), np.float64), device.empty((3, 4), np.int64)
    device.reduce.max_index(dx, v, i)
    np.testing.assert_array_equal(device.to_host(i), xs.argmax(1))


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_keepdim_shaped_out(device):
    x = rand((3, 5, 4), np.float32)
    got = run(device, "sum", x, out_shape=(3, 1, 4))  # reshaped to (outer, inner)
    np.testing.assert_allclose(got[:, 0], wide(x).sum(1), rtol=1e-6)


@pytest.mark.parametrize("device", ["cuda"], indirect=True)
def test_cuda_error_paths(device):
    R = device.reduce
    # an empty axis for max/min: the CUDA kernels refuse (the CPU ones leave it to the ops layer)
    x = device.to_device(np.empty((2, 0, 3), np.float32))
    out, idx = device.empty((2, 3), np.float32), device.empty((2, 3), np.int64)
    for name in ("amax", "amin"):
        with pytest.raises(IndexError, match=r"Expected reduction dim 1 to have non-zero size"):
            getattr(R, name)(x, out)
    for name in ("max_index", "min_index"):
        with pytest.raises(IndexError, match=r"Expected reduction dim 1 to have non-zero size"):
            getattr(R, name)(x, out, idx)
    # an out that needs a reshape must be contiguous; complex has no CUDA kernel
    x = device.to_device(np.ones((2, 3, 4), np.float32))
    strided = device.to_device(np.ones((4, 4), np.float32))[:, ::2]  # (4, 2)
    with pytest.raises(ValueError, match="C-contiguous"):
        R.sum(x, strided)
    with pytest.raises(NotImplementedError, match="complex128"):
        R.sum(device.to_device(np.ones((1, 2, 1), np.complex128)),
              device.empty((1, 1), np.complex128))
