"""Batched matrix multiply on the GPU: ``out[z] = a[z] @ b[z]`` with batch broadcast.

Contract (the CPU module's): ``matmul(a, b, out)`` with ``a`` (B1, M, K), ``b`` (B2, K, N) and
``out`` (B, M, N), where B1 and B2 are each B or 1 (a size-1 batch is broadcast, never
expanded). ``a``, ``b`` and ``out`` have one dtype (the caller promotes): float32, float64 or an
integer type (accumulated in the dtype and wrapping, like torch). Any strides are accepted
(transposed views, column slices, stride-0 batches): the kernel indexes through the strides, so
nothing is copied. K == 0 gives zeros; M, N or B == 0 writes nothing.

The kernel is the classic shared-memory tiling. A block of ``TILE x TILE`` threads owns a
``TILE x TILE`` tile of ``out``: for each step along K it stages one tile of ``a`` and one of
``b`` in shared memory (zeros past the edges of M, N and K, so no thread branches inside the
product loop), synchronises, and every thread accumulates its dot product from shared memory.
``threadIdx.x`` runs along N (and along K when staging ``a``), so a warp loads and stores
consecutive elements of row-major operands. The tile grid and the batch are grid-stride loops
over ``blockIdx.x/y/z``, so any grid covers any size, and every loop bound is the same for the
whole block, so all threads reach each ``syncthreads``. Accumulation is in out's dtype, as the
CPU (float32 sums in float32, as BLAS's sgemm and the CPU's loop kernel do).
``TILE`` (``memory.TILE``) and the dtype are compile-time constants: one kernel per dtype,
named after both so that the disk cache never hands one TILE's code to another.
"""
import numba
from numba import cuda

from .. import policy
from . import memory

TILE = memory.TILE
#: CUDA's limit on gridDim.y and gridDim.z (x may be larger; MAX_BLOCKS caps all three).
_GRID_YZ = 65535
#: The element type of the shared tiles: bound per dtype by policy.cuda_kernel(bind=...).
DT = None


def _matmul_tiled(a, b, out, zero):
    nb, m, n = out.shape
    k = a.shape[2]
    a_step = 1 if a.shape[0] > 1 else 0  # a size-1 batch is broadcast
    b_step = 1 if b.shape[0] > 1 else 0
    sa = cuda.shared.array((TILE, TILE), DT)
    sb = cuda.shared.array((TILE, TILE), DT)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    tiles_m = (m + TILE - 1) // TILE
    tiles_n = (n + TILE - 1) // TILE
    for z in range(cuda.blockIdx.z, nb, cuda.gridDim.z):
        za = z * a_step
        zb = z * b_step
        for ti in range(cuda.blockIdx.y, tiles_m, cuda.gridDim.y):
            i = ti * TILE + ty
            for tj in range(cuda.blockIdx.x, tiles_n, cuda.gridDim.x):
                j = tj * TILE + tx
                acc = zero
                for p0 in range(0, k, TILE):
                    pa = p0 + tx
                    sa[ty, tx] = a[za, i, pa] if i < m and pa < k else zero
                    pb = p0 + ty
                    sb[ty, tx] = b[zb, pb, j] if pb < k and j < n else zero
                    cuda.syncthreads()
                    for q in range(TILE):
                        acc += sa[ty, q] * sb[q, tx]
                    cuda.syncthreads()
                if i < m and j < n:
                    out[z, i, j] = acc


_KERNELS = {}


def _kernel(dtype):
    k = _KERNELS.get(dtype)
    if k is None:
        k = _KERNELS[dtype] = policy.cuda_kernel(
            _matmul_tiled, name=f"matmul_tiled{TILE}_{dtype.name}",
            bind={"DT": numba.from_dtype(dtype), "TILE": TILE})
    return k


def matmul(a, b, out):
    """out[z] = a[z] @ b[z] for a (B1,M,K), b (B2,K,N), out (B,M,N); B1, B2 in {B,1}; any
    strides; one dtype. ValueError when the shapes do not fit together."""
    # the kernel trusts these shapes for every read: check them here (the GPU does not)
    if a.ndim != 3 or b.ndim != 3 or out.ndim != 3:
        raise ValueError(
            f"matmul: needs 3-D arrays, got {a.ndim}-D @ {b.ndim}-D -> {out.ndim}-D")
    nb, m, n = out.shape
    k = a.shape[2]
    if a.shape[1] != m or b.shape[1] != k or b.shape[2] != n \
            or a.shape[0] not in (nb, 1) or b.shape[0] not in (nb, 1):
        raise ValueError(f"matmul: shapes {tuple(a.shape)} @ {tuple(b.shape)} do not give "
                         f"{tuple(out.shape)}")
    if nb == 0 or m == 0 or n == 0:
        return
    cap = memory.MAX_BLOCKS
    blocks = (min((n + TILE - 1) // TILE, cap),
              min((m + TILE - 1) // TILE, cap, _GRID_YZ),
              min(nb, cap, _GRID_YZ))
    _kernel(out.dtype)[blocks, (TILE, TILE)](a, b, out, out.dtype.type(0))


def ptx_cases():
    """Yield ``(label, py_func, signature)`` for every kernel this module can launch: the tiled
    kernel once per dtype family (float32, float64, wide, narrow and unsigned integers), with
    operands of any strides (layout "A") and the zero as a NumPy scalar of out's dtype."""
    import numpy as np
    from numba import types

    for name in ("float32", "float64", "int64", "int8", "uint8"):
        dt = np.dtype(name)
        t = numba.from_dtype(dt)
        a = types.Array(t, 3, "A")
        yield f"matmul {name}", _kernel(dt).py_func, types.void(a, a, a, t)
