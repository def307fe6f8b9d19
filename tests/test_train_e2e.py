"""End to end: the example trains its CNN on IDX files written by the test and learns."""
import gzip
import os
import pathlib
import struct
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
REAL = pathlib.Path("/usr/share/datasets/fashion-mnist")


def _write_idx(path, arr):
    magic = {np.uint8: 0x08}[arr.dtype.type] << 8 | arr.ndim
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    nd = raw[3]
    shape = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * nd).reshape(shape)


def _dataset(tmp, n_train, n_test):
    """A slice of real Fashion-MNIST when installed, else images with class-specific patterns."""
    if (REAL / "train-images-idx3-ubyte.gz").exists():
        xtr = _read_idx(REAL / "train-images-idx3-ubyte.gz")[:n_train]
        ytr = _read_idx(REAL / "train-labels-idx1-ubyte.gz")[:n_train]
        xte = _read_idx(REAL / "t10k-images-idx3-ubyte.gz")[:n_test]
        yte = _read_idx(REAL / "t10k-labels-idx1-ubyte.gz")[:n_test]
    else:
        rng = np.random.default_rng(0)

        def make(n):
            y = rng.integers(0, 10, n).astype(np.uint8)
            x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
            for i, c in enumerate(y):  # a bright bar whose position encodes the class
                x[i, 2 + 2 * c:5 + 2 * c, 4:24] = 220
            return x, y
        (xtr, ytr), (xte, yte) = make(n_train), make(n_test)
    for name, arr in (("train-images-idx3-ubyte.gz", xtr), ("train-labels-idx1-ubyte.gz", ytr),
                      ("t10k-images-idx3-ubyte.gz", xte), ("t10k-labels-idx1-ubyte.gz", yte)):
        _write_idx(tmp / name, np.ascontiguousarray(arr))


@pytest.mark.slow
def test_cnn_learns_on_a_slice(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import train_fashion_mnist as ex
    finally:
        sys.path.pop(0)
    _dataset(tmp_path, 1536, 512)
    out = tmp_path / "run"
    args = ["--data", str(tmp_path), "--epochs", "2", "--batch-size", "64", "--out", str(out),
            "--no-progress", "--seed", "1"]
    acc = ex.main(args)
    log = capsys.readouterr().out
    accs = [float(line.split("test accuracy ")[1].split(",")[0])
            for line in log.splitlines() if "test accuracy" in line]
    losses = [float(line.split("test loss ")[1].split(",")[0])
              for line in log.splitlines() if "test loss" in line]
    assert len(accs) == 2 and abs(acc - accs[-1]) < 1e-4  # the log rounds to 4 places
    assert accs[-1] > 0.6, log            # chance is 0.1
    assert losses[-1] < losses[0] < 2.3, log  # log(10) = 2.30 at chance
    assert (out / "checkpoint.pt").exists()
    # resuming for one more epoch starts from the saved epoch
    acc3 = ex.main(args[:3] + ["3"] + args[4:] + ["--resume"])
    assert "resumed from" in capsys.readouterr().out and acc3 > 0.6
