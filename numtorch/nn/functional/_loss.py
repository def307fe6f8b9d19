"""Losses composed from Tensor ops (no backward code); ``cross_entropy`` with class-index targets
checks its arguments and calls the fused primitive ``ops.loss.CrossEntropy``."""
import math
import warnings

import numpy as np

from ..._registry import functional_op
from ... import _dtype as D
from ..._creation import arange, full, full_like, tensor, zeros
from ..._tensor import Tensor
from ..._tracing import host_step
from ...ops._core import shape_str
from ...ops.elementwise import abs, clamp, exp, log, minimum, where
from ...ops.indexing import gather, index_select
from ...ops.loss import BinaryCrossEntropy, CrossEntropy
from ...ops.reduction import log_softmax, logsumexp
from ...ops.shape import cat, stack
from ._activation import logsigmoid
from ._layers import pairwise_distance
from ._sampling import _type_name


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

    def check():  # a host step: a numtorch.compile replay checks its new targets too
        if bad.any().item():
            raise IndexError(f"Target {target[bad].reshape(-1)[0].item()} is out of bounds.")
    host_step(check)
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

    def check():  # a host step: a numtorch.compile replay checks its new input too
        if input.numel() and not ((input >= 0) & (input <= 1)).all().item():
            raise RuntimeError("all elements of input should be between 0 and 1")
    host_step(check)
    loss = BinaryCrossEntropy.apply(input, target)
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


# --------------------------------------------------------------------------------------------
# margin and embedding losses (composites)
# --------------------------------------------------------------------------------------------
def _same_ndim(op, names, *ts):
    if len({t.ndim for t in ts}) > 1:
        sizes = ", ".join(f"{n}: {t.shape}" for n, t in zip(names, ts))
        raise RuntimeError(f"{op} : All input tensors should have same dimension but got sizes: "
                           f"{sizes} ")


@functional_op()
def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    """``max(0, -target * (input1 - input2) + margin)``: ``target`` (1 or -1) says which input
    should rank higher.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.margin_ranking_loss(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 1.0]),
    ...                       torch.tensor([1.0, 1.0]))
    tensor(0.5000)
    """
    reduction = _reduction(reduction, size_average, reduce)
    _same_ndim("margin_ranking_loss", ("input1", "input2", "target"), input1, input2, target)
    return _reduce(clamp(-target * (input1 - input2) + margin, min=0), reduction)


@functional_op()
def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """``input`` where ``target == 1``, ``max(0, margin - input)`` where ``target == -1`` (other
    target values get both terms, as in PyTorch).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.hinge_embedding_loss(torch.tensor([0.3, 0.3]), torch.tensor([1.0, -1.0]),
    ...                        reduction='none')
    tensor([0.3000, 0.7000])
    """
    reduction = _reduction(reduction, size_average, reduce)
    neg = where(target != 1, clamp(margin - input, min=0), 0)
    pos = where(target != -1, input, 0)
    return _reduce(neg + pos, reduction)


