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
        from .cuda import _state
        index = _state["current"]
    c = _CUDA.get(index)
    if c is None:
        c = _CUDA[index] = device("cuda", index)
    return c


_CUDA = {}
