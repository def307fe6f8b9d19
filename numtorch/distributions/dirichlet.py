"""``Dirichlet``: distributions over the probability simplex."""
from .._size import Size
from . import constraints
from ._special import digamma, lgamma, xlogy
from .distribution import Distribution
from .gamma import _clamp_tiny, _log_standard_gamma

__all__ = ["Dirichlet"]


class Dirichlet(Distribution):
    """Dirichlet distribution with positive ``concentration`` (..., K): events are
    K-vectors of non-negative numbers summing to 1.

    ``rsample`` normalises reparameterised Gamma samples, so gradients reach the concentration
    (PyTorch differentiates its sampler differently; both are unbiased, per-sample gradients
    differ).

    >>> import numtorch as torch
    >>> from numtorch.distributions import Dirichlet
    >>> d = Dirichlet(torch.tensor([1.0, 2.0, 3.0]))
    >>> d.mean
    tensor([0.1667, 0.3333, 0.5000])
    >>> d.log_prob(torch.tensor([0.2, 0.3, 0.5]))
    tensor(1.5041)
    """
    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:],
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Dirichlet, _instance)
        batch_shape = Size(batch_shape)
        new.concentration = self.concentration.expand(batch_shape + self.event_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        # normalised in log space: for small concentrations the Gamma draws underflow
        log_g = _log_standard_gamma(self.concentration.expand(shape))
        return _clamp_tiny(log_g.softmax(-1))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return xlogy(c - 1.0, value).sum(-1) + lgamma(c.sum(-1)) - lgamma(c).sum(-1)

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self):
        from .. import where
        from ..nn.functional import one_hot
        c = self.concentration
        excess = (c - 1).clamp(min=0)
        mode = excess / excess.sum(-1, keepdim=True)
        # every c < 1: the density peaks at every vertex; PyTorch reports the first one
        first = one_hot(c.new_zeros(c.shape[:-1]).long(), c.shape[-1]).to(c)
        return where((c < 1).all(-1, keepdim=True), first, mode)

    @property
    def variance(self):
        c = self.concentration
        total = c.sum(-1, keepdim=True)
        return c * (total - c) / (total ** 2 * (total + 1))

    def entropy(self):
        c = self.concentration
        k = c.shape[-1]
        total = c.sum(-1)
        return (lgamma(c).sum(-1) - lgamma(total) - (k - total) * digamma(total)
                - ((c - 1.0) * digamma(c)).sum(-1))
