"""Scalar math that LLVM can vectorise (Numba's math.exp is a libm call per element here)."""
import math

import numpy as np

from .. import policy


@policy.scalar
def exp(x):
    """exp in float64 that vectorises: x = k ln2 + r, |r| <= ln2/2, degree-12 Taylor in r
    (relative error < 1e-13), 2^k assembled in the exponent bits; written with clamps and
    selects, no branches or calls, so the loop around it keeps SIMD. NaN -> NaN, overflow -> inf,
    x < -708 -> 0 (the subnormal range flushes to zero)."""
    xc = x if x < 709.782712893384 else 709.782712893384
    xc = xc if xc > -708.0 else -708.0
    xc = xc if x == x else 0.0
    k = math.floor(xc * 1.4426950408889634 + 0.5)
    r = xc - k * 0.6931471803691238 - k * 1.9082149292705877e-10
    p = 1.0 + r * (1.0 + r * (0.5 + r * (1.6666666666666666e-01 + r * (
        4.1666666666666664e-02 + r * (8.3333333333333332e-03 + r * (1.3888888888888889e-03 + r * (
            1.9841269841269841e-04 + r * (2.4801587301587302e-05 + r * (2.7557319223985893e-06 + r * (
                2.7557319223985888e-07 + r * (2.5052108385441720e-08 + r * 2.0876756987868100e-09)))))))))))
    # 2 * 2^(k-1): k reaches 1024 at the top of the range, past the exponent field of 2^k
    y = p * 2.0 * np.int64(np.int64(k + 1022.0) << np.int64(52)).view(np.float64)
    y = y if x < 709.782712893384 else math.inf
    y = y if x > -708.0 else 0.0
    return y if x == x else x


@policy.scalar
def sigmoid(x):
    """1 / (1 + exp(-x)) in float64, vectorisable: exp of -|x| never overflows; selects, not
    branches."""
    e = exp(-x if x >= 0 else x)
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


@policy.scalar
def tanh_e(x, e):
    """tanh(x) given ``e = exp(-2|x|)``, in float64 and vectorisable (libm's tanh is one call per
    element and keeps the whole loop around it scalar): for |x| < 0.2 the odd Taylor polynomial to
    x^17 (truncation < 1e-16 relative), else (1 - e) / (1 + e) (no cancellation: e < 0.68);
    selects, no branches. Relative error about that of ``_vmath.exp``; NaN -> NaN,
    +-inf -> +-1, -0.0 -> -0.0. The caller computes ``e``: one helper holding both exp and
    the polynomial grows past what LLVM inlines into a loop."""
    z = x * x
    # -1/3, 2/15, -17/315, 62/2835, -1382/155925, 21844/6081075, -929569/638512875,
    # 6404582/10854718875 (the series' coefficients) as literals: no division at run time
    p = x * (1.0 + z * (-0.3333333333333333 + z * (0.13333333333333333 + z * (
        -0.05396825396825397 + z * (0.021869488536155203 + z * (-0.008863235529902197 + z * (
            0.003592128036572481 + z * (-0.0014558343870513183 + z * 0.000590027440945586))))))))
    t = (1.0 - e) / (1.0 + e)
    t = t if x >= 0 else -t
    return p if abs(x) < 0.2 else t
