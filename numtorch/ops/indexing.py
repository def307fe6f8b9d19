"""Indexing: ``__getitem__``/``__setitem__`` (basic and advanced), gather/scatter, index_select.

Every index is validated before a kernel sees it (Numba does not bounds-check): a bad one
raises IndexError with its value and the size. Advanced indexing is views plus one primitive,
``IndexSelect`` on dim 0 of a 2-D view, whose backward is ``index_add``.
"""
import builtins

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from .._tracing import host_step
from ..autograd.function import Function
from .._registry import op
from .inplace import commit_inplace, check_inplace, check_overlap
from ..autograd import grad_mode
from . import _core
from ._core import kernels, empty, prod
from .shape import Slice, _copy_array, view_index


# --- validation -----------------------------------------------------------------------------
def _checked(idx, size, what="index", dim=None, negative=True, exc=IndexError, prefix=""):
    """``idx`` (int64 tensor) validated against ``size`` and wrapped non-negative (an array).

    ``negative``: whether ``-size <= i < 0`` counts from the end (indexing, take, put) or is out
    of bounds (gather, scatter, index_select/add/copy, as in PyTorch); ``exc`` and ``prefix``
    give each op PyTorch's error."""
    if idx.dtype not in (D.int64, D.int32, D.int16, D.int8, D.uint8):
        raise IndexError(
            f"tensors used as indices must be long, int, byte or bool tensors (got {idx.dtype})")
    arr = idx._data
    if idx.dtype is not D.int64 or not arr.flags.c_contiguous:
        arr = _core.cast(idx.contiguous() if not arr.flags.c_contiguous else idx, D.int64)._data
    K = kernels(idx.device).index
    flat = arr.reshape(-1)

    def check():  # a host step: a replay of numtorch.compile checks its new indices too
        bad = K.check_index(flat, size, negative) if flat.size else -1
        if bad >= 0:
            where = f" for dimension {dim}" if dim is not None else ""
            raise exc(
                f"{prefix}{what} {int(flat[bad])} is out of bounds{where} with size {size}")
    host_step(check)
    out = empty(arr.shape, D.int64, idx.device)._data
    K.wrap_index(flat, size, out.reshape(-1))
    return out


def _check_dtype_long(index, name):
    if index.dtype is not D.int64:
        raise RuntimeError(f"{name}(): Expected dtype int64 for index")


# --- index_select: the primitive of advanced indexing ----------------------------------------
class IndexSelect(Function):
    """Rows of ``x`` along ``dim`` at the 1-D ``idx``; ``negative``: ``idx`` may count from the
    end (``take``), else a negative index is out of range (``index_select``, as in PyTorch)."""

    @staticmethod
    def forward(ctx, x, dim, idx, negative=False):
        shp = x._data.shape
        pos = _checked(idx, shp[dim], "index", dim, negative, IndexError,
                       "" if negative else "index out of range in self: ")
        ctx.meta = (shp, dim, negative)
        ctx.save_for_backward(idx)
        arr = x._data if x._data.flags.c_contiguous else _copy_array(x)._data
        outer = prod(shp[:dim])
        inner = prod(shp[dim + 1:])
        out = empty(shp[:dim] + (pos.size,) + shp[dim + 1:], x.dtype, x.device)
        kernels(x.device).index.index_select(arr.reshape(outer, shp[dim], inner), pos.reshape(-1),
                                             out._data.reshape(outer, pos.size, inner))
        return out

    @staticmethod
    def backward(ctx, g):
        idx, = ctx.saved_tensors
        shp, dim, negative = ctx.meta
        from .._creation import zeros
        gx = IndexAdd.apply(zeros(shp, dtype=g.dtype, device=g.device), dim, idx.reshape(-1), g,
                            negative)
        return gx, None, None, None


