"""Special functions the distributions need, composed from Tensor ops (so autograd works).

numtorch has no ``lgamma``/``digamma``/``xlogy`` ops yet; these composites cover what the
distributions use them for: positive arguments (concentrations, rates). Method: shift the
argument up by ``_SHIFT`` with the recurrence ``G(x + 1) = x G(x)`` and evaluate the asymptotic
(Stirling / Bernoulli-number) series there, where eight terms are exact to float64 rounding.
"""
import math

# lgamma(z) ~ (z - 1/2) log z - z + log(2 pi)/2 + sum_k B_2k / (2k (2k - 1) z^(2k-1))
_LGAMMA_SERIES = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)
# digamma(z) ~ log z - 1/(2z) - sum_k B_2k / (2k z^2k)
_DIGAMMA_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)
# z >= _SHIFT makes the first omitted term < 1e-15 relative (float64); float32 needs less.
_SHIFT = {"float64": 8, "float32": 4}
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _shift(x):
    return _SHIFT.get(x.dtype.name, 8)


def _horner(w, coefs):
    acc = coefs[-1]
    for c in reversed(coefs[:-1]):
        acc = acc * w + c
    return acc


def lgamma(x):
    """log Gamma(x) for x > 0 (elementwise; x = 0 gives inf).

    >>> import numtorch as torch
    >>> from numtorch.distributions._special import lgamma
    >>> lgamma(torch.tensor([0.5, 5.0], dtype=torch.float64))
    tensor([0.5724, 3.1781], dtype=torch.float64)
    """
    s = _shift(x)
    z = x + s
    inv = z.reciprocal()
    series = _horner(inv * inv, _LGAMMA_SERIES) * inv
    out = (z - 0.5) * z.log() - z + _HALF_LOG_2PI + series
    # log(x (x+1) ... (x+s-1)), two factors per log: no overflow for any float32 x < 1e19
    for k in range(0, s, 2):
        out = out - ((x + k) * (x + (k + 1))).log()
    return out


def digamma(x):
    """d/dx log Gamma(x) for x > 0 (elementwise).

    >>> import numtorch as torch
    >>> from numtorch.distributions._special import digamma
    >>> digamma(torch.tensor([1.0], dtype=torch.float64))   # minus Euler's constant
    tensor([-0.5772], dtype=torch.float64)
    """
    s = _shift(x)
    z = x + s
    inv = z.reciprocal()
    w = inv * inv
    out = z.log() - 0.5 * inv - _horner(w, _DIGAMMA_SERIES) * w
    for k in range(s):
        out = out - (x + k).reciprocal()
    return out


def xlogy(x, y):
    """``x * log(y)``, 0 where ``x == 0`` (also its gradients there), like ``torch.xlogy``.

    >>> import numtorch as torch
    >>> from numtorch.distributions._special import xlogy
    >>> xlogy(torch.tensor([0.0, 2.0]), torch.tensor([0.0, 1.0]))
    tensor([0., 0.])
    """
    from .. import where
    zero = x == 0
    return where(zero, 0.0, x * where(zero, 1.0, y).log())
