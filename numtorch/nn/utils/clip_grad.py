"""Gradient clipping (PyTorch's semantics), in place, outside autograd."""
import math

from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from ... import _creation as C

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


@no_grad()
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients so their joint ``norm_type`` norm is at most ``max_norm``.

    Returns the total norm before clipping.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> w = nn.Parameter(torch.tensor([3.0, 4.0]))
    >>> w.grad = torch.tensor([3.0, 4.0])
    >>> nn.utils.clip_grad_norm_([w], max_norm=1.0)
    tensor(5.)
    >>> w.grad
    tensor([0.6000, 0.8000])
    """
    grads = _grads(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return C.tensor(0.0)
    if norm_type == math.inf:
        norms = [g.abs().max() for g in grads]
        total = norms[0] if len(norms) == 1 else C.tensor([n.item() for n in norms]).max()
    else:
        total = sum((g.double().norm(norm_type) ** norm_type for g in grads[1:]),
                    grads[0].double().norm(norm_type) ** norm_type) ** (1.0 / norm_type)
        total = total.to(grads[0].dtype)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            "so it cannot be clipped. To disable this error and scale the gradients by the "
            "non-finite norm anyway, set `error_if_nonfinite=False`")
    coef = min(max_norm / (total.item() + 1e-6), 1.0)
    for g in grads:
        g.mul_(coef)
    return total


clip_grad_norm = clip_grad_norm_


@no_grad()
def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element to [-clip_value, clip_value].

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> w = nn.Parameter(torch.zeros(3))
    >>> w.grad = torch.tensor([-2.0, 0.5, 2.0])
    >>> nn.utils.clip_grad_value_([w], clip_value=1.0)
    >>> w.grad
    tensor([-1.0000,  0.5000,  1.0000])
    """
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.clamp_(-clip_value, clip_value)
