"""Reduction, scan and softmax CUDA kernels over axis 1 of a 3-D array (``kernels.cpu.reduce``'s twins).

Canonical layout, as on the CPU: ``x`` has shape ``(outer, n, inner)`` and the kernels reduce
(or scan) over axis 1. Reductions write ``out`` of shape ``(outer, inner)``; scans and softmax
write ``out`` of x's shape. The kernels index ``x[o, j, i]`` through its strides, so a strided
``x`` works too (the ops layer passes C-contiguous ones). Semantics follow the CPU kernels: float
reductions accumulate in float64 and integer ones in int64, then store into ``out``'s dtype;
max/min keep x's dtype (NaN propagates); ``max_index``/``min_index`` return the first index of
the extremum (the first NaN if any); an empty axis gives the identity (0, 1, True, False, NaN for
mean/var, -inf for logsumexp).

Launch strategy (folds and softmax): the ``outer * inner`` outputs, numbered ``q = o * inner +
i``, are dealt to blocks in groups of ``w`` consecutive outputs; a block of ``NT`` threads (a
power of two) is a ``(NT // w) x w`` grid: thread ``(ty, tx)`` takes output ``q0 + tx`` and rows
``j = ty, ty + NT // w, ...`` of it, so consecutive threads read consecutive ``i`` (coalesced when
``inner > 1``; with ``inner == 1`` the whole block strides along one contiguous row). Per-thread
partials are then folded in shared memory by a tree over ``ty`` (``_tree``). The host picks ``w``:
up to 32 columns for coalescing, more when ``n`` is too short to keep ``NT // w`` rows busy.
Blocks loop over groups (grid-stride), so any grid covers any size. Two-pass folds (var: mean
first; logsumexp/softmax: max first) keep the first result in a register and pass over the rows
again, inside the same kernel.

Scans: ``inner == 1`` with a long axis runs one block per row, a Hillis-Steele scan over tiles of
``NT`` elements plus a running carry (coalesced); otherwise one thread per ``(o, i)`` walks its
column sequentially (coalesced over ``i``).

Every kernel is built per fold op and accumulator type by a factory (``policy.cuda_kernel`` with
``name``/``bind``), so the op's branches are pruned at compile time and the shared arrays get
their dtype as a constant. ``NT`` is in each name: the on-disk cache does not see globals.
"""
import functools
import math

import numba
import numpy as np
from numba import cuda

from .. import policy
from . import memory

# Fold ops, numbered as on the CPU.
(SUM, PROD, ALL, ANY, AMAX, AMIN, MEAN, VAR, LSE) = range(9)
_OP_NAMES = ("sum", "prod", "all", "any", "amax", "amin", "mean", "var", "lse")
# Row-wise ops (softmax family), numbered as on the CPU.
(SOFTMAX, LOG_SOFTMAX) = range(2)
_ROW_NAMES = ("softmax", "log_softmax")

#: Threads per block: the largest power of two <= memory.BLOCK (the shared trees halve it).
NT = 1 << (max(memory.BLOCK, 1).bit_length() - 1)
_WARP = 32

_ACC = {"f8": numba.float64, "i8": numba.int64}
_IDENT_F = {SUM: 0.0, PROD: 1.0, MEAN: 0.0, VAR: 0.0, LSE: 0.0,
            AMAX: -math.inf, AMIN: math.inf}
_IDENT_I = {SUM: 0, PROD: 1, ALL: 1, ANY: 0,
            AMAX: np.iinfo(np.int64).min, AMIN: np.iinfo(np.int64).max}


def _acc_key(dt):
    """'f8' (float64 accumulation) or 'i8' (int64) for values of dtype ``dt``, as on the CPU."""
    dt = np.dtype(dt)
    if dt.kind == "f":
        return "f8"
    if dt.kind in "iub":
        return "i8"
    raise NotImplementedError(f"numtorch.kernels.cuda.reduce: dtype {dt} is not supported on CUDA")


def _ident(op, key):
    """The fold's identity as a typed NumPy scalar (its type is the kernel argument's type)."""
    return np.float64(_IDENT_F[op]) if key == "f8" else np.int64(_IDENT_I[op])


