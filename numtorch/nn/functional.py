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
    return input.relu_()


def softmin(input, dim=None, dtype=None):
    return softmax(-input, dim, dtype)


def logsigmoid(input):
    return -softplus(-input)  # noqa: F821  (from nnfunc)


def tanhshrink(input):
    return input - input.tanh()


def softsign(input):
    return input / (1 + input.abs())


def mish(input):
    return input * softplus(input).tanh()  # noqa: F821


def hardsigmoid(input, inplace=False):
    return ((input + 3).clamp(0, 6)) / 6


def hardswish(input, inplace=False):
    return input * hardsigmoid(input)


def selu(input, inplace=False):
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return scale * elu(input, alpha)  # noqa: F821


def celu(input, alpha=1.0, inplace=False):
    return input.clamp(min=0) + (alpha * ((input / alpha).exp() - 1)).clamp(max=0)


def threshold(input, threshold, value, inplace=False):
    from ..ops.elementwise import where
    return where(input > threshold, input, value)


def glu(input, dim=-1):
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    num = (x1 * x2).sum(dim)
    den = (x1.norm(2, dim) * x2.norm(2, dim)).clamp(min=eps)
    return num / den


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    return (x1 - x2 + eps).norm(p, -1, keepdim)
