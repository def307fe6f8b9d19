"""Normalisation layers, losses, activations and the other composites of numtorch.nn.functional
(fused: numtorch.ops.norm, ops.loss, ops.pad) against torch.

``check`` runs the same function on the same inputs in numtorch and torch and compares the
output and every input gradient (with a random upstream gradient); ``GRADCHECK`` runs
numtorch's numerical gradient check in float64 for each differentiable function.
"""
import math
import warnings

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DT = ("float32", "float64")
TOL = {"float32": dict(rtol=2e-4, atol=2e-5), "float64": dict(rtol=1e-9, atol=1e-10)}


def _mods(args, dt, grad):
    nt_args, th_args = [], []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            a = a.astype(dt) if a.dtype.kind == "f" else a
            rg = i in grad
            nt_args.append(numtorch.tensor(a, requires_grad=rg))
            th_args.append(torch.tensor(a, requires_grad=rg))
        else:
            nt_args.append(a)
            th_args.append(a)
    return nt_args, th_args


def check(nt_fn, th_fn, args, dt="float32", grad=(0,), rng=None, tol=None):
    """Compare nt_fn(*args) with th_fn(*args): output and the gradients of args[i], i in grad."""
    rng = rng or np.random.default_rng(0)
    tol = tol or TOL[dt]
    a, b = _mods(args, dt, grad)
    ya, yb = nt_fn(*a), th_fn(*b)
    assert tuple(ya.shape) == tuple(yb.shape)
    assert str(ya.dtype).split(".")[-1] == str(yb.dtype).split(".")[-1]
    np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), **tol)
    if grad and yb.requires_grad:
        g = rng.standard_normal(tuple(yb.shape)).astype(dt)
        (ya * numtorch.tensor(g)).sum().backward()
        (yb * torch.tensor(g)).sum().backward()
        for i in grad:
            assert a[i].grad is not None, f"no grad for argument {i}"
            np.testing.assert_allclose(a[i].grad.numpy(), b[i].grad.numpy(), **tol)
    return ya, yb


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# --------------------------------------------------------------------------------------------
# cross entropy / nll
# --------------------------------------------------------------------------------------------
def _targets(rng, shape, C, ignore=None):
    t = rng.integers(0, C, size=shape)
    if ignore is not None:
        t.reshape(-1)[::3] = ignore
    return t.astype(np.int64)


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 2, 3), (5,)])
@pytest.mark.parametrize("variant", ["plain", "weight", "ignore", "smooth", "all"])
def test_cross_entropy_index(rng, dt, reduction, shape, variant):
    C = shape[1] if len(shape) > 1 else shape[0]
    tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    ignore = -100 if variant in ("plain", "weight", "smooth") else 1
    x = rng.standard_normal(shape) * 3
    t = _targets(rng, tshape, C, ignore if variant in ("ignore", "all") and tshape else None)
    kw = dict(reduction=reduction, ignore_index=ignore)
    if variant in ("smooth", "all"):
        kw["label_smoothing"] = 0.15
    w = rng.uniform(0.2, 2.0, C) if variant in ("weight", "all") else None
    check(lambda x, t, w: F.cross_entropy(x, t, weight=w, **kw),
          lambda x, t, w: TF.cross_entropy(x, t, weight=w, **kw), [x, t, w], dt, rng=rng)


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(6, 5), (2, 4, 3, 2)])
@pytest.mark.parametrize("smooth,weighted", [(0.0, False), (0.2, False), (0.1, True)])
def test_cross_entropy_probs(rng, dt, reduction, shape, smooth, weighted):
    x = rng.standard_normal(shape)
    p = rng.random(shape)
    p /= p.sum(1, keepdims=True)
    w = rng.uniform(0.5, 2, shape[1]) if weighted else None
    kw = dict(reduction=reduction, label_smoothing=smooth)
    check(lambda x, p, w: F.cross_entropy(x, p, weight=w, **kw),
          lambda x, p, w: TF.cross_entropy(x, p, weight=w, **kw), [x, p, w], dt, grad=(0, 1),
          rng=rng)


