"""Allocator policy of the process (CPU memory comes from NumPy, which asks glibc's malloc).

glibc serves each block over its mmap threshold (adaptive, 128 KiB at start) with a fresh
``mmap`` and gives the heap's free top back to the system above a trim threshold; the kernels
then page-fault on every new activation, gradient or convolution buffer. A training step frees
and reallocates the same sizes every iteration, so numtorch keeps them in the heap instead:
blocks under 64 MiB are heap blocks and up to 256 MiB of free heap is kept. Measured on the
2-core CI machine, one thread: seed CNN Adam step at batch 64, 43.6 -> 35.4 ms; MLP 784-256-10
with its forward and backward compiled, 2.7 -> 1.8 ms (benchmarks/bench_compile.py).

Applied once at import on glibc systems, unless the user set ``MALLOC_MMAP_THRESHOLD_`` or
``MALLOC_TRIM_THRESHOLD_`` (their own policy wins) or ``NUMTORCH_MALLOC_POLICY=0``.
"""
import ctypes
import ctypes.util
import os
import sys

__all__ = ["apply"]

_M_TRIM_THRESHOLD = -1  # mallopt parameters (glibc's malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 << 20
TRIM_THRESHOLD = 256 << 20

applied = False


def apply():
    """Set the thresholds (see the module docstring); True when they were set."""
    global applied
    if applied or not sys.platform.startswith("linux"):
        return applied
    env = os.environ
    if env.get("NUMTORCH_MALLOC_POLICY", "1") == "0" or "MALLOC_MMAP_THRESHOLD_" in env \
            or "MALLOC_TRIM_THRESHOLD_" in env:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return applied
