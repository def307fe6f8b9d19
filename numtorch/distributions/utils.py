"""Helpers shared by the distributions (PyTorch's ``torch.distributions.utils``)."""
import numbers

import numpy as np

from .._tensor import Tensor
from .._size import Size

__all__ = ["broadcast_all", "broadcast_shapes", "lazy_property", "logits_to_probs",
           "probs_to_logits", "clamp_probs", "eps", "tiny", "min_real"]


def _finfo(dtype):
    return np.finfo(dtype.np if dtype.is_floating_point else np.float32)


def eps(dtype):
    """Machine epsilon of a floating dtype (``torch.finfo(dtype).eps``).

    >>> import numtorch as torch
    >>> from numtorch.distributions.utils import eps
    >>> eps(torch.float32)
    1.1920928955078125e-07
    """
    return float(_finfo(dtype).eps)


def tiny(dtype):
    """The smallest positive normal number of a floating dtype (``torch.finfo(dtype).tiny``).

    >>> import numtorch as torch
    >>> from numtorch.distributions.utils import tiny
    >>> tiny(torch.float64)
    2.2250738585072014e-308
    """
    return float(_finfo(dtype).tiny)


def min_real(dtype):
    """The most negative finite number of a floating dtype (``torch.finfo(dtype).min``).

    >>> import numtorch as torch
    >>> from numtorch.distributions.utils import min_real
    >>> min_real(torch.float32)
    -3.4028234663852886e+38
    """
    return float(_finfo(dtype).min)


def broadcast_shapes(*shapes):
    """The shape all ``shapes`` broadcast to (RuntimeError if they do not).

    >>> from numtorch.distributions.utils import broadcast_shapes
    >>> broadcast_shapes((3, 1), (4,))
    torch.Size([3, 4])
    """
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for k, s in enumerate(shapes):
        for i, d in enumerate(s):
            j = ndim - len(s) + i
            if d != 1 and out[j] not in (1, d):
                raise RuntimeError(
                    f"Shape mismatch: objects cannot be broadcast to a single shape.  Mismatch is "
                    f"between arg {k} and an earlier one: {tuple(s)} vs {tuple(out)}.")
            if d != 1:
                out[j] = d
    return Size(out)


def broadcast_all(*values):
    """Broadcast tensors and Python numbers to one shape; numbers become tensors of the first
    tensor's dtype and device (or the default dtype).

    >>> import numtorch as torch
    >>> from numtorch.distributions.utils import broadcast_all
    >>> loc, scale = broadcast_all(torch.zeros(2, dtype=torch.float64), 1)
    >>> scale
    tensor([1., 1.], dtype=torch.float64)
    """
    from .. import tensor, broadcast_tensors, get_default_dtype
    for v in values:
        if not isinstance(v, (Tensor, numbers.Number)):
            raise ValueError("Input arguments must all be instances of Number, torch.Tensor or "
                             f"objects implementing __torch_function__ (got {type(v).__name__}).")
    ref = next((v for v in values if isinstance(v, Tensor)), None)
    if ref is None:
        opts = {"dtype": get_default_dtype()}
    else:
        opts = {"dtype": ref.dtype, "device": ref.device}
    out = [v if isinstance(v, Tensor) else tensor(float(v) if not isinstance(v, bool) else v,
                                                   **opts)
           for v in values]
    if ref is None:
        return tuple(out)
    return tuple(broadcast_tensors(*out))


class lazy_property:
    """A property computed on first access and then stored on the instance (so a distribution
    built from ``probs`` computes its ``logits`` only when asked).

    >>> from numtorch.distributions.utils import lazy_property
    >>> class A:
    ...     @lazy_property
    ...     def x(self):
    ...         print("computing")
    ...         return 1
    >>> a = A()
    >>> a.x
    computing
    1
    >>> a.x
    1
    """

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__
        self.__name__ = wrapped.__name__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        from ..autograd import enable_grad
        with enable_grad():
            value = self.wrapped(instance)
        instance.__dict__[self.wrapped.__name__] = value
        return value


def clamp_probs(probs):
    """Clamp probabilities into ``[eps, 1 - eps]`` of their dtype.

    >>> import numtorch as torch
    >>> from numtorch.distributions.utils import clamp_probs
    >>> clamp_probs(torch.tensor([0.0, 0.5], dtype=torch.float64))
    tensor([2.2204e-16, 5.0000e-01], dtype=torch.float64)
    """
    e = eps(probs.dtype)
    return probs.clamp(min=e, max=1 - e)


def probs_to_logits(probs, is_binary=False):
    """Logits of probabilities: ``log(p)`` (categorical) or ``log(p) - log1p(-p)`` (binary),
    after :func:`clamp_probs`.

    >>> import numtorch as torch
    >>> from numtorch.distributions.utils import probs_to_logits
    >>> probs_to_logits(torch.tensor([0.5]), is_binary=True)
    tensor([0.])
    """
    p = clamp_probs(probs)
    if is_binary:
        return p.log() - (-p).log1p()
    return p.log()


def logits_to_probs(logits, is_binary=False):
    """Probabilities of logits: ``sigmoid`` (binary) or ``softmax`` over the last dimension.

    >>> import numtorch as torch
    >>> from numtorch.distributions.utils import logits_to_probs
    >>> logits_to_probs(torch.tensor([0.0, 0.0]))
    tensor([0.5000, 0.5000])
    """
    if is_binary:
        return logits.sigmoid()
    return logits.softmax(-1)


def _sum_rightmost(value, dim):
    """Sum out the ``dim`` rightmost dimensions of ``value``."""
    if dim == 0:
        return value
    return value.reshape(value.shape[:value.dim() - dim] + (-1,)).sum(-1)
