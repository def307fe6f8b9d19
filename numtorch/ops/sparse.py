"""The sparse COO layout: its tensor type, the sparse x dense product (``SpMM``: forward kernel
and backward rule side by side) and the conversions built on existing ops.

A sparse COO tensor of ``size`` holds ``indices`` (sparse_dim, nnz) int64 and ``values``
(nnz, *dense_sizes), both ordinary tensors on one device. It is a :class:`Tensor` subclass, as in
PyTorch (``isinstance(adj, torch.Tensor)``, ``torch.is_tensor``, ``register_buffer``,
``Module.to`` and user helpers that move "every tensor" all accept it), but it has no strided
memory: its ``_data`` is a stand-in that raises NotImplementedError, naming the sparse layout,
for every dense op it does not support, so no op silently computes on the wrong memory.

Autograd goes through the values: a sparse tensor ``requires_grad`` when its values do, and
every op here is differentiable in them (and in the dense operand). ``sparse_coo_tensor(...,
requires_grad=True)`` makes the values a leaf that the sparse tensor owns; its ``.grad`` is then
the sparse gradient on the coalesced indices.

Structure is computed once per indices tensor and kept on it (in its ``__dict__``, keyed by
its version counter): the bounds check (Numba does not bounds-check, so every index is checked
before a kernel sees it), the coalesce plan (sort, duplicates merged) and, for a matrix, the row
offsets of the product kernel and those of its transpose (the backward's). A GCN that builds its
adjacency once, or a GAT that rebuilds it every step from the same ``edge_index`` with new
values, sorts it once.
"""
import builtins
import math

from .. import _dtype as D
from .._device import as_device
from .._registry import op
from .._size import Size
from .._tensor import Tensor, sparse_coo
from ..autograd import grad_mode
from ..autograd.function import Function
from . import _core
from ._core import kernels, empty
from .device import to_args
from .linalg import _SCALAR_NAMES



class _NoStridedData:
    """The ``_data`` of a sparse tensor: it has no strided array, so any use raises."""

    __slots__ = ("backend",)

    def __init__(self, backend):
        self.backend = backend

    def _fail(self, *args, **kwargs):
        raise NotImplementedError(
            f"Could not run this operation with arguments from the '{self.backend}' backend: "
            "numtorch's sparse COO tensors support coalesce(), to_dense(), t(), to(), sum(), "
            "products with a dense matrix (torch.sparse.mm, spmm, mm, matmul, @), dense + sparse, "
            "sparse + sparse and sparse * number; call .to_dense() first")

    def __getattr__(self, name):
        self._fail()

    __array__ = __len__ = __getitem__ = __iter__ = __bool__ = __index__ = _fail


_NO_DATA = {"cpu": _NoStridedData("SparseCPU"), "cuda": _NoStridedData("SparseCUDA")}


def _name(dtype):
    return _SCALAR_NAMES.get(dtype.name, dtype.name)


def _sparse(indices, values, sizes, coalesced, owns=False):
    """A sparse tensor over ``indices`` (validated int64, on values' device) and ``values``."""
    s = object.__new__(SparseCooTensor)
    s._data = _NO_DATA[values.device.type]
    s.dtype = values.dtype
    s.device = values.device
    s._ver = [0]
    s._base = None
    s._requires_grad = False
    s._grad = None
    s._out_nr = 0
    s._ind = indices
    s._val = values
    s._sizes = tuple(sizes)
    s._coalesced = builtins.bool(coalesced)
    s._owns = owns
    return s


def _inner_repr(t, indent):
    """``t`` as the indices/values part of a sparse repr: no dtype or device suffix, rows after
    the first shifted right by ``indent`` columns (blank separator lines stay blank)."""
    host = t.detach().cpu()
    if host.numel() == 0:
        return f"tensor([], size={tuple(host.shape)})"
    from .._repr import tensor_repr
    shown = D.get_default_dtype() if t.dtype.is_floating_point else (
        D.bool if t.dtype is D.bool else D.int64)
    text = tensor_repr(Tensor._make(host._data, shown))
    return "\n".join(ln if not ln or k == 0 else " " * indent + ln
                     for k, ln in enumerate(text.split("\n")))


