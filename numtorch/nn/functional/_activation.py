"""Activations composed from Tensor ops (no backward code): PyTorch's subgradients at the kinks
come from the ops they are built of (``where``, ``clamp``)."""
import math

import numpy as np

from ..._creation import rand
from ..._registry import functional_op
from ...autograd import grad_mode
from ...ops.activation import Gelu
from ...ops._core import normalize_dims
from ...ops.elementwise import clamp, exp, log1p, sigmoid, tanh, where
from ...ops.inplace import check_inplace, commit_inplace
from ...ops.reduction import softmax
from ._sampling import _type_name


def _write_back(f, input, *args):
    """``f(input, *args)`` written into ``input``, which is returned (PyTorch's ``inplace=True``):
    its version bumped, the result's history taken over. While autograd records, ``f`` runs on a
    clone so that no tensor saved for backward is the one overwritten."""
    check_inplace(input)
    src = input.clone() if grad_mode.state.enabled and input.requires_grad else input
    return commit_inplace(input, f(src, *args))


def _floating(input, kernel, per_device=True):
    """PyTorch has no integer kernel for most activations: refuse integer and bool inputs in
    its words (``"elu_cpu" not implemented for 'Long'``) instead of computing a float."""
    if not input.dtype.is_floating_point:
        name = f"{kernel}_{input.device.type}" if per_device else kernel
        raise NotImplementedError(f"\"{name}\" not implemented for '{_type_name(input.dtype)}'")


@functional_op()
def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``x`` where ``x > 0`` else ``negative_slope * x``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.leaky_relu(torch.tensor([-1.0, 2.0]), 0.1)
    tensor([-0.1000,  2.0000])
    """
    _floating(input, "leaky_relu")
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
    _floating(input, "elu")
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
    _floating(input, "GeluKernelImpl", per_device=False)
    if approximate == "none":  # one kernel (numtorch/ops/activation.py)
        return Gelu.apply(input)
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
    _floating(input, "silu")
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
    _floating(input, "softplus")
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
    if not input.dtype.is_floating_point:  # the bounds in the input's integer type, as PyTorch
        min_val, max_val = int(min_val), int(max_val)
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
    _floating(input, "log_sigmoid")
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
    _floating(input, "mish")
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
    _floating(input, "hardsigmoid")
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
    _floating(input, "hardswish")
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
    _floating(input, "elu")
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
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    _floating(input, "elu")
    if inplace:
        return _write_back(celu, input, alpha)
    # one branch per side (two clamps summed would pass the gradient twice at 0); exp of the
    # clamped input stays finite where the branch is not taken
    return where(input > 0, input, alpha * (exp(clamp(input, max=0) / alpha) - 1))


def _threshold(input, threshold, value):
    if not input.dtype.is_floating_point:
        if input.dtype.name == "bool":
            _floating(input, "threshold")
        # PyTorch converts both numbers to the input's integer type (truncating toward zero)
        threshold, value = int(threshold), int(value)
    # ``<=`` selects ``value``, so a NaN input stays NaN (as in PyTorch)
    return where(input <= threshold, value, input)


@functional_op()
def threshold(input, threshold, value, inplace=False):
    """``value`` where ``input <= threshold``, else ``input``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.threshold(torch.tensor([0.5, 2.0]), 1.0, -1.0)
    tensor([-1.,  2.])
    """
    if inplace:
        return _write_back(_threshold, input, threshold, value)
    return _threshold(input, threshold, value)


@functional_op()
def glu(input, dim=-1):
    """Gated linear unit: the first half of ``dim`` times the sigmoid of the second half.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.glu(torch.tensor([1.0, 2.0, 0.0, 0.0]))
    tensor([0.5000, 1.0000])
    """
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d, = normalize_dims(dim, input.dim())
    if input.shape[d] % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {d} is size {input.shape[d]}")
    a, b = input.chunk(2, d)
    return a * b.sigmoid()


@functional_op()
def prelu(input, weight):
    """``x`` where ``x > 0`` else ``weight * x``, with one slope for all channels (``weight`` of
    one element) or one per channel (dim 1 of ``input``).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.prelu(torch.tensor([[-1.0, -1.0], [2.0, -2.0]]), torch.tensor([0.1, 0.5]))
    tensor([[-0.1000, -0.5000],
            [ 2.0000, -1.0000]])
    """
    _floating(input, "prelu")
    if weight.dim() > 1:
        raise RuntimeError(
            f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.dim()}")
    if weight.dtype is not input.dtype:
        raise RuntimeError(f"prelu: Type promoting not supported. Got "
                           f"{_type_name(input.dtype)} and {_type_name(weight.dtype)}")
    n = weight.numel()
    if n == 1:
        weight = weight.reshape(())
    else:
        channels = input.shape[1] if input.dim() >= 2 else 1
        if n != channels:
            raise RuntimeError(
                "Mismatch of parameter numbers and input channel size. Found parameter numbers "
                f"= {n} and channel size = {channels}.")
        weight = weight.reshape((n,) + (1,) * (input.dim() - 2))  # broadcast along dim 1
    return where(input > 0, input, weight * input)


def _check_rrelu_bounds(lower, upper):
    for name, v in (("lower", lower), ("upper", upper)):
        if not math.isfinite(v):
            raise RuntimeError(f"rrelu: {name} bound must be finite, got {v}")
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")


@functional_op()
def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky ReLU: in training each ``x <= 0`` is scaled by its own slope drawn
    uniformly from ``[lower, upper)`` by numtorch's generator; in evaluation by the fixed
    ``(lower + upper) / 2``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.rrelu(torch.tensor([-1.0, 2.0]), 0.1, 0.3)
    tensor([-0.2000,  2.0000])
    >>> y = F.rrelu(torch.tensor([-1.0]), 0.1, 0.3, training=True)
    >>> bool(-0.3 <= y.item() <= -0.1)
    True
    """
    _check_rrelu_bounds(lower, upper)
    if inplace:
        return _write_back(rrelu, input, lower, upper, training)
    if not training:
        return leaky_relu(input, (lower + upper) / 2)
    _floating(input, "rrelu_with_noise_out")
    slope = rand(*input.shape, dtype=input.dtype, device=input.device) * (upper - lower) + lower
    # x <= 0 takes its slope (also at 0, where the gradient is the slope, as in PyTorch)
    return where(input > 0, input, input * slope)


