"""Scalar math that LLVM can vectorise (Numba's math.exp is a libm call per element here)."""
import math

import numba
import numba.extending
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


# --- float32: the same helpers computing in float32 (twice the SIMD lanes of float64, and
# shorter polynomials for float32's precision). Every constant is a float32 global: a Python
# float literal would promote the arithmetic around it to float64.
_F32 = np.float32
_LOG2E_F = _F32(1.4426950408889634)
_LN2HI_F, _LN2LO_F = _F32(0.693359375), _F32(-2.12194440e-4)  # ln 2 split (Cody-Waite)
#: exp_f32's range: above, inf; below, 0 (e^x under half the smallest subnormal, 2^-150)
EXP_F32_MIN = -104.0
_EXP_HI_F, _EXP_LO_F = _F32(88.72283), _F32(EXP_F32_MIN)
_ZERO_F, _HALF_F, _ONE_F, _TWO_F, _INF_F = _F32(0), _F32(0.5), _F32(1), _F32(2), _F32(math.inf)
_E2, _E3, _E4, _E5, _E6, _E7 = (_F32(1 / math.factorial(n)) for n in range(2, 8))
_I126, _I23 = np.int32(126), np.int32(23)
_K_NORMAL_F, _K_SHIFT_F, _TWO_M64_F = _F32(-125), _F32(64), _F32(2.0 ** -64)
# tanh's odd Taylor coefficients x^3 .. x^13
_T3, _T5, _T7, _T9, _T11, _T13 = (_F32(c) for c in (-1 / 3, 2 / 15, -17 / 315, 62 / 2835,
                                                     -1382 / 155925, 21844 / 6081075))
_TANH_SMALL_F = _F32(0.3)


@policy.scalar
def exp_f32_reduced(r, k):
    """e^r 2^k in float32 for a reduced argument |r| <= ln2/2 and an integral k (a float32) in
    -150..128: :func:`exp_f32`'s polynomial and scaling, for a caller that reduces its argument
    itself (more precisely: ``activation``'s normal density, from float64)."""
    p = _ONE_F + r * (_ONE_F + r * (_E2 + r * (_E3 + r * (_E4 + r * (_E5 + r * (_E6 + r * _E7))))))
    # 2 * 2^(k-1): k reaches 128 at the top of the range, past the exponent field of 2^k; below
    # the normal range (k < -125), 2^(k+64) and then a product with 2^-64, rounded once into
    # the subnormals
    low = k < _K_NORMAL_F
    kk = k + _K_SHIFT_F if low else k
    y = p * _TWO_F * np.int32((np.int32(kk) + _I126) << _I23).view(np.float32)
    return y * _TWO_M64_F if low else y


@policy.scalar
def exp_f32(x):
    """exp of a float32 in float32, vectorisable, as :func:`exp`: x = k ln2 + r, |r| <= ln2/2,
    degree-7 Taylor in r (truncation < 6e-9 relative; measured < 1.2e-7 with rounding; ~3e-7
    over -100..88). NaN -> NaN, x > 88.72 -> inf, x < -104 -> 0; subnormal results are rounded
    as such."""
    xc = x if x < _EXP_HI_F else _EXP_HI_F
    xc = xc if xc > _EXP_LO_F else _EXP_LO_F
    xc = xc if x == x else _ZERO_F
    k = np.floor(xc * _LOG2E_F + _HALF_F)
    y = exp_f32_reduced((xc - k * _LN2HI_F) - k * _LN2LO_F, k)
    y = y if x < _EXP_HI_F else _INF_F
    y = y if x > _EXP_LO_F else _ZERO_F
    return y if x == x else x


@policy.scalar
def sigmoid_f32(x):
    """:func:`sigmoid` of a float32 in float32."""
    e = exp_f32(-x if x >= _ZERO_F else x)
    return _ONE_F / (_ONE_F + e) if x >= _ZERO_F else e / (_ONE_F + e)


