"""Sparse COO tensors (numtorch/ops/sparse.py, numtorch.sparse): construction and its checks,
metadata and repr, coalesce / to_dense / to_sparse / sum, the sparse x dense product in every
spelling (torch.sparse.mm, spmm, mm, matmul, @, dense @ sparse) with gradients in the values and
the dense operand, moves between devices, and a 2-layer GCN trained side by side with torch.

The oracle is NumPy (a dense matrix with duplicates added, its products and their gradients in
closed form); where torch imports, results, gradients, reprs and exception types are also
compared with it. The kernels themselves are tested in tests/kernels/test_sparse_kernels.py.
"""
import copy

import numpy as np
import pytest

import numtorch
from numtorch import nn

try:
    import torch
except ImportError:
    torch = None

# torch warns on every sparse tensor it builds that it skips the index checks by default
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")
needs_cuda = pytest.mark.skipif(not numtorch.cuda.is_available(),
                                reason="no CUDA device and no simulator")
TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-12)}

#: A 3 x 4 matrix given uncoalesced: (0, 2) twice, (2, 1) twice, entries out of order.
IND = np.array([[0, 2, 1, 0, 2, 1], [2, 1, 0, 2, 1, 3]])
VAL = np.array([1.5, -2.0, 3.0, 0.5, 4.0, -1.0])
SHAPE = (3, 4)


def dense_ref(ind, val, shape):
    out = np.zeros(shape, np.float64)
    np.add.at(out, tuple(ind), val)
    return out


def both(fn):
    """[fn(numtorch)], and fn(torch) after it when torch imports."""
    return [fn(numtorch)] + ([fn(torch)] if torch is not None else [])


def np_of(t):
    return t.detach().cpu().numpy()


# --- construction, metadata, repr ---------------------------------------------------------------
def test_construction_and_metadata():
    for lib in both(lambda t: t):
        s = lib.sparse_coo_tensor(IND, VAL, SHAPE)
        assert s.is_sparse and s.layout is lib.sparse_coo and repr(s.layout) == "torch.sparse_coo"
        assert lib.zeros(1).layout is lib.strided and not lib.zeros(1).is_sparse
        assert isinstance(s, lib.Tensor) and lib.is_tensor(s)
        assert s.shape == lib.Size(SHAPE) and s.size() == s.shape and s.size(-1) == 4
        assert (s.dim(), s.ndim, len(s), s.numel(), s._nnz()) == (2, 2, 3, 12, 6)
        assert (s.sparse_dim(), s.dense_dim(), s.dtype, s.device.type) == (2, 0, lib.float64, "cpu")
        assert not s.is_coalesced() and not s.requires_grad and s.is_leaf and s.grad_fn is None
        np.testing.assert_array_equal(np_of(s._indices()), IND)
        np.testing.assert_array_equal(np_of(s._values()), VAL)
        with pytest.raises(RuntimeError, match="Cannot get indices on an uncoalesced tensor"):
            s.indices()
        with pytest.raises(RuntimeError, match="Cannot get values on an uncoalesced tensor"):
            s.values()
        # inferred size, one entry (coalesced), no entries, 0-d values, hybrid, casts
        s = lib.sparse_coo_tensor([[0, 4], [1, 2]], [1., 2.])
        assert s.shape == (5, 3) and s.dtype is lib.float32
        assert lib.sparse_coo_tensor([[1], [2]], [1.], (2, 3)).is_coalesced()
        e = lib.sparse_coo_tensor(lib.zeros(2, 0, dtype=lib.int64), lib.zeros(0))
        assert e.shape == (0, 0) and e._nnz() == 0 and e.is_coalesced()
        assert lib.sparse_coo_tensor([[0]], 5.).shape == (1,)
        h = lib.sparse_coo_tensor([[0, 1, 0]], [[1., 2.], [3., 4.], [5., 6.]])
        assert h.shape == (2, 2) and (h.sparse_dim(), h.dense_dim()) == (1, 1)
        s = lib.sparse_coo_tensor(lib.tensor([[0., 1.]]), [1, 2], [2], dtype=lib.float64)
        assert s._indices().dtype is lib.int64 and s.dtype is lib.float64
        assert lib.sparse_coo_tensor([[1, 0]], [1., 2.], (2,), is_coalesced=True).is_coalesced()


