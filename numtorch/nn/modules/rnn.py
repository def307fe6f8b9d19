"""Recurrent layers: RNN (tanh/relu), LSTM (with projections), GRU, and their single-step cells.

Parameters, their names, shapes, order and initialisation are PyTorch's, so state_dicts load
both ways. A layer runs each (layer, direction) over the time steps as:
- one GEMM for the input projection of every step (``x @ W_ih^T`` plus the biases that can be
  folded into it), handed to the steps by one ``SplitRows`` node;
- an LSTM without projections: every step in one graph node and one kernel call
  (``LSTMLayer``, ``lstm_layer``: on the CPU a task per thread per step, each with its own
  slice of the recurrent GEMM and its hidden units' cells); its W_hh gradient two GEMMs over
  all steps;
- otherwise per step, the recurrent GEMM ``h @ W_hh^T`` and the fused pointwise cell
  (``ops/rnn.py``: gates, cell and hidden update in one kernel forward and one backward; a
  projected LSTM's product and cell as one graph node when training); LSTM projections add
  ``h @ W_hr^T``. The tanh/relu RNN step stays composite (matmul, add, activation).
Padded input is handled as a packed batch whose steps all have the full batch, so one loop
serves both; a packed batch shrinks (or, in reverse, grows) the rows as sequences end.
"""
import math
import numbers
import warnings

from ... import _creation as C
from ...autograd import is_grad_enabled
from ...ops.rnn import (FusedGRUCell, FusedLSTMCell, LSTMLayer, LSTMStep, RecurrentGrad,
                        RecurrentProduct, SplitRows)
from ...ops.shape import cat, stack
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, _batch_sizes
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _size_str(shape):
    return "(" + ", ".join(map(str, shape)) + ")"


def _forward_operand(wt, T):
    """What the forward products of a T-step recurrence multiply by: ``wt`` (a transposed
    weight) as a contiguous copy from two steps on (no graph: the weight's gradient is gathered
    apart, :class:`RecurrentGrad`, or not wanted)."""
    return wt.detach().contiguous() if T > 1 else wt.detach()


