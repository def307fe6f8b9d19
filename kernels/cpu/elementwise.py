"""Elementwise CPU kernels: unary, binary and ternary maps with broadcasting and any strides.

Contract of every public function here: ``f(x..., out)`` with NumPy arrays; the inputs are
broadcastable to ``out.shape`` (they are never materialised at the broadcast shape), any strides;
``out`` is written and nothing is returned. Inputs already have the dtype the op computes in
(the caller promotes); ``out`` has the result dtype (the op's, or bool for predicates).

How a call runs (the launcher picks, the kernels stay simple loops):
1. everything C-contiguous with the same number of elements, or an input of one element:
   a flat 1-D loop (SIMD, parallel above the policy threshold);
2. contiguous inputs that broadcast: the dims collapse to at most three, each input becomes a
   3-D C-contiguous view with ones where it is broadcast, and a row loop keeps unit stride
   (a bias add runs at full bandwidth without expanding the bias);
3. anything else (transposed views, a strided ``out``): the same row loop over the arrays' own
   strides, padded to 3-D with leading ones; beyond three dims, adjacent dims that every array
   steps through as one are merged and the leading dims split into 3-D blocks;
4. more than ``_MAX_BLOCKS`` such blocks: a generic N-d loop.

Each op is an integer code; the scalar bodies switch on the global ``OP``, and every op gets its
own compiled copy of its body with ``OP`` bound to its code, so Numba prunes the other branches
before typing (a kernel compiles only its op's code) and the loops call it as the global
``apply``. (A closure over a jitted function would defeat Numba's disk cache: the dispatcher
pickles with a fresh UUID in every process.)
"""
import functools
import math

import numpy as np
from numba import prange

from .. import policy
from ..layout import collapse_broadcast, pad3
from . import _vmath

# Globals of the scalar bodies and loops below, bound per op by policy (``bind=``).
OP = apply = None

#: ``{op name: its compiled scalar function}`` (``add`` -> ``(x, y) -> x + y``): what generated
#: kernels (numtorch.compile's fusion of elementwise chains) call, so a fused chain computes each
#: element exactly as the separate kernels do. Every launcher also carries ``arity`` (1 or 2).
SCALARS = {}

# --------------------------------------------------------------------------------------------
# Scalar definitions, one line per op.
# --------------------------------------------------------------------------------------------
(NEG, ABS, SIGN, RELU, SQUARE, EXP, LOG, LOG1P, EXPM1, SQRT, RSQRT, SIN, COS, TAN, TANH,
 SIGMOID, ERF, RECIPROCAL, LOG2, FLOOR, CEIL, ROUND, TRUNC) = range(23)


def _unary(x):
    if OP == NEG:
        return -x
    if OP == ABS:  # (the builtin name is taken by the exported kernel below)
        return x if x >= 0 else -x
    if OP == SIGN:
        return (x > 0) - (x < 0) if x == x else x
    if OP == RELU:  # (a literal 0, not x - x: that is NaN at -inf)
        return x if x > 0 or x != x else 0
    if OP == SQUARE:
        return x * x
    if OP == EXP:
        return _vmath.exp_any(x)
    if OP == LOG:
        return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)
    if OP == LOG1P:
        return math.log1p(x) if x > -1 else (-math.inf if x == -1 else math.nan)
    if OP == EXPM1:
        return math.expm1(x)
    if OP == SQRT:
        return math.sqrt(x) if x >= 0 else math.nan
    if OP == RSQRT:
        return 1.0 / math.sqrt(x) if x >= 0 else math.nan
    if OP == SIN:
        return math.sin(x)
    if OP == COS:
        return math.cos(x)
    if OP == TAN:
        return math.tan(x)
    if OP == TANH:
        return _vmath.tanh_any(x)
    if OP == SIGMOID:
        return _vmath.sigmoid_any(x)
    if OP == ERF:
        return math.erf(x)
    if OP == RECIPROCAL:
        return 1.0 / x
    if OP == LOG2:
        return math.log2(x) if x > 0 else (-math.inf if x == 0 else math.nan)
    # np.floor & co. keep the sign of zero (ceil(-0.5) is -0.0) and need no int64 round trip
    if OP == FLOOR:
        return np.floor(x)
    if OP == CEIL:
        return np.ceil(x)
    if OP == ROUND:
        return np.rint(x)
    return np.trunc(x)  # TRUNC


def _identity(x):  # copies and casts: the store into out converts
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
    return np.signbit(x)  # SIGNBIT: true for -0.0 and -nan too (not ``x < 0``)


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
    if OP == FLOORDIV:
        return x // y
    if OP == REMAINDER:
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


