"""Family 1: the op table called with generated inputs, numtorch against PyTorch.

A case is a list of inputs ``(kind, base array, layout)``; ``build`` turns it into tensors of
either module the same way: the base is a leaf and the op sees a view of it (``contig``, ``T``
transposed, ``step`` every other row, ``offset`` a storage offset, ``expand`` a stride-0 dim).
The parent runs torch (the oracle); the sandboxed child runs numtorch (``run_numtorch``, by the
op's index in ``OPS``) and sends back ``encode``d outputs and input gradients. ``compare`` says
what differs: numtorch must give torch's result (shape, dtype, values to tolerance, NaN where
torch has NaN, gradients) or raise an exception of the same built-in type.
"""
import warnings

import numpy as np
from hypothesis import strategies as st

import numtorch

from . import optable as OT
from .sandbox import builtin_bases

ALL_DTYPES = ("float32", "float64", "int64", "bool")
FLOAT_SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -2.5, 0.5, 1e4])
INT_SPECIAL = np.array([0, 0, -1, 1, 2, -3, 7, 2 ** 31, -(2 ** 40)], dtype=np.int64)


# --- inputs ----------------------------------------------------------------------------------
def _base_shape(shape, layout):
    if layout[0] == "T":
        return shape[:-2] + (shape[-1], shape[-2])
    if layout[0] == "step":
        return (2 * shape[0],) + shape[1:]
    if layout[0] == "offset":
        return (shape[0] + 1,) + shape[1:] if shape else (2,)
    if layout[0] == "expand":
        d = layout[1]
        return shape[:d] + (1,) + shape[d + 1:]
    return shape


def _view(x, layout, shape):
    if layout[0] == "T":
        return x.transpose(-1, -2)
    if layout[0] == "step":
        return x[::2]
    if layout[0] == "offset":
        return x[1:] if shape else x[1]
    if layout[0] == "expand":
        return x.expand(*shape)
    return x


def build(mod, inputs, requires_grad):
    """(leaves that require grad or None, the op's inputs) for ``mod`` (numtorch or torch)."""
    leaves, views = [], []
    for kind, arr, layout, shape in inputs:
        rg = requires_grad and kind == "data" and arr.dtype.kind == "f"
        x = mod.tensor(arr, requires_grad=rg)
        leaves.append(x if rg else None)
        views.append(x if layout is None else _view(x, layout, shape))
    return leaves, views


def _values(dom, rng, shape, dt, special):
    if dt == "bool":
        return rng.random(shape) < 0.5
    a = np.asarray(dom(rng, shape, dt), dtype=dt)
    if special and a.size:
        pool = FLOAT_SPECIAL.astype(dt) if dt != "int64" else INT_SPECIAL
        pick = rng.random(shape) < 0.6
        a = np.where(pick, rng.choice(pool, size=shape), a).astype(dt)
    return a


# --- strategies ------------------------------------------------------------------------------
_DIM = st.sampled_from((2, 3, 1, 5, 0))
_SHAPE = st.lists(_DIM, min_size=0, max_size=3).map(tuple)


@st.composite
def _broadcast_pair(draw):
    out = draw(st.lists(st.sampled_from((3, 2, 1, 4, 0)), min_size=0, max_size=3).map(tuple))
    shapes = []
    for _ in range(2):
        rank = draw(st.integers(0, len(out)))
        sub = out[len(out) - rank:]
        shapes.append(tuple(n if draw(st.booleans()) else 1 for n in sub))
    if out and draw(st.integers(0, 7)) == 7:  # an incompatible pair: torch raises
        a = list(shapes[0]) if shapes[0] else [3]
        a[-1] = (shapes[1][-1] if shapes[1] else 3) + 2
        shapes[0] = tuple(a)
        if not shapes[1]:
            shapes[1] = (3,)
    return tuple(shapes)


def _layout(draw, shape):
    options = ["contig", "offset"]
    if len(shape) >= 2:
        options.append("T")
    if len(shape) >= 1:
        options += ["step", "expand"]
    name = draw(st.sampled_from(options))
    if name == "expand":
        return ("expand", draw(st.integers(0, len(shape) - 1)))
    return (name,)


@st.composite
def op_case(draw, info):
    """One generated call of ``info``: a dict for :func:`make_inputs`."""
    sample = info.samples[draw(st.integers(0, len(info.samples) - 1))]
    foreign = draw(st.integers(0, 5)) == 5
    dt = draw(st.sampled_from(ALL_DTYPES if foreign else info.dtypes))
    special = draw(st.integers(0, 3)) == 3
    shapes = [OT.spec_shape(s) for s in sample]
    data = [k for k, s in enumerate(sample) if not OT.is_index_spec(s)]
    kind = OT.free_kind(info)
    if kind == "unary":
        shapes[0] = draw(_SHAPE)
    elif kind == "binary":
        shapes[0], shapes[1] = draw(_broadcast_pair())
    mutated = False
    if kind is None and data and draw(st.integers(0, 3)) == 3:  # a 0-/1-sized dim somewhere
        k = draw(st.sampled_from(data))
        if shapes[k]:
            mutated = True
            d = draw(st.integers(0, len(shapes[k]) - 1))
            s = list(shapes[k])
            s[d] = draw(st.sampled_from((0, 1)))
            shapes[k] = tuple(s)
    layouts = {k: _layout(draw, shapes[k]) for k in data}
    has_index = any(isinstance(s, (OT.Idx, OT.Perm)) for s in sample)
    oob = has_index and draw(st.integers(0, 5)) == 5
    return {"sample": sample, "dt": dt, "foreign": foreign, "special": special,
            "shapes": shapes, "layouts": layouts, "oob": oob,
            "index_risk": has_index and (oob or mutated),
            "seed": draw(st.integers(0, 2 ** 32 - 1))}


