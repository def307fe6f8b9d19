"""numtorch.einsum against torch.einsum: equations (explicit and implicit output, ellipsis,
diagonals, broadcasting, sums, sublists), values and input gradients in float32/float64, integer
operands, gradcheck, and PyTorch's errors for bad equations."""
import numpy as np
import pytest

import numtorch

torch = pytest.importorskip("torch")

# (equation, operand shapes)
CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),                 # matmul
    ("ij,jk", [(2, 3), (3, 4)]),                     # implicit output
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),        # bmm
    ("bij,bjk->bik", [(2, 2, 3), (1, 3, 4)]),        # a size-1 label broadcasts
    ("i,i->", [(4,), (4,)]),                         # dot
    ("i,j->ij", [(3,), (4,)]),                       # outer (no contraction: a product)
    ("ij,ij->ij", [(2, 3), (2, 3)]),                 # elementwise
    ("ij,ij->i", [(2, 3), (2, 3)]),                  # batch label and contraction
    ("ij->ji", [(2, 3)]),                            # transpose
    ("ij->", [(2, 3)]),                              # sum of all
    ("ij->j", [(2, 3)]),
    ("ii->i", [(3, 3)]),                             # diagonal
    ("ii", [(3, 3)]),                                # trace (implicit)
    ("iij->j", [(3, 3, 2)]),
    ("iji->ij", [(2, 3, 2)]),
    ("iii->i", [(3, 3, 3)]),                         # a 3-way diagonal
    ("ii,i->i", [(3, 3), (3,)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (4, 1, 3, 2)]),   # ellipsis dims broadcast
    ("...ij,...jk", [(2, 2, 3), (3, 2)]),            # implicit output with an ellipsis
    ("...ij,...jk->...", [(2, 2, 3), (2, 3, 2)]),    # ellipsis output only: sums i, k, j
    ("i...->...", [(3, 2, 4)]),
    ("...i,...i", [(2, 3), (3,)]),
    ("b...i,bj->...ij", [(2, 3, 4), (2, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),   # attention scores
    ("bhqk,bhkd->bqhd", [(2, 2, 3, 5), (2, 2, 5, 4)]),
    ("ijk,jil->kl", [(2, 3, 4), (3, 2, 5)]),         # two contracted labels, permuted
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),      # a chain, reduced left to right
    ("i,j,k->ijk", [(2,), (3,), (2,)]),
    ("ab,bc,ca->", [(2, 3), (3, 4), (4, 2)]),
    ("Ba,bA", [(2, 3), (2, 3)]),                     # implicit order: capitals first
    ("ij,kl->", [(2, 3), (2, 2)]),                   # sums on both sides first
    ("i j , j k -> i k", [(2, 3), (3, 4)]),          # spaces are ignored
    (",ij->ij", [(), (2, 3)]),                       # a 0-d operand
    ("", [()]),
    ("ij,jk->ik", [(2, 0), (0, 3)]),                 # empty contraction: zeros
    ("ij,jk->ik", [(0, 3), (3, 2)]),
]


def _arrays(shapes, dt, rng):
    return [rng.uniform(-1.5, 1.5, size=s).astype(dt) for s in shapes]


def _run(mod, eq, arrays, grad):
    leaves = [mod.tensor(a, requires_grad=grad) for a in arrays]
    return leaves, mod.einsum(eq, *leaves)


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("eq,shapes", CASES, ids=[f"{e or 'empty'}|{s}" for e, s in CASES])
def test_einsum_matches_torch(eq, shapes, dt, rng):
    arrays = _arrays(shapes, dt, rng)
    n_leaves, n_out = _run(numtorch, eq, arrays, True)
    t_leaves, t_out = _run(torch, eq, arrays, True)
    assert tuple(n_out.shape) == tuple(t_out.shape)
    assert n_out.dtype.name == str(t_out.dtype).replace("torch.", "")
    tol = (1e-5, 1e-6) if dt == "float32" else (1e-12, 1e-13)
    np.testing.assert_allclose(n_out.detach().numpy(), t_out.detach().numpy(), *tol)
    seed = rng.standard_normal(tuple(t_out.shape)).astype(dt)
    (n_out * numtorch.tensor(seed)).sum().backward()
    (t_out * torch.tensor(seed)).sum().backward()
    for n, t in zip(n_leaves, t_leaves):
        assert n.grad is not None
        np.testing.assert_allclose(n.grad.numpy(), t.grad.numpy(), *tol)


