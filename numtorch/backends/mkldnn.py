"""``numtorch.backends.mkldnn``: numtorch does not use oneDNN (its CPU kernels are Numba code).

>>> import numtorch as torch
>>> torch.backends.mkldnn.is_available()
False
"""
enabled = True  # accepted and ignored


def is_available():
    """False: numtorch does not use oneDNN.

    >>> import numtorch as torch
    >>> torch.backends.mkldnn.is_available()
    False
    """
    return False
