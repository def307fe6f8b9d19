"""Checkpoints: round trips, PyTorch interop both ways, the weights_only policy (no code on a
default load, allowlists, the trusted opt-in), atomic save."""
import collections
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

import numtorch as nt

try:
    import torch
except ImportError:
    torch = None


def _eq(a, b):
    return a.dtype is b.dtype and a.shape == b.shape and np.array_equal(a.numpy(), b.numpy())


def test_round_trip_nested_checkpoint(tmp_path):
    model = nt.nn.Sequential(nt.nn.Linear(3, 4), nt.nn.BatchNorm1d(4), nt.nn.Linear(4, 2))
    opt = nt.optim.Adam(model.parameters(), lr=1e-3)
    model(nt.randn(8, 3)).sum().backward()
    opt.step()
    ckpt = {"epoch": 3, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "note": "ok", "betas": (0.9, 0.999), "flags": [True, None, 2 ** 40, -7, 1.5],
            "int": nt.arange(6, dtype=nt.int32).reshape(2, 3).t(), "mask": nt.tensor([True, False])}
    path = tmp_path / "ckpt.pt"
    nt.save(ckpt, path)
    back = nt.load(path)
    assert back["epoch"] == 3 and back["note"] == "ok" and back["betas"] == (0.9, 0.999)
    assert back["flags"] == [True, None, 2 ** 40, -7, 1.5]
    assert list(back["model"].keys()) == list(model.state_dict().keys())
    for k, v in model.state_dict().items():
        assert _eq(back["model"][k], v), k
    assert _eq(back["int"], ckpt["int"]) and _eq(back["mask"], ckpt["mask"])
    assert back["optimizer"]["param_groups"][0]["lr"] == 1e-3


