"""``Gamma`` and the reparameterised standard-gamma sampler that Beta and Dirichlet share."""
import math
import numbers

from .._size import Size
from ..autograd import Function
from . import constraints
from ._special import digamma, lgamma, xlogy
from .distribution import Distribution
from .utils import broadcast_all, tiny

__all__ = ["Gamma"]


def _sample_log_standard_gamma(alpha):
    """log of Gamma(alpha, 1) samples shaped like ``alpha`` (no graph): Marsaglia and Tsang's
    squeeze-rejection method run on the whole tensor until every element is accepted, with
    ``G(a) = G(a + 1) U^(1/a)`` for ``a < 1``. Random numbers come from numtorch's generator.
    Logs, because for small ``a`` the samples underflow (Dirichlet normalises them in log space).
    """
    from .. import randn, rand, where, zeros_like, isfinite, no_grad
    with no_grad():
        # only finite positive shapes can be sampled (others give NaN, inf for inf), and only
        # they enter the rejection loop, which would never accept the others
        valid = isfinite(alpha) & (alpha > 0)
        alpha_ok = where(valid, alpha, 1.0)
        small = alpha_ok < 1
        a = where(small, alpha_ok + 1, alpha_ok)
        d = a - 1.0 / 3.0
        c = (9 * d).rsqrt()
        out = zeros_like(alpha)
        pending = valid.clone()
        shape, kw = alpha.shape, {"dtype": alpha.dtype, "device": alpha.device}
        while bool(pending.any()):  # each round accepts > 95% of what is left
            z = randn(shape, **kw)
            u = rand(shape, **kw)
            v = (1 + c * z) ** 3
            positive = v > 0
            logv = where(positive, v, 1.0).log()
            accept = positive & (u.log() < 0.5 * z * z + d - d * v + d * logv)
            out = where(pending & accept, d.log() + logv, out)
            pending = pending & ~accept
        u = rand(shape, **kw).clamp(min=tiny(alpha.dtype))  # log U stays finite
        out = where(small, out + u.log() / alpha_ok, out)
        return where(valid, out, where(alpha == float("inf"), alpha, float("nan")))


def _log_standard_gamma_grad(logx, alpha):
    """d log(x) / d alpha of a Gamma(alpha, 1) sample ``x`` holding its CDF fixed (implicit
    reparameterisation): ``-(dP(alpha, x)/d alpha) / (x p(x; alpha))``, from the series
    ``P = x^a e^-x sum_n x^n / Gamma(a + n + 1)``. With ``t_n = x^n / (a (a+1) ... (a+n))`` and
    ``H_n = sum_{k<=n} 1/(a+k)`` it is ``-(T (log x - digamma(a)) - U)``, ``T = sum t_n``,
    ``U = sum t_n H_n``; the terms are summed in log space in float64, from ``log x`` (so an
    underflowing x is no problem). The number of terms covers the peak of t_n near n = x - a
    plus 9 sqrt(x) beyond it (tail < e^-40), so the cost grows like sqrt(alpha) per element;
    rows go in blocks of a bounded size."""
    from .. import cat
    dtype = logx.dtype
    lx, a = logx.double().reshape(-1, 1), alpha.double().reshape(-1, 1)
    if lx.numel() == 0:
        return logx.new_zeros(logx.shape)
    x = lx.exp()
    spread = (x - a).clamp(min=0) + 9 * x.sqrt()
    n_terms = int(math.ceil(float(spread.amax()))) + 20
    rows = max(1, _BLOCK // n_terms)
    parts = [_gamma_grad_block(lx[i:i + rows], a[i:i + rows], n_terms)
             for i in range(0, lx.shape[0], rows)]
    grad = parts[0] if len(parts) == 1 else cat(parts)
    return grad.reshape(logx.shape).to(dtype)


_BLOCK = 1 << 22  # elements of one (rows, terms) block of the series


def _gamma_grad_block(lx, a, n_terms):
    from .. import arange
    k = arange(n_terms, dtype=lx.dtype, device=lx.device)
    ak = a + k
    log_t = k * lx - ak.log().cumsum(-1)
    top = log_t.amax(-1, keepdim=True)
    w = (log_t - top).exp()
    h = ak.reciprocal().cumsum(-1)
    t_sum, u_sum = w.sum(-1, keepdim=True), (w * h).sum(-1, keepdim=True)
    return -top.exp() * (t_sum * (lx - digamma(a)) - u_sum)


def _standard_gamma_grad(x, alpha):
    """d x / d alpha of Gamma(alpha, 1) samples ``x`` (the implicit reparameterisation)."""
    return x * _log_standard_gamma_grad(x.log(), alpha)


class _LogStandardGamma(Function):
    """log of Gamma(alpha, 1) samples, with the implicit reparameterisation gradient."""

    @staticmethod
    def forward(ctx, alpha):
        logx = _sample_log_standard_gamma(alpha)
        ctx.save_for_backward(logx, alpha)
        return logx

    @staticmethod
    def backward(ctx, grad):
        logx, alpha = ctx.saved_tensors
        return grad * _log_standard_gamma_grad(logx.detach(), alpha.detach())


def _log_standard_gamma(alpha):
    """log of Gamma(alpha, 1) samples shaped like ``alpha``; differentiable w.r.t. ``alpha``."""
    return _LogStandardGamma.apply(alpha)


def _clamp_tiny(value):
    """``value`` raised to the smallest normal number where it underflowed, gradient unchanged."""
    from .. import where
    floor = tiny(value.dtype)
    return where(value < floor, value - value.detach() + floor, value)


class Gamma(Distribution):
    """Gamma distribution with shape ``concentration`` and inverse scale ``rate`` (broadcast);
    density ``rate^c x^(c-1) e^(-rate x) / Gamma(c)`` on ``x >= 0``.

    ``rsample`` is reparameterised: the sample's gradient w.r.t. the concentration is the
    implicit one (the CDF held fixed), as in PyTorch.

    >>> import numtorch as torch
    >>> from numtorch.distributions import Gamma
    >>> d = Gamma(torch.tensor([1.0, 3.0]), 2.0)
    >>> d.mean, d.variance
    (tensor([0.5000, 1.5000]), tensor([0.2500, 0.7500]))
    >>> d.log_prob(torch.tensor([1.0, 1.0]))
    tensor([-1.3069, -0.6137])
    """
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        if isinstance(concentration, numbers.Number) and isinstance(rate, numbers.Number):
            batch_shape = Size()
        else:
            batch_shape = self.concentration.shape
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Gamma, _instance)
        batch_shape = Size(batch_shape)
        new.concentration = self.concentration.expand(batch_shape)
        new.rate = self.rate.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate ** 2

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        log_g = _log_standard_gamma(self.concentration.expand(shape))
        return _clamp_tiny((log_g - self.rate.expand(shape).log()).exp())

    def log_prob(self, value):
        from .. import as_tensor
        value = as_tensor(value, dtype=self.rate.dtype, device=self.rate.device)
        if self._validate_args:
            self._validate_sample(value)
        c, r = self.concentration, self.rate
        return xlogy(c, r) + xlogy(c - 1, value) - r * value - lgamma(c)

    def entropy(self):
        c, r = self.concentration, self.rate
        return c - r.log() + lgamma(c) + (1.0 - c) * digamma(c)
