"""Checkpoints: ``save`` and ``load`` in PyTorch's zip format, without running code on load.

Format: the zip layout of ``torch.save`` (``archive/data.pkl`` + one raw record per tensor
storage), so PyTorch reads numtorch checkpoints with ``torch.load(weights_only=True)`` and
numtorch reads PyTorch's. Safety:

- ``save`` writes the pickle opcodes itself, for a closed set of types (tensors, parameters,
  dicts/OrderedDicts, lists, tuples, str, int, float, bool, None, dtypes); anything else is a
  TypeError at save time.
- ``load`` unpickles with an allowlist: only the tensor/parameter rebuild functions, the storage
  types, ``OrderedDict`` and dtypes resolve; any other global (the way a pickle runs code) is
  refused with ``pickle.UnpicklingError`` before it is looked up. Attribute-setting (BUILD) is
  allowed only on OrderedDicts (state_dict metadata), object-creation opcodes not at all.
- ``save`` to a path is atomic: a temporary file ``<name>.numtorch-partial-<host>-<pid>-<random>``
  in the same folder (0666 less the umask, or the replaced file's mode), fsync, ``os.replace``,
  fsync of the folder; an interrupted save leaves the previous checkpoint intact, and the next
  save to the same path deletes the partial files of writers that are gone (``kill -9``).
- Storages follow memory, as PyTorch's do: tensors whose memory overlaps (views of one tensor,
  a parameter and its ``.data``) share one storage record and load as views of one array;
  distinct tensors never share one. A tensor saved twice loads as one object.
- ``load`` validates every record before building anything: storage sizes must equal the bytes
  of their zip records, which must lie in the file (so the file bounds what ``load``
  allocates); a tensor is a view of its storage (a zero stride stays zero, nothing is
  materialised) whose offset, sizes and strides must stay inside it.
- A truncated or corrupt file raises RuntimeError naming the file and the problem.
"""
import collections
import errno
import io
import math
import os
import pickle
import re
import secrets
import socket
import stat
import struct
import sys
import zipfile

import numpy as np

from . import _dtype as D
from ._device import CPU as _CPU, as_device, checked, device as Device
from ._tensor import Tensor

__all__ = ["save", "load"]

_STORAGE_NAMES = {
    "float32": "FloatStorage", "float64": "DoubleStorage", "float16": "HalfStorage",
    "int64": "LongStorage", "int32": "IntStorage", "int16": "ShortStorage", "int8": "CharStorage",
    "uint8": "ByteStorage", "bool": "BoolStorage",
}
_STORAGE_DTYPES = {v: D._by_name[k] for k, v in _STORAGE_NAMES.items()}
_STORAGE_DTYPES["BFloat16Storage"] = None  # recognised, refused with a clear message


# --------------------------------------------------------------------------------------------
# Writing: protocol-2 pickle opcodes for a closed set of types
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
            raise TypeError(
                f"numtorch.save: can't save an object of type {type(obj).__module__}."
                f"{type(obj).__qualname__}; checkpoints hold tensors, numbers, strings, None and "
                "dicts/lists/tuples of them (load never runs code, so arbitrary objects are not "
                "stored)")

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
        self.save(str(t.device) if t.device.type == "cpu" or t.device.index is not None
                  else f"{t.device.type}:0")
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


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True):
    """Save tensors / state dicts / nested containers to a path or a binary file object.

    >>> import numtorch as torch, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
    >>> torch.save({"w": torch.ones(2), "epoch": 3}, path)
    >>> torch.load(path)["epoch"]
    3
    """
    if pickle_module is not None:
        raise ValueError("numtorch.save writes its own restricted format; pickle_module is not supported")
    writer = _Writer()
    data = writer.dump(obj)
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        if os.path.islink(path):  # write through a link, as open(path, "wb") does
            path = os.path.realpath(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        _write_atomically(path, lambda fh: _write_zip(fh, data, writer.storages, stem))
    else:
        _write_zip(f, data, writer.storages, "archive")


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
# Reading: an allowlisted unpickler
# --------------------------------------------------------------------------------------------
class _Corrupt(RuntimeError):
    """A record of the file is inconsistent (``load`` reports it naming the file)."""


class _Storage:
    """A storage of the file as ``load`` built it: ``data`` (1-d, on ``device``; None for a
    callable map_location, which keeps it on the CPU and decides later where it goes)."""
    __slots__ = ("data", "dtype", "device", "location")

    def __init__(self, data, dtype, device, location):
        self.data, self.dtype, self.device, self.location = data, dtype, device, location


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
    if storage.device is None or storage.device.type == "cpu":
        # (NumPy directly, as ops/_core.empty does: loading alone loads no kernels)
        view, device = np.lib.stride_tricks.as_strided(base, size, strides), _CPU
    else:
        from .ops._core import kernels
        view, device = kernels(storage.device).memory.as_strided(base, size, strides), \
            storage.device
    t = Tensor._make(view, storage.dtype, device)
    if storage.device is None:  # a callable map_location decides after loading
        _LOCATION[id(t)] = storage.location
    if requires_grad is True and storage.dtype.is_floating_point:
        t.requires_grad_(True)
    return t


#: id(tensor) -> saved location, for a callable map_location (filled and emptied by one load)
_LOCATION = {}


def _target(location, map_location):
    """Where a storage saved at ``location`` goes: a device string, or ('call', location)."""
    if map_location is None:
        return location
    if callable(map_location) and not isinstance(map_location, (str, Device)):
        return ("call", location)
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


def _rebuild_parameter(data, requires_grad, backward_hooks=None, state=None):
    from .nn.parameter import Parameter
    if not isinstance(data, Tensor) or not isinstance(requires_grad, bool):
        raise _Corrupt("parameter record without a tensor")
    return Parameter(data.detach(), requires_grad)


def _ordered_dict(*args):
    return collections.OrderedDict(*args)


class _StorageType:
    def __init__(self, name):
        self.name = name


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch", "Size"): tuple,
}
_ALLOWED.update({("torch", n): _StorageType(n) for n in _STORAGE_DTYPES})
_ALLOWED.update({("torch", d.name): d for d in D._ALL})


