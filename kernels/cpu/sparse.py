"""Sparse COO CPU kernels: the row offsets of a row-sorted COO matrix, and its product with a
dense matrix.

Contract: NumPy arrays in, the result written into an array the caller allocated (``crow``,
``out``), nothing returned. A sparse matrix S of shape (M, K) arrives coalesced (entries sorted
by row, then column, no duplicates) as ``crow`` (M + 1,) int64, ``cols`` (nnz,) int64 and
``vals`` (nnz,): the entries of row r are positions ``crow[r]:crow[r + 1]``. The caller has
validated every index (``0 <= cols < K``; rows in ``[0, M)``): Numba does not bounds-check, so a
bad one would read arbitrary memory.

Parallelism: ``spmm`` gives each thread whole output rows, so every element of ``out`` has one
writer (no atomics) and sums its row's entries in order, as the CUDA twin does; ``row_ptr``
does one binary search per offset. Both run their parallel twin above
``policy.PARALLEL_THRESHOLD`` units of work.
"""
from numba import prange

from .. import policy


def _row_ptr(rows, crow):
    # crow[r] = the first position p with rows[p] >= r (rows sorted): a lower-bound search
    nnz = rows.shape[0]
    for r in prange(crow.shape[0]):
        lo = 0
        hi = nnz
        while lo < hi:
            mid = (lo + hi) >> 1
            if rows[mid] < r:
                lo = mid + 1
            else:
                hi = mid
        crow[r] = lo


def _spmm(crow, cols, vals, x, out):
    # row r of out = sum over the row's entries p of vals[p] * x[cols[p], :] (unit-stride rows of
    # x and out in the inner loop: SIMD; out[r, j] indexed directly, no row views in prange)
    m, n = out.shape
    for r in prange(m):
        for j in range(0, n):
            out[r, j] = 0
        for p in range(crow[r], crow[r + 1]):
            v = vals[p]
            c = cols[p]
            for j in range(0, n):
                out[r, j] += v * x[c, j]


_row_ptr_k = policy.Twin(_row_ptr, "row_ptr")
_spmm_k = policy.Twin(_spmm, "spmm")


def row_ptr(rows, crow):
    """crow[r] = number of entries of ``rows`` below r, for r in [0, M]: ``rows`` (nnz,) int64
    sorted ascending with values in [0, M), ``crow`` (M + 1,) int64."""
    if crow.shape[0] == 0:
        return
    _row_ptr_k(rows, crow, work=crow.shape[0] * 16)


def spmm(crow, cols, vals, x, out):
    """out (M, N) = S @ x for the coalesced COO matrix S (``crow`` (M + 1,), ``cols`` and
    ``vals`` (nnz,)) and the dense ``x`` (K, N); x and out C-contiguous, vals, x and out of
    one dtype: float32, float64 or int64 (the sum is accumulated in it)."""
    m, n = out.shape
    if m == 0 or n == 0:
        return
    _spmm_k(crow, cols, vals, x, out, work=cols.shape[0] * n + out.size)
