"""Fused pointwise parts of one LSTM and one GRU time step on the GPU: the CUDA twins of
kernels/cpu/rnn.py, with the same names, signatures, layouts and contracts.

Layouts (every array C-contiguous and 2-D unless said, one float dtype per call; B rows, hidden
size H; gates in PyTorch's order):
- LSTM: ``xg``, ``hg`` (B, 4H) input and hidden parts of the pre-activations (i, f, g, o);
  ``c_prev``, ``c``, ``h`` (B, H); ``act`` (B, 4H) the activated gates, kept for backward.
- GRU: ``gi``, ``gh`` (B, 3H) (r, z, n; ``gh`` without bias), ``bhh`` (3H,) the hidden bias;
  ``h_prev``, ``h`` (B, H); ``ws`` (B, 4H) = r, z, n, gh_n + b_hn, kept for backward.
One thread per (row, hidden unit) in a grid-stride loop: it reads the unit's gates (columns
``j``, ``H + j``, ... of its row) and writes the unit's outputs. Array elements enter float64
arithmetic through ``float(...)`` (on the GPU and in the simulator alike, see ``norm.py``), as on
the CPU.
"""
import math
import types

from numba import cuda

from .. import _recurrence, policy
from . import elementwise, matmul, memory


@policy.cuda_kernel(device=True)
def _sigmoid(x):
    # exp of -|x| never overflows
    e = math.exp(-x if x >= 0 else x)
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


@policy.cuda_kernel
def _lstm_cell_k(xg, hg, c_prev, act, c, h):
    hs = c.shape[1]
    for k in range(cuda.grid(1), c.shape[0] * hs, cuda.gridsize(1)):
        b = k // hs
        j = k - b * hs
        i = _sigmoid(float(xg[b, j]) + float(hg[b, j]))
        f = _sigmoid(float(xg[b, hs + j]) + float(hg[b, hs + j]))
        g = math.tanh(float(xg[b, 2 * hs + j]) + float(hg[b, 2 * hs + j]))
        o = _sigmoid(float(xg[b, 3 * hs + j]) + float(hg[b, 3 * hs + j]))
        cv = f * float(c_prev[b, j]) + i * g
        act[b, j] = i
        act[b, hs + j] = f
        act[b, 2 * hs + j] = g
        act[b, 3 * hs + j] = o
        c[b, j] = cv
        h[b, j] = o * math.tanh(cv)


@policy.cuda_kernel
def _lstm_cell_backward_k(gh, gc, act, c_prev, c, ggates, gc_prev):
    hs = c.shape[1]
    for k in range(cuda.grid(1), c.shape[0] * hs, cuda.gridsize(1)):
        b = k // hs
        j = k - b * hs
        i = float(act[b, j])
        f = float(act[b, hs + j])
        g = float(act[b, 2 * hs + j])
        o = float(act[b, 3 * hs + j])
        tc = math.tanh(float(c[b, j]))
        ghv = float(gh[b, j])
        dc = float(gc[b, j]) + ghv * o * (1.0 - tc * tc)
        ggates[b, j] = dc * g * i * (1.0 - i)
        ggates[b, hs + j] = dc * float(c_prev[b, j]) * f * (1.0 - f)
        ggates[b, 2 * hs + j] = dc * i * (1.0 - g * g)
        ggates[b, 3 * hs + j] = ghv * tc * o * (1.0 - o)
        gc_prev[b, j] = dc * f


@policy.cuda_kernel
def _gru_cell_k(gi, gh, bhh, h_prev, ws, h):
    hs = h.shape[1]
    for k in range(cuda.grid(1), h.shape[0] * hs, cuda.gridsize(1)):
        b = k // hs
        j = k - b * hs
        r = _sigmoid(float(gi[b, j]) + float(gh[b, j]) + float(bhh[j]))
        z = _sigmoid(float(gi[b, hs + j]) + float(gh[b, hs + j]) + float(bhh[hs + j]))
        hn = float(gh[b, 2 * hs + j]) + float(bhh[2 * hs + j])
        nv = math.tanh(float(gi[b, 2 * hs + j]) + r * hn)
        ws[b, j] = r
        ws[b, hs + j] = z
        ws[b, 2 * hs + j] = nv
        ws[b, 3 * hs + j] = hn
        h[b, j] = (1.0 - z) * nv + z * float(h_prev[b, j])


@policy.cuda_kernel
def _gru_cell_backward_k(gout, h_prev, ws, ggi, ggh, gh_prev):
    hs = h_prev.shape[1]
    for k in range(cuda.grid(1), h_prev.shape[0] * hs, cuda.gridsize(1)):
        b = k // hs
        j = k - b * hs
        r = float(ws[b, j])
        z = float(ws[b, hs + j])
        nv = float(ws[b, 2 * hs + j])
        hn = float(ws[b, 3 * hs + j])
        g = float(gout[b, j])
        dn = g * (1.0 - z) * (1.0 - nv * nv)
        dz = g * (float(h_prev[b, j]) - nv) * z * (1.0 - z)
        dr = dn * hn * r * (1.0 - r)
        ggi[b, j] = dr
        ggi[b, hs + j] = dz
        ggi[b, 2 * hs + j] = dn
        ggh[b, j] = dr
        ggh[b, hs + j] = dz
        ggh[b, 2 * hs + j] = dn * r
        gh_prev[b, j] = g * z


