"""Elementwise kernels (``kernels/<device>/elementwise.py``) against NumPy.

The ops under test are the public names of the kernel module, so a new kernel is tested without
editing a list here: its arity comes from its signature, its reference is ``np.<name>`` unless
:data:`REFERENCES` says otherwise, and the dtype kinds it serves follow from what NumPy's
reference does with them (a kind whose result NumPy promotes, say ``exp`` of an integer, is one
the ops layer never sends to the kernel). Inputs hold special values (NaN, +-inf, +-0, zero
divisors, integer extremes) and come in the layouts the contract allows (0-d, size-1, broadcast,
stride-0, transposed and sliced inputs, strided ``out``); float16, which the CPU lacks, is
checked on CUDA.

"cpu" runs every op on every dtype of its kinds (strided and 0-d operands with the first dtype
of each kind: each dtype and layout is one more cold compile); "cuda" (16 threads x 3 blocks in
the simulator: 63 elements already take grid-stride steps across blocks) one dtype per kind,
while the layout tests take every launch path on both.
"""
import ast
import inspect
import math
import pathlib

import numpy as np
import pytest

from numtorch.kernels.cpu import elementwise as _CPU  # the names, arities and signatures

# NaN/inf arithmetic on NumPy scalars (the simulator's) warns; on a GPU and the CPU it is silent
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

NAN, INF = np.nan, np.inf
FLOATS = [np.float32, np.float64]
INTS = [np.int64, np.uint8]  # signed and unsigned (each dtype is a compile on a cold cache)
DTYPES = {"f": FLOATS, "i": INTS, "b": [np.bool_]}
CUDA_DTYPES = {"f": [np.float32], "i": [np.int8], "b": [np.bool_]}
#: Integer paths of their own on CUDA: unsigned powers, and INT64_MIN // -1 in int64.
CUDA_EXTRA = [("pow", np.uint8), ("floor_divide", np.int64)]
INT64_MIN = np.iinfo(np.int64).min


def cases(cpu, cuda):
    """Parameters for ``indirect=["device"]``: the full grid on "cpu", the lean one on "cuda"."""
    return [("cpu",) + tuple(c) for c in cpu] + [("cuda",) + tuple(c) for c in cuda]


# --------------------------------------------------------------------------------------------
# The ops and their NumPy references.
# --------------------------------------------------------------------------------------------
def _relu(x):
    return np.maximum(x, x.dtype.type(0))  # NaN propagates


def _relu_backward(g, y):
    """relu's gradient: 0 where the output y <= 0, g elsewhere (a NaN y passes g). Floats only
    (autograd never sends integers)."""
    if g.dtype.kind != "f":
        raise TypeError("relu_backward takes floats")
    return np.where(y <= 0, g.dtype.type(0), g)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _wrap(v, dtype):
    """The Python int v in int64 arithmetic, stored into dtype (wrapping)."""
    return np.array((v + 2 ** 63) % 2 ** 64 - 2 ** 63, np.int64).astype(dtype)


def _power(x, y):
    """Floats: C's pow. Integers: Numba's integer power (the kernels' integer semantics): to a
    negative power 1 and -1 give +-1, 0 gives INT64_MIN (int64 arithmetic), the rest 0."""
    if x.dtype.kind == "f":
        return np.power(x, y)
    x, y = np.broadcast_arrays(x, y)
    out = np.empty(x.shape, x.dtype)
    for i in np.ndindex(x.shape):
        a, e = int(x[i]), int(y[i])
        if e >= 0:
            v = a ** e
        else:
            v = {1: 1, -1: -1 if e % 2 else 1, 0: INT64_MIN}.get(a, 0)
        out[i] = _wrap(v, x.dtype)
    return out


def _floor_divide(x, y):
    """NumPy's, except Numba's integer edges: x // 0 == 0 and INT64_MIN // -1 == 0."""
    out = np.floor_divide(x, y)
    if out.dtype == np.int64:
        out = np.where((np.asarray(x) == INT64_MIN) & (np.asarray(y) == -1), 0, out)
    return out


