"""``MultivariateNormal``: the Gaussian over vectors (by covariance, precision or Cholesky)."""
import math

from .._size import Size
from . import constraints
from ._linalg import cholesky, inverse_lower, solve_lower, _diagonal
from .distribution import Distribution
from .utils import broadcast_shapes, lazy_property

__all__ = ["MultivariateNormal"]


def _mahalanobis(scale_tril, diff):
    """``diff^T (L L^T)^-1 diff`` for each vector of ``diff`` (batch dims broadcast)."""
    return solve_lower(scale_tril, diff).pow(2).sum(-1)


def _half_log_det(scale_tril):
    return _diagonal(scale_tril).log().sum(-1)


class MultivariateNormal(Distribution):
    """Multivariate normal distribution with mean ``loc`` (..., n) and exactly one of
    ``covariance_matrix``, ``precision_matrix`` (both symmetric positive-definite, (..., n, n))
    or ``scale_tril`` (lower-triangular with positive diagonal: the covariance's Cholesky
    factor). Batch dimensions of ``loc`` and the matrix broadcast.

    numtorch has no ``linalg`` yet: the Cholesky factorisation and triangular solves here are
    loops of batched Tensor ops over the n rows (fine for event sizes of a few dozen).

    >>> import numtorch as torch
    >>> from numtorch.distributions import MultivariateNormal
    >>> d = MultivariateNormal(torch.zeros(2), torch.tensor([[4.0, 2.0], [2.0, 2.0]]))
    >>> d.scale_tril
    tensor([[2., 0.],
            [1., 1.]])
    >>> d.log_prob(torch.tensor([1.0, 1.0]))
    tensor(-2.7810)
    """
    arg_constraints = {"loc": constraints.real_vector,
                       "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if sum(m is not None for m in (covariance_matrix, precision_matrix, scale_tril)) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril "
                             "may be specified.")
        given = next(m for m in (scale_tril, covariance_matrix, precision_matrix) if m is not None)
        if given.dim() < 2:
            name = ("scale_tril" if scale_tril is not None else
                    "covariance_matrix" if covariance_matrix is not None else "precision_matrix")
            raise ValueError(f"{name} matrix must be at least two-dimensional, with optional "
                             "leading batch dimensions")
        batch_shape = broadcast_shapes(given.shape[:-2], loc.shape[:-1])
        full = batch_shape + given.shape[-2:]
        if scale_tril is not None:
            self.scale_tril = scale_tril.expand(full)
        elif covariance_matrix is not None:
            self.covariance_matrix = covariance_matrix.expand(full)
        else:
            self.precision_matrix = precision_matrix.expand(full)
        self.loc = loc.expand(batch_shape + (-1,))
        super().__init__(batch_shape, self.loc.shape[-1:], validate_args=validate_args)
        rows, cols = given.shape[-2:]
        if rows != cols:
            raise RuntimeError("linalg.cholesky: A must be batches of square matrices, but they "
                               f"are {rows} by {cols} matrices")
        if cols != loc.shape[-1]:
            raise ValueError(f"loc of shape {tuple(loc.shape)} needs {loc.shape[-1]} x "
                             f"{loc.shape[-1]} matrices, got shape {tuple(given.shape)}")
        # the factor of the unexpanded matrix: its batch may be smaller than the loc's
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MultivariateNormal, _instance)
        batch_shape = Size(batch_shape)
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        matrix_shape = batch_shape + self.event_shape + self.event_shape
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(matrix_shape))
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(
            self._batch_shape + self._event_shape + self._event_shape)

    @lazy_property
    def covariance_matrix(self):
        l = self._unbroadcasted_scale_tril
        return (l @ l.mT).expand(self._batch_shape + self._event_shape + self._event_shape)

    @lazy_property
    def precision_matrix(self):
        inv = inverse_lower(self._unbroadcasted_scale_tril)
        return (inv.mT @ inv).expand(self._batch_shape + self._event_shape + self._event_shape)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(
            self._batch_shape + self._event_shape)

    def rsample(self, sample_shape=Size()):
        from .. import randn
        shape = self._extended_shape(sample_shape)
        eps = randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + (self._unbroadcasted_scale_tril * eps.unsqueeze(-2)).sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        n = self._event_shape[0]
        m = _mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)
        half_log_det = _half_log_det(self._unbroadcasted_scale_tril)
        return -0.5 * (n * math.log(2 * math.pi) + m) - half_log_det

    def entropy(self):
        n = self._event_shape[0]
        h = 0.5 * n * (1.0 + math.log(2 * math.pi)) + _half_log_det(self._unbroadcasted_scale_tril)
        return h.expand(self._batch_shape)


def _precision_to_scale_tril(p):
    # Cholesky of the index-reversed precision J P J = Lf Lf^T gives P = U U^T with U = J Lf J
    # upper-triangular, so the covariance P^-1 = U^-T U^-1 has the lower factor U^-T.
    lf = cholesky(p.flip((-2, -1)))
    return inverse_lower(lf.flip((-2, -1)).mT)
