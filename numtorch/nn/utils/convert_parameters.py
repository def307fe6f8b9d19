"""Flatten parameters into one vector and back."""
from ... import ops

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """One 1-D tensor holding every parameter, in order.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> lin = nn.Linear(2, 3)
    >>> nn.utils.parameters_to_vector(lin.parameters()).shape
    torch.Size([9])
    """
    return ops.shape.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of ``vec`` into the parameters (their data, in place).

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> lin = nn.Linear(2, 1)
    >>> nn.utils.vector_to_parameters(torch.tensor([1.0, 2.0, 3.0]), lin.parameters())
    >>> lin.weight.data, lin.bias.data
    (tensor([[1., 2.]]), tensor([3.]))
    """
    from ..._tensor import Tensor
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    pointer = 0
    for p in parameters:
        n = p.numel()
        p.data = vec[pointer:pointer + n].reshape(p.shape).detach().clone()
        pointer += n
