"""Deterministic per-rank inputs shared by the MPI scripts and tests/test_distributed.py."""
import numpy as np

OPS = ["SUM", "AVG", "PRODUCT", "MIN", "MAX"]
DTYPES = ["float32", "float64", "int64", "int32"]


def rank_data(rank, key, shape=(3, 4), dtype="float32"):
    """Rank ``rank``'s input for check ``key`` (values near 1 so PRODUCT stays tame)."""
    rng = np.random.default_rng([rank, sum(map(ord, key))])
    if np.dtype(dtype).kind == "f":
        return (0.5 + rng.random(shape)).astype(dtype)
    return rng.integers(-5, 6, size=shape).astype(dtype)


def reduce_np(arrays, op):
    a = np.stack(arrays)
    return _reduce(a, op).astype(a.dtype)  # NumPy promotes int32 sums; MPI keeps the type


def _reduce(a, op):
    if op == "SUM":
        return a.sum(0)
    if op == "AVG":
        s = a.sum(0)
        return s / len(a) if a.dtype.kind == "f" else s // len(a)
    if op == "PRODUCT":
        return a.prod(0)
    if op == "MIN":
        return a.min(0)
    return a.max(0)
