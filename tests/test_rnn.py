"""Recurrent layers (numtorch.nn.RNN/LSTM/GRU and their cells, over the fused cells of
numtorch.ops.rnn) and numtorch.nn.utils.rnn against torch on the same weights.

``run_pair`` builds a torch module and a numtorch one with the torch module's state_dict, runs
both on the same input and initial states (padded, or packed from random lengths), and compares
the output, the final states and the gradients of a random weighted sum of them with respect
to the input, the initial states and every parameter. ``LAYER_CASES`` covers every option (mode,
layers, bidirectional, batch_first, packed, proj_size, bias, given or zero states, both dtypes)
with a few cases rather than the full product.
"""
import doctest

import numpy as np
import pytest

import numtorch
from numtorch import nn
from numtorch.nn.utils import rnn as R

torch = pytest.importorskip("torch")
TR = torch.nn.utils.rnn
# torch's own CPU kernels (oneDNN) decline projections and say so on every call
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")

TOL = {"float32": dict(rtol=1e-5, atol=2e-6), "float64": dict(rtol=1e-10, atol=1e-12)}
CLASSES = {"LSTM": (nn.LSTM, torch.nn.LSTM), "GRU": (nn.GRU, torch.nn.GRU),
           "RNN": (nn.RNN, torch.nn.RNN)}


def nt(a, grad=False):
    return numtorch.tensor(np.array(a), requires_grad=grad)


def th(a, grad=False):
    return torch.tensor(np.array(a), requires_grad=grad)


def npy(t):
    return t.detach().cpu().numpy()


def close(a, b, dt, what=""):
    assert tuple(a.shape) == tuple(b.shape), what
    np.testing.assert_allclose(npy(a), npy(b), err_msg=what, **TOL[dt])


def torch_to_numtorch(src, dst):
    dst.load_state_dict({k: numtorch.tensor(npy(v)) for k, v in src.state_dict().items()})


def numtorch_to_torch(src, dst):
    dst.load_state_dict({k: torch.from_numpy(npy(v).copy()) for k, v in src.state_dict().items()})


def pair(kind, dt, **kw):
    torch.manual_seed(0)
    tm = CLASSES[kind][1](**kw).to(getattr(torch, dt))
    m = CLASSES[kind][0](**kw).to(getattr(numtorch, dt))
    torch_to_numtorch(tm, m)
    return m, tm


def run_pair(kind, dt, packed=False, states=True, lengths=None, T=4, B=3, seed=0, train=False,
             **kw):
    """Forward and backward of a weighted sum of every output through both modules; compares
    everything. Returns the two modules."""
    rng = np.random.default_rng(seed)
    m, tm = pair(kind, dt, **kw)
    m.train(train)
    tm.train(train)
    bf = kw.get("batch_first", False)
    dirs = 2 if kw.get("bidirectional") else 1
    L, H = kw.get("num_layers", 1), kw["hidden_size"]
    P = kw.get("proj_size", 0) or H
    x = rng.standard_normal((B, T, kw["input_size"]) if bf else (T, B, kw["input_size"])).astype(dt)
    hs = [rng.standard_normal((L * dirs, B, P)).astype(dt)]
    if kind == "LSTM":
        hs.append(rng.standard_normal((L * dirs, B, H)).astype(dt))
    res = {}
    for lib, mod, mk in (("nt", m, nt), ("th", tm, th)):
        xi = mk(x, True)
        h0 = [mk(h, True) for h in hs] if states else None
        inp = xi
        if packed:
            pk = R if lib == "nt" else TR
            inp = pk.pack_padded_sequence(xi, lengths, batch_first=bf,
                                          enforce_sorted=list(lengths) == sorted(lengths)[::-1])
        hx = None if h0 is None else (tuple(h0) if kind == "LSTM" else h0[0])
        out, hn = mod(inp, hx)
        if packed:
            assert type(out).__name__ == "PackedSequence"
            out, lens = (R if lib == "nt" else TR).pad_packed_sequence(out, batch_first=bf)
            assert list(lens.tolist()) == list(lengths)
        finals = list(hn) if kind == "LSTM" else [hn]
        res[lib] = (mod, xi, h0, out, finals)
    wts = [rng.standard_normal(tuple(t.shape)).astype(dt) for t in [res["th"][3]] + res["th"][4]]
    for lib, mk in (("nt", nt), ("th", th)):
        _, _, _, out, finals = res[lib]
        sum((o * mk(w)).sum() for o, w in zip([out] + finals, wts)).backward()
    (m, xa, ha, outa, fa), (tm, xb, hb, outb, fb) = res["nt"], res["th"]
    close(outa, outb, dt, "output")
    for a, b in zip(fa, fb):
        close(a, b, dt, "final state")
    close(xa.grad, xb.grad, dt, "input grad")
    for a, b in zip(ha or [], hb or []):
        close(a.grad, b.grad, dt, "initial state grad")
    tp = dict(tm.named_parameters())
    names = [n for n, _ in m.named_parameters()]
    assert names == list(tp)
    for n, p in m.named_parameters():
        close(p.grad, tp[n].grad, dt, f"grad of {n}")
    return m, tm


