"""Reductions, scans and the softmax family.

Every kernel sees a C-contiguous (outer, n, inner) array and reduces axis 1; ``_canon`` brings
any tensor and set of dims into that form (a view when the reduced dims are one contiguous block
of a contiguous tensor, one copy otherwise).
"""
import builtins
from collections import namedtuple

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.function import Function
from .._registry import op
from . import _core
from ._core import kernels, empty, normalize_dims, prod as _prod
from .elementwise import where, exp, sqrt

values_indices = namedtuple("values_indices", ["values", "indices"])


def _canon(x, dims):
    """``x`` as an array of shape (outer, n, inner) for reducing ``dims`` (the n)."""
    shp = x._data.shape
    if not dims:
        return _carray(x).reshape(_prod(shp), 1, 1)
    if len(dims) == len(shp):  # every dim (x.sum()): one row
        return _carray(x).reshape(1, x._data.size, 1)
    lo, hi = (dims[0], dims[0]) if len(dims) == 1 else (builtins.min(dims), builtins.max(dims))
    if hi - lo + 1 == len(dims):  # one block of adjacent dims (one dim, every dim)
        return _carray(x).reshape(_prod(shp[:lo]), _prod(shp[lo:hi + 1]), _prod(shp[hi + 1:]))
    nd = len(shp)
    order = [i for i in range(nd) if i not in dims] + sorted(dims)
    arr = _contig(x.permute(order))
    return arr.reshape(_prod([shp[d] for d in order[:nd - len(dims)]]),
                       _prod([shp[d] for d in dims]), 1)


def _carray(x):
    return x._data if x._data.flags.c_contiguous else _contig(x)


def _contig(x):
    out = empty(x._data.shape, x.dtype, x.device)
    kernels(x.device).elementwise.copy(x._data, out._data)
    return out._data


def _out_shape(shape, dims, keepdim):
    if len(dims) == len(shape) and not keepdim:
        return ()
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def _reduce(kernel_name, x, dims, keepdim, out_dtype, *extra):
    arr = _canon(x, dims)
    out = empty(_out_shape(x._data.shape, dims, keepdim), out_dtype, x.device)
    getattr(kernels(x.device).reduce, kernel_name)(
        arr, *extra, out._data.reshape(arr.shape[0], arr.shape[2]))
    return out


def _dims(x, dim):
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(x.ndim))
    return normalize_dims(dim, x.ndim)


def _grad_to_input(g, in_shape, dims, keepdim):
    """Bring a reduction's gradient back to the input's shape (unsqueeze, then broadcast)."""
    if not keepdim:
        for d in sorted(dims):
            g = g.unsqueeze(d)
    return g.expand(in_shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim, dtype):
        if ctx.needs_input_grad:
            ctx.meta = (x._data.shape, dims, keepdim)
        if dtype is None:
            dtype = x.dtype if x.dtype.is_floating_point else D.int64
        if x.dtype is not dtype:
            x = _core.cast(x, dtype)
        return _reduce("sum", x, dims, keepdim, dtype)

    @staticmethod
    def backward(ctx, g):
        return _grad_to_input(g, *ctx.meta), None, None, None


@op()
def sum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over all elements or over ``dim`` (int or tuple).

    >>> import numtorch as torch
    >>> torch.tensor([[1, 2], [3, 4]]).sum(1)
    tensor([3, 7])
    """
    return Sum.apply(input, _dims(input, dim), keepdim, D.to_dtype(dtype) if dtype else None)


@op()
def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum treating NaN as zero.

    >>> import numtorch as torch
    >>> torch.nansum(torch.tensor([1.0, float("nan"), 2.0]))
    tensor(3.)
    """
    return sum(where(input.isnan(), 0.0, input), dim, keepdim, dtype=dtype)