# --------------------------------------------------------------------------------------------
# Kernel factories: each returns loops specialised (by closure constant) to one op.
# --------------------------------------------------------------------------------------------
def _apply(name, body, code):
    # one scalar function per op: ``OP`` is a global constant there, so Numba prunes the other
    # branches before typing them (one compile types one op's code, not the whole switch); it
    # is compiled once per dtype and LLVM inlines it into each loop (see policy.scalar)
    return policy.scalar(body, name=f"ew_{name}_scalar", bind={"OP": code}, inline="never")


def _unary_kernels(name, body, code):
    # the loops call ``apply`` as a global that policy binds to the op's scalar function
    def flat(x, out):  # vectors, any strides; x of out's length or 1
        n = out.shape[0]
        if x.shape[0] == n:
            for i in prange(n):
                out[i] = apply(x[i])
        elif x.shape[0] == 1:  # (rare: only through this API) a serial loop, no parallel region
            v = apply(x[0])
            for i in range(n):
                out[i] = v
        else:
            raise ValueError("elementwise: the operand does not broadcast to the output")

    def rows(x, out):  # up to 3 dims, any strides (x broadcasts where its size is 1)
        L, M, N = out.shape
        for r in prange(L * M):
            l = r // M
            m = r - l * M
            lx = l if x.shape[0] > 1 else 0
            mx = m if x.shape[1] > 1 else 0
            if x.shape[2] == N:
                for k in range(N):
                    out[l, m, k] = apply(x[lx, mx, k])
            else:
                v = apply(x[lx, mx, 0])
                for k in range(N):
                    out[l, m, k] = v

    def nd(x, out):
        for idx in np.ndindex(out.shape):
            out[idx] = apply(x[idx])

    bind = {"apply": _apply(name, body, code)}
    SCALARS[name] = bind["apply"]
    return (policy.Twin(flat, name + "_flat", bind), policy.Twin(rows, name + "_rows", bind),
            policy.kernel(nd, name=name + "_nd", bind=bind))


def _binary_kernels(name, body, code):
    # the loops call ``apply`` as a global that policy binds to the op's scalar function
    def flat(a, b, out):  # vectors, any strides; each operand of out's length or 1
        n = out.shape[0]
        na = a.shape[0]
        nb = b.shape[0]
        if (na != n and na != 1) or (nb != n and nb != 1):
            raise ValueError("elementwise: the operands do not broadcast to the output")
        if na == n and nb == n:
            for i in prange(n):
                out[i] = apply(a[i], b[i])
        elif na == n:
            s = b[0]
            for i in prange(n):
                out[i] = apply(a[i], s)
        elif nb == n:
            s = a[0]
            for i in prange(n):
                out[i] = apply(s, b[i])
        else:  # (rare: only through this API) a serial loop, no parallel region
            v = apply(a[0], b[0])
            for i in range(n):
                out[i] = v

    def rows(a, b, out):
        L, M, N = out.shape
        for r in prange(L * M):
            l = r // M
            m = r - l * M
            la = l if a.shape[0] > 1 else 0
            ma = m if a.shape[1] > 1 else 0
            lb = l if b.shape[0] > 1 else 0
            mb = m if b.shape[1] > 1 else 0
            if a.shape[2] == N and b.shape[2] == N:
                for k in range(N):
                    out[l, m, k] = apply(a[la, ma, k], b[lb, mb, k])
            elif a.shape[2] == N:
                s = b[lb, mb, 0]
                for k in range(N):
                    out[l, m, k] = apply(a[la, ma, k], s)
            else:
                s = a[la, ma, 0]
                for k in range(N):
                    out[l, m, k] = apply(s, b[lb, mb, k])

    def nd(a, b, out):
        for idx in np.ndindex(out.shape):
            out[idx] = apply(a[idx], b[idx])

    bind = {"apply": _apply(name, body, code)}
    SCALARS[name] = bind["apply"]
    return (policy.Twin(flat, name + "_flat", bind), policy.Twin(rows, name + "_rows", bind),
            policy.kernel(nd, name=name + "_nd", bind=bind))


def _c(a):
    return a.flags.c_contiguous


def _pad3(a):
    """``a`` (at most 3 dims) as a 3-D view with leading axes of size 1 (broadcasting's
    alignment), whatever its strides."""
    return a if a.ndim == 3 else a[(None,) * (3 - a.ndim)]


#: Most 3-D blocks a call beyond three dims is split into (one row-loop call each); more runs
#: the generic N-d loop.
_MAX_BLOCKS = 256


