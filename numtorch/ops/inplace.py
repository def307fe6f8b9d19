"""In-place ops: how a result is written into an existing tensor, and the fills.

Every op declared with ``@op(inplace=True)`` gets its ``Tensor.<name>_`` from :func:`make_inplace`:
the out-of-place op runs, then :func:`commit_inplace` writes the result into the tensor's memory,
bumps its version and hands it the result's history.
"""
import numpy as np

from .. import _dtype as D
from .._registry import op
from .._tensor import Tensor
from ..autograd import grad_mode
from ..autograd.function import Function
from . import _core
from .shape import clone, expand


def check_inplace(self):
    """Refuse an in-place write that would corrupt autograd (PyTorch's rules and messages)."""
    if grad_mode.state.enabled:
        if self._requires_grad and self.grad_fn is None:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation.")
        base = self._base
        if base is not None and base._requires_grad and not self._detached:
            if base.grad_fn is None:
                raise RuntimeError(
                    "a view of a leaf Variable that requires grad is being used in an in-place "
                    "operation.")
            raise RuntimeError(
                "numtorch does not support in-place operations on views of tensors that are part "
                "of an autograd graph (PyTorch rewrites the base's history; numtorch refuses "
                "rather than compute a wrong gradient). Use an out-of-place operation instead.")


def check_overlap(arr):
    """Refuse to write element-wise into ``arr`` (the target of an in-place op) when several of
    its elements share one memory location: a 0 stride in a dim of size > 1, i.e. an expanded
    view (PyTorch's error; ``fill_``/``zero_`` are allowed there, as in PyTorch)."""
    if 0 in arr.strides and arr.size > 1:  # (an empty array may have 0 strides: no overlap)
        for n, s in zip(arr.shape, arr.strides):
            if s == 0 and n > 1:
                raise RuntimeError(
                    "unsupported operation: more than one element of the written-to tensor "
                    "refers to a single memory location. Please clone() the tensor before "
                    "performing the operation.")


class Overwrite(Function):
    """The history of a tensor overwritten in every element (``copy_``, ``fill_``, an in-place
    op whose result has no gradient): the old history gets a zero gradient, ``new`` (when given)
    the incoming one. Forward only hands back metadata; the caller writes the memory."""

    @staticmethod
    def forward(ctx, old, new=None):
        ctx.meta = new is not None
        return old._alias() if new is None else new

    @staticmethod
    def backward(ctx, g):
        from .._creation import zeros_like
        return zeros_like(g), (g if ctx.meta else None)


def _take_history(self, result):
    self._requires_grad = True
    self.grad_fn = result.grad_fn
    self._out_nr = result._out_nr


def commit_inplace(self, result):
    """Write ``result`` into ``self``'s memory, bump the version, and take over its history
    (a result without one cuts ``self``'s old history: it gets a zero gradient)."""
    check_inplace(self)
    check_overlap(self._data)
    if result.dtype is not self.dtype:
        if not D.can_cast(result.dtype, self.dtype):
            raise RuntimeError(
                f"result type {result.dtype.name.capitalize()} can't be cast to the desired output "
                f"type {self.dtype.name.capitalize()}")
    if result._data.shape != self._data.shape:
        raise RuntimeError(
            f"output with shape {list(self.shape)} doesn't match the broadcast shape "
            f"{list(result.shape)}")
    _core.kernels(self.device).elementwise.copy(result._data, self._data)
    self._ver[0] += 1
    if grad_mode.state.enabled:
        if result._requires_grad:
            _take_history(self, result)
        elif self._requires_grad:
            _take_history(self, Overwrite.apply(self))
    return self


def make_inplace(fn):
    """``Tensor.<name>_`` of an out-of-place op ``fn``."""
    def method(self, *args, **kwargs):
        return commit_inplace(self, fn(self, *args, **kwargs))
    method.__name__ = method.__qualname__ = fn.__name__ + "_"
    method.__doc__ = f"In-place version of ``{fn.__name__}``: writes into self, bumps its version."
    return method


@op(function=False)
def zero_(self):
    """Fill with zeros in place.

    >>> import numtorch as torch
    >>> torch.ones(2).zero_()
    tensor([0., 0.])
    """
    return fill_(self, 0)


