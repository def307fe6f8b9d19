"""Shared-memory storage for CPU tensors: ``Tensor.share_memory_`` / ``is_shared`` and the
handles that let another process map the same memory.

A CPU tensor's memory is a NumPy array; its "storage" is the array that owns that memory (the end
of the ``.base`` chain). Sharing copies the storage's bytes into a *segment* (an ``mmap`` of a
shared-memory file, ``MAP_SHARED``) and points every tensor over the old storage (the tensor, its
views, ``.data`` aliases) at the same offsets in the segment, so the objects keep working.

Segments by sharing strategy:

- ``file_descriptor`` (the default, as in PyTorch on Linux): an anonymous ``memfd``. No name
  exists anywhere, so nothing can leak: the memory is freed with the last mapping and descriptor.
  Each segment keeps one descriptor open (to hand to other processes).
- ``file_system``: a named POSIX segment (``/dev/shm/numtorch_<pid>_...``) that receivers open by
  name. The creating process unlinks it when its segment object dies or at exit, and registers it
  with multiprocessing's resource tracker, which unlinks it if the creator is killed. Receivers
  must have opened it by then (as in PyTorch, keep the sender's tensor alive until it arrived).
"""
import ctypes
import gc
import itertools
import mmap
import os
import secrets
import sys
import weakref
from multiprocessing import resource_tracker, util

import numpy as np

from ..serialization import _address, _extent, _owner

try:  # CPython's POSIX shm_open/shm_unlink (the module behind multiprocessing.shared_memory)
    import _posixshmem
except ImportError:  # pragma: no cover - not a POSIX platform
    _posixshmem = None

__all__ = ["get_sharing_strategy", "set_sharing_strategy", "get_all_sharing_strategies"]

_ALL_STRATEGIES = ({"file_descriptor", "file_system"} if _posixshmem is not None
                   and sys.platform.startswith("linux") else {"file_system"})
_state = {"strategy": "file_descriptor" if "file_descriptor" in _ALL_STRATEGIES
          else "file_system"}
_counter = itertools.count()
# segments mapped in this process, by the identity of their file: a tensor that comes back (or
# arrives twice) lands on the same mapping, so its views and aliases keep one storage here too
_mapped = weakref.WeakValueDictionary()


def get_sharing_strategy():
    """The strategy new shared CPU tensors use: ``'file_descriptor'`` or ``'file_system'``.

    >>> import numtorch.multiprocessing as mp
    >>> mp.get_sharing_strategy()
    'file_descriptor'
    """
    return _state["strategy"]


def set_sharing_strategy(new_strategy):
    """Choose how tensors shared from now on are backed (see :func:`get_all_sharing_strategies`).

    >>> import numtorch.multiprocessing as mp
    >>> mp.set_sharing_strategy("file_system")
    >>> mp.get_sharing_strategy()
    'file_system'
    >>> mp.set_sharing_strategy("file_descriptor")
    """
    if new_strategy not in _ALL_STRATEGIES:
        raise AssertionError(f"invalid sharing strategy {new_strategy!r}, "
                             f"expected one of {_ALL_STRATEGIES}")
    _state["strategy"] = new_strategy


def get_all_sharing_strategies():
    """The sharing strategies this platform supports, as a set.

    >>> import numtorch.multiprocessing as mp
    >>> sorted(mp.get_all_sharing_strategies())
    ['file_descriptor', 'file_system']
    """
    return set(_ALL_STRATEGIES)


# mmap keeps a duplicate of the descriptor unless told not to (Python >= 3.13)
_NO_DUP = {"trackfd": False} if sys.version_info >= (3, 13) else {}


class _Segment(mmap.mmap):
    """A shared mapping; ``fd`` (file_descriptor) or ``name`` (file_system) lets another process
    map it too. Arrays over it are built on one uint8 array ``np.ndarray(buffer=segment)``."""


def _map(fd, nbytes, name):
    seg = _Segment(fd, nbytes, **_NO_DUP)  # MAP_SHARED, read/write
    seg.fd, seg.name = (None, name) if name is not None else (fd, None)
    if name is None:  # the segment owns the descriptor from here on
        weakref.finalize(seg, os.close, fd).atexit = False
    raw = np.ndarray((nbytes,), np.uint8, buffer=seg)
    seg.address = _address(raw)
    return raw


def _key(fd, name):
    if name is not None:
        return ("name", name)
    st = os.fstat(fd)
    return ("fd", st.st_dev, st.st_ino)


def _unlink(name):
    try:
        _posixshmem.shm_unlink(name)
    except FileNotFoundError:
        pass
    resource_tracker.unregister(name, "shared_memory")