LAYER_CASES = [  # (kind, dtype, packed, states, kwargs)
    ("LSTM", "float64", False, True, dict(num_layers=1)),
    ("LSTM", "float32", True, True, dict(num_layers=2, bidirectional=True, batch_first=True,
                                         proj_size=2)),
    ("LSTM", "float64", True, False, dict(num_layers=2, proj_size=3, bias=False)),
    ("LSTM", "float32", False, False, dict(bidirectional=True, batch_first=True)),
    ("GRU", "float64", True, True, dict(num_layers=2, bidirectional=True)),
    ("GRU", "float32", False, True, dict(batch_first=True, bias=False)),
    ("GRU", "float32", True, False, dict(num_layers=2, batch_first=True)),
    ("RNN", "float64", False, True, dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("RNN", "float32", True, True, dict(nonlinearity="relu", bidirectional=True)),
    ("RNN", "float64", True, False, dict(nonlinearity="relu", num_layers=2, bias=False,
                                         batch_first=True)),
]


@pytest.mark.parametrize("kind,dt,packed,states,kw", LAYER_CASES,
                         ids=[f"{c[0]}-{c[1]}-{'packed' if c[2] else 'padded'}-{i}"
                              for i, c in enumerate(LAYER_CASES)])
def test_layer_matches_torch(kind, dt, packed, states, kw):
    # packed: unsorted lengths with a tie (enforce_sorted=False), or sorted ones
    lengths = [2, 4, 2] if kw.get("bidirectional") else [4, 3, 1]
    run_pair(kind, dt, packed=packed, states=states, lengths=lengths, input_size=3,
             hidden_size=5, **kw)


def test_dropout_between_layers():
    # p = 1 zeroes what the second layer sees (deterministic, so comparable with torch)
    run_pair("LSTM", "float64", train=True, input_size=3, hidden_size=4, num_layers=2,
             dropout=1.0)
    # evaluation mode: no dropout
    run_pair("GRU", "float64", train=False, input_size=3, hidden_size=4, num_layers=2,
             dropout=0.5)
    # training with 0 < p < 1: the second layer's input is masked and rescaled
    m = nn.GRU(3, 4, num_layers=2, dropout=0.5).double()
    x = numtorch.randn(6, 2, 3, dtype=numtorch.float64)
    numtorch.manual_seed(1)
    out_train = m(x)[0]
    m.eval()
    assert not np.allclose(npy(out_train), npy(m(x)[0]))
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.2)


@pytest.mark.parametrize("kind,kw", [("LSTM", dict(proj_size=2, bidirectional=True)),
                                     ("GRU", dict(batch_first=True)), ("RNN", {})])
def test_unbatched_input_matches_torch(kind, kw):
    rng = np.random.default_rng(3)
    dt = "float64"
    m, tm = pair(kind, dt, input_size=3, hidden_size=4, **kw)
    dirs = 2 if kw.get("bidirectional") else 1
    x = rng.standard_normal((5, 3))
    h = [rng.standard_normal((dirs, kw.get("proj_size") or 4))]
    if kind == "LSTM":
        h.append(rng.standard_normal((dirs, 4)))
    outs = []
    for mod, mk in ((m, nt), (tm, th)):
        hx = tuple(mk(a) for a in h) if kind == "LSTM" else mk(h[0])
        out, hn = mod(mk(x), hx)
        outs.append([out] + (list(hn) if kind == "LSTM" else [hn]))
        out0, hn0 = mod(mk(x))  # zero states
        outs[-1] += [out0] + (list(hn0) if kind == "LSTM" else [hn0])
    for a, b in zip(*outs):
        close(a, b, dt)


