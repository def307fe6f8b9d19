"""Checkpoint hardening (issue 13): storages keyed by real memory, bounded and validated
loading, file modes, temporary files after ``kill -9``, failed writes.

Crafted files are written with a small opcode emitter of this file (not numtorch's writer), so
the reader is tested against input its own writer would never produce."""
import collections
import errno
import io
import os
import random
import resource
import signal
import socket
import stat
import struct
import subprocess
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import numtorch as nt
import numtorch.serialization as S

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (the format oracle) not installed")


# --- a minimal pickle emitter for crafted checkpoints --------------------------------------------
def _str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _int(v):
    n = (v.bit_length() + 8) // 8
    return b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)


def _glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _tuple(items):
    return b"(" + b"".join(items) + b"t"


def _record(key, numel, offset, size, stride, storage="FloatStorage", storage_op=None):
    """A ``_rebuild_tensor_v2`` call as torch.save writes it; fields may be any opcodes."""
    pid = storage_op or (_tuple([_str("storage"), _glob("torch", storage), _str(key), _str("cpu"),
                                 _int(numel)]) + b"Q")
    field = (lambda v: v if isinstance(v, bytes) else _int(v))
    return (_glob("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + field(offset) +
            _tuple([field(n) for n in size]) + _tuple([field(s) for s in stride]) + b"\x89" +
            _glob("collections", "OrderedDict") + b")R" + b"tR")


def _write_checkpoint(path, records, storages):
    pkl = b"\x80\x02](" + b"".join(records) + b"e."
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        for key, raw in storages.items():
            z.writestr(f"archive/data/{key}", raw)
        z.writestr("archive/version", "3\n")


def _peak_bytes(fn):
    """(result, peak bytes traced while ``fn`` ran): NumPy reports its buffers to tracemalloc."""
    tracemalloc.start()
    try:
        r = fn()
        return r, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- 1. storages follow the real memory ----------------------------------------------------------
def test_parameters_keep_their_own_values(tmp_path):
    ps = [nt.nn.Parameter(nt.full((2,), float(i))) for i in range(4)]
    nt.save(ps, tmp_path / "p.pt")
    back = nt.load(tmp_path / "p.pt")
    assert [type(p) for p in back] == [nt.nn.Parameter] * 4
    assert [p.tolist() for p in back] == [[float(i)] * 2 for i in range(4)]
    assert all(p.requires_grad for p in back)

    m = nt.nn.Sequential(nt.nn.Linear(2, 3), nt.nn.Linear(3, 2))
    sd = m.state_dict(keep_vars=True)
    nt.save(sd, tmp_path / "m.pt")
    back = nt.load(tmp_path / "m.pt")
    assert list(back) == list(sd)
    for k, v in sd.items():
        assert type(back[k]) is nt.nn.Parameter and back[k].requires_grad, k
        np.testing.assert_array_equal(back[k].detach().numpy(), v.detach().numpy(), err_msg=k)
    if torch is not None:  # PyTorch loads them as Parameters too
        tb = torch.load(tmp_path / "m.pt", weights_only=True)
        assert all(type(v) is torch.nn.Parameter for v in tb.values())
        tp = torch.load(tmp_path / "p.pt", weights_only=True)
        assert [p.tolist() for p in tp] == [[float(i)] * 2 for i in range(4)]


def test_views_share_a_storage_and_distinct_tensors_never_do(tmp_path):
    base = nt.arange(12.0)
    other = nt.arange(12.0) + 100
    p = nt.nn.Parameter(nt.ones(3))
    objs = [base[2:5], base[::2], base.reshape(3, 4).t(), base[3:4].expand(2, 3), other, base,
            base, p, p.data]
    nt.save(objs, tmp_path / "v.pt")
    with zipfile.ZipFile(tmp_path / "v.pt") as z:  # base (and its views), other, p
        assert sum("/data/" in n for n in z.namelist()) == 3
    back = nt.load(tmp_path / "v.pt")
    for a, b in zip(objs, back):
        assert a.shape == b.shape and a.stride() == b.stride() and a.tolist() == b.tolist()
    assert back[5] is back[6]  # one tensor saved twice is one object again (pickle's memo)
    back[5][3] = -1.0  # writes through the shared storage, as in PyTorch
    assert back[0].tolist() == [2.0, -1.0, 4.0] and back[3].tolist() == [[-1.0] * 3] * 2
    assert back[4].tolist() == (np.arange(12.0) + 100).tolist()  # distinct: untouched
    back[8][0] = 7.0
    assert back[7][0].item() == 7.0  # a Parameter and its .data share memory
    if torch is not None:
        tb = torch.load(tmp_path / "v.pt", weights_only=True)
        ptr = tb[5].untyped_storage().data_ptr()
        assert all(t.untyped_storage().data_ptr() == ptr for t in tb[:4])
        assert tb[4].untyped_storage().data_ptr() != ptr
        assert [t.storage_offset() for t in tb[:4]] == [2, 0, 0, 3]


def test_aliases_of_different_dtypes_are_refused_like_pytorch(tmp_path):
    a = nt.arange(4.0)
    with pytest.raises(RuntimeError, match="view the same data as different types"):
        nt.save([a, a.view(nt.int32)], tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_state_dict_metadata_survives_both_ways(tmp_path):
    m = nt.nn.Sequential(nt.nn.Linear(2, 3), nt.nn.ReLU(), nt.nn.Linear(3, 1))
    sd = m.state_dict()
    assert sd._metadata == collections.OrderedDict(
        [("", {"version": 1}), ("0", {"version": 1}), ("1", {"version": 1}),
         ("2", {"version": 1})])
    nt.save(sd, tmp_path / "n.pt")
    assert nt.load(tmp_path / "n.pt")._metadata == sd._metadata
    if torch is None:
        return
    tm = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    assert torch.load(tmp_path / "n.pt", weights_only=True)._metadata == \
        tm.state_dict()._metadata
    tbn = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    torch.save(tbn.state_dict(), tmp_path / "t.pt")
    back = nt.load(tmp_path / "t.pt")
    assert back._metadata == tbn.state_dict()._metadata  # BatchNorm's version 2 included
    nt.save(back, tmp_path / "t2.pt")
    again = torch.load(tmp_path / "t2.pt", weights_only=True)
    assert again._metadata == tbn.state_dict()._metadata
    tbn.load_state_dict(again)


# --- 2. loading is bounded and validated ---------------------------------------------------------
def test_stride_zero_tensor_stays_a_view(tmp_path):
    big = nt.zeros(1).expand(2 ** 31)  # 8 GiB if materialised
    nt.save({"big": big}, tmp_path / "b.pt")
    assert os.path.getsize(tmp_path / "b.pt") < 4096
    t, peak = _peak_bytes(lambda: nt.load(tmp_path / "b.pt")["big"])
    assert t.shape == (2 ** 31,) and t.stride() == (0,) and peak < 1 << 20
    assert t[2 ** 31 - 1].item() == 0.0
    # the file: 1 KiB, one float, a view of 2**29 elements with stride 0
    _write_checkpoint(tmp_path / "c.pt", [_record("0", 1, 0, [2 ** 29], [0])],
                      {"0": struct.pack("<f", 2.5)})
    assert os.path.getsize(tmp_path / "c.pt") < 1024
    (t,), peak = _peak_bytes(lambda: nt.load(tmp_path / "c.pt"))
    assert t.shape == (2 ** 29,) and t.stride() == (0,) and peak < 1 << 20
    assert t[12345].item() == 2.5
    if torch is not None:
        for f in ("b.pt", "c.pt"):
            assert torch.load(tmp_path / f, weights_only=True).__class__ in (dict, list)


_BAD = [  # (records, storages, what the error says)
    ([_record("0", 4, 4, [1], [1])], {"0": bytes(16)}, "reads past its storage of 4 elements"),
    ([_record("0", 4, 0, [3], [2])], {"0": bytes(16)}, "reads past its storage"),
    ([_record("0", 4, 0, [2, 2], [2 ** 40, 1])], {"0": bytes(16)}, "reads past its storage"),
    ([_record("0", 4, 0, [2], [-1])], {"0": bytes(16)}, "negative size, stride or offset"),
    ([_record("0", 4, -1, [2], [1])], {"0": bytes(16)}, "negative size, stride or offset"),
    ([_record("0", 4, 0, [2, 2], [1])], {"0": bytes(16)}, "size [2, 2] and stride [1]"),
    ([_record("0", 4, 0, [_str("a")], [1])], {"0": bytes(16)}, "non-integer size"),
    ([_record("0", 4, b"G" + struct.pack(">d", 0.0), [1], [1])], {"0": bytes(16)},
     "non-integer storage offset"),
    ([_record("0", 2 ** 40, 0, [2 ** 40, 2 ** 40], [0, 0])], {"0": bytes(16)},
     "holds 16 bytes, expected"),
    ([_record("0", 8, 0, [2], [1])], {"0": bytes(16)}, "holds 16 bytes, expected 32"),
    ([_record("9", 4, 0, [2], [1])], {"0": bytes(16)}, "lacks the record archive/data/9"),
    ([_record("0", 4, 0, [2], [1]), _record("0", 4, 0, [2], [1], "IntStorage")],
     {"0": bytes(16)}, "used with two types or sizes"),
    ([_record("0", 1, 0, [2 ** 40, 2 ** 40], [0, 0])], {"0": bytes(4)}, "too large to address"),
    ([_record("0", 4, 0, [2], [1], storage_op=_str("not a storage"))], {"0": bytes(16)},
     "without a storage"),
]


@pytest.mark.parametrize("records,storages,message", _BAD)
def test_bad_tensor_records_are_refused_with_a_clear_error(tmp_path, records, storages, message):
    path = tmp_path / "bad.pt"
    _write_checkpoint(path, records, storages)
    with pytest.raises(RuntimeError, match="corrupt") as e:
        nt.load(path)
    assert message in str(e.value) and "bad.pt" in str(e.value)


def _patch_entry(raw, name, size=None, offset_of=None):
    """Rewrite the central-directory entry of ``name``: its sizes, and/or point it at the
    local header of another entry (what a zip bomb of overlapping entries does)."""
    z = zipfile.ZipFile(io.BytesIO(raw))
    raw = bytearray(raw)
    pos = raw.find(b"PK\x01\x02")
    while pos >= 0:
        n = struct.unpack_from("<H", raw, pos + 28)[0]
        if raw[pos + 46:pos + 46 + n].decode() == name:
            if size is not None:
                struct.pack_into("<II", raw, pos + 20, size, size)
            if offset_of is not None:
                struct.pack_into("<I", raw, pos + 42, z.getinfo(offset_of).header_offset)
            return bytes(raw)
        pos = raw.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(name)


def test_zip_headers_cannot_make_load_allocate_what_the_file_does_not_hold(tmp_path):
    # a header that claims 1 GiB for a 16-byte record, with a pickle that agrees
    path = tmp_path / "lie.pt"
    _write_checkpoint(path, [_record("0", 2 ** 28, 0, [2 ** 28], [1])], {"0": bytes(16)})
    path.write_bytes(_patch_entry(path.read_bytes(), "archive/data/0", size=2 ** 30))
    tracemalloc.start()
    try:
        with pytest.raises(RuntimeError, match="claims 1073741824 bytes that the file does not"):
            nt.load(path)
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()
    # two entries over the same 1 MiB of the file: each fits, together they claim twice the file
    path = tmp_path / "overlap.pt"
    n = 1 << 18
    _write_checkpoint(path, [_record("0", n, 0, [n], [1]), _record("1", n, 0, [n], [1])],
                      {"0": bytes(4 * n), "1": b""})
    path.write_bytes(_patch_entry(_patch_entry(path.read_bytes(), "archive/data/1", size=4 * n),
                                  "archive/data/1", offset_of="archive/data/0"))
    tracemalloc.start()
    try:
        with pytest.raises(RuntimeError, match="does not hold"):
            nt.load(path)
        assert tracemalloc.get_traced_memory()[1] < 3 * 4 * n
    finally:
        tracemalloc.stop()


def test_deflated_records_load_and_other_methods_are_refused(tmp_path):
    nt.save({"w": nt.arange(1000.0)}, tmp_path / "s.pt")
    with zipfile.ZipFile(tmp_path / "s.pt") as zin, \
            zipfile.ZipFile(tmp_path / "d.pt", "w", zipfile.ZIP_DEFLATED) as zd, \
            zipfile.ZipFile(tmp_path / "b.pt", "w", zipfile.ZIP_BZIP2) as zb:
        for name in zin.namelist():
            zd.writestr(name, zin.read(name))
            zb.writestr(name, zin.read(name))
    assert nt.load(tmp_path / "d.pt")["w"].tolist() == list(np.arange(1000.0))
    with pytest.raises(RuntimeError, match="compression method 12"):
        nt.load(tmp_path / "b.pt")


# --- 3. files on disk: modes, temporary files, kill -9, failed writes ----------------------------
def test_file_mode_follows_the_umask_and_an_existing_file(tmp_path):
    old = os.umask(0o022)
    try:
        nt.save({"x": nt.ones(1)}, tmp_path / "a.pt")
        assert stat.S_IMODE(os.stat(tmp_path / "a.pt").st_mode) == 0o644
        os.umask(0o077)
        nt.save({"x": nt.ones(1)}, tmp_path / "b.pt")
        assert stat.S_IMODE(os.stat(tmp_path / "b.pt").st_mode) == 0o600
        os.chmod(tmp_path / "a.pt", 0o640)  # overwriting keeps the file's mode, as open() does
        nt.save({"x": nt.zeros(1)}, tmp_path / "a.pt")
        assert stat.S_IMODE(os.stat(tmp_path / "a.pt").st_mode) == 0o640
    finally:
        os.umask(old)
    os.symlink(tmp_path / "a.pt", tmp_path / "link.pt")  # saved through the link, as open() does
    nt.save({"x": nt.full((1,), 5.0)}, tmp_path / "link.pt")
    assert os.path.islink(tmp_path / "link.pt") and nt.load(tmp_path / "a.pt")["x"].item() == 5.0


def _partials(folder):
    return sorted(p.name for p in folder.iterdir() if ".numtorch-partial-" in p.name)


def test_kill_9_during_save_leaves_a_whole_checkpoint_and_no_litter(tmp_path):
    path = tmp_path / "ckpt.pt"
    w = nt.arange(2 ** 22, dtype=nt.float32)  # 16 MiB
    expect = w.numpy().copy()
    t0 = time.monotonic()
    nt.save({"w": w, "step": -1}, tmp_path / "probe.pt")
    dur = time.monotonic() - t0
    rng = random.Random(13)
    seen = 0
    for k in range(5):
        pid = os.fork()
        if pid == 0:  # the child saves in a loop until it is killed
            try:
                step = 0
                while True:
                    nt.save({"w": w, "step": step}, path)
                    step += 1
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.3, 2.5) * dur)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        left = _partials(tmp_path)
        assert len(left) <= 1, left  # the next save removed the previous child's partial file
        seen += len(left)
        if path.exists():  # absent (killed before the first rename) or complete
            ck = nt.load(path)
            assert ck["step"] >= 0 and np.array_equal(ck["w"].numpy(), expect)
    assert seen >= 1  # kills did land mid-write (the temporary file is there most of the time)
    assert all(f"-{os.getpid()}-" not in n for n in _partials(tmp_path))
    nt.save({"w": w[:4], "step": 99}, path)
    assert _partials(tmp_path) == [] and nt.load(path)["step"] == 99


