"""Fused recurrent cells: the pointwise part of an LSTM or GRU time step (gate activations, the
cell and hidden updates) as one kernel forward and one backward (``kernels/<device>/rnn.py``).

They are not public ops: ``nn.LSTM``/``nn.GRU`` and their cells call them between the GEMMs,
which stay ordinary matmuls (the input projection of every time step in one, the recurrent one
per step; when training, an LSTM layer's recurrent product and cell are one node, ``LSTMStep``).
An LSTM layer without projections runs whole as one node, ``LSTMLayer``: every step's product
and cell in one kernel call.
``SplitRows`` hands the per-step slices of that one projection to the steps as a single graph
node. The backward rules call kernels, so they are once-differentiable.
"""
import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.function import Function, once_differentiable
from ..kernels._recurrence import previous
from ._core import Float32Compute, carray, channel_array, kernels, raw, same_device, shape_str
from .linalg import MatMul, right_grad
from .shape import cat


def _check(name, *pairs):
    """Refuse what the kernels cannot index: ``pairs`` are (what, tensor, expected shape); every
    tensor on one device, of one float dtype, float32 or float64."""
    ref = pairs[0][1]
    if ref.ndim != 2:
        raise RuntimeError(f"{name}: expected {pairs[0][0]} of 2 dimensions (batch, hidden), got "
                           f"shape {shape_str(ref._data.shape)}")
    dt = ref.dtype
    if dt is not D.float32 and dt is not D.float64:  # (half types arrive here as float32)
        raise RuntimeError(f"{name}: expected float32 or float64 tensors, got {dt}")
    same_device(*(t for _, t, _ in pairs))
    for what, t, shape in pairs:
        if t.dtype is not dt:
            raise RuntimeError(f"{name}: expected {what} to have dtype {dt}, got {t.dtype}")
        if tuple(t._data.shape) != shape:
            raise RuntimeError(f"{name}: expected {what} of shape {shape_str(shape)}, got "
                               f"{shape_str(t._data.shape)}")


