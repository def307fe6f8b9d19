"""``Categorical`` and ``OneHotCategorical``: one of K categories, as an index or a one-hot."""
from .._size import Size
from . import constraints
from .distribution import Distribution
from .utils import lazy_property, logits_to_probs, probs_to_logits, min_real

__all__ = ["Categorical", "OneHotCategorical"]


class Categorical(Distribution):
    """Distribution over ``{0, ..., K-1}`` given by ``probs`` (non-negative, normalised along the
    last dimension) or ``logits`` (unnormalised log-probabilities); the last dimension indexes
    the categories, the others are the batch.

    >>> import numtorch as torch
    >>> from numtorch.distributions import Categorical
    >>> d = Categorical(probs=torch.tensor([0.25, 0.25, 0.5]))
    >>> d.log_prob(torch.tensor([0, 2]))
    tensor([-1.3863, -0.6931])
    >>> d.entropy()
    tensor(1.0397)
    >>> _ = torch.manual_seed(0)
    >>> d.sample((4,)).shape
    torch.Size([4])
    """
    arg_constraints = {"probs": constraints.simplex,
                       "logits": constraints.independent(constraints.real, 1)}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            if probs.dim() < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
            self._param = self.probs
        else:
            if logits.dim() < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
            self._param = self.logits
        self._num_events = self._param.shape[-1]
        batch_shape = self._param.shape[:-1]
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Categorical, _instance)
        batch_shape = Size(batch_shape)
        param_shape = batch_shape + (self._num_events,)
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(param_shape)
            new._param = new.probs
        if "logits" in self.__dict__:
            new.logits = self.logits.expand(param_shape)
            new._param = new.logits
        new._num_events = self._num_events
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits)

    @property
    def param_shape(self):
        return self._param.shape

    @property
    def mean(self):
        from .. import full
        return full(self._extended_shape(), float("nan"), dtype=self.probs.dtype,
                    device=self.probs.device)

    @property
    def mode(self):
        return self.probs.argmax(-1)

    @property
    def variance(self):
        return self.mean

    def sample(self, sample_shape=Size()):
        # inverse CDF: the index is the number of cumulative probabilities <= u * total
        from .. import rand, arange, no_grad, minimum, isfinite
        with no_grad():
            probs = self.probs
            if not bool(((probs >= 0) & isfinite(probs)).all()):
                raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
            shape = self._extended_shape(sample_shape)
            cdf = probs.cumsum(-1).expand(shape + (self._num_events,))
            u = rand(shape + (1,), dtype=probs.dtype, device=probs.device) * cdf[..., -1:]
            index = (cdf <= u).sum(-1)
            # rounding can put u at the total: fall back to the last category that can occur
            last = ((probs > 0).long() * arange(self._num_events, device=probs.device)).amax(-1)
            return minimum(index, last.expand(shape))

    def log_prob(self, value):
        from .. import broadcast_tensors
        if self._validate_args:
            self._validate_sample(value)
        value, log_pmf = broadcast_tensors(value.long().unsqueeze(-1), self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self):
        logits = self.logits.clamp(min=min_real(self.logits.dtype))
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        """Every category index, along a new leading dimension (expanded over the batch).

        >>> import numtorch as torch
        >>> from numtorch.distributions import Categorical
        >>> Categorical(torch.ones(2, 3)).enumerate_support()
        tensor([[0, 0],
                [1, 1],
                [2, 2]])
        """
        from .. import arange
        n = len(self._batch_shape)
        values = arange(self._num_events, device=self._param.device).reshape((-1,) + (1,) * n)
        return values.expand((-1,) + tuple(self._batch_shape)) if expand else values


class OneHotCategorical(Distribution):
    """:class:`Categorical` with one-hot samples: events are vectors of K zeros and one 1.

    >>> import numtorch as torch
    >>> from numtorch.distributions import OneHotCategorical
    >>> d = OneHotCategorical(torch.tensor([0.0, 1.0, 0.0]))
    >>> d.sample()
    tensor([0., 1., 0.])
    >>> OneHotCategorical(torch.tensor([0.25, 0.25, 0.5])).log_prob(torch.tensor([0.0, 0.0, 1.0]))
    tensor(-0.6931)
    """
    arg_constraints = {"probs": constraints.simplex,
                       "logits": constraints.independent(constraints.real, 1)}
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits)
        batch_shape = self._categorical.batch_shape
        event_shape = self._categorical.param_shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(OneHotCategorical, _instance)
        batch_shape = Size(batch_shape)
        new._categorical = self._categorical.expand(batch_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def _param(self):
        return self._categorical._param

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def param_shape(self):
        return self._categorical.param_shape

    @property
    def mean(self):
        return self._categorical.probs

    @property
    def mode(self):
        from ..nn.functional import one_hot
        probs = self._categorical.probs
        return one_hot(probs.argmax(-1), probs.shape[-1]).to(probs)

    @property
    def variance(self):
        p = self._categorical.probs
        return p * (1 - p)

    def sample(self, sample_shape=Size()):
        from ..nn.functional import one_hot
        probs = self._categorical.probs
        index = self._categorical.sample(sample_shape)
        return one_hot(index, probs.shape[-1]).to(probs)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self):
        return self._categorical.entropy()

    def enumerate_support(self, expand=True):
        """Every one-hot vector, along a new leading dimension (expanded over the batch).

        >>> import numtorch as torch
        >>> from numtorch.distributions import OneHotCategorical
        >>> OneHotCategorical(torch.ones(2)).enumerate_support()
        tensor([[1., 0.],
                [0., 1.]])
        """
        from .. import eye
        n = self.event_shape[0]
        values = eye(n, dtype=self._param.dtype, device=self._param.device)
        values = values.reshape((n,) + (1,) * len(self.batch_shape) + (n,))
        return values.expand((n,) + tuple(self.batch_shape) + (n,)) if expand else values
