"""numtorch.compile: captured and replayed calls equal eager ones (bitwise: a replay runs the
same kernels on the same arrays), guards retrace, graph breaks fall back (or raise with
fullgraph), randomness is drawn afresh, optimizer steps and .grad behave as in eager mode."""
import warnings

import numpy as np
import pytest

import numtorch
import numtorch.nn as nn
import numtorch.nn.functional as F
from numtorch.compiler import GraphBreakError


class CNN(nn.Module):
    """The seed CNN at a small width."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.fc1 = nn.Linear(8 * 5 * 5, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(numtorch.flatten(x, 1))))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))


def batches(n, b=8, seed=0):
    g = numtorch.Generator().manual_seed(seed)
    return [(numtorch.randn(b, 1, 28, 28, generator=g), numtorch.randint(0, 10, (b,), generator=g))
            for _ in range(n)]


def make_step(net, opt):
    """The training step every test here compiles or runs eagerly."""
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def train(make, opt_cls, mode, data, **opt_kw):
    """Parameters and losses after training on ``data``: eagerly, with the module compiled
    (``module``) or the whole step compiled (``step``)."""
    numtorch.manual_seed(0)
    model = make()
    opt = opt_cls(model.parameters(), **opt_kw)
    net = numtorch.compile(model) if mode == "module" else model
    step = make_step(net, opt)
    fn = numtorch.compile(step) if mode == "step" else step
    losses = [fn(x, y).item() for x, y in data]
    stats = net.stats if mode == "module" else fn.stats if mode == "step" else None
    return [p.detach().numpy().copy() for p in model.parameters()], losses, stats


@pytest.mark.parametrize("make", [mlp, CNN], ids=["mlp", "cnn"])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("mode", ["module", "step"])
def test_compiled_training_equals_eager(make, opt, mode):
    opt_cls, kw = ((numtorch.optim.SGD, {"lr": 0.1, "momentum": 0.9}) if opt == "sgd"
                   else (numtorch.optim.Adam, {"lr": 1e-2}))
    data = batches(5)
    p_eager, l_eager, _ = train(make, opt_cls, "eager", data, **kw)
    p_comp, l_comp, stats = train(make, opt_cls, mode, data, **kw)
    assert stats["captures"] == 1 and stats["replays"] == 3 and not stats["breaks"]
    assert l_comp == l_eager  # bitwise: the replay runs eager's kernels on eager's arrays
    for a, b in zip(p_eager, p_comp):
        np.testing.assert_array_equal(a, b)


def test_a_new_batch_size_retraces_and_still_matches():
    numtorch.manual_seed(1)
    model = mlp()
    cm = numtorch.compile(model)
    for b in (4, 4, 4, 6, 6, 6):
        x = numtorch.randn(b, 1, 28, 28)
        np.testing.assert_array_equal(cm(x).detach().numpy(), model(x).detach().numpy())
    assert cm.stats["captures"] == 2 and cm.stats["replays"] == 2
    assert "arguments changed" in cm.stats["recompiles"][0]
    assert "(4, 1, 28, 28)" in cm.stats["recompiles"][0]


def test_gradients_of_a_compiled_module_reach_inputs_and_accumulate():
    numtorch.manual_seed(2)
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3))
    cm = numtorch.compile(model)
    for _ in range(3):
        x = numtorch.randn(4, 5, requires_grad=True)
        w = numtorch.randn(4, 3)
        model.zero_grad()
        (cm(x) * w).sum().backward()
        (cm(x) * w).sum().backward()  # accumulates into .grad like eager
        got = [p.grad.clone() for p in model.parameters()] + [x.grad.clone()]
        model.zero_grad()
        x2 = x.detach().requires_grad_()
        (model(x2) * w).sum().backward()
        (model(x2) * w).sum().backward()
        want = [p.grad for p in model.parameters()] + [x2.grad]
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert cm.stats["replays"] >= 3


def test_outputs_never_alias_the_plan():
    f = numtorch.compile(lambda x: x * 2)
    outs = [f(numtorch.tensor([float(i)])) for i in range(4)]
    assert [o.item() for o in outs] == [0.0, 2.0, 4.0, 6.0]


def test_in_place_changes_of_inputs_reach_the_caller():
    @numtorch.compile
    def bump(x, y):
        x.add_(y)
        return x.sum()

    for i in range(4):
        x = numtorch.zeros(3)
        s = bump(x, numtorch.full((3,), float(i)))
        assert x.tolist() == [float(i)] * 3 and s.item() == 3.0 * i


def test_graph_break_runs_eagerly_and_fullgraph_raises():
    def f(x):
        if x.sum().item() > 0:  # a host read: the replay could not take this branch
            return x * 2
        return x * 3

    cf = numtorch.compile(f)
    for v in (1.0, 1.0, -1.0, 1.0, -1.0):
        x = numtorch.full((3,), v)
        assert cf(x).tolist() == f(x).tolist()
    assert cf.stats["replays"] == 0 and cf.stats["captures"] == 1
    assert "Tensor.item()" in cf.stats["breaks"][0] and "test_compile.py" in cf.stats["breaks"][0]

    strict = numtorch.compile(f, fullgraph=True)
    strict(numtorch.ones(3))  # the first call is eager
    with pytest.raises(GraphBreakError, match=r"Tensor.item\(\) .*test_compile.py:\d+"):
        strict(numtorch.ones(3))
    with pytest.raises(GraphBreakError, match="randperm"):  # (rand, randn, randint redraw)
        g = numtorch.compile(lambda x: x[numtorch.randperm(3)], fullgraph=True)
        g(numtorch.ones(3))
        g(numtorch.ones(3))


def test_dropout_draws_afresh_on_every_replay():
    numtorch.manual_seed(3)
    drop = nn.Dropout(0.5)
    cd = numtorch.compile(drop)
    x = numtorch.ones(4000, requires_grad=True)
    masks = []
    for _ in range(5):
        y = cd(x)
        kept = y.detach().numpy() != 0
        assert set(np.unique(y.detach().numpy())) <= {0.0, 2.0}
        assert 0.45 < kept.mean() < 0.55
        x.grad = None
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), 2.0 * kept)  # backward uses this mask
        masks.append(kept)
    assert cd.stats["replays"] == 3
    for a, b in zip(masks, masks[1:]):
        assert (a != b).mean() > 0.3


def test_batchnorm_running_stats_and_mode_guard():
    numtorch.manual_seed(4)
    a = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU())
    b = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU())
    b.load_state_dict(a.state_dict())
    cb = numtorch.compile(b)
    xs = [numtorch.randn(4, 1, 8, 8) for _ in range(4)]
    for x in xs:
        np.testing.assert_array_equal(a(x).detach().numpy(), cb(x).detach().numpy())
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), b.state_dict()[k].numpy())
    a.eval()
    cb.eval()
    assert not b.training
    for x in xs:
        np.testing.assert_array_equal(a(x).detach().numpy(), cb(x).detach().numpy())
    assert any("training flags" in r for r in cb.stats["recompiles"])
    assert set(cb.state_dict()) == {"_orig_mod." + k for k in b.state_dict()}


def test_replaced_parameter_storage_is_seen():
    lin = nn.Linear(3, 2)
    cl = numtorch.compile(lin)
    x = numtorch.ones(1, 3)
    for _ in range(3):
        cl(x)
    with numtorch.no_grad():
        lin.weight.data = numtorch.zeros(2, 3)
        lin.bias.data = numtorch.ones(2)
    assert cl(x).tolist() == [[1.0, 1.0]]
    assert "storage was replaced" in cl.stats["recompiles"][-1]


def test_grad_mode_is_a_guard():
    lin = nn.Linear(3, 2)
    cl = numtorch.compile(lin)
    x = numtorch.ones(2, 3)
    for _ in range(3):
        assert cl(x).requires_grad
    with numtorch.no_grad():
        for _ in range(3):
            y = cl(x)
            assert not y.requires_grad
            np.testing.assert_array_equal(y.numpy(), lin(x).numpy())
    assert cl.stats["captures"] == 2


def test_cache_limit_warns_once_then_runs_eagerly(monkeypatch):
    from numtorch.compiler import _compile
    monkeypatch.setattr(_compile, "CACHE_SIZE", 2)
    f = numtorch.compile(lambda x: x + 1)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for n in (1, 2, 3, 4, 5):
            assert f(numtorch.zeros(n)).tolist() == [1.0] * n
    assert len([x for x in w if "further new keys run eagerly" in str(x.message)]) == 1


def test_reset_and_explain():
    f = numtorch.compile(lambda x: (x * x).sum())
    for _ in range(3):
        f(numtorch.ones(3))
    assert f.stats["replays"] == 1
    numtorch.compiler.reset()
    assert f.stats["replays"] == 0 and f(numtorch.ones(3)).item() == 3.0

    e = numtorch.compiler.explain(lambda x: (x * x).sum())(numtorch.ones(3))
    assert e.graph_count == 1 and e.graph_break_count == 0 and e.kernel_count >= 2
    e = numtorch.compiler.explain(lambda x: print(x))(numtorch.ones(3))
    assert e.graph_count == 0 and "printing a tensor" in e.break_reasons[0]
    assert "Graph Break Count: 1" in str(e)


def test_compile_arguments():
    lin = nn.Linear(2, 2)
    assert numtorch.compile(lin, disable=True) is lin
    deco = numtorch.compile(fullgraph=True)(lambda x: x + 1)
    assert isinstance(deco, numtorch.compiler.CompiledFunction)
    with pytest.raises(RuntimeError, match="Unrecognized mode=fast"):
        numtorch.compile(lin, mode="fast")
    with pytest.raises(RuntimeError, match="expected a Module or a callable, got int"):
        numtorch.compile(3)


def test_tensors_made_inside_start_fresh_on_every_replay():
    @numtorch.compile
    def f(x):
        acc = numtorch.zeros(3)  # made on the host inside the capture ...
        acc.add_(x)  # ... and changed in place by a kernel
        t = numtorch.tensor([1.0, 2.0, 3.0])
        t.mul_(2)
        return acc + t

    for i in range(5):
        assert f(numtorch.full((3,), float(i))).tolist() == [i + 2.0, i + 4.0, i + 6.0]
    assert f.stats["replays"] == 3


def _flat(o):
    if isinstance(o, numtorch.Tensor):
        return [o]
    if isinstance(o, (tuple, list)):
        return [x for y in o for x in _flat(y)]
    return []


MODULES = {
    "lstm": (lambda: nn.LSTM(6, 8, num_layers=2, batch_first=True), [(3, 5, 6)]),
    "gru_bidirectional": (lambda: nn.GRU(6, 8, bidirectional=True), [(5, 3, 6)]),
    "multihead_attention": (lambda: nn.MultiheadAttention(8, 2, batch_first=True),
                            [(2, 5, 8)] * 3),
    "transformer_layer": (lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0,
                                                             batch_first=True), [(2, 5, 8)]),
    "embedding": (lambda: nn.Embedding(10, 4), ["idx"]),
    "layer_norm": (lambda: nn.LayerNorm(8), [(3, 8)]),
    "group_norm": (lambda: nn.GroupNorm(2, 4), [(3, 4, 5)]),
    "conv_transpose": (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2), [(2, 2, 5, 5)]),
    "batch_norm_1d": (lambda: nn.BatchNorm1d(4), [(6, 4)]),
    "upsample": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), [(1, 2, 4, 4)]),
}


@pytest.mark.parametrize("name", list(MODULES))
def test_compiled_modules_equal_eager_forward_and_backward(name):
    """Layers whose ops do host-side work between kernels (index checks, sequence loops, masks)
    replay it: new values of the same shapes give eager's outputs and gradients exactly."""
    numtorch.manual_seed(6)
    make, shapes = MODULES[name]
    m = make()
    cm = numtorch.compile(m)
    for _ in range(4):
        args = [numtorch.randint(0, 10, (3, 5)) if s == "idx" else numtorch.randn(*s)
                for s in shapes]
        got = []
        for fn in (cm, m):
            ins = [a.detach().requires_grad_() if a.dtype.is_floating_point else a for a in args]
            outs = _flat(fn(*ins))
            m.zero_grad()
            sum((o * (k + 1)).sum() for k, o in enumerate(outs) if o.requires_grad).backward()
            got.append([o.detach().numpy() for o in outs] + [p.grad.numpy().copy() for p in
                        m.parameters()] + [x.grad.numpy() for x in ins if x.requires_grad])
        for a, b in zip(*got):
            np.testing.assert_array_equal(a, b)
    assert cm.stats["replays"] == 2 and not cm.stats["breaks"]


