"""Normalisation layers, losses and activations at the functional level (``nn.functional``).

Fused primitives (own kernels forward and backward, in ``kernels/cpu/norm.py``): ``batch_norm``,
``layer_norm`` (and ``group_norm`` through it), ``cross_entropy`` with class-index targets.
Everything else is composed from differentiable Tensor ops and has no backward code.

>>> import numtorch as torch
>>> from numtorch.ops import nnfunc as F
>>> x = torch.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
>>> loss = F.cross_entropy(x, torch.tensor([0]))
>>> loss.backward(); x.grad.shape
torch.Size([1, 3])
"""
import math
import warnings

import numpy as np

from .. import _dtype as D
from .._creation import arange, rand, tensor
from .._tensor import Tensor
from ..autograd.function import Function, once_differentiable
from . import _core
from ._core import cast, empty, kernels
from .elementwise import abs, clamp, erf, exp, log, log1p, sigmoid, tanh, where
from .indexing import gather, index_select
from .linalg import matmul
from .reduction import log_softmax, norm as _norm

__all__ = [
    "batch_norm", "layer_norm", "group_norm", "cross_entropy", "nll_loss", "mse_loss", "l1_loss",
    "smooth_l1_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "kl_div", "leaky_relu", "elu", "gelu", "silu", "softplus", "hardtanh", "relu6", "dropout",
    "dropout2d", "linear", "bilinear", "embedding", "one_hot", "normalize", "pad",
]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _reduction(reduction, size_average=None, reduce=None):
    if size_average is not None or reduce is not None:  # PyTorch's legacy arguments
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _arr(t, dtype):
    """A C-contiguous NumPy array of tensor ``t`` in ``dtype`` (a numtorch dtype)."""
    return cast(t, dtype).contiguous()._data


def _vec(t, n, dtype, fill, device):
    """Per-channel parameter array: ``t`` or a constant ``fill`` of length n, on ``device``."""
    if t is None:
        return _buf(n, dtype, device, fill)
    return _arr(t, dtype).reshape(n)


def _buf(shape, dtype, device, fill=None):
    """A raw array of ``shape`` on ``device`` for a kernel to write (or filled with ``fill``)."""
    t = empty(shape if isinstance(shape, tuple) else (shape,), dtype, device)
    if fill is not None:
        _core.fill(t, fill)
    return t._data


def _host(a, device):
    """A device array read back to the host (a NumPy array stays as it is)."""
    if device.type == "cpu":
        return a
    from .. import cuda
    return cuda._to_host(a)


