"""Regression tests for deviations from PyTorch found by the hardening probe (issue 13, item 10).

Each case runs the same code on numtorch and on torch (``same``): both return equal results
(shape, dtype, values), or both raise the same exception type with a message of the same meaning.
"""
import re

import numpy as np
import pytest

import numtorch

torch = pytest.importorskip("torch")

OVERLAP = "more than one element of the written-to tensor refers to a single memory location"


def _plain(x):
    """Tensors (of either library), tuples and numbers as comparable Python/NumPy values."""
    if isinstance(x, (numtorch.Tensor, torch.Tensor)):
        return ("tensor", tuple(x.shape), str(x.dtype), x.detach().cpu().numpy())
    if isinstance(x, (tuple, list)):
        return [_plain(v) for v in x]
    return x


def _assert_equal(a, b, path="result"):
    if isinstance(b, list):
        assert isinstance(a, list) and len(a) == len(b), f"{path}: {a!r} != {b!r}"
        for i, (u, v) in enumerate(zip(a, b)):
            _assert_equal(u, v, f"{path}[{i}]")
    elif isinstance(b, tuple) and b and b[0] == "tensor":
        assert a[:3] == b[:3], f"{path}: shape/dtype {a[:3]} != {b[:3]}"
        np.testing.assert_allclose(a[3], b[3], rtol=1e-6, atol=1e-7, equal_nan=True,
                                   err_msg=path)
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def _run(fn, lib):
    try:
        return "ok", fn(lib)
    except Exception as e:  # noqa: BLE001 - the exception is the result under test
        return "err", e


def same(fn, match=None):
    """``fn(lib)`` on numtorch and torch: equal results, or the same exception type (a subclass
    for numtorch is fine) whose messages both match the regex ``match``."""
    (kn, rn), (kt, rt) = _run(fn, numtorch), _run(fn, torch)
    if kt == "err":
        assert kn == "err", f"torch raised {rt!r}, numtorch returned {rn!r}"
        assert isinstance(rn, type(rt)), f"numtorch raised {rn!r}, torch {rt!r}"
        if match is not None:
            assert re.search(match, str(rt)), f"torch's message changed: {rt}"
            assert re.search(match, str(rn)), f"numtorch's message {rn} does not match {match!r}"
        return None
    assert kn == "ok", f"numtorch raised {rn!r}, torch returned {rt!r}"
    _assert_equal(_plain(rn), _plain(rt))
    return rn, rt


def _grads(fn, value, dtype="float64"):
    """The gradient of ``fn(lib, x).sum()`` (weighted) at ``value`` in numtorch and torch."""
    out = []
    for lib in (numtorch, torch):
        x = lib.tensor(value, dtype=getattr(lib, dtype), requires_grad=True)
        y = fn(lib, x)
        y = y[0] if isinstance(y, tuple) else y
        w = lib.arange(y.numel(), dtype=y.dtype).reshape(y.shape) + 1
        (y * w).sum().backward()
        out.append(x.grad)
    return out


# --- cross_entropy on integer logits; binary_cross_entropy on NaN ----------------------------
@pytest.mark.parametrize("case", [
    lambda t: t.nn.functional.cross_entropy(t.tensor([[1, 2, 3]]), t.tensor([0])),
    lambda t: t.nn.functional.cross_entropy(t.tensor([[1, 2, 3]], dtype=t.int32), t.tensor([2])),
    lambda t: t.nn.functional.cross_entropy(t.tensor([1, 2, 3]), t.tensor(1)),
    lambda t: t.nn.functional.cross_entropy(t.tensor([[1, 2, 3]]), t.tensor([[0.0, 1.0, 0.0]])),
    lambda t: t.nn.functional.cross_entropy(t.ones(2, 3, 4, dtype=t.int64),
                                            t.zeros(2, 4, dtype=t.int64)),
], ids=["int64", "int32", "unbatched", "prob-target", "spatial"])
def test_cross_entropy_integer_logits(case):
    same(case, match="not implemented for")


