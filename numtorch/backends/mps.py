"""``numtorch.backends.mps``: Apple's Metal backend, which numtorch does not have.

>>> import numtorch as torch
>>> torch.backends.mps.is_available(), torch.backends.mps.is_built()
(False, False)
"""


def is_available():
    """False: numtorch has no MPS backend.

    >>> import numtorch as torch
    >>> torch.backends.mps.is_available()
    False
    """
    return False


def is_built():
    """False: numtorch has no MPS backend.

    >>> import numtorch as torch
    >>> torch.backends.mps.is_built()
    False
    """
    return False
