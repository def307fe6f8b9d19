"""BLAS's GEMM callable from inside CPU kernels: the library NumPy itself loaded, found at import.

Kernels that split their work into tasks over a ``prange`` (attention: a task per head and block
of queries) call ``GEMM[dtype]`` from each task, each call on one thread, with
:func:`one_thread` around the whole kernel: the tasks then run in parallel, each with its
products and the Numba work between them on one core and its blocks in that core's cache, where
calling ``np.matmul`` per block from Python made BLAS's threads and Numba's take turns on the
cores (and BLAS's threads spin for a while after each call, slowing the parallel Numba code
that followed).

``sgemm``/``dgemm`` take CBLAS's arguments, integers as int64 and the matrices as addresses
(``a.ctypes.data`` plus an offset), row-major; in a kernel::

    GEMM(ROW_MAJOR, NO_TRANS, TRANS, m, n, k, alpha, a_ptr, lda, b_ptr, ldb, beta, c_ptr, ldc)

A kernel calls them by symbol name (``numtorch_cblas_sgemm``, ``..._dgemm``), which this module
points at the library's functions in each process before any kernel is compiled or loaded, so
cached machine code stays valid across processes. Where no usable CBLAS is found (NumPy built
against a BLAS this module does not know), ``AVAILABLE`` is False, the symbols point at a stub
that raises nothing and computes nothing, and callers must take their other path.

Known libraries (symbols searched in the shared objects the process has mapped): the OpenBLAS
that NumPy's wheels bundle (``scipy_cblas_sgemm64_``, 64-bit integers) and an OpenBLAS built
with 64-bit integers (``cblas_sgemm64_``).
"""
import ctypes
import os
import threading

import llvmlite.binding as ll
import numpy as np
from numba import types

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

#: (sgemm, dgemm, set_num_threads, get_num_threads) symbol names, in order of preference; all
#: with 64-bit integers
_KNOWN = (
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_",
     "scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("cblas_sgemm64_", "cblas_dgemm64_", "openblas_set_num_threads64_",
     "openblas_get_num_threads64_"),
)

_i64, _ptr = types.int64, types.intp


def _gemm_type(ft):
    return types.void(_i64, _i64, _i64, _i64, _i64, _i64, ft, _ptr, _i64, _ptr, _i64, ft, _ptr,
                      _i64)


sgemm = types.ExternalFunction("numtorch_cblas_sgemm", _gemm_type(types.float32))
dgemm = types.ExternalFunction("numtorch_cblas_dgemm", _gemm_type(types.float64))
#: the GEMM for each float dtype, as kernels bind it
GEMM = {np.dtype(np.float32): sgemm, np.dtype(np.float64): dgemm}


def _mapped_libraries():
    """Paths of the shared objects mapped into this process whose name mentions BLAS."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/" in line}
    except OSError:  # not Linux
        return []
    return sorted(p for p in paths if "blas" in os.path.basename(p).lower())


def _find():
    """(library, symbol names) of the first known CBLAS NumPy loaded, or None."""
    # NumPy's wheels map their BLAS when NumPy is imported; a product makes sure of it elsewhere
    np.ones((2, 2)) @ np.ones((2, 2))
    for path in _mapped_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for names in _KNOWN:
            if all(hasattr(lib, n) for n in names):
                return lib, names
    return None


def _address(fn):
    return ctypes.cast(fn, ctypes.c_void_p).value


@ctypes.CFUNCTYPE(None)
def _stub():  # never called: what the symbols point at when no BLAS was found
    pass


def _wait_as_configured(lib):
    """OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` once, when it loads. Where NumPy, and with it
    OpenBLAS, was imported before numtorch set that variable (numtorch/__init__.py), OpenBLAS's
    threads busy-wait ~0.1 s after each threaded call, taking a core from the task kernels that
    follow (the seed CNN's Fashion-MNIST epoch: 37 s against 24 s with numtorch imported
    first). Then OpenBLAS re-reads the environment and its threads are stopped: it starts them
    again, with the configured wait, at its next threaded call. Only while this is the one
    Python thread (another one could be inside BLAS, whose threads must not stop under it)."""
    want = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "")
    names = ("openblas_thread_timeout", "openblas_read_env", "blas_thread_shutdown_")
    if not want.isdigit() or not all(hasattr(lib, n) for n in names):
        return
    if lib.openblas_thread_timeout() == int(want) or threading.active_count() > 1:
        return
    lib.openblas_read_env()
    lib.blas_thread_shutdown_()


_FOUND = _find()
AVAILABLE = _FOUND is not None
if AVAILABLE:
    _lib, (_s, _d, _set, _get) = _FOUND
    _wait_as_configured(_lib)
    ll.add_symbol("numtorch_cblas_sgemm", _address(getattr(_lib, _s)))
    ll.add_symbol("numtorch_cblas_dgemm", _address(getattr(_lib, _d)))
    _set_threads = getattr(_lib, _set)
    _set_threads.argtypes, _set_threads.restype = [ctypes.c_int64], None
    _get_threads = getattr(_lib, _get)
    _get_threads.argtypes, _get_threads.restype = [], ctypes.c_int64
else:
    ll.add_symbol("numtorch_cblas_sgemm", _address(_stub))
    ll.add_symbol("numtorch_cblas_dgemm", _address(_stub))


class one_thread:
    """Context: BLAS runs each call on the calling thread (its own thread pool off), restored on
    exit; for kernels that call :data:`GEMM` from parallel tasks."""

    __slots__ = ("_before",)

    def __enter__(self):
        self._before = _get_threads()
        if self._before != 1:
            _set_threads(1)
        return self

    def __exit__(self, *exc):
        if self._before != 1:
            _set_threads(self._before)
        return False


def run_tasks(kernel, ntasks, *args, work):
    """Call ``kernel`` (a policy.Twin whose tasks call :data:`GEMM`) split into ntasks tasks:
    with more than one, its parallel build (``work``) with BLAS on one thread in each task;
    with one, its serial build, BLAS keeping its threads."""
    if ntasks > 1:
        with one_thread():
            kernel(*args, work=work)
    else:
        kernel(*args, work=0)
