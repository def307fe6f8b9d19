"""Small batched linear algebra for MultivariateNormal, composed from Tensor ops.

numtorch has no ``linalg`` module yet. These loops run one column (Cholesky) or one row
(substitution) per step with batched Tensor ops, so autograd differentiates through them and they
run on any device; they are meant for the event sizes of a distribution (a few to a few dozen).
"""
from .. import arange, stack, eye, where


def _diagonal(m):
    """The diagonal of every matrix of ``m`` (..., n, n) -> (..., n)."""
    i = arange(m.shape[-1], device=m.device)
    return m[..., i, i]


def cholesky(a, check=False):
    """Lower-triangular L with ``L @ L.mT == a`` for a batch of symmetric positive-definite
    matrices (only the lower triangle of ``a`` is read).

    With ``check=True`` returns ``(L, ok)``: ``ok`` is a bool tensor of the batch shape, False
    where ``a`` is not positive-definite (L holds NaN there). Otherwise raises RuntimeError naming
    the first failing leading minor, like ``torch.linalg.cholesky``.

    >>> import numtorch as torch
    >>> from numtorch.distributions._linalg import cholesky
    >>> cholesky(torch.tensor([[4.0, 2.0], [2.0, 2.0]]))
    tensor([[2., 0.],
            [1., 1.]])
    """
    n = a.shape[-1]
    rows = arange(n, device=a.device)
    cols, ok = [], None
    for j in range(n):
        v = a[..., :, j]                       # column j of a: a[i, j] for every row i
        if cols:
            prev = stack(cols, -1)             # (..., n, j): the columns found so far
            v = v - (prev * prev[..., j:j + 1, :]).sum(-1)
        pivot = v[..., j:j + 1]
        good = pivot > 0
        ok = good[..., 0] if ok is None else ok & good[..., 0]
        if not check and not bool(good.all()):
            raise RuntimeError(
                "linalg.cholesky: The factorization could not be completed because the input is "
                f"not positive-definite (the leading minor of order {j + 1} is not "
                "positive-definite).")
        # rows above j are zero; row j gives v_j / sqrt(v_j) = sqrt(v_j), the diagonal
        safe = where(good, pivot, 1.0)
        col = where(rows >= j, v / safe.sqrt(), 0.0)
        cols.append(where(good, col, float("nan")))
    out = stack(cols, -1)
    return (out, ok) if check else out


def solve_lower(l, b):
    """``x`` with ``l @ x == b`` for lower-triangular ``l`` (..., n, n) and vectors ``b`` (..., n)
    (batch dimensions broadcast), by forward substitution.

    >>> import numtorch as torch
    >>> from numtorch.distributions._linalg import solve_lower
    >>> solve_lower(torch.tensor([[2.0, 0.0], [1.0, 1.0]]), torch.tensor([2.0, 3.0]))
    tensor([1., 2.])
    """
    xs = []
    for i in range(l.shape[-1]):
        r = b[..., i]
        if xs:
            r = r - (l[..., i, :i] * stack(xs, -1)).sum(-1)
        xs.append(r / l[..., i, i])
    return stack(xs, -1)


def solve_lower_matrix(l, b):
    """``l^-1 @ b`` for lower-triangular ``l`` (..., n, n) and matrices ``b`` (..., n, m).

    >>> import numtorch as torch
    >>> from numtorch.distributions._linalg import solve_lower_matrix
    >>> solve_lower_matrix(torch.tensor([[2.0, 0.0], [1.0, 1.0]]), torch.eye(2))
    tensor([[ 0.5000,  0.0000],
            [-0.5000,  1.0000]])
    """
    # columns of b as a batch of vectors: (..., m, n), solved against l broadcast over m
    return solve_lower(l.unsqueeze(-3), b.mT).mT


def inverse_lower(l):
    """The inverse of lower-triangular ``l`` (..., n, n).

    >>> import numtorch as torch
    >>> from numtorch.distributions._linalg import inverse_lower
    >>> inverse_lower(torch.tensor([[2.0, 0.0], [0.0, 4.0]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]])
    """
    n = l.shape[-1]
    return solve_lower_matrix(l, eye(n, dtype=l.dtype, device=l.device).expand(l.shape))
