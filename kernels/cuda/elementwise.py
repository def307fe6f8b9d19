"""Elementwise CUDA kernels: unary, binary and ternary maps with broadcasting and any strides.

The same names, signatures and semantics as ``numtorch.kernels.cpu.elementwise``: ``f(x..., out)``
with Numba device arrays; the inputs are broadcastable to ``out.shape`` (0-d, size-1, stride-0,
transposed, any strides; never materialised at the broadcast shape); ``out`` (any strides) is
written and nothing is returned. Inputs already have the dtype the op computes in (the caller
promotes); ``out`` has the result dtype and the store converts to it (``copy``/``cast`` between
any dtypes, float16 included).

How a call runs (the launcher picks; every kernel is a grid-stride loop, so any grid covers any
size and consecutive threads take consecutive elements):
1. every operand C-contiguous with out's number of elements, or a single element: a flat 1-D
   loop (a single-element input is read at index ``i * 0``);
2. anything else (broadcasting, transposed views, a strided ``out``): the operands are viewed
   at a fixed rank by ``_strided.fixed_rank`` (dims merged where the layout allows, ordered by
   out's strides so stores stay coalesced) and a kernel of that rank unravels the linear index.

The scalar definitions below mirror the CPU module's line by line (NaN handling, relu of NaN,
PyTorch's floor_divide/remainder, integer powers, division by zero); ``math.exp`` replaces the
CPU's vectorised polynomial. Where a Python math function raises in Numba's simulator (exp
overflow, sin of inf, 1/0.0) the definition avoids the call, so the simulator and the GPU give
the CPU's values. Integer floor_divide/remainder/pow and floor/ceil/round/trunc of integers have
their own definitions, chosen by the launcher from the dtype.

Each op is an integer code bound as the global ``OP`` of its own device function, so Numba folds
the switch and types each op alone (an argument code would unify the return types of all
branches: an int64 relu would come back through float64). Kernels are built per op and layout
on first use; each gets its own name, and device functions go in through ``bind``.

Conversions out of a type's range are undefined (C, LLVM, PTX): a GPU saturates float -> int
where the CPU wraps, and the simulator's NumPy store raises OverflowError on an int -> narrower
int that does not fit (the GPU and CPU wrap).
"""
import math

import numpy as np
from numba import cuda

from .. import policy
from . import _strided, memory

# Globals of the bodies below, bound per op or kernel by policy.cuda_kernel(bind=...).
OP = apply = unravel = None

# --------------------------------------------------------------------------------------------
# Scalar definitions, one line per op (as in the CPU module).
# --------------------------------------------------------------------------------------------
(NEG, ABS, SIGN, RELU, SQUARE, EXP, LOG, LOG1P, EXPM1, SQRT, RSQRT, SIN, COS, TAN, TANH,
 SIGMOID, ERF, RECIPROCAL, LOG2, FLOOR, CEIL, ROUND, TRUNC) = range(23)
#: exp overflows float64 above this (the simulator's math.exp would raise there)
_EXP_MAX = 709.782712893384


