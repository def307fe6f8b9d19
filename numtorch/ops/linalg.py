"""Matrix products: one batched-broadcast primitive (``MatMul``); the 1-D rules, ``mm``, ``bmm``,
``mv``, ``dot`` and ``outer`` are shape handling around it."""
import numpy as np

from .. import _dtype as D
from .._device import device as _device
from .._tensor import Tensor
from ..autograd.function import Function
from .._registry import op
from . import _core
from ._core import kernels, empty


def _shape_error(a, b):
    sa = _core.shape_str(a._data.shape[-2:], "x") if a.ndim >= 2 else str(a._data.shape[0])
    sb = _core.shape_str(b._data.shape[-2:], "x") if b.ndim >= 2 else str(b._data.shape[0])
    raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sa} and {sb})")


def _batch3(x, batch):
    """x (..., M, K) as a (B or 1, M, K) array for a broadcast batch shape ``batch``."""
    shp = x._data.shape
    n = 1
    for s in shp[:-2]:
        n *= s
    if shp[:-2] == batch or n == 1:
        arr = x._data
        return arr.reshape((n,) + shp[-2:]) if _reshapable(arr) else \
            _core.cast(x.contiguous(), x.dtype)._data.reshape((n,) + shp[-2:])
    full = x.expand(batch + shp[-2:]).contiguous()
    b = 1
    for s in batch:
        b *= s
    return full._data.reshape((b,) + shp[-2:])


def _reshapable(arr):
    # C-contiguous, or a matrix-transposed view of a C-contiguous batch (BLAS reads it as is)
    if arr.flags.c_contiguous:
        return True
    if arr.ndim == 2:
        return arr.flags.f_contiguous
    if not isinstance(arr, np.ndarray):  # a device array: its own stride arithmetic
        return kernels(_device("cuda")).memory.try_reshape(arr, (-1,) + arr.shape[-2:]) is not None
    try:
        v = arr.view()
        v.shape = (-1,) + arr.shape[-2:]
        return True
    except AttributeError:
        return False


