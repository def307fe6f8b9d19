"""Elementwise primitives: forward = one kernel call, backward = Tensor ops, side by side.

The engine un-broadcasts and casts gradients, so each backward states only the derivative.
"""
import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from .._tracing import state as _listen
from ..autograd.function import Function
from .._device import CPU as _CPU
from .._registry import op
from . import _core
from ._core import kernels, empty, broadcast_shapes, scalar_array

# --------------------------------------------------------------------------------------------
# Launchers: promotion, broadcasting, allocation, then one kernel call.
# --------------------------------------------------------------------------------------------


def _unary(name, x, dtype=None):
    """Run kernel ``name`` on x (converted to ``dtype``) into a new tensor of that dtype."""
    if dtype is not None and x.dtype is not dtype:
        x = _core.cast(x, dtype)
    if x.dtype._storage:  # float16, bfloat16: compute in float32, store back
        return _core.cast(_unary(name, _core.cast(x, D.float32)), x.dtype)
    out = empty(x._data.shape, x.dtype, x.device)
    getattr(kernels(x.device).elementwise, name)(x._data, out._data)
    return out


def _pred(name, x):
    out = empty(x._data.shape, D.bool, x.device)
    getattr(kernels(x.device).elementwise, name)(x._data, out._data)
    return out


def _float_dtype(x):
    return x.dtype if x.dtype.is_floating_point else D.get_default_dtype()


def _operands(a, b, compute):
    """(device, a array, b array) in dtype ``compute``; Python scalars become 0-d arrays."""
    if isinstance(a, Tensor):
        dev = a.device
        if isinstance(b, Tensor):
            ad = _core.cast(a, compute)._data if a.dtype is not compute else a._data
            bd = _core.cast(b, compute)._data if b.dtype is not compute else b._data
            bdev = b.device
            if bdev is not dev and bdev != dev:  # (devices are interned: identity is the rule)
                if a._data.ndim == 0 and dev.type == "cpu":
                    dev = bdev  # a CPU 0-d tensor mixes with any device, as in PyTorch
                    ad = _to(ad, dev)
                elif b._data.ndim == 0 and bdev.type == "cpu":
                    bd = _to(bd, dev)
                else:
                    _core.same_device(a, b)
            return dev, ad, bd
        ad = _core.cast(a, compute)._data if a.dtype is not compute else a._data
        return dev, ad, _number(b, compute, dev)
    dev = b.device
    bd = _core.cast(b, compute)._data if b.dtype is not compute else b._data
    return dev, _number(a, compute, dev), bd


def _number(value, dtype, dev):
    """A Python number as a 0-d array of ``dtype`` for arithmetic. An int outside an integer
    dtype's range wraps into it, as in PyTorch's arithmetic (``int8 + 1000`` adds -24); beyond
    int64 it is an OverflowError, as there."""
    try:
        return scalar_array(value, dtype, dev)
    except OverflowError:
        if isinstance(value, int) and not dtype.is_floating_point and dtype is not D.bool \
                and -2 ** 63 <= value < 2 ** 63:
            return scalar_array(np.int64(value).astype(dtype.np), dtype, dev)
        raise


def _to(arr, dev):
    return _core.to_device(arr, dev)


