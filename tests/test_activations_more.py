"""The remaining activations of nn.functional and nn (prelu, rrelu, hardshrink, softshrink,
threshold, glu, celu, selu, softsign, tanhshrink, logsigmoid, Softmax2d), their in-place forms
(``F.<name>_`` and ``inplace=True``), their modules, and ConvTranspose1d.

One table, ``CASES``, drives three tests: a case is ``fn(F, *tensors)`` (the same code runs on
numtorch and on torch), its inputs and a NumPy formula:

- ``test_reference``: numtorch against the NumPy formula, kinks and NaN included (always runs);
- ``test_torch``: forward and every input gradient against torch, float32 and float64 (when
  torch imports; the kinks pin torch's subgradients);
- ``test_gradcheck``: float64 numerical gradients, away from the kinks.
"""
import math
import re

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
from numtorch import nn

try:
    import torch
except ImportError:  # the NumPy references still run
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch (the oracle) is not installed")

TOL = {np.float32: dict(rtol=2e-6, atol=2e-7), np.float64: dict(rtol=1e-12, atol=1e-14)}
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _x(shape=(4, 6), kinks=()):
    """A builder of normal samples (times 2) with ``kinks`` (and a NaN) written into row 0."""
    def build(g, kinks_too):
        a = g.standard_normal(shape) * 2
        if kinks_too:
            v = list(kinks) + [float("nan")]
            a.reshape(-1)[:len(v)] = v
        return a
    return build


def _w(n):
    return lambda g, kinks_too: g.uniform(-0.5, 0.5, n)


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


# name, fn(F, *tensors), input builders, NumPy formula of the arrays
CASES = [
    ("prelu_shared", lambda F, x, w: F.prelu(x, w), [_x((3, 4, 2), (0.0, -1.0)), _w(1)],
     lambda x, w: np.where(x > 0, x, w[0] * x)),
    ("prelu_channels", lambda F, x, w: F.prelu(x, w), [_x((3, 4, 2), (0.0, -1.0)), _w(4)],
     lambda x, w: np.where(x > 0, x, w[:, None] * x)),
    ("rrelu_eval", lambda F, x: F.rrelu(x, 0.1, 0.4), [_x(kinks=(0.0,))],
     lambda x: np.where(x > 0, x, 0.25 * x)),
    ("hardshrink", lambda F, x: F.hardshrink(x, 0.7), [_x(kinks=(0.7, -0.7, 0.0))],
     lambda x: np.where((x >= -0.7) & (x <= 0.7), 0.0, x)),
    ("softshrink", lambda F, x: F.softshrink(x, 0.7), [_x(kinks=(0.7, -0.7, 0.0))],
     lambda x: np.where(x > 0.7, x - 0.7, np.where(x < -0.7, x + 0.7, 0.0 * x))),
    ("threshold", lambda F, x: F.threshold(x, 0.3, -2.0), [_x(kinks=(0.3, 0.0))],
     lambda x: np.where(x <= 0.3, -2.0, x)),
    ("glu", lambda F, x: F.glu(x, 0), [_x()],
     lambda x: x[:2] * _sigmoid(x[2:])),
    ("celu", lambda F, x: F.celu(x, 0.6), [_x(kinks=(0.0,))],
     lambda x: np.where(x > 0, x, 0.6 * np.expm1(x / 0.6))),
    ("selu", lambda F, x: F.selu(x), [_x(kinks=(0.0,))],
     lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))),
    ("softsign", lambda F, x: F.softsign(x), [_x()], lambda x: x / (1 + np.abs(x))),
    ("tanhshrink", lambda F, x: F.tanhshrink(x), [_x()], lambda x: x - np.tanh(x)),
    ("logsigmoid", lambda F, x: F.logsigmoid(x), [_x(kinks=(-40.0, 40.0))],
     lambda x: -np.logaddexp(0, -x)),
    ("softmax2d", lambda F, x: Softmax2d(F)(x), [_x((2, 3, 2, 2))],
     lambda x: np.exp(x) / np.exp(x).sum(-3, keepdims=True)),
]
IDS = [c[0] for c in CASES]


def Softmax2d(F):
    """The module of the library that ``F`` belongs to."""
    return (nn if F is numtorch.nn.functional else torch.nn).Softmax2d()


