"""``Parameter``: a leaf tensor that a Module registers as trainable state."""
from .._tensor import Tensor, _rebuild
from .. import _dtype as D

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A tensor that ``Module`` registers when assigned as an attribute.

    >>> import numtorch as torch
    >>> p = torch.nn.Parameter(torch.zeros(2))
    >>> p.requires_grad, p.is_leaf
    (True, True)
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from .._creation import empty
            data = empty(0)
        t = object.__new__(cls)
        t._data = data._data
        t.dtype = data.dtype
        t.device = data.device
        t._ver = data._ver
        t._base = None
        t._requires_grad = False
        t.grad = None
        t.grad_fn = None
        t._out_nr = 0
        if requires_grad:
            t.requires_grad_(True)
        return t

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(self.detach().clone(), self.requires_grad)
        if self.grad is not None:
            p.grad = self.grad.clone()
        memo[id(self)] = p
        return p

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self.detach().cpu()._data.copy(), self.dtype.name,
                                     str(self.device), self._requires_grad))


def _rebuild_parameter(arr, dtype_name, device, requires_grad):
    return Parameter(_rebuild(arr, dtype_name, device, False), requires_grad)


class UninitializedParameter(Parameter):
    pass


class Buffer(Tensor):
    """Marks a tensor to register as a buffer when assigned to a Module attribute."""

    def __new__(cls, data=None, *, persistent=True):
        return data