@pytest.mark.parametrize("kind,kw", [("LSTM", dict(proj_size=2)), ("GRU", {}), ("RNN", {}),
                                     ("LSTM", dict(bidirectional=True, num_layers=2))])
@pytest.mark.parametrize("chunk", [2, 16])
def test_recurrent_weight_gradients_over_partial_and_repeated_backward(kind, kw, chunk,
                                                                        monkeypatch):
    # the recurrent weights' gradients are gathered over the steps, formed a chunk of steps at
    # a time and returned by the first step's backward (RecurrentProduct): a loss that reaches
    # only some steps, a second backward through the same graph, frozen input weights
    from numtorch.ops.rnn import RecurrentGrad
    monkeypatch.setattr(RecurrentGrad, "CHUNK", chunk)
    m, tm = pair(kind, "float64", input_size=3, hidden_size=4, **kw)
    m.weight_ih_l0.requires_grad_(False)
    tm.weight_ih_l0.requires_grad_(False)
    x = np.random.default_rng(1).standard_normal((6, 2, 3))
    grads = {}
    for lib, mod, mk in (("nt", m, nt), ("th", tm, th)):
        out = mod(mk(x))[0]
        out[2].sum().backward(retain_graph=True)
        first = {n: npy(p.grad).copy() for n, p in mod.named_parameters() if p.grad is not None}
        (out[5] ** 2).sum().backward()
        grads[lib] = first, {n: npy(p.grad) for n, p in mod.named_parameters()
                             if p.grad is not None}
    for a, b in zip(grads["nt"], grads["th"]):
        assert sorted(a) == sorted(b)
        for n in a:
            np.testing.assert_allclose(a[n], b[n], err_msg=n, **TOL["float64"])


def test_output_layout_and_graph_size():
    # batch_first output is a transposed view, like torch's; an LSTM layer is one node whatever
    # the length; elsewhere each step adds the recurrent matmul and the fused cell to the graph,
    # nothing else (an LSTM with projections: its step as one node, and the projection's matmul)
    m = nn.LSTM(2, 3, batch_first=True)
    out, _ = m(numtorch.randn(2, 4, 2))
    assert not out.is_contiguous() and tuple(out.stride()) == (3, 6, 1)

    def nodes(mod, T):
        out, hn = mod(numtorch.randn(T, 2, 2, requires_grad=True))
        seen, todo = set(), [out.grad_fn]
        while todo:
            n = todo.pop()
            if n is None or id(n) in seen:
                continue
            seen.add(id(n))
            todo.extend(e[0] for e in n.next_edges if e is not None)
        return len(seen)

    for mod, per_step in ((nn.LSTM(2, 3), 0), (nn.GRU(2, 3), 2), (nn.LSTM(2, 3, proj_size=2), 2),
                          (nn.RNN(2, 3), 3)):
        assert nodes(mod, 9) - nodes(mod, 5) == 4 * per_step, mod


CELL_CASES = [("LSTMCell", "float32", True, True, True),
              ("LSTMCell", "float64", False, False, True),
              ("LSTMCell", "float64", True, True, False), ("GRUCell", "float32", True, True, True),
              ("GRUCell", "float64", False, True, False), ("GRUCell", "float64", True, False, True),
              ("RNNCell", "float32", True, True, True), ("RNNCell", "float64", False, True, False)]


@pytest.mark.parametrize("name,dt,batched,states,bias", CELL_CASES)
def test_cell_matches_torch(name, dt, batched, states, bias):
    rng = np.random.default_rng(4)
    kw = dict(nonlinearity="relu") if name == "RNNCell" and not batched else {}
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(3, 4, bias=bias, **kw).to(getattr(torch, dt))
    m = getattr(nn, name)(3, 4, bias=bias, **kw).to(getattr(numtorch, dt))
    numtorch_to_torch(m, tm)  # this direction here: the layers test the other one
    lead = (2,) if batched else ()
    x = rng.standard_normal(lead + (3,)).astype(dt)
    hs = [rng.standard_normal(lead + (4,)).astype(dt)
          for _ in range(2 if name == "LSTMCell" else 1)]
    got = []
    for mod, mk in ((m, nt), (tm, th)):
        xi, hi = mk(x, True), [mk(h, True) for h in hs]
        hx = (tuple(hi) if name == "LSTMCell" else hi[0]) if states else None
        out = mod(xi, hx)
        outs = list(out) if name == "LSTMCell" else [out]
        sum((o * mk(np.linspace(-1, 1, o.numel()).reshape(o.shape).astype(dt))).sum()
            for o in outs).backward()
        got.append(outs + [xi.grad] + ([h.grad for h in hi] if states else [])
                   + [p.grad for p in mod.parameters()])
    for a, b in zip(*got):
        close(a, b, dt)


