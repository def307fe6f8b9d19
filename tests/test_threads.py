"""torch.set_num_threads & co: PyTorch's checks, and the kernels' thread pool narrowed."""
import numba
import numpy as np
import pytest

import numtorch


@pytest.fixture
def restore_threads():
    before, pool = numtorch.get_num_threads(), numba.get_num_threads()
    yield
    numtorch.set_num_threads(before)
    numba.set_num_threads(pool)


@pytest.mark.parametrize("bad,msg", [(0, "positive integer"), (-2, "positive integer"),
                                     (2.0, "expects an int, but got float"),
                                     ("2", "expects an int, but got str"),
                                     (True, "expects an int, but got bool")])
def test_set_num_threads_refuses_what_pytorch_refuses(bad, msg):
    with pytest.raises(RuntimeError, match=msg):
        numtorch.set_num_threads(bad)
    with pytest.raises(RuntimeError, match=msg):
        numtorch.set_num_interop_threads(bad)


def test_set_num_threads_narrows_the_kernels_pool(restore_threads):
    numtorch.set_num_threads(1)
    assert numtorch.get_num_threads() == 1 and numba.get_num_threads() == 1
    x = numtorch.arange(1 << 16, dtype=numtorch.float64)  # above the parallel threshold
    np.testing.assert_array_equal((x * 2).numpy(), np.arange(1 << 16) * 2.0)


def test_more_threads_than_the_pool_are_remembered(restore_threads):
    numtorch.set_num_threads(numba.config.NUMBA_NUM_THREADS + 3)
    assert numtorch.get_num_threads() == numba.config.NUMBA_NUM_THREADS + 3
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS


def test_interop_threads_round_trip():
    numtorch.set_num_interop_threads(3)
    assert numtorch.get_num_interop_threads() == 3
