"""Normalisation and fused softmax-cross-entropy on the GPU: the CUDA twins of kernels/cpu/norm.py.

Layouts as on the CPU (the caller reshapes into them; every array C-contiguous):
- batch norm: ``x`` (N, C, L), per-channel vectors (C,); mean/invstd (C,) float64.
- layer norm: ``x`` (M, D), rows normalised independently; per-row stats (M,) float64.
- cross entropy: logits (n, C) with targets (n,) ["rows"] or (outer, C, inner) with targets
  (outer, inner) ["nd"]; class weights (C,) in x's dtype.
Statistics accumulate in float64, as on the CPU. Array elements enter float64 arithmetic through
an explicit ``np.float64(...)``: on the GPU Numba's typing promotes ``0.0 + float32`` to float64,
but the simulator runs NumPy scalars, where it stays float32 (NEP 50); the cast gives the same
arithmetic on both.

Kernels and launch strategy:
- Per-channel / per-row statistics: one block per channel (batch norm) or row (layer norm,
  cross entropy over wide rows). The block's threads stride over the channel's N*L positions
  (consecutive threads on consecutive ``l``: coalesced) or the row's columns, keep float64
  partial sums in registers, and a shared-memory tree reduction (``_block_sum``/``_block_max``)
  hands the totals to every thread, which then writes its share of the output: one launch,
  one read of x for the statistics and one for the output. Blocks loop over channels/rows by
  ``gridDim.x``, so every thread of a block takes the same branches and reaches each
  ``syncthreads``.
- Layer norm's weight/bias gradients are column sums over rows: a block owns ``TILE``
  adjacent columns (coalesced reads along a row) and its ``BLOCK/TILE`` lanes stride over the
  rows; the lanes' partial sums meet in shared memory.
- Cross entropy, nd layout and narrow rows (C <= ``_ROWS_BLOCK_MIN_C``): one thread per
  position loops over its C logits (consecutive threads on consecutive ``inner`` positions:
  coalesced). Wide rows: one block per row. The totals (sum of losses, sum of kept weights) and
  the bad-target report come from one single-block kernel that sums the per-position losses in
  float64 and finds the last position with a target outside [0, C) (the CPU's serial order);
  it writes ``err`` on the device and the caller reads it, as on the CPU.
- Cross-entropy backward is elementwise: one thread per logit.
Element kernels are grid-stride loops over ``memory.grid(n)``; reducing launches use at most
``_RED`` threads per block (the size of the shared arrays, a compile-time constant).
"""
import math

import numba
import numpy as np
from numba import cuda

from .. import policy
from . import memory
from ._block import block_sum as _block_sum, dummy as _dummy

#: Entries of the shared reduction arrays: the most threads a reducing launch uses.
_RED = 256
#: Rows of at least this many classes get one block per row in cross entropy; narrower rows one
#: thread per row (a block would leave most of its threads idle).
_ROWS_BLOCK_MIN_C = 64


def _red_threads():
    return max(1, min(memory.BLOCK, _RED))


def _blocks(items):
    return max(1, min(memory.MAX_BLOCKS, items))


# --------------------------------------------------------------------------------------------
# Block reductions (every thread of the block must call them; the result reaches all).
# --------------------------------------------------------------------------------------------
@policy.cuda_kernel(device=True)
def _block_sum2(sa, sb, a, b):
    """Sums of ``a`` and ``b`` over the block's threads (one tree for both)."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    sa[tid] = a
    sb[tid] = b
    cuda.syncthreads()
    s = 1
    while s < nt:
        s *= 2
    s //= 2
    while s > 0:
        if tid < s and tid + s < nt:
            sa[tid] += sa[tid + s]
            sb[tid] += sb[tid + s]
        cuda.syncthreads()
        s //= 2
    ta = sa[0]
    tb = sb[0]
    cuda.syncthreads()
    return ta, tb


@policy.cuda_kernel(device=True)
def _block_max(sh, v):
    """Maximum of ``v`` over the block's threads (a NaN never wins, as in the CPU's row max)."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    sh[tid] = v
    cuda.syncthreads()
    s = 1
    while s < nt:
        s *= 2
    s //= 2
    while s > 0:
        if tid < s and tid + s < nt:
            o = sh[tid + s]
            if o > sh[tid]:
                sh[tid] = o
        cuda.syncthreads()
        s //= 2
    t = sh[0]
    cuda.syncthreads()
    return t


