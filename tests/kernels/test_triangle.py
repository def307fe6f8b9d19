"""The ``triangle`` kernel of the index family (tril/triu) against NumPy, on every device.

Batches of matrices with the diagonal inside, at the edges of and beyond each matrix; wide, tall
and empty matrices; every dtype family. Under the CUDA simulator a block has 16 threads and the
grid 3 blocks (tests/conftest.py), so the larger shapes wrap the grid-stride loop.
"""
import importlib

import numpy as np
import pytest

import numtorch.kernels as K
from numtorch.kernels import policy

DTYPES = [np.float32, np.float64, np.int64, np.int32, np.int8, np.uint8, np.bool_]
SHAPES = [(1, 3, 3), (2, 3, 5), (3, 6, 2), (1, 1, 1), (2, 0, 3), (0, 3, 3), (1, 9, 11)]


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    """The kernel package (``index``, ``memory``...) of one device."""
    if request.param == "cuda" and not importlib.import_module("numtorch").cuda.is_available():
        pytest.skip("no CUDA device and no simulator")
    return K.load(request.param)


def _data(rng, shape, dtype):
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) < 0.5
    return (rng.integers(1, 100, shape)).astype(dtype)  # no zeros: a kept element is visible


def _run(dev, x, diagonal, upper):
    m = dev.memory
    out = m.empty(x.shape, x.dtype)
    dev.index.triangle(m.to_device(x), diagonal, upper, out)
    return m.to_host(out)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_triangle_matches_numpy(device, dtype, upper, rng):
    ref = np.triu if upper else np.tril
    for shape in SHAPES:
        x = _data(rng, shape, dtype)
        for diagonal in sorted({-shape[1] - 1, -2, -1, 0, 1, 2, shape[2], shape[2] + 3}):
            got = _run(device, x, diagonal, upper)
            np.testing.assert_array_equal(got, ref(x, diagonal), err_msg=f"{shape} k={diagonal}")


def test_triangle_parallel_twin(monkeypatch, rng):
    monkeypatch.setattr(policy, "PARALLEL_THRESHOLD", 1)
    cpu = K.load("cpu")
    x = _data(rng, (4, 7, 5), np.float64)
    for upper, ref in ((False, np.tril), (True, np.triu)):
        for diagonal in (-3, 0, 2):
            np.testing.assert_array_equal(_run(cpu, x, diagonal, upper), ref(x, diagonal))