REPRS = [
    lambda t: t.sparse_coo_tensor(IND[:, :4], [3., 4., 5., 6.], SHAPE),
    lambda t: t.sparse_coo_tensor([[0, 1]], [1., 2.], (2,), dtype=t.float64, requires_grad=True),
    lambda t: t.sparse_coo_tensor(t.zeros(2, 0, dtype=t.int64), t.zeros(0), (2, 2)),
    lambda t: t.sparse_coo_tensor([[0, 1]], [[1.5, 2.], [3., -4.]], (2, 2)),
    lambda t: t.sparse_coo_tensor([[0, 1], [1, 1]], [7, 8], (2, 2)).t(),
    lambda t: t.tensor([[0., 1.], [2., 0.]], requires_grad=True).to_sparse(),
]
REPR_WANT = ("tensor(indices=tensor([[0, 2, 1, 0],\n                       [2, 1, 0, 2]]),\n"
             "       values=tensor([3., 4., 5., 6.]),\n"
             "       size=(3, 4), nnz=4, layout=torch.sparse_coo)")


@pytest.mark.parametrize("k", range(len(REPRS)))
def test_repr(k):
    got = both(REPRS[k])
    if k == 0:
        assert repr(got[0]) == REPR_WANT
    if k == 5:  # the gradient node has numtorch's name, the layout of the text is torch's
        assert repr(got[0]).endswith(",\n       grad_fn=<IndexSelectBackward0>)")
    elif torch is not None:
        assert repr(got[0]) == repr(got[1])


def _bad_inputs(t):
    return [
        (lambda: t.sparse_coo_tensor([[0, 5]], [1., 2.], (3,), check_invariants=True),
         RuntimeError, "size is inconsistent with indices: for dim 0, size is 3 but found index 5"),
        (lambda: t.sparse_coo_tensor([[0, 1], [0, -1]], [1., 2.], (3, 3), check_invariants=True),
         RuntimeError, "found negative index -1 for dim 1"),
        (lambda: t.sparse_coo_tensor([[0, -2]], [1., 2.]), RuntimeError,
         "found negative index -2 for dim 0"),
        (lambda: t.sparse_coo_tensor([[0, 1]], [1., 2., 3.], (3,)), RuntimeError,
         "indices and values must have same nnz, but got nnz from indices: 2, nnz from values: 3"),
        (lambda: t.sparse_coo_tensor([[[0, 1]]], [1., 2.]), RuntimeError,
         r"indices must be sparse_dim x nnz, but got: \[1, 1, 2\]"),
        (lambda: t.sparse_coo_tensor([[0, 1]], [1., 2.], (2, 3)), RuntimeError,
         "'len\\(size\\) == sparse_dim \\+ dense_dim' is not satisfied: len\\(size\\) = 2, "
         "sparse_dim = 1, dense_dim = 0"),
        (lambda: t.sparse_coo_tensor([[0, 1]], [[1., 2.], [3., 4.]], (3, 3)), RuntimeError,
         r"values has incorrect size, expected \[2, 3\], got \[2, 2\]"),
        (lambda: t.sparse_coo_tensor([[0, 1]], [1, 2], requires_grad=True), RuntimeError,
         "Only Tensors of floating point"),
        (lambda: t.sparse_coo_tensor([[1, 0]], [1., 2.], (2,), is_coalesced=True,
                                     check_invariants=True), RuntimeError,
         "cannot set is_coalesced to true if indices correspond to uncoalesced COO tensor"),
        (lambda: t.ones(2).coalesce(), RuntimeError,
         "coalesce expected sparse coordinate tensor layout but got Strided"),
        (lambda: t.ones(2, 3).to_sparse(3), RuntimeError,
         r"sparse_dim argument must be in \[0,2\] range, but 3 is given"),
        (lambda: t.sparse_coo_tensor([[0, 1]], [1., 2.]).to_dense(t.float64), RuntimeError,
         "dtype argument is not supported by sparse_to_dense"),
        (lambda: t.sparse_coo_tensor([[0, 1], [0, 1, ], [0, 0]], [1., 2.]).t(), RuntimeError,
         "t\\(\\) expects a tensor with <= 2 sparse and 0 dense dimensions"),
        (lambda: t.sparse.mm(t.sparse_coo_tensor(IND, VAL, SHAPE), t.ones(3, 2, dtype=t.float64)),
         RuntimeError, "addmm: Argument #3 \\(dense\\): Expected dim 0 size 4, got 3"),
        (lambda: t.mm(t.ones(2, 2, dtype=t.float64), t.sparse_coo_tensor(IND, VAL, SHAPE)),
         RuntimeError, "addmm: Argument #3 \\(dense\\): Expected dim 0 size 3, got 2"),
        (lambda: t.mm(t.sparse_coo_tensor(IND, VAL, SHAPE), t.ones(4, 2)), RuntimeError,
         "expected scalar type Double but found Float"),
        (lambda: t.spmm(t.sparse_coo_tensor(IND, VAL, SHAPE), t.ones(4, dtype=t.float64)),
         IndexError, "Dimension out of range"),
        (lambda: t.mm(t.sparse_coo_tensor(IND, VAL, SHAPE), t.ones(4, 2, 2, dtype=t.float64)),
         RuntimeError, "addmm: matrices expected, got 3D tensor"),
        (lambda: t.matmul(t.sparse_coo_tensor(IND, VAL, SHAPE), t.ones(3, dtype=t.float64)),
         RuntimeError, "mv: expected self.size\\(-1\\) == vec.size\\(-1\\)"),
        (lambda: t.sparse.sum(t.sparse_coo_tensor(IND, VAL, SHAPE), 2), IndexError,
         "Dimension out of range"),
        (lambda: t.sparse_coo_tensor(IND, VAL, SHAPE).numpy(), TypeError,
         "can't convert Sparse layout tensor to numpy"),
    ]


