"""Indexing CUDA kernels: index validation, gather/scatter, index_select/index_add, take/put, nonzero,
triangle (tril/triu: a copy that keeps the elements whose position is in a band).

Same names, signatures and contracts as ``numtorch.kernels.cpu.index``: device arrays in, the
result written into ``out`` (in place for the scatter family), nothing returned except by
``check_index`` and ``count_nonzero``. Index arrays are int64 and, except for
``check_index``/``wrap_index``, already validated and wrapped to ``[0, size)`` by the caller (a
GPU does not bounds-check either). Dim-wise ops use the CPU's canonical 3-D layout
``(outer, n, inner)``; kernels take 3-D device arrays of any strides directly.

Launch strategy: every kernel is a grid-stride loop (``memory.grid``) whose linear position runs
fastest along the innermost dim, so consecutive threads touch consecutive elements.

- Gathers (``gather``, ``index_select``, ``take``, ``wrap_index``) and ``triangle``: one
  thread per output element.
- Validation (``check_index``): each thread scans its strided positions and stops at its first bad
  one; an ``atomic.min`` on one device int64 keeps the earliest; the host reads that one value.
- Accumulating scatters (``scatter_add``, ``index_add``, ``put(accumulate=True)``) have two forms.
  "Columns": one thread per destination column ``(o, i)`` walks the index dim in order, exactly as
  the CPU kernel does, so the result is bit-identical to the CPU's (no atomics needed; works for
  every dtype). "Atomics": one thread per source element and ``cuda.atomic.add`` (float32/64,
  (u)int32/64 only), for when there are few columns and a long index dim. Floating-point sums
  then add in an unspecified order, as PyTorch's CUDA scatter_add does. CUDA has no 8/16-bit
  atomics, so bool/int8/int16/uint8/float16 always use columns (``put`` accumulates them in one
  serial thread: a flat index can hit any element).
- ``scatter``/``put`` without accumulation: "last write wins" in index order as on the CPU. Few
  columns and a long index dim use a winner pass: ``atomic.max`` of the index position into an
  int scratch over the destinations, then only the winner writes.
- ``count_nonzero``: per-thread counts, a shared-memory tree sum per block, one ``atomic.add``
  per block. ``nonzero``: chunks of ``_SEGMENT`` elements per thread of a block; pass 1 counts
  each chunk (coalesced), pass 2 (one block) turns the counts into exclusive offsets, pass 3 gives
  each thread a contiguous segment of its block's chunk, ranks the segment counts with one
  shared-memory scan and writes row-major coordinates at ``offset + rank``: the CPU's exact
  order. (Segments rather than block-wide tiles: one scan, so one round of barriers, per chunk
  instead of one per tile; a segment's consecutive reads mostly hit L1.)
"""
import numba
import numpy as np
from numba import cuda, int64

from .. import policy
from . import memory
from ._block import block_sum as _block_sum
from ._strided import unravel3 as _unravel3

#: dtypes ``cuda.atomic.add`` supports on every GPU numtorch targets.
_ATOMIC = frozenset(np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64,
                                           np.uint32, np.uint64))
#: Shared-memory slots of the block-wide scans and sums (CUDA's maximum block size).
_SMEM = 1024
#: Elements per thread and chunk in nonzero's write pass (chunk = _SEGMENT * block size).
_SEGMENT = 8
#: A scatter walks columns (deterministic, no scratch) when the index dim is at most this long...
_COLUMN_MAX_N = 8
#: ...or when there are at least this many columns to keep the GPU busy.
_COLUMN_MIN_COLS = 1 << 16


def _launch(kernel, n, *args):
    blocks, threads = memory.grid(n)
    kernel[blocks, threads](*args)


def _threads():
    return min(memory.BLOCK, _SMEM)


