"""Family 2: gradients of the wrong shape or dtype, written once for either module.

``grad_case(mod, info, arrays, kind)`` runs one differentiable op of the table on float64 leaves
and feeds a wrong gradient into its backward in one of these ways (``KINDS``):

- ``hook:*``  a tensor hook on the op's output returns it (PyTorch: "hook ... has changed the
  size/type of value");
- ``fn:*``    a custom ``autograd.Function`` applied to the output returns it from backward
  (PyTorch: "returned an invalid gradient at index 0 - got [..] but expected shape compatible
  with [..]"; a gradient that broadcasts to a larger shape is summed, another dtype is cast);
- ``leaf:*``  a hook on the op's first input (a leaf) returns it.

``grad_step_case(mod, opt, kind)`` assigns a bad ``.grad`` to a parameter and steps an optimizer.
Both return ``("ok", arrays)`` or ``("raise", exception summary)``; the parent runs them with
torch and compares with numtorch's outcome from the sandbox (``compare``).
"""
import warnings

import numpy as np

from . import optable as OT
from .opfuzz import _exc

KINDS = ("hook:more", "hook:fewer", "hook:dtype",
         "fn:more", "fn:fewer", "fn:flat", "fn:expandable", "fn:dtype",
         "leaf:more", "leaf:dtype")


def wrong_shape(shape, how):
    shape = tuple(shape)
    if how == "more":
        return shape[:-1] + (shape[-1] + 1,) if shape else (2,)
    if how == "fewer":
        if not shape:
            return (0,)
        return shape[:-1] + (shape[-1] - 1,) if shape[-1] > 0 else shape[:-1]
    if how == "flat":
        n = int(np.prod(shape)) if shape else 1
        return (n,) if len(shape) != 1 else (1, n)
    if how == "expandable":
        return (2,) + shape
    return shape


def _wrong(mod, g, how):
    if how == "dtype":
        return mod.full(tuple(g.shape), 0.5, dtype=mod.float32)
    return mod.full(wrong_shape(g.shape, how), 0.5, dtype=g.dtype)


_BAD = {}


def _bad_function(mod):
    """``Bad.apply(x, how)``: identity forward; backward returns a wrong gradient for x."""
    if mod not in _BAD:
        class Bad(mod.autograd.Function):
            @staticmethod
            def forward(ctx, x, how):
                ctx.how = how
                return x.clone()

            @staticmethod
            def backward(ctx, g):
                return _wrong(mod, g, ctx.how), None
        _BAD[mod] = Bad
    return _BAD[mod]


def sample_arrays(info, seed=0):
    """float64 inputs of the entry's non-empty sample (``_gc_sample`` of test_ops.py)."""
    sample = OT.gc_sample(info)
    if sample is None:
        return None
    return OT.T._make_arrays(info, sample, "float64", np.random.default_rng(seed), False)


def grad_case(mod, info, arrays, kind):
    where, how = kind.split(":")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            leaves, inputs = OT.T._build(mod, arrays, True)
            outs = info.fn(mod, *inputs)
            outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
            out = next(o for o in outs if isinstance(o, mod.Tensor) and o.requires_grad)
            if where == "hook":
                out.register_hook(lambda g: _wrong(mod, g, how))
            elif where == "leaf":
                leaf = next(lf for lf in leaves if lf is not None)
                leaf.register_hook(lambda g: _wrong(mod, g, how))
            else:
                out = _bad_function(mod).apply(out, how)
            out.sum().backward()
            return "ok", [None if lf is None or lf.grad is None else
                          np.array(lf.grad.detach().numpy(), copy=True) for lf in leaves]
        except Exception as e:  # noqa: BLE001 -- compared with torch's
            return "raise", _exc(e)


