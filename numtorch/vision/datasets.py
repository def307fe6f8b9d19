"""torchvision's datasets: MNIST and Fashion-MNIST from IDX files, ``FakeData``, and
``DatasetFolder`` / ``ImageFolder`` over a folder per class.

MNIST files are looked for, plain or ``.gz``, in ``root/<ClassName>/raw`` (torchvision's layout),
``root/<ClassName>`` and ``root`` itself (e.g. Debian's ``/usr/share/datasets/fashion-mnist``).
``download=True`` fetches them from ``mirrors`` into ``root/<ClassName>/raw``, checking MD5s.

Images are uint8 NumPy arrays (H, W) or (H, W, C) where torchvision hands out PIL images;
``transforms.ToTensor`` takes either. Image files are decoded by Pillow, imported on first use.
"""
import gzip
import hashlib
import operator
import os
import tempfile

import numpy as np

from ..utils.data import Dataset
from .utils import _pil_image

__all__ = ["MNIST", "FashionMNIST", "read_idx", "FakeData", "DatasetFolder", "ImageFolder",
           "IMG_EXTENSIONS", "has_file_allowed_extension", "is_image_file", "find_classes",
           "make_dataset", "pil_loader", "default_loader"]

# IDX type codes -> big-endian NumPy dtypes
_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_bytes(path):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise RuntimeError(f"Could not read {path}: {e} (corrupt or truncated file?)") from None


