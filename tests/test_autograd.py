"""Autograd semantics: accumulation, reuse, retain/create graph, hooks, grad modes, versions."""
import numpy as np
import pytest

import numtorch as nt


def leaf(*shape, dtype=nt.float64):
    return nt.randn(*shape, dtype=dtype, requires_grad=True)


def test_accumulates_across_backward_calls():
    x = leaf(3)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 5.0))


def test_leaf_keeps_one_accumulator_and_no_cycle():
    import gc
    import weakref
    x = leaf(3)
    acc = (x * 2).grad_fn.next_functions[0][0]
    assert acc.name == "AccumulateGrad" and acc.variable is x
    # the graph above is gone; the next one reaches the same node (made once per leaf)
    assert (x * 3).grad_fn.next_functions[0][0] is acc
    kept = weakref.ref(acc)
    del acc
    assert kept() is not None  # the leaf holds it, not only the graphs
    # the node holds its leaf weakly: with the collector off, dropping the leaf frees it (and its
    # data) at once, even while a graph still reaches the node; that graph's backward then
    # skips the leaf's gradient
    gc.disable()
    try:
        w = leaf(3)
        gone = weakref.ref(w)
        y = (w * 2).sum() + (x * 1).sum()
        del w
        assert gone() is None
        assert y.grad_fn.next_functions[0][0].next_functions[0][0].next_functions[0][0].variable \
            is None
        x.grad = None
        y.backward()
    finally:
        gc.enable()
    np.testing.assert_allclose(x.grad.numpy(), np.ones(3))


def test_forward_runs_with_grad_mode_off_unless_it_only_launches_kernels():
    seen = []

    class Twice(nt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            seen.append(nt.is_grad_enabled())
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class KernelTwice(Twice):  # a promise the built-in elementwise ops make (no inner graph)
        _kernel_forward = True

    x = leaf(3)
    y, z = Twice.apply(x), KernelTwice.apply(x)
    assert seen == [False, True]
    # (the inner x * 2 of KernelTwice recorded a node in vain: the output is still this node's)
    assert y.grad_fn.name == "TwiceBackward" and z.grad_fn.name == "KernelTwiceBackward"
    (y + z).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 4.0))

    class KeepsShape(KernelTwice):  # breaks the promise: keeps something on a no-graph ctx
        @staticmethod
        def forward(ctx, x):
            ctx.shape = x.shape
            return x * 2

    with nt.no_grad():
        with pytest.raises(AttributeError):  # (the shared ctx takes no attributes: no leak)
            KeepsShape.apply(x)


def test_node_reuse_sums_gradients():
    x = leaf(4)
    y = x * x
    z = (y + y * 3).sum()          # y feeds two consumers
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 8 * x.detach().numpy())


def test_second_backward_needs_retain_graph():
    x = leaf(2)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.clone()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * g1.numpy())
    z = (x.exp() * x).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        z.backward()


@pytest.mark.parametrize("fn, d1, d2", [
    (lambda x: x ** 3, lambda x: 3 * x ** 2, lambda x: 6 * x),
    (lambda x: x.sin(), lambda x: np.cos(x), lambda x: -np.sin(x)),
    (lambda x: x.exp() * x, lambda x: np.exp(x) * (x + 1), lambda x: np.exp(x) * (x + 2)),
])
def test_double_backward(fn, d1, d2):
    x = leaf(5)
    xv = x.detach().numpy().copy()
    g, = nt.autograd.grad(fn(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), d1(xv), rtol=1e-10)
    gg, = nt.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), d2(xv), rtol=1e-10)


def test_grad_does_not_touch_dot_grad_and_allow_unused():
    x, y = leaf(3), leaf(3)
    out = (x * 2).sum()
    gx, gy = nt.autograd.grad(out, (x, y), allow_unused=True)
    assert gy is None and x.grad is None
    np.testing.assert_allclose(gx.numpy(), 2.0)
    with pytest.raises(RuntimeError, match="not have been used"):
        nt.autograd.grad((x * 2).sum(), (x, y))


def test_non_scalar_needs_gradient_argument():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(nt.ones(3, dtype=nt.float64))
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        nt.ones(2).sum().backward()


