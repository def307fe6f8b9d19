"""Checkpoints: ``save``/``load`` in PyTorch's zip format, with its ``weights_only`` policy.

Format: the zip layout of ``torch.save`` (``archive/data.pkl`` + one raw record per tensor
storage, named by the persistent id ``('storage', torch.<Type>Storage, key, location, numel)``),
so PyTorch reads numtorch checkpoints and numtorch reads PyTorch's. ``load`` also reads the
format before PyTorch 1.6 (``numtorch/_checkpoint_legacy.py``).

Saving:

- Plain checkpoints (tensors, parameters, dicts/OrderedDicts, lists, tuples, str, int, float,
  bool, None, dtypes; NumPy integer/float scalars become Python numbers) are written opcode by
  opcode: the file loads with ``torch.load(weights_only=True)`` and ``numtorch.load``'s default.
- Any other picklable object (a whole ``nn.Module``, an optimizer, NumPy arrays, user classes)
  is pickled with Python's pickler, tensors still as storage records (not pickled bytes), and
  numtorch's dtypes, devices and ``Size`` under PyTorch's names. Loading such a file needs
  ``weights_only=False`` or an allowlist (below), as in PyTorch.
- ``save`` to a path is atomic: a temporary file ``<name>.numtorch-partial-<host>-<pid>-<random>``
  in the same folder (0666 less the umask, or the replaced file's mode), fsync, ``os.replace``,
  fsync of the folder; an interrupted save leaves the previous checkpoint intact, and the next
  save to the same path deletes the partial files of writers that are gone (``kill -9``).
- Storages follow memory, as PyTorch's do: tensors whose memory overlaps (views of one tensor,
  a parameter and its ``.data``) share one storage record and load as views of one array;
  distinct tensors never share one. A tensor saved twice loads as one object.

Loading:

- ``weights_only=True`` (the default) never runs code from the file: a restricted unpickler
  resolves only an allowlist of globals (the tensor/parameter rebuild functions, storage types,
  dtypes, ``torch.Size``/``torch.device``, ``OrderedDict``/``Counter``, ``set``, ``complex``,
  ``bytearray`` and bytes) plus what the user allowlisted with :func:`add_safe_globals` or
  :class:`safe_globals`; the modules ``os``, ``sys``, ``posix`` and ``nt`` are never allowed.
  Any other global is refused (``pickle.UnpicklingError`` naming it) before it is looked up.
  Objects are created by NEWOBJ and given state by BUILD only for allowlisted classes (BUILD
  also sets an OrderedDict's metadata); items are added only to lists, sets and dicts.
- ``weights_only=False`` is for files from a trusted source only: it runs Python's full pickle
  machinery, which CAN RUN ARBITRARY CODE from the file. Storages are still read and checked
  by numtorch.
- Either way ``load`` validates every record before building anything: storage sizes must equal
  the bytes of their zip records, which must lie in the file (so the file bounds what ``load``
  allocates); a tensor is a view of its storage (a zero stride stays zero, nothing is
  materialised) whose offset, sizes and strides must stay inside it. A truncated or corrupt file
  raises RuntimeError naming the file and the problem.
- :func:`get_unsafe_globals_in_checkpoint` lists the globals a file needs that
  ``weights_only=True`` would refuse, reading the pickle without running it.
"""
import _compat_pickle
import collections
import errno
import io
import math
import os
import pickle
import pickletools
import re
import secrets
import socket
import stat
import struct
import sys
import warnings
import zipfile

import numpy as np

from . import _dtype as D
from ._device import CPU as _CPU, as_device as _as_device, checked as _checked, device as Device
from ._size import Size
from ._tensor import Tensor

__all__ = ["save", "load", "add_safe_globals", "get_safe_globals", "clear_safe_globals",
           "safe_globals", "get_unsafe_globals_in_checkpoint"]

_STORAGE_NAMES = {
    "float32": "FloatStorage", "float64": "DoubleStorage", "float16": "HalfStorage",
    "bfloat16": "BFloat16Storage", "int64": "LongStorage", "int32": "IntStorage",
    "int16": "ShortStorage", "int8": "CharStorage",
    "uint8": "ByteStorage", "bool": "BoolStorage",
}
_STORAGE_DTYPES = {v: D._by_name[k] for k, v in _STORAGE_NAMES.items()}



