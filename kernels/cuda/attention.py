"""Fused scaled-dot-product attention on the GPU: the CUDA twins of kernels/cpu/attention.py, with
the same names, signatures, layouts and contracts (q (B, H, L, E), k (B, H, S, E), v (B, H, S,
Ev), gout (B, H, L, Ev) with any strides, out (B, H, L, Ev), lse and delta (B, H, L) float64
C-contiguous; one float dtype; ``causal``: query i sees keys 0..i; a query that sees no key gets
zeros and ``lse = -inf``). The launchers hand the kernels (B * H, ...) arrays: views of the
C-contiguous ones, copies of the others.

One thread per query row (forward, dq) or per key row (dk, dv) in grid-stride loops, so the
backward needs no atomics: the forward keeps an online softmax (running max and sum in float64)
with the thread's output row as its accumulator; the backward recomputes each probability from
the saved log-sum-exp. Array elements enter float64 arithmetic through ``float(...)``, as in the
other CUDA modules. (Row-per-thread is the simple correct form; a tiled shared-memory kernel is
where its speed would come from.)
"""
import math

from numba import cuda

from .. import policy
from . import memory


@policy.cuda_kernel
def _forward_k(q, k, v, scale, causal, out, lse):
    nb, L, E = q.shape
    S = k.shape[1]
    ev = v.shape[2]
    for r in range(cuda.grid(1), nb * L, cuda.gridsize(1)):
        b = r // L
        i = r - b * L
        for e in range(ev):
            out[b, i, e] = 0
        jn = min(S, i + 1) if causal else S
        m = -math.inf
        den = 0.0
        for j in range(jn):
            s = 0.0
            for e in range(E):
                s += float(q[b, i, e]) * float(k[b, j, e])
            s *= scale
            mnew = s if (s > m or s != s) else m
            if mnew == -math.inf:
                continue
            if mnew != m:
                alpha = math.exp(m - mnew)
                den *= alpha
                for e in range(ev):
                    out[b, i, e] = float(out[b, i, e]) * alpha
                m = mnew
            p = math.exp(s - m)
            den += p
            for e in range(ev):
                out[b, i, e] = float(out[b, i, e]) + p * float(v[b, j, e])
        if den > 0 or den != den:
            for e in range(ev):
                out[b, i, e] = float(out[b, i, e]) / den
            lse[b, i] = m + math.log(den)
        else:
            lse[b, i] = -math.inf


@policy.cuda_kernel
def _backward_dq_k(q, k, v, out, gout, lse, scale, causal, delta, dq):
    nb, L, E = q.shape
    S = k.shape[1]
    ev = v.shape[2]
    for r in range(cuda.grid(1), nb * L, cuda.gridsize(1)):
        b = r // L
        i = r - b * L
        dl = 0.0
        for e in range(ev):
            dl += float(gout[b, i, e]) * float(out[b, i, e])
        delta[b, i] = dl
        for e in range(E):
            dq[b, i, e] = 0
        li = lse[b, i]
        if li == -math.inf:
            continue
        jn = min(S, i + 1) if causal else S
        for j in range(jn):
            s = 0.0
            dp = 0.0
            for e in range(E):
                s += float(q[b, i, e]) * float(k[b, j, e])
            for e in range(ev):
                dp += float(gout[b, i, e]) * float(v[b, j, e])
            p = math.exp(s * scale - li)
            ds = p * (dp - dl) * scale
            for e in range(E):
                dq[b, i, e] = float(dq[b, i, e]) + ds * float(k[b, j, e])


