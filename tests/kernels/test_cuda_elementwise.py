"""numtorch.kernels.cuda.elementwise against numtorch.kernels.cpu.elementwise.

The CUDA kernels run in Numba's simulator here (tests/conftest.py shrinks launches to 16
threads x 3 blocks, so 63 elements already take grid-stride steps across blocks). Every public
function of the CPU module is called on both devices: every dtype family it supports, special
values (NaN, +-inf, +-0, zero divisors, integer extremes), and the layouts the contract allows
(0-d, size-1, broadcast, stride-0, transposed and sliced inputs, strided out). Float16 (a
storage dtype the CPU kernels lack) is checked against NumPy.

The CPU oracle runs on contiguous operands at out's shape, and narrow dtypes go through the
family's wide one (``wide=``): int8/int32/uint8/bool as int64, then wrapped back, which is how
the CPU computes them anyway (Numba promotes narrow integers to int64), and float32 as float64,
then rounded (exact for + - * /, within an ulp for the math functions; float32 floor_divide and
remainder, whose float32 arithmetic differs, run in float32). So a cold Numba cache compiles
about one CPU kernel per op and family, not one per dtype and layout (~0.5 s each).
"""
import numpy as np
import pytest

from numtorch.kernels.cpu import elementwise as C
from numtorch.kernels.cuda import elementwise as G
from numtorch.kernels.cuda import memory

# NaN/inf arithmetic on NumPy scalars (the simulator's) warns; on a GPU and the CPU it is silent
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

NAN, INF = np.nan, np.inf
FLOATS = [np.float32, np.float64]
INTS = [np.int64, np.int32, np.int8, np.uint8]