class IndexAdd(Function):
    """``x`` with the rows of ``src`` added at the 1-D ``idx`` along ``dim`` (``negative``: as
    in :class:`IndexSelect`)."""

    @staticmethod
    def forward(ctx, x, dim, idx, src, negative=False):
        shp = x._data.shape
        pos = _checked(idx, shp[dim], "index", dim, negative, RuntimeError)
        sshp = src._data.shape
        if len(sshp) != len(shp) or sshp[:dim] + sshp[dim + 1:] != shp[:dim] + shp[dim + 1:]:
            raise RuntimeError(
                "source tensor shape must match self tensor shape, excluding the specified "
                f"dimension. Got self.shape = {list(shp)} source.shape = {list(sshp)}")
        if sshp[dim] != pos.size:
            raise RuntimeError(
                f"index_add_(): Number of indices ({pos.size}) should be equal to "
                f"source.size(dim): ({sshp[dim]}), for dim: {dim}")
        ctx.save_for_backward(idx)
        ctx.dim = dim
        ctx.negative = negative
        out = _copy_array(x)
        outer = prod(shp[:dim])
        inner = prod(shp[dim + 1:])
        s = src if src.dtype is x.dtype else _core.cast(src, x.dtype)
        sarr = s._data if s._data.flags.c_contiguous else _copy_array(s)._data
        kernels(x.device).index.index_add(out._data.reshape(outer, shp[dim], inner), pos.reshape(-1),
                                          sarr.reshape(outer, pos.size, inner))
        return out

    @staticmethod
    def backward(ctx, g):
        idx, = ctx.saved_tensors
        return g, None, None, IndexSelect.apply(g, ctx.dim, idx, ctx.negative), None


@op()
def index_select(input, dim, index):
    """Rows (along ``dim``) picked by a 1-D integer ``index``.

    >>> import numtorch as torch
    >>> torch.index_select(torch.tensor([[1, 2], [3, 4], [5, 6]]), 0, torch.tensor([2, 0]))
    tensor([[5, 6],
            [1, 2]])
    """
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    d = input._dim(dim)
    if input.ndim == 0:  # a scalar: dim 0 or -1 and exactly one index (PyTorch's rule)
        if index.numel() != 1:
            raise RuntimeError("index_select(): Index to scalar can have only 1 value, got "
                               f"{index.numel()} value(s)")
        return IndexSelect.apply(input.reshape(1), 0, index.reshape(-1)).reshape(())
    return IndexSelect.apply(input, d, index.reshape(-1))


@op(inplace=True)
def index_add(input, dim, index, source, *, alpha=1):
    """``input`` with ``alpha * source`` added at ``index`` along ``dim`` (duplicates accumulate).

    >>> import numtorch as torch
    >>> torch.index_add(torch.zeros(3), 0, torch.tensor([0, 0, 2]), torch.tensor([1.0, 2.0, 3.0]))
    tensor([3., 0., 3.])
    """
    if alpha != 1:
        source = source * alpha
    return IndexAdd.apply(input, input._dim(dim), index.reshape(-1), source)


@op(inplace=True)
def index_fill(input, dim, index, value):
    """A copy of ``input`` with ``value`` at ``index`` along ``dim``.

    >>> import numtorch as torch
    >>> torch.index_fill(torch.zeros(2, 3), 1, torch.tensor([0, 2]), 1.0)
    tensor([[1., 0., 1.],
            [1., 0., 1.]])
    """
    d = input._dim(dim)
    mask = _core.empty((input._data.shape[d],), D.bool, input.device)
    kernels(input.device).elementwise.fill(mask._data, False)
    mask[index] = True
    shape = [1] * input.ndim
    shape[d] = input._data.shape[d]
    return masked_fill(input, mask.reshape(shape), value)


