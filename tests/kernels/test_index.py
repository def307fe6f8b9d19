"""Index kernels (``kernels/<device>/index.py``) against NumPy references.

"cpu" runs every test twice: as called, and with every ``policy.Twin`` forced onto its parallel
build ("cpu-parallel"), with sizes above the parallel threshold. "cuda" (16 threads x 3 blocks in
the simulator) runs a tiny shape and shapes that span several blocks and wrap the grid-stride
loops, and the scatter family in both of its forms: one thread per column, and atomics / the
winner pass (forced by moving the switch).
"""
import numpy as np
import pytest

from numtorch.kernels import policy

# int8/uint8 sums wrap around; the simulator's NumPy scalars warn about it
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

BIG = policy.PARALLEL_THRESHOLD + 12345  # above the parallel threshold, not a multiple of chunks
CPU = ["cpu", "cpu-parallel"]

#: (outer, n, inner) shapes: 1300 spans 3 CPU scatter blocks; 37 several CUDA blocks
SHAPES3 = {"cpu": [(1, 5, 1), (3, 4, 2), (2, 3, 1300), (7, 2, 5)],
           "cuda": [(1, 5, 1), (2, 3, 37), (1, 40, 3)]}


def cases(cpu, cuda):
    """Parameters for ``indirect=["device"]``: each CPU case on "cpu" and "cpu-parallel", the
    (fewer) CUDA cases on "cuda"."""
    return [(d,) + tuple(c) for d in CPU for c in cpu] + [("cuda",) + tuple(c) for c in cuda]


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
    else:  # parallel adds and atomics add floats in another order
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def set_form(device, form, monkeypatch):
    """Force the CUDA scatter family onto one thread per column, or onto atomics / the winner
    pass. Returns whether the result must be bit-identical to a sequential sum."""
    if form == "columns":
        monkeypatch.setattr(device.index, "_COLUMN_MAX_N", 1 << 62)
    elif form == "atomics":
        monkeypatch.setattr(device.index, "_COLUMN_MAX_N", 0)
        monkeypatch.setattr(device.index, "_COLUMN_MIN_COLS", 1 << 62)
    return form != "atomics"


def scatter_cases(cpu_dtypes, cuda_dtypes):
    """(device, dtype, form): CPU dtypes on both CPU builds, CUDA dtypes in both forms."""
    return [(d, t, "-") for d in CPU for t in cpu_dtypes] + \
        [("cuda", t, f) for t in cuda_dtypes for f in ("columns", "atomics")]


# --------------------------------------------------------------------------------------------
# check_index / wrap_index
# --------------------------------------------------------------------------------------------
def check_index_ref(idx, size):
    bad = np.flatnonzero((idx.reshape(-1) < -size) | (idx.reshape(-1) >= size))
    return int(bad[0]) if bad.size else -1


@pytest.mark.parametrize("device", CPU + ["cuda"], indirect=True)
def test_check_index(device):
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    for idx, size, want in [
            (np.array([0, 4, -5, -1, 3], np.int64), 5, -1),
            (np.array([0, 5, -6], np.int64), 5, 1),
            (np.array([0, 1, -6, 7], np.int64), 5, 2),
            (np.array([[0, 1], [2, 9]], np.int64), 5, 3),  # N-d: the flat position
            (np.array([], np.int64), 5, -1),
            (np.zeros((2, 0), np.int64), 3, -1),
            (np.array([0], np.int64), 0, 0),  # nothing is valid in a 0-size dim
            (np.array([1, big], np.int64), 5, 1),  # no overflow in the range test
            (np.array([1, small], np.int64), 5, 1),
            (np.array([big - 3, small + 3, -(1 << 62)], np.int64), 1 << 62, 0)]:
        assert want == check_index_ref(idx, size)
        assert device.index.check_index(device.to_device(idx), size) == want, (idx, size)


