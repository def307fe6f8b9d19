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
# Parallel builds compile in this process, as the tests that run them expect (and no helper
# process per pytest worker); tests/kernels/test_background.py turns the helper on itself.
os.environ.setdefault("NUMTORCH_BACKGROUND_COMPILE", "0")

import numpy as np  # noqa: E402
import pytest


@pytest.fixture
def rng():
    """A freshly seeded NumPy Generator per test: each test's inputs are reproducible alone."""
    return np.random.default_rng(20240607)


def _import_torchvision():
    """torchvision as a test oracle, or None. The registry's torchvision wheels are built against
    CUDA PyTorch: with the CPU wheel its C operators do not load, and registering their fake
    (meta) kernels raises at import. The Python side (transforms, models, utils, datasets) needs
    none of them, so the oracle is imported with those registrations skipped."""
    try:
        import torch
        import torch.library
    except ImportError:
        return None
    if "numtorch" in (torch.__file__ or ""):
        return None
    saved = torch.library.register_fake
    torch.library.register_fake = lambda *a, **k: (lambda fn: fn)
    try:
        import torchvision
        import torchvision.transforms  # noqa: F401
    except ImportError:
        return None
    finally:
        torch.library.register_fake = saved
    return torchvision


@pytest.fixture(scope="session")
def torchvision():
    """The real torchvision (with PyTorch) where installed: the oracle for numtorch.vision."""
    tv = _import_torchvision()
    if tv is None:
        pytest.skip("torchvision (with PyTorch) not installed")
    return tv


# Tests that start processes of their own (mpiexec ranks, notebook kernels, a whole training run)
# share one pytest-xdist worker, one after the other: two of them at once on a 2-core machine
# would only fight for the cores and race their timeouts. Everything else spreads over workers.
_OWN_PROCESSES = ("test_distributed.py", "test_notebooks.py", "test_train_e2e.py",
                  "test_warmup.py")


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
