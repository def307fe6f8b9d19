"""nn.Module semantics and the thin layers, checked against PyTorch."""
import math

import numpy as np
import pytest

import numtorch as nt
import numtorch.nn as nn
import numtorch.nn.functional as F

torch = pytest.importorskip("torch")


def _tree(lib):
    class Block(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = lib.nn.Conv2d(1, 4, 3, padding=1)
            self.bn = lib.nn.BatchNorm2d(4)
            self.register_buffer("scale", lib.ones(1))
            self.register_buffer("tmp", lib.zeros(1), persistent=False)

    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = lib.nn.ModuleList([Block(), Block()])
            self.head = lib.nn.Sequential(lib.nn.Flatten(), lib.nn.Linear(4 * 4 * 4, 3))
            self.emb = lib.nn.Embedding(5, 2, padding_idx=0)
            self.extra = lib.nn.ParameterList([lib.nn.Parameter(lib.zeros(2))])
            self.tied = self.head[1]  # the same module twice: parameters listed once
    return Net()


def _copy_weights(src_torch, dst):
    dst.load_state_dict({k: nt.tensor(v.detach().numpy()) for k, v in src_torch.state_dict().items()})


def test_state_dict_keys_and_order_match_pytorch():
    a, b = _tree(nt), _tree(torch)
    assert list(a.state_dict().keys()) == list(b.state_dict().keys())
    assert [n for n, _ in a.named_parameters()] == [n for n, _ in b.named_parameters()]
    assert [n for n, _ in a.named_buffers()] == [n for n, _ in b.named_buffers()]
    assert [n for n, _ in a.named_modules()] == [n for n, _ in b.named_modules()]
    assert [n for n, _ in a.named_children()] == [n for n, _ in b.named_children()]
    assert repr(a) == repr(b)


def test_load_state_dict_strict_and_non_strict():
    a, b = _tree(nt), _tree(torch)
    _copy_weights(b, a)
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(x.numpy(), y.detach().numpy(), err_msg=k)
    sd = a.state_dict()
    sd.pop("head.1.bias")
    sd["junk"] = nt.zeros(1)
    with pytest.raises(RuntimeError, match='(?s)Missing key.*"head.1.bias".*Unexpected key.*"junk"'):
        a.load_state_dict(sd)
    res = a.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["head.1.bias"] and res.unexpected_keys == ["junk"]
    sd = a.state_dict()
    sd["head.1.weight"] = nt.zeros(2, 2)
    with pytest.raises(RuntimeError, match="size mismatch for head.1.weight"):
        a.load_state_dict(sd)


def test_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(nt.ones(2))
    m.sub = nn.Linear(2, 2)
    m.register_buffer("b", nt.zeros(1))
    m.plain = nt.ones(1)  # a plain tensor attribute is neither parameter nor buffer
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    assert [n for n, _ in m.named_buffers()] == ["b"]
    with pytest.raises(TypeError, match="cannot assign"):
        m.w = nt.ones(2)
    m.w = None
    assert "w" not in dict(m.named_parameters())
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", nt.zeros(1))
    del m.sub
    assert not hasattr(m, "sub")


def test_train_eval_zero_grad_requires_grad_apply():
    m = _tree(nt)
    m.eval()
    assert all(not x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    out = m.head(nt.randn(2, 4, 4, 4)).sum()
    out.backward()
    assert m.head[1].weight.grad is not None
    m.zero_grad()
    assert m.head[1].weight.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Net" and "Linear" in seen


def test_to_double_keeps_parameter_objects():
    m = nn.Linear(3, 2)
    w = m.weight
    m.double()
    assert m.weight is w and w.dtype is nt.float64 and isinstance(w, nn.Parameter)
    m.to(nt.float32)
    assert w.dtype is nt.float32
    emb = nn.Embedding(3, 2)
    emb.double()
    assert emb.weight.dtype is nt.float64


def test_forward_hooks():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: calls.append("pre"))
    h2 = m.register_forward_hook(lambda mod, args, out: out * 0)
    out = m(nt.ones(1, 2))
    assert calls == ["pre"] and out.abs().sum().item() == 0
    h1.remove()
    h2.remove()
    assert m(nt.ones(1, 2)).abs().sum().item() != 0


def test_sequential_and_containers():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert isinstance(s[0], nn.Linear) and isinstance(s[-1], nn.Linear)
    assert len(s[1:]) == 2 and isinstance(s[1:], nn.Sequential)
    s.append(nn.Sigmoid())
    assert len(s) == 4 and s(nt.ones(5, 2)).shape == (5, 1)
    d = nn.ModuleDict({"a": nn.Linear(1, 1)})
    d["b"] = nn.Linear(1, 2)
    assert list(d.keys()) == ["a", "b"] and len(list(d.parameters())) == 4
    pl = nn.ParameterList([nn.Parameter(nt.ones(1)) for _ in range(3)])
    assert len(list(pl.parameters())) == 3


@pytest.mark.parametrize("make", [
    lambda lib: lib.nn.Linear(5, 3),
    lambda lib: lib.nn.Linear(5, 3, bias=False),
    lambda lib: lib.nn.Bilinear(3, 4, 2),
    lambda lib: lib.nn.Embedding(7, 3, padding_idx=2),
])
def test_layers_match_pytorch_outputs_and_grads(make):
    tm, m = make(torch), make(nt)
    _copy_weights(tm, m)
    rng = np.random.default_rng(0)
    if isinstance(m, nn.Embedding):
        idx = rng.integers(0, 7, (4, 3))
        args, targs = (nt.tensor(idx),), (torch.tensor(idx),)
    elif isinstance(m, nn.Bilinear):
        a, b = rng.standard_normal((6, 3)), rng.standard_normal((6, 4))
        args = (nt.tensor(a, dtype=nt.float32, requires_grad=True), nt.tensor(b, dtype=nt.float32, requires_grad=True))
        targs = (torch.tensor(a, dtype=torch.float32, requires_grad=True), torch.tensor(b, dtype=torch.float32, requires_grad=True))
    else:
        a = rng.standard_normal((6, 5))
        args = (nt.tensor(a, dtype=nt.float32, requires_grad=True),)
        targs = (torch.tensor(a, dtype=torch.float32, requires_grad=True),)
    out, tout = m(*args), tm(*targs)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    seed = rng.standard_normal(tuple(tout.shape))
    (out * nt.tensor(seed, dtype=nt.float32)).sum().backward()
    (tout * torch.tensor(seed, dtype=torch.float32)).sum().backward()
    for (n, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=n)
    for x, tx in zip(args, targs):
        if tx.requires_grad:
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make, fan_in", [
    (lambda lib: lib.nn.Linear(400, 300), 400),
    (lambda lib: lib.nn.Conv2d(16, 32, 3), 16 * 9),
])
def test_default_initialisation_matches_pytorch_distribution(make, fan_in):
    m, tm = make(nt), make(torch)
    w, tw = m.weight.detach().numpy().ravel(), tm.weight.detach().numpy().ravel()
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) gives U(-1/sqrt(fan_in), +)
    assert abs(w).max() <= bound and abs(w).max() > 0.95 * bound
    np.testing.assert_allclose(w.std(), tw.std(), rtol=0.05)
    b = m.bias.detach().numpy()
    assert abs(b).max() <= bound


