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


# Tests that start processes of their own (mpiexec ranks, notebook kernels, a whole training run)
# share one pytest-xdist worker, one after the other: two of them at once on a 2-core machine
# would only fight for the cores and race their timeouts. Everything else spreads over workers.
_OWN_PROCESSES = ("test_distributed.py", "test_notebooks.py", "test_train_e2e.py")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups (its hook adds them to
# the node ids, and runs first otherwise)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in _OWN_PROCESSES:
            item.add_marker(pytest.mark.xdist_group("processes"))
        elif item.path.parent.name == "kernels":
            # The tests of one kernel family compile the same kernel specialisations. Handed out
            # one by one they would run at once on both workers, each compiling them; kept on
            # one worker, each is compiled once and reused. Grouping per test function still
            # left ~150 s of CPU of such twice-compiled kernels in a cold run (a family's tests
            # share kernels: the folds, sorts, attention); per file leaves ~5 s.
            item.add_marker(pytest.mark.xdist_group(item.path.name))