class SparseCooTensor(Tensor):
    """A sparse tensor in COO layout (``layout=torch.sparse_coo``), made by
    :func:`numtorch.sparse_coo_tensor` or ``Tensor.to_sparse()``.

    It holds ``indices`` (sparse_dim, nnz) and ``values`` (nnz, *dense_sizes); duplicate
    indices add up (``coalesce()`` merges them). Supported: its metadata, ``coalesce``,
    ``to_dense``, ``t``/``transpose`` of sparse dims, ``to``/``cpu``/``cuda``/``float``/
    ``double``, ``detach``, ``clone``, ``sum``, products with a dense matrix (``mm``,
    ``matmul``, ``@``, ``torch.spmm``, ``torch.sparse.mm``), ``dense + sparse`` (dense),
    ``sparse + sparse`` (sparse) and ``sparse * number``, differentiable in the values and the
    dense operand. Other ops raise NotImplementedError.

    >>> import numtorch as torch
    >>> s = torch.sparse_coo_tensor([[0, 1, 1], [2, 0, 2]], [3., 4., 5.], (2, 3))
    >>> s.is_sparse, s.layout, s._nnz(), s.shape
    (True, torch.sparse_coo, 3, torch.Size([2, 3]))
    >>> (s @ torch.ones(3, 1)).flatten()
    tensor([3., 9.])
    """

    __slots__ = ("_ind", "_val", "_sizes", "_coalesced", "_owns")

    def __init__(self, *args, **kwargs):
        raise TypeError("SparseCooTensor is not constructed directly: use "
                        "torch.sparse_coo_tensor(indices, values, size) or Tensor.to_sparse()")

    # --- metadata ---------------------------------------------------------------------------
    is_sparse = True
    layout = sparse_coo

    @property
    def shape(self):
        return Size(self._sizes)

    def size(self, dim=None):
        """The shape, or the length of one dimension."""
        return Size(self._sizes) if dim is None else self._sizes[self._dim(dim)]

    def dim(self):
        return len(self._sizes)

    ndimension = dim

    @property
    def ndim(self):
        return len(self._sizes)

    def numel(self):
        return math.prod(self._sizes)

    nelement = numel

    def __len__(self):
        if not self._sizes:
            raise TypeError("len() of a 0-d tensor")
        return self._sizes[0]

    def _dim(self, d):
        m = builtins.max(len(self._sizes), 1)
        if not -m <= d < m:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-m}, {m - 1}], but got {d})")
        return d + m if d < 0 else d

    def sparse_dim(self):
        """The number of sparse dims (rows of ``indices``)."""
        return self._ind._data.shape[0]

    def dense_dim(self):
        """The number of dense dims (dims of ``values`` after the first)."""
        return self._val.ndim - 1

    def _nnz(self):
        """The number of stored entries (duplicates counted until ``coalesce()``)."""
        return self._ind._data.shape[1]

    def is_coalesced(self):
        """Whether the entries are known to be sorted with no duplicate indices."""
        return self._coalesced

    def _indices(self):
        """The indices (sparse_dim, nnz) as stored, coalesced or not."""
        return self._ind

    def _values(self):
        """The values (nnz, *dense_sizes) as stored, coalesced or not."""
        return self._val

    def indices(self):
        """The indices of a coalesced tensor."""
        if not self._coalesced:
            raise RuntimeError(
                "Cannot get indices on an uncoalesced tensor, please call .coalesce() first")
        return self._ind

    def values(self):
        """The values of a coalesced tensor."""
        if not self._coalesced:
            raise RuntimeError(
                "Cannot get values on an uncoalesced tensor, please call .coalesce() first")
        return self._val

    # --- autograd: through the values ---------------------------------------------------------
    @property
    def requires_grad(self):
        return self._val._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        """Make this tensor a leaf that requires grad (its values become a leaf it owns)."""
        v = self._val
        if requires_grad and not v._requires_grad:
            if not self.dtype.is_floating_point:
                raise RuntimeError("only Tensors of floating point dtype can require gradients "
                                   f"(got {self.dtype})")
            self._val = v.detach().requires_grad_(True)
            self._owns = True
        elif not requires_grad and v._requires_grad:
            if not self.is_leaf:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to "
                    "use a computed variable in a subgraph that doesn't require differentiation "
                    "use var_no_grad = var.detach().")
            v.requires_grad_(False)
        return self

    @property
    def grad_fn(self):
        return self._val.grad_fn

    @property
    def is_leaf(self):
        return self._owns or not self._val._requires_grad

    @property
    def grad(self):
        """The sparse gradient (on the coalesced indices) of a leaf that requires grad."""
        g = self._val._grad if self._owns else None
        if g is None:
            return None
        ssz = self._sizes[:self.sparse_dim()]
        plan = _plan(self._ind, ssz)
        if plan.first is not None:  # duplicates all carry their position's gradient: keep one
            g = g.index_select(0, plan.first)
        return _sparse(plan.indices(self._ind), g, self._sizes, True)

    @grad.setter
    def grad(self, value):
        if value is not None:
            raise RuntimeError("numtorch: only None can be assigned to a sparse tensor's .grad")
        self._val._grad = None

    def detach(self):
        """The same indices and values, cut from the graph."""
        return _sparse(self._ind, self._val.detach(), self._sizes, self._coalesced)

    def clone(self, *, memory_format=None):
        """A copy of indices and values (differentiable in the values)."""
        out = _sparse(self._ind.clone(), self._val.clone(), self._sizes, self._coalesced)
        _mark_valid(out._ind, self._ind)
        return out

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the "
                "deepcopy protocol at the moment.")
        v = self._val.detach().clone()
        owns = self._owns and self._val._requires_grad
        if owns:
            v.requires_grad_(True)
        out = _sparse(self._ind.clone(), v, self._sizes, self._coalesced, owns)
        _mark_valid(out._ind, self._ind)
        memo[id(self)] = out
        return out

    # --- moves and casts --------------------------------------------------------------------------
    def to(self, *args, **kwargs):
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other)``: indices and values
        move together; the values are cast (differentiably)."""
        device, dtype, copy = to_args(args, kwargs)
        ind, val = self._ind, self._val
        if device is not None and as_device(device) != self.device:
            dev = as_device(device)
            ind, val = ind.to(dev), val.to(dev)
            _mark_valid(ind, self._ind)
        if dtype is not None and D.to_dtype(dtype) is not val.dtype:
            val = val.to(D.to_dtype(dtype))
        if ind is self._ind and val is self._val:
            return self.clone() if copy else self
        return _sparse(ind, val, self._sizes, self._coalesced)

    def cpu(self, memory_format=None):
        """This tensor in host memory (itself when it is there already)."""
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        """This tensor on a CUDA device (the current one by default)."""
        return self.to(as_device(device) if device is not None else as_device("cuda"))

    def float(self, memory_format=None):
        """``self.to(torch.float32)``."""
        return self.to(D.float32)

    def double(self, memory_format=None):
        """``self.to(torch.float64)``."""
        return self.to(D.float64)

    def numpy(self, *, force=False):
        raise TypeError("can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() first.")

    def __array__(self, dtype=None, copy=None):
        self.numpy()

    # --- sparse ops ---------------------------------------------------------------------------
    def transpose(self, dim0, dim1):
        """Swap two sparse dims (the result is not marked coalesced)."""
        d0, d1 = self._dim(dim0), self._dim(dim1)
        sd = self.sparse_dim()
        if d0 >= sd or d1 >= sd:
            raise RuntimeError(f"transpose(): numtorch swaps sparse dims only (sparse_dim={sd}, "
                               f"got dims {dim0} and {dim1})")
        if d0 == d1:
            return _sparse(self._ind, self._val, self._sizes, self._coalesced)
        order = list(range(sd))
        order[d0], order[d1] = d1, d0
        sizes = list(self._sizes)
        sizes[d0], sizes[d1] = sizes[d1], sizes[d0]
        with grad_mode.no_grad():
            from .._creation import tensor
            ind = self._ind.index_select(0, tensor(order, device=self.device))
        _mark_valid(ind, self._ind, tuple(sizes[:sd]))
        return _sparse(ind, self._val, sizes, False)

    def t(self):
        """The transpose of a sparse matrix (at most 2 sparse dims, no dense dims)."""
        sd, dd = self.sparse_dim(), self.dense_dim()
        if sd > 2 or dd > 0:
            raise RuntimeError(f"t() expects a tensor with <= 2 sparse and 0 dense dimensions, "
                               f"but got {sd} sparse and {dd} dense dimensions")
        return self.transpose(0, 1) if sd == 2 else _sparse(self._ind, self._val, self._sizes,
                                                            False)

    def to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
        """Itself (it is sparse already)."""
        if sparse_dim is not None and sparse_dim != self.sparse_dim():
            raise RuntimeError("to_sparse: conversion from Sparse to Sparse with sparse_dim "
                               "argument !=self.sparse_dim() is not supported")
        return self

    def sum(self, dim=None, keepdim=False, *, dtype=None):
        """:func:`numtorch.sparse.sum` (dense 0-d result without ``dim``)."""
        if keepdim:
            raise NotImplementedError("numtorch: sum(keepdim=True) of a sparse tensor is not "
                                      "supported")
        return sparse_sum(self, dim, dtype)

    def __repr__(self):
        head = ("tensor(indices=" + _inner_repr(self._ind, 15) + ",\n       values="
                + _inner_repr(self._val, 14))
        suffixes = []
        if self.device.type != "cpu":
            suffixes.append(f"device='{self.device}'")
        suffixes += [f"size={tuple(self._sizes)}", f"nnz={self._nnz()}"]
        if self.dtype not in (D.get_default_dtype(), D.int64, D.bool):
            suffixes.append(f"dtype={self.dtype!r}")
        suffixes.append("layout=torch.sparse_coo")
        if self.grad_fn is not None:
            suffixes.append(f"grad_fn=<{self.grad_fn.name}0>")
        elif self.requires_grad:
            suffixes.append("requires_grad=True")
        out, width = [head], 80  # the first suffix starts a line of its own
        for s in suffixes:
            if width + 2 + len(s) > 80:
                out.append(",\n       " + s)
                width = 7 + len(s)
            else:
                out.append(", " + s)
                width += 2 + len(s)
        return "".join(out) + ")"

    __str__ = __repr__


# --- structure: bounds, coalesce plan, row offsets (computed once per indices tensor) -----------
def _mark_valid(ind, source, sizes=None):
    """Record that ``ind`` holds ``source``'s checked entries (a copy, a move, a permutation)."""
    key = source.__dict__.get("_coo_valid")
    if key is not None:
        ind.__dict__["_coo_valid"] = (ind._ver[0], key[1] if sizes is None else sizes)


