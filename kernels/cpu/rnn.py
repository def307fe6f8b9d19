"""Fused pointwise parts of one LSTM and one GRU time step on the CPU.

Layouts (the caller checks them: every array C-contiguous and 2-D unless said, one float dtype
per call, float32 or float64; ``B`` rows, hidden size ``H``; gates in PyTorch's order):
- LSTM: ``xg``, ``hg`` (B, 4H) the input and hidden parts of the pre-activations, gates i, f, g, o
  (the biases are folded into ``xg``); ``c_prev``, ``c``, ``h`` (B, H); ``act`` (B, 4H) keeps the
  activated gates for backward.
- GRU: ``gi`` (B, 3H) = x W_ih^T + b_ih and ``gh`` (B, 3H) = h W_hh^T without bias, gates r, z, n;
  ``bhh`` (3H,) the hidden bias (kept apart: ``n = tanh(gi_n + r * (gh_n + b_hn))``); ``h_prev``,
  ``h`` (B, H); ``ws`` (B, 4H) keeps r, z, n and gh_n + b_hn for backward.
Arithmetic runs in the arrays' dtype (float32 kernels in float32: twice float64's SIMD lanes,
~3x faster per LSTM step; their results differ from a float64 evaluation by a few float32 ulp,
as PyTorch's do); sigmoid and tanh are ``_vmath``'s, built on its exp with selects, so the loop
over a row's hidden units vectorises (libm's tanh would keep it scalar). Each kernel writes its
caller-allocated outputs (the last arguments) and returns None; rows run in parallel above the
policy threshold.
"""
import numpy as np
from numba import prange

from .. import policy
from . import _vmath

# globals of the kernel bodies, bound per dtype (policy's ``bind=``): the compute type F with its
# literals ONE and TWO and _vmath's helpers for it (``_vmath.FLOAT32`` / ``FLOAT64``), and the
# drivers' row helper
F = ONE = TWO = EXP = SIGMOID = TANH_E = row = None


def _lstm_cell_row(xg, hg, c_prev, act, c, h, b):
    hs = c.shape[1]
    for j in range(0, hs):
        i = SIGMOID(F(xg[b, j]) + F(hg[b, j]))
        f = SIGMOID(F(xg[b, hs + j]) + F(hg[b, hs + j]))
        sg = F(xg[b, 2 * hs + j]) + F(hg[b, 2 * hs + j])
        g = TANH_E(sg, EXP(-TWO * abs(sg)))
        o = SIGMOID(F(xg[b, 3 * hs + j]) + F(hg[b, 3 * hs + j]))
        cv = f * F(c_prev[b, j]) + i * g
        act[b, j] = i
        act[b, hs + j] = f
        act[b, 2 * hs + j] = g
        act[b, 3 * hs + j] = o
        c[b, j] = cv
        h[b, j] = o * TANH_E(cv, EXP(-TWO * abs(cv)))


def _lstm_cell_backward_row(gh, gc, act, c_prev, c, ggates, gc_prev, b):
    hs = c.shape[1]
    for j in range(0, hs):
        i = F(act[b, j])
        f = F(act[b, hs + j])
        g = F(act[b, 2 * hs + j])
        o = F(act[b, 3 * hs + j])
        cv = F(c[b, j])
        tc = TANH_E(cv, EXP(-TWO * abs(cv)))
        ghv = F(gh[b, j])
        dc = F(gc[b, j]) + ghv * o * (ONE - tc * tc)
        ggates[b, j] = dc * g * i * (ONE - i)
        ggates[b, hs + j] = dc * F(c_prev[b, j]) * f * (ONE - f)
        ggates[b, 2 * hs + j] = dc * i * (ONE - g * g)
        ggates[b, 3 * hs + j] = ghv * tc * o * (ONE - o)
        gc_prev[b, j] = dc * f


def _gru_cell_row(gi, gh, bhh, h_prev, ws, h, b):
    hs = h.shape[1]
    for j in range(0, hs):
        r = SIGMOID(F(gi[b, j]) + F(gh[b, j]) + F(bhh[j]))
        z = SIGMOID(F(gi[b, hs + j]) + F(gh[b, hs + j]) + F(bhh[hs + j]))
        hn = F(gh[b, 2 * hs + j]) + F(bhh[2 * hs + j])
        sn = F(gi[b, 2 * hs + j]) + r * hn
        nv = TANH_E(sn, EXP(-TWO * abs(sn)))
        ws[b, j] = r
        ws[b, hs + j] = z
        ws[b, 2 * hs + j] = nv
        ws[b, 3 * hs + j] = hn
        h[b, j] = (ONE - z) * nv + z * F(h_prev[b, j])


