"""Views and movement: metadata-only ops share memory and the version counter with their input;
joins and copies run the copy kernel. Each backward is a Tensor op (double backward works)."""
import builtins

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.function import Function
from .._registry import op
from . import _core
from ._core import kernels, empty, normalize_dims


def view_index(arr, key):
    """``arr[key]`` as a view, always: NumPy returns a scalar *copy* when every index is an
    int, so writes through it (setitem, a slice's backward) would be lost; a trailing ``...``
    keeps a 0-d view."""
    if not isinstance(key, tuple):
        key = (key,)
    if not any(k is Ellipsis for k in key):
        key = key + (Ellipsis,)
    return arr[key]


def _infer_shape(shape, numel):
    if -1 not in shape and _core.prod(shape) == numel and min(shape, default=0) >= 0:
        return tuple(shape)  # nothing to infer (the common case)
    shape = list(shape)
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for s in shape:
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s}")
    known = 1
    for i, s in enumerate(shape):
        if i not in neg:
            known *= s
    if neg:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape[neg[0]] = numel // known
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return tuple(shape)


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _copy_array(t):
    """A C-contiguous copy of ``t``'s array, made by the copy kernel."""
    out = empty(t._data.shape, t.dtype, t.device)
    kernels(t.device).elementwise.copy(t._data, out._data)
    return out


class View(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x._data.shape
        return x._view_of(x._data.reshape(shape))

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.in_shape), None


class Copy(Function):
    """A contiguous copy (``clone``, ``contiguous``, reshape of a non-viewable layout)."""
    @staticmethod
    def forward(ctx, x):
        return _copy_array(x)

    @staticmethod
    def backward(ctx, g):
        return g


@op(function=False)
def view(input, *shape):
    """Same memory, new shape; the layout must allow it (else use ``reshape``)."""
    if len(shape) == 1 and isinstance(shape[0], D.dtype):
        return view_as_dtype(input, shape[0])
    shape = _infer_shape(_shape_args(shape), input._data.size)
    if not _viewable(input._data, shape):
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
    return View.apply(input, shape)


def view_as_dtype(input, dtype):
    if dtype.itemsize != input.dtype.itemsize:
        raise RuntimeError("view(dtype) with a different element size is not supported")
    return Tensor._make(input._data.view(dtype.np), dtype, input.device)


def _viewable(arr, shape):
    return arr.flags.c_contiguous or _core.reshapes_in_place(arr, shape)


@op()
def reshape(input, *shape):
    """A view when the layout allows, otherwise a copy (as PyTorch).

    >>> import numtorch as torch
    >>> torch.reshape(torch.arange(6), (2, 3))
    tensor([[0, 1, 2],
            [3, 4, 5]])
    """
    shape = _infer_shape(_shape_args(shape), input._data.size)
    if shape == input._data.shape:
        return View.apply(input, shape)
    if _viewable(input._data, shape):
        return View.apply(input, shape)
    return View.apply(Copy.apply(input), shape)


@op()
def view_as(input, other):
    """``input.view(other.shape)``.

    >>> import numtorch as torch
    >>> torch.view_as(torch.arange(6), torch.zeros(2, 3))
    tensor([[0, 1, 2],
            [3, 4, 5]])
    """
    return view(input, other.shape)


@op(function=False)
def reshape_as(input, other):
    return reshape(input, other.shape)


