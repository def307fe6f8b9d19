"""Dropout, linear maps, embeddings, one-hot, normalisation by a norm and distances, composed
from Tensor ops (no backward code)."""
import warnings

from ..._registry import functional_op
from ... import _dtype as D
from ..._creation import arange, rand
from ...ops._core import shape_str
from ...ops.elementwise import clamp, where
from ...ops.indexing import index_select
from ...ops.linalg import matmul
from ...ops.reduction import norm as _norm
from ._activation import _write_back


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


@functional_op()
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
    if inplace:
        return _write_back(dropout2d, input, p, training)
    if p == 1.0:
        return input * 0.0
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    keep = rand(*shape, dtype=input.dtype, device=input.device) < 1.0 - p
    mask = keep.to(input.dtype) * (1.0 / (1.0 - p))
    return input * mask


@functional_op()
def linear(input, weight, bias=None):
    """``input @ weight.T + bias``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.linear(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 1.0]]), torch.tensor([0.5]))
    tensor([[3.5000]])
    """
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
    Kk, I, J = weight.shape
    if input1.shape[-1] != I or input2.shape[-1] != J:
        raise RuntimeError(
            f"bilinear(): input sizes {input1.shape[-1]} and {input2.shape[-1]} do not match "
            f"weight of size {shape_str(weight.shape)}")
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
    if input.numel() and ((input < 0) | (input >= n)).any().item():
        raise IndexError("index out of range in self")
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


@functional_op()
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.cosine_similarity(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]))
    tensor([0.7071])
    """
    num = (x1 * x2).sum(dim)
    den = (x1.norm(2, dim) * x2.norm(2, dim)).clamp(min=eps)
    return num / den


@functional_op()
def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of ``x1 - x2 + eps`` along the last dim.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.pairwise_distance(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]))
    tensor([5.0000])
    """
    return (x1 - x2 + eps).norm(p, -1, keepdim)
