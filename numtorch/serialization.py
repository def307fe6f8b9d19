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
- ``save`` to a path is atomic: a temporary file in the same folder, fsync, then ``os.replace``;
  an interrupted save leaves the previous checkpoint intact.
- A truncated or corrupt file raises RuntimeError naming the file and the problem.
"""
import collections
import io
import os
import pickle
import struct
import sys
import tempfile
import zipfile

import numpy as np

from . import _dtype as D
from ._device import device as Device
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
        self.storages = []          # (key, bytes)
        self._keys = {}             # id(tensor) -> key (a tensor saved twice shares storage)
        self._active = set()

    def w(self, b):
        self.out.write(b)

    def glob(self, module, name):
        self.w(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def dump(self, obj):
        self.w(b"\x80\x02")
        self.save(obj)
        self.w(b".")
        return self.out.getvalue()

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
            self.tensor(obj)
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

    def tensor(self, t):
        from .nn.parameter import Parameter
        if isinstance(t, Parameter):
            self.glob("torch._utils", "_rebuild_parameter")
            self.w(b"(")
            self.tensor(t.detach())
            self.save(bool(t.requires_grad))
            self.glob("collections", "OrderedDict")
            self.w(b")R")
            self.w(b"tR")
            return
        arr = t.detach().cpu()._data
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")  # (np.ascontiguousarray would turn 0-d into 1-d)
        key = self._keys.get(id(t))
        if key is None:
            key = str(len(self.storages))
            self._keys[id(t)] = key
            self.storages.append((key, arr.tobytes()))
        self.glob("torch._utils", "_rebuild_tensor_v2")
        self.w(b"(")
        # persistent id: ('storage', <StorageType>, key, location, numel)
        self.w(b"(")
        self.save("storage")
        self.glob("torch", _STORAGE_NAMES[t.dtype.name])
        self.save(key)
        self.save(str(t.device) if t.device.type == "cpu" or t.device.index is not None
                  else f"{t.device.type}:0")
        self.int(arr.size)
        self.w(b"tQ")
        self.int(0)
        self.save(tuple(arr.shape))
        self.save(tuple(s // arr.itemsize for s in arr.strides) if arr.size else
                  tuple(int(np.prod(arr.shape[i + 1:], dtype=np.int64)) for i in range(arr.ndim)))
        self.save(bool(t.requires_grad))
        self.glob("collections", "OrderedDict")
        self.w(b")R")
        self.w(b"tR")


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
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                _write_zip(fh, data, writer.storages, os.path.splitext(os.path.basename(path))[0])
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    else:
        _write_zip(f, data, writer.storages, "archive")


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
def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    arr, dtype, target = storage
    size, stride = tuple(size), tuple(stride)
    if any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise pickle.UnpicklingError("checkpoint tensor with negative size or stride")
    need = storage_offset + (1 + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0)
    if storage_offset < 0 or need > arr.size:
        raise pickle.UnpicklingError(
            f"checkpoint tensor of size {list(size)} and stride {list(stride)} at offset "
            f"{storage_offset} reads past its storage of {arr.size} elements")
    view = np.lib.stride_tricks.as_strided(arr[storage_offset:], size,
                                           tuple(s * arr.itemsize for s in stride))
    t = Tensor._make(np.ascontiguousarray(view) if not view.flags.c_contiguous else view.copy(),
                     dtype)
    if isinstance(target, tuple):  # a callable map_location decides after loading
        _LOCATION[id(t)] = target[1]
    elif target != "cpu":
        t = _to_location(t, target)
    if requires_grad and dtype.is_floating_point:
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
    from ._device import cuda_runtime
    if str(target).startswith("cuda") and cuda_runtime() is None:
        raise RuntimeError(
            "Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is "
            "False. If you are running on a CPU-only machine, please use torch.load with "
            "map_location=torch.device('cpu') to map your storages to the CPU.")
    return t.to(target)


def _rebuild_parameter(data, requires_grad, backward_hooks=None, state=None):
    from .nn.parameter import Parameter
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
            raise pickle.UnpicklingError(f"numtorch.load: unsupported persistent id {pid!r}")
        dtype = _STORAGE_DTYPES[pid[1].name]
        if dtype is None:
            raise pickle.UnpicklingError(f"numtorch.load: {pid[1].name} tensors are not supported")
        location = pid[3] if isinstance(pid[3], str) else "cpu"
        return self._load_storage(pid[2], dtype, pid[4]), dtype, \
            _target(location, self._map_location)

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


def _walk(obj, fn):
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, collections.OrderedDict):
        out = collections.OrderedDict((k, _walk(v, fn)) for k, v in obj.items())
        out.__dict__.update(obj.__dict__)
        return out
    if isinstance(obj, dict):
        return {k: _walk(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v, fn) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_walk(v, fn) for v in obj)
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
                raw = fh.read()
        else:
            raw = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"numtorch.load: no such file: '{name}'") from None
    if not raw.startswith(b"PK"):
        if raw[:2] == b"\x80\x02" or raw[:1] == b"\x80":
            raise RuntimeError(
                f"numtorch.load: '{name}' is a legacy (pre-zip) PyTorch pickle; numtorch reads only "
                "the zip checkpoint format (re-save it with a recent torch.save)")
        raise RuntimeError(f"numtorch.load: '{name}' is not a checkpoint (no zip header; "
                           "empty, truncated or another kind of file)")
    try:
        z = zipfile.ZipFile(io.BytesIO(raw))
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise RuntimeError(f"numtorch.load: '{name}' has no data.pkl record")
        prefix = pkl[0][:-len("data.pkl")]
        data = z.read(pkl[0])
        cache = {}

        def storage(key, dtype, numel):
            arr = cache.get(key)
            if arr is None:
                rec = prefix + "data/" + key
                if rec not in names:
                    raise RuntimeError(f"numtorch.load: '{name}' lacks the record {rec}")
                buf = z.read(rec)
                if len(buf) != numel * dtype.itemsize:
                    raise RuntimeError(
                        f"numtorch.load: '{name}': record {rec} holds {len(buf)} bytes, expected "
                        f"{numel * dtype.itemsize} ({numel} x {dtype.name})")
                arr = np.frombuffer(buf, dtype=dtype.np).copy()
                cache[key] = arr
            return arr

        obj = _SafeUnpickler(data, storage, map_location).load()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, struct.error, KeyError,
            ValueError, IndexError) as e:
        raise RuntimeError(f"numtorch.load: '{name}' is corrupt or truncated ({type(e).__name__}: {e})") from None
    if callable(map_location) and not isinstance(map_location, (str, dict, Device)):
        obj = _walk(obj, lambda t: _map(t, map_location))
    _LOCATION.clear()
    return obj
