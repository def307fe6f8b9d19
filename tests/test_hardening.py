"""Regression tests of the hardening probe (issue 13): bad input reaching a kernel raises a clean
PyTorch error instead of corrupting memory or giving a silently wrong gradient.

1. optimizer state of the wrong size/dtype (``load_state_dict``) and a wrong ``p.grad``;
2. gradients of the wrong shape/dtype from hooks, custom backwards and ``.grad`` assignment;
3. whole-tensor in-place overwrites (``copy_``, ``fill_``, ``normal_``...) of a non-leaf, and
   targets/indices modified between forward and backward;
4. negative indices in gather/scatter/index_select/index_add/index_copy.

A case whose failure mode was a crash (segfault) runs in a subprocess, so that a regression fails
one test instead of killing the run. torch, where installed, is the reference for messages and
values; numtorch's behaviour is asserted on its own too.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import numtorch as nt

try:
    import torch
except ImportError:  # the torch comparisons are skipped; numtorch's own asserts still run
    torch = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBS = [nt] + ([torch] if torch is not None else [])


def run_isolated(code):
    """Run ``code`` in a fresh interpreter; return its stdout (a crash fails the test)."""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, timeout=60,
                       capture_output=True, text=True)
    assert r.returncode == 0, f"exit code {r.returncode}\n{r.stdout}\n{r.stderr[-3000:]}"
    return r.stdout


def raises(fn):
    """(type, message) of the exception ``fn()`` raises (fails if it returns)."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 (the type is what is compared)
        return type(e), str(e)
    raise AssertionError("no exception raised")


def both(fn):
    """``fn(lib)`` for numtorch and, where installed, torch."""
    return [fn(lib) for lib in LIBS]


# --- 1. optimizer state ------------------------------------------------------------------------
def test_sgd_momentum_buffer_of_wrong_size_raises_not_crashes():
    out = run_isolated("""
        import numtorch as torch
        p = torch.nn.Parameter(torch.zeros(10**6)); p.grad = torch.ones(10**6)
        opt = torch.optim.SGD([p], lr=0.1, momentum=0.9); opt.step()
        sd = opt.state_dict(); sd["state"][0]["momentum_buffer"] = torch.ones(3)
        opt.load_state_dict(sd)
        try:
            opt.step()
        except RuntimeError as e:
            print("RuntimeError:", e)
    """)
    assert "RuntimeError:" in out and "'momentum_buffer'" in out and "parameter 0" in out
    assert "[3]" in out and "[1000000]" in out


OPTIMIZERS = [
    ("SGD", dict(lr=0.1, momentum=0.9), "momentum_buffer"),
    ("Adam", dict(lr=0.1), "exp_avg"),
    ("Adam", dict(lr=0.1), "exp_avg_sq"),
    ("Adam", dict(lr=0.1, amsgrad=True), "max_exp_avg_sq"),
    ("AdamW", dict(lr=0.1), "exp_avg"),
    ("Adagrad", dict(lr=0.1), "sum"),
    ("RMSprop", dict(lr=0.1), "square_avg"),
    ("RMSprop", dict(lr=0.1, centered=True), "grad_avg"),
    ("RMSprop", dict(lr=0.1, momentum=0.5), "momentum_buffer"),
]


def _stepped(lib, name, kw, n=10):
    other = lib.nn.Parameter(lib.zeros(2))
    p = lib.nn.Parameter(lib.zeros(n))
    p.grad = lib.ones(n)
    other.grad = lib.ones(2)
    opt = getattr(lib.optim, name)([other, p], **kw)
    opt.step()
    return opt, p


