"""CUDA index kernels (numtorch.kernels.cuda.index) against the CPU kernels, in the simulator.

Every function runs on the same inputs on both devices. The tests launch 16 threads x 3 blocks,
so the sizes below span several blocks and wrap the grid-stride loops; the scatter family runs
both of its forms (one thread per column, and atomics / the winner pass) by moving the switch.
"""
import numpy as np
import pytest

from numtorch.kernels.cpu import index as C
from numtorch.kernels.cuda import index as G
from numtorch.kernels.cuda import memory as M

ALL = [np.float32, np.float64, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_]
SHAPES3 = [(1, 5, 1), (3, 4, 2), (2, 3, 37), (7, 2, 5), (1, 40, 3)]

# int8/uint8 sums wrap around as on the CPU; the simulator's NumPy scalars warn about it
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

dev = M.to_device
host = M.to_host


def rand(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -100), min(info.max, 100), shape, endpoint=True).astype(dtype)


def same(got, want, exact=True):
    if exact or want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want)
    else:  # atomics add floats in an unspecified order
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.fixture(params=["columns", "parallel"])
def form(request, monkeypatch):
    """Force the scatter family onto one thread per column, or onto atomics / the winner pass."""
    if request.param == "columns":
        monkeypatch.setattr(G, "_COLUMN_MAX_N", 1 << 62)
    else:
        monkeypatch.setattr(G, "_COLUMN_MAX_N", 0)
        monkeypatch.setattr(G, "_COLUMN_MIN_COLS", 1 << 62)
    return request.param


# --------------------------------------------------------------------------------------------
# check_index / wrap_index
# --------------------------------------------------------------------------------------------
def test_check_index_matches_cpu():
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    cases = [
        (np.array([0, 4, -5, -1, 3], np.int64), 5),
        (np.array([0, 5, -6], np.int64), 5),
        (np.array([0, 1, -6, 7], np.int64), 5),
        (np.array([[0, 1], [2, 9]], np.int64), 5),  # N-d: the flat position
        (np.array([0], np.int64), 0),  # nothing is valid in a 0-size dim
        (np.array([1, big], np.int64), 5),
        (np.array([1, small], np.int64), 5),
        (np.array([big - 3, small + 3, -(1 << 62)], np.int64), 1 << 62),
        (np.zeros((2, 0), np.int64), 3),
    ]
    for idx, size in cases:
        assert G.check_index(dev(idx), size) == C.check_index(idx, size), (idx, size)


def test_check_index_earliest_across_blocks():
    # 200 positions over 48 threads: bad ones in different threads and loop rounds
    rng = np.random.default_rng(0)
    idx = rng.integers(-7, 7, 200)
    assert G.check_index(dev(idx), 7) == -1
    for pos in (199, 150, 49, 48, 47, 17, 16, 0):  # each earlier than the last
        idx[pos] = 7 if pos % 2 else -8
        assert G.check_index(dev(idx), 7) == pos == C.check_index(idx, 7)
    # a strided 1-D view is checked in place
    d = dev(np.array([0, 99, 1, 2, 3, -99], np.int64))
    assert G.check_index(d[::2], 5) == -1
    assert G.check_index(d[1::2], 5) == 0


def test_wrap_index_matches_cpu():
    rng = np.random.default_rng(1)
    for shape in ((0,), (7,), (13, 9)):
        idx = rng.integers(-10, 10, shape)
        out = M.empty(shape, np.int64)
        G.wrap_index(dev(idx), 10, out)
        want = np.empty_like(idx)
        C.wrap_index(idx, 10, want)
        np.testing.assert_array_equal(host(out), want)


def test_non_contiguous_nd_is_refused():
    d = dev(np.zeros((4, 6), np.int64))[:, ::2]
    with pytest.raises(NotImplementedError, match="C-contiguous"):
        G.check_index(d, 3)


# --------------------------------------------------------------------------------------------
# gather / scatter / scatter_add / index_select / index_add on (outer, n, inner)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL)
def test_gather(dtype):
    rng = np.random.default_rng(2)
    for outer, nx, inner in SHAPES3:
        x = rand(rng, (outer, nx, inner), dtype)
        for ni in (0, 1, 6):
            idx = rng.integers(0, nx, (outer, ni, inner))
            out = M.empty(idx.shape, dtype)
            G.gather(dev(x), dev(idx), out)
            want = np.empty(idx.shape, dtype)
            C.gather(x, idx, want)
            np.testing.assert_array_equal(host(out), want)


def test_gather_strided_views():
    # x larger than idx in every dim (the caller's sub-block views), and a transposed x
    rng = np.random.default_rng(3)
    xb = rng.standard_normal((4, 9, 11))
    idx = rng.integers(0, 9, (3, 5, 7))
    want = np.empty(idx.shape)
    C.gather(xb[:3, :, 1:8], idx, want)
    out = M.empty(idx.shape, np.float64)
    G.gather(dev(xb)[:3, :, 1:8], dev(idx), out)
    np.testing.assert_array_equal(host(out), want)
    xt = rng.standard_normal((7, 9, 3))  # viewed as (3, 9, 7)
    xt_view = np.ascontiguousarray(xt).transpose(2, 1, 0)
    C.gather(xt_view, idx, want)
    G.gather(M.as_strided(dev(xt), (3, 9, 7), xt_view.strides), dev(idx), out)
    np.testing.assert_array_equal(host(out), want)