# --------------------------------------------------------------------------------------------
# Helpers: the same view on both devices, run both, compare.
# --------------------------------------------------------------------------------------------
def pair(base, view=None):
    """(NumPy view, device view with the same shape, strides and offset, device base)."""
    base = np.array(base, order="C")  # fresh strides: memory.to_device rejects stride-0 size-1 dims
    v = base if view is None else view(base)
    d = memory.to_device(base)
    off = v.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    assert off % base.itemsize == 0 and all(s >= 0 for s in v.strides)
    flat = memory.as_strided(d, (base.size,), (base.itemsize,))[off // base.itemsize:]
    return v, memory.as_strided(flat, v.shape, v.strides), d


WIDE = {"f": np.float64, "i": np.int64, "u": np.int64, "b": np.int64}


def both(fn, ins, out_base, out_view=None, ref=None, wide=False):
    """Run ``C.fn`` (or ``ref(*numpy inputs, out)``) and ``G.fn`` on the same layouts; returns
    (cpu out base, gpu out base) so that writes outside the view are compared too. ``wide``:
    the CPU computes in the inputs' wide dtype (see the module docstring)."""
    host_ins, dev_ins = [], []
    for x in ins:
        base, view = x if isinstance(x, tuple) else (x, None)
        h, d, _ = pair(base, view)
        host_ins.append(h)
        dev_ins.append(d)
    cpu_base = np.array(out_base, order="C")
    h_out = cpu_base if out_view is None else out_view(cpu_base)
    args = [np.array(np.broadcast_to(h, h_out.shape), order="C") for h in host_ins]
    tmp = np.array(h_out, order="C")
    if wide:
        args = [a.astype(WIDE[a.dtype.kind]) for a in args]
        tmp = tmp.astype(np.bool_ if tmp.dtype == np.bool_ else WIDE[tmp.dtype.kind])
    (ref or getattr(C, fn))(*args, tmp)
    with np.errstate(all="ignore"):
        h_out[...] = tmp.astype(h_out.dtype)  # wraps / rounds as the narrow CPU kernel would
    _, d_out, d_base = pair(out_base, out_view)
    getattr(G, fn)(*dev_ins, d_out)
    return cpu_base, memory.to_host(d_base)


def check(want, got, rtol=0.0):
    assert want.dtype == got.dtype and want.shape == got.shape
    if rtol and want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def sentinel(shape, dtype):
    """An out buffer of stale values that every kernel must overwrite (or leave alone)."""
    return np.full(shape, 7, dtype)


# Float inputs: random values with the special ones in front (63 elements: several blocks).
SPECIAL = [NAN, -NAN, INF, -INF, 0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1.0, -1.0, 3.0,
           1e-3, 100.0, -100.0, 800.0, -800.0, 1e15 + 0.5, -4.5, 0.49999997]


def float_input(dtype, rng, shape=(7, 9)):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    x.flat[:len(SPECIAL)] = SPECIAL
    return x


def int_input(dtype, rng, shape=(7, 9)):
    info = np.iinfo(dtype)
    x = rng.integers(max(info.min, -50), min(info.max, 50), size=shape, endpoint=True).astype(dtype)
    edge = [info.min, info.max, 0, 1, info.max - 1] + ([-1, info.min + 1] if info.min else [])
    x.flat[:len(edge)] = edge
    return x


def tol(dtype):
    return 2e-7 if dtype == np.float32 else 1e-13


# --------------------------------------------------------------------------------------------
# Unary ops.
# --------------------------------------------------------------------------------------------
UNARY_FLOAT = ["neg", "abs", "sign", "relu", "square", "exp", "log", "log1p", "expm1", "sqrt",
               "rsqrt", "sin", "cos", "tan", "tanh", "sigmoid", "erf", "reciprocal", "log2",
               "floor", "ceil", "round", "trunc"]
UNARY_INT = ["neg", "abs", "sign", "relu", "square", "floor", "ceil", "round", "trunc"]
PREDICATES = ["isnan", "isinf", "isfinite", "logical_not", "signbit"]
ROUNDING = {"floor", "ceil", "round", "trunc"}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", UNARY_FLOAT)
def test_unary_float(name, dtype, rng):
    x = float_input(dtype, rng)
    if name in ROUNDING:
        # (the CPU kernels go through int64 and break beyond 2**63: see test_rounding_large)
        x[np.abs(x) > 1e18] = 0.25
    # flat (contiguous), then a transposed view (the strided kernel)
    check(*both(name, [x], sentinel(x.shape, dtype), wide=True), rtol=tol(dtype))
    xt = (np.ascontiguousarray(x.T), lambda a: a.T)
    check(*both(name, [xt], sentinel(x.shape, dtype), wide=True), rtol=tol(dtype))


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("name", UNARY_INT)
def test_unary_int(name, dtype, rng):
    x = int_input(dtype, rng)
    # integers round to themselves; the CPU kernels go through float64 (inexact beyond 2**53)
    ref = (lambda x, out: out.__setitem__(..., x)) if name in ROUNDING else None
    check(*both(name, [x], sentinel(x.shape, dtype), ref=ref, wide=True))


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc"])
def test_rounding_large_and_signed_zero(name):
    # values beyond int64 and the sign of zero results follow NumPy (and torch); the CPU
    # kernels return INT64_MIN for |x| >= 2**63 and +0.0 for ceil(-0.5)
    x = np.array([1e20, -1e20, 3e38, -0.4, -0.5, -0.0, 0.3, 2.5, -2.5, 4503599627370497.0])
    ref = getattr(np, "rint" if name == "round" else name)
    for dtype in FLOATS:
        xd = x.astype(dtype)
        out = memory.empty(x.shape, dtype)
        getattr(G, name)(memory.to_device(xd), out)
        got, want = memory.to_host(out), ref(xd)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("name", PREDICATES)
def test_predicates(name, rng):
    for x in [float_input(np.float32, rng), float_input(np.float64, rng),
              int_input(np.int64, rng), int_input(np.int8, rng)]:
        check(*both(name, [x], sentinel(x.shape, np.bool_), wide=True))
    if name == "logical_not":
        b = rng.random((7, 9)) < 0.5
        check(*both(name, [b], sentinel(b.shape, np.bool_), wide=True))
    # a broadcast 0-d input
    check(*both(name, [np.array(-0.0)], sentinel((4, 5), np.bool_), wide=True))


def test_signbit_of_negative_nan():
    x = np.array([NAN, -NAN, -0.0, 0.0], np.float32)
    out = memory.empty(x.shape, np.bool_)
    G.signbit(memory.to_device(x), out)
    np.testing.assert_array_equal(memory.to_host(out), [False, True, True, False])


# --------------------------------------------------------------------------------------------
# copy / cast between every pair of dtypes (float16 against NumPy).
# --------------------------------------------------------------------------------------------
CAST_DTYPES = [np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64, np.float32,
               np.float64]


def cast_values(src, dst):
    """Values every destination holds exactly or by truncation (out-of-range is undefined)."""
    v = [0, 1, 2, 7, 100, 127, 0, 3]
    if np.dtype(src).kind == "f":
        v += [2.5, 7.9, 0.25, 99.99]
        if np.dtype(dst).kind in "fb":
            v += [NAN, INF, -INF, -0.0, 1e30]
    if np.dtype(src).kind in "if" and np.dtype(dst).kind in "ifb":
        v += [-1, -2, -128, -100]
        if np.dtype(src).kind == "f":
            v += [-2.5, -7.9]
    return np.array(v).astype(src)


def astype(x, out):
    out[...] = x.astype(out.dtype)


# pairs checked against the CPU kernel; NumPy's astype (the same C conversions for values in
# range) stands in for the other 57 (a CPU compile each)
CPU_CASTS = {(np.float64, np.int64), (np.int64, np.float64), (np.float32, np.bool_),
             (np.bool_, np.float32), (np.int64, np.int8), (np.float64, np.uint8),
             (np.uint8, np.float64), (np.int32, np.float32)}


@pytest.mark.parametrize("src", CAST_DTYPES)
def test_cast_pairs(src):
    for dst in CAST_DTYPES:
        x = cast_values(src, dst)
        ref = None if (src, dst) in CPU_CASTS else astype
        check(*both("cast", [x], sentinel(x.shape, dst), ref=ref))
    # copy == cast; a strided view into a strided out
    x = np.resize(cast_values(src, np.float64), (3, 9))
    check(*both("copy", [(x, lambda a: a[:, ::2])], sentinel((6, 5), src), lambda a: a[::2],
                ref=astype))


@pytest.mark.parametrize("other", CAST_DTYPES)
def test_float16_casts(other):
    x = cast_values(other, np.float16 if other != np.float64 else np.float32)
    check(*both("cast", [x], sentinel(x.shape, np.float16), ref=astype))
    h = np.array([0, 1, 2.5, -0.0, 7.9, 100, 65504, 1e-4, 0.1], np.float16)
    if np.dtype(other).kind in "fb":
        h = np.concatenate([h, np.array([NAN, INF, -INF], np.float16)])
    if np.dtype(other).kind == "u":
        h = h[h < 256]
    if np.dtype(other).kind in "iu" and np.iinfo(other).max < 65504:
        h = h[h <= np.iinfo(other).max]
    check(*both("cast", [h], sentinel(h.shape, other), ref=astype))
    # float16 -> float16, transposed
    t = np.arange(63, dtype=np.float16).reshape(9, 7) / 8
    check(*both("copy", [(t, lambda a: a.T)], sentinel((7, 9), np.float16), ref=astype))


# --------------------------------------------------------------------------------------------
# Binary ops: every pair of special values (broadcast a column against a row), random
# contiguous operands (flat kernel), and a strided layout.
# --------------------------------------------------------------------------------------------
BINARY_FLOAT = ["add", "sub", "mul", "div", "floor_divide", "remainder", "pow", "maximum",
                "minimum", "atan2", "fmax", "fmin"]
BINARY_INT = ["add", "sub", "mul", "floor_divide", "remainder", "pow", "maximum", "minimum",
              "bitwise_and", "bitwise_or", "bitwise_xor"]
COMPARE = ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"]
PAIR_FLOATS = [NAN, INF, -INF, 0.0, -0.0, 2.0, -2.0, 0.5, -3.5, 7.0, 1 / 3, 3.0]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", BINARY_FLOAT)
def test_binary_float(name, dtype, rng):
    # float32 floor division rounds (x - fmod) / y in float32: the CPU oracle runs it in float32
    w = name not in ("floor_divide", "remainder")
    v = np.array(PAIR_FLOATS, dtype)
    check(*both(name, [v[:, None], v[None, :]], sentinel((12, 12), dtype), wide=w), rtol=tol(dtype))
    a, b = float_input(dtype, rng), float_input(dtype, rng)[::-1].copy()
    check(*both(name, [a, b], sentinel(a.shape, dtype), wide=w), rtol=tol(dtype))
    # a sliced a, a transposed b, a strided out; and a 0-d operand on each side
    sa = (np.ascontiguousarray(np.tile(a, (1, 2))), lambda t: t[:, ::2])
    tb = (np.ascontiguousarray(b.T), lambda t: t.T)
    check(*both(name, [sa, tb], sentinel((14, 9), dtype), lambda t: t[::2], wide=w),
          rtol=tol(dtype))
    check(*both(name, [a, np.array(dtype(1.5))], sentinel(a.shape, dtype), wide=w), rtol=tol(dtype))
    check(*both(name, [np.array(dtype(-2.5)), b], sentinel(a.shape, dtype), wide=w),
          rtol=tol(dtype))


def int_pairs(dtype, name):
    info = np.iinfo(dtype)
    v = [0, 1, 2, 3, 7, 100, info.max, info.max - 1]
    if info.min:
        v += [-1, -2, -3, -7, info.min, info.min + 1]
    x = np.array(v, dtype)
    y = x.copy()
    if name == "pow":
        # exponents above 2**16 leave Numba's integer loop for a float pow (overflow garbage)
        y = np.array([e for e in [0, 1, 2, 3, 7, 63, 64, -1, -2, -3, -7] if info.min <= e], dtype)
    return x[:, None], y[None, :]


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("name", BINARY_INT)
def test_binary_int(name, dtype, rng):
    x, y = int_pairs(dtype, name)
    with np.errstate(all="ignore"):
        check(*both(name, [x, y], sentinel((x.shape[0], y.shape[1]), dtype), wide=True))
    if name in ("floor_divide", "remainder", "pow"):
        return  # the broadcast pairs cover them; random values would divide by zero unchecked
    a, b = int_input(dtype, rng), int_input(dtype, rng)[::-1].copy()
    check(*both(name, [a, b], sentinel(a.shape, dtype), wide=True))


@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor"] + COMPARE)
def test_binary_bool(name, rng):
    v = np.array([False, True])
    check(*both(name, [v[:, None], v[None, :]], sentinel((2, 2), np.bool_), wide=True))
    a, b = rng.random((7, 9)) < 0.5, rng.random((7, 9)) < 0.5
    bt = (np.ascontiguousarray(b.T), lambda t: t.T)
    check(*both(name, [a, bt], sentinel(a.shape, np.bool_), wide=True))


@pytest.mark.parametrize("name", COMPARE)
def test_compare(name, rng):
    for dtype in FLOATS:
        v = np.array(PAIR_FLOATS, dtype)
        check(*both(name, [v[:, None], v[None, :]], sentinel((12, 12), np.bool_), wide=True))
    for dtype in (np.int64, np.int8, np.uint8):
        x, y = int_pairs(dtype, name)
        check(*both(name, [x, y], sentinel((x.shape[0], y.shape[1]), np.bool_), wide=True))
    a, b = float_input(np.float32, rng), float_input(np.float32, rng)[::-1].copy()
    check(*both(name, [a, b], sentinel(a.shape, np.bool_), wide=True))


# --------------------------------------------------------------------------------------------
# Layouts: every path of the launcher, with add (binary) and copy (unary).
# --------------------------------------------------------------------------------------------
def _r(shape, rng, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


LAYOUTS = {
    # name: (a, b, out shape, out view)  with a, b either arrays or (base, view)
    "flat": lambda r: (_r((7, 9), r), _r((7, 9), r), (7, 9), None),
    "0-d": lambda r: (np.array(1.5), np.array(-2.0), (), None),
    "0-d into 2-d": lambda r: (np.array(1.5), _r((7, 9), r), (7, 9), None),
    "size-1": lambda r: (_r((1, 1), r), _r((7, 9), r), (7, 9), None),
    "row and column": lambda r: (_r((9,), r), _r((7, 1), r), (7, 9), None),
    "bias over 3-d": lambda r: (_r((3, 5, 7), r), _r((5, 1), r), (3, 5, 7), None),
    "stride-0 view": lambda r: ((_r((9,), r), lambda t: np.broadcast_to(t, (7, 9))),
                                _r((7, 9), r), (7, 9), None),
    "transposed": lambda r: ((_r((9, 7), r), lambda t: t.T), _r((7, 9), r), (7, 9), None),
    "sliced": lambda r: ((_r((14, 20), r), lambda t: t[::2, 1::2][:, :9]),
                         (_r((7, 27), r), lambda t: t[:, ::3]), (7, 9), None),
    "strided out": lambda r: (_r((7, 9), r), _r((9,), r), (7, 18), lambda t: t[:, 1::2]),
    "transposed out": lambda r: (_r((7, 9), r), _r((7, 9), r), (9, 7), lambda t: t.T),
    "permuted 3-d": lambda r: ((_r((7, 3, 5), r), lambda t: t.transpose(1, 2, 0)),
                               _r((3, 5, 7), r), (3, 5, 7), None),
    "permuted 4-d": lambda r: ((_r((2, 3, 4, 5), r), lambda t: t.transpose(3, 1, 0, 2)),
                               _r((5, 3, 2, 4), r), (5, 3, 2, 4), None),
    "permuted 6-d": lambda r: ((_r((2, 1, 3, 2, 2, 3), r), lambda t: t.transpose(5, 3, 0, 4, 2, 1)),
                               _r((3, 1, 2, 1, 3, 1), r), (3, 2, 2, 2, 3, 1), None),
    "8-d that merges": lambda r: (_r((2, 1, 2, 3, 1, 2, 2, 2), r), _r((2, 2, 2), r),
                                  (2, 1, 2, 3, 1, 2, 2, 2), None),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layouts(layout, rng):
    a, b, shape, out_view = LAYOUTS[layout](rng)
    check(*both("add", [a, b], sentinel(shape, np.float64), out_view))
    check(*both("copy", [a], sentinel(shape, np.float32), out_view))
    # where with a condition of a's shape (broadcast like a)
    a_shape = (a[1](a[0]) if isinstance(a, tuple) else a).shape
    cond = rng.random(a_shape) < 0.5
    check(*both("where", [cond, a, b], sentinel(shape, np.float64), out_view))


def test_empty_outputs_write_nothing():
    for fn, ins in [("add", [np.empty((0, 3)), np.empty((3,))]), ("neg", [np.empty((2, 0))]),
                    ("where", [np.empty((0, 3), bool), np.empty((0, 3)), np.empty((0, 3))])]:
        shape = np.broadcast_shapes(*[x.shape for x in ins])
        out = memory.empty(shape, np.float64)
        getattr(G, fn)(*[memory.to_device(x) for x in ins], out)
    G.fill(memory.empty((0,), np.float32), np.float32(1))


def test_rank_beyond_six_raises():
    # 7 dims that no merging can reduce: an input laid out in reverse order
    a = np.arange(2 ** 7, dtype=np.float64).reshape((2,) * 7)
    _, da, _ = pair(a.copy(), lambda t: t.transpose(6, 5, 4, 3, 2, 1, 0))
    out = memory.empty((2,) * 7, np.float64)
    with pytest.raises(NotImplementedError, match="at most 6"):
        G.copy(da, out)


def test_not_broadcastable_raises_value_error():
    # the CPU kernels raise NumPy's ValueError (np.broadcast_to); so do the CUDA ones
    with pytest.raises(ValueError):
        C.add(np.ones((3,)), np.ones((2, 1)), np.empty((2, 4)))
    with pytest.raises(ValueError, match="cannot broadcast"):
        G.add(memory.to_device(np.ones((3,))), memory.to_device(np.ones((2, 1))),
              memory.empty((2, 4), np.float64))


# --------------------------------------------------------------------------------------------
# where and fill.
# --------------------------------------------------------------------------------------------
def where64(c, a, b, out):
    """The CPU where in float64 (exact for these values), cast to out's dtype."""
    w = np.empty(out.shape)
    C.where(c, a.astype(np.float64), b.astype(np.float64), w)
    out[...] = w.astype(out.dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int8, np.bool_])
def test_where(dtype, rng):
    def vals(shape):
        return (rng.standard_normal(shape) * 10).astype(dtype)
    c = rng.random((7, 9)) < 0.5
    a, b = vals((7, 9)), vals((7, 9))
    check(*both("where", [c, a, b], sentinel((7, 9), dtype), ref=where64))        # flat
    check(*both("where", [c, a, np.array(vals(()))], sentinel((7, 9), dtype), ref=where64))
    check(*both("where", [c[:, :1], vals((9,)), (vals((9, 7)), lambda t: t.T)],   # broadcast
                sentinel((7, 18), dtype), lambda t: t[:, ::2], ref=where64))


def test_where_float16_and_in_place():
    c = np.arange(63).reshape(7, 9) % 3 == 0
    a = (np.arange(63).reshape(7, 9) / 4).astype(np.float16)
    b = np.full((9,), -1.5, np.float16)
    out = memory.empty((7, 9), np.float16)
    G.where(memory.to_device(c), memory.to_device(a), memory.to_device(b), out)
    np.testing.assert_array_equal(memory.to_host(out), np.where(c, a, b))
    # out aliasing an input, as Tensor.__setitem__ with a mask does
    d = memory.to_device(a)
    G.where(memory.to_device(c), memory.to_device(np.array(np.float16(9))), d, d)
    np.testing.assert_array_equal(memory.to_host(d), np.where(c, np.float16(9), a))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.uint8,
                                   np.bool_, np.float16])