@op(inplace=True)
def index_copy(input, dim, index, source):
    """A copy of ``input`` with the slices of ``source`` copied to ``index`` along ``dim``.

    >>> import numtorch as torch
    >>> torch.index_copy(torch.zeros(3), 0, torch.tensor([2, 0]), torch.tensor([5.0, 6.0]))
    tensor([6., 0., 5.])
    """
    d = input._dim(dim)
    # PyTorch refuses negative indices here (indexing, which does the copy, would wrap them)
    _checked(index, input._data.shape[d] if input.ndim else 1, "index", d, False, IndexError,
             "index_copy_(): ")
    shp, sshp, n = input._data.shape, source._data.shape, index._data.size
    if len(shp) > 0 and len(sshp) > 0:
        if len(sshp) != len(shp):
            raise IndexError(
                "index_copy_(): When source and destination are not scalars, their "
                f"dimensionality must match. Source dimensionality ({len(sshp)}), destination "
                f"dimensionality ({len(shp)})")
        if sshp[d] != n:
            raise IndexError(f"index_copy_(): Number of indices ({n}) should be equal to "
                             f"source.size(dim) ({sshp[d]})")
        for k, (a, b) in enumerate(zip(shp, sshp)):
            if k != d and a != b:
                raise RuntimeError(
                    "index_copy_(): Source/destination tensor must have same slice shapes. "
                    f"Destination slice shape: {a} at dimension {k} and source slice shape: {b} "
                    f"at dimension {k}.")
    key = (slice(None),) * d + (index,)
    out = input.clone()
    setitem(out, key, source)
    return out


# --- gather / scatter ----------------------------------------------------------------------
def _dim_checks(name, input, dim, index, src=None):
    _check_dtype_long(index, name)
    d = input._dim(dim)
    if index.ndim != input.ndim and not (index.ndim <= 1 and input.ndim <= 1):
        raise RuntimeError(
            f"Index tensor must have the same number of dimensions as {'input' if name == 'gather' else 'self'} tensor")
    for k in range(index.ndim):
        if k != d and index._data.shape[k] > input._data.shape[k]:
            raise RuntimeError(
                f"Size does not match at dimension {k} expected index {list(index.shape)} to be "
                f"smaller than self {list(input.shape)} apart from dimension {d}")
        if src is not None and index._data.shape[k] > src._data.shape[k]:
            raise RuntimeError(
                f"Size does not match at dimension {k} expected index {list(index.shape)} to be "
                f"smaller than src {list(src.shape)} apart from dimension {d}")
    return d


def _canon3(arr, dim):
    shp = arr.shape
    outer = prod(shp[:dim])
    inner = prod(shp[dim + 1:])
    return arr.reshape(outer, shp[dim] if shp else 1, inner)


def _block(x, ishape, dim):
    """x restricted to index's extent in every dim but ``dim``: a contiguous array."""
    key = tuple(slice(0, n) if k != dim else slice(None) for k, n in enumerate(ishape))
    v = x._data[key] if x.ndim else x._data
    if v.flags.c_contiguous:
        return v
    out = empty(v.shape, x.dtype, x.device)._data
    kernels(x.device).elementwise.copy(v, out)
    return out


