"""Fused scaled-dot-product attention on the CPU: ``softmax(q @ k^T * scale) @ v`` with an online
softmax over blocks of keys, so no (L, S) matrix is ever stored, and a causal mask that skips the
key blocks after each query block instead of materialising them.

Layouts (the caller checks them): ``q`` (B, H, L, E), ``k`` (B, H, S, E), ``v`` (B, H, S, Ev) and
``gout`` (B, H, L, Ev) with unit-stride rows and any other strides (a head view of a projection,
a broadcast batch: nothing is copied), ``out`` (B, H, L, Ev), the gradients shaped like their
inputs, ``lse`` and ``delta`` (B, H, L) float64, all C-contiguous; one float dtype (float32 or
float64). ``causal``: query i sees keys 0..i (PyTorch's top-left aligned mask). A query that sees
no key (S == 0) gets zeros and ``lse = -inf``. Each function writes its caller-allocated outputs
(the last arguments) and returns None.

How it runs (FlashAttention's blocking): the queries go in blocks of ``QBLOCKS`` rows
(``CAUSAL_QBLOCKS`` under the causal mask), the keys in blocks of ``KBLOCK``; the scores of a
block are held transposed, ``s = k_j q_i^T`` (a key per row, a query per column), so that the
softmax runs along rows over queries with a query's running max and sum as vectors (and OpenBLAS
runs that product, whose M (keys) is the larger side, faster than ``q_i k_j^T``: 155 against 124
GFLOP/s at 256 queries x 512 keys x 64).

- forward: per key block, ``s = k_j q_i^T``; the softmax (:func:`_max_rows`, :func:`_merge_max`,
  :func:`_exp_rows`, :func:`_finish`) turns it into probabilities against the queries' running
  max and rescales the output rows gathered so far; ``out_i (+)= s^T v_j``; after the last block
  the output rows are divided by the sums, and ``lse`` written.
- backward, one pass (no probabilities stored: they are recomputed from ``lse``):
  ``s = k_j q_i^T``, ``dp = v_j gout_i^T``; :func:`_grad_rows` makes them ``p`` and
  ``ds = p (dp - delta) scale`` with ``delta = rowsum(gout * out)``; ``dv_j += s gout_i``,
  ``dk_j += ds q_i``, ``dq_i (+)= ds^T k_j``.

Two ways to run that, with the same helpers:

1. Tasks (where ``_blas`` found NumPy's CBLAS; the usual case): a parallel task per query block of
   each head (forward) or per head and chunk of keys (backward), each doing its products as
   single-threaded BLAS calls (``_blas.GEMM``, from inside the kernel) and its softmax in
   between on one core, with the block in that core's cache; tasks are handed out one at a time
   (their sizes differ under the causal mask). Fwd+bwd, float32, 2 cores, against way 2:
   (2, 4, 2048, 64) causal 127.8 -> 100.3 ms, full 219 -> 176; (2, 4, 512, 64) causal 11.4 ->
   7.4; (16, 4, 128, 32) 7.5 -> 3.2.
2. Blocks from Python (any NumPy): per (query block, key block) for a group of heads, the
   products through ``np.matmul`` (NumPy's threaded BLAS) and the softmax as a parallel Numba
   kernel over the block (:func:`_softmax_block`, :func:`_grad_block`). BLAS's threads and
   Numba's then take turns on the cores, which is what made way 1 faster.

Scores, products and the exponentials run in the arrays' dtype (as GEMMs and PyTorch's CPU
kernel do; float32's exp has twice float64's SIMD lanes); the softmax's running max, sum and
log-sum-exp in float64. Inside the causal diagonal block the masked probabilities are
zeros that the GEMM still multiplies, so a NaN or inf in a value row beyond a query's edge but in
its block reaches that query's output (as in PyTorch's blocked CPU kernel and its math path).
"""
import math

import numba
import numpy as np
from numba import prange

from .. import policy
from . import _blas, _vmath
from ._blas import NO_TRANS, ROW_MAJOR, TRANS

# globals of the kernels, bound per dtype (``_vmath.helpers``): the compute type, _vmath's exp
# for it, BLAS's GEMM for it, and the helpers below
F = EXP = GEMM = rmax = rexp = merge = finish = rows = ftask = btask = None

