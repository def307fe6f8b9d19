"""``numtorch.backends.cudnn``: numtorch has no cuDNN (its convolutions are Numba kernels).

>>> import numtorch as torch
>>> torch.backends.cudnn.is_available()
False
"""
enabled = True          # accepted and ignored: no cuDNN path exists
benchmark = False
deterministic = False
allow_tf32 = True


def is_available():
    """False: numtorch does not use cuDNN.

    >>> import numtorch as torch
    >>> torch.backends.cudnn.is_available()
    False
    """
    return False


def version():
    """None: no cuDNN library is loaded (PyTorch's answer without cuDNN).

    >>> import numtorch as torch
    >>> torch.backends.cudnn.version() is None
    True
    """
    return None