def test_cross_entropy_large_and_all_ignored(rng):
    x = rng.standard_normal((300, 1000)).astype(np.float32) * 5  # parallel twin
    t = _targets(rng, (300,), 1000, -100)
    check(F.cross_entropy, TF.cross_entropy, [x, t], "float32", rng=rng)
    x = rng.standard_normal((40, 7, 30, 30)).astype(np.float32)
    t = _targets(rng, (40, 30, 30), 7, 3)
    check(lambda x, t: F.cross_entropy(x, t, ignore_index=3, label_smoothing=0.1),
          lambda x, t: TF.cross_entropy(x, t, ignore_index=3, label_smoothing=0.1), [x, t], rng=rng)
    x = rng.standard_normal((3, 4))
    t = np.full(3, -100)
    a = F.cross_entropy(numtorch.tensor(x), numtorch.tensor(t))
    assert math.isnan(a.item()) and math.isnan(TF.cross_entropy(torch.tensor(x), torch.tensor(t)).item())


@pytest.mark.parametrize("bad", [10, -3, 5])
def test_cross_entropy_target_out_of_range(bad):
    x = numtorch.randn(4, 5)
    for fn in (F.cross_entropy, F.nll_loss):
        with pytest.raises(IndexError, match=f"Target {bad} is out of bounds."):
            fn(x, numtorch.tensor([0, 1, bad, 2]))
    with pytest.raises(IndexError, match="Target 7 is out of bounds."):
        F.cross_entropy(numtorch.randn(2, 5, 3), numtorch.tensor([[0, 1, 2], [7, 0, 0]]))


def test_cross_entropy_errors():
    x = numtorch.randn(4, 5)
    t = numtorch.tensor([0, 1, 2, 1])
    cases = [
        (ValueError, r"Expected input batch_size \(4\) to match target batch_size \(3\)\.",
         lambda: F.cross_entropy(x, numtorch.tensor([0, 1, 2]))),
        (ValueError, r"Expected input batch_size \(4\) to match target batch_size \(1\)\.",
         lambda: F.cross_entropy(x, numtorch.tensor([[0, 1, 2, 1]]))),
        (RuntimeError, "weight tensor should be defined either for all 5 classes or no classes "
                       r"but got weight tensor of shape: \[3\]",
         lambda: F.cross_entropy(x, t, weight=numtorch.ones(3))),
        (ValueError, "foo is not a valid value for reduction",
         lambda: F.cross_entropy(x, t, reduction="foo")),
        (RuntimeError, "label_smoothing must be between 0.0 and 1.0. Got: 1.5",
         lambda: F.cross_entropy(x, t, label_smoothing=1.5)),
        (RuntimeError, r"Expected target size \[2, 4\], got \[2, 3\]",
         lambda: F.cross_entropy(numtorch.randn(2, 3, 4), numtorch.tensor([[0, 1, 2], [0, 0, 0]]))),
        (RuntimeError, "0D or 1D target tensor expected, multi-target not supported",
         lambda: F.cross_entropy(x, numtorch.randn(4, 6))),
    ]
    for exc, msg, fn in cases:
        with pytest.raises(exc, match=msg):
            fn()


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 5), (4,)])
def test_nll_loss(rng, dt, reduction, shape):
    C = shape[1] if len(shape) > 1 else shape[0]
    tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    x = rng.standard_normal(shape)
    t = _targets(rng, tshape, C, 2 if tshape else None)
    w = rng.uniform(0.5, 2.0, C)
    for kw in (dict(reduction=reduction), dict(reduction=reduction, weight=w, ignore_index=2)):
        check(lambda x, t, w=None: F.nll_loss(x, t, **{**kw, "weight": w}),
              lambda x, t, w=None: TF.nll_loss(x, t, **{**kw, "weight": w}),
              [x, t, kw.get("weight")], dt, rng=rng)