def _arrays(case, dtype, kinks_too):
    g = np.random.default_rng(sum(map(ord, case[0])))
    return [b(g, kinks_too).astype(dtype) for b in case[2]]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reference(case):
    arrays = _arrays(case, np.float64, kinks_too=True)
    y = case[1](F, *[numtorch.tensor(a) for a in arrays])
    with np.errstate(invalid="ignore"):
        want = case[3](*arrays)
    assert y.dtype is numtorch.float64 and tuple(y.shape) == want.shape
    np.testing.assert_allclose(y.numpy(), want, **TOL[np.float64])  # NaN where NumPy has it


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torch(case, dtype):
    arrays = _arrays(case, dtype, kinks_too=True)
    arrays[0].reshape(-1)[np.isnan(arrays[0].reshape(-1))] = 1.5  # NaN checked above
    xs = [numtorch.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = case[1](F, *xs), case[1](torch.nn.functional, *ts)
    assert str(y.dtype) == str(ty.dtype) and tuple(y.shape) == tuple(ty.shape)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **TOL[dtype])
    g = np.random.default_rng(1).standard_normal(tuple(ty.shape)).astype(dtype)
    (y * numtorch.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    tol = TOL[dtype]
    if case[0] == "celu" and dtype is np.float64:  # torch's double celu backward rounds 1/alpha
        tol = dict(rtol=1e-6, atol=1e-12)          # to float (test_reference pins the formula)
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), **tol)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck(case):
    xs = [numtorch.tensor(a, requires_grad=True)
          for a in _arrays(case, np.float64, kinks_too=False)]
    assert numtorch.autograd.gradcheck(lambda *a: case[1](F, *a), tuple(xs))


# --- rrelu in training: one random slope per element from numtorch's generator -------------
def test_rrelu_training_draws_slopes_in_range():
    x = numtorch.tensor(-np.linspace(0.5, 3.0, 4000), requires_grad=True)
    numtorch.manual_seed(3)
    y = F.rrelu(x, 0.1, 0.3, training=True)
    slope = (y / x).detach().numpy()
    assert slope.min() >= 0.1 and slope.max() < 0.3 and len(np.unique(slope)) > 3000
    assert abs(slope.mean() - 0.2) < 0.005 and abs(slope.std() - 0.2 / math.sqrt(12)) < 0.005
    y.sum().backward()  # the gradient is the slope drawn in forward
    np.testing.assert_allclose(x.grad.numpy(), slope, rtol=1e-12)
    numtorch.manual_seed(3)
    np.testing.assert_array_equal(F.rrelu(x.detach(), 0.1, 0.3, training=True).numpy(),
                                  y.detach().numpy())
    pos = numtorch.tensor([0.0, 1.0, 2.0], requires_grad=True)  # x > 0 passes; x = 0 gets a slope
    F.rrelu(pos, 0.1, 0.3, training=True).sum().backward()
    assert 0.1 <= pos.grad[0].item() < 0.3 and pos.grad[1:].tolist() == [1.0, 1.0]
    m = nn.RReLU(0.1, 0.3)
    assert m.training and len(set(m(-numtorch.ones(50)).tolist())) > 40
    assert m.eval()(-numtorch.ones(3)).tolist() == pytest.approx([-0.2] * 3)


# --- in-place forms: they write the input, bump its version and return it -------------------
INPLACE = [
    ("F.elu_", lambda F, x: F.elu_(x, 0.7), lambda F, x: F.elu(x, 0.7)),
    ("F.selu_", lambda F, x: F.selu_(x), lambda F, x: F.selu(x)),
    ("F.celu_", lambda F, x: F.celu_(x, 0.6), lambda F, x: F.celu(x, 0.6)),
    ("F.leaky_relu_", lambda F, x: F.leaky_relu_(x, 0.2), lambda F, x: F.leaky_relu(x, 0.2)),
    ("F.hardtanh_", lambda F, x: F.hardtanh_(x, -0.5, 1.0), lambda F, x: F.hardtanh(x, -0.5, 1.0)),
    ("F.threshold_", lambda F, x: F.threshold_(x, 0.3, -2.0),
     lambda F, x: F.threshold(x, 0.3, -2.0)),
    ("F.rrelu_", lambda F, x: F.rrelu_(x, 0.1, 0.4), lambda F, x: F.rrelu(x, 0.1, 0.4)),
    ("F.rrelu inplace", lambda F, x: F.rrelu(x, 0.1, 0.4, inplace=True),
     lambda F, x: F.rrelu(x, 0.1, 0.4)),
    ("F.relu_", lambda F, x: F.relu_(x), lambda F, x: F.relu(x)),
    ("CELU", lambda F, x: _nn(F).CELU(0.6, inplace=True)(x), lambda F, x: F.celu(x, 0.6)),
    ("SELU", lambda F, x: _nn(F).SELU(inplace=True)(x), lambda F, x: F.selu(x)),
    ("Threshold", lambda F, x: _nn(F).Threshold(0.3, -2.0, True)(x),
     lambda F, x: F.threshold(x, 0.3, -2.0)),
    ("RReLU eval", lambda F, x: _nn(F).RReLU(0.1, 0.4, True).eval()(x),
     lambda F, x: F.rrelu(x, 0.1, 0.4)),
]
VALUES = [-2.0, -0.3, 0.4, 2.5, 7.0]  # away from the kinks


