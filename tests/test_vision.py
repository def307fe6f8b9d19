"""numtorch.vision: IDX datasets (MNIST, FashionMNIST), download against a local server,
and transforms."""
import functools
import gzip
import hashlib
import http.server
import os
import struct
import threading

import numpy as np
import pytest

import numtorch
from numtorch.utils.data import DataLoader
from numtorch.vision import datasets, transforms

DEBIAN_FMNIST = "/usr/share/datasets/fashion-mnist"


def idx_bytes(arr):
    arr = np.asarray(arr)
    code = {np.uint8: 0x08, np.int32: 0x0C, np.float32: 0x0D}[arr.dtype.type]
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def make_split(n, seed):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, n).astype(np.uint8))


def write_dataset(folder, gz, n_train=7, n_test=3):
    """IDX files for both splits in ``folder``; returns {split: (images, labels)}."""
    os.makedirs(folder, exist_ok=True)
    out = {}
    for split, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        images, labels = make_split(n, seed)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = os.path.join(folder, f"{split}-{kind}-ubyte")
            data = idx_bytes(arr)
            if gz:
                with gzip.open(name + ".gz", "wb") as f:
                    f.write(data)
            else:
                with open(name, "wb") as f:
                    f.write(data)
        out[split] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("cls", [datasets.MNIST, datasets.FashionMNIST])
def test_reads_torchvision_layout(tmp_path, gz, cls):
    ref = write_dataset(tmp_path / cls.__name__ / "raw", gz)
    for train, split in ((True, "train"), (False, "t10k")):
        ds = cls(str(tmp_path), train=train)
        images, labels = ref[split]
        assert len(ds) == len(images)
        img, target = ds[1]
        assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.shape == (28, 28)
        np.testing.assert_array_equal(img, images[1])
        assert isinstance(target, int) and target == labels[1]
        assert ds.data.dtype == numtorch.uint8 and tuple(ds.data.shape) == images.shape
        assert ds.targets.dtype == numtorch.int64 and ds.targets.tolist() == labels.tolist()
        assert len(ds.classes) == 10
    assert datasets.FashionMNIST.classes[0] == "T-shirt/top"


def test_reads_flat_folder_and_transforms(tmp_path):
    ref = write_dataset(tmp_path, gz=True)
    ds = datasets.FashionMNIST(tmp_path, transform=transforms.ToTensor(),
                               target_transform=lambda y: y + 100)
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and x.dtype == numtorch.float32
    np.testing.assert_allclose(x.numpy()[0], ref["train"][0][0] / 255.0, rtol=1e-6)
    assert y == ref["train"][1][0] + 100


def test_loader_over_dataset(tmp_path):
    ref = write_dataset(tmp_path / "MNIST" / "raw", gz=False, n_train=10)
    plain = datasets.MNIST(tmp_path)
    (xb, yb), = list(DataLoader(plain, batch_size=10))
    assert xb.dtype == numtorch.uint8 and xb.shape == (10, 28, 28)
    np.testing.assert_array_equal(xb.numpy(), ref["train"][0])
    assert yb.tolist() == ref["train"][1].tolist()
    ds = datasets.MNIST(tmp_path, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]))
    batches = list(DataLoader(ds, batch_size=4, num_workers=2, timeout=60))
    assert [tuple(b[0].shape) for b in batches] == [(4, 1, 28, 28), (4, 1, 28, 28), (2, 1, 28, 28)]
    want = (ref["train"][0][:4] / 255.0 - 0.1307) / 0.3081
    np.testing.assert_allclose(batches[0][0].numpy()[:, 0], want, rtol=1e-5, atol=1e-5)


def test_missing_files_error(tmp_path):
    with pytest.raises(RuntimeError, match="Dataset not found. You can use download=True") as e:
        datasets.MNIST(tmp_path)
    assert "train-images-idx3-ubyte" in str(e.value) and str(tmp_path) in str(e.value)


