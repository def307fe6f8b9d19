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

- forward: ``s = q_i k_j^T``; :func:`_softmax_block` turns the scores into probabilities against
  the running row max, rescales the output rows gathered so far, and at the row's last key block
  divides both by the final sum (so no pass over the output follows) and writes ``lse``;
  ``out_i (+)= p v_j``.
- backward, one pass (no probabilities stored: they are recomputed from ``lse``):
  ``s = q_i k_j^T``, ``dp = gout_i v_j^T``; :func:`_grad_block` makes them ``p`` and
  ``ds = p (dp - delta) scale`` with ``delta = rowsum(gout * out)``; ``dv_j += p^T gout_i``,
  ``dk_j += ds^T q_i``, ``dq_i (+)= ds k_j``.

Scores and products accumulate in the arrays' dtype (as GEMMs do); the softmax's running max,
sum and log-sum-exp in float64. Inside the causal diagonal block the masked probabilities are
zeros that the GEMM still multiplies, so a NaN or inf in a value row beyond a query's edge but in
its block reaches that query's output (as in PyTorch's blocked CPU kernel and its math path).
"""
import math

import numpy as np
from numba import prange

from .. import policy
from ._vmath import exp as _exp

#: Query rows per block, by the number of keys (at least that many keys: that many rows): a
#: larger block makes larger, faster GEMMs (OpenBLAS on 2 cores: 76 GFLOP/s for a 64 x 512 x 64
#: block of scores, 120 for 256 x 512 x 64) but computes more masked scores on the causal
#: diagonal and keeps a larger block of scores out of cache.
QBLOCKS = ((1024, 256), (512, 128), (0, 64))
#: Keys per block: up to this many keys one pass of softmax serves, with no rescaling.
KBLOCK = 512
#: Elements of one block of scores for a group of heads (the forward keeps one such block, the
#: backward two, plus a product buffer; more when one head's block alone is larger): 256 KiB in
#: float32, so that a block the GEMM writes is still in cache when the softmax kernel reads it.
SCRATCH = 1 << 16
_NEG_INF = -np.inf


@policy.scalar
def _visible(nk, i, j0, causal):
    """How many of the nk keys j0.. query i sees: all, or up to key i when causal."""
    return min(nk, max(0, i + 1 - j0)) if causal else nk


def _softmax_block(s, scale, i0, j0, causal, first, last, m, den, acc, lse):
    """One key block of the online softmax for queries i0.. (block rows) against keys j0..

    s (G, nq, nk): raw scores ``q k^T``, overwritten with ``exp(s * scale - m_new)`` (0 past the
    causal edge); m, den (G, nq) float64: the rows' running max and sum, updated (not read when
    ``first``); acc (G, nq, Ev): the output rows gathered over earlier key blocks, rescaled to the
    new max (not touched when ``first``). ``last``: the rows' final key block: the
    probabilities and acc are divided by the final sum, lse (G, nq) written.
    """
    G, nq, nk = s.shape
    ev = acc.shape[2]
    for r in prange(G * nq):
        g = r // nq
        ii = r - g * nq
        n = _visible(nk, i0 + ii, j0, causal)
        mb = _NEG_INF
        nan = False
        for jj in range(n):
            x = np.float64(s[g, ii, jj]) * scale
            mb = x if x > mb else mb
            nan |= x != x
        mi = _NEG_INF if first else m[g, ii]
        mnew = mi if mi > mb else mb
        if nan or mi != mi:  # a NaN score makes the whole row NaN, as in PyTorch
            mnew = np.nan
        tot = 0.0
        if mnew == _NEG_INF:  # no finite score yet: weights 0
            for jj in range(nk):
                s[g, ii, jj] = 0
        else:
            for jj in range(n):
                p = _exp(np.float64(s[g, ii, jj]) * scale - mnew)
                s[g, ii, jj] = p
                tot += p
            for jj in range(n, nk):
                s[g, ii, jj] = 0
        alpha = 1.0
        if not first:
            if mnew != _NEG_INF:
                alpha = math.exp(mi - mnew)
            tot += den[g, ii] * alpha
        if last:
            if tot > 0 or tot != tot or mnew != mnew:
                inv = 1.0 / tot
                lse[g, ii] = mnew + math.log(tot)
            else:  # the query saw no key with a finite score: zeros
                inv = 0.0
                lse[g, ii] = _NEG_INF
            pinv = s.dtype.type(inv)
            for jj in range(n):
                s[g, ii, jj] *= pinv
            alpha *= inv
        else:
            m[g, ii] = mnew
            den[g, ii] = tot
        if not first:
            a = acc.dtype.type(alpha)
            for e in range(ev):
                acc[g, ii, e] *= a


def _grad_block(s, dp, lse, delta, scale, i0, j0, causal):
    """s (G, nq, nk): raw scores, overwritten with the probabilities ``exp(s * scale - lse)``;
    dp (G, nq, nk): ``gout v^T``, overwritten with ``p * (dp - delta) * scale`` (the scores'
    gradient times the scale); both 0 past the causal edge and for rows with ``lse = -inf``."""
    G, nq, nk = s.shape
    for r in prange(G * nq):
        g = r // nq
        ii = r - g * nq
        n = _visible(nk, i0 + ii, j0, causal)
        li = lse[g, ii]
        if li == _NEG_INF:
            n = 0
        di = delta[g, ii]
        for jj in range(n):
            p = _exp(np.float64(s[g, ii, jj]) * scale - li)
            s[g, ii, jj] = p
            dp[g, ii, jj] = p * (np.float64(dp[g, ii, jj]) - di) * scale
        for jj in range(n, nk):
            s[g, ii, jj] = 0
            dp[g, ii, jj] = 0


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


_SOFTMAX = policy.Twin(_softmax_block, "attention_softmax_block")
_GRAD = policy.Twin(_grad_block, "attention_grad_block")
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
    for bs, hs, i0, i1, j0, j1, first, last in _pieces(B, H, L, S, causal):
        qi, kj, vj, acc = q[bs, hs, i0:i1], k[bs, hs, j0:j1], v[bs, hs, j0:j1], out[bs, hs, i0:i1]
        shape = qi.shape[:3] + (j1 - j0,)
        if sbuf is None or sbuf.size < math.prod(shape):
            sbuf = np.empty(math.prod(shape), q.dtype)
        s = np.matmul(qi, kj.swapaxes(2, 3), out=_buffer(sbuf, shape))
        _SOFTMAX(_rows(s), scale, i0, j0, causal, first, last, _rows(m[bs, hs, i0:i1]),
                 _rows(den[bs, hs, i0:i1]), _rows(acc), _rows(lse[bs, hs, i0:i1]), work=s.size)
        if first:
            np.matmul(s, vj, out=acc)
        else:  # a later key block (more than KBLOCK keys)
            if pv is None or pv.size < acc.size:
                pv = np.empty(acc.size, q.dtype)
            np.add(acc, np.matmul(s, vj, out=_buffer(pv, acc.shape)), out=acc)


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
    for bs, hs, i0, i1, j0, j1, first, _ in _pieces(B, H, L, S, causal):
        qi, gi, kj, vj = q[bs, hs, i0:i1], gout[bs, hs, i0:i1], k[bs, hs, j0:j1], v[bs, hs, j0:j1]
        dvj, dkj, dqi = dv[bs, hs, j0:j1], dk[bs, hs, j0:j1], dq[bs, hs, i0:i1]
        shape = qi.shape[:3] + (j1 - j0,)
        if sbuf is None or sbuf.size < math.prod(shape):
            sbuf, dpbuf = np.empty(math.prod(shape), q.dtype), np.empty(math.prod(shape), q.dtype)
        if prod is None or prod.size < max(dvj.size, dkj.size, dqi.size):
            prod = np.empty(max(dvj.size, dkj.size, dqi.size), q.dtype)
        s = np.matmul(qi, kj.swapaxes(2, 3), out=_buffer(sbuf, shape))
        ds = np.matmul(gi, vj.swapaxes(2, 3), out=_buffer(dpbuf, shape))
        _GRAD(_rows(s), _rows(ds), _rows(lse[bs, hs, i0:i1]), _rows(delta[bs, hs, i0:i1]), scale,
              i0, j0, causal, work=s.size)
        np.add(dvj, np.matmul(s.swapaxes(2, 3), gi, out=_buffer(prod, dvj.shape)), out=dvj)
        np.add(dkj, np.matmul(ds.swapaxes(2, 3), qi, out=_buffer(prod, dkj.shape)), out=dkj)
        if first:
            np.matmul(ds, kj, out=dqi)
        else:
            np.add(dqi, np.matmul(ds, kj, out=_buffer(prod, dqi.shape)), out=dqi)