def _nn(F):
    return nn if F is numtorch.nn.functional else torch.nn


@pytest.mark.parametrize("case", INPLACE, ids=[c[0] for c in INPLACE])
def test_inplace(case):
    _, inplace, plain = case
    x = numtorch.tensor(VALUES, dtype=numtorch.float64)
    want = plain(F, x).numpy()
    v = x._version
    assert inplace(F, x) is x and x._version == v + 1
    np.testing.assert_array_equal(x.numpy(), want)
    # under autograd, on a non-leaf: the gradient is the out-of-place one
    a = numtorch.tensor(VALUES, dtype=numtorch.float64, requires_grad=True)
    b = numtorch.tensor(VALUES, dtype=numtorch.float64, requires_grad=True)
    (inplace(F, a * 1.0) * a).sum().backward()
    (plain(F, b * 1.0) * b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        inplace(F, numtorch.tensor(VALUES, requires_grad=True))
    if torch is not None:
        t = torch.tensor(VALUES, dtype=torch.float64)
        assert inplace(torch.nn.functional, t) is t
        np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-15)


def test_hardtanh_inplace_accepts_min_above_max_like_torch():
    x = numtorch.tensor([-2.0, 0.5, 3.0])
    assert F.hardtanh_(x, 2.0, 1.0).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(x, 2.0, 1.0)


# --- modules: repr, state_dict, forward = functional, against torch --------------------------
MODULES = [
    ("PReLU", (), lambda F, x: F.prelu(x, numtorch.full((1,), 0.25, dtype=x.dtype))),
    ("PReLU", (3,), lambda F, x: F.prelu(x, numtorch.full((3,), 0.25, dtype=x.dtype))),
    ("PReLU", (3, 0.1), lambda F, x: F.prelu(x, numtorch.full((3,), 0.1, dtype=x.dtype))),
    ("RReLU", (), lambda F, x: F.rrelu(x)),
    ("RReLU", (0.1, 0.3, True), lambda F, x: F.rrelu(x, 0.1, 0.3)),
    ("Hardshrink", (), lambda F, x: F.hardshrink(x)),
    ("Softshrink", (0.3,), lambda F, x: F.softshrink(x, 0.3)),
    ("Threshold", (0.1, 20.0), lambda F, x: F.threshold(x, 0.1, 20.0)),
    ("Threshold", (0.1, 2, True), lambda F, x: F.threshold(x, 0.1, 2)),
    ("GLU", (), lambda F, x: F.glu(x)),
    ("GLU", (0,), lambda F, x: F.glu(x, 0)),
    ("CELU", (), lambda F, x: F.celu(x)),
    ("CELU", (2.0, True), lambda F, x: F.celu(x, 2.0)),
    ("SELU", (), lambda F, x: F.selu(x)),
    ("SELU", (True,), lambda F, x: F.selu(x)),
    ("Softsign", (), lambda F, x: F.softsign(x)),
    ("Tanhshrink", (), lambda F, x: F.tanhshrink(x)),
    ("LogSigmoid", (), lambda F, x: F.logsigmoid(x)),
    ("Softmax2d", (), lambda F, x: F.softmax(x, -3)),
    ("Hardtanh", (-1.0, 1.0, True), lambda F, x: F.hardtanh(x)),
]
REPRS = {  # torch's, for the checks that run without it
    ("PReLU", ()): "PReLU(num_parameters=1)",
    ("RReLU", (0.1, 0.3, True)): "RReLU(lower=0.1, upper=0.3, inplace=True)",
    ("Hardshrink", ()): "Hardshrink(0.5)",
    ("Threshold", (0.1, 2, True)): "Threshold(threshold=0.1, value=2, inplace=True)",
    ("CELU", (2.0, True)): "CELU(alpha=2.0, inplace=True)",
    ("SELU", ()): "SELU()",
}