# --------------------------------------------------------------------------------------------
# batch / layer / group norm
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (4, 3, 5, 6)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm(rng, dt, shape, training, affine):
    C = shape[1]
    x = rng.standard_normal(shape) * 2 + 3
    w = rng.uniform(0.5, 1.5, C) if affine else None
    b = rng.standard_normal(C) if affine else None
    rm0, rv0 = rng.standard_normal(C), rng.uniform(0.5, 2, C)
    stats = {}

    def run(mod, fn):
        def f(x, w, b):
            rm, rv = mod.tensor(rm0.astype(dt)), mod.tensor(rv0.astype(dt))
            stats[mod.__name__] = (rm, rv)
            return fn(x, rm, rv, w, b, training=training, momentum=0.3, eps=1e-4)
        return f

    check(run(numtorch, F.batch_norm), run(torch, TF.batch_norm), [x, w, b], dt,
          grad=(0, 1, 2) if affine else (0,), rng=rng)
    for a, e in zip(stats["numtorch"], stats["torch"]):
        np.testing.assert_allclose(a.numpy(), e.numpy(), **TOL[dt])
    if not training:
        np.testing.assert_array_equal(stats["numtorch"][0].numpy(), rm0.astype(dt))


def test_batch_norm_large_and_version(rng):
    x = rng.standard_normal((16, 8, 20, 20)).astype(np.float32) + 5  # parallel twin
    w = rng.uniform(0.5, 1.5, 8).astype(np.float32)
    fn = lambda mod, F_: lambda x, w: F_.batch_norm(x, mod.zeros(8), mod.ones(8), w, None, True)
    check(fn(numtorch, F), fn(torch, TF), [x, w], grad=(0, 1), rng=rng,
          tol=dict(rtol=1e-3, atol=1e-4))
    rm = numtorch.zeros(3)
    v = rm._version
    F.batch_norm(numtorch.randn(4, 3), rm, numtorch.ones(3), training=True)
    assert rm._version > v and rm.abs().sum().item() > 0


