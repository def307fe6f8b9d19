"""Convolution and pooling against torch (forward and input/weight/bias gradients), float64
gradcheck on tiny shapes, and PyTorch's errors for bad arguments."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import numtorch as nt
import numtorch.nn.functional as NF

TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _compare(fn, arrays, dtype=np.float64, grads=None, rng=None):
    """fn(F, *tensors) on numtorch and torch: outputs and gradients of every input agree."""
    rng = rng or np.random.default_rng(0)
    arrays = [a.astype(dtype) for a in arrays]
    grads = grads or (True,) * len(arrays)
    tt = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    nn = [nt.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    to, no = fn(TF, *tt), fn(NF, *nn)
    if isinstance(to, tuple):  # (values, indices)
        np.testing.assert_array_equal(no[1].numpy(), to[1].numpy())
        assert no[1].dtype == nt.int64
        to, no = to[0], no[0]
    assert tuple(no.shape) == tuple(to.shape)
    assert no.dtype.np == np.dtype(dtype)
    np.testing.assert_allclose(no.detach().numpy(), to.detach().numpy(), **TOL[dtype])
    g = rng.standard_normal(tuple(to.shape)).astype(dtype)
    to.backward(torch.tensor(g))
    no.backward(nt.tensor(g))
    for t, n, need in zip(tt, nn, grads):
        if need:
            np.testing.assert_allclose(n.grad.numpy(), t.grad.numpy(), **TOL[dtype])
        else:
            assert n.grad is None


def _r(rng, *shape):
    return rng.standard_normal(shape)


# --------------------------------------------------------------------------------------------
# conv2d: (input shape, weight shape, bias?, kwargs); shapes cover both the direct kernel
# (C/groups*KH*KW <= 16) and the im2row + GEMM path.
# --------------------------------------------------------------------------------------------
CONV2D = [
    ((2, 3, 7, 6), (4, 3, 3, 3), True, {}),
    ((2, 3, 7, 6), (4, 3, 3, 3), False, dict(stride=2, padding=1)),
    ((1, 4, 9, 8), (6, 4, 3, 2), True, dict(stride=(2, 3), padding=(2, 1), dilation=(2, 1))),
    ((2, 4, 8, 7), (6, 2, 3, 3), True, dict(groups=2, padding=1)),
    ((2, 4, 8, 7), (4, 1, 3, 3), True, dict(groups=4, padding=1)),  # depthwise
    ((2, 4, 8, 7), (8, 1, 5, 3), True, dict(groups=4, stride=2)),  # depthwise multiplier 2
    ((3, 1, 9, 9), (5, 1, 3, 3), True, dict(padding=1)),  # first-layer shape (direct path)
    ((2, 5, 7, 9), (3, 5, 4, 2), True, dict(padding="same")),  # even kernel: asymmetric pad
    ((2, 5, 7, 9), (3, 5, 3, 4), False, dict(padding="same", dilation=(1, 2))),
    ((2, 3, 6, 5), (2, 3, 2, 3), True, dict(padding="valid")),
    ((1, 2, 5, 5), (3, 2, 1, 1), True, dict(stride=2)),  # 1x1
    ((1, 17, 5, 4), (3, 17, 1, 1), True, {}),  # 1x1 through the GEMM path
    ((2, 3, 5, 6), (4, 3, 5, 6), True, {}),  # kernel covers the whole input
    ((2, 6, 11, 10), (8, 3, 3, 3), True, dict(groups=2, stride=2, padding=2, dilation=2)),
]


@pytest.mark.parametrize("xs,ws,bias,kw", CONV2D)
def test_conv2d(xs, ws, bias, kw, rng):
    arrays = [_r(rng, *xs), _r(rng, *ws)] + ([_r(rng, ws[0])] if bias else [])
    _compare(lambda F, *t: F.conv2d(*t, **kw), arrays, rng=rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_cnn_shapes_float32(dtype, rng):
    # the Fashion-MNIST CNN's layers at a small batch; the data needs no grad (first layer)
    _compare(lambda F, x, w, b: F.conv2d(x, w, b, padding=1),
             [_r(rng, 3, 1, 28, 28), _r(rng, 8, 1, 3, 3), _r(rng, 8)], dtype,
             grads=(False, True, True), rng=rng)
    _compare(lambda F, x, w, b: F.conv2d(x, w, b, padding=1),
             [_r(rng, 2, 8, 14, 14), _r(rng, 16, 8, 3, 3) * 0.2, _r(rng, 16)], dtype, rng=rng)


def test_conv2d_unbatched_and_noncontiguous(rng):
    x, w, b = _r(rng, 3, 6, 5), _r(rng, 4, 3, 3, 3), _r(rng, 4)
    _compare(lambda F, x, w, b: F.conv2d(x, w, b, padding=1), [x, w, b], rng=rng)
    # a transposed (non-contiguous) input
    _compare(lambda F, x, w: F.conv2d(x.transpose(2, 3), w), [_r(rng, 2, 3, 6, 7),
                                                               _r(rng, 4, 3, 2, 2)], rng=rng)


def test_conv2d_empty_batch():
    out = NF.conv2d(nt.zeros(0, 2, 5, 5), nt.ones(3, 2, 3, 3))
    assert tuple(out.shape) == (0, 3, 3, 3)


def test_conv1d(rng):
    _compare(lambda F, x, w, b: F.conv1d(x, w, b, stride=2, padding=1),
             [_r(rng, 2, 3, 11), _r(rng, 4, 3, 3), _r(rng, 4)], rng=rng)
    _compare(lambda F, x, w: F.conv1d(x, w, padding="same", dilation=2, groups=2),
             [_r(rng, 2, 4, 9), _r(rng, 6, 2, 4)], rng=rng)
    _compare(lambda F, x, w: F.conv1d(x, w), [_r(rng, 8, 10), _r(rng, 5, 8, 3)], rng=rng)


CONVT = [
    ((2, 3, 4, 5), (3, 2, 3, 3), True, {}),
    ((2, 4, 4, 5), (4, 3, 3, 2), True, dict(stride=2, padding=1, output_padding=1, groups=2)),
    ((1, 2, 3, 3), (2, 4, 2, 3), False, dict(stride=(2, 3), output_padding=(1, 2))),
    ((2, 6, 3, 4), (6, 5, 3, 3), True, dict(stride=2, padding=1, dilation=2, output_padding=1)),
]


@pytest.mark.parametrize("xs,ws,bias,kw", CONVT)
def test_conv_transpose2d(xs, ws, bias, kw, rng):
    groups = kw.get("groups", 1)
    arrays = [_r(rng, *xs), _r(rng, *ws)] + ([_r(rng, ws[1] * groups)] if bias else [])
    _compare(lambda F, *t: F.conv_transpose2d(*t, **kw), arrays, rng=rng)


def test_conv_transpose2d_unbatched_and_1d(rng):
    _compare(lambda F, x, w: F.conv_transpose2d(x, w, stride=2),
             [_r(rng, 3, 4, 4), _r(rng, 3, 2, 3, 3)], rng=rng)
    _compare(lambda F, x, w, b: F.conv_transpose1d(x, w, b, stride=2, padding=1),
             [_r(rng, 2, 3, 6), _r(rng, 3, 2, 3), _r(rng, 2)], rng=rng)


# --------------------------------------------------------------------------------------------
# Pooling.
# --------------------------------------------------------------------------------------------
MAXPOOL = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1)),
    dict(kernel_size=2, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=1, padding=1, dilation=2, ceil_mode=True),
]


@pytest.mark.parametrize("kw", MAXPOOL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d(kw, dtype, rng):
    _compare(lambda F, x: F.max_pool2d(x, return_indices=True, **kw), [_r(rng, 2, 3, 7, 9)],
             dtype, rng=rng)


def test_max_pool_ties_nan_unbatched_1d(rng):
    x = np.zeros((1, 2, 4, 4))
    x[0, 1, 1, 1] = np.nan
    _compare(lambda F, x: F.max_pool2d(x, 2, return_indices=True), [x], rng=rng)
    _compare(lambda F, x: F.max_pool2d(x, 3, 2, 1), [_r(rng, 3, 6, 5)], rng=rng)
    _compare(lambda F, x: F.max_pool1d(x, 3, 2, 1, return_indices=True), [_r(rng, 2, 3, 10)],
             rng=rng)
    _compare(lambda F, x: F.max_pool1d(x, 2, ceil_mode=True), [_r(rng, 3, 9)], rng=rng)


AVGPOOL = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 0), divisor_override=5),
]


@pytest.mark.parametrize("kw", AVGPOOL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avg_pool2d(kw, dtype, rng):
    _compare(lambda F, x: F.avg_pool2d(x, **kw), [_r(rng, 2, 3, 7, 8)], dtype, rng=rng)


def test_avg_pool1d_unbatched(rng):
    _compare(lambda F, x: F.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
             [_r(rng, 2, 3, 10)], rng=rng)
    _compare(lambda F, x: F.avg_pool2d(x, 2), [_r(rng, 3, 6, 5)], rng=rng)


@pytest.mark.parametrize("size", [1, 3, (2, 4), (None, 3), (5, 7), (7, 2)])
def test_adaptive_avg_pool2d(size, rng):
    _compare(lambda F, x: F.adaptive_avg_pool2d(x, size), [_r(rng, 2, 3, 5, 7)], rng=rng)


def test_adaptive_avg_pool_unbatched_1d(rng):
    _compare(lambda F, x: F.adaptive_avg_pool2d(x, (3, 2)), [_r(rng, 2, 7, 5)], rng=rng)
    _compare(lambda F, x: F.adaptive_avg_pool1d(x, 4), [_r(rng, 2, 3, 10)], rng=rng)


# --------------------------------------------------------------------------------------------
# Numerical gradients (float64, tiny shapes).
# --------------------------------------------------------------------------------------------
def _leaf(rng, *shape):
    return nt.tensor(rng.standard_normal(shape), requires_grad=True)


GRADCHECK = [
    ("conv2d", lambda x, w, b: NF.conv2d(x, w, b, stride=2, padding=1), [(1, 2, 5, 4),
                                                                          (3, 2, 2, 3), (3,)]),
    ("conv2d_gemm", lambda x, w: NF.conv2d(x, w, padding="same", dilation=(2, 1)),
     [(2, 3, 4, 4), (2, 3, 2, 3)]),
    ("conv2d_groups", lambda x, w: NF.conv2d(x, w, groups=2, padding=1), [(1, 4, 3, 3),
                                                                          (4, 2, 2, 2)]),
    ("conv1d", lambda x, w, b: NF.conv1d(x, w, b, padding=2, dilation=2), [(1, 2, 5), (2, 2, 3),
                                                                           (2,)]),
    ("conv_transpose2d", lambda x, w, b: NF.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                             output_padding=1),
     [(1, 2, 3, 2), (2, 2, 3, 2), (2,)]),
    ("max_pool2d", lambda x: NF.max_pool2d(x, 2, 1, ceil_mode=True), [(1, 2, 4, 5)]),
    ("avg_pool2d", lambda x: NF.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
     [(1, 2, 5, 4)]),
    ("adaptive_avg_pool2d", lambda x: NF.adaptive_avg_pool2d(x, (2, 3)), [(1, 2, 5, 4)]),
]


@pytest.mark.parametrize("name,fn,shapes", GRADCHECK, ids=[g[0] for g in GRADCHECK])
def test_gradcheck(name, fn, shapes, rng):
    assert nt.autograd.gradcheck(fn, tuple(_leaf(rng, *s) for s in shapes))


# --------------------------------------------------------------------------------------------
# Errors: PyTorch's types and messages.
# --------------------------------------------------------------------------------------------
def _same_error(call):
    with pytest.raises(Exception) as te:
        call(torch, TF)
    with pytest.raises(type(te.value)) as ne:
        call(nt, NF)
    return str(te.value), str(ne.value)


ERRORS = [
    lambda T, F: F.conv2d(T.randn(64, 3, 28, 28), T.randn(32, 1, 3, 3)),
    lambda T, F: F.conv2d(T.randn(2, 4, 2, 2), T.randn(3, 4, 3, 3)),
    lambda T, F: F.conv2d(T.randn(2, 4, 5, 5), T.randn(3, 4, 3, 3), T.randn(4)),
    lambda T, F: F.conv2d(T.randn(2, 4, 5, 5), T.randn(3, 4, 3, 3), stride=0),
    lambda T, F: F.conv2d(T.randn(2, 4, 5, 5), T.randn(3, 4, 3, 3), padding=-1),
    lambda T, F: F.conv2d(T.randn(2, 4, 5, 5), T.randn(3, 4, 3, 3), dilation=0),
    lambda T, F: F.conv2d(T.randn(2, 4, 5, 5), T.randn(3, 4, 3, 3), padding="same", stride=2),
    lambda T, F: F.conv2d(T.randn(2, 4, 5, 5), T.randn(3, 4, 3, 3), padding="foo"),
    lambda T, F: F.conv2d(T.randn(4, 5), T.randn(3, 4, 3, 3)),
    lambda T, F: F.conv1d(T.randn(2, 4, 5, 5), T.randn(3, 4, 3)),
    lambda T, F: F.max_pool2d(T.randn(1, 1, 4, 4), 3, padding=2),
    lambda T, F: F.max_pool2d(T.randn(1, 1, 2, 2), 3),
    lambda T, F: F.max_pool2d(T.randn(1, 1, 4, 4), 2, stride=0),
    lambda T, F: F.avg_pool2d(T.randn(1, 1, 4, 4), 2, padding=2),
    lambda T, F: F.max_pool2d(T.randn(4, 4), 2),
    lambda T, F: F.conv_transpose2d(T.randn(2, 4, 5, 5), T.randn(3, 2, 3, 3)),
    lambda T, F: F.conv_transpose2d(T.randn(2, 4, 5, 5), T.randn(4, 2, 3, 3), output_padding=2),
    lambda T, F: F.adaptive_avg_pool2d(T.randn(4, 4), 2),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_match_torch(i):
    tmsg, nmsg = _same_error(ERRORS[i])
    assert nmsg == tmsg


def test_groups_error_names_shapes():
    with pytest.raises(RuntimeError, match="divisible by 2 at dimension 0"):
        NF.conv2d(nt.randn(2, 4, 5, 5), nt.randn(3, 2, 3, 3), groups=2)


@pytest.mark.parametrize("n", [1, 2])
def test_conv_transpose_output_size(n):
    # output_size picks the output padding (stride 2 reaches two sizes); out of range raises
    m = getattr(nt.nn, f"ConvTranspose{n}d")(2, 3, 3, stride=2, padding=1)
    x = nt.randn(1, 2, *[5] * n)
    f = getattr(NF, f"conv_transpose{n}d")
    for size, pad in ((9, 0), (10, 1)):
        y = m(x, output_size=[size] * n)
        assert tuple(y.shape) == (1, 3) + (size,) * n
        want = f(x, m.weight, m.bias, stride=2, padding=1, output_padding=pad)
        np.testing.assert_array_equal(y.detach().numpy(), want.detach().numpy())
    with pytest.raises(ValueError, match=r"valid sizes range from \[9(, 9)?\] to \[10(, 10)?\] "
                                         r"\(for an input of torch\.Size"):
        m(x, output_size=[12] * n)
    with pytest.raises(ValueError, match=f"must have {n} or {n + 2} elements"):
        m(x, output_size=[10] * (n + 3))