@pytest.mark.parametrize("k", range(len(_bad_inputs(numtorch))))
def test_bad_input(k):
    fn, exc, msg = _bad_inputs(numtorch)[k]
    with pytest.raises(exc, match=msg):
        fn()
    if torch is not None:
        fn, exc, msg = _bad_inputs(torch)[k]
        with pytest.raises(exc, match=msg):
            fn()


def test_indices_checked_before_any_kernel():
    # without check_invariants too (torch then skips the check; numtorch's kernels trust
    # indices), and again when the indices were changed in place after construction
    with pytest.raises(RuntimeError, match="for dim 1, size is 4 but found index 9"):
        numtorch.sparse_coo_tensor([[0, 1], [3, 9]], [1., 2.], SHAPE)
    ind = numtorch.tensor(IND)
    s = numtorch.sparse_coo_tensor(ind, VAL, SHAPE)
    ind[1, 2] = 4
    x = numtorch.ones(4, 1, dtype=numtorch.float64)
    for op in (lambda: s.to_dense(), lambda: s.coalesce(), lambda: s @ x):
        with pytest.raises(RuntimeError, match="for dim 1, size is 4 but found index 4"):
            op()


def test_unsupported_ops_raise_naming_the_layout():
    s = numtorch.sparse_coo_tensor(IND, VAL, SHAPE)
    for op in (lambda: s.exp(), lambda: s.view(-1), lambda: s * numtorch.ones(SHAPE),
               lambda: s[0], lambda: s.half(), lambda: s.item(), lambda: s @ s):
        with pytest.raises(NotImplementedError, match="(?i)sparse"):
            op()


