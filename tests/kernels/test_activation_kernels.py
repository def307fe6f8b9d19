"""GELU kernels (``kernels/<device>/activation.py``): ``x * Phi(x)`` and ``Phi(x) + x * phi(x)``.

The CPU's float32 kernels (a polynomial approximation, evaluated in float32) against the exact
values from Python's math.erfc (``Phi(x) = erfc(-x / sqrt(2)) / 2``: no cancellation in the
negative tail, where they must stay accurate too), within 1e-6 relative everywhere (~8 float32
ulp: ``1/2 + z P(z^2)`` cancels up to 6x near z = -1, as PyTorch's ``1 + erf`` does there), the
tail near -13 included. The
float64 CPU kernels and the CUDA kernels compute PyTorch's formula ``0.5 * (1 + erf(x /
sqrt(2)))`` with the platform's erf: against that formula in float64 (math.erf).
"""
import math

import numpy as np
import pytest

SQRT1_2 = math.sqrt(0.5)


def reference(x, formula=False):
    x = np.asarray(x, np.float64)
    if formula:
        phi = np.array([0.5 * (1 + math.erf(v * SQRT1_2)) if v == v else np.nan for v in x])
    else:
        phi = np.array([0.5 * math.erfc(-v * SQRT1_2) if v == v else np.nan for v in x])
    dens = np.exp(-0.5 * x.ravel() ** 2) / math.sqrt(2 * math.pi)
    with np.errstate(invalid="ignore"):
        return (x.ravel() * phi).reshape(x.shape), (phi + x.ravel() * dens).reshape(x.shape)


def inputs(dtype, rng, n=700):
    x = np.concatenate([rng.standard_normal(n) * 3, np.linspace(-13, 13, 261),
                        [0.0, -0.0, 1.0, -1.0, 1.4142135, -1.4142135, 40.0, -40.0, 1e-30, -1e-30]])
    return x.astype(dtype)


def _run(device, name, x):
    out = device.stale(x.shape, x.dtype)
    getattr(device.activation, name)(device.to_device(x), out)
    return device.to_host(out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("device", ["cpu", "cpu-parallel", "cuda"], indirect=True)
def test_gelu_and_its_derivative(device, dtype, rng):
    x = inputs(dtype, rng)
    poly = dtype == np.float32 and not device.is_cuda
    want_y, want_d = reference(x, formula=not poly)
    got_y, got_d = _run(device, "gelu", x), _run(device, "gelu_grad", x)
    tol = dict(rtol=1e-6, atol=1e-37) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(got_y, want_y.astype(dtype), **tol)
    # the derivative crosses zero near x = -0.75, where its two float32 terms of ~0.2 cancel:
    # an absolute error of a few float32 ulp of those terms is all float32 arithmetic can keep
    dtol = dict(tol, atol=1e-7) if dtype == np.float32 and poly else tol
    np.testing.assert_allclose(got_d, want_d.astype(dtype), **dtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("device", ["cpu", "cuda"], indirect=True)
def test_gelu_special_values(device, dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], dtype)
    y, d = _run(device, "gelu", x), _run(device, "gelu_grad", x)
    assert np.isnan(y[0]) and y[1] == np.inf and np.isnan(y[2])  # -inf * Phi(-inf) = -inf * 0
    assert y[3] == 0 and y[4] == 0 and np.signbit(y[4])
    assert np.isnan(d[0]) and d[3] == 0.5 and d[4] == 0.5
    empty = np.zeros(0, dtype)
    assert _run(device, "gelu", empty).shape == (0,)
