"""Dropout, linear maps, embeddings, one-hot, normalisation by a norm, distances and the
normalisation composites (instance, RMS, local response), composed from Tensor ops (no backward
code)."""
import math
import warnings

import numpy as np

from ..._registry import functional_op
from ... import _dtype as D
from ..._creation import arange, rand, tensor
from ..._tracing import host_step
from ...autograd.grad_mode import no_grad
from ...ops.elementwise import clamp, log, log1p, rsqrt, where
from ...ops.indexing import index_select
from ...ops.norm import normalized_shape_of
from ...ops.linalg import matmul, Linear
from ..._tensor import Tensor
from ..parameter import Parameter
from ...ops.norm import batch_norm, layer_norm
from ...ops.pad import pad
from ...ops.pool import avg_pool2d
from ...ops.reduction import norm as _norm, softmax
from ...ops.shape import broadcast_tensors
from ._activation import _write_back

_DENSE = (Tensor, Parameter)  # the classes of a plain dense tensor (a weight is a Parameter)


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


@functional_op()
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
    if inplace:
        return _write_back(dropout, input, p, training)
    if p == 1.0:
        return input * 0.0
    keep = rand(*input.shape, dtype=input.dtype, device=input.device) < 1.0 - p
    mask = keep.to(input.dtype) * (1.0 / (1.0 - p))
    return input * mask


def _feature_dropout(input, p, training, inplace):
    """Zero whole channels: one draw per (sample, channel) of (N, C, *)."""
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if inplace:
        return _write_back(_feature_dropout, input, p, training, False)
    if input.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    if p == 1.0:
        return input * 0.0
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    keep = rand(*shape, dtype=input.dtype, device=input.device) < 1.0 - p
    return input * (keep.to(input.dtype) * (1.0 / (1.0 - p)))


def _unbatched(f, input, batched, *args):
    """``f`` on ``input`` with a batch dim of one added unless ``batched``."""
    if batched:
        return f(input, *args)
    return f(input.unsqueeze(0), *args).squeeze(0)


@functional_op()
def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) (or (C, L)) with probability ``p``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> _ = torch.manual_seed(0)
    >>> y = F.dropout1d(torch.ones(4, 3), p=0.5)
    >>> all(len(set(row.tolist())) == 1 for row in y)
    True
    """
    _check_p(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, "
            "a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    if inplace and training and p > 0:
        return _write_back(dropout1d, input, p, training)
    return _unbatched(_feature_dropout, input, input.ndim == 3, p, training, False)


@functional_op()
def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) with probability ``p`` (a 3-D input is read as
    (N, C, L), as PyTorch does).

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
    return _feature_dropout(input, p, training, inplace)


@functional_op()
def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) (or (C, D, H, W)) with probability ``p``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.dropout3d(torch.ones(1, 2, 1, 1, 1), training=False).flatten()
    tensor([1., 1.])
    """
    _check_p(p)
    if input.ndim not in (4, 5):
        warnings.warn(f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is "
                      "deprecated and will result in an error in a future release.", stacklevel=2)
    if inplace and training and p > 0:
        return _write_back(dropout3d, input, p, training)
    return _unbatched(_feature_dropout, input, input.ndim == 5, p, training, False)


_SELU_ALPHA = 1.7580993408473766  # SELU's scale * alpha: the value a dropped unit takes (negated)


def _alpha_dropout(input, p, training, inplace, feature):
    _check_p(p)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if inplace:
        return _write_back(_alpha_dropout, input, p, training, False, feature)
    if p == 1.0:
        return input * 0.0
    if feature and input.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2) if feature else tuple(input.shape)
    keep = (rand(*shape, dtype=input.dtype, device=input.device) < 1.0 - p).to(input.dtype)
    # dropped units become -alpha, then an affine map a x + b restores mean 0 and variance 1
    a = 1.0 / math.sqrt((_SELU_ALPHA ** 2 * p + 1) * (1 - p))
    b = (keep - 1) * (_SELU_ALPHA * a) + _SELU_ALPHA * a * p
    return input * (keep * a) + b


@functional_op()
def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks: dropped units take SELU's negative saturation value and an
    affine map keeps the mean and variance of a standard normal input.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> _ = torch.manual_seed(0)
    >>> y = F.alpha_dropout(torch.randn(20000), 0.2, training=True)
    >>> abs(y.mean().item()) < 0.05, abs(y.std().item() - 1) < 0.05
    (True, True)
    """
    return _alpha_dropout(input, p, training, inplace, False)


@functional_op()
def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """:func:`alpha_dropout` of whole channels of (N, C, *).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.feature_alpha_dropout(torch.ones(2, 3), 0.5).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    return _alpha_dropout(input, p, training, inplace, True)


