"""numtorch.kernels: Numba kernels as pure array functions.

Layout: ``cpu/`` holds ``@njit`` kernels, ``cuda/`` (later) the ``@cuda.jit`` twins with the same
names and signatures. Nothing here imports numtorch; every kernel writes into an ``out`` array
that the caller allocated and returns nothing. ``policy`` is the one place that sets Numba's
compile options.
"""
