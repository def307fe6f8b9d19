"""Constraints: the sets a distribution's parameters and samples live in.

A constraint's ``check(value)`` returns a bool tensor over the batch (the ``event_dim`` rightmost
dimensions are one event and reduce to one answer). ``is_discrete`` says whether the set is
discrete. The instances below (``real``, ``positive``, ``simplex``, ...) and the factories
(``interval(lo, hi)``, ``independent(c, n)``, ...) carry PyTorch's names.

>>> import numtorch as torch
>>> from numtorch.distributions import constraints
>>> constraints.positive.check(torch.tensor([1.0, -1.0]))
tensor([ True, False])
>>> constraints.simplex
Simplex()
"""
from .._tensor import Tensor

__all__ = ["Constraint", "boolean", "dependent", "dependent_property", "greater_than",
           "greater_than_eq", "half_open_interval", "independent", "integer_interval", "interval",
           "is_dependent", "less_than", "lower_cholesky", "lower_triangular", "nonnegative",
           "nonnegative_integer", "one_hot", "positive", "positive_definite", "positive_integer",
           "real", "real_vector", "simplex", "square", "symmetric", "unit_interval"]


def _fmt(bound):
    # a one-element tensor prints as its number, like PyTorch's reprs of these bounds
    if isinstance(bound, Tensor) and bound.dim() == 0:
        return repr(bound.item())
    return repr(bound) if not isinstance(bound, Tensor) else str(bound)


class Constraint:
    """Base class: ``check(value)`` -> bool tensor; ``is_discrete``; ``event_dim``.

    >>> import numtorch as torch
    >>> from numtorch.distributions.constraints import Constraint
    >>> class Even(Constraint):
    ...     is_discrete = True
    ...     def check(self, value):
    ...         return value % 2 == 0
    >>> Even().check(torch.tensor([2, 3]))
    tensor([ True, False])
    """
    is_discrete = False
    event_dim = 0

    def check(self, value):
        raise NotImplementedError

    def _bounds(self):
        return ""

    def __repr__(self):
        return type(self).__name__.lstrip("_") + "(" + self._bounds() + ")"


class _Dependent(Constraint):
    """A placeholder for a constraint that depends on other parameters (checked elsewhere)."""

    def __init__(self, *, is_discrete=NotImplemented, event_dim=NotImplemented):
        self._is_discrete = is_discrete
        self._event_dim = event_dim

    @property
    def is_discrete(self):
        if self._is_discrete is NotImplemented:
            raise NotImplementedError(".is_discrete cannot be determined statically")
        return self._is_discrete

    @property
    def event_dim(self):
        if self._event_dim is NotImplemented:
            raise NotImplementedError(".event_dim cannot be determined statically")
        return self._event_dim

    def __call__(self, *, is_discrete=NotImplemented, event_dim=NotImplemented):
        if is_discrete is NotImplemented:
            is_discrete = self._is_discrete
        if event_dim is NotImplemented:
            event_dim = self._event_dim
        return _Dependent(is_discrete=is_discrete, event_dim=event_dim)

    def check(self, x):
        raise ValueError("Cannot determine validity of dependent constraint")


def is_dependent(constraint):
    """True for the ``dependent`` placeholder (and ``dependent_property`` constraints).

    >>> from numtorch.distributions import constraints
    >>> constraints.is_dependent(constraints.dependent), constraints.is_dependent(constraints.real)
    (True, False)
    """
    return isinstance(constraint, _Dependent)


class _DependentProperty(property, _Dependent):
    """``@constraints.dependent_property``: a property of the distribution (its support computed
    from its parameters) that reads as ``dependent`` on the class.

    >>> import numtorch as torch
    >>> from numtorch.distributions import Uniform, constraints
    >>> constraints.is_dependent(Uniform.support), Uniform(0.0, 2.0).support
    (True, Interval(lower_bound=0.0, upper_bound=2.0))
    """

    def __init__(self, fn=None, *, is_discrete=NotImplemented, event_dim=NotImplemented):
        property.__init__(self, fn)
        _Dependent.__init__(self, is_discrete=is_discrete, event_dim=event_dim)

    def __call__(self, fn):
        return _DependentProperty(fn, is_discrete=self._is_discrete, event_dim=self._event_dim)


