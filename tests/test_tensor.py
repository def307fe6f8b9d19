"""Tensor semantics: creation, dtypes and promotion, views, conversion, reprs, bad input."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import numtorch as nt

try:
    import torch
except ImportError:  # the NumPy references below still run
    torch = None


def test_creation_functions():
    assert nt.tensor([[1, 2], [3, 4]]).dtype is nt.int64
    assert nt.tensor([1.0, 2]).dtype is nt.float32
    assert nt.tensor([True, False]).dtype is nt.bool
    assert nt.tensor(3.5).ndim == 0
    assert nt.Tensor(2, 3).shape == (2, 3) and nt.Tensor([1, 2]).dtype is nt.float32
    np.testing.assert_array_equal(nt.zeros(2, 3).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(nt.ones((2,), dtype=nt.int32).numpy(), [1, 1])
    np.testing.assert_array_equal(nt.full((2, 2), 7).numpy(), np.full((2, 2), 7))
    assert nt.full((1,), 7).dtype is nt.int64 and nt.full((1,), 7.0).dtype is nt.float32
    np.testing.assert_array_equal(nt.arange(5).numpy(), np.arange(5))
    np.testing.assert_allclose(nt.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(nt.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(nt.eye(3).numpy(), np.eye(3))
    x = nt.randn(3, 4)
    assert nt.zeros_like(x).shape == x.shape and nt.ones_like(x, dtype=nt.float64).dtype is nt.float64
    assert nt.empty(0, 3).shape == (0, 3)
    with pytest.raises(RuntimeError, match="negative dimension"):
        nt.zeros(-1)


def test_manual_seed_reproduces_and_distributions():
    nt.manual_seed(123)
    a = nt.rand(1000)
    b = nt.randn(1000)
    c = nt.randint(0, 10, (1000,))
    p = nt.randperm(10)
    nt.manual_seed(123)
    np.testing.assert_array_equal(a.numpy(), nt.rand(1000).numpy())
    np.testing.assert_array_equal(b.numpy(), nt.randn(1000).numpy())
    np.testing.assert_array_equal(c.numpy(), nt.randint(0, 10, (1000,)).numpy())
    assert 0 <= a.min().item() and a.max().item() < 1
    assert abs(b.mean().item()) < 0.15 and abs(b.std().item() - 1) < 0.15
    assert c.dtype is nt.int64 and c.min().item() >= 0 and c.max().item() <= 9
    assert sorted(p.tolist()) == list(range(10))


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
def test_type_promotion_matches_torch():
    dts = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
           "float64"]
    for a in dts:
        for b in dts:
            x = nt.ones(2, dtype=getattr(nt, a))
            y = nt.ones(2, dtype=getattr(nt, b))
            tx = torch.ones(2, dtype=getattr(torch, a))
            ty = torch.ones(2, dtype=getattr(torch, b))
            assert nt.result_type(x, y).name == str(torch.result_type(tx, ty))[6:]
            assert nt.result_type(x, y[0]).name == str(torch.result_type(tx, ty[0]))[6:]
        for s in (True, 2, 2.5):
            assert nt.result_type(nt.ones(2, dtype=getattr(nt, a)), s).name == \
                str(torch.result_type(torch.ones(2, dtype=getattr(torch, a)), s))[6:]
    assert (nt.tensor([1, 2]) / 2).dtype is nt.float32
    assert (nt.tensor([1, 2], dtype=nt.int32) + 2.5).dtype is nt.float32
    assert (nt.tensor([1.0]) + nt.tensor(1.0, dtype=nt.float64)).dtype is nt.float32


def test_conversions():
    x = nt.tensor([1.7, -2.2])
    assert x.long().tolist() == [1, -2] and x.int().dtype is nt.int32
    assert x.double().dtype is nt.float64 and x.bool().tolist() == [True, True]
    assert x.to(nt.float64).dtype is nt.float64 and x.to("cpu") is x
    assert nt.tensor([[1, 2]]).tolist() == [[1, 2]]
    assert nt.tensor(2.5).item() == 2.5 and float(nt.tensor([3.0])) == 3.0
    assert len(nt.zeros(4, 2)) == 4 and [t.shape for t in nt.zeros(2, 3)] == [(3,), (3,)]
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        nt.zeros(3).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(nt.zeros(2))
    assert np.asarray(nt.arange(3)).tolist() == [0, 1, 2]


def test_from_numpy_and_numpy_share_memory():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = nt.from_numpy(a)
    a[0, 0] = 42
    assert t[0, 0].item() == 42
    t.numpy()[1, 2] = -1
    assert a[1, 2] == -1
    assert nt.as_tensor(a)._data is a
    with pytest.raises(TypeError, match="can't convert"):
        nt.from_numpy(np.array(["a"]))


def test_views_share_storage_and_version():
    x = nt.arange(12, dtype=nt.float32)
    v = x.view(3, 4)
    t = v.t()
    s = v[1:, ::2]
    for w in (v, t, s, x.reshape(2, 6), v.unsqueeze(0), v.permute(1, 0), v.narrow(1, 1, 2),
              v[None, ..., 0], v.expand(2, 3, 4), v[0].flatten()):
        assert w._version == x._version
        assert np.shares_memory(w._data, x._data)
    assert t.stride() == (1, 4) and not t.is_contiguous() and v.is_contiguous()
    s.fill_(0)
    assert x._version == 1 and x.view(3, 4)[1, 0].item() == 0
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        t.view(12)
    assert t.reshape(12).is_contiguous()
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[::-1]


def test_setitem_variants():
    x = nt.zeros(3, 4)
    x[0] = 1
    x[1, 1:3] = nt.tensor([2.0, 3.0])
    x[x > 2.5] = 9
    x[[2, 2], [0, 3]] = 5
    x[:, 0] += 1
    ref = np.zeros((3, 4), np.float32)
    ref[0] = 1
    ref[1, 1:3] = [2, 3]
    ref[ref > 2.5] = 9
    ref[[2, 2], [0, 3]] = 5
    ref[:, 0] += 1
    np.testing.assert_array_equal(x.numpy(), ref)


def test_repr_like_pytorch():
    assert repr(nt.tensor([[1.0, 2.0]], requires_grad=True)) == \
        "tensor([[1., 2.]], requires_grad=True)"
    assert repr(nt.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(nt.tensor([1.5, 2.25])) == "tensor([1.5000, 2.2500])"
    assert repr(nt.tensor([1.0], dtype=nt.float64)) == "tensor([1.], dtype=torch.float64)"
    assert repr(nt.tensor([True])) == "tensor([True])"
    assert "grad_fn=<MulBackward0>" in repr(nt.ones(1, requires_grad=True) * 2)
    big = repr(nt.arange(10000))
    assert "..." in big and len(big) < 200
    assert repr(nt.zeros(2).shape) == "torch.Size([2])"


@pytest.mark.parametrize("fn, exc, msg", [
    (lambda: nt.ones(2, 3) + nt.ones(4), RuntimeError, r"size of tensor a \(3\) must match the size of tensor b \(4\)"),
    (lambda: nt.ones(2, 3) @ nt.ones(4, 5), RuntimeError, r"\(2x3 and 4x5\)"),
    (lambda: nt.ones(3)[nt.tensor([0.5])], IndexError, "tensors used as indices"),
    (lambda: nt.ones(3)[nt.tensor([3])], IndexError, "index 3 is out of bounds"),
    (lambda: nt.ones(3)[5], IndexError, "out of bounds"),
    (lambda: nt.ones(2, 3).gather(1, nt.tensor([[0, 3]])), RuntimeError, "index 3 is out of bounds"),
    (lambda: nt.ones(2, 3).gather(1, nt.tensor([[0, 1]], dtype=nt.int32)), RuntimeError, "int64"),
    (lambda: nt.ones(3).index_select(0, nt.tensor([-4])), IndexError, "index -4 is out of bounds"),
    (lambda: nt.zeros(3).scatter_add(0, nt.tensor([7]), nt.ones(1)), RuntimeError, "out of bounds"),
    (lambda: nt.ones(3).sum(2), IndexError, "Dimension out of range"),
    (lambda: nt.ones(3).view(2, 2), RuntimeError, "invalid for input of size 3"),
    (lambda: nt.cat([nt.ones(2, 3), nt.ones(2, 4)]), RuntimeError, "Sizes of tensors must match"),
    (lambda: nt.ones(2).masked_fill(nt.ones(2), 0), RuntimeError, "boolean masks"),
    (lambda: nt.zeros(2, dtype=nt.int8).masked_fill(nt.tensor([True, False]), 300), RuntimeError,
     "without overflow"),
    (lambda: nt.ones(2, 3)[nt.ones(2, 3, dtype=nt.int64) * 2], IndexError, "index 2 is out of bounds"),
    (lambda: nt.tensor([1, 2]) // 0, RuntimeError, "ZeroDivisionError"),
    (lambda: nt.tensor([True]) - nt.tensor([True]), RuntimeError, "Subtraction"),
])
def test_bad_input_raises_pytorch_exception_types(fn, exc, msg):
    with pytest.raises(exc, match=msg):
        fn()


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "int64"])
@pytest.mark.parametrize("value", [1000, -1000, 2 ** 40, 2 ** 63 - 1])
def test_int_arithmetic_wraps_an_out_of_range_python_int(dtype, value):
    # PyTorch's arithmetic wraps the number into the tensor's dtype (int8 + 1000 adds -24);
    # masked_fill raises instead (above), and an int beyond int64 is an OverflowError
    x = np.array([1, 7, -3 if dtype != "uint8" else 3], dtype)
    w = np.int64(value).astype(dtype)
    t = nt.from_numpy(x)
    with np.errstate(over="ignore"):
        for got, want in [(t + value, x + w), (t * value, x * w), (value - t, w - x)]:
            assert got.dtype is getattr(nt, dtype)
            np.testing.assert_array_equal(got.numpy(), want)
        np.testing.assert_array_equal((t.reshape(3, 1) + value).numpy(), (x + w).reshape(3, 1))
    with pytest.raises(OverflowError):
        t + 2 ** 64


def test_bool_matmul_is_refused_unless_there_is_nothing_to_multiply():
    # PyTorch: "addmm_impl_cpu_" not implemented for 'Bool', except for empty products
    z = lambda *s: nt.zeros(*s, dtype=nt.bool)  # noqa: E731
    assert (z(0, 4) @ z(4, 5)).shape == (0, 5) and (z(3, 4) @ z(4, 0)).shape == (3, 0)
    k0 = z(3, 0) @ z(0, 5)
    assert k0.shape == (3, 5) and k0.dtype is nt.bool and not k0.any()
    with pytest.raises(RuntimeError, match="not implemented for 'Bool'"):
        z(3, 4) @ z(4, 5)


# --- property-based checks against NumPy ---------------------------------------------------
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
floats = st.floats(-100, 100, allow_nan=False, width=32)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float32, hnp.mutually_broadcastable_shapes(num_shapes=2, base_shape=(), min_dims=0, max_dims=3, max_side=4).map(lambda s: s.input_shapes[0]), elements=floats),
       st.sampled_from(["add", "sub", "mul", "maximum", "minimum"]))
def test_elementwise_matches_numpy(a, name):
    b = np.flip(a).copy() if a.ndim else a * 2
    out = getattr(nt, name)(nt.tensor(a), nt.tensor(b)).numpy()
    ref = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "maximum": np.maximum,
           "minimum": np.minimum}[name](a, b)
    np.testing.assert_allclose(out, ref, rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       st.integers(0, 2 ** 31))
def test_broadcasting_matches_numpy(shapes_, seed):
    g = np.random.default_rng(seed)
    a = g.standard_normal(shapes_.input_shapes[0]).astype(np.float32)
    b = g.standard_normal(shapes_.input_shapes[1]).astype(np.float32)
    np.testing.assert_allclose((nt.tensor(a) * nt.tensor(b) + nt.tensor(b)).numpy(), a * b + b,
                               rtol=1e-5, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, shapes, elements=st.floats(-10, 10)), st.data())
def test_reductions_match_numpy(a, data):
    dim = data.draw(st.sampled_from([None] + list(range(a.ndim))))
    keep = data.draw(st.booleans())
    t = nt.tensor(a)
    np.testing.assert_allclose(t.sum(dim, keepdim=keep).numpy(), a.sum(axis=dim, keepdims=keep), atol=1e-9)
    if a.size and (dim is None or a.shape[dim]):
        np.testing.assert_allclose(t.amax(dim if dim is not None else (), keepdim=keep).numpy(),
                                   a.max(axis=dim, keepdims=keep))
        np.testing.assert_allclose(t.mean(dim, keepdim=keep).numpy(), a.mean(axis=dim, keepdims=keep), atol=1e-9)
    np.testing.assert_allclose(t.prod(dim, keepdim=keep).numpy() if dim is not None else t.prod().numpy(),
                               a.prod(axis=dim, keepdims=keep) if dim is not None else a.prod(), rtol=1e-9,
                               atol=1e-300)


def test_integer_indexing_is_a_view_for_reads_writes_and_gradients():
    # NumPy returns a scalar copy for an all-integer index; numtorch must keep a view
    t = nt.zeros(3)
    t[0] = 7
    m = nt.zeros(2, 3)
    m[1, 2] = 5
    m[0, 1] = nt.tensor(4.0)
    assert t.tolist() == [7, 0, 0] and m.tolist() == [[0, 4, 0], [0, 0, 5]]
    v = nt.zeros(3)
    r = v[2]
    r.fill_(9)
    assert v.tolist() == [0, 0, 9] and r._version == v._version
    x = nt.zeros(3, dtype=nt.float64, requires_grad=True)
    (x[1] * 3 + x[2, ...] * 2).backward()
    assert x.grad.tolist() == [0, 3, 2]


@pytest.mark.parametrize("dtype", [nt.float32, nt.float64])
def test_random_fills(dtype):
    """The in-place random fills: right range and moments on 20k draws, dtype kept, in place,
    version bumped, reproducible under manual_seed."""
    n = 20000
    sd = 4.0 / np.sqrt(n)  # moments within ~4 standard errors
    cases = [
        ("uniform_", (2.0, 5.0), 3.5, np.sqrt(9 / 12), (2.0, 5.0)),
        ("normal_", (1.0, 2.0), 1.0, 2.0, (-np.inf, np.inf)),
        ("bernoulli_", (0.3,), 0.3, np.sqrt(0.21), (0.0, 1.0)),
        ("exponential_", (2.0,), 0.5, 0.5, (0.0, np.inf)),
        ("random_", (3, 7), 4.5, np.sqrt((4 ** 2 - 1) / 12), (3.0, 6.0)),
    ]
    for name, args, mean, std, (lo, hi) in cases:
        t = nt.empty(n, dtype=dtype)
        v = t._version
        nt.manual_seed(7)
        r = getattr(t, name)(*args)
        assert r is t and t.dtype is dtype and t._version > v, name
        a = t.numpy().astype(np.float64)
        assert lo <= a.min() and a.max() <= hi, (name, a.min(), a.max())
        assert abs(a.mean() - mean) < sd * std * 1.5 + 1e-9, (name, a.mean())
        assert abs(a.std() - std) < 0.05 * std, (name, a.std())
        nt.manual_seed(7)
        assert np.array_equal(getattr(nt.empty(n, dtype=dtype), name)(*args).numpy(), t.numpy())
    assert set(np.unique(nt.empty(1000).bernoulli_(0.5).numpy())) == {0.0, 1.0}
    assert set(np.unique(nt.empty(1000).random_(3).numpy())) == {0.0, 1.0, 2.0}


def test_accelerator_backends_and_device_flags_answer_what_numtorch_has():
    acc = nt.accelerator
    assert acc.is_available() == nt.cuda.is_available()
    if acc.is_available():  # the simulator in CI counts as CUDA, as numtorch.cuda says
        assert acc.current_accelerator() == nt.device("cuda")  # no index, as PyTorch
        assert acc.device_count() == nt.cuda.device_count() >= 1
        assert acc.current_device_index() == 0
        with acc.device_index(0):
            acc.synchronize()
    else:
        assert acc.current_accelerator() is None and acc.device_count() == 0
    assert not nt.backends.cudnn.is_available() and nt.backends.cudnn.version() is None
    assert not nt.backends.mps.is_available() and not nt.backends.mps.is_built()
    nt.backends.cudnn.benchmark = True  # programs set these: accepted
    nt.backends.cuda.matmul.allow_tf32 = True
    x = nt.ones(2)
    assert (x.is_xpu, x.is_mps, x.is_meta, x.is_cpu) == (False, False, False, True)


def test_legacy_tensor_types_and_any_sequence():
    import collections
    for name, dt in (("FloatTensor", nt.float32), ("DoubleTensor", nt.float64),
                     ("LongTensor", nt.int64), ("IntTensor", nt.int32), ("ByteTensor", nt.uint8),
                     ("BoolTensor", nt.bool), ("HalfTensor", nt.float16)):
        cls = getattr(nt, name)
        x = cls(2, 3)
        assert x.dtype is dt and tuple(x.shape) == (2, 3) and isinstance(x, cls)
        assert cls([1, 0]).tolist() == [1, 0] and cls([1, 0]).dtype is dt
        assert nt.zeros(2).type(cls).dtype is dt and nt.zeros(2, dtype=dt).type() == f"torch.{name}"
        assert nt.zeros(2).type(f"torch.{name}").dtype is dt
    assert not isinstance(nt.zeros(2), nt.LongTensor)
    with pytest.raises(ValueError):
        nt.zeros(2).type("torch.NoSuchTensor")
    assert nt.tensor(collections.deque([1, 2])).tolist() == [1, 2]
    assert nt.tensor([collections.deque([1.0, 2.0]), range(2)]).tolist() == [[1.0, 2.0], [0.0, 1.0]]
    with pytest.raises(TypeError, match="Could not infer dtype"):
        nt.tensor([object()])


def test_range_as_an_index_reads_and_writes_like_a_list():
    x = nt.zeros(3, 4)
    y = nt.tensor([0, 2, 1])
    x[range(3), y] = 1.0
    assert x.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]]
    assert x[range(3), y].tolist() == [1.0, 1.0, 1.0]
    assert nt.arange(5.0)[range(1, 4)].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("name", ["empty", "zeros", "ones", "rand", "randn"])
def test_factories_take_size_as_a_keyword(name):
    f = getattr(nt, name)
    for size in ((2, 3), [4], ()):
        assert tuple(f(size=size).shape) == tuple(size) == tuple(f(*size).shape)
    with pytest.raises(TypeError):
        f(2, size=(2,))


def test_flip_takes_dims_as_a_sequence_varargs_or_keyword():
    x = nt.arange(6).reshape(2, 3)
    want = np.arange(6).reshape(2, 3)[::-1, ::-1]
    for got in (x.flip(-2, -1), x.flip([0, 1]), nt.flip(x, (0, -1)), nt.flip(x, dims=[0, 1]),
                x.flip(dims=(1, 0))):
        np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(x.flip(1).numpy(), want[::-1])
    with pytest.raises(TypeError, match="dims"):
        nt.flip(x)
    with pytest.raises(TypeError, match="multiple values"):
        x.flip(0, dims=[1])


def test_bfloat16_is_a_storage_dtype_like_float16(tmp_path):
    """bfloat16 (NumPy's dtype from ml_dtypes) is stored in 16 bits and computed in float32, as
    float16 is: creation and conversions round to nearest even, elementwise math, comparisons,
    sort and the triangles compute in float32 and round back, promotion follows PyTorch (float16
    with bfloat16 gives float32), and checkpoints load in PyTorch and back."""
    import ml_dtypes
    vals = [1 / 3, 2.5, -7.1, 1e10, 3e38, 1e-40, -0.0]
    x = nt.tensor(vals, dtype=nt.bfloat16)
    assert x.dtype is nt.bfloat16 and x.element_size() == 2 and x.is_floating_point()
    want = np.array(vals, np.float32).astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(x.float().numpy(), want.astype(np.float32))
    np.testing.assert_array_equal(nt.tensor(vals).bfloat16().float().numpy(),
                                  want.astype(np.float32))
    y = nt.arange(7).to(nt.bfloat16)
    f32 = x.float().numpy(), y.float().numpy()

    def rounded(a):
        return np.asarray(a, np.float32).astype(ml_dtypes.bfloat16).astype(np.float32)

    with np.errstate(all="ignore"):
        for got, ref in ((x + y, f32[0] + f32[1]), (x * 3, f32[0] * 3), (x.exp(), np.exp(f32[0])),
                         (x.abs().sqrt(), np.sqrt(np.abs(f32[0]))), (-x, -f32[0])):
            assert got.dtype is nt.bfloat16
            np.testing.assert_array_equal(got.float().numpy(), rounded(ref))
    assert (x > 0).tolist() == [v > 0 for v in f32[0]]
    np.testing.assert_array_equal(x.sort().values.float().numpy(), np.sort(f32[0]))
    np.testing.assert_array_equal(nt.tril(nt.ones(3, 3, dtype=nt.bfloat16)).float().numpy(),
                                  np.tril(np.ones((3, 3))))
    assert nt.zeros(2, dtype=nt.bfloat16).fill_(3.3).tolist() == [float(rounded(3.3))] * 2
    assert (x + nt.ones(7, dtype=nt.float16)).dtype is nt.float32
    assert (x + 1).dtype is nt.bfloat16 and (x + nt.ones(7)).dtype is nt.float32
    assert x.type() == "torch.BFloat16Tensor" and nt.from_numpy(want).dtype is nt.bfloat16
    nt.save({"x": x}, tmp_path / "nt.pt")
    back = nt.load(tmp_path / "nt.pt")["x"]
    assert back.dtype is nt.bfloat16
    np.testing.assert_array_equal(back.float().numpy(), x.float().numpy())
    if torch is not None:
        t = torch.load(tmp_path / "nt.pt")["x"]
        assert t.dtype is torch.bfloat16
        np.testing.assert_array_equal(t.float().numpy(), x.float().numpy())
        tx = torch.tensor(vals, dtype=torch.bfloat16)
        np.testing.assert_array_equal(tx.float().numpy(), x.float().numpy())  # same rounding
        torch.save({"x": tx.exp()}, tmp_path / "pt.pt")
        np.testing.assert_array_equal(nt.load(tmp_path / "pt.pt")["x"].float().numpy(),
                                      x.exp().float().numpy())


@pytest.mark.parametrize("shape", [(5, 7), (3, 4, 6)])
def test_binary_op_of_two_transposed_operands_keeps_their_layout(shape):
    """a.mT + b.mT (the gradients of a transposed weight, summed by autograd) comes out in the
    operands' layout, as PyTorch's does, through the flat kernel: same values and strides as
    torch; a C-contiguous operand on either side gives a C-contiguous result."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape[::-1]), rng.standard_normal(shape[::-1])
    for op in (lambda x, y: x + y, lambda x, y: x * y, lambda x, y: x - y):
        ours = op(nt.from_numpy(a).permute(*reversed(range(len(shape)))),
                  nt.from_numpy(b).permute(*reversed(range(len(shape)))))
        theirs = op(torch.from_numpy(a).permute(*reversed(range(len(shape)))),
                    torch.from_numpy(b).permute(*reversed(range(len(shape)))))
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert ours.stride() == theirs.stride()
    mixed = nt.from_numpy(a).permute(*reversed(range(len(shape)))) + nt.from_numpy(a.T.copy())
    assert mixed.is_contiguous()
    np.testing.assert_array_equal(mixed.numpy(), a.T + a.T)