@pytest.mark.parametrize("name,args,fn", MODULES,
                         ids=[f"{m[0]}{m[1]}" for m in MODULES])
def test_module(name, args, fn):
    m = getattr(nn, name)(*args)
    if (name, args) in REPRS:
        assert repr(m) == REPRS[(name, args)]
    x = numtorch.tensor(np.random.default_rng(0).standard_normal((2, 3, 2, 2)).astype(np.float32))
    m.eval()
    np.testing.assert_array_equal(m(x.clone()).detach().numpy(), fn(F, x).detach().numpy())
    if torch is not None:
        t = getattr(torch.nn, name)(*args).eval()
        assert repr(m) == repr(t)
        sd, tsd = m.state_dict(), t.state_dict()
        assert list(sd) == list(tsd)
        for k in sd:
            np.testing.assert_array_equal(sd[k].numpy(), tsd[k].numpy())
        np.testing.assert_allclose(m(x.clone()).detach().numpy(),
                                   t(torch.tensor(x.numpy())).detach().numpy(), **TOL[np.float32])


def test_prelu_module_learns_its_weight():
    m = nn.PReLU(2, init=0.5, dtype=numtorch.float64)
    assert m.weight.shape == (2,) and m.weight.requires_grad and m.init == 0.5
    x = numtorch.tensor([[-1.0, -2.0], [3.0, -4.0]], dtype=numtorch.float64)
    m(x).sum().backward()
    assert m.weight.grad.tolist() == [-1.0, -6.0]  # the sum of the non-positive inputs
    m2 = nn.PReLU(2)
    m2.load_state_dict({"weight": numtorch.tensor([0.1, 0.2])})
    assert m2(numtorch.tensor([[-1.0, -1.0]]))[0].tolist() == pytest.approx([-0.1, -0.2])


# --- bad input: PyTorch's exception types and messages ----------------------------------------
ERRORS = [
    (lambda lib: lib.nn.functional.prelu(lib.ones(2, 3), lib.ones(2)), RuntimeError,
     "Mismatch of parameter numbers and input channel size. Found parameter numbers = 2 and "
     "channel size = 3."),
    (lambda lib: lib.nn.functional.prelu(lib.ones(3), lib.ones(3)), RuntimeError,
     "Found parameter numbers = 3 and channel size = 1."),
    (lambda lib: lib.nn.functional.prelu(lib.ones(2, 3), lib.ones(1, 3)), RuntimeError,
     "prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = 2"),
    (lambda lib: lib.nn.functional.prelu(lib.ones(3), lib.ones(1, dtype=lib.float64)),
     RuntimeError, "prelu: Type promoting not supported. Got Float and Double"),
    (lambda lib: lib.nn.functional.prelu(lib.arange(3), lib.ones(1, dtype=lib.int64)),
     NotImplementedError, "\"prelu_cpu\" not implemented for 'Long'"),
    (lambda lib: lib.nn.functional.rrelu(lib.ones(2), 0.5, 0.1, True), RuntimeError,
     "Lower bound should be less than or equal to the upper bound"),
    (lambda lib: lib.nn.functional.rrelu(lib.ones(2), float("nan"), 0.1), RuntimeError,
     "rrelu: lower bound must be finite, got nan"),
    (lambda lib: lib.nn.functional.rrelu(lib.ones(2), 0.1, float("inf")), RuntimeError,
     "rrelu: upper bound must be finite, got inf"),
    (lambda lib: lib.nn.functional.rrelu(lib.arange(2), training=True), NotImplementedError,
     "\"rrelu_with_noise_out_cpu\" not implemented for 'Long'"),
    (lambda lib: lib.nn.functional.softshrink(lib.ones(2), -1.0), RuntimeError,
     "lambda must be in range [0, 3.40282e+38] for input dtype Float, but found -1"),
    (lambda lib: lib.nn.functional.softshrink(lib.ones(2, dtype=lib.float64), float("nan")),
     RuntimeError, "lambda must be in range [0, 1.79769e+308] for input dtype Double, but "
     "found nan"),
    (lambda lib: lib.nn.functional.softshrink(lib.arange(2)), NotImplementedError,
     "\"softshrink_check\" not implemented for 'Long'"),
    (lambda lib: lib.nn.functional.hardshrink(lib.arange(2)), NotImplementedError,
     "\"hardshrink_cpu\" not implemented for 'Long'"),
    (lambda lib: lib.nn.functional.glu(lib.ones(2, 3)), RuntimeError,
     "Halving dimension must be even, but dimension 1 is size 3"),
    (lambda lib: lib.nn.functional.glu(lib.tensor(1.0)), RuntimeError,
     "glu does not support scalars because halving size must be even"),
    (lambda lib: lib.nn.functional.glu(lib.ones(2, 4), 2), IndexError,
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda lib: lib.nn.functional.celu(lib.ones(2), 0.0), RuntimeError,
     "ZeroDivisionError: alpha cannot be 0 for CELU"),
    (lambda lib: lib.nn.functional.selu(lib.arange(2)), NotImplementedError,
     "\"elu_cpu\" not implemented for 'Long'"),
    (lambda lib: lib.nn.functional.elu_(lib.arange(2)), NotImplementedError,
     "\"elu_cpu\" not implemented for 'Long'"),
    (lambda lib: lib.nn.functional.leaky_relu_(lib.arange(2)), NotImplementedError,
     "\"leaky_relu_cpu\" not implemented for 'Long'"),
    (lambda lib: lib.nn.functional.logsigmoid(lib.arange(2)), NotImplementedError,
     "\"log_sigmoid_cpu\" not implemented for 'Long'"),
    (lambda lib: lib.nn.functional.gelu(lib.arange(2)), NotImplementedError,
     "\"GeluKernelImpl\" not implemented for 'Long'"),
    (lambda lib: lib.nn.functional.threshold(lib.arange(2) > 0, 0, 1), NotImplementedError,
     "\"threshold_cpu\" not implemented for 'Bool'"),
    (lambda lib: lib.nn.Softmax2d()(lib.ones(2, 3)), ValueError,
     "Softmax2d: expected input to be 3D or 4D, got 2D instead"),
    (lambda lib: lib.nn.ConvTranspose1d(1, 1, 3, stride=2)(lib.ones(1, 1, 4), output_size=[12]),
     ValueError, "requested an output size of [12], but valid sizes range from [9] to [10] "
     "(for an input of torch.Size([4]))"),
]