@functional_op()
def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Two-class logistic loss ``log(1 + exp(-target * input))`` (computed stably).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.soft_margin_loss(torch.tensor([0.0, 0.0]), torch.tensor([1.0, -1.0]))
    tensor(0.6931)
    """
    reduction = _reduction(reduction, size_average, reduce)
    return _reduce(-logsigmoid(input * target), reduction)


@functional_op()
def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """One-vs-all logistic loss over the classes of the last dim, averaged over the classes:
    (N, C) -> (N,) before the reduction.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.multilabel_soft_margin_loss(torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 1.0]]))
    tensor(0.6931)
    """
    reduction = _reduction(reduction, size_average, reduce)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(-1) / input.shape[-1] if input.ndim else loss
    return _reduce(loss, reduction)


@functional_op()
def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """``1 - cos(x1, x2)`` where ``target == 1``, ``max(0, cos(x1, x2) - margin)`` where
    ``target == -1``; the cosine is taken along the last dim of (N, D) or (D,) inputs.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    >>> F.cosine_embedding_loss(x, torch.tensor([[1.0, 1.0], [1.0, 1.0]]),
    ...                         torch.tensor([1.0, -1.0]), reduction='none')
    tensor([0.2929, 0.7071])
    """
    reduction = _reduction(reduction, size_average, reduce)
    if target.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    want = target.ndim + 1
    if input1.ndim != want or input2.ndim != want:
        raise RuntimeError(
            f"{target.ndim}D target tensor expects {want}D input tensors, but found inputs with "
            f"sizes {shape_str(input1.shape)} and {shape_str(input2.shape)}.")
    eps = 1e-12  # PyTorch adds it to each squared norm
    dot = (input1 * input2).sum(-1)
    cos = dot / ((((input1 * input1).sum(-1) + eps) * ((input2 * input2).sum(-1) + eps)) ** 0.5)
    loss = where(target == 1, 1 - cos, 0) + where(target == -1, clamp(cos - margin, min=0), 0)
    return _reduce(loss, reduction)


def _check_triplet(a, p, n):
    if not a.ndim == p.ndim == n.ndim:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {a.ndim}D, positive {p.ndim}D, and negative {n.ndim}D "
            "inputs")


@functional_op()
def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """``max(0, d(a, p) - d(a, n) + margin)`` with ``d`` = :func:`pairwise_distance`; ``swap``
    uses ``min(d(a, n), d(p, n))`` as the negative distance.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> a = torch.tensor([[0.0, 0.0]])
    >>> F.triplet_margin_loss(a, torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 1.0]]))
    tensor(5.0000)
    """
    reduction = _reduction(reduction, size_average, reduce)
    _check_triplet(anchor, positive, negative)
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(clamp(margin + d_pos - d_neg, min=0), reduction)


@functional_op()
def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    """:func:`triplet_margin_loss` with any ``distance_function(x1, x2)`` (default
    :func:`pairwise_distance`).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> l1 = lambda x, y: (x - y).abs().sum(-1)
    >>> a = torch.tensor([[0.0, 0.0]])
    >>> F.triplet_margin_with_distance_loss(a, torch.tensor([[3.0, 4.0]]),
    ...                                     torch.tensor([[0.0, 1.0]]), distance_function=l1)
    tensor(7.)
    """
    reduction = _reduction(reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    _check_triplet(anchor, positive, negative)
    dist = distance_function if distance_function is not None else pairwise_distance
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:
        d_neg = minimum(d_neg, dist(positive, negative))
    return _reduce(clamp(margin + d_pos - d_neg, min=0), reduction)


def _check_long(target):
    if target.dtype is not D.int64:
        raise RuntimeError(f"expected scalar type Long but found {_type_name(target.dtype)}")


@functional_op()
def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,
                      reduce=None, reduction="mean"):
    """Multi-class hinge loss of (N, C) (or (C,)) scores at class indices ``target``:
    ``sum_{i != y} max(0, margin - x[y] + x[i])**p / C``, scaled by ``weight[y]``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.multi_margin_loss(torch.tensor([[0.1, 0.2, 0.4, 0.8]]), torch.tensor([3]))
    tensor(0.3250)
    """
    reduction = _reduction(reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if input.ndim > 2 or input.numel() == 0 and input.ndim != 2:
        raise RuntimeError("Expected non-empty vector or matrix with optional 0-dim batch size, "
                           f"but got: {shape_str(input.shape)}")
    x = input if input.ndim == 2 else input.reshape(1, -1)
    N, C = x.shape
    if target.numel() != N or target.ndim > 1:
        raise RuntimeError(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of "
            f"input samples (batch size). Expected target size [{N}], but got "
            f"{shape_str(target.shape)}. Input has shape {shape_str(input.shape)}.")
    _check_long(target)
    if weight is not None and (weight.ndim > 1 or weight.numel() != C):
        raise RuntimeError(f"inconsistent weight size, expected {C} but got "
                           f"{shape_str(weight.shape)}")
    y = target.reshape(N, 1)

    def check():  # a host step (numtorch.compile)
        if N and ((y < 0) | (y >= C)).any().item():
            raise RuntimeError("target out of range")
    host_step(check)
    z = clamp(margin - gather(x, 1, y) + x, min=0)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * index_select(weight, 0, y.reshape(-1)).reshape(N, 1)
    others = arange(C, device=x.device).reshape(1, C) != y
    loss = where(others, z, 0).sum(1) / C
    if input.ndim < 2 and reduction == "none":
        loss = loss.reshape(tuple(target.shape))
    return _reduce(loss, reduction)


@functional_op()
def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Multi-label hinge loss: ``target`` (N, C) lists class indices, ended by the first -1;
    each listed class j and each unlisted class i add ``max(0, 1 - (x[j] - x[i])) / C``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.multilabel_margin_loss(torch.tensor([[0.1, 0.2, 0.4, 0.8]]),
    ...                          torch.tensor([[3, 0, -1, 1]]))
    tensor(0.8500)
    """
    reduction = _reduction(reduction, size_average, reduce)
    if input.ndim > 2 or input.numel() == 0 and input.ndim != 2:
        raise RuntimeError("Expected non-empty vector or matrix with optional 0-dim batch size, "
                           f"but got: {shape_str(input.shape)}")
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"inconsistent target size: {shape_str(target.shape)} for input of "
                           f"size: {shape_str(input.shape)}")
    _check_long(target)
    x = input if input.ndim == 2 else input.reshape(1, -1)
    t = target.reshape(x.shape)
    N, C = x.shape
    # the targets are the entries before the first -1 of each row
    listed = (t != -1).to(D.int64).cumprod(1) > 0

    def check():  # a host step (numtorch.compile); checked past the first -1 too
        if N and C and ((t < -1) | (t >= C)).any().item():
            raise RuntimeError("argument #2 'target' is out of range")
    host_step(check)
    safe = where(listed, t, 0)
    is_target = zeros((N, C), dtype=x.dtype, device=x.device).scatter_add(
        1, safe, listed.to(x.dtype)) > 0
    z = clamp(1 - gather(x, 1, safe).unsqueeze(2) + x.unsqueeze(1), min=0)  # (N, J, C)
    keep = listed.unsqueeze(2) & ~is_target.unsqueeze(1)
    loss = where(keep, z, 0).sum((1, 2)) / C
    if input.ndim < 2 and reduction == "none":
        loss = loss.reshape(())
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------------------------
# likelihood losses (composites)
# --------------------------------------------------------------------------------------------
@functional_op()
def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Poisson negative log-likelihood: ``exp(input) - target * input`` (``log_input``) or
    ``input - target * log(input + eps)``; ``full`` adds Stirling's term where ``target > 1``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.poisson_nll_loss(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]))
    tensor(0.8591)
    """
    reduction = _reduction(reduction, size_average, reduce)
    if log_input:
        loss = exp(input) - target * input
    else:
        loss = input - target * log(input + eps)
    if full:
        t = where(target > 1, target, 1)  # keeps the unused branch finite
        stirling = t * log(t) - t + 0.5 * log(2 * math.pi * t)
        loss = loss + where(target > 1, stirling, 0)
    return _reduce(loss, reduction)


@functional_op()
def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Gaussian negative log-likelihood ``0.5 (log var + (input - target)**2 / var)`` (+ the
    constant with ``full``); ``var`` has input's shape, or one dim fewer, or a size of 1 in one
    dim, or is a float; it is clamped below at ``eps`` in value only.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.gaussian_nll_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]), torch.ones(2))
    tensor(1.)
    """
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = full_like(input, float(var))
    else:
        def check():  # a host step (numtorch.compile)
            if var.numel() and (var < 0).any().item():
                raise ValueError("var has negative entry/entries")
        host_step(check)
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and sum(
                v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not valid")
    var = var + (clamp(var, min=eps) - var).detach()  # PyTorch clamps without a gradient
    loss = 0.5 * (log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------------------------
# connectionist temporal classification (a composite over time steps)
# --------------------------------------------------------------------------------------------
_CTC_NEG = -1e30  # "log 0" kept finite: logsumexp and its gradient stay defined; -inf beyond


def _host_ints(v):
    """A tensor, sequence or int of lengths/labels as a list of Python ints (on the host)."""
    if isinstance(v, Tensor):
        return [int(e) for e in v.reshape(-1).tolist()]
    if isinstance(v, (list, tuple)):
        return [int(e) for e in v]
    return [int(v)]


@functional_op()
def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """Connectionist temporal classification loss: ``-log`` of the total probability of the
    alignments of ``log_probs`` (T, N, C) (or (T, C)) that collapse to each target (padded
    (N, S) or concatenated); ``'mean'`` divides each loss by its target length first.

    The forward (alpha) recursion runs one time step after another with Tensor ops, so the
    gradient is autograd's; an impossible alignment gives ``inf`` (0 with ``zero_infinity``).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> lp = torch.full((2, 1, 2), 0.5).log()  # two frames, classes {blank, a}
    >>> round(F.ctc_loss(lp, torch.tensor([[1]]), [2], [1], reduction='sum').exp().item(), 4)
    1.3333
    """
    reduction = _reduction(reduction)
    unbatched = log_probs.ndim == 2
    lp = log_probs.unsqueeze(1) if unbatched else log_probs
    if lp.ndim != 3:
        raise RuntimeError(f"ctc_loss: expected log_probs of 2 or 3 dimensions (T, N, C), got "
                           f"{shape_str(log_probs.shape)}")
    T, N, C = lp.shape
    if T == 0:
        raise RuntimeError("ctc_loss: log_probs must have at least one time step")
    in_len = _host_ints(input_lengths)
    tg_len = _host_ints(target_lengths)
    if len(in_len) != N:
        raise RuntimeError("input_lengths must be of size batch_size")
    if len(tg_len) != N:
        raise RuntimeError("target_lengths must be of size batch_size")
    if not 0 <= blank < C:
        raise RuntimeError("blank must be in label range")
    for name, vals, top in (("input_lengths", in_len, T), ("target_lengths", tg_len, None)):
        for v in vals:
            if v < 0:
                raise RuntimeError(f"Expected {name} to have value at least 0, but got value {v} "
                                   "(while checking arguments for ctc_loss)")
            if top is not None and v > top:
                raise RuntimeError(f"Expected {name} to have value at most {top}, but got value "
                                   f"{v} (while checking arguments for ctc_loss)")
    flat = _host_ints(targets)
    S = max(tg_len) if N else 0
    if targets.ndim == (1 if unbatched else 2):  # padded (N, S)
        width = targets.shape[-1]
        if width < S:
            raise RuntimeError(f"Expected tensor to have size at least {S} at dimension 1, but "
                               f"got size {width} for argument #2 'targets' (while checking "
                               "arguments for ctc_loss)")
        rows = [flat[n * width:n * width + tg_len[n]] for n in range(N)]
    else:  # concatenated
        if len(flat) != sum(tg_len):
            raise RuntimeError(f"Expected tensor to have size {sum(tg_len)} at dimension 0, but "
                               f"got size {len(flat)} for argument #2 'targets' (while checking "
                               "arguments for ctc_loss)")
        starts = np.cumsum([0] + tg_len)
        rows = [flat[starts[n]:starts[n + 1]] for n in range(N)]
    if any(not 0 <= c < C for row in rows for c in row):
        raise RuntimeError(f"ctc_loss: target labels must be in [0, {C})")
    # the extended labels: blank, l1, blank, l2, ..., blank (padded with blanks)
    K = 2 * S + 1
    ext = np.full((N, K), blank, dtype=np.int64)
    skip = np.zeros((N, K), dtype=bool)  # s - 2 -> s allowed: a label unlike the one before
    for n, row in enumerate(rows):
        ext[n, 1:2 * len(row):2] = row
        for s in range(3, 2 * len(row), 2):
            skip[n, s] = ext[n, s] != ext[n, s - 2]
    dev = lp.device
    ext_t = tensor(ext, device=dev)
    skip_t = tensor(skip, device=dev)
    steps = np.asarray(in_len)
    lp = clamp(lp, min=_CTC_NEG)
    neg = full((N, 2), _CTC_NEG, dtype=lp.dtype, device=dev)
    first = tensor(np.arange(K) < 2, device=dev)
    alpha = where(first, gather(lp[0], 1, ext_t), _CTC_NEG)
    # a sample with no frames only has the empty alignment (probability 1)
    alpha = where(tensor((steps > 0)[:, None], device=dev), alpha,
                  where(tensor(np.arange(K) == 0, device=dev), 0.0, _CTC_NEG))
    for t in range(1, int(steps.max()) if N else 0):
        prev1 = cat([neg[:, :1], alpha[:, :-1]], 1)
        prev2 = where(skip_t, cat([neg, alpha[:, :-2]], 1)[:, :K], _CTC_NEG)
        new = logsumexp(stack([alpha, prev1, prev2]), 0) + gather(lp[t], 1, ext_t)
        alpha = where(tensor((steps > t)[:, None], device=dev), new, alpha)
    L = np.asarray(tg_len)
    ends = tensor(np.stack([2 * L, np.maximum(2 * L - 1, 0)], 1), device=dev)
    last = where(tensor(np.stack([L >= 0, L > 0], 1), device=dev), gather(alpha, 1, ends),
                 _CTC_NEG)
    nll = -logsumexp(last, 1)
    impossible = nll > -0.1 * _CTC_NEG
    loss = where(impossible, 0.0 if zero_infinity else math.inf, nll)
    if reduction == "mean":
        loss = (loss / tensor(np.maximum(L, 1), dtype=loss.dtype, device=dev)).mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss.squeeze(0) if unbatched and reduction == "none" else loss
