"""Family 3: hostile files for ``numtorch.load``, built by hand.

The layout is PyTorch's (and numtorch's, see numtorch/serialization.py): a zip whose one folder
holds ``data.pkl`` (a pickle whose tensors are ``torch._utils._rebuild_tensor_v2(storage,
offset, size, stride, requires_grad, hooks)`` calls on persistent ids ``('storage',
torch.<Type>Storage, key, location, numel)``), one raw record ``data/<key>`` per storage and
``version``. ``Pickle`` writes protocol-2 opcodes for any value, including globals and calls that
no honest checkpoint has; ``zip_bytes`` assembles the archive (``raw_zip_entry`` can claim any
sizes, for zip bombs). ``CASES`` maps a name to ``(build(marker) -> bytes, expect)``:

- ``expect == "refuse"``: loading must raise ``UnpicklingError``, ``RuntimeError`` or
  ``ValueError`` (PyTorch's ``weights_only`` load wraps every refusal in ``UnpicklingError``);
- ``expect == "either"``: a clear error, or a load whose tensors are consistent (dtype, shape and
  values agree with their own arrays);
- ``expect == "load"``: the control, a valid file, must load consistently.

Every payload that runs code would create ``marker``; the test checks that it never exists.
"""
import collections
import io
import os
import pickle
import struct
import zipfile
import zlib

import numpy as np

import numtorch

ACCEPTED = ("UnpicklingError", "RuntimeError", "ValueError")


# --- a protocol-2 pickle writer for arbitrary (hostile) values ----------------------------------
class Glob:
    def __init__(self, module, name):
        self.module, self.name = module, name


class Call:
    """``func(*args)`` by REDUCE; ``func`` is usually a :class:`Glob`."""

    def __init__(self, func, *args):
        self.func, self.args = func, args


class Pid:
    """A persistent id (BINPERSID): the unpickler's ``persistent_load(value)``."""

    def __init__(self, value):
        self.value = value


class Raw:
    """Opcodes inserted as they are."""

    def __init__(self, data):
        self.data = data


def tensor(key, numel, size, stride, offset=0, storage="FloatStorage", location="cpu", rg=False):
    pid = Pid(("storage", Glob("torch", storage), key, location, numel))
    return Call(Glob("torch._utils", "_rebuild_tensor_v2"), pid, offset, tuple(size),
                tuple(stride), rg, Call(Glob("collections", "OrderedDict")))


class Pickle:
    def __init__(self):
        self.out = bytearray(b"\x80\x02")

    def dumps(self, obj):
        self.put(obj)
        self.out += b"."
        return bytes(self.out)

    def put(self, x):
        o = self.out
        if x is None:
            o += b"N"
        elif x is True or x is False:
            o += b"\x88" if x else b"\x89"
        elif isinstance(x, int):
            if -2 ** 31 <= x < 2 ** 31:
                o += b"J" + struct.pack("<i", x)
            else:
                n = (x.bit_length() + 8) // 8
                o += b"\x8a" + bytes([n]) + x.to_bytes(n, "little", signed=True)
        elif isinstance(x, float):
            o += b"G" + struct.pack(">d", x)
        elif isinstance(x, str):
            b = x.encode()
            o += b"X" + struct.pack("<I", len(b)) + b
        elif isinstance(x, tuple):
            o += b"("
            for v in x:
                self.put(v)
            o += b"t"
        elif isinstance(x, list):
            o += b"]("
            for v in x:
                self.put(v)
            o += b"e"
        elif isinstance(x, dict):
            o += b"}("
            for k, v in x.items():
                self.put(k)
                self.put(v)
            o += b"u"
        elif isinstance(x, Glob):
            o += b"c" + x.module.encode() + b"\n" + x.name.encode() + b"\n"
        elif isinstance(x, Call):
            self.put(x.func)
            self.put(tuple(x.args))
            o += b"R"
        elif isinstance(x, Pid):
            self.put(x.value)
            o += b"Q"
        elif isinstance(x, Raw):
            o += x.data
        else:
            raise TypeError(type(x))


def dumps(obj):
    return Pickle().dumps(obj)


