"""``kernels/cpu/_blas.py``: NumPy's CBLAS GEMM called from inside a Numba kernel."""
import numpy as np
import pytest

from numtorch.kernels import policy
from numtorch.kernels.cpu import _blas

GEMM = None  # the kernel's BLAS routine, bound per dtype

pytestmark = pytest.mark.skipif(not _blas.AVAILABLE,
                                reason="no CBLAS found in NumPy's libraries")


def _product(a, b_t, out):
    """out = a @ b_t^T, b_t given row-major (the GEMM reads it transposed)."""
    m, k = a.shape
    n = b_t.shape[0]
    it = a.itemsize
    GEMM(_blas.ROW_MAJOR, _blas.NO_TRANS, _blas.TRANS, m, n, k, out.dtype.type(1),
         a.ctypes.data, a.strides[0] // it, b_t.ctypes.data, b_t.strides[0] // it,
         out.dtype.type(0), out.ctypes.data, out.strides[0] // it)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_from_a_kernel_matches_numpy(dtype, rng):
    kernel = policy.kernel(_product, name=f"test_blas_product_{np.dtype(dtype).name}",
                           bind={"GEMM": _blas.GEMM[np.dtype(dtype)]})
    big = rng.standard_normal((9, 12)).astype(dtype)
    a = big[1:6, 2:9]               # a strided block: rows 12 apart
    b_t = rng.standard_normal((4, 7)).astype(dtype)
    out = np.full((5, 4), np.nan, dtype)
    with _blas.one_thread():
        kernel(a, b_t, out)
    np.testing.assert_allclose(out, a @ b_t.T, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_one_thread_restores_the_thread_count():
    before = _blas._get_threads()
    with _blas.one_thread():
        assert _blas._get_threads() == 1
    assert _blas._get_threads() == before


_IMPORTS = """
import numpy as np
np.ones((300, 300)) @ np.ones((300, 300))   # OpenBLAS's threads started, with its own wait
import numtorch
from numtorch.kernels.cpu import _blas
a = np.random.rand(300, 300)
assert np.allclose(a @ a, np.einsum("ij,jk->ik", a, a))  # its threads start again and compute
print(_blas._lib.openblas_thread_timeout())
"""


@pytest.mark.parametrize("preset", [None, "7"])
def test_openblas_wait_when_numpy_came_first(preset):
    # NumPy imported before numtorch: OpenBLAS read OPENBLAS_THREAD_TIMEOUT before numtorch set
    # it, and re-reads it when the kernels load; a value the user set stays as it was
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if preset:
        env["OPENBLAS_THREAD_TIMEOUT"] = preset
    out = subprocess.run([sys.executable, "-c", _IMPORTS], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert int(out.split()[-1]) == int(preset or 4)