def test_cross_entropy_float_logits_still_work():
    same(lambda t: t.nn.functional.cross_entropy(t.tensor([[1.0, 2.0, 3.0]]), t.tensor([0])))


@pytest.mark.parametrize("values", [
    [float("nan"), 0.5], [0.5, float("nan")], [1.5, 0.5], [-0.1, 0.5], [0.0, 1.0], [0.3, 0.7], [],
], ids=["nan-first", "nan-last", "above", "below", "bounds", "inside", "empty"])
def test_binary_cross_entropy_input_range(values):
    def fn(t):
        x = t.tensor(values)
        return t.nn.functional.binary_cross_entropy(x, t.ones_like(x) * 0.5)
    same(fn, match="all elements of input should be between 0 and 1")


# --- factories: sizes must be non-negative integers -----------------------------------------
NEGATIVE = r"negative|greater or equal to 0"
FACTORY_CASES = [
    ("zeros(2.5)", lambda t: t.zeros(2.5), "tuple of ints"),
    ("ones(2.5)", lambda t: t.ones(2.5), "tuple of ints"),
    ("empty(2.5)", lambda t: t.empty(2.5), "tuple of ints"),
    ("zeros((2, 2.5))", lambda t: t.zeros((2, 2.5)), "tuple of ints"),
    ("zeros(True)", lambda t: t.zeros(True), "tuple of ints"),
    ("zeros(float tensor)", lambda t: t.zeros(t.tensor(2.0)), "tuple of ints"),
    ("zeros(-1)", lambda t: t.zeros(-1), NEGATIVE),
    ("zeros(2, -1)", lambda t: t.zeros(2, -1), NEGATIVE),
    ("full((2.5,))", lambda t: t.full((2.5,), 1.0), "tuple of ints"),
    ("full((-1,))", lambda t: t.full((-1,), 1.0), NEGATIVE),
    ("rand(2.5)", lambda t: t.rand(2.5), "tuple of ints"),
    ("randn(-2)", lambda t: t.randn(-2), NEGATIVE),
    ("randint size=(2.5,)", lambda t: t.randint(0, 5, (2.5,)), None),
    ("randint size=(-1,)", lambda t: t.randint(0, 5, (-1,)), NEGATIVE),
    ("randint size=3", lambda t: t.randint(0, 5, 3), None),
    ("randperm(-3)", lambda t: t.randperm(-3), NEGATIVE),
    ("randperm(2.5)", lambda t: t.randperm(2.5), "int"),
    ("randperm(True)", lambda t: t.randperm(True), "int"),
    ("arange(0, 5, -1)", lambda t: t.arange(0, 5, -1), "inconsistent with step sign"),
    ("arange(5, 0, 1)", lambda t: t.arange(5, 0, 1), "inconsistent with step sign"),
    ("arange(nan)", lambda t: t.arange(float("nan")), "unsupported range"),
    ("arange(inf)", lambda t: t.arange(float("inf")), "unsupported range"),
    ("eye(-1)", lambda t: t.eye(-1), NEGATIVE),
    ("eye(2, -1)", lambda t: t.eye(2, -1), NEGATIVE),
    ("eye(2.5)", lambda t: t.eye(2.5), "int"),
    ("linspace steps=-1", lambda t: t.linspace(0, 1, -1), "non-negative"),
    ("linspace steps=2.5", lambda t: t.linspace(0, 1, 2.5), None),
    ("logspace steps=-1", lambda t: t.logspace(0, 1, -1), "non-negative"),
    ("empty_strided((-1,))", lambda t: t.empty_strided((-1,), (1,)), NEGATIVE),
    ("new_zeros(2.5)", lambda t: t.zeros(1).new_zeros(2.5), "tuple of ints"),
    # what stays accepted: NumPy integers, integer tensors, empty sizes
    ("zeros(np.int64)", lambda t: t.zeros(np.int64(3)), None),
    ("zeros(int tensor)", lambda t: t.zeros(t.tensor(2)), None),
    ("zeros([int tensor, 3])", lambda t: t.zeros([t.tensor(2), 3]), None),
    ("zeros(0, 3)", lambda t: t.zeros(0, 3), None),
    ("full((), 2)", lambda t: t.full((), 2.0), None),
    ("randperm(0)", lambda t: t.randperm(0), None),
    ("randperm(np.int64(1))", lambda t: t.randperm(np.int64(1)), None),
    ("eye(0, 2)", lambda t: t.eye(0, 2), None),
    ("linspace steps=0", lambda t: t.linspace(0, 1, 0), None),
]


