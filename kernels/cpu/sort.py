"""Sort CPU kernels: a stable sort of each row, with the positions the values came from.

Contract: NumPy arrays in, the results written into ``values`` and ``indices`` that the caller
allocated, nothing returned. ``x`` is C-contiguous ``(rows, n)``: the ops layer moves the sorted
dim last and merges the others into rows. The order is PyTorch's: NaN sorts as the largest value
(last ascending, first descending); equal keys (``-0.0 == 0.0``, NaN with NaN) keep their input
order in both directions, so the result is also a valid answer to ``stable=False``.

Parallelism: rows split across threads (the parallel twin runs above
``policy.PARALLEL_THRESHOLD`` elements and two rows); one row is sorted by one thread.
"""
import numpy as np
from numba import prange

from .. import policy


def _sort(x, descending, values, indices):
    rows, n = x.shape
    for r in prange(rows):
        if descending:
            # a stable ascending sort of the reversed row, read backwards: largest (and NaN)
            # first, and equal keys, reversed twice, back in input order
            o = np.argsort(x[r, ::-1], kind="mergesort")
            for j in range(n):
                k = n - 1 - o[n - 1 - j]
                indices[r, j] = k
                values[r, j] = x[r, k]
        else:
            o = np.argsort(x[r], kind="mergesort")  # Numba's, as NumPy's: NaN last
            for j in range(n):
                k = o[j]
                indices[r, j] = k
                values[r, j] = x[r, k]


_sort_k = policy.Twin(_sort, "sort")


def sort(x, descending, values, indices):
    """values[r], indices[r] = row r of ``x`` sorted (stable) and the int64 positions its values
    had; x and values (rows, n) C-contiguous of one dtype, indices (rows, n) int64."""
    rows, n = x.shape
    if rows == 0 or n == 0:
        return
    _sort_k(x, bool(descending), values, indices, work=x.size if rows >= 2 else 0)