class Gather(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        pos = _checked(index, x._data.shape[dim] if x.ndim else 1, "index", dim, False,
                       RuntimeError)
        ctx.save_for_backward(index)
        ctx.meta = (x._data.shape, dim)
        if x.ndim == 0:
            return x.reshape(index._data.shape).clone()
        out = empty(index._data.shape, x.dtype, x.device)
        kernels(x.device).index.gather(_canon3(_block(x, index._data.shape, dim), dim),
                                       _canon3(pos, dim), _canon3(out._data, dim))
        return out

    @staticmethod
    def backward(ctx, g):
        index, = ctx.saved_tensors
        shp, dim = ctx.meta
        from .._creation import zeros
        return ScatterAdd.apply(zeros(shp, dtype=g.dtype, device=g.device), dim, index, g), None, None


@op()
def gather(input, dim, index, *, sparse_grad=False):
    """``out[i][j][k] = input[i][index[i][j][k]][k]`` for dim 1 (and likewise for any dim).

    >>> import numtorch as torch
    >>> torch.gather(torch.tensor([[1, 2], [3, 4]]), 1, torch.tensor([[1], [0]]))
    tensor([[2],
            [3]])
    """
    d = _dim_checks("gather", input, dim, index)
    return Gather.apply(input, d, index)


class _ScatterBase(Function):
    accumulate = False

    @classmethod
    def forward(cls, ctx, x, dim, index, src):
        shp = x._data.shape
        pos = _checked(index, shp[dim] if x.ndim else 1, "index", dim, False, RuntimeError)
        ctx.save_for_backward(index)
        ctx.meta = (dim, isinstance(src, Tensor))
        ctx.src_shape = src._data.shape if isinstance(src, Tensor) else None
        out = _copy_array(x)
        if not isinstance(src, Tensor):
            s = empty(index._data.shape, x.dtype, x.device)
            _core.fill(s, src)
            sarr = s._data
        else:
            s = src if src.dtype is x.dtype else _core.cast(src, x.dtype)
            sarr = _block(s, index._data.shape, dim) if s.ndim else s._data.reshape(1)
        if index._data.size == 0:
            return out
        ishape = index._data.shape
        K = kernels(x.device).index
        fn = K.scatter_add if cls.accumulate else K.scatter
        full = all(ishape[k] == shp[k] for k in range(len(shp)) if k != dim)
        if full:
            fn(_canon3(out._data, dim), _canon3(pos, dim), _canon3(sarr, dim))
        else:  # scatter into the sub-block the index covers, then write it back
            key = tuple(slice(0, n) if k != dim else slice(None) for k, n in enumerate(ishape))
            sub = out._data[key]
            blk = empty(sub.shape, x.dtype, x.device)._data
            kernels(x.device).elementwise.copy(sub, blk)
            fn(_canon3(blk, dim), _canon3(pos, dim), _canon3(sarr, dim))
            kernels(x.device).elementwise.copy(blk, out._data[key])
        return out

    @staticmethod
    def backward(ctx, g):
        index, = ctx.saved_tensors
        dim, src_is_tensor = ctx.meta
        return (g.scatter(dim, index, 0.0), None, None,
                _src_grad(g, dim, index, ctx.src_shape) if src_is_tensor else None)


class Scatter(_ScatterBase):
    pass


class ScatterAdd(_ScatterBase):
    accumulate = True

    @staticmethod
    def backward(ctx, g):
        index, = ctx.saved_tensors
        dim, _ = ctx.meta
        return g, None, None, _src_grad(g, dim, index, ctx.src_shape)


def _src_grad(g, dim, index, src_shape):
    """Gradient of a scatter's ``src``: gathered at ``index``, zero where src was not read
    (src may be larger than index in every dim)."""
    gs = Gather.apply(g, dim, index)
    if gs._data.shape == tuple(src_shape):
        return gs
    from .shape import SliceBackward
    key = tuple(slice(0, n) for n in gs._data.shape)
    return SliceBackward.apply(gs, tuple(src_shape), key)


@op(inplace=True)
def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    """A copy of ``input`` with ``src`` (or the scalar ``value``) written at ``index`` along dim.

    >>> import numtorch as torch
    >>> torch.scatter(torch.zeros(3), 0, torch.tensor([2, 0]), torch.tensor([5.0, 6.0]))
    tensor([6., 0., 5.])
    """
    if src is None:
        src = value
    if reduce is not None:
        if reduce != "add":
            raise NotImplementedError(f"scatter reduce={reduce!r} is not implemented")
        return scatter_add(input, dim, index, src)
    d = _dim_checks("scatter", input, dim, index, src if isinstance(src, Tensor) else None)
    return Scatter.apply(input, d, index, src)


@op(inplace=True)
def scatter_add(input, dim, index, src):
    """A copy of ``input`` with ``src`` added at ``index`` along dim (duplicates accumulate).

    >>> import numtorch as torch
    >>> torch.scatter_add(torch.zeros(2), 0, torch.tensor([1, 1, 0]), torch.tensor([1.0, 2.0, 3.0]))
    tensor([3., 3.])
    """
    d = _dim_checks("scatter_add", input, dim, index, src)
    return ScatterAdd.apply(input, d, index, src)


# --- masks -----------------------------------------------------------------------------------
@op(inplace=True)
def masked_fill(input, mask, value):
    """``value`` where ``mask`` is True, else ``input`` (mask broadcasts to input).

    >>> import numtorch as torch
    >>> torch.masked_fill(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([True, False, True]), 0.0)
    tensor([0., 2., 0.])
    """
    if mask.dtype is not D.bool:
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype}")
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(
                "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value.ndim} dimension(s).")
        value = value.to(input.dtype)
    elif isinstance(value, (builtins.bool, builtins.int, builtins.float)):
        try:  # converted as .to(dtype) would (truncating a float for an integer dtype)
            value = Tensor._make(_core.scalar_array(value, input.dtype, input.device),
                                 input.dtype, input.device)
        except OverflowError:
            raise RuntimeError(f"value cannot be converted to type {input.dtype} without "
                               "overflow") from None
    else:
        value = _core.as_tensor_arg(value, input.device).to(input.dtype)
    from .elementwise import where
    out = where(mask, value, input)
    if out._data.shape != input._data.shape:
        raise RuntimeError(
            f"The size of tensor a ({list(mask.shape)}) must match the size of tensor b ({list(input.shape)})")
    return out