# --------------------------------------------------------------------------------------------
# Scalar device functions of one fold op (OP, ACC are compile-time globals: branches pruned).
# --------------------------------------------------------------------------------------------
def _update(s, v, c):
    # fold raw element v (x's dtype) into partial s (ACC); c: VAR's mean / LSE's max (float64)
    if OP == SUM or OP == MEAN:
        return s + ACC(v)
    if OP == PROD:
        return s * ACC(v)
    if OP == ALL:
        return s & ACC(v != 0)
    if OP == ANY:
        return s | ACC(v != 0)
    if OP == AMAX:  # NaN sticks: it replaces everything and nothing compares greater than it
        a = ACC(v)
        return a if (a > s or a != a) else s
    if OP == AMIN:
        a = ACC(v)
        return a if (a < s or a != a) else s
    if OP == VAR:
        d = ACC(v) - c
        return s + d * d
    return s + math.exp(ACC(v) - c)  # LSE


def _combine(s, t):
    # fold partial t into partial s (same associative op as _update)
    if OP == PROD:
        return s * t
    if OP == ALL:
        return s & t
    if OP == ANY:
        return s | t
    if OP == AMAX:
        return t if (t > s or t != t) else s
    if OP == AMIN:
        return t if (t < s or t != t) else s
    return s + t  # SUM, MEAN, VAR, LSE


def _finish(s, c, div):
    if OP == MEAN or OP == VAR:
        return s / div
    if OP == LSE:  # an infinite or NaN max is the answer (all -inf -> -inf, +inf -> +inf)
        return c + math.log(s) if c - c == 0 else c
    return s


def _better(v, m):
    # v beats the current extremum m (NaN beats any number; ties do not beat)
    if OP == AMAX:
        return v > m or (v != v and m == m)
    return v < m or (v != v and m == m)


def _tree(sh, s, t, w):
    # fold the block's NT partials (thread t holds s) over rows ty = t // w for each column
    # tx = t % w; every thread gets its column's result. All threads of the block must call it.
    sh[t] = s
    cuda.syncthreads()
    k = NT // 2
    while k >= w:  # k is a multiple of w: t and t + k are the same column
        if t < k:
            sh[t] = combine(sh[t], sh[t + k])
        cuda.syncthreads()
        k //= 2
    r = sh[t % w]
    cuda.syncthreads()  # sh is free again when this returns
    return r


def _argtree(sv, si, b, k, t, w):
    # like _tree for (value, index) pairs: the better value wins, a tie goes to the lower index;
    # index -1 marks an empty partial. Returns the column's index.
    sv[t] = b
    si[t] = k
    cuda.syncthreads()
    s = NT // 2
    while s >= w:
        if t < s:
            b2 = sv[t + s]
            k2 = si[t + s]
            b1 = sv[t]
            k1 = si[t]
            if k2 >= 0 and (k1 < 0 or better(b2, b1) or (not better(b1, b2) and k2 < k1)):
                sv[t] = b2
                si[t] = k2
        cuda.syncthreads()
        s //= 2
    r = si[t % w]
    cuda.syncthreads()
    return r


def _dev(fn, name, bind):
    return policy.cuda_kernel(fn, name=name, bind=bind, device=True)


@functools.lru_cache(maxsize=None)
def _scalars(op, key):
    """(update, combine, finish, better) device functions of fold ``op`` with accumulator ``key``."""
    tag = f"{_OP_NAMES[op]}_{key}"
    bind = {"OP": op, "ACC": _ACC[key]}
    return (_dev(_update, "reduce_update_" + tag, bind),
            _dev(_combine, "reduce_combine_" + tag, bind),
            _dev(_finish, "reduce_finish_" + tag, bind),
            _dev(_better, "reduce_better_" + tag, bind))


@functools.lru_cache(maxsize=None)
def _trees(op, key):
    """(tree, argtree) device functions of fold ``op`` with accumulator ``key`` for NT threads."""
    tag = f"{_OP_NAMES[op]}_{key}_nt{NT}"
    _, combine, _, better = _scalars(op, key)
    return (_dev(_tree, "reduce_tree_" + tag, {"NT": NT, "combine": combine}),
            _dev(_argtree, "reduce_argtree_" + tag, {"NT": NT, "better": better}))