# --------------------------------------------------------------------------------------------
# Writing plain checkpoints: protocol-2 pickle opcodes for a closed set of types
# --------------------------------------------------------------------------------------------
class _Writer:
    def __init__(self):
        self.out = io.BytesIO()
        self.storages = []          # (key, bytes-like): one zip record per storage
        self._plan = {}             # id(tensor) -> (key, storage numel, offset, size, stride)
        self._keep = []             # the planned tensors and host copies: their ids stay unique
        self._memo = {}             # id(tensor) -> pickle memo index (saved twice = one object)
        self._active = set()

    def w(self, b):
        self.out.write(b)

    def glob(self, module, name):
        self.w(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def dump(self, obj):
        self._plan_storages(_tensors_in(obj, [], set()))
        self.w(b"\x80\x02")
        self.save(obj)
        self.w(b".")
        return self.out.getvalue()

    # -- storages: one per run of overlapping memory, as PyTorch keeps one per storage --------
    def _plan_storages(self, tensors):
        """Give every tensor a storage record, an offset and strides into it.

        A tensor's memory is its NumPy array; the array that owns that memory (``_owner``) is
        the allocation. Tensors whose memory spans overlap inside one allocation (views of
        one tensor, a tensor and its ``.data``) share one storage covering the union of their
        spans and of their base tensors' spans (PyTorch saves a view's whole storage); tensors
        that do not overlap never share. What cannot be written as a view (CUDA tensors,
        negative strides, odd layouts) is written as a contiguous copy of its own."""
        groups = {}
        for t in tensors:
            arr = t._data if t.device.type == "cpu" else t.detach().cpu()._data
            self._keep.append((t, arr))
            if arr.size == 0 or any(s < 0 for s in arr.strides):
                self._standalone(t, arr)
                continue
            owner = _owner(arr)
            raw = _as_bytes(owner)
            if raw is None:
                self._standalone(t, arr)
                continue
            lo, hi = _extent(arr)
            base = t._base
            if base is not None and base.device.type == "cpu" and base._data.size and \
                    _owner(base._data) is owner:
                blo, bhi = _extent(base._data)
                lo, hi = min(lo, blo), max(hi, bhi)
            start = _address(raw)
            if lo < start or hi > start + raw.size:
                self._standalone(t, arr)
                continue
            groups.setdefault(id(owner), (owner, raw, start, []))[3].append((lo, hi, t, arr))
        for owner, raw, start, members in groups.values():
            members.sort(key=lambda m: m[0])
            run, run_hi = [members[0]], members[0][1]
            for m in members[1:]:
                if m[0] < run_hi:  # overlaps the run: same storage
                    run.append(m)
                    run_hi = max(run_hi, m[1])
                else:
                    self._share(raw, start, run, run_hi)
                    run, run_hi = [m], m[1]
            self._share(raw, start, run, run_hi)

    def _share(self, raw, start, run, hi):
        dtypes = {t.dtype for _, _, t, _ in run}
        if len(dtypes) > 1:
            raise RuntimeError("Cannot save multiple tensors or storages that view the same data "
                               "as different types")
        isz = run[0][2].dtype.itemsize
        lo = run[0][0]
        numel = (hi - lo) // isz
        used = False
        key = str(len(self.storages))
        for _, _, t, arr in run:
            off = _address(arr) - lo
            if off % isz or any(s % isz for s in arr.strides) or \
                    _extent(arr)[1] > lo + numel * isz:
                self._standalone(t, arr)
                continue
            self._plan[id(t)] = (key, numel, off // isz, tuple(arr.shape),
                                 tuple(s // isz for s in arr.strides))
            used = True
        if used:
            self.storages.append((key, raw[lo - start:lo - start + numel * isz]))

    def plan(self, t):
        """``(key, storage numel, offset, size, stride)`` of tensor ``t``; a storage of its own
        for a tensor that the planning did not see."""
        got = self._plan.get(id(t))
        if got is None:
            arr = t._data if t.device.type == "cpu" else t.detach().cpu()._data
            self._keep.append((t, arr))
            self._standalone(t, arr)
            got = self._plan[id(t)]
        return got

    def _standalone(self, t, arr):
        c = arr.copy(order="C")  # (np.ascontiguousarray would turn 0-d into 1-d)
        key = str(len(self.storages))
        self.storages.append((key, c.reshape(-1).view(np.uint8)))
        self._plan[id(t)] = (key, c.size, 0, tuple(c.shape),
                             tuple(int(np.prod(c.shape[i + 1:], dtype=np.int64))
                                   for i in range(c.ndim)))

    # -- pickle opcodes -------------------------------------------------------------------------
    def save(self, obj):
        if obj is None:
            self.w(b"N")
        elif obj is True:
            self.w(b"\x88")
        elif obj is False:
            self.w(b"\x89")
        elif isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
            self.int(int(obj))
        elif isinstance(obj, (float, np.floating)):
            self.w(b"G" + struct.pack(">d", float(obj)))
        elif isinstance(obj, str):
            b = obj.encode("utf-8", "surrogatepass")
            self.w(b"X" + struct.pack("<I", len(b)) + b)
        elif isinstance(obj, Tensor):
            memo = self._memo.get(id(obj))
            if memo is not None:  # the same tensor again: a reference, as pickle writes it
                self.w(b"h" + bytes([memo]) if memo < 256 else b"j" + struct.pack("<I", memo))
                return
            self.tensor(obj)
            memo = self._memo[id(obj)] = len(self._memo)
            self.w(b"q" + bytes([memo]) if memo < 256 else b"r" + struct.pack("<I", memo))
        elif isinstance(obj, D.dtype):
            self.glob("torch", obj.name)
        elif isinstance(obj, (dict, list, tuple)):
            if id(obj) in self._active:
                raise ValueError("numtorch.save: recursive containers cannot be saved")
            self._active.add(id(obj))
            try:
                self.container(obj)
            finally:
                self._active.discard(id(obj))
        else:
            raise TypeError(  # (``save`` pickles what is not plain: see ``_is_plain``)
                f"a plain checkpoint cannot hold a {type(obj).__module__}."
                f"{type(obj).__qualname__}")

    def int(self, v):
        if 0 <= v < 256:
            self.w(b"K" + bytes([v]))
        elif 0 <= v < 65536:
            self.w(b"M" + struct.pack("<H", v))
        elif -2 ** 31 <= v < 2 ** 31:
            self.w(b"J" + struct.pack("<i", v))
        else:
            n = (v.bit_length() + 8) // 8
            self.w(b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True))

    def container(self, obj):
        if isinstance(obj, tuple):
            if not obj:
                self.w(b")")
                return
            self.w(b"(")
            for x in obj:
                self.save(x)
            self.w(b"t")
        elif isinstance(obj, list):
            self.w(b"]")
            if obj:
                self.w(b"(")
                for x in obj:
                    self.save(x)
                self.w(b"e")
        else:
            if isinstance(obj, collections.OrderedDict):
                self.glob("collections", "OrderedDict")
                self.w(b")R")
            else:
                self.w(b"}")
            if obj:
                self.w(b"(")
                for k, v in obj.items():
                    self.save(k)
                    self.save(v)
                self.w(b"u")
            state = _od_state(obj)
            if state:  # state_dict metadata (``_metadata``), set by BUILD as pickle does
                self.save(state)
                self.w(b"b")

    def tensor(self, t, requires_grad=None):
        from .nn.parameter import Parameter
        if isinstance(t, Parameter) and requires_grad is None:
            # PyTorch's Parameter.__reduce_ex__: _rebuild_parameter(data, requires_grad, hooks)
            self.glob("torch._utils", "_rebuild_parameter")
            self.w(b"(")
            self.tensor(t, False)
            self.save(bool(t.requires_grad))
            self.glob("collections", "OrderedDict")
            self.w(b")R")
            self.w(b"tR")
            return
        key, numel, offset, shape, stride = self._plan[id(t)]
        self.glob("torch._utils", "_rebuild_tensor_v2")
        self.w(b"(")
        # persistent id: ('storage', <StorageType>, key, location, numel)
        self.w(b"(")
        self.save("storage")
        self.glob("torch", _STORAGE_NAMES[t.dtype.name])
        self.save(key)
        self.save(_location(t))
        self.int(numel)
        self.w(b"tQ")
        self.int(offset)
        self.save(shape)
        self.save(stride)
        self.save(bool(t.requires_grad) if requires_grad is None else requires_grad)
        self.glob("collections", "OrderedDict")
        self.w(b")R")
        self.w(b"tR")


def _od_state(obj):
    """The attributes of an OrderedDict that a checkpoint keeps (what ``load`` lets BUILD set)."""
    if not isinstance(obj, collections.OrderedDict):
        return None
    d = getattr(obj, "__dict__", None)
    return {k: v for k, v in d.items() if isinstance(k, str) and not k.startswith("__")} \
        if d else None


def _tensors_in(obj, out, seen):
    """The distinct tensors inside ``obj`` (containers, OrderedDict attributes), in order."""
    if isinstance(obj, Tensor):
        if id(obj) not in seen:
            seen.add(id(obj))
            out.append(obj)
    elif isinstance(obj, (dict, list, tuple)):
        if id(obj) in seen:
            return out  # (a recursive container: ``save`` reports it)
        seen.add(id(obj))
        items = list(obj.keys()) + list(obj.values()) if isinstance(obj, dict) else obj
        for x in items:
            _tensors_in(x, out, seen)
        state = _od_state(obj)
        if state:
            _tensors_in(state, out, seen)
    return out


def _address(a):
    return a.__array_interface__["data"][0]


def _extent(a):
    """[first byte, end) of the memory non-empty array ``a`` can reach."""
    lo = hi = _address(a)
    for n, s in zip(a.shape, a.strides):
        if s < 0:
            lo += (n - 1) * s
        else:
            hi += (n - 1) * s
    return lo, hi + a.itemsize


def _owner(a):
    """The array that owns ``a``'s memory (the end of the ``.base`` chain, through the
    stand-in object of ``as_strided``)."""
    while True:
        b = a.base
        if isinstance(b, np.ndarray):
            a = b
        elif b is not None and type(b).__name__ == "DummyArray" and \
                isinstance(getattr(b, "base", None), np.ndarray):
            a = b.base
        else:
            return a


def _as_bytes(owner):
    """All of ``owner``'s memory as a 1-d uint8 view, or None when it is not one block."""
    if owner.size == 0 or not (owner.flags.c_contiguous or owner.flags.f_contiguous):
        return None
    raw = owner.ravel(order="K").view(np.uint8)
    return raw if _address(raw) == _address(owner) and raw.size == owner.nbytes else None



def _location(t):
    """The location string PyTorch records for ``t``'s storage (``cpu``, ``cuda:0``...)."""
    d = t.device
    return str(d) if d.type == "cpu" or d.index is not None else f"{d.type}:0"


def _tensor_state(t):
    """A tensor's own attributes that a checkpoint keeps (what the user set on it)."""
    d = getattr(t, "__dict__", None)
    return {k: v for k, v in d.items() if not k.startswith("_")} if d else {}


_PLAIN = (type(None), bool, int, float, str)


def _is_plain(obj, active):
    """True if ``obj`` is a plain checkpoint (what ``_Writer`` writes): exact container types
    (a subclass, a recursive container or a tensor with attributes goes to the pickler)."""
    t = type(obj)
    if t in _PLAIN or t is D.dtype or isinstance(obj, (np.integer, np.floating)):
        return True
    if isinstance(obj, Tensor):
        from .nn.parameter import Parameter
        return t in (Tensor, Parameter) and not _tensor_state(obj)
    if t not in (dict, collections.OrderedDict, list, tuple) or id(obj) in active:
        return False
    active.add(id(obj))
    try:
        items = list(obj.keys()) + list(obj.values()) if isinstance(obj, dict) else obj
        state = _od_state(obj)
        return all(_is_plain(x, active) for x in items) and (not state or _is_plain(state, active))
    finally:
        active.discard(id(obj))


# --------------------------------------------------------------------------------------------
# Writing any object: Python's pickler, tensors as storage records under PyTorch's names
# --------------------------------------------------------------------------------------------
class _Global:
    """The global ``module.name`` in a file numtorch writes (PyTorch's names, such as
    ``torch._utils._rebuild_tensor_v2``, need not be importable here): written as GLOBAL."""
    __slots__ = ("module", "name")
    _made = {}

    def __new__(cls, module, name):
        g = cls._made.get((module, name))
        if g is None:
            g = cls._made[(module, name)] = object.__new__(cls)
            g.module, g.name = module, name
        return g

    def __call__(self, *args):  # (pickle's reduce wants a callable; this one is never called)
        raise TypeError(f"{self.module}.{self.name} is a name in a checkpoint, not a function")


class _DataOf:
    """A parameter's data: the tensor record inside ``_rebuild_parameter(data, ...)``."""
    __slots__ = ("t",)

    def __init__(self, t):
        self.t = t


class _StorageRef:
    """A storage record, pickled as its persistent id."""
    __slots__ = ("key", "type", "location", "numel")

    def __init__(self, key, type_name, location, numel):
        self.key, self.type, self.location, self.numel = key, type_name, location, numel


class _Collector(pickle.Pickler):
    """First pass: the tensors an object reaches (pickled into nothing; protocol 5 with an
    out-of-band buffer callback so NumPy arrays are not copied)."""

    def __init__(self, found):
        super().__init__(_Discard(), protocol=5, buffer_callback=lambda buf: None)
        self.found = found

    def persistent_id(self, obj):
        if isinstance(obj, Tensor):
            self.found.append(obj)
            return 0
        return None


class _Discard:
    def write(self, b):
        return len(b)


class _ObjectPickler(pickle._Pickler):
    """Second pass (pure-Python pickler, so it can write PyTorch's global names): tensors as
    ``_rebuild_tensor_v2`` on a storage record planned by ``_Writer``, parameters as
    ``_rebuild_parameter``, tensors with attributes or subclasses as ``_rebuild_from_type_v2``;
    numtorch's dtypes, devices and ``Size`` as ``torch.float32``, ``torch.device``,
    ``torch.Size``."""

    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, protocol, writer):
        super().__init__(file, protocol)
        self._writer = writer
        self.used = set()  # the storage keys written

    def persistent_id(self, obj):
        if type(obj) is _StorageRef:
            self.used.add(obj.key)
            return ("storage", _Global("torch", obj.type), obj.key, obj.location, obj.numel)
        return None

    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            return self._tensor(obj)
        t = type(obj)
        if t is _DataOf:
            return self._record(obj.t, False)
        if t is Size:
            return _Global("torch", "Size"), (tuple(obj),)
        if t is Device:
            return _Global("torch", "device"), ((obj.type,) if obj.index is None
                                               else (obj.type, obj.index))
        return NotImplemented

    def _record(self, t, requires_grad):
        key, numel, offset, shape, stride = self._writer.plan(t)
        ref = _StorageRef(key, _STORAGE_NAMES[t.dtype.name], _location(t), numel)
        return (_Global("torch._utils", "_rebuild_tensor_v2"),
                (ref, offset, shape, stride, requires_grad, collections.OrderedDict()))

    def _tensor(self, t):
        from .nn.parameter import Parameter
        state = _tensor_state(t)
        if type(t) is Parameter:
            args = (_DataOf(t), bool(t.requires_grad), collections.OrderedDict())
            if state:
                return _Global("torch._utils", "_rebuild_parameter_with_state"), args + (state,)
            return _Global("torch._utils", "_rebuild_parameter"), args
        func, args = self._record(t, bool(t.requires_grad))
        if type(t) is Tensor and not state:
            return func, args
        cls = _Global("torch", "Tensor") if type(t) is Tensor else type(t)
        return _Global("torch._tensor", "_rebuild_from_type_v2"), (func, cls, args, state)

    def _save_global_name(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("utf-8"))
        self.memoize(obj)

    def _save_dtype(self, obj):
        self.save(_Global("torch", obj.name))

    dispatch[_Global] = _save_global_name
    dispatch[D.dtype] = _save_dtype


def _pickle_objects(obj, protocol):
    """``(data.pkl bytes, [(key, bytes)] storage records)`` for any picklable ``obj``."""
    found = []
    _Collector(found).dump(obj)
    writer = _Writer()
    writer._plan_storages(list({id(t): t for t in found}.values()))  # each tensor once
    out = io.BytesIO()
    p = _ObjectPickler(out, protocol, writer)
    p.dump(obj)
    return out.getvalue(), [(k, raw) for k, raw in writer.storages if k in p.used]


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Save an object (a state dict, a checkpoint dict, a whole module...) to a path or a binary
    file object, in PyTorch's zip format.

    Plain checkpoints (tensors, numbers, strings, dtypes and dicts/lists/tuples of them) load
    with the default ``load(weights_only=True)``, here and in PyTorch. Any other picklable
    object is pickled (tensors still as storage records): loading it needs
    ``weights_only=False`` (trusted files only) or an allowlist (:func:`add_safe_globals`).
    ``pickle_protocol`` (2 to 5) applies to those; plain checkpoints are written in protocol 2.

    >>> import numtorch as torch, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
    >>> torch.save({"w": torch.ones(2), "epoch": 3}, path)
    >>> torch.load(path)["epoch"]
    3
    >>> torch.save(torch.nn.Linear(2, 1), path)
    >>> torch.load(path, weights_only=False)
    Linear(in_features=2, out_features=1, bias=True)
    """
    if pickle_module is not None and pickle_module is not pickle:
        raise ValueError("numtorch.save pickles with Python's pickle module; pickle_module="
                         f"{getattr(pickle_module, '__name__', pickle_module)!r} is not supported")
    if not isinstance(pickle_protocol, int) or not 2 <= pickle_protocol <= pickle.HIGHEST_PROTOCOL:
        raise ValueError(f"numtorch.save: pickle_protocol must be an int from 2 to "
                         f"{pickle.HIGHEST_PROTOCOL}, got {pickle_protocol!r}")
    if _is_plain(obj, set()):
        writer = _Writer()
        data, storages = writer.dump(obj), writer.storages
    else:
        data, storages = _pickle_objects(obj, pickle_protocol)
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        if os.path.islink(path):  # write through a link, as open(path, "wb") does
            path = os.path.realpath(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        _write_atomically(path, lambda fh: _write_zip(fh, data, storages, stem))
    else:
        _write_zip(f, data, storages, "archive")


#: temporary files are named ``<name>.numtorch-partial-<host>-<pid>-<random>``
_PARTIAL = ".numtorch-partial-"


def _partial_prefix(path):
    host = "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:64] or "host"
    tail = f"{_PARTIAL}{host}-"
    return os.path.basename(path)[:255 - len(tail) - 32] + tail  # (a name has 255 bytes)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # EPERM: alive, another user's; anything odd: keep it
        return True
    return True


def _remove_stale_partials(folder, prefix):
    """Delete what saves to the same path left behind when they were killed (``kill -9``,
    power loss): the partial files of this host whose writer process is gone. A live
    writer's file, and those of other hosts (a shared file system), are never touched."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for n in names:
        m = re.fullmatch(r"(\d{1,10})-[0-9a-z]+", n[len(prefix):]) if n.startswith(prefix) \
            else None
        if m is None or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        try:
            os.unlink(os.path.join(folder, n))
        except OSError:
            pass


def _write_atomically(path, write):
    """``write(fh)`` into a temporary file beside ``path``, fsync it, rename it over ``path``,
    fsync the folder: a reader (or a crash at any moment) sees the old file or the new one,
    never a part. The new file gets the old one's permissions, or 0666 less the umask."""
    folder = os.path.dirname(os.path.abspath(path))
    prefix = _partial_prefix(path)
    _remove_stale_partials(folder, prefix)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode) & 0o777
    except OSError:
        mode = None
    while True:
        tmp = os.path.join(folder, f"{prefix}{os.getpid()}-{secrets.token_hex(6)}")
        try:  # O_CREAT applies the umask, as open() does; mkstemp would force 0600
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(dfd)