def _blocks(out, *ins):
    """The arrays of a call beyond three dims as 3-D pieces for the row loop: ``ins`` broadcast
    to ``out``'s shape, adjacent dims merged wherever every array steps through them as one
    (a permuted (B, H, T, D) attention head merges to nothing, a sliced batch often does), then
    the leading dims split into blocks. A list of (ins..., out) tuples, or None when there would
    be more than ``_MAX_BLOCKS``."""
    arrays = [np.broadcast_to(a, out.shape) for a in ins] + [out]
    shape, strides = [out.shape[-1]], [[a.strides[-1]] for a in arrays]
    for d in range(out.ndim - 2, -1, -1):
        n = out.shape[d]
        if n == 1:
            continue
        if all(a.strides[d] == st[0] * shape[0] for a, st in zip(arrays, strides)):
            shape[0] *= n  # merge into the dim inside it
        else:
            shape.insert(0, n)
            for a, st in zip(arrays, strides):
                st.insert(0, a.strides[d])
    views = [np.lib.stride_tricks.as_strided(a, shape, st) for a, st in zip(arrays, strides)]
    lead = shape[:-3]
    if len(shape) <= 3:
        return [tuple(_pad3(v) for v in views)]
    if math.prod(lead) > _MAX_BLOCKS:
        return None
    return [tuple(v[i] for v in views) for i in np.ndindex(*lead)]


def _run_unary(kernels, x, out):
    flat, rows, nd = kernels
    if x.ndim == 1 and out.ndim == 1:  # vectors in any strides (flat checks their lengths)
        (flat.parallel if len(out) >= policy.PARALLEL_THRESHOLD else flat.serial)(x, out)
        return
    n = out.size
    if n == 0:
        return
    if x.flags.c_contiguous and out.flags.c_contiguous and x.size == n:
        (flat.parallel if n >= policy.PARALLEL_THRESHOLD else flat.serial)(x.ravel(), out.ravel())
    elif out.ndim <= 3:  # transposed or sliced operands (a .contiguous() copy): strided rows
        rows(_pad3(x), _pad3(out))
    else:
        _run_blocks(rows, nd, out, x)


def _run_blocks(rows, nd, out, *ins):
    """Operands (``ins`` broadcasting to ``out``) beyond three dims in any layout: the row loop
    over the 3-D blocks of :func:`_blocks`, or the N-d loop when there would be too many."""
    blocks = _blocks(out, *ins)
    if blocks is None:
        nd(*(np.broadcast_to(a, out.shape) for a in ins), out)
        return
    for block in blocks:
        rows(*block)