@op()
def mean(input, dim=None, keepdim=False, *, dtype=None):
    """Arithmetic mean (floating dtypes only, as PyTorch).

    >>> import numtorch as torch
    >>> torch.mean(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=1)
    tensor([1.5000, 3.5000])
    """
    dt = D.to_dtype(dtype) if dtype else input.dtype
    if not dt.is_floating_point:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {input.dtype.name.capitalize()}")
    return Mean.apply(input, _dims(input, dim), keepdim, dt)


class Mean(Function):
    """The mean kernel (a float64 sum divided once, then rounded to the dtype); NaN over no
    elements."""

    @staticmethod
    def forward(ctx, x, dims, keepdim, dtype):
        if ctx.needs_input_grad:
            shp = x._data.shape
            ctx.meta = (shp, dims, keepdim, _prod([shp[d] for d in dims]))
        if x.dtype is not dtype:
            x = _core.cast(x, dtype)
        return _reduce("mean", x, dims, keepdim, dtype)

    @staticmethod
    def backward(ctx, g):
        shp, dims, keepdim, n = ctx.meta
        return _grad_to_input(g / n if n else g * float("nan"), shp, dims, keepdim), None, None, \
            None


class Prod(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim, dtype):
        if dtype is None:
            dtype = x.dtype if x.dtype.is_floating_point else D.int64
        if x.dtype is not dtype:
            x = _core.cast(x, dtype)
        out = _reduce("prod", x, dims, keepdim, dtype)
        ctx.save_for_backward(x, out)
        ctx.meta = (x._data.shape, dims, keepdim)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        shape, dims, keepdim = ctx.meta
        g = _grad_to_input(g, shape, dims, keepdim)
        out = _grad_to_input(out, shape, dims, keepdim)
        zero = x == 0
        nzeros = _grad_to_input(Sum.apply(zero, dims, keepdim, D.int64), shape, dims, keepdim)
        # with one zero in a slice, that element's gradient is the product of the others
        others = _grad_to_input(Prod.apply(where(zero, 1.0, x), dims, keepdim, None), shape, dims,
                                keepdim)
        gx = where(zero, where(nzeros == 1, g * others, 0.0), g * out / where(zero, 1.0, x))
        return gx, None, None, None


@op()
def prod(input, dim=None, keepdim=False, *, dtype=None):
    """Product of elements (over all, or one dim).

    >>> import numtorch as torch
    >>> torch.prod(torch.tensor([1, 2, 3, 4]))
    tensor(24)
    """
    return Prod.apply(input, _dims(input, dim), keepdim, D.to_dtype(dtype) if dtype else None)


def _nonempty(x, dims, name):
    for d in dims:
        if x._data.shape[d] == 0:
            raise IndexError(
                f"{name}(): Expected reduction dim {d} to have non-zero size.")
    if x._data.size == 0 and not dims:
        raise RuntimeError(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify "
            "the reduction dim with the 'dim' argument.")


class AMax(Function):
    kernel = "amax"

    @classmethod
    def forward(cls, ctx, x, dims, keepdim):
        _nonempty(x, dims, cls.kernel)
        out = _reduce(cls.kernel, x, dims, keepdim, x.dtype)
        ctx.save_for_backward(x, out)
        ctx.meta = (x._data.shape, dims, keepdim)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        shape, dims, keepdim = ctx.meta
        mask = (x == _grad_to_input(out, shape, dims, keepdim)).to(g.dtype)
        count = _grad_to_input(Sum.apply(mask, dims, True, None), shape, dims, True)
        # ties share the gradient evenly (PyTorch's amax/amin and full max/min)
        return _grad_to_input(g, shape, dims, keepdim) * mask / count, None, None


class AMin(AMax):
    kernel = "amin"


@op()
def amax(input, dim=(), keepdim=False):
    """The maximum over ``dim`` (all dims by default), values only.

    >>> import numtorch as torch
    >>> torch.amax(torch.tensor([[1, 5], [7, 2]]), dim=0)
    tensor([7, 5])
    """
    return AMax.apply(input, _dims(input, dim), keepdim)


