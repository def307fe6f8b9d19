"""Convolution and pooling: fused primitives with dedicated backward kernels
(kernels/cpu/conv.py), and PyTorch's ``nn.functional`` entry points around them.

Every primitive works on 4-D NCHW tensors; the 1-D functions run the 2-D ones on a height-1 view
and unbatched inputs get a batch dimension of one, both through differentiable view ops.
"""
import math

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.function import Function, once_differentiable
from . import _core
from ._core import empty, kernels, same_device

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d",
           "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d"]


# --------------------------------------------------------------------------------------------
# Argument handling.
# --------------------------------------------------------------------------------------------
def _tuple(v, n, name, op):
    if isinstance(v, (list, tuple)):
        v = tuple(int(e) for e in v)
        if len(v) == 1 and n > 1:
            v = v * n
        if len(v) != n:
            raise RuntimeError(
                f"expected {name} to be a single integer value or a list of {n} values to match "
                f"the {op} dimensions, but got {name}={list(v)}")
        return v
    return (int(v),) * n


def _sizes(shape):
    return "[" + ", ".join(map(str, shape)) + "]"


def _check_float(*ts):
    dt = ts[0].dtype
    for t in ts:
        if t is None:
            continue
        if not t.dtype.is_floating_point or t.dtype.np not in (np.float32, np.float64):
            raise RuntimeError(f"numtorch convolution and pooling support float32 and float64, "
                               f"got {t.dtype}")
        if t.dtype is not dt:
            raise RuntimeError(f"Input type ({dt}) and weight/bias type ({t.dtype}) should be "
                               "the same")


def _c(t, dtype=None):
    """The C-contiguous array of a tensor (on its device), cast to ``dtype`` if given."""
    if dtype is not None and t.dtype is not dtype:
        t = _core.cast(t, dtype)
    a = t._data
    return a if a.flags.c_contiguous else t.contiguous()._data


def _new(shape, dtype, device):
    """A raw output array on ``device`` (a gradient the kernel writes)."""
    return empty(shape, dtype, device)._data


def _K(t):
    return kernels(t.device).conv


# --------------------------------------------------------------------------------------------
# Primitives.
# --------------------------------------------------------------------------------------------
class Conv2d(Function):
    """x (N, C, H, W), w (O, C/groups, KH, KW), bias (O,) or None -> (N, O, OH, OW).
    ``geom`` = (sh, sw, ph, pw, dh, dw, groups, OH, OW), ph/pw the leading pads."""

    @staticmethod
    def forward(ctx, x, w, bias, geom):
        sh, sw, ph, pw, dh, dw, groups, oh, ow = geom
        xa, wa = _c(x), _c(w)
        n, c = xa.shape[:2]
        o, cg, kh, kw = wa.shape
        out = empty((n, o, oh, ow), x.dtype, x.device)
        K = _K(x)
        cs = K.conv2d_cols_shape(xa.shape, wa.shape, out._data.shape)
        cols = None if cs is None else _new(cs, x.dtype, x.device)
        K.conv2d_forward(xa, wa, None if bias is None else _c(bias),
                         sh, sw, ph, pw, dh, dw, groups, cols, out._data)
        ctx.save_for_backward(x, w)
        ctx.cols = cols
        ctx.geom = geom
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        sh, sw, ph, pw, dh, dw, groups, _, _ = ctx.geom
        need = ctx.needs_input_grad
        gx = _new(x._data.shape, x.dtype, x.device) if need[0] else None
        gw = _new(w._data.shape, w.dtype, w.device) if need[1] else None
        gb = _new((w._data.shape[0],), w.dtype, w.device) if need[2] else None
        K = _K(x)
        K.conv2d_backward(_c(g, x.dtype), _c(x), _c(w), ctx.cols, sh, sw, ph, pw, dh, dw,
                          groups, gx, gw, gb)
        ctx.cols = None
        wrap = (lambda a: None if a is None else Tensor._make(a, x.dtype, x.device))
        return wrap(gx), wrap(gw), wrap(gb), None