def test_truncated_and_corrupt_files(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    write_dataset(folder, gz=False)
    path = folder / "train-images-idx3-ubyte"
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(RuntimeError, match="expected") as e:
        datasets.MNIST(tmp_path)
    assert str(path) in str(e.value)
    path.write_bytes(b"\x12\x34" + data[2:])
    with pytest.raises(RuntimeError, match="magic"):
        datasets.MNIST(tmp_path)
    path.write_bytes(data)
    labels = folder / "train-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(RuntimeError, match="labels"):
        datasets.MNIST(tmp_path)
    gzpath = tmp_path / "flat" / "t10k-images-idx3-ubyte.gz"
    write_dataset(tmp_path / "flat", gz=True)
    gzpath.write_bytes(gzpath.read_bytes()[:40])
    with pytest.raises(RuntimeError, match="t10k-images"):
        datasets.MNIST(tmp_path / "flat", train=False)


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


def test_download_from_local_mirror(tmp_path, server, monkeypatch):
    www, url = server
    ref = write_dataset(www / "mirror", gz=True)
    names = [f"{s}-{k}-ubyte.gz" for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1")]
    monkeypatch.setattr(datasets.FashionMNIST, "mirrors", [url + "missing/", url + "mirror/"])
    monkeypatch.setattr(datasets.FashionMNIST, "resources",
                        [(n, _md5(www / "mirror" / n)) for n in names])
    root = tmp_path / "data"
    ds = datasets.FashionMNIST(root, train=False, download=True)
    assert len(ds) == 3 and ds.targets.tolist() == ref["t10k"][1].tolist()
    raw = root / "FashionMNIST" / "raw"
    assert sorted(os.listdir(raw)) == sorted(names)  # no temp files left behind
    # already there: no network needed
    monkeypatch.setattr(datasets.FashionMNIST, "mirrors", [url + "missing/"])
    assert len(datasets.FashionMNIST(root, download=True)) == 7


def test_download_rejects_bad_checksum(tmp_path, server, monkeypatch):
    www, url = server
    write_dataset(www, gz=True)
    names = [f"{s}-{k}-ubyte.gz" for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1")]
    monkeypatch.setattr(datasets.MNIST, "mirrors", [url])
    monkeypatch.setattr(datasets.MNIST, "resources", [(n, "0" * 32) for n in names])
    with pytest.raises(RuntimeError, match="MD5 mismatch"):
        datasets.MNIST(tmp_path / "data", download=True)
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert os.listdir(raw) == []  # nothing half-written kept


def test_real_mnist_checksums_are_torchvision_values():
    assert dict(datasets.MNIST.resources)["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert dict(datasets.FashionMNIST.resources)["t10k-labels-idx1-ubyte.gz"] == "bb300cfdad3c16e7a12a480ee83cd310"


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FMNIST), reason="dataset-fashion-mnist not installed")
def test_debian_fashion_mnist():
    train = datasets.FashionMNIST(DEBIAN_FMNIST, train=True)
    test = datasets.FashionMNIST(DEBIAN_FMNIST, train=False)
    assert len(train) == 60000 and len(test) == 10000
    assert tuple(train.data.shape) == (60000, 28, 28)
    assert sorted(set(test.targets.tolist())) == list(range(10))


# -- transforms ---------------------------------------------------------------------------------
def test_to_tensor():
    hw = np.arange(6, dtype=np.uint8).reshape(2, 3)
    t = transforms.ToTensor()(hw)
    assert t.shape == (1, 2, 3) and t.dtype == numtorch.float32
    np.testing.assert_allclose(t.numpy()[0], hw / 255.0, rtol=1e-6)
    hwc = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    t = transforms.ToTensor()(hwc)
    assert t.shape == (3, 2, 4)
    np.testing.assert_allclose(t.numpy(), hwc.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    f = transforms.ToTensor()(np.ones((2, 2), np.float32) * 7)
    assert f.dtype == numtorch.float32 and f.max().item() == 7.0  # non-uint8 is not scaled
    with pytest.raises(TypeError):
        transforms.ToTensor()([1, 2])


def test_to_tensor_agrees_with_torchvision(torchvision):
    tv = torchvision.transforms
    hwc = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    np.testing.assert_allclose(transforms.ToTensor()(hwc).numpy(), tv.ToTensor()(hwc).numpy())


def test_to_tensor_pil():
    Image = pytest.importorskip("PIL.Image")
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    t = transforms.ToTensor()(Image.fromarray(arr))
    np.testing.assert_allclose(t.numpy()[0], arr / 255.0, rtol=1e-6)


def test_normalize_and_compose():
    x = numtorch.ones(3, 2, 2)
    y = transforms.Normalize((0.5, 1.0, 0.0), (0.5, 2.0, 1.0))(x)
    assert y[:, 0, 0].tolist() == [1.0, 0.0, 1.0]
    assert x.sum().item() == 12.0  # not in place by default
    batched = transforms.Normalize((1.0,), (2.0,))(numtorch.ones(4, 1, 2, 2) * 3)
    assert batched.shape == (4, 1, 2, 2) and batched.max().item() == 1.0
    with pytest.raises(ValueError):
        transforms.Normalize((0.0,), (0.0,))(x)
    pipeline = transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda t: t * 2),
                                   transforms.Normalize((1.0,), (1.0,))])
    out = pipeline(np.full((2, 2), 255, np.uint8))
    assert out.tolist() == [[[1.0, 1.0], [1.0, 1.0]]]
    assert "Normalize" in repr(pipeline)