@op()
def amin(input, dim=(), keepdim=False):
    """The minimum over ``dim`` (all dims by default), values only.

    >>> import numtorch as torch
    >>> torch.amin(torch.tensor([[1, 5], [7, 2]]), dim=0)
    tensor([1, 2])
    """
    return AMin.apply(input, _dims(input, dim), keepdim)


def _along(input, dim, keepdim):
    """``(input, dim, keepdim)`` for a reduction along one ``dim``: a 0-d input reduces as one
    element along dim 0 or -1 and gives a 0-d result, even with ``keepdim`` (PyTorch's rule)."""
    d = input._dim(dim)
    if input.ndim == 0:
        return input.reshape(1), 0, False
    return input, d, keepdim


class MaxDim(Function):
    kernel = "max_index"

    @classmethod
    def forward(cls, ctx, x, dim, keepdim):
        _nonempty(x, (dim,), "max" if cls.kernel == "max_index" else "min")
        arr = _canon(x, (dim,))
        vals = empty((arr.shape[0], arr.shape[2]), x.dtype, x.device)
        idx = empty((arr.shape[0], arr.shape[2]), D.int64, x.device)
        getattr(kernels(x.device).reduce, cls.kernel)(arr, vals._data, idx._data)
        shape = _out_shape(x._data.shape, (dim,), keepdim)
        vals = vals._view_of(vals._data.reshape(shape))
        idx = idx._view_of(idx._data.reshape(shape))
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(idx)
        ctx.meta = (x._data.shape, dim, keepdim)
        return vals, idx

    @staticmethod
    def backward(ctx, g, _gi):
        idx, = ctx.saved_tensors
        shape, dim, keepdim = ctx.meta
        if not keepdim:
            g, idx = g.unsqueeze(dim), idx.unsqueeze(dim)
        from .._creation import zeros
        # the gradient goes to the selected index only (PyTorch's max/min along a dim)
        return zeros(shape, dtype=g.dtype, device=g.device).scatter(dim, idx, g), None, None


class MinDim(MaxDim):
    kernel = "min_index"


@op()
def max(input, dim=None, keepdim=False, *, out=None):
    """Largest element; with ``dim``: ``(values, indices)``; with a tensor: ``maximum``.

    >>> import numtorch as torch
    >>> x = torch.tensor([[1, 5], [7, 2]])
    >>> torch.max(x)
    tensor(7)
    >>> values, indices = torch.max(x, dim=1)
    >>> values, indices
    (tensor([5, 7]), tensor([1, 0]))
    """
    if isinstance(dim, Tensor):
        from .elementwise import maximum
        return maximum(input, dim)
    if dim is None:
        return AMax.apply(input, _dims(input, None), False)
    return values_indices(*MaxDim.apply(*_along(input, dim, keepdim)))


@op()
def min(input, dim=None, keepdim=False, *, out=None):
    """Smallest element; with ``dim``: ``(values, indices)``; with a tensor: ``minimum``.

    >>> import numtorch as torch
    >>> x = torch.tensor([[1, 5], [7, 2]])
    >>> torch.min(x)
    tensor(1)
    >>> torch.min(x, dim=1).indices
    tensor([0, 1])
    """
    if isinstance(dim, Tensor):
        from .elementwise import minimum
        return minimum(input, dim)
    if dim is None:
        return AMin.apply(input, _dims(input, None), False)
    return values_indices(*MinDim.apply(*_along(input, dim, keepdim)))


@op()
def aminmax(input, *, dim=None, keepdim=False):
    """``(min, max)`` over all elements or ``dim``.

    >>> import numtorch as torch
    >>> mn, mx = torch.aminmax(torch.tensor([3, 1, 4]))
    >>> mn, mx
    (tensor(1), tensor(4))
    """
    return namedtuple("aminmax", ["min", "max"])(amin(input, dim if dim is not None else (), keepdim),
                                                 amax(input, dim if dim is not None else (), keepdim))


