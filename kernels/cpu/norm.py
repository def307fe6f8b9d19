"""Normalisation and fused softmax-cross-entropy CPU kernels.

Layouts (the caller reshapes into them; every array C-contiguous):
- batch norm: ``x`` (N, C, L) — channel axis 1, L = prod of the spatial dims (1 for (N, C));
  per-channel vectors (C,).
- layer norm: ``x`` (M, D) — rows normalised independently; per-row stats (M,) float64.
- cross entropy: logits ``x`` (n, C) with targets (n,) [rows kernels] or (outer, C, inner)
  with targets (outer, inner) [nd kernels]; class weights ``w`` (C,) in x's dtype.
Statistics accumulate in float64. Public functions write caller-allocated outputs, return None.
"""
import math

import numpy as np
from numba import prange

from .. import policy
from ._vmath import exp as _exp  # vectorisable exp (libm's is one call per element)


@policy.scalar
def _rowmax(x, o, C):
    # max of x[o, :C] with 4 independent lanes (a single select chain does not vectorise)
    m0 = m1 = m2 = m3 = x[o, 0]
    c4 = C // 4 * 4
    for c in range(0, c4, 4):
        v0 = x[o, c]
        v1 = x[o, c + 1]
        v2 = x[o, c + 2]
        v3 = x[o, c + 3]
        m0 = v0 if v0 > m0 else m0
        m1 = v1 if v1 > m1 else m1
        m2 = v2 if v2 > m2 else m2
        m3 = v3 if v3 > m3 else m3
    for c in range(c4, C):
        v = x[o, c]
        m0 = v if v > m0 else m0
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    return m2 if m2 > m0 else m0


# --------------------------------------------------------------------------------------------
# batch norm over (N, C, L), parallel over channels
# --------------------------------------------------------------------------------------------
def _bn_train(x, w, b, eps, momentum, update, rm, rv, mean, invstd, out):
    N, C, L = x.shape
    cnt = N * L
    for c in prange(C):
        # one pass of sums shifted by the first element (no cancellation for offset data)
        s0 = np.float64(x[0, c, 0])
        s = 0.0
        ss = 0.0
        for n in range(N):
            for l in range(L):
                d = np.float64(x[n, c, l]) - s0
                s += d
                ss += d * d
        m = s / cnt
        var = ss / cnt - m * m
        if var < 0.0:
            var = 0.0
        mu = s0 + m
        r = 1.0 / math.sqrt(var + eps)
        mean[c] = mu
        invstd[c] = r
        if update:
            rm[c] = (1.0 - momentum) * rm[c] + momentum * mu
            rv[c] = (1.0 - momentum) * rv[c] + momentum * var * cnt / (cnt - 1)
        sc = w[c] * r
        sh = b[c] - mu * sc
        for n in range(N):
            for l in range(L):
                out[n, c, l] = x[n, c, l] * sc + sh


def _bn_eval(x, w, b, rm, rv, eps, mean, invstd, out):
    N, C, L = x.shape
    for c in prange(C):
        r = 1.0 / math.sqrt(np.float64(rv[c]) + eps)
        mu = np.float64(rm[c])
        mean[c] = mu
        invstd[c] = r
        sc = w[c] * r
        sh = b[c] - mu * sc
        for n in range(N):
            for l in range(L):
                out[n, c, l] = x[n, c, l] * sc + sh


def _bn_backward(x, g, w, mean, invstd, training, gx, gw, gb):
    N, C, L = x.shape
    cnt = N * L
    for c in prange(C):
        mu = mean[c]
        r = invstd[c]
        sg = 0.0
        sgx = 0.0
        for n in range(N):
            for l in range(L):
                gv = np.float64(g[n, c, l])
                sg += gv
                sgx += gv * (np.float64(x[n, c, l]) - mu)
        gb[c] = sg
        gw[c] = sgx * r
        k = w[c] * r
        if training:
            mg = sg / cnt
            mgx = sgx * r * r / cnt
            for n in range(N):
                for l in range(L):
                    gx[n, c, l] = k * (g[n, c, l] - mg - (x[n, c, l] - mu) * mgx)
        else:
            for n in range(N):
                for l in range(L):
                    gx[n, c, l] = g[n, c, l] * k