@op()
def flatten(input, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim..end_dim`` into one.

    >>> import numtorch as torch
    >>> torch.flatten(torch.zeros(2, 3, 4), 1).shape
    torch.Size([2, 12])
    """
    nd = input.ndim
    if nd == 0:
        return reshape(input, (1,))
    s, e = input._dim(start_dim), input._dim(end_dim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shp = input._data.shape
    n = 1
    for k in shp[s:e + 1]:
        n *= k
    return reshape(input, shp[:s] + (n,) + shp[e + 1:])


@op()
def unflatten(input, dim, sizes):
    """Split dim ``dim`` into ``sizes``.

    >>> import numtorch as torch
    >>> torch.unflatten(torch.zeros(2, 6), 1, (2, 3)).shape
    torch.Size([2, 2, 3])
    """
    d = input._dim(dim)
    shp = input._data.shape
    sizes = _infer_shape(tuple(sizes), shp[d])
    return reshape(input, shp[:d] + sizes + shp[d + 1:])


@op()
def ravel(input):
    """A 1-D view (or copy) of ``input``.

    >>> import numtorch as torch
    >>> torch.ravel(torch.tensor([[1, 2], [3, 4]]))
    tensor([1, 2, 3, 4])
    """
    return reshape(input, (-1,))


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x._view_of(x._data.transpose(dims))

    @staticmethod
    def backward(ctx, g):
        inv = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inv[d] = i
        return g.permute(tuple(inv)), None


@op()
def permute(input, *dims):
    """Reorder the dims (a view).

    >>> import numtorch as torch
    >>> torch.permute(torch.zeros(2, 3, 4), (2, 0, 1)).shape
    torch.Size([4, 2, 3])
    """
    dims = _shape_args(dims)
    if len(dims) != input.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {input.ndim} is not "
            f"equal to len(dims) = {len(dims)}")
    return Permute.apply(input, normalize_dims(dims, input.ndim))


@op('swapaxes', 'swapdims')
def transpose(input, dim0, dim1):
    """Swap dims ``dim0`` and ``dim1`` (also ``swapaxes`` and ``swapdims``).

    >>> import numtorch as torch
    >>> torch.swapaxes(torch.zeros(2, 3), 0, 1).shape
    torch.Size([3, 2])
    """
    nd = input.ndim
    if nd == 0:
        input._dim(dim0), input._dim(dim1)
        return View.apply(input, ())
    d0, d1 = input._dim(dim0), input._dim(dim1)
    dims = list(range(nd))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(input, tuple(dims))


@op()
def t(input):
    """Transpose a tensor of at most 2 dims.

    >>> import numtorch as torch
    >>> torch.t(torch.tensor([[1, 2], [3, 4]]))
    tensor([[1, 3],
            [2, 4]])
    """
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return transpose(input, 0, 1) if input.ndim == 2 else View.apply(input, input._data.shape)


@op('moveaxis')
def movedim(input, source, destination):
    """Move dim(s) ``source`` to ``destination`` (also ``moveaxis``).

    >>> import numtorch as torch
    >>> torch.moveaxis(torch.zeros(2, 3, 4), 0, -1).shape
    torch.Size([3, 4, 2])
    """
    nd = input.ndim
    src = normalize_dims(source, nd)
    dst = normalize_dims(destination, nd)
    if len(src) != len(dst):
        raise RuntimeError("movedim: Invalid source or destination dims")
    order = [d for d in range(nd) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return Permute.apply(input, tuple(order))


@op()
def unsqueeze(input, dim):
    """Insert a size-1 dim at ``dim``.

    >>> import numtorch as torch
    >>> torch.unsqueeze(torch.tensor([1, 2]), 0)
    tensor([[1, 2]])
    """
    nd = input.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but got {dim})")
    d = dim + nd if dim < 0 else dim
    shp = input._data.shape
    return View.apply(input, shp[:d] + (1,) + shp[d:])


@op()
def squeeze(input, dim=None):
    """Remove size-1 dims (all, or only ``dim``).

    >>> import numtorch as torch
    >>> torch.squeeze(torch.zeros(1, 2, 1)).shape
    torch.Size([2])
    """
    shp = input._data.shape
    if dim is None:
        return View.apply(input, tuple(s for s in shp if s != 1))
    dims = normalize_dims(dim, input.ndim)
    return View.apply(input, tuple(s for i, s in enumerate(shp) if not (i in dims and s == 1)))


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        return x._view_of(kernels(x.device).memory.broadcast_to(x._data, shape))

    @staticmethod
    def backward(ctx, g):
        return g, None  # the engine sums the gradient back to the input's shape


@op(function=False)
def expand(input, *sizes):
    sizes = list(_shape_args(sizes))
    shp = input._data.shape
    if len(sizes) < len(shp):
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(shp)}}}, size={sizes}): the number of sizes provided "
            f"({len(sizes)}) must be greater or equal to the number of dimensions in the tensor "
            f"({len(shp)})")
    lead = len(sizes) - len(shp)
    for i, s in enumerate(shp):
        want = sizes[lead + i]
        if want == -1:
            sizes[lead + i] = s
        elif s != 1 and want != s:
            raise RuntimeError(
                f"The expanded size of the tensor ({want}) must match the existing size ({s}) at "
                f"non-singleton dimension {lead + i}.  Target sizes: {sizes}.  Tensor sizes: "
                f"{list(shp)}")
    for s in sizes[:lead]:
        if s < 0:
            raise RuntimeError("The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension 0")
    return Expand.apply(input, tuple(sizes))


@op(function=False)
def expand_as(input, other):
    return expand(input, other.shape)


@op()
def broadcast_to(input, shape):
    """A view of ``input`` broadcast to ``shape``.

    >>> import numtorch as torch
    >>> torch.broadcast_to(torch.tensor([1, 2]), (2, 2))
    tensor([[1, 2],
            [1, 2]])
    """
    return expand(input, shape)


@op(method=False)
def broadcast_tensors(*tensors):
    """The tensors broadcast to their common shape.

    >>> import numtorch as torch
    >>> a, b = torch.broadcast_tensors(torch.zeros(2, 1), torch.zeros(3))
    >>> a.shape, b.shape
    (torch.Size([2, 3]), torch.Size([2, 3]))
    """
    shape = _core.broadcast_shapes(*(t._data.shape for t in tensors))
    return tuple(expand(t, shape) for t in tensors)


class Slice(Function):
    """Basic indexing (ints, slices with positive steps, None, ...): a view."""
    @staticmethod
    def forward(ctx, x, key):
        ctx.in_shape = x._data.shape
        ctx.key = key
        ctx.dtype, ctx.device = x.dtype, x.device
        return x._view_of(view_index(x._data, key))

    @staticmethod
    def backward(ctx, g):
        return SliceBackward.apply(g, ctx.in_shape, ctx.key), None


class SliceBackward(Function):
    """Scatter a slice's gradient into zeros of the input's shape; its own backward slices."""
    @staticmethod
    def forward(ctx, g, shape, key):
        ctx.key = key
        out = empty(shape, g.dtype, g.device)
        k = kernels(g.device).elementwise
        k.fill(out._data, 0)
        k.copy(g._data, view_index(out._data, key))
        return out

    @staticmethod
    def backward(ctx, gg):
        return Slice.apply(gg, ctx.key), None, None


@op()
def narrow(input, dim, start, length):
    """The slice ``start:start + length`` of dim ``dim`` (a view).

    >>> import numtorch as torch
    >>> torch.narrow(torch.arange(5), 0, 1, 3)
    tensor([1, 2, 3])
    """
    d = input._dim(dim)
    n = input._data.shape[d]
    if isinstance(start, Tensor):
        start = int(start)
    if not -n <= start <= n:  # PyTorch: IndexError for the start, RuntimeError for the rest
        raise IndexError(
            f"start out of range (expected to be in range of [{-n}, {n}], but got {start})")
    if start < 0:
        start += n
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > n:
        raise RuntimeError(
            f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    key = (slice(None),) * d + (slice(start, start + length),)
    return Slice.apply(input, key)


@op()
def select(input, dim, index):
    """The slice at ``index`` of dim ``dim``, with that dim removed.

    >>> import numtorch as torch
    >>> torch.select(torch.tensor([[1, 2], [3, 4]]), 1, 0)
    tensor([1, 3])
    """
    d = input._dim(dim)
    n = input._data.shape[d]
    if not -n <= index < n:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {list(input.shape)} at "
            f"dimension {d}")
    return Slice.apply(input, (slice(None),) * d + (index,))


@op(function=False)
def contiguous(input, memory_format=None):
    """Self if already C-contiguous, else a contiguous copy."""
    if input._data.flags.c_contiguous:
        return input
    return Copy.apply(input)


@op()
def clone(input, *, memory_format=None):
    """A copy with its own memory (and a graph edge back to ``input``).

    >>> import numtorch as torch
    >>> torch.clone(torch.tensor([1.0, 2.0]))
    tensor([1., 2.])
    """
    return Copy.apply(input)


def _joined_dtype_device(tensors):
    """The dtype and device of ``cat``/``stack``'s result: the first tensor's when all share
    them, else the promoted dtype (or the error naming the devices)."""
    dtype, dev = tensors[0].dtype, tensors[0].device
    for t in tensors:
        if t.dtype is not dtype or t.device is not dev:
            return D.result_type(*tensors), _core.same_device(*tensors)
    return dtype, dev


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *tensors):
        ctx.sizes = [t._data.shape[dim] for t in tensors]
        ctx.dim = dim
        dtype, dev = _joined_dtype_device(tensors)
        shape = list(tensors[0]._data.shape)
        shape[dim] = builtins.sum(ctx.sizes)
        out = empty(tuple(shape), dtype, dev)
        kernels(dev).memory.concatenate([t._data for t in tensors], dim, out._data)
        return out

    @staticmethod
    def backward(ctx, g):
        return (None,) + tuple(split(g, ctx.sizes, ctx.dim))


class Stack(Function):
    """Tensors of one shape (``stack`` checks) joined along a new dim: each copied once into
    the output through a view of its array with the new unit dim (no unsqueeze op, and no graph
    node, per tensor); the gradient is the output's gradient unbound along that dim."""

    @staticmethod
    def forward(ctx, dim, *tensors):
        ctx.dim = dim
        dtype, dev = _joined_dtype_device(tensors)
        shp = tensors[0]._data.shape
        unit = shp[:dim] + (1,) + shp[dim:]
        out = empty(shp[:dim] + (len(tensors),) + shp[dim:], dtype, dev)
        kernels(dev).memory.concatenate([t._data.reshape(unit) for t in tensors], dim, out._data)
        return out

    @staticmethod
    def backward(ctx, g):
        return (None,) + g.unbind(ctx.dim)


@op('concat', 'concatenate', method=False)
def cat(tensors, dim=0):
    """Join tensors along an existing dim (1-D empty tensors are skipped, as PyTorch).

    >>> import numtorch as torch
    >>> torch.cat([torch.tensor([1, 2]), torch.tensor([3])])
    tensor([1, 2, 3])
    """
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element in argument 0, but got {type(t).__name__}")
    live = [t for t in tensors if t._data.shape != (0,)] or tensors[:1]
    ref = live[0]
    rs = ref._data.shape
    if not rs:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = ref._dim(dim)
    head, tail = rs[:d], rs[d + 1:]
    for i, t in enumerate(live):
        ts = t._data.shape
        if len(ts) != len(rs):
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {len(rs)} and {len(ts)}")
        if ts[:d] != head or ts[d + 1:] != tail:
            k = next(k for k in range(len(rs)) if k != d and ts[k] != rs[k])
            raise RuntimeError(
                f"Sizes of tensors must match except in dimension {d}. Expected size "
                f"{rs[k]} but got size {ts[k]} for tensor number {i} in the list.")
    return Cat.apply(d, *live)


@op(method=False)
def stack(tensors, dim=0):
    """Join tensors of equal shape along a new dim.

    >>> import numtorch as torch
    >>> torch.stack([torch.tensor([1, 2]), torch.tensor([3, 4])])
    tensor([[1, 2],
            [3, 4]])
    """
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}")
    shp = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != shp:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shp)} at entry 0 and "
                f"{list(t._data.shape)} at entry {i}")
    nd = len(shp) + 1
    if not -nd <= dim < nd:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but got {dim})")
    return Stack.apply(dim + nd if dim < 0 else dim, *tensors)


