"""``Adadelta``: step sizes from running averages of squared gradients and squared updates."""
from ._scalar_state import check_lr, set_flags
from .optimizer import Optimizer, _Updated, _bump_step, _grad, _kernels, _step_tensor, _zeros_like

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """PyTorch's ``torch.optim.Adadelta`` (``maximize``, L2 ``weight_decay``); state keys
    ``step``, ``square_avg``, ``acc_delta``.

    ``foreach``, ``capturable`` and ``differentiable`` are accepted and ignored: the update is
    always one fused kernel per parameter.

    >>> import numtorch as torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = torch.optim.Adadelta([w], lr=1.0)
    >>> (w * w).sum().backward(); opt.step()
    >>> w
    tensor([ 0.9968, -1.9968], requires_grad=True)
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        set_flags(self, "maximize", "differentiable", "capturable", foreach=None)

    def step(self, closure=None):
        """One Adadelta step over every parameter with a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = _grad(p)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor()
                    state["square_avg"] = _zeros_like(p)
                    state["acc_delta"] = _zeros_like(p)
                _bump_step(state["step"])
                with _Updated(self, p, square_avg=state["square_avg"],
                              acc_delta=state["acc_delta"]) as (param, sq, acc):
                    _kernels(p.device).adadelta_step(
                        param, grad, sq, acc, float(group["lr"]), float(group["rho"]),
                        float(group["eps"]), float(group["weight_decay"]),
                        bool(group["maximize"]), work=param.size)
        return loss