@pytest.mark.parametrize("fn,exc,msg", ERRORS, ids=[f"err{i}" for i in range(len(ERRORS))])
def test_errors(fn, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        fn(numtorch)
    if torch is not None:
        with pytest.raises(exc, match=re.escape(msg)):
            fn(torch)


def test_integer_inputs_keep_their_dtype_like_torch():
    x = numtorch.arange(-2, 3)
    assert F.threshold(x, -0.5, 7.9).tolist() == [7, 7, 7, 1, 2]  # both numbers truncated
    assert F.hardtanh(x, -0.5, 1.5).tolist() == [0, 0, 0, 1, 1]
    assert F.threshold(x, 1.5, 7).dtype is numtorch.int64
    assert F.softsign(x).dtype is numtorch.float32  # these two compute in float
    assert F.tanhshrink(x).dtype is numtorch.float32


# --- ConvTranspose1d -------------------------------------------------------------------------
def test_conv_transpose1d_module():
    numtorch.manual_seed(0)
    m = nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2,
                           dtype=numtorch.float64)
    assert m.weight.shape == (4, 3, 3) and m.bias.shape == (6,)
    assert repr(m) == ("ConvTranspose1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), "
                       "output_padding=(1,), groups=2)")
    x = numtorch.tensor(np.random.default_rng(0).standard_normal((2, 4, 5)), requires_grad=True)
    y = m(x)
    assert y.shape == (2, 6, 10)  # (5 - 1) * 2 - 2 + 3 + 1
    np.testing.assert_array_equal(y.detach().numpy(), F.conv_transpose1d(
        x, m.weight, m.bias, 2, 1, 1, 2).detach().numpy())
    assert m(x, output_size=[9]).shape == (2, 6, 9)
    assert m(x, output_size=(2, 6, 10)).shape == (2, 6, 10)
    assert numtorch.autograd.gradcheck(lambda a: m(a, output_size=[9]), (x,))
    if torch is not None:
        t = torch.nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2,
                                     dtype=torch.float64)
        t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
        assert repr(t) == repr(m)
        tx = torch.tensor(x.detach().numpy())
        np.testing.assert_allclose(y.detach().numpy(), t(tx).detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(m(x, output_size=[9]).detach().numpy(),
                                   t(tx, output_size=[9]).detach().numpy(), rtol=1e-12)