def _write_zip(fh, data, storages, name):
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in name) or "archive"
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}/data.pkl", data)
        z.writestr(f"{name}/.format_version", "1")
        z.writestr(f"{name}/byteorder", sys.byteorder)
        for key, raw in storages:
            z.writestr(f"{name}/data/{key}", raw)
        z.writestr(f"{name}/version", "3\n")



# --------------------------------------------------------------------------------------------
# Reading: the records, and the functions and types a checkpoint may name
# --------------------------------------------------------------------------------------------
class _Corrupt(RuntimeError):
    """A record of the file is inconsistent (``load`` reports it naming the file)."""


class _Storage:
    """A storage of the file as ``load`` built it: ``data`` (1-d, on ``device``). With a callable
    map_location (``mapper``) it stays on the CPU and each tensor on it goes through the
    callable."""
    __slots__ = ("data", "dtype", "device", "location", "mapper")

    def __init__(self, data, dtype, device, location, mapper=None):
        self.data, self.dtype, self.device, self.location = data, dtype, device, location
        self.mapper = mapper


class _StorageType:
    def __init__(self, name):
        self.name = name


def _int(v, what):
    if not isinstance(v, int) or isinstance(v, bool):
        raise _Corrupt(f"tensor record with a non-integer {what} ({type(v).__name__})")
    return v


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    """A view of ``storage`` (PyTorch's ``set_(storage, offset, size, stride)``): never a copy,
    so a zero stride stays zero and costs nothing; every field is checked against the storage
    before the view is made."""
    if not isinstance(storage, _Storage):
        raise _Corrupt("tensor record without a storage")
    if not isinstance(size, (tuple, list)) or not isinstance(stride, (tuple, list)):
        raise _Corrupt("tensor record whose size or stride is not a tuple")
    offset = _int(storage_offset, "storage offset")
    size = tuple(_int(n, "size") for n in size)
    stride = tuple(_int(s, "stride") for s in stride)
    if len(size) != len(stride) or len(size) > 64:
        raise _Corrupt(f"tensor record with size {list(size)!s:.200} and stride "
                       f"{list(stride)!s:.200}")
    if offset < 0 or any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise _Corrupt(f"tensor record with a negative size, stride or offset (size {list(size)}, "
                       f"stride {list(stride)}, offset {offset})")
    numel = storage.data.shape[0]
    end = offset + (1 + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0)
    if end > numel:
        raise _Corrupt(f"tensor of size {list(size)} and stride {list(stride)} at offset "
                       f"{offset} reads past its storage of {numel} elements")
    isz = storage.dtype.itemsize
    if math.prod(size) * isz >= 2 ** 62:
        raise _Corrupt(f"tensor of size {list(size)} is too large to address")
    base, strides = storage.data[min(offset, numel):], tuple(s * isz for s in stride)
    if storage.device.type == "cpu":
        # (NumPy directly, as ops/_core.empty does: loading alone loads no kernels)
        view = np.lib.stride_tricks.as_strided(base, size, strides)
    else:
        from .ops._core import kernels
        view = kernels(storage.device).memory.as_strided(base, size, strides)
    t = Tensor._make(view, storage.dtype, storage.device)
    if storage.mapper is not None:
        t = _apply_map(storage.mapper, t, storage.location)
    if requires_grad is True and t.dtype.is_floating_point and t.grad_fn is None:
        t.requires_grad_(True)
    return t