class _IndependentConstraint(Constraint):
    """``constraints.independent(base, n)``: ``base`` with its ``n`` rightmost batch dimensions
    made event dimensions: an event is valid if all its elements are.

    >>> import numtorch as torch
    >>> from numtorch.distributions import constraints
    >>> rows_positive = constraints.independent(constraints.positive, 1)
    >>> rows_positive.check(torch.tensor([[1.0, 2.0], [1.0, -1.0]]))
    tensor([ True, False])
    """

    def __init__(self, base_constraint, reinterpreted_batch_ndims):
        if not isinstance(base_constraint, Constraint):
            raise TypeError(f"Expected a Constraint, got {type(base_constraint).__name__}")
        if not isinstance(reinterpreted_batch_ndims, int) or reinterpreted_batch_ndims < 0:
            raise ValueError("reinterpreted_batch_ndims must be a non-negative int, got "
                             f"{reinterpreted_batch_ndims!r}")
        self.base_constraint = base_constraint
        self.reinterpreted_batch_ndims = reinterpreted_batch_ndims

    @property
    def is_discrete(self):
        return self.base_constraint.is_discrete

    @property
    def event_dim(self):
        return self.base_constraint.event_dim + self.reinterpreted_batch_ndims

    def check(self, value):
        result = self.base_constraint.check(value)
        n = self.reinterpreted_batch_ndims
        if result.dim() < n:
            raise ValueError(f"Expected value.dim() >= {n + self.base_constraint.event_dim} but "
                             f"got {value.dim()}")
        if n == 0:
            return result
        return result.reshape(result.shape[:result.dim() - n] + (-1,)).all(-1)

    def __repr__(self):
        return f"IndependentConstraint({self.base_constraint!r}, {self.reinterpreted_batch_ndims})"


class _Boolean(Constraint):
    is_discrete = True

    def check(self, value):
        return (value == 0) | (value == 1)


class _OneHot(Constraint):
    is_discrete = True
    event_dim = 1

    def check(self, value):
        binary = ((value == 0) | (value == 1)).all(-1)
        return binary & (value.sum(-1) == 1)


class _IntegerInterval(Constraint):
    """``constraints.integer_interval(lo, hi)``: integers in ``[lo, hi]``.

    >>> import numtorch as torch
    >>> from numtorch.distributions import constraints
    >>> constraints.integer_interval(0, 2).check(torch.tensor([0.0, 1.5, 2.0, 3.0]))
    tensor([ True, False,  True, False])
    """
    is_discrete = True

    def __init__(self, lower_bound, upper_bound):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, value):
        return (value % 1 == 0) & (value >= self.lower_bound) & (value <= self.upper_bound)

    def _bounds(self):
        return f"lower_bound={_fmt(self.lower_bound)}, upper_bound={_fmt(self.upper_bound)}"


class _IntegerGreaterThan(Constraint):
    """Integers ``>= lower_bound`` (``constraints.nonnegative_integer`` is the one for 0)."""
    is_discrete = True

    def __init__(self, lower_bound):
        self.lower_bound = lower_bound

    def check(self, value):
        return (value % 1 == 0) & (value >= self.lower_bound)

    def _bounds(self):
        return f"lower_bound={_fmt(self.lower_bound)}"


class _Real(Constraint):
    def check(self, value):
        return value == value  # False only at NaN


class _GreaterThan(Constraint):
    """``constraints.greater_than(lo)``: values ``> lo`` (``constraints.positive`` for 0).

    >>> import numtorch as torch
    >>> from numtorch.distributions import constraints
    >>> constraints.greater_than(1.0).check(torch.tensor([1.0, 2.0]))
    tensor([False,  True])
    """

    def __init__(self, lower_bound):
        self.lower_bound = lower_bound

    def check(self, value):
        return value > self.lower_bound

    def _bounds(self):
        return f"lower_bound={_fmt(self.lower_bound)}"


class _GreaterThanEq(_GreaterThan):
    """``constraints.greater_than_eq(lo)``: values ``>= lo`` (``constraints.nonnegative``).

    >>> import numtorch as torch
    >>> from numtorch.distributions import constraints
    >>> constraints.greater_than_eq(1.0).check(torch.tensor([1.0, 0.0]))
    tensor([ True, False])
    """

    def check(self, value):
        return value >= self.lower_bound


