"""``@njit`` kernels: the same names and signatures as ``numtorch.kernels.cuda``.

Arrays are NumPy arrays (``memory.empty`` allocates them); kernels run to completion before they
return. Importing this package never imports ``numba.cuda``.
"""


def __getattr__(name):  # a kernel family, imported on first use
    from .. import family
    return family(__name__, name)