# --- .grad of the wrong shape/dtype, then optimizer.step() -------------------------------------
OPTIMIZERS = {
    "SGD": lambda t, ps: t.optim.SGD(ps, lr=0.1, momentum=0.9),
    "SGD-nesterov": lambda t, ps: t.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                              weight_decay=0.01),
    "Adam": lambda t, ps: t.optim.Adam(ps, lr=0.01),
    "Adam-amsgrad": lambda t, ps: t.optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=0.1),
    "AdamW": lambda t, ps: t.optim.AdamW(ps, lr=0.01),
    "RMSprop": lambda t, ps: t.optim.RMSprop(ps, lr=0.01),
    "RMSprop-centered": lambda t, ps: t.optim.RMSprop(ps, lr=0.01, momentum=0.9, centered=True),
    "Adagrad": lambda t, ps: t.optim.Adagrad(ps, lr=0.1),
    "Adadelta": lambda t, ps: t.optim.Adadelta(ps, lr=1.0, weight_decay=0.01),
    "Adamax": lambda t, ps: t.optim.Adamax(ps, lr=0.01),
    "NAdam": lambda t, ps: t.optim.NAdam(ps, lr=0.01),
    "RAdam": lambda t, ps: t.optim.RAdam(ps, lr=0.01),
    "ASGD": lambda t, ps: t.optim.ASGD(ps, lr=0.01, t0=1),
    "LBFGS": lambda t, ps: t.optim.LBFGS(ps, lr=0.5, max_iter=3),
}


def step(mod, opt, params):
    """``opt.step()``; LBFGS gets the closure it needs (a quadratic loss over ``params``)."""
    if type(opt).__name__ != "LBFGS":
        return opt.step()

    def closure():
        opt.zero_grad()
        loss = sum(((p - 0.5) ** 2).sum() for p in params)
        loss.backward()
        return loss
    return opt.step(closure)

GRAD_KINDS = ("transposed", "flat", "broadcastable", "float64", "int64", "list", "ndarray",
              "noncontig_ok", "expanded_ok")


def _params(mod):
    rng = np.random.default_rng(7)
    w = mod.nn.Parameter(mod.tensor(rng.standard_normal((3, 4)).astype(np.float32)))
    b = mod.nn.Parameter(mod.tensor(rng.standard_normal(4).astype(np.float32)))
    return w, b


def _bad_grad(mod, kind):
    rng = np.random.default_rng(8)
    g = rng.standard_normal((3, 4)).astype(np.float32)
    return {
        "transposed": lambda: mod.tensor(g.T.copy()),
        "flat": lambda: mod.tensor(g.reshape(-1)),
        "broadcastable": lambda: mod.tensor(g[:1]),
        "float64": lambda: mod.tensor(g.astype(np.float64)),
        "int64": lambda: mod.tensor((g * 4).astype(np.int64)),
        "list": lambda: g.tolist(),
        "ndarray": lambda: g,
        "noncontig_ok": lambda: mod.tensor(g.T.copy()).t(),
        "expanded_ok": lambda: mod.tensor(g[:1]).expand(3, 4),
    }[kind]()


def grad_step_case(mod, opt_name, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            w, b = _params(mod)
            opt = OPTIMIZERS[opt_name](mod, [w, b])
            b.grad = mod.full((4,), 0.25)
            w.grad = _bad_grad(mod, kind)
            step(mod, opt, [w, b])
            step(mod, opt, [w, b])
            return "ok", [np.array(p.detach().numpy(), copy=True) for p in (w, b)]
        except Exception as e:  # noqa: BLE001
            return "raise", _exc(e)


# --- comparing ---------------------------------------------------------------------------------
def compare(t, n, rtol=1e-7, atol=1e-10):
    """None when numtorch's outcome matches torch's, else what differs."""
    if t[0] == "raise":
        if n[0] != "raise":
            return f"torch raised {t[1]['type']} ({t[1]['message'][:140]}) but numtorch returned"
        if t[1]["bases"][0] not in n[1]["bases"]:
            return (f"torch raised {t[1]['type']} ({t[1]['message'][:100]}), numtorch "
                    f"{n[1]['type']} ({n[1]['message'][:160]})")
        return None
    if n[0] == "raise":
        return f"numtorch raised {n[1]['type']}: {n[1]['message'][:200]} (torch returned)"
    for j, (a, e) in enumerate(zip(n[1], t[1])):
        if (a is None) != (e is None):
            return f"result {j}: numtorch {'None' if a is None else 'a value'}, torch not"
        if a is None:
            continue
        if a.shape != e.shape or a.dtype != e.dtype:
            return f"result {j}: {a.dtype}{list(a.shape)}, torch {e.dtype}{list(e.shape)}"
        if not np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
            return f"result {j}: values differ (max abs diff {np.nanmax(np.abs(a - e)):.3g})"
    return None