@functional_op()
def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """A sample of the Gumbel-softmax (concrete) distribution: ``softmax((logits + g) / tau)``
    with Gumbel noise ``g``; ``hard``: the one-hot of its argmax in value, the soft sample's
    gradient (straight-through).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> _ = torch.manual_seed(0)
    >>> y = F.gumbel_softmax(torch.zeros(2, 3), hard=True)
    >>> y.sum(-1)
    tensor([1., 1.])
    """
    gumbels = -log(-log1p(-rand(*logits.shape, dtype=logits.dtype, device=logits.device)))
    y = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y
    one_hot = (arange(y.shape[dim], device=y.device).reshape(
        (-1,) + (1,) * (-dim - 1 if dim < 0 else y.ndim - dim - 1)) ==
        y.argmax(dim, keepdim=True)).to(y.dtype)
    return one_hot - y.detach() + y


@functional_op()
def linear(input, weight, bias=None):
    """``input @ weight.T + bias``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.linear(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 1.0]]), torch.tensor([0.5]))
    tensor([[3.5000]])
    """
    dt = input.dtype
    if input.__class__ in _DENSE and weight.__class__ in _DENSE and weight._data.ndim == 2 \
            and input._data.ndim and input._data.shape[-1] == weight._data.shape[1] \
            and (dt is D.float32 or dt is D.float64) and weight.dtype is dt \
            and weight.device is input.device and (bias is None or (
                bias.__class__ in _DENSE and bias.dtype is dt and bias.device is input.device
                and bias._data.shape == weight._data.shape[:1])):
        return Linear.apply(input, weight, bias)  # one node (its rules: ops/linalg.py)
    out = matmul(input, weight.t())
    return out + bias if bias is not None else out


@functional_op()
def bilinear(input1, input2, weight, bias=None):
    """``y[..., k] = input1 @ weight[k] @ input2 + bias[k]`` with weight (K, I, J).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.bilinear(torch.ones(1, 2), torch.ones(1, 3), torch.ones(4, 2, 3)).shape
    torch.Size([1, 4])
    """
    if input1.ndim != input2.ndim:
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.ndim} and "
                           f"{input2.ndim}")
    for i in range(input1.ndim - 1):
        if input1.shape[i] != input2.shape[i]:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match at dim {i}: got "
                               f"{input1.shape[i]} and {input2.shape[i]}")
    if weight.ndim != 3:
        raise RuntimeError(f"bilinear(): weight must be 3-dimensional, got {weight.ndim}D")
    Kk, I, J = weight.shape
    for k, (n, want) in enumerate(((input1.shape[-1], I), (input2.shape[-1], J))):
        if n != want:
            raise RuntimeError(f"bilinear(): input{k + 1} size does not match weight size: got "
                               f"{n} but expected {want}")
    if bias is not None and bias.shape[0] != Kk:
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got "
                           f"{bias.shape[0]} but expected {Kk}")
    t = matmul(input1, weight.permute(1, 0, 2).reshape(I, Kk * J))
    t = t.reshape(tuple(input1.shape[:-1]) + (Kk, J))
    out = (t * input2.unsqueeze(-2)).sum(-1)
    return out + bias if bias is not None else out


@functional_op()
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

    def check():  # a host step: a numtorch.compile replay checks its new indices too
        if input.numel() and ((input < 0) | (input >= n)).any().item():
            raise IndexError("index out of range in self")
    host_step(check)
    out = index_select(weight, 0, input.reshape(-1))
    out = out.reshape(tuple(input.shape) + (weight.shape[1],))
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise AssertionError("Padding_idx must be within num_embeddings")
        if padding_idx < 0:
            padding_idx += n
        out = where((input != padding_idx).unsqueeze(-1), out, out.detach())
    return out


@functional_op()
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


@functional_op()
def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(||input||_p along dim, eps)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.normalize(torch.tensor([[3.0, 4.0]]))
    tensor([[0.6000, 0.8000]])
    """
    denom = clamp(_norm(input, p, dim, keepdim=True), min=eps)
    return input / denom


def _clamped_norm(x, dim, eps):
    """``||x||_2`` along ``dim`` (kept) clamped below at ``eps`` in value only: the gradient is
    that of the norm, as PyTorch clamps in place under no_grad."""
    n = _norm(x, 2, dim, keepdim=True)
    return n + (clamp(n, min=eps) - n).detach()


@functional_op()
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine of the angle between ``x1`` and ``x2`` (broadcast) along ``dim``; each norm is
    clamped below at ``eps``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.cosine_similarity(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]))
    tensor([0.7071])
    """
    a, b = broadcast_tensors(x1, x2)
    return ((a / _clamped_norm(a, dim, eps)) * (b / _clamped_norm(b, dim, eps))).sum(dim)