@policy.scalar
def tanh_e_f32(x, e):
    """:func:`tanh_e` of a float32 in float32, ``e = exp_f32(-2|x|)``: the Taylor polynomial to
    x^13 for |x| < 0.3 (truncation < 2e-10 relative), beyond it (1 - e) / (1 + e), whose
    cancellation costs at most ~2 ulp there."""
    z = x * x
    p = x * (_ONE_F + z * (_T3 + z * (_T5 + z * (_T7 + z * (_T9 + z * (_T11 + z * _T13))))))
    t = (_ONE_F - e) / (_ONE_F + e)
    t = t if x >= _ZERO_F else -t
    return p if abs(x) < _TANH_SMALL_F else t


# --- by the argument's width, picked when Numba types the call (``numba.extending.overload``):
# float32 in float32 (twice the SIMD lanes), anything else as before. What the elementwise ops
# call; outside a kernel they are libm's.
def exp_any(x):
    """exp: :func:`exp_f32` for a float32, else :func:`exp`."""
    return math.exp(x)


def sigmoid_any(x):
    """sigmoid: :func:`sigmoid_f32` for a float32, else :func:`sigmoid`."""
    return 1.0 / (1.0 + math.exp(-x))


def tanh_any(x):
    """tanh: :func:`tanh_e_f32` for a float32 (its exp computed here), else libm's tanh."""
    return math.tanh(x)


@numba.extending.overload(exp_any)
def _exp_any(x):
    if x == numba.types.float32:
        return lambda x: exp_f32(x)
    return lambda x: exp(x)


@numba.extending.overload(sigmoid_any)
def _sigmoid_any(x):
    if x == numba.types.float32:
        return lambda x: sigmoid_f32(x)
    return lambda x: sigmoid(x)


@numba.extending.overload(tanh_any)
def _tanh_any(x):
    if x == numba.types.float32:
        return lambda x: tanh_e_f32(x, exp_f32(-(_TWO_F * abs(x))))
    return lambda x: math.tanh(x)


#: the helpers and constants a kernel computing in an array's dtype binds (``policy``'s
#: ``bind=``): F casts to the compute type, ONE and TWO are its literals
FLOAT64 = {"F": np.float64, "ONE": 1.0, "TWO": 2.0,
           "EXP": exp, "SIGMOID": sigmoid, "TANH_E": tanh_e}
FLOAT32 = {"F": np.float32, "ONE": _ONE_F, "TWO": _TWO_F,
           "EXP": exp_f32, "SIGMOID": sigmoid_f32, "TANH_E": tanh_e_f32}


#: (dtype, name tag, bindings) of the two builds of a kernel computing in its arrays' dtype
_BUILDS = ((np.dtype(np.float32), "f32", FLOAT32), (np.dtype(np.float64), "f64", FLOAT64))


def helpers(name, tasks, bind=None):
    """{dtype: globals} for kernels computing in float32 and float64: :data:`FLOAT32` /
    :data:`FLOAT64`, ``bind[dtype]`` (more globals for that dtype's build, e.g. a BLAS routine)
    and each of ``tasks`` (global name -> function) compiled on its own with the globals before
    it (so a later helper may call an earlier one), named ``<name>_<slot>_<f32|f64>``. Several
    drivers that share helpers bind one such dict, so each helper compiles once per dtype."""
    out = {}
    for dt, tag, math_ in _BUILDS:
        env = {**math_, **(bind or {}).get(dt, {})}
        for slot, fn in tasks.items():
            env[slot] = policy.kernel(fn, name=f"{name}_{slot}_{tag}", bind=env)
        out[dt] = env
    return out


def twins(driver, name, tasks=None, env=None, python_serial=False):
    """``driver`` built for float32 and float64 arrays, as {dtype: policy.Twin}, its body's F,
    ONE, TWO, EXP, SIGMOID, TANH_E bound to :data:`FLOAT32` / :data:`FLOAT64`. ``tasks`` maps
    global names the driver calls (one per prange iteration) to helpers, each compiled on its
    own with the same binding: with the loop body inlined in the prange, one of the twins built
    2-7x slower than the other (the RNN cells' serial builds, attention's parallel ones); with
    a separate helper, neither does. ``env``: a :func:`helpers` result to bind instead;
    ``python_serial``: policy.Twin's."""
    env = env or helpers(name, tasks or {})
    return {dt: policy.Twin(driver, f"{name}_{tag}", env[dt], python_serial)
            for dt, tag, _ in _BUILDS}