def test_random_horizontal_flip_follows_seed():
    x = numtorch.arange(6.0).reshape(1, 2, 3)
    assert transforms.RandomHorizontalFlip(1.0)(x).tolist() == [[[2, 1, 0], [5, 4, 3]]]
    assert transforms.RandomHorizontalFlip(0.0)(x).tolist() == x.tolist()
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(transforms.RandomHorizontalFlip(1.0)(arr), arr[:, ::-1])
    flip = transforms.RandomHorizontalFlip()
    numtorch.manual_seed(0)
    a = [flip(x).tolist() == x.tolist() for _ in range(40)]
    numtorch.manual_seed(0)
    assert a == [flip(x).tolist() == x.tolist() for _ in range(40)]
    assert 5 < sum(a) < 35


def test_random_crop():
    x = numtorch.arange(1.0, 17.0).reshape(1, 4, 4)
    numtorch.manual_seed(1)
    seen = set()
    for _ in range(60):
        c = transforms.RandomCrop(4, padding=2)(x)
        assert c.shape == (1, 4, 4)
        v = c.numpy()[0]
        # every crop is a 4x4 window of the zero-padded 8x8 image
        padded = np.pad(x.numpy()[0], 2)
        assert any(np.array_equal(v, padded[i:i + 4, j:j + 4]) for i in range(5) for j in range(5))
        seen.add(v.tobytes())
    assert len(seen) > 5
    c = transforms.RandomCrop(2)(x)
    assert c.shape == (1, 2, 2)
    assert transforms.RandomCrop(4)(x).tolist() == x.tolist()
    assert transforms.RandomCrop((6, 6), pad_if_needed=True)(x).shape == (1, 6, 6)
    assert transforms.RandomCrop(3, padding=(1, 2))(x).shape == (1, 3, 3)
    assert transforms.RandomCrop(28, padding=4)(np.zeros((28, 28), np.uint8)).shape == (28, 28)
    with pytest.raises(ValueError):
        transforms.RandomCrop(5)(x)
    numtorch.manual_seed(9)
    a = transforms.RandomCrop(2, padding=1)(x).tolist()
    numtorch.manual_seed(9)
    assert a == transforms.RandomCrop(2, padding=1)(x).tolist()
    assert transforms.CenterCrop(2)(x).tolist() == [[[6.0, 7.0], [10.0, 11.0]]]


def test_batched_fast_path_matches_per_item(tmp_path):
    write_dataset(tmp_path, gz=False, n_train=6)
    for tf in (transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2,), (0.4,))]),
               transforms.ToTensor(),
               transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda t: t + 1)]),
               None):
        ds = datasets.MNIST(tmp_path, transform=tf, target_transform=lambda y: -y)
        fast = ds.__getitems__([4, 1, 4])
        slow = [ds[4], ds[1], ds[4]]
        for (a, ya), (b, yb) in zip(fast, slow):
            assert ya == yb
            a = a.numpy() if isinstance(a, numtorch.Tensor) else a
            b = b.numpy() if isinstance(b, numtorch.Tensor) else b
            assert a.shape == b.shape and a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# resizing and cropping, against torchvision on the same images
# --------------------------------------------------------------------------------------------
_RESIZE_SIZES = [16, (10, 30), [12], 64]
_MODES = ["bilinear", "nearest", "bicubic"]


def _images(shape):
    arr = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    chw = np.ascontiguousarray(arr.transpose(2, 0, 1) if arr.ndim == 3 else arr[None])
    return arr, chw


@pytest.mark.parametrize("shape", [(37, 50, 3), (50, 37), (20, 20, 3)])
def test_resize_matches_torchvision(torchvision, shape):
    import torch
    Image = pytest.importorskip("PIL.Image")
    arr, chw = _images(shape)
    pil = Image.fromarray(arr)
    for size in _RESIZE_SIZES:
        for mode in _MODES:
            ours = transforms.Resize(size, transforms.InterpolationMode(mode))
            theirs = torchvision.transforms.Resize(
                size, torchvision.transforms.InterpolationMode(mode))
            ref = theirs(pil)
            got = ours(pil)
            assert got.size == ref.size and got.mode == ref.mode
            np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
            # a NumPy image resamples through Pillow too: the same bytes, as an array
            np.testing.assert_array_equal(ours(arr), np.asarray(ref))
            # float tensors: F.interpolate (anti-aliased when shrinking), as torchvision's
            x = chw / 255.0
            np.testing.assert_allclose(ours(numtorch.tensor(x)).numpy(),
                                       theirs(torch.tensor(x)).numpy(), rtol=0, atol=1e-9)
            # uint8 tensors: torch rounds its own fixed-point path; within one step of it
            a = ours(numtorch.tensor(chw))
            b = theirs(torch.tensor(chw)).numpy()
            assert a.dtype == numtorch.uint8 and tuple(a.shape) == b.shape
            assert np.abs(a.numpy().astype(int) - b.astype(int)).max() <= 1


