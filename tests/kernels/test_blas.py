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