#: Kernels whose NumPy reference has another name, or none.
REFERENCES = {
    "neg": np.negative, "relu": _relu, "relu_backward": _relu_backward, "rsqrt": lambda x: 1.0 / np.sqrt(x),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)), "erf": _erf,
    "reciprocal": lambda x: 1.0 / x,  # (np.reciprocal of an integer stays integer)
    "round": np.round,  # half to even, integers unchanged
    "sub": np.subtract, "mul": np.multiply, "div": np.true_divide, "pow": _power,
    "atan2": np.arctan2, "floor_divide": _floor_divide,
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
    "ge": np.greater_equal,
}
#: Kernels with tests of their own (not maps of one or two same-dtype inputs).
OWN_TESTS = {"copy", "cast", "where", "fill"}
#: Results that float32 computes in float32 (the float64 reference would round differently).
NATIVE = {"floor_divide", "remainder"}
#: (name, kind): known kernel bugs, expected to fail until fixed (strict: a fix shows up).
KNOWN_BUGS = {}


def _public(mod):
    """The kernels: callables bound at module level, not private, not imported (the rule of
    test_backend_mirror.py)."""
    imported = set()
    for node in ast.parse(pathlib.Path(mod.__file__).read_text()).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return sorted(n for n, v in vars(mod).items() if not n.startswith("_") and callable(v)
                  and n not in imported and not inspect.ismodule(v))


def reference(name):
    """The NumPy reference of kernel ``name`` (None when there is none: a failing test says so)."""
    return REFERENCES.get(name) or getattr(np, name, None)


def _result_dtype(name, arity, dtype):
    try:
        with np.errstate(all="ignore"):
            return reference(name)(*[np.ones(2, dtype)] * arity).dtype
    except (TypeError, ValueError):  # (None: no reference at all)
        return None


def kinds(name, arity):
    """The dtype kinds the kernel serves: those NumPy's reference keeps (or maps to bool);
    bool only for the bool-valued and the integer-only (bitwise) ops."""
    f = _result_dtype(name, arity, np.float64)
    out = "f" if f is not None else ""
    if _result_dtype(name, arity, np.int64) in (np.int64, np.bool_):
        out += "i"
    if _result_dtype(name, arity, np.bool_) == np.bool_ and (f is None or f == np.bool_):
        out += "b"
    return out


def out_dtype(name, arity, dtype):
    return np.bool_ if _result_dtype(name, arity, dtype) == np.bool_ else dtype


PUBLIC = [n for n in _public(_CPU) if n not in OWN_TESTS]
ARITY = {n: len(inspect.signature(getattr(_CPU, n)).parameters) - 1 for n in PUBLIC}
UNARY = [n for n in PUBLIC if ARITY[n] == 1]
BINARY = [n for n in PUBLIC if ARITY[n] == 2]
KINDS = {n: kinds(n, ARITY[n]) for n in PUBLIC}


def op_cases(names, kinds_wanted):
    """(name, dtype) on "cpu" for every dtype of the op's kinds, on "cuda" one per kind."""
    cpu = [(n, d) for n in names for k in KINDS[n] if k in kinds_wanted for d in DTYPES[k]]
    cuda = [(n, d) for n in names for k in KINDS[n] if k in kinds_wanted
            for d in CUDA_DTYPES[k]] + [(n, d) for n, d in CUDA_EXTRA if n in names]
    out = []
    for dev, n, d in cases(cpu, cuda):
        bug = KNOWN_BUGS.get((n, np.dtype(d).kind))
        marks = [pytest.mark.xfail(reason=bug, strict=True)] if bug else []
        out.append(pytest.param(dev, n, d, marks=marks))
    return out


