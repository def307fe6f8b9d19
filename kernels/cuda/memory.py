"""Device memory for the CUDA kernels: a caching allocator, host<->device copies, launch geometry.

Every CUDA array numtorch creates comes from :func:`empty`. Blocks are rounded up (512 bytes,
then powers of two above 1 MiB) and, when the last array viewing a block is garbage collected,
the block goes back to a free list keyed by its size instead of back to the driver; the next
request of that size reuses it. So a training loop allocates from the driver only in its first
step. ``empty_cache()`` returns the free blocks to the driver.

Under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) device memory is host memory and the
same code runs with NumPy blocks, so the allocator is tested on GPU-less CI too.

Launch geometry: kernels use grid-stride loops, so any grid covers any size. ``BLOCK`` threads
per block and at most ``MAX_BLOCKS`` blocks per launch; both come from the environment
(``NUMTORCH_CUDA_BLOCK``, ``NUMTORCH_CUDA_MAX_BLOCKS``) so tests can shrink them until a
few elements span several blocks and every boundary of a tile is crossed.

``__all__`` is the memory API that ``kernels/cpu/memory.py`` mirrors name for name; the launch
geometry (``grid``, ``BLOCK``, ``MAX_BLOCKS``, ``TILE``) is for the CUDA kernels only.
"""
import os
import threading
import weakref

import numba
import numpy as np
from numba import cuda

__all__ = ["empty", "to_device", "to_host", "as_strided", "try_reshape", "broadcast_to",
           "synchronize", "memory_stats", "reset_peak", "empty_cache", "adopt", "from_interface",
           "pointer", "concatenate"]

#: True when kernels run in Numba's CUDA simulator (no GPU; Python threads stand in for CUDA's).
SIMULATOR = bool(numba.config.ENABLE_CUDASIM)

BLOCK = int(os.environ.get("NUMTORCH_CUDA_BLOCK", 256))
MAX_BLOCKS = int(os.environ.get("NUMTORCH_CUDA_MAX_BLOCKS", 4096))
#: Tile edge of the shared-memory kernels (matmul); a compile-time constant of those kernels.
TILE = int(os.environ.get("NUMTORCH_CUDA_TILE", 16))


