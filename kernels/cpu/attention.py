"""Fused scaled-dot-product attention on the CPU: ``softmax(q @ k^T * scale) @ v`` with an online
softmax over blocks of keys, so no (L, S) matrix is ever stored, and a causal mask that skips the
keys after each query instead of materialising them.

Layouts (the caller checks them): ``q`` (B, L, E), ``k`` (B, S, E), ``v`` (B, S, Ev), ``out`` and
``gout`` (B, L, Ev), gradients shaped like their inputs; all C-contiguous and of one float dtype
(float32 or float64); ``lse`` and ``delta`` (B, L) float64. ``causal``: query i sees keys
0..i (PyTorch's top-left aligned mask). A query that sees no key (S == 0) gets zeros and
``lse = -inf``. Scores and the value sums accumulate in the arrays' dtype (as a GEMM would);
the softmax's running max, sum and log-sum-exp in float64. Each kernel writes its
caller-allocated outputs (the last arguments) and returns None.

Forward: one task per (batch, block of ``BLOCK`` queries), in parallel; for each block of keys
(kept hot in cache across the block's queries) a query's scores are formed, its running max
raised and its sum and output row rescaled. Backward recomputes the probabilities from ``lse``
in two passes that need no atomics: ``dq`` (with ``delta = rowsum(gout * out)``) per block of
queries, then ``dk`` and ``dv`` per block of keys.
"""
import math

import numpy as np
from numba import prange

from .. import policy
from ._vmath import exp as _exp

#: Queries per forward/dq task and keys per block (and per dk/dv task).
BLOCK = 64
_NEG_INF = -np.inf


@policy.scalar
def _transpose_block(x, b, j0, n, xt):
    """xt[:, :n] = x[b, j0:j0 + n, :].T: a block of keys or values with the key index
    innermost, so that a query's scores against the block are unit-stride AXPYs (SIMD)."""
    for jj in range(0, n):
        for e in range(0, x.shape[2]):
            xt[e, jj] = x[b, j0 + jj, e]


@policy.scalar
def _row_products(x, b, i, xt, n, out):
    """out[:n] = x[b, i, :] @ xt[:, :n], accumulated in x's dtype."""
    for jj in range(0, n):
        out[jj] = 0
    for e in range(0, xt.shape[0]):
        xe = x[b, i, e]
        for jj in range(0, n):
            out[jj] += xe * xt[e, jj]


def _attention_forward(q, k, v, scale, causal, out, lse):
    nb, L, E = q.shape
    S = k.shape[1]
    ev = v.shape[2]
    nqb = (L + BLOCK - 1) // BLOCK
    for task in prange(nb * nqb):
        b = task // nqb
        i0 = (task - b * nqb) * BLOCK
        i1 = min(i0 + BLOCK, L)
        m = np.full(i1 - i0, _NEG_INF)
        den = np.zeros(i1 - i0)
        kt = np.empty((E, BLOCK), q.dtype)
        s = np.empty(BLOCK, q.dtype)
        p = np.empty(BLOCK)
        for i in range(i0, i1):
            for e in range(0, ev):
                out[b, i, e] = 0
        for j0 in range(0, S, BLOCK):
            if causal and j0 >= i1:
                break
            nj = min(BLOCK, S - j0)
            _transpose_block(k, b, j0, nj, kt)
            for i in range(i0, i1):
                n = min(nj, i + 1 - j0) if causal else nj
                if n <= 0:
                    continue
                _row_products(q, b, i, kt, n, s)
                mb = _NEG_INF
                for jj in range(0, n):
                    sj = np.float64(s[jj]) * scale
                    p[jj] = sj
                    mb = sj if sj > mb else mb
                mi = m[i - i0]
                mnew = mi if mi > mb else mb
                if mnew == _NEG_INF:
                    for jj in range(0, n):
                        if p[jj] != p[jj]:  # NaN scores only: the row is NaN, as in PyTorch
                            m[i - i0] = np.nan
                    continue
                if mnew != mi:
                    alpha = math.exp(mi - mnew)
                    den[i - i0] *= alpha
                    for e in range(0, ev):
                        out[b, i, e] *= alpha
                    m[i - i0] = mnew
                tot = 0.0
                for jj in range(0, n):
                    pj = _exp(p[jj] - mnew)
                    p[jj] = pj
                    tot += pj
                den[i - i0] += tot
                for jj in range(0, n):
                    pj = q.dtype.type(p[jj])
                    for e in range(0, ev):
                        out[b, i, e] += pj * v[b, j0 + jj, e]
        for i in range(i0, i1):
            d = den[i - i0]
            if d > 0 or d != d or m[i - i0] != m[i - i0]:
                inv = 1.0 / d
                for e in range(0, ev):
                    out[b, i, e] = out[b, i, e] * inv if d == d else np.nan
                lse[b, i] = m[i - i0] + math.log(d)
            else:
                lse[b, i] = _NEG_INF


