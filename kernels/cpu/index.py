"""Indexing CPU kernels: index validation, gather/scatter, index_select/index_add, take/put, nonzero,
triangle (tril/triu: a copy that keeps the elements whose position is in a band).

Contract of every public function here: NumPy arrays in, the result written into a ``out`` the
caller allocated (or into ``out`` in place for the scatter family), nothing returned unless
stated. Index arrays are int64 and, except for ``check_index``/``wrap_index``, already validated
and wrapped to ``[0, size)`` by the caller: Numba does not bounds-check, so an index out of range
here reads or writes arbitrary memory.

Dim-wise ops use one canonical 3-D layout that the caller reshapes to: ``(outer, n, inner)`` with
the indexed dim in the middle. gather/scatter/scatter_add take their loop bounds from ``idx``, so
``x``/``src`` may be larger than ``idx`` in any dim if the caller passes such 3-D views.

Parallelism: gathers (``gather``, ``index_select``, ``take``, ``wrap_index``) and ``triangle``
run their parallel twin above ``policy.PARALLEL_THRESHOLD`` elements. Scatters never split the
index dim across threads (duplicates would race, and "last write wins" must follow index order):
they parallelise over ``outer`` times blocks of ``inner`` and walk the index dim serially inside
each block. ``put`` is fully serial (a flat index can hit any element).
"""
import numpy as np
from numba import prange

from .. import policy

#: Elements per task in the chunked kernels and inner-dim block width of the scatter kernels.
_CHUNK = 4096
_BLOCK = 512

# Inside a prange body, positions derived from the loop variable are computed in uint64: Numba
# guards every signed index against negative values (a select per access), which stops the inner
# loops vectorising in the parallel build (a chunked loop ran 7x slower than its serial twin).
# Keep both operands uint64 (np.uint64(...) on constants too): Numba types a mixed uint64/int64
# operation as int64 (older releases: float64), and the guard comes back.


# --------------------------------------------------------------------------------------------
# Index validation and wrapping.
# --------------------------------------------------------------------------------------------
def _check_index(idx, low, size, first):
    # idx flat; first[c] = first invalid position in chunk c, or -1. low is -size or 0.
    n = np.uint64(idx.shape[0])
    ch = np.uint64(_CHUNK)
    lim = np.uint64(size - low)
    us = np.uint64(-low)
    for c in prange(first.shape[0]):
        lo = np.uint64(c) * ch
        w = min(n - lo, ch)
        # valid iff idx - low in [0, size - low): one unsigned compare (wraps for huge values)
        nbad = 0
        for t in range(w):
            nbad += np.uint64(idx[lo + t]) + us >= lim
        first[c] = -1
        if nbad:
            for t in range(w):
                if np.uint64(idx[lo + t]) + us >= lim:
                    first[c] = np.int64(lo + t)
                    break


_check_index_k = policy.Twin(_check_index, "check_index")


