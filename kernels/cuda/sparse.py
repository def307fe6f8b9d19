"""Sparse COO CUDA kernels: the row offsets of a row-sorted COO matrix, and its product with a
dense matrix.

Same names, signatures and contracts as ``numtorch.kernels.cpu.sparse``: device arrays in, the
result written into ``crow`` / ``out``, nothing returned. The sparse matrix (M, K) is coalesced
(sorted by row, no duplicates) and given by ``crow`` (M + 1,) int64, ``cols`` and ``vals``
(nnz,); every index was validated by the caller (a GPU does not bounds-check either).

Launch strategy (grid-stride loops, ``memory.grid``):

- ``spmm``: one thread per output element (r, j), j fastest. The threads of a warp share a row
  (one broadcast read of ``cols[p]``, ``vals[p]``) and read consecutive elements of a row of
  ``x``: coalesced. Each thread sums its row's entries in order in a register and writes its
  element once, so no atomics are needed and the sums are added in the CPU kernel's order.
- ``row_ptr``: one thread per offset, a binary search of the sorted rows.
"""
import numba
import numpy as np
from numba import cuda

from .. import policy
from . import memory


@policy.cuda_kernel
def _row_ptr_k(rows, crow):
    nnz = rows.shape[0]
    for r in range(cuda.grid(1), crow.shape[0], cuda.gridsize(1)):
        lo = 0
        hi = nnz
        while lo < hi:
            mid = (lo + hi) >> 1
            if rows[mid] < r:
                lo = mid + 1
            else:
                hi = mid
        crow[r] = lo


@policy.cuda_kernel
def _spmm_k(crow, cols, vals, x, out, zero):
    m, n = out.shape
    for e in range(cuda.grid(1), m * n, cuda.gridsize(1)):
        r = e // n
        j = e - r * n
        acc = zero
        for p in range(crow[r], crow[r + 1]):
            acc += vals[p] * x[cols[p], j]
        out[r, j] = acc


def row_ptr(rows, crow):
    """crow[r] = number of entries of ``rows`` below r, for r in [0, M]: ``rows`` (nnz,) int64
    sorted ascending with values in [0, M), ``crow`` (M + 1,) int64."""
    n = crow.shape[0]
    if n == 0:
        return
    _row_ptr_k[memory.grid(n)](rows, crow)


def spmm(crow, cols, vals, x, out):
    """out (M, N) = S @ x for the coalesced COO matrix S (``crow`` (M + 1,), ``cols`` and
    ``vals`` (nnz,)) and the dense ``x`` (K, N); x and out C-contiguous, vals, x and out of
    one dtype: float32, float64 or int64 (the sum is accumulated in it)."""
    m, n = out.shape
    if crow.shape[0] != m + 1 or vals.shape[0] != cols.shape[0] or x.shape[1] != n:
        # the kernel trusts these shapes for every read: check them here
        raise ValueError(f"spmm: crow {tuple(crow.shape)}, cols {tuple(cols.shape)}, vals "
                         f"{tuple(vals.shape)}, x {tuple(x.shape)} do not give out "
                         f"{tuple(out.shape)}")
    if m == 0 or n == 0:
        return
    _spmm_k[memory.grid(m * n)](crow, cols, vals, x, out, out.dtype.type(0))


def ptx_cases():
    """Yield ``(label, py_func, signature)`` for every kernel this module can launch: the row
    offsets once, the product for float32, float64 and int64 (the dtypes the ops layer passes),
    with the C-contiguous arrays the launchers get and the zero as a scalar of out's dtype."""
    from numba import types

    i8 = types.Array(types.int64, 1, "C")
    yield "row_ptr", _row_ptr_k.py_func, types.void(i8, i8)
    for name in ("float32", "float64", "int64"):
        t = numba.from_dtype(np.dtype(name))
        v, m = types.Array(t, 1, "C"), types.Array(t, 2, "C")
        yield f"spmm {name}", _spmm_k.py_func, types.void(i8, i8, v, m, m, t)