@pytest.mark.parametrize("device,n", cases([(5 * BIG,)], [(200,)]), indirect=["device"])
def test_check_index_earliest_of_many(device, n):
    # bad positions in different threads, chunks and loop rounds, each earlier than the last
    idx = np.random.default_rng(0).integers(-7, 7, n)
    assert device.index.check_index(device.to_device(idx), 7) == -1
    for pos in sorted({n - 1, n // 2 + 3, 4096 % n, 4095 % n, 49, 48, 47, 17, 16, 0},
                      reverse=True):
        idx[pos] = 7 if pos % 2 else -8
        assert device.index.check_index(device.to_device(idx), 7) == pos


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_check_index_strided_1d(device):
    _, d, _ = device.view(np.array([0, 99, 1, 2, 3, -99], np.int64))
    assert device.index.check_index(d[::2], 5) == -1
    assert device.index.check_index(d[1::2], 5) == 0


@pytest.mark.parametrize("device,sizes", cases([((0, 7, BIG),)], [((0, 7, (13, 9)),)]),
                         indirect=["device"])
def test_wrap_index(device, sizes):
    rng = np.random.default_rng(1)
    for n in sizes:
        idx = rng.integers(-10, 10, n if isinstance(n, tuple) else (n, 2))
        out = device.stale(idx.shape, np.int64)
        device.index.wrap_index(device.to_device(idx), 10, out)
        np.testing.assert_array_equal(device.to_host(out), np.where(idx < 0, idx + 10, idx))


@pytest.mark.parametrize("device", ["cuda"], indirect=True)
def test_cuda_refuses_non_contiguous_nd(device):
    d = device.to_device(np.zeros((4, 6), np.int64))[:, ::2]
    with pytest.raises(NotImplementedError, match="C-contiguous"):
        device.index.check_index(d, 3)


# --------------------------------------------------------------------------------------------
# gather / scatter / scatter_add / index_select / index_add on (outer, n, inner)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device,dtype", cases([(t,) for t in (np.float32, np.int64, np.bool_,
                                                                np.uint8)],
                                               [(np.float32,), (np.bool_,)]), indirect=["device"])
def test_gather(device, dtype):
    rng = np.random.default_rng(2)
    for outer, nx, inner in SHAPES3[device.name]:
        x = rand(rng, (outer, nx, inner), dtype)
        for ni in (0, 1, 6):
            idx = rng.integers(0, nx, (outer, ni, inner))
            out = device.stale(idx.shape, dtype)
            device.index.gather(device.to_device(x), device.to_device(idx), out)
            np.testing.assert_array_equal(device.to_host(out), np.take_along_axis(x, idx, 1))


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_gather_strided_views(device):
    # x larger than idx in every dim (the caller's sub-block views), and a transposed x
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 9, (3, 5, 7))
    out = device.empty(idx.shape, np.float64)
    xv, dx, _ = device.view(rng.standard_normal((4, 9, 11)), lambda t: t[:3, :, 1:8])
    device.index.gather(dx, device.to_device(idx), out)
    np.testing.assert_array_equal(device.to_host(out), np.take_along_axis(xv, idx, 1))
    xt, dt, _ = device.view(rng.standard_normal((7, 9, 3)), lambda t: t.transpose(2, 1, 0))
    device.index.gather(dt, device.to_device(idx), out)
    np.testing.assert_array_equal(device.to_host(out), np.take_along_axis(xt, idx, 1))


