"""The ``device`` fixture of the kernel tests: one kernel namespace per device, and array helpers.

Every test file here covers one kernel family on both devices: a test that takes ``device`` runs
once with ``"cpu"`` and once with ``"cuda"`` (skipped only where ``numtorch.cuda.is_available()``
is False). The oracle is NumPy on both. CUDA kernels run in Numba's simulator on CI
(tests/conftest.py shrinks launches to 16 threads x 3 blocks, tile 8), where each thread is a
Python thread: tests give "cuda" fewer cases than "cpu" by parametrising the device with the
case (``indirect=["device"]``), keeping on "cuda" a tiny case and one that crosses block and tile
boundaries. ``"cpu-parallel"`` is the CPU with every ``policy.Twin`` forced onto its parallel
build.
"""
import numpy as np
import pytest

import numtorch
from numtorch import kernels as K
from numtorch.kernels import policy


class Device:
    """The kernels of one device (``device.reduce.sum``...) and array helpers for its memory.

    Helpers always copy, on both devices, so that a kernel writing in place never changes the
    test's NumPy arrays (the CPU's ``memory.to_device`` would hand back the array itself).
    """

    def __init__(self, name):
        self.name = name
        self.is_cuda = name == "cuda"
        self.kernels = K.load(name)
        self.memory = self.kernels.memory

    def __getattr__(self, family):  # device.reduce, device.index, ...
        return getattr(self.kernels, family)

    def __repr__(self):
        return f"<kernels on {self.name}>"

    def to_device(self, a):
        """A new C-contiguous device copy of the NumPy array ``a``."""
        a = np.array(a, order="C")  # (a fresh copy, also with fresh strides for size-1 dims)
        return self.memory.to_device(a) if self.is_cuda else a

    def to_host(self, a):
        """A new NumPy copy of the device array ``a``."""
        return self.memory.to_host(a) if self.is_cuda else np.array(a)

    def empty(self, shape, dtype):
        return self.memory.empty(shape, np.dtype(dtype))

    def stale(self, shape, dtype, value=7):
        """An output full of garbage that a kernel must overwrite."""
        return self.to_device(np.full(shape, value, dtype))

    def view(self, base, view=None):
        """``(host view, device view, device base)``: ``view(base)`` (a NumPy view of a fresh
        copy of ``base``) and the device view with the same shape, strides and offset into a
        device copy, for kernels that take strided operands."""
        base = np.array(base, order="C")
        v = base if view is None else view(base)
        d = self.to_device(base)
        off = v.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        assert off % base.itemsize == 0 and all(s >= 0 for s in v.strides)
        flat = self.memory.as_strided(d, (base.size,), (base.itemsize,))[off // base.itemsize:]
        return v, self.memory.as_strided(flat, v.shape, v.strides), d

    def like(self, view):
        """The device twin of the NumPy view ``view`` (shape, strides, offset into its base) for
        a kernel that only reads it; on the CPU, ``view`` itself (negative strides too)."""
        if not self.is_cuda:
            return view
        base = view
        while base.base is not None and isinstance(base.base, np.ndarray):
            base = base.base
        off = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        assert off % view.itemsize == 0 and all(s >= 0 for s in view.strides)
        d = self.to_device(base.reshape(-1))
        return self.memory.as_strided(d[off // view.itemsize:], view.shape, view.strides)


_DEVICES = {}


@pytest.fixture(params=["cpu", "cuda"])
def device(request, monkeypatch):
    """The kernels of ``request.param``: "cpu", "cuda" or "cpu-parallel"."""
    name = request.param
    if name == "cuda" and not numtorch.cuda.is_available():
        pytest.skip("CUDA kernels need a GPU or the simulator (NUMBA_ENABLE_CUDASIM=1)")
    if name == "cpu-parallel":
        monkeypatch.setattr(policy, "PARALLEL_THRESHOLD", 1)
        name = "cpu"
    d = _DEVICES.get(name)
    if d is None:
        d = _DEVICES[name] = Device(name)
    return d