@op()
def masked_select(input, mask):
    """The elements where ``mask`` is True, as a 1-D tensor.

    >>> import numtorch as torch
    >>> torch.masked_select(torch.tensor([1, 2, 3]), torch.tensor([True, False, True]))
    tensor([1, 3])
    """
    if mask.dtype is not D.bool:
        raise RuntimeError(f"masked_select: expected BoolTensor for mask")
    from .shape import broadcast_tensors
    x, m = broadcast_tensors(input, mask)
    return getitem(x, m)


@op(function=False, inplace=True)
def masked_scatter(input, mask, source):
    """A copy of ``input`` whose positions where ``mask`` (broadcast) is True take the
    elements of ``source`` in order.

    >>> import numtorch as torch
    >>> torch.zeros(2, 2).masked_scatter(torch.tensor([True, False]), torch.tensor([1., 2., 3.]))
    tensor([[1., 0.],
            [2., 0.]])
    """
    if mask.shape != input.shape:
        mask = mask.expand(input.shape)
    n = int(mask.sum())
    if source.numel() < n:
        raise RuntimeError(
            f"masked_scatter: expected source (shape {list(source.shape)}) to have at least {n} "
            "elements, the number of True values in mask")
    out = input.clone()
    setitem(out, mask, source.reshape(-1)[:n])
    return out


@op()
def nonzero(input, *, as_tuple=False):
    """Coordinates of nonzero elements: (count, ndim) int64, or a tuple of 1-D tensors.

    >>> import numtorch as torch
    >>> torch.nonzero(torch.tensor([[0, 1], [1, 0]]))
    tensor([[0, 1],
            [1, 0]])
    >>> torch.nonzero(torch.tensor([0, 3, 5]), as_tuple=True)
    (tensor([1, 2]),)
    """
    arr = input._data if input._data.flags.c_contiguous else _copy_array(input)._data
    K = kernels(input.device).index
    count = K.count_nonzero(arr.reshape(1) if arr.ndim == 0 else arr.reshape(-1))
    if input.ndim == 0:  # a scalar: one match (or none) with no coordinates, as PyTorch
        if as_tuple:
            pos = empty((count,), D.int64, input.device)
            _core.fill(pos, 0)
            return (pos,)
        return empty((count, 0), D.int64, input.device)
    out = empty((count, arr.ndim), D.int64, input.device)
    if count:
        K.nonzero(arr, out._data)
    if as_tuple:
        return tuple(out[:, k] for k in range(out.shape[1]))
    return out


@op(method=False)
def argwhere(input):
    """Coordinates of nonzero elements, shape (count, ndim) (``nonzero``'s default).

    >>> import numtorch as torch
    >>> torch.argwhere(torch.tensor([0, 3, 5]))
    tensor([[1],
            [2]])
    """
    return nonzero(input)


@op()
def take(input, index):
    """Elements of the flattened ``input`` at ``index`` (result has index's shape).

    >>> import numtorch as torch
    >>> torch.take(torch.tensor([[1, 2], [3, 4]]), torch.tensor([0, 3]))
    tensor([1, 4])
    """
    flat = input.reshape(-1)
    return IndexSelect.apply(flat, 0, index.reshape(-1), True).reshape(index.shape)


# --- __getitem__ ---------------------------------------------------------------------------
def _is_advanced(k):
    """An index that selects by a list of positions (PyTorch also takes a ``range``)."""
    return isinstance(k, (Tensor, list, np.ndarray, range))


