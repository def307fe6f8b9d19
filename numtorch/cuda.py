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
from ._device import device as _device_cls

__all__ = ["is_available", "device_count", "current_device", "set_device", "synchronize",
           "manual_seed", "manual_seed_all", "memory_allocated", "max_memory_allocated",
           "memory_reserved", "reset_peak_memory_stats", "empty_cache", "get_device_name",
           "is_simulator", "device", "as_device_array", "from_device_array"]

device = _device_cls
_state = {"available": None, "current": 0}


def _numba_cuda():
    """``numba.cuda`` if it imports and sees a device (or the simulator), else None."""
    if _state["available"] is None:
        try:
            from numba import cuda
            ok = bool(cuda.is_available())
        except Exception:  # numba-cuda missing, or no driver/runtime library
            ok = False
        _state["available"] = ok
    if not _state["available"]:
        return None
    from numba import cuda
    return cuda


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


def _require():
    cuda = _numba_cuda()
    if cuda is None:
        raise AssertionError(
            "Torch not compiled with CUDA enabled: numtorch found no CUDA device (install the "
            "'cuda' extra and an NVIDIA driver, or set NUMBA_ENABLE_CUDASIM=1 before importing "
            "numtorch to run the CUDA kernels in Numba's simulator)")
    return cuda


def device_count():
    """The number of visible CUDA devices (0 without CUDA).

    >>> import numtorch as torch
    >>> torch.cuda.device_count() >= (1 if torch.cuda.is_available() else 0)
    True
    """
    cuda = _numba_cuda()
    return 0 if cuda is None else len(cuda.gpus)


def _index(d):
    if d is None:
        return _state["current"]
    if isinstance(d, int):
        return d
    d = _device_cls(d)
    if d.type != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {d}")
    return _state["current"] if d.index is None else d.index


def _check(index):
    n = device_count()
    if not 0 <= index < n:
        raise RuntimeError(f"CUDA error: invalid device ordinal (device {index}, "
                           f"{n} device(s) visible)")
    return index


def current_device():
    """The index of the current CUDA device.

    >>> import numtorch as torch
    >>> torch.cuda.current_device() if torch.cuda.is_available() else 0
    0
    """
    _require()
    return _state["current"]


def set_device(device):
    """Make ``device`` (an index, ``'cuda:i'`` or a device) the current CUDA device.

    >>> import numtorch as torch
    >>> if torch.cuda.is_available():
    ...     torch.cuda.set_device("cuda:0")
    """
    cuda = _require()
    i = _check(_index(device))
    _state["current"] = i
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
    return Tensor._make(arr, D.from_numpy(arr.dtype), _device_cls("cuda", _state["current"]))


# --- used by numtorch's ops (one place that knows how CUDA memory is made) ---------------------
_kernel_ns = {}


def _kernels():
    """The ``numtorch.kernels.cuda`` namespace, its modules imported (once)."""
    k = _kernel_ns.get("k")
    if k is None:
        _require()
        import importlib
        from .kernels import cuda as k
        importlib.import_module(f"{k.__name__}.memory")
        for name in ("elementwise", "reduce", "matmul", "index", "conv", "norm", "optim"):
            cpu = importlib.import_module(f"numtorch.kernels.cpu.{name}")
            try:
                mod = importlib.import_module(f"{k.__name__}.{name}")
            except ModuleNotFoundError:
                mod = type(cpu)(f"{k.__name__}.{name}")
                setattr(k, name, mod)
            # a kernel the CPU has and CUDA lacks raises, naming it (never a silent host copy)
            for fn in getattr(cpu, "__all__", None) or [n for n in vars(cpu) if n[0] != "_"]:
                if callable(getattr(cpu, fn)) and not hasattr(mod, fn):
                    setattr(mod, fn, _missing(f"{name}.{fn}"))
        _kernel_ns["k"] = k
    return k


def _missing(name):
    def kernel(*args, **kwargs):
        raise NotImplementedError(
            f"numtorch: the CUDA backend has no kernel '{name}' yet; move the tensors to the "
            "CPU (.cpu()) for this op")
    kernel.__name__ = name
    return kernel


def _empty(shape, npdtype, device):
    _check(_index(device))
    return _memory().empty(shape, npdtype)


def _to_device(arr, device):
    _check(_index(device))
    return _memory().to_device(arr)


def _to_host(darr):
    return _memory().to_host(darr)


def _from_cuda_array_interface(obj, device):
    """A device array over an object exposing ``__cuda_array_interface__`` (no copy)."""
    cuda = _require()
    if is_simulator():
        raise NotImplementedError(
            "__cuda_array_interface__ is not supported by Numba's CUDA simulator")
    d = cuda.as_cuda_array(obj)
    return _memory().as_strided(d, d.shape, d.strides)
