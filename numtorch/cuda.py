"""``numtorch.cuda``: device queries, memory counters and synchronisation for CUDA tensors.

CUDA tensors hold Numba device arrays and run ``numtorch.kernels.cuda`` (``@cuda.jit``). They
need the ``cuda`` extra (``pip install numtorch[cuda]``, numba-cuda) and either an NVIDIA GPU
with its driver or Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` before numtorch is
imported: the kernels then run on the CPU, slowly, which is how CI tests them).

Kernels launch asynchronously on the default stream; ``.item()``, ``.cpu()`` and
``synchronize()`` wait for them. Memory comes from a caching allocator: freed blocks are kept
for reuse, ``memory_allocated()`` counts live tensors, ``memory_reserved()`` what is held from
the driver, and ``empty_cache()`` returns the unused part.

>>> import numtorch as torch
>>> isinstance(torch.cuda.is_available(), bool)
True
"""
from . import _device as _dev
from ._device import device as _device_cls

__all__ = ["is_available", "device_count", "current_device", "set_device", "synchronize",
           "manual_seed", "manual_seed_all", "memory_allocated", "max_memory_allocated",
           "memory_reserved", "reset_peak_memory_stats", "empty_cache", "get_device_name",
           "is_simulator", "device", "as_device_array", "from_device_array"]

device = _device_cls
# CUDA's process state (availability, current device) lives in numtorch._device
_numba_cuda = _dev.cuda_runtime
_require = _dev.require_cuda
_check = _dev.check_cuda_index


def is_available():
    """True when CUDA tensors can be created: a GPU with its driver, or Numba's simulator.

    >>> import numtorch as torch
    >>> dev = "cuda" if torch.cuda.is_available() else "cpu"
    >>> torch.ones(2, device=dev).device.type == dev
    True
    """
    return _numba_cuda() is not None


def is_simulator():
    """True when CUDA kernels run in Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``).

    >>> import numtorch as torch
    >>> isinstance(torch.cuda.is_simulator(), bool)
    True
    """
    import numba
    return bool(numba.config.ENABLE_CUDASIM)


def device_count():
    """The number of visible CUDA devices (0 without CUDA).

    >>> import numtorch as torch
    >>> torch.cuda.device_count() >= (1 if torch.cuda.is_available() else 0)
    True
    """
    return _dev.cuda_device_count()


def _index(d):
    if d is None:
        return _dev.cuda_state["current"]
    if isinstance(d, int):
        return d
    d = _device_cls(d)
    if d.type != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {d}")
    return _dev.cuda_state["current"] if d.index is None else d.index


def current_device():
    """The index of the current CUDA device.

    >>> import numtorch as torch
    >>> torch.cuda.current_device() if torch.cuda.is_available() else 0
    0
    """
    _require()
    return _dev.cuda_state["current"]


def set_device(device):
    """Make ``device`` (an index, ``'cuda:i'`` or a device) the current CUDA device.

    >>> import numtorch as torch
    >>> if torch.cuda.is_available():
    ...     torch.cuda.set_device("cuda:0")
    """
    cuda = _require()
    i = _check(_index(device))
    _dev.cuda_state["current"] = i
    cuda.select_device(i)


def synchronize(device=None):
    """Wait until every kernel launched on the device has finished.

    >>> import numtorch as torch
    >>> if torch.cuda.is_available():
    ...     y = torch.ones(3, device="cuda") * 2
    ...     torch.cuda.synchronize()   # time measurements need this
    """
    _require().synchronize()


def get_device_name(device=None):
    """The GPU's name (``'Numba CUDA simulator'`` in the simulator).

    >>> import numtorch as torch
    >>> isinstance(torch.cuda.get_device_name(), str) if torch.cuda.is_available() else True
    True
    """
    cuda = _require()
    _check(_index(device))
    if is_simulator():
        return "Numba CUDA simulator"
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def manual_seed(seed):
    """Seed numtorch's generator (CUDA random tensors are drawn by it and copied over).

    >>> import numtorch as torch
    >>> torch.cuda.manual_seed(0); a = torch.rand(2)
    >>> torch.cuda.manual_seed(0); bool((a == torch.rand(2)).all())
    True
    """
    from ._random import manual_seed as _ms
    _ms(seed)