# --------------------------------------------------------------------------------------------
# Folds: sum, prod, all/any, amax/amin, mean, var, logsumexp.
# --------------------------------------------------------------------------------------------
def _fold(x, ident, div, w, out):
    # out[o, i] = finish(fold over j of x[o, j, i]); w outputs per block group (see module doc)
    outer, n, inner = x.shape
    sh = cuda.shared.array(NT, ACC)
    t = cuda.threadIdx.x
    tx = t % w
    ty = t // w
    h = NT // w
    total = outer * inner
    for g in range(cuda.blockIdx.x, (total + w - 1) // w, cuda.gridDim.x):
        q = g * w + tx
        ok = q < total
        o = q // inner if ok else 0
        i = q - o * inner
        c = ident  # the center of the two-pass folds
        if OP == VAR:  # pass 1: the column's mean
            p = ident
            if ok:
                for j in range(ty, n, h):
                    p += ACC(x[o, j, i])
            c = ctree(sh, p, t, w) / n
        if OP == LSE:  # pass 1: the column's max (NaN sticks)
            p = ACC(-math.inf)
            if ok:
                for j in range(ty, n, h):
                    p = cupdate(p, x[o, j, i], p)
            c = ctree(sh, p, t, w)
        s = ident
        if ok:
            for j in range(ty, n, h):
                s = update(s, x[o, j, i], c)
        s = tree(sh, s, t, w)
        if ok and ty == 0:
            out[o, i] = finish(s, c, div)


@functools.lru_cache(maxsize=None)
def _fold_kernel(op, key):
    update, _, finish, _ = _scalars(op, key)
    tree = _trees(op, key)[0]
    # the first pass of VAR is a sum, that of LSE a max
    cop = SUM if op == VAR else AMAX if op == LSE else op
    bind = {"OP": op, "ACC": _ACC[key], "NT": NT, "update": update, "finish": finish,
            "tree": tree, "cupdate": _scalars(cop, key)[0], "ctree": _trees(cop, key)[0]}
    return policy.cuda_kernel(_fold, name=f"reduce_fold_{_OP_NAMES[op]}_{key}_nt{NT}", bind=bind)


def _pow2ceil(k):
    return 1 << max(k - 1, 0).bit_length()


def _geometry(outer, n, inner):
    """(blocks, w): w consecutive outputs per block, NT // w threads along n for each."""
    w = min(NT, _WARP, _pow2ceil(inner))
    rows = _pow2ceil(max(n, 1))
    if rows < NT // w:  # a short axis: give the idle row lanes more outputs
        w = NT // rows
    groups = -(-(outer * inner) // w)
    return memory.grid(groups * NT, NT)[0], w


def _out2(out, outer, inner):
    """``out`` as (outer, inner), as the CPU's ``out.reshape(outer, inner)``."""
    if tuple(out.shape) == (outer, inner):
        return out
    if not out.flags.c_contiguous:
        raise ValueError("numtorch.kernels.cuda.reduce: out must be C-contiguous to be reshaped "
                         f"from {tuple(out.shape)} to {(outer, inner)}")
    return out.reshape(outer, inner)


def _run_fold(op, key, x, out, div=1.0):
    outer, n, inner = x.shape
    if outer * inner == 0:
        return
    blocks, w = _geometry(outer, n, inner)
    _fold_kernel(op, key)[blocks, NT](x, _ident(op, key), float(div), w, _out2(out, outer, inner))


def _nonempty(x, name):
    outer, n, inner = x.shape
    if n == 0 and outer * inner > 0:  # the CPU kernels would read out of bounds here
        raise IndexError(f"{name}(): Expected reduction dim 1 to have non-zero size.")


def sum(x, out):  # noqa: A001
    """out[o, i] = sum_j x[o, j, i]; x (outer, n, inner) any numeric dtype; out (outer, inner) written."""
    _run_fold(SUM, _acc_key(out.dtype), x, out)


def prod(x, out):
    """out[o, i] = prod_j x[o, j, i]; x (outer, n, inner) numeric; out (outer, inner) written."""
    _run_fold(PROD, _acc_key(out.dtype), x, out)


def mean(x, out):
    """out[o, i] = mean_j x[o, j, i] (float64 accumulation); x, out float; n == 0 gives NaN."""
    _run_fold(MEAN, "f8", x, out, div=x.shape[1])


def amax(x, out):
    """out[o, i] = max_j x[o, j, i], NaN if any NaN; x (outer, n>=1, inner); out (outer, inner) x's dtype."""
    _nonempty(x, "amax")
    _run_fold(AMAX, _acc_key(x.dtype), x, out)


def amin(x, out):
    """out[o, i] = min_j x[o, j, i], NaN if any NaN; x (outer, n>=1, inner); out (outer, inner) x's dtype."""
    _nonempty(x, "amin")
    _run_fold(AMIN, _acc_key(x.dtype), x, out)


def all_(x, out):
    """out[o, i] = all_j x[o, j, i] != 0; x any dtype (outer, n, inner); out bool (outer, inner)."""
    _run_fold(ALL, "i8", x, out)


def any_(x, out):
    """out[o, i] = any_j x[o, j, i] != 0; x any dtype (outer, n, inner); out bool (outer, inner)."""
    _run_fold(ANY, "i8", x, out)


def var(x, correction, out):
    """out[o, i] = sum_j (x[o,j,i] - mean)^2 / max(n - correction, 0), two-pass; x, out float."""
    _run_fold(VAR, "f8", x, out, div=max(x.shape[1] - correction, 0))


def logsumexp(x, out):
    """out[o, i] = log(sum_j exp(x[o, j, i])), max-shifted; x, out float (outer, inner) written."""
    _run_fold(LSE, "f8", x, out)


# --------------------------------------------------------------------------------------------
# max/min with the index of the first extremum (the first NaN if any).
# --------------------------------------------------------------------------------------------
def _argfold(x, w, values, indices):
    outer, n, inner = x.shape
    sv = cuda.shared.array(NT, ACC)
    si = cuda.shared.array(NT, numba.int64)
    t = cuda.threadIdx.x
    tx = t % w
    ty = t // w
    h = NT // w
    total = outer * inner
    for g in range(cuda.blockIdx.x, (total + w - 1) // w, cuda.gridDim.x):
        q = g * w + tx
        ok = q < total
        o = q // inner if ok else 0
        i = q - o * inner
        b = ACC(0)
        k = -1
        if ok:
            for j in range(ty, n, h):  # ascending j: the first of equal values stays
                v = ACC(x[o, j, i])
                if k < 0 or better(v, b):
                    b = v
                    k = j
        k = argtree(sv, si, b, k, t, w)
        if ok and ty == 0:
            values[o, i] = x[o, k, i]
            indices[o, i] = k


@functools.lru_cache(maxsize=None)
def _argfold_kernel(op, key):
    bind = {"ACC": _ACC[key], "NT": NT, "better": _scalars(op, key)[3],
            "argtree": _trees(op, key)[1]}
    return policy.cuda_kernel(_argfold, name=f"reduce_{_OP_NAMES[op]}_index_{key}_nt{NT}",
                              bind=bind)


def _run_argfold(op, name, x, values, indices):
    outer, n, inner = x.shape
    if outer * inner == 0:
        return
    _nonempty(x, name)
    blocks, w = _geometry(outer, n, inner)
    _argfold_kernel(op, _acc_key(x.dtype))[blocks, NT](
        x, w, _out2(values, outer, inner), _out2(indices, outer, inner))


def max_index(x, values, indices):
    """values/indices (outer, inner) = max over axis 1 of x (outer, n>=1, inner) and its first index (int64); NaN wins."""
    _run_argfold(AMAX, "max", x, values, indices)


def min_index(x, values, indices):
    """values/indices (outer, inner) = min over axis 1 of x (outer, n>=1, inner) and its first index (int64); NaN wins."""
    _run_argfold(AMIN, "min", x, values, indices)


# --------------------------------------------------------------------------------------------
# Scans: cumsum / cumprod along axis 1.
# --------------------------------------------------------------------------------------------
def _scan_cols(x, ident, out):
    # one thread per (o, i) column, sequential along n (coalesced over i)
    outer, n, inner = x.shape
    for q in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
        o = q // inner
        i = q - o * inner
        s = ident
        for j in range(n):
            s = combine(s, ACC(x[o, j, i]))
            out[o, j, i] = s


def _scan_rows(x, ident, out):
    # inner == 1: one block per row; each tile of NT elements is scanned in shared memory
    # (Hillis-Steele) and offset by the carry of the tiles before it
    outer, n, _ = x.shape
    sh = cuda.shared.array(NT, ACC)
    t = cuda.threadIdx.x
    for o in range(cuda.blockIdx.x, outer, cuda.gridDim.x):
        carry = ident
        for j0 in range(0, n, NT):
            j = j0 + t
            sh[t] = ACC(x[o, j, 0]) if j < n else ident
            cuda.syncthreads()
            d = 1
            while d < NT:
                a = sh[t]
                if t >= d:
                    a = combine(sh[t - d], a)
                cuda.syncthreads()
                sh[t] = a
                cuda.syncthreads()
                d *= 2
            if j < n:
                out[o, j, 0] = combine(carry, sh[t])
            carry = combine(carry, sh[NT - 1])
            cuda.syncthreads()  # everyone has read sh before the next tile overwrites it


@functools.lru_cache(maxsize=None)
def _scan_kernels(op, key):
    bind = {"ACC": _ACC[key], "NT": NT, "combine": _scalars(op, key)[1]}
    tag = f"{_OP_NAMES[op]}_{key}"
    return (policy.cuda_kernel(_scan_cols, name="reduce_scan_cols_" + tag, bind=bind),
            policy.cuda_kernel(_scan_rows, name=f"reduce_scan_rows_{tag}_nt{NT}", bind=bind))


def _run_scan(op, x, out):
    outer, n, inner = x.shape
    if outer * n * inner == 0:
        return
    key = _acc_key(out.dtype)
    cols, rows = _scan_kernels(op, key)
    if inner == 1 and n >= min(NT, _WARP):
        rows[memory.grid(outer * NT, NT)[0], NT](x, _ident(op, key), out)
    else:
        blocks, threads = memory.grid(outer * inner)
        cols[blocks, threads](x, _ident(op, key), out)


def cumsum(x, out):
    """out[o, j, i] = sum_{k<=j} x[o, k, i]; x (outer, n, inner) numeric; out same shape (dtype may be wider)."""
    _run_scan(SUM, x, out)


def cumprod(x, out):
    """out[o, j, i] = prod_{k<=j} x[o, k, i]; x (outer, n, inner) numeric; out same shape (dtype may be wider)."""
    _run_scan(PROD, x, out)


# --------------------------------------------------------------------------------------------
# softmax / log_softmax along axis 1.
# --------------------------------------------------------------------------------------------
def _rowwise(a, w, out):
    # Same block layout as _fold; the row statistics stay in registers between the passes.
    outer, n, inner = a.shape
    sh = cuda.shared.array(NT, numba.float64)
    t = cuda.threadIdx.x
    tx = t % w
    ty = t // w
    h = NT // w
    total = outer * inner
    for g in range(cuda.blockIdx.x, (total + w - 1) // w, cuda.gridDim.x):
        q = g * w + tx
        ok = q < total
        o = q // inner if ok else 0
        i = q - o * inner
        m = -math.inf  # the row max (a NaN makes the whole row NaN either way)
        if ok:
            for j in range(ty, n, h):
                m = umax(m, a[o, j, i], m)
        m = tmax(sh, m, t, w)
        s = 0.0
        if ok:
            for j in range(ty, n, h):
                s += math.exp(numba.float64(a[o, j, i]) - m)
        s = tsum(sh, s, t, w)
        if OP == SOFTMAX:
            if ok:  # (idle columns have s == 0)
                r = 1.0 / s
                for j in range(ty, n, h):
                    out[o, j, i] = math.exp(numba.float64(a[o, j, i]) - m) * r
        else:
            if ok:
                shift = m + math.log(s)
                for j in range(ty, n, h):
                    out[o, j, i] = numba.float64(a[o, j, i]) - shift


@functools.lru_cache(maxsize=None)
def _rowwise_kernel(op):
    bind = {"OP": op, "NT": NT, "umax": _scalars(AMAX, "f8")[0], "tmax": _trees(AMAX, "f8")[0],
            "tsum": _trees(SUM, "f8")[0]}
    return policy.cuda_kernel(_rowwise, name=f"rowwise_{_ROW_NAMES[op]}_nt{NT}", bind=bind)


def _run_rowwise(op, a, out):
    outer, n, inner = a.shape
    if outer * n * inner == 0:
        return
    blocks, w = _geometry(outer, n, inner)
    _rowwise_kernel(op)[blocks, NT](a, w, out)


def softmax(x, out):
    """out = softmax of x (outer, n, inner) along axis 1, max-shifted; float; out same shape."""
    _run_rowwise(SOFTMAX, x, out)


def log_softmax(x, out):
    """out = log_softmax of x (outer, n, inner) along axis 1, max-shifted; float; out same shape."""
    _run_rowwise(LOG_SOFTMAX, x, out)


# --------------------------------------------------------------------------------------------
# Real-GPU compile check (the simulator cannot tell whether a kernel compiles for a GPU).
# --------------------------------------------------------------------------------------------
#: (x dtype, out dtype) of the sums, products and scans, one per typing family: floats keep
#: their dtype (float64 accumulation; float16 too), integers and bool go to int64 (as the ops
#: layer asks).
_PTX_SUMS = (("float16", "float16"), ("float32", "float32"), ("float64", "float64"),
             ("int64", "int64"), ("int8", "int64"), ("bool", "int64"))


def ptx_cases():
    """Yield ``(label, py_func, signature)`` for every kernel this module can launch, built by
    its own factories with the launchers' accumulator choice (``_acc_key``) and argument types:
    ``x`` of any strides (layout "A"), ``out`` C-contiguous, the identity a NumPy float64/int64,
    ``div`` a float, ``w`` an int. Each kernel once per dtype family."""
    from numba import types

    def arr(dt, nd, layout="C"):
        return types.Array(numba.from_dtype(np.dtype(dt)), nd, layout)

    def fold(op, xd, od, key):
        k = _fold_kernel(op, key)
        sig = types.void(arr(xd, 3, "A"), _ACC[key], types.float64, types.int64, arr(od, 2))
        return f"{_OP_NAMES[op]} {xd}->{od}", k.py_func, sig

    for xd, od in _PTX_SUMS:
        for op in (SUM, PROD):
            key = _acc_key(od)  # sum, prod, cumsum, cumprod: from out's dtype
            yield fold(op, xd, od, key)
            for k, how in zip(_scan_kernels(op, key), ("cols", "rows")):
                yield (f"cum{_OP_NAMES[op]} {how} {xd}->{od}", k.py_func,
                       types.void(arr(xd, 3, "A"), _ACC[key], arr(od, 3)))
    for xd in ("float32", "float64"):
        for op in (MEAN, VAR, LSE):
            yield fold(op, xd, xd, "f8")
        for op in (SOFTMAX, LOG_SOFTMAX):
            yield (f"{_ROW_NAMES[op]} {xd}", _rowwise_kernel(op).py_func,
                   types.void(arr(xd, 3, "A"), types.int64, arr(xd, 3)))
    for xd, _ in _PTX_SUMS:
        key = _acc_key(xd)  # amax, amin, max_index, min_index: from x's dtype
        for op in (AMAX, AMIN):
            yield fold(op, xd, xd, key)
            yield (f"{_OP_NAMES[op]}_index {xd}", _argfold_kernel(op, key).py_func,
                   types.void(arr(xd, 3, "A"), types.int64, arr(xd, 2), arr("int64", 2)))
        if xd != "int8":
            for op in (ALL, ANY):  # any dtype into bool
                yield fold(op, xd, "bool", "i8")