def _run_binary(kernels, a, b, out):
    # the hot path of every arithmetic op: keep it to a few attribute reads and one call
    flat, rows, nd = kernels
    if out.ndim == 1 and a.ndim == 1:
        # vectors in any strides: the flat loop steps through each by its own stride (and
        # checks their lengths); a 0-d operand (a Python number) as a vector of one
        if b.ndim == 0:
            b = b.reshape(1)
        if b.ndim == 1:
            (flat.parallel if len(out) >= policy.PARALLEL_THRESHOLD else flat.serial)(a, b, out)
            return
    n = out.size
    if n == 0:
        return
    if a.flags.c_contiguous and b.flags.c_contiguous and out.flags.c_contiguous:
        na, nb = a.size, b.size
        if (na == n and (nb == n or nb == 1) and (nb == 1 or a.shape == b.shape)) or \
                (na == 1 and (nb == n)):
            # (ravel: a view of a contiguous array, half reshape's cost)
            k = flat.parallel if n >= policy.PARALLEL_THRESHOLD else flat.serial
            k(a.ravel(), b.ravel(), out.ravel())
            return
        shape = out.shape
        if na == n and a.shape == shape and shape[out.ndim - b.ndim:] == b.shape:
            # b over out's trailing dims (a bias): rows of b's length, no shape analysis
            rows(a.reshape(1, n // nb, nb), b.reshape(1, 1, nb), out.reshape(1, n // nb, nb))
            return
        if nb == n and b.shape == shape and shape[out.ndim - a.ndim:] == a.shape:
            rows(a.reshape(1, 1, na), b.reshape(1, n // na, na), out.reshape(1, n // na, na))
            return
        dims, (da, db) = collapse_broadcast(out.shape, (a.shape, b.shape))
        if len(dims) <= 3:
            rows(a.reshape(pad3(da)), b.reshape(pad3(db)), out.reshape(pad3(dims)))
            return
    if out.ndim <= 3:  # transposed or sliced operands (accumulating a transposed gradient)
        rows(_pad3(a), _pad3(b), _pad3(out))
    else:
        _run_blocks(rows, nd, out, a, b)


class _Launcher(functools.partial):
    """A public kernel ``name(x..., out)``: ``run`` bound to its compiled loops. A partial is
    called from C, so a launch costs no Python frame of its own; ``inspect.signature`` reports
    ``(x, out)`` or ``(a, b, out)`` (what the CPU/CUDA mirror test compares)."""

    def __repr__(self):
        return f"<numtorch.kernels.cpu.elementwise.{self.__name__}>"


def _launcher(name, kernels, run, doc):
    f = _Launcher(run, kernels)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


def _export_unary(table, apply, codes):
    for name, code in codes.items():
        table[name] = _launcher(name, _unary_kernels(name, apply, code), _run_unary,
                                f"out = {name}(x), elementwise; x broadcasts to out.")
        table[name].arity = 1


def _export_binary(table, apply, codes):
    for name, code in codes.items():
        table[name] = _launcher(name, _binary_kernels(name, apply, code), _run_binary,
                                f"out = {name}(a, b), elementwise with broadcasting.")
        table[name].arity = 2


_export_unary(globals(), _unary, dict(
    neg=NEG, abs=ABS, sign=SIGN, relu=RELU, square=SQUARE, exp=EXP, log=LOG, log1p=LOG1P,
    expm1=EXPM1, sqrt=SQRT, rsqrt=RSQRT, sin=SIN, cos=COS, tan=TAN, tanh=TANH, sigmoid=SIGMOID,
    erf=ERF, reciprocal=RECIPROCAL, log2=LOG2, floor=FLOOR, ceil=CEIL, round=ROUND, trunc=TRUNC))
_export_unary(globals(), _identity, dict(copy=0))
_export_unary(globals(), _predicate, dict(
    isnan=ISNAN, isinf=ISINF, isfinite=ISFINITE, logical_not=LOGICAL_NOT, signbit=SIGNBIT))
_export_binary(globals(), _binary, dict(
    add=ADD, sub=SUB, mul=MUL, div=DIV, floor_divide=FLOORDIV, remainder=REMAINDER, pow=POW,
    maximum=MAXIMUM, minimum=MINIMUM, atan2=ATAN2, fmax=FMAX, fmin=FMIN,
    relu_backward=RELU_BACKWARD))
_export_binary(globals(), _bitwise, dict(
    bitwise_and=BITAND, bitwise_or=BITOR, bitwise_xor=BITXOR))
_export_binary(globals(), _compare, dict(
    eq=EQ, ne=NE, lt=LT, le=LE, gt=GT, ge=GE, logical_and=LOGICAL_AND, logical_or=LOGICAL_OR,
    logical_xor=LOGICAL_XOR))

#: ``cast(x, out)``: copy with conversion to ``out.dtype`` (any strides, broadcasting x).
cast = copy  # noqa: F821  (defined by _export_unary above)


# --------------------------------------------------------------------------------------------
# Ternary: where(cond, a, b) and clamp with tensor bounds go through here.
# --------------------------------------------------------------------------------------------
def _where_flat(c, a, b, out):
    n = out.shape[0]
    for i in prange(n):
        ci = c[i] if c.shape[0] == n else c[0]
        ai = a[i] if a.shape[0] == n else a[0]
        bi = b[i] if b.shape[0] == n else b[0]
        out[i] = ai if ci else bi


def _where_nd(c, a, b, out):
    for idx in np.ndindex(out.shape):
        out[idx] = a[idx] if c[idx] else b[idx]


_where_flat_k = policy.Twin(_where_flat, "where_flat")
_where_nd_k = policy.kernel(_where_nd, name="where_nd")


def where(cond, a, b, out):
    """out = a where cond else b; cond bool; a, b of out's dtype; all broadcast to out."""
    n = out.size
    if n == 0:
        return
    if (cond.size in (1, n) and a.size in (1, n) and b.size in (1, n) and _c(cond) and _c(a)
            and _c(b) and _c(out)):
        _where_flat_k(cond.ravel(), a.ravel(), b.ravel(), out.ravel())
        return
    shp = out.shape
    _where_nd_k(np.broadcast_to(cond, shp), np.broadcast_to(a, shp), np.broadcast_to(b, shp), out)


def _fill_flat(out, value):
    for i in prange(out.shape[0]):
        out[i] = value


def _fill_nd(out, value):
    for idx in np.ndindex(out.shape):
        out[idx] = value


_fill_flat_k = policy.Twin(_fill_flat, "fill_flat")
_fill_nd_k = policy.kernel(_fill_nd, name="fill_nd")


def fill(out, value):
    """Write the scalar ``value`` (already of out's dtype) into every element of ``out``."""
    if out.size == 0:
        return
    if _c(out):
        _fill_flat_k(out.ravel(), value, work=out.size)
    else:
        _fill_nd_k(out, value)