def _apply_map(fn, t, location):
    """A callable ``map_location(tensor, location)``; None keeps the saved location."""
    r = fn(t, location)
    if r is None:
        return t if location == "cpu" else _to_location(t, location)
    if not isinstance(r, Tensor):
        raise RuntimeError(f"numtorch.load: map_location returned a {type(r).__name__}; it must "
                           "return a tensor (or None to keep the saved location)")
    return r


def _target(location, map_location):
    """The device a storage saved at ``location`` goes to (a non-callable map_location)."""
    if map_location is None:
        return location
    if isinstance(map_location, dict):
        return str(map_location.get(location, location))
    return str(map_location)


def _to_location(t, target):
    _require_device(target)
    return t.to(target)


def _require_device(target):
    from ._device import cuda_runtime
    if str(target).startswith("cuda") and cuda_runtime() is None:
        raise RuntimeError(
            "Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is "
            "False. If you are running on a CPU-only machine, please use torch.load with "
            "map_location=torch.device('cpu') to map your storages to the CPU.")


def _set_state(t, state):
    """Set a loaded tensor's saved attributes: public names that its class does not define (a
    file cannot replace a method or a property, nor numtorch's own fields)."""
    slots = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slots = state
    for part in (state, slots):
        if part is None or (type(part) is dict and not part):
            continue
        if type(part) is not dict:
            raise _Corrupt(f"tensor record whose state is a {type(part).__name__}, not a dict")
        for k, v in part.items():
            if not isinstance(k, str) or k.startswith("_") or hasattr(type(t), k):
                raise _Corrupt(f"tensor record that sets the attribute {k!r:.100}")
            setattr(t, k, v)


def _rebuild_parameter(data, requires_grad=True, backward_hooks=None, state=None):
    from .nn.parameter import Parameter
    if not isinstance(data, Tensor) or not isinstance(requires_grad, bool):
        raise _Corrupt("parameter record without a tensor")
    p = Parameter(data.detach(), requires_grad)
    _set_state(p, state)
    return p