def test_arithmetic_with_a_sparse_operand():
    """dense + sparse is dense (the GCN recipe ``torch.eye(n) + adj``), sparse + sparse sparse
    and uncoalesced, a sparse tensor times a number sparse; gradients reach the dense operand
    and the values; what PyTorch refuses is refused with its exception type and words."""
    ref = dense_ref(IND, VAL, SHAPE)
    d = np.arange(12.0).reshape(SHAPE)
    s = numtorch.sparse_coo_tensor(IND, VAL, SHAPE)
    si = numtorch.sparse_coo_tensor(IND, np.arange(6), SHAPE)  # int64 values
    x = numtorch.tensor(d, requires_grad=True)
    for got, want in ((x + s, d + ref), (numtorch.add(x, s, alpha=2), d + 2 * ref),
                      (x - s, d - ref), (numtorch.sub(x, s, alpha=0.5), d - 0.5 * ref),
                      (numtorch.eye(3, 4, dtype=numtorch.int64) + s, np.eye(3, 4) + ref)):
        assert not got.is_sparse and got.dtype is numtorch.float64
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12)
    y = numtorch.ones(SHAPE, dtype=numtorch.float32).add_(si)
    assert y.dtype is numtorch.float32
    np.testing.assert_array_equal(y.numpy(), 1 + dense_ref(IND, np.arange(6), SHAPE))
    for got, want in ((s + si, ref + dense_ref(IND, np.arange(6), SHAPE)), (s - s, 0 * ref),
                      (numtorch.add(s, s, alpha=3), 4 * ref), (s * 2, 2 * ref), (0.5 * s, ref / 2),
                      (s * numtorch.tensor(3.0, dtype=numtorch.float64), 3 * ref)):
        assert got.is_sparse and got.dtype is numtorch.float64
        np.testing.assert_allclose(got.to_dense().numpy(), want, rtol=1e-12)
    assert not (s + s).is_coalesced() and (s + s)._nnz() == 2 * IND.shape[1]
    # gradients: d/dx sum((x + S)^2) = 2 (x + S), d/dvalues = the same read at the indices
    v = numtorch.tensor(VAL, requires_grad=True)
    ((x + numtorch.sparse_coo_tensor(IND, v, SHAPE)) ** 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (d + ref), rtol=1e-12)
    np.testing.assert_allclose(v.grad.numpy(), 2 * (d + ref)[IND[0], IND[1]], rtol=1e-12)
    assert numtorch.autograd.gradcheck(
        lambda v, x: (x - numtorch.sparse_coo_tensor(IND, v, SHAPE) * 1.5,
                      (numtorch.sparse_coo_tensor(IND, v, SHAPE) + numtorch.sparse_coo_tensor(
                          IND, v, SHAPE)).to_dense()),
        (numtorch.tensor(VAL, requires_grad=True), numtorch.tensor(d, requires_grad=True)))
    refused = [(lambda lib, S: S + lib.ones(SHAPE), RuntimeError, r"add\(sparse, dense\)"),
               (lambda lib, S: S + 1, RuntimeError, r"add\(sparse, dense\)"),
               (lambda lib, S: lib.ones(1, 4) + S, RuntimeError, "have same size.*broadcasting"),
               (lambda lib, S: S + lib.sparse_coo_tensor([[0], [0]], [1.0], (4, 4)), RuntimeError,
                r"sizes of 'self' and 'other' to match, but \[3, 4\] != \[4, 4\]")]
    for lib in (numtorch,) + ((torch,) if torch else ()):
        S = lib.sparse_coo_tensor(IND, VAL, SHAPE)
        for op, exc, msg in refused:
            with pytest.raises(exc, match=msg):
                op(lib, S)