def test_batch_norm_errors():
    x = numtorch.randn(4, 5)
    with pytest.raises(RuntimeError, match="running_mean must be defined in evaluation mode"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(numtorch.randn(1, 3), numtorch.zeros(3), numtorch.ones(3), training=True)
    with pytest.raises(RuntimeError, match="running_mean should contain 5 elements not 3"):
        F.batch_norm(x, numtorch.zeros(3), numtorch.ones(3), training=True)
    with pytest.raises(RuntimeError, match="weight should contain 5 elements not 3"):
        F.batch_norm(x, numtorch.zeros(5), numtorch.ones(5), weight=numtorch.ones(3))


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("shape,ns", [((6, 5), (5,)), ((2, 3, 4, 5), (4, 5)), ((3, 7), (3, 7))])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm(rng, dt, shape, ns, affine):
    x = rng.standard_normal(shape) * 2 + 1
    w = rng.uniform(0.5, 1.5, ns) if affine != "none" else None
    b = rng.standard_normal(ns) if affine == "both" else None
    grad = {"both": (0, 1, 2), "weight": (0, 1), "none": (0,)}[affine]
    check(lambda x, w, b: F.layer_norm(x, ns, w, b, 1e-5),
          lambda x, w, b: TF.layer_norm(x, ns, w, b, 1e-5), [x, w, b], dt, grad=grad, rng=rng)


def test_layer_norm_large_and_errors(rng):
    x = rng.standard_normal((128, 512)).astype(np.float32)
    w, b = rng.standard_normal(512), rng.standard_normal(512)
    check(lambda x, w, b: F.layer_norm(x, (512,), w, b), lambda x, w, b: TF.layer_norm(x, (512,), w, b),
          [x, w, b], grad=(0, 1, 2), rng=rng, tol=dict(rtol=1e-3, atol=1e-4))
    x = numtorch.randn(4, 5)
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[4\], expected input with "
                                           r"shape \[\*, 4\], but got input of size\[4, 5\]"):
        F.layer_norm(x, (4,))
    with pytest.raises(RuntimeError, match="Expected weight to be of same shape as normalized_shape"):
        F.layer_norm(x, (5,), weight=numtorch.ones(4))


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("shape,G", [((2, 6, 4), 3), ((3, 4, 3, 3), 2), ((2, 4), 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm(rng, dt, shape, G, affine):
    C = shape[1]
    x = rng.standard_normal(shape)
    w = rng.uniform(0.5, 1.5, C) if affine else None
    b = rng.standard_normal(C) if affine else None
    check(lambda x, w, b: F.group_norm(x, G, w, b), lambda x, w, b: TF.group_norm(x, G, w, b),
          [x, w, b], dt, grad=(0, 1, 2) if affine else (0,), rng=rng)
    with pytest.raises(RuntimeError, match="Expected number of channels in input to be divisible"):
        F.group_norm(numtorch.randn(2, 6, 3), 4)


# --------------------------------------------------------------------------------------------
# composite losses
# --------------------------------------------------------------------------------------------
def _pairs(rng):
    x = rng.standard_normal((4, 5)) * 2
    y = rng.standard_normal((4, 5)) * 2
    y[0, 0] = x[0, 0] + 0.3  # inside beta/delta
    return x, y


LOSSES = {
    "mse": (lambda M: M.mse_loss, {}),
    "l1": (lambda M: M.l1_loss, {}),
    "smooth_l1": (lambda M: M.smooth_l1_loss, dict(beta=0.7)),
    "smooth_l1_b0": (lambda M: M.smooth_l1_loss, dict(beta=0.0)),
    "huber": (lambda M: M.huber_loss, dict(delta=1.3)),
}


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_regression_losses(rng, dt, reduction, name):
    fn, kw = LOSSES[name]
    x, y = _pairs(rng)
    check(lambda x, y: fn(F)(x, y, reduction=reduction, **kw),
          lambda x, y: fn(TF)(x, y, reduction=reduction, **kw), [x, y], dt, grad=(0, 1), rng=rng)


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(rng, dt, reduction):
    p = rng.uniform(0.05, 0.95, (4, 5))
    t = rng.random((4, 5))
    w = rng.uniform(0.5, 2, (5,))
    check(lambda p, t, w: F.binary_cross_entropy(p, t, w, reduction=reduction),
          lambda p, t, w: TF.binary_cross_entropy(p, t, w, reduction=reduction), [p, t, w], dt,
          grad=(0, 1), rng=rng)
    p = np.array([0.0, 1.0, 0.5])
    t = np.array([1.0, 0.0, 1.0])
    # the logs clamp at -100; at exactly 0 and 1 the gradients are PyTorch's (finite), not NaN
    check(F.binary_cross_entropy, TF.binary_cross_entropy, [p, t], dt, grad=(0, 1))
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(numtorch.tensor([1.5]), numtorch.tensor([1.0]))
    with pytest.raises(ValueError, match="Using a target size"):
        F.binary_cross_entropy(numtorch.rand(3), numtorch.rand(4))


def test_binary_cross_entropy_double_backward():
    p = numtorch.tensor(np.array([0.2, 0.7, 0.9]), requires_grad=True)
    t = numtorch.tensor(np.array([0.0, 1.0, 0.3]), requires_grad=True)
    assert numtorch.autograd.gradgradcheck(lambda p, t: F.binary_cross_entropy(p, t), (p, t))


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits(rng, dt, reduction):
    x = rng.standard_normal((4, 5)) * 4
    x[0, :3] = [0.0, 60.0, -60.0]  # the kink of max(-x, 0) and saturated logits
    t = rng.random((4, 5))
    w = rng.uniform(0.5, 2, (5,))
    pw = rng.uniform(0.5, 3, (5,))
    check(lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, w, reduction=reduction, pos_weight=pw),
          lambda x, t, w, pw: TF.binary_cross_entropy_with_logits(x, t, w, reduction=reduction, pos_weight=pw),
          [x, t, w, pw], dt, grad=(0, 1), rng=rng)
    check(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction),
          lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction=reduction),
          [x, t], dt, grad=(0, 1), rng=rng)


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(rng, dt, reduction, log_target):
    x = np.log(rng.dirichlet(np.ones(5), 4))
    t = rng.dirichlet(np.ones(5), 4)
    if log_target:
        t = np.log(t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch and numtorch warn about 'mean'
        check(lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target),
              lambda x, t: TF.kl_div(x, t, reduction=reduction, log_target=log_target),
              [x, t], dt, grad=(0, 1), rng=rng)
        if not log_target:  # t = 0 contributes 0 (torch's target grad is NaN there: not compared)
            t[0, 1] = 0.0
            check(lambda x, t: F.kl_div(x, t, reduction=reduction),
                  lambda x, t: TF.kl_div(x, t, reduction=reduction), [x, t], dt, rng=rng)
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        F.kl_div(numtorch.rand(3), numtorch.rand(3), reduction="foo")


