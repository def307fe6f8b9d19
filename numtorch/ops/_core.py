"""Helpers every op module shares: kernel lookup per device, allocation, shape checks."""
from math import prod  # noqa: F401  (product of a shape's sizes, 1 for (); the ops take it here)

import numpy as np

from .. import _dtype as D
from .. import kernels as _kernels
from .._device import CPU, checked, require_backend, device as _device
from .._tracing import state as _listen, host_step
from .._tensor import Tensor

_backends = {}
_new = object.__new__


def kernels(device):
    """The kernel namespace of a device, ``numtorch.kernels.<device.type>``: its ``memory`` module
    and every kernel family (``numtorch.kernels.FAMILIES``) as attributes, each imported on first
    use. A kernel a backend lacks is an AttributeError naming it (the mirror test keeps the two in
    step)."""
    k = _backends.get(device.type)
    if k is None:
        require_backend(device)
        k = _backends[device.type] = _kernels.load(device.type)
    if _listen.capture is not None:  # numtorch.compile records the kernel calls
        return _listen.capture.kernels(k)
    if _listen.tracer is not None:  # numtorch.jit.trace sees ops that are no Function
        return _listen.tracer.kernels(k)
    return k


def empty(shape, dtype, device=CPU):
    """An uninitialised tensor (the allocation every op output starts from)."""
    if device is CPU:  # every op's output: NumPy directly, no lookups
        arr = np.empty(shape, dtype.np)
        if _listen.capture is not None:  # numtorch.compile's memory plan reuses it
            _listen.capture.allocated.append(arr)
        t = _new(Tensor)  # Tensor._make's fields, inline (a call less for every op's output)
        t._data = arr
        t.dtype = dtype
        t.device = CPU
        t._ver = [0]
        t._base = t._grad = t.grad_fn = None
        t._requires_grad = False
        t._out_nr = 0
        return t
    device = checked(device)
    return Tensor._make(kernels(device).memory.empty(shape, dtype.np), dtype, device)


def to_device(arr, device):
    """Host array ``arr`` in ``device``'s memory (a copy on a GPU; on the CPU ``arr`` itself
    when C-contiguous)."""
    device = checked(device)
    return kernels(device).memory.to_device(arr)


def to_host(arr, device):
    """C-contiguous array ``arr`` of ``device`` as a NumPy array (a copy from a GPU, which
    synchronises; on the CPU ``arr`` itself)."""
    return kernels(device).memory.to_host(arr)


def broadcast_shapes(*shapes):
    """The broadcast of ``shapes`` or RuntimeError in PyTorch's words."""
    big = shapes[0]  # when every shape is a trailing part of the longest (a bias): that one
    for s in shapes:
        if len(s) > len(big):
            big = s
    for s in shapes:
        if s != big[len(big) - len(s):]:
            break
    else:
        return big
    nd = max(len(s) for s in shapes)
    out = []
    for i in range(-nd, 0):
        size = 1
        for k, s in enumerate(shapes):
            if -i <= len(s):
                n = s[i]
                if n != 1:
                    if size != 1 and n != size:
                        a = next(j for j, t in enumerate(shapes) if -i <= len(t) and t[i] != 1)
                        raise RuntimeError(
                            f"The size of tensor a ({shapes[a][i]}) must match the size of tensor "
                            f"b ({n}) at non-singleton dimension {i + nd}")
                    size = n
        out.append(size)
    return tuple(out)


def same_device(*tensors):
    dev = tensors[0].device
    for t in tensors[1:]:
        if t.device != dev:
            raise RuntimeError(
                "Expected all tensors to be on the same device, but found at least two devices, "
                f"{dev} and {t.device}!")
    return dev


def scalar_array(value, dtype, device):
    """A 0-d array holding a Python scalar in ``dtype`` (for broadcasting into a kernel)."""
    a = np.array(value, dtype.np)
    return a if device is CPU else to_device(a, device)


def cast(t, dtype):
    """``t`` converted to ``dtype`` by the copy kernel (no graph; callers decide)."""
    if t.dtype is dtype:
        return t
    if (dtype._storage or t.dtype._storage) and t.device.type == "cpu":
        # Numba has no float16/bfloat16 on the CPU: storage types, converted by NumPy (a host
        # step, so a numtorch.compile replay converts again)
        out, src = np.empty(t._data.shape, dtype.np), t._data
        host_step(lambda: np.copyto(out, src, casting="unsafe"))
        return Tensor._make(out, dtype, t.device)
    out = empty(t._data.shape, dtype, t.device)
    kernels(t.device).elementwise.cast(t._data, out._data)
    return out