def check_index(idx, size, negative=True):
    """Return the flat position of the first element of int64 ``idx`` outside [-size, size)
    (``negative=False``: outside [0, size)), or -1."""
    flat = idx.reshape(-1)
    n = flat.shape[0]
    if n == 0:
        return -1
    first = np.empty((n + _CHUNK - 1) // _CHUNK, np.int64)
    _check_index_k(flat, np.int64(-size if negative else 0), np.int64(size), first, work=n)
    if first.shape[0] == 1:  # one chunk (up to _CHUNK indices): no mask to build
        return int(first[0])
    bad = first[first >= 0]
    return int(bad[0]) if bad.shape[0] else -1


def _wrap_index(idx, size, out):
    for j in prange(out.shape[0]):
        v = idx[j]
        out[j] = v + size if v < 0 else v


_wrap_index_k = policy.Twin(_wrap_index, "wrap_index")


def wrap_index(idx, size, out):
    """out = idx + size where idx < 0 else idx (int64, same shape; idx already checked)."""
    if out.size == 0:
        return
    _wrap_index_k(idx.reshape(-1), np.int64(size), out.reshape(-1))


# --------------------------------------------------------------------------------------------
# Dim-wise gather / scatter on the canonical (outer, n, inner) layout.
# --------------------------------------------------------------------------------------------
# Gathers: one task per tile of (block of j) x (block of i) of about _CHUNK elements, so a long
# inner dim and a long indexed dim (inner == 1) both split across threads.
@policy.scalar
def _tiles(ni, inner):
    # (i block width, j block height, i blocks, j blocks), as uint64 except the counts
    ib = min(inner, _CHUNK)
    jb = max(1, _CHUNK // ib)
    return np.uint64(ib), np.uint64(jb), (inner + ib - 1) // ib, (ni + jb - 1) // jb


def _gather(x, idx, out):
    outer, ni, inner = idx.shape
    ib, jb, nbi, nbj = _tiles(ni, inner)
    per_o = np.uint64(nbi * nbj)
    unbi = np.uint64(nbi)
    for task in prange(outer * nbi * nbj):
        o = np.uint64(task) // per_o
        rest = np.uint64(task) - o * per_o
        bj = rest // unbi
        i0 = (rest - bj * unbi) * ib
        j0 = bj * jb
        wi = min(np.uint64(inner) - i0, ib)
        for j in range(j0, j0 + min(np.uint64(ni) - j0, jb)):
            for t in range(wi):
                i = i0 + t
                out[o, j, i] = x[o, np.uint64(idx[o, j, i]), i]


def _index_select(x, idx, out):
    outer, n, inner = out.shape
    ib, jb, nbi, nbj = _tiles(n, inner)
    per_o = np.uint64(nbi * nbj)
    unbi = np.uint64(nbi)
    for task in prange(outer * nbi * nbj):
        o = np.uint64(task) // per_o
        rest = np.uint64(task) - o * per_o
        bj = rest // unbi
        i0 = (rest - bj * unbi) * ib
        j0 = bj * jb
        wi = min(np.uint64(inner) - i0, ib)
        for j in range(j0, j0 + min(np.uint64(n) - j0, jb)):
            k = np.uint64(idx[j])
            for t in range(wi):
                out[o, j, i0 + t] = x[o, k, i0 + t]


# Scatters: one task per (o, block of inner); inside it j runs in index order, so each output
# column out[o, :, i] is touched by one thread only and in a deterministic order.
def _scatter(out, idx, src):
    outer, ni, inner = idx.shape
    blk = np.uint64(_BLOCK)
    blocks = (inner + _BLOCK - 1) // _BLOCK
    nblk = np.uint64(blocks)
    for task in prange(outer * blocks):
        o = np.uint64(task) // nblk
        i0 = (np.uint64(task) - o * nblk) * blk
        w = min(np.uint64(inner) - i0, blk)
        for j in range(np.uint64(ni)):
            for t in range(w):
                i = i0 + t
                out[o, np.uint64(idx[o, j, i]), i] = src[o, j, i]


def _scatter_add(out, idx, src):
    outer, ni, inner = idx.shape
    blk = np.uint64(_BLOCK)
    blocks = (inner + _BLOCK - 1) // _BLOCK
    nblk = np.uint64(blocks)
    for task in prange(outer * blocks):
        o = np.uint64(task) // nblk
        i0 = (np.uint64(task) - o * nblk) * blk
        w = min(np.uint64(inner) - i0, blk)
        for j in range(np.uint64(ni)):
            for t in range(w):
                i = i0 + t
                out[o, np.uint64(idx[o, j, i]), i] += src[o, j, i]


def _index_add(out, idx, src):
    outer, inner = src.shape[0], src.shape[2]
    m = idx.shape[0]
    blk = np.uint64(_BLOCK)
    blocks = (inner + _BLOCK - 1) // _BLOCK
    nblk = np.uint64(blocks)
    for task in prange(outer * blocks):
        o = np.uint64(task) // nblk
        i0 = (np.uint64(task) - o * nblk) * blk
        w = min(np.uint64(inner) - i0, blk)
        for j in range(np.uint64(m)):
            k = np.uint64(idx[j])
            for t in range(w):
                out[o, k, i0 + t] += src[o, j, i0 + t]


_gather_k = policy.Twin(_gather, "gather")
_index_select_k = policy.Twin(_index_select, "index_select")
_scatter_k = policy.Twin(_scatter, "scatter")
_scatter_add_k = policy.Twin(_scatter_add, "scatter_add")
_index_add_k = policy.Twin(_index_add, "index_add")


def _scatter_work(outer, inner, n):
    # the parallel twin only pays off when there are at least two tasks to share
    tasks = outer * ((inner + _BLOCK - 1) // _BLOCK)
    return n if tasks >= 2 else 0


def gather(x, idx, out):
    """out[o,j,i] = x[o, idx[o,j,i], i]; x (outer, nx, inner), idx and out (outer, ni, inner)."""
    if idx.size == 0:
        return
    _gather_k(x, idx, out, work=idx.size)


def scatter(out, idx, src):
    """In place out[o, idx[o,j,i], i] = src[o,j,i]; duplicates: the last j wins."""
    if idx.size == 0:
        return
    outer, _, inner = idx.shape
    _scatter_k(out, idx, src, work=_scatter_work(outer, inner, idx.size))


def scatter_add(out, idx, src):
    """In place out[o, idx[o,j,i], i] += src[o,j,i]; duplicates accumulate in j order."""
    if idx.size == 0:
        return
    outer, _, inner = idx.shape
    _scatter_add_k(out, idx, src, work=_scatter_work(outer, inner, idx.size))


def index_select(x, idx, out):
    """out[o,j,i] = x[o, idx[j], i]; x (outer, n, inner), idx (m,), out (outer, m, inner)."""
    if out.size == 0:
        return
    _index_select_k(x, idx, out, work=out.size)


def index_add(out, idx, src):
    """In place out[o, idx[j], i] += src[o,j,i]; out (outer, n, inner), src (outer, m, inner)."""
    if src.shape[0] == 0 or idx.shape[0] == 0 or src.shape[2] == 0:
        return
    outer, m, inner = src.shape[0], idx.shape[0], src.shape[2]
    _index_add_k(out, idx, src, work=_scatter_work(outer, inner, outer * m * inner))


# --------------------------------------------------------------------------------------------
# Flat forms for advanced indexing.
# --------------------------------------------------------------------------------------------
def _take(x, idx, out):
    for j in prange(out.shape[0]):
        out[j] = x[idx[j]]


def _put(out, idx, src, accumulate):
    m = idx.shape[0]
    if src.shape[0] == 1 and m != 1:
        s = src[0]
        if accumulate:
            for j in range(m):
                out[idx[j]] += s
        else:
            for j in range(m):
                out[idx[j]] = s
    elif accumulate:
        for j in range(m):
            out[idx[j]] += src[j]
    else:
        for j in range(m):
            out[idx[j]] = src[j]


_take_k = policy.Twin(_take, "take")
_put_k = policy.kernel(_put, name="put")


def take(x, idx, out):
    """out[j] = x[idx[j]]; x, idx, out 1-D."""
    if out.shape[0] == 0:
        return
    _take_k(x, idx, out)


def put(out, idx, src, accumulate):
    """In place out[idx[j]] = src[j] (or += if accumulate); src of len(idx) or 1; last write wins."""
    if idx.shape[0] == 0:
        return
    _put_k(out, idx, src, bool(accumulate))


# --------------------------------------------------------------------------------------------
# Nonzero.
# --------------------------------------------------------------------------------------------
def _count_nonzero(mask):
    c = 0
    for j in prange(mask.shape[0]):
        c += mask[j] != 0
    return c


def _nonzero(flat, shape, out):
    # two passes over chunks: count per chunk, prefix sum, then each chunk writes its rows
    n = np.uint64(flat.shape[0])
    ch = np.uint64(_CHUNK)
    nd = shape.shape[0]
    nchunks = (flat.shape[0] + _CHUNK - 1) // _CHUNK
    offs = np.zeros(nchunks + 1, np.int64)
    for c in prange(nchunks):
        lo = np.uint64(c) * ch
        s = 0
        for t in range(min(n - lo, ch)):
            s += flat[lo + t] != 0
        offs[c + 1] = s
    for c in range(nchunks):
        offs[c + 1] += offs[c]
    for c in prange(nchunks):
        lo = np.uint64(c) * ch
        w = min(n - lo, ch)
        coord = np.empty(nd, np.int64)  # odometer: coordinates of flat position lo + t
        q = np.int64(lo)
        for d in range(nd - 1, -1, -1):
            coord[d] = q % shape[d]
            q //= shape[d]
        k = offs[c]
        for t in range(w):
            if flat[lo + t] != 0:
                for d in range(nd):
                    out[k, d] = coord[d]
                k += 1
            d = nd - 1
            while d >= 0:
                coord[d] += 1
                if coord[d] < shape[d]:
                    break
                coord[d] = 0
                d -= 1


_count_nonzero_k = policy.Twin(_count_nonzero, "count_nonzero")
_nonzero_k = policy.Twin(_nonzero, "nonzero")


def count_nonzero(mask):
    """Return the number of nonzero (True, NaN counts) elements of the 1-D C-contiguous ``mask``."""
    n = mask.shape[0]
    if n == 0:
        return 0
    return int(_count_nonzero_k(mask, work=n))


def nonzero(mask_nd, out):
    """out[k] = row-major coordinates of the k-th nonzero of C-contiguous ``mask_nd``; out (count, ndim) int64."""
    if out.shape[0] == 0 or mask_nd.ndim == 0:
        return
    flat = mask_nd.reshape(-1)
    _nonzero_k(flat, np.array(mask_nd.shape, np.int64), out, work=flat.shape[0])


# --------------------------------------------------------------------------------------------
# Triangles (tril / triu): a copy that keeps a band of diagonals, chosen by position.
# --------------------------------------------------------------------------------------------
def _triangle(x, diagonal, upper, out):
    batch, m, n = x.shape
    for t in prange(batch * m):
        b = t // m
        i = t - b * m
        # row i keeps the columns j with j - i <= diagonal (tril) or j - i >= diagonal (triu)
        cut = min(max(i + diagonal + (0 if upper else 1), 0), n)
        if upper:
            for j in range(cut):
                out[b, i, j] = 0
            for j in range(cut, n):
                out[b, i, j] = x[b, i, j]
        else:
            for j in range(cut):
                out[b, i, j] = x[b, i, j]
            for j in range(cut, n):
                out[b, i, j] = 0


_triangle_k = policy.Twin(_triangle, "triangle")


def triangle(x, diagonal, upper, out):
    """out[b,i,j] = x[b,i,j] where j - i <= diagonal (``upper`` False: tril) or j - i >= diagonal
    (``upper`` True: triu), else 0; x and out (batch, m, n) C-contiguous of one dtype."""
    if out.size == 0:
        return
    _triangle_k(x, np.int64(diagonal), bool(upper), out)
