"""Repairs to Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), applied once when numtorch's
CUDA kernels load in it; on a real GPU this module does nothing.

The simulator runs each CUDA thread of a block as a Python thread. Two things in numba-cuda's
simulator (checked on 0.30) matter to numtorch's kernels:

* ``cuda.shared.array`` is a check-then-store on a dict keyed by the calling line: when the GIL
  passes between two threads of a block inside that window, each gets its own "shared" array and
  the block's reduction reads garbage. It is rare with the default 5 ms switch interval and
  common with a finer one (a 4-step RMSprop run on a tiny MLP diverged from the CPU in 3 of 24
  seeds at ``sys.setswitchinterval(1e-5)``). It also keys the call by walking the whole stack
  with ``traceback.extract_stack``, which reads source lines for every frame, in every thread.
  ``_shared_array`` keys by the caller's frame directly and stores with ``dict.setdefault``, which
  is atomic, so every thread of the block gets the one array.
* The block manager polls its threads in a loop that holds the GIL; a thread woken from
  ``syncthreads`` waits for the interpreter's switch interval (5 ms) before it runs, so a
  simulated launch spends most of its time waiting. ``_fine_switching`` lowers the interval to
  0.1 ms for the duration of each launch and restores it afterwards (a count shared by the
  launching threads, so overlapping launches from several threads restore it once).
"""
import sys
import threading

import numpy as np

_LAUNCH_SWITCH_INTERVAL = 1e-4
_applied = False
#: numba-cuda's own ``FakeCUDAShared.array`` (kept for the test that replays its race)
original_shared_array = None


def _shared_array(self, shape, dtype, alignment=None):
    """``cuda.shared.array`` in the simulator: one array per calling line for the whole block."""
    if alignment is not None:
        raise RuntimeError("Array alignment is not supported in cudasim")
    from numba.core import types
    from numba.np import numpy_support
    if isinstance(dtype, types.Type):
        dtype = numpy_support.as_dtype(dtype)
    if shape == 0:  # dynamic shared memory: one buffer for every such call
        count = self._dynshared_size // np.dtype(dtype).itemsize
        return np.frombuffer(self._dynshared.data, dtype=dtype, count=count)
    caller = sys._getframe(1)
    key = (caller.f_code.co_filename, caller.f_lineno)
    res = self._allocations.get(key)
    if res is None:
        res = self._allocations.setdefault(key, np.empty(shape, dtype))
    return res


class _fine_switching:
    """Context: the interpreter's switch interval at 0.1 ms while any launch runs."""
    _lock = threading.Lock()
    _depth = 0
    _saved = None

    def __enter__(self):
        cls = type(self)
        with cls._lock:
            if cls._depth == 0:
                cls._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(cls._saved, _LAUNCH_SWITCH_INTERVAL))
            cls._depth += 1

    def __exit__(self, *exc):
        cls = type(self)
        with cls._lock:
            cls._depth -= 1
            if cls._depth == 0:
                sys.setswitchinterval(cls._saved)


def apply():
    """Install the repairs into ``numba.cuda.simulator`` (idempotent; no-op off the simulator)."""
    global _applied, original_shared_array
    from numba import config
    if _applied or not config.ENABLE_CUDASIM:
        return
    from numba.cuda.simulator import kernel, kernelapi
    original_shared_array = kernelapi.FakeCUDAShared.array
    kernelapi.FakeCUDAShared.array = _shared_array
    launch = kernel.FakeCUDAKernel.__call__

    def __call__(self, *args):
        if self._device or kernel._kernel_context:  # a device function inside a launch
            return launch(self, *args)
        with _fine_switching():
            return launch(self, *args)

    __call__.__wrapped__ = launch
    kernel.FakeCUDAKernel.__call__ = __call__
    _applied = True