def test_every_kernel_has_a_reference_and_kinds():
    assert {"add", "neg", "isnan", "eq", "bitwise_and"} <= set(PUBLIC)
    assert set(UNARY) | set(BINARY) == set(PUBLIC), "neither (x, out) nor (a, b, out)"
    for name in PUBLIC:
        assert callable(reference(name)), \
            f"elementwise.{name}: add its NumPy reference to REFERENCES"
        assert KINDS[name], f"elementwise.{name}: NumPy's reference takes no dtype"
    assert KINDS["exp"] == "f" and KINDS["neg"] == "fi" and KINDS["bitwise_and"] == "ib"
    assert KINDS["eq"] == "fib" and KINDS["pow"] == "fi" and KINDS["reciprocal"] == "f"


# --------------------------------------------------------------------------------------------
# Running a kernel and its reference on the same layouts.
# --------------------------------------------------------------------------------------------
def run(device, name, ins, out_base, out_view=None, ref=None):
    """Run ``name`` on the device views of ``ins`` (arrays, or ``(base, view_fn)``) into the
    view ``out_view`` of a copy of ``out_base``; return (want, got) for the whole out base, so
    writes outside the view are compared too. ``ref`` defaults to the op's NumPy reference,
    computed in float64 for floats (except :data:`NATIVE` ops) and stored into out's dtype."""
    hosts, devs = [], []
    for x in ins:
        base, view = x if isinstance(x, tuple) else (x, None)
        h, d, _ = device.view(base, view)
        hosts.append(h)
        devs.append(d)
    want = np.array(out_base, order="C")
    w_view = want if out_view is None else out_view(want)
    if ref is None:
        ref = reference(name)
        if name not in NATIVE:
            hosts = [h.astype(np.float64) if h.dtype.kind == "f" else h for h in hosts]
    with np.errstate(all="ignore"):
        w_view[...] = np.asarray(ref(*hosts)).astype(w_view.dtype)  # wraps / rounds as the kernel
    _, d_out, d_base = device.view(out_base, out_view)
    getattr(device.elementwise, name)(*devs, d_out)
    return want, device.to_host(d_base)


def check(want, got, rtol=0.0):
    assert want.dtype == got.dtype and want.shape == got.shape
    if rtol and want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def layouts_too(device, dtype):
    """Whether an op runs on strided and 0-d operands too: on the CPU with the first dtype of
    each kind (every layout and dtype is one more compile of a CPU kernel, about 0.5 s cold);
    CUDA takes its launch paths in test_layouts."""
    return device.name == "cpu" and dtype == DTYPES[np.dtype(dtype).kind.replace("u", "i")][0]


def sentinel(shape, dtype):
    """An out buffer of stale values that every kernel must overwrite (or leave alone)."""
    return np.full(shape, 7, dtype)


def tol(dtype):
    # float32 math functions within a few ulps of the rounded float64 result
    return 1e-6 if dtype == np.float32 else 1e-13


# Float inputs: random values with the special ones in front (63 elements: several blocks).
SPECIAL = [NAN, -NAN, INF, -INF, 0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1.0, -1.0, 3.0,
           1e-3, 100.0, -100.0, 800.0, -800.0, 1e15 + 0.5, -4.5, 0.49999997, 1e20, -3e38]


def float_input(dtype, rng, shape=(7, 9)):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    with np.errstate(over="ignore"):
        x.flat[:len(SPECIAL)] = np.array(SPECIAL).astype(dtype)
    return x


def int_input(dtype, rng, shape=(7, 9)):
    info = np.iinfo(dtype)
    x = rng.integers(max(info.min, -50), min(info.max, 50), size=shape, endpoint=True).astype(dtype)
    edge = [info.min, info.max, 0, 1, info.max - 1] + ([-1, info.min + 1] if info.min else [])
    x.flat[:len(edge)] = edge
    return x


def bool_input(rng, shape=(7, 9)):
    return rng.random(shape) < 0.5