LOSSES = {
    "cross_entropy_smoothed": lambda a, t: F.cross_entropy(a, t, label_smoothing=0.1),
    "nll": lambda a, t: F.nll_loss(F.log_softmax(a, 1), t),
    "mse": lambda a, t: F.mse_loss(a, t.to(a.dtype).unsqueeze(1).expand(a.shape) / 5),
    "bce_logits": lambda a, t: F.binary_cross_entropy_with_logits(a, (a > 0).to(a.dtype)),
    "kl_div": lambda a, t: F.kl_div(F.log_softmax(a, 1), F.softmax(a * 2, 1).detach(),
                                    reduction="batchmean"),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_compiled_losses_equal_eager(name):
    loss = LOSSES[name]
    cl = numtorch.compile(loss)
    for x, t in batches(4, b=6):
        a = x.reshape(6, -1)[:, :10]
        got = []
        for fn in (cl, loss):
            leaf = a.detach().requires_grad_()
            v = fn(leaf, t)
            v.backward()
            got.append((v.item(), leaf.grad.numpy()))
        assert got[0][0] == got[1][0]
        np.testing.assert_array_equal(got[0][1], got[1][1])
    assert cl.stats["replays"] == 2 and not cl.stats["breaks"]


@pytest.mark.skipif(not numtorch.cuda.is_available(), reason="no CUDA device and no simulator")
def test_compiled_training_step_on_cuda_equals_eager():
    """The same capture on the CUDA backend (Numba's simulator in CI): device copies are replayed
    by copying into the recorded arrays, elementwise chains run fused; losses and parameters
    equal eager's exactly."""
    def run(compiled):
        numtorch.manual_seed(0)
        m = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).cuda()
        opt = numtorch.optim.Adam(m.parameters(), 1e-2)
        step = make_step(m, opt)
        f = numtorch.compile(step) if compiled else step
        g = numtorch.Generator().manual_seed(1)
        losses = []
        for _ in range(4):
            x = numtorch.randn(5, 6, generator=g).cuda()
            losses.append(f(x, numtorch.randint(0, 3, (5,), generator=g).cuda()).item())
        return losses, [p.detach().cpu().numpy() for p in m.parameters()], getattr(f, "stats", None)

    (l_eager, p_eager, _), (l_comp, p_comp, stats) = run(False), run(True)
    assert stats["replays"] == 2 and not stats["breaks"]
    assert stats["fused"] >= 1  # (the first Linear's bias add and the ReLU: one @cuda.jit kernel)
    assert l_comp == l_eager
    for a, b in zip(p_eager, p_comp):
        np.testing.assert_array_equal(a, b)