def test_gradcheck_cells():
    rng = np.random.default_rng(5)
    x = numtorch.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    h = numtorch.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    c = numtorch.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    for cell, fn in ((nn.LSTMCell(3, 2), lambda m, x, h, c: m(x, (h, c))),
                     (nn.GRUCell(3, 2), lambda m, x, h, c: m(x, h)),
                     (nn.RNNCell(3, 2), lambda m, x, h, c: m(x, h))):
        cell = cell.double()
        ps = list(cell.parameters())
        assert numtorch.autograd.gradcheck(lambda x, h, c, *p: fn(cell, x, h, c), (x, h, c, *ps))


def test_gradcheck_layers():
    rng = np.random.default_rng(6)
    x = numtorch.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    # LSTM: bidirectional, projected, packed (lengths 3 and 2: rows end and start mid-loop)
    m = nn.LSTM(2, 3, bidirectional=True, proj_size=1).double()
    h0 = numtorch.tensor(rng.standard_normal((2, 2, 1)), requires_grad=True)
    c0 = numtorch.tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)

    def lstm(x, h0, c0, *p):
        out, (h, c) = m(R.pack_padded_sequence(x, [3, 2]), (h0, c0))
        return out.data, h, c

    assert numtorch.autograd.gradcheck(lstm, (x, h0, c0, *m.parameters()))
    g = nn.GRU(2, 2, batch_first=True).double()
    h1 = numtorch.tensor(rng.standard_normal((1, 3, 2)), requires_grad=True)
    assert numtorch.autograd.gradcheck(lambda x, h, *p: g(x, h), (x, h1, *g.parameters()))


@pytest.mark.parametrize("kind,kw", [("LSTM", dict(num_layers=2, bidirectional=True,
                                                   proj_size=2)),
                                     ("GRU", dict(bias=False)), ("RNN", dict(bidirectional=True))])
def test_state_dict_round_trip(kind, kw):
    dt = "float32"
    torch.manual_seed(0)
    tm = CLASSES[kind][1](3, 4, **kw)
    m = CLASSES[kind][0](3, 4, **kw)
    sd, tsd = m.state_dict(), tm.state_dict()
    assert list(sd) == list(tsd)
    assert all(tuple(sd[k].shape) == tuple(tsd[k].shape) for k in sd)
    assert repr(m) == repr(tm)
    # PyTorch's initialisation: every weight and bias in U(-1/sqrt(hidden), 1/sqrt(hidden))
    for p in m.parameters():
        assert np.abs(npy(p)).max() <= 0.5 and np.abs(npy(p)).max() > 0.2
    assert [[tuple(p.shape) for p in ws] for ws in m.all_weights] == \
        [[tuple(p.shape) for p in ws] for ws in tm.all_weights]
    m.flatten_parameters()
    x = np.random.default_rng(7).standard_normal((4, 2, 3)).astype(dt)
    numtorch_to_torch(m, tm)  # numtorch -> torch
    close(m(nt(x))[0], tm(th(x))[0], dt)
    for p in tm.parameters():  # torch -> numtorch, new values
        p.data.uniform_(-0.3, 0.3)
    torch_to_numtorch(tm, m)
    close(m(nt(x))[0], tm(th(x))[0], dt)
    # a checkpoint written by numtorch.save loads into the torch module
    import io
    buf = io.BytesIO()
    numtorch.save(m.state_dict(), buf)
    buf.seek(0)
    tm.load_state_dict(torch.load(buf))
    close(m(nt(x))[0], tm(th(x))[0], dt)