@pytest.mark.parametrize("dtype", ALL)
def test_scatter_duplicates_last_wins(dtype, form):
    rng = np.random.default_rng(4)
    for outer, no, inner in SHAPES3:
        out0 = rand(rng, (outer, no, inner), dtype)
        idx = rng.integers(0, min(no, 2), (outer, 2 * no, inner))  # many duplicates
        src = rand(rng, idx.shape, dtype)
        d = dev(out0)
        G.scatter(d, dev(idx), dev(src))
        want = out0.copy()
        C.scatter(want, idx, src)
        np.testing.assert_array_equal(host(d), want)


def test_scatter_into_larger_out_view(form):
    # loop bounds come from idx: out and src may be larger views (cells outside stay untouched)
    rng = np.random.default_rng(5)
    out0 = rng.standard_normal((4, 6, 9))
    srcb = rng.standard_normal((5, 8, 10))
    idx = rng.integers(0, 6, (3, 8, 7))
    for fn_g, fn_c in ((G.scatter, C.scatter), (G.scatter_add, C.scatter_add)):
        d = dev(out0)
        fn_g(d[:3, :, 2:9], dev(idx), dev(srcb)[1:4, :, :7])
        want = out0.copy()
        fn_c(want[:3, :, 2:9], idx, srcb[1:4, :, :7])
        same(host(d), want, exact=form == "columns")


@pytest.mark.parametrize("dtype", ALL)
def test_scatter_add_duplicates(dtype, form):
    rng = np.random.default_rng(6)
    for outer, no, inner in SHAPES3:
        out0 = rand(rng, (outer, no, inner), dtype)
        idx = rng.integers(0, no, (outer, 3 * no, inner))
        src = rand(rng, idx.shape, dtype)
        d = dev(out0)
        G.scatter_add(d, dev(idx), dev(src))
        want = out0.copy()
        C.scatter_add(want, idx, src)
        # columns add in the CPU's order: bit-identical; 8/16-bit and bool always use columns
        same(host(d), want, exact=form == "columns")


def test_scatter_empty_index_is_noop(form):
    out = dev(np.ones((2, 3, 4)))
    for f in (G.scatter, G.scatter_add):
        f(out, dev(np.zeros((2, 0, 4), np.int64)), dev(np.zeros((2, 0, 4))))
    G.index_add(out, dev(np.zeros(0, np.int64)), dev(np.zeros((2, 0, 4))))
    np.testing.assert_array_equal(host(out), 1)


@pytest.mark.parametrize("dtype", ALL)
def test_index_select(dtype):
    rng = np.random.default_rng(7)
    for outer, n, inner in SHAPES3:
        x = rand(rng, (outer, n, inner), dtype)
        for m in (0, 1, 2 * n):
            idx = rng.integers(0, n, m)
            out = M.empty((outer, m, inner), dtype)
            G.index_select(dev(x), dev(idx), out)
            want = np.empty((outer, m, inner), dtype)
            C.index_select(x, idx, want)
            np.testing.assert_array_equal(host(out), want)
    # a strided source view
    xb = rng.standard_normal((3, 8, 10))
    idx = rng.integers(0, 8, 11)
    out = M.empty((3, 11, 5), np.float64)
    G.index_select(dev(xb)[:, :, ::2], dev(idx), out)
    want = np.empty((3, 11, 5))
    C.index_select(xb[:, :, ::2], idx, want)
    np.testing.assert_array_equal(host(out), want)


@pytest.mark.parametrize("dtype", ALL)
def test_index_add_duplicates(dtype, form):
    rng = np.random.default_rng(8)
    for outer, n, inner in SHAPES3:
        out0 = rand(rng, (outer, n, inner), dtype)
        idx = rng.integers(0, n, 3 * n)
        src = rand(rng, (outer, 3 * n, inner), dtype)
        d = dev(out0)
        G.index_add(d, dev(idx), dev(src))
        want = out0.copy()
        C.index_add(want, idx, src)
        same(host(d), want, exact=form == "columns")


def test_scatter_form_choice():
    # short index dims and many columns walk columns; 8/16-bit and bool dtypes always do
    assert G._columns(4, G._COLUMN_MAX_N, 4)
    assert not G._columns(4, 1000, 4, np.float32)
    assert G._columns(4, 1000, 4, np.int16) and G._columns(4, 1000, 4, np.bool_)
    assert G._columns(G._COLUMN_MIN_COLS, 1000, 1, np.float64)