def make_inputs(info, case):
    """The case's inputs ``[(kind, base array, layout, shape)]`` (numpy, deterministic)."""
    rng = np.random.default_rng(case["seed"])
    inputs, k_data = [], 0
    oob_done = not case["oob"]
    for k, spec in enumerate(case["sample"]):
        shape = case["shapes"][k]
        if OT.is_index_spec(spec):
            arr = spec.make(rng)
            if not oob_done and arr.size and arr.dtype == np.int64:
                flat = arr.reshape(-1)
                flat[rng.integers(flat.size)] = spec.high if rng.random() < 0.5 else -spec.high - 1
                oob_done = True
            inputs.append(("const", arr, None, tuple(arr.shape)))
            continue
        dom = (spec.domain if isinstance(spec, OT.D) else None) or OT.domain(info, k_data)
        k_data += 1
        dt = (spec.dtype if isinstance(spec, OT.D) else None) or case["dt"]
        layout = case["layouts"][k]
        arr = _values(dom, rng, _base_shape(shape, layout), dt, case["special"])
        inputs.append(("data", arr, layout, shape))
    return inputs


def describe(info, case):
    parts = []
    for k, spec in enumerate(case["sample"]):
        if OT.is_index_spec(spec):
            parts.append(f"{type(spec).__name__}{tuple(spec.shape)}")
        else:
            parts.append(f"{case['shapes'][k]}:{'/'.join(map(str, case['layouts'][k]))}")
    flags = [f for f in ("special", "oob", "foreign") if case[f]]
    return (f"{info.name}({', '.join(parts)}) {case['dt']}"
            f"{' [' + ','.join(flags) + ']' if flags else ''} seed={case['seed']}")


# --- running and encoding --------------------------------------------------------------------
def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def encode(mod, outs):
    enc = []
    for o in outs:
        if isinstance(o, mod.Tensor):
            enc.append(("tensor", tuple(o.shape), str(o.dtype).replace("torch.", ""),
                        np.array(o.detach().numpy(), copy=True), bool(o.requires_grad)))
        else:
            enc.append(("value", repr(o)))
    return enc


def _exc(e):
    return {"type": type(e).__name__, "bases": builtin_bases(type(e)), "message": str(e)}


#: Ops whose torch 2.13 kernel reads the wrong elements of an input with a stride-0 (expanded)
#: dim: ``torch.median(torch.randn(1, 4).expand(3, 4), 0)`` returns other columns' values and
#: zeros. torch gets contiguous copies of its inputs for these (numtorch still gets the views).
TORCH_CONTIGUOUS = {"median"}