def test_two_forwards_before_one_backward():
    """model(a) + model(b), then backward (siamese nets, a GAN's discriminator on real and fake):
    the second call cannot reuse the plan's buffers while the first awaits its backward, so a
    second plan of the same key takes it; the gradients equal eager ones. A retained graph whose
    buffers a later replay overwrote refuses a second backward instead of computing a wrong one."""
    numtorch.manual_seed(7)
    m = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 1))
    cm = numtorch.compile(m)
    for _ in range(4):
        a, b = numtorch.randn(3, 4), numtorch.randn(3, 4)
        m.zero_grad()
        (cm(a) - cm(b)).pow(2).sum().backward()
        got = [p.grad.clone() for p in m.parameters()]
        m.zero_grad()
        (m(a) - m(b)).pow(2).sum().backward()
        for g, p in zip(got, m.parameters()):
            np.testing.assert_array_equal(g.numpy(), p.grad.numpy())
    assert cm.stats["captures"] == 2 and cm.stats["replays"] == 5 and cm.stats["eager"] == 1
    x = numtorch.randn(3, 4)
    first = cm(x).sum()
    first.backward(retain_graph=True)
    cm(x + 1).sum().backward()
    with pytest.raises(RuntimeError, match="buffers a later call has overwritten"):
        first.backward()