@policy.cuda_kernel
def _fill(a, v):
    """a (flat) <- v."""
    for k in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        a[k] = v


def _zero(a):
    if a.size:
        _fill[memory.grid(a.size)](a.reshape(a.size), a.dtype.type(0))


# --------------------------------------------------------------------------------------------
# batch norm over (N, C, L): one block per channel
# --------------------------------------------------------------------------------------------
@policy.cuda_kernel
def _bn_train(x, w, b, eps, momentum, update, rm, rv, mean, invstd, out):
    sa = cuda.shared.array(_RED, numba.float64)
    sb = cuda.shared.array(_RED, numba.float64)
    n_, c_, l_ = x.shape
    cnt = n_ * l_
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    for c in range(cuda.blockIdx.x, c_, cuda.gridDim.x):
        # sums shifted by the channel's first element (no cancellation for offset data)
        s0 = np.float64(x[0, c, 0])
        s = 0.0
        ss = 0.0
        for p in range(tid, cnt, nt):
            n = p // l_
            d = np.float64(x[n, c, p - n * l_]) - s0
            s += d
            ss += d * d
        s, ss = _block_sum2(sa, sb, s, ss)
        m = s / cnt
        var = ss / cnt - m * m
        if var < 0.0:
            var = 0.0
        mu = s0 + m
        r = 1.0 / math.sqrt(var + eps)
        if tid == 0:
            mean[c] = mu
            invstd[c] = r
            if update:
                rm[c] = (1.0 - momentum) * np.float64(rm[c]) + momentum * mu
                rv[c] = (1.0 - momentum) * np.float64(rv[c]) + momentum * var * cnt / (cnt - 1)
        sc = np.float64(w[c]) * r
        sh = np.float64(b[c]) - mu * sc
        for p in range(tid, cnt, nt):
            n = p // l_
            l = p - n * l_
            out[n, c, l] = x[n, c, l] * sc + sh