manual_seed_all = manual_seed


def _memory():
    _require()
    from .kernels.cuda import memory
    return memory


def memory_allocated(device=None):
    """Bytes held by live CUDA tensors (block sizes of the caching allocator).

    >>> import numtorch as torch
    >>> if torch.cuda.is_available():
    ...     before = torch.cuda.memory_allocated()
    ...     x = torch.empty(1024, device="cuda")
    ...     print(torch.cuda.memory_allocated() - before)
    ... else:
    ...     print(4096)
    4096
    """
    return _memory().memory_stats()["allocated"] if is_available() else 0


def max_memory_allocated(device=None):
    """The peak of :func:`memory_allocated` since start or ``reset_peak_memory_stats``.

    >>> import numtorch as torch
    >>> torch.cuda.max_memory_allocated() >= torch.cuda.memory_allocated()
    True
    """
    return _memory().memory_stats()["peak"] if is_available() else 0


def memory_reserved(device=None):
    """Bytes the caching allocator holds from the driver (live and cached blocks).

    >>> import numtorch as torch
    >>> torch.cuda.memory_reserved() >= torch.cuda.memory_allocated()
    True
    """
    return _memory().memory_stats()["reserved"] if is_available() else 0


def reset_peak_memory_stats(device=None):
    """Restart :func:`max_memory_allocated` from the current allocation.

    >>> import numtorch as torch
    >>> if torch.cuda.is_available():
    ...     torch.cuda.reset_peak_memory_stats()
    ...     print(torch.cuda.max_memory_allocated() == torch.cuda.memory_allocated())
    ... else:
    ...     print(True)
    True
    """
    _memory().reset_peak()


def empty_cache():
    """Return the cached, unused blocks to the driver.

    >>> import numtorch as torch
    >>> torch.cuda.empty_cache()
    """
    if is_available():
        _memory().empty_cache()


# --- your own @cuda.jit kernels on numtorch tensors ---------------------------------------------
def as_device_array(tensor):
    """The Numba device array over a CUDA tensor's memory (no copy), to pass to your own
    ``@cuda.jit`` kernels. (On a GPU ``numba.cuda.as_cuda_array(tensor)`` does the same
    through ``__cuda_array_interface__``; this also works in the simulator.)

    >>> import numtorch as torch
    >>> if torch.cuda.is_available():
    ...     print(torch.cuda.as_device_array(torch.zeros(2, 3, device="cuda")).shape)
    ... else:
    ...     print((2, 3))
    (2, 3)
    """
    from ._tensor import Tensor
    if not isinstance(tensor, Tensor) or tensor.device.type != "cuda":
        raise TypeError(f"as_device_array expects a CUDA tensor, got "
                        f"{getattr(tensor, 'device', type(tensor).__name__)}")
    return tensor._data


def from_device_array(array):
    """A CUDA tensor over a Numba device array (no copy): what your kernel wrote, as a tensor.

    >>> import numpy as np
    >>> import numtorch as torch
    >>> if torch.cuda.is_available():
    ...     from numba import cuda
    ...     print(torch.cuda.from_device_array(cuda.to_device(np.arange(3.0))))
    ... else:
    ...     print("tensor([0., 1., 2.], device='cuda:0', dtype=torch.float64)")
    tensor([0., 1., 2.], device='cuda:0', dtype=torch.float64)
    """
    from . import _dtype as D
    from ._tensor import Tensor
    arr = _memory().adopt(array)
    return Tensor._make(arr, D.from_numpy(arr.dtype), _dev.as_device("cuda"))