class MatMul(Function):
    """a (..., M, K) @ b (..., K, N) with broadcast batch dims; both at least 2-D."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ad, bd = a._data, b._data
        if ad.ndim == 2 and bd.ndim == 2 and a.dtype is b.dtype and a.device is b.device \
                and a.dtype is not D.bool and ad.shape[1] == bd.shape[0]:
            # the plain 2-D product (every Linear layer): no promotion or batch logic
            (m, k), n = ad.shape, bd.shape[1]
            out = empty((m, n), a.dtype, a.device)
            kernels(a.device).matmul.matmul(ad.reshape(1, m, k), bd.reshape(1, k, n),
                                            out._data.reshape(1, m, n))
            return out
        dev = _core.same_device(a, b)
        dt = D.result_type(a, b)
        if dt is D.bool:
            raise RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Bool'")
        if a.dtype is not dt:
            a = _core.cast(a, dt)
        if b.dtype is not dt:
            b = _core.cast(b, dt)
        sa, sb = a._data.shape, b._data.shape
        if sa[-1] != sb[-2]:
            _shape_error(a, b)
        batch = _core.broadcast_shapes(sa[:-2], sb[:-2])
        out = empty(batch + (sa[-2], sb[-1]), dt, dev)
        B = 1
        for s in batch:
            B *= s
        kernels(dev).matmul.matmul(_batch3(a, batch), _batch3(b, batch),
                                   out._data.reshape((B, sa[-2], sb[-1])))
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return (MatMul.apply(g, b.mT) if ctx.needs_input_grad[0] else None,
                MatMul.apply(a.mT, g) if ctx.needs_input_grad[1] else None)


@op()
def matmul(input, other):
    """PyTorch's matmul: 1-D x 1-D dot, 2-D mm, batched with broadcasting, 1-D promoted.

    >>> import numtorch as torch
    >>> (torch.ones(2, 3) @ torch.ones(3)).tolist()
    [3.0, 3.0]
    """
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("matmul(): argument 'other' must be Tensor")
    da, db = input.ndim, other.ndim
    if da == 0 or db == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {da}D and {db}D")
    if da == 1 and db == 1:
        return dot(input, other)
    a = input.unsqueeze(0) if da == 1 else input
    b = other.unsqueeze(-1) if db == 1 else other
    if a._data.shape[-1] != b._data.shape[-2]:
        _shape_error(input if da > 1 else a, other if db > 1 else b)
    out = MatMul.apply(a, b)
    if da == 1:
        out = out.squeeze(-2)
    if db == 1:
        out = out.squeeze(-1)
    return out


@op()
def mm(input, mat2):
    """2-D matrix product.

    >>> import numtorch as torch
    >>> torch.mm(torch.tensor([[1, 2], [3, 4]]), torch.eye(2, dtype=torch.int64))
    tensor([[1, 2],
            [3, 4]])
    """
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"self must be a matrix" if input.ndim != 2 else "mat2 must be a matrix")
    return MatMul.apply(input, mat2)


@op()
def bmm(input, mat2):
    """Batched 3-D product with equal batch sizes.

    >>> import numtorch as torch
    >>> torch.bmm(torch.ones(2, 1, 3), torch.ones(2, 3, 4)).shape
    torch.Size([2, 1, 4])
    """
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor" if input.ndim != 3 else "batch2 must be a 3D tensor")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{input.shape[0]}, "
            f"{input.shape[2]}] but got: [{mat2.shape[0]}, {mat2.shape[1]}].")
    return MatMul.apply(input, mat2)


@op()
def mv(input, vec):
    """Matrix-vector product.

    >>> import numtorch as torch
    >>> torch.mv(torch.tensor([[1, 2], [3, 4]]), torch.tensor([1, 0]))
    tensor([1, 3])
    """
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {vec.ndim}")
    return matmul(input, vec)


@op('vdot')
def dot(input, other):
    """Inner product of two 1-D tensors of equal length.

    >>> import numtorch as torch
    >>> torch.dot(torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6]))
    tensor(32)
    """
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(
            f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input._data.shape[0] != other._data.shape[0]:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{input._data.shape[0]}] and src "
            f"[{other._data.shape[0]}] to have the same number of elements, but got "
            f"{input._data.shape[0]} and {other._data.shape[0]} elements respectively")
    if input.dtype is not other.dtype:
        raise RuntimeError(
            f"dot : expected both vectors to have same dtype, but found {input.dtype.name.capitalize()} "
            f"and {other.dtype.name.capitalize()}")
    return MatMul.apply(input.unsqueeze(0), other.unsqueeze(-1)).reshape(())


@op()
def inner(input, other):
    """Sum-product over the last dims: shape ``input.shape[:-1] + other.shape[:-1]``.

    >>> import numtorch as torch
    >>> torch.inner(torch.tensor([[1, 2], [3, 4]]), torch.tensor([1, 1]))
    tensor([3, 7])
    """
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.ndim == 1 and other.ndim == 1:
        return dot(input, other)
    k = input.shape[-1]
    if other.shape[-1] != k:
        raise RuntimeError(
            f"inner() the last dimension must match on both input tensors but got shapes "
            f"{list(input.shape)} and {list(other.shape)}")
    out = matmul(input.reshape(-1, k), other.reshape(-1, k).t())
    return out.reshape(tuple(input.shape[:-1]) + tuple(other.shape[:-1]))


@op('ger')
def outer(input, vec2):
    """Outer product of two 1-D tensors.

    >>> import numtorch as torch
    >>> torch.outer(torch.tensor([1, 2]), torch.tensor([1, 10]))
    tensor([[ 1, 10],
            [ 2, 20]])
    """
    return input.unsqueeze(-1) * vec2.unsqueeze(0)


@op()
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2).

    >>> import numtorch as torch
    >>> torch.addmm(torch.ones(2, 2), torch.eye(2), torch.full((2, 2), 2.0), beta=0.5)
    tensor([[2.5000, 2.5000],
            [2.5000, 2.5000]])
    """
    p = mm(mat1, mat2)
    if alpha != 1:
        p = p * alpha
    return p + (input if beta == 1 else input * beta)

