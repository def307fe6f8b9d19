"""Losses composed from Tensor ops (no backward code); ``cross_entropy`` with class-index targets
checks its arguments and calls the fused primitive ``ops.loss.CrossEntropy``."""
import warnings

from ..._registry import functional_op
from ... import _dtype as D
from ...ops._core import shape_str
from ...ops.elementwise import abs, clamp, exp, log, where
from ...ops.indexing import gather, index_select
from ...ops.loss import CrossEntropy
from ...ops.reduction import log_softmax


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


def _check_size_match(input, target):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.", stacklevel=3)


# --------------------------------------------------------------------------------------------
# class-index losses: cross entropy (the fused primitive for index targets) and NLL
# --------------------------------------------------------------------------------------------
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
    want = (input._data.shape[0],) + tuple(input._data.shape[2:])
    if input.ndim > 2 and tuple(target._data.shape) != want:
        raise RuntimeError(f"Expected target size {shape_str(want)}, "
                           f"got {shape_str(target._data.shape)}")
    if target.dtype.is_floating_point or target.dtype is D.bool:
        raise RuntimeError(f"expected scalar type Long but found {target.dtype.name.capitalize()}")
    if weight is not None and (weight.ndim != 1 or weight.numel() != C):
        raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no "
                           "classes but got weight tensor of shape: "
                           f"{shape_str(weight._data.shape)}")
    return input, target, squeeze


@functional_op()
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross entropy of logits ``input`` (N, C, *) against class indices (N, *) or class
    probabilities (input's shape), with class ``weight``, ``ignore_index`` and label smoothing.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> round(F.cross_entropy(torch.tensor([[0.0, 0.0]]), torch.tensor([1])).item(), 4)
    0.6931
    """
    reduction = _reduction(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if not input.dtype.is_floating_point:  # PyTorch's log_softmax has no integer kernel
        raise NotImplementedError("\"log_softmax_lastdim_kernel_impl\" not implemented for "
                                  f"'{input.dtype.name.capitalize()}'")
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
                           f"classes but got weight tensor of shape: {shape_str(weight.shape)}")
    if ls > 0:
        target = target * (1 - ls) + ls / C
    t = log_softmax(input, cdim) * target
    if weight is not None:
        t = t * weight.reshape((C,) + (1,) * (input.ndim - cdim - 1))
    loss = -t.sum(cdim)
    if reduction == "mean":
        return loss.sum() / (input.numel() // C if C else 0)
    return _reduce(loss, reduction)


@functional_op()
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C, *) at class indices
    ``target`` (N, *); the weighted mean divides by the summed weights of the kept targets.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
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
@functional_op()
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


@functional_op()
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


@functional_op()
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


@functional_op()
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


@functional_op()
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
    # one reduction; NaN fails both comparisons, so it is refused too (as PyTorch)
    if input.numel() and not ((input >= 0) & (input <= 1)).all().item():
        raise RuntimeError("all elements of input should be between 0 and 1")
    loss = -(target * clamp(log(input), min=-100.0)
             + (1 - target) * clamp(log(1 - input), min=-100.0))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


@functional_op()
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


@functional_op()
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