# --------------------------------------------------------------------------------------------
# activations and misc
# --------------------------------------------------------------------------------------------
ACTS = {
    "leaky_relu": (lambda M, x: M.leaky_relu(x, 0.2)),
    "elu": (lambda M, x: M.elu(x, 1.5)),
    "gelu": (lambda M, x: M.gelu(x)),
    "gelu_tanh": (lambda M, x: M.gelu(x, approximate="tanh")),
    "silu": (lambda M, x: M.silu(x)),
    "softplus": (lambda M, x: M.softplus(x, beta=2.0, threshold=5.0)),
    "hardtanh": (lambda M, x: M.hardtanh(x, -0.5, 1.0)),
    "relu6": (lambda M, x: M.relu6(x * 4)),
    "relu_": (lambda M, x: M.relu_(x * 1)),
    "softmin": (lambda M, x: M.softmin(x, dim=1)),
    "logsigmoid": (lambda M, x: M.logsigmoid(x)),
    "tanhshrink": (lambda M, x: M.tanhshrink(x)),
    "softsign": (lambda M, x: M.softsign(x)),
    "mish": (lambda M, x: M.mish(x)),
    "hardsigmoid": (lambda M, x: M.hardsigmoid(x)),
    "hardswish": (lambda M, x: M.hardswish(x)),
    "selu": (lambda M, x: M.selu(x)),
    "celu": (lambda M, x: M.celu(x, 1.5)),
    "threshold": (lambda M, x: M.threshold(x, 0.7, -2.0)),
    "glu": (lambda M, x: M.glu(x, dim=1)),
    "normalize": (lambda M, x: M.normalize(x, dim=1)),
    "normalize_p1": (lambda M, x: M.normalize(x, p=1.0, dim=0)),
}


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("name", sorted(ACTS))
def test_activations(rng, dt, name):
    x = rng.standard_normal((5, 6)) * 3
    x[0, :4] = [0.0, -0.5, 1.0, 1.5]  # kinks: 0, hardtanh bounds, relu6 bounds (x*4 = 6 at 1.5)
    x[1, :2] = [100.0, -100.0]  # softplus / elu saturation
    fn = ACTS[name]
    # torch's float64 hardsigmoid backward multiplies by the float32 constant 1.0f / 6
    tol = dict(rtol=1e-7, atol=1e-10) if name == "hardsigmoid" and dt == "float64" else None
    check(lambda x: fn(F, x), lambda x: fn(TF, x), [x], dt, rng=rng, tol=tol)


def test_celu_kink():  # gradient 1 at 0, as PyTorch (two summed clamps once gave 2)
    check(lambda x: F.celu(x, 1.5), lambda x: TF.celu(x, 1.5), [np.array([0.0, -1.0, 1.0])],
          "float64")


def test_dropout(rng):
    numtorch.manual_seed(0)
    x = numtorch.ones(200, 500, requires_grad=True)
    y = F.dropout(x, 0.3)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.7) < 0.01
    np.testing.assert_allclose(np.unique(y.detach().numpy()), [0.0, 1 / 0.7], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())
    assert F.dropout(x, 0.3, training=False) is x
    assert (F.dropout(x, 1.0) == 0).all().item()
    assert (F.dropout(x, 0.0) == x).all().item()
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, but got {p}"):
            F.dropout(x, p)
    z = F.dropout2d(numtorch.ones(50, 40, 3, 3), 0.5)
    assert F.dropout2d(z, 0.5, training=False) is z
    z = z.numpy()
    per_channel = z.reshape(50, 40, 9)
    assert (per_channel.min(-1) == per_channel.max(-1)).all()  # whole channels
    assert abs((per_channel[..., 0] != 0).mean() - 0.5) < 0.05
    numtorch.manual_seed(1)
    a = F.dropout(numtorch.ones(10), 0.5).numpy()
    numtorch.manual_seed(1)
    np.testing.assert_array_equal(a, F.dropout(numtorch.ones(10), 0.5).numpy())


@pytest.mark.parametrize("dt", DT)
def test_distances(rng, dt):
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    check(F.cosine_similarity, TF.cosine_similarity, [a, b], dt, grad=(0, 1), rng=rng)
    check(lambda a, b: F.pairwise_distance(a, b, p=1.5, keepdim=True),
          lambda a, b: TF.pairwise_distance(a, b, p=1.5, keepdim=True), [a, b], dt, grad=(0, 1),
          rng=rng)