def _expand_key(x, key):
    if not isinstance(key, tuple):
        key = (key,)
    # bool tensors / Python bools count their dims; None and Ellipsis take none
    used = 0
    for k in key:
        if k is None or k is Ellipsis:
            continue
        if isinstance(k, builtins.bool):
            continue
        if isinstance(k, Tensor) and k.dtype is D.bool:
            used += k.ndim
        elif isinstance(k, np.ndarray) and k.dtype == np.bool_:
            used += k.ndim
        else:
            used += 1
    if builtins.sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if used > x.ndim:
        raise IndexError(
            f"too many indices for tensor of dimension {x.ndim}")
    out = []
    for k in key:
        if k is Ellipsis:
            out.extend([slice(None)] * (x.ndim - used))
        else:
            out.append(k)
    return out


def _to_index_tensor(k, device):
    if isinstance(k, Tensor):
        return k
    from .._creation import tensor
    t = tensor(k, device=device)
    if t.dtype.is_floating_point:
        raise IndexError(
            "tensors used as indices must be long, int, byte or bool tensors")
    return t


def _validate_slice(s):
    for v in (s.start, s.stop, s.step):
        if isinstance(v, Tensor):
            return slice(*(int(u) if isinstance(u, Tensor) else u for u in (s.start, s.stop, s.step)))
    if s.step is not None and s.step <= 0:
        raise ValueError("step must be greater than zero")
    return s


def _split_key(x, key):
    """Basic key (numpy-style, with advanced positions kept as ':') and advanced (pos, index)s."""
    key = _expand_key(x, key)
    basic, adv = [], []
    dim = 0       # dim of x consumed
    outdim = 0    # dim in the basic-indexed view
    has_adv = any(_is_advanced(k) for k in key)
    for k in key:
        if k is None:
            basic.append(None)
            outdim += 1
        elif isinstance(k, builtins.bool):
            basic.append(None)
            if not k:
                adv.append((outdim, _to_index_tensor([], x.device).long()))
            outdim += 1
        elif isinstance(k, slice):
            basic.append(_validate_slice(k))
            dim += 1
            outdim += 1
        elif isinstance(k, (builtins.int, np.integer)) or (isinstance(k, Tensor) and k.ndim == 0 and
                                                           not k.dtype.is_floating_point and
                                                           k.dtype is not D.bool and not has_adv):
            k = int(k)
            n = x._data.shape[dim]
            if not -n <= k < n:
                raise IndexError(
                    f"index {k} is out of bounds for dimension {dim} with size {n}")
            if has_adv:  # ints next to advanced indices take part in advanced indexing
                basic.append(slice(None))
                adv.append((outdim, _to_index_tensor(k, x.device)))
                outdim += 1
            else:
                basic.append(k)
            dim += 1
        elif _is_advanced(k):
            t = _to_index_tensor(k, x.device)
            if t.dtype is D.bool:
                for j in range(t.ndim):
                    if t._data.shape[j] != x._data.shape[dim + j]:
                        raise IndexError(
                            f"The shape of the mask {list(t.shape)} at index {j} does not match the "
                            f"shape of the indexed tensor {list(x.shape)} at index {dim + j}")
                coords = nonzero(t, as_tuple=True) if t.ndim else None
                if t.ndim == 0:
                    basic.append(None)
                    adv.append((outdim, _zero_or_empty(bool(t), x.device)))
                    outdim += 1
                    continue
                for j, c in enumerate(coords):
                    basic.append(slice(None))
                    adv.append((outdim, c))
                    outdim += 1
                dim += t.ndim
            else:
                basic.append(slice(None))
                adv.append((outdim, t))
                dim += 1
                outdim += 1
        else:
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
                f"are valid indices (got {type(k).__name__})")
    return tuple(basic), adv


def _zero_or_empty(flag, device):
    from .._creation import tensor
    return tensor([0] if flag else [], dtype=D.int64, device=device)


