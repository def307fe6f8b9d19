"""``numtorch.hub``: download checkpoints once and keep them in a cache (``torch.hub``'s file side).

The cache lives in :func:`get_dir` (``$TORCH_HOME/hub``, with ``TORCH_HOME`` defaulting to
``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch``: the same folder PyTorch uses, so files that
PyTorch downloaded are found). :func:`load_state_dict_from_url` keeps checkpoints under
``<hub dir>/checkpoints`` and reads them with :func:`numtorch.load`.

Without network access, copy the file to the cache path named in the error message (or given by
``os.path.join(numtorch.hub.get_dir(), "checkpoints", file_name)``) and call again.

>>> import numtorch
>>> numtorch.hub.get_dir().endswith("hub")
True
"""
import hashlib
import os
import re
import sys
import urllib.parse

from .serialization import _write_atomically, load as _load

# urllib.request (with http.client and email) is imported on the first download: `import
# numtorch` stays light.

__all__ = ["get_dir", "set_dir", "download_url_to_file", "load_state_dict_from_url"]

_hub_dir = None  # set_dir's choice; None means the environment decides
_CHUNK = 1 << 16
# PyTorch's convention: a checkpoint named ``name-<hex>.ext`` carries the first hex digits of
# its sha256 after the first dash that is followed by hex digits and a dot.
_HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")


def _torch_home():
    default = os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch")
    return os.path.expanduser(os.getenv("TORCH_HOME", default))


def get_dir():
    """The folder that holds the hub cache: ``set_dir``'s choice, else ``$TORCH_HOME/hub``.

    ``TORCH_HOME`` defaults to ``$XDG_CACHE_HOME/torch``, and that to ``~/.cache/torch``.

    >>> import os, numtorch
    >>> cache = os.environ.get("XDG_CACHE_HOME", "~/.cache")
    >>> home = os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))
    >>> numtorch.hub.get_dir() == os.path.join(os.path.expanduser(home), "hub")
    True
    """
    if _hub_dir is not None:
        return _hub_dir
    return os.path.join(_torch_home(), "hub")


def set_dir(d):
    """Use folder ``d`` (``~`` expanded) for the hub cache from now on.

    >>> import numtorch
    >>> numtorch.hub.set_dir("/tmp/hub_cache")
    >>> numtorch.hub.get_dir()
    '/tmp/hub_cache'
    >>> numtorch.hub.set_dir(None)  # back to the default ($TORCH_HOME/hub)
    """
    global _hub_dir
    _hub_dir = None if d is None else os.path.expanduser(os.fspath(d))


class _NoBar:
    """Stands in for tqdm when it is not installed or progress is off."""

    def update(self, n):
        pass

    def close(self):
        pass


def _progress_bar(total, enabled):
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, disable=False, unit="B", unit_scale=True, unit_divisor=1024)


def _open(url):
    """The response for ``url`` (urlopen's errors pass through)."""
    import urllib.request
    req = urllib.request.Request(url, headers={"User-Agent": "numtorch.hub"})
    return urllib.request.urlopen(req)


def download_url_to_file(url, dst, hash_prefix=None, progress=True):
    """Download ``url`` to the file ``dst`` (atomically: a partial download never sits at ``dst``).

    The bytes go to a temporary file in ``dst``'s folder that is renamed to ``dst`` at the end.
    With ``hash_prefix``, the sha256 of the download must start with it; otherwise the temporary
    file is removed and RuntimeError names the expected and the actual digest. ``progress`` shows
    a tqdm bar on stderr when tqdm is installed. A failed download raises
    ``urllib.error.URLError`` naming the URL and ``dst`` (where the file could be put by hand).

    >>> import numtorch, os, pathlib, tempfile
    >>> d = tempfile.mkdtemp()
    >>> src = pathlib.Path(d, "src.bin"); _ = src.write_bytes(b"hello")
    >>> numtorch.hub.download_url_to_file(src.as_uri(), os.path.join(d, "copy.bin"), progress=False)
    >>> open(os.path.join(d, "copy.bin"), "rb").read()
    b'hello'
    """
    import urllib.error
    dst = os.path.abspath(os.path.expanduser(os.fspath(dst)))
    try:
        response = _open(url)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise urllib.error.URLError(
            f"could not download {url!r} to {dst!r}: {reason}. Without network access, fetch "
            f"the file elsewhere and copy it to {dst!r}") from e
    digest = hashlib.sha256() if hash_prefix is not None else None
    with response:
        length = response.headers.get("Content-Length") if response.headers else None
        total = int(length) if length and length.isdigit() else None
        bar = _progress_bar(total, progress)

        def write(out):  # (a raise here leaves no file behind and dst as it was)
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except OSError as e:
                    raise urllib.error.URLError(
                        f"download of {url!r} to {dst!r} broke off: {e}") from e
                if not chunk:
                    break
                out.write(chunk)
                if digest is not None:
                    digest.update(chunk)
                bar.update(len(chunk))
            if digest is not None:
                actual = digest.hexdigest()
                if not actual.startswith(hash_prefix):
                    raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got '
                                       f'"{actual}") for {url!r}')
        try:
            _write_atomically(dst, write)
        finally:
            bar.close()


def load_state_dict_from_url(url, model_dir=None, map_location=None, progress=True,
                             check_hash=False, file_name=None, weights_only=True):
    """Load the checkpoint at ``url``, downloading it into the cache the first time.

    The file is cached as ``<model_dir>/<file name>``; ``model_dir`` defaults to
    ``<get_dir()>/checkpoints`` and the file name to the last part of the URL's path
    (``file_name`` overrides it). An existing cached file is loaded without any download.
    With ``check_hash``, a file name of the form ``name-<hex>.ext`` gives the prefix that the
    download's sha256 must start with. The file is read with
    ``numtorch.load(path, map_location=map_location, weights_only=weights_only)``.

    >>> import numtorch, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> numtorch.save({"w": numtorch.ones(2)}, d / "tiny.pth")
    >>> numtorch.hub.load_state_dict_from_url((d / "tiny.pth").as_uri(), model_dir=d / "cache",
    ...                                       progress=False)
    {'w': tensor([1., 1.])}
    >>> url = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    >>> sd = numtorch.hub.load_state_dict_from_url(url, check_hash=True)  # doctest: +SKIP
    """
    if model_dir is None:
        model_dir = os.path.join(get_dir(), "checkpoints")
    model_dir = os.path.expanduser(os.fspath(model_dir))
    os.makedirs(model_dir, exist_ok=True)
    if file_name is None:
        file_name = os.path.basename(urllib.parse.urlparse(url).path)
    cached_file = os.path.join(model_dir, file_name)
    if not os.path.exists(cached_file):
        sys.stderr.write(f'Downloading: "{url}" to {cached_file}\n')
        hash_prefix = None
        if check_hash:
            m = _HASH_IN_NAME.search(file_name)
            hash_prefix = m.group(1) if m else None
        download_url_to_file(url, cached_file, hash_prefix, progress=progress)
    return _load(cached_file, map_location=map_location, weights_only=weights_only)