class ConvTranspose2d(Function):
    """x (N, C, H, W), w (C, O/groups, KH, KW), bias (O,) or None -> (N, O, OH, OW).
    ``geom`` = (sh, sw, ph, pw, dh, dw, groups, OH, OW)."""

    @staticmethod
    def forward(ctx, x, w, bias, geom):
        sh, sw, ph, pw, dh, dw, groups, oh, ow = geom
        xa, wa = _c(x), _c(w)
        out = empty((xa.shape[0], wa.shape[1] * groups, oh, ow), x.dtype, x.device)
        _K(x).conv_transpose2d_forward(xa, wa, None if bias is None else _c(bias),
                                   sh, sw, ph, pw, dh, dw, groups, out._data)
        ctx.save_for_backward(x, w)
        ctx.geom = geom
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        sh, sw, ph, pw, dh, dw, groups, _, _ = ctx.geom
        need = ctx.needs_input_grad
        gx = _new(x._data.shape, x.dtype, x.device) if need[0] else None
        gw = _new(w._data.shape, w.dtype, w.device) if need[1] else None
        gb = _new((g._data.shape[1],), w.dtype, w.device) if need[2] else None
        K = _K(x)
        K.conv_transpose2d_backward(_c(g, x.dtype), _c(x), _c(w), sh, sw, ph, pw,
                                    dh, dw, groups, gx, gw, gb)
        wrap = (lambda a: None if a is None else Tensor._make(a, x.dtype, x.device))
        return wrap(gx), wrap(gw), wrap(gb), None


class MaxPool2d(Function):
    """x (N, C, H, W) -> (values, int64 argmax indices within each plane)."""

    @staticmethod
    def forward(ctx, x, geom):
        kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = geom
        xa = _c(x)
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
        gx = _new(ctx.in_shape, g.dtype, g.device)
        _K(g).max_pool2d_backward(_c(g), idx._data, gx)
        return Tensor._make(gx, g.dtype, g.device), None


class AvgPool2d(Function):
    """x (N, C, H, W) -> window means; geom = (kh, kw, sh, sw, ph, pw, include_pad, divisor,
    OH, OW) with divisor 0 for none."""

    @staticmethod
    def forward(ctx, x, geom):
        kh, kw, sh, sw, ph, pw, inc, div, oh, ow = geom
        xa = _c(x)
        out = empty(xa.shape[:2] + (oh, ow), x.dtype, x.device)
        _K(x).avg_pool2d(xa, kh, kw, sh, sw, ph, pw, inc, div, out._data)
        ctx.geom = geom
        ctx.in_shape = xa.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        kh, kw, sh, sw, ph, pw, inc, div, _, _ = ctx.geom
        gx = _new(ctx.in_shape, g.dtype, g.device)
        _K(g).avg_pool2d_backward(_c(g), kh, kw, sh, sw, ph, pw, inc, div, gx)
        return Tensor._make(gx, g.dtype, g.device), None


class AdaptiveAvgPool2d(Function):
    """x (N, C, H, W) -> (N, C, OH, OW) means over PyTorch's adaptive windows."""

    @staticmethod
    def forward(ctx, x, size):
        xa = _c(x)
        out = empty(xa.shape[:2] + tuple(size), x.dtype, x.device)
        _K(x).adaptive_avg_pool2d(xa, out._data)
        ctx.in_shape = xa.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        gx = _new(ctx.in_shape, g.dtype, g.device)
        _K(g).adaptive_avg_pool2d_backward(_c(g), gx)
        return Tensor._make(gx, g.dtype, g.device), None


