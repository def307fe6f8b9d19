"""Sorting: sort, argsort, msort, topk, median.

One primitive, :class:`Sort`. The ``sort`` kernels order each row of a C-contiguous
``(rows, n)`` array, so the sorted dim is moved last (a copy unless it already is last in a
contiguous tensor) and moved back after. The kernels are stable in both directions, which also
answers ``stable=False``; NaN sorts as the largest value (PyTorch's order). ``topk`` keeps the
first ``k`` of a sort. The values' gradient goes back to where each value came from (a scatter
into zeros); the indices get none.
"""
from .. import _dtype as D
from .._registry import op
from .._tensor import Tensor
from ..autograd.function import Function
from . import _core
from ._core import kernels, prod
from .reduction import values_indices


def _moved(shape, dim):
    """``shape`` with ``dim`` moved last (the layout the kernels sort), and that permutation."""
    perm = [i for i in range(len(shape)) if i != dim] + [dim]
    return tuple(shape[i] for i in perm), perm


def _contiguous(arr, dtype, device):
    """``arr`` (any strides) as a C-contiguous array: itself, or a copy by the copy kernel."""
    if arr.flags.c_contiguous:
        return arr
    out = _core.raw(tuple(arr.shape), dtype, device)
    kernels(device).elementwise.copy(arr, out)
    return out


def _unmove(rows, k, shape, dim, perm, dtype, device):
    """The first ``k`` columns of the kernel's ``(rows, n)`` result as a contiguous tensor of
    ``shape`` with ``shape[dim] == k`` (the sorted dim back in its place)."""
    moved = tuple(shape[i] for i in perm)
    arr = rows[:, :k].reshape(moved) if shape else rows.reshape(())
    if perm != sorted(perm):
        arr = arr.transpose([perm.index(i) for i in range(len(perm))])
    return Tensor._make(_contiguous(arr, dtype, device), dtype, device)


class Sort(Function):
    """``(values, indices)`` of ``x`` sorted along ``dim``, cut to the first ``k`` (None: all)."""

    @staticmethod
    def forward(ctx, x, dim, descending, k):
        shape = x._data.shape
        n = shape[dim] if shape else 1
        k = n if k is None else k
        # a storage-only dtype (float16, bfloat16): sort as float32 (exact), store the values back
        xs = _core.cast(x, D.float32) if x.dtype._storage else x
        moved, perm = _moved(shape, dim) if shape else ((1,), [])
        arr = xs._data.transpose(perm) if shape and dim != len(shape) - 1 else xs._data
        arr = _contiguous(arr, xs.dtype, x.device).reshape(prod(moved[:-1]), n)
        vals = _core.raw(arr.shape, xs.dtype, x.device)
        idx = _core.raw(arr.shape, D.int64, x.device)
        kernels(x.device).sort.sort(arr, bool(descending), vals, idx)
        out_shape = shape[:dim] + (k,) + shape[dim + 1:] if shape else ()
        vals = _unmove(vals, k, out_shape, dim, perm, xs.dtype, x.device)
        idx = _unmove(idx, k, out_shape, dim, perm, D.int64, x.device)
        if xs is not x:
            vals = _core.cast(vals, x.dtype)
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(idx)
        ctx.meta = (shape, dim)
        return vals, idx

    @staticmethod
    def backward(ctx, g, _gi):
        idx, = ctx.saved_tensors
        shape, dim = ctx.meta
        if not shape:  # a 0-d input is its own sort
            return g, None, None, None
        from .._creation import zeros
        # each value came from one position (indices along dim are distinct): scatter it back
        return zeros(shape, dtype=g.dtype, device=g.device).scatter(dim, idx, g), None, None, None


@op()
def sort(input, dim=-1, descending=False, *, stable=False):
    """``(values, indices)``: ``input`` sorted along ``dim`` and where each value came from.

    NaN sorts as the largest value. Equal values keep their order (the sort is always stable).

    >>> import numtorch as torch
    >>> values, indices = torch.sort(torch.tensor([[3, 1, 2], [0, 5, 4]]), descending=True)
    >>> values
    tensor([[3, 2, 1],
            [5, 4, 0]])
    >>> indices
    tensor([[0, 2, 1],
            [1, 2, 0]])
    """
    return values_indices(*Sort.apply(input, input._dim(dim), bool(descending), None))


@op()
def argsort(input, dim=-1, descending=False, *, stable=False):
    """The indices that sort ``input`` along ``dim`` (the second result of :func:`sort`).

    >>> import numtorch as torch
    >>> torch.argsort(torch.tensor([3.0, -1.0, 2.0]))
    tensor([1, 2, 0])
    """
    return Sort.apply(input, input._dim(dim), bool(descending), None)[1]


@op()
def msort(input):
    """``input`` sorted along its first dim (the values of ``sort(input, dim=0)``).

    >>> import numtorch as torch
    >>> torch.msort(torch.tensor([[3, 1], [1, 2]]))
    tensor([[1, 1],
            [3, 2]])
    """
    return Sort.apply(input, input._dim(0), False, None)[0]


@op()
def topk(input, k, dim=-1, largest=True, sorted=True):
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) elements along
    ``dim``, in sorted order.

    >>> import numtorch as torch
    >>> values, indices = torch.topk(torch.tensor([1.0, 5.0, 3.0, 4.0]), 2)
    >>> values, indices
    (tensor([5., 4.]), tensor([1, 3]))
    """
    d = input._dim(dim)
    n = input._data.shape[d] if input.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError("selected index k out of range")
    return values_indices(*Sort.apply(input, d, bool(largest), int(k) if input.ndim else None))


@op()
def median(input, dim=None, keepdim=False):
    """The lower median of ``input``'s elements; with ``dim``, ``(values, indices)`` along it.

    Of an even count the smaller of the two middle values is taken (PyTorch's rule). A NaN in
    the reduced elements makes the median NaN, its index the first NaN's. The gradient goes to
    the element taken.

    >>> import numtorch as torch
    >>> torch.median(torch.tensor([4.0, 1.0, 3.0, 2.0]))
    tensor(2.)
    >>> torch.median(torch.tensor([[1, 4, 2], [9, 7, 8]]), dim=1)
    values_indices(values=tensor([2, 8]), indices=tensor([2, 2]))
    """
    if input.dtype is D.bool:
        raise NotImplementedError("\"median_cpu\" not implemented for 'Bool'")
    if dim is None:
        if input.numel() == 0:
            if not input.dtype.is_floating_point:
                raise RuntimeError("median() of an empty integer tensor is undefined")
            from .._creation import full
            return full((), float("nan"), dtype=input.dtype, device=input.device)
        return _median_along(input.reshape(-1), 0)[0].reshape(())
    if input.ndim == 0:
        v, i = _median_along(input.reshape(1), 0)
        return values_indices(v.reshape(()), i.reshape(()))
    d = input._dim(dim)
    if input.shape[d] == 0:
        raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size.")
    v, i = _median_along(input, d)
    if keepdim:
        v, i = v.unsqueeze(d), i.unsqueeze(d)
    return values_indices(v, i)


def _median_along(x, d):
    n = x.shape[d]
    vals, idx = Sort.apply(x, d, False, None)
    v, i = vals.select(d, (n - 1) // 2), idx.select(d, (n - 1) // 2)
    if x.dtype.is_floating_point:
        nan = x.isnan()
        has = nan.any(d)
        if has.any().item():  # such rows take their first NaN (value, index and gradient)
            first = nan.to(D.uint8).argmax(d)
            v = has.where(x.gather(d, first.unsqueeze(d)).squeeze(d), v)
            i = has.where(first, i)
    return v, i