@op(function=False, method=False)
def getitem(self, key):
    """``x[key]``: views for ints, slices, None and ``...``; a gather for tensors, lists, masks."""
    if isinstance(key, (builtins.int, slice)) and not isinstance(key, builtins.bool):
        if isinstance(key, slice):
            key = _validate_slice(key)
        elif self.ndim == 0:
            raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                             "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
        else:
            n = self._data.shape[0]
            if not -n <= key < n:
                raise IndexError(f"index {key} is out of bounds for dimension 0 with size {n}")
        return Slice.apply(self, (key,))
    if key.__class__ is Tensor and key.dtype is not D.bool and key._data.ndim and self._data.ndim:
        # one index tensor (rows of x, as an embedding lookup does): one IndexSelect on dim 0
        if key._data.ndim == 1:
            return IndexSelect.apply(self, 0, key, True)
        out = IndexSelect.apply(self, 0, key.reshape(-1), True)
        return out.reshape(key._data.shape + self._data.shape[1:])
    if key.__class__ is Tensor and key.dtype is D.bool and key._data.shape == self._data.shape \
            and key._data.ndim:
        # a mask of x's shape (x[x > 0]): the elements at its flat positions, in order
        return IndexSelect.apply(self.reshape(-1), 0, nonzero(key.reshape(-1)).reshape(-1))
    basic, adv = _split_key(self, key)
    view = Slice.apply(self, basic) if basic else self
    if not adv:
        return view
    return _advanced(view, adv)


def _advanced(view, adv):
    from .shape import broadcast_tensors
    positions = [p for p, _ in adv]
    idxs = broadcast_tensors(*[t for _, t in adv])
    ishape = idxs[0]._data.shape
    shp = view._data.shape
    adjacent = positions == list(range(positions[0], positions[0] + len(positions)))
    rest = [d for d in range(view.ndim) if d not in positions]
    # bring indexed dims to the front, linearise them, pick rows with one IndexSelect
    perm = view.permute(positions + rest)
    sizes = [shp[p] for p in positions]
    lin = None
    stride = 1
    for t, n, p in reversed(list(zip(idxs, sizes, positions))):
        pos = Tensor._make(_checked(t, n, "index", p), D.int64, view.device)
        term = pos * stride if stride != 1 else pos
        lin = term if lin is None else lin + term
        stride *= n
    rest_shape = tuple(shp[d] for d in rest)
    flat = perm.reshape((stride,) + rest_shape)
    out = IndexSelect.apply(flat, 0, lin.reshape(-1)).reshape(ishape + rest_shape)
    if adjacent and positions[0] > 0:
        k = len(ishape)
        p0 = positions[0]
        order = list(range(k, k + p0)) + list(range(k)) + list(range(k + p0, out.ndim))
        out = out.permute(order)
    return out


# --- __setitem__ ---------------------------------------------------------------------------
class IndexPut(Function):
    """``x`` with ``value`` written (or added) at flat positions ``pos`` (validated).

    ``indices``: the user's index tensors that ``pos`` came from, saved only so that backward
    raises if they were modified in place since (PyTorch's index_put saves them)."""

    @staticmethod
    def forward(ctx, x, pos, value, accumulate, indices=()):
        ctx.save_for_backward(pos, *indices)
        ctx.meta = (accumulate, isinstance(value, Tensor) and value.shape)
        out = _copy_array(x)
        v = value.to(x.dtype) if isinstance(value, Tensor) else \
            _core.as_tensor_arg(value, x.device).to(x.dtype)
        v = v.expand(pos.shape).contiguous() if v._data.shape != pos._data.shape else v.contiguous()
        if pos._data.size:
            kernels(x.device).index.put(out._data.reshape(-1), pos._data.reshape(-1),
                                        v._data.reshape(-1), accumulate)
        return out

    @staticmethod
    def backward(ctx, g):
        pos = ctx.saved_tensors[0]
        accumulate, vshape = ctx.meta
        gx = g if accumulate else IndexPut.apply(g, pos, 0.0, False)
        gv = take(g, pos) if vshape is not False else None
        return gx, None, gv, None, None


def _index_tensors(key):
    """The tensors of an indexing key (for :class:`IndexPut`'s version check)."""
    if isinstance(key, Tensor):
        return (key,)
    if isinstance(key, tuple):
        return tuple(k for k in key if isinstance(k, Tensor))
    return ()