@pytest.mark.parametrize("name, kw, key", OPTIMIZERS)
def test_loaded_state_of_wrong_size_raises_at_step(name, kw, key):
    def attempt(lib):
        opt, p = _stepped(lib, name, kw)
        sd = opt.state_dict()
        sd["state"][1][key] = lib.ones(3)
        opt.load_state_dict(sd)  # PyTorch accepts it here; step fails
        before = p.detach().clone()
        exc = raises(opt.step)
        assert lib.equal(p.detach(), before) if lib is nt else True
        return exc

    got = both(attempt)
    for exc, msg in got:
        assert exc is RuntimeError
    msg = got[0][1]
    assert f"'{key}'" in msg and "parameter 1" in msg and "[3]" in msg and "[10]" in msg


@pytest.mark.parametrize("name, kw, key", OPTIMIZERS)
@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_load_state_dict_casts_state_to_the_parameter_dtype(name, kw, key, dtype):
    def loaded(lib):
        opt, p = _stepped(lib, name, kw)
        sd = opt.state_dict()
        sd["state"][1][key] = lib.ones(10, dtype=getattr(lib, dtype))
        opt.load_state_dict(sd)
        opt.step()  # and the kernel takes it
        return str(opt.state[p][key].dtype)

    assert set(both(loaded)) == {"torch.float32"}


def test_state_assigned_with_another_dtype_raises_naming_the_key():
    opt, p = _stepped(nt, "SGD", dict(lr=0.1, momentum=0.9))
    opt.state[p]["momentum_buffer"] = nt.ones(10, dtype=nt.float64)
    with pytest.raises(RuntimeError, match="'momentum_buffer' of parameter 1.*float64"):
        opt.step()
    opt.state[p]["momentum_buffer"] = 0.5
    with pytest.raises(RuntimeError, match="must be a Tensor"):
        opt.step()


def test_rmsprop_option_switched_on_later_finds_no_buffer():
    # the kernel would index the empty placeholder of the missing buffer: KeyError, as torch
    for lib in LIBS:
        opt, p = _stepped(lib, "RMSprop", dict(lr=0.1))
        opt.param_groups[0]["centered"] = True
        with pytest.raises(KeyError):
            opt.step()
        opt.param_groups[0]["centered"] = False
        opt.param_groups[0]["momentum"] = 0.9
        with pytest.raises(KeyError):
            opt.step()


def test_grad_that_no_longer_fits_its_parameter_raises_at_step():
    p = nt.nn.Parameter(nt.zeros(4))
    p.grad = nt.ones(4)
    p.data = nt.zeros(5)  # the grad keeps the old shape
    with pytest.raises(RuntimeError, match=r"gradient of shape \(4,\).*\(5,\)"):
        nt.optim.SGD([p], lr=0.1).step()
    p.data = nt.zeros(4, dtype=nt.float64)
    with pytest.raises(RuntimeError, match="gradient of dtype torch.float32"):
        nt.optim.Adam([p], lr=0.1).step()


# --- 2. gradients entering a backward ----------------------------------------------------------
def test_max_pool2d_hook_of_wrong_size_raises_not_crashes():
    out = run_isolated("""
        import numtorch as torch
        x = torch.randn(2, 3, 64, 64, requires_grad=True)
        y = torch.nn.functional.max_pool2d(x, 2)
        y.register_hook(lambda g: torch.ones(g.numel() * 4))
        try:
            y.sum().backward()
        except RuntimeError as e:
            print("RuntimeError:", e)
    """)
    assert "RuntimeError: hook '<lambda>' has changed the size of value" in out


def test_gradient_for_a_tensor_whose_data_was_replaced_raises_not_crashes():
    # the consumer records the new shape, the pooling node the old one: the engine refuses
    out = run_isolated("""
        import numtorch as torch
        x = torch.randn(2, 3, 8, 8, requires_grad=True)
        y = torch.nn.functional.max_pool2d(x, 2)
        y.data = torch.zeros(2, 3, 64, 64)
        try:
            (y * 2).sum().backward()
        except RuntimeError as e:
            print("RuntimeError:", e)
    """)
    assert "RuntimeError: Function MaxPool" in out and "[2, 3, 64, 64]" in out