def read_idx(path, expected_ndim=None):
    """Parse an IDX file (plain or gzip) into a native-endian NumPy array, validating it.

    Raises RuntimeError naming ``path`` on a bad magic number, an unexpected number of
    dimensions, or a data size that does not match the header.

    >>> import numtorch as torch
    >>> import os, struct, tempfile
    >>> import numpy as np
    >>> from numtorch.vision.datasets import read_idx
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(struct.pack(">BBBBI", 0, 0, 0x08, 1, 3) + bytes([7, 2, 1]))
    >>> read_idx(path, expected_ndim=1)
    array([7, 2, 1], dtype=uint8)
    """
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise RuntimeError(f"{path}: not an IDX file (only {len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise RuntimeError(f"{path}: bad IDX magic number 0x{raw[:4].hex()} (expected "
                           f"0x0000 followed by a type code and the number of dimensions)")
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise RuntimeError(f"{path}: IDX file has {ndim} dimensions, expected {expected_ndim}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise RuntimeError(f"{path}: truncated IDX header ({len(raw)} bytes, expected {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise RuntimeError(f"{path}: IDX data is {len(raw) - header} bytes, expected {expected} "
                           f"for shape {shape} (truncated or corrupt file)")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _md5(path, chunk=1 << 20):
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


class _VisionDataset(Dataset):
    """``root``, ``transform``, ``target_transform`` and torchvision's repr, for the datasets
    here (torchvision's ``VisionDataset``)."""

    def __init__(self, root=None, transform=None, target_transform=None):
        if isinstance(root, (str, bytes, os.PathLike)):
            root = os.path.expanduser(os.fspath(root))
        self.root = root
        self.transform = transform
        self.target_transform = target_transform

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"Dataset {self.__class__.__name__}", f"    Number of datapoints: {len(self)}"]
        if self.root is not None:
            lines.append(f"    Root location: {self.root}")
        lines += [f"    {line}" for line in self.extra_repr().splitlines()]
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"    Target transform: {self.target_transform!r}")
        return "\n".join(lines)


class MNIST(_VisionDataset):
    """The MNIST digits: items are ``(image, target)``; ``image`` a uint8 NumPy array (28, 28)
    (torchvision gives a PIL image) passed through ``transform``, ``target`` an int.

    ``.data`` is a uint8 tensor (N, 28, 28), ``.targets`` an int64 tensor (N,).

    >>> from numtorch.vision import datasets, transforms       # doctest: +SKIP
    >>> ds = datasets.FashionMNIST("data", train=True, download=True,
    ...                            transform=transforms.ToTensor())  # doctest: +SKIP
    >>> ds[0][0].shape                                           # doctest: +SKIP
    torch.Size([1, 28, 28])
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    #: seconds before a download attempt from one mirror gives up
    download_timeout = 60

    def __init__(self, root, train=True, transform=None, target_transform=None,
                 download=False):
        super().__init__(root, transform, target_transform)
        self.train = train
        if download:
            self.download()
        images, labels = self._find_files()
        if images is None or labels is None:
            raise RuntimeError(
                f"Dataset not found. You can use download=True to download it. Looked for "
                f"{self._stem('images')}[.gz] and {self._stem('labels')}[.gz] in "
                f"{', '.join(self._search_dirs())}")
        self._images = read_idx(images, expected_ndim=3)
        labels_arr = read_idx(labels, expected_ndim=1)
        if self._images.dtype != np.uint8 or labels_arr.dtype != np.uint8:
            raise RuntimeError(f"{images} / {labels}: expected unsigned-byte IDX data")
        if len(self._images) != len(labels_arr):
            raise RuntimeError(f"{images} has {len(self._images)} images but {labels} has "
                               f"{len(labels_arr)} labels")
        self._labels = labels_arr.astype(np.int64)
        from .. import from_numpy
        self.data = from_numpy(self._images)
        self.targets = from_numpy(self._labels)

    # -- files --------------------------------------------------------------------------------
    @property
    def raw_folder(self):
        return os.path.join(self.root, self.__class__.__name__, "raw")

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    def _stem(self, kind):
        split = "train" if self.train else "t10k"
        return f"{split}-{kind}-idx{3 if kind == 'images' else 1}-ubyte"

    def _search_dirs(self):
        return [self.raw_folder, os.path.join(self.root, self.__class__.__name__), self.root]

    def _find_files(self):
        found = []
        for kind in ("images", "labels"):
            hit = None
            for d in self._search_dirs():
                for name in (self._stem(kind), self._stem(kind) + ".gz"):
                    if os.path.isfile(os.path.join(d, name)):
                        hit = os.path.join(d, name)
                        break
                if hit:
                    break
            found.append(hit)
        return found

    def _check_exists(self):
        return all(p is not None for p in self._find_files())

    def download(self):
        """Fetch every resource missing from ``raw_folder``: temp file, MD5 check, rename."""
        if self._check_exists():
            return
        os.makedirs(self.raw_folder, exist_ok=True)
        for filename, md5 in self.resources:
            dest = os.path.join(self.raw_folder, filename)
            if os.path.isfile(dest) and _md5(dest) == md5:
                continue
            import urllib.error  # here: urllib.request (http, ssl, email) costs ~10 ms to import
            errors = []
            for mirror in self.mirrors:
                url = mirror.rstrip("/") + "/" + filename
                try:
                    self._fetch(url, dest, md5)
                    break
                except (urllib.error.URLError, OSError, RuntimeError) as e:
                    errors.append(f"{url}: {e}")
            else:
                raise RuntimeError(f"Error downloading {filename}:\n  " + "\n  ".join(errors))

    def _fetch(self, url, dest, md5):
        import urllib.request
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(dest), suffix=".part",
                                   dir=os.path.dirname(dest))
        try:
            with os.fdopen(fd, "wb") as out, \
                    urllib.request.urlopen(url, timeout=self.download_timeout) as resp:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
            got = _md5(tmp)
            if got != md5:
                raise RuntimeError(f"MD5 mismatch: got {got}, expected {md5}")
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    # -- items --------------------------------------------------------------------------------
    def __len__(self):
        return len(self._images)

    def __getitem__(self, index):
        img, target = self._images[index].copy(), int(self._labels[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __getitems__(self, indices):
        # the DataLoader's batched access: one NumPy gather for the batch, and deterministic
        # transforms (ToTensor, Normalize, Compose of them) applied to the whole batch at once
        idx = np.asarray(indices, dtype=np.int64)
        imgs = self._images[idx]
        targets = self._labels[idx].tolist()
        if self.target_transform is not None:
            targets = [self.target_transform(t) for t in targets]
        if self.transform is None:
            return list(zip(imgs, targets))
        batched = getattr(self.transform, "_batched", None)
        out = batched(imgs) if batched is not None else None
        if out is None:
            return [(self.transform(img), t) for img, t in zip(imgs, targets)]
        return [(out[i], t) for i, t in enumerate(targets)]

    def extra_repr(self):
        return f"Split: {'Train' if self.train else 'Test'}"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST (same format and interface as ``MNIST``).

    >>> import numtorch as torch
    >>> from numtorch.vision import datasets, transforms
    >>> ds = datasets.FashionMNIST("data", train=False, download=True,
    ...                            transform=transforms.ToTensor())  # doctest: +SKIP
    >>> ds[0][0].shape, ds.classes[ds[0][1]]                      # doctest: +SKIP
    (torch.Size([1, 28, 28]), 'Ankle boot')
    """

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]


class FakeData(_VisionDataset):
    """Random images with random labels, the same for the same index on every call, in every
    process and whatever the global random state (which it leaves untouched): item ``i`` is
    drawn from its own generator seeded with ``i + random_offset``.

    ``image_size`` is (C, H, W) or (H, W). Images are uint8 NumPy arrays (H, W, C), or (H, W) for
    one channel, as ``numpy.asarray`` of torchvision's PIL image would be, with uniform values
    in [0, 255] (torchvision's are ``randn * 255`` cast to bytes; the values differ from
    torchvision's anyway). ``target_transform`` receives the label as an int (torchvision
    passes a 0-d tensor and calls ``.item()`` on the result). Negative indices count from the
    end.

    >>> import numtorch as torch
    >>> from numtorch.vision import datasets, transforms
    >>> ds = datasets.FakeData(size=8, image_size=(3, 4, 5), num_classes=3)
    >>> img, label = ds[2]
    >>> img.shape, img.dtype, label in range(3)
    ((4, 5, 3), dtype('uint8'), True)
    >>> bool((ds[2][0] == img).all())
    True
    >>> ds = datasets.FakeData(size=8, image_size=(1, 28, 28), transform=transforms.ToTensor())
    >>> ds[0][0].shape
    torch.Size([1, 28, 28])
    """

    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None,
                 target_transform=None, random_offset=0):
        super().__init__(None, transform, target_transform)
        if len(image_size) not in (2, 3):
            raise ValueError(f"image_size should be (C, H, W) or (H, W), got {image_size}")
        self.size = size
        self.num_classes = num_classes
        self.image_size = image_size
        self.random_offset = random_offset

    def __getitem__(self, index):
        index = operator.index(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"{self.__class__.__name__} index out of range")
        from .. import Generator, randint, uint8
        g = Generator().manual_seed(index + self.random_offset)
        c, h, w = self.image_size if len(self.image_size) == 3 else (1, *self.image_size)
        img = randint(0, 256, (h, w, c), generator=g, dtype=uint8).numpy()
        target = int(randint(0, self.num_classes, (1,), generator=g).item())
        if c == 1:
            img = img.reshape(h, w)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return self.size


IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def has_file_allowed_extension(filename, extensions):
    """Whether ``filename`` ends (case-insensitively) with one of ``extensions`` (lowercase: a
    string or a tuple of strings).

    >>> from numtorch.vision.datasets import has_file_allowed_extension
    >>> has_file_allowed_extension("cat/01.JPG", (".jpg", ".png"))
    True
    >>> has_file_allowed_extension("notes.txt", ".png")
    False
    """
    return filename.lower().endswith(extensions if isinstance(extensions, str)
                                     else tuple(extensions))


def is_image_file(filename):
    """Whether ``filename`` has one of ``IMG_EXTENSIONS``.

    >>> from numtorch.vision.datasets import is_image_file
    >>> is_image_file("dog.png"), is_image_file("notes.txt")
    (True, False)
    """
    return has_file_allowed_extension(filename, IMG_EXTENSIONS)


def find_classes(directory):
    """The class folders of ``directory``: (sorted subfolder names, {name: index}).

    Raises FileNotFoundError when there is no subfolder.

    >>> import os, tempfile
    >>> from numtorch.vision.datasets import find_classes
    >>> root = tempfile.mkdtemp()
    >>> for d in ["dog", "cat", "cat/kittens"]:
    ...     os.makedirs(os.path.join(root, d))
    >>> find_classes(root)
    (['cat', 'dog'], {'cat': 0, 'dog': 1})
    """
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    return classes, {name: i for i, name in enumerate(classes)}