def _arg(kernel, input, dim, keepdim):
    if dim is None:
        x = input.reshape(-1)
        _nonempty(x, (0,), "argmax" if kernel == "max_index" else "argmin")
        arr = x._data if x._data.flags.c_contiguous else _contig(x)
        arr = arr.reshape(1, -1, 1)
        shape = (1,) * input.ndim if keepdim else ()
    else:
        input, d, keepdim = _along(input, dim, keepdim)
        _nonempty(input, (d,), "argmax" if kernel == "max_index" else "argmin")
        arr = _canon(input, (d,))
        shape = _out_shape(input._data.shape, (d,), keepdim)
    vals = empty((arr.shape[0], arr.shape[2]), input.dtype, input.device)
    idx = empty((arr.shape[0], arr.shape[2]), D.int64, input.device)
    getattr(kernels(input.device).reduce, kernel)(arr, vals._data, idx._data)
    return idx._view_of(idx._data.reshape(shape))


@op()
def argmax(input, dim=None, keepdim=False):
    """Index of the first maximum (flattened when ``dim`` is None).

    >>> import numtorch as torch
    >>> torch.argmax(torch.tensor([[1, 5], [7, 2]]), dim=1)
    tensor([1, 0])
    """
    return _arg("max_index", input, dim, keepdim)


@op()
def argmin(input, dim=None, keepdim=False):
    """Index of the first minimum (flattened when ``dim`` is None).

    >>> import numtorch as torch
    >>> torch.argmin(torch.tensor([3, 1, 4]))
    tensor(1)
    """
    return _arg("min_index", input, dim, keepdim)


class Var(Function):
    @staticmethod
    def forward(ctx, x, dims, correction, keepdim):
        out = _reduce("var", x, dims, keepdim, x.dtype, correction)
        ctx.save_for_backward(x)
        n = _prod([x._data.shape[d] for d in dims])
        ctx.meta = (x._data.shape, dims, keepdim, builtins.max(n - correction, 0))
        return out

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        shape, dims, keepdim, denom = ctx.meta
        m = mean(x, dims, keepdim=True)
        return _grad_to_input(g, shape, dims, keepdim) * 2 * (x - m) / denom, None, None, None


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