_BN_TRAIN = policy.Twin(_bn_train, "norm_bn_train")
_BN_EVAL = policy.Twin(_bn_eval, "norm_bn_eval")
_BN_BW = policy.Twin(_bn_backward, "norm_bn_backward")
_EMPTY = np.zeros(1, np.float64)


def batch_norm_train(x, w, b, eps, momentum, running_mean, running_var, mean, invstd, out):
    """Normalise x (N, C, L) with batch stats: out = (x - mean) * invstd * w + b.

    Writes mean, invstd (C,) float64 and out (x's shape/dtype); running_mean/var (C,) (or None)
    are updated in place with ``momentum`` (running_var gets the unbiased variance).
    """
    if x.size == 0:
        return
    update = running_mean is not None
    rm = running_mean if update else _EMPTY
    rv = running_var if update else _EMPTY
    _BN_TRAIN(x, w, b, float(eps), float(momentum), update, rm, rv, mean, invstd, out,
              work=x.size)


def batch_norm_eval(x, w, b, running_mean, running_var, eps, mean, invstd, out):
    """Normalise x (N, C, L) with running stats; writes mean, invstd (C,) float64 and out."""
    if x.size == 0:
        return
    _BN_EVAL(x, w, b, running_mean, running_var, float(eps), mean, invstd, out, work=x.size)


def batch_norm_backward(x, g, w, mean, invstd, training, gx, gw, gb):
    """Gradients of batch norm: gx (x's shape), gw, gb (C,) float64.

    ``training``: mean/invstd are batch stats (full rule); else constants (gx = g * w * invstd).
    """
    if x.size == 0:
        gw[:] = 0.0
        gb[:] = 0.0
        return
    _BN_BW(x, g, w, mean, invstd, bool(training), gx, gw, gb, work=x.size)


# --------------------------------------------------------------------------------------------
# layer norm over rows of (M, D)
# --------------------------------------------------------------------------------------------
def _ln_forward(x, w, b, eps, mean, rstd, out):
    M, D = x.shape
    for m in prange(M):
        s = 0.0
        for j in range(D):
            s += x[m, j]
        mu = s / D
        v = 0.0
        for j in range(D):
            d = np.float64(x[m, j]) - mu
            v += d * d
        r = 1.0 / math.sqrt(v / D + eps)
        mean[m] = mu
        rstd[m] = r
        for j in range(D):
            out[m, j] = (x[m, j] - mu) * r * w[j] + b[j]


def _ln_backward(x, g, w, mean, rstd, gx):
    M, D = x.shape
    for m in prange(M):
        mu = mean[m]
        r = rstd[m]
        a = 0.0
        c = 0.0
        for j in range(D):
            gw = np.float64(g[m, j]) * w[j]
            a += gw * (x[m, j] - mu)
            c += gw
        a = a * r / D
        c = c / D
        for j in range(D):
            gx[m, j] = r * (g[m, j] * w[j] - c - (x[m, j] - mu) * r * a)


def _ln_affine_backward(x, g, mean, rstd, ib, gw, gb):
    # column sums over rows, parallel over blocks of ib columns (gw, gb float64)
    M, D = x.shape
    nb = (D + ib - 1) // ib
    for t in prange(nb):
        j0 = np.uint64(t * ib)  # unsigned: no negative-index select in the vector loop
        w = np.uint64(min(ib, D - t * ib))
        for j in range(w):
            gw[j0 + j] = 0.0
            gb[j0 + j] = 0.0
        for m in range(M):
            um = np.uint64(m)
            mu = mean[m]
            r = rstd[m]
            for j in range(w):
                gv = np.float64(g[um, j0 + j])
                gw[j0 + j] += gv * (x[um, j0 + j] - mu) * r
                gb[j0 + j] += gv


