"""GELU as one kernel forward and one for its derivative (``kernels/<device>/activation.py``)
instead of the five elementwise passes of ``x * 0.5 * (1 + erf(x / sqrt(2)))``.

Differentiable any number of times, as PyTorch's: Gelu's backward is ``g * GeluGrad(x)``, and
GeluGrad's is ``g * phi(x) * (2 - x^2)`` in Tensor ops (phi the standard normal density).
"""
import math

from .._tensor import Tensor
from ..autograd.function import Function
from ._core import Float32Compute, carray, kernels, raw
from .elementwise import exp

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _run(name, x):
    dt, dev = x.dtype, x.device
    out = raw(tuple(x.shape), dt, dev)
    getattr(kernels(dev).activation, name)(carray(x).reshape(-1), out.reshape(-1))
    return Tensor._make(out, dt, dev)


class Gelu(Float32Compute, Function):
    """``x * Phi(x)`` (exact GELU) of a float32 or float64 tensor."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _run("gelu", x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * GeluGrad.apply(x)


class GeluGrad(Float32Compute, Function):
    """``Phi(x) + x * phi(x)``, the derivative of :class:`Gelu`."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _run("gelu_grad", x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        x2 = x * x
        return g * (exp(x2 * -0.5) * _INV_SQRT_2PI) * (2.0 - x2)