def _attention_backward_dq(q, k, v, out, gout, lse, scale, causal, delta, dq):
    nb, L, E = q.shape
    S = k.shape[1]
    ev = v.shape[2]
    nqb = (L + BLOCK - 1) // BLOCK
    for task in prange(nb * nqb):
        b = task // nqb
        i0 = (task - b * nqb) * BLOCK
        i1 = min(i0 + BLOCK, L)
        kt = np.empty((E, BLOCK), q.dtype)
        vt = np.empty((ev, BLOCK), q.dtype)
        s = np.empty(BLOCK, q.dtype)
        dp = np.empty(BLOCK, q.dtype)
        for i in range(i0, i1):
            dl = 0.0
            for e in range(0, ev):
                dl += np.float64(gout[b, i, e]) * np.float64(out[b, i, e])
            delta[b, i] = dl
            for e in range(0, E):
                dq[b, i, e] = 0
        for j0 in range(0, S, BLOCK):
            if causal and j0 >= i1:
                break
            nj = min(BLOCK, S - j0)
            _transpose_block(k, b, j0, nj, kt)
            _transpose_block(v, b, j0, nj, vt)
            for i in range(i0, i1):
                li = lse[b, i]
                n = min(nj, i + 1 - j0) if causal else nj
                if n <= 0 or li == _NEG_INF:
                    continue
                _row_products(q, b, i, kt, n, s)
                _row_products(gout, b, i, vt, n, dp)
                di = delta[b, i]
                for jj in range(0, n):
                    pj = _exp(np.float64(s[jj]) * scale - li)
                    s[jj] = pj * (np.float64(dp[jj]) - di) * scale  # s now holds dS * scale
                for jj in range(0, n):
                    dsj = s[jj]
                    for e in range(0, E):
                        dq[b, i, e] += dsj * k[b, j0 + jj, e]


def _attention_backward_dkv(q, k, v, gout, lse, delta, scale, causal, dk, dv):
    nb, L, E = q.shape
    S = k.shape[1]
    ev = v.shape[2]
    nkb = (S + BLOCK - 1) // BLOCK
    for task in prange(nb * nkb):
        b = task // nkb
        j0 = (task - b * nkb) * BLOCK
        nj = min(BLOCK, S - j0)
        kt = np.empty((E, BLOCK), q.dtype)
        vt = np.empty((ev, BLOCK), q.dtype)
        s = np.empty(BLOCK, q.dtype)
        dp = np.empty(BLOCK, q.dtype)
        _transpose_block(k, b, j0, nj, kt)
        _transpose_block(v, b, j0, nj, vt)
        for jj in range(0, nj):
            for e in range(0, E):
                dk[b, j0 + jj, e] = 0
            for e in range(0, ev):
                dv[b, j0 + jj, e] = 0
        for i in range(j0 if causal else 0, L):
            li = lse[b, i]
            if li == _NEG_INF:
                continue
            n = min(nj, i + 1 - j0) if causal else nj
            _row_products(q, b, i, kt, n, s)
            _row_products(gout, b, i, vt, n, dp)
            di = delta[b, i]
            for jj in range(0, n):
                pj = _exp(np.float64(s[jj]) * scale - li)
                dp[jj] = pj * (np.float64(dp[jj]) - di) * scale  # dp now holds dS * scale
                s[jj] = pj                                       # s the probabilities
            for jj in range(0, n):
                pj = s[jj]
                dsj = dp[jj]
                for e in range(0, ev):
                    dv[b, j0 + jj, e] += pj * gout[b, i, e]
                for e in range(0, E):
                    dk[b, j0 + jj, e] += dsj * q[b, i, e]


_FWD = policy.Twin(_attention_forward, "attention_forward")
_BWD_DQ = policy.Twin(_attention_backward_dq, "attention_backward_dq")
_BWD_DKV = policy.Twin(_attention_backward_dkv, "attention_backward_dkv")


def _work(q, k, v):
    # multiply-adds of the two products: what decides serial against parallel
    return q.shape[0] * q.shape[1] * k.shape[1] * (q.shape[2] + v.shape[2])


def attention_forward(q, k, v, scale, causal, out, lse):
    """out = softmax(q @ k^T * scale [causal]) @ v for q (B, L, E), k (B, S, E), v (B, S, Ev);
    writes out (B, L, Ev) and lse (B, L) float64, the log-sum-exp of each query's scores."""
    _FWD(q, k, v, float(scale), bool(causal), out, lse, work=_work(q, k, v))


def attention_backward(q, k, v, out, gout, lse, scale, causal, delta, dq, dk, dv):
    """Gradients of :func:`attention_forward` given gout (B, L, Ev) = d loss / d out and the
    forward's out and lse: writes delta (B, L) float64 (rowsum(gout * out), scratch) and dq, dk,
    dv shaped like q, k, v."""
    w = _work(q, k, v)
    sc, c = float(scale), bool(causal)
    _BWD_DQ(q, k, v, out, gout, lse, sc, c, delta, dq, work=w)
    _BWD_DKV(q, k, v, gout, lse, delta, sc, c, dk, dv, work=w)