# --------------------------------------------------------------------------------------------
# Convolution API.
# --------------------------------------------------------------------------------------------
def _conv_prepare(input, weight, bias, stride, padding, dilation, groups, nd, op):
    """Validate like PyTorch; returns (batched input, weight, leading pads, geometry)."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}() argument 'input' and 'weight' must be Tensor")
    same_device(input, weight, *([bias] if bias is not None else []))
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {op}, "
                           f"but got input of size: {_sizes(input.shape)}")
    if weight.ndim != nd + 2:
        raise RuntimeError(f"weight should have {nd + 2} dimensions for {op}, but got weight of "
                           f"size {_sizes(weight.shape)}")
    _check_float(input, weight, bias)
    batched = input.ndim == nd + 2
    xs = tuple(input.shape) if batched else (1,) + tuple(input.shape)
    ws = tuple(weight.shape)
    stride = _tuple(stride, nd, "stride", "convolution")
    dilation = _tuple(dilation, nd, "dilation", "convolution")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("non-positive dilation is not supported")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if ws[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of size [{_sizes(ws)}] instead")
    if xs[1] != ws[1] * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {_sizes(ws)}, expected input{_sizes(xs)} to "
            f"have {ws[1] * groups} channels, but got {xs[1]} channels instead")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != ws[0]):
        raise RuntimeError(f"Given weight of size {_sizes(ws)}, expected bias to be 1-dimensional "
                           f"with {ws[0]} elements, but got bias of size {_sizes(bias.shape)} "
                           "instead")
    ks = ws[2:]
    eff = tuple(d * (k - 1) + 1 for d, k in zip(dilation, ks))
    if isinstance(padding, str):
        if padding == "valid":
            pads = tuple((0, 0) for _ in range(nd))
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            pads = tuple(((e - 1) // 2, (e - 1) - (e - 1) // 2) for e in eff)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        p = _tuple(padding, nd, "padding", "convolution")
        if any(v < 0 for v in p):
            raise RuntimeError("negative padding is not supported")
        pads = tuple((v, v) for v in p)
    spatial = xs[2:]
    padded = tuple(s + a + b for s, (a, b) in zip(spatial, pads))
    if any(pv < e for pv, e in zip(padded, eff)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). Kernel "
            f"size: ({' x '.join(map(str, eff))}). Kernel size can't be greater than actual input "
            "size")
    outs = tuple((pv - e) // s + 1 for pv, e, s in zip(padded, eff, stride))
    x = input if batched else input.unsqueeze(0)
    if nd == 1:  # height-1 view
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
        stride, dilation, pads, outs = (1,) + stride, (1,) + dilation, ((0, 0),) + pads, (1,) + outs
    geom = (stride[0], stride[1], pads[0][0], pads[1][0], dilation[0], dilation[1], groups,
            outs[0], outs[1])
    return x, weight, batched, geom


def _conv(input, weight, bias, stride, padding, dilation, groups, nd, op):
    x, w, batched, geom = _conv_prepare(input, weight, bias, stride, padding, dilation, groups,
                                        nd, op)
    out = Conv2d.apply(x, w, bias, geom)
    if nd == 1:
        out = out.squeeze(2)
    return out if batched else out.squeeze(0)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over (N, C, H, W) or unbatched (C, H, W) input.

    ``padding`` is an int, a pair, ``'valid'`` or ``'same'`` (stride 1; the odd pixel of an even
    kernel goes to the bottom/right, as in PyTorch).

    >>> import numtorch as torch
    >>> from numtorch.ops.conv import conv2d
    >>> conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)).tolist()
    [[[[4.0, 4.0], [4.0, 4.0]]]]
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over (N, C, L) or unbatched (C, L) input (conv2d on a height-1 view).

    >>> import numtorch as torch
    >>> from numtorch.ops.conv import conv1d
    >>> conv1d(torch.ones(1, 1, 4), torch.ones(1, 1, 2)).tolist()
    [[[2.0, 2.0, 2.0]]]
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, nd,
                    op):
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}() argument 'input' and 'weight' must be Tensor")
    same_device(input, weight, *([bias] if bias is not None else []))
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {op}, "
                           f"but got input of size: {_sizes(input.shape)}")
    if weight.ndim != nd + 2:
        raise RuntimeError(f"weight should have {nd + 2} dimensions for {op}, but got weight of "
                           f"size {_sizes(weight.shape)}")
    _check_float(input, weight, bias)
    batched = input.ndim == nd + 2
    xs = tuple(input.shape) if batched else (1,) + tuple(input.shape)
    ws = tuple(weight.shape)
    stride = _tuple(stride, nd, "stride", "convolution")
    pad = _tuple(padding, nd, "padding", "convolution")
    opad = _tuple(output_padding, nd, "output_padding", "convolution")
    dilation = _tuple(dilation, nd, "dilation", "convolution")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("non-positive dilation is not supported")
    if any(v < 0 for v in pad):
        raise RuntimeError("negative padding is not supported")
    if any(v < 0 for v in opad):
        raise RuntimeError("negative output_padding is not supported")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if xs[1] != ws[0]:
        raise RuntimeError(
            f"Given transposed=1, weight of size {_sizes(ws)}, expected input{_sizes(xs)} to have "
            f"{ws[0]} channels, but got {xs[1]} channels instead")
    if ws[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of size [{_sizes(ws)}] instead")
    if any(o >= s and o >= d for o, s, d in zip(opad, stride, dilation)):
        s2, d2, o2 = (1,) * (2 - nd) + stride, (1,) * (2 - nd) + dilation, (0,) * (2 - nd) + opad
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding_height: {o2[0]} output_padding_width: {o2[1]} stride_height: "
            f"{s2[0]} stride_width: {s2[1]} dilation_height: {d2[0]} dilation_width: {d2[1]}")
    o_ = ws[1] * groups
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != o_):
        raise RuntimeError(f"Given transposed=1, weight of size {_sizes(ws)}, expected bias to be "
                           f"1-dimensional with {o_} elements, but got bias of size "
                           f"{_sizes(bias.shape)} instead")
    outs = tuple((i - 1) * s - 2 * p + d * (k - 1) + o + 1
                 for i, s, p, d, k, o in zip(xs[2:], stride, pad, dilation, ws[2:], opad))
    if any(v <= 0 for v in outs):
        raise RuntimeError(f"Given input size per channel: ({' x '.join(map(str, xs[2:]))}). "
                           f"Calculated output size per channel: ({' x '.join(map(str, outs))}). "
                           "Output size is too small")
    x = input if batched else input.unsqueeze(0)
    w = weight
    if nd == 1:
        x, w = x.unsqueeze(2), w.unsqueeze(2)
        stride, dilation, pad, outs = (1,) + stride, (1,) + dilation, (0,) + pad, (1,) + outs
    geom = (stride[0], stride[1], pad[0], pad[1], dilation[0], dilation[1], groups,
            outs[0], outs[1])
    out = ConvTranspose2d.apply(x, w, bias, geom)
    if nd == 1:
        out = out.squeeze(2)
    return out if batched else out.squeeze(0)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution; weight (C_in, C_out/groups, KH, KW), as PyTorch's.

    >>> import numtorch as torch
    >>> from numtorch.ops.conv import conv_transpose2d
    >>> conv_transpose2d(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2)).shape
    torch.Size([1, 1, 3, 3])
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2, "conv_transpose2d")


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """1-D transposed convolution (the 2-D one on a height-1 view).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.conv_transpose1d(torch.ones(1, 1, 3), torch.ones(1, 1, 2))
    tensor([[[1., 2., 2., 1.]]])
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 1, "conv_transpose1d")


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
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor")
    if input.ndim not in (nd + 1, nd + 2) or input.numel() == 0 and input.ndim == nd + 1:
        raise RuntimeError(f"non-empty {nd + 1}D or {nd + 2}D (batch mode) tensor expected for "
                           "input")
    _check_float(input)
    ks = _tuple(kernel_size, nd, "kernel_size", "pooling")
    st = ks if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) \
        else _tuple(stride, nd, "stride", "pooling")
    pd = _tuple(padding, nd, "padding", "pooling")
    dl = _tuple(dilation, nd, "dilation", "pooling")
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
        ins = "x".join(map(str, shape[1:]))
        raise RuntimeError(f"Given input size: ({ins}). Calculated output size: "
                           f"({'x'.join(map(str, (shape[1],) + outs))}). Output size is too small")
    x = input if batched else input.unsqueeze(0)
    if nd == 1:
        x = x.unsqueeze(2)
        ks, st, pd, dl, outs = (1,) + ks, (1,) + st, (0,) + pd, (1,) + dl, (1,) + outs
    return x, batched, ks, st, pd, dl, outs