def _direction(mode, x, batch_sizes, h0, c0, weights, reverse):
    """One direction of one layer over packed rows ``x`` (N, In), ``batch_sizes[t]`` rows at step
    t; ``h0`` (B, P) and ``c0`` (B, H) or None the initial states. Returns the output rows
    (N, P) and the final states of every sequence (B, P), (B, H) or None."""
    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    # the LSTM's and RNN's biases add up before any nonlinearity: fold both into the projection;
    # GRU's hidden bias sits inside r * (W_hn h + b_hn) and goes to the fused cell
    bias = b_ih if mode == "GRU" or b_ih is None else b_ih + b_hh
    xp = F.linear(x, w_ih, bias)
    if mode == "LSTM" and w_hr is None:  # the whole layer in one node
        return LSTMLayer.apply(xp, h0, c0, w_hh, tuple(batch_sizes), reverse)
    T = len(batch_sizes)
    steps = SplitRows.apply(xp, tuple(batch_sizes)) if T > 1 else (xp,)
    whh_t = w_hh.t()
    whr_t = None if w_hr is None else w_hr.t()
    # the forward products read W^T contiguous when there are steps enough to pay for the copy
    # (BLAS takes a transposed (H, 4H) operand of a 32-row product 1.4x slower); the recurrent
    # weights' gradients form one GEMM over every CHUNK steps (RecurrentProduct, LSTMStep)
    first = T - 1 if reverse else 0
    grad = is_grad_enabled()
    hh = hr = None
    if grad and whh_t.requires_grad:
        sizes = tuple(batch_sizes) if mode == "LSTM" else None  # LSTMStep's gradient rows
        hh = RecurrentGrad(_forward_operand(whh_t, T), sizes)
    else:
        whh_t = _forward_operand(whh_t, T)
    if whr_t is not None and grad and whr_t.requires_grad:
        hr = RecurrentGrad(_forward_operand(whr_t, T))
    elif whr_t is not None:
        whr_t = _forward_operand(whr_t, T)
    h, c = h0, c0
    if reverse and batch_sizes[-1] < h.shape[0]:  # only the longest sequences run at the end
        h = h[:batch_sizes[-1]]
        c = None if c is None else c[:batch_sizes[-1]]
    outs = [None] * T
    ended_h, ended_c = [], []
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        bs, n = batch_sizes[t], h.shape[0]
        if bs < n:  # forward: sequences bs..n-1 ended at the previous step
            ended_h.append(h[bs:])
            h = h[:bs]
            if c is not None:
                ended_c.append(c[bs:])
                c = c[:bs]
        elif bs > n:  # reverse: sequences n..bs-1 start here, from their initial states
            h = cat([h, h0[n:bs]], 0)
            if c is not None:
                c = cat([c, c0[n:bs]], 0)
        if mode == "LSTM":
            if hh is None:
                h, c = FusedLSTMCell.apply(steps[t], h @ whh_t, c)
            else:  # the product and the cell as one node
                h, c = LSTMStep.apply(steps[t], h, whh_t, c, hh, t, t == first)
            if whr_t is not None:
                h = h @ whr_t if hr is None else RecurrentProduct.apply(h, whr_t, hr, t, t == first)
        else:
            hg = h @ whh_t if hh is None else RecurrentProduct.apply(h, whh_t, hh, t, t == first)
            if mode == "GRU":
                h = FusedGRUCell.apply(steps[t], hg, b_hh, h)
            else:
                pre = steps[t] + hg
                h = pre.tanh() if mode == "RNN_TANH" else pre.relu()
        outs[t] = h
    out = cat(outs, 0) if T > 1 else outs[0]
    if ended_h:  # rows back in batch order: the last to end first
        h = cat([h] + ended_h[::-1], 0)
        if c is not None:
            c = cat([c] + ended_c[::-1], 0)
    return out, h, c


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the parameters of every (layer, direction), their checks
    and the loop over layers. ``mode`` is ``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"`` or
    ``"GRU"``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> lstm = nn.RNNBase("LSTM", 3, 4, num_layers=2, bidirectional=True)
    >>> [name for name, _ in lstm.named_parameters()][:5]
    ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0', 'weight_ih_l0_reverse']
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        for what, v in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(v, bool):
                raise TypeError(f"{what} should be of type bool, got: {type(v).__name__}")
        for what, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{what} should be of type int, got: {type(v).__name__}")
            if v <= 0:
                raise ValueError(f"{what} must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + str(mode))
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout = float(dropout)
        self.proj_size = proj_size
        gates = _GATES[mode] * hidden_size
        real = proj_size if proj_size > 0 else hidden_size
        dirs = 2 if bidirectional else 1
        self._flat_weights_names, self._all_weights, self._cells = [], [], []
        for layer in range(num_layers):
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                n_in = input_size if layer == 0 else real * dirs
                shapes = {"weight_ih": (gates, n_in), "weight_hh": (gates, real)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                if proj_size > 0:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                names = []
                for base, shape in shapes.items():
                    setattr(self, base + sfx,
                            Parameter(C.empty(*shape, device=device, dtype=dtype)))
                    names.append(base + sfx)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
                self._cells.append(tuple(base + sfx if base in shapes else None for base in
                                         ("weight_ih", "weight_hh", "bias_ih", "bias_hh",
                                          "weight_hr")))
        self.reset_parameters()

    def reset_parameters(self):
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def flatten_parameters(self):
        """A no-op kept for PyTorch compatibility (it packs cuDNN's weights there)."""

    @property
    def all_weights(self):
        """The parameters of each (layer, direction), in registration order."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # --- forward -------------------------------------------------------------------------------
    def _name(self):
        return {"LSTM": "LSTM", "GRU": "GRU"}.get(self.mode, "RNN")

    def _check_input(self, x, ndim):
        w = self.weight_ih_l0
        if x.dtype is not w.dtype:
            raise ValueError(
                f"RNN input dtype ({x.dtype}) does not match weight dtype ({w.dtype}). Convert "
                f"input: input.to({w.dtype}), or convert model: model.to({x.dtype})")
        if x.ndim != ndim:
            raise RuntimeError(f"input must have {ndim} dimensions, got {x.ndim}")
        if x.shape[-1] != self.input_size:
            raise RuntimeError("input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {x.shape[-1]}")
        if x.device != w.device:
            raise RuntimeError("Input and parameter tensors are not at the same device, found "
                               f"input tensor at {x.device} and parameter tensor at {w.device}")

    def _check_hidden(self, x, h, expected, msg):
        if tuple(h.shape) != expected:
            raise RuntimeError(msg.format(_size_str(expected), list(h.shape)))
        if h.device != x.device:
            raise RuntimeError("Input and hidden tensors are not at the same device, found input "
                               f"tensor at {x.device} and hidden tensor at {h.device}")
        if h.dtype is not x.dtype:
            raise RuntimeError("Input and hidden tensors are not the same dtype, found input "
                               f"tensor with {x.dtype} and hidden tensor with {h.dtype}")

    def forward(self, input, hx=None):
        lstm = self.mode == "LSTM"
        dirs = 2 if self.bidirectional else 1
        real = self.proj_size if self.proj_size > 0 else self.hidden_size
        if lstm and hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"LSTM: hx must be a tuple (h_0, c_0) of tensors, got "
                            f"{type(hx).__name__}")
        packed = isinstance(input, PackedSequence)
        if packed:
            x, batch_sizes_t, sorted_indices, unsorted_indices = input
            self._check_input(x, 2)
            batch_sizes = [int(n) for n in _batch_sizes(input)]
            B = batch_sizes[0]
        else:
            if input.ndim not in (2, 3):
                what = "D tensor instead" if self.mode.startswith("RNN") else "D instead"
                raise ValueError(f"{self._name()}: Expected input to be 2D or 3D, got "
                                 f"{input.ndim}{what}")
            batched = input.ndim == 3
            bdim = 0 if self.batch_first else 1
            if hx is not None:
                want = 3 if batched else 2
                states = hx if lstm else (hx,)
                if any(s.ndim != want for s in states):
                    kind = "batched 3-D" if batched else "unbatched 2-D"
                    if lstm:
                        raise RuntimeError(
                            f"For {kind} input, hx and cx should also be {want}-D but got "
                            f"({states[0].ndim}-D, {states[1].ndim}-D) tensors")
                    raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got "
                                       f"{hx.ndim}-D tensor")
                if not batched:
                    hx = tuple(s.unsqueeze(1) for s in hx) if lstm else hx.unsqueeze(1)
            if not batched:
                input = input.unsqueeze(bdim)
            self._check_input(input, 3)
            x = input.transpose(0, 1) if self.batch_first else input  # (T, B, In)
            T, B = x.shape[0], x.shape[1]
            if T == 0:
                raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
            batch_sizes = [B] * T
            x = x.reshape(T * B, self.input_size)
        h_shape = (self.num_layers * dirs, B, real)
        c_shape = (self.num_layers * dirs, B, self.hidden_size)
        if hx is None:
            h0 = C.zeros(h_shape, dtype=x.dtype, device=x.device)
            c0 = C.zeros(c_shape, dtype=x.dtype, device=x.device) if lstm else None
        elif lstm:
            h0, c0 = hx
            self._check_hidden(x, h0, h_shape, "Expected hidden[0] size {}, got {}")
            self._check_hidden(x, c0, c_shape, "Expected hidden[1] size {}, got {}")
        else:
            h0, c0 = hx, None
            self._check_hidden(x, h0, h_shape, "Expected hidden size {}, got {}")
        if packed and sorted_indices is not None and hx is not None:
            # the caller's states follow the caller's batch order; the packed rows are sorted
            h0 = h0.index_select(1, sorted_indices)
            c0 = None if c0 is None else c0.index_select(1, sorted_indices)

        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                w = tuple(None if n is None else getattr(self, n) for n in self._cells[k])
                out, h, c = _direction(self.mode, x, batch_sizes, h0[k],
                                       None if c0 is None else c0[k], w, d == 1)
                outs.append(out)
                hs.append(h)
                cs.append(c)
            x = outs[0] if dirs == 1 else cat(outs, 1)
            if self.dropout and self.training and layer + 1 < self.num_layers:
                x = F.dropout(x, self.dropout, True)
        h_n = stack(hs, 0)
        c_n = stack(cs, 0) if lstm else None

        if packed:
            if unsorted_indices is not None:
                h_n = h_n.index_select(1, unsorted_indices)
                c_n = None if c_n is None else c_n.index_select(1, unsorted_indices)
            out = PackedSequence(x, batch_sizes_t, sorted_indices, unsorted_indices)
        else:
            out = x.reshape(T, B, dirs * real)
            if self.batch_first:
                out = out.transpose(0, 1)
            if not batched:
                out = out.squeeze(bdim)
                h_n = h_n.squeeze(1)
                c_n = None if c_n is None else c_n.squeeze(1)
        return out, ((h_n, c_n) if lstm else h_n)


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` with ``act`` tanh or
    relu (``nonlinearity``), stacked ``num_layers`` deep, optionally bidirectional. Input
    (L, N, H_in) (``batch_first``: (N, L, H_in)), (L, H_in) unbatched, or a PackedSequence;
    returns ``(output, h_n)``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> rnn = nn.RNN(10, 20, 2)
    >>> output, h_n = rnn(torch.randn(5, 3, 10), torch.randn(2, 3, 20))
    >>> output.shape, h_n.shape
    (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None,
                 **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if kwargs:
            raise TypeError(f"RNN.__init__() got an unexpected keyword argument "
                            f"'{next(iter(kwargs))}'")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's equations (gates i, f, g, o):
    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``, with ``proj_size > 0``
    ``h_t = (o * tanh(c_t)) W_hr^T``. Input as for :class:`RNN`; returns
    ``(output, (h_n, c_n))``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> lstm = nn.LSTM(10, 20, batch_first=True, proj_size=5)
    >>> output, (h_n, c_n) = lstm(torch.randn(3, 7, 10))
    >>> output.shape, h_n.shape, c_n.shape
    (torch.Size([3, 7, 5]), torch.Size([1, 3, 5]), torch.Size([1, 3, 20]))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's equations (gates r, z, n):
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h_t = (1 - z) * n + z * h_{t-1}``.
    Input as for :class:`RNN`; returns ``(output, h_n)``.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> gru = nn.GRU(10, 20, num_layers=2, bidirectional=True)
    >>> output, h_n = gru(torch.randn(5, 10))  # unbatched: (L, H_in)
    >>> output.shape, h_n.shape
    (torch.Size([5, 40]), torch.Size([4, 20]))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if kwargs:
            raise TypeError(f"GRU.__init__() got an unexpected keyword argument "
                            f"'{next(iter(kwargs))}'")
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)


# --------------------------------------------------------------------------------------------
# cells: one time step
# --------------------------------------------------------------------------------------------
class RNNCellBase(Module):
    """What the cells share: ``weight_ih`` (chunks * hidden, input), ``weight_hh``
    (chunks * hidden, hidden), ``bias_ih``/``bias_hh`` (chunks * hidden), all from
    U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), and the input checks.

    >>> from numtorch import nn
    >>> isinstance(nn.GRUCell(2, 3), nn.RNNCellBase), nn.GRUCell(2, 3).weight_ih.shape
    (True, torch.Size([9, 2]))
    """

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(C.empty(num_chunks * hidden_size, input_size, device=device,
                                           dtype=dtype))
        self.weight_hh = Parameter(C.empty(num_chunks * hidden_size, hidden_size, device=device,
                                           dtype=dtype))
        if bias:
            self.bias_ih = Parameter(C.empty(num_chunks * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(C.empty(num_chunks * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _prepare(self, input, states):
        """Checks in PyTorch's words; ``input`` as (B, input_size) and each state of ``states``
        (None: zeros) as (B, hidden_size). Returns (input, states, batched)."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        for k, s in enumerate(states):
            if s is not None and s.ndim not in (1, 2):
                what = f"hx[{k}]" if len(states) > 1 else "hidden"
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {s.ndim}D instead")
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)
        B = input.shape[0]
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} "
                               f"expected {self.input_size}")
        w = self.weight_ih
        if input.dtype is not w.dtype or input.device != w.device:
            raise RuntimeError(f"{name}: expected input of dtype {w.dtype} on {w.device} (the "
                               f"weights'), got {input.dtype} on {input.device}")
        out = []
        for k, s in enumerate(states):
            if s is None:
                s = C.zeros(B, self.hidden_size, dtype=input.dtype, device=input.device)
            elif not batched:
                s = s.unsqueeze(0)
            if s.shape[0] != B:
                raise RuntimeError(f"Input batch size {B} doesn't match hidden{k} batch size "
                                   f"{s.shape[0]}")
            if s.shape[1] != self.hidden_size:
                raise RuntimeError(f"hidden{k} has inconsistent hidden_size: got {s.shape[1]}, "
                                   f"expected {self.hidden_size}")
            if s.dtype is not input.dtype or s.device != input.device:
                raise RuntimeError(f"{name}: expected hidden{k} of dtype {input.dtype} on "
                                   f"{input.device}, got {s.dtype} on {s.device}")
            out.append(s)
        return input, out, batched


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``, ``act`` tanh or relu.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> cell = nn.RNNCell(10, 20, nonlinearity="relu")
    >>> cell(torch.randn(3, 10), torch.randn(3, 20)).shape
    torch.Size([3, 20])
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, 1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, (hx,))
        pre = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh,
                                                                   self.bias_hh)
        if self.nonlinearity == "tanh":
            h = pre.tanh()
        elif self.nonlinearity == "relu":
            h = pre.relu()
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: ``(h', c') = cell(x, (h, c))`` (gates i, f, g, o as in :class:`LSTM`);
    the pointwise part runs as one fused kernel.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> cell = nn.LSTMCell(10, 20)
    >>> h, c = cell(torch.randn(3, 10))
    >>> h.shape, c.shape
    (torch.Size([3, 20]), torch.Size([3, 20]))
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, (h, c), batched = self._prepare(input, (None, None) if hx is None else tuple(hx))
        b = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        h, c = FusedLSTMCell.apply(F.linear(x, self.weight_ih, b), h @ self.weight_hh.t(), c)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step: ``h' = cell(x, h)`` (gates r, z, n as in :class:`GRU`); the pointwise part
    runs as one fused kernel.

    >>> import numtorch as torch
    >>> from numtorch import nn
    >>> cell = nn.GRUCell(10, 20)
    >>> cell(torch.randn(10)).shape  # unbatched
    torch.Size([20])
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, (hx,))
        h = FusedGRUCell.apply(F.linear(x, self.weight_ih, self.bias_ih),
                               h @ self.weight_hh.t(), self.bias_hh, h)
        return h if batched else h.squeeze(0)
