"""numtorch's repairs to Numba's CUDA simulator (kernels/cuda/_simulator.py): a block's threads
always share one ``cuda.shared.array``, and launches run with a fine GIL switch interval that is
restored afterwards. Only meaningful in the simulator, which is how CI runs the CUDA kernels."""
import sys
import threading

import numpy as np
import pytest

import numtorch

pytestmark = pytest.mark.skipif(not numtorch.cuda.is_simulator(),
                                reason="repairs to Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1)")


class _BothLookFirst(dict):
    """A dict whose ``get`` returns only once two threads have called it: the interleaving in
    which each thread of a block finds no array yet for its line."""

    def __init__(self):
        super().__init__()
        self.barrier = threading.Barrier(2, timeout=10)

    def get(self, key, default=None):
        found = super().get(key, default)
        self.barrier.wait()
        return found


def _two_threads_take_one_line(array_method):
    from numba.cuda.simulator import kernelapi
    shared = kernelapi.FakeCUDAShared(0)
    shared._allocations = _BothLookFirst()
    got = [None, None]

    def thread(i):
        got[i] = array_method(shared, (4,), np.float32)  # one line, as in a kernel

    ts = [threading.Thread(target=thread, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return got


def test_threads_of_a_block_share_one_array_under_any_interleaving():
    from numtorch.kernels.cuda import _simulator
    a, b = _two_threads_take_one_line(_simulator._shared_array)
    assert a is b
    # Numba's own method gives each thread its own "shared" array in this interleaving
    a, b = _two_threads_take_one_line(_simulator.original_shared_array)
    assert a is not b


def test_launches_switch_threads_finely_and_restore_the_interval():
    from numba import cuda
    seen = []

    @cuda.jit
    def probe(out):
        seen.append(sys.getswitchinterval())  # kernels are Python in the simulator
        out[0] = 1

    before = sys.getswitchinterval()
    sys.setswitchinterval(5e-3)
    try:
        probe[1, 2](np.zeros(1))
        assert seen == [pytest.approx(1e-4)] * 2  # both threads
        assert sys.getswitchinterval() == pytest.approx(5e-3)
    finally:
        sys.setswitchinterval(before)