@pytest.mark.parametrize("eq,shapes", [("ij,jk->ik", [(2, 3), (3, 4)]), ("ii->i", [(3, 3)]),
                                       ("bi,bi->b", [(2, 3), (2, 3)]), ("ij->ji", [(2, 3)])])
def test_einsum_integer_operands(eq, shapes, rng):
    arrays = [rng.integers(-3, 4, size=s) for s in shapes]
    n = numtorch.einsum(eq, *[numtorch.tensor(a) for a in arrays])
    t = torch.einsum(eq, *[torch.tensor(a) for a in arrays])
    assert n.dtype is numtorch.int64
    np.testing.assert_array_equal(n.numpy(), t.numpy())


def test_einsum_operand_forms(rng):
    a, b = _arrays([(2, 3), (3, 4)], "float64", rng)
    na, nb = numtorch.tensor(a), numtorch.tensor(b)
    want = torch.einsum("ij,jk->ik", torch.tensor(a), torch.tensor(b)).numpy()
    for got in (numtorch.einsum("ij,jk->ik", [na, nb]), numtorch.einsum("ij,jk->ik", (na, nb)),
                numtorch.einsum(na, [0, 1], nb, [1, 2], [0, 2]),
                numtorch.einsum(na, [0, 1], nb, [1, 2])):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    ta, tb = torch.tensor(a), torch.tensor(b)
    E = Ellipsis
    for args, targs in [((na, [0, E], nb, [E, 2]), (ta, [0, E], tb, [E, 2])),
                        ((na, [0, E], [E]), (ta, [0, E], [E]))]:
        got, want = numtorch.einsum(*args), torch.einsum(*targs)
        assert tuple(got.shape) == tuple(want.shape)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_einsum_noncontiguous_operands(rng):
    a, b = _arrays([(4, 3), (5, 4)], "float32", rng)
    n = numtorch.einsum("ij,jk->ik", numtorch.tensor(a).t(), numtorch.tensor(b).t())
    t = torch.einsum("ij,jk->ik", torch.tensor(a).t(), torch.tensor(b).t())
    np.testing.assert_allclose(n.numpy(), t.numpy(), rtol=1e-5, atol=1e-6)


def test_einsum_mixed_dtypes_follow_torch():
    # a product promotes (torch multiplies); a contraction refuses (torch's bmm does)
    a, b = numtorch.ones(2, 3), numtorch.ones(2, dtype=numtorch.float64)
    assert numtorch.einsum("ij,i->i", a, b).dtype is numtorch.float64
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        numtorch.einsum("i,i->", numtorch.ones(2), b)
    with pytest.raises(NotImplementedError, match="Bool"):
        numtorch.einsum("ij,ij->i", *(numtorch.ones(2, 3, dtype=numtorch.bool),) * 2)
    bools = numtorch.ones(2, 3, dtype=numtorch.bool)
    assert numtorch.einsum("ij->i", bools).dtype is numtorch.int64


def test_einsum_double_backward(rng):
    a, b = _arrays([(2, 3), (3, 2)], "float64", rng)
    res = []
    for mod in (numtorch, torch):
        x, y = mod.tensor(a, requires_grad=True), mod.tensor(b, requires_grad=True)
        (g,) = mod.autograd.grad(mod.einsum("ij,jk->", x, y) ** 2, (x,), create_graph=True)
        g.sum().backward()
        res.append(y.grad.numpy())
    np.testing.assert_allclose(res[0], res[1], rtol=1e-12)


