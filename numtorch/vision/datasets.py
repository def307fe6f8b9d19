"""MNIST and Fashion-MNIST from IDX files (torchvision's on-disk layout, or a flat folder).

Files are looked for, plain or ``.gz``, in ``root/<ClassName>/raw`` (torchvision's layout),
``root/<ClassName>`` and ``root`` itself (e.g. Debian's ``/usr/share/datasets/fashion-mnist``).
``download=True`` fetches them from ``mirrors`` into ``root/<ClassName>/raw``, checking MD5s.
"""
import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request

import numpy as np

from ..utils.data import Dataset

__all__ = ["MNIST", "FashionMNIST", "read_idx"]

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


class MNIST(Dataset):
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
        if isinstance(root, (str, bytes, os.PathLike)):
            root = os.path.expanduser(os.fspath(root))
        self.root = root
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
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

    def __repr__(self):
        lines = [f"Dataset {self.__class__.__name__}", f"    Number of datapoints: {len(self)}",
                 f"    Root location: {self.root}", f"    {self.extra_repr()}"]
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"    Target transform: {self.target_transform!r}")
        return "\n".join(lines)


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
