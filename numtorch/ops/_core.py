"""Helpers every op module shares: kernel lookup per device, allocation, shape checks."""
import numpy as np

from .. import _dtype as D
from .._device import CPU
from .._tensor import Tensor

_backends = {}


def kernels(device):
    """The kernel namespace of a device (``numtorch.kernels.cpu`` or ``.cuda``), looked up once."""
    k = _backends.get(device.type)
    if k is None:
        if device.type == "cpu":
            from ..kernels import cpu as k
            from ..kernels.cpu import elementwise, reduce, matmul, index, conv, norm, optim  # noqa: F401,E501
        else:
            from .. import cuda
            k = cuda._kernels()
        _backends[device.type] = k
    return k


def empty(shape, dtype, device=CPU):
    """An uninitialised tensor (the allocation every op output starts from)."""
    if device is CPU or device.type == "cpu":
        return Tensor._make(np.empty(shape, dtype.np), dtype, CPU)
    from .. import cuda
    return Tensor._make(cuda._empty(shape, dtype.np, device), dtype, device)


def broadcast_shapes(*shapes):
    """The broadcast of ``shapes`` or RuntimeError in PyTorch's words."""
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
    if device.type == "cpu":
        return np.array(value, dtype.np)
    from .. import cuda
    return cuda._to_device(np.array(value, dtype.np), device)


def cast(t, dtype):
    """``t`` converted to ``dtype`` by the copy kernel (no graph; callers decide)."""
    if t.dtype is dtype:
        return t
    if (dtype is D.float16 or t.dtype is D.float16) and t.device.type == "cpu":
        # Numba has no float16 on the CPU: float16 is a storage type, converted by NumPy
        return Tensor._make(t._data.astype(dtype.np), dtype, t.device)
    out = empty(t._data.shape, dtype, t.device)
    kernels(t.device).elementwise.cast(t._data, out._data)
    return out


def fill(t, value):
    """Fill ``t`` with a Python scalar in place (the fill kernel; NumPy for float16 storage)."""
    if t.dtype is D.float16 and t.device.type == "cpu":
        t._data.fill(value)
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
