"""``Beta``: distributions on the unit interval (a two-category Dirichlet)."""
import numbers

from .._size import Size
from . import constraints
from .dirichlet import Dirichlet
from .distribution import Distribution
from .utils import broadcast_all

__all__ = ["Beta"]


class Beta(Distribution):
    """Beta distribution with positive ``concentration1`` (alpha) and ``concentration0``
    (beta), broadcast; density ``x^(a-1) (1-x)^(b-1) / B(a, b)`` on ``[0, 1]``.

    >>> import numtorch as torch
    >>> from numtorch.distributions import Beta
    >>> d = Beta(torch.tensor([2.0, 1.0]), torch.tensor([2.0, 3.0]))
    >>> d.mean
    tensor([0.5000, 0.2500])
    >>> d.log_prob(torch.tensor([0.5, 0.5]))
    tensor([ 0.4055, -0.2877])
    """
    arg_constraints = {"concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        if all(isinstance(c, numbers.Number) for c in (concentration1, concentration0)):
            from .. import tensor
            both = tensor([float(concentration1), float(concentration0)])
        else:
            from .. import stack
            concentration1, concentration0 = broadcast_all(concentration1, concentration0)
            both = stack([concentration1, concentration0], -1)
        self._dirichlet = Dirichlet(both, validate_args=validate_args)
        super().__init__(self._dirichlet._batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Beta, _instance)
        batch_shape = Size(batch_shape)
        new._dirichlet = self._dirichlet.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def concentration1(self):
        return self._dirichlet.concentration[..., 0]

    @property
    def concentration0(self):
        return self._dirichlet.concentration[..., 1]

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self):
        return self._dirichlet.mode[..., 0]

    @property
    def variance(self):
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total ** 2 * (total + 1))

    def rsample(self, sample_shape=Size()):
        return self._dirichlet.rsample(sample_shape)[..., 0]

    def log_prob(self, value):
        from .. import stack
        if self._validate_args:
            self._validate_sample(value)
        return self._dirichlet.log_prob(stack([value, 1.0 - value], -1))

    def entropy(self):
        return self._dirichlet.entropy()
