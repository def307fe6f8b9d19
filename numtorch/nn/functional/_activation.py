"""Activations composed from Tensor ops (no backward code): PyTorch's subgradients at the kinks
come from the ops they are built of (``where``, ``clamp``)."""
import math

from ..._registry import functional_op
from ...autograd import grad_mode
from ...ops.elementwise import clamp, erf, exp, log1p, sigmoid, tanh, where
from ...ops.inplace import check_inplace, commit_inplace
from ...ops.reduction import softmax


def _write_back(f, input, *args):
    """``f(input, *args)`` written into ``input``, which is returned (PyTorch's ``inplace=True``):
    its version bumped, the result's history taken over. While autograd records, ``f`` runs on a
    clone so that no tensor saved for backward is the one overwritten."""
    check_inplace(input)
    src = input.clone() if grad_mode.state.enabled and input.requires_grad else input
    return commit_inplace(input, f(src, *args))


@functional_op()
def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``x`` where ``x > 0`` else ``negative_slope * x``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.leaky_relu(torch.tensor([-1.0, 2.0]), 0.1)
    tensor([-0.1000,  2.0000])
    """
    if inplace:
        return _write_back(leaky_relu, input, negative_slope)
    return where(input > 0, input, input * negative_slope)


@functional_op()
def elu(input, alpha=1.0, inplace=False):
    """``x`` where ``x > 0`` else ``alpha (exp(x) - 1)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.elu(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.6321,  0.0000,  2.0000])
    """
    if inplace:
        return _write_back(elu, input, alpha)
    return where(input > 0, input, (exp(clamp(input, max=0)) - 1) * alpha)


@functional_op()
def gelu(input, approximate="none"):
    """``x Phi(x)`` (exact, with erf) or its tanh approximation (``approximate='tanh'``).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.gelu(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.1587,  0.0000,  1.9545])
    """
    if approximate == "none":
        return input * 0.5 * (1 + erf(input * (1 / math.sqrt(2))))
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2 / math.pi)
        return input * 0.5 * (1 + tanh(inner))
    raise RuntimeError("approximate argument must be either none or tanh.")


@functional_op()
def silu(input, inplace=False):
    """``x * sigmoid(x)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.silu(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.2689,  0.0000,  1.7616])
    """
    if inplace:
        return _write_back(silu, input)
    return input * sigmoid(input)


@functional_op()
def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.softplus(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([0.3133, 0.6931, 2.1269])
    """
    bx = input * beta
    soft = log1p(exp(clamp(bx, max=threshold))) / beta
    return where(bx > threshold, input, soft)


@functional_op()
def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """``clamp(x, min_val, max_val)`` with zero gradient on and outside the bounds (PyTorch's).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.hardtanh(torch.tensor([-2.0, 0.5, 2.0]))
    tensor([-1.0000,  0.5000,  1.0000])
    """
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if inplace:
        return _write_back(hardtanh, input, min_val, max_val)
    inside = (input > min_val) & (input < max_val)
    return where(inside, input, clamp(input, min_val, max_val).detach())


@functional_op()
def relu6(input, inplace=False):
    """``hardtanh(x, 0, 6)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.relu6(torch.tensor([-1.0, 3.0, 8.0]))
    tensor([0., 3., 6.])
    """
    return hardtanh(input, 0.0, 6.0, inplace)


@functional_op()
def relu_(input):
    """``relu`` in place on ``input`` (returned).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> x = torch.tensor([-1.0, 2.0])
    >>> _ = F.relu_(x)
    >>> x
    tensor([0., 2.])
    """
    return input.relu_()


@functional_op()
def softmin(input, dim=None, dtype=None):
    """``softmax(-input)`` along ``dim``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.softmin(torch.tensor([0.0, 0.0]), dim=0)
    tensor([0.5000, 0.5000])
    """
    return softmax(-input, dim, dtype)


@functional_op()
def logsigmoid(input):
    """``log(sigmoid(x))``, computed stably.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.logsigmoid(torch.tensor([0.0]))
    tensor([-0.6931])
    """
    return -softplus(-input)


@functional_op()
def tanhshrink(input):
    """``x - tanh(x)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.tanhshrink(torch.tensor([0.0]))
    tensor([0.])
    """
    return input - input.tanh()


@functional_op()
def softsign(input):
    """``x / (1 + |x|)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.softsign(torch.tensor([-1.0, 3.0]))
    tensor([-0.5000,  0.7500])
    """
    return input / (1 + input.abs())


@functional_op()
def mish(input, inplace=False):
    """``x * tanh(softplus(x))``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.mish(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.3034,  0.0000,  1.9440])
    """
    if inplace:
        return _write_back(mish, input)
    return input * softplus(input).tanh()


@functional_op()
def hardsigmoid(input, inplace=False):
    """``relu6(x + 3) / 6``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.hardsigmoid(torch.tensor([-3.0, 0.0, 3.0]))
    tensor([0.0000, 0.5000, 1.0000])
    """
    if inplace:
        return _write_back(hardsigmoid, input)
    return ((input + 3).clamp(0, 6)) / 6


@functional_op()
def hardswish(input, inplace=False):
    """``x * relu6(x + 3) / 6``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.hardswish(torch.tensor([0.0, 1.0, 3.0]))
    tensor([0.0000, 0.6667, 3.0000])
    """
    if inplace:
        return _write_back(hardswish, input)
    return input * hardsigmoid(input)


@functional_op()
def selu(input, inplace=False):
    """Scaled ELU with PyTorch's fixed ``alpha`` and ``scale``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.selu(torch.tensor([0.0, 1.0]))
    tensor([0.0000, 1.0507])
    """
    if inplace:
        return _write_back(selu, input)
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return scale * elu(input, alpha)


@functional_op()
def celu(input, alpha=1.0, inplace=False):
    """``max(0, x) + min(0, alpha (exp(x / alpha) - 1))``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.celu(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.6321,  0.0000,  2.0000])
    """
    if inplace:
        return _write_back(celu, input, alpha)
    # one branch per side (two clamps summed would pass the gradient twice at 0); exp of the
    # clamped input stays finite where the branch is not taken
    return where(input > 0, input, alpha * (exp(clamp(input, max=0) / alpha) - 1))


@functional_op()
def threshold(input, threshold, value, inplace=False):
    """``input`` where ``input > threshold``, else ``value``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.threshold(torch.tensor([0.5, 2.0]), 1.0, -1.0)
    tensor([-1.,  2.])
    """
    if inplace:  # (the argument ``threshold`` hides this function's name)
        return _write_back(lambda x: where(x > threshold, x, value), input)
    return where(input > threshold, input, value)


@functional_op()
def glu(input, dim=-1):
    """Gated linear unit: the first half of ``dim`` times the sigmoid of the second half.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.glu(torch.tensor([1.0, 2.0, 0.0, 0.0]))
    tensor([0.5000, 1.0000])
    """
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()