@pytest.mark.parametrize("fn,match", [c[1:] for c in FACTORY_CASES],
                         ids=[c[0] for c in FACTORY_CASES])
def test_factory_sizes(fn, match):
    same(fn, match=match)


# --- 0-d inputs along dim 0 / -1 ------------------------------------------------------------
ZERO_D_CASES = [
    ("max(0)", lambda t: t.max(t.tensor(3.0), 0)),
    ("max(-1, keepdim)", lambda t: t.max(t.tensor(3.0), -1, keepdim=True)),
    ("min(0)", lambda t: t.tensor(3.0).min(0)),
    ("argmax(0)", lambda t: t.argmax(t.tensor(3.0), 0)),
    ("argmin(-1, keepdim)", lambda t: t.argmin(t.tensor(3.0), -1, keepdim=True)),
    ("argmax()", lambda t: t.argmax(t.tensor(3.0))),
    ("max(1)", lambda t: t.tensor(3.0).max(1)),
    ("argmax(1)", lambda t: t.tensor(3.0).argmax(1)),
    ("index_select [0]", lambda t: t.index_select(t.tensor(3.0), 0, t.tensor([0]))),
    ("index_select 0-d index", lambda t: t.index_select(t.tensor(3.0), -1, t.tensor(0))),
    ("index_select int32", lambda t: t.tensor(3.0).index_select(0, t.tensor([0], dtype=t.int32))),
    ("index_select 2 values", lambda t: t.index_select(t.tensor(3.0), 0, t.tensor([0, 0]))),
    ("index_select no value", lambda t: t.index_select(t.tensor(3.0), 0,
                                                         t.tensor([], dtype=t.int64))),
    ("index_select [1]", lambda t: t.index_select(t.tensor(3.0), 0, t.tensor([1]))),
    ("index_select dim 1", lambda t: t.index_select(t.tensor(3.0), 1, t.tensor([0]))),
    ("nonzero", lambda t: t.nonzero(t.tensor(3.0))),
    ("nonzero of 0", lambda t: t.nonzero(t.tensor(0.0))),
    ("nonzero as_tuple", lambda t: t.nonzero(t.tensor(3.0), as_tuple=True)),
    ("nonzero of 0 as_tuple", lambda t: t.tensor(0).nonzero(as_tuple=True)),
    ("argwhere", lambda t: t.argwhere(t.tensor(True))),
]


@pytest.mark.parametrize("fn", [c[1] for c in ZERO_D_CASES], ids=[c[0] for c in ZERO_D_CASES])
def test_zero_dim_along_dim(fn):
    same(fn, match=r"Index to scalar|out of range")


@pytest.mark.parametrize("fn", [
    lambda t, x: t.max(x, 0),
    lambda t, x: x.min(-1, keepdim=True),
    lambda t, x: t.index_select(x, 0, t.tensor([0])),
], ids=["max", "min", "index_select"])
def test_zero_dim_along_dim_gradients(fn):
    g, tg = _grads(fn, 3.0)
    _assert_equal(_plain(g), _plain(tg))