def make_input(dtype, rng, shape=(7, 9)):
    kind = np.dtype(dtype).kind
    if kind == "f":
        return float_input(dtype, rng, shape)
    return bool_input(rng, shape) if kind == "b" else int_input(dtype, rng, shape)


# --------------------------------------------------------------------------------------------
# Unary ops (the rounding ones and the predicates included).
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device,name,dtype", op_cases(UNARY, "fib"), indirect=["device"])
def test_unary(device, name, dtype, rng):
    x = make_input(dtype, rng)
    if name == "round" and dtype == np.int64 and device.name == "cpu":
        # the CPU rounds integers through float64 (exact to 2**53); the ops layer passes
        # integers through without calling the kernel
        x = np.clip(x, -2 ** 53, 2 ** 53)
    od = out_dtype(name, 1, dtype)
    check(*run(device, name, [x], sentinel(x.shape, od)), rtol=tol(dtype))
    if not layouts_too(device, dtype):
        return
    # a transposed view (the strided kernel) and a broadcast 0-d input
    xt = (np.ascontiguousarray(x.T), lambda a: a.T)
    check(*run(device, name, [xt], sentinel(x.shape, od)), rtol=tol(dtype))
    check(*run(device, name, [x.flat[5:6].reshape(())], sentinel((4, 5), od)), rtol=tol(dtype))


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc"])
def test_rounding_large_and_signed_zero(device, name):
    # values beyond int64 and the sign of zero results follow NumPy (and torch)
    x = np.array([1e20, -1e20, 3e38, -0.4, -0.5, -0.0, 0.3, 2.5, -2.5, 4503599627370497.0])
    for dtype in FLOATS:
        xd = x.astype(dtype)
        out = device.empty(x.shape, dtype)
        getattr(device.elementwise, name)(device.to_device(xd), out)
        got, want = device.to_host(out), reference(name)(xd)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_signbit_of_negative_nan(device):
    x = np.array([NAN, -NAN, -0.0, 0.0], np.float32)
    out = device.empty(x.shape, np.bool_)
    device.elementwise.signbit(device.to_device(x), out)
    np.testing.assert_array_equal(device.to_host(out), [False, True, True, False])


# --------------------------------------------------------------------------------------------
# Binary ops: every pair of special values, random contiguous operands (the flat kernel), and
# (CPU: the first dtype of a kind) broadcast, strided and 0-d operands.
# --------------------------------------------------------------------------------------------
PAIR_FLOATS = [NAN, INF, -INF, 0.0, -0.0, 2.0, -2.0, 0.5, -3.5, 7.0, 1 / 3, 3.0]


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


def pair_inputs(dtype, name):
    kind = np.dtype(dtype).kind
    if kind == "f":
        v = np.array(PAIR_FLOATS, dtype)
        return v[:, None], v[None, :]
    if kind == "b":
        v = np.array([False, True])
        return v[:, None], v[None, :]
    return int_pairs(dtype, name)


@pytest.mark.parametrize("device,name,dtype", op_cases(BINARY, "fib"), indirect=["device"])
def test_binary(device, name, dtype, rng):
    od = out_dtype(name, 2, dtype)
    r = tol(dtype)
    x, y = pair_inputs(dtype, name)
    shape = (x.shape[0], y.shape[1])
    if device.is_cuda or layouts_too(device, dtype):  # a column against a row: broadcasting
        check(*run(device, name, [x, y], sentinel(shape, od)), rtol=r)
    if not device.is_cuda:  # the same pairs as two contiguous arrays: the flat kernel
        xf, yf = (np.ascontiguousarray(t) for t in np.broadcast_arrays(x, y))
        check(*run(device, name, [xf, yf], sentinel(shape, od)), rtol=r)
    if np.dtype(dtype).kind in "iu" and name in ("floor_divide", "remainder", "pow"):
        return  # the pairs cover them; random values would divide by zero unchecked
    a, b = make_input(dtype, rng), make_input(dtype, rng)[::-1].copy()
    check(*run(device, name, [a, b], sentinel(a.shape, od)), rtol=r)
    if not layouts_too(device, dtype):
        return
    # a sliced a, a transposed b, a strided out; and a 0-d operand on each side
    sa = (np.ascontiguousarray(np.tile(a, (1, 2))), lambda t: t[:, ::2])
    tb = (np.ascontiguousarray(b.T), lambda t: t.T)
    check(*run(device, name, [sa, tb], sentinel((14, 9), od), lambda t: t[::2]), rtol=r)
    check(*run(device, name, [a, b.flat[3:4].reshape(())], sentinel(a.shape, od)), rtol=r)
    check(*run(device, name, [a.flat[4:5].reshape(()), b], sentinel(a.shape, od)), rtol=r)


