"""Every CUDA kernel compiles for a real GPU, checked on a CPU-only machine.

Numba's simulator runs kernels as Python, so it cannot catch code that a GPU compile rejects
(typing a device function differently, an unsupported call, an invalid store). Where the CUDA
compiler wheels are installed (``numba-cuda[cu13]`` or ``[cu12]``: NVVM, libdevice, NVRTC),
``numba.cuda.compile_ptx`` type-checks and lowers each kernel without a GPU. Each kernel module
lists what it can launch in ``ptx_cases()``; a subprocess with the simulator off compiles them.
"""
import os
import subprocess
import sys

import pytest

from numtorch.kernels import FAMILIES as MODULES  # the one list of kernel families

SCRIPT = r"""
import importlib, sys, time, types
from numba import cuda
import numba.cuda.dispatcher as D
# numba-cuda asks the current GPU for its compute capability when it compiles a device function
# that a kernel calls, whatever compile_ptx's cc says; there is no GPU here: answer for it
D.get_current_device = lambda: types.SimpleNamespace(compute_capability=(8, 0))
bad, n, t0 = [], 0, time.time()
for name in sys.argv[1:]:
    mod = importlib.import_module("numtorch.kernels.cuda." + name)
    for label, fn, sig in mod.ptx_cases():
        n += 1
        try:
            cuda.compile_ptx(fn, sig, cc=(8, 0))
        except Exception as e:
            bad.append(f"{name}: {label} {sig}: {type(e).__name__}: {str(e).splitlines()[0][:400]}")
print(f"compiled {n} kernels in {time.time() - t0:.1f} s")
print("\n".join(bad))
sys.exit(1 if bad or n == 0 else 0)
"""


def _have_compiler():
    """True when the libraries compile_ptx needs are there: NVRTC and NVVM, from the nvidia-*
    wheels of numba-cuda[cu13]/[cu12] or a CUDA toolkit. The ``cuda`` extra alone (the runtime
    wheel) shares the ``nvidia`` namespace but has neither: the test must skip there."""
    dirs = []
    try:
        import nvidia
        dirs += list(nvidia.__path__)
    except ImportError:
        pass
    home = os.environ.get("CUDA_HOME") or "/usr/local/cuda"
    dirs += [home]
    found = {lib: False for lib in ("libnvrtc.so", "libnvvm.so")}
    for d in dirs:
        for _root, _dirs, files in os.walk(d):
            for lib in found:
                found[lib] = found[lib] or any(f.startswith(lib) for f in files)
    return all(found.values())


@pytest.mark.skipif(not _have_compiler(), reason="no CUDA compiler (install numba-cuda[cu13])")
def test_every_cuda_kernel_compiles_to_ptx():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    p = subprocess.run([sys.executable, "-c", SCRIPT, *MODULES], env=env, capture_output=True,
                       text=True, timeout=900)
    assert p.returncode == 0, (p.stdout + p.stderr)[-6000:]
    assert "compiled" in p.stdout
