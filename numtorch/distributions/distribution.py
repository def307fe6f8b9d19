"""``Distribution``: the base class of every probability distribution (PyTorch's interface)."""
import warnings

from .._size import Size
from .._tensor import Tensor
from ..autograd import no_grad
from . import constraints
from .utils import lazy_property

__all__ = ["Distribution"]


class Distribution:
    """A probability distribution over events of ``event_shape``, batched over ``batch_shape``.

    Subclasses define ``arg_constraints`` (parameter name -> constraint), ``support``,
    ``rsample`` (a sample that gradients flow through; ``has_rsample``) or ``sample``,
    ``log_prob``, ``entropy`` and the moments. With ``validate_args`` (default: on, like
    PyTorch's ``__debug__``), parameters are checked against ``arg_constraints`` at construction
    and values against ``support`` in ``log_prob``; failures raise ValueError.

    >>> import numtorch as torch
    >>> from numtorch.distributions import Normal
    >>> d = Normal(torch.zeros(3), 1.0)
    >>> d.batch_shape, d.event_shape
    (torch.Size([3]), torch.Size([]))
    >>> d.sample((2,)).shape
    torch.Size([2, 3])
    """

    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__

    @staticmethod
    def set_default_validate_args(value):
        """Turn argument validation on or off for distributions built without ``validate_args``.

        >>> from numtorch.distributions import Distribution, Normal
        >>> Distribution.set_default_validate_args(False)
        >>> Normal(0.0, -1.0).scale          # not checked
        tensor(-1.)
        >>> Distribution.set_default_validate_args(True)
        """
        if value not in (True, False):
            raise ValueError(f"validate_args must be True or False, got {value!r}")
        Distribution._validate_args = value

    def __init__(self, batch_shape=Size(), event_shape=Size(), validate_args=None):
        self._batch_shape = Size(batch_shape)
        self._event_shape = Size(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if not self._validate_args:
            return
        try:
            arg_constraints = self.arg_constraints
        except NotImplementedError:
            arg_constraints = {}
            warnings.warn(f"{self.__class__} does not define `arg_constraints`. Please set "
                          "`arg_constraints = {}` or initialize the distribution with "
                          "`validate_args=False` to turn off validation.")
        for param, constraint in arg_constraints.items():
            if constraints.is_dependent(constraint):
                continue
            if param not in self.__dict__ and isinstance(getattr(type(self), param, None),
                                                         lazy_property):
                continue  # given as the other parametrisation, not computed yet
            value = getattr(self, param)
            if not bool(constraint.check(value).all()):
                raise ValueError(
                    f"Expected parameter {param} ({type(value).__name__} of shape "
                    f"{tuple(value.shape)}) of distribution {self!r} to satisfy the constraint "
                    f"{constraint!r}, but found invalid values:\n{_show(value)}")

    # --- shapes ------------------------------------------------------------------------------
    @property
    def batch_shape(self):
        """The shape over which parameters are batched."""
        return self._batch_shape

    @property
    def event_shape(self):
        """The shape of a single sample (without batching)."""
        return self._event_shape

    def _extended_shape(self, sample_shape=Size()):
        if not isinstance(sample_shape, (tuple, list)):
            sample_shape = (sample_shape,)
        return Size(sample_shape) + self._batch_shape + self._event_shape

    def expand(self, batch_shape, _instance=None):
        """A distribution with the same parameters broadcast to ``batch_shape``.

        >>> import numtorch as torch
        >>> from numtorch.distributions import Normal
        >>> Normal(0.0, 1.0).expand((2, 3)).batch_shape
        torch.Size([2, 3])
        """
        raise NotImplementedError

    def _get_checked_instance(self, cls, _instance=None):
        if _instance is None and type(self).__init__ != cls.__init__:
            raise NotImplementedError(
                f"Subclass {self.__class__.__name__} of {cls.__name__} that defines a custom "
                "__init__ method must also define a custom .expand() method.")
        return self.__new__(type(self)) if _instance is None else _instance

    # --- the interface subclasses fill in ----------------------------------------------------
    @property
    def arg_constraints(self):
        """Parameter name -> :mod:`constraints` object the parameter must satisfy."""
        raise NotImplementedError

    @property
    def support(self):
        """The constraint every sample satisfies."""
        raise NotImplementedError

    @property
    def mean(self):
        """The mean of the distribution."""
        raise NotImplementedError

    @property
    def mode(self):
        """The mode of the distribution."""
        raise NotImplementedError(f"{self.__class__} does not implement mode")

    @property
    def variance(self):
        """The variance of the distribution."""
        raise NotImplementedError

    @property
    def stddev(self):
        """The standard deviation (square root of ``variance``)."""
        return self.variance.sqrt()

    def sample(self, sample_shape=Size()):
        """A sample of shape ``sample_shape + batch_shape + event_shape``, without gradients.

        >>> import numtorch as torch
        >>> from numtorch.distributions import Bernoulli
        >>> _ = torch.manual_seed(0)
        >>> Bernoulli(torch.tensor([0.0, 1.0])).sample((2,))
        tensor([[0., 1.],
                [0., 1.]])
        """
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=Size()):
        """A reparameterised sample: gradients flow from it to the parameters.

        >>> import numtorch as torch
        >>> from numtorch.distributions import Normal
        >>> loc = torch.zeros(2, requires_grad=True)
        >>> Normal(loc, 1.0).rsample().sum().backward()
        >>> loc.grad
        tensor([1., 1.])
        """
        raise NotImplementedError(
            f"{self.__class__.__name__} does not support rsample (has_rsample is False)")

    def sample_n(self, n):
        """Deprecated: ``sample((n,))``."""
        warnings.warn("`sample_n(n)` will be deprecated. Use `sample((n,))` instead.",
                      FutureWarning)
        return self.sample(Size((n,)))

    def log_prob(self, value):
        """The log of the density (or mass) at ``value``."""
        raise NotImplementedError

    def cdf(self, value):
        """The cumulative distribution function at ``value``."""
        raise NotImplementedError

    def icdf(self, value):
        """The inverse cumulative distribution function at ``value``."""
        raise NotImplementedError

    def enumerate_support(self, expand=True):
        """All values of a discrete support, along a new leading dimension."""
        raise NotImplementedError

    def entropy(self):
        """The entropy, over ``batch_shape``."""
        raise NotImplementedError

    def perplexity(self):
        """``exp(entropy())``.

        >>> import numtorch as torch
        >>> from numtorch.distributions import Categorical
        >>> Categorical(torch.ones(4)).perplexity()
        tensor(4.)
        """
        return self.entropy().exp()

    # --- validation --------------------------------------------------------------------------
    def _validate_sample(self, value):
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        start = value.dim() - len(self._event_shape)
        if start < 0 or tuple(value.shape[start:]) != tuple(self._event_shape):
            raise ValueError(f"The right-most size of value must match event_shape: "
                             f"{value.shape} vs {self._event_shape}.")
        actual, expected = value.shape, self._batch_shape + self._event_shape
        for i, j in zip(reversed(actual), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: "
                                 f"{actual} vs {expected}.")
        support = self.support
        if not bool(support.check(value).all()):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape {tuple(value.shape)}) "
                f"to be within the support ({support!r}) of the distribution {self!r}, but "
                f"found invalid values:\n{_show(value)}")

    def __repr__(self):
        try:
            names = [k for k in self.arg_constraints if k in self.__dict__]
        except NotImplementedError:
            names = []
        shown = ((k, self.__dict__[k]) for k in names)
        args = ", ".join(f"{k}: {_show(v) if v.numel() == 1 else v.size()}" for k, v in shown)
        return f"{self.__class__.__name__}({args})"


def _show(value):
    """A parameter as PyTorch's messages print it: one element as its number."""
    if isinstance(value, Tensor) and value.numel() == 1 and value.dim() == 0:
        return value.item()
    return value