def _as_type(t, cls):
    """``t`` as an instance of the Tensor subclass ``cls`` (sharing its memory and fields)."""
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise _Corrupt(f"tensor record of the type {cls!r:.100}, which is not a tensor type")
    if isinstance(t, cls):
        return t
    out = object.__new__(cls)
    for name in Tensor.__slots__:
        if name not in ("__dict__", "__weakref__") and hasattr(t, name):
            object.__setattr__(out, name, getattr(t, name))
    out.__dict__.update(t.__dict__)
    return out


def _rebuild_from_type_v2(func, new_type, args, state):
    """A tensor with attributes, or of a Tensor subclass: ``func(*args)`` made a ``new_type``
    with ``state`` set (PyTorch writes this for them)."""
    if func is not _rebuild_tensor_v2 and func is not _rebuild_parameter:
        raise _Corrupt("tensor record with an unknown rebuild function")
    if not isinstance(args, tuple):
        raise _Corrupt("tensor record whose arguments are not a tuple")
    t = _as_type(func(*args), new_type)
    _set_state(t, state)
    return t


def _encode(obj, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` as pickle uses it for bytes (``encode(text, 'latin1')``): text
    codecs only."""
    if not isinstance(obj, str) or not isinstance(errors, str) or \
            str(encoding).lower().replace("_", "-") not in _TEXT_CODECS:
        raise _Corrupt(f"bytes record encoded with {encoding!r:.50}")
    return obj.encode(encoding, errors)


_TEXT_CODECS = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1", "utf-8", "utf8", "ascii"}


def _bytearray(*args):
    """``bytearray`` of bytes or text (never of a size: a file could claim any)."""
    if args and not isinstance(args[0], (bytes, bytearray, str)):
        raise _Corrupt(f"bytearray record of a {type(args[0]).__name__}")
    return bytearray(*args)


_TORCH = None


def _torch_names():
    """PyTorch's names in a checkpoint -> what numtorch builds for them (any ``load``)."""
    global _TORCH
    if _TORCH is None:
        from .nn.parameter import Parameter
        names = {
            "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
            "torch._utils._rebuild_tensor": _rebuild_tensor_v2,  # (same leading arguments)
            "torch._utils._rebuild_parameter": _rebuild_parameter,
            "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
            "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
            "torch.nn.parameter.Parameter": Parameter,
            "torch.Tensor": Tensor, "torch.Size": Size, "torch.device": Device,
        }
        names.update({f"torch.{n}": _StorageType(n) for n in _STORAGE_DTYPES})
        names.update({f"torch.{d.name}": d for d in D._ALL})
        _TORCH = names
    return _TORCH


#: what ``weights_only=True`` resolves besides PyTorch's names (PyTorch's default allowlist)
_STDLIB = {
    "collections.OrderedDict": collections.OrderedDict, "collections.Counter": collections.Counter,
    "_codecs.encode": _encode, "builtins.bytearray": _bytearray, "builtins.set": set,
    "builtins.complex": complex,
}

#: modules that ``weights_only=True`` never resolves from, even when the user allowlisted them
_BLOCKED = ("os", "sys", "posix", "nt")

#: PyTorch names of tensors numtorch does not have (PyTorch allows them; numtorch says why not)
_UNSUPPORTED = {
    "torch._utils._rebuild_tensor_v3": "a tensor of a dtype without a legacy storage type",
    "torch._utils._rebuild_sparse_tensor": "a sparse tensor",
    "torch.serialization._get_layout": "a sparse tensor",
    "torch._utils._rebuild_qtensor": "a quantized tensor",
    "torch._utils._rebuild_nested_tensor": "a nested tensor",
    "torch._utils._rebuild_meta_tensor_no_storage": "a tensor on the meta device",
    "torch._utils._rebuild_wrapper_subclass": "a wrapper tensor subclass",
    "torch._utils._rebuild_device_tensor_from_numpy": "a tensor of a device numtorch lacks",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor": "a tensor of a device numtorch lacks",
}


def _allowed():
    """The default allowlist of ``weights_only=True``: name in the file -> object."""
    return {**_torch_names(), **_STDLIB}


def _py3(module, name):
    """Python 2 names in protocol-2 pickles (``__builtin__.set``) as Python 3's, as pickle maps
    them."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _check_supported(full):
    what = _UNSUPPORTED.get(full)
    if what is not None:
        raise pickle.UnpicklingError(f"numtorch.load: the file holds {what} ({full}), which "
                                     "numtorch does not support")


def _blocked(full):
    return full.partition(".")[0] in _BLOCKED


# --------------------------------------------------------------------------------------------
# The user's allowlist (PyTorch's torch.serialization.add_safe_globals and friends)
# --------------------------------------------------------------------------------------------
_SAFE = {}  # the allowlisted globals, in the order added (a dict as an ordered set)


def _check_safe_global(g):
    if isinstance(g, tuple):
        if len(g) != 2:
            raise ValueError("add_safe_globals: a tuple entry must be (object, 'module.name'), "
                             f"got a tuple of length {len(g)}")
        if type(g[1]) is not str:
            raise TypeError("add_safe_globals: the second item of a tuple entry must be the "
                            f"object's full name as a str, got {type(g[1]).__name__}")
    elif not (isinstance(getattr(g, "__module__", None), str) and
              isinstance(getattr(g, "__qualname__", None), str)):
        raise TypeError("add_safe_globals expects functions or classes, or (object, "
                        f"'module.name') tuples, got {g!r:.100}")
    hash(g)


def _user_globals():
    """The user's allowlist: name in the file -> object."""
    return {(g[1] if isinstance(g, tuple) else f"{g.__module__}.{g.__qualname__}"):
            (g[0] if isinstance(g, tuple) else g) for g in _SAFE}


def add_safe_globals(safe_globals):
    """Allowlist functions and classes for ``load(weights_only=True)``: a file may then call
    them (REDUCE), create objects of the classes (NEWOBJ) and set their state (BUILD).

    Each entry is a function or class, named in files as ``{__module__}.{__qualname__}``, or
    a tuple ``(object, "module.name")`` for one saved under another name. Allowlist only what
    you trust: an allowlisted function runs with arguments from the file. Globals of ``os``,
    ``sys``, ``posix`` and ``nt`` stay refused.

    >>> import numtorch as torch, io, datetime
    >>> buf = io.BytesIO()
    >>> torch.save({"w": torch.ones(2), "day": datetime.date(2024, 1, 2)}, buf)
    >>> torch.serialization.add_safe_globals([datetime.date])
    >>> _ = buf.seek(0)
    >>> torch.load(buf)["day"]
    datetime.date(2024, 1, 2)
    >>> torch.serialization.clear_safe_globals()
    """
    if isinstance(safe_globals, (str, bytes)) or not hasattr(safe_globals, "__iter__"):
        raise TypeError(f"add_safe_globals expects a list, got {type(safe_globals).__name__}")
    safe_globals = list(safe_globals)
    for g in safe_globals:
        _check_safe_global(g)
    _SAFE.update(dict.fromkeys(safe_globals))


def get_safe_globals():
    """The globals the user allowlisted for ``weights_only=True`` (not the built-in allowlist).

    >>> import numtorch as torch, datetime
    >>> with torch.serialization.safe_globals([datetime.date]):
    ...     torch.serialization.get_safe_globals()
    [<class 'datetime.date'>]
    >>> torch.serialization.get_safe_globals()
    []
    """
    return list(_SAFE)


def clear_safe_globals():
    """Remove every global the user allowlisted for ``weights_only=True``.

    >>> import numtorch as torch, datetime
    >>> torch.serialization.add_safe_globals([datetime.date])
    >>> torch.serialization.clear_safe_globals()
    >>> torch.serialization.get_safe_globals()
    []
    """
    _SAFE.clear()


class safe_globals:
    """Context manager: allowlist globals for ``load(weights_only=True)`` inside a ``with``
    block (as :func:`add_safe_globals`); on exit the allowlist is as it was before.

    >>> import numtorch as torch, io, datetime
    >>> buf = io.BytesIO()
    >>> torch.save([datetime.date(2024, 1, 2)], buf)
    >>> _ = buf.seek(0)
    >>> with torch.serialization.safe_globals([datetime.date]):
    ...     torch.load(buf)
    [datetime.date(2024, 1, 2)]
    """

    def __init__(self, safe_globals):
        self.safe_globals = list(safe_globals)
        for g in self.safe_globals:
            _check_safe_global(g)
        self._added = []

    def __enter__(self):
        self._added = [g for g in dict.fromkeys(self.safe_globals) if g not in _SAFE]
        _SAFE.update(dict.fromkeys(self._added))

    def __exit__(self, exc_type, exc_value, tb):
        for g in self._added:
            _SAFE.pop(g, None)
        self._added = []


# --------------------------------------------------------------------------------------------
# Unpickling: weights_only=True (restricted) and weights_only=False (trusted files)
# --------------------------------------------------------------------------------------------
def _name_of(obj):
    """``module.qualname`` of a class or function (of an instance's class otherwise)."""
    if not (isinstance(obj, type) or callable(obj)) or not hasattr(obj, "__qualname__"):
        obj = type(obj)
    return f"{getattr(obj, '__module__', '?')}.{obj.__qualname__}"


_LOAD_ANYWAY = ("load it with torch.load(f, weights_only=False), which uses the full pickle "
                "machinery and can run arbitrary code from the file")


def _refused(full):
    if _blocked(full):
        return (f"Weights only load failed: the file needs the global {full}, from the module "
                f"{full.partition('.')[0]} that weights_only=True never allows, even when "
                "allowlisted; numtorch.load refused it before looking it up, so nothing from the "
                f"file ran. If you trust the source of the file, {_LOAD_ANYWAY}.")
    return (f"Weights only load failed: the file needs the global {full}, which weights_only=True "
            "does not allow; numtorch.load refused it before looking it up, so nothing from the "
            "file ran. If you trust the source of the file, you can either\n"
            f"  (1) {_LOAD_ANYWAY}, or\n"
            "  (2) keep weights_only=True and allowlist the global: "
            f"torch.serialization.add_safe_globals([{full}]), or "
            f"`with torch.serialization.safe_globals([{full}]):` around torch.load.\n"
            "torch.serialization.get_unsafe_globals_in_checkpoint(f) lists every global the file "
            "needs that is not allowed.")


def _cannot(what):
    return pickle.UnpicklingError(
        f"Weights only load failed: {what}, which weights_only=True does only for functions "
        "and classes allowlisted with torch.serialization.add_safe_globals([...]) (or `with "
        "torch.serialization.safe_globals([...]):`). If you trust the source of the file, "
        f"allowlist it, or {_LOAD_ANYWAY}.")