def _unary(x):
    if OP == NEG:
        return -x
    if OP == ABS:
        return x if x >= 0 else -x
    if OP == SIGN:
        return 1 if x > 0 else (-1 if x < 0 else x - x)  # x - x: 0, or NaN for NaN
    if OP == RELU:  # (a literal 0, not x - x: that is NaN at -inf)
        return x if x > 0 or x != x else 0
    if OP == SQUARE:
        return x * x
    if OP == EXP:
        return math.exp(x) if x < _EXP_MAX or x != x else math.inf
    if OP == LOG:
        return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)
    if OP == LOG1P:
        return math.log1p(x) if x > -1 else (-math.inf if x == -1 else math.nan)
    if OP == EXPM1:
        return math.expm1(x) if x < _EXP_MAX or x != x else math.inf
    if OP == SQRT:
        return math.sqrt(x) if x >= 0 else math.nan
    if OP == RSQRT:
        # 1/sqrt(+-0) = +-inf (the simulator's Python division would raise)
        return 1.0 / math.sqrt(x) if x > 0 else (math.copysign(math.inf, x) if x == 0 else math.nan)
    if OP == SIN:
        return math.sin(x) if math.isfinite(x) else x - x  # inf -> NaN
    if OP == COS:
        return math.cos(x) if math.isfinite(x) else x - x
    if OP == TAN:
        return math.tan(x) if math.isfinite(x) else x - x
    if OP == TANH:
        return math.tanh(x)
    if OP == SIGMOID:
        # exp of -|x| never overflows
        e = math.exp(-x if x >= 0 else x)
        return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)
    if OP == ERF:
        return math.erf(x)
    if OP == RECIPROCAL:
        return 1.0 / x
    if OP == LOG2:
        return math.log2(x) if x > 0 else (-math.inf if x == 0 else math.nan)
    # floor/ceil/trunc/round keep x's sign (-0.0 stays, ceil(-0.5) is -0.0) and work at any
    # magnitude; integer inputs use _IDENTITY instead (see _Op)
    if OP == FLOOR:
        return math.copysign(math.floor(x), x) if math.isfinite(x) else x
    if OP == CEIL:
        return math.copysign(math.ceil(x), x) if math.isfinite(x) else x
    if OP == ROUND:  # half to even, like np.rint
        if not math.isfinite(x):
            return x
        f = math.floor(x)
        d = x - f
        if d > 0.5 or (d == 0.5 and f - 2.0 * math.floor(f * 0.5) != 0):
            f += 1
        return math.copysign(f, x)
    if not math.isfinite(x):  # TRUNC (the simulator's float32 has no math.trunc)
        return x
    return math.copysign(math.floor(x) if x >= 0 else math.ceil(x), x)


(_IDENTITY, _TO_BOOL) = (100, 101)


def _identity(x):  # copy, cast, and floor/ceil/round/trunc of integers: the store converts
    if OP == _TO_BOOL:  # what a store into bool does (NVVM rejects a float16 -> bool store)
        return x != 0
    return x


(ISNAN, ISINF, ISFINITE, LOGICAL_NOT, SIGNBIT) = range(5)


def _predicate(x):
    if OP == ISNAN:
        return x != x
    if OP == ISINF:
        return x == math.inf or x == -math.inf
    if OP == ISFINITE:
        return x == x and x != math.inf and x != -math.inf
    if OP == LOGICAL_NOT:
        return not x
    # SIGNBIT: true for -0.0 and -nan too (not ``x < 0``); a float32 one keeps float32 x as is
    return math.copysign(np.float32(1.0), x) < 0


(ADD, SUB, MUL, DIV, FLOORDIV, REMAINDER, POW, MAXIMUM, MINIMUM, ATAN2, FMAX, FMIN,
 RELU_BACKWARD) = range(13)


def _binary(x, y):
    if OP == ADD:
        return x + y
    if OP == SUB:
        return x - y
    if OP == MUL:
        return x * y
    if OP == DIV:
        return x / y
    if OP == FLOORDIV:  # floats: Python's floor division (x / 0 where y == 0), as Numba's
        return x // y
    if OP == REMAINDER:  # floats: Python's modulo, the sign of y (NaN where y == 0)
        return x % y
    if OP == POW:
        return x ** y
    if OP == MAXIMUM:  # NaN propagates, as torch.maximum
        return x if x > y or x != x else y
    if OP == MINIMUM:
        return x if x < y or x != x else y
    if OP == ATAN2:
        return math.atan2(x, y)
    if OP == FMAX:
        return x if x > y or y != y else y
    if OP == RELU_BACKWARD:  # x: the gradient, y: relu's output; 0 where y <= 0 (PyTorch's
        return 0 if y <= 0 else x  # threshold_backward: a NaN output passes the gradient)
    return x if x < y or y != y else y  # FMIN