def _validate(ind, sizes):
    """RuntimeError naming the first index outside ``[0, size)`` of its dim (PyTorch's
    messages); remembered per (version, sizes) of ``ind``."""
    key = (ind._ver[0], sizes)
    if ind.__dict__.get("_coo_valid") == key:
        return
    if ind._data.shape[1]:
        with grad_mode.no_grad():
            lo, hi = ind.amin(1).tolist(), ind.amax(1).tolist()
        for d, (a, b, n) in enumerate(zip(lo, hi, sizes)):
            if a < 0:
                raise RuntimeError(f"found negative index {a} for dim {d}")
            if b >= n:
                raise RuntimeError(f"size is inconsistent with indices: for dim {d}, size is {n} "
                                   f"but found index {b}")
    ind.__dict__["_coo_valid"] = key


def _linear(ind, sizes):
    """The row-major position of each entry among the sparse dims (int64 (nnz,))."""
    if not sizes:
        from .._creation import zeros
        return zeros(ind._data.shape[1], dtype=D.int64, device=ind.device)
    if math.prod(sizes) >= 1 << 62:
        raise RuntimeError(f"numtorch: sparse sizes {list(sizes)} are too large to linearise")
    lin = ind[0]
    for d in range(1, len(sizes)):
        lin = lin * sizes[d] + ind[d]
    return lin