def _flat_positions(x, key):
    from .._creation import arange
    ar = arange(x._data.size, device=x.device).reshape(x._data.shape)
    return getitem(ar, key)


@op(function=False, method=False)
def setitem(self, key, value):
    """``x[key] = value``: in place; a scalar or a tensor broadcast to the indexed shape."""
    if isinstance(value, (list, tuple)):
        value = _core.as_tensor_arg(value, self.device)
    if isinstance(value, Tensor) and value.device != self.device:
        value = value.to(self.device)
    tracking = grad_mode.state.enabled and (self._requires_grad or (
        isinstance(value, Tensor) and value._requires_grad))
    if isinstance(key, Tensor) and key.dtype is D.bool and key.shape == self.shape and \
            not isinstance(value, Tensor) and not tracking:
        check_inplace(self)  # the common ``x[mask] = 0``: one where kernel, in place
        check_overlap(self._data)
        v = _core.scalar_array(value, self.dtype, self.device)
        kernels(self.device).elementwise.where(key._data, v, self._data, self._data)
        self._ver[0] += 1
        return
    basic, adv = _split_key(self, key)
    if not adv and not tracking:
        check_inplace(self)
        target = view_index(self._data, basic) if basic else self._data
        check_overlap(target)  # only the indexed part must not overlap (PyTorch's rule)
        K = kernels(self.device).elementwise
        if isinstance(value, Tensor):
            src = value._data
            _core.broadcast_shapes(src.shape, target.shape)
            if src.ndim > target.ndim and any(s != 1 for s in src.shape[:src.ndim - target.ndim]):
                raise RuntimeError(f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast to indexing result of shape {list(target.shape)}")
            src = src.reshape(src.shape[src.ndim - target.ndim:]) if src.ndim > target.ndim else src
            if self.device.type == "cpu" and np.may_share_memory(src, target):
                src = src.copy()
            K.cast(src, target)
        else:
            K.fill(target, self.dtype.np.type(value)) if target.ndim else \
                K.cast(_core.scalar_array(value, self.dtype, self.device), target)
        self._ver[0] += 1
        return
    pos = _flat_positions(self, key)
    if isinstance(value, Tensor):
        try:
            _core.broadcast_shapes(value._data.shape, pos._data.shape)
        except RuntimeError:
            raise RuntimeError(
                f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast to "
                f"indexing result of shape {list(pos.shape)}") from None
        if value.ndim > pos.ndim:
            value = value.reshape(value.shape[value.ndim - pos.ndim:])
    if tracking:
        commit_inplace(self, IndexPut.apply(self, pos, value, False, _index_tensors(key)))
        return
    check_inplace(self)
    check_overlap(self._data)
    v = value.to(self.dtype) if isinstance(value, Tensor) else _core.as_tensor_arg(value, self.device).to(self.dtype)
    v = v.expand(pos.shape).contiguous() if v._data.shape != pos._data.shape else v.contiguous()
    if pos._data.size:
        if self._data.flags.c_contiguous:
            kernels(self.device).index.put(self._data.reshape(-1), pos._data.reshape(-1),
                                           v._data.reshape(-1), False)
        else:
            tmp = _copy_array(self)
            kernels(self.device).index.put(tmp._data.reshape(-1), pos._data.reshape(-1),
                                           v._data.reshape(-1), False)
            kernels(self.device).elementwise.copy(tmp._data, self._data)
    self._ver[0] += 1


@op(inplace=True)
def index_put(input, indices, values, accumulate=False):
    """A copy of ``input`` with ``values`` put (or added) at the advanced index ``indices``.

    >>> import numtorch as torch
    >>> torch.index_put(torch.zeros(3), (torch.tensor([0, 2]),), torch.tensor([1.0, 2.0]))
    tensor([1., 0., 2.])
    """
    pos = _flat_positions(input, tuple(indices))
    return IndexPut.apply(input, pos, values, accumulate, _index_tensors(tuple(indices)))


@op(function=False)
def put_(input, index, source, accumulate=False):
    pos = Tensor._make(_checked(index, input.numel(), "index").reshape(index.shape), D.int64, input.device)
    return commit_inplace(input, IndexPut.apply(input, pos, source, accumulate))
