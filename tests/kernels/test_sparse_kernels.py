"""Sparse COO kernels (``kernels/<device>/sparse.py``) against NumPy: the row offsets of a
row-sorted matrix and its product with a dense matrix.

"cpu" runs each case twice, as called and with every ``policy.Twin`` forced onto its parallel
build ("cpu-parallel"). "cuda" (16 threads x 3 blocks in the simulator) runs a tiny case and one
whose M * N spans several blocks and wraps the grid-stride loop. Inputs are what the ops layer
passes: coalesced entries (sorted by row, then column, no duplicates), empty rows included.
"""
import numpy as np
import pytest

CPU = ["cpu", "cpu-parallel"]


def cases(cpu, cuda):
    """Parameters for ``indirect=["device"]``: CPU cases on both CPU builds, CUDA's on "cuda"."""
    return [(d,) + tuple(c) for d in CPU for c in cpu] + [("cuda",) + tuple(c) for c in cuda]


def coalesced(rng, m, k, density):
    """(rows, cols) of a random coalesced (m, k) pattern; every third row is empty."""
    mask = rng.random((m, k)) < density
    mask[::3] = False
    rows, cols = np.nonzero(mask)  # row-major: sorted by row, then column
    return rows.astype(np.int64), cols.astype(np.int64)


def crow_ref(rows, m):
    return np.searchsorted(rows, np.arange(m + 1), side="left").astype(np.int64)


def spmm_ref(rows, cols, vals, x, m):
    out = np.zeros((m, x.shape[1]), np.float64)
    np.add.at(out, rows, vals[:, None].astype(np.float64) * x[cols].astype(np.float64))
    return out


@pytest.mark.parametrize("device,m,k,density", cases(
    [(1, 1, 1.0), (7, 5, 0.4), (40, 3, 0.5), (5, 4, 0.0)], [(7, 5, 0.4), (40, 3, 0.5)]),
    indirect=["device"])
def test_row_ptr(device, m, k, density):
    rows, _ = coalesced(np.random.default_rng(m), m, k, density)
    crow = device.stale((m + 1,), np.int64)
    device.sparse.row_ptr(device.to_device(rows), crow)
    np.testing.assert_array_equal(device.to_host(crow), crow_ref(rows, m))


@pytest.mark.parametrize("device,dtype,m,k,n", cases(
    [(t, m, k, n) for t in (np.float32, np.float64)
     for m, k, n in [(1, 1, 1), (9, 6, 5), (3, 8, 1), (200, 150, 40)]] + [(np.int64, 9, 6, 5)],
    [(np.float32, 2, 3, 2), (np.float64, 9, 6, 7)]), indirect=["device"])
def test_spmm(device, dtype, m, k, n):
    rng = np.random.default_rng(m * 100 + n)
    rows, cols = coalesced(rng, m, k, 0.3)
    if np.dtype(dtype).kind == "i":  # integers: exact
        vals = rng.integers(-9, 10, rows.shape[0]).astype(dtype)
        x = rng.integers(-9, 10, (k, n)).astype(dtype)
    else:
        vals = rng.standard_normal(rows.shape[0]).astype(dtype)
        x = rng.standard_normal((k, n)).astype(dtype)
    out = device.stale((m, n), dtype)  # stale values are overwritten, empty rows give zeros
    device.sparse.spmm(device.to_device(crow_ref(rows, m)), device.to_device(cols),
                       device.to_device(vals), device.to_device(x), out)
    tol = {np.float32: 1e-5, np.float64: 1e-12, np.int64: 0}[dtype]
    np.testing.assert_allclose(device.to_host(out), spmm_ref(rows, cols, vals, x, m),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_spmm_empty(device):
    # no entries at all: zeros; M == 0 or N == 0: nothing to write
    f = np.float32
    out = device.stale((3, 2), f)
    device.sparse.spmm(device.to_device(np.zeros(4, np.int64)),
                       device.to_device(np.zeros(0, np.int64)), device.to_device(np.zeros(0, f)),
                       device.to_device(np.ones((5, 2), f)), out)
    np.testing.assert_array_equal(device.to_host(out), np.zeros((3, 2), f))
    for m, n in [(0, 2), (3, 0)]:
        out = device.empty((m, n), f)
        device.sparse.spmm(device.to_device(np.zeros(m + 1, np.int64)),
                           device.to_device(np.zeros(0, np.int64)),
                           device.to_device(np.zeros(0, f)), device.to_device(np.ones((5, n), f)),
                           out)
        assert device.to_host(out).shape == (m, n)
