"""``numtorch.accelerator``: PyTorch's device-generic accelerator API.

numtorch's one accelerator is CUDA (a GPU, or Numba's CUDA simulator when
``NUMBA_ENABLE_CUDASIM=1``); without it every query answers "none" and scripts fall back to the
CPU, as they do under PyTorch on a machine without a GPU.

>>> import numtorch as torch
>>> device = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else torch.device("cpu")
>>> device.type in ("cuda", "cpu")
True
"""
from . import _device

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index",
           "current_device_idx", "set_device_index", "set_device_idx", "synchronize",
           "device_index"]


def is_available():
    """True when an accelerator (CUDA) can be used.

    >>> import numtorch as torch
    >>> torch.accelerator.is_available() == torch.cuda.is_available()
    True
    """
    return _device.cuda_runtime() is not None


def current_accelerator(check_available=False):
    """``device('cuda')`` when CUDA is present, else None (PyTorch's answer without one).

    >>> import numtorch as torch
    >>> acc = torch.accelerator.current_accelerator()
    >>> acc is None or acc.type == "cuda"
    True
    """
    if not is_available():
        return None
    return _device.device("cuda")


def device_count():
    """How many accelerator devices are visible (0 without CUDA).

    >>> import numtorch as torch
    >>> torch.accelerator.device_count() == torch.cuda.device_count()
    True
    """
    return _device.cuda_device_count()


def current_device_index():
    """The index of the current accelerator device (-1 without one, as PyTorch's CPU builds).

    >>> import numtorch as torch
    >>> torch.accelerator.current_device_index() in (-1, 0)
    True
    """
    if not is_available():
        return -1
    return _device.cuda_state["current"]


current_device_idx = current_device_index


def set_device_index(device):
    """Make ``device`` (an index, ``'cuda:i'`` or a device) the current accelerator device.

    >>> import numtorch as torch
    >>> if torch.accelerator.is_available():
    ...     torch.accelerator.set_device_index(0)
    """
    from . import cuda
    cuda.set_device(device)


set_device_idx = set_device_index


def synchronize(device=None):
    """Wait for every kernel queued on the accelerator (nothing to wait for without one).

    >>> import numtorch as torch
    >>> torch.accelerator.synchronize()
    """
    if is_available():
        from . import cuda
        cuda.synchronize(device)


class device_index:
    """Context manager: the current accelerator device is ``index`` inside the block (``None``:
    unchanged).

    >>> import numtorch as torch
    >>> with torch.accelerator.device_index(None):
    ...     pass
    """

    def __init__(self, device):
        self.index = device
        self.prev = None

    def __enter__(self):
        if self.index is not None:
            self.prev = current_device_index()
            set_device_index(self.index)
        return self

    def __exit__(self, *exc):
        if self.prev is not None and self.prev >= 0:
            set_device_index(self.prev)
        return False