def test_resume_continues_bit_for_bit(tmp_path):
    def make():
        nt.manual_seed(0)
        m = nt.nn.Sequential(nt.nn.Linear(4, 8), nt.nn.ReLU(), nt.nn.Linear(8, 1))
        return m, nt.optim.Adam(m.parameters(), lr=1e-2)

    data = [(nt.randn(16, 4), nt.randn(16, 1)) for _ in range(6)]

    def step(m, o, x, y):
        o.zero_grad()
        ((m(x) - y) ** 2).mean().backward()
        o.step()

    m1, o1 = make()
    for x, y in data:
        step(m1, o1, x, y)
    m2, o2 = make()
    for x, y in data[:3]:
        step(m2, o2, x, y)
    nt.save({"model": m2.state_dict(), "opt": o2.state_dict()}, tmp_path / "c.pt")
    m3, o3 = make()
    ck = nt.load(tmp_path / "c.pt")
    m3.load_state_dict(ck["model"])
    o3.load_state_dict(ck["opt"])
    for x, y in data[3:]:
        step(m3, o3, x, y)
    for a, b in zip(m1.parameters(), m3.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_file_objects(tmp_path):
    buf = io.BytesIO()
    nt.save({"x": nt.ones(3)}, buf)
    buf.seek(0)
    assert _eq(nt.load(buf)["x"], nt.ones(3))


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
def test_pytorch_reads_numtorch_and_numtorch_reads_pytorch(tmp_path):
    m = nt.nn.Linear(3, 2)
    nt.save(m.state_dict(), tmp_path / "nt.pt")
    sd = torch.load(tmp_path / "nt.pt", weights_only=True)
    tm = torch.nn.Linear(3, 2)
    tm.load_state_dict(sd)
    np.testing.assert_array_equal(tm.weight.detach().numpy(), m.weight.detach().numpy())

    tnet = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    opt = torch.optim.SGD(tnet.parameters(), lr=0.1, momentum=0.9)
    tnet(torch.randn(2, 1, 5, 5)).sum().backward()
    opt.step()
    torch.save({"model": tnet.state_dict(), "opt": opt.state_dict()}, tmp_path / "th.pt")
    ck = nt.load(tmp_path / "th.pt")
    net = nt.nn.Sequential(nt.nn.Conv2d(1, 2, 3), nt.nn.BatchNorm2d(2))
    net.load_state_dict(ck["model"])
    for (k, a), (_, b) in zip(net.state_dict().items(), tnet.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    assert ck["opt"]["param_groups"][0]["momentum"] == 0.9


def _zip_with_pickle(path, payload):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_crafted_file_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "ran"

    class Touch:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for evil in (_Evil(), Touch(), {"x": Touch()}):
        path = tmp_path / "evil.pt"
        _zip_with_pickle(path, pickle.dumps(evil, protocol=2))
        with pytest.raises(pickle.UnpicklingError, match="refused"):
            nt.load(path)
    assert not marker.exists()
    # object construction by opcode (NEWOBJ of an allowed name) is refused as well
    _zip_with_pickle(tmp_path / "obj.pt", b"\x80\x02ccollections\nOrderedDict\n)\x81.")
    with pytest.raises(pickle.UnpicklingError):
        nt.load(tmp_path / "obj.pt")


class _Shell:
    """Pickles as ``os.system(command)``: a file that runs a shell command when unpickled."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Point:
    """A user class with instance state (pickled by NEWOBJ + BUILD)."""

    def __init__(self, x, y):
        self.x, self.y = x, y


def _pickled(path):
    with zipfile.ZipFile(path) as z:
        return z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0])


def test_default_load_refuses_code_without_running_it(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    nt.save({"w": nt.ones(2), "x": _Shell(f"touch {marker}")}, path)  # save pickles anything
    name = f"{os.system.__module__}.system"  # posix.system (nt.system on Windows)
    assert nt.serialization.get_unsafe_globals_in_checkpoint(path) == [name]
    with pytest.raises(pickle.UnpicklingError) as e:
        nt.load(path)
    msg = str(e.value)
    assert "Weights only load failed" in msg and name in msg and "weights_only=False" in msg
    with nt.serialization.safe_globals([os.system]):  # os/posix stay blocked, even allowlisted
        with pytest.raises(pickle.UnpicklingError, match=f"{name}.*never allows"):
            nt.load(path)
    monkeypatch.setenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "1")  # PyTorch's override wins
    with pytest.raises(pickle.UnpicklingError, match=name):
        nt.load(path, weights_only=False)
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    with pytest.raises(RuntimeError, match="pickle_module"):
        nt.load(path, pickle_module=pickle)
    if torch is not None:
        with pytest.raises(pickle.UnpicklingError, match=name):
            torch.load(path, weights_only=True)
        assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == [name]
    assert not marker.exists()
    # the payload is live: the documented opt-in for trusted files runs it
    assert nt.load(path, weights_only=False)["x"] == 0 and marker.exists()


def test_objects_and_numpy_arrays_round_trip_with_pytorch(tmp_path):
    base = nt.arange(6.0)
    t = nt.ones(2)
    t.note = "kept"  # a tensor's own attributes are saved, as in PyTorch
    obj = {"a": np.arange(3.0), "i": np.arange(4, dtype=np.int32).reshape(2, 2), "base": base,
           "view": base.reshape(2, 3)[:, 1], "t": t, "shape": nt.Size([2, 3]), "dev":
           nt.device("cpu"), "dt": nt.float64, "raw": b"\x00\xff", "set": {1, 2}, "c": 1 + 2j}
    nt.save(obj, tmp_path / "n.pt")
    with zipfile.ZipFile(tmp_path / "n.pt") as z:  # tensors are storage records, views share
        assert sum("/data/" in n for n in z.namelist()) == 2

    def check(back, tensor=lambda x: x.numpy()):
        np.testing.assert_array_equal(back["a"], obj["a"])
        assert back["i"].dtype == np.int32 and back["i"].tolist() == [[0, 1], [2, 3]]
        assert tensor(back["view"]).tolist() == [1.0, 4.0] and back["t"].note == "kept"
        assert back["raw"] == b"\x00\xff" and back["set"] == {1, 2} and back["c"] == 1 + 2j
        assert list(back["shape"]) == [2, 3] and str(back["dev"]) == "cpu"

    back = nt.load(tmp_path / "n.pt", weights_only=False)
    check(back)
    assert type(back["shape"]) is nt.Size and back["dt"] is nt.float64
    back["base"][1] = -1.0  # the view shares the loaded storage
    assert back["view"].tolist() == [-1.0, 4.0]
    numpy_globals = ["numpy._core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype"]
    assert nt.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "n.pt") == numpy_globals
    with pytest.raises(pickle.UnpicklingError, match=r"numpy\._core\.multiarray\._reconstruct"):
        nt.load(tmp_path / "n.pt")
    allow = [np._core.multiarray._reconstruct, np.ndarray, np.dtype, np.dtypes.Float64DType,
             np.dtypes.Int32DType]  # (BUILD sets a NumPy dtype's state: its class too)
    with nt.serialization.safe_globals(allow):
        check(nt.load(tmp_path / "n.pt"))
    if torch is not None:
        assert sorted(torch.serialization.get_unsafe_globals_in_checkpoint(
            tmp_path / "n.pt")) == sorted(numpy_globals)
        check(torch.load(tmp_path / "n.pt", weights_only=False), lambda x: x.numpy())
        with torch.serialization.safe_globals(allow):
            check(torch.load(tmp_path / "n.pt", weights_only=True))
        tobj = {**obj, "base": torch.arange(6.0), "shape": torch.Size([2, 3]),
                "dev": torch.device("cpu"), "dt": torch.float64}
        tobj["view"] = tobj["base"].reshape(2, 3)[:, 1]
        tobj["t"] = torch.ones(2)
        tobj["t"].note = "kept"
        torch.save(tobj, tmp_path / "t.pt")
        back = nt.load(tmp_path / "t.pt", weights_only=False)
        check(back)
        assert type(back["view"]) is nt.Tensor and back["dt"] is nt.float64
        with pytest.raises(pickle.UnpicklingError, match="numpy"):
            nt.load(tmp_path / "t.pt")


def test_whole_module_and_optimizer_round_trip(tmp_path):
    nt.manual_seed(0)
    model = nt.nn.Sequential(nt.nn.Linear(3, 4), nt.nn.BatchNorm1d(4), nt.nn.ReLU(),
                             nt.nn.Linear(4, 2))
    opt = nt.optim.Adam(model.parameters(), lr=1e-2)
    x = nt.randn(8, 3)

    def step(m, o):
        o.zero_grad()
        m(x).pow(2).sum().backward()
        o.step()

    step(model, opt)
    nt.save({"model": model, "opt": opt}, tmp_path / "whole.pt", pickle_protocol=4)
    back = nt.load(tmp_path / "whole.pt", weights_only=False)
    m2, o2 = back["model"], back["opt"]
    assert type(m2) is nt.nn.Sequential and all(type(p) is nt.nn.Parameter
                                                 for p in m2.parameters())
    assert o2.param_groups[0]["params"][0] is next(m2.parameters())  # one object, as saved
    model.eval(), m2.eval()
    np.testing.assert_array_equal(m2(x).detach().numpy(), model(x).detach().numpy())
    model.train(), m2.train()
    step(model, opt), step(m2, o2)  # training resumes from the saved optimizer state
    for a, b in zip(model.parameters(), m2.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())

    with pytest.raises(pickle.UnpicklingError,
                       match=r"numtorch\.nn\.modules\.container\.Sequential(.|\n)*weights_only="
                             r"False(.|\n)*add_safe_globals"):
        nt.load(tmp_path / "whole.pt")
    unsafe = nt.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "whole.pt")
    assert {"numtorch.nn.modules.linear.Linear", "numtorch.optim.adam.Adam"} <= set(unsafe)
    # an allowlisted class is created (NEWOBJ) and given its state (BUILD), as in PyTorch
    nt.save(model[0], tmp_path / "lin.pt")
    assert nt.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "lin.pt") == \
        ["numtorch.nn.modules.linear.Linear"]
    with nt.serialization.safe_globals([nt.nn.Linear]):
        lin = nt.load(tmp_path / "lin.pt", map_location=lambda t, location: t)
    assert type(lin.weight) is nt.nn.Parameter
    np.testing.assert_array_equal(lin(x).detach().numpy(), model[0](x).detach().numpy())


def test_safe_globals_allowlist(tmp_path):
    nt.save({"p": _Point(nt.ones(2), [1, "a"])}, tmp_path / "p.pt")
    full = f"{_Point.__module__}._Point"
    assert nt.serialization.get_safe_globals() == []
    with pytest.raises(pickle.UnpicklingError, match=full + r"(.|\n)*safe_globals"):
        nt.load(tmp_path / "p.pt")
    nt.serialization.add_safe_globals([_Point])
    try:
        assert nt.serialization.get_safe_globals() == [_Point]
        assert nt.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "p.pt") == []
        with nt.serialization.safe_globals([_Point, np.ndarray]):  # restores what was there
            assert nt.serialization.get_safe_globals() == [_Point, np.ndarray]
        assert nt.serialization.get_safe_globals() == [_Point]
        p = nt.load(tmp_path / "p.pt")["p"]
        assert type(p) is _Point and p.x.tolist() == [1.0, 1.0] and p.y == [1, "a"]
    finally:
        nt.serialization.clear_safe_globals()
    assert nt.serialization.get_safe_globals() == []
    with nt.serialization.safe_globals([(_Point, full)]):  # (object, name in the file)
        assert type(nt.load(tmp_path / "p.pt")["p"]) is _Point
        if torch is not None:  # PyTorch reads the same bytes the same way
            with torch.serialization.safe_globals([_Point]):
                assert torch.load(tmp_path / "p.pt", weights_only=True)["p"].y == [1, "a"]
    with pytest.raises(ValueError):
        nt.serialization.add_safe_globals([(_Point, full, 1)])
    with pytest.raises(TypeError):
        nt.serialization.add_safe_globals([(_Point, 3)])
    with pytest.raises(TypeError):
        nt.serialization.add_safe_globals([5])
    with pytest.raises(ValueError, match="checkpoint"):
        nt.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(b"not a zip"))


def test_plain_checkpoints_keep_their_format(tmp_path):
    import numtorch.serialization as S
    sd = nt.nn.Linear(3, 2).state_dict()
    nt.save(sd, tmp_path / "sd.pt")
    assert _pickled(tmp_path / "sd.pt") == S._Writer().dump(sd)  # written opcode by opcode
    nt.save({"shape": nt.Size([2])}, tmp_path / "s.pt")  # a non-plain type: pickled
    assert type(nt.load(tmp_path / "s.pt")["shape"]) is nt.Size


def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    nt.save({"v": nt.tensor([1.0])}, path)

    def boom(*a, **k):
        raise KeyboardInterrupt
    import numtorch.serialization as S
    monkeypatch.setattr(S, "_write_zip", boom)
    with pytest.raises(KeyboardInterrupt):
        nt.save({"v": nt.tensor([2.0])}, path)
    monkeypatch.undo()
    assert nt.load(path)["v"].item() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left


def test_truncated_and_corrupt_files_raise_clearly(tmp_path):
    path = tmp_path / "ok.pt"
    nt.save({"w": nt.randn(100)}, path)
    raw = path.read_bytes()
    for n in (0, 10, len(raw) // 2, len(raw) - 30):
        bad = tmp_path / f"bad{n}.pt"
        bad.write_bytes(raw[:n])
        with pytest.raises(RuntimeError, match="corrupt|truncated|not a checkpoint"):
            nt.load(bad)
    with pytest.raises(FileNotFoundError):
        nt.load(tmp_path / "missing.pt")


def test_storage_bounds_are_checked(tmp_path):
    # a tensor whose size claims more elements than its storage holds must not read past it
    import numtorch.serialization as S
    w = S._Writer()
    data = w.dump({"t": nt.ones(4)})
    patched = data.replace(b"K\x00(K\x04t", b"K\x00(K\x40t")  # offset 0, size (4,) -> (64,)
    assert patched != data
    data = patched
    with zipfile.ZipFile(tmp_path / "big.pt", "w") as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/data/0", w.storages[0][1])
    with pytest.raises((pickle.UnpicklingError, RuntimeError), match="past its storage|corrupt"):
        nt.load(tmp_path / "big.pt")


def test_map_location(tmp_path):
    nt.save({"x": nt.ones(2)}, tmp_path / "m.pt")
    assert nt.load(tmp_path / "m.pt", map_location="cpu")["x"].device.type == "cpu"
    assert nt.load(tmp_path / "m.pt", map_location=lambda s, loc: s)["x"].shape == (2,)


def test_zero_dim_tensors_keep_their_shape(tmp_path):
    nt.save({"s": nt.tensor(3.5), "i": nt.tensor(7)}, tmp_path / "z.pt")
    back = nt.load(tmp_path / "z.pt")
    assert back["s"].shape == () and back["s"].item() == 3.5 and back["i"].shape == ()


# --------------------------------------------------------------------------------------------
# the format before PyTorch 1.6 (a pickle stream, then the storages' bytes)
# --------------------------------------------------------------------------------------------
def _named(module, name):
    """A class that pickles as the global ``module.name`` (by ``_GlobalsPickler``)."""
    return type(name, (), {"__module__": module, "__qualname__": name, "_as_global": True})


class _GlobalsPickler(pickle._Pickler):
    """Writes ``_named`` stand-ins as the globals they name (whatever is importable here)."""

    def save_global(self, obj, name=None):
        if getattr(obj, "_as_global", False):
            self.write(pickle.GLOBAL + f"{obj.__module__}\n{obj.__qualname__}\n".encode())
            self.memoize(obj)
            return
        super().save_global(obj, name)


_FLOAT_STORAGE = _named("torch", "FloatStorage")


class _LegacyTensor:
    """Pickles as torch's ``_rebuild_tensor_v2(storage, offset, size, stride, False, {})``."""

    def __init__(self, key, offset, size, stride):
        self.key, self.offset, self.size, self.stride = key, offset, size, stride

    def __reduce__(self):
        rebuild = _named("torch._utils", "_rebuild_tensor_v2")
        return (rebuild, (("storage", self.key), self.offset, self.size, self.stride, False, {}))


def _legacy_file(obj, storages, keys=None, counts=None, magic=0x1950a86a20f9469cfc6c):
    """The bytes of a checkpoint in the old format, written by hand: ``storages`` maps keys to
    float32 arrays; ``keys``/``counts`` override the key list and the records' element counts
    (to make broken files)."""
    buf = io.BytesIO()
    for head in (magic, 1001, {"protocol_version": 1001, "little_endian": True,
                               "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(head, buf, protocol=2)

    class P(_GlobalsPickler):
        def persistent_id(self, obj):
            if type(obj) is tuple and len(obj) == 2 and obj[0] == "storage":
                return ("storage", _FLOAT_STORAGE, obj[1], "cpu", storages[obj[1]].size, None)
            return None

    P(buf, protocol=2).dump(obj)
    keys = sorted(storages) if keys is None else keys
    pickle.dump(keys, buf, protocol=2)
    for k in keys:
        n = storages[k].size if counts is None else counts[k]
        buf.write(np.int64(n).tobytes() + storages[k].astype(np.float32).tobytes())
    return buf.getvalue()


def test_old_format_written_by_hand():
    a, b = np.arange(6, dtype=np.float32), np.full(3, 7, np.float32)
    raw = _legacy_file({"w": _LegacyTensor("0", 0, (2, 3), (3, 1)),
                        "v": _LegacyTensor("0", 2, (2,), (2,)), "b": _LegacyTensor("1", 0, (3,), (1,)),
                        "n": 5}, {"0": a, "1": b})
    got = nt.load(io.BytesIO(raw))
    assert got["w"].tolist() == [[0, 1, 2], [3, 4, 5]] and got["n"] == 5
    assert got["v"].tolist() == [2, 4] and got["b"].tolist() == [7, 7, 7]
    got["w"][0, 2] = 100.0  # views of one storage share it
    assert got["v"].tolist() == [100, 4]
    assert nt.load(io.BytesIO(raw), weights_only=False)["b"].tolist() == [7, 7, 7]
    # broken files: a clear RuntimeError, never a read past the file
    bad = [raw[:len(raw) - 5], raw[:40],
           _legacy_file({"w": _LegacyTensor("0", 0, (6,), (1,))}, {"0": a}, counts={"0": 9}),
           _legacy_file({"w": _LegacyTensor("0", 0, (6,), (1,))}, {"0": a, "1": b}, keys=["1"]),
           _legacy_file({"w": 1}, {}, magic=123)]
    for data in bad:
        with pytest.raises(RuntimeError, match="corrupt|truncated"):
            nt.load(io.BytesIO(data))


def test_old_format_refuses_code_without_running_it(tmp_path):
    marker = tmp_path / "ran"

    class Touch:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    raw = _legacy_file({"w": _LegacyTensor("0", 0, (2,), (1,)), "x": Touch()},
                       {"0": np.ones(2, np.float32)})
    with pytest.raises(pickle.UnpicklingError, match=r"io\.open"):
        nt.load(io.BytesIO(raw))  # neither the probing pass nor the load ran it
    assert not marker.exists()
    nt.load(io.BytesIO(raw), weights_only=False)  # the opt-in for trusted files runs it, once
    assert marker.exists()


@pytest.mark.skipif(torch is None, reason="needs PyTorch to write the old format")
def test_old_format_written_by_pytorch(tmp_path):
    tnet = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(18, 3))
    x = torch.arange(10.0)
    obj = {"model": tnet.state_dict(), "half": torch.randn(3).half(), "ints": torch.arange(4),
           "mask": torch.tensor([True, False]), "view": x[2:5], "base": x, "step": 7}
    path = tmp_path / "old.pth"
    torch.save(obj, path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:2] == b"\x80\x02"  # a pickle, not a zip
    for weights_only in (True, False):
        got = nt.load(path, weights_only=weights_only)
        net = nt.nn.Sequential(nt.nn.Conv2d(1, 2, 3), nt.nn.BatchNorm2d(2), nt.nn.Flatten(),
                               nt.nn.Linear(18, 3))
        net.load_state_dict(got["model"])
        for k, v in tnet.state_dict().items():
            np.testing.assert_array_equal(net.state_dict()[k].numpy(), v.numpy(), err_msg=k)
        for k in ("half", "ints", "mask", "view"):
            assert got[k].dtype == getattr(nt, str(obj[k].dtype).split(".")[1])
            np.testing.assert_array_equal(got[k].numpy(), obj[k].numpy())
        got["base"][3] = -1.0
        assert got["view"].tolist() == [2.0, -1.0, 4.0] and got["step"] == 7
    assert nt.load(path, map_location="cpu")["model"]["3.bias"].device == nt.device("cpu")
