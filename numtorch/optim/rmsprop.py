"""``RMSprop``: gradients scaled by a running RMS (optionally centered, with momentum)."""
from .optimizer import (Optimizer, _Updated, _bump_step, _grad, _kernels, _none, _step_tensor,
                        _zeros_like)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """PyTorch's ``torch.optim.RMSprop``.

    >>> import numtorch as torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = torch.optim.RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward(); opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)

    def step(self, closure=None):
        """One RMSprop step over every parameter with a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            momentum = group["momentum"]
            centered = bool(group["centered"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = _grad(p)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor()
                    state["square_avg"] = _zeros_like(p)
                    if momentum > 0:
                        state["momentum_buffer"] = _zeros_like(p)
                    if centered:
                        state["grad_avg"] = _zeros_like(p)
                _bump_step(state["step"])
                # state[...], not .get: options switched on after the first step find no
                # buffer (a KeyError, as in PyTorch), never an empty array the kernel would index
                with _Updated(self, p, square_avg=state["square_avg"],
                              grad_avg=state["grad_avg"] if centered else None,
                              momentum_buffer=state["momentum_buffer"] if momentum > 0 else None
                              ) as (param, sq, gavg, buf):
                    _kernels(p.device).rmsprop_step(
                        param, grad, sq, _none(p) if gavg is None else gavg,
                        _none(p) if buf is None else buf, float(group["lr"]),
                        float(group["alpha"]), float(group["eps"]),
                        float(group["weight_decay"]), float(momentum), centered,
                        bool(group["maximize"]), work=param.size)
        return loss
