"""GELU in one pass, forward and derivative (PyTorch's ``x * 0.5 * (1 + erf(x / sqrt(2)))``
composed of Tensor ops is five passes forward and more backward, each calling libm's erf, which
keeps the loop scalar).

Contract: ``gelu(x, out)`` and ``gelu_grad(x, out)``: ``x`` and ``out`` 1-D C-contiguous arrays
of one float dtype (float32 or float64; the caller flattens); ``out = x * Phi(x)`` and ``out =
Phi(x) + x * phi(x)`` (phi the standard normal density), computed in the arrays' dtype. Each
writes ``out`` and returns None.

Phi comes two ways, by dtype:
- float64: ``0.5 * (1 + erf(x / sqrt(2)))`` with libm's erf, as PyTorch computes it (so results
  agree to rounding, cancellation for negative x included);
- float32: a vectorisable approximation: erf by its Taylor series in z = x / sqrt(2) for
  |z| < 1, and beyond, ``erfc(|z|) = exp(-z^2) / |z| * F(1 / |z|)`` with F a degree-12
  polynomial fitted at Chebyshev nodes to ``erfc(z) exp(z^2) z`` over 1/z in (0, 1] (reference:
  Python's math.erfc; the coefficients below are that fit, in powers of u = 2/|z| - 1): the
  approximation's relative error is below 1.3e-8 for every float, the negative tail included.
  It is evaluated in float32 (8 SIMD lanes), which leaves ``1/2 + z P(z^2)`` a cancellation of
  up to 6x near z = -1 (results within 1e-6 relative; PyTorch's float32 ``1 + erf`` cancels
  there too, and without bound in the tail). exp(-x^2 / 2) reduces its argument in float64
  (``_density_f32``: x^2 rounded to float32 would put 3e-6 of relative error into the density
  at |x| = 8). 1M floats: 0.77 ms a pass (1.3 with the polynomial in float64), ~15x faster than
  the composite.
"""
import math

import numpy as np
from numba import prange

from .. import policy
from . import _vmath

# globals of the kernel bodies, bound per variant by policy (``bind=``): the compute type F, the
# normal density and Phi, and the constant the bodies use in that type
F = DENSITY = phi = INV_SQRT_2PI = None

_SQRT1_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


@policy.scalar
def _phi_libm(x, e):
    """Phi(x) through libm's erf (``e`` = exp(-x^2 / 2), unused: the signature of the pair)."""
    return 0.5 * (1.0 + math.erf(x * _SQRT1_2))


#: 2/sqrt(pi) * (-1)^k / (k! (2k + 1)), k = 0..11: erf(z) / z as a series in z^2
_ERF_SERIES = (1.1283791670955126, -0.37612638903183754, 0.11283791670955126,
               -0.026866170645131252, 0.005223977625442188, -0.0008548327023450852,
               0.00012055332981789664, -1.492565035840625e-05, 1.6462114365889246e-06,
               -1.6365844691234924e-07, 1.4807192815879218e-08, -1.2290555301717926e-09)
#: erfc(z) exp(z^2) z as a polynomial in u = 2/z - 1, z >= 1 (the fit of the module docstring)
_TAIL_FIT = (0.510791355275033, -0.08360547892338512, -0.00915857405471547, 0.014869738438346235,
             -0.006793217760499505, 0.0013312398148637489, 0.00061224489808882,
             -0.0008190411424490822, 0.0005344945679045059, -0.00017763107442790308,
             -7.190757376461892e-05, 9.81734093398223e-05, -2.7818531906651567e-05)
# the same in float32 (a float64 literal would promote the float32 arithmetic around it)
_S = tuple(np.float32(c) for c in _ERF_SERIES)
_U = tuple(np.float32(c) for c in _TAIL_FIT)
_HALF_F, _ONE_F, _TWO_F = np.float32(0.5), np.float32(1.0), np.float32(2.0)
_ZERO_F = np.float32(0.0)
_SQRT1_2_F, _INV_SQRT_2PI_F = np.float32(_SQRT1_2), np.float32(_INV_SQRT_2PI)