#: Queries per block, by the number of keys (at least that many keys: that many queries): a
#: larger block makes larger, faster GEMMs but computes more masked scores on the causal
#: diagonal and keeps a larger block of scores out of cache. Measured (fwd+bwd, float32, 2
#: cores, blocks from Python): under 512 keys one block of up to 256 queries beats 64-query
#: blocks 1.3-1.8x ((16, 4, 128, 32) causal 10.1 -> 7.7 ms); from 512 keys, 128 (causal 11.2 ms
#: at L = 512 against 12.0 for 256); from 1024, 256.
QBLOCKS = ((1024, 256), (512, 128), (0, 256))
#: The same under the causal mask, where a smaller block computes fewer masked scores: with the
#: tasks of way 1, 64 queries under 512 keys ((2, 4, 128, 64) causal fwd+bwd 0.89 -> 0.71 ms,
#: (16, 4, 128, 32) 3.63 -> 3.43; full attention gains nothing from it).
CAUSAL_QBLOCKS = ((1024, 256), (512, 128), (0, 64))
#: Keys per block: up to this many keys one pass of softmax serves, with no rescaling (1024 against
#: 512: (2, 4, 2048, 64) fwd+bwd causal 141.7 -> 131.4 ms, full 257.7 -> 237.7; peak unchanged).
KBLOCK = 1024
#: Tasks: the backward splits each head's keys into chunks (their dq parts summed after) when
#: there are fewer than this many heads per thread.
TASKS_PER_THREAD = 2
#: Blocks from Python: elements of one block of scores for a group of heads (the forward keeps
#: one such block, the backward two, plus a product buffer; more when one head's block alone is
#: larger): 256 KiB in float32, so that a block the GEMM writes is still in cache when the
#: softmax kernel reads it.
SCRATCH = 1 << 16
#: Blocks from Python: rows of scores (keys) per parallel task of the forward softmax's passes
#: and of the backward's softmax gradient.
SROWS = 32
ROWS = 16
_NEG_INF = -np.inf
_POS_INF = np.inf


@policy.scalar
def _task(r, per, size):
    """Parallel task r of ``per`` tasks per head, each ``size`` rows or columns: (head, start)."""
    g = r // per
    return g, (r - g * per) * size


@policy.scalar
def _first_visible(jj, i0, j0, causal, w):
    """Of the w queries i0.. (the columns of a block's scores), the first that sees key j0 + jj
    (0..w): 0, or under the causal mask the key's own position."""
    return min(w, max(0, j0 + jj - i0)) if causal else 0


# --- the softmax and its gradient over a block of scores s (G, nk, nq): a key per row, a query
# per column. The loops run along rows over slices from 0: a loop from a variable start kept
# LLVM from vectorising it (8x).

def _max_rows(s, sc, i0, j0, causal, g, j1, j2, mx):
    """mx (nq,) = the largest score times sc of each query (column) of head g over its visible
    rows (keys j0 +) j1..j2; -inf where it sees none of them; a NaN score is passed over."""
    nq = s.shape[2]
    mx[:] = F(_NEG_INF)
    for jj in range(j1, j2):
        a = _first_visible(jj, i0, j0, causal, nq)
        row, mr = s[g, jj, a:], mx[a:]
        for t in range(nq - a):
            x = F(row[t]) * sc
            mr[t] = x if x > mr[t] else mr[t]


def _merge_max(part, nt, first, m, mnew, msub):
    """Per query of each of the G heads: mnew (G, nq) = the largest of its running max m (unless
    ``first``) and the nt partial maxes part[g * nt: g * nt + nt] (float64); msub = mnew in the
    scores' dtype, 0 where it is -inf (no finite score yet: -inf scores then weigh exp(-inf) =
    0)."""
    G, nq = mnew.shape
    for g in range(G):
        for t in range(nq):
            mv = _NEG_INF if first else m[g, t]
            for u in range(g * nt, g * nt + nt):
                x = np.float64(part[u, t])
                mv = x if x > mv else mv
            mnew[g, t] = mv
            msub[g, t] = F(mv) if mv != _NEG_INF else F(0)


def _exp_rows(s, sc, i0, j0, causal, g, j1, j2, msub, tot):
    """Rows j1..j2 of head g: s = exp(s * sc - msub) past each row's causal edge, 0 before it;
    tot (nq,) = those rows' column sums (in the scores' dtype: at most a block of rows)."""
    nq = s.shape[2]
    tot[:] = 0
    for jj in range(j1, j2):
        a = _first_visible(jj, i0, j0, causal, nq)
        s[g, jj, :a] = 0
        row, ms, tr = s[g, jj, a:], msub[a:], tot[a:]
        for t in range(nq - a):
            p = EXP(F(row[t]) * sc - ms[t])
            row[t] = p
            tr[t] += p


