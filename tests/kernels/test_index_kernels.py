"""Index kernels (numtorch.kernels.cpu.index) against NumPy references, and torch when importable."""
import numpy as np
import pytest

from numtorch.kernels import policy
from numtorch.kernels.cpu import index as K

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not importable")

BIG = policy.PARALLEL_THRESHOLD + 12345  # above the parallel threshold, not a multiple of chunks
DTYPES = [np.float32, np.float64, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_]


@pytest.fixture(params=["serial", "parallel"])
def mode(request, monkeypatch):
    """Run a test once as called and once with every Twin forced onto its parallel build."""
    if request.param == "parallel":
        monkeypatch.setattr(policy, "PARALLEL_THRESHOLD", 1)
    return request.param


def rand(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -100), min(info.max, 100), shape, endpoint=True).astype(dtype)


def assert_same(got, want, dtype):
    if np.dtype(dtype).kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------------------------
# check_index / wrap_index
# --------------------------------------------------------------------------------------------
def test_check_index_valid_and_invalid(mode):
    assert K.check_index(np.array([0, 4, -5, -1, 3], np.int64), 5) == -1
    assert K.check_index(np.array([0, 5, -6], np.int64), 5) == 1
    assert K.check_index(np.array([0, 1, -6, 7], np.int64), 5) == 2
    assert K.check_index(np.array([[0, 1], [2, 9]], np.int64), 5) == 3  # flat position
    assert K.check_index(np.array([], np.int64), 5) == -1
    assert K.check_index(np.array([0], np.int64), 0) == 0  # nothing is valid in a 0-size dim
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    assert K.check_index(np.array([1, big], np.int64), 5) == 1
    assert K.check_index(np.array([1, small], np.int64), 5) == 1
    assert K.check_index(np.array([big - 3, small + 3, -(1 << 62)], np.int64), 1 << 62) == 0


def test_check_index_large_first_of_many():
    rng = np.random.default_rng(0)
    n = 5 * BIG
    idx = rng.integers(-7, 7, n)
    assert K.check_index(idx, 7) == -1
    for pos in (n - 1, BIG + 3, 4096, 4095, 0):  # each earlier than the last
        idx[pos] = 7 if pos % 2 else -8
        assert K.check_index(idx, 7) == pos  # the earliest bad one, across chunks


def test_wrap_index(mode):
    rng = np.random.default_rng(1)
    for n in (0, 7, BIG):
        idx = rng.integers(-10, 10, (n, 2))
        out = np.empty_like(idx)
        K.wrap_index(idx, 10, out)
        np.testing.assert_array_equal(out, np.where(idx < 0, idx + 10, idx))


# --------------------------------------------------------------------------------------------
# gather / scatter / scatter_add / index_select / index_add on (outer, n, inner)
# --------------------------------------------------------------------------------------------
SHAPES3 = [(1, 5, 1), (3, 4, 2), (2, 3, 1300), (7, 2, 5)]  # 1300: inner spans 3 scatter blocks


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.uint8])
def test_gather(dtype, mode):
    rng = np.random.default_rng(2)
    for outer, nx, inner in SHAPES3:
        x = rand(rng, (outer, nx, inner), dtype)
        for ni in (0, 1, 6):
            idx = rng.integers(0, nx, (outer, ni, inner))
            out = np.empty(idx.shape, dtype)
            K.gather(x, idx, out)
            np.testing.assert_array_equal(out, np.take_along_axis(x, idx, axis=1))


def test_gather_large_negative_through_wrap():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 50, BIG // 40))
    raw = rng.integers(-50, 50, (4, 60, BIG // 40))
    assert K.check_index(raw, 50) == -1
    idx = np.empty_like(raw)
    K.wrap_index(raw, 50, idx)
    out = np.empty(idx.shape)
    K.gather(x, idx, out)
    np.testing.assert_array_equal(out, np.take_along_axis(x, raw % 50, axis=1))


def scatter_ref(out, idx, src, add):
    out = out.copy()
    outer, ni, inner = idx.shape
    for o in range(outer):
        for j in range(ni):
            for i in range(inner):
                if add:
                    out[o, idx[o, j, i], i] += src[o, j, i]
                else:
                    out[o, idx[o, j, i], i] = src[o, j, i]
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int8, np.bool_])
def test_scatter_duplicates_last_wins(dtype, mode):
    rng = np.random.default_rng(4)
    for outer, no, inner in SHAPES3:
        out0 = rand(rng, (outer, no, inner), dtype)
        idx = rng.integers(0, min(no, 2), (outer, 2 * no, inner))  # many duplicates
        src = rand(rng, idx.shape, dtype)
        out = out0.copy()
        K.scatter(out, idx, src)
        np.testing.assert_array_equal(out, scatter_ref(out0, idx, src, add=False))


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int16, np.uint8])
def test_scatter_add_duplicates(dtype, mode):
    rng = np.random.default_rng(5)
    for outer, no, inner in SHAPES3:
        out0 = rand(rng, (outer, no, inner), dtype)
        idx = rng.integers(0, no, (outer, 3 * no, inner))
        src = rand(rng, idx.shape, dtype)
        out = out0.copy()
        K.scatter_add(out, idx, src)
        o, _, i = np.indices(idx.shape, sparse=True)
        want = out0.copy()
        np.add.at(want, (o, idx, i), src)
        assert_same(out, want, dtype)


