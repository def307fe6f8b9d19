"""float16 and bfloat16 through the ops: stored in 16 bits, computed in float32 (the CPU
kernels' storage-dtype rule, kernels/policy.py), results of the input's dtype as in PyTorch.

Each row runs on float16 and bfloat16 inputs and is checked against the same op on the float32
values, rounded to the dtype, and against PyTorch where it is installed (its CPU half kernels
also compute in float32, so both agree to the dtype's rounding)."""
import ml_dtypes
import numpy as np
import pytest

import numtorch as nt
import numtorch.nn.functional as F

try:
    import torch
except ImportError:  # NumPy-only references then
    torch = None

HALF = ["float16", "bfloat16"]
#: a few units in the last place of each dtype (composites round between their kernels)
TOL = {"float16": 4e-3, "bfloat16": 3e-2}

ROWS = {
    "sum": lambda m, x, y: x.sum(),
    "mean": lambda m, x, y: x.mean(0),
    "amax": lambda m, x, y: x.max(1).values,
    "argmax": lambda m, x, y: x.argmax(1),
    "var": lambda m, x, y: x.var(1),
    "prod": lambda m, x, y: x.prod(1),
    "cumsum": lambda m, x, y: x.cumsum(1),
    "norm": lambda m, x, y: x.norm(),
    "matmul": lambda m, x, y: x @ y,
    "addmm": lambda m, x, y: m.addmm(m.ones(4, 3, dtype=x.dtype), x, y),
    "bmm": lambda m, x, y: m.bmm(x[None], y[None]),
    "linear": lambda m, x, y: F.linear(x, y.t()) if m is nt else m.nn.functional.linear(x, y.t()),
    "softmax": lambda m, x, y: x.softmax(-1),
    "log_softmax": lambda m, x, y: x.log_softmax(-1),
    "layer_norm": lambda m, x, y: m.nn.functional.layer_norm(x, (5,)),
    "gelu": lambda m, x, y: m.nn.functional.gelu(x),
    "cross_entropy": lambda m, x, y: m.nn.functional.cross_entropy(x, m.tensor([0, 1, 2, 3])),
    "clone": lambda m, x, y: x.clone(),
    "contiguous": lambda m, x, y: x.t().contiguous(),
    "cat": lambda m, x, y: m.cat([x, x], 1),
    "stack": lambda m, x, y: m.stack([x, x]),
    "index": lambda m, x, y: x[m.tensor([0, 2, 3])],
    "index_add": lambda m, x, y: m.zeros(4, 5, dtype=x.dtype).index_add(
        0, m.tensor([1, 1, 0, 2]), x),
    "where": lambda m, x, y: m.where(x > 0, x, m.zeros_like(x)),
    "masked_fill": lambda m, x, y: x.masked_fill(x > 0.5, float("-inf")),
    "embedding": lambda m, x, y: m.nn.functional.embedding(m.tensor([1, 0, 3]), x),
    "topk": lambda m, x, y: x.topk(2, 1).values,
    # Functions whose kernels take float32/float64 only (ops._core.Float32Compute)
    "conv1d": lambda m, x, y: m.nn.functional.conv1d(x[None], m.ones(2, 4, 3, dtype=x.dtype) / 4),
    "conv_transpose1d": lambda m, x, y: m.nn.functional.conv_transpose1d(
        x[None], m.ones(4, 2, 2, dtype=x.dtype) / 4),
    "max_pool1d": lambda m, x, y: m.nn.functional.max_pool1d(x[None], 2),
    "avg_pool1d": lambda m, x, y: m.nn.functional.avg_pool1d(x[None], 2),
    "adaptive_avg_pool1d": lambda m, x, y: m.nn.functional.adaptive_avg_pool1d(x[None], 2),
    "attention": lambda m, x, y: m.nn.functional.scaled_dot_product_attention(
        x[None], x[None], x[None], is_causal=True),
}


def _inputs(m, dtype):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((4, 5)).astype(np.float32)
    b = rng.standard_normal((5, 3)).astype(np.float32)
    return m.tensor(a).to(getattr(m, dtype)), m.tensor(b).to(getattr(m, dtype))


def _np(t):
    t = t.detach()
    return t.float().numpy() if t.dtype.is_floating_point else t.numpy()


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("name", list(ROWS))
def test_op_in_half_computes_in_float32(name, dtype):
    f = ROWS[name]
    x, y = _inputs(nt, dtype)
    got = f(nt, x, y)
    ref = f(nt, x.float(), y.float())  # the same values in float32
    want_dtype = x.dtype if ref.dtype is nt.float32 else ref.dtype
    assert got.dtype is want_dtype, (name, got.dtype)
    expect = _np(ref)
    if want_dtype is x.dtype:  # rounded once, as a float32 computation stored in 16 bits
        expect = expect.astype(getattr(ml_dtypes, dtype) if dtype == "bfloat16" else np.float16)
        expect = expect.astype(np.float32)
    np.testing.assert_allclose(_np(got), expect, rtol=TOL[dtype], atol=TOL[dtype])
    if torch is not None:
        t = f(torch, *_inputs(torch, dtype))
        assert str(t.dtype) == str(got.dtype)
        np.testing.assert_allclose(_np(got), _np(t), rtol=2 * TOL[dtype], atol=2 * TOL[dtype])


@pytest.mark.parametrize("dtype", HALF)
def test_recurrent_layers_in_half(dtype):
    dt = getattr(nt, dtype)
    nt.manual_seed(0)
    for cls in (nt.nn.LSTM, nt.nn.GRU):
        ref = cls(5, 3, batch_first=True)
        half = cls(5, 3, batch_first=True)
        half.load_state_dict(ref.state_dict())
        half.to(dt)
        x = nt.tensor(np.random.default_rng(2).standard_normal((2, 4, 5)).astype(np.float32))
        out, _ = half(x.to(dt))
        assert out.dtype is dt
        np.testing.assert_allclose(_np(out), _np(ref(x)[0]), atol=10 * TOL[dtype])
        out.float().sum().backward()
        assert all(p.grad.dtype is dt for p in half.parameters())


@pytest.mark.parametrize("dtype", HALF)
def test_training_step_in_half(dtype):
    """Linear -> GELU -> Linear -> cross-entropy, backward and an SGD step, all in the dtype:
    gradients keep the parameters' dtype and follow the float32 ones."""
    dt = getattr(nt, dtype)
    nt.manual_seed(0)
    net = nt.nn.Sequential(nt.nn.Linear(5, 8), nt.nn.GELU(), nt.nn.Linear(8, 3))
    ref = nt.nn.Sequential(nt.nn.Linear(5, 8), nt.nn.GELU(), nt.nn.Linear(8, 3))
    ref.load_state_dict(net.state_dict())
    net.to(dt)
    x = nt.tensor(np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32))
    target = nt.tensor([0, 1, 2, 0, 1, 2])
    for m, inp in ((net, x.to(dt)), (ref, x)):
        F.cross_entropy(m(inp), target).backward()
    for (k, p), q in zip(net.named_parameters(), ref.parameters()):
        assert p.dtype is dt and p.grad.dtype is dt, k
        np.testing.assert_allclose(_np(p.grad), q.grad.numpy(), rtol=0.1, atol=5 * TOL[dtype],
                                   err_msg=k)
    opt = nt.optim.SGD(net.parameters(), lr=0.5)
    before = [_np(p) for p in net.parameters()]
    opt.step()
    assert all(p.dtype is dt for p in net.parameters())
    assert any(not np.array_equal(b, _np(p)) for b, p in zip(before, net.parameters()))