@pytest.mark.parametrize("device,shape", cases([((4, 50, BIG // 40),)], []), indirect=["device"])
def test_gather_large_negative_through_wrap(device, shape):
    rng = np.random.default_rng(3)
    outer, n, inner = shape
    x = rng.standard_normal(shape)
    raw = rng.integers(-n, n, (outer, 60, inner))
    I = device.index
    assert I.check_index(device.to_device(raw), n) == -1
    idx = device.empty(raw.shape, np.int64)
    I.wrap_index(device.to_device(raw), n, idx)
    out = device.empty(raw.shape, np.float64)
    I.gather(device.to_device(x), idx, out)
    np.testing.assert_array_equal(device.to_host(out), np.take_along_axis(x, raw % n, 1))


def scatter_ref(out, idx, src, add):
    """Sequential loops in index order: the last write wins, sums in j order."""
    out = out.copy()
    outer, ni, inner = idx.shape
    with np.errstate(over="ignore"):
        for o in range(outer):
            for j in range(ni):
                for i in range(inner):
                    if add:
                        out[o, idx[o, j, i], i] += src[o, j, i]
                    else:
                        out[o, idx[o, j, i], i] = src[o, j, i]
    return out


@pytest.mark.parametrize("device,dtype,form",
                         scatter_cases([np.float64, np.int32, np.int8, np.bool_],
                                       [np.float64, np.int8]), indirect=["device"])
def test_scatter_duplicates_last_wins(device, dtype, form, monkeypatch):
    set_form(device, form, monkeypatch)
    rng = np.random.default_rng(4)
    for outer, no, inner in SHAPES3[device.name]:
        out0 = rand(rng, (outer, no, inner), dtype)
        idx = rng.integers(0, min(no, 2), (outer, 2 * no, inner))  # many duplicates
        src = rand(rng, idx.shape, dtype)
        d = device.to_device(out0)
        device.index.scatter(d, device.to_device(idx), device.to_device(src))
        np.testing.assert_array_equal(device.to_host(d), scatter_ref(out0, idx, src, add=False))


@pytest.mark.parametrize("device,dtype,form",
                         scatter_cases([np.float32, np.int64, np.int16, np.uint8],
                                       [np.float32, np.int64, np.int16]), indirect=["device"])
def test_scatter_add_duplicates(device, dtype, form, monkeypatch):
    exact = set_form(device, form, monkeypatch)
    rng = np.random.default_rng(5)
    for outer, no, inner in SHAPES3[device.name]:
        out0 = rand(rng, (outer, no, inner), dtype)
        idx = rng.integers(0, no, (outer, 3 * no, inner))
        src = rand(rng, idx.shape, dtype)
        d = device.to_device(out0)
        device.index.scatter_add(d, device.to_device(idx), device.to_device(src))
        # columns (and the CPU) add in j order: bit-identical to the sequential loop
        same(device.to_host(d), scatter_ref(out0, idx, src, add=True), exact)


@pytest.mark.parametrize("device,dtype,form", scatter_cases([np.float64], [np.float64]),
                         indirect=["device"])
def test_scatter_into_larger_out_view(device, dtype, form, monkeypatch):
    # loop bounds come from idx: out and src may be larger views (cells outside stay untouched)
    exact = set_form(device, form, monkeypatch)
    rng = np.random.default_rng(5)
    out0 = rng.standard_normal((4, 6, 9))
    srcv, dsrc, _ = device.view(rng.standard_normal((5, 8, 10)), lambda t: t[1:4, :, :7])
    idx = rng.integers(0, 6, (3, 8, 7))
    for name, add in (("scatter", False), ("scatter_add", True)):
        want = out0.copy()
        want[:3, :, 2:9] = scatter_ref(out0[:3, :, 2:9], idx, srcv, add)
        _, dout, dbase = device.view(out0, lambda t: t[:3, :, 2:9])
        getattr(device.index, name)(dout, device.to_device(idx), dsrc)
        same(device.to_host(dbase), want, exact)


@pytest.mark.parametrize("device,shape", cases([((1, 40, BIG // 10),), ((BIG // 10, 40, 1),)], []),
                         indirect=["device"])
def test_scatter_and_scatter_add_large(device, shape):
    # outer == 1 (parallel over inner blocks) and inner == 1 (parallel over outer)
    rng = np.random.default_rng(6)
    outer, no, inner = shape
    idx = rng.integers(0, no, (outer, no, inner))
    src = rng.integers(-50, 50, idx.shape).astype(np.int64)
    o, _, i = np.indices(idx.shape, sparse=True)
    d = device.to_device(np.zeros(shape, np.int64))
    device.index.scatter_add(d, device.to_device(idx), device.to_device(src))
    want = np.zeros(shape, np.int64)
    np.add.at(want, (o, idx, i), src)
    np.testing.assert_array_equal(device.to_host(d), want)
    # unique indices along dim 1: scatter is a permutation, put_along_axis is the reference
    perm = np.argsort(rng.random((outer, no, inner)), axis=1)
    d = device.to_device(np.zeros(shape, np.int64))
    device.index.scatter(d, device.to_device(perm), device.to_device(src))
    want = np.zeros(shape, np.int64)
    np.put_along_axis(want, perm, src, axis=1)
    np.testing.assert_array_equal(device.to_host(d), want)


@pytest.mark.parametrize("device,dtype,form", scatter_cases([np.float64], [np.float64]),
                         indirect=["device"])
def test_scatter_empty_index_is_noop(device, dtype, form, monkeypatch):
    set_form(device, form, monkeypatch)
    out = device.to_device(np.ones((2, 3, 4), dtype))
    for f in (device.index.scatter, device.index.scatter_add):
        f(out, device.to_device(np.zeros((2, 0, 4), np.int64)),
          device.to_device(np.zeros((2, 0, 4), dtype)))
    device.index.index_add(out, device.to_device(np.zeros(0, np.int64)),
                           device.to_device(np.zeros((2, 0, 4), dtype)))
    np.testing.assert_array_equal(device.to_host(out), 1)


@pytest.mark.parametrize("device,dtype", cases([(t,) for t in (np.float32, np.int64, np.bool_,
                                                                np.int8)],
                                               [(np.float32,), (np.uint8,)]), indirect=["device"])
def test_index_select(device, dtype):
    rng = np.random.default_rng(7)
    extra = [(3, 100, BIG // 300)] if device.name == "cpu" else []
    for outer, n, inner in SHAPES3[device.name] + extra:
        x = rand(rng, (outer, n, inner), dtype)
        for m in (0, 1, 2 * n):
            idx = rng.integers(0, n, m)
            out = device.stale((outer, m, inner), dtype)
            device.index.index_select(device.to_device(x), device.to_device(idx), out)
            np.testing.assert_array_equal(device.to_host(out), np.take(x, idx, axis=1))
    # a strided source view
    xv, dx, _ = device.view(rng.standard_normal((3, 8, 10)), lambda t: t[:, :, ::2])
    idx = rng.integers(0, 8, 11)
    out = device.empty((3, 11, 5), np.float64)
    device.index.index_select(dx, device.to_device(idx), out)
    np.testing.assert_array_equal(device.to_host(out), np.take(xv, idx, axis=1))


@pytest.mark.parametrize("device,dtype,form",
                         scatter_cases([np.float64, np.int32, np.uint8], [np.float64, np.uint8]),
                         indirect=["device"])
def test_index_add_duplicates(device, dtype, form, monkeypatch):
    exact = set_form(device, form, monkeypatch)
    rng = np.random.default_rng(8)
    extra = [(2, 30, BIG // 20)] if device.name == "cpu" else []
    for outer, n, inner in SHAPES3[device.name] + extra:
        out0 = rand(rng, (outer, n, inner), dtype)
        idx = rng.integers(0, n, 3 * n)
        src = rand(rng, (outer, 3 * n, inner), dtype)
        d = device.to_device(out0)
        device.index.index_add(d, device.to_device(idx), device.to_device(src))
        want = out0.copy()
        with np.errstate(over="ignore"):
            np.add.at(want, (slice(None), idx), src)  # unbuffered, in index order
        same(device.to_host(d), want, exact)


@pytest.mark.parametrize("device", ["cuda"], indirect=True)
def test_cuda_scatter_form_choice(device):
    # short index dims and many columns walk columns; 8/16-bit and bool dtypes always do
    G = device.index
    assert G._columns(4, G._COLUMN_MAX_N, 4)
    assert not G._columns(4, 1000, 4, np.float32)
    assert G._columns(4, 1000, 4, np.int16) and G._columns(4, 1000, 4, np.bool_)
    assert G._columns(G._COLUMN_MIN_COLS, 1000, 1, np.float64)


# --------------------------------------------------------------------------------------------
# take / put
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device,dtype,sizes", cases(
    [(t, ((5, 0), (5, 9), (1000, BIG))) for t in (np.float32, np.int16, np.bool_)],
    [(t, ((5, 0), (5, 9), (30, 131))) for t in (np.float32, np.int16)]), indirect=["device"])
def test_take(device, dtype, sizes):
    rng = np.random.default_rng(9)
    for n, m in sizes:
        x = rand(rng, n, dtype)
        idx = rng.integers(0, n, m)
        out = device.stale((m,), dtype)
        device.index.take(device.to_device(x), device.to_device(idx), out)
        np.testing.assert_array_equal(device.to_host(out), x[idx])


def put_ref(out, idx, src, accumulate):
    out = out.copy()
    s = np.broadcast_to(src, idx.shape)
    with np.errstate(over="ignore"):
        for j, k in enumerate(idx.tolist()):  # in index order: the last write wins
            out[k] = out[k] + s[j] if accumulate else s[j]
    return out


@pytest.mark.parametrize("device,dtype,sizes", cases(
    [(t, ((6, 0), (6, 20), (1, 7), (1000, BIG))) for t in (np.float32, np.int64, np.uint8,
                                                           np.bool_)],
    [(t, ((6, 0), (6, 20), (1, 7), (50, 131))) for t in (np.float32, np.int64, np.uint8)]),
    indirect=["device"])
def test_put(device, dtype, sizes):
    rng = np.random.default_rng(10)
    for n, m in sizes:
        out0 = rand(rng, n, dtype)
        idx = rng.integers(0, n, m)
        for src in (rand(rng, m, dtype), rand(rng, 1, dtype)):  # one element broadcasts
            for acc in (True, False):
                d = device.to_device(out0)
                device.index.put(d, device.to_device(idx), device.to_device(src), acc)
                # without accumulate the last write wins exactly; floats accumulate atomically
                same(device.to_host(d), put_ref(out0, idx, src, acc), exact=not acc)


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_put_single_index_single_src(device):
    out = device.to_device(np.zeros(3))
    device.index.put(out, device.to_device(np.array([2])), device.to_device(np.array([5.0])),
                     False)
    device.index.put(out, device.to_device(np.array([2])), device.to_device(np.array([1.5])),
                     True)
    np.testing.assert_array_equal(device.to_host(out), [0, 0, 6.5])


# --------------------------------------------------------------------------------------------
# count_nonzero / nonzero
# --------------------------------------------------------------------------------------------
def nonzero(device, mask):
    """(count, coordinates) of the nonzeros of ``mask`` on ``device``."""
    # through a 1-D copy: the CUDA memory.to_device turns a 0-d array into shape (1,)
    flat = device.to_device(mask.reshape(-1))
    count = device.index.count_nonzero(flat)
    out = device.stale((count, mask.ndim), np.int64)
    device.index.nonzero(flat.reshape(mask.shape), out)
    return count, device.to_host(out)


# 1000 on "cuda": several 128-element chunks per block and more chunks than blocks
NONZERO = {"cpu": [(0,), (7,), (3, 0, 2), (5, 6), (3, 1, 4, 5), (3, 4100), (BIG,), (7, 33, 170)],
           "cuda": [(0,), (7,), (3, 0, 2), (3, 1, 4, 5), (1000,), (7, 3, 17)]}


@pytest.mark.parametrize("device,dtype", cases([(t,) for t in (np.bool_, np.float32, np.int32)],
                                               [(np.bool_,), (np.float32,)]), indirect=["device"])
def test_nonzero(device, dtype):
    rng = np.random.default_rng(12)
    for shape in NONZERO[device.name]:
        mask = rand(rng, shape, dtype)
        if np.dtype(dtype).kind != "b":
            mask[rng.random(shape) < 0.5] = 0
        count, got = nonzero(device, mask)
        assert count == np.count_nonzero(mask)
        np.testing.assert_array_equal(got, np.argwhere(mask))


@pytest.mark.parametrize("device,n", cases([(BIG,)], [(300,)]), indirect=["device"])
def test_nonzero_nan_0d_dense_sparse(device, n):
    x = np.array([0.0, np.nan, -0.0, 1.0], np.float64)  # NaN counts, -0.0 does not
    count, got = nonzero(device, x)
    assert count == 2
    np.testing.assert_array_equal(got, [[1], [3]])
    for v, c in ((np.array(3.0), 1), (np.array(0.0), 0)):
        count, got = nonzero(device, v)
        assert count == c and got.shape == (c, 0)
    np.testing.assert_array_equal(nonzero(device, np.ones(n, np.uint8))[1][:, 0], np.arange(n))
    sparse = np.zeros((9, 50), np.bool_)
    sparse[0, 0] = sparse[4, 17] = sparse[8, 49] = True
    np.testing.assert_array_equal(nonzero(device, sparse)[1], [[0, 0], [4, 17], [8, 49]])