@pytest.mark.parametrize("shape", [(1, 40, BIG // 10), (BIG // 10, 40, 1)])
def test_scatter_and_scatter_add_large(shape):
    # outer == 1 (parallel over inner blocks) and inner == 1 (parallel over outer)
    rng = np.random.default_rng(6)
    outer, no, inner = shape
    idx = rng.integers(0, no, (outer, no, inner))
    src = rng.integers(-50, 50, idx.shape).astype(np.int64)
    o, _, i = np.indices(idx.shape, sparse=True)
    out = np.zeros(shape, np.int64)
    K.scatter_add(out, idx, src)
    want = np.zeros(shape, np.int64)
    np.add.at(want, (o, idx, i), src)
    np.testing.assert_array_equal(out, want)
    # unique indices along dim 1: scatter is a permutation, matches put_along_axis exactly
    perm = np.argsort(rng.random((outer, no, inner)), axis=1)
    out = np.zeros(shape, np.int64)
    K.scatter(out, perm, src)
    want = np.zeros(shape, np.int64)
    np.put_along_axis(want, perm, src, axis=1)
    np.testing.assert_array_equal(out, want)


def test_scatter_empty_index_is_noop():
    out = np.ones((2, 3, 4))
    for f in (K.scatter, K.scatter_add):
        f(out, np.zeros((2, 0, 4), np.int64), np.zeros((2, 0, 4)))
    K.index_add(out, np.zeros(0, np.int64), np.zeros((2, 0, 4)))
    np.testing.assert_array_equal(out, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.int8])
def test_index_select(dtype, mode):
    rng = np.random.default_rng(7)
    for outer, n, inner in SHAPES3 + [(3, 100, BIG // 300)]:
        x = rand(rng, (outer, n, inner), dtype)
        for m in (0, 1, 2 * n):
            idx = rng.integers(0, n, m)
            out = np.empty((outer, m, inner), dtype)
            K.index_select(x, idx, out)
            np.testing.assert_array_equal(out, np.take(x, idx, axis=1))


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.uint8])
def test_index_add_duplicates(dtype, mode):
    rng = np.random.default_rng(8)
    for outer, n, inner in SHAPES3 + [(2, 30, BIG // 20)]:
        out0 = rand(rng, (outer, n, inner), dtype)
        idx = rng.integers(0, n, 3 * n)
        src = rand(rng, (outer, 3 * n, inner), dtype)
        out = out0.copy()
        K.index_add(out, idx, src)
        want = out0.copy()
        np.add.at(want, (slice(None), idx), src)
        assert_same(out, want, dtype)


# --------------------------------------------------------------------------------------------
# take / put / linear_index
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.bool_])
def test_take(dtype, mode):
    rng = np.random.default_rng(9)
    for n, m in ((5, 0), (5, 9), (1000, BIG)):
        x = rand(rng, n, dtype)
        idx = rng.integers(0, n, m)
        out = np.empty(m, dtype)
        K.take(x, idx, out)
        np.testing.assert_array_equal(out, x[idx])


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8, np.bool_])
def test_put(dtype, mode):
    rng = np.random.default_rng(10)
    for n, m in ((6, 0), (6, 20), (1000, BIG)):
        out0 = rand(rng, n, dtype)
        idx = rng.integers(0, n, m)
        src = rand(rng, m, dtype)
        # accumulate: duplicates add up
        out = out0.copy()
        K.put(out, idx, src, True)
        want = out0.copy()
        np.add.at(want, idx, src)
        assert_same(out, want, dtype)
        # assignment: the last write of each index wins
        out = out0.copy()
        K.put(out, idx, src, False)
        want = out0.copy()
        last = {}
        for j, k in enumerate(idx.tolist()):
            last[k] = j
        if last:
            want[list(last)] = src[list(last.values())]
        np.testing.assert_array_equal(out, want)
        # a one-element src broadcasts
        s = rand(rng, 1, dtype)
        out = out0.copy()
        K.put(out, idx, s, False)
        want = out0.copy()
        want[idx] = s[0]
        np.testing.assert_array_equal(out, want)
        out = out0.copy()
        K.put(out, idx, s, True)
        want = out0.copy()
        np.add.at(want, idx, s[0])
        assert_same(out, want, dtype)