def seq(*values):
    """A pickle that pushes ``values`` one after the other (``Raw`` for bare opcodes)."""
    p = Pickle()
    for v in values:
        p.put(v)
    p.out += b"."
    return bytes(p.out)


# --- zip archives ---------------------------------------------------------------------------
def zip_bytes(entries, prefix="archive/"):
    """A stored (uncompressed) zip of ``{name: bytes}`` under ``prefix``, plus ``version``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in entries.items():
            z.writestr(prefix + name, data)
        if prefix + "version" not in {prefix + n for n in entries}:
            z.writestr(prefix + "version", "3\n")
    return buf.getvalue()


def checkpoint(obj, storages, prefix="archive/"):
    """A checkpoint whose data.pkl pickles ``obj`` and whose records are ``storages``."""
    entries = {"data.pkl": dumps(obj)}
    entries.update({f"data/{k}": v for k, v in storages.items()})
    return zip_bytes(entries, prefix)


def raw_zip(members):
    """A zip written byte by byte: ``members`` is ``[(name, payload, method, crc, size)]`` where
    ``payload`` is already compressed with ``method`` and ``size`` is the size it claims."""
    out, central = bytearray(), bytearray()
    for name, payload, method, crc, size in members:
        nm = name.encode()
        off = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc,
                           len(payload), size, len(nm), 0) + nm + payload
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21,
                               crc, len(payload), size, len(nm), 0, 0, 0, 0, 0, off) + nm
    cd_off = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                       cd_off, 0)
    return bytes(out)


def deflated_zeros(nbytes, chunk=1 << 22):
    """A raw deflate stream of ``nbytes`` zero bytes, made without deflating them all: after the
    first chunk every fully flushed chunk of zeros compresses to the same bytes."""
    assert nbytes % chunk == 0
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    zeros = bytes(chunk)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    return first + again * (nbytes // chunk - 1) + c.flush()


# --- payloads that would run code ----------------------------------------------------------
class _Reduce:
    """Pickles as ``func(*args)`` with Python's own pickler (``__reduce__``)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _touch(marker):
    return f"touch {marker}"


def _open_expr(marker):
    return f"open({str(marker)!r}, 'w').close()"


def _payloads(marker):
    """name -> data.pkl bytes that would create ``marker`` if any code ran."""
    m = str(marker)
    w = tensor("0", 12, (3, 4), (4, 1))  # the storage payload_cases writes (F4)
    p = {
        "global_os_system": dumps(Call(Glob("os", "system"), _touch(m))),
        "global_posix_system": dumps(Call(Glob("posix", "system"), _touch(m))),
        "builtins_eval": dumps(Call(Glob("builtins", "eval"), _open_expr(m))),
        "builtins_exec": dumps(Call(Glob("builtins", "exec"), _open_expr(m))),
        "py2_builtin_eval": dumps(Call(Glob("__builtin__", "eval"), _open_expr(m))),
        "subprocess_popen": dumps(Call(Glob("subprocess", "Popen"), ("sh", "-c", _touch(m)))),
        "getattr_chain": dumps(Call(Glob("builtins", "getattr"), Glob("os", "system"), "x")),
        "numtorch_internal": dumps(Call(Glob("numtorch.serialization", "os"))),
        "nested_in_state_dict": dumps({"model": {"w": w, "b": Call(Glob("os", "system"),
                                                                     _touch(m))}}),
        "inside_ordereddict_build": seq(Call(Glob("collections", "OrderedDict")),
                                        {"x": Call(Glob("os", "system"), _touch(m))}, Raw(b"b")),
        "inst_opcode": seq(Raw(b"("), _touch(m), Raw(b"ios\nsystem\n")),
        "obj_opcode": seq(Raw(b"("), Glob("os", "system"), _touch(m), Raw(b"o")),
        "inst_opcode_allowed_class": seq(Raw(b"(icollections\nOrderedDict\n")),
        "obj_opcode_allowed_class": seq(Raw(b"("), Glob("collections", "OrderedDict"), Raw(b"o")),
        "newobj_opcode_allowed_class": seq(Glob("collections", "OrderedDict"), (), Raw(b"\x81")),
        "ext1_opcode": seq(Raw(b"\x82\x01")),
        "build_on_tensor": seq(w, {"_data": "evil"}, Raw(b"b")),
        "build_dunder_on_ordereddict": seq(Call(Glob("collections", "OrderedDict")),
                                           {"__class__": "x"}, Raw(b"b")),
    }
    for proto in (0, 2, 4, 5):
        p[f"reduce_protocol{proto}"] = pickle.dumps(_Reduce(os.system, _touch(m)), protocol=proto)
        p[f"reduce_nested_protocol{proto}"] = pickle.dumps(
            {"state": collections.OrderedDict(w=[1, 2, {"deep": _Reduce(eval, _open_expr(m))}])},
            protocol=proto)
    return p


