"""Convolution on the GPU (NCHW, float32/float64): CUDA twins of kernels/cpu/conv.py.

Direct convolution throughout (no im2col buffer: :func:`conv2d_cols_shape` returns None, so the
caller allocates none), written as three gather kernels that need no atomics:
- ``_conv_fwd``: one thread per output element (n, o, oh, ow), ``ow`` fastest so a warp writes
  a contiguous run of ``out`` and reads x with stride ``sw``; it sums its C/groups*KH*KW taps in
  the input's dtype (as the CPU's GEMM does) starting from the bias.
- ``_conv_gx``: one thread per element of the input gradient (n, c, ih, iw); for each tap it
  finds the single output position that read this input (when the stride divides the offset)
  and adds ``w * g`` there, in the input's dtype.
- weight gradient, a split reduction in two deterministic passes without atomics or barriers:
  ``_conv_gw_part`` gives one thread to each (chunk of output positions, weight element), which
  sums ``g * x`` over its chunk of the N*OH*OW positions in float64 (weight elements fastest:
  neighbouring taps read neighbouring x); ``_sum_parts`` adds each weight's partial sums in
  order. The chunk count grows while there are few weights (a first layer has hundreds of
  weights and tens of thousands of positions), bounded by the scratch size ``_GW_PART_MAX``.
- ``_channel_sum`` (the bias gradient): one block per output channel, whose threads stride over
  the N*L positions with float64 partial sums and meet in a shared-memory tree reduction.
The transposed convolution is conv2d read backwards, so it reuses the same three kernels: its
forward is ``_conv_gx`` (with the bias), its input gradient ``_conv_fwd`` and its weight
gradient ``_launch_gw`` with the roles of x and g exchanged.

Launches: element kernels are grid-stride loops over ``memory.grid(n)``; block-per-item kernels
loop ``blockIdx.x`` over the items, so any grid covers any size. Reductions use shared arrays of
``_RED`` entries; their launches use at most ``_RED`` threads per block.

Contracts as on the CPU: every array C-contiguous, one float dtype throughout, ``out`` and the
other written arguments caller-allocated device arrays, nothing returned. Padding may be
asymmetric: only the leading pad (``ph``, ``pw``) is passed.
"""
import numba
import numpy as np
from numba import cuda

from .. import policy
from . import memory
from ._block import block_sum as _block_sum, dummy as _dummy, fill as _fill, zero as _zero
from ._strided import unravel4 as _unravel4

#: Entries of the shared reduction arrays (a compile-time constant of the kernels): the most
#: threads a reducing launch uses.
_RED = 256


def _red_threads():
    return max(1, min(memory.BLOCK, _RED))


def _blocks(items):
    """Blocks for a block-per-item kernel (each block loops over items by gridDim)."""
    return max(1, min(memory.MAX_BLOCKS, items))


