"""Convolution: fused primitives with dedicated backward kernels (``kernels/<device>/conv.py``)
and PyTorch's ``nn.functional`` entry points around them.

Every primitive works on 4-D NCHW tensors; the 1-D functions run the 2-D ones on a height-1 view
and unbatched inputs get a batch dimension of one (``_spatial.nchw``). Pooling is in ``pool.py``.
"""
from .._registry import functional_op
from .._tensor import Tensor
from ..autograd.function import Function, once_differentiable
from ._core import Float32Compute, carray, empty, kernels, raw, same_device, shape_str
from ._spatial import check_float, expand, nchw, unview


def _K(t):
    return kernels(t.device).conv


# --------------------------------------------------------------------------------------------
# Primitives.
# --------------------------------------------------------------------------------------------
class Conv2d(Float32Compute, Function):
    """x (N, C, H, W), w (O, C/groups, KH, KW), bias (O,) or None -> (N, O, OH, OW).
    ``geom`` = (sh, sw, ph, pw, dh, dw, groups, OH, OW), ph/pw the leading pads."""

    @staticmethod
    def forward(ctx, x, w, bias, geom):
        sh, sw, ph, pw, dh, dw, groups, oh, ow = geom
        xa, wa = carray(x), carray(w)
        n, c = xa.shape[:2]
        o, cg, kh, kw = wa.shape
        out = empty((n, o, oh, ow), x.dtype, x.device)
        K = _K(x)
        cs = K.conv2d_cols_shape(xa.shape, wa.shape, out._data.shape)
        cols = None if cs is None else raw(cs, x.dtype, x.device)
        K.conv2d_forward(xa, wa, None if bias is None else carray(bias),
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
        gx = raw(x._data.shape, x.dtype, x.device) if need[0] else None
        gw = raw(w._data.shape, w.dtype, w.device) if need[1] else None
        gb = raw((w._data.shape[0],), w.dtype, w.device) if need[2] else None
        K = _K(x)
        K.conv2d_backward(carray(g, x.dtype), carray(x), carray(w), ctx.cols, sh, sw, ph, pw,
                          dh, dw, groups, gx, gw, gb)
        ctx.cols = None
        wrap = (lambda a: None if a is None else Tensor._make(a, x.dtype, x.device))
        return wrap(gx), wrap(gw), wrap(gb), None


class ConvTranspose2d(Float32Compute, Function):
    """x (N, C, H, W), w (C, O/groups, KH, KW), bias (O,) or None -> (N, O, OH, OW).
    ``geom`` = (sh, sw, ph, pw, dh, dw, groups, OH, OW)."""

    @staticmethod
    def forward(ctx, x, w, bias, geom):
        sh, sw, ph, pw, dh, dw, groups, oh, ow = geom
        xa, wa = carray(x), carray(w)
        out = empty((xa.shape[0], wa.shape[1] * groups, oh, ow), x.dtype, x.device)
        _K(x).conv_transpose2d_forward(xa, wa, None if bias is None else carray(bias),
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
        gx = raw(x._data.shape, x.dtype, x.device) if need[0] else None
        gw = raw(w._data.shape, w.dtype, w.device) if need[1] else None
        gb = raw((g._data.shape[1],), w.dtype, w.device) if need[2] else None
        K = _K(x)
        K.conv_transpose2d_backward(carray(g, x.dtype), carray(x), carray(w), sh, sw, ph, pw,
                                    dh, dw, groups, gx, gw, gb)
        wrap = (lambda a: None if a is None else Tensor._make(a, x.dtype, x.device))
        return wrap(gx), wrap(gw), wrap(gb), None


# --------------------------------------------------------------------------------------------
# Convolution API.
# --------------------------------------------------------------------------------------------
def _check_conv(input, weight, bias, stride, dilation, nd, op):
    """PyTorch's checks shared by convolution and transposed convolution (input types, device,
    ranks, dtypes, stride, dilation); returns (batched, input shape with a batch dim, weight
    shape, stride, dilation)."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}() argument 'input' and 'weight' must be Tensor")
    same_device(input, weight, *([bias] if bias is not None else []))
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {op}, "
                           f"but got input of size: {shape_str(input.shape)}")
    if weight.ndim != nd + 2:
        raise RuntimeError(f"weight should have {nd + 2} dimensions for {op}, but got weight of "
                           f"size {shape_str(weight.shape)}")
    check_float(input, weight, bias)
    batched = input.ndim == nd + 2
    xs = tuple(input.shape) if batched else (1,) + tuple(input.shape)
    ws = tuple(weight.shape)
    stride = expand(stride, nd, "stride", "convolution")
    dilation = expand(dilation, nd, "dilation", "convolution")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("non-positive dilation is not supported")
    return batched, xs, ws, stride, dilation


def _check_groups(groups, ws):
    """``groups`` positive and dividing the weight's dim 0."""
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if ws[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of size [{shape_str(ws)}] instead")


def _conv_prepare(input, weight, bias, stride, padding, dilation, groups, nd, op):
    """Validate like PyTorch; returns (4-D input, weight, batched, geometry)."""
    batched, xs, ws, stride, dilation = _check_conv(input, weight, bias, stride, dilation, nd,
                                                    op)
    _check_groups(groups, ws)
    if xs[1] != ws[1] * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {shape_str(ws)}, expected input"
            f"{shape_str(xs)} to have {ws[1] * groups} channels, but got {xs[1]} channels instead")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != ws[0]):
        raise RuntimeError(f"Given weight of size {shape_str(ws)}, expected bias to be "
                           f"1-dimensional with {ws[0]} elements, but got bias of size "
                           f"{shape_str(bias.shape)} instead")
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
        p = expand(padding, nd, "padding", "convolution")
        if any(v < 0 for v in p):
            raise RuntimeError("negative padding is not supported")
        pads = tuple((v, v) for v in p)
    spatial = xs[2:]
    padded = tuple(s + a + b for s, (a, b) in zip(spatial, pads))
    if any(pv < e for pv, e in zip(padded, eff)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({shape_str(padded, ' x ')}). Kernel "
            f"size: ({shape_str(eff, ' x ')}). Kernel size can't be greater than actual input "
            "size")
    outs = tuple((pv - e) // s + 1 for pv, e, s in zip(padded, eff, stride))
    x, _ = nchw(input, nd)
    if nd == 1:  # height-1 view
        weight = weight.unsqueeze(2)
        stride, dilation, pads, outs = (1,) + stride, (1,) + dilation, ((0, 0),) + pads, (1,) + outs
    geom = (stride[0], stride[1], pads[0][0], pads[1][0], dilation[0], dilation[1], groups,
            outs[0], outs[1])
    return x, weight, batched, geom


def _conv(input, weight, bias, stride, padding, dilation, groups, nd, op):
    x, w, batched, geom = _conv_prepare(input, weight, bias, stride, padding, dilation, groups,
                                        nd, op)
    return unview(Conv2d.apply(x, w, bias, geom), nd, batched)


@functional_op()
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over (N, C, H, W) or unbatched (C, H, W) input.

    ``padding`` is an int, a pair, ``'valid'`` or ``'same'`` (stride 1; the odd pixel of an even
    kernel goes to the bottom/right, as in PyTorch).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)).tolist()
    [[[[4.0, 4.0], [4.0, 4.0]]]]
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


