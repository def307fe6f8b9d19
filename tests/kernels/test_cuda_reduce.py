"""CUDA reduction / scan / softmax kernels (numtorch.kernels.cuda.reduce) against the CPU kernels.

Runs in Numba's CUDA simulator (tests/conftest.py shrinks launches to 16 threads x 3 blocks), so
the shapes are small but straddle every boundary of the launch layout: one output, a long row
(several rows per thread, one block per output), short rows packed several outputs to a block,
more output groups than blocks (grid-stride), inner columns that do not fill a group.
"""
import numpy as np
import pytest

from numtorch.kernels.cpu import reduce as C
from numtorch.kernels.cuda import memory as M
from numtorch.kernels.cuda import reduce as G

# The simulator runs kernels as Python threads on NumPy scalars: the NaN/inf arithmetic that a GPU
# does silently (0/0 for an empty mean, inf - inf in logsumexp) warns there, outside np.errstate.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

SHAPES = [(1, 1, 1), (2, 37, 1), (3, 5, 4), (1, 33, 7), (5, 3, 7), (20, 3, 1)]
# the second dtype of a family runs on fewer shapes (the simulator is slow)
FEW = [(2, 37, 1), (1, 33, 7)]


def cases(first, second):
    return [(s, first) for s in SHAPES] + [(s, second) for s in FEW]


def rand(shape, dtype, seed=0, lo=-2.0, hi=2.0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) < 0.7
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-3, 4, size=shape).astype(dtype)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def both(name, x, out_shape, out_dtype, *extra):
    """(CPU result, CUDA result) of kernel ``name`` on x (+ scalar args) into a fresh out."""
    cpu = np.full(out_shape, 7, out_dtype)
    with np.errstate(all="ignore"):
        getattr(C, name)(x, *extra, cpu)
    out = M.to_device(np.full(out_shape, 7, out_dtype))
    getattr(G, name)(M.to_device(x), *extra, out)
    return cpu, M.to_host(out)


