"""``Adam`` and ``AdamW`` (Adam with decoupled weight decay), one fused kernel per parameter."""
from ._scalar_state import check_betas, check_lr
from .optimizer import (Optimizer, _Updated, _bump_step, _grad, _kernels, _none, _step_tensor,
                        _zeros_like)

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """PyTorch's ``torch.optim.Adam`` (``amsgrad``, ``maximize``, L2 ``weight_decay``;
    ``decoupled_weight_decay=True`` makes it AdamW).

    >>> import numtorch as torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = torch.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        check_lr(lr)
        check_betas(eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)
            group.setdefault("decoupled_weight_decay", False)

    def step(self, closure=None):
        """One Adam step over every parameter with a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            amsgrad = bool(group["amsgrad"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = _grad(p)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor()
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_avg_sq"] = _zeros_like(p)
                    if amsgrad:
                        state["max_exp_avg_sq"] = _zeros_like(p)
                step = _bump_step(state["step"])
                max_sq = state["max_exp_avg_sq"] if amsgrad else None
                with _Updated(self, p, exp_avg=state["exp_avg"], exp_avg_sq=state["exp_avg_sq"],
                              max_exp_avg_sq=max_sq) as (param, m, v, vmax):
                    _kernels(p.device).adam_step(
                        param, grad, m, v, _none(p) if vmax is None else vmax,
                        float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
                        float(group["weight_decay"]), step, amsgrad, bool(group["maximize"]),
                        bool(group["decoupled_weight_decay"]), work=param.size)
        return loss


class AdamW(Adam):
    """PyTorch's ``torch.optim.AdamW``: Adam whose weight decay shrinks the weights directly
    (``p *= 1 - lr * weight_decay``) instead of adding to the gradient.

    >>> import numtorch as torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = torch.optim.AdamW([w], lr=0.1, weight_decay=0.0)
    >>> (w * w).sum().backward(); opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