@pytest.mark.parametrize("dt", DT)
def test_linear_bilinear(rng, dt):
    x = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((5, 4))
    b = rng.standard_normal(5)
    check(F.linear, TF.linear, [x, w, b], dt, grad=(0, 1, 2), rng=rng)
    check(F.linear, TF.linear, [x, w], dt, grad=(0, 1), rng=rng)
    x1, x2 = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
    W, bb = rng.standard_normal((5, 4, 2)), rng.standard_normal(5)
    check(F.bilinear, TF.bilinear, [x1, x2, W, bb], dt, grad=(0, 1, 2, 3), rng=rng)


@pytest.mark.parametrize("dt", DT)
def test_embedding(rng, dt):
    w = rng.standard_normal((6, 3))
    idx = np.array([[0, 2, 5], [2, 2, 1]])
    check(F.embedding, TF.embedding, [idx, w], dt, grad=(1,), rng=rng)
    a, _ = check(lambda i, w: F.embedding(i, w, padding_idx=2),
                 lambda i, w: TF.embedding(i, w, padding_idx=2), [idx, w], dt, grad=(1,), rng=rng)
    with pytest.raises(IndexError, match="index out of range in self"):
        F.embedding(numtorch.tensor([0, 7]), numtorch.randn(5, 3))
    with pytest.raises(IndexError, match="index out of range in self"):
        F.embedding(numtorch.tensor([-1]), numtorch.randn(5, 3))


def test_one_hot():
    t = np.array([[0, 3], [2, 1]])
    for nc in (-1, 6):
        a = F.one_hot(numtorch.tensor(t), nc)
        e = TF.one_hot(torch.tensor(t), nc)
        assert a.dtype == numtorch.int64
        np.testing.assert_array_equal(a.numpy(), e.numpy())
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes."):
        F.one_hot(numtorch.tensor([0, 7]), 5)
    with pytest.raises(RuntimeError, match="Class values must be non-negative."):
        F.one_hot(numtorch.tensor([0, -1]), 5)


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("mode,pads", [("constant", (1, 2)), ("constant", (1, 0, 2, 1)),
                                       ("constant", (-1, 2, 0, -1)), ("reflect", (2, 1, 1, 2)),
                                       ("replicate", (2, 3, 1, 0)), ("circular", (1, 2, 2, 1))])
def test_pad(rng, dt, mode, pads):
    x = rng.standard_normal((2, 3, 4, 5))
    kw = dict(mode=mode) if mode != "constant" else dict(mode=mode, value=1.5)
    check(lambda x: F.pad(x, pads, **kw), lambda x: TF.pad(x, pads, **kw), [x], dt, rng=rng)


def test_pad_errors():
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        F.pad(numtorch.rand(3), (1, 2, 3))
    with pytest.raises(RuntimeError, match="Padding length should be less than or equal to two"):
        F.pad(numtorch.rand(3), (1, 2, 3, 4))


# --------------------------------------------------------------------------------------------
# numerical gradient checks (float64)
# --------------------------------------------------------------------------------------------
def _r(rng, *shape, lo=None, hi=None):
    a = rng.uniform(lo, hi, shape) if lo is not None else rng.standard_normal(shape)
    return numtorch.tensor(a, dtype=numtorch.float64, requires_grad=True)