# --- normalisation on empty inputs, and one value per channel --------------------------------
def _bn(shape, training=True, stats=True, affine=False):
    def fn(t):
        x = t.zeros(shape)
        C = shape[1]
        rm, rv = (t.zeros(C), t.ones(C)) if stats else (None, None)
        w, b = (t.ones(C), t.zeros(C)) if affine else (None, None)
        y = t.nn.functional.batch_norm(x, rm, rv, w, b, training=training)
        return (y, rm, rv) if stats else y
    return fn


NORM_CASES = [
    ("bn (0, 3) train", _bn((0, 3), stats=False)),
    ("bn (0, 3) train stats", _bn((0, 3))),
    ("bn (0, 3, 4) affine", _bn((0, 3, 4), affine=True)),
    ("bn (0, 3) eval", _bn((0, 3), training=False)),
    ("bn (2, 3, 0) train", _bn((2, 3, 0), stats=False)),
    ("bn (2, 0) train", _bn((2, 0), stats=False)),
    ("bn (1, 3) train", _bn((1, 3), stats=False)),
    ("bn (1, 3, 1) train", _bn((1, 3, 1))),
    ("bn (1, 3, 1) eval", _bn((1, 3, 1), training=False)),
    ("bn (2, 3) train", _bn((2, 3))),
    ("BatchNorm1d (0, 3)", lambda t: t.nn.BatchNorm1d(3)(t.zeros(0, 3))),
    ("BatchNorm2d (0, 3, 2, 2)", lambda t: t.nn.BatchNorm2d(3)(t.zeros(0, 3, 2, 2))),
    ("BatchNorm1d (1, 3)", lambda t: t.nn.BatchNorm1d(3)(t.zeros(1, 3))),
    ("gn (0, 4)", lambda t: t.nn.functional.group_norm(t.zeros(0, 4), 2)),
    ("gn (0, 4, 3) affine", lambda t: t.nn.functional.group_norm(t.zeros(0, 4, 3), 2, t.ones(4),
                                                                 t.zeros(4))),
    ("gn (2, 4, 0)", lambda t: t.nn.functional.group_norm(t.zeros(2, 4, 0), 2)),
    ("gn (2, 0)", lambda t: t.nn.functional.group_norm(t.zeros(2, 0), 1)),
    ("gn (1, 4, 1, 1) G=4", lambda t: t.nn.functional.group_norm(t.zeros(1, 4, 1, 1), 4)),
    ("gn (1, 4) G=4", lambda t: t.nn.functional.group_norm(t.ones(1, 4), 4)),
    ("gn (1, 2, 1) G=1", lambda t: t.nn.functional.group_norm(t.arange(2.0).reshape(1, 2, 1), 1)),
    ("gn (2, 4) G=4", lambda t: t.nn.functional.group_norm(t.ones(2, 4), 4)),
    ("GroupNorm (0, 4, 2)", lambda t: t.nn.GroupNorm(2, 4)(t.zeros(0, 4, 2))),
    ("ln (0, 3)", lambda t: t.nn.functional.layer_norm(t.zeros(0, 3), (3,))),
    ("ln (0, 2, 3)", lambda t: t.nn.functional.layer_norm(t.zeros(0, 2, 3), (2, 3))),
    ("ln (2, 0)", lambda t: t.nn.functional.layer_norm(t.zeros(2, 0), (0,))),
    ("LayerNorm (0, 3)", lambda t: t.nn.LayerNorm(3)(t.zeros(0, 3))),
]


@pytest.mark.parametrize("fn", [c[1] for c in NORM_CASES], ids=[c[0] for c in NORM_CASES])
def test_norm_empty_and_single_value(fn):
    same(fn, match="Expected more than 1 value per channel when training")


