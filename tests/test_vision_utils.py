"""numtorch.vision.utils (make_grid, save_image) and the datasets FakeData, DatasetFolder and
ImageFolder, against torchvision where it is installed (the ``torchvision`` fixture)."""
import io
import os
import sys

import numpy as np
import pytest

import numtorch
from numtorch.utils.data import DataLoader
from numtorch.vision import datasets, transforms
from numtorch.vision.utils import make_grid, save_image


@pytest.fixture(scope="module")
def Image():
    return pytest.importorskip("PIL.Image")


def both(arr):
    """The same float32 data as a numtorch tensor and a torch tensor."""
    torch = pytest.importorskip("torch")
    arr = np.asarray(arr, dtype=np.float32)
    return numtorch.tensor(arr), torch.from_numpy(arr.copy())


INPUTS = {  # name -> shape (a list: how many images of which shape)
    "batch-3ch": (5, 3, 4, 6),
    "batch-1ch": (7, 1, 5, 4),
    "batch-of-one": (1, 3, 4, 4),
    "image-3ch": (3, 4, 5),
    "image-1ch": (1, 4, 5),
    "image-2ch": (2, 3, 3),
    "image-2d": (4, 5),
    "list": [6, (3, 4, 4)],
    "list-1ch": [3, (1, 2, 3)],
}

KWARGS = [
    {},
    {"nrow": 3, "padding": 1},
    {"nrow": 1, "padding": 0, "pad_value": 0.5},
    {"nrow": 10, "padding": 3, "pad_value": 1.0},
    {"normalize": True},
    {"normalize": True, "value_range": (-0.5, 0.5), "nrow": 2},
    {"normalize": True, "scale_each": True},
    {"normalize": True, "scale_each": True, "value_range": (-1.0, 0.25), "pad_value": 0.25},
    {"normalize": True, "value_range": (0.0, 4e-6)},  # a tiny range: torchvision divides by 1e-5
]


def make_input(name, rng):
    spec = INPUTS[name]
    if isinstance(spec, list):
        n, shape = spec
        return [both(rng.standard_normal(shape)) for _ in range(n)]
    return both(rng.standard_normal(spec))


@pytest.mark.parametrize("kwargs", KWARGS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items())
                         or "defaults")
@pytest.mark.parametrize("kind", list(INPUTS))
def test_make_grid_equals_torchvision(torchvision, rng, kind, kwargs):
    data = make_input(kind, rng)
    if isinstance(data, list):
        ours_in, theirs_in = [d[0] for d in data], [d[1] for d in data]
        before = [t.numpy().copy() for t in ours_in]
    else:
        ours_in, theirs_in = data
        before = [ours_in.numpy().copy()]
    ours = make_grid(ours_in, **kwargs)
    theirs = torchvision.utils.make_grid(theirs_in, **kwargs)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-6)
    after = [t.numpy() for t in ours_in] if isinstance(ours_in, list) else [ours_in.numpy()]
    for b, a in zip(before, after):  # the caller's tensors are left alone
        np.testing.assert_array_equal(a, b)


def test_make_grid_dtypes_equal_torchvision(torchvision, rng):
    torch = pytest.importorskip("torch")
    u8 = rng.integers(0, 256, (5, 1, 3, 4), dtype=np.uint8)
    f64 = rng.standard_normal((5, 3, 3, 4))
    for arr, kwargs in [(u8, {"nrow": 2, "pad_value": 7}),
                        (f64, {"normalize": True, "scale_each": True})]:
        ours = make_grid(numtorch.from_numpy(arr.copy()), **kwargs)
        theirs = torchvision.utils.make_grid(torch.from_numpy(arr.copy()), **kwargs)
        assert ours.numpy().dtype == theirs.numpy().dtype == arr.dtype
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=0)


