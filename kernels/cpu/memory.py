"""Host memory for the CPU kernels: the twin of ``kernels/cuda/memory.py`` (same names, signatures).

On the CPU, device memory is host memory and arrays are NumPy arrays: ``empty`` is ``np.empty``,
views are NumPy's stride arithmetic, and moving data "to" or "from" the device copies only when
the layout asks for it (``to_device`` and ``to_host`` return their argument itself when it is
already C-contiguous, where the CUDA twins always return new memory). There is no caching
allocator (NumPy's allocator serves), so the counters stay at zero and ``synchronize``,
``reset_peak`` and ``empty_cache`` have nothing to do.
"""
import numpy as np

__all__ = ["empty", "to_device", "to_host", "as_strided", "try_reshape", "broadcast_to",
           "synchronize", "memory_stats", "reset_peak", "empty_cache", "adopt", "from_interface",
           "pointer", "concatenate"]


def empty(shape, dtype):
    """An uninitialised C-contiguous array."""
    return np.empty(shape, dtype)


def to_device(host):
    """NumPy array ``host`` as a C-contiguous array: itself when it is one, else a C copy."""
    return np.asarray(host, order="C")


def to_host(a):
    """C-contiguous array ``a`` as the host sees it: ``a`` itself (no copy on the CPU)."""
    if not a.flags.c_contiguous:
        raise ValueError("to_host needs a C-contiguous device array (copy on the device first)")
    return a


def as_strided(a, shape, strides):
    """A view of ``a`` with ``shape`` and byte ``strides`` from its first element."""
    return np.lib.stride_tricks.as_strided(a, tuple(shape), tuple(strides))


def try_reshape(a, shape):
    """``a`` viewed at ``shape`` (NumPy's rules, ``-1`` allowed) without a copy, or None when
    the strides do not allow a view."""
    v = a.view()
    try:
        v.shape = shape
    except AttributeError:
        return None
    return v


def broadcast_to(a, shape):
    """``a`` viewed at ``shape`` with zero strides where it broadcasts (no copy), writeable when
    ``a`` is, like the CUDA twin: writes through a non-overlapping part of an expanded tensor
    are allowed (PyTorch's rule); numtorch refuses writes to overlapping elements itself."""
    b = np.broadcast_to(a, tuple(shape))
    if a.flags.writeable:
        b.flags.writeable = True  # NumPy allows it for broadcast_to (and it is cheaper)
    return b


def synchronize():
    """Nothing to wait for: CPU kernels return when they are done."""


def memory_stats():
    """The counters of ``kernels.cuda.memory``; host memory is not counted (all zero)."""
    return dict(allocated=0, peak=0, reserved=0, driver_allocs=0)


def reset_peak():
    """Nothing to reset (host memory is not counted)."""


def empty_cache():
    """Nothing cached: NumPy's allocator returns freed memory itself."""


def adopt(a):
    """``a`` itself: a NumPy array is already an array of numtorch's kind."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected a NumPy array, got {type(a).__name__}")
    return a


def from_interface(obj):
    """A NumPy array over the memory of an object exposing ``__array_interface__`` (no copy)."""
    if not hasattr(obj, "__array_interface__"):
        raise TypeError(f"{type(obj).__name__} does not expose __array_interface__")
    return np.asarray(obj)


def pointer(a):
    """The address of ``a``'s first element."""
    return a.__array_interface__["data"][0]


def concatenate(arrays, axis, out):
    """out = ``arrays`` joined along ``axis`` (their other dims equal to out's), each cast to
    out's dtype: NumPy's concatenate, one call however many pieces (an RNN joins one per step)."""
    np.concatenate(arrays, axis=axis, out=out, casting="unsafe")
