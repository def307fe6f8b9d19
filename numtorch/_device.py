"""Devices: ``numtorch.device('cpu')``, ``device('cuda:0')``."""

__all__ = ["device"]


class device:
    """Where a tensor's memory lives.

    >>> import numtorch as torch
    >>> torch.device("cuda:1")
    device(type='cuda', index=1)
    """

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):  # noqa: A002  (PyTorch's argument name)
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        elif not isinstance(type, str):
            raise TypeError(f"device() expected a string or device, got {type!r}")
        elif ":" in type:
            if index is not None:
                raise RuntimeError(f"device string {type!r} already has an index")
            type, _, idx = type.partition(":")
            try:
                index = int(idx)
            except ValueError:
                raise RuntimeError(f"Invalid device string: '{type}:{idx}'") from None
        if type not in ("cpu", "cuda"):
            raise RuntimeError(
                f"Expected one of cpu, cuda device type at start of device string: {type}")
        if index is not None and index < 0:
            raise RuntimeError(f"Device index must not be negative, got {index}")
        self.type = type
        self.index = index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __reduce__(self):
        return (device, (self.type, self.index))


CPU = device("cpu")


def as_device(d):
    """Normalise None / str / int / device to where a tensor lives: an int means that CUDA
    device, and ``cuda`` without an index the current one (``cuda:0``), as in PyTorch."""
    if d is None or d is CPU:
        return CPU
    if not isinstance(d, device):
        d = device("cuda", d) if isinstance(d, int) else device(d)
    if d.type == "cpu":
        return CPU  # one object per device: ops compare devices by identity first
    index = d.index
    if index is None:
        index = cuda_state["current"]
    c = _CUDA.get(index)
    if c is None:
        c = _CUDA[index] = device("cuda", index)
    return c


_CUDA = {}


# --- CUDA's process state (numtorch.cuda is its public face; the ops read it through here) -----
#: ``available``: whether numba.cuda imports and sees a GPU or the simulator (None until first
#: asked: asking imports numba.cuda, which ``import numtorch`` never does); ``current``: the
#: device index that ``cuda`` without an index means (``numtorch.cuda.set_device``).
cuda_state = {"available": None, "current": 0}


def cuda_runtime():
    """``numba.cuda`` if it imports and sees a device (or the simulator), else None."""
    if cuda_state["available"] is None:
        try:
            from numba import cuda
            ok = bool(cuda.is_available())
        except Exception:  # numba-cuda missing, or no driver/runtime library
            ok = False
        cuda_state["available"] = ok
    if not cuda_state["available"]:
        return None
    from numba import cuda
    return cuda


def require_cuda():
    """``numba.cuda``, or PyTorch's AssertionError when there is no CUDA."""
    cuda = cuda_runtime()
    if cuda is None:
        raise AssertionError(
            "Torch not compiled with CUDA enabled: numtorch found no CUDA device (install the "
            "'cuda' extra and an NVIDIA driver, or set NUMBA_ENABLE_CUDASIM=1 before importing "
            "numtorch to run the CUDA kernels in Numba's simulator)")
    return cuda


def cuda_device_count():
    """The number of visible CUDA devices (0 without CUDA)."""
    cuda = cuda_runtime()
    return 0 if cuda is None else len(cuda.gpus)


def check_cuda_index(index):
    """``index`` when it names a visible CUDA device, else CUDA's RuntimeError."""
    n = cuda_device_count()
    if not 0 <= index < n:
        raise RuntimeError(f"CUDA error: invalid device ordinal (device {index}, "
                           f"{n} device(s) visible)")
    return index


def require_backend(d):
    """Raise PyTorch's error unless ``d``'s kernels can be loaded (CUDA needs numba.cuda and a
    device or the simulator; the CPU always can)."""
    if d.type == "cuda":
        require_cuda()


def checked(d):
    """The interned device of ``d`` after checking that memory can be allocated there (a CUDA
    index must name a visible device): what every allocation and copy to a device goes through."""
    d = as_device(d)
    if d is not CPU:
        require_cuda()  # no CUDA at all: PyTorch's AssertionError, before any index check
        check_cuda_index(d.index)
    return d