def test_cuda_matches_cpu():
    # the fused cells and the packed loop on device memory (small: the simulator runs every
    # matmul thread by thread); the kernels themselves are covered in tests/kernels/test_rnn.py
    if not numtorch.cuda.is_available():
        pytest.skip("no CUDA device or simulator")
    from numtorch.ops.rnn import FusedGRUCell
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 2)).astype("float32")
    m = nn.LSTM(2, 3)
    xc, xg = nt(x, True), numtorch.tensor(x, device="cuda", requires_grad=True)
    out = m(R.pack_padded_sequence(xc, [2, 1]))[0].data
    out.sum().backward()
    grads = [npy(p.grad) for p in m.parameters()]
    m.zero_grad()
    og = m.cuda()(R.pack_padded_sequence(xg, [2, 1]))[0].data
    assert og.device.type == "cuda"
    og.sum().backward()
    close(og, out, "float32")
    close(xg.grad, xc.grad, "float32")
    for g, p in zip(grads, m.parameters()):
        np.testing.assert_allclose(npy(p.grad), g, **TOL["float32"])
    # GRU's cell: the hidden bias and its gradient (a sum over rows) on the device
    args = [rng.standard_normal(s).astype("float32") for s in ((2, 6), (2, 6), (6,), (2, 2))]
    res = []
    for dev in ("cpu", "cuda"):
        ts = [numtorch.tensor(a, device=dev, requires_grad=True) for a in args]
        h = FusedGRUCell.apply(*ts)
        (h * numtorch.tensor([[1.0, -2.0], [0.5, 3.0]], device=dev)).sum().backward()
        res.append([h] + [t.grad for t in ts])
    for a, b in zip(*res):
        close(a, b, "float32")


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def test_bad_input_errors_name_the_sizes():
    lstm, gru = nn.LSTM(10, 20), nn.GRU(10, 20, num_layers=2)
    with pytest.raises(RuntimeError, match=r"input.size\(-1\) must be equal to input_size. "
                                           r"Expected 10, got 7"):
        lstm(numtorch.randn(5, 3, 7))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 3, 20\), got "
                                           r"\[1, 2, 20\]"):
        lstm(numtorch.randn(5, 3, 10), (numtorch.zeros(1, 2, 20), numtorch.zeros(1, 3, 20)))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(1, 3, 20\), got "
                                           r"\[1, 3, 4\]"):
        lstm(numtorch.randn(5, 3, 10), (numtorch.zeros(1, 3, 20), numtorch.zeros(1, 3, 4)))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(2, 3, 20\), got \[1, 3, 20\]"):
        gru(numtorch.randn(5, 3, 10), numtorch.zeros(1, 3, 20))
    with pytest.raises(RuntimeError, match="hx should also be 3-D but got 2-D tensor"):
        gru(numtorch.randn(5, 3, 10), numtorch.zeros(3, 20))
    with pytest.raises(RuntimeError, match=r"hx and cx should also be 2-D but got \(3-D, 2-D\)"):
        lstm(numtorch.randn(5, 10), (numtorch.zeros(1, 1, 20), numtorch.zeros(1, 20)))
    with pytest.raises(TypeError, match=r"hx must be a tuple \(h_0, c_0\) of tensors, got Tensor"):
        lstm(numtorch.randn(5, 3, 10), numtorch.zeros(1, 3, 20))
    with pytest.raises(ValueError, match="LSTM: Expected input to be 2D or 3D, got 4D instead"):
        lstm(numtorch.randn(1, 5, 3, 10))
    with pytest.raises(ValueError, match=r"RNN input dtype \(torch.float64\) does not match "
                                         r"weight dtype \(torch.float32\)"):
        lstm(numtorch.randn(5, 3, 10, dtype=numtorch.float64))
    with pytest.raises(RuntimeError, match="not the same dtype"):
        gru(numtorch.randn(5, 3, 10), numtorch.zeros(2, 3, 20, dtype=numtorch.float64))
    with pytest.raises(RuntimeError, match="Expected sequence length to be larger than 0"):
        lstm(numtorch.randn(0, 3, 10))
    with pytest.raises(RuntimeError, match="input must have 2 dimensions, got 3"):
        lstm(R.PackedSequence(numtorch.randn(4, 1, 10), numtorch.tensor([2, 2])))
    with pytest.raises(RuntimeError, match=r"batch_sizes \[2, 3\] must be positive, "
                                           "non-increasing and sum to the 5 rows"):
        lstm(R.PackedSequence(numtorch.randn(5, 10), numtorch.tensor([2, 3])))
    cell = nn.LSTMCell(4, 3)
    with pytest.raises(RuntimeError, match="input has inconsistent input_size: got 5 expected 4"):
        cell(numtorch.randn(2, 5))
    with pytest.raises(RuntimeError, match="Input batch size 2 doesn't match hidden0 batch size 3"):
        cell(numtorch.randn(2, 4), (numtorch.randn(3, 3), numtorch.randn(2, 3)))
    with pytest.raises(RuntimeError, match="hidden1 has inconsistent hidden_size: got 2, "
                                           "expected 3"):
        cell(numtorch.randn(2, 4), (numtorch.randn(2, 3), numtorch.randn(2, 2)))
    with pytest.raises(ValueError, match="GRUCell: Expected input to be 1D or 2D, got 3D"):
        nn.GRUCell(4, 3)(numtorch.randn(1, 2, 4))
    with pytest.raises(RuntimeError, match="Unknown nonlinearity: gelu"):
        nn.RNNCell(4, 3, nonlinearity="gelu")(numtorch.randn(2, 4))