@pytest.mark.parametrize("fn,shape", [
    (lambda t, x: t.nn.functional.batch_norm(x, None, None, t.ones(3), t.zeros(3), True), (0, 3)),
    (lambda t, x: t.nn.functional.batch_norm(x, None, None, training=True), (2, 3, 0)),
    (lambda t, x: t.nn.functional.group_norm(x, 2), (0, 4, 3)),
    (lambda t, x: t.nn.functional.layer_norm(x, (3,)), (0, 3)),
], ids=["batch_norm", "batch_norm-spatial", "group_norm", "layer_norm"])
def test_norm_empty_gradients(fn, shape):
    g, tg = _grads(fn, np.zeros(shape))
    _assert_equal(_plain(g), _plain(tg))


# --- splitting zero-size (and 0-d) dims -----------------------------------------------------
SPLIT_CASES = [
    ("split(2) of (0,)", lambda t: t.zeros(0).split(2)),
    ("split(1) of (0,)", lambda t: t.zeros(0).split(1)),
    ("split(0) of (0,)", lambda t: t.zeros(0).split(0)),
    ("split([]) of (0,)", lambda t: t.zeros(0).split([])),
    ("split([0, 0]) of (0,)", lambda t: t.zeros(0).split([0, 0])),
    ("split(2) of (0, 3)", lambda t: t.zeros(0, 3).split(2)),
    ("split(2, 1) of (3, 0)", lambda t: t.zeros(3, 0).split(2, 1)),
    ("split(2) of (5,)", lambda t: t.arange(5).split(2)),
    ("split(0) of (5,)", lambda t: t.zeros(5).split(0)),
    ("split(-1) of (5,)", lambda t: t.zeros(5).split(-1)),
    ("split of 0-d", lambda t: t.tensor(1.0).split(1)),
    ("chunk(3) of (0,)", lambda t: t.zeros(0).chunk(3)),
    ("chunk(2) of (0, 3)", lambda t: t.zeros(0, 3).chunk(2)),
    ("chunk(2, 1) of (3, 0)", lambda t: t.zeros(3, 0).chunk(2, 1)),
    ("chunk(4) of (6,)", lambda t: t.arange(6).chunk(4)),
    ("chunk(5) of (2,)", lambda t: t.arange(2).chunk(5)),
    ("chunk(0)", lambda t: t.zeros(0).chunk(0)),
    ("chunk(-1)", lambda t: t.zeros(3).chunk(-1)),
    ("chunk of 0-d", lambda t: t.tensor(1.0).chunk(1)),
    ("tensor_split(3) of (0,)", lambda t: t.zeros(0).tensor_split(3)),
    ("tensor_split([1, 2]) of (0,)", lambda t: t.zeros(0).tensor_split([1, 2])),
    ("tensor_split(2) of (0, 3)", lambda t: t.zeros(0, 3).tensor_split(2)),
    ("tensor_split(0)", lambda t: t.zeros(5).tensor_split(0)),
    ("tensor_split([3, 1])", lambda t: t.arange(5).tensor_split([3, 1])),
    ("tensor_split([2, -4])", lambda t: t.arange(5).tensor_split([2, -4])),
    ("tensor_split([-2, 10])", lambda t: t.arange(5).tensor_split([-2, 10])),
    ("tensor_split(tensor)", lambda t: t.arange(5).tensor_split(t.tensor([1, 3]))),
    ("tensor_split(0-d tensor)", lambda t: t.arange(5).tensor_split(t.tensor(2))),
    ("tensor_split(2-d tensor)", lambda t: t.arange(5).tensor_split(t.tensor([[1]]))),
    ("tensor_split of 0-d", lambda t: t.tensor(1.0).tensor_split(1)),
    ("unbind of (0,)", lambda t: t.zeros(0).unbind()),
    ("unbind(1) of (3, 0)", lambda t: t.zeros(3, 0).unbind(1)),
    ("unbind(1) of (0, 3)", lambda t: t.zeros(0, 3).unbind(1)),
    ("unbind of 0-d", lambda t: t.tensor(1.0).unbind()),
]


@pytest.mark.parametrize("fn", [c[1] for c in SPLIT_CASES], ids=[c[0] for c in SPLIT_CASES])
def test_split_family_zero_size(fn):
    same(fn, match=r"split_size|chunks|sections|at least a 1-dimensional|dimensional tensor|"
                   r"no dimensions")