@op(method=False)
def hstack(tensors):
    """Concatenate column-wise (along dim 0 for 1-D tensors, else dim 1).

    >>> import numtorch as torch
    >>> torch.hstack([torch.tensor([1, 2]), torch.tensor([3])])
    tensor([1, 2, 3])
    """
    tensors = [t if t.ndim else t.reshape(1) for t in tensors]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


@op(method=False)
def vstack(tensors):
    """Concatenate row-wise, treating 1-D tensors as rows.

    >>> import numtorch as torch
    >>> torch.vstack([torch.tensor([1, 2]), torch.tensor([3, 4])])
    tensor([[1, 2],
            [3, 4]])
    """
    return cat([t.reshape(1, -1) if t.ndim < 2 else t for t in tensors], 0)


@op()
def split(tensor, split_size_or_sections, dim=0):
    """Views of consecutive pieces: equal ``split_size`` (last may be smaller) or given sizes.

    >>> import numtorch as torch
    >>> torch.split(torch.arange(5), 2)
    (tensor([0, 1]), tensor([2, 3]), tensor([4]))
    """
    if tensor.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = tensor._dim(dim)
    n = tensor._data.shape[d]
    if isinstance(split_size_or_sections, Tensor) and split_size_or_sections.ndim == 0:
        split_size_or_sections = int(split_size_or_sections.item())
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        if s < 0:
            raise RuntimeError(
                f"split expects split_size be non-negative, but got split_size={s}")
        if s == 0 and n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        # ceil(n / s) pieces, the last one shorter; a zero-size dim gives one empty piece
        count = builtins.max(-(-n // s), 1) if s else 1
        sizes = [builtins.min(s, n - i * s) for i in range(count)]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                f"at dimension {d}), but got split_sizes={sizes}")
    out, pos = [], 0
    for s in sizes:
        out.append(Slice.apply(tensor, (slice(None),) * d + (slice(pos, pos + s),)))
        pos += s
    return tuple(out)


@op()
def tensor_split(input, indices_or_sections, dim=0):
    """Split into ``n`` nearly equal parts, or at the given indices.

    >>> import numtorch as torch
    >>> torch.tensor_split(torch.arange(5), 2)
    (tensor([0, 1, 2]), tensor([3, 4]))
    >>> torch.tensor_split(torch.arange(5), [1, 3])
    (tensor([0]), tensor([1, 2]), tensor([3, 4]))
    """
    if input.ndim == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a "
                           "tensor with 0 dims")
    d = input._dim(dim)
    n = input._data.shape[d]
    if isinstance(indices_or_sections, Tensor):
        if indices_or_sections.ndim > 1:
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                f"one-dimensional tensor, but got a tensor with {indices_or_sections.ndim} dims")
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        if k <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {k}")
        sizes = [n // k + 1] * (n % k) + [n // k] * (k - n % k)
        return split(input, sizes, d)
    # piece i is input[idx[i-1]:idx[i]] along d with Python's slice rules (negatives count
    # from the end; a bound before its start gives an empty piece): pieces may overlap
    bounds = [0] + list(indices_or_sections) + [n]
    out = []
    for a, b in zip(bounds, bounds[1:]):
        start, stop, _ = slice(a, b).indices(n)
        key = (slice(None),) * d + (slice(start, builtins.max(start, stop)),)
        out.append(Slice.apply(input, key))
    return tuple(out)


@op()
def chunk(input, chunks, dim=0):
    """At most ``chunks`` views of size ceil(n / chunks) (PyTorch's rule).

    >>> import numtorch as torch
    >>> torch.chunk(torch.arange(5), 2)
    (tensor([0, 1, 2]), tensor([3, 4]))
    """
    if input.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = input._dim(dim)
    n = input._data.shape[d]
    # a zero-size dim gives ``chunks`` empty pieces (PyTorch's split_with_sizes case)
    return split(input, -(-n // chunks), d) if n else split(input, [0] * chunks, d)


@op()
def unbind(input, dim=0):
    """The slices along ``dim``, that dim removed.

    >>> import numtorch as torch
    >>> torch.unbind(torch.tensor([[1, 2], [3, 4]]))
    (tensor([1, 2]), tensor([3, 4]))
    """
    if input.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    d = input._dim(dim)
    return tuple(select(input, d, i) for i in range(input._data.shape[d]))


@op()
def flip(input, *args, dims=None):
    """Reverse along ``dims`` (a copy, as PyTorch: no negative strides); the method also takes
    the dims one by one (``x.flip(-2, -1)``).

    >>> import numtorch as torch
    >>> torch.flip(torch.tensor([[1, 2], [3, 4]]), [0])
    tensor([[3, 4],
            [1, 2]])
    >>> torch.tensor([[1, 2], [3, 4]]).flip(-2, -1)
    tensor([[4, 3],
            [2, 1]])
    """
    if dims is None:
        if not args:
            raise TypeError("flip() missing 1 required positional argument: 'dims'")
        dims = _shape_args(args)
    elif args:
        raise TypeError("flip() got multiple values for argument 'dims'")
    dims = normalize_dims(dims, input.ndim)
    key = tuple(slice(None, None, -1) if i in dims else slice(None) for i in range(input.ndim))
    return Flip.apply(input, key)


class Flip(Function):
    @staticmethod
    def forward(ctx, x, key):
        ctx.key = key
        out = empty(x._data.shape, x.dtype, x.device)
        kernels(x.device).elementwise.copy(x._data[key], out._data)
        return out

    @staticmethod
    def backward(ctx, g):
        return Flip.apply(g, ctx.key), None


@op()
def fliplr(input):
    """Reverse the columns (dim 1).

    >>> import numtorch as torch
    >>> torch.fliplr(torch.tensor([[1, 2], [3, 4]]))
    tensor([[2, 1],
            [4, 3]])
    """
    return flip(input, (1,))


@op()
def flipud(input):
    """Reverse the rows (dim 0).

    >>> import numtorch as torch
    >>> torch.flipud(torch.tensor([[1, 2], [3, 4]]))
    tensor([[3, 4],
            [1, 2]])
    """
    return flip(input, (0,))


class Repeat(Function):
    """``Tensor.repeat``: always a fresh contiguous tensor (PyTorch copies; a stride-0 view
    could not be written in place); the gradient sums the copies."""
    @staticmethod
    def forward(ctx, x, sizes):
        shp = (1,) * (len(sizes) - x.ndim) + x._data.shape
        # a new axis before each dim, broadcast, merged: (r0, s0, r1, s1, ...) -> (r0*s0, ...)
        inter = [n for s in shp for n in (1, s)]
        target = [n for r, s in zip(sizes, shp) for n in (r, s)]
        ctx.meta = (x._data.shape, target)
        out = empty(tuple(r * s for r, s in zip(sizes, shp)), x.dtype, x.device)
        src = kernels(x.device).memory.broadcast_to(x.reshape(inter)._data, target)
        kernels(x.device).elementwise.copy(src, out._data.reshape(target))
        return out

    @staticmethod
    def backward(ctx, g):
        shape, target = ctx.meta
        return g.reshape(target).sum(tuple(range(0, len(target), 2))).reshape(shape), None


@op(function=False)
def repeat(input, *sizes):
    """Tile the tensor ``sizes[i]`` times along each dim (a copy)."""
    sizes = _shape_args(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    for r in sizes:
        if r < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {r}: "
                               f"{list(sizes)}")
    return Repeat.apply(input, tuple(sizes))


@op()
def tile(input, dims):
    """Repeat ``input`` ``dims`` times along each dim.

    >>> import numtorch as torch
    >>> torch.tile(torch.tensor([1, 2]), (2,))
    tensor([1, 2, 1, 2])
    """
    dims = tuple(dims)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, dims)


@op()
def roll(input, shifts, dims=None):
    """Shift elements circularly by ``shifts`` along ``dims`` (flattened if None).

    >>> import numtorch as torch
    >>> torch.roll(torch.tensor([1, 2, 3, 4]), 1)
    tensor([4, 1, 2, 3])
    """
    if dims is None:
        return roll(input.flatten(), shifts, 0).reshape(input.shape)
    if isinstance(shifts, int):
        shifts, dims = (shifts,), (dims,) if isinstance(dims, int) else dims
    out = input
    for s, d in zip(shifts, dims):
        d = input._dim(d)
        n = input._data.shape[d]
        if n == 0:
            continue
        s %= n
        if s:
            a, b = split(out, [n - s, s], d)
            out = cat([b, a], d)
    return out


@op(function=False)
def unfold(input, dimension, size, step):
    """Sliding windows along ``dimension`` as a view (last dim of the result is the window)."""
    d = input._dim(dimension)
    n = input._data.shape[d]
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    count = (n - size) // step + 1
    idx = [input.narrow(d, i * step, size) for i in range(count)]
    return stack(idx, d).movedim(d + 1, -1) if idx else input.narrow(d, 0, 0)


@op(function=False)
def type_as(input, other):
    return input.to(other.dtype)
