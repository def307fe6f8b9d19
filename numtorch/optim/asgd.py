"""``ASGD``: averaged stochastic gradient descent (the average is the state ``ax``)."""
from .. import _dtype as D
from ._scalar_state import check_lr, scalar_state, set_flags
from .optimizer import Optimizer, _Updated, _grad, _kernels, _zeros_like

__all__ = ["ASGD"]


def _rounded(value):
    return float(D.get_default_dtype().np.type(value))


class ASGD(Optimizer):
    """PyTorch's ``torch.optim.ASGD`` (``lambd``, ``alpha``, ``t0``, ``maximize``, L2
    ``weight_decay``); state keys ``step``, ``eta``, ``mu`` (0-d, on the parameter's device, as
    in torch) and ``ax`` (the running average of the parameter).

    ``foreach``, ``capturable`` and ``differentiable`` are accepted and ignored: the update is
    always one fused kernel per parameter.

    >>> import numtorch as torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = torch.optim.ASGD([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w
    tensor([ 0.8000, -1.6000], requires_grad=True)
    >>> opt.state[w]["ax"]
    tensor([ 0.8000, -1.6000])
    """

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0,
                 foreach=None, maximize=False, differentiable=False, capturable=False):
        check_lr(lr)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        set_flags(self, "maximize", "differentiable", "capturable", foreach=None)

    def step(self, closure=None):
        """One ASGD step over every parameter with a gradient; returns the closure's loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr, lambd = float(group["lr"]), float(group["lambd"])
            alpha, t0 = float(group["alpha"]), float(group["t0"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = _grad(p)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = scalar_state(0.0, p.device)
                    state["eta"] = scalar_state(lr, p.device)
                    state["mu"] = scalar_state(1.0, p.device)
                    state["ax"] = _zeros_like(p)
                state["step"].add_(1)
                eta, mu = float(state["eta"].item()), float(state["mu"].item())
                with _Updated(self, p, ax=state["ax"]) as (param, ax):
                    _kernels(p.device).asgd_step(
                        param, grad, ax, eta, mu, lambd, float(group["weight_decay"]),
                        bool(group["maximize"]), work=param.size)
                step = float(state["step"].item())
                # torch builds the new values with as_tensor: rounded to the default dtype
                # first, whatever the dtype of the state they are copied into
                state["eta"].fill_(_rounded(lr / ((1.0 + lambd * lr * step) ** alpha)))
                state["mu"].fill_(_rounded(1.0 / max(1.0, step - t0)))
        return loss
