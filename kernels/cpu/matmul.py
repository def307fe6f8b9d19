"""Batched matrix multiply on the CPU: ``out[z] = a[z] @ b[z]`` with batch broadcast.

Contract: ``matmul(a, b, out)`` with ``a`` (B1, M, K), ``b`` (B2, K, N) and ``out`` (B, M, N)
C-contiguous, where B1 and B2 are each B or 1 (a size-1 batch is broadcast, never expanded).
``a``, ``b`` and ``out`` have one dtype (the caller promotes). Any strides are accepted; the
fast paths need each matrix row- or column-contiguous, e.g. ``np.swapaxes(w, -1, -2)`` of a
C-contiguous array, so a backward ``g @ w.T`` copies nothing. Other strides (``a[:, ::2]``) are
made contiguous first (memory only). K == 0 gives zeros; M, N or B == 0 writes nothing.

How a call runs (measured on this machine, see benchmarks/bench_gemm.py):
1. float32/float64 with more than ``SMALL_WORK`` multiply-adds: BLAS, through ``np.matmul`` with
   ``out=``, which is NumPy's own OpenBLAS (threaded), loops the batch in C and passes the
   transpose flags for column-contiguous views instead of copying. A hand-written Numba GEMM
   reaches 82-88% of it; ``np.dot`` inside ``@njit`` would be the same BLAS but Numba reaches it
   only through SciPy (``scipy.linalg.cython_blas``), which numtorch does not depend on, and
   it measured 0.7x NumPy on batches of small matrices (per-call overhead).
2. integers (which BLAS lacks; accumulated in the dtype and wrapping like torch), tiny float
   products where the BLAS call costs more than the arithmetic, and outer products (K == 1),
   which NumPy's BLAS call runs 4-8x slower than the loop (97x1 @ 1x204 float64: 23 vs 4.9 us,
   1024x1 @ 1x1024: 1.16 vs 0.27 ms; from K = 2 BLAS is the faster): a plain i-k-j loop kernel
   whose inner loop runs along unit-stride rows of ``b`` and ``out`` (SIMD), parallel over rows
   above the policy threshold.
"""
import numpy as np
from numba import prange

from .. import policy

#: Multiply-adds (B*M*N*K) up to which a float matmul runs the loop kernel instead of BLAS:
#: at 16x16x16 the loop kernel takes 0.9 us, NumPy's BLAS call 1.1 us; at 32^3, 3.6 vs 1.8 us.
SMALL_WORK = 16 * 16 * 16
#: The loop kernel does about 4 multiply-adds per element-sized unit of the policy's
#: parallel threshold (which counts elements of an elementwise op).
_MACS_PER_WORK = 4


def _matmul_loop(a, b, out):
    """out[z] = a[z or 0] @ b[z or 0]; b's and out's rows unit-stride; accumulates in out's dtype."""
    nb, m, n = out.shape
    k = a.shape[2]
    a_step = 1 if a.shape[0] > 1 else 0
    b_step = 1 if b.shape[0] > 1 else 0
    for r in prange(nb * m):
        z = r // m
        i = r - z * m
        za = z * a_step
        zb = z * b_step
        for j in range(0, n):
            out[z, i, j] = 0
        for p in range(0, k):
            aip = a[za, i, p]
            for j in range(0, n):
                out[z, i, j] += aip * b[zb, p, j]


_loop = policy.Twin(_matmul_loop)


def matmul(a, b, out):
    """out[z] = a[z] @ b[z] for a (B1,M,K), b (B2,K,N), out (B,M,N) C-contiguous; B1, B2 in {B,1}."""
    nb, m, n = out.shape
    k = a.shape[2]
    work = nb * m * n * k
    if out.itemsize == 2 and out.dtype in policy.STORAGE_DTYPES:  # half types: BLAS in float32
        return policy.in_float32(matmul, a, b, out)
    if work > SMALL_WORK and out.dtype.kind == "f" and k > 1:
        # BLAS takes each matrix row- or column-major with a leading dimension >= its width;
        # anything else is copied (NumPy would run its slow non-BLAS loop). Inlined: this
        # launcher's Python is the whole overhead of a 64x64 product (6 us).
        it = out.itemsize
        s = a.strides
        if not ((s[2] == it and s[1] >= k * it) or (s[1] == it and s[2] >= m * it)):
            a = np.ascontiguousarray(a)
        s = b.strides
        if not ((s[2] == it and s[1] >= n * it) or (s[1] == it and s[2] >= k * it)):
            b = np.ascontiguousarray(b)
        if nb > 1 and a.shape[0] == 1 and b.shape[0] == 1:
            np.matmul(a, b, out=out[:1])  # one product, repeated over the batch
            out[1:] = out[0]
        else:
            np.matmul(a, b, out=out)
        return
    if nb == 0 or m == 0 or n == 0:
        return
    if k == 0:
        out.fill(0)
        return
    if b.strides[2] != b.itemsize:
        b = np.ascontiguousarray(b)
    _loop(a, b, out, work=work // _MACS_PER_WORK)
