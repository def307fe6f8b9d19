"""Reduction, scan and softmax CPU kernels over axis 1 of a C-contiguous 3-D array.

Canonical layout: ``x`` has shape ``(outer, n, inner)`` and the kernels reduce (or scan) over
axis 1; the caller permutes/reshapes any tensor into it. Reductions write a C-contiguous
``out`` of shape ``(outer, inner)``; scans and softmax write ``out`` of x's shape. Every public
function takes NumPy arrays (+ scalars), writes into caller-allocated outputs and returns None.

How a call runs:
- float reductions accumulate in float64, integer ones in int64 (then store into ``out``'s
  dtype); max/min keep x's dtype. NaN propagates as in PyTorch (``amax``, ``max_index``...).
- Work is split into tasks ``(o, chunk of n, block of inner)``: with ``inner == 1`` each task
  runs a contiguous (SIMD) loop along n; with ``inner > 1`` the innermost loop runs over a
  block of ``inner`` (contiguous) and accumulates into a row of partials. Partials of the
  chunks of n are combined in order afterwards (so first-index ties stay first).
- Small inputs (fewer than ``policy.PARALLEL_THRESHOLD`` elements) run the serial twin in one
  chunk; large ones the parallel twin, with n split into chunks when ``outer * inner`` alone
  gives too few tasks (a full reduction of a 16M vector runs on all cores).
"""
import functools
import math

import numba
import numpy as np
from numba import prange

from .. import policy
from . import _vmath

# Fold ops. SUM..ANY, AMAX, AMIN are plain folds; MEAN, VAR and LSE finish the fold
# (VAR and LSE read a per-(o, i) float64 ``center``: the mean, the max).
(SUM, PROD, ALL, ANY, AMAX, AMIN, MEAN, VAR, LSE) = range(9)

# Globals of the helper and kernel bodies below, bound per op by policy (``bind=``).
op = pick = update = combine = finish = better = extremum = None

_IB = 1024  # inner elements per task block (a float64 partial row: 8 KiB, L1-resident)
_MIN_TASK = 16384  # elements a parallel chunk should at least cover


def _update(s, v, c):
    if op == SUM or op == MEAN:
        return s + v
    if op == PROD:
        return s * v
    if op == ALL:
        return s & (v != 0)
    if op == ANY:
        return s | (v != 0)
    if op == AMAX:  # NaN sticks: nothing compares greater than it and it replaces everything
        return v if (v > s or v != v) else s
    if op == AMIN:
        return v if (v < s or v != v) else s
    if op == VAR:
        d = v - c
        return s + d * d
    return s + math.exp(v - c)  # LSE


def _combine(s, t):
    if op == PROD:
        return s * t
    if op == ALL:
        return s & t
    if op == ANY:
        return s | t
    if op == AMAX:
        return t if (t > s or t != t) else s
    if op == AMIN:
        return t if (t < s or t != t) else s
    return s + t  # SUM, MEAN, VAR, LSE


def _finish(s, c, div):
    if op == MEAN or op == VAR:
        return s / div
    if op == LSE:  # an infinite or NaN max is the answer (all -inf -> -inf, +inf -> +inf)
        return c + math.log(s) if c - c == 0 else c
    return s


def _pick(s, v):  # NaN-blind max/min (a plain select); NaN is counted apart
    if op == AMAX:
        return v if v > s else s
    return v if v < s else s


def _better(v, m):  # v beats m (max/min with the first NaN winning)
    if op == AMAX:
        return v > m or (v != v and m == m)
    return v < m or (v != v and m == m)


