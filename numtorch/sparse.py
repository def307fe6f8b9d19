"""``numtorch.sparse``: functions on sparse COO tensors (PyTorch's ``torch.sparse``).

Sparse tensors come from :func:`numtorch.sparse_coo_tensor` or ``Tensor.to_sparse()``; their type
and ops live in ``numtorch/ops/sparse.py``.
"""
from .ops.sparse import sparse_mm as _mm, sparse_sum as _sum

__all__ = ["mm", "sum"]


def mm(mat1, mat2):
    """The product of a sparse COO matrix and a dense one (either order), differentiable in the
    sparse values and the dense matrix; two dense matrices give their plain product.

    >>> import numtorch as torch
    >>> adj = torch.sparse_coo_tensor([[0, 1, 1], [1, 0, 1]], [1., 2., 3.], (2, 2))
    >>> torch.sparse.mm(adj, torch.eye(2))
    tensor([[0., 1.],
            [2., 3.]])
    """
    return _mm(mat1, mat2)


def sum(input, dim=None, dtype=None):  # noqa: A001  (PyTorch's name)
    """The sum of a sparse COO tensor: over everything (a dense 0-d tensor), or over ``dim``
    (a dense tensor once every sparse dim is summed, otherwise a coalesced sparse tensor).

    >>> import numtorch as torch
    >>> s = torch.sparse_coo_tensor([[0, 1, 1], [2, 0, 2]], [3., 4., 5.], (2, 3))
    >>> torch.sparse.sum(s)
    tensor(12.)
    >>> torch.sparse.sum(s, 1).to_dense()
    tensor([3., 9.])
    """
    return _sum(input, dim, dtype)
