"""Sort kernels (numtorch.kernels.{cpu,cuda}.sort) against NumPy, on every device.

NumPy's stable argsort is the oracle: ascending it is PyTorch's order (NaN last, ties in input
order); descending it is read backwards over the reversed row (NaN first, ties still in input
order), which is what ``torch.sort(descending=True, stable=True)`` gives (pinned below). Under
the CUDA simulator a block has 16 threads (tests/conftest.py), so rows of 37 and 100 elements
span several blocks and merge passes; the CPU also runs its parallel twin.
"""
import importlib

import numpy as np
import pytest

import numtorch.kernels as K
from numtorch.kernels import policy

DTYPES = [np.float32, np.float64, np.int64, np.int32, np.int8, np.uint8, np.bool_]
SHAPES = [(1, 1), (3, 7), (2, 37), (1, 100), (4, 0), (0, 5)]


def _cuda_available():
    return importlib.import_module("numtorch").cuda.is_available()


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    """The kernel package (``sort``, ``memory``...) of one device."""
    if request.param == "cuda" and not _cuda_available():
        pytest.skip("no CUDA device and no simulator")
    return K.load(request.param)


def _run(dev, x, descending):
    m = dev.memory
    v = m.empty(x.shape, x.dtype)
    i = m.empty(x.shape, np.int64)
    dev.sort.sort(m.to_device(np.ascontiguousarray(x)), descending, v, i)
    return m.to_host(v), m.to_host(i)


def _oracle(x, descending):
    if descending:
        n = x.shape[1]
        idx = n - 1 - np.argsort(x[:, ::-1], axis=1, kind="stable")[:, ::-1]
    else:
        idx = np.argsort(x, axis=1, kind="stable")
    return np.take_along_axis(x, idx, 1), idx


def _data(rng, shape, dtype, kind):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if kind == "ties":  # few distinct values: long runs of equal keys
        return rng.integers(0, 4, shape).astype(dtype)
    if kind == "nan" and dtype.kind == "f":
        pool = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, 1.5, -2.0], dtype)
        return rng.choice(pool, shape)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -100), min(info.max, 100), shape, endpoint=True).astype(dtype)


def _check(dev, x, descending):
    v, i = _run(dev, x, descending)
    want_v, want_i = _oracle(x, descending)
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_array_equal(v, want_v)  # NaN positions match too


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("kind", ["random", "ties", "nan"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sort_matches_numpy(device, dtype, kind, descending, rng):
    for shape in SHAPES:
        _check(device, _data(rng, shape, dtype, kind), descending)


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_cpu_parallel_twin(dtype, monkeypatch, rng):
    # every Twin on its parallel build: rows split across threads
    monkeypatch.setattr(policy, "PARALLEL_THRESHOLD", 1)
    cpu = K.load("cpu")
    for kind in ("random", "ties", "nan"):
        for shape in SHAPES + [(64, 9)]:
            for descending in (False, True):
                _check(cpu, _data(rng, shape, dtype, kind), descending)


@pytest.mark.parametrize("n", [2, 16, 17, 33, 64, 100])
def test_sort_lengths_around_powers_of_two(device, n, rng):
    # the merge passes pair runs of 1, 2, 4...: lengths at and just past a power of two leave
    # a last run without a partner
    x = rng.integers(0, 5, (3, n)).astype(np.float64)
    for descending in (False, True):
        _check(device, x, descending)


def test_sort_pinned_to_torch_order(device):
    # what torch.sort(x, stable=True) returns, with descending False and True (torch 2.13)
    x = np.array([[1.0, np.nan, -0.0, 0.0, np.nan, 2.0, 0.0]])
    v, i = _run(device, x, False)
    np.testing.assert_array_equal(i, [[2, 3, 6, 0, 5, 1, 4]])
    np.testing.assert_array_equal(v, [[-0.0, 0.0, 0.0, 1.0, 2.0, np.nan, np.nan]])
    v, i = _run(device, x, True)
    np.testing.assert_array_equal(i, [[1, 4, 5, 0, 2, 3, 6]])
    np.testing.assert_array_equal(v, [[np.nan, np.nan, 2.0, 1.0, -0.0, 0.0, 0.0]])


def test_sort_already_sorted_and_reversed(device):
    up = np.arange(40, dtype=np.int32).reshape(2, 20)
    for x in (up, up[:, ::-1].copy()):
        for descending in (False, True):
            _check(device, x, descending)