def _binary(name, a, b, compute=None, out_dtype=None):
    """``kernel(a, b) -> out`` with PyTorch's promotion (``compute``: when None, what ``a`` and
    ``b`` promote to, where add and mul of bools are the logical or and and) and broadcasting."""
    if compute is None:
        if a.__class__ is Tensor and b.__class__ is Tensor and a.dtype is b.dtype:
            compute = a.dtype  # (_rtype's first case, inline: the common one)
        else:
            compute = _rtype(a, b)
        if compute is _BOOL:
            name = _ON_BOOL.get(name, name)
    kind = b.__class__
    if a.__class__ is not Tensor or a.dtype is not compute or compute._storage:
        kind = None  # (conversions: _operands)
    if kind is Tensor and b.dtype is compute and a.device is b.device:
        dev, ad, bd = a.device, a._data, b._data  # (the common case, no conversions)
    elif (kind is float or kind is int) and a.device is _CPU:
        dev, ad = _CPU, a._data
        try:
            bd = np.array(b, compute.np)  # x * 2: the number as a 0-d array
        except OverflowError:  # (an int beyond an integer dtype's range: _number wraps it)
            bd = _number(b, compute, _CPU)
    else:
        if compute._storage:  # float16, bfloat16: compute in float32, store back
            r = _binary(name, a, b, D.float32, D.float32 if out_dtype is None else out_dtype)
            return _core.cast(r, compute) if out_dtype is None else r
        dev, ad, bd = _operands(a, b, compute)
    sa, sb = ad.shape, bd.shape
    if ad.ndim > 1 and ad.strides[-1] != ad.itemsize and sa == sb and dev is _CPU \
            and ad.strides == bd.strides and ad.flags.f_contiguous:
        # two transposed operands laid out alike (the gradients of a transposed weight that
        # autograd sums up): the result in their layout, as PyTorch's, through the flat kernel
        out = empty(sa[::-1], out_dtype or compute, dev)
        getattr(kernels(dev).elementwise, name)(ad.T, bd.T, out._data)
        return out._view_of(out._data.T)
    shape = sa if sa == sb or not sb else broadcast_shapes(sa, sb)  # (a 0-d b: a's shape)
    rt = out_dtype or compute
    if dev is _CPU and _listen.capture is None and _listen.tracer is None:
        # (every eager op on the CPU: the kernel found without kernels())
        out = empty(shape, rt)
        arr = out._data
        kernel = getattr(_CPU_EW or _cpu_elementwise(), name)
        if len(shape) > 1 and shape is sa and ad.flags.c_contiguous and \
                (not sb or sb == sa and bd.flags.c_contiguous):
            # contiguous operands of the output's shape (or a number): the kernel sees vectors,
            # its shortest path (no layout analysis)
            kernel(ad.ravel(), bd if not sb else bd.ravel(), arr.ravel())
        else:
            kernel(ad, bd, arr)
        return out
    out = empty(shape, rt, dev)
    getattr(kernels(dev).elementwise, name)(ad, bd, out._data)
    return out


_CPU_EW = None  # numtorch.kernels.cpu.elementwise, bound on first use (cold import stays lazy)


def _cpu_elementwise():
    global _CPU_EW
    _CPU_EW = kernels(_CPU).elementwise
    return _CPU_EW


def _check_bool_sub(a, b):
    if D.result_type(a, b) is D.bool:
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead.")


# --------------------------------------------------------------------------------------------
# Binary arithmetic
# --------------------------------------------------------------------------------------------
def _rtype(a, b):
    """The dtype ``a (op) b`` computes in: PyTorch's promotion, with the common cases told
    without ``result_type``: two tensors of one dtype, a tensor and a Python number of its kind
    (a float with a floating tensor, an int with any but a bool tensor: the tensor's dtype)."""
    if a.__class__ is Tensor:
        d = a.dtype
        kind = b.__class__
        if kind is Tensor:
            if b.dtype is d:
                return d
        elif kind is float:
            if d.is_floating_point:
                return d
        elif kind is int and d is not D.bool:
            return d
    return D.result_type(a, b)


_BOOL = D.bool
_ON_BOOL = {"add": "bitwise_or", "mul": "bitwise_and"}  # (what _binary runs on bools)


class Add(Function):
    _kernel_forward = True

    @staticmethod
    def forward(ctx, a, b):
        return _binary("add", a, b)

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    _kernel_forward = True

    @staticmethod
    def forward(ctx, a, b):
        rt = _rtype(a, b)
        if rt is D.bool:
            _check_bool_sub(a, b)
        return _binary("sub", a, b, rt)

    @staticmethod
    def backward(ctx, g):
        return g, -g


def _save_needed(ctx, a, b, need_a, need_b):
    """Save only the operands a needed gradient uses (PyTorch does the same), so an in-place
    change to an operand that no gradient reads does not invalidate the graph; a Python scalar
    operand goes to ``ctx.scalars``. Backward reads operand i as ``_saved_operand(ctx, i, t)``."""
    if a.__class__ is Tensor and b.__class__ is Tensor:  # (the common case: no scalars)
        ctx.save_for_backward(a if need_a else None, b if need_b else None)
        return
    ctx.save_for_backward(a if need_a and isinstance(a, Tensor) else None,
                          b if need_b and isinstance(b, Tensor) else None)
    ctx.scalars = (a if not isinstance(a, Tensor) else None,
                   b if not isinstance(b, Tensor) else None)


def _saved_operand(ctx, i, saved):
    """Operand ``i`` of a forward that ran _save_needed: the tensor saved, else its scalar."""
    return saved if saved is not None else ctx.scalars[i]