def _joined(parts):
    """``cat(parts, 0)``; when the parts are consecutive row blocks of one C-contiguous CPU array
    (the gradient buffer an LSTM layer's steps write their gate gradients into, ``RecurrentGrad``)
    a view of those rows instead, with no copy."""
    first = parts[0]._data
    base = first.base if isinstance(first, np.ndarray) else None
    if base is None or len(parts) == 1 or not base.flags.c_contiguous or base.ndim != first.ndim:
        return cat(parts, 0)
    start = end = first.ctypes.data
    for p in parts:
        a = p._data
        if a.base is not base or a.ctypes.data != end or not a.flags.c_contiguous:
            return cat(parts, 0)
        end += a.nbytes
    row = base.strides[0]
    lo = (start - base.ctypes.data) // row
    return Tensor._make(base[lo:lo + (end - start) // row], parts[0].dtype, parts[0].device)


class SplitRows(Function):
    """``x`` (N, ...) -> views of consecutive row blocks of the given ``sizes`` (summing to N), as
    one graph node: backward concatenates the blocks' gradients once. (``split`` makes one
    slice node per block, each scattering its gradient into zeros of x's shape: quadratic in the
    number of time steps.)"""

    @staticmethod
    def forward(ctx, x, sizes):
        if sum(sizes) != x._data.shape[0] or any(n < 0 for n in sizes):
            raise RuntimeError(f"split_rows: sizes {list(sizes)} do not partition the "
                               f"{x._data.shape[0]} rows of the input")
        out, pos = [], 0
        for n in sizes:
            out.append(x._view_of(x._data[pos:pos + n]))
            pos += n
        return tuple(out)

    @staticmethod
    def backward(ctx, *grads):
        return _joined(grads), None


class RecurrentGrad:
    """What the steps of one recurrence share for :class:`RecurrentProduct`: the ``(h, grad)``
    pairs of the steps whose backward ran since the last flush, by step, and the weight's
    gradient summed over the flushed ones."""

    #: steps per GEMM of the weight's gradient: few weight-sized adds, and no more than this many
    #: steps' gradients held (all T of them doubled an LSTM LM's peak memory)
    CHUNK = 16

    def __init__(self, forward_operand, sizes=None):
        self.pairs, self.total = {}, None
        # what the forward products multiply by, in place of the weight (a contiguous copy)
        self.forward_operand = forward_operand
        # rows of each step (its batch size) in the layer's packed rows, for grad_rows
        self.sizes, self.buffer = sizes, None

    def grad_rows(self, t, width, dtype, device):
        """Where step ``t``'s backward may write a (rows, width) gradient: its rows of one
        buffer for every step (allocated at the first call), so that the steps' gradients join
        without a copy (:func:`_joined`: the input projection's gradient, the chunks' GEMMs);
        None without ``sizes`` or on CUDA."""
        if self.sizes is None or device.type != "cpu":
            return None
        if self.buffer is None:
            self.buffer = raw((sum(self.sizes), width), dtype, device)
            self.offsets = [0]
            for n in self.sizes:
                self.offsets.append(self.offsets[-1] + n)
        return self.buffer[self.offsets[t]:self.offsets[t + 1]]

    def flush(self, wt):
        pairs = self.pairs
        hs, gs = zip(*(pairs[t] for t in sorted(pairs)))  # in time order: gs join as rows
        pairs.clear()
        hs, gs = (cat(hs, 0), _joined(gs)) if len(hs) > 1 else (hs[0], gs[0])
        part = right_grad(hs, gs, wt)  # one GEMM over the chunk's rows, in wt's layout
        self.total = part if self.total is None else self.total + part

    def add(self, t, h, g, wt, last):
        """Step ``t``'s backward: its product's input ``h`` and output gradient ``g``. Returns
        the weight's gradient summed over every step at the step marked ``last`` (the first in
        time, whose backward runs after every later step's), else None."""
        self.pairs[t] = (h, g)
        if len(self.pairs) >= self.CHUNK or last:
            self.flush(wt)
        if not last:
            return None
        # the steps' gradients (views) keep the buffer alive while the engine holds them: a
        # graph kept after backward does not keep it too
        gw, self.total, self.buffer = self.total, None, None
        return gw


class RecurrentProduct(Function):
    """``h @ wt`` for one time step of a recurrence whose steps all multiply by the same ``wt``
    (an RNN's ``weight_hh.t()``), with ``wt``'s gradient gathered over the steps: each step's
    backward returns h's gradient and leaves its ``(h, g)`` with ``acc`` (a
    :class:`RecurrentGrad` the layer's steps share), which forms the weight's gradient one GEMM
    per ``CHUNK`` steps; the step marked ``last`` (the first in time: its backward runs after
    every later step's) returns the sum. Per-step products would be T GEMMs of a batch's rows
    each, summed by T adds of the weight's size."""

    @staticmethod
    def forward(ctx, h, wt, acc, t, last):
        ctx.save_for_backward(h, wt)
        ctx.acc, ctx.t, ctx.last = acc, t, last
        return MatMul.apply(h, acc.forward_operand)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        h, wt = ctx.saved_tensors
        need = ctx.needs_input_grad
        gh = MatMul.apply(g, wt.mT) if need[0] else None
        if not need[1]:
            return gh, None, None, None, None
        return gh, ctx.acc.add(ctx.t, h, g, wt, ctx.last), None, None, None


def _lstm_cell(xg, hg, c_prev):
    """The fused LSTM cell's forward: (h, c, act) with act (B, 4H) the activated gates (raw)."""
    B, H = c_prev._data.shape[-2:] if c_prev.ndim >= 2 else (0, 0)
    _check("lstm_cell", ("c_prev", c_prev, (B, H)), ("the input gates", xg, (B, 4 * H)),
           ("the hidden gates", hg, (B, 4 * H)))
    dt, dev = c_prev.dtype, c_prev.device
    act, c, h = raw((B, 4 * H), dt, dev), raw((B, H), dt, dev), raw((B, H), dt, dev)
    kernels(dev).rnn.lstm_cell(carray(xg), carray(hg), carray(c_prev), act, c, h)
    return Tensor._make(h, dt, dev), Tensor._make(c, dt, dev), act


def _lstm_cell_backward(gh, gc, act, c_prev, c, gg=None):
    """The fused LSTM cell's backward: the gradients of the pre-activations (B, 4H), written
    into ``gg`` where given, and of c_prev, given those of h and c."""
    dt, dev = c.dtype, c.device
    B, H = c._data.shape
    gg, gcp = raw((B, 4 * H), dt, dev) if gg is None else gg, raw((B, H), dt, dev)
    kernels(dev).rnn.lstm_cell_backward(carray(gh, dt), carray(gc, dt), act, carray(c_prev),
                                        c._data, gg, gcp)
    return Tensor._make(gg, dt, dev), Tensor._make(gcp, dt, dev)


class FusedLSTMCell(Float32Compute, Function):
    """LSTM step from pre-activations: ``(xg, hg, c_prev) -> (h, c)`` with gates = xg + hg
    (B, 4H) in PyTorch's order i, f, g, o, ``c = f * c_prev + i * g``, ``h = o * tanh(c)``.
    ``xg`` holds the input projection and both biases, ``hg`` the recurrent product."""

    @staticmethod
    def forward(ctx, xg, hg, c_prev):
        h, c, ctx.act = _lstm_cell(xg, hg, c_prev)
        # c is saved as a tensor: backward refuses to run if it was modified in place since
        ctx.save_for_backward(c_prev, c)
        return h, c

    @staticmethod
    @once_differentiable
    def backward(ctx, gh, gc):
        c_prev, c = ctx.saved_tensors
        gg, gcp = _lstm_cell_backward(gh, gc, ctx.act, c_prev, c)
        need = ctx.needs_input_grad
        return gg if need[0] else None, gg if need[1] else None, gcp if need[2] else None


class LSTMStep(Float32Compute, Function):
    """One time step of an LSTM layer as one graph node: ``hg = h @ wt`` (the recurrent
    product, its weight's gradient gathered over the steps by ``acc`` as for
    :class:`RecurrentProduct`, with ``t`` and ``last``), then the fused cell of
    :class:`FusedLSTMCell` on ``(xg, hg, c_prev)``; returns (h, c). Half the graph nodes and
    tensors per step of the two ops chained."""

    @staticmethod
    def forward(ctx, xg, h, wt, c_prev, acc, t, last):
        hn, c, ctx.act = _lstm_cell(xg, MatMul.apply(h, acc.forward_operand), c_prev)
        ctx.save_for_backward(h, wt, c_prev, c)
        ctx.acc, ctx.t, ctx.last = acc, t, last
        return hn, c

    @staticmethod
    @once_differentiable
    def backward(ctx, gh, gc):
        h, wt, c_prev, c = ctx.saved_tensors
        rows = ctx.acc.grad_rows(ctx.t, ctx.act.shape[1], c.dtype, c.device)
        gg, gcp = _lstm_cell_backward(gh, gc, ctx.act, c_prev, c, rows)
        need = ctx.needs_input_grad
        ghp = MatMul.apply(gg, wt.mT) if need[1] else None
        gw = ctx.acc.add(ctx.t, h, gg, wt, ctx.last) if need[2] else None
        return gg if need[0] else None, ghp, gw, gcp if need[3] else None, None, None, None


def _layer_plan(batch_sizes, reverse):
    """(offs, rows) for lstm_layer: the first row and the rows of each step of packed input
    (``batch_sizes[t]`` rows at time t), in the order the recurrence runs them."""
    T = len(batch_sizes)
    starts = np.zeros(T, np.int64)
    np.cumsum(batch_sizes[:-1], out=starts[1:])
    order = slice(None, None, -1) if reverse else slice(None)
    return starts[order].copy(), np.asarray(batch_sizes, np.int64)[order].copy()


def _last_rows(a, offs, rows):
    """Each sequence's row of ``a`` (N, H) at its last step: (B, H), from consecutive runs of
    rows (all of them at the last step unless a packed batch shrinks)."""
    runs, done = [], 0
    for o, n in zip(offs[::-1].tolist(), rows[::-1].tolist()):
        if n > done:
            runs.append(a[o + done:o + n])
            done = n
    return runs[0].contiguous() if len(runs) == 1 else cat(runs, 0)


class LSTMLayer(Float32Compute, Function):
    """One LSTM layer in one direction as one graph node: ``(xp, h0, c0, w_hh, batch_sizes,
    reverse) -> (out, h_n, c_n)``, every step's recurrent product and cell in one kernel call
    (``lstm_layer``). ``xp`` (N, 4H) is the input projection with both biases of packed rows,
    ``batch_sizes[t]`` of them at time t (non-increasing); ``h0``, ``c0`` (B, H); ``out`` (N, H)
    the hidden state of every row, ``h_n``, ``c_n`` (B, H) each sequence's last."""

    @staticmethod
    def forward(ctx, xp, h0, c0, w_hh, batch_sizes, reverse):
        H = w_hh._data.shape[1] if w_hh.ndim == 2 else 0
        B, N = batch_sizes[0], sum(batch_sizes)
        _check("lstm_layer", ("h0", h0, (B, H)), ("c0", c0, (B, H)),
               ("the input gates", xp, (N, 4 * H)), ("weight_hh", w_hh, (4 * H, H)))
        offs, rows = _layer_plan(batch_sizes, reverse)
        dt, dev = xp.dtype, xp.device
        act, cs, out = raw((N, 4 * H), dt, dev), raw((N, H), dt, dev), raw((N, H), dt, dev)
        kernels(dev).rnn.lstm_layer(carray(xp), carray(h0), carray(c0), carray(w_hh), offs, rows,
                                    act, cs, out)
        out, cs_t = Tensor._make(out, dt, dev), Tensor._make(cs, dt, dev)
        ctx.save_for_backward(h0, c0, w_hh, out)
        ctx.act, ctx.cs, ctx.plan = act, cs, (offs, rows, batch_sizes, reverse)
        return out, _last_rows(out, offs, rows), _last_rows(cs_t, offs, rows)

    @staticmethod
    @once_differentiable
    def backward(ctx, gout, gh_n, gc_n):
        h0, c0, w_hh, out = ctx.saved_tensors
        offs, rows, batch_sizes, reverse = ctx.plan
        dt, dev = out.dtype, out.device
        N, H = out._data.shape
        dh, dc = carray(gh_n.clone(), dt), carray(gc_n.clone(), dt)
        gg = raw((N, 4 * H), dt, dev)
        kernels(dev).rnn.lstm_layer_backward(carray(gout, dt), ctx.act, ctx.cs, carray(c0),
                                             carray(w_hh), offs, rows, gg, dh, dc)
        gg = Tensor._make(gg, dt, dev)
        need = ctx.needs_input_grad
        gw = _hidden_weight_grad(gg, out, h0, batch_sizes, offs, rows, reverse) \
            if need[3] else None
        return (gg if need[0] else None, Tensor._make(dh, dt, dev) if need[1] else None,
                Tensor._make(dc, dt, dev) if need[2] else None, gw, None, None)


def _hidden_weight_grad(gg, out, h0, batch_sizes, offs, rows, reverse):
    """W_hh's gradient, the sum over steps of gg[step]^T @ h_prev[step]: two GEMMs when every
    step has the whole batch (the previous steps' rows are out's, shifted by a step), else one
    over h_prev gathered step by step."""
    B, N = batch_sizes[0], out.shape[0]
    if all(n == B for n in batch_sizes):
        # forwards, step t > 0 follows t - 1; backwards, t < T - 1 follows t + 1
        later, earlier, start = slice(B, N), slice(0, N - B), slice(0, B)
        if reverse:
            later, earlier, start = earlier, later, slice(N - B, N)
        gw = MatMul.apply(gg[start].mT, h0)
        return gw if N == B else MatMul.apply(gg[later].mT, out[earlier]) + gw
    parts = [None] * len(batch_sizes)
    offs, rows = offs.tolist(), rows.tolist()
    for s, n in enumerate(rows):
        po, m = previous(offs, rows, s)
        parts[s] = [out[po:po + m]] if m == n else [out[po:po + m], h0[m:n]] if m else [h0[:n]]
    # gg's rows are in time order: the steps' h_prev go in that order too
    order = range(len(parts) - 1, -1, -1) if reverse else range(len(parts))
    return MatMul.apply(gg.mT, cat([p for s in order for p in parts[s]], 0))


class FusedGRUCell(Float32Compute, Function):
    """GRU step: ``(gi, gh, b_hh, h_prev) -> h`` with gi = x W_ih^T + b_ih and gh = h_prev W_hh^T
    (B, 3H) in PyTorch's order r, z, n and the hidden bias ``b_hh`` (3H,) or None:
    ``r, z = sigmoid(gi + gh + b_hh)``, ``n = tanh(gi_n + r * (gh_n + b_hn))``,
    ``h = (1 - z) * n + z * h_prev``."""

    @staticmethod
    def forward(ctx, gi, gh, b_hh, h_prev):
        B, H = h_prev._data.shape[-2:] if h_prev.ndim >= 2 else (0, 0)
        pairs = [("h_prev", h_prev, (B, H)), ("the input gates", gi, (B, 3 * H)),
                 ("the hidden gates", gh, (B, 3 * H))]
        if b_hh is not None:
            pairs.append(("bias_hh", b_hh, (3 * H,)))
        _check("gru_cell", *pairs)
        dt, dev = h_prev.dtype, h_prev.device
        ws, h = raw((B, 4 * H), dt, dev), raw((B, H), dt, dev)
        hp = carray(h_prev)
        kernels(dev).rnn.gru_cell(carray(gi), carray(gh), channel_array(b_hh, 3 * H, dt, 0.0, dev),
                                  hp, ws, h)
        ctx.save_for_backward(h_prev)
        ctx.ws = ws
        return Tensor._make(h, dt, dev)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        h_prev, = ctx.saved_tensors
        dt, dev = h_prev.dtype, h_prev.device
        B, H = h_prev._data.shape
        ggi, ggh, ghp = raw((B, 3 * H), dt, dev), raw((B, 3 * H), dt, dev), raw((B, H), dt, dev)
        kernels(dev).rnn.gru_cell_backward(carray(g, dt), carray(h_prev), ctx.ws, ggi, ggh, ghp)
        need = ctx.needs_input_grad
        ggh = Tensor._make(ggh, dt, dev)
        return (Tensor._make(ggi, dt, dev) if need[0] else None, ggh if need[1] else None,
                ggh.sum(0) if need[2] else None, Tensor._make(ghp, dt, dev) if need[3] else None)