class _SafeUnpickler(pickle._Unpickler):
    """Pure-Python unpickler restricted to an allowlist (PyTorch's ``weights_only`` idea)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, data, storage_loader, map_location=None):
        super().__init__(io.BytesIO(data))
        self._load_storage = storage_loader
        self._map_location = map_location

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"numtorch.load refused the global '{module}.{name}': checkpoints may only "
                "contain tensors, parameters, numbers, strings and containers, and loading never "
                "runs code from the file") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and
                isinstance(pid[1], _StorageType) and isinstance(pid[2], str)):
            raise pickle.UnpicklingError(f"numtorch.load: unsupported persistent id {pid!r:.200}")
        dtype = _STORAGE_DTYPES[pid[1].name]
        if dtype is None:
            raise pickle.UnpicklingError(f"numtorch.load: {pid[1].name} tensors are not supported")
        numel = _int(pid[4], "storage size")
        if numel < 0:
            raise _Corrupt(f"storage {pid[2]!r:.100} of negative size {numel}")
        location = pid[3] if isinstance(pid[3], str) else "cpu"
        return self._load_storage(pid[2], dtype, numel, location,
                                  _target(location, self._map_location))

    def _refuse(self):
        raise pickle.UnpicklingError(
            "numtorch.load refused an object-construction opcode: the file is not a plain "
            "tensor checkpoint")

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, collections.OrderedDict) and isinstance(state, dict) and \
                all(isinstance(k, str) and not k.startswith("__") for k in state):
            inst.__dict__.update(state)  # PyTorch state_dict metadata (``_metadata``)
            return
        if isinstance(inst, Tensor) and (state is None or state == {} or
                                         (isinstance(state, tuple) and not any(state))):
            return
        self._refuse()


for _op in (pickle.INST, pickle.OBJ, pickle.NEWOBJ, pickle.NEWOBJ_EX, pickle.EXT1, pickle.EXT2,
            pickle.EXT4):
    _SafeUnpickler.dispatch[_op[0]] = _SafeUnpickler._refuse
_SafeUnpickler.dispatch[pickle.BUILD[0]] = _SafeUnpickler.load_build


def _map(t, map_location):
    """Apply a callable ``map_location(tensor, location)``; None keeps the saved location."""
    location = _LOCATION.pop(id(t), None)
    if location is None:
        return t
    r = map_location(t, location)
    if r is None:
        return t if location == "cpu" else _to_location(t, location)
    return r


def _walk(obj, fn, memo=None):
    """``obj`` with ``fn`` applied to each tensor once (a tensor met twice maps to one result)."""
    memo = {} if memo is None else memo
    if isinstance(obj, Tensor):
        if id(obj) not in memo:
            memo[id(obj)] = fn(obj)
        return memo[id(obj)]
    if isinstance(obj, collections.OrderedDict):
        out = collections.OrderedDict((k, _walk(v, fn, memo)) for k, v in obj.items())
        out.__dict__.update(obj.__dict__)
        return out
    if isinstance(obj, dict):
        return {k: _walk(v, fn, memo) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v, fn, memo) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_walk(v, fn, memo) for v in obj)
    return obj


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **kwargs):
    """Load what ``save`` (or PyTorch's ``torch.save``) wrote; never runs code from the file.

    ``map_location``: a device, a string, a dict ``{'cuda:0': 'cpu'}`` or a callable.

    >>> import numtorch as torch
    >>> import io
    >>> buf = io.BytesIO()
    >>> torch.save({"w": torch.tensor([1.0, 2.0])}, buf)
    >>> _ = buf.seek(0)
    >>> torch.load(buf)
    {'w': tensor([1., 2.])}
    """
    name = f if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "<file object>")
    try:
        if isinstance(f, (str, os.PathLike)):
            with open(f, "rb") as fh:
                obj = _load(fh, name, map_location)
        else:
            obj = _load(io.BytesIO(f.read()), name, map_location)
    except FileNotFoundError:
        raise FileNotFoundError(f"numtorch.load: no such file: '{name}'") from None
    finally:
        _LOCATION.clear()
    return obj


#: the largest expansion of DEFLATE (about 1032:1); torch.save writes records uncompressed
_MAX_INFLATE = 1032
#: The most pickled structure ``load`` reads (a checkpoint's data.pkl holds the object tree and
#: tensor metadata only: a few MiB for the largest models).
_MAX_PICKLE = 256 << 20


def _load(fh, name, map_location):
    head = fh.read(4)
    file_len = fh.seek(0, 2)
    fh.seek(0)
    if not head.startswith(b"PK"):
        if head[:1] == b"\x80":
            raise RuntimeError(
                f"numtorch.load: '{name}' is a legacy (pre-zip) PyTorch pickle; numtorch reads "
                "only the zip checkpoint format (re-save it with a recent torch.save)")
        raise RuntimeError(f"numtorch.load: '{name}' is not a checkpoint (no zip header; "
                           "empty, truncated or another kind of file)")
    try:
        z = zipfile.ZipFile(fh)
        infos = {i.filename: i for i in z.infolist()}
        pkl = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise _Corrupt("has no data.pkl record")
        prefix = pkl[0][:-len("data.pkl")]
        budget = [file_len]  # bytes of the file the storage records may still claim
        if infos[pkl[0]].file_size > _MAX_PICKLE:
            raise _Corrupt(f"data.pkl claims {infos[pkl[0]].file_size} bytes: more than the "
                           f"{_MAX_PICKLE >> 20} MiB of structure numtorch reads (tensor data "
                           "lives in records of its own)")
        data = _read_record(z, infos[pkl[0]], file_len, budget)
        host, moved = {}, {}

        def storage(key, dtype, numel, location, target):
            got = host.get(key)
            if got is None:
                rec = prefix + "data/" + key
                info = infos.get(rec)
                if info is None:
                    raise _Corrupt(f"lacks the record {rec}")
                if info.file_size != numel * dtype.itemsize:
                    raise _Corrupt(f"record {rec} holds {info.file_size} bytes, expected "
                                   f"{numel * dtype.itemsize} ({numel} x {dtype.name})")
                arr = np.frombuffer(_read_record(z, info, file_len, budget), dtype=dtype.np)
                got = host[key] = (arr, dtype)
            elif got[1] is not dtype or got[0].shape[0] != numel:
                raise _Corrupt(f"storage {key!r:.100} is used with two types or sizes")
            if isinstance(target, tuple):  # callable map_location: on the CPU for now
                return _Storage(got[0], dtype, None, location)
            dev = moved.get((key, target))
            if dev is None:  # one copy per storage and device: its views share it there
                _require_device(target)
                d = checked(as_device(target))
                if d is _CPU:
                    dev = (d, got[0])
                else:
                    from .ops._core import kernels
                    dev = (d, kernels(d).memory.to_device(got[0]))
                moved[(key, target)] = dev
            return _Storage(dev[1], dtype, dev[0], location)

        obj = _SafeUnpickler(data, storage, map_location).load()
    except _Corrupt as e:
        raise RuntimeError(f"numtorch.load: '{name}' is corrupt: {e}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, struct.error, KeyError,
            ValueError, IndexError, TypeError, AttributeError, OverflowError) as e:
        raise RuntimeError(f"numtorch.load: '{name}' is corrupt or truncated "
                           f"({type(e).__name__}: {str(e)[:300]})") from None
    if callable(map_location) and not isinstance(map_location, (str, dict, Device)):
        obj = _walk(obj, lambda t: _map(t, map_location))
    return obj


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