# --- the cases --------------------------------------------------------------------------------
F4 = np.arange(12, dtype=np.float32).tobytes()  # a 12-element float32 storage


def _valid():
    return checkpoint({"w": tensor("0", 12, (3, 4), (4, 1)), "epoch": 3}, {"0": F4})


def _tensor_file(numel=12, size=(3, 4), stride=(4, 1), offset=0, storage="FloatStorage",
                 record=F4, key="0", location="cpu", rg=False):
    return checkpoint({"w": tensor(key, numel, size, stride, offset, storage, location, rg)},
                      {"0": record})


def _truncated(frac):
    def build(marker):
        data = _valid()
        return data[:int(len(data) * frac)]
    return build


def _flipped(seed):
    def build(marker):
        data = bytearray(_valid())
        rng = np.random.default_rng(seed)
        for i in rng.integers(0, len(data), size=8):
            data[i] ^= int(rng.integers(1, 256))
        return bytes(data)
    return build


def _pickle_changed(seed):
    """A valid data.pkl with one byte replaced (an opcode, a length, a name, a number)."""
    def build(marker):
        pkl = bytearray(dumps({"w": tensor("0", 12, (3, 4), (4, 1)), "n": [1, 2.5, "x"]}))
        rng = np.random.default_rng(seed)
        pkl[int(rng.integers(2, len(pkl) - 1))] = int(rng.integers(0, 256))
        return zip_bytes({"data.pkl": bytes(pkl), "data/0": F4})
    return build


def _bomb(member):
    def build(marker):
        size = 3 << 30  # claims 3 GiB (fits a 32-bit zip field); the CRC is not even right
        bomb = deflated_zeros(size)
        pkl = dumps({"w": tensor("0", 12, (3, 4), (4, 1))})
        members = [("archive/data.pkl", pkl, 0, zlib.crc32(pkl), len(pkl)),
                   ("archive/data/0", F4, 0, zlib.crc32(F4), len(F4))]
        i = 0 if member == "data.pkl" else 1
        members[i] = (members[i][0], bomb, 8, 0, size)
        return raw_zip(members)
    return build