def test_fill(dtype):
    value = np.dtype(dtype).type(3)
    for shape, view in [((7, 9), None), ((), None), ((14, 9), lambda t: t[::2, 1:]),
                        ((9, 7), lambda t: t.T)]:
        base = sentinel(shape, dtype) if dtype != np.bool_ else np.zeros(shape, bool)
        want = base.copy()
        (want if view is None else view(want))[...] = value
        _, d, dbase = pair(base, view)
        G.fill(d, value)
        np.testing.assert_array_equal(memory.to_host(dbase), want)
        if dtype in (np.float64, np.bool_) and view is None:  # the CPU module's fill agrees
            cpu = base.copy()
            C.fill(cpu, value)
            np.testing.assert_array_equal(cpu, want)
    # Python scalars as the ops layer passes them (fill(mask, False))
    value = False if dtype == np.bool_ else 2
    out = memory.empty((5,), dtype)
    G.fill(out, value)
    np.testing.assert_array_equal(memory.to_host(out), np.full(5, value, dtype))


def test_every_cpu_function_exists_on_cuda():
    public = {n for n, v in vars(C).items() if not n.startswith("_") and callable(v)
              and getattr(v, "__module__", None) == C.__name__}
    assert {"copy", "cast", "where", "fill", "add", "logical_xor", "signbit"} <= public
    assert sorted(n for n in public if not hasattr(G, n)) == []
