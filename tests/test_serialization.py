"""Checkpoints: round trips, PyTorch interop both ways, no code on load, atomic save."""
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


def test_save_refuses_arbitrary_objects(tmp_path):
    with pytest.raises(TypeError, match="can't save an object of type"):
        nt.save({"f": _Evil()}, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


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