def make_dataset(directory, class_to_idx=None, extensions=None, is_valid_file=None,
                 allow_empty=False):
    """The samples ``[(path, class_index), ...]`` under ``directory/<class>/`` (subfolders
    included, symlinks followed, sorted), keeping the files that have one of ``extensions`` or
    pass ``is_valid_file`` (exactly one of the two must be given). ``class_to_idx`` defaults to
    ``find_classes(directory)``.

    Raises FileNotFoundError when a class has no valid file (unless ``allow_empty``), and
    ValueError for an empty ``class_to_idx`` or for both or neither of ``extensions`` and
    ``is_valid_file``.

    >>> import os, tempfile
    >>> from numtorch.vision.datasets import make_dataset
    >>> root = tempfile.mkdtemp()
    >>> for name in ["dog/b.png", "dog/a.png", "cat/x.jpg", "cat/notes.txt"]:
    ...     os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
    ...     open(os.path.join(root, name), "wb").close()
    >>> [(os.path.relpath(p, root), c) for p, c in make_dataset(root, extensions=(".png", ".jpg"))]
    [('cat/x.jpg', 0), ('dog/a.png', 1), ('dog/b.png', 1)]
    >>> make_dataset(root, extensions=".png")
    Traceback (most recent call last):
    FileNotFoundError: Found no valid file for the classes cat. Supported extensions are: .png
    """
    directory = os.path.expanduser(os.fspath(directory))
    if class_to_idx is None:
        _, class_to_idx = find_classes(directory)
    elif not class_to_idx:
        raise ValueError("'class_to_index' must have at least one entry to collect any samples.")
    if (extensions is None) == (is_valid_file is None):
        raise ValueError("Both extensions and is_valid_file cannot be None or not None at the "
                         "same time")
    keep = is_valid_file if extensions is None else \
        (lambda path: has_file_allowed_extension(path, extensions))
    found, missing = [], []
    for name in sorted(class_to_idx):
        folder = os.path.join(directory, name)
        walk = sorted(os.walk(folder, followlinks=True)) if os.path.isdir(folder) else []
        # a folder's own files, then its subfolders' (by path), each sorted by name
        files = [os.path.join(where, f) for where, _, names in walk for f in sorted(names)]
        files = [f for f in files if keep(f)]
        if not files:
            missing.append(name)
        found += [(f, class_to_idx[name]) for f in files]
    if missing and not allow_empty:
        hint = "" if extensions is None else "Supported extensions are: " + (
            extensions if isinstance(extensions, str) else ", ".join(extensions))
        raise FileNotFoundError(f"Found no valid file for the classes {', '.join(missing)}. {hint}")
    return found


class DatasetFolder(_VisionDataset):
    """Samples stored as ``root/<class>/**/<file>``: classes are the sorted subfolder names,
    items are ``(loader(path), class_index)`` passed through ``transform`` /
    ``target_transform``.

    Attributes (torchvision's): ``classes``, ``class_to_idx``, ``samples`` (a list of
    ``(path, class_index)``), ``targets``, ``loader``, ``extensions``. Override
    ``find_classes`` / ``make_dataset`` for another layout. Files are kept when they have one
    of ``extensions`` or pass ``is_valid_file`` (give exactly one); a class folder without one
    raises FileNotFoundError unless ``allow_empty``.

    >>> import os, tempfile
    >>> import numpy as np
    >>> from numtorch.vision.datasets import DatasetFolder
    >>> root = tempfile.mkdtemp()
    >>> for cls, value in [("low", 0.0), ("high", 1.0)]:
    ...     os.makedirs(os.path.join(root, cls))
    ...     np.save(os.path.join(root, cls, "x.npy"), np.full(3, value))
    >>> ds = DatasetFolder(root, loader=np.load, extensions=(".npy",))
    >>> ds.classes, ds.targets, len(ds)
    (['high', 'low'], [0, 1], 2)
    >>> ds[1]
    (array([0., 0., 0.]), 1)
    """

    def __init__(self, root, loader, extensions=None, transform=None, target_transform=None,
                 is_valid_file=None, allow_empty=False):
        super().__init__(root, transform, target_transform)
        classes, class_to_idx = self.find_classes(self.root)
        samples = self.make_dataset(self.root, class_to_idx=class_to_idx, extensions=extensions,
                                    is_valid_file=is_valid_file, allow_empty=allow_empty)
        self.loader = loader
        self.extensions = extensions
        self.classes = classes
        self.class_to_idx = class_to_idx
        self.samples = samples
        self.targets = [s[1] for s in samples]

    @staticmethod
    def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None,
                     allow_empty=False):
        """The module's ``make_dataset``, but ``class_to_idx`` is required (an override of
        ``find_classes`` must not be bypassed)."""
        if class_to_idx is None:
            raise ValueError("The class_to_idx parameter cannot be None.")
        return make_dataset(directory, class_to_idx, extensions=extensions,
                            is_valid_file=is_valid_file, allow_empty=allow_empty)

    def find_classes(self, directory):
        """(classes, class_to_idx) of ``directory``: the module's ``find_classes``."""
        return find_classes(directory)

    def __getitem__(self, index):
        path, target = self.samples[index]
        sample = self.loader(path)
        if self.transform is not None:
            sample = self.transform(sample)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return sample, target

    def __len__(self):
        return len(self.samples)