def test_constructor_errors():
    for kw, exc, msg in ((dict(proj_size=4), ValueError, "proj_size has to be smaller"),
                         (dict(proj_size=-1), ValueError, "proj_size should be a positive"),
                         (dict(dropout=1.5), ValueError, "dropout should be a number in range"),
                         (dict(num_layers=0), ValueError, "num_layers must be greater than zero"),
                         (dict(bias=1), TypeError, "bias should be of type bool, got: int")):
        with pytest.raises(exc, match=msg):
            nn.LSTM(3, 4, **kw)
    with pytest.raises(TypeError, match="hidden_size should be of type int, got: float"):
        nn.GRU(3, 4.0)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        nn.RNN(3, 4, nonlinearity="gelu")


def test_fused_cells_refuse_what_kernels_cannot_index():
    from numtorch.ops.rnn import FusedGRUCell, FusedLSTMCell
    with pytest.raises(RuntimeError, match=r"expected the hidden gates of shape \[2, 12\], got "
                                           r"\[2, 8\]"):
        FusedLSTMCell.apply(numtorch.zeros(2, 12), numtorch.zeros(2, 8), numtorch.zeros(2, 3))
    with pytest.raises(RuntimeError, match=r"expected bias_hh of shape \[9\], got \[6\]"):
        FusedGRUCell.apply(numtorch.zeros(2, 9), numtorch.zeros(2, 9), numtorch.zeros(6),
                           numtorch.zeros(2, 3))
    with pytest.raises(RuntimeError, match="expected float32 or float64 tensors, got "
                                           "torch.int64"):
        FusedGRUCell.apply(*(numtorch.zeros(2, n, dtype=numtorch.int64) for n in (9, 9)), None,
                           numtorch.zeros(2, 3, dtype=numtorch.int64))


# --------------------------------------------------------------------------------------------
# nn.utils.rnn
# --------------------------------------------------------------------------------------------
def _seqs(rng, lens, mk, grad=False):
    return [mk(rng.standard_normal((n, 2)), grad) for n in lens]


@pytest.mark.parametrize("batch_first,side,value", [(False, "right", 0.0), (True, "left", -1.5)])
def test_pad_sequence_and_unpad(batch_first, side, value):
    rng = np.random.default_rng(9)
    lens = [2, 4, 1]
    a = _seqs(rng, lens, nt, True)
    b = [th(npy(s), True) for s in a]
    pa = R.pad_sequence(a, batch_first, value, side)
    pb = TR.pad_sequence(b, batch_first, value, side)
    close(pa, pb, "float64")
    w = rng.standard_normal(tuple(pb.shape))
    (pa * nt(w)).sum().backward()
    (pb * th(w)).sum().backward()
    for sa, sb in zip(a, b):
        close(sa.grad, sb.grad, "float64")
    if side == "right":
        for ua, ub in zip(R.unpad_sequence(pa, numtorch.tensor(lens), batch_first),
                          TR.unpad_sequence(pb, torch.tensor(lens), batch_first)):
            close(ua, ub, "float64")


@pytest.mark.parametrize("batch_first,lengths,sorted_", [(False, [4, 3, 3, 1], True),
                                                         (True, [2, 4, 1, 4], False)])