# --------------------------------------------------------------------------------------------
# copy / cast between every pair of dtypes (float16 on CUDA).
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


def astype(dtype):
    return lambda h: h.astype(dtype)


@pytest.mark.parametrize("device,src", cases([(s,) for s in CAST_DTYPES],
                                             [(s,) for s in (np.bool_, np.uint8, np.int64,
                                                             np.float64)]), indirect=["device"])
def test_cast_pairs(device, src):
    for dst in CAST_DTYPES:
        x = cast_values(src, dst)
        check(*run(device, "cast", [x], sentinel(x.shape, dst), ref=astype(dst)))
    # copy == cast; a strided view into a strided out
    x = np.resize(cast_values(src, np.float64), (3, 9))
    check(*run(device, "copy", [(x, lambda a: a[:, ::2])], sentinel((6, 5), src),
               lambda a: a[::2], ref=astype(src)))


@pytest.mark.parametrize("device", ["cuda"], indirect=True)
@pytest.mark.parametrize("other", CAST_DTYPES)
def test_float16_casts(device, other):
    x = cast_values(other, np.float16 if other != np.float64 else np.float32)
    check(*run(device, "cast", [x], sentinel(x.shape, np.float16), ref=astype(np.float16)))
    h = np.array([0, 1, 2.5, -0.0, 7.9, 100, 65504, 1e-4, 0.1], np.float16)
    if np.dtype(other).kind in "fb":
        h = np.concatenate([h, np.array([NAN, INF, -INF], np.float16)])
    if np.dtype(other).kind == "u":
        h = h[h < 256]
    if np.dtype(other).kind in "iu" and np.iinfo(other).max < 65504:
        h = h[h <= np.iinfo(other).max]
    check(*run(device, "cast", [h], sentinel(h.shape, other), ref=astype(other)))
    # float16 -> float16, transposed
    t = np.arange(63, dtype=np.float16).reshape(9, 7) / 8
    check(*run(device, "copy", [(t, lambda a: a.T)], sentinel((7, 9), np.float16),
               ref=astype(np.float16)))


