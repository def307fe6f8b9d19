"""``NAdam``: Adam with Nesterov momentum and a momentum-decay schedule."""
from ._scalar_state import check_betas, check_lr, scalar_state, set_flags
from .optimizer import Optimizer, _Updated, _bump_step, _grad, _kernels, _step_tensor, _zeros_like

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """PyTorch's ``torch.optim.NAdam`` (``momentum_decay``, ``maximize``, L2 ``weight_decay``;
    ``decoupled_weight_decay=True`` shrinks the weights as AdamW); state keys ``step``,
    ``mu_product`` (0-d), ``exp_avg``, ``exp_avg_sq``.

    ``foreach``, ``capturable`` and ``differentiable`` are accepted and ignored: the update is
    always one fused kernel per parameter.

    >>> import numtorch as torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = torch.optim.NAdam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w
    tensor([ 0.8944, -1.8944], requires_grad=True)
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        check_lr(lr)
        check_betas(eps, betas, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        set_flags(self, "maximize", "capturable", "differentiable", "decoupled_weight_decay",
                  foreach=None)

    def step(self, closure=None):
        """One NAdam step over every parameter with a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            momentum_decay = float(group["momentum_decay"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = _grad(p)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor()
                    state["mu_product"] = scalar_state(1.0)
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_avg_sq"] = _zeros_like(p)
                step = _bump_step(state["step"])
                mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
                mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
                # the product is kept in its own (scalar) dtype, as torch's in-place multiply
                mu_product = state["mu_product"]
                mu_product.mul_(mu)
                with _Updated(self, p, exp_avg=state["exp_avg"],
                              exp_avg_sq=state["exp_avg_sq"]) as (param, m, v):
                    _kernels(p.device).nadam_step(
                        param, grad, m, v, float(group["lr"]), float(beta1), float(beta2),
                        float(group["eps"]), float(group["weight_decay"]), step, mu, mu_next,
                        float(mu_product.item()), bool(group["decoupled_weight_decay"]),
                        bool(group["maximize"]), work=param.size)
        return loss
