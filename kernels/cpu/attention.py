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

How it runs (FlashAttention's blocking, with BLAS doing the products): the queries go in blocks
of ``QBLOCKS`` rows, the keys in blocks of ``KBLOCK``, a group of heads at a time, sized so that
one block of scores for the whole group holds about ``SCRATCH`` elements. For each
(query block, key block) the products are GEMMs through ``np.matmul`` over the group (NumPy's
BLAS, batched: a hand-written Numba product of these shapes ran at ~10 GFLOP/s, BLAS at 60-110),
and the softmax between them is a Numba kernel over that block of scores, in place:

The scores are held transposed, ``s = k_j q_i^T`` (a key per row, a query per column): OpenBLAS
runs that product, whose M (keys) is the larger side, at 155 GFLOP/s in place of 124 for
``q_i k_j^T`` (256 queries x 512 keys x 64), and the softmax kernels then run along rows over
queries, with a query's running max and sum as vectors.

- forward: :func:`_softmax_block` turns the scores into probabilities against the queries'
  running max, rescales the output rows gathered so far, and at a query's last key block
  divides both by the final sum (so no pass over the output follows) and writes ``lse``;
  ``out_i (+)= s^T v_j``.
- backward, one pass (no probabilities stored: they are recomputed from ``lse``):
  ``s = k_j q_i^T``, ``dp = v_j gout_i^T``; :func:`_grad_block` makes them ``p`` and
  ``ds = p (dp - delta) scale`` with ``delta = rowsum(gout * out)``; ``dv_j += s gout_i``,
  ``dk_j += ds q_i``, ``dq_i (+)= ds^T k_j``.

Scores, products and the exponentials run in the arrays' dtype (as GEMMs and PyTorch's CPU
kernel do; float32's exp has twice float64's SIMD lanes); the softmax's running max, sum and
log-sum-exp in float64. Inside the causal diagonal block the masked probabilities are
zeros that the GEMM still multiplies, so a NaN or inf in a value row beyond a query's edge but in
its block reaches that query's output (as in PyTorch's blocked CPU kernel and its math path).
"""
import math

import numpy as np
from numba import prange

from .. import policy
from . import _vmath

# globals of the softmax kernels, bound per dtype (policy's ``bind=``): the compute type and
# _vmath's exp for it, and the drivers' task helpers
F = EXP = chunk = rows = None

#: Queries per block, by the number of keys (at least that many keys: that many queries): a
#: larger block makes larger, faster GEMMs but computes more masked scores on the causal
#: diagonal and keeps a larger block of scores out of cache. Measured (fwd+bwd, float32, 2
#: cores): under 512 keys one block of up to 256 queries beats 64-query blocks 1.3-1.8x
#: ((16, 4, 128, 32) causal 10.1 -> 7.7 ms); from 512 keys, 128 (causal 11.2 ms at L = 512
#: against 12.0 for 256); from 1024, 256.
QBLOCKS = ((1024, 256), (512, 128), (0, 256))
#: Keys per block: up to this many keys one pass of softmax serves, with no rescaling (1024 against
#: 512: (2, 4, 2048, 64) fwd+bwd causal 141.7 -> 131.4 ms, full 257.7 -> 237.7; peak unchanged).
KBLOCK = 1024
#: Elements of one block of scores for a group of heads (the forward keeps one such block, the
#: backward two, plus a product buffer; more when one head's block alone is larger): 256 KiB in
#: float32, so that a block the GEMM writes is still in cache when the softmax kernel reads it.
SCRATCH = 1 << 16
_NEG_INF = -np.inf
_POS_INF = np.inf


#: Queries (score columns) per parallel task of the forward softmax: each task keeps the running
#: max and sum of its columns as vectors.
CHUNK = 64
#: Rows of scores (keys) per parallel task of the backward's softmax gradient.
ROWS = 16


@policy.scalar
def _task(r, per, size):
    """Parallel task r of ``per`` tasks per head, each ``size`` rows or columns: (head, start)."""
    g = r // per
    return g, (r - g * per) * size


@policy.scalar
def _first_visible(jj, i0, j0, causal, c0, w):
    """Of the w queries i0 + c0.. (columns c0.. of a block's scores), the first that sees key
    j0 + jj, counted from c0 (0..w): 0, or under the causal mask the key's own position."""
    return min(w, max(0, j0 + jj - i0 - c0)) if causal else 0


def _softmax_chunk(s, sc, i0, j0, causal, first, last, m, den, acc, lse, g, c0, c1):
    """:func:`_softmax_block`'s task: columns c0..c1 (queries i0 + c0..) of head g. The loops run
    over row slices from 0: a loop from a variable start kept LLVM from vectorising it (8x)."""
    nk = s.shape[1]
    ev = acc.shape[2]
    w = c1 - c0
    mb = np.full(w, F(_NEG_INF))
    for jj in range(nk):
        a = _first_visible(jj, i0, j0, causal, c0, w)
        row, mr = s[g, jj, c0 + a:c1], mb[a:]
        for t in range(w - a):
            x = F(row[t]) * sc
            mr[t] = x if x > mr[t] else mr[t]
    mnew = np.empty(w)
    msub = np.empty(w, s.dtype)
    for t in range(w):
        mi = _NEG_INF if first else m[g, c0 + t]
        mv = np.float64(mb[t])
        mv = mi if mi > mv or mi != mi else mv
        mnew[t] = mv
        # no finite score yet (mv = -inf): subtract 0, so -inf scores weigh exp(-inf) = 0
        msub[t] = F(mv) if mv != _NEG_INF else F(0)
    tot = np.zeros(w)
    for jj in range(nk):
        a = _first_visible(jj, i0, j0, causal, c0, w)
        s[g, jj, c0:c0 + a] = 0
        row, ms, tr = s[g, jj, c0 + a:c1], msub[a:], tot[a:]
        for t in range(w - a):
            p = EXP(F(row[t]) * sc - ms[t])
            row[t] = p
            tr[t] += p
    inv = np.empty(w, s.dtype)
    for t in range(w):
        ii = c0 + t
        tt = tot[t]
        mv = mnew[t]
        alpha = 1.0
        if not first:
            if mv != _NEG_INF:
                alpha = math.exp(m[g, ii] - mv)
            tt += den[g, ii] * alpha
        if last:
            if tt > 0 or tt != tt or mv != mv:
                iv = 1.0 / tt
                lse[g, ii] = mv + math.log(tt)
            else:  # the query saw no key with a finite score: zeros
                iv = 0.0
                lse[g, ii] = _NEG_INF
            inv[t] = iv
            alpha *= iv
        else:
            m[g, ii] = mv
            den[g, ii] = tt
        if not first:
            al = acc.dtype.type(alpha)
            for e in range(ev):
                acc[g, ii, e] *= al
    if last:
        for jj in range(nk):
            row = s[g, jj, c0:c1]
            for t in range(w):
                row[t] *= inv[t]


def _softmax_block(s, scale, i0, j0, causal, first, last, m, den, acc, lse):
    """One key block of the online softmax for queries i0.. against keys j0..
    s (G, nk, nq): raw scores ``k q^T`` (a key per row, a query per column), overwritten with
    ``exp(s * scale - m_new)`` (0 past the causal edge); m, den (G, nq) float64: the queries'
    running max and sum, updated (not read when ``first``); acc (G, nq, Ev): the output rows
    gathered over earlier key blocks, rescaled to the new max (not touched when ``first``).
    ``last``: the queries' final key block: the probabilities and acc are divided by the final
    sum, lse (G, nq) written. The exponentials run in the scores' dtype (F, EXP), the sums in
    float64. The loops run along rows (over queries), so they vectorise; a task is CHUNK
    columns of one head (``chunk``, a helper compiled on its own: inlined in the prange, the
    parallel build ran 2-3x slower than the serial one).
    NaN: a NaN score gives a NaN weight, so a NaN sum, which makes the query's whole row NaN at
    its last block (as in PyTorch); a query with no finite score so far gets weights 0.
    """
    G, nk, nq = s.shape
    sc = F(scale)
    nch = (nq + CHUNK - 1) // CHUNK
    for r in prange(G * nch):
        g, c0 = _task(r, nch, CHUNK)
        chunk(s, sc, i0, j0, causal, first, last, m, den, acc, lse, g, c0, min(nq, c0 + CHUNK))


def _grad_rows(s, dp, lf, df, sc, i0, j0, causal, g, j1, j2):
    """:func:`_grad_block`'s task: rows (keys j0 + ) j1..j2 of head g, over row slices from the
    first visible query (see :func:`_softmax_chunk`)."""
    nq = s.shape[2]
    for jj in range(j1, j2):
        a = _first_visible(jj, i0, j0, causal, 0, nq)
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


def _grad_block(s, dp, lf, df, scale, i0, j0, causal):
    """s (G, nk, nq): raw scores ``k q^T``, overwritten with the probabilities
    ``exp(s * scale - lse)``; dp (G, nk, nq): ``v gout^T``, overwritten with
    ``p * (dp - delta) * scale`` (the scores' gradient times the scale); both 0 past the causal
    edge and for queries with ``lse = -inf``. lf, df (G, nq): the queries' lse (+inf where it is
    -inf) and delta in the scores' dtype, the compute type (F, EXP). A task per ROWS rows
    (``rows``, compiled on its own as the softmax's chunk)."""
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


_SOFTMAX = _vmath.twins(_softmax_block, "attention_softmax_block", {"chunk": _softmax_chunk})
_GRAD = _vmath.twins(_grad_block, "attention_grad_block", {"rows": _grad_rows})
_ROW_DOTS = policy.Twin(_row_dots, "attention_row_dots")


def _pieces(B, H, L, S, causal):
    """(bs, hs, i0, i1, j0, j1, first, last) for every block product: ``[bs, hs]`` a group of
    heads (whole batch entries, or part of one entry's heads when one entry's block of scores
    would pass SCRATCH), query blocks in order and each one's key blocks in order (a causal query
    block stops at its last query's key)."""
    nq = min(next(rows for keys, rows in QBLOCKS if S >= keys), L)
    nk = min(KBLOCK, S)
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


def attention_forward(q, k, v, scale, causal, out, lse):
    """out = softmax(q @ k^T * scale [causal]) @ v for q (B, H, L, E), k (B, H, S, E), v (B, H,
    S, Ev); writes out (B, H, L, Ev) and lse (B, H, L) float64, the log-sum-exp of each query's
    scores."""
    B, H, L, _ = q.shape
    if k.shape[2] == 0 or B * H * L == 0:
        out[...] = 0
        lse[...] = _NEG_INF
        return
    with np.errstate(all="ignore"):  # NaN and inf propagate, silently, as in PyTorch
        _forward(q, k, v, float(scale), bool(causal), out, lse)


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
        softmax(_rows(s), scale, i0, j0, causal, first, last, _rows(m[bs, hs, i0:i1]),
                _rows(den[bs, hs, i0:i1]), _rows(acc), _rows(lse[bs, hs, i0:i1]), work=s.size)
        p = s.swapaxes(2, 3)
        if first:
            np.matmul(p, vj, out=acc)
        else:  # a later key block (more than KBLOCK keys)
            if pv is None or pv.size < acc.size:
                pv = np.empty(acc.size, q.dtype)
            np.add(acc, np.matmul(p, vj, out=_buffer(pv, acc.shape)), out=acc)


def attention_backward(q, k, v, out, gout, lse, scale, causal, delta, dq, dk, dv):
    """Gradients of :func:`attention_forward` given gout (B, H, L, Ev) = d loss / d out and the
    forward's out and lse: writes delta (B, H, L) float64 (rowsum(gout * out), scratch) and dq,
    dk, dv shaped like q, k, v."""
    B, H, L, _ = q.shape
    _ROW_DOTS(gout.reshape((-1,) + gout.shape[2:]), _rows(out), _rows(delta), work=gout.size)
    dk[...] = 0
    dv[...] = 0
    if k.shape[2] == 0 or B * H * L == 0:
        dq[...] = 0
        return
    with np.errstate(all="ignore"):
        _backward(q, k, v, gout, lse, float(scale), bool(causal), delta, dq, dk, dv)


def _backward(q, k, v, gout, lse, scale, causal, delta, dq, dk, dv):
    B, H, L, _ = q.shape
    S = k.shape[2]
    sbuf = dpbuf = prod = None
    grad = _GRAD[q.dtype]
    # each query's lse and delta in the compute dtype, once: lse = -inf (a query that saw no
    # finite score) as +inf, whose exp(s - lse) is 0
    lf = np.where(lse == _NEG_INF, _POS_INF, lse).astype(q.dtype)
    df = delta.astype(q.dtype)
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