# --- conversions and reductions ----------------------------------------------------------------
def test_coalesce_to_dense_to_sparse():
    rng = np.random.default_rng(3)
    ind = rng.integers(0, [[4], [5]], (2, 30))  # many duplicates
    val = rng.standard_normal(30)
    want = dense_ref(ind, val, (4, 5))
    for lib in both(lambda t: t):
        s = lib.sparse_coo_tensor(ind, val, (4, 5))
        np.testing.assert_allclose(np_of(s.to_dense()), want, rtol=1e-12, atol=1e-12)
        c = s.coalesce()
        assert c.is_coalesced() and c.coalesce() is c
        keys = np_of(c.indices())
        lin = keys[0] * 5 + keys[1]
        np.testing.assert_array_equal(lin, np.unique(ind[0] * 5 + ind[1]))  # sorted, unique
        np.testing.assert_allclose(np_of(c.values()), want[tuple(keys)], rtol=1e-12)
        t = c.t()
        assert not t.is_coalesced() and t.shape == (5, 4)
        np.testing.assert_allclose(np_of(t.to_dense()), want.T, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np_of(t.coalesce().to_dense()), want.T, rtol=1e-12, atol=1e-12)
        # dense -> sparse: nonzeros in row-major order (NaN kept, -0.0 dropped), coalesced
        d = lib.tensor([[0., np.nan, 2.], [-0., 0., 3.]])
        sp = d.to_sparse()
        assert sp.is_coalesced() and sp.to_sparse() is sp
        np.testing.assert_array_equal(np_of(sp._indices()), [[0, 0, 1], [1, 2, 2]])
        np.testing.assert_array_equal(np_of(sp._values()), [np.nan, 2., 3.])
        h = d.to_sparse(1)  # rows with any nonzero: hybrid values
        assert (h.sparse_dim(), h.dense_dim(), h._nnz()) == (1, 1, 2)
        np.testing.assert_array_equal(np_of(h.to_dense()), np_of(d))
        z = lib.tensor(3.).to_sparse()
        assert z.shape == () and z._indices().shape == (0, 1) and z.to_dense().item() == 3.
        assert lib.zeros(2, 0).to_sparse()._nnz() == 0
        # hybrid coalesce: rows of values added
        hy = lib.sparse_coo_tensor([[1, 0, 1]], [[1., 2.], [3., 4.], [5., 6.]], (2, 2))
        np.testing.assert_array_equal(np_of(hy.coalesce().values()), [[3., 4.], [6., 8.]])


def test_sparse_sum():
    want = dense_ref(IND, VAL, SHAPE)
    for lib in both(lambda t: t):
        s = lib.sparse_coo_tensor(IND, VAL, SHAPE)
        assert abs(lib.sparse.sum(s).item() - want.sum()) < 1e-12
        assert abs(s.sum().item() - want.sum()) < 1e-12
        assert lib.sparse.sum(s, dtype=lib.float32).dtype is lib.float32
        for dim in (0, 1, -1, (0, 1), ()):
            r = lib.sparse.sum(s, dim)
            ref = want.sum(axis=dim) if dim != () else want
            assert r.is_sparse == (dim not in ((0, 1),))
            np.testing.assert_allclose(np_of(r.to_dense()), ref, rtol=1e-12, atol=1e-12)
            if r.is_sparse:
                assert r.is_coalesced()
        h = lib.sparse_coo_tensor([[0, 1, 0]], [[1., 2.], [3., 4.], [5., 6.]], (2, 2))
        np.testing.assert_array_equal(np_of(lib.sparse.sum(h, 1).to_dense()), [14., 7.])
        np.testing.assert_array_equal(np_of(lib.sparse.sum(h, 0)), [9., 12.])


# --- the product ---------------------------------------------------------------------------------
PRODUCTS = {
    "sparse.mm": lambda t, s, x: t.sparse.mm(s, x),
    "spmm": lambda t, s, x: t.spmm(s, x),
    "mm": lambda t, s, x: t.mm(s, x),
    "matmul": lambda t, s, x: t.matmul(s, x),
    "@": lambda t, s, x: s @ x,
    "addmm": lambda t, s, x: t.addmm(t.ones(1, dtype=x.dtype), s, x, alpha=2.0),
    "matvec": lambda t, s, x: s @ x[:, 0],
    "dense@sparse": lambda t, s, x: t.mm(x.t(), s.t()),
    "vec@sparse": lambda t, s, x: t.matmul(x[:, 1], s.t()),
    "sparse.mm(dense, sparse)": lambda t, s, x: t.sparse.mm(x.t(), s.t()),
}


