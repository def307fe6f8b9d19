"""GELU in one pass on the GPU: the CUDA twins of kernels/cpu/activation.py, with the same names,
signatures and contracts (``x``, ``out`` 1-D C-contiguous, one float dtype; ``gelu``: out = x *
Phi(x); ``gelu_grad``: out = Phi(x) + x * phi(x)). Phi through CUDA's erf for both dtypes (one
instruction sequence per element, no approximation of ours). One thread per element in a
grid-stride loop; arithmetic in float64 through ``float(...)``, as the other CUDA modules.
"""
import math

from numba import cuda

from .. import policy
from . import memory

_SQRT1_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


@policy.cuda_kernel
def _gelu_k(x, out):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        v = float(x[i])
        out[i] = v * 0.5 * (1.0 + math.erf(v * _SQRT1_2))


@policy.cuda_kernel
def _gelu_grad_k(x, out):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        v = float(x[i])
        out[i] = 0.5 * (1.0 + math.erf(v * _SQRT1_2)) + v * math.exp(-0.5 * v * v) * _INV_SQRT_2PI


def gelu(x, out):
    """out = x * Phi(x) (exact GELU) for 1-D x and out of one float dtype."""
    if x.shape[0]:
        _gelu_k[memory.grid(x.shape[0])](x, out)


def gelu_grad(x, out):
    """out = d gelu / dx = Phi(x) + x * phi(x) for 1-D x and out of one float dtype."""
    if x.shape[0]:
        _gelu_grad_k[memory.grid(x.shape[0])](x, out)


def ptx_cases():
    """Yield (label, py_func, signature) for every kernel this module can launch, for
    ``numba.cuda.compile_ptx``: each once per float dtype, with 1-D C-contiguous arrays."""
    from numba import types as T
    for dt in (T.float32, T.float64):
        a1 = T.Array(dt, 1, "C")
        for k in (_gelu_k, _gelu_grad_k):
            yield f"{k.py_func.__name__}[{dt}]", k.py_func, T.void(a1, a1)
