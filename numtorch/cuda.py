"""``numtorch.cuda``: device queries. The CUDA kernels (``numtorch.kernels.cuda``) are not built
yet; until then CUDA tensors raise a clear error instead of falling back to the host."""

__all__ = ["is_available", "device_count", "current_device", "set_device", "synchronize",
           "manual_seed", "manual_seed_all"]


def is_available():
    """False until numtorch's CUDA kernels exist (it never silently runs CUDA ops on the host)."""
    return False


def device_count():
    return 0


def current_device():
    raise RuntimeError("numtorch.cuda: no CUDA backend is available in this build")


def set_device(device):
    current_device()


def synchronize(device=None):
    return None


def manual_seed(seed):
    from ._random import manual_seed as _ms
    _ms(seed)


manual_seed_all = manual_seed


def _kernels():
    raise NotImplementedError(
        "numtorch has no CUDA kernels yet (numtorch.kernels.cuda): CUDA tensors are not supported "
        "in this build")


def _empty(shape, npdtype, device):
    _kernels()


_to_device = _from_cuda_array_interface = lambda *a, **k: _kernels()
