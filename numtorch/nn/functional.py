"""``numtorch.nn.functional``: the functional forms of layers, losses and activations.

Fused primitives (convolution, pooling, normalisation, softmax-cross-entropy) have their own
kernels in ``numtorch.ops``; everything else here is composed from Tensor ops.
"""
from ..ops.elementwise import relu, sigmoid, tanh  # noqa: F401
from ..ops.reduction import softmax, log_softmax  # noqa: F401
from ..ops.conv import (conv1d, conv2d, conv_transpose2d, max_pool1d, max_pool2d, avg_pool1d,  # noqa: F401
                        avg_pool2d, adaptive_avg_pool2d)
from ..ops import conv as _conv
from ..ops import nnfunc as _nnfunc
from ..ops.nnfunc import *  # noqa: F401,F403  (losses, norms, activations, dropout, ...)

for _name in ("adaptive_avg_pool1d", "conv_transpose1d", "adaptive_max_pool2d"):
    if hasattr(_conv, _name):
        globals()[_name] = getattr(_conv, _name)


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


def softmin(input, dim=None, dtype=None):
    """``softmax(-input)`` along ``dim``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.softmin(torch.tensor([0.0, 0.0]), dim=0)
    tensor([0.5000, 0.5000])
    """
    return softmax(-input, dim, dtype)


def logsigmoid(input):
    """``log(sigmoid(x))``, computed stably.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.logsigmoid(torch.tensor([0.0]))
    tensor([-0.6931])
    """
    return -softplus(-input)  # noqa: F821  (from nnfunc)


def tanhshrink(input):
    """``x - tanh(x)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.tanhshrink(torch.tensor([0.0]))
    tensor([0.])
    """
    return input - input.tanh()


def softsign(input):
    """``x / (1 + |x|)``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.softsign(torch.tensor([-1.0, 3.0]))
    tensor([-0.5000,  0.7500])
    """
    return input / (1 + input.abs())


def mish(input):
    """``x * tanh(softplus(x))``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.mish(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.3034,  0.0000,  1.9440])
    """
    return input * softplus(input).tanh()  # noqa: F821


def hardsigmoid(input, inplace=False):
    """``relu6(x + 3) / 6``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.hardsigmoid(torch.tensor([-3.0, 0.0, 3.0]))
    tensor([0.0000, 0.5000, 1.0000])
    """
    return ((input + 3).clamp(0, 6)) / 6


def hardswish(input, inplace=False):
    """``x * relu6(x + 3) / 6``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.hardswish(torch.tensor([0.0, 1.0, 3.0]))
    tensor([0.0000, 0.6667, 3.0000])
    """
    return input * hardsigmoid(input)


def selu(input, inplace=False):
    """Scaled ELU with PyTorch's fixed ``alpha`` and ``scale``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.selu(torch.tensor([0.0, 1.0]))
    tensor([0.0000, 1.0507])
    """
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return scale * elu(input, alpha)  # noqa: F821


def celu(input, alpha=1.0, inplace=False):
    """``max(0, x) + min(0, alpha (exp(x / alpha) - 1))``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.celu(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.6321,  0.0000,  2.0000])
    """
    return input.clamp(min=0) + (alpha * ((input / alpha).exp() - 1)).clamp(max=0)


def threshold(input, threshold, value, inplace=False):
    """``input`` where ``input > threshold``, else ``value``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.threshold(torch.tensor([0.5, 2.0]), 1.0, -1.0)
    tensor([-1.,  2.])
    """
    from ..ops.elementwise import where
    return where(input > threshold, input, value)


def glu(input, dim=-1):
    """Gated linear unit: the first half of ``dim`` times the sigmoid of the second half.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.glu(torch.tensor([1.0, 2.0, 0.0, 0.0]))
    tensor([0.5000, 1.0000])
    """
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim``.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.cosine_similarity(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]))
    tensor([0.7071])
    """
    num = (x1 * x2).sum(dim)
    den = (x1.norm(2, dim) * x2.norm(2, dim)).clamp(min=eps)
    return num / den


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of ``x1 - x2 + eps`` along the last dim.

    >>> import numtorch as torch
    >>> import numtorch.nn.functional as F
    >>> F.pairwise_distance(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]))
    tensor([5.0000])
    """
    return (x1 - x2 + eps).norm(p, -1, keepdim)