@op(function=False)
def fill_(self, value):
    """Fill with ``value`` in place (a Python number or a one-element tensor).

    >>> import numtorch as torch
    >>> torch.zeros(2).fill_(3)
    tensor([3., 3.])
    """
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(
                f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} "
                "dimensions.")
        value = value.item()
    check_inplace(self)
    _core.fill(self, value)
    self._ver[0] += 1
    if grad_mode.state.enabled and self._requires_grad:
        _take_history(self, Overwrite.apply(self))  # constant now: the old history gets zeros
    return self


@op(function=False)
def copy_(self, src, non_blocking=False):
    """Copy ``src`` (broadcast, any dtype/device) into self in place.

    >>> import numtorch as torch
    >>> torch.zeros(2, 2).copy_(torch.tensor([1, 2]))
    tensor([[1., 2.],
            [1., 2.]])
    """
    if not isinstance(src, Tensor):
        src = _core.as_tensor_arg(src, self.device)
    if src.device != self.device:
        src = src.to(self.device)
    shape = _core.broadcast_shapes(src._data.shape, self._data.shape)
    if shape != self._data.shape:
        raise RuntimeError(
            f"The size of tensor a ({self._data.shape}) must match the size of tensor b "
            f"({src._data.shape})")
    if grad_mode.state.enabled and (src._requires_grad or self._requires_grad):
        new = clone(expand(src.to(self.dtype), self._data.shape))
        # every element is replaced: the old history gets zeros, src the gradient
        return commit_inplace(self, Overwrite.apply(self, new) if self._requires_grad else new)
    check_inplace(self)
    check_overlap(self._data)
    data = src._data
    if self.device.type == "cpu" and np.may_share_memory(data, self._data):
        data = data.copy()
    _core.kernels(self.device).elementwise.cast(data, self._data)
    self._ver[0] += 1
    return self


@op(function=False)
def _iadd_nograd(self, other):
    """``self += other`` outside autograd (gradient accumulation)."""
    _core.kernels(self.device).elementwise.add(self._data, other._data, self._data)
    self._ver[0] += 1
    return self


# --- random fills: drawn out of place by numtorch's generator, then copied in ------------------
@op(function=False)
def uniform_(self, a=0.0, b=1.0, *, generator=None):
    """Fill with values drawn uniformly from ``[a, b)``.

    >>> import numtorch as torch
    >>> bool(((torch.empty(100).uniform_(2, 3) >= 2)).all())
    True
    """
    from .._creation import rand
    return copy_(self, rand(*self.shape, generator=generator, dtype=self.dtype) * (b - a) + a)


@op(function=False)
def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fill with values drawn from a normal distribution.

    >>> import numtorch as torch
    >>> torch.empty(3).normal_(std=0.0)
    tensor([0., 0., 0.])
    """
    from .._creation import randn
    return copy_(self, randn(*self.shape, generator=generator, dtype=self.dtype) * std + mean)


@op(function=False)
def bernoulli_(self, p=0.5, *, generator=None):
    """Fill with 1 (probability ``p``) or 0.

    >>> import numtorch as torch
    >>> torch.empty(3).bernoulli_(1.0)
    tensor([1., 1., 1.])
    """
    from .._creation import rand
    return copy_(self, (rand(*self.shape, generator=generator) < p).to(self.dtype))


@op(function=False)
def random_(self, low=0, high=None, *, generator=None):
    """Fill with integers drawn uniformly from ``[low, high)`` (``random_(n)``: ``[0, n)``).

    >>> import numtorch as torch
    >>> torch.empty(3).random_(1)
    tensor([0., 0., 0.])
    """
    from .._creation import randint
    if high is None:
        low, high = 0, low if low else 2 ** 24
    return copy_(self, randint(low, high, tuple(self.shape), generator=generator))


@op(function=False)
def exponential_(self, lambd=1.0, *, generator=None):
    """Fill with values drawn from the exponential distribution of rate ``lambd``.

    >>> import numtorch as torch
    >>> bool((torch.empty(100).exponential_() >= 0).all())
    True
    """
    from .._creation import rand
    from .elementwise import log1p
    return copy_(self, -log1p(-rand(*self.shape, generator=generator, dtype=self.dtype)) / lambd)