@pytest.mark.parametrize("mode", ["module", "step"])
def test_memory_plan_shares_buffers_and_changes_no_result(mode):
    """Buffers whose lifetimes do not overlap share storage (numtorch/compiler/_memory.py): the
    plan of the CNN's training step holds less memory, and the results stay eager's, bit for bit
    (as with the plan turned off)."""
    data = batches(4)
    results = []
    for memory_plan in (True, False):
        numtorch.manual_seed(0)
        model = CNN()
        opt = numtorch.optim.SGD(model.parameters(), lr=0.1)
        net = numtorch.compile(model, options={"memory_plan": memory_plan}) \
            if mode == "module" else model
        step = make_step(net, opt)
        fn = numtorch.compile(step, options={"memory_plan": memory_plan}) \
            if mode == "step" else step
        losses = [fn(x, y).item() for x, y in data]
        stats = (net if mode == "module" else fn).stats
        results.append((losses, [p.detach().numpy().copy() for p in model.parameters()], stats))
    (l1, p1, s1), (l2, p2, s2) = results
    assert l1 == l2
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)
    before, after = s1["buffer_bytes"]
    assert s1["replays"] == 2 and 0 < after < 0.8 * before, s1["buffer_bytes"]
    assert s2["buffer_bytes"] == (0, 0)