# --------------------------------------------------------------------------------------------
# take / put / linear_index
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL)
def test_take(dtype):
    rng = np.random.default_rng(9)
    for n, m in ((5, 0), (5, 9), (30, 131)):
        x = rand(rng, n, dtype)
        idx = rng.integers(0, n, m)
        out = M.empty((m,), dtype)
        G.take(dev(x), dev(idx), out)
        want = np.empty(m, dtype)
        C.take(x, idx, want)
        np.testing.assert_array_equal(host(out), want)


@pytest.mark.parametrize("dtype", ALL)
def test_put(dtype):
    rng = np.random.default_rng(10)
    for n, m in ((6, 0), (6, 20), (1, 7), (50, 131)):
        out0 = rand(rng, n, dtype)
        idx = rng.integers(0, n, m)
        for src in (rand(rng, m, dtype), rand(rng, 1, dtype)):  # one element broadcasts
            for acc in (True, False):
                d = dev(out0)
                G.put(d, dev(idx), dev(src), acc)
                want = out0.copy()
                C.put(want, idx, src, acc)
                # without accumulate the last write wins exactly; floats accumulate atomically
                same(host(d), want, exact=not acc)


def test_put_single_index_single_src():
    out = dev(np.zeros(3))
    G.put(out, dev(np.array([2], np.int64)), dev(np.array([5.0])), False)
    G.put(out, dev(np.array([2], np.int64)), dev(np.array([1.5])), True)
    np.testing.assert_array_equal(host(out), [0, 0, 6.5])


def test_linear_index():
    rng = np.random.default_rng(11)
    for shape, m in (((4, 5, 6), 0), ((4, 5, 6), 17), ((3, 7), 101), ((9,), 5)):
        indices = np.stack([rng.integers(0, s, m) for s in shape]) if m else \
            np.zeros((len(shape), 0), np.int64)
        strides = np.array([int(np.prod(shape[t + 1:])) for t in range(len(shape))], np.int64)
        want = np.empty(m, np.int64)
        C.linear_index(np.ascontiguousarray(indices), strides, want)
        for st in (strides, dev(strides)):  # host metadata or a device array
            out = M.empty((m,), np.int64)
            G.linear_index(dev(indices), st, out)
            np.testing.assert_array_equal(host(out), want)


# --------------------------------------------------------------------------------------------
# count_nonzero / nonzero
# --------------------------------------------------------------------------------------------
def nonzero_gpu(mask):
    # through a 1-D copy: memory.to_device turns a 0-d array into shape (1,) (np.ascontiguousarray)
    flat = dev(mask.reshape(-1))
    d = flat.reshape(mask.shape)
    count = G.count_nonzero(flat)
    out = M.empty((count, mask.ndim), np.int64)
    G.nonzero(d, out)
    return count, host(out)


def nonzero_cpu(mask):
    count = C.count_nonzero(mask.reshape(-1))
    out = np.empty((count, mask.ndim), np.int64)
    C.nonzero(mask, out)
    return count, out


@pytest.mark.parametrize("dtype", [np.bool_, np.float32, np.int32, np.uint8])
def test_nonzero(dtype):
    rng = np.random.default_rng(12)
    # 1000: several 128-element chunks per block (8 tiles of 16) and more chunks than blocks
    for shape in ((0,), (7,), (3, 0, 2), (5, 6), (3, 1, 4, 5), (3, 41), (1000,), (7, 3, 17)):
        mask = rand(rng, shape, dtype)
        if np.dtype(dtype).kind != "b":
            mask[rng.random(shape) < 0.5] = 0
        cg, got = nonzero_gpu(mask)
        cc, want = nonzero_cpu(mask)
        assert cg == cc == np.count_nonzero(mask)
        np.testing.assert_array_equal(got, want)


def test_nonzero_nan_dense_sparse_and_0d():
    x = np.array([0.0, np.nan, -0.0, 1.0], np.float64)
    assert G.count_nonzero(dev(x)) == C.count_nonzero(x) == 2
    np.testing.assert_array_equal(nonzero_gpu(x)[1], [[1], [3]])
    for v in (np.array(3.0), np.array(0.0)):
        count, got = nonzero_gpu(v)
        assert got.shape == (count, 0) == nonzero_cpu(v)[1].shape
    dense = np.ones(300, np.uint8)
    np.testing.assert_array_equal(nonzero_gpu(dense)[1][:, 0], np.arange(300))
    sparse = np.zeros((9, 50), np.bool_)
    sparse[0, 0] = sparse[4, 17] = sparse[8, 49] = True
    np.testing.assert_array_equal(nonzero_gpu(sparse)[1], [[0, 0], [4, 17], [8, 49]])


def test_cuda_module_exports_the_cpu_functions():
    import inspect
    public = [n for n, f in vars(C).items() if not n.startswith("_") and inspect.isfunction(f)]
    assert set(public) == {"check_index", "wrap_index", "gather", "scatter", "scatter_add",
                           "index_select", "index_add", "take", "put", "linear_index",
                           "count_nonzero", "nonzero"}
    for name in public:
        assert inspect.signature(getattr(G, name)) == inspect.signature(getattr(C, name)), name