class _Plan:
    """How the entries of one indices tensor coalesce. For input that was not coalesced:
    ``merged`` (the indices sorted and unique), ``inverse`` (each entry's slot) and ``first``
    (each slot's first entry); all None when it was (the indices are their own merge: no
    reference back to them, so no cycle through their ``__dict__``). ``csr``: the row
    structure of a matrix, on first use."""

    __slots__ = ("version", "sizes", "merged", "inverse", "first", "csr")

    def __init__(self, ind, sizes, merged=None, inverse=None, first=None):
        self.version, self.sizes = ind._ver[0], sizes
        self.merged, self.inverse, self.first, self.csr = merged, inverse, first, None

    def indices(self, ind):
        """The coalesced indices of ``ind`` (the tensor this plan belongs to)."""
        return ind if self.merged is None else self.merged


def _plan(ind, sizes):
    """The cached coalesce plan of ``ind`` (validated against ``sizes`` first)."""
    p = ind.__dict__.get("_coo_plan")
    if p is not None and p.version == ind._ver[0] and p.sizes == sizes:
        return p
    _validate(ind, sizes)
    nnz = ind._data.shape[1]
    with grad_mode.no_grad():
        lin = _linear(ind, sizes) if nnz > 1 else None
        if lin is None or builtins.bool((lin[1:] > lin[:-1]).all()):
            p = _Plan(ind, sizes)  # sorted and unique already
        else:
            from .._creation import ones, zeros
            from .shape import cat
            order = lin.argsort(stable=True)
            key = lin.index_select(0, order)
            head = cat([ones(1, dtype=D.bool, device=ind.device), key[1:] != key[:-1]])
            slot = head.cumsum(0) - 1
            inverse = zeros(nnz, dtype=D.int64, device=ind.device).scatter(0, order, slot)
            first = order[head]
            merged = ind.index_select(1, first)
            _mark_valid(merged, ind)
            merged.__dict__["_coo_plan"] = _Plan(merged, sizes)
            p = _Plan(ind, sizes, merged, inverse, first)
    ind.__dict__["_coo_plan"] = p
    return p


def _coalesced_values(s, p):
    """The values of ``s`` merged as plan ``p`` says (differentiable: an index_add)."""
    v = s._val
    if p.inverse is None:
        return v
    from .._creation import zeros
    acc = zeros((p.merged._data.shape[1],) + tuple(v.shape[1:]), dtype=v.dtype, device=v.device)
    return acc.index_add(0, p.inverse, v)