@policy.scalar
def _phi_poly(x, e):
    """Phi(x) of a float32 in float32, given e = exp(-x^2 / 2), without a call: see the module
    docstring. Selects, no branches (the loop around it vectorises); NaN -> NaN, +inf -> 1,
    -inf -> 0."""
    half, one = _HALF_F, _ONE_F
    z = x * _SQRT1_2_F
    a = abs(z)
    s = z * z
    small = half + half * z * (_S[0] + s * (_S[1] + s * (_S[2] + s * (_S[3] + s * (_S[4] + s * (
        _S[5] + s * (_S[6] + s * (_S[7] + s * (_S[8] + s * (_S[9] + s * (_S[10] + s * _S[11])))))))))))
    t = one / (a if a >= one else one)
    u = _TWO_F * t - one
    f = _U[0] + u * (_U[1] + u * (_U[2] + u * (_U[3] + u * (_U[4] + u * (_U[5] + u * (_U[6] + u * (
        _U[7] + u * (_U[8] + u * (_U[9] + u * (_U[10] + u * (_U[11] + u * _U[12])))))))))))
    tail = half * e * t * f  # 0.5 * erfc(|z|)
    big = tail if z < 0 else one - tail
    return small if a < one else big


@policy.scalar
def _density_f32(v):
    """exp(-v^2 / 2) of a float32 in float32, accurate in the tails too: v^2 rounded to float32
    would carry an absolute error of up to v^2 * 6e-8, which exp turns into a relative one
    (3e-6 at |v| = 8). So the argument and its reduction a = k ln2 + r run in float64 (v^2 is
    exact there), and the polynomial in r and the scaling by 2^k in float32
    (``_vmath.exp_f32_reduced``), down to the subnormals."""
    w = np.float64(v)
    a = -0.5 * w * w
    lo = _vmath.EXP_F32_MIN
    ac = a if a > lo else lo
    k = np.floor(ac * 1.4426950408889634 + 0.5)
    y = _vmath.exp_f32_reduced(np.float32(ac - k * 0.6931471805599453), np.float32(k))
    y = y if a > lo else _ZERO_F
    return y if v == v else v


@policy.scalar
def _density_f64(v):
    """exp(-v^2 / 2) in float64."""
    return _vmath.exp(-0.5 * v * v)


def _gelu(x, out):
    for i in prange(x.shape[0]):
        v = F(x[i])
        out[i] = v * phi(v, DENSITY(v))


def _gelu_grad(x, out):
    for i in prange(x.shape[0]):
        v = F(x[i])
        e = DENSITY(v)
        out[i] = phi(v, e) + v * e * INV_SQRT_2PI


# per dtype: float32 computes in float32 through the polynomial, float64 through libm's erf
_BIND = {np.dtype(np.float32): ("f32", {"F": np.float32, "DENSITY": _density_f32, "phi": _phi_poly,
                                        "INV_SQRT_2PI": _INV_SQRT_2PI_F}),
         np.dtype(np.float64): ("f64", {"F": np.float64, "DENSITY": _density_f64, "phi": _phi_libm,
                                        "INV_SQRT_2PI": _INV_SQRT_2PI})}
_GELU = {dt: policy.Twin(_gelu, f"gelu_{tag}", bind) for dt, (tag, bind) in _BIND.items()}
_GELU_GRAD = {dt: policy.Twin(_gelu_grad, f"gelu_grad_{tag}", bind)
              for dt, (tag, bind) in _BIND.items()}


def gelu(x, out):
    """out = x * Phi(x) (exact GELU) for 1-D x and out of one float dtype."""
    _GELU[x.dtype](x, out, work=x.size)


def gelu_grad(x, out):
    """out = d gelu / dx = Phi(x) + x * phi(x) for 1-D x and out of one float dtype."""
    _GELU_GRAD[x.dtype](x, out, work=x.size)