@op()
def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance with Bessel's ``correction`` (default 1).

    >>> import numtorch as torch
    >>> torch.var(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    tensor(1.6667)
    """
    if isinstance(dim, bool):  # var(x, False): the old positional unbiased
        dim, unbiased = None, dim
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"std and var only support floating point and complex dtypes")
    return Var.apply(input, _dims(input, dim), _correction(unbiased, correction), keepdim)


@op()
def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation (sqrt of ``var``).

    >>> import numtorch as torch
    >>> torch.std(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    tensor(1.2910)
    """
    return sqrt(var(input, dim, unbiased, keepdim, correction=correction))


@op()
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(var, mean)`` in one call.

    >>> import numtorch as torch
    >>> torch.var_mean(torch.tensor([1.0, 2.0, 3.0]))
    (tensor(1.), tensor(2.))
    """
    return (var(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))


@op()
def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(std, mean)`` in one call.

    >>> import numtorch as torch
    >>> torch.std_mean(torch.tensor([1.0, 2.0, 3.0]))
    (tensor(1.), tensor(2.))
    """
    return (std(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        out = _reduce("logsumexp", x, dims, keepdim, x.dtype)
        ctx.save_for_backward(x, out)
        ctx.meta = (x._data.shape, dims, keepdim)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        shape, dims, keepdim = ctx.meta
        return (_grad_to_input(g, shape, dims, keepdim)
                * exp(x - _grad_to_input(out, shape, dims, keepdim)), None, None)


@op()
def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(x))) computed stably.

    >>> import numtorch as torch
    >>> torch.logsumexp(torch.tensor([0.0, 0.0]), dim=0)
    tensor(0.6931)
    """
    if not input.dtype.is_floating_point:
        input = input.to(D.get_default_dtype())
    return LogSumExp.apply(input, _dims(input, dim), keepdim)


class Norm2(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        out = sqrt(Sum.apply(x * x, dims, keepdim, None))
        ctx.save_for_backward(x, out)
        ctx.meta = (x._data.shape, dims, keepdim)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        shape, dims, keepdim = ctx.meta
        o = _grad_to_input(out, shape, dims, keepdim)
        # 0 at the origin (PyTorch's subgradient), not 0/0
        return _grad_to_input(g, shape, dims, keepdim) * x / where(o == 0, 1.0, o) * (o != 0).to(x.dtype), None, None


@op()
def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector p-norm over ``dim`` (2/'fro' by default; inf, -inf, 0, 1 and any real p).

    >>> import numtorch as torch
    >>> torch.norm(torch.tensor([3.0, 4.0]))
    tensor(5.)
    """
    if dtype is not None:
        input = input.to(dtype)
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got {input.dtype.name.capitalize()}")
    dims = _dims(input, dim)
    if p in ("fro", 2, 2.0, None):
        return Norm2.apply(input, dims, keepdim)
    a = input.abs()
    if p == float("inf"):
        return AMax.apply(a, dims, keepdim)
    if p == float("-inf"):
        return AMin.apply(a, dims, keepdim)
    if p == 0:
        return Sum.apply((a != 0).to(input.dtype), dims, keepdim, None)
    if p == 1:
        return Sum.apply(a, dims, keepdim, None)
    if p == "nuc":
        raise NotImplementedError("nuclear norm is not implemented in numtorch")
    return Sum.apply(a ** p, dims, keepdim, None) ** (1.0 / p)


@op()
def all(input, dim=None, keepdim=False):
    """True where every element is nonzero.

    >>> import numtorch as torch
    >>> torch.all(torch.tensor([True, False])), torch.all(torch.tensor([[1, 0], [1, 1]]), dim=1)
    (tensor(False), tensor([False,  True]))
    """
    return _reduce("all_", input, _dims(input, dim), keepdim, D.bool)


@op()
def any(input, dim=None, keepdim=False):
    """True where some element is nonzero.

    >>> import numtorch as torch
    >>> torch.any(torch.tensor([0, 2])), torch.any(torch.tensor([[0, 0], [1, 0]]), dim=1)
    (tensor(True), tensor([False,  True]))
    """
    return _reduce("any_", input, _dims(input, dim), keepdim, D.bool)


@op()
def count_nonzero(input, dim=None):
    """The number of nonzero elements (over ``dim`` if given).

    >>> import numtorch as torch
    >>> torch.count_nonzero(torch.tensor([[0, 1], [2, 3]]), dim=1)
    tensor([1, 2])
    """
    return Sum.apply(input != 0, _dims(input, dim), False, D.int64)


def _scan(kernel, x, dim, dtype):
    """(x cast to the scan's dtype, running ``kernel`` of it along ``dim``)."""
    if dtype is None:
        dtype = x.dtype if x.dtype.is_floating_point else D.int64
    if x.dtype is not dtype:
        x = _core.cast(x, dtype)
    if x.ndim == 0:
        return x, x.clone()
    arr = _canon(x, (dim,))
    out = empty(arr.shape, dtype, x.device)
    getattr(kernels(x.device).reduce, kernel)(arr, out._data)
    return x, out._view_of(out._data.reshape(x._data.shape))


class CumSum(Function):
    @staticmethod
    def forward(ctx, x, dim, dtype):
        ctx.dim = dim
        return _scan("cumsum", x, dim, dtype)[1]

    @staticmethod
    def backward(ctx, g):
        if g.ndim == 0:
            return g, None, None
        return g.flip(ctx.dim).cumsum(ctx.dim).flip(ctx.dim), None, None


@op()
def cumsum(input, dim, *, dtype=None):
    """Running sum along ``dim``.

    >>> import numtorch as torch
    >>> torch.cumsum(torch.tensor([1, 2, 3]), dim=0)
    tensor([1, 3, 6])
    """
    return CumSum.apply(input, input._dim(dim), D.to_dtype(dtype) if dtype else None)


class CumProd(Function):
    @staticmethod
    def forward(ctx, x, dim, dtype):
        ctx.dim = dim
        x, out = _scan("cumprod", x, dim, dtype)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        d = ctx.dim
        if g.ndim == 0:
            return g, None, None
        # Before the first zero z of a slice: d/dx_i = sum_{j>=i} g_j out_j / x_i. At z:
        # prod_{k<z} x_k * sum_{j>=z} g_j prod_{z<k<=j} x_k. After z: 0. All Tensor ops.
        zero = x == 0
        seen = zero.cumsum(d)
        before = seen == 0
        first = zero & (seen == 1)
        safe_x = where(before, x, 1.0)
        fast = (g * out).flip(d).cumsum(d).flip(d) / safe_x
        lead = safe_x.cumprod(d)  # prod_{k<z} x_k from z on
        tail = where(before | first, 1.0, x).cumprod(d)  # prod_{z<k<=j} x_k for j >= z
        at_zero = lead * (g * tail * (~before).to(g.dtype)).sum(d, keepdim=True)
        return where(before, fast, where(first, at_zero, 0.0)), None, None


@op()
def cumprod(input, dim, *, dtype=None):
    """Running product along ``dim``.

    >>> import numtorch as torch
    >>> torch.cumprod(torch.tensor([1, 2, 3]), dim=0)
    tensor([1, 2, 6])
    """
    return CumProd.apply(input, input._dim(dim), D.to_dtype(dtype) if dtype else None)


class Softmax(Function):
    kernel = "softmax"

    @classmethod
    def forward(cls, ctx, x, dim):
        if x.ndim == 0:
            x = x.reshape(1)
            scalar = True
        else:
            scalar = False
        arr = _canon(x, (dim,))
        out = empty(arr.shape, x.dtype, x.device)
        getattr(kernels(x.device).reduce, cls.kernel)(arr, out._data)
        out = out._view_of(out._data.reshape(() if scalar else x._data.shape))
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        if y.ndim == 0:
            return g * 0, None
        return y * (g - (g * y).sum(ctx.dim, keepdim=True)), None


class LogSoftmax(Softmax):
    kernel = "log_softmax"

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        if y.ndim == 0:
            return g * 0, None
        return g - exp(y) * g.sum(ctx.dim, keepdim=True), None


def _softmax_input(input, dim, dtype):
    if dtype is not None:
        input = input.to(dtype)
    elif not input.dtype.is_floating_point:
        raise RuntimeError(f"\"softmax_lastdim_kernel_impl\" not implemented for '{input.dtype.name.capitalize()}'")
    if dim is None:
        dim = 0 if input.ndim in (0, 1, 3) else 1  # PyTorch's legacy implicit choice
    return input, input._dim(dim)


@op(functional=True)
def softmax(input, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``, computed stably in one kernel.

    >>> import numtorch as torch
    >>> torch.softmax(torch.tensor([0.0, 0.0, 0.0, 0.0]), dim=0)
    tensor([0.2500, 0.2500, 0.2500, 0.2500])
    """
    input, d = _softmax_input(input, dim, dtype)
    return Softmax.apply(input, d)


@op(functional=True)
def log_softmax(input, dim=None, dtype=None):
    """log(softmax(x)) along ``dim`` without overflow.

    >>> import numtorch as torch
    >>> torch.log_softmax(torch.tensor([0.0, 0.0]), dim=0)
    tensor([-0.6931, -0.6931])
    """
    input, d = _softmax_input(input, dim, dtype)
    return LogSoftmax.apply(input, d)
