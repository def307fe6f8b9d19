"""numtorch.kernels: Numba kernels as pure array functions.

Layout: ``cpu/`` holds ``@njit`` kernels, ``cuda/`` the ``@cuda.jit`` twins with the same names
and signatures, each next to its ``memory`` module (allocation, copies, views). Nothing here
imports numtorch; every kernel writes into an ``out`` array that the caller allocated and returns
nothing. ``policy`` is the one place that sets Numba's compile options.
"""
import importlib

#: The kernel families: ``cpu/<family>.py`` and ``cuda/<family>.py`` export the same public names
#: with the same signatures (tests/kernels/test_backend_mirror.py checks). The one list of them:
#: :func:`load`, the mirror test and the PTX test read it.
FAMILIES = ("elementwise", "reduce", "matmul", "index", "conv", "pool", "norm", "optim",
            "sort", "rnn", "attention", "sparse", "activation")


def load(backend):
    """The package ``numtorch.kernels.<backend>`` (``"cpu"`` or ``"cuda"``) with its ``memory``
    module imported; each family of :data:`FAMILIES` is imported when first read as an attribute
    (:func:`family`), so a program pays only for the families it uses. Importing ``"cuda"``
    imports numba.cuda (a driver or the simulator must be there: the caller checks first)."""
    pkg = importlib.import_module(f"{__name__}.{backend}")
    importlib.import_module(f"{pkg.__name__}.memory")
    return pkg


def family(package, name):
    """The module-level ``__getattr__`` of the backend packages: the family ``name`` of
    ``package`` imported (the import makes it an attribute, so this runs once per family)."""
    if name not in FAMILIES:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return importlib.import_module(f"{package}.{name}")