def test_hooks_and_retain_grad():
    x = leaf(3)
    y = x * 2
    y.retain_grad()
    seen = []
    y.register_hook(lambda g: seen.append(g.clone()) or g * 10)
    post = []
    x.register_post_accumulate_grad_hook(lambda t: post.append(t.grad.clone()))
    y.sum().backward()
    np.testing.assert_allclose(seen[0].numpy(), 1.0)
    np.testing.assert_allclose(y.grad.numpy(), 10.0)   # retain_grad sees the hooked gradient
    np.testing.assert_allclose(x.grad.numpy(), 20.0)   # hook multiplied the gradient by 10
    np.testing.assert_allclose(post[0].numpy(), 20.0)
    h = x.register_hook(lambda g: g * 0)
    h.remove()
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1.0)


def test_grad_modes():
    x = leaf(2)
    with nt.no_grad():
        assert not (x * 2).requires_grad
        with nt.enable_grad():
            assert (x * 2).requires_grad
    nt.set_grad_enabled(False)
    assert not (x * 2).requires_grad
    nt.set_grad_enabled(True)

    @nt.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad
    with nt.inference_mode():
        assert not nt.is_grad_enabled()
    assert nt.is_grad_enabled()


def test_inplace_modification_of_saved_tensor_raises():
    x = leaf(3)
    y = x * 1
    z = y.exp()
    w = (z * y).sum()
    y.add_(1)          # y is saved by the multiplication
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        w.backward()


def test_inplace_on_leaf_requiring_grad_raises_and_views_share_version():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    with nt.no_grad():
        x.add_(1)          # optimizers do this
    a = nt.zeros(4, 4)
    v = a[1:3]
    before = a._version
    v.fill_(1)
    assert a._version == v._version == before + 1
    assert a.sum().item() == 8


def test_inplace_on_non_leaf_rebases_history():
    x = leaf(3)
    y = x * 2
    y.mul_(3)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6.0)


def test_deep_graph_has_no_recursion_limit():
    x = nt.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert abs(x.grad.item() - 1.0001 ** 10_000) < 1e-2


def test_custom_function_with_own_numba_kernel():
    import numba

    @numba.njit(cache=True)
    def cube(x, out):
        for i in range(x.size):
            out[i] = x[i] ** 3

    class Cube(nt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            out = np.empty_like(x.detach().numpy())
            cube(x.detach().numpy(), out)
            return nt.from_numpy(out)

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 3 * x * x * g

    x = leaf(4)
    assert nt.autograd.gradcheck(Cube.apply, (x,))
    assert nt.autograd.gradgradcheck(Cube.apply, (x,))
    y = Cube.apply(x)
    assert y.grad_fn.name == "CubeBackward"
    assert y.grad_fn.next_functions[0][0].name == "AccumulateGrad"


def test_function_ctx_features():
    class Split(nt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            idx = nt.arange(x.shape[0])
            ctx.mark_non_differentiable(idx)
            return x * 2, idx

        @staticmethod
        @nt.autograd.once_differentiable
        def backward(ctx, g, gi):
            assert ctx.needs_input_grad == (True,)
            return g * 2

    x = leaf(3)
    y, i = Split.apply(x)
    assert not i.requires_grad and y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


def test_function_apply_takes_forwards_arguments():
    # a forward of plain arguments gets an ``apply`` with those arguments (no *args packing):
    # keywords, defaults, the graph under grad, none without it, and subclasses keep theirs
    class Scale(nt.autograd.Function):
        @staticmethod
        def forward(ctx, x, k=2.0):
            ctx.k = k
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    class Shift(Scale):
        @staticmethod
        def forward(ctx, x, k):
            ctx.k = 1.0
            return x + k

    class Many(nt.autograd.Function):
        @staticmethod
        def forward(ctx, *xs):
            return xs[0] * len(xs)

        @staticmethod
        def backward(ctx, g):
            return g * 3, None, None

    class Own(Scale):
        @classmethod
        def apply(cls, x):
            return super().apply(x, 5.0)

    x = leaf(3)
    assert "k" in __import__("inspect").signature(Scale.apply).parameters
    for y, k in [(Scale.apply(x), 2.0), (Scale.apply(x, 3.0), 3.0), (Scale.apply(x=x, k=4.0), 4.0),
                 (Own.apply(x), 5.0), (Many.apply(x, 1, 2), 3.0)]:
        assert y.requires_grad and y.grad_fn is not None
        x.grad = None
        y.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), k)
    assert Shift.apply(x, 1.0).grad_fn.name == "ShiftBackward"
    np.testing.assert_allclose(Shift.apply(x, 1.0).detach().numpy(), x.detach().numpy() + 1)
    with nt.no_grad():
        assert Scale.apply(x).grad_fn is None
    assert Scale.apply(nt.ones(2)).grad_fn is None
    with pytest.raises(TypeError):
        Scale.apply(x, 1.0, 2.0)