#: Output positions per partial sum of the weight gradient (fewer with the shrunken test launch,
#: so that several partial sums per weight occur on tiny shapes) and the most partial sums.
_GW_CHUNK = max(4, memory.BLOCK // 4)
_GW_PART_MAX = 1 << 20


# --------------------------------------------------------------------------------------------
# Convolution kernels (conv2d geometry: x (N, C, H, W), w (O, C/groups, KH, KW), y (N, O, OH, OW);
# ``og`` = O/groups output channels per group).
# --------------------------------------------------------------------------------------------
@policy.cuda_kernel
def _conv_fwd(x, w, bias, has_bias, zero, sh, sw, ph, pw, dh, dw, og, out):
    """out (N, O, OH, OW) <- conv of x with w (+ bias); one thread per output element."""
    n_, c_, h_, w_ = x.shape
    o_, cg, kh, kw = w.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    total = out.shape[0] * o_ * oh_n * ow_n
    for k in range(cuda.grid(1), total, cuda.gridsize(1)):
        n, o, oh, ow = _unravel4(k, (0, o_, oh_n, ow_n))
        c0 = (o // og) * cg
        acc = zero
        if has_bias:
            acc = bias[o]
        hs = oh * sh - ph
        ws = ow * sw - pw
        for ci in range(cg):
            c = c0 + ci
            for i in range(kh):
                ih = hs + i * dh
                if ih < 0 or ih >= h_:
                    continue
                for j in range(kw):
                    iw = ws + j * dw
                    if iw >= 0 and iw < w_:
                        acc += w[o, ci, i, j] * x[n, c, ih, iw]
        out[n, o, oh, ow] = acc


@policy.cuda_kernel
def _conv_gx(g, w, bias, has_bias, zero, sh, sw, ph, pw, dh, dw, og, gx):
    """gx (N, C, H, W) <- input gradient of conv2d for g (N, O, OH, OW) (+ bias per channel of
    gx, for the transposed conv's forward); one thread per element of gx, no atomics."""
    n_, c_, h_, w_ = gx.shape
    o_, cg, kh, kw = w.shape
    oh_n, ow_n = g.shape[2], g.shape[3]
    total = n_ * c_ * h_ * w_
    for k in range(cuda.grid(1), total, cuda.gridsize(1)):
        n, c, ih, iw = _unravel4(k, (0, c_, h_, w_))
        q = c // cg
        ci = c - q * cg
        acc = zero
        if has_bias:
            acc = bias[c]
        for oi in range(og):
            o = q * og + oi
            for i in range(kh):
                a = ih + ph - i * dh  # = oh * sh for the output row that read ih with tap i
                if a < 0 or a % sh != 0:
                    continue
                oh = a // sh
                if oh >= oh_n:
                    continue
                for j in range(kw):
                    b = iw + pw - j * dw
                    if b < 0 or b % sw != 0:
                        continue
                    ow = b // sw
                    if ow < ow_n:
                        acc += w[o, ci, i, j] * g[n, o, oh, ow]
        gx[n, c, ih, iw] = acc


@policy.cuda_kernel
def _conv_gw_part(x, g, sh, sw, ph, pw, dh, dw, og, kh, kw, chunk, part):
    """part (Q, E) <- float64 partial sums of the weight gradient: entry (q, e) sums g * x at
    weight element e = ((o * C/groups + ci) * KH + i) * KW + j over output positions
    [q * chunk, (q + 1) * chunk) of the N*OH*OW. One thread per entry, e fastest (neighbouring
    taps read neighbouring x; threads of one o share g)."""
    n_, c_, h_, w_ = x.shape
    oh_n, ow_n = g.shape[2], g.shape[3]
    q_, e_ = part.shape
    cg = e_ // (g.shape[1] * kh * kw)
    l_ = oh_n * ow_n
    npos = n_ * l_
    for k in range(cuda.grid(1), q_ * e_, cuda.gridsize(1)):
        e = k % e_
        q = k // e_
        j = e % kw
        t = e // kw
        i = t % kh
        t //= kh
        ci = t % cg
        o = t // cg
        c = (o // og) * cg + ci
        acc = 0.0
        for p in range(q * chunk, min((q + 1) * chunk, npos)):
            n = p // l_
            r = p - n * l_
            oh = r // ow_n
            ow = r - oh * ow_n
            ih = oh * sh - ph + i * dh
            iw = ow * sw - pw + j * dw
            if ih >= 0 and ih < h_ and iw >= 0 and iw < w_:
                acc += np.float64(g[n, o, oh, ow]) * np.float64(x[n, c, ih, iw])
        part[q, e] = acc


@policy.cuda_kernel
def _sum_parts(part, out):
    """out (E,) <- part (Q, E) summed over Q in a fixed order (deterministic); one thread per e."""
    q_, e_ = part.shape
    for e in range(cuda.grid(1), e_, cuda.gridsize(1)):
        s = 0.0
        for q in range(q_):
            s += part[q, e]
        out[e] = s


@policy.cuda_kernel
def _channel_sum(g, out):
    """out (O,) <- g (N, O, L) summed over N and L in float64; one block per channel."""
    red = cuda.shared.array(_RED, numba.float64)
    n_, o_, l_ = g.shape
    for o in range(cuda.blockIdx.x, o_, cuda.gridDim.x):
        acc = 0.0
        for p in range(cuda.threadIdx.x, n_ * l_, cuda.blockDim.x):
            n = p // l_
            acc += np.float64(g[n, o, p - n * l_])
        s = _block_sum(red, acc)
        if cuda.threadIdx.x == 0:
            out[o] = s


def _launch_fwd(x, w, bias, sh, sw, ph, pw, dh, dw, groups, out):
    has_bias = bias is not None
    _conv_fwd[memory.grid(out.size)](
        x, w, bias if has_bias else _dummy(out.dtype), has_bias, out.dtype.type(0),
        sh, sw, ph, pw, dh, dw, w.shape[0] // groups, out)


def _launch_gx(g, w, bias, sh, sw, ph, pw, dh, dw, groups, gx):
    has_bias = bias is not None
    _conv_gx[memory.grid(gx.size)](
        g, w, bias if has_bias else _dummy(gx.dtype), has_bias, gx.dtype.type(0),
        sh, sw, ph, pw, dh, dw, w.shape[0] // groups, gx)


def _launch_gw(x, g, sh, sw, ph, pw, dh, dw, groups, gw):
    e_ = gw.size
    _, _, kh, kw = gw.shape
    npos = g.shape[0] * g.shape[2] * g.shape[3]
    # Q partial sums per weight: chunks of at least _GW_CHUNK positions, at most _GW_PART_MAX
    # partial sums in all (the scratch buffer)
    q_ = max(1, min(-(-npos // _GW_CHUNK), _GW_PART_MAX // e_))
    chunk = -(-npos // q_)
    q_ = -(-npos // chunk)
    part = memory.empty((q_, e_), np.float64)
    _conv_gw_part[memory.grid(q_ * e_)](x, g, sh, sw, ph, pw, dh, dw, gw.shape[0] // groups,
                                        kh, kw, chunk, part)
    _sum_parts[memory.grid(e_)](part, gw.reshape(e_))


def _launch_gb(g, gb):
    n_, o_ = g.shape[0], g.shape[1]
    _channel_sum[_blocks(o_), _red_threads()](g.reshape(n_, o_, g.size // max(n_ * o_, 1)), gb)


# --------------------------------------------------------------------------------------------
# Convolution API.
# --------------------------------------------------------------------------------------------
def conv2d_cols_shape(x_shape, w_shape, out_shape):
    """Shape of the patch matrix conv2d_forward writes: always None on the GPU (direct kernels,
    no im2col buffer)."""
    return None


def conv2d_forward(x, w, bias, sh, sw, ph, pw, dh, dw, groups, cols, out):
    """out (N, O, OH, OW) = conv of x (N, C, H, W) with w (O, C/groups, KH, KW) (+ bias (O,) or
    None). ``cols`` is None (see conv2d_cols_shape) and ignored."""
    if out.size == 0:
        return
    _launch_fwd(x, w, bias, sh, sw, ph, pw, dh, dw, groups, out)


def conv2d_backward(g, x, w, cols, sh, sw, ph, pw, dh, dw, groups, gx, gw, gb):
    """Gradients of conv2d_forward for g (N, O, OH, OW): writes gx (like x), gw (like w) and
    gb (O,); each may be None to skip it. ``cols`` is ignored."""
    if g.size == 0 or x.size == 0:
        _zero(gx, gw, gb)
        return
    if gb is not None:
        _launch_gb(g, gb)
    if gw is not None:
        _launch_gw(x, g, sh, sw, ph, pw, dh, dw, groups, gw)
    if gx is not None:
        _launch_gx(g, w, None, sh, sw, ph, pw, dh, dw, groups, gx)


def conv_transpose2d_forward(x, w, bias, sh, sw, ph, pw, dh, dw, groups, out):
    """out (N, O, OH, OW) = transposed conv of x (N, C, H, W) with w (C, O/groups, KH, KW)
    (+ bias (O,) or None): conv2d's input gradient with x in the role of g."""
    if out.size == 0:
        return
    # w read as a conv2d weight (C outputs, O/groups inputs per group): C/groups per group
    _launch_gx(x, w, bias, sh, sw, ph, pw, dh, dw, groups, out)


def conv_transpose2d_backward(g, x, w, sh, sw, ph, pw, dh, dw, groups, gx, gw, gb):
    """Gradients of conv_transpose2d_forward for g (N, O, OH, OW): gx (like x), gw (like w), gb
    (O,), each None to skip. gx is conv2d(g, w); gw is conv2d's weight gradient with g as the
    input and x as the output gradient."""
    if x.size == 0 or g.size == 0:
        _zero(gx, gw, gb)
        return
    if gb is not None:
        _launch_gb(g, gb)
    if gx is not None:
        _launch_fwd(g, w, None, sh, sw, ph, pw, dh, dw, groups, gx)
    if gw is not None:
        _launch_gw(g, x, sh, sw, ph, pw, dh, dw, groups, gw)


# --------------------------------------------------------------------------------------------
# Compile check (tests/kernels/test_cuda_ptx.py).
# --------------------------------------------------------------------------------------------
def ptx_cases():
    """Yield (label, py_func, signature) for every kernel this module can launch, for
    ``numba.cuda.compile_ptx``: each once per float dtype (float32, float64), with the
    launchers' argument types (C arrays, Python ints as int64, ``dtype.type(0)`` as the dtype)."""
    from numba import types as T
    i, b = T.int64, T.boolean
    f8 = T.float64
    for dt in (T.float32, T.float64):
        a1, a3, a4 = (T.Array(dt, nd, "C") for nd in (1, 3, 4))
        conv = (a4, a4, a1, b, dt) + (i,) * 7 + (a4,)
        for k, sig in ((_fill, (a1, dt)), (_conv_fwd, conv), (_conv_gx, conv),
                       (_conv_gw_part, (a4, a4) + (i,) * 10 + (T.Array(f8, 2, "C"),)),
                       (_sum_parts, (T.Array(f8, 2, "C"), a1)), (_channel_sum, (a3, a1))):
            yield f"{k.py_func.__name__}[{dt}]", k.py_func, T.void(*sig)
