"""``@cuda.jit`` kernels: the same names and signatures as ``numtorch.kernels.cpu``.

Arrays are Numba device arrays (``memory.empty`` allocates them); every launcher checks sizes on
the host and launches grid-stride kernels on the default stream, so calls return before the GPU
finishes and copies to the host synchronise. Importing this package needs ``numba.cuda``: a
CUDA driver, or the simulator (``NUMBA_ENABLE_CUDASIM=1``).
"""
from . import _simulator

_simulator.apply()  # repairs to Numba's CUDA simulator; nothing on a GPU


def __getattr__(name):  # a kernel family, imported on first use
    from .. import family
    return family(__name__, name)