@policy.cuda_kernel
def _bn_eval(x, w, b, rm, rv, eps, mean, invstd, out):
    """Elementwise with the running stats; the first C threads also write mean/invstd."""
    n_, c_, l_ = x.shape
    start = cuda.grid(1)
    step = cuda.gridsize(1)
    for c in range(start, c_, step):
        mean[c] = np.float64(rm[c])
        invstd[c] = 1.0 / math.sqrt(np.float64(rv[c]) + eps)
    for k in range(start, n_ * c_ * l_, step):
        l = k % l_
        c = (k // l_) % c_
        n = k // (l_ * c_)
        r = 1.0 / math.sqrt(np.float64(rv[c]) + eps)
        sc = np.float64(w[c]) * r
        sh = np.float64(b[c]) - np.float64(rm[c]) * sc
        out[n, c, l] = x[n, c, l] * sc + sh


@policy.cuda_kernel
def _bn_backward(x, g, w, mean, invstd, training, gx, gw, gb):
    sa = cuda.shared.array(_RED, numba.float64)
    sb = cuda.shared.array(_RED, numba.float64)
    n_, c_, l_ = x.shape
    cnt = n_ * l_
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    for c in range(cuda.blockIdx.x, c_, cuda.gridDim.x):
        mu = mean[c]
        r = invstd[c]
        sg = 0.0
        sgx = 0.0
        for p in range(tid, cnt, nt):
            n = p // l_
            l = p - n * l_
            gv = np.float64(g[n, c, l])
            sg += gv
            sgx += gv * (np.float64(x[n, c, l]) - mu)
        sg, sgx = _block_sum2(sa, sb, sg, sgx)
        if tid == 0:
            gb[c] = sg
            gw[c] = sgx * r
        k = np.float64(w[c]) * r
        mg = sg / cnt
        mgx = sgx * r * r / cnt
        for p in range(tid, cnt, nt):
            n = p // l_
            l = p - n * l_
            if training:
                gx[n, c, l] = k * (g[n, c, l] - mg - (x[n, c, l] - mu) * mgx)
            else:
                gx[n, c, l] = g[n, c, l] * k


def batch_norm_train(x, w, b, eps, momentum, running_mean, running_var, mean, invstd, out):
    """Normalise x (N, C, L) with batch stats: out = (x - mean) * invstd * w + b.

    Writes mean, invstd (C,) float64 and out (x's shape/dtype); running_mean/var (C,) (or None)
    are updated in place with ``momentum`` (running_var gets the unbiased variance).
    """
    if x.size == 0:
        return
    update = running_mean is not None
    rm = running_mean if update else _dummy(np.float64)
    rv = running_var if update else _dummy(np.float64)
    _bn_train[_blocks(x.shape[1]), _red_threads()](x, w, b, float(eps), float(momentum), update,
                                                   rm, rv, mean, invstd, out)


def batch_norm_eval(x, w, b, running_mean, running_var, eps, mean, invstd, out):
    """Normalise x (N, C, L) with running stats; writes mean, invstd (C,) float64 and out."""
    if x.size == 0:
        return
    _bn_eval[memory.grid(x.size)](x, w, b, running_mean, running_var, float(eps), mean, invstd,
                                  out)


def batch_norm_backward(x, g, w, mean, invstd, training, gx, gw, gb):
    """Gradients of batch norm: gx (x's shape), gw, gb (C,) float64.

    ``training``: mean/invstd are batch stats (full rule); else constants (gx = g * w * invstd).
    """
    if x.size == 0:
        _zero(gw)
        _zero(gb)
        return
    _bn_backward[_blocks(x.shape[1]), _red_threads()](x, g, w, mean, invstd, bool(training),
                                                      gx, gw, gb)


# --------------------------------------------------------------------------------------------
# layer norm over rows of (M, D): one block per row; affine gradients by column tiles
# --------------------------------------------------------------------------------------------
@policy.cuda_kernel
def _ln_forward(x, w, b, eps, mean, rstd, out):
    red = cuda.shared.array(_RED, numba.float64)
    m_, d_ = x.shape
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    for m in range(cuda.blockIdx.x, m_, cuda.gridDim.x):
        s = 0.0
        for j in range(tid, d_, nt):
            s += np.float64(x[m, j])
        mu = _block_sum(red, s) / d_
        v = 0.0
        for j in range(tid, d_, nt):
            d = np.float64(x[m, j]) - mu
            v += d * d
        v = _block_sum(red, v)
        r = 1.0 / math.sqrt(v / d_ + eps)
        if tid == 0:
            mean[m] = mu
            rstd[m] = r
        for j in range(tid, d_, nt):
            out[m, j] = (x[m, j] - mu) * r * w[j] + b[j]


@policy.cuda_kernel
def _ln_backward(x, g, w, mean, rstd, gx):
    sa = cuda.shared.array(_RED, numba.float64)
    sb = cuda.shared.array(_RED, numba.float64)
    m_, d_ = x.shape
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    for m in range(cuda.blockIdx.x, m_, cuda.gridDim.x):
        mu = mean[m]
        r = rstd[m]
        a = 0.0
        c = 0.0
        for j in range(tid, d_, nt):
            gwv = np.float64(g[m, j]) * w[j]
            a += gwv * (x[m, j] - mu)
            c += gwv
        a, c = _block_sum2(sa, sb, a, c)
        a = a * r / d_
        c = c / d_
        for j in range(tid, d_, nt):
            gx[m, j] = r * (g[m, j] * w[j] - c - (x[m, j] - mu) * r * a)


@policy.cuda_kernel
def _ln_affine_backward(x, g, mean, rstd, cw, gw, gb):
    """Column sums: a block owns ``cw`` adjacent columns; lane ty = tid // cw strides the rows."""
    sa = cuda.shared.array(_RED, numba.float64)
    sb = cuda.shared.array(_RED, numba.float64)
    m_, d_ = x.shape
    tid = cuda.threadIdx.x
    lanes = cuda.blockDim.x // cw
    tx = tid % cw
    ty = tid // cw
    for tile in range(cuda.blockIdx.x, (d_ + cw - 1) // cw, cuda.gridDim.x):
        j = tile * cw + tx
        a = 0.0
        bsum = 0.0
        if ty < lanes and j < d_:
            for m in range(ty, m_, lanes):
                gv = np.float64(g[m, j])
                a += gv * (x[m, j] - mean[m]) * rstd[m]
                bsum += gv
        sa[tid] = a
        sb[tid] = bsum
        cuda.syncthreads()
        s = 1
        while s < lanes:
            s *= 2
        s //= 2
        while s > 0:  # tree over the lanes of each column
            if ty < s and ty + s < lanes:
                sa[tid] += sa[tid + s * cw]
                sb[tid] += sb[tid + s * cw]
            cuda.syncthreads()
            s //= 2
        if ty == 0 and j < d_:
            gw[j] = sa[tid]
            gb[j] = sb[tid]
        cuda.syncthreads()  # the next tile reuses the shared arrays


def layer_norm(x, w, b, eps, mean, rstd, out):
    """out = (x - mean_row) * rstd_row * w + b for x (M, D); writes mean, rstd (M,) float64."""
    if x.size == 0:
        return
    _ln_forward[_blocks(x.shape[0]), _red_threads()](x, w, b, float(eps), mean, rstd, out)


def layer_norm_backward(x, g, w, mean, rstd, gx):
    """gx (M, D) of layer norm given the forward's mean/rstd and weight w (D,)."""
    if x.size == 0:
        return
    _ln_backward[_blocks(x.shape[0]), _red_threads()](x, g, w, mean, rstd, gx)


def layer_norm_affine_backward(x, g, mean, rstd, gw, gb):
    """gw = sum_rows g * xhat, gb = sum_rows g for x, g (M, D); gw, gb (D,) float64."""
    if x.size == 0:
        _zero(gw)
        _zero(gb)
        return
    nt = _red_threads()
    cw = max(1, min(memory.TILE, nt))
    _ln_affine_backward[_blocks((x.shape[1] + cw - 1) // cw), nt](x, g, mean, rstd, cw, gw, gb)


# --------------------------------------------------------------------------------------------
# fused log-softmax + NLL (class-index targets), forward and backward
# per position: loss = (1-ls) w[t] (lse - x_t) + ls/C sum_c w_c (lse - x_c); 0 where ignored
# grad: s * (p_c ((1-ls) w_t + ls/C W) - (1-ls) w_t [c == t] - ls/C w_c), W = sum_c w_c
# --------------------------------------------------------------------------------------------
@policy.cuda_kernel
def _sum_vec(w, out):
    """out[0] <- sum of w (float64); one block."""
    red = cuda.shared.array(_RED, numba.float64)
    s = 0.0
    for c in range(cuda.threadIdx.x, w.size, cuda.blockDim.x):
        s += np.float64(w[c])
    s = _block_sum(red, s)
    if cuda.threadIdx.x == 0:
        out[0] = s


@policy.cuda_kernel
def _ce_forward_nd(x, t, w, ignore, ls, wsum, lse, loss):
    """One thread per position (o, i) of x (outer, C, inner); t, lse, loss (outer, inner)."""
    outer, c_, inner = x.shape
    k = ls / c_
    for p in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        o = p // inner
        i = p - o * inner
        tt = t[o, i]
        v = 0.0
        lv = 0.0
        if tt != ignore and tt >= 0 and tt < c_:  # a bad target's logits are never read
            m0 = x[o, 0, i]
            for c in range(c_):
                xv = x[o, c, i]
                m0 = xv if xv > m0 else m0
            mx = np.float64(m0)
            acc = 0.0
            for c in range(c_):
                acc += math.exp(x[o, c, i] - mx)
            lv = mx + math.log(acc)
            v = (1.0 - ls) * np.float64(w[tt]) * (lv - x[o, tt, i])
            if ls > 0.0:
                sm = 0.0
                for c in range(c_):
                    sm += np.float64(w[c]) * np.float64(x[o, c, i])
                v += k * (wsum[0] * lv - sm)
        lse[o, i] = lv
        loss[o, i] = v


@policy.cuda_kernel
def _ce_forward_rows(x, t, w, ignore, ls, wsum, lse, loss):
    """One block per row of x (n, C): block max, then block sums of exp and of w * x."""
    sa = cuda.shared.array(_RED, numba.float64)
    sb = cuda.shared.array(_RED, numba.float64)
    n_, c_ = x.shape
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    k = ls / c_
    for o in range(cuda.blockIdx.x, n_, cuda.gridDim.x):
        tt = t[o]  # the same for the whole block: the branch below is uniform
        if tt != ignore and tt >= 0 and tt < c_:
            mx = -math.inf
            for c in range(tid, c_, nt):
                xv = np.float64(x[o, c])
                mx = xv if xv > mx else mx
            mx = _block_max(sa, mx)
            acc = 0.0
            sm = 0.0
            for c in range(tid, c_, nt):
                acc += math.exp(x[o, c] - mx)
                if ls > 0.0:
                    sm += np.float64(w[c]) * np.float64(x[o, c])
            acc, sm = _block_sum2(sa, sb, acc, sm)
            if tid == 0:
                lv = mx + math.log(acc)
                v = (1.0 - ls) * np.float64(w[tt]) * (lv - x[o, tt])
                if ls > 0.0:
                    v += k * (wsum[0] * lv - sm)
                lse[o] = lv
                loss[o] = v
        elif tid == 0:
            lse[o] = 0.0
            loss[o] = 0.0


@policy.cuda_kernel
def _ce_totals(t, w, ignore, c_, loss, tot, err):
    """tot <- (sum of loss, sum of w[t]) over kept positions; err <- (1, t) of the last position
    with a target outside [0, C), if any. One block; t, loss flat (n,)."""
    sa = cuda.shared.array(_RED, numba.float64)
    sb = cuda.shared.array(_RED, numba.float64)
    bad_pos = cuda.shared.array(_RED, numba.int64)
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    sl = 0.0
    sw = 0.0
    bad = -1
    for p in range(tid, t.size, nt):
        tt = t[p]
        if tt != ignore:
            if tt >= 0 and tt < c_:
                sl += np.float64(loss[p])
                sw += np.float64(w[tt])
            else:
                bad = p  # increasing p: the thread's last
    sl, sw = _block_sum2(sa, sb, sl, sw)
    bad_pos[tid] = bad
    cuda.syncthreads()
    s = 1
    while s < nt:
        s *= 2
    s //= 2
    while s > 0:
        if tid < s and tid + s < nt:
            if bad_pos[tid + s] > bad_pos[tid]:
                bad_pos[tid] = bad_pos[tid + s]
        cuda.syncthreads()
        s //= 2
    if tid == 0:
        tot[0] = sl
        tot[1] = sw
        if bad_pos[0] >= 0:
            err[0] = 1
            err[1] = t[bad_pos[0]]


@policy.cuda_kernel
def _ce_backward(x, t, w, ignore, ls, wsum, lse, gs, gv, per, gx):
    """Elementwise over x (outer, C, inner); t, lse, gv (outer, inner)."""
    outer, c_, inner = x.shape
    k = ls / c_
    for e in range(cuda.grid(1), outer * c_ * inner, cuda.gridsize(1)):
        i = e % inner
        c = (e // inner) % c_
        o = e // (inner * c_)
        tt = t[o, i]
        if tt == ignore or tt < 0 or tt >= c_:
            gx[o, c, i] = 0.0
        else:
            s = np.float64(gv[o, i]) if per else gs
            wt = np.float64(w[tt])
            a = (1.0 - ls) * wt
            if ls > 0.0:
                a += k * wsum[0]
            v = s * a * math.exp(x[o, c, i] - lse[o, i])
            if ls > 0.0:
                v -= s * k * np.float64(w[c])
            if c == tt:
                v -= s * (1.0 - ls) * wt
            gx[o, c, i] = v


def _wsum(w, ls):
    """Device (1,) float64 holding sum(w) when label smoothing needs it (else unused)."""
    if ls > 0.0:
        out = memory.empty((1,), np.float64)
        _sum_vec[1, _red_threads()](w, out)
        return out
    return _dummy(np.float64)


def cross_entropy(x, t, w, ignore_index, label_smoothing, lse, loss, tot, err):
    """Fused log-softmax + NLL with class-index targets.

    x (n, C) with t, lse, loss (n,), or x (outer, C, inner) with t, lse, loss (outer, inner);
    t int64; w (C,) class weights; writes lse (float64), loss (x's dtype, 0 where ignored),
    tot[0] = sum of loss, tot[1] = sum of w[t] over kept positions (float64, size 2),
    err[0] = 1 and err[1] = a bad target when one is out of [0, C) (int64, size 2, caller zeroes).
    A bad target's logits are never read.
    """
    ignore = int(ignore_index)
    ls = float(label_smoothing)
    c_ = x.shape[1]
    wsum = _wsum(w, ls)
    if t.size:
        if x.ndim == 2 and c_ >= _ROWS_BLOCK_MIN_C:
            _ce_forward_rows[_blocks(x.shape[0]), _red_threads()](x, t, w, ignore, ls, wsum,
                                                                  lse, loss)
        else:
            if x.ndim == 2:  # narrow rows: the nd kernel with inner = 1
                n_ = x.shape[0]
                x, t2, lse2, loss2 = (x.reshape(n_, c_, 1), t.reshape(n_, 1),
                                      lse.reshape(n_, 1), loss.reshape(n_, 1))
            else:
                t2, lse2, loss2 = t, lse, loss
            _ce_forward_nd[memory.grid(t.size)](x, t2, w, ignore, ls, wsum, lse2, loss2)
    _ce_totals[1, _red_threads()](t.reshape(t.size), w, ignore, c_, loss.reshape(loss.size),
                                  tot, err)


def cross_entropy_backward(x, t, w, ignore_index, label_smoothing, lse, gscale, gvec, per, gx):
    """gx (x's shape) of :func:`cross_entropy`; the upstream scale per position is ``gvec``
    (t's shape) when ``per`` else the float ``gscale``."""
    if x.size == 0:
        return
    ls = float(label_smoothing)
    if x.ndim == 2:
        n_, c_ = x.shape
        x3, g3 = x.reshape(n_, c_, 1), gx.reshape(n_, c_, 1)
        t2, lse2, gv2 = t.reshape(n_, 1), lse.reshape(n_, 1), gvec.reshape(n_, 1)
    else:
        x3, g3, t2, lse2, gv2 = x, gx, t, lse, gvec
    _ce_backward[memory.grid(x.size)](x3, t2, w, int(ignore_index), ls, _wsum(w, ls), lse2,
                                      float(gscale), gv2, bool(per), g3)


# --------------------------------------------------------------------------------------------
# Compile check (tests/kernels/test_cuda_ptx.py).
# --------------------------------------------------------------------------------------------
def ptx_cases():
    """Yield (label, py_func, signature) for every kernel this module can launch, for
    ``numba.cuda.compile_ptx``: each once per float dtype of x (float16/32/64), with the
    launchers' argument types: C arrays, statistics float64, Python floats as float64 and ints
    as int64; batch norm's running stats in x's dtype or absent (the float64 ``_dummy``), cross
    entropy's backward scale per position (x's dtype) or a float with ``lse`` in its place."""
    from numba import types as T
    f, i, b = T.float64, T.int64, T.boolean
    f1, f2, i1, i2 = T.Array(f, 1, "C"), T.Array(f, 2, "C"), T.Array(i, 1, "C"), T.Array(i, 2, "C")
    yield "_fill[float64]", _fill.py_func, T.void(f1, f)  # _zero: float64 gradients only
    for dt in (T.float16, T.float32, T.float64):
        a1, a2, a3 = (T.Array(dt, nd, "C") for nd in (1, 2, 3))
        cases = [("", _bn_eval, (a3, a1, a1, a1, a1, f, f1, f1, a3)),
                 ("", _bn_backward, (a3, a3, a1, f1, f1, b, a3, f1, f1)),
                 ("", _ln_forward, (a2, a1, a1, f, f1, f1, a2)),
                 ("", _ln_backward, (a2, a2, a1, f1, f1, a2)),
                 ("", _ln_affine_backward, (a2, a2, f1, f1, i, f1, f1)),
                 ("", _sum_vec, (a1, f1)),
                 ("", _ce_forward_nd, (a3, i2, a1, i, f, f1, f2, a2)),
                 ("", _ce_forward_rows, (a2, i1, a1, i, f, f1, f1, a1)),
                 ("", _ce_totals, (i1, a1, i, i, a1, f1, i1))]
        for rs in dict.fromkeys((dt, f)):  # running stats: the caller's, or the float64 dummy
            cases.append((f",stats={rs}", _bn_train, (a3, a1, a1, f, f, b, T.Array(rs, 1, "C"),
                                                       T.Array(rs, 1, "C"), f1, f1, a3)))
        for gv in dict.fromkeys((dt, f)):  # per-position scale, or lse standing in for it
            cases.append((f",gvec={gv}", _ce_backward, (a3, i2, a1, i, f, f1, f2, f,
                                                        T.Array(gv, 2, "C"), b, a3)))
        for tag, k, sig in cases:
            yield f"{k.py_func.__name__}[{dt}{tag}]", k.py_func, T.void(*sig)