def _flat(a):
    """``a`` as a 1-D view (device arrays reshape without copying only when contiguous)."""
    if a.ndim == 1:
        return a
    if not a.flags.c_contiguous:
        raise NotImplementedError(
            "numtorch CUDA index kernels: an N-d argument must be C-contiguous")
    return a.reshape(a.size)


def _columns(outer, n, inner, dtype=None):
    """Whether a scatter over ``(outer, n, inner)`` runs one thread per column."""
    if dtype is not None and np.dtype(dtype) not in _ATOMIC:
        return True
    return n <= _COLUMN_MAX_N or outer * inner >= _COLUMN_MIN_COLS


def _scratch_dtype(n):
    # winner positions: int32 when they fit (half the scratch traffic)
    return np.int32 if n < (1 << 31) else np.int64


# --------------------------------------------------------------------------------------------
# Index validation and wrapping.
# --------------------------------------------------------------------------------------------
@policy.cuda_kernel
def _check_index_k(idx, low, size, first):
    n = idx.shape[0]
    best = n
    for j in range(cuda.grid(1), n, cuda.gridsize(1)):
        v = idx[j]
        if v < low or v >= size:
            best = j  # positions rise along a thread's stride: its first bad one is its minimum
            break
    if best < n:
        cuda.atomic.min(first, 0, best)


@policy.cuda_kernel
def _wrap_index_k(idx, size, out):
    for j in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        v = idx[j]
        out[j] = v + size if v < 0 else v


def check_index(idx, size, negative=True):
    """Return the flat position of the first element of int64 ``idx`` outside [-size, size)
    (``negative=False``: outside [0, size)), or -1."""
    if idx.size == 0:
        return -1
    flat = _flat(idx)
    n = flat.shape[0]
    first = memory.to_device(np.array([n], np.int64))
    _launch(_check_index_k, n, flat, -int(size) if negative else 0, int(size), first)
    bad = int(memory.to_host(first)[0])
    return bad if bad < n else -1


def wrap_index(idx, size, out):
    """out = idx + size where idx < 0 else idx (int64, same shape; idx already checked)."""
    if out.size == 0:
        return
    flat = _flat(out)
    _launch(_wrap_index_k, flat.shape[0], _flat(idx), int(size), flat)


# --------------------------------------------------------------------------------------------
# Dim-wise gather / scatter on the canonical (outer, n, inner) layout.
# --------------------------------------------------------------------------------------------
@policy.cuda_kernel
def _gather_k(x, idx, out):
    outer, ni, inner = idx.shape
    for e in range(cuda.grid(1), outer * ni * inner, cuda.gridsize(1)):
        o, j, i = _unravel3(e, (0, ni, inner))
        out[o, j, i] = x[o, idx[o, j, i], i]


@policy.cuda_kernel
def _index_select_k(x, idx, out):
    outer, m, inner = out.shape
    for e in range(cuda.grid(1), outer * m * inner, cuda.gridsize(1)):
        o, j, i = _unravel3(e, (0, m, inner))
        out[o, j, i] = x[o, idx[j], i]


# Columns: one thread per (o, i); j runs in index order, so the result is the CPU's exactly.
@policy.cuda_kernel
def _scatter_cols_k(out, idx, src):
    outer, ni, inner = idx.shape
    for c in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        i = c % inner
        o = c // inner
        for j in range(ni):
            out[o, idx[o, j, i], i] = src[o, j, i]


@policy.cuda_kernel
def _scatter_add_cols_k(out, idx, src):
    outer, ni, inner = idx.shape
    for c in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        i = c % inner
        o = c // inner
        for j in range(ni):
            k = idx[o, j, i]
            out[o, k, i] += src[o, j, i]


@policy.cuda_kernel
def _index_add_cols_k(out, idx, src):
    outer, m, inner = src.shape[0], idx.shape[0], src.shape[2]
    for c in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        i = c % inner
        o = c // inner
        for j in range(m):
            k = idx[j]
            out[o, k, i] += src[o, j, i]


