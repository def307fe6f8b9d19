"""What the optimizers share besides ``Optimizer``: 0-d state (``mu_product``, ASGD's
``eta``/``mu``) in PyTorch's scalar dtype, and PyTorch's argument checks."""
import numpy as np

from .._tensor import Tensor
from .. import _dtype as D

__all__ = ["scalar_state", "check_lr", "check_betas", "set_flags"]


def scalar_state(value, device=None):
    """A 0-d tensor holding ``value``: float32 (float64 under a float64 default), as torch's
    ``_get_scalar_dtype``; on ``device`` when given (else the CPU)."""
    dt = D.float64 if D.get_default_dtype() is D.float64 else D.float32
    t = Tensor._make(np.full((), value, dt.np), dt)
    if device is not None and t.device != device:
        t = t.to(device)
    return t


def check_lr(lr):
    """PyTorch's learning-rate check (a Tensor ``lr`` must have one element)."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def check_betas(eps, betas, weight_decay):
    """PyTorch's checks of ``eps``, ``betas`` and ``weight_decay`` (Adam's family)."""
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def set_flags(optimizer, *names, **values):
    """``__setstate__`` defaults of the boolean/None options of an older state."""
    for group in optimizer.param_groups:
        for name in names:
            group.setdefault(name, False)
        for name, value in values.items():
            group.setdefault(name, value)