class _CSR:
    """The row structure of a coalesced matrix (M, K) on its device: ``crow`` (M + 1,), ``rows``
    and ``cols`` (nnz,), contiguous int64 tensors. ``perm``: for one made by ``transposed()``,
    where each of its entries sits among the original's (its values are the original's
    ``index_select(0, perm)``)."""

    __slots__ = ("crow", "rows", "cols", "shape", "perm", "_t")

    def __init__(self, rows, cols, shape):
        self.rows, self.cols, self.shape = rows.contiguous(), cols.contiguous(), shape
        self.crow = empty((shape[0] + 1,), D.int64, rows.device)
        kernels(rows.device).sparse.row_ptr(self.rows._data, self.crow._data)
        self.perm = self._t = None

    def transposed(self):
        """The CSR of the transpose, with its ``perm`` (built once per CSR; the transpose keeps
        no reference back, so a double backward builds the original's structure again)."""
        if self._t is None:
            m, k = self.shape
            with grad_mode.no_grad():
                perm = (self.cols * m + self.rows).argsort()
                t = _CSR(self.cols.index_select(0, perm), self.rows.index_select(0, perm), (k, m))
            t.perm = perm
            self._t = t
        return self._t


def _matrix(s):
    """(values, csr) of the sparse matrix ``s`` coalesced (the values differentiable)."""
    ssz = s._sizes[:2]
    p = _plan(s._ind, ssz)
    merged = p.indices(s._ind)
    q = p if p.inverse is None else _plan(merged, ssz)
    if q.csr is None:
        q.csr = _CSR(merged[0], merged[1], ssz)
    return _coalesced_values(s, p), q.csr


# --- the product primitive ----------------------------------------------------------------------
class SpMM(Function):
    """out (M, N) = S @ x for a coalesced sparse matrix S (its ``values`` and row structure
    ``csr``) and a dense x (K, N); differentiable in both ``values`` and ``x``."""

    @staticmethod
    def forward(ctx, values, x, csr):
        need = ctx.needs_input_grad
        if need:  # save only what the other operand's gradient reads
            ctx.csr = csr
            ctx.save_for_backward(values if need[1] else None, x if need[0] else None)
        m, n = csr.shape[0], x._data.shape[1]
        out = empty((m, n), x.dtype, x.device)
        kernels(x.device).sparse.spmm(csr.crow._data, csr.cols._data, _core.carray(values),
                                      _core.carray(x), out._data)
        return out

    @staticmethod
    def backward(ctx, g):
        values, x = ctx.saved_tensors
        csr = ctx.csr
        gv = gx = None
        if ctx.needs_input_grad[0]:  # d/dS[r, c] = g[r] . x[c], at the stored entries only
            gv = (g.index_select(0, csr.rows) * x.index_select(0, csr.cols)).sum(1)
        if ctx.needs_input_grad[1]:  # S^T @ g: the transpose's rows, no atomics
            tr = csr.transposed()
            gx = SpMM.apply(values.index_select(0, tr.perm), g, tr)
        return gv, gx, None


def _check_product(s, x, fname):
    """PyTorch's checks of a sparse (M, K) x dense (K, N) product (``x`` already 2-D)."""
    sd, dd = s.sparse_dim(), s.dense_dim()
    if sd != 2 or dd != 0:
        raise RuntimeError(f"{fname}: expected a sparse matrix (2 sparse dims, 0 dense dims), "
                           f"but got {sd} sparse and {dd} dense dims")
    if s.dtype is not x.dtype:
        raise RuntimeError(f"expected scalar type {_name(s.dtype)} but found {_name(x.dtype)}")
    if s.dtype is D.bool and s._nnz():
        raise NotImplementedError("\"addmm_sparse_dense\" not implemented for 'Bool'")
    _core.same_device(s, x)


#: The dtype the product kernel runs in, per operand dtype: float32, float64 and int64 natively
#: (int64 sums wrap like narrower ones, so casting back gives their wrapped sum), float16 and
#: bfloat16 in float32 (Numba has neither on the CPU). One kernel specialisation per compute dtype.
_COMPUTE = {D.float32: D.float32, D.float64: D.float64, D.float16: D.float32,
            D.bfloat16: D.float32, D.int64: D.int64, D.int32: D.int64, D.int16: D.int64, D.int8: D.int64, D.uint8: D.int64}




def _dense_matrix(x, fname):
    if x.ndim == 1:
        x._dim(1)  # IndexError, as PyTorch
    if x.ndim != 2:
        raise RuntimeError(f"addmm: matrices expected, got {x.ndim}D tensor")