def _launch(kernel, units, *args):
    if units:
        kernel[memory.grid(units)](*args)


def lstm_cell(xg, hg, c_prev, act, c, h):
    """One LSTM step from pre-activations: gates = xg + hg (B, 4H), i, f, o = sigmoid, g = tanh;
    writes act (B, 4H) = [i, f, g, o], c = f * c_prev + i * g and h = o * tanh(c) (B, H)."""
    _launch(_lstm_cell_k, c.size, xg, hg, c_prev, act, c, h)


def lstm_cell_backward(gh, gc, act, c_prev, c, ggates, gc_prev):
    """Gradients of :func:`lstm_cell` given those of h and c (gh, gc (B, H)) and its act and c:
    writes ggates (B, 4H), the gradient of the pre-activations (of xg and of hg alike), and
    gc_prev (B, H)."""
    _launch(_lstm_cell_backward_k, c.size, gh, gc, act, c_prev, c, ggates, gc_prev)


def lstm_layer(xp, h0, c0, whh, offs, rows, act, cs, out):
    """Every step of one LSTM layer in one direction (the CPU module's contract: rows packed
    step after step in the order the recurrence runs them, ``offs``/``rows`` int64 host arrays).
    A step at a time from the host: the recurrent product with :mod:`.matmul`'s kernel, then
    :func:`lstm_cell` (``kernels/_recurrence.py``)."""
    B, H = c0.shape
    _recurrence.lstm_forward(_OPS, xp, h0, c0, whh.T, offs.tolist(), rows.tolist(),
                             memory.empty((B, 4 * H), whh.dtype), act, cs, out)


def lstm_layer_backward(gout, act, cs, c0, whh, offs, rows, gg, dh, dc):
    """Gradients of :func:`lstm_layer` (the CPU module's contract): dh and dc come in holding
    the final states' gradients and leave holding h0's and c0's; writes gg (N, 4H)."""
    _recurrence.lstm_backward(_OPS, gout, act, cs, c0, whh, offs.tolist(), rows.tolist(), gg,
                              dh, dc)


def gru_cell(gi, gh, bhh, h_prev, ws, h):
    """One GRU step: r, z = sigmoid(gi + gh + bhh), n = tanh(gi_n + r * (gh_n + b_hn)),
    h = (1 - z) * n + z * h_prev; writes ws (B, 4H) = [r, z, n, gh_n + b_hn] and h (B, H)."""
    _launch(_gru_cell_k, h.size, gi, gh, bhh, h_prev, ws, h)


def gru_cell_backward(gout, h_prev, ws, ggi, ggh, gh_prev):
    """Gradients of :func:`gru_cell` given that of h (gout (B, H)) and its ws: writes ggi and ggh
    (B, 3H), the gradients of gi and of gh (bhh's is ggh summed over rows), and gh_prev (B, H),
    the part of h_prev's gradient that does not flow through gh."""
    _launch(_gru_cell_backward_k, h_prev.size, gout, h_prev, ws, ggi, ggh, gh_prev)


def _batch_of_one(a):
    return memory.as_strided(a, (1,) + tuple(a.shape), (0,) + tuple(a.strides))


# the primitives of lstm_layer's step loop
_OPS = types.SimpleNamespace(
    matmul=lambda a, b, out: matmul.matmul(_batch_of_one(a), _batch_of_one(b),
                                           _batch_of_one(out)),
    add=lambda a, b: elementwise.add(a, b, a),
    join=lambda a, b, out: memory.concatenate([a, b], 0, out),
    scratch=lambda c0: memory.empty(c0.shape, c0.dtype),
    lstm_cell=lstm_cell, lstm_cell_backward=lstm_cell_backward)


# --------------------------------------------------------------------------------------------
# Compile check (tests/kernels/test_cuda_ptx.py).
# --------------------------------------------------------------------------------------------
def ptx_cases():
    """Yield (label, py_func, signature) for every kernel this module can launch, for
    ``numba.cuda.compile_ptx``: each once per float dtype the callers use (float32, float64),
    with the launchers' argument types (C-contiguous 2-D arrays, GRU's hidden bias 1-D)."""
    from numba import types as T
    for dt in (T.float32, T.float64):
        a1, a2 = T.Array(dt, 1, "C"), T.Array(dt, 2, "C")
        for k, sig in ((_lstm_cell_k, (a2,) * 6),
                       (_lstm_cell_backward_k, (a2,) * 7),
                       (_gru_cell_k, (a2, a2, a1, a2, a2, a2)),
                       (_gru_cell_backward_k, (a2,) * 6)):
            yield f"{k.py_func.__name__}[{dt}]", k.py_func, T.void(*sig)