def test_tensor_split_overlapping_pieces_gradient():
    g, tg = _grads(lambda t, x: t.cat(x.tensor_split([3, 1])), np.arange(5.0))
    _assert_equal(_plain(g), _plain(tg))


# --- writes into expanded (stride-0) views ---------------------------------------------------
EXPANDED_WRITES = [
    ("add_", lambda t, x: x.add_(1)),
    ("iadd", lambda t, x: x.__iadd__(1)),
    ("mul_", lambda t, x: x.mul_(2)),
    ("clamp_", lambda t, x: x.clamp_(min=1)),
    ("relu_", lambda t, x: x.relu_()),
    ("copy_", lambda t, x: x.copy_(t.ones(2, 3))),
    ("uniform_", lambda t, x: x.uniform_()),
    ("scatter_", lambda t, x: x.scatter_(0, t.tensor([[0]]), 1.0)),
    ("index_add_", lambda t, x: x.index_add_(0, t.tensor([0]), t.ones(1, 3))),
    ("t().add_", lambda t, x: x.t().add_(1)),
    ("setitem [:, 0]", lambda t, x: x.__setitem__((slice(None), 0), 1.0)),
    ("setitem [...]", lambda t, x: x.__setitem__(Ellipsis, 1.0)),
    ("setitem [:] tensor", lambda t, x: x.__setitem__(slice(None), t.ones(3))),
    # PyTorch allows these: fills, and writes to a part with no shared locations
    ("fill_", lambda t, x: x.fill_(1.0)),
    ("zero_", lambda t, x: x.zero_()),
    ("setitem [0]", lambda t, x: x.__setitem__(0, 1.0)),
    ("setitem [0, 0]", lambda t, x: x.__setitem__((0, 0), 2.0)),
    ("setitem [0] tensor", lambda t, x: x.__setitem__(0, t.tensor([1.0, 2.0, 3.0]))),
    ("[0].add_", lambda t, x: x[0].add_(1)),
    ("[:1].add_", lambda t, x: x[:1].add_(1)),
]


@pytest.mark.parametrize("write", [c[1] for c in EXPANDED_WRITES],
                         ids=[c[0] for c in EXPANDED_WRITES])
def test_write_into_expanded_view(write):
    def fn(t):
        base = t.zeros(3)
        x = base.expand(2, 3)
        write(t, x)
        return x, base
    same(fn, match=re.escape(OVERLAP))


def test_write_into_expanded_size_one_dims_is_fine():
    def fn(t):
        x = t.zeros(1).expand(1, 1)
        x.add_(1)
        y = t.zeros(1, 3).expand(0, 3)
        y.add_(1)
        return x, y
    same(fn)


