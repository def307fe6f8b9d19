"""Shared pytest fixtures."""
import os

# CUDA kernels run in Numba's simulator unless a real GPU run asks otherwise
# (NUMBA_ENABLE_CUDASIM=0). Both are read when numba is imported: set them first. The launch
# sizes shrink so that a few elements already span several blocks and tiles.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
if os.environ["NUMBA_ENABLE_CUDASIM"] == "1":
    os.environ.setdefault("NUMTORCH_CUDA_BLOCK", "16")
    os.environ.setdefault("NUMTORCH_CUDA_MAX_BLOCKS", "3")
    os.environ.setdefault("NUMTORCH_CUDA_TILE", "8")

import numpy as np  # noqa: E402
import pytest


@pytest.fixture
def rng():
    """A freshly seeded NumPy Generator per test: each test's inputs are reproducible alone."""
    return np.random.default_rng(20240607)