# --------------------------------------------------------------------------------------------
# Layouts: every path of the launchers, with add (binary), copy (unary) and where (ternary).
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
    # vectors: the CPU runs the flat loop on them in any strides
    "strided vectors": lambda r: ((_r((18,), r), lambda t: t[::2]), (_r((27,), r), lambda t: t[::3]),
                                  (18,), lambda t: t[1::2]),
    "vector and length-1": lambda r: (_r((9,), r), _r((1,), r), (9,), None),
    "strided vector and 0-d": lambda r: ((_r((18,), r), lambda t: t[::2]), np.array(-2.5), (9,),
                                         None),
    "length-1 and strided vector": lambda r: (_r((1,), r), (_r((27,), r), lambda t: t[2::3]),
                                              (9,), None),
    "transposed out": lambda r: (_r((7, 9), r), _r((7, 9), r), (9, 7), lambda t: t.T),
    "permuted 3-d": lambda r: ((_r((7, 3, 5), r), lambda t: t.transpose(1, 2, 0)),
                               _r((3, 5, 7), r), (3, 5, 7), None),
    "permuted 4-d": lambda r: ((_r((2, 3, 4, 5), r), lambda t: t.transpose(3, 1, 0, 2)),
                               _r((5, 3, 2, 4), r), (5, 3, 2, 4), None),
    "permuted 6-d": lambda r: ((_r((2, 1, 3, 2, 2, 3), r), lambda t: t.transpose(5, 3, 0, 4, 2, 1)),
                               _r((3, 1, 2, 1, 3, 1), r), (3, 2, 2, 2, 3, 1), None),
    "8-d that merges": lambda r: (_r((2, 1, 2, 3, 1, 2, 2, 2), r), _r((2, 2, 2), r),
                                  (2, 1, 2, 3, 1, 2, 2, 2), None),
    # (the CPU splits a strided call beyond 3-D into 3-D blocks, up to 256 of them: past that)
    "permuted 4-d, many blocks": lambda r: ((_r((300, 3, 2, 2), r), lambda t: t.transpose(0, 2, 3, 1)),
                                            _r((2, 1, 3), r), (300, 2, 2, 3), None),
}


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layouts(device, layout, rng):
    a, b, shape, out_view = LAYOUTS[layout](rng)
    check(*run(device, "add", [a, b], sentinel(shape, np.float64), out_view))
    check(*run(device, "copy", [a], sentinel(shape, np.float32), out_view,
               ref=lambda h: h.astype(np.float32)))
    # where with a condition of a's shape (broadcast like a)
    a_shape = (a[1](a[0]) if isinstance(a, tuple) else a).shape
    cond = rng.random(a_shape) < 0.5
    check(*run(device, "where", [cond, a, b], sentinel(shape, np.float64), out_view))


def test_collapse_broadcast_keeps_every_element_in_place(rng):
    # the collapsed shapes, broadcast, visit each input's elements in the order broadcasting
    # the original shapes does (the launchers reshape C-contiguous operands to them)
    from numtorch.kernels.layout import collapse_broadcast
    for _ in range(300):
        out = tuple(int(n) for n in rng.integers(1, 4, rng.integers(0, 6)))
        ins = [tuple(n if rng.random() < 0.6 else 1 for n in out[rng.integers(0, len(out) + 1):])
               for _ in range(rng.integers(1, 4))]
        dims, cins = collapse_broadcast(out, ins)
        assert len(cins) == len(ins) and all(len(c) == len(dims) for c in cins)
        assert all(n > 1 for n in dims) and np.prod(dims) == np.prod(out)
        for s, c in zip(ins, cins):
            a = np.arange(np.prod(s)).reshape(s)
            np.testing.assert_array_equal(np.broadcast_to(a.reshape(c), dims).ravel(),
                                          np.broadcast_to(a, out).ravel())
    # merged: a row over a matrix stays two dims; a channel bias over NCHW merges H and W
    assert collapse_broadcast((4, 8), [(4, 8), (8,)]) == ((4, 8), [(4, 8), (1, 8)])
    assert collapse_broadcast((2, 3, 5, 5), [(2, 3, 5, 5), (1, 3, 1, 1)]) == \
        ((2, 3, 25), [(2, 3, 25), (1, 3, 1)])


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_empty_outputs_write_nothing(device):
    E = device.elementwise
    for fn, ins in [("add", [np.empty((0, 3)), np.empty((3,))]), ("neg", [np.empty((2, 0))]),
                    ("where", [np.empty((0, 3), bool), np.empty((0, 3)), np.empty((0, 3))])]:
        shape = np.broadcast_shapes(*[x.shape for x in ins])
        getattr(E, fn)(*[device.to_device(x) for x in ins], device.empty(shape, np.float64))
    E.fill(device.empty((0,), np.float32), np.float32(1))


