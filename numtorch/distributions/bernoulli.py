"""``Bernoulli``: 1 with probability ``probs``, else 0."""
import numbers

from .._size import Size
from . import constraints
from .distribution import Distribution
from .utils import broadcast_all, lazy_property, logits_to_probs, probs_to_logits

__all__ = ["Bernoulli"]


class Bernoulli(Distribution):
    """Bernoulli distribution given by ``probs`` (the probability of 1) or ``logits``
    (its log-odds). Samples are 0.0/1.0 in the parameter's dtype.

    >>> import numtorch as torch
    >>> from numtorch.distributions import Bernoulli
    >>> d = Bernoulli(logits=torch.tensor([0.0, 2.0]))
    >>> d.probs
    tensor([0.5000, 0.8808])
    >>> d.log_prob(torch.tensor([1.0, 0.0]))
    tensor([-0.6931, -2.1269])
    """
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            scalar = isinstance(probs, numbers.Number)
            self.probs, = broadcast_all(probs)
            self._param = self.probs
        else:
            scalar = isinstance(logits, numbers.Number)
            self.logits, = broadcast_all(logits)
            self._param = self.logits
        super().__init__(Size() if scalar else self._param.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Bernoulli, _instance)
        batch_shape = Size(batch_shape)
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(batch_shape)
            new._param = new.probs
        if "logits" in self.__dict__:
            new.logits = self.logits.expand(batch_shape)
            new._param = new.logits
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self):
        return self._param.shape

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        from .. import where
        p = self.probs
        return where(p == 0.5, float("nan"), (p > 0.5).to(p))

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=Size()):
        from .. import rand, no_grad
        with no_grad():
            shape = self._extended_shape(sample_shape)
            p = self.probs.expand(shape)
            return (rand(shape, dtype=p.dtype, device=p.device) < p).to(p.dtype)

    def log_prob(self, value):
        from ..nn.functional import binary_cross_entropy_with_logits
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -binary_cross_entropy_with_logits(logits, value.to(logits.dtype), reduction="none")

    def entropy(self):
        from ..nn.functional import binary_cross_entropy_with_logits
        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")

    def enumerate_support(self, expand=True):
        """``[0., 1.]`` along a new leading dimension (expanded over the batch).

        >>> import numtorch as torch
        >>> from numtorch.distributions import Bernoulli
        >>> Bernoulli(torch.tensor([0.3, 0.6])).enumerate_support()
        tensor([[0., 0.],
                [1., 1.]])
        """
        from .. import arange
        n = len(self._batch_shape)
        values = arange(2, dtype=self._param.dtype, device=self._param.device)
        values = values.reshape((-1,) + (1,) * n)
        return values.expand((-1,) + tuple(self._batch_shape)) if expand else values