def _finish(part, nt, first, last, m, den, mnew, acc, lse):
    """The queries' sums after a key block: the nt partial sums part[g * nt:..] plus (unless
    ``first``) the running sum rescaled to the new max mnew, by which factor the output rows
    gathered so far, acc (G, nq, Ev), are rescaled too. Not ``last``: the new max and sum go to
    m, den. ``last``: lse written and den set to 1 / the sum (0 for a query that saw no finite
    score), by which the caller divides the output rows once it has added this block's.
    NaN: a NaN score gives a NaN weight, so a NaN sum, which makes the query's whole row NaN (as
    in PyTorch)."""
    G, nq = mnew.shape
    ev = acc.shape[2]
    for g in range(G):
        for t in range(nq):
            tt = 0.0
            for u in range(g * nt, g * nt + nt):
                tt += part[u, t]
            mv = mnew[g, t]
            if not first:
                alpha = math.exp(m[g, t] - mv) if mv != _NEG_INF else 1.0
                tt += den[g, t] * alpha
                al = acc.dtype.type(alpha)
                for e in range(ev):
                    acc[g, t, e] *= al
            if last:
                if tt > 0 or tt != tt or mv != mv:
                    den[g, t] = 1.0 / tt
                    lse[g, t] = mv + math.log(tt)
                else:  # the query saw no key with a finite score: zeros
                    den[g, t] = 0.0
                    lse[g, t] = _NEG_INF
            else:
                m[g, t] = mv
                den[g, t] = tt


def _grad_rows(s, dp, lf, df, sc, i0, j0, causal, g, j1, j2):
    """Rows (keys j0 +) j1..j2 of head g: s (raw scores) becomes the probabilities
    ``exp(s * sc - lse)`` and dp (``v gout^T``) the scores' gradient times the scale,
    ``p * (dp - delta) * sc``; both 0 past the causal edge and for queries with ``lse = -inf``.
    lf, df (G, nq): the queries' lse (+inf where it is -inf) and delta in the scores' dtype."""
    nq = s.shape[2]
    for jj in range(j1, j2):
        a = _first_visible(jj, i0, j0, causal, nq)
        s[g, jj, :a] = 0
        dp[g, jj, :a] = 0
        sr, dr, lr, de = s[g, jj, a:], dp[g, jj, a:], lf[g, a:], df[g, a:]
        for t in range(nq - a):
            li = lr[t]
            p = EXP(F(sr[t]) * sc - li)
            seen = li != F(_POS_INF)
            p = p if seen else F(0)
            sr[t] = p
            d = p * (F(dr[t]) - de[t]) * sc
            dr[t] = d if seen else F(0)


# --- 1. tasks: BLAS called from inside the kernel, a task per block on one core