def _product_ref(name, a, x, seed):
    """NumPy forward of PRODUCTS[name] with the dense matrix a, and G = dL/dP for P = a @ x
    and L = sum(out * seed): then dL/da = G x^T and dL/dx = a^T G."""
    p = a @ x
    e = np.eye(p.shape[1])
    return {"addmm": lambda: (1 + 2 * p, 2 * seed),
            "matvec": lambda: (p[:, 0], np.outer(seed, e[0])),
            "dense@sparse": lambda: (p.T, seed.T),
            "sparse.mm(dense, sparse)": lambda: (p.T, seed.T),
            "vec@sparse": lambda: (p[:, 1], np.outer(seed, e[1]))}.get(name, lambda: (p, seed))()


@pytest.mark.parametrize("name,dtype", [(n, "float64") for n in PRODUCTS] +
                         [("spmm", "float32"), ("dense@sparse", "float32")])
def test_product_and_gradients(name, dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3)).astype(dtype)
    a = dense_ref(IND, VAL.astype(dtype), SHAPE)
    shape = _product_ref(name, a, x.astype(np.float64), np.zeros((3, 3)))[0].shape
    seed = rng.standard_normal(shape)
    want, g = _product_ref(name, a, x.astype(np.float64), seed)
    results = []
    for lib in both(lambda t: t):
        v = lib.tensor(VAL.astype(dtype), requires_grad=True)
        xt = lib.tensor(x, requires_grad=True)
        out = PRODUCTS[name](lib, lib.sparse_coo_tensor(IND, v, SHAPE), xt)
        assert out.dtype is getattr(lib, dtype) and not out.is_sparse
        (out * lib.tensor(seed.astype(dtype))).sum().backward()
        results.append((np_of(out), np_of(v.grad), np_of(xt.grad)))
    tol = TOL[dtype]
    got, gv, gx = results[0]
    np.testing.assert_allclose(got, want, **tol)
    np.testing.assert_allclose(gv, (g @ x.T)[tuple(IND)], **tol)  # duplicates: the same grad
    np.testing.assert_allclose(gx, a.T @ g, **tol)
    for ours, theirs in zip(*results[:2]) if len(results) > 1 else ():
        np.testing.assert_allclose(ours, theirs, **tol)


def test_product_other_dtypes():
    # integers (exact, accumulated with wrap-around in int64 and cast back), float16 (computed
    # in float32), bool (torch: an error unless there are no entries)
    a = dense_ref(IND, VAL, SHAPE)
    x = np.arange(8.).reshape(4, 2) - 3
    for lib in both(lambda t: t):
        for dt in (lib.int64, lib.int32, lib.int8):
            out = lib.spmm(lib.sparse_coo_tensor(IND, (VAL * 2).astype(int), SHAPE, dtype=dt),
                           lib.tensor(x, dtype=dt))
            assert out.dtype is dt
            want = (dense_ref(IND, (VAL * 2).astype(int), SHAPE) @ x).astype(np.int64)
            np.testing.assert_array_equal(np_of(out), want.astype(np_of(out).dtype))
        h = lib.sparse_coo_tensor(IND, VAL, SHAPE, dtype=lib.float16) @ lib.tensor(
            x, dtype=lib.float16)
        assert h.dtype is lib.float16
        np.testing.assert_allclose(np_of(h).astype(np.float64), a @ x, rtol=2e-3)
        b = lib.tensor(np.ones((4, 2), bool))
        empty = lib.sparse_coo_tensor(lib.zeros(2, 0, dtype=lib.int64), lib.zeros(0, dtype=lib.bool),
                                      SHAPE)
        assert not lib.spmm(empty, b).any() and lib.spmm(empty, b).shape == (3, 2)
        with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
            lib.spmm(lib.sparse_coo_tensor(IND, VAL > 0, SHAPE), b)