def _storage_for(pid, load_storage):
    """The storage of a persistent id ``('storage', <StorageType>, key, location, numel)``
    (the format before PyTorch 1.6 adds a sixth entry, None unless the tensor was saved as a
    view of a storage view, which numtorch does not read)."""
    if not (type(pid) is tuple and len(pid) in (5, 6) and type(pid[0]) is str and
            pid[0] == "storage" and isinstance(pid[1], _StorageType) and type(pid[2]) is str):
        raise pickle.UnpicklingError(f"numtorch.load: unsupported persistent id {pid!r:.200}")
    if len(pid) == 6 and pid[5] is not None:
        raise pickle.UnpicklingError("numtorch.load: the file holds a view of a storage view "
                                     "(the format before PyTorch 1.6); re-save it with a recent "
                                     "torch.save")
    dtype = _STORAGE_DTYPES[pid[1].name]
    if dtype is None:
        raise pickle.UnpicklingError(f"numtorch.load: {pid[1].name} tensors are not supported")
    numel = _int(pid[4], "storage size")
    if numel < 0:
        raise _Corrupt(f"storage {pid[2]!r:.100} of negative size {numel}")
    return load_storage(pid[2], dtype, numel, pid[3] if isinstance(pid[3], str) else "cpu")


_DICTS = (dict, collections.OrderedDict, collections.Counter)


class _SafeUnpickler(pickle._Unpickler):
    """Pure-Python unpickler restricted to the allowlist (PyTorch's ``weights_only``): globals
    from the allowlists only; REDUCE of allowlisted functions and classes; NEWOBJ and BUILD of
    the user's allowlisted classes (BUILD also sets an OrderedDict's metadata); items go into
    lists, sets and dicts only; INST, OBJ and the extension registry are refused."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, data, storage_loader):
        super().__init__(io.BytesIO(data))
        self._load_storage = storage_loader
        self._names = {**_user_globals(), **_allowed()}
        self._callable = {id(v) for v in self._names.values() if v is not Tensor}
        self._classes = {id(v) for v in _user_globals().values() if isinstance(v, type)}

    def find_class(self, module, name):
        full = "{}.{}".format(*_py3(module, name))
        got = None if _blocked(full) else self._names.get(full)
        if got is None:
            _check_supported(full)
            raise pickle.UnpicklingError(_refused(full))
        return got

    def persistent_load(self, pid):
        return _storage_for(pid, self._load_storage)

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if id(func) not in self._callable:
            raise _cannot(f"the file calls {_name_of(func)} (REDUCE)")
        if type(args) is not tuple:
            raise _Corrupt("a call whose arguments are not a tuple")
        self.stack[-1] = func(*args)

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, {}))

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, kwargs))

    def _new(self, cls, args, kwargs):
        from .nn.parameter import Parameter
        if type(args) is not tuple or type(kwargs) is not dict:
            raise _Corrupt("an object record whose arguments are not a tuple")
        if cls is Parameter and not kwargs:  # as PyTorch: Parameter(data, requires_grad)
            return _rebuild_parameter(*args)
        if id(cls) not in self._classes:
            raise _cannot(f"the file creates an object of {_name_of(cls)} (NEWOBJ)")
        return cls.__new__(cls, *args, **kwargs)

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is collections.OrderedDict:
            if type(state) is dict and all(type(k) is str and not k.startswith("__")
                                           for k in state):
                inst.__dict__.update(state)  # PyTorch state_dict metadata (``_metadata``)
                return
        elif isinstance(inst, Tensor):
            if state is None or (type(state) in (dict, tuple) and
                                 all(x is None or (type(x) is dict and not x) for x in state)):
                return  # (an empty legacy state)
        elif id(type(inst)) in self._classes:
            setstate = getattr(inst, "__setstate__", None)
            if setstate is not None:
                setstate(state)
                return
            slots = None
            if isinstance(state, tuple) and len(state) == 2:
                state, slots = state
            if state:
                inst.__dict__.update(state)
            for k, v in (slots or {}).items():
                setattr(inst, k, v)
            return
        else:
            raise _cannot(f"the file sets the state of an object of {_name_of(inst)} (BUILD)")
        raise pickle.UnpicklingError(
            f"Weights only load failed: the file sets the state of a {_name_of(inst)} to a "
            f"{type(state).__name__} (BUILD), which weights_only=True does not allow")

    def _into(self, types, what):
        obj = self.stack[-1]
        if type(obj) not in types:
            raise pickle.UnpicklingError(f"Weights only load failed: the file {what} an object "
                                         f"of {_name_of(obj)}; weights_only=True only fills "
                                         "lists, sets and dicts")
        return obj

    def load_append(self):
        value = self.stack.pop()
        self._into((list,), "appends to").append(value)

    def load_appends(self):
        items = self.pop_mark()
        self._into((list,), "appends to").extend(items)

    def load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        self._into(_DICTS, "sets items of")[key] = value

    def load_setitems(self):
        items = self.pop_mark()
        d = self._into(_DICTS, "sets items of")
        for i in range(0, len(items), 2):
            d[items[i]] = items[i + 1]

    def load_additems(self):
        items = self.pop_mark()
        self._into((set,), "adds items to").update(items)

    def _refuse(self):
        raise pickle.UnpicklingError(
            "Weights only load failed: numtorch.load refused an object-construction opcode "
            "(INST, OBJ or the extension registry) that no checkpoint needs")


for _op, _fn in ((pickle.REDUCE, "load_reduce"), (pickle.NEWOBJ, "load_newobj"),
                 (pickle.NEWOBJ_EX, "load_newobj_ex"), (pickle.BUILD, "load_build"),
                 (pickle.APPEND, "load_append"), (pickle.APPENDS, "load_appends"),
                 (pickle.SETITEM, "load_setitem"), (pickle.SETITEMS, "load_setitems"),
                 (pickle.ADDITEMS, "load_additems"), (pickle.INST, "_refuse"),
                 (pickle.OBJ, "_refuse"), (pickle.EXT1, "_refuse"), (pickle.EXT2, "_refuse"),
                 (pickle.EXT4, "_refuse")):
    _SafeUnpickler.dispatch[_op[0]] = getattr(_SafeUnpickler, _fn)


def _full_unpickler(pickle_module):
    """Python's unpickler (the C one, or ``pickle_module.Unpickler``) with numtorch's storages
    and PyTorch's names: for files from a trusted source only, it runs what the file says."""
    base = pickle.Unpickler if pickle_module is None else pickle_module.Unpickler

    class _Unpickler(base):
        def __init__(self, file, storage_loader, **kwargs):
            super().__init__(file, **kwargs)
            self._load_storage = storage_loader

        def find_class(self, module, name):
            full = f"{module}.{name}"
            got = _torch_names().get(full)
            if got is not None:
                return got
            _check_supported(full)
            if module == "torch" or module.startswith("torch."):
                raise pickle.UnpicklingError(
                    f"numtorch.load: the file needs PyTorch's {full}, which numtorch does not "
                    "provide (it holds a PyTorch object, such as a whole torch.nn.Module, not only "
                    "tensors); save its state_dict() with PyTorch and load that instead")
            return super().find_class(module, name)

        def persistent_load(self, pid):
            return _storage_for(pid, self._load_storage)

    return _Unpickler