def _extremum(x, uo, j0, m):
    # (max/min of x[uo, j0:j0+m, 0] ignoring NaN, whether a NaN is there); m >= 1; 8 independent lanes so the selects
    # pipeline (LLVM does not vectorise a select reduction without 'nnan')
    z = np.uint64(0)
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = x[uo, j0, z]
    nan = 0
    nb = m // np.uint64(8)
    for b in range(nb):
        j = j0 + b * np.uint64(8)
        v0 = x[uo, j, z]
        v1 = x[uo, j + np.uint64(1), z]
        v2 = x[uo, j + np.uint64(2), z]
        v3 = x[uo, j + np.uint64(3), z]
        v4 = x[uo, j + np.uint64(4), z]
        v5 = x[uo, j + np.uint64(5), z]
        v6 = x[uo, j + np.uint64(6), z]
        v7 = x[uo, j + np.uint64(7), z]
        s0 = pick(s0, v0)
        s1 = pick(s1, v1)
        s2 = pick(s2, v2)
        s3 = pick(s3, v3)
        s4 = pick(s4, v4)
        s5 = pick(s5, v5)
        s6 = pick(s6, v6)
        s7 = pick(s7, v7)
        nan += ((v0 != v0) + (v1 != v1) + (v2 != v2) + (v3 != v3)
                + (v4 != v4) + (v5 != v5) + (v6 != v6) + (v7 != v7))
    s = pick(pick(pick(s0, s1), pick(s2, s3)),
              pick(pick(s4, s5), pick(s6, s7)))
    for j in range(nb * np.uint64(8), m):
        v = x[uo, j0 + j, z]
        s = pick(s, v)
        nan += v != v
    return s, nan > 0