def test_memory_plan_writes_an_elementwise_output_over_an_input_that_dies_there():
    """An elementwise kernel's output takes the storage of an input whose last read is that very
    call, when both are laid out alike; an input also read through another view (``t * t.t()``)
    keeps its own: results stay eager's, and the first program needs one buffer less."""
    a = numtorch.randn(16, 16, dtype=numtorch.float64)

    def chain(x):
        t = x @ x
        u = t.exp()       # t dies here: u can be written over t
        return u @ x

    def crossed(x):
        t = x @ x
        u = t * t.t()     # t read whole and transposed: never in place
        return u @ x

    for fn in (chain, crossed):
        plain = numtorch.compile(fn, options={"fuse": False, "memory_plan": False})
        planned = numtorch.compile(fn, options={"fuse": False})
        for _ in range(3):
            want = fn(a).numpy()
            np.testing.assert_array_equal(plain(a).numpy(), want)
            np.testing.assert_array_equal(planned(a).numpy(), want)
        before, after = planned.stats["buffer_bytes"]
        assert (before - after) == (16 * 16 * 8 if fn is chain else 0), (fn.__name__, before, after)


class VAE(nn.Module):
    """pytorch/examples' VAE at a small size: randn_like in the forward, BCE + KL loss."""

    def __init__(self):
        super().__init__()
        self.fc1, self.mu, self.logvar = nn.Linear(784, 32), nn.Linear(32, 4), nn.Linear(32, 4)
        self.fc3, self.fc4 = nn.Linear(4, 32), nn.Linear(32, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + numtorch.randn_like(logvar) * numtorch.exp(0.5 * logvar)
        return numtorch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


@pytest.mark.parametrize("mode", ["module", "step"])
def test_vae_training_with_fresh_noise_equals_eager(mode):
    def run(mode):
        numtorch.manual_seed(0)
        m = VAE()
        opt = numtorch.optim.Adam(m.parameters(), 1e-3)
        net = numtorch.compile(m) if mode == "module" else m

        def step(x):
            opt.zero_grad()
            recon, mu, logvar = net(x)
            loss = F.binary_cross_entropy(recon, x, reduction="sum") - 0.5 * numtorch.sum(
                1 + logvar - mu.pow(2) - logvar.exp())
            loss.backward()
            opt.step()
            return loss
        fn = numtorch.compile(step) if mode == "step" else step
        g = numtorch.Generator().manual_seed(1)
        losses = [fn(numtorch.rand(8, 784, generator=g)).item() for _ in range(4)]
        stats = net.stats if mode == "module" else getattr(fn, "stats", None)
        return losses, [p.detach().numpy().copy() for p in m.parameters()], stats

    (l1, p1, _), (l2, p2, stats) = run("eager"), run(mode)
    assert stats["replays"] == 2 and not stats["breaks"] and stats["fused"] > 0
    assert l1 == l2  # the noise is drawn afresh in each replay, in eager's order
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)


def test_outputs_kept_without_backward_do_not_stall_replays():
    """A loop that keeps the last output alive and never calls backward (an evaluation without
    no_grad): the plans alternate, every call after the captures is a replay."""
    numtorch.manual_seed(8)
    m = nn.Linear(4, 3)
    cm = numtorch.compile(m)
    out = None
    for _ in range(8):
        x = numtorch.randn(2, 4)
        out = cm(x)
        np.testing.assert_array_equal(out.detach().numpy(), m(x).detach().numpy())
    assert cm.stats["captures"] == 2 and cm.stats["eager"] == 1 and cm.stats["replays"] == 5