# --- inplace=True activations and dropout ----------------------------------------------------
INPLACE_CASES = [
    ("F.relu", lambda t, x: t.nn.functional.relu(x, inplace=True)),
    ("F.relu_", lambda t, x: t.nn.functional.relu_(x)),
    ("F.leaky_relu", lambda t, x: t.nn.functional.leaky_relu(x, 0.2, inplace=True)),
    ("F.elu", lambda t, x: t.nn.functional.elu(x, 1.5, inplace=True)),
    ("F.hardtanh", lambda t, x: t.nn.functional.hardtanh(x, -0.5, 0.5, inplace=True)),
    ("F.relu6", lambda t, x: t.nn.functional.relu6(x, inplace=True)),
    ("F.silu", lambda t, x: t.nn.functional.silu(x, inplace=True)),
    ("F.selu", lambda t, x: t.nn.functional.selu(x, inplace=True)),
    ("F.celu", lambda t, x: t.nn.functional.celu(x, 0.7, inplace=True)),
    ("F.threshold", lambda t, x: t.nn.functional.threshold(x, 0.1, -2.0, inplace=True)),
    ("F.hardsigmoid", lambda t, x: t.nn.functional.hardsigmoid(x, inplace=True)),
    ("F.hardswish", lambda t, x: t.nn.functional.hardswish(x, inplace=True)),
    ("F.mish", lambda t, x: t.nn.functional.mish(x, inplace=True)),
    ("F.dropout p=1", lambda t, x: t.nn.functional.dropout(x, 1.0, True, inplace=True)),
    ("nn.ReLU", lambda t, x: t.nn.ReLU(inplace=True)(x)),
    ("nn.LeakyReLU", lambda t, x: t.nn.LeakyReLU(0.1, inplace=True)(x)),
    ("nn.ELU", lambda t, x: t.nn.ELU(inplace=True)(x)),
    ("nn.Hardtanh", lambda t, x: t.nn.Hardtanh(inplace=True)(x)),
    ("nn.ReLU6", lambda t, x: t.nn.ReLU6(inplace=True)(x)),
    ("nn.SiLU", lambda t, x: t.nn.SiLU(inplace=True)(x)),
    ("nn.Mish", lambda t, x: t.nn.Mish(inplace=True)(x)),
    ("nn.Hardswish", lambda t, x: t.nn.Hardswish(inplace=True)(x)),
    ("nn.Dropout p=1", lambda t, x: t.nn.Dropout(1.0, inplace=True)(x)),
]
VALUES = [-2.0, -0.3, 0.0, 0.4, 2.5, 7.0]  # away from the kinks where subgradients differ


@pytest.mark.parametrize("fn", [c[1] for c in INPLACE_CASES], ids=[c[0] for c in INPLACE_CASES])
def test_inplace_activation_writes_the_input(fn):
    def run(t):
        x = t.tensor(VALUES, dtype=t.float64)
        v = x._version
        y = fn(t, x)
        return y is x, x._version - v, x
    same(run)


@pytest.mark.parametrize("fn", [c[1] for c in INPLACE_CASES], ids=[c[0] for c in INPLACE_CASES])
def test_inplace_activation_autograd(fn):
    g, tg = _grads(lambda t, a: fn(t, a * 1.0), VALUES)  # on a non-leaf: fine in PyTorch
    _assert_equal(_plain(g), _plain(tg))
    same(lambda t: fn(t, t.tensor(VALUES, requires_grad=True)), match="leaf Variable")

    def no_grad(t):
        with t.no_grad():
            x = t.tensor(VALUES, requires_grad=True)
            fn(t, x)
        return x.requires_grad, x.grad_fn is None, x.detach()
    same(no_grad)


def test_inplace_dropout_keeps_the_pytorch_contract():
    for lib in (numtorch, torch):
        lib.manual_seed(0)
        x = lib.ones(1000)
        v = x._version
        assert lib.nn.functional.dropout(x, 0.5, True, inplace=True) is x
        assert x._version == v + 1
        assert set(x.tolist()) == {0.0, 2.0}
        x = lib.ones(2, 3, 4, 4)
        assert lib.nn.Dropout2d(0.5, inplace=True)(x) is x
        assert {len(set(c.flatten().tolist())) for c in x.reshape(6, -1)} == {1}
        x = lib.ones(3)
        assert lib.nn.Dropout(0.5, inplace=True).eval()(x) is x and x._version == 0


def test_inplace_activation_on_expanded_input_raises():
    same(lambda t: t.nn.functional.relu(t.zeros(3).expand(2, 3), inplace=True),
         match=re.escape(OVERLAP))
    same(lambda t: t.nn.LeakyReLU(inplace=True)(t.zeros(3).expand(2, 3)),
         match=re.escape(OVERLAP))