def test_leaf_sparse_gradient():
    # requires_grad=True: the sparse tensor is the leaf; its .grad is sparse, on the coalesced
    # indices, with each position's gradient once
    grads = []
    for lib in both(lambda t: t):
        s = lib.sparse_coo_tensor(IND, VAL, SHAPE, requires_grad=True)
        assert s.requires_grad and s.is_leaf and s.grad is None
        x = lib.tensor(np.arange(8.).reshape(4, 2))
        (lib.sparse.mm(s, x) ** 2).sum().backward()
        assert s.grad.is_sparse and (s.grad.is_coalesced() or lib is torch)  # (torch: unflagged)
        grads.append((np_of(s.grad._indices()), np_of(s.grad._values())))
        t = s.t()  # shares the leaf's values: not a leaf itself
        assert t.requires_grad and not t.is_leaf
        d = s.detach()
        assert not d.requires_grad and d.is_leaf
        v = lib.tensor(VAL, requires_grad=True)  # values in a graph: the sparse is not a leaf
        assert not lib.sparse_coo_tensor(IND, v * 2, SHAPE).is_leaf
    a = dense_ref(IND, VAL, SHAPE)
    x = np.arange(8.).reshape(4, 2)
    ga = 2 * (a @ x) @ x.T
    keys = np.unique(IND[0] * 4 + IND[1])
    np.testing.assert_array_equal(grads[0][0], [keys // 4, keys % 4])
    np.testing.assert_allclose(grads[0][1], ga[keys // 4, keys % 4], rtol=1e-12)
    if len(grads) > 1:
        np.testing.assert_array_equal(grads[0][0], grads[1][0])
        np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-12)


def test_gradcheck():
    rng = np.random.default_rng(11)
    ind = numtorch.tensor(IND)

    def fn(v, x, d):
        s = numtorch.sparse_coo_tensor(ind, v, SHAPE)
        return (numtorch.sparse.mm(s, x), x[:3].t() @ s, s.to_dense(), s.coalesce()._values(),
                numtorch.sparse.sum(s, 0).to_dense(), numtorch.spmm(d.to_sparse(), x))

    args = (numtorch.tensor(VAL, requires_grad=True),
            numtorch.tensor(rng.standard_normal((4, 2)), requires_grad=True),
            numtorch.tensor(rng.standard_normal((3, 4)), requires_grad=True))
    assert numtorch.autograd.gradcheck(fn, args)
    # double backward: the backward is SpMM on the transpose plus differentiable index ops
    assert numtorch.autograd.gradgradcheck(
        lambda v, x: numtorch.spmm(numtorch.sparse_coo_tensor(ind, v, SHAPE), x), args[:2])


# --- devices and modules ------------------------------------------------------------------------
class GCN:
    """A 2-layer GCN (Kipf & Welling) on either library; the adjacency goes through forward."""

    @staticmethod
    def build(lib, sizes):
        class Net(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.l1 = lib.nn.Linear(sizes[0], sizes[1])
                self.l2 = lib.nn.Linear(sizes[1], sizes[2])

            def forward(self, x, adj):
                h = lib.relu(lib.spmm(adj, self.l1(x)))
                return lib.nn.functional.log_softmax(adj @ self.l2(h), dim=1)
        return Net()


def random_graph(rng, n):
    """A symmetric normalised adjacency D^-1/2 (A + I) D^-1/2 given as COO with some entries
    split into two duplicates (so the model's sparse tensor is uncoalesced)."""
    a = np.triu(rng.random((n, n)) < 0.25, 1)
    a = (a | a.T | np.eye(n, dtype=bool)).astype(np.float64)
    dinv = 1 / np.sqrt(a.sum(1))
    norm = dinv[:, None] * a * dinv[None, :]
    rows, cols = np.nonzero(norm)
    vals = norm[rows, cols]
    dup = rng.random(rows.size) < 0.3
    ind = np.concatenate([np.stack([rows, cols]), np.stack([rows[dup], cols[dup]])], 1)
    val = np.concatenate([np.where(dup, vals / 2, vals), vals[dup] / 2])
    perm = rng.permutation(val.size)
    return ind[:, perm], val[perm].astype(np.float32), norm


def test_gcn_trains_like_torch():
    rng = np.random.default_rng(5)
    n, sizes = 14, (5, 8, 3)
    ind, val, norm = random_graph(rng, n)
    feats = rng.standard_normal((n, sizes[0])).astype(np.float32)
    labels = rng.integers(0, sizes[2], n)
    runs = []
    for lib in both(lambda t: t):
        if lib is numtorch:
            lib.manual_seed(0)
        model = GCN.build(lib, sizes)
        if lib is not numtorch:  # the same weights
            with lib.no_grad():
                for p, q in zip(model.parameters(), runs[0][2]):
                    p.copy_(lib.tensor(q))
        adj = lib.sparse_coo_tensor(lib.tensor(ind), lib.tensor(val), (n, n))
        x, y = lib.tensor(feats), lib.tensor(labels)
        opt = lib.optim.Adam(model.parameters(), lr=0.05)
        start = [np_of(p).copy() for p in model.parameters()]
        losses, grads = [], []
        for _ in range(4):
            opt.zero_grad()
            loss = lib.nn.functional.nll_loss(model(x, adj), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            grads.append([np_of(p.grad).copy() for p in model.parameters()])
        runs.append((losses, grads, start))
    losses, grads, _ = runs[0]
    assert losses[-1] < losses[0]  # it learns
    # the numtorch forward against NumPy with the dense adjacency, first step
    w1, b1, w2, b2 = runs[0][2]
    h = np.maximum(norm @ (feats @ w1.T + b1), 0)
    z = norm @ (h @ w2.T + b2)
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    np.testing.assert_allclose(losses[0], -logp[np.arange(n), labels].mean(), rtol=1e-5)
    if torch is not None:
        np.testing.assert_allclose(losses, runs[1][0], rtol=2e-5)
        for gn, gt in zip(grads, runs[1][1]):
            for a, b in zip(gn, gt):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_module_buffer_deepcopy_and_casts():
    s = numtorch.sparse_coo_tensor(IND, VAL.astype(np.float32), SHAPE)
    m = nn.Module()
    m.register_buffer("adj", s)  # a Tensor: accepted as a buffer
    m.double()
    assert m.adj.is_sparse and m.adj.dtype is numtorch.float64
    c = copy.deepcopy(m)
    assert c.adj is not m.adj and c.adj.is_sparse
    np.testing.assert_array_equal(np_of(c.adj.to_dense()), np_of(m.adj.to_dense()))
    assert s.to(numtorch.float32) is s and s.to("cpu") is s and s.cpu() is s
    f = s.double().float()
    assert f.dtype is numtorch.float32 and f is not s


@needs_cuda
def test_cuda_matches_cpu():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 3))
    res = {}
    for dev in ("cpu", "cuda"):
        leaf = numtorch.sparse_coo_tensor(IND, VAL, SHAPE, requires_grad=True)
        adj = leaf.to(dev)  # the gradient comes back through the move
        assert (adj is leaf) == (dev == "cpu")
        assert adj.device.type == dev and adj._indices().device.type == dev
        xt = numtorch.tensor(x, device=dev, requires_grad=True)
        out = numtorch.sparse.mm(adj, xt)
        back = xt[:3].t() @ adj  # dense @ sparse: the transposed row structure
        assert out.device.type == dev and back.device.type == dev
        (out.sum() + (back * back).sum() + adj.to_dense().sum()).backward()
        res[dev] = [np_of(out), np_of(back), np_of(xt.grad), np_of(leaf.grad._values()),
                    np_of(adj.coalesce()._values())]
    for a, b in zip(res["cpu"], res["cuda"]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    m = nn.Module()
    m.register_buffer("adj", numtorch.sparse_coo_tensor(IND, VAL, SHAPE))
    m.to("cuda")  # a sparse buffer moves with the module
    assert m.adj.is_sparse and m.adj.device.type == "cuda"
    assert repr(numtorch.sparse_coo_tensor([[0]], [1.], device="cuda")).endswith(
        "device='cuda:0', size=(1,), nnz=1, layout=torch.sparse_coo)")