_TRUE = ("1", "y", "yes", "true")


def _weights_only(value):
    """``weights_only`` after PyTorch's environment overrides (None means True)."""
    force = os.getenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "0").lower() in _TRUE
    force_no = os.getenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0").lower() in _TRUE
    if force and force_no:
        raise RuntimeError("TORCH_FORCE_WEIGHTS_ONLY_LOAD and TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD "
                           "are both set; set at most one of them")
    if force:
        return True
    if value is None:
        if force_no:
            warnings.warn("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set and torch.load was called "
                          "without weights_only: loading with weights_only=False", stacklevel=3)
        return not force_no
    return bool(value)


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None,
         **pickle_load_args):
    """Load what ``save`` (or PyTorch's ``torch.save``) wrote.

    ``weights_only=True`` (the default; None means True) never runs code from the file: it
    builds tensors, parameters, numbers, strings, dtypes, containers and what was allowlisted
    with :func:`add_safe_globals` / :class:`safe_globals`; anything else raises
    ``pickle.UnpicklingError`` naming the global (see :func:`get_unsafe_globals_in_checkpoint`).

    ``weights_only=False`` loads any pickled object (a whole module, NumPy arrays, your own
    classes) with Python's full pickle machinery. **It can run arbitrary code from the file:
    use it only for files from a source you trust.** (``pickle_module`` and
    ``pickle_load_args`` such as ``encoding`` apply to it only.)

    ``map_location``: a device, a string, a dict ``{'cuda:0': 'cpu'}`` or a callable
    ``(tensor, location) -> tensor`` (None keeps the saved location).

    >>> import numtorch as torch
    >>> import io
    >>> buf = io.BytesIO()
    >>> torch.save({"w": torch.tensor([1.0, 2.0])}, buf)
    >>> _ = buf.seek(0)
    >>> torch.load(buf)
    {'w': tensor([1., 2.])}
    """
    weights_only = _weights_only(weights_only)
    if weights_only:
        if pickle_module is not None:
            raise RuntimeError("Can not safely load weights when explicit pickle_module is "
                               "specified (pickle_module applies to weights_only=False only)")
        if pickle_load_args:
            warnings.warn("pickle_load_args only works if `weights_only=False`.", stacklevel=2)
    name = f if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "<file object>")
    if isinstance(f, (str, os.PathLike)):
        try:
            fh = open(f, "rb")
        except FileNotFoundError:
            raise FileNotFoundError(f"numtorch.load: no such file: '{name}'") from None
    else:
        fh = io.BytesIO(f.read())
    with fh:
        return _load(fh, name, map_location, weights_only, pickle_module, pickle_load_args)


#: the largest expansion of DEFLATE (about 1032:1); torch.save writes records uncompressed
_MAX_INFLATE = 1032
#: The most pickled structure ``load`` reads (a checkpoint's data.pkl holds the object tree and
#: tensor metadata only: a few MiB for the largest models).
_MAX_PICKLE = 256 << 20


def _not_zip(fh, name):
    """A reason why ``fh`` is not a zip checkpoint, or None."""
    head = fh.read(4)
    fh.seek(0)
    if head.startswith(b"PK"):
        return None
    if head[:1] == b"\x80":  # a pickle: torch.save's format before PyTorch 1.6
        return f"legacy: '{name}' is a PyTorch checkpoint of the format before 1.6"
    return f"'{name}' is not a checkpoint (no zip header; empty, truncated or another kind of file)"


def _archive(fh, max_pickle):
    """``(zip, records by name, folder prefix, file length, budget, data.pkl bytes)``."""
    file_len = fh.seek(0, 2)
    fh.seek(0)
    z = zipfile.ZipFile(fh)
    infos = {i.filename: i for i in z.infolist()}
    pkl = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pkl) != 1:
        raise _Corrupt("has no data.pkl record")
    budget = [file_len]  # bytes of the file the storage records may still claim
    if max_pickle is not None and infos[pkl[0]].file_size > max_pickle:
        raise _Corrupt(f"data.pkl claims {infos[pkl[0]].file_size} bytes: more than the "
                       f"{max_pickle >> 20} MiB of structure numtorch reads with "
                       "weights_only=True (tensor data lives in records of its own)")
    data = _read_record(z, infos[pkl[0]], file_len, budget)
    return z, infos, pkl[0][:-len("data.pkl")], file_len, budget, data