@policy.cuda_kernel
def _backward_dkv_k(q, k, v, gout, lse, delta, scale, causal, dk, dv):
    nb, L, E = q.shape
    S = k.shape[1]
    ev = v.shape[2]
    for r in range(cuda.grid(1), nb * S, cuda.gridsize(1)):
        b = r // S
        j = r - b * S
        for e in range(E):
            dk[b, j, e] = 0
        for e in range(ev):
            dv[b, j, e] = 0
        for i in range(j if causal else 0, L):
            li = lse[b, i]
            if li == -math.inf:
                continue
            s = 0.0
            dp = 0.0
            for e in range(E):
                s += float(q[b, i, e]) * float(k[b, j, e])
            for e in range(ev):
                dp += float(gout[b, i, e]) * float(v[b, j, e])
            p = math.exp(s * scale - li)
            ds = p * (dp - delta[b, i]) * scale
            for e in range(ev):
                dv[b, j, e] = float(dv[b, j, e]) + p * float(gout[b, i, e])
            for e in range(E):
                dk[b, j, e] = float(dk[b, j, e]) + ds * float(q[b, i, e])


def _flat(a):
    """A (B, H, ...) operand as the (B * H, ...) C-contiguous array the kernels index: a view of
    a C-contiguous one, else a copy (a head view of a projection, a broadcast batch)."""
    shape = (a.shape[0] * a.shape[1],) + tuple(a.shape[2:])
    if a.flags.c_contiguous:
        v = memory.try_reshape(a, shape)
        if v is not None:
            return v
    from .elementwise import copy
    c = memory.empty(tuple(a.shape), a.dtype)
    copy(a, c)
    return memory.try_reshape(c, shape)


def attention_forward(q, k, v, scale, causal, out, lse):
    """out = softmax(q @ k^T * scale [causal]) @ v for q (B, H, L, E), k (B, H, S, E), v (B, H,
    S, Ev); writes out (B, H, L, Ev) and lse (B, H, L) float64, the log-sum-exp of each query's
    scores."""
    rows = q.shape[0] * q.shape[1] * q.shape[2]
    if rows:
        _forward_k[memory.grid(rows)](_flat(q), _flat(k), _flat(v), float(scale), bool(causal),
                                      _flat(out), _flat(lse))


def attention_backward(q, k, v, out, gout, lse, scale, causal, delta, dq, dk, dv):
    """Gradients of :func:`attention_forward` given gout (B, H, L, Ev) = d loss / d out and the
    forward's out and lse: writes delta (B, H, L) float64 (rowsum(gout * out), scratch) and dq,
    dk, dv shaped like q, k, v."""
    sc, c = float(scale), bool(causal)
    rows = q.shape[0] * q.shape[1] * q.shape[2]
    keys = k.shape[0] * k.shape[1] * k.shape[2]
    q, k, v, out, gout, dq, dk, dv = (_flat(a) for a in (q, k, v, out, gout, dq, dk, dv))
    lse, delta = _flat(lse), _flat(delta)
    if rows:  # dq first: it writes delta, which dk and dv read (one stream keeps the order)
        _backward_dq_k[memory.grid(rows)](q, k, v, out, gout, lse, sc, c, delta, dq)
    if keys:
        _backward_dkv_k[memory.grid(keys)](q, k, v, gout, lse, delta, sc, c, dk, dv)


# --------------------------------------------------------------------------------------------
# Compile check (tests/kernels/test_cuda_ptx.py).
# --------------------------------------------------------------------------------------------
def ptx_cases():
    """Yield (label, py_func, signature) for every kernel this module can launch, for
    ``numba.cuda.compile_ptx``: each once per float dtype (float32, float64), with the
    launchers' argument types (C-contiguous 3-D operands, float64 (B, L) statistics, a float64
    scale and a boolean causal flag)."""
    from numba import types as T
    s2 = T.Array(T.float64, 2, "C")
    for dt in (T.float32, T.float64):
        a3 = T.Array(dt, 3, "C")
        f, c = T.float64, T.boolean
        for kern, sig in ((_forward_k, (a3, a3, a3, f, c, a3, s2)),
                          (_backward_dq_k, (a3, a3, a3, a3, a3, s2, f, c, s2, a3)),
                          (_backward_dkv_k, (a3, a3, a3, a3, s2, s2, f, c, a3, a3))):
            yield f"{kern.py_func.__name__}[{dt}]", kern.py_func, T.void(*sig)
