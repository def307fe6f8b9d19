"""The CPU kernels' storage-dtype rule (kernels/policy.py): Numba compiles neither float16 nor
bfloat16 for the CPU, so a kernel called with such arrays runs on float32 copies and the
writable ones get the results rounded back, without a float16 specialisation and without a
cost for the dtypes Numba compiles."""
import ml_dtypes
import numpy as np
import pytest

from numtorch.kernels import policy


def _axpy(a, x, y, out):
    for i in range(out.size):
        out[i] = a * x[i] + y[i]


_k = policy.kernel(_axpy, name="storage_axpy")
_twin = policy.Twin(_axpy, name="storage_axpy_twin")


@pytest.mark.parametrize("dt", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("kernel", [_k, _twin], ids=["kernel", "twin"])
def test_a_kernel_runs_half_arrays_in_float32(kernel, dt):
    rng = np.random.default_rng(0)
    x32, y32 = rng.standard_normal(9).astype(np.float32), rng.standard_normal(9).astype(np.float32)
    x, y = x32.astype(dt), y32.astype(dt)
    out = np.empty(9, dt)
    kernel(dt(1.5), x, y, out)
    want = (np.float32(dt(1.5)) * x.astype(np.float32) + y.astype(np.float32)).astype(dt)
    np.testing.assert_array_equal(out.astype(np.float32), want.astype(np.float32))
    # the inputs are unchanged, and an input that is also the output is updated in place
    np.testing.assert_array_equal(x, x32.astype(dt))
    kernel(dt(2.0), x, y, y)
    want = (2 * x.astype(np.float32) + y32.astype(dt).astype(np.float32)).astype(dt)
    np.testing.assert_array_equal(y.astype(np.float32), want.astype(np.float32))
    # a read-only input (a broadcast) is read, never written
    ro = np.broadcast_to(dt(1.0), (9,))
    kernel(dt(1.0), ro, x, out)
    np.testing.assert_array_equal(out.astype(np.float32), (1 + x.astype(np.float32)).astype(dt)
                                  .astype(np.float32))


def test_no_half_specialisation_is_compiled():
    x = np.ones(4, np.float16)
    _k(np.float16(1), x, x, np.empty(4, np.float16))
    _k(np.float32(1), x.astype(np.float32), x.astype(np.float32), np.empty(4, np.float32))
    assert _k.signatures and all("float16" not in str(s) for s in _k.signatures)


def test_other_typing_errors_are_unchanged():
    from numba.core.errors import TypingError
    with pytest.raises(TypingError):
        _k(1.0, np.ones(3, np.float32), "not an array", np.empty(3, np.float32))
