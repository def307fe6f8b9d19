"""Pooling: fused primitives with dedicated backward kernels and PyTorch's ``nn.functional``
entry points around them (max, average and adaptive average pooling, 1-D and 2-D).

Every primitive works on 4-D NCHW tensors; the 1-D functions run the 2-D ones on a height-1 view
and unbatched inputs get a batch dimension of one (``_spatial.nchw``).
"""
from .._registry import functional_op
from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.function import Function, once_differentiable
from ._core import Float32Compute, carray, empty, kernels, raw, shape_str
from ._spatial import check_float, expand, nchw, unview


def _K(t):
    return kernels(t.device).pool


# --------------------------------------------------------------------------------------------
# Primitives.
# --------------------------------------------------------------------------------------------
class MaxPool2d(Float32Compute, Function):
    """x (N, C, H, W) -> (values, int64 argmax indices within each plane)."""

    @staticmethod
    def forward(ctx, x, geom):
        kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = geom
        xa = carray(x)
        n, c = xa.shape[:2]
        out = empty((n, c, oh, ow), x.dtype, x.device)
        idx = empty((n, c, oh, ow), D.int64, x.device)
        _K(x).max_pool2d(xa, kh, kw, sh, sw, ph, pw, dh, dw, out._data, idx._data)
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(idx)
        ctx.in_shape = xa.shape
        return out, idx

    @staticmethod
    @once_differentiable
    def backward(ctx, g, _gidx):
        idx, = ctx.saved_tensors
        gx = raw(ctx.in_shape, g.dtype, g.device)
        _K(g).max_pool2d_backward(carray(g), idx._data, gx)
        return Tensor._make(gx, g.dtype, g.device), None


class AvgPool2d(Float32Compute, Function):
    """x (N, C, H, W) -> window means; geom = (kh, kw, sh, sw, ph, pw, include_pad, divisor,
    OH, OW) with divisor 0 for none."""

    @staticmethod
    def forward(ctx, x, geom):
        kh, kw, sh, sw, ph, pw, inc, div, oh, ow = geom
        xa = carray(x)
        out = empty(xa.shape[:2] + (oh, ow), x.dtype, x.device)
        _K(x).avg_pool2d(xa, kh, kw, sh, sw, ph, pw, inc, div, out._data)
        ctx.geom = geom
        ctx.in_shape = xa.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        kh, kw, sh, sw, ph, pw, inc, div, _, _ = ctx.geom
        gx = raw(ctx.in_shape, g.dtype, g.device)
        _K(g).avg_pool2d_backward(carray(g), kh, kw, sh, sw, ph, pw, inc, div, gx)
        return Tensor._make(gx, g.dtype, g.device), None


class AdaptiveAvgPool2d(Float32Compute, Function):
    """x (N, C, H, W) -> (N, C, OH, OW) means over PyTorch's adaptive windows."""

    @staticmethod
    def forward(ctx, x, size):
        xa = carray(x)
        out = empty(xa.shape[:2] + tuple(size), x.dtype, x.device)
        _K(x).adaptive_avg_pool2d(xa, out._data)
        ctx.in_shape = xa.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        gx = raw(ctx.in_shape, g.dtype, g.device)
        _K(g).adaptive_avg_pool2d_backward(carray(g), gx)
        return Tensor._make(gx, g.dtype, g.device), None


# --------------------------------------------------------------------------------------------
# Pooling API.
# --------------------------------------------------------------------------------------------
def _pool_out(size, k, s, p, d, ceil_mode):
    # PyTorch's pooling_output_shape: with ceil_mode the last window must start inside the
    # input or its left padding
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    o = num // s + 1
    if ceil_mode and (o - 1) * s >= size + p:
        o -= 1
    return o