class Mul(Function):
    _kernel_forward = True

    @staticmethod
    def forward(ctx, a, b):
        n = ctx.needs_input_grad  # () when no graph is recorded: nothing to save
        if n:
            _save_needed(ctx, a, b, n[1], n[0])
        return _binary("mul", a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        n = ctx.needs_input_grad
        return (g * _saved_operand(ctx, 1, b) if n[0] else None,
                g * _saved_operand(ctx, 0, a) if n[1] else None)


class Div(Function):
    _kernel_forward = True

    @staticmethod
    def forward(ctx, a, b):
        n = ctx.needs_input_grad
        if n:
            _save_needed(ctx, a, b, n[1], n[0] or n[1])
        rt = _rtype(a, b)
        return _binary("div", a, b, rt if rt.is_floating_point else D.get_default_dtype())

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        n = ctx.needs_input_grad
        b = _saved_operand(ctx, 1, b)
        return (g / b if n[0] else None,
                -g * _saved_operand(ctx, 0, a) / (b * b) if n[1] else None)


def _check_int_zero_div(a, b):
    rt = D.result_type(a, b)
    if _core.is_int(rt):
        if isinstance(b, Tensor):
            zero = bool(_pred("logical_not", b).any())
        else:
            zero = b == 0
        if zero:
            raise RuntimeError("ZeroDivisionError")


class FloorDivide(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check_int_zero_div(a, b)
        return _binary("floor_divide", a, b)

    @staticmethod
    def backward(ctx, g):
        return g * 0, g * 0  # piecewise constant


class Remainder(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check_int_zero_div(a, b)
        ctx.save_for_backward(a if isinstance(a, Tensor) else None,
                              b if isinstance(b, Tensor) else None)
        ctx.scalars = (a, b)
        return _binary("remainder", a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a = ctx.scalars[0] if a is None else a
        b = ctx.scalars[1] if b is None else b
        return g, (-g * floor_divide(a, b) if ctx.needs_input_grad[1] else None)


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        rt = D.result_type(a, b)
        if _core.is_int(rt) and isinstance(b, Tensor) and bool((b < 0).any()):
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        if _core.is_int(rt) and not isinstance(b, Tensor) and b < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        out = _binary("pow", a, b)
        ctx.save_for_backward(a if isinstance(a, Tensor) else None,
                              b if isinstance(b, Tensor) else None, out)
        ctx.scalars = (a, b)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        a = ctx.scalars[0] if a is None else a
        b = ctx.scalars[1] if b is None else b
        ga = gb = None
        if ctx.needs_input_grad[0]:
            # PyTorch's convention: d/dx x**0 = 0 everywhere (also at x = 0)
            ga = where(b == 0, 0.0, g * b * pow(a, b - 1)) if isinstance(b, Tensor) else (
                g * 0 if b == 0 else g * b * pow(a, b - 1))
        if ctx.needs_input_grad[1]:
            # d/db a**b = a**b log a, taken as 0 where a == 0 and b >= 0 (PyTorch's masking)
            la = log(a) if isinstance(a, Tensor) else log(_core.as_tensor_arg(float(a), g.device))
            gb = where((a == 0) & (b >= 0), 0.0, g * out * la) if isinstance(a, Tensor) else g * out * la
        return ga, gb


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("maximum", a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        # ties split the gradient evenly, as PyTorch does
        w = (a > b).to(g.dtype) + (a == b).to(g.dtype) * 0.5
        return g * w, g * (1 - w)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("minimum", a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        w = (a < b).to(g.dtype) + (a == b).to(g.dtype) * 0.5
        return g * w, g * (1 - w)


class Atan2(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        rt = D.result_type(a, b)
        return _binary("atan2", a, b, rt if rt.is_floating_point else D.get_default_dtype())

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        d = a * a + b * b
        return g * b / d, -g * a / d


# --------------------------------------------------------------------------------------------
# Unary
# --------------------------------------------------------------------------------------------
class Neg(Function):
    _kernel_forward = True

    @staticmethod
    def forward(ctx, x):
        if x.dtype is D.bool:
            raise RuntimeError(
                "Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
                "to invert a mask, use the `~` or `logical_not()` operator instead.")
        return _unary("neg", x)

    @staticmethod
    def backward(ctx, g):
        return -g


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _unary("abs", x) if x.dtype is not D.bool else x.clone()

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * sign(x)  # sign(0) = 0: PyTorch's subgradient at the kink


class Sign(Function):
    @staticmethod
    def forward(ctx, x):
        return _unary("sign", x) if x.dtype is not D.bool else x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * 0


class Relu(Function):
    _kernel_forward = True

    @staticmethod
    def forward(ctx, x):
        out = _unary("relu", x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return ReluBackward.apply(g, out)


class ReluBackward(Function):
    """relu's gradient in one pass (the ``relu_backward`` kernel): g where relu's output y > 0 or
    is NaN, else 0 (PyTorch's ``threshold_backward``: 0 at x = 0). Linear in g, so its own
    gradient is the same map of the incoming one; y gets none (the step is flat a.e.)."""
    _kernel_forward = True

    @staticmethod
    def forward(ctx, g, y):
        ctx.save_for_backward(y)
        return _binary("relu_backward", g, y)

    @staticmethod
    def backward(ctx, gg):
        y, = ctx.saved_tensors
        return ReluBackward.apply(gg, y), None


class _UnaryMath(Function):
    """A differentiable unary op given by a table row: the kernel runs in the input's float dtype
    (integers promote to the default dtype); backward applies the row's one-line rule to the
    incoming gradient and what the row saves, the input ``x`` or the output ``y``."""
    kernel = saves = None

    @classmethod
    def forward(cls, ctx, x):
        out = _unary(cls.kernel, x, _float_dtype(x))
        ctx.save_for_backward(out if cls.saves == "y" else x)
        return out

    @classmethod
    def backward(cls, ctx, g):
        s, = ctx.saved_tensors
        return cls.rule(g, s)


def _unary_math(kernel, saves, rule):
    """The Function of one table row (named after the kernel: ``exp`` -> ``Exp``)."""
    name = kernel.capitalize()
    return type(_UnaryMath)(name, (_UnaryMath,), {
        "kernel": kernel, "saves": saves, "rule": staticmethod(rule),
        "__module__": __name__, "__qualname__": name})


# one row per op: the kernel, what backward reads (x: the input, y: the output), d/dx of g
Exp = _unary_math("exp", "y", lambda g, y: g * y)
Expm1 = _unary_math("expm1", "y", lambda g, y: g * (y + 1))
Log = _unary_math("log", "x", lambda g, x: g / x)
Log2 = _unary_math("log2", "x", lambda g, x: g / (x * 0.6931471805599453))
Log1p = _unary_math("log1p", "x", lambda g, x: g / (x + 1))
Sqrt = _unary_math("sqrt", "y", lambda g, y: g / (2 * y))
Rsqrt = _unary_math("rsqrt", "y", lambda g, y: -0.5 * g * y * y * y)
Sin = _unary_math("sin", "x", lambda g, x: g * cos(x))
Cos = _unary_math("cos", "x", lambda g, x: -g * sin(x))
Tan = _unary_math("tan", "y", lambda g, y: g * (1 + y * y))
Tanh = _unary_math("tanh", "y", lambda g, y: g * (1 - y * y))
Sigmoid = _unary_math("sigmoid", "y", lambda g, y: g * y * (1 - y))
Erf = _unary_math("erf", "x", lambda g, x: g * 1.1283791670955126 * exp(-(x * x)))
Reciprocal = _unary_math("reciprocal", "y", lambda g, y: -g * y * y)


class _Rounding(Function):
    """floor / ceil / round / trunc: integers pass through; the gradient is zero."""
    kernel = None

    @classmethod
    def forward(cls, ctx, x):
        return _unary(cls.kernel, x) if x.dtype.is_floating_point else x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * 0


class Floor(_Rounding):
    kernel = "floor"


class Ceil(_Rounding):
    kernel = "ceil"


class Round(_Rounding):
    kernel = "round"


class Trunc(_Rounding):
    kernel = "trunc"


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x, lo if isinstance(lo, Tensor) else None,
                              hi if isinstance(hi, Tensor) else None)
        ctx.bounds = (lo, hi)
        out = x
        if lo is not None:
            out = _binary("maximum", out, lo, D.result_type(x, lo))
        if hi is not None:
            out = _binary("minimum", out, hi, D.result_type(out, hi))
        return out.clone() if out is x else out

    @staticmethod
    def backward(ctx, g):
        x, lo_t, hi_t = ctx.saved_tensors
        lo, hi = ctx.bounds
        lo = lo if lo_t is None else lo_t
        hi = hi if hi_t is None else hi_t
        # PyTorch: the gradient passes where lo <= x <= hi (inclusive at the bounds)
        mask = None
        if lo is not None:
            mask = x >= lo
        if hi is not None:
            m = x <= hi
            mask = m if mask is None else mask & m
        gx = g * mask.to(g.dtype) if mask is not None else g
        glo = g * (x < lo).to(g.dtype) if isinstance(lo, Tensor) and ctx.needs_input_grad[1] else None
        ghi = g * (x > hi).to(g.dtype) if isinstance(hi, Tensor) and ctx.needs_input_grad[2] else None
        return gx, glo, ghi


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        if cond.dtype is not D.bool:
            raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {cond.dtype}")
        ctx.save_for_backward(cond)
        compute = D.result_type(a, b)
        dev = cond.device
        ad = _operand(a, compute, dev)
        bd = _operand(b, compute, dev)
        shape = broadcast_shapes(cond._data.shape, ad.shape, bd.shape)
        out = empty(shape, compute, dev)
        kernels(dev).elementwise.where(cond._data, ad, bd, out._data)
        return out

    @staticmethod
    def backward(ctx, g):
        cond, = ctx.saved_tensors
        zero = g * 0
        return None, where(cond, g, zero), where(cond, zero, g)


def _sparse(a, b):
    """Whether ``a`` or ``b`` is a sparse COO tensor (its arithmetic: numtorch/ops/sparse.py)."""
    return a.__class__ is SparseCooTensor or b.__class__ is SparseCooTensor


def _operand(x, dtype, dev):
    if isinstance(x, Tensor):
        if x.device != dev:
            _core.same_device(x, _Dev(dev))
        return (_core.cast(x, dtype) if x.dtype is not dtype else x)._data
    return _number(x, dtype, dev)


class _Dev:
    def __init__(self, dev):
        self.device = dev


# --------------------------------------------------------------------------------------------
# Public functions (also bound as Tensor methods)
# --------------------------------------------------------------------------------------------
@op(inplace=True)
def add(input, other, *, alpha=1):
    """``input + alpha * other`` with broadcasting and type promotion.

    >>> import numtorch as torch
    >>> torch.add(torch.tensor([1, 2]), 1.5)
    tensor([2.5000, 3.5000])
    """
    if alpha == 1 and input.__class__ is Tensor and other.__class__ is not SparseCooTensor:
        return Add.apply(input, other)
    if _sparse(input, other):
        return sparse.sparse_add(input, other, alpha)
    if alpha != 1:
        other = mul(other, alpha)
    if not isinstance(input, Tensor):
        return Add.apply(other, input) if isinstance(other, Tensor) else _core.as_tensor_arg(input + other, None)
    return Add.apply(input, other)


@op('subtract', inplace=True)
def sub(input, other, *, alpha=1):
    """``input - alpha * other``.

    >>> import numtorch as torch
    >>> torch.sub(torch.tensor([5, 7]), torch.tensor([1, 2]), alpha=2)
    tensor([3, 3])
    """
    if input.__class__ is SparseCooTensor or other.__class__ is SparseCooTensor:
        return sparse.sparse_add(input, other, -alpha)
    if alpha != 1:
        other = mul(other, alpha)
    return Sub.apply(input, other)


@op('multiply', inplace=True)
def mul(input, other):
    """Elementwise product with broadcasting.

    >>> import numtorch as torch
    >>> torch.mul(torch.tensor([1, 2, 3]), 2)
    tensor([2, 4, 6])
    """
    if input.__class__ is SparseCooTensor or other.__class__ is SparseCooTensor:
        return sparse.sparse_mul(input, other)
    return Mul.apply(input, other)


@op('divide', 'true_divide', inplace=True)
def div(input, other, *, rounding_mode=None):
    """True division (``rounding_mode=None``), ``'floor'`` or ``'trunc'``.

    >>> import numtorch as torch
    >>> torch.div(torch.tensor([7, -7]), 2)
    tensor([ 3.5000, -3.5000])
    >>> torch.div(torch.tensor([7, -7]), 2, rounding_mode="floor")
    tensor([ 3, -4])
    """
    if rounding_mode is None:
        return Div.apply(input, other)
    if rounding_mode == "floor":
        return floor_divide(input, other)
    if rounding_mode == "trunc":
        q = Div.apply(input, other)
        rt = D.result_type(input, other)
        return trunc(q).to(rt) if not rt.is_floating_point else trunc(q)
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


@op(inplace=True)
def floor_divide(input, other):
    """Division rounded towards minus infinity (Python's ``//``).

    >>> import numtorch as torch
    >>> torch.floor_divide(torch.tensor([7, -7]), 2)
    tensor([ 3, -4])
    """
    return FloorDivide.apply(input, other)


@op(inplace=True)
def remainder(input, other):
    """Python's ``%``: the result has the sign of the divisor.

    >>> import numtorch as torch
    >>> torch.remainder(torch.tensor([-3, 3]), 2)
    tensor([1, 1])
    """
    return Remainder.apply(input, other)


@op(inplace=True)
def fmod(input, other):
    """C's fmod: the result has the sign of the dividend (integers stay integers).

    >>> import numtorch as torch
    >>> torch.fmod(torch.tensor([-3, 3]), 2)
    tensor([-1,  1])
    """
    if _core.is_int(D.result_type(input, other)):
        _check_int_zero_div(input, other)
        return input - div(input, other, rounding_mode="trunc") * other
    return input - trunc(input / other) * other


@op(inplace=True)
def pow(input, exponent):
    """``input ** exponent`` (tensor or scalar on either side).

    >>> import numtorch as torch
    >>> torch.pow(torch.tensor([1, 2, 3]), 2)
    tensor([1, 4, 9])
    >>> torch.pow(2, torch.tensor([1.0, 2.0]))
    tensor([2., 4.])
    """
    return Pow.apply(input, exponent)


@op()
def float_power(input, exponent):
    """``input ** exponent`` computed in float64.

    >>> import numtorch as torch
    >>> torch.float_power(torch.tensor([2, 3]), 2)
    tensor([4., 9.], dtype=torch.float64)
    """
    return pow(input.double() if isinstance(input, Tensor) else input,
               exponent.double() if isinstance(exponent, Tensor) else exponent)


@op(inplace=True)
def maximum(input, other):
    """Elementwise maximum; NaN propagates.

    >>> import numtorch as torch
    >>> torch.maximum(torch.tensor([1, 5]), torch.tensor([3, 2]))
    tensor([3, 5])
    """
    return Maximum.apply(input, other)


@op(inplace=True)
def minimum(input, other):
    """Elementwise minimum; NaN propagates.

    >>> import numtorch as torch
    >>> torch.minimum(torch.tensor([1, 5]), torch.tensor([3, 2]))
    tensor([1, 2])
    """
    return Minimum.apply(input, other)


class FMax(Function):
    kernel = "fmax"

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary(cls.kernel, a, b)

    @classmethod
    def backward(cls, ctx, g):
        a, b = ctx.saved_tensors
        # PyTorch: the gradient goes to ``a`` where it wins (ties included) or ``b`` is NaN
        pick_a = ((a >= b) if cls.kernel == "fmax" else (a <= b)) | (b != b)  # b is NaN
        zero = g * 0
        return where(pick_a, g, zero), where(pick_a, zero, g)


class FMin(FMax):
    kernel = "fmin"


@op()
def fmax(input, other):
    """Elementwise maximum that ignores NaN (a NaN loses to any number).

    >>> import numtorch as torch
    >>> nan = float("nan")
    >>> torch.fmax(torch.tensor([1.0, nan]), torch.tensor([nan, 2.0]))
    tensor([1., 2.])
    """
    return FMax.apply(input, other)


@op()
def fmin(input, other):
    """Elementwise minimum that ignores NaN.

    >>> import numtorch as torch
    >>> nan = float("nan")
    >>> torch.fmin(torch.tensor([1.0, nan]), torch.tensor([nan, 2.0]))
    tensor([1., 2.])
    """
    return FMin.apply(input, other)


@op('arctan2')
def atan2(input, other):
    """Elementwise ``atan(input / other)`` using both signs to pick the quadrant.

    >>> import numtorch as torch
    >>> torch.atan2(torch.tensor([1.0, -1.0]), torch.tensor([1.0, 1.0]))
    tensor([ 0.7854, -0.7854])
    """
    return Atan2.apply(input, other)


@op('negative', inplace=True)
def neg(input):
    """``-input``.

    >>> import numtorch as torch
    >>> torch.neg(torch.tensor([1, -2]))
    tensor([-1,  2])
    """
    return Neg.apply(input)


@op('absolute', inplace=True)
def abs(input):
    """Absolute value.

    >>> import numtorch as torch
    >>> torch.abs(torch.tensor([-1.5, 2.0]))
    tensor([1.5000, 2.0000])
    """
    return Abs.apply(input)


@op('sgn', inplace=True)
def sign(input):
    """-1, 0 or 1 by the sign of each element.

    >>> import numtorch as torch
    >>> torch.sign(torch.tensor([-2.0, 0.0, 3.0]))
    tensor([-1.,  0.,  1.])
    """
    return Sign.apply(input)


@op(inplace=True, functional=True)
def relu(input, inplace=False):
    """``max(0, x)`` elementwise; ``inplace`` (``F.relu``'s argument) writes into ``input``.

    >>> import numtorch as torch
    >>> torch.relu(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    if inplace:
        return input.relu_()
    return Relu.apply(input)


@op(inplace=True)
def exp(input):
    """``e ** x``.

    >>> import numtorch as torch
    >>> torch.exp(torch.tensor([0.0, 1.0]))
    tensor([1.0000, 2.7183])
    """
    return Exp.apply(input)


@op(inplace=True)
def expm1(input):
    """``exp(x) - 1``, accurate for small ``x``.

    >>> import numtorch as torch
    >>> torch.expm1(torch.tensor([0.0, 1e-10])).tolist()
    [0.0, 1.000000013351432e-10]
    """
    return Expm1.apply(input)


@op(inplace=True)
def log(input):
    """Natural logarithm.

    >>> import numtorch as torch
    >>> torch.log(torch.tensor([1.0, 2.718281828]))
    tensor([0.0000, 1.0000])
    """
    return Log.apply(input)


@op(inplace=True)
def log2(input):
    """Base-2 logarithm.

    >>> import numtorch as torch
    >>> torch.log2(torch.tensor([1.0, 8.0]))
    tensor([0., 3.])
    """
    return Log2.apply(input)


@op()
def log10(input):
    """Base-10 logarithm.

    >>> import numtorch as torch
    >>> torch.log10(torch.tensor([1.0, 100.0]))
    tensor([0., 2.])
    """
    return log(input) * 0.4342944819032518


@op(inplace=True)
def log1p(input):
    """``log(1 + x)``, accurate for small ``x``.

    >>> import numtorch as torch
    >>> torch.log1p(torch.tensor([0.0, 1e-10])).tolist()
    [0.0, 1.000000013351432e-10]
    """
    return Log1p.apply(input)


@op(inplace=True)
def sqrt(input):
    """Square root.

    >>> import numtorch as torch
    >>> torch.sqrt(torch.tensor([4.0, 9.0]))
    tensor([2., 3.])
    """
    return Sqrt.apply(input)


@op(inplace=True)
def rsqrt(input):
    """``1 / sqrt(x)``.

    >>> import numtorch as torch
    >>> torch.rsqrt(torch.tensor([4.0, 0.25]))
    tensor([0.5000, 2.0000])
    """
    return Rsqrt.apply(input)


@op(inplace=True)
def square(input):
    """``x * x``.

    >>> import numtorch as torch
    >>> torch.square(torch.tensor([-2, 3]))
    tensor([4, 9])
    """
    return mul(input, input)


@op(inplace=True)
def sin(input):
    """Sine (radians).

    >>> import numtorch as torch
    >>> torch.sin(torch.tensor([0.0, 3.14159265 / 2]))
    tensor([0., 1.])
    """
    return Sin.apply(input)


@op(inplace=True)
def cos(input):
    """Cosine (radians).

    >>> import numtorch as torch
    >>> torch.cos(torch.tensor([0.0, 3.14159265]))
    tensor([ 1., -1.])
    """
    return Cos.apply(input)


@op(inplace=True)
def tan(input):
    """Tangent (radians).

    >>> import numtorch as torch
    >>> torch.tan(torch.tensor([0.0, 3.14159265 / 4]))
    tensor([0., 1.])
    """
    return Tan.apply(input)


@op(inplace=True, functional=True)
def tanh(input):
    """Hyperbolic tangent.

    >>> import numtorch as torch
    >>> torch.tanh(torch.tensor([0.0, 100.0]))
    tensor([0., 1.])
    """
    return Tanh.apply(input)


@op(inplace=True, functional=True)
def sigmoid(input):
    """``1 / (1 + exp(-x))``.

    >>> import numtorch as torch
    >>> torch.sigmoid(torch.tensor([0.0, 2.0]))
    tensor([0.5000, 0.8808])
    """
    return Sigmoid.apply(input)


@op(inplace=True)
def erf(input):
    """The Gauss error function.

    >>> import numtorch as torch
    >>> torch.erf(torch.tensor([0.0, 1.0]))
    tensor([0.0000, 0.8427])
    """
    return Erf.apply(input)


@op(inplace=True)
def reciprocal(input):
    """``1 / x`` (integers give floats).

    >>> import numtorch as torch
    >>> torch.reciprocal(torch.tensor([2, 4]))
    tensor([0.5000, 0.2500])
    """
    return Reciprocal.apply(input)


@op(inplace=True)
def floor(input):
    """Round down to an integral value.

    >>> import numtorch as torch
    >>> torch.floor(torch.tensor([-1.5, 1.5]))
    tensor([-2.,  1.])
    """
    return Floor.apply(input)


@op(inplace=True)
def ceil(input):
    """Round up to an integral value.

    >>> import numtorch as torch
    >>> torch.ceil(torch.tensor([-1.5, 1.5]))
    tensor([-1.,  2.])
    """
    return Ceil.apply(input)


@op(inplace=True)
def round(input, *, decimals=0):
    """Round half to even (as PyTorch); ``decimals`` scales first.

    >>> import numtorch as torch
    >>> torch.round(torch.tensor([0.5, 1.5, 2.345]))
    tensor([0., 2., 2.])
    >>> torch.round(torch.tensor([2.345]), decimals=1)
    tensor([2.3000])
    """
    if decimals:
        s = 10.0 ** decimals
        return Round.apply(input * s) / s
    return Round.apply(input)


@op('fix', inplace=True)
def trunc(input):
    """Round towards zero (``fix`` is the same function).

    >>> import numtorch as torch
    >>> torch.trunc(torch.tensor([-1.7, 1.7]))
    tensor([-1.,  1.])
    """
    return Trunc.apply(input)


@op()
def frac(input):
    """The fractional part ``x - trunc(x)``.

    >>> import numtorch as torch
    >>> torch.frac(torch.tensor([-1.5, 2.25]))
    tensor([-0.5000,  0.2500])
    """
    return input - trunc(input)


@op('clip', inplace=True)
def clamp(input, min=None, max=None):
    """Limit to ``[min, max]``; NaN stays NaN; the gradient passes inside the closed interval.

    >>> import numtorch as torch
    >>> torch.clamp(torch.tensor([-2.0, 0.5, 3.0]), min=-1.0, max=1.0)
    tensor([-1.0000,  0.5000,  1.0000])
    """
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    return Clamp.apply(input, min, max)


@op(inplace=True)
def clamp_min(input, min):
    """``clamp(input, min=min)``.

    >>> import numtorch as torch
    >>> torch.clamp_min(torch.tensor([-2, 3]), 0)
    tensor([0, 3])
    """
    return clamp(input, min=min)


@op(inplace=True)
def clamp_max(input, max):
    """``clamp(input, max=max)``.

    >>> import numtorch as torch
    >>> torch.clamp_max(torch.tensor([-2, 3]), 0)
    tensor([-2,  0])
    """
    return clamp(input, max=max)


@op()
def where(condition, input=None, other=None):
    """``input`` where ``condition`` else ``other`` (scalars allowed); one argument: nonzero.

    >>> import numtorch as torch
    >>> x = torch.tensor([-1.0, 2.0])
    >>> torch.where(x > 0, x, 0.0)
    tensor([0., 2.])
    """
    if input is None and other is None:
        from .indexing import nonzero
        return nonzero(condition, as_tuple=True)
    return Where.apply(condition, input, other)


@op(inplace=True)
def lerp(input, end, weight):
    """Linear interpolation ``input + weight * (end - input)``.

    >>> import numtorch as torch
    >>> torch.lerp(torch.tensor([0.0, 10.0]), torch.tensor([10.0, 20.0]), 0.5)
    tensor([ 5., 15.])
    """
    return input + weight * (end - input)


def _int_value(value, *tensors):
    # PyTorch casts ``value`` to the (integer) result type, so 0.5 becomes 0
    return int(value) if _core.is_int(D.result_type(*tensors)) else value


@op(inplace=True)
def addcmul(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 * tensor2``.

    >>> import numtorch as torch
    >>> torch.addcmul(torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([3.0]), value=0.5)
    tensor([4.])
    """
    return input + _int_value(value, input, tensor1, tensor2) * tensor1 * tensor2


@op(inplace=True)
def addcdiv(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 / tensor2``.

    >>> import numtorch as torch
    >>> torch.addcdiv(torch.tensor([1.0]), torch.tensor([6.0]), torch.tensor([3.0]), value=0.5)
    tensor([2.])
    """
    return input + value * tensor1 / tensor2


@op()
def hypot(input, other):
    """``sqrt(input**2 + other**2)``.

    >>> import numtorch as torch
    >>> torch.hypot(torch.tensor([3.0]), torch.tensor([4.0]))
    tensor([5.])
    """
    return sqrt(input * input + other * other)


# predicates and comparisons: no gradient, bool results


# A sparse COO operand of add/sub/mul goes to numtorch/ops/sparse.py (imported last: it builds on
# the ops above).
from . import sparse  # noqa: E402
from .sparse import SparseCooTensor  # noqa: E402
