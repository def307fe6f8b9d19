"""Reading checkpoints in ``torch.save``'s format before PyTorch 1.6 (``torch.load`` still reads
them; many published weight files, e.g. some of torchvision's, are in it).

The file is a sequence of pickles followed by raw storage bytes:

1. the magic number ``0x1950a86a20f9469cfc6c``, the protocol version 1001 and a dict of system
   facts (byte order, C type sizes), each a small pickle;
2. the object, pickled with a persistent id ``('storage', <type>, key, location, numel, None)``
   for each storage;
3. the sorted list of storage keys, pickled;
4. for each key in that order: the element count as a little-endian int64, then the bytes.

The storages' bytes come after the pickle that needs them, and their sizes depend on the types
named inside it. So ``load_legacy`` walks the object pickle once without running anything (a
probe that records the persistent ids and replaces every global by an inert placeholder),
locates each storage's bytes, then unpickles for real, once, with the same unpicklers (and the
same ``weights_only`` rules) as the zip format.
"""
import io
import pickle
import struct

import numpy as np

from . import serialization as S

MAGIC = 0x1950a86a20f9469cfc6c
PROTOCOL = 1001


class _Inert:
    """What every global, call and object of the probing pass becomes: accepts everything,
    does nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return self

    def append(self, item):
        pass

    def extend(self, items):
        pass

    def add(self, item):
        pass

    def __setitem__(self, key, value):
        pass


class _Probe(pickle._Unpickler):
    """Reads a pickle without running it: ``storages`` maps each storage key to (storage type,
    element count)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, fh):
        super().__init__(fh)
        self.storages = {}

    def find_class(self, module, name):
        got = S._allowed().get("{}.{}".format(*S._py3(module, name)))
        return got if isinstance(got, S._StorageType) else _Inert

    def persistent_load(self, pid):
        if type(pid) is tuple and len(pid) in (5, 6) and pid[0] == "storage" and \
                isinstance(pid[1], S._StorageType) and type(pid[2]) is str:
            self.storages.setdefault(pid[2], (pid[1], S._int(pid[4], "storage size")))
        return _Inert()

    def load_reduce(self):
        self.stack.pop()
        self.stack[-1] = _Inert()

    def load_build(self):
        self.stack.pop()

    def load_newobj(self):
        self.stack.pop()
        self.stack[-1] = _Inert()

    def load_newobj_ex(self):
        self.stack.pop()
        self.stack.pop()
        self.stack[-1] = _Inert()


for _op, _fn in ((pickle.REDUCE, "load_reduce"), (pickle.BUILD, "load_build"),
                 (pickle.NEWOBJ, "load_newobj"), (pickle.NEWOBJ_EX, "load_newobj_ex")):
    _Probe.dispatch[_op[0]] = getattr(_Probe, _fn)


class _Plain(pickle._Unpickler):
    """For the header and key-list pickles: numbers, strings, lists and dicts, no globals."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"numtorch.load: unexpected global {module}.{name} in the "
                                     "header of a checkpoint of the format before PyTorch 1.6")


def _header(fh):
    magic = _Plain(fh).load()
    if magic != MAGIC:
        raise S._Corrupt("has a pickle where the magic number of torch.save's format before "
                         "PyTorch 1.6 should be (it is not a checkpoint)")
    version = _Plain(fh).load()
    if version != PROTOCOL:
        raise S._Corrupt(f"has protocol version {version!r:.50}; numtorch reads {PROTOCOL}")
    facts = _Plain(fh).load()
    if type(facts) is not dict or facts.get("little_endian") is not True:
        raise S._Corrupt("was written on a big-endian machine or has no system facts; "
                         "numtorch reads little-endian checkpoints")


def _locate(fh, storages, file_len):
    """{key: offset of its bytes}, checking each record's element count against the pickle's."""
    keys = _Plain(fh).load()
    if type(keys) is not list or not all(type(k) is str for k in keys):
        raise S._Corrupt("has no list of storage keys after the object")
    missing = set(storages) - set(keys)
    if missing:
        raise S._Corrupt(f"lacks the bytes of storage {sorted(missing)[0]!r:.100}")
    offsets, pos = {}, fh.tell()
    for key in keys:
        if key not in storages:
            raise S._Corrupt(f"holds bytes of storage {key!r:.100} that nothing uses")
        kind, numel = storages[key]
        dtype = S._STORAGE_DTYPES[kind.name]
        head = fh.read(8) if fh.seek(pos) == pos else b""
        if len(head) != 8 or struct.unpack("<q", head)[0] != numel:
            raise S._Corrupt(f"storage {key!r:.100}: its record does not start with its size "
                             f"{numel}")
        size = numel * (dtype.itemsize if dtype is not None else 1)
        if pos + 8 + size > file_len:
            raise S._Corrupt(f"storage {key!r:.100} claims {size} bytes that the file does "
                             "not hold")
        offsets[key] = pos + 8
        pos += 8 + size
    return offsets


def load_legacy(fh, name, map_location, weights_only, pickle_module, pickle_load_args):
    """``numtorch.load`` of a checkpoint in the format before PyTorch 1.6."""
    file_len = fh.seek(0, 2)
    fh.seek(0)
    try:
        _header(fh)
        start = fh.tell()
        probe = _Probe(fh)
        probe.load()
        end = fh.tell()
        offsets = _locate(fh, probe.storages, file_len)
        fh.seek(start)
        data = fh.read(end - start)  # the object's pickle (storage reads move the file)
    except S._Corrupt as e:
        raise RuntimeError(f"numtorch.load: '{name}' is corrupt: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, IndexError, TypeError,
            AttributeError, KeyError, struct.error) as e:
        raise RuntimeError(f"numtorch.load: '{name}' is corrupt or truncated "
                           f"({type(e).__name__}: {str(e)[:300]})") from None

    def read(key, dtype, numel):
        if key not in offsets or probe.storages[key][1] != numel:
            raise S._Corrupt(f"storage {key!r:.100} is used with two sizes")
        fh.seek(offsets[key])
        buf = bytearray(numel * dtype.itemsize)  # (writable, as the zip reader's records)
        if fh.readinto(buf) != len(buf):
            raise S._Corrupt(f"storage {key!r:.100} is truncated")
        return np.frombuffer(buf, dtype=dtype.np)

    storage = S._storage_loader(read, map_location)
    try:
        if weights_only:
            return S._SafeUnpickler(data, storage).load()
        unpickler = S._full_unpickler(pickle_module)
        return unpickler(io.BytesIO(data), storage,
                         **{"encoding": "utf-8", **pickle_load_args}).load()
    except S._Corrupt as e:
        raise RuntimeError(f"numtorch.load: '{name}' is corrupt: {e}") from None