def _pool_prepare(input, kernel_size, stride, padding, dilation, ceil_mode, nd, op):
    """Validate like PyTorch; returns (4-D input, batched, and the 2-D kernel size, stride,
    padding, dilation and output size)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor")
    if input.ndim not in (nd + 1, nd + 2) or input.numel() == 0 and input.ndim == nd + 1:
        raise RuntimeError(f"non-empty {nd + 1}D or {nd + 2}D (batch mode) tensor expected for "
                           "input")
    check_float(input)
    ks = expand(kernel_size, nd, "kernel_size", "pooling")
    st = ks if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) \
        else expand(stride, nd, "stride", "pooling")
    pd = expand(padding, nd, "padding", "pooling")
    dl = expand(dilation, nd, "dilation", "pooling")
    if any(k <= 0 for k in ks):
        raise RuntimeError(f"kernel_size must be greater than zero, but got {list(ks)}")
    if any(s <= 0 for s in st):
        raise RuntimeError("stride should not be zero" if 0 in st else
                           "stride must be greater than zero")
    if any(d <= 0 for d in dl):
        raise RuntimeError(f"dilation must be greater than zero, but got {list(dl)}")
    for k, p, d in zip(ks, pd, dl):
        if p < 0 or p > ((k - 1) * d + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got "
                               f"pad={p}, kernel_size={k} and dilation={d}")
    batched = input.ndim == nd + 2
    shape = tuple(input.shape) if batched else (1,) + tuple(input.shape)
    outs = tuple(_pool_out(i, k, s, p, d, ceil_mode)
                 for i, k, s, p, d in zip(shape[2:], ks, st, pd, dl))
    if any(o < 1 for o in outs):
        raise RuntimeError(f"Given input size: ({shape_str(shape[1:], 'x')}). Calculated output "
                           f"size: ({shape_str((shape[1],) + outs, 'x')}). Output size is too "
                           "small")
    x, _ = nchw(input, nd)
    if nd == 1:  # height-1 view
        ks, st, pd, dl, outs = (1,) + ks, (1,) + st, (0,) + pd, (1,) + dl, (1,) + outs
    return x, batched, ks, st, pd, dl, outs


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd, op):
    x, batched, ks, st, pd, dl, outs = _pool_prepare(input, kernel_size, stride, padding,
                                                     dilation, ceil_mode, nd, op)
    out, idx = MaxPool2d.apply(x, ks + st + pd + dl + outs)
    out = unview(out, nd, batched)
    if return_indices:
        return out, unview(idx, nd, batched)
    return out


@functional_op()
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling; with ``return_indices`` also the flat argmax within each plane.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.max_pool2d(torch.arange(16.).reshape(1, 1, 4, 4), 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2,
                     "max_pool2d")


@functional_op()
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-D max pooling over (N, C, L) or (C, L).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.max_pool1d(torch.tensor([[[1.0, 3.0, 2.0, 4.0]]]), 2)
    tensor([[[3., 4.]]])
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1,
                     "max_pool1d")


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
              nd, op):
    x, batched, ks, st, pd, _, outs = _pool_prepare(input, kernel_size, stride, padding, 1,
                                                    ceil_mode, nd, op)
    div = 0
    if divisor_override is not None:
        div = int(divisor_override)
        if div == 0:
            raise RuntimeError("divisor must be not zero")
    out = AvgPool2d.apply(x, ks + st + pd + (bool(count_include_pad), div) + outs)
    return unview(out, nd, batched)


@functional_op()
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling (PyTorch's divisor rules for padding and ``ceil_mode``).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.avg_pool2d(torch.arange(16.).reshape(1, 1, 4, 4), 2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2, "avg_pool2d")


@functional_op()
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """1-D average pooling over (N, C, L) or (C, L).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.avg_pool1d(torch.tensor([[[1.0, 2.0, 3.0, 4.0]]]), 2)
    tensor([[[1.5000, 3.5000]]])
    """
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1,
                     "avg_pool1d")


def _adaptive(input, output_size, nd, op):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}(): Expected {nd + 1}D or {nd + 2}D tensor, but got "
                           f"{shape_str(input.shape)}")
    check_float(input)
    batched = input.ndim == nd + 2
    shape = tuple(input.shape) if batched else (1,) + tuple(input.shape)
    spatial = shape[2:]
    if isinstance(output_size, (list, tuple)):
        if len(output_size) != nd:
            raise RuntimeError(f"{op}: output_size must be {nd}")
        size = tuple(s if o is None else int(o) for o, s in zip(output_size, spatial))
    else:
        size = (int(output_size),) * nd
    if any(s < 0 for s in size):
        raise RuntimeError(f"{op}: elements of output_size must be greater than or equal to 0 but "
                           f"received {list(size)}")
    for d in range(1, len(shape)):
        if shape[d] == 0:
            raise RuntimeError(f"{op}(): Expected input to have non-zero size for non-batch "
                               f"dimensions, but input has sizes {shape_str(input.shape)} with "
                               f"dimension {d - (0 if batched else 1)} being empty")
    x, _ = nchw(input, nd)
    if nd == 1:  # height-1 view
        size = (1,) + size
    return unview(AdaptiveAvgPool2d.apply(x, size), nd, batched)


@functional_op()
def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (``None`` keeps that input size).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.adaptive_avg_pool2d(torch.ones(1, 2, 5, 7), 1).shape
    torch.Size([1, 2, 1, 1])
    """
    return _adaptive(input, output_size, 2, "adaptive_avg_pool2d")


@functional_op()
def adaptive_avg_pool1d(input, output_size):
    """1-D adaptive average pooling over (N, C, L) or (C, L).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.adaptive_avg_pool1d(torch.tensor([[[1.0, 2.0, 3.0, 4.0]]]), 2)
    tensor([[[1.5000, 3.5000]]])
    """
    return _adaptive(input, output_size, 1, "adaptive_avg_pool1d")
