"""``Adamax``: Adam with the infinity norm in place of the second moment."""
from ._scalar_state import check_betas, check_lr, set_flags
from .optimizer import Optimizer, _Updated, _bump_step, _grad, _kernels, _step_tensor, _zeros_like

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """PyTorch's ``torch.optim.Adamax`` (``maximize``, L2 ``weight_decay``); state keys
    ``step``, ``exp_avg``, ``exp_inf``.

    ``foreach``, ``capturable`` and ``differentiable`` are accepted and ignored: the update is
    always one fused kernel per parameter.

    >>> import numtorch as torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = torch.optim.Adamax([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        check_lr(lr)
        check_betas(eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        set_flags(self, "maximize", "differentiable", "capturable", foreach=None)

    def step(self, closure=None):
        """One Adamax step over every parameter with a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = _grad(p)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor()
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_inf"] = _zeros_like(p)
                step = _bump_step(state["step"])
                with _Updated(self, p, exp_avg=state["exp_avg"],
                              exp_inf=state["exp_inf"]) as (param, m, u):
                    _kernels(p.device).adamax_step(
                        param, grad, m, u, float(group["lr"]), float(beta1), float(beta2),
                        float(group["eps"]), float(group["weight_decay"]), step,
                        bool(group["maximize"]), work=param.size)
        return loss