def _shape_str(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _prod(shape):
    p = 1
    for s in shape:
        p *= s
    return p


def _check_size_match(input, target):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.", stacklevel=3)


# --------------------------------------------------------------------------------------------
# batch norm (fused)
# --------------------------------------------------------------------------------------------
class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        N, C = x._data.shape[0], x._data.shape[1]
        L = _prod(x._data.shape[2:])
        xa = x.contiguous()._data.reshape(N, C, L)
        dt, dev = x.dtype, x.device
        K = kernels(dev).norm
        w = _vec(weight, C, dt, 1.0, dev)
        b = _vec(bias, C, dt, 0.0, dev)
        mean = _buf(C, D.float64, dev)
        invstd = _buf(C, D.float64, dev)
        out = _buf((N, C, L), dt, dev)
        if training:
            rm = rv = None
            if running_mean is not None:
                rm, rv = running_mean._data, running_var._data
                if not (rm.flags.c_contiguous and rv.flags.c_contiguous):
                    raise RuntimeError("batch_norm: running stats must be contiguous")
            K.batch_norm_train(xa, w, b, eps, momentum, rm, rv, mean, invstd, out)
            if running_mean is not None:  # updated in place: bump their versions
                running_mean._ver.v += 1
                running_var._ver.v += 1
        else:
            K.batch_norm_eval(xa, w, b, running_mean.contiguous()._data,
                              running_var.contiguous()._data, eps, mean, invstd, out)
        ctx.save_for_backward(x, weight)
        ctx.stats = (mean, invstd, bool(training))
        return Tensor._make(out.reshape(x._data.shape), dt, dev)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        mean, invstd, training = ctx.stats
        N, C = x._data.shape[0], x._data.shape[1]
        L = _prod(x._data.shape[2:])
        dt, dev = x.dtype, x.device
        xa = x.contiguous()._data.reshape(N, C, L)
        ga = _arr(g, dt).reshape(N, C, L)
        w = _vec(weight, C, dt, 1.0, dev)
        gx = _buf((N, C, L), dt, dev)
        gw = _buf(C, D.float64, dev)
        gb = _buf(C, D.float64, dev)
        kernels(dev).norm.batch_norm_backward(xa, ga, w, mean, invstd, training, gx, gw, gb)
        need = ctx.needs_input_grad
        return (Tensor._make(gx.reshape(x._data.shape), dt, dev) if need[0] else None,
                Tensor._make(gw, D.float64, dev) if need[1] else None,
                Tensor._make(gb, D.float64, dev) if need[2] else None,
                None, None, None, None, None)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over channel dim 1 of (N, C), (N, C, L) or (N, C, H, W).

    In training, normalises with the batch statistics and updates ``running_mean`` /
    ``running_var`` in place (unbiased variance); otherwise uses the running statistics.

    >>> import numtorch as torch
    >>> from numtorch.ops import nnfunc as F
    >>> F.batch_norm(torch.tensor([[1.0], [3.0]]), None, None, training=True).squeeze()
    tensor([-1.0000,  1.0000])
    """
    if input.ndim < 2:
        raise ValueError(f"expected 2D or more input (got {input.ndim}D input)")
    C = input._data.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and t.numel() != C:
            raise RuntimeError(f"{name} should contain {C} elements not {t.numel()}")
    if (running_mean is None) != (running_var is None):
        raise RuntimeError("running_mean and running_var must be both defined or both None")
    if not training:
        if running_mean is None:
            raise RuntimeError("running_mean must be defined in evaluation mode")
    elif input.numel() // C <= 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {input.shape}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"batch_norm: expected a floating point input, got {input.dtype}")
    return BatchNorm.apply(input, weight, bias, running_mean, running_var, bool(training),
                           float(0.0 if momentum is None else momentum), float(eps))


# --------------------------------------------------------------------------------------------
# layer norm (fused) and group norm (layer norm over groups + affine)
# --------------------------------------------------------------------------------------------
class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, ns, weight, bias, eps):
        dt = x.dtype
        D_ = _prod(ns)
        M = x.numel() // D_ if D_ else 0
        dev = x.device
        xa = x.contiguous()._data.reshape(M, D_)
        w = _vec(weight, D_, dt, 1.0, dev)
        b = _vec(bias, D_, dt, 0.0, dev)
        mean = _buf(M, D.float64, dev)
        rstd = _buf(M, D.float64, dev)
        out = _buf((M, D_), dt, dev)
        kernels(dev).norm.layer_norm(xa, w, b, eps, mean, rstd, out)
        ctx.save_for_backward(x, weight)
        ctx.stats = (mean, rstd, ns)
        return Tensor._make(out.reshape(tuple(x.shape)), dt, dev)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        mean, rstd, ns = ctx.stats
        D_ = _prod(ns)
        dt, dev = x.dtype, x.device
        K = kernels(dev).norm
        M = x.numel() // D_ if D_ else 0
        xa = x.contiguous()._data.reshape(M, D_)
        ga = _arr(g, dt).reshape(M, D_)
        need = ctx.needs_input_grad
        gx = gw = gb = None
        if need[0]:
            w = _vec(weight, D_, dt, 1.0, dev)
            out = _buf((M, D_), dt, dev)
            K.layer_norm_backward(xa, ga, w, mean, rstd, out)
            gx = Tensor._make(out.reshape(tuple(x.shape)), dt, dev)
        if need[2] or need[3]:
            gwa = _buf(D_, D.float64, dev)
            gba = _buf(D_, D.float64, dev)
            K.layer_norm_affine_backward(xa, ga, mean, rstd, gwa, gba)
            if need[2]:
                gw = Tensor._make(gwa.reshape(ns), D.float64, dev)
            if need[3]:
                gb = Tensor._make(gba.reshape(ns), D.float64, dev)
        return gx, None, gw, gb, None


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dims, then scale by ``weight`` and
    shift by ``bias`` (both of ``normalized_shape``).

    >>> import numtorch as torch
    >>> from numtorch.ops import nnfunc as F
    >>> F.layer_norm(torch.tensor([[1.0, 3.0]]), (2,))
    tensor([[-1.0000,  1.0000]])
    """
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    ns = tuple(int(s) for s in normalized_shape)
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != ns:
            raise RuntimeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                f"{_shape_str(t.shape)} and normalized_shape = {_shape_str(ns)}")
    if input.ndim < len(ns) or tuple(input.shape[input.ndim - len(ns):]) != ns:
        raise RuntimeError(
            f"Given normalized_shape={_shape_str(ns)}, expected input with shape "
            f"[*, {', '.join(str(s) for s in ns)}], but got input of size{_shape_str(input.shape)}")
    return LayerNorm.apply(input, ns, weight, bias, float(eps))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each of ``num_groups`` channel groups of (N, C, *) per sample, then apply the
    per-channel affine ``weight``/``bias`` (C,).

    >>> import numtorch as torch
    >>> from numtorch.ops import nnfunc as F
    >>> F.group_norm(torch.tensor([[[1.0], [3.0]]]), 1).flatten()
    tensor([-1.0000,  1.0000])
    """
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    N, C = input.shape[0], input.shape[1]
    if num_groups <= 0 or C % num_groups:
        raise RuntimeError(
            "Expected number of channels in input to be divisible by num_groups, but got input of "
            f"shape {_shape_str(input.shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.ndim != 1 or t.numel() != C):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in "
                f"input, but got {name} of shape {_shape_str(t.shape)} and input of shape "
                f"{_shape_str(input.shape)}")
    k = input.numel() // max(N * num_groups, 1)
    y = LayerNorm.apply(input.reshape(N, num_groups, k), (k,), None, None, float(eps))
    y = y.reshape(N, C, -1)
    if weight is not None:
        y = y * weight.reshape(1, C, 1)
    if bias is not None:
        y = y + bias.reshape(1, C, 1)
    return y.reshape(input.shape)


# --------------------------------------------------------------------------------------------
# cross entropy (fused log-softmax + NLL for class-index targets)
# --------------------------------------------------------------------------------------------
class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, label_smoothing):
        dt, dev = x.dtype, x.device
        N, C = x._data.shape[0], x._data.shape[1]
        inner = _prod(x._data.shape[2:])
        if x.ndim == 2:
            xa = x.contiguous()._data
            ta = _arr(target, D.int64).reshape(N)
        else:
            xa = x.contiguous()._data.reshape(N, C, inner)
            ta = _arr(target, D.int64).reshape(N, inner)
        w = _vec(weight, C, dt, 1.0, dev)
        lse = _buf(tuple(ta.shape), D.float64, dev)
        loss = _buf(tuple(ta.shape), dt, dev)
        tot = _buf(2, D.float64, dev, 0)
        err = _buf(2, D.int64, dev, 0)
        kernels(dev).norm.cross_entropy(xa, ta, w, ignore_index, label_smoothing, lse, loss, tot,
                                        err)
        err, tot = _host(err, dev), _host(tot, dev)
        if err[0]:
            raise IndexError(f"Target {int(err[1])} is out of bounds.")
        ctx.save_for_backward(x)
        ctx.meta = (ta, w, ignore_index, label_smoothing, lse, reduction, tot[1])
        if reduction == "none":
            return Tensor._make(loss.reshape(tuple(target._data.shape)), dt, dev)
        value = tot[0] if reduction == "sum" else tot[0] / tot[1] if tot[1] else math.nan
        return tensor(value, dtype=dt, device=dev)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, = ctx.saved_tensors
        ta, w, ignore_index, ls, lse, reduction, wsum = ctx.meta
        dt, dev = x.dtype, x.device
        K = kernels(dev).norm
        N, C = x._data.shape[0], x._data.shape[1]
        xa = x.contiguous()._data
        if xa.ndim != 2:
            xa = xa.reshape(N, C, _prod(x._data.shape[2:]))
        gx = _buf(tuple(xa.shape), dt, dev)
        if reduction == "none":
            K.cross_entropy_backward(xa, ta, w, ignore_index, ls, lse, 0.0,
                                     _arr(g, dt).reshape(ta.shape), True, gx)
        else:
            s = g.item()
            if reduction == "mean":
                s = s / wsum if wsum else math.nan
            K.cross_entropy_backward(xa, ta, w, ignore_index, ls, lse, s, lse, False, gx)
        return Tensor._make(gx.reshape(tuple(x._data.shape)), dt, dev), None, None, None, None, None


def _check_class_target(input, target, weight):
    """(input, target, squeeze) with PyTorch's checks for class-index targets; a 1-D input is
    one unbatched sample."""
    if input.ndim < 1:
        raise ValueError("Expected input to have at least 1 dimension, got 0")
    squeeze = input.ndim == 1
    if squeeze:
        if target.ndim != 0:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    C = input._data.shape[1]
    if target.ndim == 0 or target._data.shape[0] != input._data.shape[0]:
        raise ValueError(f"Expected input batch_size ({input._data.shape[0]}) to match target "
                         f"batch_size ({target._data.shape[0] if target.ndim else 1}).")
    if input.ndim == 2 and target.ndim != 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if input.ndim > 2 and tuple(target._data.shape) != (input._data.shape[0],) + tuple(input._data.shape[2:]):
        raise RuntimeError(
            f"Expected target size {_shape_str((input._data.shape[0],) + tuple(input._data.shape[2:]))}, "
            f"got {_shape_str(target._data.shape)}")
    if target.dtype.is_floating_point or target.dtype is D.bool:
        raise RuntimeError(f"expected scalar type Long but found {target.dtype.name.capitalize()}")
    if weight is not None and (weight.ndim != 1 or weight.numel() != C):
        raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no "
                           f"classes but got weight tensor of shape: {_shape_str(weight._data.shape)}")
    return input, target, squeeze


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross entropy of logits ``input`` (N, C, *) against class indices (N, *) or class
    probabilities (input's shape), with class ``weight``, ``ignore_index`` and label smoothing.

    >>> import numtorch as torch
    >>> from numtorch.ops import nnfunc as F
    >>> round(F.cross_entropy(torch.tensor([[0.0, 0.0]]), torch.tensor([1])).item(), 4)
    0.6931
    """
    reduction = _reduction(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if target.dtype.is_floating_point and tuple(target._data.shape) == tuple(input._data.shape):
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    input, target, squeeze = _check_class_target(input, target, weight)
    out = CrossEntropy.apply(input, target, weight, int(ignore_index), reduction,
                             float(label_smoothing))
    return out.squeeze(0) if squeeze and reduction == "none" else out


def _cross_entropy_probs(input, target, weight, reduction, ls):
    cdim = 0 if input.ndim == 1 else 1
    C = input.shape[cdim]
    if weight is not None and (weight.ndim != 1 or weight.numel() != C):
        raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no "
                           f"classes but got weight tensor of shape: {_shape_str(weight.shape)}")
    if ls > 0:
        target = target * (1 - ls) + ls / C
    t = log_softmax(input, cdim) * target
    if weight is not None:
        t = t * weight.reshape((C,) + (1,) * (input.ndim - cdim - 1))
    loss = -t.sum(cdim)
    if reduction == "mean":
        return loss.sum() / (input.numel() // C if C else 0)
    return _reduce(loss, reduction)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C, *) at class indices
    ``target`` (N, *); the weighted mean divides by the summed weights of the kept targets.

    >>> import numtorch as torch
    >>> from numtorch.ops import nnfunc as F
    >>> F.nll_loss(torch.tensor([[-1.0, -2.0]]), torch.tensor([1]))
    tensor(2.)
    """
    reduction = _reduction(reduction, size_average, reduce)
    input, target, squeeze = _check_class_target(input, target, weight)
    C = input.shape[1]
    keep = target != ignore_index
    bad = ((target < 0) | (target >= C)) & keep
    if bad.any().item():
        raise IndexError(f"Target {target[bad].reshape(-1)[0].item()} is out of bounds.")
    safe = where(keep, target, 0)
    picked = gather(input, 1, safe.unsqueeze(1)).squeeze(1)
    if weight is not None:
        wt = index_select(weight.to(input.dtype), 0, safe.reshape(-1)).reshape(safe.shape)
        wt = wt * keep.to(input.dtype)
    else:
        wt = keep.to(input.dtype)
    loss = -picked * wt
    if reduction == "none":
        return loss.squeeze(0) if squeeze else loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / wt.sum()


# --------------------------------------------------------------------------------------------
# regression and binary losses (composites)
# --------------------------------------------------------------------------------------------
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean squared error ``(input - target)**2`` reduced.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.mse_loss(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0]))
    tensor(2.5000)
    """
    reduction = _reduction(reduction, size_average, reduce)
    _check_size_match(input, target)
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean absolute error ``|input - target|`` reduced.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.l1_loss(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0]))
    tensor(1.5000)
    """
    reduction = _reduction(reduction, size_average, reduce)
    _check_size_match(input, target)
    return _reduce(abs(input - target), reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """``0.5 d**2 / beta`` where ``|d| < beta`` else ``|d| - 0.5 beta`` (``beta = 0``: L1).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.smooth_l1_loss(torch.tensor([0.0, 0.0]), torch.tensor([0.5, 3.0]))
    tensor(1.3125)
    """
    reduction = _reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _check_size_match(input, target)
    d = abs(input - target)
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """``0.5 d**2`` where ``|d| < delta`` else ``delta (|d| - 0.5 delta)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.huber_loss(torch.tensor([0.0, 0.0]), torch.tensor([0.5, 3.0]))
    tensor(1.3125)
    """
    reduction = _reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _check_size_match(input, target)
    d = abs(input - target)
    loss = where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """``-w (t log x + (1 - t) log(1 - x))`` of probabilities ``input``; logs clamped at -100.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.binary_cross_entropy(torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0]))
    tensor(0.6931)
    """
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}) is deprecated. Please ensure they have the same size.")
    if ((input < 0) | (input > 1)).any().item():
        raise RuntimeError("all elements of input should be between 0 and 1")
    loss = -(target * clamp(log(input), min=-100.0)
             + (1 - target) * clamp(log(1 - input), min=-100.0))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid + binary cross entropy in one stable expression (PyTorch's), with ``pos_weight``
    scaling the positive term.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.binary_cross_entropy_with_logits(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0]))
    tensor(0.6931)
    """
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size "
                         f"({input.shape})")
    # softplus(-x) = m + log(exp(-m) + exp(-x - m)), m = max(-x, 0): exact for any subgradient of m
    m = clamp(-input, min=0)
    sp = m + log(exp(-m) + exp(-input - m))
    if pos_weight is not None:
        sp = sp * ((pos_weight - 1) * target + 1)
    loss = (1 - target) * input + sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL divergence with log-probabilities ``input``: ``t (log t - input)`` (0 where t = 0);
    ``log_target``: ``exp(t) (t - input)``; ``'batchmean'`` divides the sum by the batch size.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.kl_div(torch.tensor([0.5, 0.5]).log(), torch.tensor([0.5, 0.5]), reduction='sum')
    tensor(0.)
    """
    if reduction == "batchmean" and size_average is None and reduce is None:
        pass
    else:
        reduction = _reduction(reduction, size_average, reduce)
    if log_target:
        loss = exp(target) * (target - input)
    else:
        pos = target > 0
        loss = where(pos, target * log(where(pos, target, 1)), 0) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    if reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.", stacklevel=2)
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------------------------
# activations (composites)
# --------------------------------------------------------------------------------------------
def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``x`` where ``x > 0`` else ``negative_slope * x``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.leaky_relu(torch.tensor([-1.0, 2.0]), 0.1)
    tensor([-0.1000,  2.0000])
    """
    return where(input > 0, input, input * negative_slope)