# --- Tensor.repeat always copies ---------------------------------------------------------------
REPEAT_CASES = [
    ("0-d", lambda t: t.tensor(1.0).repeat(3)),
    ("0-d to 2-d", lambda t: t.tensor(1.0).repeat(2, 3)),
    ("1-d", lambda t: t.tensor([1.0, 2.0]).repeat(2)),
    ("1-d to 3-d", lambda t: t.tensor([1.0, 2.0]).repeat(2, 1, 2)),
    ("2-d", lambda t: t.arange(6.0).reshape(2, 3).repeat(2, 2)),
    ("transposed", lambda t: t.arange(6.0).reshape(2, 3).t().repeat(1, 2)),
    ("zero repeat", lambda t: t.zeros(2, 3).repeat(2, 0)),
    ("empty", lambda t: t.zeros(0).repeat(3)),
    ("expanded", lambda t: t.zeros(3).expand(2, 3).repeat(1, 1)),
]


@pytest.mark.parametrize("fn", [c[1] for c in REPEAT_CASES], ids=[c[0] for c in REPEAT_CASES])
def test_repeat_returns_a_writable_copy(fn):
    def run(t):
        y = fn(t)
        contiguous, strides = y.is_contiguous(), y.stride() if y.numel() else None
        y.add_(1)
        if y.numel():
            y[(0,) * y.ndim] = 7.0
        return contiguous, strides, y
    same(run)


def test_repeat_gradient_and_inplace_on_result():
    g, tg = _grads(lambda t, x: x.repeat(2, 1, 3), np.arange(6.0).reshape(2, 3))
    _assert_equal(_plain(g), _plain(tg))
    g, tg = _grads(lambda t, x: x.repeat(3).mul_(2), np.arange(2.0))  # in place on the result
    _assert_equal(_plain(g), _plain(tg))
    same(lambda t: t.zeros(2).repeat(-1), match="negative dimension")


@pytest.mark.parametrize("args", [(1, -2, 2), (1, 5, 1), (1, 2, 5), (1, -1, 2), (1, 1, -1),
                                  (0, -2, 1), (0, 1, 0)])
def test_narrow_errors_like_torch(args):
    torch = pytest.importorskip("torch")
    try:
        expected = torch.zeros(1, 4).narrow(*args).shape
    except Exception as e:  # noqa: BLE001  (the type is what is compared)
        with pytest.raises(type(e)):
            numtorch.zeros(1, 4).narrow(*args)
    else:
        assert tuple(numtorch.zeros(1, 4).narrow(*args).shape) == tuple(expected)


@pytest.mark.parametrize("shape,index", [((1, 3), [0, 1, 2]), ((3, 2), [0, 1, 2]),
                                         ((3, 3), [0, 1]), ((2, 3, 3), [0, 1, 2]),
                                         ((3, 3), [0, 1, 3])])
def test_index_add_checks_the_source_shape_like_torch(shape, index):
    torch = pytest.importorskip("torch")
    try:
        expected = torch.zeros(3, 4).index_add(1, torch.tensor(index), torch.ones(shape))
    except RuntimeError as e:
        with pytest.raises(RuntimeError, match=re.escape(str(e)[:40])):
            numtorch.zeros(3, 4).index_add(1, numtorch.tensor(index), numtorch.ones(shape))
    else:
        got = numtorch.zeros(3, 4).index_add(1, numtorch.tensor(index), numtorch.ones(shape))
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.parametrize("shape", [(1, 4), (2, 3), (2, 4, 1), (2, 4)])
def test_index_copy_checks_the_source_shape_like_torch(shape):
    torch = pytest.importorskip("torch")
    try:
        expected = torch.zeros(3, 4).index_copy(0, torch.tensor([0, 2]), torch.ones(shape))
    except (IndexError, RuntimeError) as e:
        with pytest.raises(type(e), match=re.escape(str(e)[:40])):
            numtorch.zeros(3, 4).index_copy(0, numtorch.tensor([0, 2]), numtorch.ones(shape))
    else:
        got = numtorch.zeros(3, 4).index_copy(0, numtorch.tensor([0, 2]), numtorch.ones(shape))
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
