"""Resampling composed from Tensor ops (no backward code): pixel and channel shuffles, sliding
blocks (``unfold``/``fold``), interpolation, adaptive max pooling, power-average pooling and max
unpooling.

Every resampling moves data with ``index_select`` / ``index_add`` / ``gather`` / ``scatter``
along one dim at a time; the integer positions (and the weights of the linear modes) depend on
the sizes only and are computed on the host, like the index of ``ops.pad``. Those ops are each
other's backward rules, so gradients (and double backward) flow with no code here.
"""
import math
import warnings

import numpy as np

from ..._registry import functional_op
from ... import _dtype as D
from ..._creation import tensor, zeros
from ..._tensor import Tensor
from ..._tracing import host_step
from ...ops._core import shape_str
from ...ops.elementwise import abs, relu, sign
from ...ops.indexing import gather, index_add, index_select, scatter
from ...ops.pad import pad
from ...ops.pool import (adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d, avg_pool2d,
                         max_pool1d, max_pool2d)

_TORCH_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char",
                "uint8": "Byte", "bool": "Bool", "float16": "Half", "bfloat16": "BFloat16",
                "float32": "Float", "float64": "Double"}


def _type_name(dtype):
    """A dtype as PyTorch's messages name it (``Long``, ``Float``)."""
    return _TORCH_NAMES.get(dtype.name, dtype.name)