@pytest.mark.skipif(not numtorch.cuda.is_available(), reason="no CUDA device and no simulator")
def test_make_grid_and_save_image_on_cuda(Image, tmp_path):
    x = numtorch.rand(5, 1, 4, 3)
    grid = make_grid(x.cuda(), nrow=2, normalize=True, pad_value=0.5)
    assert grid.device.type == "cuda"
    np.testing.assert_allclose(grid.cpu().numpy(),
                               make_grid(x, nrow=2, normalize=True, pad_value=0.5).numpy())
    save_image(x.cuda(), tmp_path / "gpu.png", nrow=2)
    save_image(x, tmp_path / "cpu.png", nrow=2)
    with Image.open(tmp_path / "gpu.png") as a, Image.open(tmp_path / "cpu.png") as b:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_make_grid_layout_by_hand():
    """Independent of torchvision: where each image lands, the gaps, the row count."""
    batch = numtorch.arange(5.).reshape(5, 1, 1, 1) + 1
    grid = make_grid(batch, nrow=2, padding=1, pad_value=-1)
    expect = np.full((7, 5), -1.0, np.float32)
    for k in range(5):
        y, x = divmod(k, 2)
        expect[1 + 2 * y, 1 + 2 * x] = k + 1
    assert tuple(grid.shape) == (3, 7, 5)
    for c in range(3):
        np.testing.assert_array_equal(grid[c].numpy(), expect)


def test_make_grid_errors_and_grad():
    x = numtorch.rand(2, 3, 4, 4, requires_grad=True)
    assert not make_grid(x, normalize=True).requires_grad
    with pytest.raises(TypeError, match="tensor or list of tensors expected"):
        make_grid((x[0], x[1]))
    with pytest.raises(TypeError, match="a list containing"):
        make_grid([x[0], np.zeros((3, 4, 4))])
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        make_grid(x, normalize=True, value_range=[0, 1])
    with pytest.raises(ValueError, match="got shape"):
        make_grid(numtorch.zeros(5))
    with pytest.raises(ValueError, match="nrow"):
        make_grid(x, nrow=0)


# values on the rounding boundaries of x * 255 + 0.5, and outside [0, 1] (clamped)
SAVE_CASES = {
    "batch-1ch": (lambda rng: (np.arange(2 * 1 * 15 * 17) / 510.0).reshape(2, 1, 15, 17), {}),
    "batch-3ch-nrow": (lambda rng: rng.uniform(-0.2, 1.2, (5, 3, 6, 7)),
                       {"nrow": 2, "padding": 1, "pad_value": 1.0}),
    "image-3d": (lambda rng: rng.uniform(0, 1, (3, 9, 11)), {}),
    "image-2d-normalized": (lambda rng: rng.standard_normal((8, 5)) * 4, {"normalize": True}),
    "rgba": (lambda rng: rng.uniform(0, 1, (2, 4, 5, 5)), {"nrow": 1}),
}