def _fold(x, ident, center, div, chunk, ib, part, out):
    # hot loops index with uint64: signed indices keep a wraparound select that blocks SIMD
    # one prange region (each region is one more gufunc to compile); the combine is serial
    outer, n, inner = x.shape
    C = part.shape[1]
    nb = (inner + ib - 1) // ib
    for t in prange(outer * C * nb):
        if inner == 1:
            o = t // C
            c = t - o * C
            uo = np.uint64(o)
            j0 = np.uint64(c * chunk)
            m = np.uint64(min(chunk, n - c * chunk))
            z = np.uint64(0)
            cen = center[o, 0] if (op == VAR or op == LSE) else 0.0
            if op == AMAX or op == AMIN:
                s, bad = extremum(x, uo, j0, m)
                part[o, c, 0] = s
                if bad:
                    part[o, c, 0] = math.nan
            else:
                s = ident[0]
                for j in range(m):
                    s = update(s, x[uo, j0 + j, z], cen)
                part[o, c, 0] = s
        else:
            o = t // (C * nb)
            r = t - o * (C * nb)
            c = r // nb
            uo = np.uint64(o)
            uc = np.uint64(c)
            i0 = np.uint64((r - c * nb) * ib)
            w = np.uint64(min(ib, inner - (r - c * nb) * ib))
            j0 = np.uint64(c * chunk)
            m = np.uint64(min(chunk, n - c * chunk))
            for i in range(w):
                if op == AMAX or op == AMIN:
                    part[uo, uc, i0 + i] = x[uo, j0, i0 + i]
                else:
                    part[uo, uc, i0 + i] = ident[0]
            # four rows per sweep keep the partial in a register (in order: same result)
            u1 = np.uint64(1)
            u2 = np.uint64(2)
            u3 = np.uint64(3)
            m4 = m // np.uint64(4) * np.uint64(4)
            for jb in range(m // np.uint64(4)):
                j = j0 + jb * np.uint64(4)
                for i in range(w):
                    cen = center[uo, i0 + i] if (op == VAR or op == LSE) else 0.0
                    p = update(part[uo, uc, i0 + i], x[uo, j, i0 + i], cen)
                    p = update(p, x[uo, j + u1, i0 + i], cen)
                    p = update(p, x[uo, j + u2, i0 + i], cen)
                    part[uo, uc, i0 + i] = update(p, x[uo, j + u3, i0 + i], cen)
            for j in range(m4, m):
                for i in range(w):
                    cen = center[uo, i0 + i] if (op == VAR or op == LSE) else 0.0
                    part[uo, uc, i0 + i] = update(part[uo, uc, i0 + i],
                                                  x[uo, j0 + j, i0 + i], cen)
    for t in range(outer * inner):
        o = t // inner
        i = t - o * inner
        s = part[o, 0, i]
        for c in range(1, C):
            s = combine(s, part[o, c, i])
        cen = center[o, i] if (op == VAR or op == LSE) else 0.0
        out[o, i] = finish(s, cen, div)


_NAMES = ("sum", "prod", "all", "any", "amax", "amin", "mean", "var", "lse")


@functools.lru_cache(maxsize=None)
def _helpers(code):
    """The scalar helpers of op ``code``, each its own function with ``op`` bound as a global
    constant (Numba prunes the other ops' branches before typing) and compiled once per
    signature, then linked into every kernel of that op and inlined there by LLVM (not retyped
    in each kernel specialisation: see policy.scalar). Globals for the kernels' ``bind``."""
    def scalar(body, what, **more):
        return policy.scalar(body, name=f"reduce_{_NAMES[code]}_{what}", bind=dict(more, op=code),
                             inline="never")
    pick = scalar(_pick, "pick")
    return {"op": code, "update": scalar(_update, "update"), "combine": scalar(_combine, "combine"),
            "finish": scalar(_finish, "finish"), "better": scalar(_better, "better"),
            "extremum": scalar(_extremum, "extremum", pick=pick)}


def _make_fold(name, op):
    return policy.Twin(_fold, "reduce_" + name, _helpers(op))


_FOLDS = {op: _make_fold(name, op) for name, op in dict(
    sum=SUM, prod=PROD, all=ALL, any=ANY, amax=AMAX, amin=AMIN, mean=MEAN, var=VAR,
    lse=LSE).items()}

_NO_CENTER = np.zeros((1, 1), np.float64)
_IDENT = {}


def _ident(value, dtype):
    key = (value, dtype)
    a = _IDENT.get(key)
    if a is None:
        a = _IDENT[key] = np.array([value], dtype=dtype)
    return a


def _plan(outer, n, inner, size):
    """(parallel, C, chunk, ib): chunks of n and inner block for a (outer, n, inner) fold."""
    ib = min(inner, _IB) if inner > 0 else 1
    if size < policy.PARALLEL_THRESHOLD:
        return False, 1, max(n, 1), ib
    want = 4 * numba.get_num_threads()
    tasks = outer * ((inner + ib - 1) // ib)
    C = 1
    if tasks < want:
        C = max(1, min(-(-want // tasks), (n * ib) // _MIN_TASK))
    chunk = -(-n // C)
    return True, -(-n // chunk), chunk, ib


_ACC = {}


def _acc_dtype(dt):
    """The accumulator dtype of a fold whose result has dtype ``dt`` (remembered per dtype)."""
    acc = _ACC.get(dt)
    if acc is None:
        d = np.dtype(dt)
        acc = np.float64 if d.kind == "f" or d in policy.STORAGE_DTYPES else \
            np.complex128 if d.kind == "c" else np.int64
        _ACC[dt] = acc
    return acc


def _run_fold(op, x, out, ident, acc, center=_NO_CENTER, div=1.0):
    outer, n, inner = x.shape
    if outer * inner == 0:
        return
    if outer * n * inner < policy.PARALLEL_THRESHOLD:  # (_plan's serial case, without the call)
        k, C, chunk, ib = _FOLDS[op].serial, 1, n if n > 0 else 1, inner if inner < _IB else _IB
    else:
        par, C, chunk, ib = _plan(outer, n, inner, x.size)
        k = _FOLDS[op].parallel if par else _FOLDS[op].serial
    k(x, ident, center, float(div), chunk, ib, np.empty((outer, C, inner), acc),
      out.reshape(outer, inner))


def _sum_rows(x, acc, div, out):
    """out[o, i] = sum_j x[o, j, i], added up in acc's dtype (acc (outer, inner): scratch) in
    the order of j, as the serial fold does, then divided by ``div`` unless it is 0 (a mean);
    a kernel of its own for the sums and means below the parallel threshold (a Linear layer's
    bias gradient, a loss), which compiles in 0.18 s where the fold took 0.65 s or more."""
    outer, n, inner = x.shape
    for o in range(outer):
        a = acc[o]
        for i in range(inner):
            a[i] = 0
        for j in range(n):
            row = x[o, j]
            for i in range(inner):
                a[i] += row[i]
        if div == 0:
            for i in range(inner):
                out[o, i] = a[i]
        else:
            for i in range(inner):
                out[o, i] = a[i] / div


_sum_rows_k = policy.kernel(_sum_rows)


def sum(x, out):  # noqa: A001
    """out[o, i] = sum_j x[o, j, i]; x (outer, n, inner) any numeric dtype; out (outer, inner) written."""
    outer, n, inner = x.shape
    if n == 0:
        out[...] = 0
        return
    acc = _acc_dtype(out.dtype)
    if outer * n * inner < policy.PARALLEL_THRESHOLD:
        if outer * inner:
            _sum_rows_k(x, np.empty((outer, inner), acc), 0.0, out.reshape(outer, inner))
        return
    _run_fold(SUM, x, out, _ident(0, acc), acc)


def prod(x, out):
    """out[o, i] = prod_j x[o, j, i]; x (outer, n, inner) numeric; out (outer, inner) written."""
    if x.shape[1] == 0:
        out[...] = 1
        return
    acc = _acc_dtype(out.dtype)
    _run_fold(PROD, x, out, _ident(1, acc), acc)


def mean(x, out):
    """out[o, i] = mean_j x[o, j, i] (float64 accumulation); x, out float; n == 0 gives NaN."""
    outer, n, inner = x.shape
    if n == 0:
        out[...] = np.nan
        return
    if outer * n * inner < policy.PARALLEL_THRESHOLD:
        if outer * inner:
            _sum_rows_k(x, np.empty((outer, inner), np.float64), float(n),
                        out.reshape(outer, inner))
        return
    _run_fold(MEAN, x, out, _ident(0, np.float64), np.float64, div=n)


def amax(x, out):
    """out[o, i] = max_j x[o, j, i], NaN if any NaN; x (outer, n>=1, inner); out (outer, inner) x's dtype."""
    _run_fold(AMAX, x, out, _ident(0, x.dtype), x.dtype)


def amin(x, out):
    """out[o, i] = min_j x[o, j, i], NaN if any NaN; x (outer, n>=1, inner); out (outer, inner) x's dtype."""
    _run_fold(AMIN, x, out, _ident(0, x.dtype), x.dtype)


def all_(x, out):
    """out[o, i] = all_j x[o, j, i] != 0; x any dtype (outer, n, inner); out bool (outer, inner)."""
    if x.shape[1] == 0:
        out[...] = True
        return
    _run_fold(ALL, x, out, _ident(True, np.bool_), np.bool_)


def any_(x, out):
    """out[o, i] = any_j x[o, j, i] != 0; x any dtype (outer, n, inner); out bool (outer, inner)."""
    if x.shape[1] == 0:
        out[...] = False
        return
    _run_fold(ANY, x, out, _ident(False, np.bool_), np.bool_)


def var(x, correction, out):
    """out[o, i] = sum_j (x[o,j,i] - mean)^2 / max(n - correction, 0), two-pass; x, out float."""
    outer, n, inner = x.shape
    if outer * inner == 0:
        return
    if n == 0:
        out[...] = np.nan
        return
    center = np.empty((outer, inner), np.float64)
    _run_fold(MEAN, x, center, _ident(0, np.float64), np.float64, div=n)
    _run_fold(VAR, x, out, _ident(0, np.float64), np.float64, center, max(n - correction, 0))


def logsumexp(x, out):
    """out[o, i] = log(sum_j exp(x[o, j, i])), max-shifted; x, out float (outer, inner) written."""
    outer, n, inner = x.shape
    if outer * inner == 0:
        return
    if n == 0:
        out[...] = -np.inf
        return
    center = np.empty((outer, inner), np.float64)
    _run_fold(AMAX, x, center, _ident(0, x.dtype), x.dtype)
    _run_fold(LSE, x, out, _ident(0, np.float64), np.float64, center)


# --------------------------------------------------------------------------------------------
# max/min with the index of the first extremum (the first NaN if any).
# --------------------------------------------------------------------------------------------
def _argfold(x, chunk, ib, pval, pidx, values, indices):
    outer, n, inner = x.shape
    C = pval.shape[1]
    nb = (inner + ib - 1) // ib
    for t in prange(outer * C * nb):
        if inner == 1:
            o = t // C
            c = t - o * C
            j0 = c * chunk
            m = min(chunk, n - j0)
            # two SIMD-friendly passes: the extremum, then the first block holding it
            uo = np.uint64(o)
            uj0 = np.uint64(j0)
            z = np.uint64(0)
            best, isnan = extremum(x, uo, uj0, np.uint64(m))
            k = 0
            for b0 in range(0, m, 256):
                e = np.uint64(min(256, m - b0))
                ub = uj0 + np.uint64(b0)
                hits = 0
                for j in range(e):
                    v = x[uo, ub + j, z]
                    hits += (v != v) if isnan else (v == best)
                if hits:
                    for j in range(e):
                        v = x[uo, ub + j, z]
                        if (v != v) if isnan else (v == best):
                            k = b0 + np.int64(j)
                            break
                    break
            pval[o, c, 0] = x[uo, uj0 + np.uint64(k), z]
            pidx[o, c, 0] = j0 + k
        else:
            o = t // (C * nb)
            r = t - o * (C * nb)
            c = r // nb
            i0 = (r - c * nb) * ib
            w = min(ib, inner - i0)
            j0 = c * chunk
            m = min(chunk, n - j0)
            for i in range(w):
                pval[o, c, i0 + i] = x[o, j0, i0 + i]
                pidx[o, c, i0 + i] = j0
            for j in range(1, m):
                for i in range(w):
                    v = x[o, j0 + j, i0 + i]
                    if better(v, pval[o, c, i0 + i]):
                        pval[o, c, i0 + i] = v
                        pidx[o, c, i0 + i] = j0 + j
    for t in range(outer * inner):
        o = t // inner
        i = t - o * inner
        best = pval[o, 0, i]
        k = pidx[o, 0, i]
        for c in range(1, C):
            v = pval[o, c, i]
            if better(v, best):
                best = v
                k = pidx[o, c, i]
        values[o, i] = best
        indices[o, i] = k


_ARGFOLDS = {op: policy.Twin(_argfold, "reduce_" + name + "_index", _helpers(op))
             for name, op in (("max", AMAX), ("min", AMIN))}


def _run_argfold(op, x, values, indices):
    outer, n, inner = x.shape
    if outer * inner == 0:
        return
    par, C, chunk, ib = _plan(outer, n, inner, x.size)
    pval = np.empty((outer, C, inner), x.dtype)
    pidx = np.empty((outer, C, inner), np.int64)
    k = _ARGFOLDS[op]
    (k.parallel if par else k.serial)(x, chunk, ib, pval, pidx, values.reshape(outer, inner),
                                      indices.reshape(outer, inner))


def max_index(x, values, indices):
    """values/indices (outer, inner) = max over axis 1 of x (outer, n>=1, inner) and its first index (int64); NaN wins."""
    _run_argfold(AMAX, x, values, indices)


def min_index(x, values, indices):
    """values/indices (outer, inner) = min over axis 1 of x (outer, n>=1, inner) and its first index (int64); NaN wins."""
    _run_argfold(AMIN, x, values, indices)


# --------------------------------------------------------------------------------------------
# Scans: cumsum / cumprod along axis 1.
# --------------------------------------------------------------------------------------------
def _scan(x, ib, acc, out):
    outer, n, inner = x.shape
    if inner == 1:
        for o in prange(outer):
            acc[o, 0] = 1 if op == PROD else 0
            s = acc[o, 0]
            for j in range(n):
                s = update(s, x[o, j, 0], 0.0)
                out[o, j, 0] = s
    else:
        nb = (inner + ib - 1) // ib
        for t in prange(outer * nb):
            o = t // nb
            i0 = (t - o * nb) * ib
            w = min(ib, inner - i0)
            for i in range(w):
                acc[o, i0 + i] = 1 if op == PROD else 0
            for j in range(n):
                for i in range(w):
                    s = update(acc[o, i0 + i], x[o, j, i0 + i], 0.0)
                    acc[o, i0 + i] = s
                    out[o, j, i0 + i] = s


_SCANS = {op: policy.Twin(_scan, "scan_" + name, _helpers(op))
          for name, op in (("sum", SUM), ("prod", PROD))}


def _run_scan(op, x, out):
    outer, n, inner = x.shape
    if x.size == 0:
        return
    acc = np.empty((outer, inner), _acc_dtype(out.dtype))
    _SCANS[op](x, min(inner, _IB), acc, out, work=x.size)


def cumsum(x, out):
    """out[o, j, i] = sum_{k<=j} x[o, k, i]; x (outer, n, inner) numeric; out same shape (dtype may be wider)."""
    _run_scan(SUM, x, out)


def cumprod(x, out):
    """out[o, j, i] = prod_{k<=j} x[o, k, i]; x (outer, n, inner) numeric; out same shape (dtype may be wider)."""
    _run_scan(PROD, x, out)


# --------------------------------------------------------------------------------------------
# softmax / log_softmax along axis 1 (exponentials through _vmath.exp: libm's exp kept these
# loops scalar, 5x slower).
# --------------------------------------------------------------------------------------------
(SOFTMAX, LOG_SOFTMAX) = range(2)


def _rowwise(a, ib, m, s, out):
    outer, n, inner = a.shape
    nb = (inner + ib - 1) // ib
    for t in prange(outer * nb):
        o = t // nb
        i0 = (t - o * nb) * ib
        w = min(ib, inner - i0)
        for i in range(w):
            m[o, i0 + i] = a[o, 0, i0 + i]
            s[o, i0 + i] = 0.0
        for j in range(n):
            for i in range(w):
                v = a[o, j, i0 + i]
                if v > m[o, i0 + i]:
                    m[o, i0 + i] = v
        if op == SOFTMAX:
            for j in range(n):
                for i in range(w):
                    e = _vmath.exp(a[o, j, i0 + i] - m[o, i0 + i])
                    out[o, j, i0 + i] = e
                    s[o, i0 + i] += e
            for i in range(w):
                s[o, i0 + i] = 1.0 / s[o, i0 + i]
            for j in range(n):
                for i in range(w):
                    out[o, j, i0 + i] = out[o, j, i0 + i] * s[o, i0 + i]
        else:
            for j in range(n):
                for i in range(w):
                    s[o, i0 + i] += _vmath.exp(a[o, j, i0 + i] - m[o, i0 + i])
            for i in range(w):
                m[o, i0 + i] += math.log(s[o, i0 + i])
            for j in range(n):
                for i in range(w):
                    out[o, j, i0 + i] = a[o, j, i0 + i] - m[o, i0 + i]


def _rowwise_vec(a, out):
    # inner == 1: each row a[o, :, 0] is contiguous; scalar accumulators, SIMD along n
    outer, n, inner = a.shape
    for o in prange(outer):
        mx = a[o, 0, 0]
        for j in range(n):
            v = a[o, j, 0]
            mx = v if v > mx else mx
        acc = 0.0
        if op == SOFTMAX:
            for j in range(n):
                e = _vmath.exp(a[o, j, 0] - mx)
                out[o, j, 0] = e
                acc += e
            r = 1.0 / acc
            for j in range(n):
                out[o, j, 0] = out[o, j, 0] * r
        else:
            for j in range(n):
                acc += _vmath.exp(a[o, j, 0] - mx)
            sh = mx + math.log(acc)
            for j in range(n):
                out[o, j, 0] = a[o, j, 0] - sh


_ROWWISE = {op: (policy.Twin(_rowwise, "rowwise_" + name, {"op": op}),
                 policy.Twin(_rowwise_vec, "rowwise_vec_" + name, {"op": op}))
            for name, op in (("softmax", SOFTMAX), ("log_softmax", LOG_SOFTMAX))}


def _run_rowwise(op, a, out):
    outer, n, inner = a.shape
    if a.size == 0:
        return
    blocked, vec = _ROWWISE[op]
    if inner == 1:
        vec(a, out, work=a.size)
        return
    # keep a task's block of rows (n x ib) cache-resident across the passes
    ib = max(16, min(inner, _IB, (1 << 17) // max(n * a.itemsize, 1)))
    m = np.empty((outer, inner), np.float64)
    s = np.empty((outer, inner), np.float64)
    blocked(a, ib, m, s, out, work=a.size)


def softmax(x, out):
    """out = softmax of x (outer, n, inner) along axis 1, max-shifted; float; out same shape."""
    _run_rowwise(SOFTMAX, x, out)


def log_softmax(x, out):
    """out = log_softmax of x (outer, n, inner) along axis 1, max-shifted; float; out same shape."""
    _run_rowwise(LOG_SOFTMAX, x, out)