def sparse_matmul(a, b, fname="mm"):
    """``a @ b`` with one sparse matrix and one dense matrix (``fname`` "matmul": a 1-D dense
    operand is a vector, as in ``torch.matmul``)."""
    a_sp, b_sp = isinstance(a, SparseCooTensor), isinstance(b, SparseCooTensor)
    if a_sp and b_sp:
        raise NotImplementedError("numtorch: the product of two sparse tensors is not supported; "
                                  "convert one with .to_dense()")
    if not isinstance(a if b_sp else b, Tensor):
        raise TypeError(f"{fname}(): argument 'mat2' must be Tensor, not "
                        f"{type(a if b_sp else b).__name__}")
    if fname == "matmul":
        if a_sp and b.ndim == 1:
            if b.shape[0] != a._sizes[-1]:
                raise RuntimeError("mv: expected self.size(-1) == vec.size(-1)")
            return sparse_matmul(a, b.unsqueeze(1)).squeeze(1)
        if b_sp and a.ndim == 1:
            return sparse_matmul(a.unsqueeze(0), b).squeeze(0)
    s, x = (a, b) if a_sp else (b, a)
    _dense_matrix(x, fname)
    _check_product(s, x, fname)
    k, kx = (a._sizes[1], b.shape[0]) if a_sp else (b._sizes[0], a.shape[1])
    if k != kx:
        raise RuntimeError(f"addmm: Argument #3 (dense): Expected dim 0 size {k}, got {kx}")
    m, n = (a._sizes[0], b.shape[1]) if a_sp else (a.shape[0], b._sizes[1])
    if s.dtype is D.bool:  # no entries (checked): torch answers zeros
        from .._creation import zeros
        return zeros((m, n), dtype=D.bool, device=s.device)
    ct = _COMPUTE[s.dtype]
    if ct is not s.dtype:
        return sparse_matmul(a.to(ct), b.to(ct), fname).to(s.dtype)
    values, csr = _matrix(s)
    if a_sp:
        return SpMM.apply(values, b, csr)
    # dense (P, M) @ sparse (M, K) = (S^T (K, M) @ x^T (M, P))^T
    tr = csr.transposed()
    return SpMM.apply(values.index_select(0, tr.perm), a.t(), tr).t()


def sparse_mm(mat1, mat2):
    """``torch.sparse.mm``: a sparse and a dense matrix (either order), or two dense ones."""
    if isinstance(mat1, SparseCooTensor) or isinstance(mat2, SparseCooTensor):
        return sparse_matmul(mat1, mat2, "mm")
    from .linalg import mm
    return mm(mat1, mat2)


@op(method=False)
def spmm(input, mat2):
    """The product of a sparse COO matrix and a dense one (``torch.mm`` with a sparse
    operand; two dense matrices give their plain product).

    >>> import numtorch as torch
    >>> adj = torch.sparse_coo_tensor([[0, 1, 1], [1, 0, 1]], [1., 2., 3.], (2, 2))
    >>> torch.spmm(adj, torch.tensor([[1.], [10.]]))
    tensor([[10.],
            [32.]])
    """
    return sparse_mm(input, mat2)


# --- arithmetic with a sparse operand (``add``/``sub``/``mul`` send their sparse cases here) ------
def sparse_add(input, other, alpha=1):
    """``input + alpha * other`` with a sparse COO operand, as in PyTorch: dense + sparse is a
    dense tensor of the same size (no broadcasting), sparse + sparse an uncoalesced sparse tensor
    (the entries of both, ``other``'s values scaled by ``alpha``); sparse + dense is refused.
    Differentiable in the dense operand and the values."""
    if not isinstance(input, SparseCooTensor):  # dense + sparse
        if not isinstance(input, Tensor):
            raise RuntimeError("add(sparse, dense) is not supported. Use add(dense, sparse) instead.")
        if tuple(input.shape) != other._sizes:
            raise RuntimeError(
                f"add: expected 'self' and 'other' to have same size, but self has size "
                f"{list(input.shape)} while other has size {list(other._sizes)} (FYI: dense-sparse "
                "addition does not currently support broadcasting)")
        _core.same_device(input, other)
        from .elementwise import add
        return add(input, other.to_dense(), alpha=alpha)
    if not isinstance(other, SparseCooTensor):
        raise RuntimeError("add(sparse, dense) is not supported. Use add(dense, sparse) instead.")
    if input._sizes != other._sizes:
        raise RuntimeError(f"add: expected sizes of 'self' and 'other' to match, but "
                           f"{list(input._sizes)} != {list(other._sizes)}")
    _core.same_device(input, other)
    if input.sparse_dim() != other.sparse_dim():
        raise RuntimeError(f"add: expected 'self' and 'other' to have same sparse dimensions, but "
                           f"got {input.sparse_dim()} and {other.sparse_dim()}")
    from .shape import cat
    dt = D.promote_types(input.dtype, other.dtype)
    vo = other._val if alpha == 1 else other._val * alpha
    values = cat([input._val.to(dt), vo.to(dt)])
    with grad_mode.no_grad():
        ind = cat([input._ind, other._ind], 1)
    if "_coo_valid" in input._ind.__dict__ and "_coo_valid" in other._ind.__dict__:
        _mark_valid(ind, input._ind)  # both checked against the same sizes
    return _sparse(ind, values, input._sizes, False)