def _check_float(input, kernel):
    """The resampling composites take floating inputs only (PyTorch's kernels refuse integers)."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_type_name(input.dtype)}'")


def _index(arr, device):
    """A host integer array as a flat int64 tensor on ``device``."""
    return tensor(np.ascontiguousarray(arr, dtype=np.int64).reshape(-1), dtype=D.int64,
                  device=device)


def _ints(v, n, name):
    """``v`` (an int or a sequence of ``n`` ints) as a tuple of ``n`` ints."""
    if isinstance(v, (list, tuple)):
        if len(v) != n:
            raise RuntimeError(f"It is expected {name} equals to {n}, but got size {len(v)}")
        return tuple(int(e) for e in v)
    return (int(v),) * n


# --------------------------------------------------------------------------------------------
# pixel and channel shuffles (reshape + permute)
# --------------------------------------------------------------------------------------------
def _check_shuffle(input, factor, op, what):
    if input.ndim < 3:
        raise RuntimeError(f"{op} expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    if factor <= 0:
        raise RuntimeError(f"{op} expects a positive {what}, but got {factor}")


@functional_op()
def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): channel blocks become r x r pixel blocks.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.pixel_shuffle(torch.arange(4.0).reshape(1, 4, 1, 1), 2)
    tensor([[[[0., 1.],
              [2., 3.]]]])
    """
    r = int(upscale_factor)
    _check_shuffle(input, r, "pixel_shuffle", "upscale_factor")
    *b, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
            f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    nb = len(b)
    x = input.reshape(tuple(b) + (c // (r * r), r, r, h, w))
    x = x.permute(*range(nb), nb, nb + 3, nb + 1, nb + 4, nb + 2)
    return x.reshape(tuple(b) + (c // (r * r), h * r, w * r))


@functional_op()
def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of :func:`pixel_shuffle`.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.pixel_unshuffle(torch.arange(4.0).reshape(1, 1, 2, 2), 2).flatten()
    tensor([0., 1., 2., 3.])
    """
    r = int(downscale_factor)
    _check_shuffle(input, r, "pixel_unshuffle", "downscale_factor")
    *b, c, h, w = input.shape
    for name, n, d in (("height", h, -2), ("width", w, -1)):
        if n % r:
            raise RuntimeError(f"pixel_unshuffle expects {name} to be divisible by "
                               f"downscale_factor, but input.size({d})={n} is not divisible by {r}")
    nb = len(b)
    x = input.reshape(tuple(b) + (c, h // r, r, w // r, r))
    x = x.permute(*range(nb), nb, nb + 2, nb + 4, nb + 1, nb + 3)
    return x.reshape(tuple(b) + (c * r * r, h // r, w // r))


@functional_op("native_channel_shuffle")
def channel_shuffle(input, groups):
    """(N, C, *) with its channels regrouped: ``groups`` blocks of C / groups are interleaved.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.channel_shuffle(torch.arange(4.0).reshape(1, 4, 1), 2).flatten()
    tensor([0., 2., 1., 3.])
    """
    g = int(groups)
    if input.ndim < 3:
        raise RuntimeError("channel_shuffle expects input with > 2 dims, but got input with sizes "
                           f"{shape_str(input.shape)}")
    if g <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of "
                           f"groups:{g}")
    n, c = input.shape[:2]
    if c % g:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and "
                           f"{g} groups.")
    rest = tuple(input.shape[2:])
    x = input.reshape((n, g, c // g) + rest).transpose(1, 2)
    return x.reshape(tuple(input.shape))


# --------------------------------------------------------------------------------------------
# sliding blocks: unfold (im2col) is one gather from the padded planes, fold its adjoint
# --------------------------------------------------------------------------------------------
def _blocks(op, spatial, kernel_size, dilation, padding, stride):
    """Checked 2-D geometry: (k, d, p, s, block counts, flat gather index into the padded plane
    of shape (kh, kw, oh, ow))."""
    k = _ints(kernel_size, 2, "kernel_size")
    d = _ints(dilation, 2, "dilation")
    p = _ints(padding, 2, "padding")
    s = _ints(stride, 2, "stride")
    for name, v, word in (("kernel size", k, "kernel"), ("stride", s, "stride"),
                          ("dilation", d, "dilation")):
        if min(v) <= 0:
            raise RuntimeError(f"{name} should be greater than zero, but got {word}_height: "
                               f"{v[0]} {word}_width: {v[1]}")
    if min(p) < 0:
        raise RuntimeError(f"padding should be non-negative, but got pad_height: {p[0]} "
                           f"pad_width: {p[1]}")
    hp, wp = spatial[0] + 2 * p[0], spatial[1] + 2 * p[1]
    nb = tuple(max((n - dd * (kk - 1) - 1) // ss + 1, 0) for n, kk, dd, ss in
               zip((hp, wp), k, d, s))
    if min(nb) < 1 and op == "unfold":  # fold reports it as a block count mismatch
        raise RuntimeError(
            f"Given input with spatial size {tuple(spatial)}, kernel_size={k}, dilation={d}, "
            f"padding={p}, calculated shape of the array of sliding blocks as {nb}, but its "
            "components must be at least one.")
    rows = np.arange(k[0])[:, None] * d[0] + np.arange(nb[0])[None, :] * s[0]  # (kh, oh)
    cols = np.arange(k[1])[:, None] * d[1] + np.arange(nb[1])[None, :] * s[1]  # (kw, ow)
    flat = rows[:, None, :, None] * wp + cols[None, :, None, :]
    return k, p, nb, flat


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding local blocks of (N, C, H, W) (or (C, H, W)) as columns:
    (N, C * kh * kw, L), L = the number of blocks.

    Not declared in the op registry, whose ``unfold`` is ``Tensor.unfold`` (a different op):
    ``numtorch.nn.functional`` imports it by name.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.unfold(torch.arange(9.0).reshape(1, 1, 3, 3), 2)
    tensor([[[0., 1., 3., 4.],
             [1., 2., 4., 5.],
             [3., 4., 6., 7.],
             [4., 5., 7., 8.]]])
    """
    if input.ndim not in (3, 4) or any(s == 0 for s in input.shape[-3:]):
        raise RuntimeError("Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and "
                           "other non-zero dimensions for input, but got: "
                           f"{shape_str(input.shape)}")
    _check_float(input, "im2col_out_cpu")
    x = input if input.ndim == 4 else input.unsqueeze(0)
    n, c, h, w = x.shape
    k, p, nb, flat = _blocks("unfold", (h, w), kernel_size, dilation, padding, stride)
    if p[0] or p[1]:
        x = pad(x, (p[1], p[1], p[0], p[0]))
    hp, wp = h + 2 * p[0], w + 2 * p[1]
    cols = index_select(x.reshape(n, c, hp * wp), 2, _index(flat, x.device))
    out = cols.reshape(n, c * k[0] * k[1], nb[0] * nb[1])
    return out if input.ndim == 4 else out.squeeze(0)


@functional_op()
def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum columns (N, C * kh * kw, L) (or unbatched) back into (N, C, H, W): the adjoint of
    :func:`unfold` (overlapping blocks add up).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.fold(torch.ones(1, 4, 4), (3, 3), 2)
    tensor([[[[1., 2., 1.],
              [2., 4., 2.],
              [1., 2., 1.]]]])
    """
    if input.ndim not in (2, 3) or any(s == 0 for s in input.shape[1:]):
        raise RuntimeError("Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch "
                           f"size and non-zero dimensions for input, but got: "
                           f"{shape_str(input.shape)}")
    _check_float(input, "col2im_out_cpu")
    x = input if input.ndim == 3 else input.unsqueeze(0)
    osz = _ints(output_size, 2, "output_size")
    k, p, nb, flat = _blocks("fold", osz, kernel_size, dilation, padding, stride)
    n, ck, L = x.shape
    if ck % (k[0] * k[1]):
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of kernel_size, "
            f"but got input.size(1)={ck} and kernel_size={k}.")
    if L != nb[0] * nb[1]:
        raise RuntimeError(
            f"Given output_size={osz}, kernel_size={k}, dilation={_ints(dilation, 2, 'dilation')}, "
            f"padding={p}, stride={_ints(stride, 2, 'stride')}, expected size of input's dimension "
            f"2 to match the calculated number of sliding blocks {nb[0]} * {nb[1]} = "
            f"{nb[0] * nb[1]}, but got input.size(2)={L}.")
    c = ck // (k[0] * k[1])
    hp, wp = osz[0] + 2 * p[0], osz[1] + 2 * p[1]
    plane = zeros((n, c, hp * wp), dtype=x.dtype, device=x.device)
    out = index_add(plane, 2, _index(flat, x.device), x.reshape(n, c, k[0] * k[1] * L))
    out = out.reshape(n, c, hp, wp)
    if p[0] or p[1]:
        out = out[:, :, p[0]:p[0] + osz[0], p[1]:p[1] + osz[1]]
    return out if input.ndim == 3 else out.squeeze(0)


# --------------------------------------------------------------------------------------------
# interpolation: separable, one gather-and-weight pass per spatial dim
# --------------------------------------------------------------------------------------------
_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")
_NEEDS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_AXES = ("D", "H", "W")


def _cubic(t):
    """PyTorch's cubic convolution weights (A = -0.75) of the taps at -1, 0, 1, 2 for a
    fractional offset ``t``."""
    A = -0.75

    def near(x):  # |x| <= 1
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A
    return far(t + 1), near(t), near(1 - t), far(2 - t)


def _aa_taps(mode, n, m, align_corners, scale):
    """Anti-aliased resampling (PIL's and PyTorch's ``antialias=True``): each output averages
    the inputs under the interpolation filter stretched by the downscaling factor (not
    stretched when upscaling), weights renormalised where the window meets an edge."""
    if align_corners:
        s = (n - 1) / (m - 1) if m > 1 else 0.0
    else:
        s = 1.0 / scale if scale else n / m
    if mode == "bilinear":
        support, a = 1.0, None
    else:  # bicubic: the filter PIL uses (A = -0.5)
        support, a = 2.0, -0.5
    stretch = max(s, 1.0)
    support *= stretch
    center = s * (np.arange(m) + 0.5)  # PyTorch's centres, with align_corners' scale too
    lo = np.maximum(np.trunc(center - support + 0.5).astype(np.int64), 0)
    hi = np.minimum(np.trunc(center + support + 0.5).astype(np.int64), n)
    K = int(max((hi - lo).max(), 1)) if m else 0
    x = np.abs((lo[:, None] + np.arange(K)[None, :] - center[:, None] + 0.5) / stretch)
    if a is None:
        w = np.maximum(1.0 - x, 0.0)
    else:
        w = np.where(x < 1.0, ((a + 2) * x - (a + 3)) * x * x + 1,
                     np.where(x < 2.0, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, 0.0))
    w = np.where(np.arange(K)[None, :] < (hi - lo)[:, None], w, 0.0)
    total = w.sum(axis=1, keepdims=True)
    w = w / np.where(total == 0.0, 1.0, total)
    return [(np.minimum(lo + k, n - 1), w[:, k]) for k in range(K)]


def _taps(mode, n, m, align_corners, scale, antialias=False):
    """Resampling of one dim from ``n`` to ``m``: a list of taps (index (m,), weight (m,) or
    None); the output is the weighted sum of the picked inputs."""
    if antialias:
        return _aa_taps(mode, n, m, align_corners, scale)
    o = np.arange(m)
    if mode in ("nearest", "nearest-exact"):
        # PyTorch computes these source positions in float32: do the same so that ties round
        # alike; ``scale`` (a user's scale_factor) wins over the size ratio
        s = np.float32(1.0 / scale) if scale else np.float32(n) / np.float32(m)
        if mode == "nearest":
            if m == n:
                return [(o, None)]
            if m == 2 * n:
                return [(o >> 1, None)]
            src = o.astype(np.float32) * s
        else:
            src = ((o + 0.5) * np.float64(s)).astype(np.float32)
        return [(np.minimum(np.floor(src).astype(np.int64), n - 1), None)]
    if mode == "area":  # adaptive average windows
        start, end = _windows(n, m)
        K = int((end - start).max()) if m else 0
        return [(np.minimum(start + k, end - 1), np.where(start + k < end, 1.0 / (end - start), 0))
                for k in range(K)]
    if align_corners:
        s = (n - 1) / (m - 1) if m > 1 else 0.0
        src = s * o
    else:
        s = 1.0 / scale if scale else n / m
        src = s * (o + 0.5) - 0.5
    if mode != "bicubic":
        src = np.maximum(src, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
        lam = np.clip(src - i0, 0.0, 1.0)
        return [(i0, 1.0 - lam), (i0 + (i0 < n - 1), lam)]
    i0 = np.floor(src).astype(np.int64)
    return [(np.clip(i0 - 1 + k, 0, n - 1), w) for k, w in enumerate(_cubic(src - i0))]


def _resample(x, d, taps):
    out = None
    for idx, w in taps:
        y = index_select(x, d, _index(idx, x.device))
        if w is not None:
            shape = [1] * x.ndim
            shape[d] = len(w)
            y = y * tensor(np.asarray(w).reshape(shape), dtype=x.dtype, device=x.device)
        out = y if out is None else out + y
    return out


def _sizes_message(spatial, outs):
    ax = _AXES[3 - len(spatial):]
    i = ", ".join(f"{a}: {v}" for a, v in zip(ax, spatial))
    o = ", ".join(f"{a}: {v}" for a, v in zip(ax, outs))
    return f"input ({i}) {'and ' if len(spatial) == 1 else ''}output ({o})"


@functional_op()
def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of (N, C, *) to ``size`` or by ``scale_factor``.

    Modes ``'nearest'``, ``'nearest-exact'``, ``'linear'`` (3-D), ``'bilinear'`` and
    ``'bicubic'`` (4-D), ``'trilinear'`` (5-D) with ``align_corners``, and ``'area'``;
    ``antialias=True`` (bilinear, bicubic) low-pass filters when downscaling, as PIL does.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.interpolate(torch.tensor([[[1.0, 2.0]]]), scale_factor=2)
    tensor([[[1., 1., 2., 2.]]])
    >>> F.interpolate(torch.tensor([[[1.0, 2.0]]]), size=3, mode='linear', align_corners=True)
    tensor([[[1.0000, 1.5000, 2.0000]]])
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    nd = input.ndim - 2
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    scales = None
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != nd:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got "
                    f"input with spatial dimensions of {spatial} and output size of {size}. Please "
                    "provide input tensor in (N, C, d1, d2, ...,dK) format and output size in "
                    "(o1, o2, ...,oK) format.")
            if not all(isinstance(s, (int, np.integer)) for s in size):
                raise TypeError("expected size to be one of int or Tuple[int] or Tuple[int, int] "
                                "or Tuple[int, int, int], but got size with types "
                                f"{[type(s) for s in size]}")
            outs = [int(s) for s in size]
        else:
            outs = [int(size)] * max(nd, 0)
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != nd:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, but "
                    f"got input with spatial dimensions of {spatial} and scale_factor of shape "
                    f"{scale_factor}. Please provide input tensor in (N, C, d1, d2, ...,dK) format "
                    "and scale_factor in (s1, s2, ...,sK) format.")
            scales = [float(s) for s in scale_factor]
        else:
            scales = [float(scale_factor)] * max(nd, 0)
        outs = [math.floor(n * s) for n, s in zip(spatial, scales)]
        if recompute_scale_factor or mode == "area":  # the sizes alone decide the mapping
            scales = None
    else:
        raise ValueError("either size or scale_factor should be defined")
    if antialias and not (mode in ("bilinear", "bicubic") and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes "
                         "and requires a 4-D tensor as input")
    if mode not in _MODES or nd not in (1, 2, 3):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the "
            f"modes: nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact "
            f"(got {mode})")
    if mode in _NEEDS and _NEEDS[mode] != nd:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs "
                                  f"{_NEEDS[mode] + 2}D input")
    if min(spatial) <= 0 or min(outs) <= 0:
        raise RuntimeError("Input and output sizes should be greater than 0, but got "
                           + _sizes_message(spatial, outs))
    _check_float(input, f"upsample_{mode.replace('-', '_')}{nd}d")
    if mode == "area" and nd == 1:
        return adaptive_avg_pool1d(input, outs)
    if mode == "area" and nd == 2:
        return adaptive_avg_pool2d(input, outs)
    out = input
    for k in range(nd):
        out = _resample(out, 2 + k, _taps(mode, spatial[k], outs[k], align_corners,
                                           scales[k] if scales else None, antialias))
    return out


@functional_op()
def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of :func:`interpolate`.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> import warnings
    >>> warnings.simplefilter("ignore")
    >>> F.upsample(torch.ones(1, 1, 2), scale_factor=2).shape
    torch.Size([1, 1, 4])
    """
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


@functional_op()
def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='nearest')``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> import warnings
    >>> warnings.simplefilter("ignore")
    >>> F.upsample_nearest(torch.ones(1, 1, 2, 2), scale_factor=2).shape
    torch.Size([1, 1, 4, 4])
    """
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


@functional_op()
def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='bilinear', align_corners=True)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> import warnings
    >>> warnings.simplefilter("ignore")
    >>> F.upsample_bilinear(torch.tensor([[[[0.0, 1.0]]]]), size=(1, 3))
    tensor([[[[0.0000, 0.5000, 1.0000]]]])
    """
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# --------------------------------------------------------------------------------------------
# adaptive pooling (separable: one spatial dim at a time), power-average pooling, unpooling
# --------------------------------------------------------------------------------------------
def _windows(n, m):
    """PyTorch's adaptive windows of ``n`` inputs for ``m`` outputs: [start, end)."""
    o = np.arange(m)
    return (o * n) // m, ((o + 1) * n + m - 1) // m


def _adaptive_input(input, output_size, nd, op, colon=": "):
    """(batched input, batched, spatial sizes, output sizes) with PyTorch's checks."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor")
    if input.ndim not in (nd + 1, nd + 2):
        if nd == 1:
            raise RuntimeError(f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional "
                               f"tensor for argument #1 'self' (while checking arguments for {op})")
        raise RuntimeError(f"{op}(): Expected {nd + 1}D or {nd + 2}D tensor, but got{colon}"
                           f"{shape_str(input.shape)}")
    batched = input.ndim == nd + 2
    x = input if batched else input.unsqueeze(0)
    for d in range(1, x.ndim):
        if x.shape[d] == 0:
            raise RuntimeError(f"{op}(): Expected input to have non-zero size for non-batch "
                               f"dimensions, but input has sizes {shape_str(input.shape)} with "
                               f"dimension {d - (0 if batched else 1)} being empty")
    spatial = tuple(x.shape[2:])
    if isinstance(output_size, (list, tuple)):
        if len(output_size) != nd:
            raise RuntimeError(f"{op}(): internal error: output_size.size() must be {nd}")
        outs = tuple(n if o is None else int(o) for o, n in zip(output_size, spatial))
    else:
        outs = (int(output_size),) * nd
    if min(outs) < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(outs)}: "
                           f"{shape_str(tuple(x.shape[:2]) + outs)}")
    _check_float(input, op)
    return x, batched, spatial, outs


def _adaptive_max(input, output_size, return_indices, nd, op):
    x, batched, spatial, outs = _adaptive_input(input, output_size, nd, op)
    if min(outs) == 0:
        v = zeros(tuple(x.shape[:2]) + outs, dtype=x.dtype, device=x.device)
        i = zeros(tuple(x.shape[:2]) + outs, dtype=D.int64, device=x.device)
    else:
        # max over the windows of the last dim, then of the one before...: the first maximum in
        # scan order is kept, as PyTorch's kernel does; ``offs[k]`` is the winner's offset in
        # its window of dim k while the dims before k are still whole
        v, offs, starts = x, [None] * nd, [None] * nd
        for k in reversed(range(nd)):
            d, n, m = 2 + k, spatial[k], outs[k]
            start, end = _windows(n, m)
            K = int((end - start).max())
            # past a window's end repeat its last element: the max and its first index stay
            idx = np.minimum(start[:, None] + np.arange(K)[None, :], end[:, None] - 1)
            y = index_select(v, d, _index(idx, x.device))
            y = y.reshape(tuple(v.shape[:d]) + (m, K) + tuple(v.shape[d + 1:]))
            v, offs[k] = y.max(d + 1)
            starts[k] = start
        i = None
        if return_indices:
            i = _flat_argmax(x, offs, starts, spatial, outs)
    v = v if batched else v.squeeze(0)
    if return_indices:
        return v, (i if batched else i.squeeze(0))
    return v


def _flat_argmax(x, offs, starts, spatial, outs):
    """Flat positions (within each plane) of the maxima found by :func:`_adaptive_max`."""
    nc = tuple(x.shape[:2])
    flat = None
    for k in range(len(spatial)):
        a = offs[k]  # (N, C, S_0..S_{k-1}, O_k..)
        if flat is not None:  # pick the offsets at the positions found for dims < k
            rows = math.prod(spatial[:k])
            q = math.prod(outs[k:])
            a = gather(a.reshape(nc + (rows, q)), 2,
                       flat.reshape(nc + (math.prod(outs[:k]), q))).reshape(nc + outs)
        shape = [1] * (2 + len(outs))
        shape[2 + k] = outs[k]
        pos = a + _index(starts[k], x.device).reshape(shape)
        flat = pos if flat is None else flat * spatial[k] + pos
    return flat


@functional_op()
def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max over PyTorch's adaptive windows of (N, C, L) or (C, L); with ``return_indices`` also
    the argmax positions.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.adaptive_max_pool1d(torch.tensor([[1.0, 3.0, 2.0, 0.0, 5.0]]), 2, return_indices=True)
    (tensor([[3., 5.]]), tensor([[1, 4]]))
    """
    return _adaptive_max(input, output_size, return_indices, 1, "adaptive_max_pool1d")


@functional_op()
def adaptive_max_pool2d(input, output_size, return_indices=False):
    """2-D adaptive max pooling of (N, C, H, W) or (C, H, W); indices are flat within a plane.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.adaptive_max_pool2d(torch.arange(16.0).reshape(1, 4, 4), 2)
    tensor([[[ 5.,  7.],
             [13., 15.]]])
    """
    return _adaptive_max(input, output_size, return_indices, 2, "adaptive_max_pool2d")


@functional_op()
def adaptive_max_pool3d(input, output_size, return_indices=False):
    """3-D adaptive max pooling of (N, C, D, H, W) or (C, D, H, W).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.adaptive_max_pool3d(torch.arange(8.0).reshape(1, 2, 2, 2), 1).flatten()
    tensor([7.])
    """
    return _adaptive_max(input, output_size, return_indices, 3, "adaptive_max_pool3d")


@functional_op()
def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    """:func:`adaptive_max_pool1d` returning (values, indices).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.adaptive_max_pool1d_with_indices(torch.tensor([[1.0, 3.0]]), 1)[1]
    tensor([[1]])
    """
    return _adaptive_max(input, output_size, True, 1, "adaptive_max_pool1d")


@functional_op()
def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    """:func:`adaptive_max_pool2d` returning (values, indices).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.adaptive_max_pool2d_with_indices(torch.arange(4.0).reshape(1, 2, 2), 1)[1]
    tensor([[[3]]])
    """
    return _adaptive_max(input, output_size, True, 2, "adaptive_max_pool2d")


@functional_op()
def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    """:func:`adaptive_max_pool3d` returning (values, indices).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.adaptive_max_pool3d_with_indices(torch.arange(8.0).reshape(1, 2, 2, 2), 1)[1]
    tensor([[[[7]]]])
    """
    return _adaptive_max(input, output_size, True, 3, "adaptive_max_pool3d")


@functional_op()
def adaptive_avg_pool3d(input, output_size):
    """Average over PyTorch's adaptive windows of (N, C, D, H, W) or (C, D, H, W).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.adaptive_avg_pool3d(torch.arange(8.0).reshape(1, 2, 2, 2), 1).flatten()
    tensor([3.5000])
    """
    x, batched, spatial, outs = _adaptive_input(input, output_size, 3, "adaptive_avg_pool3d",
                                                " ")
    out = x
    for k in range(3):
        out = _resample(out, 2 + k, _taps("area", spatial[k], outs[k], None, None))
    return out if batched else out.squeeze(0)


def _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, nd):
    avg = avg_pool1d if nd == 1 else avg_pool2d
    k = _ints(kernel_size, nd, "kernel_size")
    out = avg(input ** norm_type, kernel_size, stride, 0, ceil_mode)
    # sign * relu(|.|) keeps the subgradient 0 at 0, as PyTorch's composite
    return (sign(out) * relu(abs(out)) * math.prod(k)) ** (1.0 / norm_type)


@functional_op()
def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling: ``(sum over the window of x**p) ** (1/p)`` over (N, C, L).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.lp_pool1d(torch.tensor([[[3.0, 4.0]]]), 2, 2)
    tensor([[[5.]]])
    """
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1)


@functional_op()
def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """2-D power-average pooling over (N, C, H, W).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.lp_pool2d(torch.ones(1, 1, 2, 2), 1, 2)
    tensor([[[[4.]]]])
    """
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2)


def _max_unpool(input, indices, kernel_size, stride, padding, output_size, nd, op):
    k = _ints(kernel_size, nd, "kernel_size")
    s = k if stride is None else _ints(stride, nd, "stride")
    p = _ints(padding, nd, "padding")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Input to max_unpooling{nd}d should be a {nd + 1}d or {nd + 2}d "
                           f"Tensor, but got a tensor with {input.ndim} dimensions.")
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"Expected shape of indices to be same as that of the input tensor "
                           f"({shape_str(input.shape)}) but got indices tensor with shape: "
                           f"{shape_str(indices.shape)}")
    if indices.dtype is not D.int64:
        raise RuntimeError("elements in indices should be type int64 but got: "
                           f"{_type_name(indices.dtype)}")
    spatial = tuple(input.shape[-nd:])
    default = tuple((i - 1) * ss - 2 * pp + kk for i, kk, ss, pp in zip(spatial, k, s, p))
    if output_size is None:
        outs = default
    else:
        if len(output_size) == nd + 2:
            output_size = output_size[2:]
        outs = tuple(int(o) for o in output_size)
        if len(outs) != nd:
            raise ValueError(f"output_size should be a sequence containing {nd} or {nd + 2} "
                             f"elements, but it has a length of '{len(outs)}'")
        for d, (o, dflt, ss) in enumerate(zip(outs, default, s)):
            if not dflt - ss < o < dflt + ss:
                raise ValueError(f"invalid output_size \"{output_size}\" (dim {d} must be between "
                                 f"{dflt - ss} and {dflt + ss})")
    batched = input.ndim == nd + 2
    x = input if batched else input.unsqueeze(0)
    i = indices if batched else indices.unsqueeze(0)
    n, c = x.shape[:2]
    size = math.prod(outs)
    flat_i = i.reshape(n, c, -1)

    def check():  # a host step: a numtorch.compile replay checks its new indices too
        if flat_i.numel() and ((flat_i < 0) | (flat_i >= size)).any().item():
            bad = flat_i[(flat_i < 0) | (flat_i >= size)].reshape(-1)[0].item()
            raise RuntimeError(f"Found an invalid max index: {bad} (output volumes are of size "
                               f"{shape_str(outs, 'x')})")
    host_step(check)
    plane = zeros((n, c, size), dtype=x.dtype, device=x.device)
    out = scatter(plane, 2, flat_i, x.reshape(n, c, -1)).reshape((n, c) + outs)
    return out if batched else out.squeeze(0)


@functional_op()
def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Place the values of a max pooling at their ``indices`` in a zero output (N, C, L).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> y, i = F.max_pool1d(torch.tensor([[[1.0, 3.0, 4.0, 2.0]]]), 2, return_indices=True)
    >>> F.max_unpool1d(y, i, 2)
    tensor([[[0., 3., 4., 0.]]])
    """
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1,
                       "max_unpool1d")


@functional_op()
def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The 2-D partial inverse of ``max_pool2d``: values at their flat plane ``indices``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> y, i = F.max_pool2d(torch.arange(4.0).reshape(1, 1, 2, 2), 2, return_indices=True)
    >>> F.max_unpool2d(y, i, 2)
    tensor([[[[0., 0.],
              [0., 3.]]]])
    """
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2,
                       "max_unpool2d")


@functional_op()
def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The 3-D partial inverse of a max pooling: values at their flat volume ``indices``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.max_unpool3d(torch.ones(1, 1, 1, 1, 1), torch.tensor([[[[[7]]]]]), 2).flatten()
    tensor([0., 0., 0., 0., 0., 0., 0., 1.])
    """
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 3,
                       "max_unpool3d")


@functional_op()
def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """``max_pool1d(..., return_indices=True)``: (values, indices).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.max_pool1d_with_indices(torch.tensor([[[1.0, 3.0, 2.0, 4.0]]]), 2)[1]
    tensor([[[1, 3]]])
    """
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


@functional_op()
def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """``max_pool2d(..., return_indices=True)``: (values, flat indices within each plane).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.max_pool2d_with_indices(torch.arange(4.0).reshape(1, 1, 2, 2), 2)[1]
    tensor([[[[3]]]])
    """
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)