def test_function_apply_by_keyword_in_the_generic_path():
    """A forward that keeps the generic ``apply`` (``*args`` here) takes keywords as PyTorch
    does: in the positional slots of those names, so a tensor passed by keyword gets its
    gradient (it was passed on untracked: no gradient, silently); a keyword that names no
    positional parameter is PyTorch's TypeError."""
    class Mul(nt.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, s=2.0, *rest):
            ctx.save_for_backward(x, y)
            ctx.s = s
            return x * y * s

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * y * ctx.s, g * x * ctx.s, None

    class KeywordOnly(nt.autograd.Function):
        @staticmethod
        def forward(ctx, x, *, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    x, y = leaf(3), leaf(3)
    ones = nt.ones(3, dtype=nt.float64)
    for a, s, out in [(x, 2.0, Mul.apply(x, y=y)), (x, 3.0, Mul.apply(y=y, x=x, s=3.0)),
                      (ones, 2.0, Mul.apply(ones, y=y))]:
        x.grad = y.grad = None
        out.sum().backward()
        np.testing.assert_allclose(y.grad.numpy(), a.detach().numpy() * s)
        if a is x:
            np.testing.assert_allclose(x.grad.numpy(), y.detach().numpy() * s)
        else:
            assert x.grad is None
    with pytest.raises(TypeError, match="unexpected keyword argument 'y'"):
        KeywordOnly.apply(x, y=y)
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        Mul.apply(x, x=y)
    with pytest.raises(TypeError, match="missing required positional argument 'x'"):
        Mul.apply(y=y)

    # every argument a tensor: the generated apply makes the node itself
    class Prod(nt.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, False)
            return g * b, None

    y = leaf(3)
    c = nt.randn(3, dtype=nt.float64)
    p = Prod.apply(y, c)
    assert p.grad_fn.name == "ProdBackward" and p.grad_fn.next_functions[1] == (None, 0)
    assert p.grad_fn.next_functions[0][0].name == "AccumulateGrad"
    (p * 2).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), 2 * c.numpy())
    q = Prod.apply(y * 1, c)  # an edge to a node, output 0
    assert q.grad_fn.next_functions[0][0] is not None and q.grad_fn.next_functions[0][1] == 0


def test_detect_anomaly_names_the_op():
    x = nt.tensor([0.0], dtype=nt.float64, requires_grad=True)
    with nt.autograd.detect_anomaly():
        y = (x.sqrt() * 0).sum()
        with pytest.raises(RuntimeError, match="returned nan"):
            y.backward()


def test_gradcheck_detects_a_wrong_backward():
    class Wrong(nt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        nt.autograd.gradcheck(Wrong.apply, (leaf(3),))


def test_detach_and_requires_grad_rules():
    x = leaf(2)
    d = x.detach()
    assert not d.requires_grad and d._version == x._version
    with pytest.raises(RuntimeError, match="floating point"):
        nt.tensor([1, 2]).requires_grad_()
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    with pytest.raises(RuntimeError, match="requires grad"):
        x.numpy()


def test_inplace_on_a_detached_leaf_is_allowed():
    """detach() cuts a tensor from the graph: writing into it and its views is allowed even for
    a leaf that requires grad (the clamp-the-weights idiom), the leaf sees the write, and a view
    taken from the leaf itself is still refused."""
    w = nt.ones(4, requires_grad=True)
    w.detach().clamp_(0, 0.5)
    w.detach()[1:3].mul_(4)
    np.testing.assert_array_equal(w.detach().numpy(), [0.5, 2.0, 2.0, 0.5])
    assert w.requires_grad and w.is_leaf and w.grad_fn is None
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        w[0:2].mul_(2)
    y = (w * w).sum()  # saves w: a later write through detach() is caught at backward
    w.detach().add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