# Atomics: one thread per source element.
@policy.cuda_kernel
def _scatter_add_atomic_k(out, idx, src):
    outer, ni, inner = idx.shape
    for e in range(cuda.grid(1), outer * ni * inner, cuda.gridsize(1)):
        o, j, i = _unravel3(e, (0, ni, inner))
        cuda.atomic.add(out, (o, idx[o, j, i], i), src[o, j, i])


@policy.cuda_kernel
def _index_add_atomic_k(out, idx, src):
    outer, m, inner = src.shape[0], idx.shape[0], src.shape[2]
    for e in range(cuda.grid(1), outer * m * inner, cuda.gridsize(1)):
        o, j, i = _unravel3(e, (0, m, inner))
        cuda.atomic.add(out, (o, idx[j], i), src[o, j, i])


# Winner pass of scatter: win[o, k, i] = the largest j writing there, then only it writes.
@policy.cuda_kernel
def _fill3_k(a, value):
    d0, d1, d2 = a.shape
    for e in range(cuda.grid(1), d0 * d1 * d2, cuda.gridsize(1)):
        a[e // (d1 * d2), (e // d2) % d1, e % d2] = value


@policy.cuda_kernel
def _scatter_claim_k(win, idx):
    outer, ni, inner = idx.shape
    for e in range(cuda.grid(1), outer * ni * inner, cuda.gridsize(1)):
        o, j, i = _unravel3(e, (0, ni, inner))
        cuda.atomic.max(win, (o, idx[o, j, i], i), j)


@policy.cuda_kernel
def _scatter_win_k(out, idx, src, win):
    outer, ni, inner = idx.shape
    for e in range(cuda.grid(1), outer * ni * inner, cuda.gridsize(1)):
        o, j, i = _unravel3(e, (0, ni, inner))
        k = idx[o, j, i]
        if win[o, k, i] == j:
            out[o, k, i] = src[o, j, i]


def gather(x, idx, out):
    """out[o,j,i] = x[o, idx[o,j,i], i]; x (outer, nx, inner), idx and out (outer, ni, inner)."""
    if idx.size == 0:
        return
    _launch(_gather_k, idx.size, x, idx, out)


def scatter(out, idx, src):
    """In place out[o, idx[o,j,i], i] = src[o,j,i]; duplicates: the last j wins."""
    if idx.size == 0:
        return
    outer, ni, inner = idx.shape
    if _columns(outer, ni, inner):
        _launch(_scatter_cols_k, outer * inner, out, idx, src)
        return
    win = memory.empty((outer, out.shape[1], inner), _scratch_dtype(ni))
    _launch(_fill3_k, win.size, win, -1)
    _launch(_scatter_claim_k, idx.size, win, idx)
    _launch(_scatter_win_k, idx.size, out, idx, src, win)


def scatter_add(out, idx, src):
    """In place out[o, idx[o,j,i], i] += src[o,j,i]; duplicates accumulate (in j order: columns)."""
    if idx.size == 0:
        return
    outer, ni, inner = idx.shape
    if _columns(outer, ni, inner, out.dtype):
        _launch(_scatter_add_cols_k, outer * inner, out, idx, src)
    else:
        _launch(_scatter_add_atomic_k, idx.size, out, idx, src)


def index_select(x, idx, out):
    """out[o,j,i] = x[o, idx[j], i]; x (outer, n, inner), idx (m,), out (outer, m, inner)."""
    if out.size == 0:
        return
    _launch(_index_select_k, out.size, x, idx, out)


def index_add(out, idx, src):
    """In place out[o, idx[j], i] += src[o,j,i]; out (outer, n, inner), src (outer, m, inner)."""
    if src.shape[0] == 0 or idx.shape[0] == 0 or src.shape[2] == 0:
        return
    outer, m, inner = src.shape[0], idx.shape[0], src.shape[2]
    if _columns(outer, m, inner, out.dtype):
        _launch(_index_add_cols_k, outer * inner, out, idx, src)
    else:
        _launch(_index_add_atomic_k, outer * m * inner, out, idx, src)


# --------------------------------------------------------------------------------------------
# Flat forms for advanced indexing.
# --------------------------------------------------------------------------------------------
@policy.cuda_kernel
def _take_k(x, idx, out):
    for j in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[j] = x[idx[j]]


@policy.cuda_kernel
def _fill1_k(a, value):
    for j in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        a[j] = value


# src has len(idx) elements or one that broadcasts: ``src.shape[0] == 1`` picks element 0.
@policy.cuda_kernel
def _put_claim_k(win, idx):
    for j in range(cuda.grid(1), idx.shape[0], cuda.gridsize(1)):
        cuda.atomic.max(win, idx[j], j)


@policy.cuda_kernel
def _put_win_k(out, idx, src, win):
    one = src.shape[0] == 1
    for j in range(cuda.grid(1), idx.shape[0], cuda.gridsize(1)):
        k = idx[j]
        if win[k] == j:
            out[k] = src[0] if one else src[j]


@policy.cuda_kernel
def _put_add_atomic_k(out, idx, src):
    one = src.shape[0] == 1
    for j in range(cuda.grid(1), idx.shape[0], cuda.gridsize(1)):
        cuda.atomic.add(out, idx[j], src[0] if one else src[j])


@policy.cuda_kernel
def _put_add_serial_k(out, idx, src):
    # dtypes without atomics: one thread adds in index order, as the CPU kernel does
    if cuda.grid(1) == 0:
        one = src.shape[0] == 1
        for j in range(idx.shape[0]):
            k = idx[j]
            out[k] += src[0] if one else src[j]


def take(x, idx, out):
    """out[j] = x[idx[j]]; x, idx, out 1-D."""
    if out.shape[0] == 0:
        return
    _launch(_take_k, out.shape[0], x, idx, out)


def put(out, idx, src, accumulate):
    """In place out[idx[j]] = src[j] (or += if accumulate); src of len(idx) or 1; last write wins."""
    m = idx.shape[0]
    if m == 0:
        return
    if accumulate:
        if np.dtype(out.dtype) in _ATOMIC:
            _launch(_put_add_atomic_k, m, out, idx, src)
        else:
            _put_add_serial_k[1, 1](out, idx, src)
        return
    win = memory.empty((out.shape[0],), _scratch_dtype(m))
    _launch(_fill1_k, win.shape[0], win, -1)
    _launch(_put_claim_k, m, win, idx)
    _launch(_put_win_k, m, out, idx, src, win)


# --------------------------------------------------------------------------------------------
# Nonzero.
# --------------------------------------------------------------------------------------------
@policy.cuda_kernel(device=True)
def _block_scan(sh, v):
    """Inclusive prefix sum of ``v`` over the block's threads (Hillis-Steele); all must call it."""
    t = cuda.threadIdx.x
    sh[t] = v
    cuda.syncthreads()
    d = 1
    while d < cuda.blockDim.x:
        u = sh[t - d] if t >= d else 0
        cuda.syncthreads()
        sh[t] += u
        cuda.syncthreads()
        d *= 2
    return sh[t]


@policy.cuda_kernel
def _count_nonzero_k(mask, count):
    sh = cuda.shared.array(_SMEM, int64)
    c = 0
    for j in range(cuda.grid(1), mask.shape[0], cuda.gridsize(1)):
        if mask[j] != 0:
            c += 1
    s = _block_sum(sh, c)
    if cuda.threadIdx.x == 0 and s != 0:
        cuda.atomic.add(count, 0, s)


@policy.cuda_kernel
def _chunk_counts_k(flat, chunk, counts):
    sh = cuda.shared.array(_SMEM, int64)
    n = flat.shape[0]
    t = cuda.threadIdx.x
    # chunks are block-uniform: every thread of a block reaches the same syncthreads
    for c in range(cuda.blockIdx.x, counts.shape[0], cuda.gridDim.x):
        lo = c * chunk
        hi = min(lo + chunk, n)
        s = 0
        for k in range(lo + t, hi, cuda.blockDim.x):
            if flat[k] != 0:
                s += 1
        s = _block_sum(sh, s)
        if t == 0:
            counts[c] = s


@policy.cuda_kernel
def _exclusive_offsets_k(counts, offs):
    # one block: each thread sums a contiguous run of counts, the block scans the run totals
    sh = cuda.shared.array(_SMEM, int64)
    n = counts.shape[0]
    t = cuda.threadIdx.x
    per = (n + cuda.blockDim.x - 1) // cuda.blockDim.x
    lo = min(t * per, n)
    hi = min(lo + per, n)
    s = 0
    for k in range(lo, hi):
        s += counts[k]
    run = _block_scan(sh, s) - s
    for k in range(lo, hi):
        offs[k] = run
        run += counts[k]


@policy.cuda_kernel
def _nonzero_write_k(flat, shape, chunk, offs, out):
    # thread t owns the contiguous segment [lo + t*seg, lo + (t+1)*seg) of chunk c: it counts
    # it, one block scan ranks the segments, then it writes its rows in order
    sh = cuda.shared.array(_SMEM, int64)
    n = flat.shape[0]
    nd = shape.shape[0]
    t = cuda.threadIdx.x
    seg = chunk // cuda.blockDim.x
    for c in range(cuda.blockIdx.x, offs.shape[0], cuda.gridDim.x):  # block-uniform
        lo = min(c * chunk + t * seg, n)
        hi = min(lo + seg, n)
        s = 0
        for k in range(lo, hi):
            if flat[k] != 0:
                s += 1
        row = offs[c] + _block_scan(sh, s) - s
        cuda.syncthreads()  # everyone has read sh before the next chunk's scan overwrites it
        for k in range(lo, hi):
            if flat[k] != 0:
                q = k
                for d in range(nd - 1, -1, -1):
                    e = shape[d]
                    out[row, d] = q % e
                    q //= e
                row += 1


def count_nonzero(mask):
    """Return the number of nonzero (True, NaN counts) elements of the 1-D C-contiguous ``mask``."""
    n = mask.shape[0]
    if n == 0:
        return 0
    count = memory.to_device(np.zeros(1, np.int64))
    blocks, _ = memory.grid(n)
    _count_nonzero_k[blocks, _threads()](mask, count)
    return int(memory.to_host(count)[0])


def nonzero(mask_nd, out):
    """out[k] = row-major coordinates of the k-th nonzero of C-contiguous ``mask_nd``; out (count, ndim) int64."""
    if out.shape[0] == 0 or mask_nd.ndim == 0:
        return
    flat = _flat(mask_nd)
    n = flat.shape[0]
    threads = _threads()
    chunk = threads * _SEGMENT
    nchunks = (n + chunk - 1) // chunk
    blocks = min(nchunks, memory.MAX_BLOCKS)
    counts = memory.empty((nchunks,), np.int64)
    offs = memory.empty((nchunks,), np.int64)
    shape = memory.to_device(np.array(mask_nd.shape, np.int64))
    _chunk_counts_k[blocks, threads](flat, chunk, counts)
    _exclusive_offsets_k[1, threads](counts, offs)
    _nonzero_write_k[blocks, threads](flat, shape, chunk, offs, out)


# --------------------------------------------------------------------------------------------
# Triangles (tril / triu): a copy that keeps a band of diagonals, chosen by position.
# --------------------------------------------------------------------------------------------
@policy.cuda_kernel
def _triangle_k(x, diagonal, upper, out):
    batch, m, n = out.shape
    for e in range(cuda.grid(1), batch * m * n, cuda.gridsize(1)):
        b, i, j = _unravel3(e, (0, m, n))
        d = j - i
        if (d >= diagonal) if upper else (d <= diagonal):
            out[b, i, j] = x[b, i, j]
        else:
            out[b, i, j] = 0


def triangle(x, diagonal, upper, out):
    """out[b,i,j] = x[b,i,j] where j - i <= diagonal (``upper`` False: tril) or j - i >= diagonal
    (``upper`` True: triu), else 0; x and out (batch, m, n) C-contiguous of one dtype."""
    if out.size == 0:
        return
    _launch(_triangle_k, out.size, x, int(diagonal), bool(upper), out)


# --------------------------------------------------------------------------------------------
# Compile check (tests/kernels/test_cuda_ptx.py).
# --------------------------------------------------------------------------------------------
def ptx_cases():
    """Yield (label, py_func, signature) for every kernel this module can launch, for
    ``numba.cuda.compile_ptx``: with the argument types the launchers pass (dim-wise operands in
    layout 'A': any strides), each kernel once per dtype family its typing differs in: copies
    float32 and bool; sums and ``!= 0`` tests also int64, int8 and float16; atomics every
    ``_ATOMIC`` width (the others go to the serial/column kernels, as in the launchers)."""
    from numba import types as T

    def arr(dt, nd=1, layout="C"):
        return T.Array(numba.from_dtype(np.dtype(dt)), nd, layout)

    i8, i3 = arr(np.int64), arr(np.int64, 3, "A")
    for k, sig in ((_check_index_k, (i8, T.int64, T.int64, i8)),
                   (_wrap_index_k, (i8, T.int64, i8)), (_exclusive_offsets_k, (i8, i8))):
        yield k.py_func.__name__, k.py_func, numba.void(*sig)
    for sd in (np.int32, np.int64):  # _scratch_dtype: winner positions
        for k, sig in ((_fill3_k, (arr(sd, 3), T.int64)), (_scatter_claim_k, (arr(sd, 3), i3)),
                       (_fill1_k, (arr(sd), T.int64)), (_put_claim_k, (arr(sd), i8))):
            yield f"{k.py_func.__name__}[{np.dtype(sd).name}]", k.py_func, numba.void(*sig)
    win3, win1 = arr(_scratch_dtype(1), 3), arr(_scratch_dtype(1))
    for dt in (np.float32, np.float64, np.int64, np.int32, np.int8, np.bool_, np.float16):
        x3, x1, cases = arr(dt, 3, "A"), arr(dt), []
        if dt in (np.float32, np.bool_):
            cases += [(_triangle_k, (arr(dt, 3), T.int64, T.boolean, arr(dt, 3)))]
            cases += [(_gather_k, (x3, i3, x3)), (_index_select_k, (x3, i8, x3)),
                      (_scatter_cols_k, (x3, i3, x3)), (_scatter_win_k, (x3, i3, x3, win3)),
                      (_take_k, (x1, i8, x1)), (_put_win_k, (x1, i8, x1, win1))]
        if dt in (np.float32, np.int64, np.int8, np.bool_, np.float16):
            cases += [(_scatter_add_cols_k, (x3, i3, x3)), (_index_add_cols_k, (x3, i8, x3)),
                      (_count_nonzero_k, (x1, i8)), (_chunk_counts_k, (x1, T.int64, i8)),
                      (_nonzero_write_k, (x1, i8, T.int64, i8, arr(np.int64, 2)))]
        if np.dtype(dt) in _ATOMIC:
            cases += [(_scatter_add_atomic_k, (x3, i3, x3)), (_index_add_atomic_k, (x3, i8, x3)),
                      (_put_add_atomic_k, (x1, i8, x1))]
        else:
            cases += [(_put_add_serial_k, (x1, i8, x1))]
        for k, sig in cases:
            yield f"{k.py_func.__name__}[{np.dtype(dt).name}]", k.py_func, numba.void(*sig)