class _LessThan(Constraint):
    """``constraints.less_than(hi)``: values ``< hi``.

    >>> import numtorch as torch
    >>> from numtorch.distributions import constraints
    >>> constraints.less_than(1.0).check(torch.tensor([0.0, 1.0]))
    tensor([ True, False])
    """

    def __init__(self, upper_bound):
        self.upper_bound = upper_bound

    def check(self, value):
        return value < self.upper_bound

    def _bounds(self):
        return f"upper_bound={_fmt(self.upper_bound)}"


class _Interval(Constraint):
    """``constraints.interval(lo, hi)``: values in the closed ``[lo, hi]``
    (``constraints.unit_interval`` for ``[0, 1]``).

    >>> import numtorch as torch
    >>> from numtorch.distributions import constraints
    >>> constraints.interval(0.0, 1.0).check(torch.tensor([0.0, 1.0, 1.5]))
    tensor([ True,  True, False])
    """

    def __init__(self, lower_bound, upper_bound):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, value):
        return (value >= self.lower_bound) & (value <= self.upper_bound)

    def _bounds(self):
        return f"lower_bound={_fmt(self.lower_bound)}, upper_bound={_fmt(self.upper_bound)}"


class _HalfOpenInterval(_Interval):
    """``constraints.half_open_interval(lo, hi)``: values in ``[lo, hi)``.

    >>> import numtorch as torch
    >>> from numtorch.distributions import constraints
    >>> constraints.half_open_interval(0.0, 1.0).check(torch.tensor([0.0, 1.0]))
    tensor([ True, False])
    """

    def check(self, value):
        return (value >= self.lower_bound) & (value < self.upper_bound)


class _Simplex(Constraint):
    event_dim = 1

    def check(self, value):
        return (value >= 0).all(-1) & ((value.sum(-1) - 1).abs() < 1e-6)


class _Square(Constraint):
    event_dim = 2

    def check(self, value):
        from .. import full
        return full(value.shape[:-2], value.shape[-2] == value.shape[-1], dtype=_bool(),
                    device=value.device)


class _Symmetric(_Square):
    def check(self, value):
        square = super().check(value)
        if not bool(square.all()):
            return square
        from .. import isclose
        return isclose(value, value.mT, atol=1e-6).all(-1).all(-1)


class _PositiveDefinite(_Symmetric):
    def check(self, value):
        symmetric = super().check(value)
        if not bool(symmetric.all()):
            return symmetric
        from ._linalg import cholesky
        return cholesky(value.detach(), check=True)[1]


class _LowerTriangular(Constraint):
    event_dim = 2

    def check(self, value):
        return (value.tril() == value).reshape(value.shape[:-2] + (-1,)).all(-1)


class _LowerCholesky(Constraint):
    event_dim = 2

    def check(self, value):
        from ._linalg import _diagonal
        lower = (value.tril() == value).reshape(value.shape[:-2] + (-1,)).all(-1)
        return lower & (_diagonal(value) > 0).all(-1)


def _bool():
    from .. import bool as bool_
    return bool_


# PyTorch's public names: instances for fixed sets, factories for parametrised ones
dependent = _Dependent()
dependent_property = _DependentProperty
independent = _IndependentConstraint
boolean = _Boolean()
one_hot = _OneHot()
nonnegative_integer = _IntegerGreaterThan(0)
positive_integer = _IntegerGreaterThan(1)
integer_interval = _IntegerInterval
real = _Real()
real_vector = independent(real, 1)
positive = _GreaterThan(0.0)
nonnegative = _GreaterThanEq(0.0)
greater_than = _GreaterThan
greater_than_eq = _GreaterThanEq
less_than = _LessThan
unit_interval = _Interval(0.0, 1.0)
interval = _Interval
half_open_interval = _HalfOpenInterval
simplex = _Simplex()
square = _Square()
symmetric = _Symmetric()
positive_definite = _PositiveDefinite()
lower_triangular = _LowerTriangular()
lower_cholesky = _LowerCholesky()