def _unview(out, nd, batched):
    if nd == 1:
        out = out.squeeze(2)
    return out if batched else out.squeeze(0)


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd, op):
    x, batched, ks, st, pd, dl, outs = _pool_prepare(input, kernel_size, stride, padding,
                                                     dilation, ceil_mode, nd, op)
    out, idx = MaxPool2d.apply(x, ks + st + pd + dl + outs)
    out = _unview(out, nd, batched)
    if return_indices:
        return out, _unview(idx, nd, batched)
    return out


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling; with ``return_indices`` also the flat argmax within each plane.

    >>> import numtorch as torch
    >>> from numtorch.ops.conv import max_pool2d
    >>> max_pool2d(torch.arange(16.).reshape(1, 1, 4, 4), 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2,
                     "max_pool2d")


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
    return _unview(out, nd, batched)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling (PyTorch's divisor rules for padding and ``ceil_mode``).

    >>> import numtorch as torch
    >>> from numtorch.ops.conv import avg_pool2d
    >>> avg_pool2d(torch.arange(16.).reshape(1, 1, 4, 4), 2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2, "avg_pool2d")


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
                           f"{_sizes(input.shape)}")
    _check_float(input)
    batched = input.ndim == nd + 2
    x = input if batched else input.unsqueeze(0)
    spatial = tuple(x.shape[2:])
    if isinstance(output_size, (list, tuple)):
        if len(output_size) != nd:
            raise RuntimeError(f"{op}: output_size must be {nd}")
        size = tuple(s if o is None else int(o) for o, s in zip(output_size, spatial))
    else:
        size = (int(output_size),) * nd
    if any(s < 0 for s in size):
        raise RuntimeError(f"{op}: elements of output_size must be greater than or equal to 0 but "
                           f"received {list(size)}")
    for d in range(1, x.ndim):
        if x.shape[d] == 0:
            raise RuntimeError(f"{op}(): Expected input to have non-zero size for non-batch "
                               f"dimensions, but input has sizes {_sizes(input.shape)} with "
                               f"dimension {d - (0 if batched else 1)} being empty")
    if nd == 1:
        x, size = x.unsqueeze(2), (1,) + size
    return _unview(AdaptiveAvgPool2d.apply(x, size), nd, batched)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (``None`` keeps that input size).

    >>> import numtorch as torch
    >>> from numtorch.ops.conv import adaptive_avg_pool2d
    >>> adaptive_avg_pool2d(torch.ones(1, 2, 5, 7), 1).shape
    torch.Size([1, 2, 1, 1])
    """
    return _adaptive(input, output_size, 2, "adaptive_avg_pool2d")


def adaptive_avg_pool1d(input, output_size):
    """1-D adaptive average pooling over (N, C, L) or (C, L).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.adaptive_avg_pool1d(torch.tensor([[[1.0, 2.0, 3.0, 4.0]]]), 2)
    tensor([[[1.5000, 3.5000]]])
    """
    return _adaptive(input, output_size, 1, "adaptive_avg_pool1d")
