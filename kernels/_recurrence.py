"""An LSTM layer's time loop over primitives a backend supplies (pure Python, no compute): the
CUDA module's ``lstm_layer`` and the CPU module's way without an in-kernel BLAS run it.

The layout (``kernels/cpu/rnn.py``'s contract for ``lstm_layer``): the layer's rows are packed,
step after step in the order the recurrence runs them; step ``s`` holds ``rows[s]`` rows starting
at row ``offs[s]`` of ``xp``, ``act``, ``cs`` and ``out``. A step's first rows continue the
previous step's first rows (sequences are sorted longest first); rows the previous step did not
have start from ``h0``/``c0`` (a reversed packed batch grows).

``ops`` has ``matmul(a, b, out)`` (2-D, ``out = a @ b``), ``add(a, b)`` (``a += b``),
``join(a, b, out)`` (``out = rows of a, then rows of b``) and the backend's one-step cell
kernels ``lstm_cell`` and ``lstm_cell_backward``.
"""


def previous(offs, rows, s):
    """(first row of step s - 1, rows step s takes from it): (0, 0) at the first step."""
    return (offs[s - 1], min(rows[s], rows[s - 1])) if s else (0, 0)


def _c_prev(ops, cs, c0, s, offs, rows, scratch):
    """The cell states step s starts from: the previous step's, then c0's for the rest."""
    po, m = previous(offs, rows, s)
    n = rows[s]
    if m == n:
        return cs[po:po + n]
    if m == 0:
        return c0[:n]
    ops.join(cs[po:po + m], c0[m:n], scratch[:n])
    return scratch[:n]


def lstm_forward(ops, xp, h0, c0, wt, offs, rows, gates, act, cs, out):
    """Every step of the layer: ``gates = h_prev @ wt`` (wt = W_hh^T (H, 4H)), then the cell.
    ``gates`` (B, 4H) is scratch, and so is a (B, H) buffer ``ops.scratch(c0)`` gives."""
    scratch = ops.scratch(c0)
    for s in range(len(offs)):
        o, n = offs[s], rows[s]
        po, m = previous(offs, rows, s)
        if m:
            ops.matmul(out[po:po + m], wt, gates[:m])
        if n > m:
            ops.matmul(h0[m:n], wt, gates[m:n])
        cp = _c_prev(ops, cs, c0, s, offs, rows, scratch)
        ops.lstm_cell(xp[o:o + n], gates[:n], cp, act[o:o + n], cs[o:o + n], out[o:o + n])


def lstm_backward(ops, gout, act, cs, c0, whh, offs, rows, gg, dh, dc):
    """Every step backwards: ``dh`` and ``dc`` (B, H) come in holding the final states'
    gradients and leave holding h0's and c0's; gg gets the gates' gradients."""
    scratch = ops.scratch(c0)
    T = len(offs)
    for s in range(T - 1, -1, -1):
        o, n = offs[s], rows[s]
        if s + 1 < T:  # the next step's gates reach this step's h through W_hh
            ops.matmul(gg[offs[s + 1]:offs[s + 1] + rows[s + 1]], whh, dh[:rows[s + 1]])
        ops.add(dh[:n], gout[o:o + n])
        cp = _c_prev(ops, cs, c0, s, offs, rows, scratch)
        ops.lstm_cell_backward(dh[:n], dc[:n], act[o:o + n], cp, cs[o:o + n], gg[o:o + n],
                               dc[:n])
    ops.matmul(gg[offs[0]:offs[0] + rows[0]], whh, dh[:rows[0]])