def check(name, x, out_dtype=None, *extra, exact=False):
    shape = x.shape
    red = name not in ("cumsum", "cumprod", "softmax", "log_softmax")
    out_shape = (shape[0], shape[2]) if red else shape
    cpu, gpu = both(name, x, out_shape, out_dtype or x.dtype, *extra)
    assert gpu.dtype == cpu.dtype
    if exact or cpu.dtype.kind in "iub":
        np.testing.assert_array_equal(gpu, cpu)
    else:  # float64 accumulation on both sides: only the summation order differs
        rtol = 1e-6 if cpu.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(gpu, cpu, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("shape,dtype", cases(np.float32, np.float64))
def test_float_folds(shape, dtype):
    x = rand(shape, dtype)
    for name in ("sum", "mean", "norm2", "amax", "amin", "logsumexp"):
        check(name, x)
    check("prod", rand(shape, dtype, seed=1, lo=0.9, hi=1.1))
    check("var", x + 100, None, 1)  # large offset: a one-pass formula would lose digits


@pytest.mark.parametrize("shape", [(2, 37, 1), (5, 3, 7)])
@pytest.mark.parametrize("correction", [0, 2, 1.5, 40])
def test_var_corrections(shape, correction):
    check("var", rand(shape, np.float64), None, correction)  # n <= correction: inf/NaN as the CPU


@pytest.mark.parametrize("shape,dtype", cases(np.int64, np.int32))
def test_int_folds(shape, dtype):
    x = rand(shape, dtype)
    check("sum", x, np.int64)  # int32 sums into int64 (as ops.sum asks)
    check("prod", x, np.int64)
    check("amax", x)  # the dtype is kept
    check("any_", x, np.bool_)
    if dtype == np.int64:  # the same kernels as amax / any_ for int32
        check("amin", x)
        check("all_", x, np.bool_)


@pytest.mark.parametrize("shape", [(2, 37, 1), (5, 3, 7)])
def test_bool_folds(shape):
    x = rand(shape, np.bool_)
    x[0, :, 0] = True
    x[-1, :, -1] = False
    check("sum", x, np.int64)
    check("all_", x, np.bool_)
    check("any_", x, np.bool_)
    check("amax", x)
    check("amin", x)


def test_int64_sum_is_exact_and_float_sum_into_float64():
    # int64 accumulation, not float64: 2**62 + 1 survives
    x = np.array([2 ** 62, 1, 3, -2 ** 61], np.int64).reshape(1, 4, 1)
    cpu, gpu = both("sum", x, (1, 1), np.int64)
    assert gpu[0, 0] == 2 ** 62 + 4 - 2 ** 61 == cpu[0, 0]
    check("sum", rand((3, 5, 4), np.float32), np.float64)


def test_all_any_floats_nan_and_zero():
    x = np.array([[0.0, np.nan, 1.0], [0.0, 0.0, 0.0], [2.0, -1.0, np.inf], [-0.0, 0.5, 0.0]],
                 np.float32)
    for x3 in (x[:, :, None].copy(), np.ascontiguousarray(x.T[None])):
        check("all_", x3, np.bool_)
        check("any_", x3, np.bool_)


def _special():
    x = np.array([[1.0, np.nan, 2.0, 5.0], [-np.inf, -np.inf, -np.inf, -np.inf],
                  [1.0, np.inf, 2.0, -np.inf], [np.nan, 1.0, np.nan, 7.0],
                  [-np.inf, 0.0, 1.0, 1.0], [1000.0, 0.0, -1000.0, 3.0],
                  [-0.0, 0.0, -0.0, -1.0]], np.float32)
    return [x[:, :, None].copy(), np.ascontiguousarray(x.T[None])]


def test_nan_inf_amax_amin_logsumexp_softmax():
    for x3 in _special():
        check("amax", x3, exact=True)
        check("amin", x3, exact=True)
        for name in ("logsumexp", "softmax", "log_softmax"):
            check(name, x3)  # assert_allclose: NaN where the CPU has NaN


def test_nan_inf_max_min_index():
    for x3 in _special():
        for name in ("max_index", "min_index"):
            v, i = _index_both(name, x3)
            np.testing.assert_array_equal(v[0], v[1])
            np.testing.assert_array_equal(i[0], i[1])  # the first NaN, the first of ties


def _index_both(name, x):
    shape = (x.shape[0], x.shape[2])
    cv, ci = np.empty(shape, x.dtype), np.empty(shape, np.int64)
    getattr(C, name)(x, cv, ci)
    gv, gi = M.empty(shape, x.dtype), M.empty(shape, np.int64)
    getattr(G, name)(M.to_device(x), gv, gi)
    return (cv, M.to_host(gv)), (ci, M.to_host(gi))


@pytest.mark.parametrize("shape,dtype", cases(np.float32, np.int64)
                         + [((5, 3, 7), np.int32), ((2, 37, 1), np.bool_)])
def test_max_min_index(shape, dtype):
    x = rand(shape, dtype)  # small integers and bools: many ties
    if dtype == np.float32:
        x = np.round(x)  # ties for floats too, with signed zeros
    for name in ("max_index", "min_index"):
        v, i = _index_both(name, x)
        np.testing.assert_array_equal(v[1], v[0])
        np.testing.assert_array_equal(i[1], i[0])


SCAN_CASES = [((2, 37, 1), np.float64), ((2, 37, 1), np.int32), ((3, 5, 1), np.float32),
              ((3, 5, 4), np.int64), ((1, 33, 7), np.float32), ((20, 3, 1), np.float64),
              ((1, 1, 1), np.int64)]


@pytest.mark.parametrize("shape,dtype", SCAN_CASES)
def test_cumsum_cumprod(shape, dtype):
    wide = np.int64 if np.dtype(dtype).kind == "i" else dtype  # int32 scans into int64
    x = rand(shape, dtype)
    check("cumsum", x, wide)
    xp = rand(shape, dtype, seed=3, lo=0.95, hi=1.05) if dtype != np.int32 else \
        np.where(np.arange(shape[1])[None, :, None] < 30, x % 2 + 1, 1).astype(dtype)
    check("cumprod", xp, wide)


def test_cumsum_bool_into_int64():
    check("cumsum", rand((2, 37, 1), np.bool_), np.int64)


@pytest.mark.parametrize("shape,dtype", cases(np.float32, np.float64))
def test_softmax_family(shape, dtype):
    x = rand(shape, dtype) * 20
    g = rand(shape, dtype, seed=2)
    check("softmax", x)
    check("log_softmax", x)
    y = np.empty(shape, dtype)
    ly = np.empty(shape, dtype)
    C.softmax(x, y)
    C.log_softmax(x, ly)
    for name, a in (("softmax_backward", y), ("log_softmax_backward", ly)):
        cpu = np.empty(shape, dtype)
        getattr(C, name)(a, g, cpu)
        out = M.empty(shape, dtype)
        getattr(G, name)(M.to_device(a), M.to_device(g), out)
        rtol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(M.to_host(out), cpu, rtol=rtol, atol=rtol)


def test_empty_axis_gives_the_cpu_identities():
    x = np.empty((2, 0, 3), np.float32)
    for name in ("sum", "prod", "mean", "norm2", "logsumexp"):
        check(name, x, exact=True)
    check("var", x, None, 1, exact=True)
    check("all_", x, np.bool_)
    check("any_", x, np.bool_)
    check("sum", np.empty((2, 0, 3), np.int32), np.int64)
    check("prod", np.empty((2, 0, 1), np.int64))
    for name in ("cumsum", "softmax", "log_softmax"):
        check(name, x)  # nothing to write


def test_empty_outputs_do_not_launch():
    for shape in ((0, 4, 3), (2, 4, 0)):
        x = np.empty(shape, np.float32)
        for name in ("sum", "amax", "prod", "logsumexp", "mean", "var"):
            args = (1,) if name == "var" else ()
            check(name, x, None, *args)
        v, i = _index_both("max_index", np.empty(shape, np.float64))
        assert v[1].shape == (shape[0], shape[2]) and i[1].shape == v[1].shape
        check("softmax", x)
        check("cumsum", x)


def test_empty_axis_max_min_raise():
    # the CPU kernels leave this to the ops layer (they would read out of bounds); CUDA refuses
    x = M.to_device(np.empty((2, 0, 3), np.float32))
    out = M.empty((2, 3), np.float32)
    idx = M.empty((2, 3), np.int64)
    for name in ("amax", "amin"):
        with pytest.raises(IndexError, match=r"Expected reduction dim 1 to have non-zero size"):
            getattr(G, name)(x, out)
    for name in ("max_index", "min_index"):
        with pytest.raises(IndexError, match=r"Expected reduction dim 1 to have non-zero size"):
            getattr(G, name)(x, out, idx)


def test_strided_input():
    base = rand((3, 11, 10), np.float64)
    xs = base[:, 1::2, ::3]  # (3, 5, 4), non-contiguous on two axes
    dx = M.to_device(base)[:, 1::2, ::3]
    assert not dx.flags.c_contiguous
    for name in ("sum", "amax", "var", "cumsum", "softmax"):
        red = name not in ("cumsum", "softmax")
        shape = (3, 4) if red else xs.shape
        extra = (1,) if name == "var" else ()
        cpu = np.empty(shape)
        getattr(C, name)(xs, *extra, cpu)
        out = M.empty(shape, np.float64)
        getattr(G, name)(dx, *extra, out)
        np.testing.assert_allclose(M.to_host(out), cpu, rtol=1e-12, atol=1e-12)
    v, i = M.empty((3, 4), np.float64), M.empty((3, 4), np.int64)
    G.max_index(dx, v, i)
    np.testing.assert_array_equal(M.to_host(i), xs.argmax(1))


def test_out_is_reshaped_like_the_cpu():
    x = rand((3, 5, 4), np.float32)
    cpu = np.empty((3, 1, 4), np.float32)  # a keepdim-shaped out: the CPU reshapes it
    C.sum(x, cpu)
    out = M.empty((3, 1, 4), np.float32)
    G.sum(M.to_device(x), out)
    np.testing.assert_allclose(M.to_host(out), cpu, rtol=1e-6)


def test_error_paths():
    x = M.to_device(np.ones((2, 3, 4), np.float32))
    strided = M.to_device(np.ones((4, 4), np.float32))[:, ::2]  # (4, 2), not contiguous
    with pytest.raises(ValueError, match="C-contiguous"):
        G.sum(x, strided)  # needs a reshape to (2, 4)
    with pytest.raises(NotImplementedError, match="complex128"):
        G.sum(M.to_device(np.ones((1, 2, 1), np.complex128)), M.empty((1, 1), np.complex128))