def _gradcheck_cases(rng):
    t = numtorch.tensor([0, 2, 1, 2])
    t3 = numtorch.tensor([[0, 2, 1], [1, 1, -100]])
    w3 = numtorch.tensor([0.5, 1.0, 2.0], dtype=numtorch.float64)
    probs = numtorch.tensor(rng.dirichlet(np.ones(3), 4), requires_grad=True)
    x46 = rng.standard_normal((4, 6))
    x46[0, :3] = [0.4, -0.4, 1.3]
    xk = numtorch.tensor(x46, requires_grad=True)
    return {
        "cross_entropy": (lambda x: F.cross_entropy(x, t, weight=w3, label_smoothing=0.1), [_r(rng, 4, 3)]),
        "cross_entropy_nd_none": (lambda x: F.cross_entropy(x, t3, reduction="none"), [_r(rng, 2, 3, 3)]),
        "cross_entropy_probs": (lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1), [_r(rng, 4, 3), probs]),
        "nll_loss": (lambda x: F.nll_loss(x, t, weight=w3), [_r(rng, 4, 3)]),
        "batch_norm_train": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                             [_r(rng, 4, 3, 2), _r(rng, 3), _r(rng, 3)]),
        "batch_norm_eval": (lambda x, w, b: F.batch_norm(
            x, numtorch.zeros(3, dtype=numtorch.float64), numtorch.full((3,), 2.0, dtype=numtorch.float64), w, b),
            [_r(rng, 4, 3), _r(rng, 3), _r(rng, 3)]),
        "layer_norm": (lambda x, w, b: F.layer_norm(x, (2, 3), w, b), [_r(rng, 2, 2, 3), _r(rng, 2, 3), _r(rng, 2, 3)]),
        "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), [_r(rng, 2, 4, 2), _r(rng, 4), _r(rng, 4)]),
        "mse_loss": (F.mse_loss, [_r(rng, 3, 2), _r(rng, 3, 2)]),
        "l1_loss": (F.l1_loss, [_r(rng, 3, 2), _r(rng, 3, 2)]),
        "smooth_l1_loss": (lambda a, b: F.smooth_l1_loss(a, b, beta=2.0), [_r(rng, 3, 2), _r(rng, 3, 2)]),
        "huber_loss": (lambda a, b: F.huber_loss(a, b, delta=0.8), [_r(rng, 3, 2), _r(rng, 3, 2)]),
        "binary_cross_entropy": (F.binary_cross_entropy, [_r(rng, 3, 2, lo=0.1, hi=0.9), _r(rng, 3, 2, lo=0, hi=1)]),
        "binary_cross_entropy_with_logits": (
            lambda x, y, pw: F.binary_cross_entropy_with_logits(x, y, pos_weight=pw),
            [_r(rng, 3, 2), _r(rng, 3, 2, lo=0, hi=1), _r(rng, 2, lo=0.5, hi=2)]),
        "kl_div": (lambda x, y: F.kl_div(x, y, reduction="batchmean"), [_r(rng, 3, 2), _r(rng, 3, 2, lo=0.1, hi=1)]),
        "kl_div_log_target": (lambda x, y: F.kl_div(x, y, reduction="sum", log_target=True),
                              [_r(rng, 3, 2), _r(rng, 3, 2)]),
        "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), [xk]),
        "elu": (F.elu, [xk]),
        "gelu": (F.gelu, [xk]),
        "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [xk]),
        "silu": (F.silu, [xk]),
        "softplus": (lambda x: F.softplus(x, 2.0, 2.0), [xk]),
        "hardtanh": (F.hardtanh, [xk]),
        "relu6": (lambda x: F.relu6(x * 5), [xk]),
        "dropout": (lambda x: (numtorch.manual_seed(3), F.dropout(x, 0.4))[1], [_r(rng, 3, 4)]),
        "dropout2d": (lambda x: (numtorch.manual_seed(3), F.dropout2d(x, 0.4))[1], [_r(rng, 2, 3, 2, 2)]),
        "linear": (F.linear, [_r(rng, 3, 4), _r(rng, 2, 4), _r(rng, 2)]),
        "bilinear": (F.bilinear, [_r(rng, 3, 4), _r(rng, 3, 2), _r(rng, 5, 4, 2), _r(rng, 5)]),
        "embedding": (lambda w: F.embedding(numtorch.tensor([[0, 2], [3, 2]]), w), [_r(rng, 4, 3)]),
        "normalize": (F.normalize, [_r(rng, 3, 4)]),
        "pad": (lambda x: F.pad(x, (1, -1, 2, 0), value=2.0), [_r(rng, 2, 3, 3)]),
        "pad_reflect": (lambda x: F.pad(x, (2, 1), mode="reflect"), [_r(rng, 2, 4)]),
    }


GRADCHECK = sorted(_gradcheck_cases(np.random.default_rng(0)))


@pytest.mark.parametrize("name", GRADCHECK)
def test_gradcheck(name):
    fn, inputs = _gradcheck_cases(np.random.default_rng(7))[name]
    assert numtorch.autograd.gradcheck(fn, inputs)