def _gru_cell_backward_row(gout, h_prev, ws, ggi, ggh, gh_prev, b):
    hs = h_prev.shape[1]
    for j in range(0, hs):
        r = F(ws[b, j])
        z = F(ws[b, hs + j])
        nv = F(ws[b, 2 * hs + j])
        hn = F(ws[b, 3 * hs + j])
        g = F(gout[b, j])
        dn = g * (ONE - z) * (ONE - nv * nv)
        dz = g * (F(h_prev[b, j]) - nv) * z * (ONE - z)
        dr = dn * hn * r * (ONE - r)
        ggi[b, j] = dr
        ggi[b, hs + j] = dz
        ggi[b, 2 * hs + j] = dn
        ggh[b, j] = dr
        ggh[b, hs + j] = dz
        ggh[b, 2 * hs + j] = dn * r
        gh_prev[b, j] = g * z


# The drivers: one row per iteration through a helper compiled on its own (all four cells):
# with the row loop written inside the prange, the serial build ran 6-7x slower than the
# parallel build on one thread (GRU cell (32, 256) float32: 340 us vs 52 us; the helper: 50 us
# either way)
def _lstm_cell(xg, hg, c_prev, act, c, h):
    for b in prange(c.shape[0]):
        row(xg, hg, c_prev, act, c, h, b)


def _lstm_cell_backward(gh, gc, act, c_prev, c, ggates, gc_prev):
    for b in prange(c.shape[0]):
        row(gh, gc, act, c_prev, c, ggates, gc_prev, b)


def _gru_cell(gi, gh, bhh, h_prev, ws, h):
    for b in prange(h.shape[0]):
        row(gi, gh, bhh, h_prev, ws, h, b)


def _gru_cell_backward(gout, h_prev, ws, ggi, ggh, gh_prev):
    for b in prange(h_prev.shape[0]):
        row(gout, h_prev, ws, ggi, ggh, gh_prev, b)


# (the half types run the float32 builds: policy converts them)
_LSTM = _vmath.twins(_lstm_cell, "rnn_lstm_cell", {"row": _lstm_cell_row})
_LSTM_BW = _vmath.twins(_lstm_cell_backward, "rnn_lstm_cell_backward",
                        {"row": _lstm_cell_backward_row})
_GRU = _vmath.twins(_gru_cell, "rnn_gru_cell", {"row": _gru_cell_row})
_GRU_BW = _vmath.twins(_gru_cell_backward, "rnn_gru_cell_backward", {"row": _gru_cell_backward_row})


def _pick(table, x):
    return table.get(x.dtype) or table[np.dtype(np.float32)]


def lstm_cell(xg, hg, c_prev, act, c, h):
    """One LSTM step from pre-activations: gates = xg + hg (B, 4H), i, f, o = sigmoid, g = tanh;
    writes act (B, 4H) = [i, f, g, o], c = f * c_prev + i * g and h = o * tanh(c) (B, H)."""
    _pick(_LSTM, xg)(xg, hg, c_prev, act, c, h, work=xg.size)


def lstm_cell_backward(gh, gc, act, c_prev, c, ggates, gc_prev):
    """Gradients of :func:`lstm_cell` given those of h and c (gh, gc (B, H)) and its act and c:
    writes ggates (B, 4H), the gradient of the pre-activations (of xg and of hg alike), and
    gc_prev (B, H)."""
    _pick(_LSTM_BW, gh)(gh, gc, act, c_prev, c, ggates, gc_prev, work=ggates.size)


def gru_cell(gi, gh, bhh, h_prev, ws, h):
    """One GRU step: r, z = sigmoid(gi + gh + bhh), n = tanh(gi_n + r * (gh_n + b_hn)),
    h = (1 - z) * n + z * h_prev; writes ws (B, 4H) = [r, z, n, gh_n + b_hn] and h (B, H)."""
    _pick(_GRU, gi)(gi, gh, bhh, h_prev, ws, h, work=gi.size)


def gru_cell_backward(gout, h_prev, ws, ggi, ggh, gh_prev):
    """Gradients of :func:`gru_cell` given that of h (gout (B, H)) and its ws: writes ggi and ggh
    (B, 3H), the gradients of gi and of gh (bhh's is ggh summed over rows), and gh_prev (B, H),
    the part of h_prev's gradient that does not flow through gh."""
    _pick(_GRU_BW, gout)(gout, h_prev, ws, ggi, ggh, gh_prev, work=ggi.size)