@pytest.mark.parametrize("case", list(SAVE_CASES))
def test_save_image_pixels_equal_torchvision(torchvision, Image, tmp_path, rng, case):
    make, kwargs = SAVE_CASES[case]
    ours_in, theirs_in = both(make(rng))
    save_image(ours_in, tmp_path / "ours.png", **kwargs)
    torchvision.utils.save_image(theirs_in, tmp_path / "theirs.png", **kwargs)
    with Image.open(tmp_path / "ours.png") as a, Image.open(tmp_path / "theirs.png") as b:
        assert (a.format, a.mode, a.size) == (b.format, b.mode, b.size)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_save_image_file_object_and_format(torchvision, Image, tmp_path, rng):
    ours_in, theirs_in = both(rng.uniform(0, 1, (4, 3, 5, 6)))
    buf = io.BytesIO()
    save_image(ours_in, buf, format="PNG", nrow=2)
    torchvision.utils.save_image(theirs_in, tmp_path / "theirs.png", nrow=2)
    buf.seek(0)
    with Image.open(buf) as a, Image.open(tmp_path / "theirs.png") as b:
        assert a.format == "PNG"
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # an open file whose name has the extension, no format: Pillow takes it from the name
    with open(tmp_path / "named.bmp", "wb") as f:
        save_image(ours_in, f, nrow=2)
    with Image.open(tmp_path / "named.bmp") as a, Image.open(tmp_path / "theirs.png") as b:
        assert a.format == "BMP"
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_save_image_is_atomic(Image, tmp_path, monkeypatch):
    path = tmp_path / "grid.png"
    img = numtorch.rand(3, 4, 5)
    save_image(img, str(path))
    assert os.listdir(tmp_path) == ["grid.png"]  # no temporary file left behind
    with Image.open(path) as a:
        assert a.format == "PNG" and a.size == (5, 4)
    save_image(numtorch.zeros(3, 2, 2), path)  # replaces the old file
    with Image.open(path) as a:
        assert a.size == (2, 2) and np.asarray(a).max() == 0
    old = path.read_bytes()

    # a failure while encoding: the old file stays whole and no temporary file remains
    def broken_save(self, fp, format=None, **params):
        fp.write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_image(img, path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["grid.png"]

    with pytest.raises(ValueError, match="unknown file extension"):
        save_image(img, tmp_path / "grid.unknown")
    assert os.listdir(tmp_path) == ["grid.png"]


def test_without_pillow_errors_name_the_package(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"")
    ds = datasets.ImageFolder(str(tmp_path))  # finding files needs no Pillow
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        save_image(numtorch.rand(3, 2, 2), tmp_path / "x.png")
    with pytest.raises(ImportError, match="pip install pillow"):
        ds[0]
    assert not (tmp_path / "x.png").exists()


# -- FakeData ------------------------------------------------------------------------------

def test_fakedata_items():
    ds = datasets.FakeData(size=300, image_size=(3, 5, 7), num_classes=4)
    assert len(ds) == 300
    labels = []
    for i in range(len(ds)):
        img, label = ds[i]
        assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.shape == (5, 7, 3)
        assert isinstance(label, int)
        labels.append(label)
    assert set(labels) == {0, 1, 2, 3}
    assert ds[0][0].min() < 20 and ds[0][0].max() > 235  # the whole byte range is used
    gray = datasets.FakeData(size=2, image_size=(1, 4, 6))[1][0]
    assert gray.shape == (4, 6)  # one channel: (H, W), as a PIL "L" image would be
    assert datasets.FakeData(size=2, image_size=(4, 6))[0][0].shape == (4, 6)
    with pytest.raises(IndexError):
        ds[300]
    with pytest.raises(IndexError):
        ds[-301]
    np.testing.assert_array_equal(ds[-1][0], ds[299][0])
    with pytest.raises(ValueError, match="image_size"):
        datasets.FakeData(image_size=(1, 2, 3, 4))


@pytest.fixture
def restore_rng():
    state = numtorch.get_rng_state()
    yield
    numtorch.set_rng_state(state)


def test_fakedata_deterministic_and_leaves_global_rng_alone(restore_rng):
    ds = datasets.FakeData(size=10, image_size=(3, 8, 8))
    numtorch.manual_seed(0)
    a_img, a_label = ds[3]
    expected_next = numtorch.rand(4)
    numtorch.manual_seed(0)
    b_img, b_label = ds[3]  # drawing items does not move the global generator ...
    state = numtorch.get_rng_state()
    ds[4], ds[3], ds[9]
    assert numtorch.equal(numtorch.get_rng_state(), state)
    assert numtorch.equal(numtorch.rand(4), expected_next)
    numtorch.manual_seed(12345)  # ... and does not depend on it
    c_img, c_label = datasets.FakeData(size=10, image_size=(3, 8, 8))[3]
    for img, label in ((b_img, b_label), (c_img, c_label)):
        np.testing.assert_array_equal(img, a_img)
        assert label == a_label
    assert not np.array_equal(ds[4][0], a_img)
    shifted = datasets.FakeData(size=10, image_size=(3, 8, 8), random_offset=2)
    np.testing.assert_array_equal(shifted[1][0], a_img)
    assert shifted[1][1] == a_label


def test_fakedata_matches_torchvision_conventions(torchvision):
    """Shapes with and without ToTensor and the label type are torchvision's."""
    for size in [(3, 6, 5), (1, 6, 5)]:
        theirs = torchvision.datasets.FakeData(size=3, image_size=size)[0]
        ours = datasets.FakeData(size=3, image_size=size)[0]
        assert ours[0].shape == np.asarray(theirs[0]).shape
        assert type(ours[1]) is type(theirs[1]) is int
        tt = torchvision.datasets.FakeData(size=3, image_size=size,
                                           transform=torchvision.transforms.ToTensor())[0][0]
        ot = datasets.FakeData(size=3, image_size=size, transform=transforms.ToTensor())[0][0]
        assert tuple(ot.shape) == tuple(tt.shape) and ot.dtype == numtorch.float32
    assert len(datasets.FakeData()) == len(torchvision.datasets.FakeData()) == 1000


def test_fakedata_dataloader():
    ds = datasets.FakeData(size=10, image_size=(3, 4, 4), num_classes=5,
                           transform=transforms.ToTensor(), target_transform=lambda t: t + 10)
    batches = list(DataLoader(ds, batch_size=4))
    assert [tuple(x.shape) for x, _ in batches] == [(4, 3, 4, 4), (4, 3, 4, 4), (2, 3, 4, 4)]
    labels = numtorch.cat([y for _, y in batches]).tolist()
    assert labels == [ds[i][1] for i in range(10)] and all(10 <= v < 15 for v in labels)
    assert "Number of datapoints: 10" in repr(ds) and "ToTensor" in repr(ds)


# -- DatasetFolder / ImageFolder -----------------------------------------------------------

@pytest.fixture
def image_tree(tmp_path, Image):
    """root/<class>/... with PNG (RGB, L, RGBA, P), JPEG, an upper-case extension, a nested
    folder and files that are not images."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"

    def put(rel, mode, size=(6, 5)):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        ch = {"RGB": 3, "RGBA": 4}.get(mode, 1)
        arr = rng.integers(0, 256, (size[1], size[0], ch), dtype=np.uint8)
        img = Image.fromarray(arr[..., 0] if ch == 1 else arr)
        if mode == "P":
            img = img.convert("P")
        img.save(path)

    put("dog/b.png", "RGB")
    put("dog/a.jpg", "RGB", (7, 9))
    put("dog/aa/c.png", "L")  # a subfolder sorting between its parent's files
    put("cat/z.PNG", "RGBA", (3, 4))
    put("cat/y.bmp", "P")
    put("bird/only.jpeg", "L", (8, 8))
    (root / "bird" / "notes.txt").write_text("not an image")
    (root / "README").write_text("a file at the top is not a class")
    return root


def test_imagefolder_equals_torchvision(torchvision, image_tree):
    ours = datasets.ImageFolder(str(image_tree))
    theirs = torchvision.datasets.ImageFolder(str(image_tree))
    assert ours.classes == theirs.classes == ["bird", "cat", "dog"]
    assert ours.class_to_idx == theirs.class_to_idx
    assert ours.samples == theirs.samples and ours.imgs == theirs.imgs
    assert ours.targets == theirs.targets == [0, 1, 1, 2, 2, 2]
    assert len(ours) == len(theirs) == 6
    for i in range(len(ours)):
        (img, label), (pil, their_label) = ours[i], theirs[i]
        assert label == their_label
        assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.shape[2] == 3
        np.testing.assert_array_equal(img, np.asarray(pil))
    assert datasets.IMG_EXTENSIONS == torchvision.datasets.folder.IMG_EXTENSIONS


def test_datasetfolder_options_equal_torchvision(torchvision, image_tree):
    tvf = torchvision.datasets.folder

    def valid(p):
        return p.endswith(".png")
    ours = datasets.DatasetFolder(str(image_tree), loader=os.path.getsize, is_valid_file=valid,
                                  allow_empty=True)
    theirs = tvf.DatasetFolder(str(image_tree), loader=os.path.getsize, is_valid_file=valid,
                               allow_empty=True)
    assert ours.samples == theirs.samples and ours.targets == theirs.targets
    assert ours[0] == theirs[0]
    ours = datasets.DatasetFolder(str(image_tree), loader=os.path.getsize, extensions=".png",
                                  target_transform=lambda t: -t, allow_empty=True)
    assert [ours[i][1] for i in range(len(ours))] == [-t for t in ours.targets]
    for args in [dict(extensions=(".jpg", ".jpeg")), dict(extensions=".bmp")]:
        assert datasets.make_dataset(str(image_tree), **args, allow_empty=True) == \
            tvf.make_dataset(str(image_tree), **args, allow_empty=True)
    assert datasets.find_classes(str(image_tree)) == tvf.find_classes(str(image_tree))
    def nested(p):
        return os.sep + "aa" + os.sep in p
    ours = datasets.ImageFolder(str(image_tree), is_valid_file=nested, allow_empty=True)
    theirs = torchvision.datasets.ImageFolder(str(image_tree), is_valid_file=nested,
                                              allow_empty=True)
    assert ours.samples == theirs.samples and len(ours) == 1


def error_of(fn, *args, **kwargs):
    with pytest.raises(Exception) as info:
        fn(*args, **kwargs)
    return type(info.value), str(info.value)


def test_folder_errors_equal_torchvision(torchvision, tmp_path, image_tree):
    tvf = torchvision.datasets.folder
    empty = tmp_path / "empty"
    empty.mkdir()
    ours = error_of(datasets.ImageFolder, str(empty))
    assert ours[0] is FileNotFoundError and "Couldn't find any class folder in" in ours[1]
    assert ours == error_of(torchvision.datasets.ImageFolder, str(empty))
    assert error_of(datasets.ImageFolder, str(tmp_path / "missing"))[0] is FileNotFoundError

    (image_tree / "fish").mkdir()
    (image_tree / "zebra").mkdir()
    (image_tree / "zebra" / "z.txt").write_text("")
    ours = error_of(datasets.ImageFolder, str(image_tree))
    assert ours[0] is FileNotFoundError
    assert ours[1].startswith("Found no valid file for the classes fish, zebra. ")
    assert ours == error_of(torchvision.datasets.ImageFolder, str(image_tree))
    assert len(datasets.ImageFolder(str(image_tree), allow_empty=True)) == 6

    for args in [dict(), dict(extensions=".png", is_valid_file=bool)]:
        ours = error_of(datasets.make_dataset, str(image_tree), **args)
        assert ours[0] is ValueError and ours == error_of(tvf.make_dataset, str(image_tree), **args)
    assert error_of(datasets.make_dataset, str(image_tree), {}, ".png") == \
        error_of(tvf.make_dataset, str(image_tree), {}, ".png")
    assert error_of(datasets.DatasetFolder.make_dataset, str(image_tree), None, ".png") == \
        error_of(tvf.DatasetFolder.make_dataset, str(image_tree), None, ".png")


def test_imagefolder_dataloader_equals_torchvision(torchvision, image_tree):
    torch = pytest.importorskip("torch")
    ours = datasets.ImageFolder(
        str(image_tree),
        transform=transforms.Compose([transforms.CenterCrop(3), transforms.ToTensor(),
                                      transforms.Normalize([0.5] * 3, [0.25] * 3)]))
    tvt = torchvision.transforms
    theirs = torchvision.datasets.ImageFolder(
        str(image_tree), transform=tvt.Compose([tvt.CenterCrop(3), tvt.ToTensor(),
                                                tvt.Normalize([0.5] * 3, [0.25] * 3)]))
    got = list(DataLoader(ours, batch_size=4))
    want = list(torch.utils.data.DataLoader(theirs, batch_size=4))
    assert len(got) == len(want) == 2
    for (x, y), (tx, ty) in zip(got, want):
        assert tuple(x.shape) == tuple(tx.shape) and x.shape[1:] == (3, 3, 3)
        assert x.dtype == numtorch.float32 and y.dtype == numtorch.int64
        np.testing.assert_allclose(x.numpy(), tx.numpy(), rtol=1e-6, atol=1e-6)
        assert y.tolist() == ty.tolist()
    assert "Number of datapoints: 6" in repr(ours) and str(image_tree) in repr(ours)