POOLS = {
    "max_pool2d": lambda lib, x: lib.nn.functional.max_pool2d(x, 2),
    "avg_pool2d": lambda lib, x: lib.nn.functional.avg_pool2d(x, 2),
    "adaptive_avg_pool2d": lambda lib, x: lib.nn.functional.adaptive_avg_pool2d(x, 3),
    "gather": lambda lib, x: x.gather(1, lib.zeros(2, 1, 8, 8, dtype=lib.int64)),
    "index_select": lambda lib, x: x.index_select(3, lib.tensor([0, 7])),
}
BAD_HOOKS = {
    "bigger": (lambda lib, g: lib.ones(g.numel() * 4), "has changed the size of value"),
    "same_numel": (lambda lib, g: lib.ones(g.numel()), "has changed the size of value"),
    "transposed": (lambda lib, g: g.transpose(-1, -2).contiguous() if g.shape[-1] != g.shape[-2]
                   else g.reshape(-1), "has changed the size of value"),
    "dtype": (lambda lib, g: g.double(),
              "has changed the type of value (was torch.FloatTensor got torch.DoubleTensor)"),
}


@pytest.mark.parametrize("hook", BAD_HOOKS)
@pytest.mark.parametrize("op", POOLS)
def test_hook_that_changes_its_gradient_raises(op, hook):
    make, msg = BAD_HOOKS[hook]

    def attempt(lib):
        x = lib.randn(2, 3, 8, 8, requires_grad=True)
        y = POOLS[op](lib, x)
        y.register_hook(lambda g: make(lib, g))
        return raises(lambda: y.sum().backward())

    for exc, m in both(attempt):
        assert exc is RuntimeError and m == "hook '<lambda>' " + msg