@pytest.mark.parametrize("eq,shapes", [("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
                                       ("iij->ji", [(2, 2, 3)]),
                                       ("...i,...i->...", [(2, 3), (3,)]),
                                       ("ij,jk,k->i", [(2, 3), (3, 2), (2,)])])
def test_einsum_gradcheck(eq, shapes, rng):
    xs = [numtorch.tensor(a, requires_grad=True) for a in _arrays(shapes, "float64", rng)]
    assert numtorch.autograd.gradcheck(lambda *t: numtorch.einsum(eq, *t), tuple(xs))


ERRORS = [
    ("ij,jk->ik", [(2, 3)], RuntimeError, "fewer operands"),
    ("ij", [(2, 3), (3,)], RuntimeError, "more operands"),
    ("ij->", [(2,)], RuntimeError, r"number of subscripts in the equation \(2\) does not match "
                                  r"the number of dimensions \(1\) for operand 0"),
    ("abc...->", [(2, 3)], RuntimeError, r"\(3\) is more than the number of dimensions \(2\)"),
    ("ij->ik", [(2, 3)], RuntimeError, "output subscript k does not appear"),
    ("ij->ii", [(2, 3)], RuntimeError, "output subscript i appears more than once"),
    ("i1->i", [(2, 3)], RuntimeError, "invalid subscript given at index 1"),
    ("ij->j->", [(2, 3)], RuntimeError, "invalid subscript given at index 5"),
    ("ii->i", [(2, 3)], RuntimeError, "subscript i is repeated for operand 0 but the sizes "
                                      "don't match, 3 != 2"),
    ("..i->i", [(2, 3)], RuntimeError, "not part of any ellipsis"),
    ("...i...->i", [(2, 3)], RuntimeError, "ellipsis was already found"),
    ("...->....", [(2, 3)], RuntimeError, "ellipsis \\(...\\) was already found"),
    ("...->.a", [(2, 3)], RuntimeError, "not part of any ellipsis"),
    ("i,i->", [(2,), (3,)], RuntimeError, "subscript i has size 3 for operand 1 which does "
                                          "not broadcast with previously seen size 2"),
    ("...ij,...jk", [(5, 2, 3), (4, 2, 3, 2)], RuntimeError,
     "covered by ellipsis in operand 1 has size 2 which does not broadcast"),
]


@pytest.mark.parametrize("eq,shapes,exc,msg", ERRORS, ids=[e[3][:30] for e in ERRORS])
def test_einsum_errors_match_torch(eq, shapes, exc, msg):
    with pytest.raises(exc):
        torch.einsum(eq, *[torch.ones(s) for s in shapes])
    with pytest.raises(exc, match=msg):
        numtorch.einsum(eq, *[numtorch.ones(s) for s in shapes])


def test_einsum_argument_errors():
    with pytest.raises(ValueError, match="must specify the equation"):
        numtorch.einsum("i->i")
    with pytest.raises(TypeError, match="must be str, not int"):
        numtorch.einsum(3, numtorch.ones(2))
    with pytest.raises(TypeError, match="expected Tensor as element 0"):
        numtorch.einsum("i->i", 3)
    with pytest.raises(ValueError, match=r"valid range \[0, 52\)"):
        numtorch.einsum(numtorch.ones(2, 3), [0, 52])


def _random_equation(rng):
    """An equation over few labels (some repeated in one operand, some broadcast from size 1,
    sometimes an ellipsis), with an explicit or implicit output, and its operand shapes."""
    letters = "abcDE"
    size = {c: int(rng.integers(1, 4)) for c in letters}
    terms, shapes, used = [], [], []
    ell = tuple(int(s) for s in rng.integers(1, 3, size=int(rng.integers(0, 3))))
    for _ in range(int(rng.integers(1, 4))):
        term = [letters[k] for k in rng.integers(0, len(letters), size=int(rng.integers(0, 4)))]
        shape = [size[c] if rng.random() < 0.8 else 1 for c in term]
        for c, n in zip(term, shape):  # a label repeated in one operand: one size
            shape[term.index(c)] = n
        shape = [shape[term.index(c)] for c in term]
        if ell and rng.random() < 0.5:
            k = int(rng.integers(0, len(ell) + 1))
            term, shape = ["..."] + term, list(ell[len(ell) - k:]) + shape
        terms.append("".join(term))
        shapes.append(tuple(shape))
        used += [c for c in term if c != "..."]
    eq = ",".join(terms)
    if rng.random() < 0.6:
        out = [c for c in dict.fromkeys(used) if rng.random() < 0.5]
        rng.shuffle(out)
        eq += "->" + ("..." if any("..." in t for t in terms) else "") + "".join(out)
    return eq, shapes


def test_einsum_random_equations_match_torch(rng):
    checked = 0
    for _ in range(40):
        eq, shapes = _random_equation(rng)
        arrays = _arrays(shapes, "float64", rng)
        t_leaves, t_out = _run(torch, eq, arrays, True)
        n_leaves, n_out = _run(numtorch, eq, arrays, True)
        assert tuple(n_out.shape) == tuple(t_out.shape), eq
        np.testing.assert_allclose(n_out.detach().numpy(), t_out.detach().numpy(),
                                   rtol=1e-12, atol=1e-13, err_msg=eq)
        seed = rng.standard_normal(tuple(t_out.shape))
        (n_out * numtorch.tensor(seed)).sum().backward()
        (t_out * torch.tensor(seed)).sum().backward()
        for n, t in zip(n_leaves, t_leaves):
            np.testing.assert_allclose(n.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-13,
                                       err_msg=eq)
        checked += 1
    assert checked == 40