# Integer (and bool) floor_divide/remainder/pow: the values of Numba's integer operators on the
# CPU (numpy error model). The simulator computes with NumPy scalars, which differ at the edges
# written out here; the GPU compiles the same operators as the CPU.
(IFLOORDIV, IREMAINDER, IPOW, UPOW) = range(4)
_INT64_MIN = -9223372036854775807 - 1  # (a literal -2**63 would be parsed as -(2**63))


def _binary_int(x, y):
    if OP == IFLOORDIV:
        if y == 0:
            return x - x  # Numba: x // 0 == 0
        if y == -1 and x == _INT64_MIN:
            return x - x  # Numba: INT64_MIN // -1 == 0 (x86 would trap)
        return x // y
    if OP == IREMAINDER:
        if y == 0:
            return x - x  # x % 0 == 0
        return x % y
    if OP == UPOW:  # unsigned: no negative branch, whose signed values would make it float64
        return x ** y
    # IPOW: Numba's integer power; to a negative power only 1 and -1 have integer results
    if y < 0:
        if x == 1:
            return x
        if x == -1:
            return x if y % 2 != 0 else -x
        if x == 0:
            # Numba's 0 ** -n is INT64_MIN in int64 arithmetic, which a narrower out truncates
            # to 0; shifting in x's type gives both (and keeps the simulator's store in range)
            return (x - x - 1) << 63
        return x - x
    return x ** y


(BITAND, BITOR, BITXOR) = range(3)


def _bitwise(x, y):  # integers and bool only
    if OP == BITAND:
        return x & y
    if OP == BITOR:
        return x | y
    return x ^ y


(EQ, NE, LT, LE, GT, GE, LOGICAL_AND, LOGICAL_OR, LOGICAL_XOR) = range(9)


def _compare(x, y):
    if OP == EQ:
        return x == y
    if OP == NE:
        return x != y
    if OP == LT:
        return x < y
    if OP == LE:
        return x <= y
    if OP == GT:
        return x > y
    if OP == GE:
        return x >= y
    if OP == LOGICAL_AND:
        return (x != 0) and (y != 0)
    if OP == LOGICAL_OR:
        return (x != 0) or (y != 0)
    return (x != 0) != (y != 0)  # LOGICAL_XOR


#: ``{name: device function}`` under the names ``_Op.pick`` returns (``add``, ``add_int``,
#: ``pow_uint``, ``copy_to_bool``...): what numtorch.compile's generated kernels call, so a fused
#: chain computes each element exactly as the separate kernels do (the CPU module's ``SCALARS``).
SCALARS = {}


def _device(body, name, code):
    """``body`` compiled as a device function of its own with ``OP = code``."""
    f = SCALARS[name] = policy.cuda_kernel(body, device=True, name=f"ew_{name}_scalar",
                                           bind={"OP": code})
    return f


# --------------------------------------------------------------------------------------------
# Kernels: one flat and one fixed-rank loop per arity; ``apply`` (the op's device function)
# and ``unravel`` (the rank's) are bound as globals when a kernel is built.
# --------------------------------------------------------------------------------------------
def _unary_flat(x, out):
    n = out.shape[0]
    sx = 1 if x.shape[0] > 1 else 0  # a single-element input is broadcast
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[i] = apply(x[i * sx])