@functional_op()
def hardshrink(input, lambd=0.5):
    """``0`` where ``-lambd <= x <= lambd``, else ``x``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.hardshrink(torch.tensor([-1.0, 0.3, 0.5, 2.0]))
    tensor([-1.,  0.,  0.,  2.])
    """
    _floating(input, "hardshrink")
    return where((input >= -lambd) & (input <= lambd), 0.0, input)  # NaN stays NaN


@functional_op()
def softshrink(input, lambd=0.5):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else ``0``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.softshrink(torch.tensor([-1.0, 0.3, 2.0]))
    tensor([-0.5000,  0.0000,  1.5000])
    """
    _floating(input, "softshrink_check", per_device=False)
    top = float(np.finfo(input.dtype.np).max)
    if not 0 <= lambd <= top:
        raise RuntimeError(f"lambda must be in range [0, {top:g}] for input dtype "
                           f"{_type_name(input.dtype)}, but found {lambd:g}")
    # x - clamp(x): exactly 0 inside; clamp's gradient is 1 on its bounds, so the gradient is 0
    # at x = +-lambd, as PyTorch's
    return input - clamp(input, -lambd, lambd)


# --- in-place forms (PyTorch's F.<name>_): the result is written into ``input``, returned ------
@functional_op()
def elu_(input, alpha=1.0):
    """``elu`` written into ``input`` (returned).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> x = torch.tensor([-1.0, 2.0])
    >>> F.elu_(x) is x, x
    (True, tensor([-0.6321,  2.0000]))
    """
    return elu(input, alpha, inplace=True)


@functional_op()
def selu_(input):
    """``selu`` written into ``input`` (returned).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> x = torch.tensor([0.0, 1.0])
    >>> F.selu_(x) is x, x
    (True, tensor([0.0000, 1.0507]))
    """
    return selu(input, inplace=True)


@functional_op()
def celu_(input, alpha=1.0):
    """``celu`` written into ``input`` (returned).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> x = torch.tensor([-1.0, 2.0])
    >>> F.celu_(x, 2.0) is x, x
    (True, tensor([-0.7869,  2.0000]))
    """
    return celu(input, alpha, inplace=True)


@functional_op()
def leaky_relu_(input, negative_slope=0.01):
    """``leaky_relu`` written into ``input`` (returned).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> x = torch.tensor([-1.0, 2.0])
    >>> F.leaky_relu_(x, 0.1) is x, x
    (True, tensor([-0.1000,  2.0000]))
    """
    return leaky_relu(input, negative_slope, inplace=True)


@functional_op()
def hardtanh_(input, min_val=-1.0, max_val=1.0):
    """``hardtanh`` written into ``input`` (returned). Unlike ``hardtanh`` it accepts
    ``min_val > max_val`` and then gives ``max_val`` everywhere, as PyTorch's.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> x = torch.tensor([-2.0, 0.5, 2.0])
    >>> F.hardtanh_(x) is x, x
    (True, tensor([-1.0000,  0.5000,  1.0000]))
    """
    return hardtanh(input, min(min_val, max_val), max_val, inplace=True)


@functional_op()
def threshold_(input, threshold, value):
    """``threshold`` written into ``input`` (returned).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> x = torch.tensor([0.5, 2.0])
    >>> F.threshold_(x, 1.0, -1.0) is x, x
    (True, tensor([-1.,  2.]))
    """
    return _write_back(_threshold, input, threshold, value)


@functional_op()
def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    """``rrelu`` written into ``input`` (returned).

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> x = torch.tensor([-1.0, 2.0])
    >>> F.rrelu_(x, 0.1, 0.3) is x, x
    (True, tensor([-0.2000,  2.0000]))
    """
    return rrelu(input, lower, upper, training, inplace=True)