def test_put_single_index_single_src():
    out = np.zeros(3)
    K.put(out, np.array([2], np.int64), np.array([5.0]), False)
    K.put(out, np.array([2], np.int64), np.array([1.5]), True)
    np.testing.assert_array_equal(out, [0, 0, 6.5])


def test_linear_index(mode):
    rng = np.random.default_rng(11)
    for shape, m in (((4, 5, 6), 0), ((4, 5, 6), 17), ((3, 7), BIG), ((9,), 5)):
        indices = np.stack([rng.integers(0, s, m) for s in shape]) if m else np.zeros((len(shape), 0), np.int64)
        strides = np.array([int(np.prod(shape[t + 1:])) for t in range(len(shape))], np.int64)
        out = np.empty(m, np.int64)
        K.linear_index(np.ascontiguousarray(indices), strides, out)
        np.testing.assert_array_equal(out, np.ravel_multi_index(tuple(indices), shape))


# --------------------------------------------------------------------------------------------
# count_nonzero / nonzero
# --------------------------------------------------------------------------------------------
def nonzero_of(mask):
    out = np.empty((K.count_nonzero(mask.reshape(-1)), mask.ndim), np.int64)
    K.nonzero(mask, out)
    return out


@pytest.mark.parametrize("dtype", [np.bool_, np.float32, np.int32])
def test_nonzero(dtype, mode):
    rng = np.random.default_rng(12)
    for shape in ((0,), (7,), (3, 0, 2), (5, 6), (3, 1, 4, 5), (3, 4100), (BIG,), (7, 33, 170)):
        mask = rand(rng, shape, dtype)
        if np.dtype(dtype).kind != "b":
            mask[rng.random(shape) < 0.5] = 0
        assert K.count_nonzero(mask.reshape(-1)) == np.count_nonzero(mask)
        got = nonzero_of(mask)
        assert got.shape == (np.count_nonzero(mask), mask.ndim)
        np.testing.assert_array_equal(got, np.argwhere(mask))


def test_nonzero_nan_counts_and_0d():
    x = np.array([0.0, np.nan, -0.0, 1.0], np.float64)
    assert K.count_nonzero(x) == 2
    np.testing.assert_array_equal(nonzero_of(x), [[1], [3]])
    for v, c in ((np.array(3.0), 1), (np.array(0.0), 0)):
        assert nonzero_of(v).shape == (c, 0)
    dense = np.ones((BIG,), np.uint8)
    np.testing.assert_array_equal(nonzero_of(dense)[:, 0], np.arange(BIG))


# --------------------------------------------------------------------------------------------
# torch as a second reference
# --------------------------------------------------------------------------------------------
@needs_torch
def test_against_torch():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 6, 5)).astype(np.float32)
    idx = rng.integers(0, 6, (4, 9, 5))
    out = np.empty(idx.shape, np.float32)
    K.gather(x, idx, out)
    np.testing.assert_array_equal(out, torch.gather(torch.from_numpy(x), 1, torch.from_numpy(idx)).numpy())

    src = rng.standard_normal(idx.shape).astype(np.float32)
    got = x.copy()
    K.scatter_add(got, idx, src)
    want = torch.from_numpy(x).scatter_add(1, torch.from_numpy(idx), torch.from_numpy(src))
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6)

    sel = rng.integers(0, 6, 8)
    out = np.empty((4, 8, 5), np.float32)
    K.index_select(x, sel, out)
    np.testing.assert_array_equal(out, torch.from_numpy(x).index_select(1, torch.from_numpy(sel)).numpy())

    src = rng.standard_normal((4, 8, 5)).astype(np.float32)
    got = x.copy()
    K.index_add(got, sel, src)
    want = torch.from_numpy(x).index_add(1, torch.from_numpy(sel), torch.from_numpy(src))
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6)

    flat = x.reshape(-1).copy()
    pidx = rng.integers(0, flat.size, 50)
    psrc = rng.standard_normal(50).astype(np.float32)
    got = flat.copy()
    K.put(got, pidx, psrc, True)
    want = torch.from_numpy(flat.copy()).index_put_((torch.from_numpy(pidx),), torch.from_numpy(psrc), accumulate=True)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6)

    mask = x > 0.3
    np.testing.assert_array_equal(nonzero_of(mask), torch.nonzero(torch.from_numpy(mask)).numpy())