_LN_FW = policy.Twin(_ln_forward, "norm_ln_forward")
_LN_BW = policy.Twin(_ln_backward, "norm_ln_backward")
_LN_AFF = policy.Twin(_ln_affine_backward, "norm_ln_affine_backward")


def layer_norm(x, w, b, eps, mean, rstd, out):
    """out = (x - mean_row) * rstd_row * w + b for x (M, D); writes mean, rstd (M,) float64."""
    if x.size == 0:
        return
    _LN_FW(x, w, b, float(eps), mean, rstd, out, work=x.size)


def layer_norm_backward(x, g, w, mean, rstd, gx):
    """gx (M, D) of layer norm given the forward's mean/rstd and weight w (D,)."""
    if x.size == 0:
        return
    _LN_BW(x, g, w, mean, rstd, gx, work=x.size)


def layer_norm_affine_backward(x, g, mean, rstd, gw, gb):
    """gw = sum_rows g * xhat, gb = sum_rows g for x, g (M, D); gw, gb (D,) float64."""
    M, D = x.shape
    if x.size == 0:
        gw[:] = 0.0
        gb[:] = 0.0
        return
    ib = 256 if x.size >= policy.PARALLEL_THRESHOLD else max(D, 1)
    _LN_AFF(x, g, mean, rstd, ib, gw, gb, work=x.size)


# --------------------------------------------------------------------------------------------
# fused log-softmax + NLL (class-index targets), forward and backward
# per position: loss = (1-ls) w[t] (lse - x_t) + ls/C sum_c w_c (lse - x_c); 0 where ignored
# grad: s * (p_c ((1-ls) w_t + ls/C W) - (1-ls) w_t [c == t] - ls/C w_c)
# --------------------------------------------------------------------------------------------
def _ce_forward_rows(x, t, w, ignore, ls, lse, loss, tot, err):
    n, C = x.shape
    W = 0.0
    for c in range(C):
        W += w[c]
    k = ls / C
    s_loss = 0.0
    s_w = 0.0
    for o in prange(n):
        tt = t[o]
        v = 0.0
        if tt == ignore:
            lse[o] = 0.0
        elif tt < 0 or tt >= C:
            err[0] = 1
            err[1] = tt
            lse[o] = 0.0
        else:
            mx = np.float64(_rowmax(x, o, C))
            acc = 0.0
            for c in range(C):
                acc += _exp(x[o, c] - mx)
            lv = mx + math.log(acc)
            lse[o] = lv
            v = (1.0 - ls) * np.float64(w[tt]) * (lv - x[o, tt])
            if ls > 0.0:
                sm = 0.0
                for c in range(C):
                    sm += w[c] * x[o, c]
                v += k * (W * lv - sm)
        loss[o] = v
    # totals in a serial pass (a prange scalar reduction over this body trips Numba's parfor pass)
    for o in range(n):
        tt = t[o]
        if tt != ignore and tt >= 0 and tt < C:
            s_loss += loss[o]
            s_w += w[tt]
    tot[0] = s_loss
    tot[1] = s_w


def _ce_backward_rows(x, t, w, ignore, ls, lse, gs, gv, per, gx):
    n, C = x.shape
    W = 0.0
    for c in range(C):
        W += w[c]
    k = ls / C
    for o in prange(n):
        tt = t[o]
        if tt == ignore or tt < 0 or tt >= C:
            for c in range(C):
                gx[o, c] = 0.0
        else:
            s = np.float64(gv[o]) if per else gs
            wt = np.float64(w[tt])
            a = s * ((1.0 - ls) * wt + k * W)
            lv = lse[o]
            for c in range(C):
                gx[o, c] = a * _exp(x[o, c] - lv)
            if ls > 0.0:
                sk = s * k
                for c in range(C):
                    gx[o, c] -= sk * w[c]
            gx[o, tt] -= s * (1.0 - ls) * wt