def grid(n, block=None):
    """``(blocks, threads)`` for a grid-stride loop over ``n`` items."""
    block = block or BLOCK
    return max(1, min(MAX_BLOCKS, (n + block - 1) // block)), block


def _round(nbytes):
    if nbytes <= 0:
        return 512
    if nbytes < 1 << 20:
        return (nbytes + 511) & ~511
    return 1 << (nbytes - 1).bit_length()


class _Pool:
    """Free blocks by size and the counters of ``numtorch.cuda.memory_*``."""

    def __init__(self):
        self.free = {}
        self.lock = threading.Lock()
        self.allocated = 0       # bytes handed out and still alive
        self.peak = 0
        self.reserved = 0        # bytes held from the driver (alive + cached)
        self.driver_allocs = 0   # how often we had to ask the driver

    def take(self, size):
        with self.lock:
            blocks = self.free.get(size)
            blk = blocks.pop() if blocks else None
            self.allocated += size
            self.peak = max(self.peak, self.allocated)
            if blk is not None:
                return blk
            self.reserved += size
            self.driver_allocs += 1
        try:
            return _raw_alloc(size)
        except Exception:
            # out of memory: give the cache back and try once more, as PyTorch does
            self.release_cache()
            return _raw_alloc(size)

    def give(self, size, blk):
        with self.lock:
            self.allocated -= size
            self.free.setdefault(size, []).append(blk)

    def release_cache(self):
        with self.lock:
            for size, blocks in self.free.items():
                self.reserved -= size * len(blocks)
            self.free.clear()


POOL = _Pool()


if SIMULATOR:
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    class _Fake(FakeCUDAArray):
        """The simulator's device array with a GPU array's host-side behaviour: a plain tuple
        shape (negative indices work), views of its own type, and no silent NumPy compute
        (on a GPU ``np.xxx(device_array)`` cannot work, so here it must not either)."""

        @property
        def shape(self):
            return self._ary.shape

        def transpose(self, axes=None):
            return _Fake(np.transpose(self._ary, axes=axes))

        @property
        def T(self):
            return self.transpose()

        def __getitem__(self, idx):
            ret = self._ary[idx]
            return _Fake(ret) if isinstance(ret, np.ndarray) else ret

        def reshape(self, *shape, **kwargs):
            return _reshape(self, shape)

        def ravel(self, *args, **kwargs):
            return self.reshape(-1)

        def view(self, *args, **kwargs):
            return _Fake(self._ary.view(*args, **kwargs))

        def bind(self, stream=0):
            return _Fake(self._ary, stream)

        def __array__(self, *args, **kwargs):
            raise TypeError("can't convert cuda device memory to numpy: copy it to the host "
                            "first (Tensor.cpu())")

    def _no_host_math(self, *args, **kwargs):
        raise TypeError("numtorch: arithmetic on a CUDA device array from the host (use a "
                        "kernel)")

    for _op in ("eq", "ne", "lt", "le", "gt", "ge", "add", "sub", "mul", "floordiv",
                "truediv", "mod", "pow", "neg", "pos", "abs", "iadd", "isub", "imul"):
        if hasattr(FakeCUDAArray, f"__{_op}__"):
            setattr(_Fake, f"__{_op}__", _no_host_math)
    _Fake.__hash__ = object.__hash__

    import ctypes

    def _raw_alloc(size):
        return np.empty(size, np.uint8)

    def _typed(blk, size, shape, dtype):
        # A ctypes array over the block is the one owner every NumPy view of it keeps alive
        # (NumPy collapses view chains to it); when it dies, the block goes back to the pool.
        lease = (ctypes.c_uint8 * size).from_buffer(blk)
        weakref.finalize(lease, POOL.give, size, blk)
        n = int(np.prod(shape, dtype=np.int64))
        return _Fake(np.frombuffer(lease, dtype, n).reshape(shape))

    def adopt(a):
        """A device array of numtorch's kind over the memory of any Numba device array."""
        if not isinstance(a, FakeCUDAArray):
            raise TypeError(f"expected a Numba device array, got {type(a).__name__}")
        return a if isinstance(a, _Fake) else _Fake(a._ary)

    def from_interface(obj):
        """A device array over an object exposing ``__cuda_array_interface__`` (no copy)."""
        raise NotImplementedError(
            "__cuda_array_interface__ is not supported by Numba's CUDA simulator")

    def pointer(a):
        """The address of ``a``'s first element (host memory under the simulator)."""
        return a._ary.__array_interface__["data"][0]

    def as_strided(a, shape, strides):
        """A view of device array ``a`` with ``shape`` and byte ``strides`` from its first element."""
        return _Fake(np.lib.stride_tricks.as_strided(a._ary, tuple(shape), tuple(strides)))

else:
    from numba.cuda.cudadrv import devicearray as _da
    from numba.cuda.cudadrv import driver as _drv

    class _Flags(dict):
        """Numba's flags dict that also answers NumPy's ``flags.c_contiguous``."""

        @property
        def c_contiguous(self):
            return self["C_CONTIGUOUS"]

        @property
        def f_contiguous(self):
            return self["F_CONTIGUOUS"]

    class _Array(_da.DeviceNDArray):
        """Numba's device array with NumPy's view API where numtorch's ops use it."""

        @property
        def flags(self):
            return _Flags(super().flags)

        def transpose(self, axes=None):
            axes = tuple(reversed(range(self.ndim))) if axes is None else tuple(axes)
            return as_strided(self, tuple(self.shape[i] for i in axes),
                              tuple(self.strides[i] for i in axes))

        @property
        def T(self):
            return self.transpose()

        def reshape(self, *shape, **kwargs):
            return _reshape(self, shape)

        def view(self, dtype):
            dtype = np.dtype(dtype)
            if dtype.itemsize != self.dtype.itemsize:
                raise ValueError("numtorch: a CUDA dtype view must keep the item size")
            return _Array(self.shape, self.strides, dtype, gpu_data=self.gpu_data)

        def __array__(self, *args, **kwargs):
            raise TypeError("can't convert cuda device memory to numpy: copy it to the host "
                            "first (Tensor.cpu())")

    class _Lease:
        """Owner of a pooled block's pointers; returns the block to the pool when it dies."""
        __slots__ = ("blk", "size", "__weakref__")

        def __init__(self, blk, size):
            self.blk, self.size = blk, size

        def __del__(self):
            POOL.give(self.size, self.blk)

    def _raw_alloc(size):
        return cuda.current_context().memalloc(size)

    def _typed(blk, size, shape, dtype):
        lease = _Lease(blk, size)
        ptr = _drv.MemoryPointer(blk.context, blk.device_pointer, size, owner=lease)
        strides = _strides_c(shape, dtype.itemsize)
        return _Array(tuple(shape), strides, dtype, gpu_data=ptr)

    def adopt(a):
        """A device array of numtorch's kind over the memory of any Numba device array."""
        if not isinstance(a, _da.DeviceNDArray):
            raise TypeError(f"expected a Numba device array, got {type(a).__name__}")
        return a if isinstance(a, _Array) else as_strided(a, a.shape, a.strides)

    def from_interface(obj):
        """A device array over an object exposing ``__cuda_array_interface__`` (no copy)."""
        d = cuda.as_cuda_array(obj)
        return as_strided(d, d.shape, d.strides)

    def pointer(a):
        """The device address of ``a``'s first element."""
        return a.device_ctypes_pointer.value or 0

    def as_strided(a, shape, strides):
        """A view of device array ``a`` with ``shape`` and byte ``strides`` from its first element."""
        return _Array(tuple(shape), tuple(strides), a.dtype, gpu_data=a.gpu_data)


def try_reshape(a, shape):
    """``a`` viewed at ``shape`` (NumPy's rules, ``-1`` allowed) without a copy, or None when
    the strides do not allow a view. The stride arithmetic is NumPy's, run on a stand-in
    array over one host element that is never read."""
    probe = np.lib.stride_tricks.as_strided(np.empty(1, a.dtype), tuple(a.shape),
                                            tuple(a.strides))
    try:
        v = probe.view()
        v.shape = shape
    except AttributeError:
        return None
    return as_strided(a, v.shape, v.strides)


def _reshape(a, shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    v = try_reshape(a, tuple(shape))
    if v is None:
        raise NotImplementedError(
            f"reshape of a device array of shape {tuple(a.shape)} and strides {tuple(a.strides)} "
            f"to {tuple(shape)} needs a copy (make it contiguous first)")
    return v


def _strides_c(shape, itemsize):
    st, acc = [], itemsize
    for s in reversed(shape):
        st.append(acc)
        acc *= max(s, 1)
    return tuple(reversed(st))


def empty(shape, dtype):
    """An uninitialised C-contiguous device array from the caching allocator."""
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = _round(nbytes)
    return _typed(POOL.take(size), size, shape, dtype)


def to_device(host):
    """A new device array holding a copy of NumPy array ``host`` (any strides)."""
    host = np.asarray(host)
    if host.strides != _strides_c(host.shape, host.itemsize):
        # strided, or C-contiguous with odd strides on size-1 dims: a plain C copy
        host = host.copy(order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)
    out = empty(host.shape, host.dtype)
    if host.size:
        out.copy_to_device(host)
    return out


def to_host(a):
    """A new C-contiguous NumPy array holding a copy of device array ``a`` (synchronises)."""
    if not a.flags.c_contiguous:
        raise ValueError("to_host needs a C-contiguous device array (copy on the device first)")
    out = np.empty(a.shape, a.dtype)
    if out.size:
        a.copy_to_host(out)
    return out


def broadcast_to(a, shape):
    """``a`` viewed at ``shape`` with zero strides where it broadcasts (no copy)."""
    shape = tuple(shape)
    lead = len(shape) - a.ndim
    if lead < 0:
        raise ValueError(f"cannot broadcast {tuple(a.shape)} to {shape}")
    strides = [0] * lead
    for i, (s, st) in enumerate(zip(a.shape, a.strides)):
        want = shape[lead + i]
        if s == want:
            strides.append(st)
        elif s == 1:
            strides.append(0)
        else:
            raise ValueError(f"cannot broadcast {tuple(a.shape)} to {shape}")
    return as_strided(a, shape, strides)


def synchronize():
    """Wait until every kernel launched on the current device has finished."""
    cuda.synchronize()


def memory_stats():
    """The caching allocator's counters in bytes: allocated (live), peak, reserved (live and
    cached), and driver_allocs (how often a block came from the driver)."""
    return dict(allocated=POOL.allocated, peak=POOL.peak, reserved=POOL.reserved,
                driver_allocs=POOL.driver_allocs)


def reset_peak():
    """Restart the peak from the current allocation."""
    with POOL.lock:
        POOL.peak = POOL.allocated


def empty_cache():
    """Return the cached, unused blocks to the driver."""
    POOL.release_cache()


def concatenate(arrays, axis, out):
    """out = ``arrays`` joined along ``axis`` (their other dims equal to out's), each cast to
    out's dtype: one copy kernel per piece."""
    from .elementwise import copy  # elementwise imports this module
    pos = 0
    for a in arrays:
        n = a.shape[axis]
        copy(a, out[(slice(None),) * axis + (slice(pos, pos + n),)])
        pos += n