@pytest.mark.parametrize("device", ["cuda"], indirect=True)
def test_cuda_rank_beyond_six_raises(device):
    # 7 dims that no merging can reduce: an input laid out in reverse order
    a = np.arange(2 ** 7, dtype=np.float64).reshape((2,) * 7)
    _, da, _ = device.view(a, lambda t: t.transpose(6, 5, 4, 3, 2, 1, 0))
    with pytest.raises(NotImplementedError, match="at most 6"):
        device.elementwise.copy(da, device.empty((2,) * 7, np.float64))


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_not_broadcastable_raises_value_error(device):
    # the CPU kernels raise NumPy's ValueError (np.broadcast_to or a reshape); so do the CUDA
    # ones, with their own message
    for a, b, out in [((3,), (2, 1), (2, 4)), ((3,), (2,), (3,)), ((4,), (2,), (4,))]:
        with pytest.raises(ValueError, match="cannot broadcast" if device.is_cuda else None):
            device.elementwise.add(device.to_device(np.ones(a)), device.to_device(np.ones(b)),
                                   device.empty(out, np.float64))


# --------------------------------------------------------------------------------------------
# where and fill.
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device,dtype", cases(
    [(d,) for d in (np.float32, np.float64, np.int64, np.int8, np.bool_)],
    [(d,) for d in (np.float64, np.int8)]), indirect=["device"])
def test_where(device, dtype, rng):
    def vals(shape):
        return (rng.standard_normal(shape) * 10).astype(dtype)
    c = rng.random((7, 9)) < 0.5
    a, b = vals((7, 9)), vals((7, 9))
    check(*run(device, "where", [c, a, b], sentinel((7, 9), dtype)))                      # flat
    check(*run(device, "where", [c, a, np.array(vals(()))], sentinel((7, 9), dtype)))
    check(*run(device, "where", [c[:, :1], vals((9,)), (vals((9, 7)), lambda t: t.T)],   # broadcast
               sentinel((7, 18), dtype), lambda t: t[:, ::2]))


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_where_in_place(device):
    # out aliasing an input, as Tensor.__setitem__ with a mask does; float16 on CUDA
    dtype = np.float16 if device.is_cuda else np.float32
    c = np.arange(63).reshape(7, 9) % 3 == 0
    a = (np.arange(63).reshape(7, 9) / 4).astype(dtype)
    b = np.full((9,), -1.5, dtype)
    out = device.empty((7, 9), dtype)
    device.elementwise.where(device.to_device(c), device.to_device(a), device.to_device(b), out)
    np.testing.assert_array_equal(device.to_host(out), np.where(c, a, b))
    d = device.to_device(a)
    device.elementwise.where(device.to_device(c), device.to_device(np.array(dtype(9))), d, d)
    np.testing.assert_array_equal(device.to_host(d), np.where(c, dtype(9), a))


FILL_DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_]


@pytest.mark.parametrize("device,dtype", cases([(d,) for d in FILL_DTYPES],
                                               [(d,) for d in FILL_DTYPES + [np.float16]]),
                         indirect=["device"])
def test_fill(device, dtype):
    value = np.dtype(dtype).type(3)
    for shape, view in [((7, 9), None), ((), None), ((14, 9), lambda t: t[::2, 1:]),
                        ((9, 7), lambda t: t.T)]:
        base = sentinel(shape, dtype) if dtype != np.bool_ else np.zeros(shape, bool)
        want = base.copy()
        (want if view is None else view(want))[...] = value
        _, d, dbase = device.view(base, view)
        device.elementwise.fill(d, value)
        np.testing.assert_array_equal(device.to_host(dbase), want)
    # Python scalars as the ops layer passes them (fill(mask, False))
    value = False if dtype == np.bool_ else 2
    out = device.empty((5,), dtype)
    device.elementwise.fill(out, value)
    np.testing.assert_array_equal(device.to_host(out), np.full(5, value, dtype))