@policy.scalar
def _at(a, b, h, i):
    """Address of a[b, h, i] (a row of a (B, H, n, e) array) and its rows' stride in elements."""
    return (a.ctypes.data + b * a.strides[0] + h * a.strides[1] + i * a.strides[2],
            a.strides[2] // a.itemsize)


def _forward_task(q, k, v, scale, causal, out, lse, nq, nk, r):
    """Task r of :func:`_forward_tasks`: one query block of one head against all its key blocks,
    on one thread. The last query blocks come first: under the causal mask the largest."""
    B, H, L, E = q.shape
    S, ev = k.shape[2], v.shape[3]
    nqb = (L + nq - 1) // nq
    qb = nqb - 1 - r // (B * H)
    b, h = _task(r % (B * H), H, 1)
    i0 = qb * nq
    i1 = min(L, i0 + nq)
    w = i1 - i0
    kend = min(S, i1) if causal else S
    qp, ldq = _at(q, b, h, i0)
    s = np.empty((1, min(nk, kend), w), q.dtype)
    m, den, mnew = np.empty((1, w)), np.empty((1, w)), np.empty((1, w))
    part, msub = np.empty((1, w), q.dtype), np.empty((1, w), q.dtype)
    acc = out[b, h, i0:i1].reshape((1, w, ev))
    lr = lse[b, h, i0:i1].reshape((1, w))
    sc = F(scale)
    for j0 in range(0, kend, nk):
        j1 = min(kend, j0 + nk)
        n = j1 - j0
        first, last = j0 == 0, j1 == kend
        kp, ldk = _at(k, b, h, j0)
        vp, ldv = _at(v, b, h, j0)
        GEMM(ROW_MAJOR, NO_TRANS, TRANS, n, w, E, F(1), kp, ldk, qp, ldq, F(0), s.ctypes.data, w)
        rmax(s, sc, i0, j0, causal, 0, 0, n, part[0])
        merge(part, 1, first, m, mnew, msub)
        rexp(s, sc, i0, j0, causal, 0, 0, n, msub[0], part[0])
        finish(part, 1, first, last, m, den, mnew, acc, lr)
        GEMM(ROW_MAJOR, TRANS, NO_TRANS, w, ev, n, F(1), s.ctypes.data, w, vp, ldv,
             F(0) if first else F(1), acc.ctypes.data, ev)
    for t in range(w):
        iv = acc.dtype.type(den[0, t])
        row = acc[0, t]
        for e in range(ev):
            row[e] *= iv


def _forward_tasks(q, k, v, scale, causal, out, lse, nq, nk):
    """:func:`attention_forward` as parallel tasks (:func:`_forward_task`, ``ftask``), one per
    query block of nq rows of each head, the keys in blocks of nk."""
    B, H, L, _ = q.shape
    for r in prange(B * H * ((L + nq - 1) // nq)):
        ftask(q, k, v, scale, causal, out, lse, nq, nk, r)


def _backward_task(q, k, v, gout, lf, df, scale, causal, dqs, dk, dv, nq, nk, kc, r):
    """Task r of :func:`_backward_tasks`: one chunk of kc keys of one head against every query
    block that sees them, on one thread: the gradients of those keys and values (added to dk,
    dv, which the caller zeroed) and their part of dq, written to dqs[chunk] (rows of queries
    that see none of them untouched)."""
    B, H, L, E = q.shape
    S, ev = k.shape[2], v.shape[3]
    nkc = (S + kc - 1) // kc
    b, h = _task(r // nkc, H, 1)
    c = r % nkc
    c0 = c * kc
    c1 = min(S, c0 + kc)
    dqc = dqs[c]
    n0 = min(nk, c1 - c0)
    sbuf, dpbuf = np.empty(n0 * nq, q.dtype), np.empty(n0 * nq, q.dtype)
    sc = F(scale)
    for i0 in range((c0 // nq) * nq if causal else 0, L, nq):
        i1 = min(L, i0 + nq)
        w = i1 - i0
        kend = min(c1, i1) if causal else c1
        qp, ldq = _at(q, b, h, i0)
        gp, ldg = _at(gout, b, h, i0)
        dqp, lddq = _at(dqc, b, h, i0)
        lr = lf[b, h, i0:i1].reshape((1, w))
        dr = df[b, h, i0:i1].reshape((1, w))
        for j0 in range(c0, kend, nk):
            j1 = min(kend, j0 + nk)
            n = j1 - j0
            kp, ldk = _at(k, b, h, j0)
            vp, ldv = _at(v, b, h, j0)
            dkp, lddk = _at(dk, b, h, j0)
            dvp, lddv = _at(dv, b, h, j0)
            s = sbuf[:n * w].reshape((1, n, w))
            dp = dpbuf[:n * w].reshape((1, n, w))
            GEMM(ROW_MAJOR, NO_TRANS, TRANS, n, w, E, F(1), kp, ldk, qp, ldq, F(0), s.ctypes.data,
                 w)
            GEMM(ROW_MAJOR, NO_TRANS, TRANS, n, w, ev, F(1), vp, ldv, gp, ldg, F(0), dp.ctypes.data,
                 w)
            rows(s, dp, lr, dr, sc, i0, j0, causal, 0, 0, n)
            GEMM(ROW_MAJOR, NO_TRANS, NO_TRANS, n, ev, w, F(1), s.ctypes.data, w, gp, ldg, F(1),
                 dvp, lddv)
            GEMM(ROW_MAJOR, NO_TRANS, NO_TRANS, n, E, w, F(1), dp.ctypes.data, w, qp, ldq, F(1),
                 dkp, lddk)
            GEMM(ROW_MAJOR, TRANS, NO_TRANS, w, E, n, F(1), dp.ctypes.data, w, kp, ldk,
                 F(0) if j0 == c0 else F(1), dqp, lddq)


def _backward_tasks(q, k, v, gout, lf, df, scale, causal, dqs, dk, dv, nq, nk, kc):
    """:func:`attention_backward`'s products and softmax gradient as parallel tasks
    (:func:`_backward_task`, ``btask``), one per chunk of kc keys of each head."""
    B, H = q.shape[0], q.shape[1]
    for r in prange(B * H * len(dqs)):
        btask(q, k, v, gout, lf, df, scale, causal, dqs, dk, dv, nq, nk, kc, r)


# --- 2. blocks from Python: np.matmul per block, the softmax as a parallel kernel between

def _softmax_block(s, scale, i0, j0, causal, first, last, m, den, acc, lse):
    """One key block of the online softmax for queries i0.. against keys j0..
    s (G, nk, nq): raw scores ``k q^T``, overwritten with ``exp(s * scale - m_new)`` (0 past the
    causal edge); m, den (G, nq) float64: the queries' running max and sum, updated (not read
    when ``first``); acc (G, nq, Ev): the output rows gathered over earlier key blocks, rescaled
    to the new max (not touched when ``first``); ``last``: see :func:`_finish`. Two passes over
    the scores, each a parallel task per SROWS rows over all queries (so the loops vectorise
    along long rows): the columns' max, then the exponentials and their column sums, the tasks'
    partial maxes and sums combined per query between them."""
    G, nk, nq = s.shape
    sc = F(scale)
    nt = (nk + SROWS - 1) // SROWS
    part = np.empty((G * nt, nq), s.dtype)
    for r in prange(G * nt):
        g, j1 = _task(r, nt, SROWS)
        rmax(s, sc, i0, j0, causal, g, j1, min(nk, j1 + SROWS), part[r])
    mnew = np.empty((G, nq))
    msub = np.empty((G, nq), s.dtype)
    merge(part, nt, first, m, mnew, msub)
    for r in prange(G * nt):
        g, j1 = _task(r, nt, SROWS)
        rexp(s, sc, i0, j0, causal, g, j1, min(nk, j1 + SROWS), msub[g], part[r])
    finish(part, nt, first, last, m, den, mnew, acc, lse)


def _grad_block(s, dp, lf, df, scale, i0, j0, causal):
    """:func:`_grad_rows` over a block s, dp (G, nk, nq), a parallel task per ROWS rows."""
    G, nk, nq = s.shape
    sc = F(scale)
    nt = (nk + ROWS - 1) // ROWS
    for r in prange(G * nt):
        g, j1 = _task(r, nt, ROWS)
        rows(s, dp, lf, df, sc, i0, j0, causal, g, j1, min(nk, j1 + ROWS))


def _row_dots(a, b, out):
    """out[z, i] = sum_e a[z, i, e] * b[z, i, e], in float64."""
    nb, L, e = a.shape
    for r in prange(nb * L):
        z = r // L
        i = r - z * L
        t = 0.0
        for c in range(e):
            t += np.float64(a[z, i, c]) * np.float64(b[z, i, c])
        out[z, i] = t


# helpers compiled once per dtype, shared by the drivers (the task ones compile on first use)
_ENV = _vmath.helpers("attention", {
    "rmax": _max_rows, "merge": _merge_max, "rexp": _exp_rows, "finish": _finish,
    "rows": _grad_rows, "ftask": _forward_task, "btask": _backward_task,
}, bind={dt: {"GEMM": gemm} for dt, gemm in _blas.GEMM.items()})
_FORWARD = _vmath.twins(_forward_tasks, "attention_forward_tasks", env=_ENV)
_BACKWARD = _vmath.twins(_backward_tasks, "attention_backward_tasks", env=_ENV)
_SOFTMAX = _vmath.twins(_softmax_block, "attention_softmax_block", env=_ENV)
_GRAD = _vmath.twins(_grad_block, "attention_grad_block", env=_ENV)
_ROW_DOTS = policy.Twin(_row_dots, "attention_row_dots")


def _blocks(L, S, causal):
    """(queries, keys) per block for L queries and S keys."""
    table = CAUSAL_QBLOCKS if causal else QBLOCKS
    return min(next(rows for keys, rows in table if S >= keys), L), min(KBLOCK, S)


def _tasks(kernel, *args, work):
    """Run a task kernel: BLAS on the calling thread, tasks handed out one at a time."""
    with _blas.one_thread():
        chunk = numba.set_parallel_chunksize(1)
        try:
            kernel(*args, work=work)
        finally:
            numba.set_parallel_chunksize(chunk)


def _use_tasks(*arrays):
    """Way 1 applies: a CBLAS was found, and each operand's rows are at least one element long
    and apart by at least their length (BLAS's leading dimension; a broadcast row or E == 0
    goes the other way) and by less than 2^31 elements (BLAS's integers)."""
    return _blas.AVAILABLE and all(
        0 < a.shape[3] * a.itemsize <= a.strides[2] < (1 << 31) * a.itemsize for a in arrays)


def attention_forward(q, k, v, scale, causal, out, lse):
    """out = softmax(q @ k^T * scale [causal]) @ v for q (B, H, L, E), k (B, H, S, E), v (B, H,
    S, Ev); writes out (B, H, L, Ev) and lse (B, H, L) float64, the log-sum-exp of each query's
    scores."""
    B, H, L, _ = q.shape
    S = k.shape[2]
    if S == 0 or B * H * L == 0:
        out[...] = 0
        lse[...] = _NEG_INF
        return
    with np.errstate(all="ignore"):  # NaN and inf propagate, silently, as in PyTorch
        if _use_tasks(q, k, v):
            nq, nk = _blocks(L, S, causal)
            _tasks(_FORWARD[q.dtype], q, k, v, float(scale), bool(causal), out, lse, nq, nk,
                   work=B * H * L * S)
        else:
            _forward(q, k, v, float(scale), bool(causal), out, lse)


def attention_backward(q, k, v, out, gout, lse, scale, causal, delta, dq, dk, dv):
    """Gradients of :func:`attention_forward` given gout (B, H, L, Ev) = d loss / d out and the
    forward's out and lse: writes delta (B, H, L) float64 (rowsum(gout * out), scratch) and dq,
    dk, dv shaped like q, k, v."""
    B, H, L, _ = q.shape
    S = k.shape[2]
    _ROW_DOTS(gout.reshape((-1,) + gout.shape[2:]), _rows(out), _rows(delta), work=gout.size)
    dk[...] = 0
    dv[...] = 0
    if S == 0 or B * H * L == 0:
        dq[...] = 0
        return
    with np.errstate(all="ignore"):
        # each query's lse and delta in the compute dtype, once: lse = -inf (a query that saw no
        # finite score) as +inf, whose exp(s - lse) is 0
        lf = np.where(lse == _NEG_INF, _POS_INF, lse).astype(q.dtype)
        df = delta.astype(q.dtype)
        if _use_tasks(q, k, v, gout):
            nq, nk = _blocks(L, S, causal)
            kc = -(-S // _key_chunks(B * H, S, nk))
            nkc = -(-S // kc)
            dqs = dq[None] if nkc == 1 else np.zeros((nkc,) + dq.shape, dq.dtype)
            _tasks(_BACKWARD[q.dtype], q, k, v, gout, lf, df, float(scale), bool(causal), dqs,
                   dk, dv, nq, nk, kc, work=B * H * L * S)
            if nkc > 1:
                np.sum(dqs, axis=0, out=dq)
        else:
            _backward(q, k, v, gout, lf, df, float(scale), bool(causal), dq, dk, dv)


def _key_chunks(heads, S, nk):
    """Chunks of keys per head for the backward's tasks: enough tasks for TASKS_PER_THREAD per
    thread, each chunk at least a key block of nk."""
    want = TASKS_PER_THREAD * numba.get_num_threads()
    return 1 if heads >= want else min(-(-S // nk), -(-want // heads))


def _pieces(B, H, L, S, causal):
    """(bs, hs, i0, i1, j0, j1, first, last) for every block product of way 2: ``[bs, hs]`` a
    group of heads (whole batch entries, or part of one entry's heads when one entry's block of
    scores would pass SCRATCH), query blocks in order and each one's key blocks in order (a
    causal query block stops at its last query's key)."""
    nq, nk = _blocks(L, S, False)  # (QBLOCKS was measured for this way, causal or not)
    G = max(1, SCRATCH // max(1, nq * nk))  # heads per group
    if G >= H:
        per = G // H
        groups = [(slice(b, min(B, b + per)), slice(None)) for b in range(0, B, per)]
    else:
        groups = [(slice(b, b + 1), slice(h, min(H, h + G))) for b in range(B)
                  for h in range(0, H, G)]
    for bs, hs in groups:
        for i0 in range(0, L, nq):
            i1 = min(L, i0 + nq)
            kend = min(S, i1) if causal else S
            for j0 in range(0, kend, nk):
                j1 = min(kend, j0 + nk)
                yield bs, hs, i0, i1, j0, j1, j0 == 0, j1 == kend


def _buffer(buf, shape):
    """A C-contiguous (shape) view of the front of a flat scratch buffer."""
    return buf[:math.prod(shape)].reshape(shape)


def _rows(a):
    """A (group, heads, rows, ...) block of a C-contiguous array as (group * heads, rows, ...):
    a view (the block is whole entries, or heads of one entry)."""
    return a.reshape((-1,) + a.shape[2:])


def _forward(q, k, v, scale, causal, out, lse):
    B, H, L, _ = q.shape
    S = k.shape[2]
    m, den = np.empty(lse.shape), np.empty(lse.shape)
    sbuf = pv = None
    softmax = _SOFTMAX[q.dtype]
    for bs, hs, i0, i1, j0, j1, first, last in _pieces(B, H, L, S, causal):
        qi, kj, vj, acc = q[bs, hs, i0:i1], k[bs, hs, j0:j1], v[bs, hs, j0:j1], out[bs, hs, i0:i1]
        shape = kj.shape[:3] + (i1 - i0,)  # scores k q^T: (group, heads, keys, queries)
        if sbuf is None or sbuf.size < math.prod(shape):
            sbuf = np.empty(math.prod(shape), q.dtype)
        s = np.matmul(kj, qi.swapaxes(2, 3), out=_buffer(sbuf, shape))
        dn = den[bs, hs, i0:i1]
        softmax(_rows(s), scale, i0, j0, causal, first, last, _rows(m[bs, hs, i0:i1]), _rows(dn),
                _rows(acc), _rows(lse[bs, hs, i0:i1]), work=s.size)
        p = s.swapaxes(2, 3)
        if first:
            np.matmul(p, vj, out=acc)
        else:  # a later key block (more than KBLOCK keys)
            if pv is None or pv.size < acc.size:
                pv = np.empty(acc.size, q.dtype)
            np.add(acc, np.matmul(p, vj, out=_buffer(pv, acc.shape)), out=acc)
        if last:
            np.multiply(acc, dn[..., None].astype(q.dtype), out=acc)


def _backward(q, k, v, gout, lf, df, scale, causal, dq, dk, dv):
    B, H, L, _ = q.shape
    S = k.shape[2]
    sbuf = dpbuf = prod = None
    grad = _GRAD[q.dtype]
    for bs, hs, i0, i1, j0, j1, first, _ in _pieces(B, H, L, S, causal):
        qi, gi, kj, vj = q[bs, hs, i0:i1], gout[bs, hs, i0:i1], k[bs, hs, j0:j1], v[bs, hs, j0:j1]
        dvj, dkj, dqi = dv[bs, hs, j0:j1], dk[bs, hs, j0:j1], dq[bs, hs, i0:i1]
        shape = kj.shape[:3] + (i1 - i0,)  # (group, heads, keys, queries), as forward
        if sbuf is None or sbuf.size < math.prod(shape):
            sbuf, dpbuf = np.empty(math.prod(shape), q.dtype), np.empty(math.prod(shape), q.dtype)
        if prod is None or prod.size < max(dvj.size, dkj.size, dqi.size):
            prod = np.empty(max(dvj.size, dkj.size, dqi.size), q.dtype)
        s = np.matmul(kj, qi.swapaxes(2, 3), out=_buffer(sbuf, shape))
        ds = np.matmul(vj, gi.swapaxes(2, 3), out=_buffer(dpbuf, shape))
        grad(_rows(s), _rows(ds), _rows(lf[bs, hs, i0:i1]), _rows(df[bs, hs, i0:i1]), scale,
             i0, j0, causal, work=s.size)
        np.add(dvj, np.matmul(s, gi, out=_buffer(prod, dvj.shape)), out=dvj)
        np.add(dkj, np.matmul(ds, qi, out=_buffer(prod, dkj.shape)), out=dkj)
        if first:
            np.matmul(ds.swapaxes(2, 3), kj, out=dqi)
        else:
            np.add(dqi, np.matmul(ds.swapaxes(2, 3), kj, out=_buffer(prod, dqi.shape)), out=dqi)