@functional_op()
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over (N, C, L) or unbatched (C, L) input (conv2d on a height-1 view).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.conv1d(torch.ones(1, 1, 4), torch.ones(1, 1, 2)).tolist()
    [[[2.0, 2.0, 2.0]]]
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, nd,
                    op):
    batched, xs, ws, stride, dilation = _check_conv(input, weight, bias, stride, dilation, nd,
                                                    op)
    pad = expand(padding, nd, "padding", "convolution")
    opad = expand(output_padding, nd, "output_padding", "convolution")
    if any(v < 0 for v in pad):
        raise RuntimeError("negative padding is not supported")
    if any(v < 0 for v in opad):
        raise RuntimeError("negative output_padding is not supported")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if xs[1] != ws[0]:
        raise RuntimeError(
            f"Given transposed=1, weight of size {shape_str(ws)}, expected input{shape_str(xs)} "
            f"to have {ws[0]} channels, but got {xs[1]} channels instead")
    _check_groups(groups, ws)
    if any(o >= s and o >= d for o, s, d in zip(opad, stride, dilation)):
        s2, d2, o2 = (1,) * (2 - nd) + stride, (1,) * (2 - nd) + dilation, (0,) * (2 - nd) + opad
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding_height: {o2[0]} output_padding_width: {o2[1]} stride_height: "
            f"{s2[0]} stride_width: {s2[1]} dilation_height: {d2[0]} dilation_width: {d2[1]}")
    o_ = ws[1] * groups
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != o_):
        raise RuntimeError(f"Given transposed=1, weight of size {shape_str(ws)}, expected bias "
                           f"to be 1-dimensional with {o_} elements, but got bias of size "
                           f"{shape_str(bias.shape)} instead")
    outs = tuple((i - 1) * s - 2 * p + d * (k - 1) + o + 1
                 for i, s, p, d, k, o in zip(xs[2:], stride, pad, dilation, ws[2:], opad))
    if any(v <= 0 for v in outs):
        raise RuntimeError(f"Given input size per channel: ({shape_str(xs[2:], ' x ')}). "
                           f"Calculated output size per channel: ({shape_str(outs, ' x ')}). "
                           "Output size is too small")
    x, _ = nchw(input, nd)
    w = weight
    if nd == 1:  # height-1 view
        w = w.unsqueeze(2)
        stride, dilation, pad, outs = (1,) + stride, (1,) + dilation, (0,) + pad, (1,) + outs
    geom = (stride[0], stride[1], pad[0], pad[1], dilation[0], dilation[1], groups,
            outs[0], outs[1])
    return unview(ConvTranspose2d.apply(x, w, bias, geom), nd, batched)


@functional_op()
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution; weight (C_in, C_out/groups, KH, KW), as PyTorch's.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.conv_transpose2d(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2)).shape
    torch.Size([1, 1, 3, 3])
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2, "conv_transpose2d")


@functional_op()
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