def run(mod, info, inputs, want_grad, seeds=None):
    """Forward (and backward with ``seeds``) of ``info`` on ``mod``; everything encoded."""
    res = {"forward": None, "grads": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            leaves, views = build(mod, inputs, want_grad)
            if mod is not numtorch and info.op in TORCH_CONTIGUOUS:
                views = [v.contiguous() if isinstance(v, mod.Tensor) else v for v in views]
            outs = _outputs(info.fn(mod, *views))
            res["forward"] = ("ok", encode(mod, outs))
        except Exception as e:  # noqa: BLE001 -- compared with torch's exception
            res["forward"] = ("raise", _exc(e))
            return res
        if not want_grad:
            return res
        diff = [k for k, o in enumerate(outs) if isinstance(o, mod.Tensor) and o.requires_grad]
        if seeds is None:  # torch decides the seeds; numtorch gets them in a second call
            rng = np.random.default_rng(1234)
            seeds = {k: rng.standard_normal(tuple(outs[k].shape)).astype(
                str(outs[k].dtype).replace("torch.", "")) for k in diff}
            res["seeds"] = seeds
        try:
            if sorted(seeds) != diff:
                raise AssertionError(f"outputs requiring grad: {diff}, torch: {sorted(seeds)}")
            loss = sum((outs[k] * mod.tensor(seeds[k])).sum() for k in diff)
            if isinstance(loss, mod.Tensor) and loss.requires_grad:
                loss.backward()
            res["grads"] = ("ok", [None if lf is None or lf.grad is None else
                                   np.array(lf.grad.numpy(), copy=True) for lf in leaves])
        except Exception as e:  # noqa: BLE001
            res["grads"] = ("raise", _exc(e))
    return res


def run_numtorch(op_index, inputs, want_grad, seeds):
    """The child's side (a Sandbox table entry): numtorch on the case."""
    return run(numtorch, OT.OPS[op_index], inputs, want_grad, seeds)


# --- comparing -------------------------------------------------------------------------------
def _same_exception(t_exc, n_exc):
    base = t_exc["bases"][0]
    return base in n_exc["bases"]


def _close(actual, expected, dt, tol, what):
    if actual.dtype.kind in "biu" or expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    rtol, atol = tol.get(dt, DEFAULT_TOLS.get(dt, (1e-5, 1e-6)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True,
                               err_msg=what)


DEFAULT_TOLS = OT.DEFAULT_TOL


_INDEX_ERRORS = {"IndexError", "RuntimeError"}
_UNSTABLE_TIES = ("topk", "sort", "argsort")  # which of tied elements comes first: unspecified


def has_ties(inputs):
    """True when some data input holds a value twice (or is viewed with a stride-0 dim)."""
    for kind, arr, layout, _ in inputs:
        if kind == "data" and arr.size > 1 and (
                (layout and layout[0] == "expand") or np.unique(arr).size < arr.size):
            return True
    return False


def compare(info, case, t_res, n_res, ties=False):
    """None when numtorch agrees with torch, else a one-paragraph description of the difference.

    Two leniencies, both where torch itself is not consistent: with an out-of-range index
    (``index_risk``) IndexError and RuntimeError stand for each other (torch raises either,
    by dtype and path) and numtorch may raise where torch reads nothing and returns; with
    ties, the index output of a non-stable sort/topk may pick other tied elements."""
    tf, nf = t_res["forward"], n_res["forward"]
    lenient = case.get("index_risk") and nf[0] == "raise" and _INDEX_ERRORS & set(nf[1]["bases"])
    if tf[0] == "raise":
        if nf[0] != "raise":
            return f"torch raised {tf[1]['type']} ({tf[1]['message'][:160]}) but numtorch returned"
        if not _same_exception(tf[1], nf[1]) and not (
                lenient and tf[1]["bases"][0] in _INDEX_ERRORS):
            return (f"torch raised {tf[1]['type']} ({tf[1]['message'][:120]}), numtorch "
                    f"{nf[1]['type']} ({nf[1]['message'][:160]})")
        return None
    if nf[0] == "raise":
        if lenient:
            return None
        return f"numtorch raised {nf[1]['type']}: {nf[1]['message'][:200]} (torch returned)"
    t_out, n_out = tf[1], nf[1]
    if len(t_out) != len(n_out):
        return f"{len(n_out)} outputs, torch {len(t_out)}"
    tol = info.tol or {}
    dt = case["dt"]
    for k, (t, n) in enumerate(zip(t_out, n_out)):
        if t[0] != n[0]:
            return f"output {k}: numtorch gives a {n[0]}, torch a {t[0]}"
        if t[0] == "value":
            if t[1] != n[1]:
                return f"output {k}: {n[1]} != torch's {t[1]}"
            continue
        if t[1] != n[1]:
            return f"output {k}: shape {n[1]} != torch's {t[1]}"
        if t[2] != n[2]:
            return f"output {k}: dtype {n[2]} != torch's {t[2]}"
        if t[4] != n[4]:
            return f"output {k}: requires_grad {n[4]} != torch's {t[4]}"
        if (ties and info.op in _UNSTABLE_TIES and "stable" not in info.name
                and t[3].dtype == np.int64):
            continue
        try:
            _close(n[3], t[3], dt, tol, f"output {k}")
        except AssertionError as e:
            return "values differ: " + _short(e)
    tg, ng = t_res["grads"], n_res["grads"]
    if tg is None:
        return None
    if ng is None:
        return "numtorch computed no gradients"
    if tg[0] == "raise" or ng[0] == "raise":
        if tg[0] != ng[0] or not _same_exception(tg[1], ng[1]):
            return f"backward: torch {_stage(tg)}, numtorch {_stage(ng)}"
        return None
    gtol = info.tol or OT.GRAD_TOL
    for j, (t, n) in enumerate(zip(tg[1], ng[1])):
        if t is None and n is None:
            continue
        t = np.zeros_like(n) if t is None else t
        n = np.zeros_like(t) if n is None else n
        if t.shape != n.shape:
            return f"grad of input {j}: shape {n.shape} != torch's {t.shape}"
        try:
            _close(n, t, dt, gtol, f"grad of input {j}")
        except AssertionError as e:
            return "gradients differ: " + _short(e)
    return None


def _stage(r):
    return "returned" if r[0] == "ok" else f"raised {r[1]['type']} ({r[1]['message'][:120]})"


def _short(e):
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    return " | ".join(lines[:6])[:500]


def differentiable(info, case):
    return (info.grad and info.torch_grad and not case["foreign"] and not case["special"]
            and case["dt"] in ("float32", "float64"))