def test_resize_output_sizes_and_errors():
    x = numtorch.zeros(2, 3, 37, 50)
    assert transforms.Resize(16)(x).shape == (2, 3, 16, 21)  # longer edge truncated
    assert transforms.Resize(16, max_size=20)(x).shape == (2, 3, 15, 20)
    assert transforms.Resize((5, 7))(x).shape == (2, 3, 5, 7)
    assert transforms.Resize(37)(x) is x  # nothing to do
    with pytest.raises(ValueError, match="max_size = 16 must be strictly greater"):
        transforms.Resize(16, max_size=16)(x)
    with pytest.raises(ValueError, match="max_size should only be passed"):
        transforms.Resize((4, 4), max_size=9)(x)
    with pytest.raises(TypeError, match="Size should be int or sequence"):
        transforms.Resize((1, 2, 3))
    with pytest.raises(ValueError, match="'box' is unsupported with Tensor input"):
        transforms.Resize(4, transforms.InterpolationMode.BOX)(x)
    assert transforms.Resize(4, interpolation=2).interpolation.value == "bilinear"  # PIL's number


@pytest.mark.parametrize("size", [16, (30, 60), 8, (50, 3)])
def test_center_crop_pads_like_torchvision(torchvision, size):
    import torch
    Image = pytest.importorskip("PIL.Image")
    arr, chw = _images((37, 50, 3))
    ref = torchvision.transforms.CenterCrop(size)(Image.fromarray(arr))
    got = transforms.CenterCrop(size)(Image.fromarray(arr))
    assert got.size == ref.size
    np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
    np.testing.assert_array_equal(transforms.CenterCrop(size)(arr), np.asarray(ref))
    np.testing.assert_array_equal(transforms.CenterCrop(size)(numtorch.tensor(chw)).numpy(),
                                  torchvision.transforms.CenterCrop(size)(torch.tensor(chw)).numpy())


def test_to_pil_image_and_pil_flips(torchvision):
    import torch
    Image = pytest.importorskip("PIL.Image")
    for shape in [(6, 5, 3), (6, 5)]:
        arr, chw = _images(shape)
        x = chw / 255.0
        got = transforms.ToPILImage()(numtorch.tensor(x).float())
        ref = torchvision.transforms.ToPILImage()(torch.tensor(x).float())
        assert got.mode == ref.mode
        np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
        pil = Image.fromarray(arr)
        np.testing.assert_array_equal(
            np.asarray(transforms.RandomHorizontalFlip(1.0)(pil)), arr[:, ::-1])
        np.testing.assert_array_equal(
            np.asarray(transforms.RandomVerticalFlip(1.0)(pil)), arr[::-1])
        padded = transforms.RandomCrop(8, padding=2)(pil)
        assert padded.size == (8, 8) and padded.mode == pil.mode
    with pytest.raises(TypeError, match="pic should be Tensor or ndarray"):
        transforms.ToPILImage()([1, 2])


def test_random_resized_crop():
    numtorch.manual_seed(3)
    x = numtorch.arange(12 * 20, dtype=numtorch.float32).reshape(1, 12, 20)
    t = transforms.RandomResizedCrop((6, 5), scale=(0.2, 0.5))
    seen = set()
    for _ in range(20):
        i, j, h, w = t.get_params(x, t.scale, t.ratio)
        assert 0 <= i and i + h <= 12 and 0 <= j and j + w <= 20
        assert 0.2 * 240 * 0.5 <= h * w <= 0.5 * 240 * 1.5  # area within scale (rounding aside)
        assert 3 / 4 * 0.6 <= w / h <= 4 / 3 * 1.6
        seen.add((i, j, h, w))
    assert len(seen) > 5  # random windows
    assert t(x).shape == (1, 6, 5)
    # impossible ratios: the fallback is the central crop at the nearest allowed ratio
    i, j, h, w = transforms.RandomResizedCrop.get_params(x, (1.0, 1.0), (3.0, 4.0))
    assert (h, w) == (7, 20) and (i, j) == (2, 0)
    numtorch.manual_seed(3)
    a = t(x)
    numtorch.manual_seed(3)
    assert numtorch.equal(a, t(x))
