"""Sort CUDA kernels: a stable sort of each row, with the positions the values came from.

Same names, signatures and contracts as ``numtorch.kernels.cpu.sort``: device arrays in, the
results written into ``values`` and ``indices``; ``x`` is C-contiguous ``(rows, n)``. The order
is PyTorch's: NaN sorts as the largest value, equal keys keep their input order (stable).

Launch strategy: a bottom-up merge sort in which every element computes its own destination.
The pass that merges sorted runs of width ``w`` into runs of ``2w`` runs one thread per element
(a grid-stride loop over ``rows * n``): an element of a left run moves on by the number of keys
of its right partner run that sort strictly before it, an element of a right run lands after
every key of the left run that does not sort after it (so ties stay left: stable); each count
is one binary search of the other run, which is sorted. ``ceil(log2 n)`` passes ping-pong
between the outputs and a scratch pair, starting where an even number of moves ends in the
outputs. O(n log^2 n) work, but short rows and one long row alike keep the whole grid busy, with
no shared memory and no synchronisation inside a kernel.
"""
import numba
import numpy as np
from numba import cuda

from .. import policy
from . import memory


@policy.cuda_kernel(device=True)
def _before(p, q, descending):
    """Whether key ``p`` sorts strictly before key ``q`` (``k != k``: NaN, for any dtype)."""
    if descending:
        return p > q or (p != p and q == q)
    return p < q or (q != q and p == p)


@policy.cuda_kernel
def _init_k(x, v, i):
    rows, n = x.shape
    for e in range(cuda.grid(1), rows * n, cuda.gridsize(1)):
        r = e // n
        j = e - r * n
        v[r, j] = x[r, j]
        i[r, j] = j


@policy.cuda_kernel
def _merge_k(sv, si, dv, di, width, descending):
    rows, n = sv.shape
    for e in range(cuda.grid(1), rows * n, cuda.gridsize(1)):
        r = e // n
        p = e - r * n
        lo = p - p % (2 * width)
        mid = min(lo + width, n)
        hi = min(lo + 2 * width, n)
        key = sv[r, p]
        if p < mid:
            # left run: skip the right run's keys that sort strictly before this one (a prefix)
            a, b = mid, hi
            while a < b:
                m = (a + b) // 2
                if _before(sv[r, m], key, descending):
                    a = m + 1
                else:
                    b = m
            dest = p + (a - mid)
        else:
            # right run: land after the left run's keys that do not sort after this one
            a, b = lo, mid
            while a < b:
                m = (a + b) // 2
                if _before(key, sv[r, m], descending):
                    b = m
                else:
                    a = m + 1
            dest = a + (p - mid)
        dv[r, dest] = key
        di[r, dest] = si[r, p]


def sort(x, descending, values, indices):
    """values[r], indices[r] = row r of ``x`` sorted (stable) and the int64 positions its values
    had; x and values (rows, n) C-contiguous of one dtype, indices (rows, n) int64."""
    rows, n = x.shape
    if rows == 0 or n == 0:
        return
    passes, w = 0, 1
    while w < n:
        passes, w = passes + 1, 2 * w
    pairs = [(values, indices), None]
    if passes:
        pairs[1] = (memory.empty((rows, n), values.dtype), memory.empty((rows, n), np.int64))
    cur = passes % 2  # every pass moves to the other pair: end in (values, indices)
    blocks, threads = memory.grid(rows * n)
    _init_k[blocks, threads](x, *pairs[cur])
    w = 1
    while w < n:
        _merge_k[blocks, threads](*pairs[cur], *pairs[1 - cur], w, bool(descending))
        cur, w = 1 - cur, 2 * w


# --------------------------------------------------------------------------------------------
# Compile check (tests/kernels/test_cuda_ptx.py).
# --------------------------------------------------------------------------------------------
def ptx_cases():
    """Yield (label, py_func, signature) for every kernel this module can launch, for
    ``numba.cuda.compile_ptx``, once per dtype family the comparisons type differently in
    (float16 never reaches them: the ops sort it as float32)."""
    from numba import types as T

    def arr(dt):
        return T.Array(numba.from_dtype(np.dtype(dt)), 2, "C")

    i2 = arr(np.int64)
    for dt in (np.float32, np.float64, np.int64, np.int32, np.int8, np.uint8, np.bool_):
        a = arr(dt)
        for k, sig in ((_init_k, (a, a, i2)), (_merge_k, (a, i2, a, i2, T.int64, T.boolean))):
            yield f"{k.py_func.__name__}[{np.dtype(dt).name}]", k.py_func, numba.void(*sig)