def sparse_mul(input, other):
    """A sparse COO tensor times a number (a Python scalar or a 0-d dense tensor): its values
    scaled, the indices shared. Other products with a sparse operand are refused."""
    s, c = (input, other) if isinstance(input, SparseCooTensor) else (other, input)
    if isinstance(c, SparseCooTensor) or (isinstance(c, Tensor) and c.ndim != 0):
        raise NotImplementedError(
            "numtorch: a sparse COO tensor multiplies only a number or a 0-d tensor elementwise "
            f"(got {'a sparse' if isinstance(c, SparseCooTensor) else 'a dense'} tensor of size "
            f"{list(c.shape)})")
    return _sparse(s._ind, s._val * c, s._sizes, s._coalesced)


# --- construction and conversions ---------------------------------------------------------------
@op(method=False, kind="factory")
def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None, pin_memory=False,
                      requires_grad=False, check_invariants=None, is_coalesced=None):
    """A sparse COO tensor with entries ``values[k]`` at ``indices[:, k]`` (duplicates add up).

    ``indices`` (sparse_dim, nnz) integers, ``values`` (nnz, *dense_sizes); ``size`` defaults to
    the smallest that holds every index. Every index is checked against ``size`` (a
    RuntimeError names the first out of range), whatever ``check_invariants`` says: numtorch's
    kernels do not bounds-check. ``is_coalesced=True`` declares the entries sorted and unique
    (verified with ``check_invariants=True``).

    >>> import numtorch as torch
    >>> s = torch.sparse_coo_tensor([[0, 1, 1], [2, 0, 2]], [3., 4., 5.], (2, 3))
    >>> s.to_dense()
    tensor([[0., 0., 3.],
            [4., 0., 5.]])
    """
    from .._creation import tensor
    dev = as_device(device) if device is not None else None
    dt = D.to_dtype(dtype) if dtype is not None else None
    if isinstance(values, Tensor):
        if values.is_sparse:
            raise TypeError("sparse_coo_tensor(): values must be a dense tensor")
        v = values if dt is None else values.to(dt)
    else:
        v = tensor(values, dtype=dt)
    if dev is not None:
        v = v.to(dev)
    if v.ndim == 0:
        v = v.reshape(1)
    if isinstance(indices, Tensor):
        ind = indices.to(v.device) if dev is not None else indices
    else:
        ind = tensor(indices, dtype=D.int64, device=v.device)
    if ind.device != v.device:
        raise RuntimeError(f"backend of indices ({ind.device.type.upper()}) must match backend "
                           f"of values ({v.device.type.upper()})")
    if ind.dtype is not D.int64:
        ind = _core.cast(ind, D.int64)
    if ind.ndim != 2:
        raise RuntimeError(f"indices must be sparse_dim x nnz, but got: {list(ind.shape)}")
    sd, nnz = ind._data.shape
    if v._data.shape[0] != nnz:
        raise RuntimeError(f"indices and values must have same nnz, but got nnz from indices: "
                           f"{nnz}, nnz from values: {v._data.shape[0]}")
    dense = tuple(v._data.shape[1:])
    if size is None:
        if nnz:
            with grad_mode.no_grad():
                lo, hi = ind.amin(1).tolist(), ind.amax(1).tolist()
            for d, a in enumerate(lo):
                if a < 0:
                    raise RuntimeError(f"found negative index {a} for dim {d}")
            sizes = tuple(h + 1 for h in hi) + dense
        else:
            sizes = (0,) * sd + dense
        ind.__dict__["_coo_valid"] = (ind._ver[0], sizes[:sd])  # in range by construction
    else:
        if not isinstance(size, (tuple, list)):
            raise TypeError(f"sparse_coo_tensor(): argument 'size' must be tuple of ints, not "
                            f"{type(size).__name__}")
        from .._creation import _size
        sizes = _size(tuple(size), "sparse_coo_tensor")
        if len(sizes) != sd + len(dense):
            raise RuntimeError(f"'len(size) == sparse_dim + dense_dim' is not satisfied: len(size) "
                               f"= {len(sizes)}, sparse_dim = {sd}, dense_dim = {len(dense)}")
        if sizes[sd:] != dense:
            raise RuntimeError(f"values has incorrect size, expected {[nnz, *sizes[sd:]]}, got "
                               f"{list(v.shape)}")
    _validate(ind, sizes[:sd])
    coalesced = nnz <= 1 if is_coalesced is None else builtins.bool(is_coalesced)
    if is_coalesced and check_invariants and _plan(ind, sizes[:sd]).inverse is not None:
        raise RuntimeError("cannot set is_coalesced to true if indices correspond to uncoalesced "
                           "COO tensor")
    owns = False
    if requires_grad and not v._requires_grad:  # (values in a graph stay connected to it)
        if not v.dtype.is_floating_point:
            raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                               "gradients")
        v, owns = v.detach().requires_grad_(True), True
    return _sparse(ind, v, sizes, coalesced, owns)


