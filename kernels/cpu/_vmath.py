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