def test_pack_and_pad_packed(batch_first, lengths, sorted_):
    rng = np.random.default_rng(10)
    T, B = max(lengths), len(lengths)
    x = rng.standard_normal((B, T, 2) if batch_first else (T, B, 2))
    xa, xb = nt(x, True), th(x, True)
    lens_a = lengths if sorted_ else numtorch.tensor(lengths)  # a list, or a CPU tensor
    pa = R.pack_padded_sequence(xa, lens_a, batch_first, enforce_sorted=sorted_)
    pb = TR.pack_padded_sequence(xb, lengths, batch_first, enforce_sorted=sorted_)
    close(pa.data, pb.data, "float64")
    for f in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        va, vb = getattr(pa, f), getattr(pb, f)
        assert (va is None) == (vb is None), f
        if va is not None:
            assert va.tolist() == vb.tolist() and va.dtype == numtorch.int64, f
    assert pa.batch_sizes.device.type == "cpu"
    qa, la = R.pad_packed_sequence(pa, batch_first, padding_value=2.5, total_length=T + 1)
    qb, lb = TR.pad_packed_sequence(pb, batch_first, padding_value=2.5, total_length=T + 1)
    close(qa, qb, "float64")
    assert la.tolist() == lb.tolist() == lengths
    w = rng.standard_normal(tuple(qb.shape))
    (qa * nt(w)).sum().backward()
    (qb * th(w)).sum().backward()
    close(xa.grad, xb.grad, "float64")
    for ua, ub in zip(R.unpack_sequence(pa), TR.unpack_sequence(pb)):
        close(ua, ub, "float64")


def test_pack_sequence_and_packed_sequence_api():
    rng = np.random.default_rng(11)
    a = _seqs(rng, [3, 1, 2], nt)
    b = [th(npy(s)) for s in a]
    pa, pb = R.pack_sequence(a, enforce_sorted=False), TR.pack_sequence(b, enforce_sorted=False)
    close(pa.data, pb.data, "float64")
    assert pa._fields == pb._fields and isinstance(pa, tuple)
    data, batch_sizes, sorted_indices, unsorted_indices = pa
    assert batch_sizes.tolist() == [3, 2, 1] and unsorted_indices.tolist() == [0, 2, 1]
    pf = pa.float()
    assert pf.data.dtype == numtorch.float32 and pf.batch_sizes is pa.batch_sizes
    assert pa.to(numtorch.float64) is pa and not pa.is_cuda
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        R.pack_sequence(a)


def test_utils_errors():
    x = numtorch.randn(4, 3, 2)
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        R.pack_padded_sequence(x, [4, 3, 0])
    with pytest.raises(RuntimeError, match=r"Expected `len\(lengths\)` to be equal to "
                                           r"batch_size, but got 2 \(batch_size=3\)"):
        R.pack_padded_sequence(x, [4, 3], enforce_sorted=False)
    with pytest.raises(RuntimeError, match="a length of 5 exceeds the 4 steps"):
        R.pack_padded_sequence(x, [5, 3, 1])
    with pytest.raises(RuntimeError, match="should be a 1D CPU int64 tensor, but got 2D"):
        R.pack_padded_sequence(x, numtorch.tensor([[4, 3, 1]]))
    with pytest.raises(ValueError, match="Expected total_length to be at least the length of "
                                         "the longest sequence in input, but got "
                                         "total_length=3 and max sequence length being 4"):
        R.pad_packed_sequence(R.pack_padded_sequence(x, [4, 3, 1]), total_length=3)
    with pytest.raises(RuntimeError, match="Expected padding_side to be one of left or right"):
        R.pad_sequence([numtorch.ones(2)], padding_side="up")
    with pytest.raises(RuntimeError, match="received an empty list of sequences"):
        R.pad_sequence([])
    with pytest.raises(RuntimeError, match=r"sequence 1 has shape \[2, 4\]"):
        R.pad_sequence([numtorch.ones(2, 3), numtorch.ones(2, 4)])


def test_utils_rnn_docstring_examples():
    # numtorch.nn.utils.rnn is a submodule the docstring test's namespaces do not reach
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    tests = [t for t in finder.find(R, "numtorch.nn.utils.rnn", globs={}) if t.examples]
    assert len(tests) >= 8
    for t in tests:
        runner.run(t)
    assert runner.failures == 0