@functional_op()
def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of ``x1 - x2 + eps`` along the last dim.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.pairwise_distance(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]))
    tensor([5.0000])
    """
    d = x1 - x2 + eps
    if d.ndim == 0:
        return d.abs() if p != 0 else (d != 0).to(d.dtype)
    return d.norm(p, -1, keepdim)


@functional_op()
def pdist(input, p=2):
    """The p-norm distances between the rows of (N, M), for each pair i < j in row-major
    order: N (N - 1) / 2 values.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.pdist(torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]))
    tensor([5.0000, 1.0000, 4.2426])
    """
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"pdist only supports floating-point dtypes, got: {input.dtype}")
    i, j = np.triu_indices(input.shape[0], 1)
    dev = input.device
    a = index_select(input, 0, tensor(i, dtype=D.int64, device=dev))
    b = index_select(input, 0, tensor(j, dtype=D.int64, device=dev))
    return (a - b).norm(p, 1)


# --------------------------------------------------------------------------------------------
# normalisation composites: instance norm (layer norm per (sample, channel) plane), RMS norm,
# local response norm
# --------------------------------------------------------------------------------------------
@functional_op()
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalise each (sample, channel) plane of (N, C, *) over its spatial dims, then apply
    the per-channel ``weight``/``bias``; with ``use_input_stats`` the running statistics (if
    given) are updated in place with the average over the batch of the per-plane statistics,
    otherwise they normalise.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.instance_norm(torch.tensor([[[1.0, 3.0], [0.0, 10.0]]]))
    tensor([[[-1.0000,  1.0000],
             [-1.0000,  1.0000]]])
    """
    if input.ndim < 2:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size "
                         f"{input.shape}")
    N, C = input.shape[:2]
    L = math.prod(input.shape[2:])
    if use_input_stats and L <= 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size "
                         f"{input.shape}")
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and t.numel() != C:
            raise RuntimeError(f"{name} should contain {N * C} elements not {t.numel() * N}")
    if (running_mean is None) != (running_var is None):
        raise RuntimeError("running_mean and running_var must be both defined or both None")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"instance_norm\" not implemented for '{input.dtype}'")
    if use_input_stats:
        planes = input.reshape(N * C, L)
        out = layer_norm(planes, (L,), None, None, eps).reshape(input.shape)
        if running_mean is not None and N * C:
            with no_grad():  # average of the per-plane statistics (unbiased variances)
                m = planes.mean(1).reshape(N, C).mean(0)
                v = planes.var(1).reshape(N, C).mean(0)
                running_mean.mul_(1 - momentum).add_(m * momentum)
                running_var.mul_(1 - momentum).add_(v * momentum)
    elif running_mean is None:
        raise RuntimeError("Expected running_mean and running_var to be defined when "
                           "use_input_stats is false")
    else:
        out = batch_norm(input, running_mean, running_var, None, None, False, 0.0, eps)
    shape = (1, C) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


@functional_op()
def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``x / sqrt(mean(x**2) + eps) * weight`` over the trailing ``normalized_shape`` dims
    (``eps`` defaults to the dtype's machine epsilon).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.rms_norm(torch.tensor([[3.0, 4.0]]), (2,))
    tensor([[0.8485, 1.1314]])
    """
    ns = normalized_shape_of(input, normalized_shape, weight=weight)
    if eps is None:
        eps = float(np.finfo(input.dtype.np).eps)
    dims = tuple(range(input.ndim - len(ns), input.ndim))
    out = input * rsqrt((input * input).mean(dims, keepdim=True) + eps)
    return out * weight if weight is not None else out


@functional_op()
def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Divide each element of (N, C, *) by ``(k + alpha * mean of x**2 over `size` neighbouring
    channels) ** beta`` (windows zero-padded at the channel ends).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.local_response_norm(torch.ones(1, 3, 1), 2, alpha=1.0, beta=1.0).flatten()
    tensor([0.6667, 0.5000, 0.5000])
    """
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} "
                         "dimensions)")
    if input.numel() == 0:
        return input
    N, C = input.shape[:2]
    sq = (input * input).reshape(N, 1, C, -1)
    sq = pad(sq, (0, 0, size // 2, (size - 1) // 2))
    div = avg_pool2d(sq, (size, 1), stride=1).reshape(input.shape)
    return input / (div * alpha + k) ** beta