def _unary_nd(x, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        idx = unravel(i, out.shape)
        out[idx] = apply(x[idx])


def _binary_flat(a, b, out):
    n = out.shape[0]
    sa = 1 if a.shape[0] > 1 else 0
    sb = 1 if b.shape[0] > 1 else 0
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[i] = apply(a[i * sa], b[i * sb])


def _binary_nd(a, b, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        idx = unravel(i, out.shape)
        out[idx] = apply(a[idx], b[idx])


def _where_flat(c, a, b, out):
    n = out.shape[0]
    sc = 1 if c.shape[0] > 1 else 0
    sa = 1 if a.shape[0] > 1 else 0
    sb = 1 if b.shape[0] > 1 else 0
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[i] = a[i * sa] if c[i * sc] else b[i * sb]


def _where_nd(c, a, b, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        idx = unravel(i, out.shape)
        out[idx] = a[idx] if c[idx] else b[idx]


def _fill_flat(out, value):
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = value


def _fill_nd(out, value):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[unravel(i, out.shape)] = value


_KERNELS = {}


def _kernel(name, loop, apply=None, rank=None):
    """The kernel ``loop`` for op ``name`` (and ``rank``), built and named on first use."""
    key = (name, loop.__name__, rank)
    k = _KERNELS.get(key)
    if k is None:
        bind = {}
        if apply is not None:
            bind["apply"] = apply
        if rank is not None:
            bind["unravel"] = _strided.UNRAVEL[rank]
        suffix = "flat" if rank is None else f"nd{rank}"
        k = _KERNELS[key] = policy.cuda_kernel(loop, name=f"ew_{name}_{suffix}", bind=bind)
    return k


def _launch(name, flat, nd, apply, out, ins, extra=()):
    """Run ``flat`` or ``nd`` over ``out`` and the inputs ``ins`` (see the module docstring)."""
    n = out.size
    if n == 0:
        return
    if out.flags.c_contiguous and all(a.flags.c_contiguous and a.size in (n, 1) for a in ins):
        k = _kernel(name, flat, apply)
        args = [_strided.flat(a) for a in ins] + [_strided.flat(out)]
    else:
        rank, o, views = _strided.fixed_rank(out, *ins)
        k = _kernel(name, nd, apply, rank)
        args = views + [o]
    blocks, threads = memory.grid(n)
    k[blocks, threads](*args, *extra)


class _Op:
    """The public kernel object: ``op(x..., out)`` picks the definition for the dtype, then the
    loop for the layout. ``int_body`` with ``int_code`` (and ``uint_code`` for unsigned
    integers, when they differ) define the op for integer and bool inputs."""
    __slots__ = ("name", "arity", "fn", "int_fn", "uint_fn", "__name__", "doc")

    def __init__(self, name, arity, body, code, int_body=None, int_code=None, uint_code=None,
                 doc=""):
        self.name, self.arity, self.__name__, self.doc = name, arity, name, doc
        self.fn = _device(body, name, code)
        self.int_fn = self.uint_fn = None
        if int_body is not None:
            self.int_fn = self.uint_fn = _device(int_body, name + "_int", int_code)
            if uint_code is not None:
                self.uint_fn = _device(int_body, name + "_uint", uint_code)

    def pick(self, x_dtype, out_dtype):
        """``(kernel name, device function)`` for inputs of ``x_dtype`` into ``out_dtype``."""
        fn, name = self.fn, self.name
        if self.int_fn is not None:
            kind = x_dtype.kind
            if kind == "u":
                fn = self.uint_fn
                name += "_uint" if fn is not self.int_fn else "_int"
            elif kind in "ib":
                fn, name = self.int_fn, name + "_int"
        return name, fn

    def __call__(self, *args):
        *ins, out = args
        if len(ins) != self.arity:
            raise TypeError(f"{self.name}() takes {self.arity + 1} arrays ({len(args)} given)")
        name, fn = self.pick(ins[0].dtype, out.dtype)
        if self.arity == 1:
            _launch(name, _unary_flat, _unary_nd, fn, out, ins)
        else:
            _launch(name, _binary_flat, _binary_nd, fn, out, ins)

    @property
    def __signature__(self):
        # what inspect reports (and the CPU/CUDA mirror test compares): (x, out) or (a, b, out)
        import inspect
        names = ("x", "out") if self.arity == 1 else ("a", "b", "out")
        return inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                  for n in names])


#: Every _Op by name (for ptx_cases).
_OPS = {}


def _export(table, arity, body, codes, int_body=None, int_codes=None, uint_codes=None):
    for name, code in codes.items():
        int_code = (int_codes or {}).get(name)
        what = f"{name}(x)" if arity == 1 else f"{name}(a, b)"
        table[name] = _Op(name, arity, body, code,
                          int_body if int_code is not None else None, int_code,
                          (uint_codes or {}).get(name),
                          f"out = {what}, elementwise; the inputs broadcast to out.")
        _OPS[name] = table[name]


_export(globals(), 1, _unary, dict(
    neg=NEG, abs=ABS, sign=SIGN, relu=RELU, square=SQUARE, exp=EXP, log=LOG, log1p=LOG1P,
    expm1=EXPM1, sqrt=SQRT, rsqrt=RSQRT, sin=SIN, cos=COS, tan=TAN, tanh=TANH, sigmoid=SIGMOID,
    erf=ERF, reciprocal=RECIPROCAL, log2=LOG2, floor=FLOOR, ceil=CEIL, round=ROUND, trunc=TRUNC),
    _identity, dict(floor=_IDENTITY, ceil=_IDENTITY, round=_IDENTITY, trunc=_IDENTITY))
_export(globals(), 1, _predicate, dict(
    isnan=ISNAN, isinf=ISINF, isfinite=ISFINITE, logical_not=LOGICAL_NOT, signbit=SIGNBIT))
_export(globals(), 2, _binary, dict(
    add=ADD, sub=SUB, mul=MUL, div=DIV, floor_divide=FLOORDIV, remainder=REMAINDER, pow=POW,
    maximum=MAXIMUM, minimum=MINIMUM, atan2=ATAN2, fmax=FMAX, fmin=FMIN,
    relu_backward=RELU_BACKWARD),
    _binary_int, dict(floor_divide=IFLOORDIV, remainder=IREMAINDER, pow=IPOW), dict(pow=UPOW))
_export(globals(), 2, _bitwise, dict(
    bitwise_and=BITAND, bitwise_or=BITOR, bitwise_xor=BITXOR))
_export(globals(), 2, _compare, dict(
    eq=EQ, ne=NE, lt=LT, le=LE, gt=GT, ge=GE, logical_and=LOGICAL_AND, logical_or=LOGICAL_OR,
    logical_xor=LOGICAL_XOR))


class _Copy(_Op):
    """copy/cast: a non-bool into a bool ``out`` stores ``x != 0`` explicitly."""
    __slots__ = ("bool_fn",)

    def __init__(self):
        super().__init__("copy", 1, _identity, _IDENTITY, doc="out = x converted to out.dtype; "
                         "x broadcasts to out.")
        self.bool_fn = _device(_identity, "copy_to_bool", _TO_BOOL)

    def pick(self, x_dtype, out_dtype):
        if out_dtype.kind == "b" and x_dtype.kind != "b":
            return "copy_to_bool", self.bool_fn
        return "copy", self.fn


copy = _Copy()

#: ``cast(x, out)``: copy with conversion to ``out.dtype`` (any strides, broadcasting x).
cast = copy


# --------------------------------------------------------------------------------------------
# Ternary and fill.
# --------------------------------------------------------------------------------------------
def where(cond, a, b, out):
    """out = a where cond else b; cond bool; a, b of out's dtype; all broadcast to out."""
    _launch("where", _where_flat, _where_nd, None, out, (cond, a, b))


def fill(out, value):
    """Write the scalar ``value`` (already of out's dtype) into every element of ``out``."""
    _launch("fill", _fill_flat, _fill_nd, None, out, (), (value,))


# --------------------------------------------------------------------------------------------
# Real-GPU compile check (the simulator cannot tell whether a kernel compiles for a GPU).
# --------------------------------------------------------------------------------------------
#: The dtype kinds each op accepts (the ops layer promotes to them); "fiu" unless listed.
_KINDS = {**dict.fromkeys("exp log log1p expm1 sqrt rsqrt sin cos tan tanh sigmoid erf "
                          "reciprocal log2 atan2 fmax fmin".split(), "f"),
          **dict.fromkeys("bitwise_and bitwise_or bitwise_xor".split(), "iub"),
          **dict.fromkeys("logical_not eq ne lt le gt ge logical_and logical_or "
                          "logical_xor".split(), "fiub")}
#: The ops whose out is bool (predicates and comparisons).
_BOOL_OUT = set("isnan isinf isfinite logical_not signbit eq ne lt le gt ge logical_and "
                "logical_or logical_xor".split())
#: One dtype per typing family: float32 and float64 (their math calls differ), int64 (narrow
#: integers compute in int64 too: only their stores differ, which copy covers), unsigned (its
#: own pow; uint64 arithmetic), bool; float16 is a storage type (copy, where, fill only).
_FAMILIES = {"f": ("float32", "float64"), "i": ("int64",), "u": ("uint8",), "b": ("bool",)}
_STORAGE = ("bool", "int8", "uint8", "float16", "float32", "float64")


def ptx_cases():
    """Yield ``(label, py_func, signature)`` for every kernel this module can launch: each op
    (and each dtype-specific definition of it) once per dtype family in the flat loop, every
    copy between storage dtype families, where/fill per dtype, and each strided loop at every
    rank of ``_strided.RANKS`` (an op's device function is the same in every loop)."""
    from numba import from_dtype, types

    def arr(dt, nd=1, layout="C"):
        return types.Array(from_dtype(np.dtype(dt)), nd, layout)

    def case(label, loop, name, fn, rank, *arrays, scalars=()):
        k = _kernel(name, loop, fn, rank)
        return label, k.py_func, types.void(*arrays, *scalars)

    for name, op in _OPS.items():
        loop = _unary_flat if op.arity == 1 else _binary_flat
        dtypes = [dt for kind in _KINDS.get(name, "fiu") for dt in _FAMILIES[kind]]
        if op.arity == 2 and name in _BOOL_OUT:
            dtypes.remove("float64")  # comparisons call no math: float64 types as float32
        for dt in dtypes:
            od = "bool" if name in _BOOL_OUT else dt
            yield case(f"{name} {dt}", loop, *op.pick(np.dtype(dt), np.dtype(od)), None,
                       *[arr(dt)] * op.arity, arr(od))
    for src in _STORAGE:
        for dst in _STORAGE:
            yield case(f"copy {src}->{dst}", _unary_flat,
                       *copy.pick(np.dtype(src), np.dtype(dst)), None, arr(src), arr(dst))
    for dt in _STORAGE:
        yield case(f"where {dt}", _where_flat, "where", None, None, arr("bool"), arr(dt),
                   arr(dt), arr(dt))
        yield case(f"fill {dt}", _fill_flat, "fill", None, None, arr(dt),
                   scalars=(from_dtype(np.dtype(dt)),))
    # the strided loops (views of any strides: layout "A"), one op each, at every rank
    a16 = arr("float16", 3, "A")
    yield case("copy float16 nd3", _unary_nd, "copy", copy.fn, 3, a16, a16)
    for r in _strided.RANKS:
        a32 = arr("float32", r, "A")
        yield case(f"exp nd{r}", _unary_nd, "exp", exp.fn, r, a32, a32)
        yield case(f"add nd{r}", _binary_nd, "add", add.fn, r, a32, a32, a32)
        yield case(f"where nd{r}", _where_nd, "where", None, r, arr("bool", r, "A"), a32, a32,
                   a32)
        yield case(f"fill nd{r}", _fill_nd, "fill", None, r, a32, scalars=(types.float32,))
