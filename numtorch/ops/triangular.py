"""Triangular and diagonal parts of matrices: tril, triu, diag.

``tril``/``triu`` are one primitive, :class:`Triangle`, over the ``index.triangle`` kernel (a
copy that keeps the elements whose position lies in a band: a positional selection, so it sits
with the indexing kernels); their gradient is the same triangle of the gradient. ``diag`` needs
no kernel: the k-th diagonal of a C-contiguous ``(m, n)`` matrix is the flat slice
``start::n + 1``, so extracting it is reshape + strided slice + clone, and building a matrix
from a vector is that slice's own backward (zeros with the vector written at the slice); both
directions then differentiate through existing ops.
"""
from .. import _dtype as D
from .._registry import op
from ..autograd.function import Function
from . import _core
from ._core import kernels, empty, prod
from .shape import SliceBackward


class Triangle(Function):
    """The lower (``upper`` False) or upper triangle of each matrix of ``x`` (ndim >= 2) about
    its ``diagonal``-th diagonal; zeros elsewhere."""

    @staticmethod
    def forward(ctx, x, diagonal, upper):
        ctx.meta = (diagonal, upper)
        # a storage-only dtype (float16, bfloat16): run the copy in float32 (exact), store back
        xs = _core.cast(x, D.float32) if x.dtype._storage else x
        shape = x._data.shape
        arr = _core.carray(xs).reshape(prod(shape[:-2]), shape[-2], shape[-1])
        out = empty(shape, xs.dtype, x.device)
        kernels(x.device).index.triangle(arr, diagonal, upper, out._data.reshape(arr.shape))
        return out if xs is x else _core.cast(out, x.dtype)

    @staticmethod
    def backward(ctx, g):
        return Triangle.apply(g, *ctx.meta), None, None


def _triangle(name, input, diagonal, upper):
    if input.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
    return Triangle.apply(input, int(diagonal), upper)


@op(inplace=True)
def tril(input, diagonal=0):
    """The lower triangle of each matrix (the last two dims): elements with
    ``col - row <= diagonal`` kept, the others zero.

    >>> import numtorch as torch
    >>> torch.tril(torch.ones(3, 3, dtype=torch.int64))
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]])
    """
    return _triangle("tril", input, diagonal, False)


@op(inplace=True)
def triu(input, diagonal=0):
    """The upper triangle of each matrix (the last two dims): elements with
    ``col - row >= diagonal`` kept, the others zero.

    >>> import numtorch as torch
    >>> torch.triu(torch.tensor([[1, 2, 3], [4, 5, 6]]), diagonal=1)
    tensor([[0, 2, 3],
            [0, 0, 6]])
    """
    return _triangle("triu", input, diagonal, True)


def _diag_slice(n, length, diagonal):
    """The flat slice of a C-contiguous ``(., n)`` matrix holding ``length`` elements of its
    ``diagonal``-th diagonal."""
    start = diagonal if diagonal >= 0 else -diagonal * n
    stop = start + (length - 1) * (n + 1) + 1 if length else start
    return (slice(start, stop, n + 1),)


@op()
def diag(input, diagonal=0):
    """1-D input: the square matrix with ``input`` on its ``diagonal``-th diagonal (0: the main
    one, > 0 above it, < 0 below). 2-D input: a copy of that diagonal.

    >>> import numtorch as torch
    >>> torch.diag(torch.tensor([1, 2]), 1)
    tensor([[0, 1, 0],
            [0, 0, 2],
            [0, 0, 0]])
    >>> torch.diag(torch.tensor([[1, 2], [3, 4]]))
    tensor([1, 4])
    """
    diagonal = int(diagonal)
    if input.ndim == 1:
        length = input._data.shape[0]
        n = length + abs(diagonal)
        return SliceBackward.apply(input, (n * n,), _diag_slice(n, length, diagonal)).reshape(n, n)
    if input.ndim == 2:
        m, n = input._data.shape
        length = max(0, min(m, n - diagonal) if diagonal >= 0 else min(m + diagonal, n))
        return input.reshape(m * n)[_diag_slice(n, length, diagonal)].clone()
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")