def _zip_reader(z, infos, prefix, file_len, budget):
    """``read(key, dtype, numel) -> array``: a storage's record of a zip checkpoint, checked
    against its claimed size."""
    def read(key, dtype, numel):
        rec = prefix + "data/" + key
        info = infos.get(rec)
        if info is None:
            raise _Corrupt(f"lacks the record {rec}")
        if info.file_size != numel * dtype.itemsize:
            raise _Corrupt(f"record {rec} holds {info.file_size} bytes, expected "
                           f"{numel * dtype.itemsize} ({numel} x {dtype.name})")
        return np.frombuffer(_read_record(z, info, file_len, budget), dtype=dtype.np)
    return read


def _storage_loader(read, map_location):
    """``storage(key, dtype, numel, location) -> _Storage``: each storage read once (by
    ``read(key, dtype, numel)``), moved once per device (its views share it there)."""
    host, moved = {}, {}
    mapper = map_location if callable(map_location) and \
        not isinstance(map_location, (str, dict, Device)) else None

    def storage(key, dtype, numel, location):
        got = host.get(key)
        if got is None:
            got = host[key] = (read(key, dtype, numel), dtype)
        elif got[1] is not dtype or got[0].shape[0] != numel:
            raise _Corrupt(f"storage {key!r:.100} is used with two types or sizes")
        if mapper is not None:  # on the CPU; each tensor goes through the callable
            return _Storage(got[0], dtype, _CPU, location, mapper)
        target = _target(location, map_location)
        dev = moved.get((key, target))
        if dev is None:
            _require_device(target)
            d = _checked(_as_device(target))
            if d is _CPU:
                dev = (d, got[0])
            else:
                from .ops._core import kernels
                dev = (d, kernels(d).memory.to_device(got[0]))
            moved[(key, target)] = dev
        return _Storage(dev[1], dtype, dev[0], location)

    return storage


_BAD_RECORD = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, struct.error, KeyError,
               ValueError, IndexError, TypeError, AttributeError, OverflowError)


def _load(fh, name, map_location, weights_only, pickle_module, pickle_load_args):
    why = _not_zip(fh, name)
    if why is not None and why.startswith("legacy"):
        from ._checkpoint_legacy import load_legacy
        return load_legacy(fh, name, map_location, weights_only, pickle_module, pickle_load_args)
    if why is not None:
        raise RuntimeError(f"numtorch.load: {why}")
    try:
        z, infos, prefix, file_len, budget, data = _archive(
            fh, _MAX_PICKLE if weights_only else None)
        storage = _storage_loader(_zip_reader(z, infos, prefix, file_len, budget), map_location)
        if weights_only:
            return _SafeUnpickler(data, storage).load()
    except _Corrupt as e:
        raise RuntimeError(f"numtorch.load: '{name}' is corrupt: {e}") from None
    except _BAD_RECORD as e:
        raise RuntimeError(f"numtorch.load: '{name}' is corrupt or truncated "
                           f"({type(e).__name__}: {str(e)[:300]})") from None
    try:  # trusted: what the file's objects raise reaches the caller as it is
        unpickler = _full_unpickler(pickle_module)
        return unpickler(io.BytesIO(data), storage,
                         **{"encoding": "utf-8", **pickle_load_args}).load()
    except _Corrupt as e:
        raise RuntimeError(f"numtorch.load: '{name}' is corrupt: {e}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise RuntimeError(f"numtorch.load: '{name}' is corrupt or truncated "
                           f"({type(e).__name__}: {str(e)[:300]})") from None


def get_unsafe_globals_in_checkpoint(f):
    """The globals (``module.qualname``) that the checkpoint ``f`` needs and that
    ``load(weights_only=True)`` would refuse: not in the default allowlist nor allowlisted by
    :func:`add_safe_globals` / :class:`safe_globals`, or from a blocked module (``os``...).

    The pickle is read, never run (so a global that only a running pickle would compute is not
    listed). ``f``: a path or a binary file object; ValueError if it is not a zip checkpoint.

    >>> import numtorch as torch, io, datetime
    >>> buf = io.BytesIO()
    >>> torch.save({"w": torch.ones(2), "day": datetime.date(2024, 1, 2)}, buf)
    >>> _ = buf.seek(0)
    >>> torch.serialization.get_unsafe_globals_in_checkpoint(buf)
    ['datetime.date']
    """
    name = f if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "<file object>")
    with (open(f, "rb") if isinstance(f, (str, os.PathLike)) else io.BytesIO(f.read())) as fh:
        why = _not_zip(fh, name)
        if why is not None and why.startswith("legacy: "):
            raise ValueError(f"{why[8:]}: numtorch lists the globals of zip checkpoints only")
        if why is not None:
            raise ValueError(f"Expected input to be a checkpoint returned by torch.save: {why}")
        try:
            found = _globals_in(_archive(fh, None)[-1])
        except _Corrupt as e:
            raise RuntimeError(f"numtorch: '{name}' is corrupt: {e}") from None
        except _BAD_RECORD as e:
            raise RuntimeError(f"numtorch: '{name}' is corrupt or truncated "
                               f"({type(e).__name__}: {str(e)[:300]})") from None
    allowed = {**_allowed(), **_user_globals()}
    return [g for g in found if g not in _UNSUPPORTED and (_blocked(g) or g not in allowed)]


_TEXT_OPS = {"UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "STRING",
             "BINSTRING", "SHORT_BINSTRING"}


def _globals_in(data):
    """The globals the pickle ``data`` names, in order, without running it: GLOBAL's and INST's
    operands, and STACK_GLOBAL's from the two strings pushed (or fetched from the memo) before."""
    found, memo, last = {}, {}, [None, None]
    for op, arg, _ in pickletools.genops(data):
        kind, pushed = op.name, None
        if kind in ("GLOBAL", "INST"):
            found.setdefault("{}.{}".format(*_py3(*arg.split(" ", 1))))
        elif kind == "STACK_GLOBAL":
            if all(isinstance(x, str) for x in last):
                found.setdefault("{}.{}".format(*_py3(*last)))
        elif kind == "MEMOIZE":
            memo[len(memo)] = last[1]
            continue
        elif kind in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = last[1]
            continue
        elif kind in ("GET", "BINGET", "LONG_BINGET"):
            pushed = memo.get(arg)
        elif kind in _TEXT_OPS:
            pushed = arg.decode("latin1") if isinstance(arg, bytes) else arg
        last = [last[1], pushed]
    return list(found)


def _read_record(z, info, file_len, budget):
    """The bytes of one zip record, in memory sized from its header only after the header
    was checked against the file: the stored bytes must be in the file, not yet claimed by
    another record, and expand at most as far as DEFLATE can. So a file never makes ``load``
    allocate more than it holds (times DEFLATE's ratio, for compressed records)."""
    if info.compress_type == zipfile.ZIP_STORED:
        ok = info.compress_size == info.file_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        ok = info.file_size <= _MAX_INFLATE * info.compress_size + 64
    else:
        raise _Corrupt(f"record {info.filename} uses compression method {info.compress_type} "
                       "(checkpoints are stored or deflated)")
    budget[0] -= info.compress_size
    if not ok or budget[0] < 0 or info.header_offset + info.compress_size > file_len:
        raise _Corrupt(f"record {info.filename} claims {info.file_size} bytes that the file "
                       "does not hold")
    out = bytearray(info.file_size)
    view, pos = memoryview(out), 0
    with z.open(info) as src:
        while pos < len(out):
            chunk = src.read(min(1 << 24, len(out) - pos))
            if not chunk:
                raise _Corrupt(f"record {info.filename} is truncated")
            view[pos:pos + len(chunk)] = chunk
            pos += len(chunk)
        if src.read(1):
            raise _Corrupt(f"record {info.filename} holds more than {len(out)} bytes")
    return out