@op(function=False)
def to_sparse(input, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
    """This dense tensor in sparse COO layout: its nonzeros (along the first ``sparse_dim`` dims,
    all by default), coalesced; differentiable in the kept values.

    >>> import numtorch as torch
    >>> torch.tensor([[0., 1.], [2., 0.]]).to_sparse()._indices()
    tensor([[0, 1],
            [1, 0]])
    """
    if layout is not None and layout is not sparse_coo:
        raise NotImplementedError(f"numtorch: to_sparse supports layout=torch.sparse_coo only, "
                                  f"got {layout}")
    nd = input.ndim
    sd = nd if sparse_dim is None else sparse_dim
    if not 0 <= sd <= nd:
        raise RuntimeError(f"dense_to_sparse: sparse_dim argument must be in [0,{nd}] range, but "
                           f"{sd} is given")
    if sd == 0 and nd > 0:
        raise RuntimeError("dense_to_sparse: sparse_dim argument must be in >0 when self.dim()>0")
    shape = tuple(input.shape)
    ssz, dsz = shape[:sd], shape[sd:]
    with grad_mode.no_grad():
        keep = input != 0
        if sd < nd:
            keep = keep.reshape(ssz + (math.prod(dsz),)).any(-1)
        ind = keep.nonzero().t().contiguous() if nd else \
            keep.reshape(1).nonzero().t()[:0].contiguous()
        ind.__dict__["_coo_valid"] = (ind._ver[0], ssz)
        lin = _linear(ind, ssz)
    values = input.reshape((math.prod(ssz),) + dsz).index_select(0, lin)
    return _sparse(ind, values, shape, True)


@op(function=False)
def to_dense(input, dtype=None, *, masked_grad=None):
    """This sparse tensor as a dense one (duplicates added); a dense tensor is returned as is.

    >>> import numtorch as torch
    >>> torch.sparse_coo_tensor([[0, 0, 2]], [1., 2., 3.], (3,)).to_dense()
    tensor([3., 0., 3.])
    """
    if not isinstance(input, SparseCooTensor):
        return input if dtype is None else input.to(dtype)
    if dtype is not None:
        raise RuntimeError("dtype argument is not supported by sparse_to_dense")
    from .._creation import zeros
    sd = input.sparse_dim()
    ssz, dsz = input._sizes[:sd], input._sizes[sd:]
    _validate(input._ind, ssz)  # (cached: re-checks only indices modified in place)
    with grad_mode.no_grad():
        lin = _linear(input._ind, ssz)
    flat = zeros((math.prod(ssz),) + dsz, dtype=input.dtype, device=input.device)
    return flat.index_add(0, lin, input._val).reshape(input._sizes)


@op(function=False)
def coalesce(input):
    """This sparse tensor with its entries sorted and duplicates added (itself if coalesced).

    >>> import numtorch as torch
    >>> torch.sparse_coo_tensor([[1, 0, 1]], [1., 2., 3.], (2,)).coalesce()._values()
    tensor([2., 4.])
    """
    if not isinstance(input, SparseCooTensor):
        raise RuntimeError("coalesce expected sparse coordinate tensor layout but got Strided")
    if input._coalesced:
        return input
    p = _plan(input._ind, input._sizes[:input.sparse_dim()])
    return _sparse(p.indices(input._ind), _coalesced_values(input, p), input._sizes, True)


def sparse_sum(input, dim=None, dtype=None):
    """``torch.sparse.sum``: the sum over ``dim`` (all dims: a dense 0-d tensor; all sparse dims:
    a dense tensor; otherwise a coalesced sparse tensor)."""
    if not isinstance(input, SparseCooTensor):
        raise RuntimeError("coalesce expected sparse coordinate tensor layout but got Strided")
    v = input._val if dtype is None else input._val.to(D.to_dtype(dtype))
    if dim is None:
        return v.sum()
    dims = _core.normalize_dims(dim, input.ndim)
    sd = input.sparse_dim()
    sdims = [d for d in dims if d < sd]
    ddims = [d - sd + 1 for d in dims if d >= sd]
    if ddims:
        v = v.sum(ddims)
    if len(sdims) == sd:
        return v.sum(0)
    kept = [d for d in range(sd) if d not in sdims]
    sizes = tuple(n for d, n in enumerate(input._sizes) if d not in dims)
    ind = input._ind
    if sdims:
        from .._creation import tensor
        with grad_mode.no_grad():
            ind = ind.index_select(0, tensor(kept, device=input.device))
        _mark_valid(ind, input._ind, tuple(input._sizes[d] for d in kept))
    return _sparse(ind, v, sizes, False).coalesce()