def test_hook_on_a_leaf_and_named_hooks_and_non_tensors():
    def named_hook(g):
        return g[:1]

    for lib in LIBS:
        x = lib.randn(2, 3, requires_grad=True)
        x.register_hook(named_hook)
        with pytest.raises(RuntimeError, match="hook 'named_hook' has changed the size of value"):
            (x * 2).sum().backward()
        y = lib.randn(2, 3, requires_grad=True) * 2
        y.register_hook(lambda g: 3.0)
        with pytest.raises(TypeError, match="expected Variable, but hook returned 'float'"):
            y.sum().backward()
    # a hook that keeps shape, dtype and device still replaces the gradient
    x = nt.ones(3, requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    assert x.grad.tolist() == [20.0, 20.0, 20.0]


def _custom(lib, ret):
    class Bad(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return None, g, ret(lib, g)
    return Bad


@pytest.mark.parametrize("ret, got", [
    (lambda lib, g: lib.ones(4), [4]),
    (lambda lib, g: lib.ones(3), [3]),
    (lambda lib, g: lib.ones(1, 3), [1, 3]),
    (lambda lib, g: lib.ones(3, 2), [3, 2]),          # same numel, another shape
    (lambda lib, g: lib.tensor(1.0), []),
])
def test_custom_backward_of_wrong_shape_raises(ret, got):
    def attempt(lib):
        x = lib.randn(2, 3, requires_grad=True)
        y = lib.randn(2, 3, requires_grad=True)
        return raises(lambda: _custom(lib, ret).apply(7, x, y).sum().backward())

    want = (f"Function BadBackward returned an invalid gradient at index 1 - got {got} but "
            "expected shape compatible with [2, 3]")
    for exc, msg in both(attempt):
        assert exc is RuntimeError and msg == want


def test_custom_backward_broadcastable_or_other_dtype_is_fitted():
    for lib in LIBS:
        x = lib.randn(2, 3, requires_grad=True)
        y = lib.randn(2, 3, requires_grad=True)
        _custom(lib, lambda lib, g: lib.ones(5, 2, 3, dtype=lib.float64)).apply(
            7, x, y).sum().backward()
        assert y.grad.dtype == lib.float32 and y.grad.tolist() == [[5.0] * 3] * 2
        x.grad = y.grad = None
        _custom(lib, lambda lib, g: lib.ones(1, 2, 3, dtype=lib.int64)).apply(
            7, x, y).sum().backward()
        assert y.grad.dtype == lib.float32 and y.grad.tolist() == [[1.0] * 3] * 2
        with pytest.raises(RuntimeError, match=r"expected Variable or None \(got float\)"):
            _custom(lib, lambda lib, g: 3.0).apply(7, x, y).sum().backward()


@pytest.mark.parametrize("bad", [
    lambda lib: lib.ones(3),
    lambda lib: lib.ones(2, 2),
    lambda lib: lib.ones(4, dtype=lib.float64),
    lambda lib: lib.ones(4, dtype=lib.int64),
    lambda lib: 3,
    "self",
])
def test_assigned_grad_is_checked(bad):
    def attempt(lib):
        p = lib.zeros(4, requires_grad=True)
        g = p if bad == "self" else bad(lib)
        return raises(lambda: setattr(p, "grad", g))

    got = both(attempt)
    if torch is not None:
        assert got[0][0] is got[1][0]
        assert got[1][1].startswith(got[0][1].rstrip(".")), (got[0][1], got[1][1])
    assert got[0][0] in (RuntimeError, TypeError)
    p = nt.zeros(4, requires_grad=True)
    p.grad = nt.ones(4)
    p.grad = None
    assert p.grad is None


# --- 3. overwrites and saved targets/indices ---------------------------------------------------
OVERWRITES = {
    "copy_": lambda lib, y: y.copy_(lib.zeros(3)),
    "copy_broadcast": lambda lib, y: y.copy_(lib.tensor(5.0)),
    "fill_": lambda lib, y: y.fill_(1.5),
    "zero_": lambda lib, y: y.zero_(),
    "normal_": lambda lib, y: y.normal_(),
    "uniform_": lambda lib, y: y.uniform_(),
    "exponential_": lambda lib, y: y.exponential_(),
    "bernoulli_": lambda lib, y: y.bernoulli_(0.5),
    "random_": lambda lib, y: y.random_(0, 5),
    "eq_": lambda lib, y: y.eq_(2.0),
    "setitem_all": lambda lib, y: y.__setitem__(slice(None), 0.0),
    "setitem_ellipsis": lambda lib, y: y.__setitem__(Ellipsis, lib.zeros(3)),
}


@pytest.mark.parametrize("op", OVERWRITES)
def test_overwrite_of_a_non_leaf_cuts_its_old_history(op):
    def grads(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        OVERWRITES[op](lib, y)
        assert y.requires_grad and y.grad_fn is not None
        (y * x).sum().backward()  # only the new values' use of x counts
        return x.grad.tolist(), y.detach().tolist()

    got = both(grads)
    gx, yv = got[0]
    assert gx == yv  # d(sum(y * x))/dx = y: the overwritten values, no trace of the old 2x
    if torch is not None and not op.endswith(("normal_", "uniform_", "exponential_",
                                               "bernoulli_", "random_")):
        assert got[1][0] == gx


def test_partial_overwrite_keeps_the_other_elements_history():
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        y[:1] = 0.0
        y.sum().backward()
        assert x.grad.tolist() == [0.0, 2.0, 2.0]


def test_copy_from_a_tensor_with_history_routes_the_gradient_to_it():
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        s = lib.ones(3, requires_grad=True)
        y = x * 2
        y.copy_(s * 5)
        y.sum().backward()
        assert x.grad.tolist() == [0.0, 0.0, 0.0] and s.grad.tolist() == [5.0, 5.0, 5.0]


def test_overwrite_then_double_backward():
    x = nt.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.fill_(3.0)
    g, = nt.autograd.grad((y * x * x).sum(), x, create_graph=True)
    assert g.tolist() == [6.0, 12.0]
    gg, = nt.autograd.grad(g.sum(), x)
    assert gg.tolist() == [6.0, 6.0]


def _ce(lib, modify):
    x = lib.randn(3, 4, requires_grad=True)
    t = lib.tensor([0, 1, 2])
    w = lib.ones(4)
    loss = lib.nn.functional.cross_entropy(x, t, weight=w)
    modify(t, w)
    return raises(loss.backward)


@pytest.mark.parametrize("modify", [lambda t, w: t.__setitem__(0, 3),
                                    lambda t, w: t.fill_(1),
                                    lambda t, w: w.mul_(2)])
def test_cross_entropy_target_or_weight_modified_before_backward_raises(modify):
    for exc, msg in both(lambda lib: _ce(lib, modify)):
        assert exc is RuntimeError and "modified by an inplace operation" in msg


def test_cross_entropy_target_untouched_still_differentiates():
    x = nt.randn(3, 4, requires_grad=True)
    t = nt.tensor([0, 1, 2])
    nt.nn.functional.cross_entropy(x, t).backward()
    p = x.detach().softmax(1).numpy()
    p[np.arange(3), [0, 1, 2]] -= 1
    np.testing.assert_allclose(x.grad.numpy(), p / 3, rtol=1e-5, atol=1e-6)


INDEXED = {
    "gather": (lambda lib, x, s, i1, i2: x.gather(1, i2), 2),
    "scatter": (lambda lib, x, s, i1, i2: x.scatter(1, i2, s), 2),
    "scatter_add": (lambda lib, x, s, i1, i2: x.scatter_add(1, i2, s), 2),
    "index_select": (lambda lib, x, s, i1, i2: x.index_select(1, i1), 1),
    "index_add": (lambda lib, x, s, i1, i2: x.index_add(1, i1, s), 1),
    "index_copy": (lambda lib, x, s, i1, i2: x.index_copy(1, i1, s), 1),
    "index_put": (lambda lib, x, s, i1, i2: x.index_put((lib.tensor([0, 1]), i1), s[0]), 1),
    "take": (lambda lib, x, s, i1, i2: x.take(i1), 1),
}


@pytest.mark.parametrize("op", INDEXED)
def test_index_modified_before_backward_raises(op):
    fwd, which = INDEXED[op]

    def attempt(lib):
        x = lib.arange(10.0).reshape(2, 5).requires_grad_()
        s = lib.ones(2, 2, requires_grad=True)
        i1, i2 = lib.tensor([0, 3]), lib.tensor([[0, 1], [2, 3]])
        y = fwd(lib, x, s, i1, i2)
        (i1 if which == 1 else i2).fill_(1)
        return raises(lambda: y.sum().backward())

    for exc, msg in both(attempt):
        assert exc is RuntimeError and "modified by an inplace operation" in msg


# --- 4. negative indices -----------------------------------------------------------------------
def _x(lib):
    return lib.arange(10.0).reshape(2, 5)


NEGATIVE = {
    "gather": lambda lib, i: lib.gather(_x(lib), 1, lib.tensor([[0, i]])),
    "scatter": lambda lib, i: lib.scatter(_x(lib), 1, lib.tensor([[0, i]]), lib.ones(1, 2)),
    "scatter_value": lambda lib, i: lib.scatter(_x(lib), 1, lib.tensor([[0, i]]), 1.0),
    "scatter_": lambda lib, i: _x(lib).scatter_(1, lib.tensor([[0, i]]), lib.ones(1, 2)),
    "scatter_add": lambda lib, i: lib.scatter_add(_x(lib), 1, lib.tensor([[0, i]]),
                                                  lib.ones(1, 2)),
    "gather_1d": lambda lib, i: lib.gather(lib.arange(5.0), 0, lib.tensor([i])),
    "index_select": lambda lib, i: lib.index_select(_x(lib), 0, lib.tensor([0, i])),
    "index_select_1d": lambda lib, i: lib.index_select(lib.arange(5.0), 0, lib.tensor([i])),
    "index_add": lambda lib, i: lib.index_add(_x(lib), 1, lib.tensor([0, i]), lib.ones(2, 2)),
    "index_add_": lambda lib, i: _x(lib).index_add_(1, lib.tensor([0, i]), lib.ones(2, 2)),
    "index_copy": lambda lib, i: lib.index_copy(_x(lib), 1, lib.tensor([0, i]), lib.ones(2, 2)),
    "index_copy_": lambda lib, i: _x(lib).index_copy_(1, lib.tensor([0, i]), lib.ones(2, 2)),
}


@pytest.mark.parametrize("bad", [-1, -6, 5])
@pytest.mark.parametrize("op", NEGATIVE)
def test_negative_index_is_out_of_bounds(op, bad):
    got = both(lambda lib: raises(lambda: NEGATIVE[op](lib, bad)))
    exc, msg = got[0]
    dim = 0 if op.endswith("_1d") or op == "index_select" else 1
    size = 2 if op == "index_select" else 5
    tail = f"index {bad} is out of bounds for dimension {dim} with size {size}"
    if op.startswith(("gather", "scatter", "index_add")):
        assert issubclass(exc, RuntimeError) and msg == tail
    elif op.startswith("index_copy"):
        assert exc is IndexError and msg == "index_copy_(): " + tail
    else:
        assert exc is IndexError and msg.startswith("index out of range in self") and tail in msg
    if torch is not None:
        assert issubclass(exc, got[1][0])
        if not op.startswith("index_select"):  # torch's own message differs by path there
            assert msg == got[1][1]


ACCEPT_NEGATIVE = {
    "getitem": lambda lib: _x(lib)[:, lib.tensor([0, -1, -5])],
    "take": lambda lib: lib.take(_x(lib), lib.tensor([0, -1, -10])),
    "put_": lambda lib: _x(lib).put_(lib.tensor([-1, -10]), lib.tensor([-1.0, -2.0])),
    "index_fill": lambda lib: lib.index_fill(_x(lib), 1, lib.tensor([0, -1]), -1.0),
    "index_put": lambda lib: lib.index_put(_x(lib), (lib.tensor([-1]), lib.tensor([-2])),
                                           lib.tensor(7.0)),
}


@pytest.mark.parametrize("op", ACCEPT_NEGATIVE)
def test_ops_that_count_negative_indices_from_the_end(op):
    got = both(lambda lib: ACCEPT_NEGATIVE[op](lib).tolist())
    want = {"getitem": [[0.0, 4.0, 0.0], [5.0, 9.0, 5.0]], "take": [0.0, 9.0, 0.0],
            "put_": [[-2.0, 1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0, -1.0]],
            "index_fill": [[-1.0, 1.0, 2.0, 3.0, -1.0], [-1.0, 6.0, 7.0, 8.0, -1.0]],
            "index_put": [[0.0, 1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 7.0, 9.0]]}[op]
    assert all(g == want for g in got)


def test_take_gradient_with_negative_indices():
    x = nt.arange(4.0, requires_grad=True)
    nt.take(x, nt.tensor([-1, -1, 0])).sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 0.0, 2.0]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_check_index_kernel_with_and_without_negatives(device):
    if device == "cuda" and not nt.cuda.is_available():
        pytest.skip("no CUDA (nor its simulator)")
    from numtorch import kernels
    K = kernels.load(device)
    for idx, size, with_neg, without in [([0, 4, -5, -1, 3], 5, -1, 2), ([0, 1, 2], 3, -1, -1),
                                         ([2, -6, 7], 5, 1, 1), ([0], 0, 0, 0),
                                         ([np.iinfo(np.int64).min], 5, 0, 0)]:
        a = np.array(idx, np.int64)
        a = K.memory.to_device(a) if device == "cuda" else a
        assert K.index.check_index(a, size) == with_neg, (idx, size)
        assert K.index.check_index(a, size, True) == with_neg, (idx, size)
        assert K.index.check_index(a, size, False) == without, (idx, size)


def test_gather_negative_index_on_cuda():
    if not nt.cuda.is_available():
        pytest.skip("no CUDA (nor its simulator)")
    x = nt.arange(10.0, device="cuda").reshape(2, 5)
    with pytest.raises(RuntimeError, match="index -1 is out of bounds for dimension 1 with size 5"):
        nt.gather(x, 1, nt.tensor([[0, -1]], device="cuda"))
    with pytest.raises(RuntimeError, match="index -2 is out of bounds for dimension 1"):
        nt.zeros(2, 5, device="cuda").index_add_(1, nt.tensor([-2], device="cuda"),
                                                  nt.ones(2, 1, device="cuda"))


def test_op_table_has_no_negative_index_rows_for_ops_that_refuse_them():
    import test_ops
    refuse = {"gather", "scatter", "scatter_add", "index_select", "index_add", "index_copy",
              "Tensor.scatter_", "Tensor.scatter_add_", "Tensor.index_add_", "Tensor.index_copy_"}
    for info in test_ops.OPS:
        if info.op in refuse:
            for sample in info.samples:
                for spec in sample:
                    assert not getattr(spec, "neg", False), info.name


def test_same_shape_strided_hook_gradients_are_read_correctly():
    # the engine checks shape/dtype/device only: strided and expanded gradients stay valid
    xv = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    for make in (lambda lib, g: lib.ones(1).expand(g.shape),
                 lambda lib, g: lib.arange(g.numel() * 2.0).reshape(2, 3, 2, 4)[..., ::2]):
        got = []
        for lib in LIBS:
            x = lib.tensor(xv, requires_grad=True)
            y = lib.nn.functional.max_pool2d(x, 2)
            y.register_hook(lambda g, lib=lib: make(lib, g))
            y.sum().backward()
            got.append(x.grad.tolist())
        want = np.zeros((2, 3, 4, 4), np.float32)
        g = np.asarray(make(nt, nt.zeros(2, 3, 2, 2)).tolist(), np.float32)
        win = xv.reshape(2, 3, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 2, 2, 4)
        k = win.argmax(-1)
        for i, j, a, b in np.ndindex(2, 3, 2, 2):
            want[i, j, 2 * a + k[i, j, a, b] // 2, 2 * b + k[i, j, a, b] % 2] = g[i, j, a, b]
        for gx in got:
            np.testing.assert_allclose(gx, want)


def test_device_mismatches_raise():
    if not nt.cuda.is_available():
        pytest.skip("no CUDA (nor its simulator)")

    class ToCpu(nt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.cpu()

    x = nt.ones(3, device="cuda", requires_grad=True)
    with pytest.raises(RuntimeError, match="returned an invalid gradient at index 0 - expected "
                                           "device cuda:0 but got cpu"):
        ToCpu.apply(x).sum().backward()
    y = x * 2
    y.register_hook(lambda g: g.cpu())
    with pytest.raises(RuntimeError, match=r"hook '<lambda>' has changed the type of value "
                                           r"\(was torch.cuda.FloatTensor got torch.FloatTensor\)"):
        y.sum().backward()
    with pytest.raises(RuntimeError, match="gradient with device type 'cpu' to a tensor with "
                                           "device type 'cuda'"):
        x.grad = nt.ones(3)
    p = nt.nn.Parameter(nt.zeros(3, device="cuda"))
    p.grad = nt.ones(3, device="cuda")
    opt = nt.optim.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    opt.state[p]["momentum_buffer"] = nt.ones(3)
    with pytest.raises(RuntimeError, match="device mismatch for optimizer state "
                                           "'momentum_buffer' of parameter 0"):
        opt.step()
    sd = opt.state_dict()
    opt.load_state_dict(sd)  # load moves state to the parameter's device, as PyTorch
    assert opt.state[p]["momentum_buffer"].device == p.device
    opt.step()