def _deep(depth):
    def build(marker):
        return zip_bytes({"data.pkl": b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."})
    return build


def _self_reference(marker):
    # a list that contains itself: EMPTY_LIST, MEMOIZE (p0), GET 0, APPEND
    return zip_bytes({"data.pkl": b"\x80\x02]q\x00h\x00a."})


def _same_key_two_dtypes(marker):
    return checkpoint({"a": tensor("0", 12, (12,), (1,)),
                       "b": tensor("0", 6, (6,), (1,), storage="DoubleStorage")}, {"0": F4})


def _many_stride0(marker):
    return checkpoint([tensor("0", 1, (50_000_000,), (0,)) for _ in range(20)],
                      {"0": F4[:4]})


CASES = {}
for _name, _fn in [
        ("truncated_10pct", _truncated(0.1)), ("truncated_50pct", _truncated(0.5)),
        ("truncated_90pct", _truncated(0.9)), ("truncated_last_byte", _truncated(0.9999)),
        ("empty_file", lambda m: b""),
        ("zip_magic_then_garbage", lambda m: b"PK\x03\x04" + bytes(range(256)) * 4),
        ("legacy_pickle_payload", lambda m: pickle.dumps(_Reduce(os.system, _touch(m)), 2)),
        ("no_data_pkl", lambda m: zip_bytes({"data/0": F4})),
        ("two_archives", lambda m: raw_zip(
            [("a/data.pkl", dumps(1), 0, zlib.crc32(dumps(1)), len(dumps(1))),
             ("b/data.pkl", dumps(2), 0, zlib.crc32(dumps(2)), len(dumps(2)))])),
        ("zip_bomb_data_pkl", _bomb("data.pkl")), ("zip_bomb_storage", _bomb("storage")),
        ("missing_storage_key", lambda m: _tensor_file(key="7")),
        ("storage_key_path_traversal", lambda m: _tensor_file(key="../../../../etc/passwd")),
        ("record_too_short", lambda m: _tensor_file(record=F4[:20])),
        ("record_not_itemsize_multiple", lambda m: _tensor_file(numel=12, record=F4 + b"\x00")),
        ("bfloat16_record_too_short", lambda m: _tensor_file(storage="BFloat16Storage",
                                                             record=F4[:22])),
        ("unknown_storage_type", lambda m: _tensor_file(storage="EvilStorage")),
        ("offset_past_storage", lambda m: _tensor_file(offset=12, size=(1,), stride=(1,))),
        ("size_past_storage", lambda m: _tensor_file(size=(4, 4))),
        ("stride_past_storage", lambda m: _tensor_file(stride=(5, 1))),
        ("negative_stride", lambda m: _tensor_file(stride=(-4, 1), offset=8)),
        ("negative_size", lambda m: _tensor_file(size=(-3, 4))),
        ("negative_offset", lambda m: _tensor_file(offset=-4)),
        ("huge_size_1e12", lambda m: _tensor_file(size=(10 ** 6, 10 ** 6), stride=(10 ** 6, 1))),
        ("huge_numel_claim", lambda m: _tensor_file(numel=10 ** 12)),
        ("size_product_overflows_int64", lambda m: _tensor_file(size=(2 ** 62, 4),
                                                                stride=(0, 0))),
        ("size_stride_length_mismatch", lambda m: _tensor_file(size=(3, 4), stride=(1,))),
        ("size_not_int", lambda m: _tensor_file(size=("a", 4))),
        ("size_float", lambda m: _tensor_file(size=(3.0, 4))),
        ("size_none", lambda m: _tensor_file(size=(None,), stride=(1,))),
        ("offset_float", lambda m: _tensor_file(offset=1.5, size=(2,), stride=(1,))),
        ("offset_str", lambda m: _tensor_file(offset="1", size=(2,), stride=(1,))),
        ("storage_not_from_file", lambda m: checkpoint({"w": Call(
            Glob("torch._utils", "_rebuild_tensor_v2"), ("abc", Glob("torch", "float32"), "cpu"),
            0, (3,), (1,), False, Call(Glob("collections", "OrderedDict")))}, {})),
        ("parameter_of_a_string", lambda m: checkpoint({"p": Call(
            Glob("torch._utils", "_rebuild_parameter"), "not a tensor", True,
            Call(Glob("collections", "OrderedDict")))}, {})),
        ("call_a_dtype", lambda m: checkpoint({"d": Call(Glob("torch", "float32"))}, {})),
        ("call_a_storage_type", lambda m: checkpoint({"s": Call(Glob("torch", "FloatStorage"),
                                                                1, 2)}, {})),
        ("ordereddict_of_an_int", lambda m: checkpoint({"o": Call(
            Glob("collections", "OrderedDict"), 5)}, {})),
        ("persistent_id_not_a_tuple", lambda m: checkpoint({"w": Pid("storage")}, {})),
        ("persistent_id_short", lambda m: checkpoint({"w": Pid(("storage", 1))}, {})),
        ("location_garbage", lambda m: _tensor_file(location="evil:7")),
]:
    CASES[_name] = (_fn, "refuse")

CASES["valid_control"] = (lambda m: _valid(), "load")
# a stride-0 view may load as a view (as in PyTorch), never as a materialised copy
for _name, _fn in [
        ("stride0_1e9_elements", lambda m: _tensor_file(size=(10 ** 9,), stride=(0,))),
        ("stride0_2d_1e10", lambda m: _tensor_file(size=(10 ** 5, 10 ** 5), stride=(0, 0))),
        ("stride0_20_views_of_200MB", _many_stride0),
        ("location_not_a_string", lambda m: _tensor_file(location=12345)),
        ("version_999", lambda m: zip_bytes({"data.pkl": dumps({"w": tensor("0", 12, (3, 4),
                                                                            (4, 1))}),
                                             "data/0": F4, "version": "999\n"})),
        ("requires_grad_on_int64", lambda m: _tensor_file(storage="LongStorage", numel=6,
                                                          size=(6,), stride=(1,), rg=True)),
        ("same_key_two_dtypes", _same_key_two_dtypes),
        ("overlapping_views", lambda m: checkpoint([tensor("0", 12, (3, 4), (1, 1)),
                                                    tensor("0", 12, (2, 2), (0, 5), offset=1)],
                                                   {"0": F4})),
        ("deep_nesting", _deep(100_000)),
        ("self_reference", _self_reference),
        ("bytes_flipped_1", _flipped(1)), ("bytes_flipped_2", _flipped(2)),
        ("bytes_flipped_3", _flipped(3)),
        *[(f"pickle_byte_changed_{i}", _pickle_changed(i)) for i in range(12)],
]:
    CASES[_name] = (_fn, "either")


#: payloads that do run under Python's own ``pickle.loads`` (the check that the marker works)
LIVE = ("global_os_system", "global_posix_system", "builtins_eval", "builtins_exec",
        "py2_builtin_eval", "subprocess_popen", "inside_ordereddict_build", "inst_opcode",
        "obj_opcode", "reduce_protocol0", "reduce_protocol2", "reduce_protocol4",
        "reduce_protocol5", "reduce_nested_protocol0", "reduce_nested_protocol2",
        "reduce_nested_protocol4", "reduce_nested_protocol5")


def unsafe_pickle_loads(data):
    """What a plain ``pickle.loads`` of ``data.pkl`` does: runs the payload (liveness check)."""
    import time
    pkl = zipfile.ZipFile(io.BytesIO(data)).read("archive/data.pkl")
    try:
        pickle.loads(pkl)
    except Exception:  # noqa: BLE001 -- the payload ran before whatever failed afterwards
        pass
    time.sleep(0.05)  # subprocess.Popen runs its child asynchronously


def payload_cases(marker):
    """The code-execution payloads, each as data.pkl of an otherwise valid checkpoint."""
    return {name: zip_bytes({"data.pkl": pkl, "data/0": F4})
            for name, pkl in _payloads(marker).items()}


# --- the child's side -------------------------------------------------------------------------
def _tensors(obj):
    """Every tensor reachable from ``obj``, iteratively (the object may be deep or cyclic)."""
    seen, stack, found = set(), [obj], []
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, numtorch.Tensor):
            found.append(x)
        elif isinstance(x, dict):
            stack.extend(x.values())
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
    return found


def _consistency(t):
    """What is wrong with a loaded tensor (its dtype, shape and values against its array)."""
    a = t.detach().numpy()
    want = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32,
            "bool": np.bool_, "float16": np.float16, "uint8": np.uint8, "int8": np.int8,
            "int16": np.int16}.get(str(t.dtype).replace("torch.", ""))
    if want is None or a.dtype != want:
        return f"tensor of dtype {t.dtype} holds a {a.dtype} array"
    if tuple(a.shape) != tuple(t.shape):
        return f"tensor of shape {tuple(t.shape)} holds an array of shape {a.shape}"
    if 0 < a.size <= 1 << 20 and t.dtype.is_floating_point:
        s = float(t.double().sum())
        e = float(a.astype(np.float64).sum())
        if not (s == e or abs(s - e) <= 1e-6 * max(1.0, abs(e)) or (s != s and e != e)):
            return f"sum {s} != its array's {e}"
    return None


def load_case(data, map_location=None):
    """Load ``data`` with numtorch; a summary of what came back (problems listed)."""
    obj = numtorch.load(io.BytesIO(data), map_location=map_location)
    ts = _tensors(obj)
    problems = [p for p in map(_consistency, ts) if p]
    return {"type": type(obj).__name__, "tensors": len(ts), "problems": problems}


def load_case_mapped(data):
    """The same with a callable ``map_location`` (numtorch walks the loaded object then)."""
    return load_case(data, map_location=lambda storage, location: storage)
