"""``Tensor``: an array (a NumPy array on the CPU) with dtype, device, version counter and
autograd state. Compute never happens here: methods forward to ``numtorch.ops``."""
import builtins
import operator
import weakref

import numpy as np

from . import _dtype as D
from ._device import CPU, as_device
from .autograd import function as _function
from .autograd import grad_mode
from ._hooks import RemovableHandle
from ._registry import fn as _op
from ._tracing import state as _listen
from ._size import Size as _Size

_size_of = _Size._of

__all__ = ["Tensor", "layout", "strided", "sparse_coo"]


class layout:
    """How a tensor's elements are stored (PyTorch's ``torch.layout``): ``torch.strided``
    (dense memory with strides) or ``torch.sparse_coo`` (indices and values).

    >>> import numtorch as torch
    >>> torch.zeros(2).layout, torch.zeros(2).to_sparse().layout
    (torch.strided, torch.sparse_coo)
    """

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "torch." + self.name

    def __reduce__(self):  # pickles as the module-level singleton
        return self.name


strided = layout("strided")
sparse_coo = layout("sparse_coo")


class Tensor:
    """A multi-dimensional array with autograd (PyTorch's ``torch.Tensor``).

    >>> import numtorch as torch
    >>> x = torch.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([[2., 4.],
            [6., 8.]])
    """

    __slots__ = ("_data", "dtype", "device", "_ver", "_base", "_requires_grad", "_grad",
                 "grad_fn", "_out_nr", "__dict__", "__weakref__")
    __array_priority__ = 1000  # numpy scalars/arrays on the left defer to our operators

    # --- construction ----------------------------------------------------------------------------
    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, device=None, dtype=None):
        """Legacy constructor: ``Tensor(2, 3)`` (uninitialised, default dtype) or ``Tensor(data)``."""
        from ._creation import _to_array
        dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
        if len(args) == 1 and not isinstance(args[0], builtins.int):
            arr = _to_array(args[0], dt)
        elif all(isinstance(a, builtins.int) for a in args):
            arr = np.empty(tuple(args), dt.np)
        elif len(args) == 1 and isinstance(args[0], (tuple, list)):
            arr = _to_array(args[0], dt)
        else:
            raise TypeError(f"Tensor(): invalid arguments {args!r}")
        _init(self, arr, dt, as_device(device))

    @staticmethod
    def _make(data, dtype, device=CPU):
        # ``_ver``: the version counter shared by a tensor and all its views, a one-element list
        # that in-place ops bump (``t._ver[0] += 1``; a list literal is the cheapest object)
        t = object.__new__(Tensor)
        t._data = data
        t.dtype = dtype
        t.device = device
        t._ver = [0]
        t._base = None
        t._requires_grad = False
        t._grad = None
        t.grad_fn = None
        t._out_nr = 0
        return t

    def _view_of(self, data):
        """A tensor over ``data``, a view of this tensor's memory: shares its version counter."""
        t = object.__new__(Tensor)
        t._data = data
        t.dtype = self.dtype
        t.device = self.device
        t._ver = self._ver
        t._base = self if self._base is None else self._base
        if self._detached:
            t._detached = True
        t._requires_grad = False
        t._grad = None
        t.grad_fn = None
        t._out_nr = 0
        return t

    def _alias(self):
        return self._view_of(self._data)

    def _assign_from(self, other):
        for name in ("_data", "dtype", "device", "_ver", "_base", "_requires_grad", "_grad",
                     "grad_fn", "_out_nr"):
            setattr(self, name, getattr(other, name))

    # --- metadata --------------------------------------------------------------------------------
    @property
    def shape(self):
        return _size_of(self._data.shape)

    def size(self, dim=None):
        """The shape, or the length of one dimension."""
        if dim is None:
            return self.shape
        return self._data.shape[self._dim(dim)]

    def dim(self):
        return self._data.ndim

    ndimension = dim

    @property
    def ndim(self):
        return self._data.ndim

    def numel(self):
        return self._data.size

    nelement = numel

    def element_size(self):
        return self.dtype.itemsize

    def stride(self, dim=None):
        """Strides in elements (PyTorch's convention), not bytes."""
        isz = self._data.itemsize
        st = tuple(s // isz for s in self._data.strides)
        return st if dim is None else st[self._dim(dim)]

    def storage_offset(self):
        base = self._base if self._base is not None else self
        return (self.data_ptr() - base.data_ptr()) // self._data.itemsize

    def data_ptr(self):
        if self.device.type == "cpu":
            return self._data.__array_interface__["data"][0]
        from .kernels.cuda import memory
        return memory.pointer(self._data)

    @property
    def __cuda_array_interface__(self):
        """The CUDA Array Interface of a CUDA tensor: CuPy, PyTorch, Numba and mpi4py read the
        memory without copying (real GPUs; Numba's simulator has no device pointers)."""
        if self.device.type != "cuda":
            raise AttributeError("Can't get __cuda_array_interface__ on non-CUDA tensor type: "
                                 f"{self.type()} on {self.device}")
        if self._requires_grad:
            raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires "
                               "grad. If gradients aren't required, use var.detach() to get "
                               "Variable that doesn't require grad.")
        return self._data.__cuda_array_interface__

    def is_contiguous(self, memory_format=None):
        return self._data.flags.c_contiguous

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def is_cpu(self):
        return self.device.type == "cpu"

    # devices numtorch has no backend for: always False (PyTorch's answer on a build without them)
    is_xpu = is_mps = is_meta = is_mkldnn = is_quantized = is_nested = property(lambda self: False)

    def is_floating_point(self):
        return self.dtype.is_floating_point

    def is_complex(self):
        return False

    @property
    def is_sparse(self):
        return False

    layout = strided  # (a SparseCooTensor says sparse_coo)
    _detached = False  # made by detach() (or a view of such a tensor): in-place writes allowed

    def get_device(self):
        return -1 if self.device.type == "cpu" else (self.device.index or 0)

    @property
    def _version(self):
        return self._ver[0]

    def _dim(self, d):
        n = self._data.ndim
        m = builtins.max(n, 1)
        if not -m <= d < m:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-m}, {m - 1}], but got {d})")
        return d + m if d < 0 else d

    # --- autograd state --------------------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` on a leaf in place; returns self."""
        if self.grad_fn is not None:
            if not requires_grad:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to "
                    "use a computed variable in a subgraph that doesn't require differentiation "
                    "use var_no_grad = var.detach().")
            return self
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError(
                "only Tensors of floating point dtype can require gradients "
                f"(got {self.dtype})")
        self._requires_grad = builtins.bool(requires_grad)
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def _set_grad(self, grad):
        # the usual assignments pass one chain of compares; anything else gets PyTorch's checks
        if grad is not None and not (isinstance(grad, Tensor) and grad is not self and
                                     grad._data.shape == self._data.shape and
                                     grad.dtype is self.dtype and grad.device is self.device):
            _check_assigned_grad(self, grad)
        self._grad = grad

    #: None or a tensor of this tensor's shape, dtype and device (checked on assignment, so no
    #: kernel that reads ``.grad``, e.g. an optimizer's, sees another shape). C-level getter.
    grad = property(operator.attrgetter("_grad"), _set_grad)

    @property
    def data(self):
        """This tensor's memory as a tensor outside the graph (changes to it are not tracked)."""
        t = Tensor._make(self._data, self.dtype, self.device)
        return t

    @data.setter
    def data(self, other):
        if other.shape != self.shape or other.dtype is not self.dtype:
            self._ver = [0]
        self._data = other._data
        self.dtype, self.device = other.dtype, other.device

    def detach(self):
        """A tensor sharing memory and version counter, cut from the graph: writing into it
        (and into its views) in place is allowed, as in PyTorch, even when this is a leaf that
        requires grad (``p.detach().clamp_(0, 1)``)."""
        t = self._view_of(self._data)
        t._detached = True
        return t

    def detach_(self):
        if self._base is not None and self._base._requires_grad:
            raise RuntimeError(
                "Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self):
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None:
            return
        node = self.grad_fn
        if node._retained is None:
            node._retained = {}
        node._retained[self._out_nr] = weakref.ref(self)

    @property
    def retains_grad(self):
        node = self.grad_fn
        return builtins.bool(node is not None and node._retained and self._out_nr in node._retained)

    def _accumulator(self):
        """This leaf's AccumulateGrad node, made on first use and kept (it holds the leaf
        weakly: no cycle)."""
        node = self.__dict__.get("_acc")
        if node is None:
            node = self.__dict__["_acc"] = _function.AccumulateGrad(self)
        return node

    def register_hook(self, hook):
        """``hook(grad) -> grad | None`` runs when this tensor's gradient is computed."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            hooks = self.__dict__.setdefault("_hooks", [])
        else:
            node = self.grad_fn
            if node._pre_hooks is None:
                node._pre_hooks = {}
            hooks = node._pre_hooks.setdefault(self._out_nr, [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """``hook(tensor)`` runs on a leaf after its ``.grad`` was accumulated."""
        if self.grad_fn is not None:
            raise RuntimeError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors")
        hooks = self.__dict__.setdefault("_post_hooks", [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        from .autograd import backward
        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    # --- conversion ------------------------------------------------------------------------------
    def numpy(self, *, force=False):
        """The NumPy array behind this CPU tensor (zero-copy)."""
        if _listen.capture is not None:
            _listen.capture.host_read("Tensor.numpy()")
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead.")
        if self.device.type != "cpu":
            if not force:
                raise TypeError(
                    f"can't convert {self.device} device type tensor to numpy. Use Tensor.cpu() "
                    "to copy the tensor to host memory first.")
            return self.cpu()._data
        return self._data

    def __array__(self, dtype=None, copy=None):
        if _listen.capture is not None:
            _listen.capture.host_read("converting a tensor to a NumPy array")
        arr = self.detach().cpu()._data
        return arr if dtype is None else arr.astype(dtype)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if _listen.capture is not None:
            _listen.capture.host_read("Tensor.item()")
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        if self.device is CPU:
            return self._data.item()
        return self.cpu()._data.item()

    def tolist(self):
        if _listen.capture is not None:
            _listen.capture.host_read("Tensor.tolist()")
        return self.cpu()._data.tolist()

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with more than one value is ambiguous")
        return builtins.bool(self.item())

    def __float__(self):
        return builtins.float(self.item())

    def __int__(self):
        return builtins.int(self.item())

    def __index__(self):
        if self.dtype.is_floating_point or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.item())

    def __hash__(self):
        return id(self)

    def __repr__(self):
        if _listen.capture is not None:
            _listen.capture.host_read("printing a tensor")
        from ._repr import tensor_repr
        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    # --- operators over the registered ops -------------------------------------------------------
    # An operator whose operands are the op's arguments in order is that op's function itself
    # (OPERATORS below, set by numtorch.ops once every op is registered: one Python call less per
    # ``a + b``). The others are methods: ``_op`` is the registry's namespace of ops
    # (numtorch._registry.fn); a reflected operator is the op with its operands swapped.
    def __radd__(self, other):
        return _op.add(other, self)

    def __rsub__(self, other):
        return _op.sub(other, self)

    def __rmul__(self, other):
        return _op.mul(other, self)

    def __rtruediv__(self, other):
        return _op.div(other, self)

    def __rfloordiv__(self, other):
        return _op.floor_divide(other, self)

    def __rmod__(self, other):
        return _op.remainder(other, self)

    def __rpow__(self, other):
        return _op.pow(other, self)

    def __rmatmul__(self, other):
        return _op.matmul(other, self)

    def __rand__(self, other):
        return _op.bitwise_and(other, self)

    def __ror__(self, other):
        return _op.bitwise_or(other, self)

    def __rxor__(self, other):
        return _op.bitwise_xor(other, self)

    def __pos__(self):
        return self

    def __iadd__(self, other):
        return _op.add_(self, other)

    def __isub__(self, other):
        return _op.sub_(self, other)

    def __imul__(self, other):
        return _op.mul_(self, other)

    def __itruediv__(self, other):
        return _op.div_(self, other)

    def __ifloordiv__(self, other):
        return _op.floor_divide_(self, other)

    def __imod__(self, other):
        return _op.remainder_(self, other)

    def __ipow__(self, other):
        return _op.pow_(self, other)

    def __iand__(self, other):
        return _op.bitwise_and_(self, other)

    def __ior__(self, other):
        return _op.bitwise_or_(self, other)

    def __ixor__(self, other):
        return _op.bitwise_xor_(self, other)

    def __getitem__(self, key):
        return _op.getitem(self, key)

    def __setitem__(self, key, value):
        _op.setitem(self, key, value)

    @property
    def T(self):
        """All dims reversed (``permute(n-1, ..., 0)``)."""
        return _op.permute(self, tuple(reversed(range(self._data.ndim))))

    @property
    def mT(self):
        """The last two dims swapped (a batch of transposed matrices)."""
        return _op.transpose(self, -2, -1)

    H = T    # real dtypes only: the conjugate transposes are the transposes
    mH = mT

    def __reduce_ex__(self, proto):
        # pickling (DataLoader workers, copy.deepcopy) carries data, dtype and requires_grad
        return (_rebuild, (self.detach().cpu()._data.copy(), self.dtype.name, str(self.device),
                           self._requires_grad))

    def share_memory_(self):
        """Move this CPU tensor's storage (shared with its views) into shared memory in place, so
        processes given it through ``numtorch.multiprocessing`` see each other's writes; a no-op
        when already shared. CUDA tensors raise (numtorch has no CUDA IPC).

        >>> import numtorch as torch
        >>> x = torch.zeros(2)
        >>> x.share_memory_() is x, x.is_shared()
        (True, True)
        """
        from .multiprocessing import _storage
        return _storage.share_memory_(self)

    def is_shared(self):
        """True if this tensor's memory is in shared memory (``share_memory_``, or received
        from another process).

        >>> import numtorch as torch
        >>> torch.ones(2).is_shared()
        False
        """
        from .multiprocessing import _storage
        return _storage.is_shared(self)

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the "
                "deepcopy protocol at the moment.")
        t = self.clone().detach()
        t._requires_grad = self._requires_grad
        if self.grad is not None:
            t.grad = self.grad.clone()
        t.__dict__.update({k: v for k, v in self.__dict__.items() if not k.startswith("_")})
        memo[id(self)] = t
        return t


_C_TYPE = {"float32": "float", "float64": "double", "float16": "c10::Half",
           "bfloat16": "c10::BFloat16", "int64": "long int", "int32": "int", "int16": "short int",
           "int8": "signed char", "uint8": "unsigned char", "bool": "bool"}


def _check_assigned_grad(t, grad):
    """Raise PyTorch's error for ``t.grad = grad`` unless ``grad`` fits ``t``."""
    if not isinstance(grad, Tensor):
        raise TypeError("assigned grad expected to be a Tensor or None but got grad of type "
                        + type(grad).__name__)
    if grad is t:
        raise RuntimeError("can't assign Variable as its own grad")
    if grad.dtype is not t.dtype:
        got = _C_TYPE.get(grad.dtype.name, grad.dtype.name)
        want = t.type()[len("torch."):-len("Tensor")]
        raise RuntimeError(
            f"attempting to assign a gradient with dtype '{got}' to a tensor with grad_dtype "
            f"'{want}'. The gradient must match the tensor's grad_dtype (defaults to the "
            "tensor's dtype).")
    if grad.device.type != t.device.type:
        raise RuntimeError(
            f"attempting to assign a gradient with device type '{grad.device.type}' to a tensor "
            f"with device type '{t.device.type}'. Please ensure that the gradient and the tensor "
            "are on the same device")
    if grad.device != t.device:
        raise RuntimeError(
            f"attempting to assign a gradient located on device with index '{grad.device.index}' "
            f"to a tensor located on device with index '{t.device.index}'. Please ensure that the "
            "gradient and the tensor are on the same device")
    if grad._data.shape != t._data.shape:
        raise RuntimeError(
            f"attempting to assign a gradient of size '{list(grad._data.shape)}' to a tensor of "
            f"size '{list(t._data.shape)}'. Please ensure that the gradient and the tensor are the "
            "same size")


def _init(t, arr, dtype, device):
    t._assign_from(Tensor._make(arr, dtype))
    if device != CPU:
        moved = t.to(device)
        t._data, t.device = moved._data, moved.device


def _rebuild(arr, dtype_name, device, requires_grad):
    t = Tensor._make(arr, D._by_name[dtype_name])
    if device != "cpu":
        t = t.to(device)
    t._requires_grad = requires_grad
    return t


_function._Tensor = Tensor


#: Tensor operators that are an op's function itself (numtorch.ops sets them): name -> op.
OPERATORS = {
    "__add__": "add",
    "__sub__": "sub",
    "__mul__": "mul",
    "__truediv__": "div",
    "__floordiv__": "floor_divide",
    "__mod__": "remainder",
    "__pow__": "pow",
    "__matmul__": "matmul",
    "__and__": "bitwise_and",
    "__or__": "bitwise_or",
    "__xor__": "bitwise_xor",
    "__eq__": "eq",
    "__ne__": "ne",
    "__lt__": "lt",
    "__le__": "le",
    "__gt__": "gt",
    "__ge__": "ge",
    "__neg__": "neg",
    "__abs__": "abs",
    "__invert__": "bitwise_not",
}