def pil_loader(path):
    """Decode the image file at ``path`` with Pillow, converted to RGB, as a uint8 NumPy array
    (H, W, 3) (torchvision returns the PIL image). Raises ImportError without Pillow.

    >>> import os, tempfile
    >>> from PIL import Image
    >>> from numtorch.vision.datasets import pil_loader
    >>> path = os.path.join(tempfile.mkdtemp(), "gray.png")
    >>> Image.new("L", (4, 2), 200).save(path)
    >>> img = pil_loader(path)
    >>> img.shape, img.dtype, img[0, 0].tolist()
    ((2, 4, 3), dtype('uint8'), [200, 200, 200])
    """
    Image = _pil_image("pil_loader")
    with open(path, "rb") as f:  # an open file: Pillow's lazy open would otherwise leak it
        img = Image.open(f)
        return np.array(img.convert("RGB"))


def default_loader(path):
    """``ImageFolder``'s loader: ``pil_loader`` (an RGB uint8 NumPy array (H, W, 3)).

    >>> import os, tempfile
    >>> from PIL import Image
    >>> from numtorch.vision.datasets import default_loader
    >>> path = os.path.join(tempfile.mkdtemp(), "red.jpg")
    >>> Image.new("RGB", (3, 5), (255, 0, 0)).save(path)
    >>> default_loader(path).shape
    (5, 3, 3)
    """
    return pil_loader(path)


class ImageFolder(DatasetFolder):
    """Images stored as ``root/<class>/**/<image>`` (files with one of ``IMG_EXTENSIONS``,
    or those passing ``is_valid_file``): a ``DatasetFolder`` whose ``loader`` defaults to
    ``default_loader``, so items are RGB uint8 NumPy arrays (H, W, 3) where torchvision gives
    PIL images (``transforms.ToTensor`` takes either). ``imgs`` is ``samples``.

    >>> import os, tempfile
    >>> from PIL import Image
    >>> import numtorch as torch
    >>> from numtorch.vision import datasets, transforms
    >>> root = tempfile.mkdtemp()
    >>> for cls, color in [("red", (255, 0, 0)), ("blue", (0, 0, 255))]:
    ...     os.makedirs(os.path.join(root, cls))
    ...     Image.new("RGB", (8, 6), color).save(os.path.join(root, cls, "0.png"))
    >>> ds = datasets.ImageFolder(root, transform=transforms.ToTensor())
    >>> ds.classes, ds.class_to_idx, len(ds)
    (['blue', 'red'], {'blue': 0, 'red': 1}, 2)
    >>> img, label = ds[0]
    >>> img.shape, label, img[:, 0, 0].tolist()
    (torch.Size([3, 6, 8]), 0, [0.0, 0.0, 1.0])
    """

    def __init__(self, root, transform=None, target_transform=None, loader=default_loader,
                 is_valid_file=None, allow_empty=False):
        super().__init__(root, loader, IMG_EXTENSIONS if is_valid_file is None else None,
                         transform=transform, target_transform=target_transform,
                         is_valid_file=is_valid_file, allow_empty=allow_empty)
        self.imgs = self.samples