def test_init_functions():
    w = nt.empty(200, 300)
    nn.init.xavier_uniform_(w)
    a = math.sqrt(6 / 500)
    assert abs(w).max().item() <= a and abs(w.std().item() - a / math.sqrt(3)) < 0.01
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(w.std().item() - math.sqrt(2 / 300)) < 0.005
    nn.init.trunc_normal_(w, std=0.02, a=-0.04, b=0.04)
    assert abs(w).max().item() <= 0.04 + 1e-6 and abs(w.std().item() - 0.0176) < 0.002
    nn.init.orthogonal_(w)
    q = w.numpy().astype(np.float64)
    np.testing.assert_allclose(q @ q.T, np.eye(200), atol=1e-4)
    nn.init.constant_(w, 0.5)
    assert w.min().item() == w.max().item() == 0.5
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))


def test_clip_grad_and_vector_conversion():
    ps = [nn.Parameter(nt.ones(3)), nn.Parameter(nt.ones(2, 2))]
    tps = [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2, 2))]
    for p, tp, g in zip(ps, tps, ([3.0, 4.0, 0.0], [[1.0, 2.0], [2.0, 1.0]])):
        p.grad = nt.tensor(g)
        tp.grad = torch.tensor(g)
    n = nn.utils.clip_grad_norm_(ps, 1.0)
    tn = torch.nn.utils.clip_grad_norm_(tps, 1.0)
    assert n.item() == pytest.approx(tn.item(), rel=1e-6)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5)
    nn.utils.clip_grad_value_(ps, 0.1)
    assert max(p.grad.abs().max().item() for p in ps) <= np.float32(0.1)
    v = nn.utils.parameters_to_vector(ps)
    assert v.shape == (7,)
    nn.utils.vector_to_parameters(v * 2, ps)
    assert ps[1].shape == (2, 2) and ps[1][0, 0].item() == 2.0


def test_parameter_repr_and_deepcopy():
    import copy
    p = nn.Parameter(nt.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    m = nn.Linear(2, 2)
    m2 = copy.deepcopy(m)
    assert m2.weight is not m.weight and np.array_equal(m2.weight.detach().numpy(), m.weight.detach().numpy())
    assert isinstance(m2.weight, nn.Parameter)