def _ce_forward_nd(x, t, w, ignore, ls, lse, loss, tot, err):
    outer, C, inner = x.shape
    W = 0.0
    for c in range(C):
        W += w[c]
    k = ls / C
    s_loss = 0.0
    s_w = 0.0
    for p in prange(outer * inner):
        o = p // inner
        i = p - o * inner
        tt = t[o, i]
        v = 0.0
        if tt == ignore:
            lse[o, i] = 0.0
        elif tt < 0 or tt >= C:
            err[0] = 1
            err[1] = tt
            lse[o, i] = 0.0
        else:
            mx = x[o, 0, i]
            for c in range(C):
                xv = x[o, c, i]
                mx = xv if xv > mx else mx
            acc = 0.0
            for c in range(C):
                acc += _exp(x[o, c, i] - mx)
            lv = mx + math.log(acc)
            lse[o, i] = lv
            v = (1.0 - ls) * np.float64(w[tt]) * (lv - x[o, tt, i])
            if ls > 0.0:
                sm = 0.0
                for c in range(C):
                    sm += w[c] * x[o, c, i]
                v += k * (W * lv - sm)
        loss[o, i] = v
    for o in range(outer):
        for i in range(inner):
            tt = t[o, i]
            if tt != ignore and tt >= 0 and tt < C:
                s_loss += loss[o, i]
                s_w += w[tt]
    tot[0] = s_loss
    tot[1] = s_w


def _ce_backward_nd(x, t, w, ignore, ls, lse, gs, gv, per, gx):
    outer, C, inner = x.shape
    W = 0.0
    for c in range(C):
        W += w[c]
    k = ls / C
    for p in prange(outer * inner):
        o = p // inner
        i = p - o * inner
        tt = t[o, i]
        if tt == ignore or tt < 0 or tt >= C:
            for c in range(C):
                gx[o, c, i] = 0.0
        else:
            s = np.float64(gv[o, i]) if per else gs
            wt = np.float64(w[tt])
            a = s * ((1.0 - ls) * wt + k * W)
            lv = lse[o, i]
            for c in range(C):
                gx[o, c, i] = a * _exp(x[o, c, i] - lv) - s * k * w[c]
            gx[o, tt, i] -= s * (1.0 - ls) * wt


_CE_FW_ROWS = policy.Twin(_ce_forward_rows, "norm_ce_forward_rows")
_CE_BW_ROWS = policy.Twin(_ce_backward_rows, "norm_ce_backward_rows")
_CE_FW_ND = policy.Twin(_ce_forward_nd, "norm_ce_forward_nd")
_CE_BW_ND = policy.Twin(_ce_backward_nd, "norm_ce_backward_nd")


def cross_entropy(x, t, w, ignore_index, label_smoothing, lse, loss, tot, err):
    """Fused log-softmax + NLL with class-index targets.

    x (n, C) with t, lse, loss (n,), or x (outer, C, inner) with t, lse, loss (outer, inner);
    t int64; w (C,) class weights; writes lse (float64), loss (x's dtype, 0 where ignored),
    tot[0] = sum of loss, tot[1] = sum of w[t] over kept positions (float64, size 2),
    err[0] = 1 and err[1] = a bad target when one is out of [0, C) (int64, size 2, caller zeroes).
    A bad target's logits are never read.
    """
    if x.ndim == 2:
        _CE_FW_ROWS(x, t, w, int(ignore_index), float(label_smoothing), lse, loss, tot, err,
                    work=x.size)
    else:
        _CE_FW_ND(x, t, w, int(ignore_index), float(label_smoothing), lse, loss, tot, err,
                  work=x.size)


def cross_entropy_backward(x, t, w, ignore_index, label_smoothing, lse, gscale, gvec, per, gx):
    """gx (x's shape) of :func:`cross_entropy`; the upstream scale per position is ``gvec``
    (t's shape) when ``per`` else the float ``gscale``."""
    if x.ndim == 2:
        _CE_BW_ROWS(x, t, w, int(ignore_index), float(label_smoothing), lse, float(gscale), gvec,
                    bool(per), gx, work=x.size)
    else:
        _CE_BW_ND(x, t, w, int(ignore_index), float(label_smoothing), lse, float(gscale), gvec,
                  bool(per), gx, work=x.size)