def _new_segment(nbytes):
    """A fresh zero-filled segment of ``nbytes`` (at least 1) as a 1-d uint8 array."""
    nbytes = max(nbytes, 1)
    if _state["strategy"] == "file_system":
        while True:
            name = f"/numtorch_{os.getpid()}_{next(_counter)}_{secrets.token_hex(4)}"
            try:
                fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
                break
            except FileExistsError:  # pragma: no cover - a 32-bit random clash
                continue
        resource_tracker.register(name, "shared_memory")
        try:
            os.ftruncate(fd, nbytes)
            raw = _map(fd, nbytes, name)
        except BaseException:
            _unlink(name)
            raise
        finally:
            os.close(fd)
        # multiprocessing's Finalize ignores itself in forked children: only the creator unlinks
        util.Finalize(raw.base, _unlink, args=(name,), exitpriority=0)
    else:
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("numtorch", os.MFD_CLOEXEC)
        else:  # pragma: no cover - a POSIX system without memfd: an unlinked named segment
            name = f"/numtorch_{os.getpid()}_{next(_counter)}_{secrets.token_hex(4)}"
            fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
            _posixshmem.shm_unlink(name)
        try:
            os.ftruncate(fd, nbytes)
            raw = _map(fd, nbytes, None)
        except BaseException:
            os.close(fd)
            raise
    _mapped[_key(raw.base.fd, raw.base.name)] = raw
    return raw


def attach(kind, handle):
    """The whole segment another process shared, as a uint8 array: ``kind`` ``'fd'`` with a
    descriptor this process now owns, or ``'name'`` with a file_system name."""
    if kind == "fd":
        fd, name = handle, None
    else:
        fd, name = None, handle
    key = _key(fd, name)
    raw = _mapped.get(key)
    if raw is not None:
        if fd is not None:
            os.close(fd)
        return raw
    if name is not None:
        try:
            fd = _posixshmem.shm_open(name, os.O_RDWR, 0o600)
        except FileNotFoundError:
            raise RuntimeError(
                f"shared memory segment {name!r} no longer exists: the process that shared the "
                "tensor released it before this process received it (keep the sender's tensor "
                "alive until it has arrived)") from None
    try:
        raw = _map(fd, os.fstat(fd).st_size, name)
    except BaseException:
        os.close(fd)
        raise
    if name is not None:
        os.close(fd)
    _mapped[key] = raw
    return raw


def segment_of(a):
    """The ``_Segment`` under NumPy array ``a``, or None when ``a`` is not in shared memory."""
    while True:
        b = a.base
        if isinstance(b, np.ndarray):
            a = b
        elif isinstance(b, _Segment):
            return b
        elif b is not None and type(b).__name__ == "DummyArray" and \
                isinstance(getattr(b, "base", None), np.ndarray):  # as_strided's stand-in
            a = b.base
        else:
            return None


def is_shared(t):
    return t.device.type == "cpu" and segment_of(t._data) is not None


def _span(a):
    if a.size == 0:
        p = _address(a)
        return p, p
    return _extent(a)


def _tensors_over(owner, lo, hi):
    """Every live CPU tensor whose memory lies in [lo, hi) of ``owner`` (one pass over the heap:
    numtorch keeps no list of a storage's views)."""
    from .._tensor import Tensor
    found = []
    for obj in gc.get_objects():
        if not issubclass(type(obj), Tensor):  # not isinstance: no __class__ lookups on proxies
            continue
        try:
            a, dev = obj._data, obj.device
        except AttributeError:  # a tensor still being built
            continue
        if dev.type != "cpu" or not isinstance(a, np.ndarray) or _owner(a) is not owner:
            continue
        a_lo, a_hi = _span(a)
        if lo <= a_lo and a_hi <= hi:
            found.append(obj)
    return found


class _Holder:
    __slots__ = ("_data",)


def _refs(holder):
    """References to ``holder._data`` as ``sys.getrefcount`` counts them through this call."""
    return sys.getrefcount(holder._data)


# the count when nothing but the holder's slot refers to the array (measured, not assumed: the
# interpreter's counting of borrowed references differs between Python versions)
_h = _Holder()
_h._data = np.empty(1)
_ALONE = _refs(_h)
del _h


def share_memory_(t):
    """Move ``t``'s storage into a shared segment in place (no-op when it is already there)."""
    if t.device.type != "cpu":
        raise RuntimeError(
            f"share_memory_(): numtorch cannot share {t.device} tensors between processes (it "
            "has no CUDA IPC; PyTorch shares CUDA memory through it). Share a CPU copy, e.g. "
            "t.cpu().share_memory_(), and copy it to the device in each process.")
    root = t if t._base is None else t._base
    alone = _refs(root) == _ALONE  # before a local name holds the array
    arr = root._data
    if segment_of(arr) is not None:
        return t
    owner = _owner(arr)
    # the storage is the owning allocation; memory NumPy does not own (from_numpy over a
    # foreign buffer) is shared only as far as this tensor reaches
    lo, hi = _span(owner if owner.base is None else arr)
    if alone and owner is arr:
        targets = [root]  # no view, no alias, no NumPy view of it exists: skip the heap scan
    else:
        targets = _tensors_over(owner, lo, hi)
    raw = _new_segment(hi - lo)
    if hi > lo:
        raw[:hi - lo] = np.frombuffer((ctypes.c_char * (hi - lo)).from_address(lo), np.uint8)
    for u in targets:
        a = u._data
        new = np.ndarray(a.shape, a.dtype, buffer=raw, offset=_address(a) - lo, strides=a.strides)
        if not a.flags.writeable:
            new.flags.writeable = False
        u._data = new
    return t


def shared_array(raw, dtype, shape, strides, offset):
    """The array at byte ``offset`` of segment ``raw`` (as built by :func:`attach`)."""
    return np.ndarray(shape, dtype, buffer=raw, offset=offset, strides=strides)