def elu(input, alpha=1.0, inplace=False):
    """``x`` where ``x > 0`` else ``alpha (exp(x) - 1)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.elu(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.6321,  0.0000,  2.0000])
    """
    return where(input > 0, input, (exp(clamp(input, max=0)) - 1) * alpha)


def gelu(input, approximate="none"):
    """``x Phi(x)`` (exact, with erf) or its tanh approximation (``approximate='tanh'``).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.gelu(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.1587,  0.0000,  1.9545])
    """
    if approximate == "none":
        return input * 0.5 * (1 + erf(input * (1 / math.sqrt(2))))
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2 / math.pi)
        return input * 0.5 * (1 + tanh(inner))
    raise RuntimeError(f"approximate argument must be either none or tanh.")


def silu(input, inplace=False):
    """``x * sigmoid(x)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.silu(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.2689,  0.0000,  1.7616])
    """
    return input * sigmoid(input)


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.softplus(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([0.3133, 0.6931, 2.1269])
    """
    bx = input * beta
    soft = log1p(exp(clamp(bx, max=threshold))) / beta
    return where(bx > threshold, input, soft)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """``clamp(x, min_val, max_val)`` with zero gradient on and outside the bounds (PyTorch's).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.hardtanh(torch.tensor([-2.0, 0.5, 2.0]))
    tensor([-1.0000,  0.5000,  1.0000])
    """
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    inside = (input > min_val) & (input < max_val)
    return where(inside, input, clamp(input, min_val, max_val).detach())


def relu6(input, inplace=False):
    """``hardtanh(x, 0, 6)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.relu6(torch.tensor([-1.0, 3.0, 8.0]))
    tensor([0., 3., 6.])
    """
    return hardtanh(input, 0.0, 6.0)


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` (global generator) and scale the rest by
    ``1 / (1 - p)``; identity when not ``training``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> _ = torch.manual_seed(0)
    >>> y = F.dropout(torch.ones(1000), p=0.5)
    >>> sorted(set(y.tolist()))
    [0.0, 2.0]
    >>> F.dropout(torch.ones(3), p=0.5, training=False)
    tensor([1., 1., 1.])
    """
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    mask = (rand(*input.shape, dtype=input.dtype, device=input.device) < 1.0 - p).to(input.dtype) * (1.0 / (1.0 - p))
    return input * mask


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) (or (C, H, W)) with probability ``p``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> _ = torch.manual_seed(0)
    >>> y = F.dropout2d(torch.ones(1, 4, 2, 2), p=0.5)
    >>> y.shape, all(len(set(c.flatten().tolist())) == 1 for c in y[0])
    (torch.Size([1, 4, 2, 2]), True)
    """
    _check_p(p)
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is "
                      "deprecated and will result in an error in a future release.", stacklevel=2)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    mask = (rand(*shape, dtype=input.dtype, device=input.device) < 1.0 - p).to(input.dtype) * (1.0 / (1.0 - p))
    return input * mask


# --------------------------------------------------------------------------------------------
# linear maps, embeddings, misc
# --------------------------------------------------------------------------------------------
def linear(input, weight, bias=None):
    """``input @ weight.T + bias``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.linear(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 1.0]]), torch.tensor([0.5]))
    tensor([[3.5000]])
    """
    out = matmul(input, weight.t())
    return out + bias if bias is not None else out


def bilinear(input1, input2, weight, bias=None):
    """``y[..., k] = input1 @ weight[k] @ input2 + bias[k]`` with weight (K, I, J).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.bilinear(torch.ones(1, 2), torch.ones(1, 3), torch.ones(4, 2, 3)).shape
    torch.Size([1, 4])
    """
    Kk, I, J = weight.shape
    if input1.shape[-1] != I or input2.shape[-1] != J:
        raise RuntimeError(
            f"bilinear(): input sizes {input1.shape[-1]} and {input2.shape[-1]} do not match "
            f"weight of size {_shape_str(weight.shape)}")
    t = matmul(input1, weight.permute(1, 0, 2).reshape(I, Kk * J))
    t = t.reshape(tuple(input1.shape[:-1]) + (Kk, J))
    out = (t * input2.unsqueeze(-2)).sum(-1)
    return out + bias if bias is not None else out


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` picked by integer ``input``; rows at ``padding_idx`` get no gradient.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.embedding(torch.tensor([2, 0]), torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
    tensor([[2., 2.],
            [0., 0.]])
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not "
                                  "supported by numtorch")
    n = weight.shape[0]
    if input.dtype.is_floating_point or input.dtype is D.bool:
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the "
                           f"following scalar types: Long, Int; but got {input.dtype} instead")
    if input.numel() and ((input < 0) | (input >= n)).any().item():
        raise IndexError("index out of range in self")
    out = index_select(weight, 0, input.reshape(-1)).reshape(tuple(input.shape) + (weight.shape[1],))
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise AssertionError("Padding_idx must be within num_embeddings")
        if padding_idx < 0:
            padding_idx += n
        out = where((input != padding_idx).unsqueeze(-1), out, out.detach())
    return out


def one_hot(tensor, num_classes=-1):
    """int64 one-hot encoding with a trailing dim of ``num_classes`` (max + 1 when -1).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.one_hot(torch.tensor([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    if tensor.dtype is not D.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if tensor.numel():
        if tensor.min().item() < 0:
            raise RuntimeError("Class values must be non-negative.")
        top = tensor.max().item()
        if num_classes == -1:
            num_classes = top + 1
        elif top >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    elif num_classes == -1:
        raise RuntimeError("Can not infer total number of classes from empty tensor.")
    return (tensor.unsqueeze(-1) == arange(num_classes, device=tensor.device)).to(D.int64)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(||input||_p along dim, eps)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.normalize(torch.tensor([[3.0, 4.0]]))
    tensor([[0.6000, 0.8000]])
    """
    denom = clamp(_norm(input, p, dim, keepdim=True), min=eps)
    return input / denom


class Pad(Function):
    """Constant padding (negative pads crop); backward is the same op with negated pads."""

    @staticmethod
    def forward(ctx, x, pads, value):
        nd = x.ndim
        shape = list(x.shape)
        src, dst = [slice(None)] * nd, [slice(None)] * nd
        for k in range(len(pads) // 2):
            d = nd - 1 - k
            lo, hi, s = pads[2 * k], pads[2 * k + 1], x.shape[d]
            n = s + lo + hi
            if n < 0:
                raise RuntimeError(
                    f"The input size {s}, plus negative padding {lo} and {hi} resulted in a "
                    f"negative output size, which is invalid. Check dimension {d} of your input.")
            shape[d] = n
            a = max(-lo, 0)
            c = max(0, s - a - max(-hi, 0))
            src[d] = slice(a, a + c)
            dst[d] = slice(max(lo, 0), max(lo, 0) + c)
        out = empty(tuple(shape), x.dtype, x.device)  # a fill, then one strided copy
        _core.fill(out, value)
        if all(sl.stop > sl.start for sl in src if sl.start is not None):
            kernels(x.device).elementwise.copy(x._data[tuple(src)], out._data[tuple(dst)])
        ctx.pads = pads
        return out

    @staticmethod
    def backward(ctx, g):
        return Pad.apply(g, tuple(-p for p in ctx.pads), 0), None, None


def _pad_index(n, lo, hi, mode):
    i = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return np.mod(i, n)
    # reflect (the edge is not repeated)
    period = 2 * (n - 1)
    i = np.mod(i, period) if period else np.zeros_like(i)
    return np.where(i >= n, period - i, i)


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left_last, right_last, left_prev, ...)``.

    Modes ``'constant'`` (with ``value``; negative pads crop), ``'reflect'``, ``'replicate'``,
    ``'circular'``.

    >>> import numtorch as torch
    >>> from numtorch.ops import nnfunc as F
    >>> F.pad(torch.tensor([1.0, 2.0]), (1, 2))
    tensor([0., 1., 2., 0., 0.])
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) > 2 * input.ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {input.ndim}")
    if mode == "constant":
        return Pad.apply(input, pad, 0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Padding mode \"{mode}\" is not supported")
    if value not in (None, 0):
        raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
    out = input
    for k in range(len(pad) // 2):
        d = input.ndim - 1 - k
        lo, hi, n = pad[2 * k], pad[2 * k + 1], input.shape[d]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input "
                f"dimension, but got: padding ({lo}, {hi}) at dimension {d} of input {input.ndim}")
        idx = tensor(_pad_index(n, lo, hi, mode), dtype=D.int64, device=input.device)
        out = index_select(out, d, idx)
    return out