def test_only_stale_partial_files_of_this_host_are_removed(tmp_path):
    path = tmp_path / "c.pt"
    prefix = S._partial_prefix(str(path))
    sleeper = subprocess.Popen(["sleep", "60"])
    done = subprocess.Popen(["true"])
    done.wait()
    try:
        live = tmp_path / f"{prefix}{sleeper.pid}-abc123"
        dead = tmp_path / f"{prefix}{done.pid}-abc123"
        other_host = tmp_path / f"c.pt.numtorch-partial-not{socket.gethostname()}x-{done.pid}-abc"
        for p in (live, dead, other_host):
            p.write_bytes(b"partial")
        nt.save({"x": nt.ones(1)}, path)
        assert live.exists() and other_host.exists() and not dead.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    nt.save({"x": nt.ones(1)}, path)
    assert not live.exists() and other_host.exists()


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    nt.save({"v": nt.tensor([1.0])}, path)
    big = nt.zeros(1 << 20)  # 4 MiB
    pid = os.fork()
    if pid == 0:  # a real write error from the kernel: the file may not grow past 1 MiB
        code = 99
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
            nt.save({"v": big}, path)
            code = 0
        except OSError as e:
            code = e.errno
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == errno.EFBIG
    assert nt.load(path)["v"].tolist() == [1.0] and _partials(tmp_path) == []

    def full(fd):  # a disk that fills up when the data is flushed
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as e:
        nt.save({"v": nt.tensor([2.0])}, path)
    monkeypatch.undo()
    assert e.value.errno == errno.ENOSPC
    assert nt.load(path)["v"].tolist() == [1.0] and _partials(tmp_path) == []
