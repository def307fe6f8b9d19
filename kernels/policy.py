"""The one place that sets Numba's compile policy for every numtorch kernel.

- on-disk cache on, under ``$NUMBA_CACHE_DIR`` or ``$XDG_CACHE_HOME/numtorch/numba``
  (never inside site-packages, where ``pip uninstall`` would leave it behind);
- fastmath without ``nnan``/``ninf`` so NaN and inf propagate as in PyTorch;
- the ``workqueue`` threading layer unless the user chose one: GNU OpenMP hangs a child that
  ``fork()``s after a parallel region ran, and DataLoader workers fork;
- one size threshold below which kernels run serially (a ``prange`` region costs ~10 us).
"""
import os
import types

# Both variables are read by numba.config on import: set them before importing numba.
_CACHE_DIR = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
    "numtorch", "numba")
os.environ.setdefault("NUMBA_CACHE_DIR", _CACHE_DIR)
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import numba  # noqa: E402

# numba may have been imported before us: its config is then already read, so set it directly.
numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
numba.config.THREADING_LAYER = os.environ["NUMBA_THREADING_LAYER"]

CACHE = True
#: LLVM fast-math flags: reassociation (vectorised reductions), FMA contraction, signed zeros.
#: Deliberately no 'nnan'/'ninf' (NaN/inf must propagate) and no 'afn'/'arcp' (accuracy).
FASTMATH = {"nsz", "contract", "reassoc"}
# error_model="numpy": float x/0 gives inf like PyTorch (the Python model raises and blocks SIMD).
#: Element count from which a kernel runs its parallel twin.
PARALLEL_THRESHOLD = int(os.environ.get("NUMTORCH_PARALLEL_THRESHOLD", 1 << 15))


def scalar(fn=None, *, name=None, bind=None, inline="always"):
    """Compile a scalar helper that kernels call (Numba inlines it into them by default).

    ``name`` and ``bind`` work as in :func:`kernel`. A body bound to an op code as a global
    constant (``bind={"OP": code}``) compiles only that op's branch: Numba prunes the others
    before typing. Such a per-op helper can pass ``inline="never"``: it is then compiled (and
    cached) once per signature and linked into each kernel, where LLVM inlines it, instead of
    being retyped inside every kernel specialisation (the elementwise kernels: ~5x less compile
    time, the same speed). A helper that switches on an *argument* must stay inlined, so that
    the constant argument prunes branches that would not type (an integer op on a float).
    """
    if fn is None:
        return lambda f: scalar(f, name=name, bind=bind, inline=inline)
    if name or bind:
        fn = _renamed(fn, name or fn.__name__, bind)
    return numba.njit(cache=CACHE, fastmath=FASTMATH, error_model="numpy", inline=inline)(fn)


def _renamed(fn, name, bind=None):
    # Numba names cache files after __qualname__ and keys entries by code + closure values; a
    # kernel built by a factory (a closure) or compiled twice (serial/parallel) needs its own
    # name or the twins overwrite and load each other's machine code. Jitted helpers a factory
    # passes in go in as globals (``bind``), never as closure cells: a dispatcher pickles with a
    # fresh UUID per process, which would make every cache lookup miss.
    env = fn.__globals__
    if bind:
        env = dict(env)
        env.update(bind)
    g = types.FunctionType(fn.__code__, env, name, fn.__defaults__, fn.__closure__)
    g.__qualname__ = name
    g.__module__ = fn.__module__
    g.__doc__ = fn.__doc__
    return g


def kernel(fn=None, *, name=None, bind=None):
    """Compile ``fn`` serially (its ``prange`` loops run as ``range``).

    ``bind`` maps global names in ``fn``'s body to jitted helpers (for kernel factories).
    """
    if fn is None:
        return lambda f: kernel(f, name=name, bind=bind)
    return numba.njit(cache=CACHE, fastmath=FASTMATH, error_model="numpy")(
        _renamed(fn, name or fn.__name__, bind))


def parallel_kernel(fn=None, *, name=None, bind=None):
    """Compile ``fn`` with ``parallel=True``."""
    if fn is None:
        return lambda f: parallel_kernel(f, name=name, bind=bind)
    return numba.njit(cache=CACHE, fastmath=FASTMATH, error_model="numpy", parallel=True)(
        _renamed(fn, (name or fn.__name__) + "_parallel", bind))


class Twin:
    """A kernel compiled twice, serial and parallel; calling it picks by work size.

    ``Twin(fn)(*args, work=n)`` runs the parallel build when ``n >= PARALLEL_THRESHOLD``.
    Without ``work`` the size of the last argument (the output) decides.
    """

    __slots__ = ("serial", "parallel", "__name__")

    def __init__(self, fn, name=None, bind=None):
        name = name or fn.__name__
        self.serial = kernel(fn, name=name, bind=bind)
        self.parallel = parallel_kernel(fn, name=name, bind=bind)
        self.__name__ = name

    def __call__(self, *args, work=None):
        if work is None:
            work = args[-1].size
        if work >= PARALLEL_THRESHOLD:
            return self.parallel(*args)
        return self.serial(*args)

    @property
    def __signature__(self):
        # what inspect reports (and the CPU/CUDA mirror test compares): fn's arguments + work
        import inspect
        sig = inspect.signature(self.serial.py_func)
        work = inspect.Parameter("work", inspect.Parameter.KEYWORD_ONLY, default=None)
        return sig.replace(parameters=[*sig.parameters.values(), work])


# --- CUDA (numtorch.kernels.cuda) -------------------------------------------------------------
#: GPU fast-math stays off: IEEE division and square root, denormals kept, as PyTorch does.
CUDA_FASTMATH = False


def cuda_kernel(fn=None, *, name=None, bind=None, device=False):
    """Compile ``fn`` with ``numba.cuda.jit`` under numtorch's policy (cache on, fast-math off).

    ``device=True`` makes a device function that kernels call. ``name`` and ``bind`` work as in
    :func:`kernel` (factories give each specialisation its own cache name; jitted helpers go in
    as globals). numba.cuda is imported here, on first use, never by CPU-only code.
    """
    if fn is None:
        return lambda f: cuda_kernel(f, name=name, bind=bind, device=device)
    from numba import cuda
    return cuda.jit(device=device, cache=CACHE, fastmath=CUDA_FASTMATH)(
        _renamed(fn, name or fn.__name__, bind))