def fill(t, value):
    """Fill ``t`` with a Python scalar in place (the fill kernel; NumPy for a storage dtype)."""
    if t.dtype._storage and t.device.type == "cpu":
        arr = t._data
        host_step(lambda: arr.fill(value))
    else:
        kernels(t.device).elementwise.fill(t._data, t.dtype.np.type(value))


def as_tensor_arg(x, device):
    """A Python scalar or a sequence as a tensor on ``device`` (ops accept numbers anywhere)."""
    if isinstance(x, Tensor):
        return x
    from .._creation import tensor
    return tensor(x, device=device)


def normalize_dims(dims, ndim):
    """A tuple of non-negative dims, validated like PyTorch (IndexError when out of range)."""
    if dims is None:
        return tuple(range(ndim))
    if isinstance(dims, int):
        dims = (dims,)
    m = max(ndim, 1)
    out = []
    for d in dims:
        if not -m <= d < m:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-m}, {m - 1}], but got {d})")
        d = d + m if d < 0 else d
        if d in out:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        out.append(d)
    return tuple(out) if ndim else ()


def is_int(dtype):
    return not dtype.is_floating_point and dtype is not D.bool


def shape_str(shape, sep=None):
    """A shape as PyTorch's error messages print it: ``[2, 3]``, or its sizes joined by ``sep``
    (``'x'`` -> ``2x3``, ``' x '`` -> ``2 x 3``)."""
    if sep is None:
        return "[" + ", ".join(map(str, shape)) + "]"
    return sep.join(map(str, shape))


def reshapes_in_place(arr, shape):
    """Whether ``arr`` (a NumPy or CUDA array) takes ``shape`` as a view (no copy). For a NumPy
    array ``reshape(copy=False)`` (NumPy >= 2.1) decides from the strides; setting ``.shape`` on
    a view, the older way, makes the whole copy before NumPy refuses (1.3 ms for 6 MB). A CUDA
    array asks its memory module's stride arithmetic."""
    if not isinstance(arr, np.ndarray):
        return kernels(_device("cuda")).memory.try_reshape(arr, shape) is not None
    try:
        np.reshape(arr, shape, copy=False)
        return True
    except ValueError:
        return False
    except TypeError:  # NumPy < 2.1: no copy argument
        pass
    v = arr.view()
    try:
        v.shape = shape
        return True
    except AttributeError:
        return False


def carray(t, dtype=None):
    """What a kernel reads: the C-contiguous array of ``t`` on its device (a copy only when ``t``
    is not contiguous), cast to ``dtype`` (a numtorch dtype) when given."""
    if dtype is not None and t.dtype is not dtype:
        t = cast(t, dtype)
    a = t._data
    return a if a.flags.c_contiguous else t.contiguous()._data


def raw(shape, dtype, device, value=None):
    """What a kernel writes: an array of ``shape`` (a tuple or an int) on ``device``,
    uninitialised or filled with the Python scalar ``value``."""
    t = empty(shape if isinstance(shape, tuple) else (shape,), dtype, device)
    if value is not None:
        fill(t, value)
    return t._data


def channel_array(t, n, dtype, value, device):
    """A per-channel parameter for a kernel: ``t`` (n elements) as a flat array in ``dtype``, or
    ``value`` repeated n times when ``t`` is None."""
    if t is None:
        return raw(n, dtype, device, value)
    return carray(t, dtype).reshape(n)


class Float32Compute:
    """Mixin for Functions whose kernels take float32 and float64 only (convolution, pooling,
    fused attention, recurrent cells): float16 and bfloat16 tensor arguments go in as float32
    (a differentiable cast) and floating results come back in that dtype, as PyTorch's CPU
    kernels compute the half types. ``class Conv2d(Float32Compute, Function)``."""

    @classmethod
    def apply(cls, *args, **kwargs):
        dt = None
        for a in args:
            if isinstance(a, Tensor) and a.dtype._storage:
                dt = a.dtype
                break
        if dt is None:
            return super().apply(*args, **kwargs)
        out = super().apply(*(a.to(D.float32) if isinstance(a, Tensor) and a.dtype._storage
                              else a for a in args), **kwargs)
        if isinstance(out, tuple):
            return tuple(_back(o, dt) for o in out)
        return _back(out, dt)


def _back(t, dt):
    return t.to(dt) if isinstance(t, Tensor) and t.dtype is D.float32 else t
