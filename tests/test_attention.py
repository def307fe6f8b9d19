"""Attention against torch on the same inputs and weights: F.scaled_dot_product_attention,
F.multi_head_attention_forward, nn.MultiheadAttention and the Transformer family — outputs,
attention weights, gradients of inputs and parameters (float32 and float64), every mask kind,
state_dicts loaded both ways, gradcheck, dropout in training, and PyTorch's errors."""
import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
from numtorch import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional
# both libraries warn alike about mixed bool/float masks (tested once, explicitly) and torch
# about its nested-tensor fast path
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched:UserWarning",
                                        "ignore:enable_nested_tensor is True:UserWarning")

TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-10, atol=1e-12)}
GTOL = {"float32": dict(rtol=5e-5, atol=5e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


class NoGrad:
    """An input array that gets no gradient (masks)."""

    def __init__(self, a):
        self.a = a


def _tensors(lib, arrays):
    out = []
    for a in arrays:
        if a is None:
            out.append(None)
        elif isinstance(a, NoGrad):
            out.append(lib.tensor(a.a))
        else:
            out.append(lib.tensor(a, requires_grad=a.dtype.kind == "f"))
    return out


def _outs(o):
    return list(o) if isinstance(o, (tuple, list)) else [o]


def _both(fn, arrays, dt, rng, modules=(None, None)):
    """fn(lib, module, *inputs) on numtorch and torch: compare the outputs, then the gradients
    of every float input and of every parameter after a random linear loss."""
    res = []
    for lib, module in zip((numtorch, torch), modules):
        xs = _tensors(lib, arrays)
        res.append((xs, _outs(fn(lib, module, *xs)), module))
    (nx, no, nm), (tx, to, tm) = res
    assert len(no) == len(to)
    seeds = []
    for k, (n, t) in enumerate(zip(no, to)):
        assert (n is None) == (t is None), f"output {k}: {n} vs {t}"
        if t is None:
            continue
        assert tuple(n.shape) == tuple(t.shape), f"output {k}: {tuple(n.shape)} vs {tuple(t.shape)}"
        assert n.dtype.name == str(t.dtype)[6:]
        np.testing.assert_allclose(n.detach().numpy(), t.detach().numpy(), **TOL[dt],
                                   err_msg=f"output {k}")
        seeds.append((k, rng.standard_normal(tuple(t.shape)).astype(dt)))
    if not any(t is not None and t.requires_grad for t in to):
        return res
    sum((no[k] * numtorch.tensor(s)).sum() for k, s in seeds).backward()
    sum((to[k] * torch.tensor(s)).sum() for k, s in seeds).backward()
    for j, (n, t) in enumerate(zip(nx, tx)):
        if t is not None and t.requires_grad:
            assert (n.grad is None) == (t.grad is None), f"grad of input {j}"
            if t.grad is not None:
                np.testing.assert_allclose(n.grad.numpy(), t.grad.numpy(), **GTOL[dt],
                                           err_msg=f"grad of input {j}")
    if tm is not None:
        tp = dict(tm.named_parameters())
        for name, p in nm.named_parameters():
            assert (p.grad is None) == (tp[name].grad is None), name
            if p.grad is not None:
                np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), **GTOL[dt],
                                           err_msg=f"grad of {name}")
    return res


def _pair(tcls, ncls, *args, dt="float64", **kw):
    """A torch module and a numtorch twin holding the torch module's weights."""
    torch.manual_seed(0)
    tm = tcls(*args, **kw).to(getattr(torch, dt))
    nm = ncls(*args, **kw).to(getattr(numtorch, dt))
    sd = tm.state_dict()
    assert list(nm.state_dict()) == list(sd)  # same names, same order
    nm.load_state_dict({k: numtorch.tensor(v.detach().numpy()) for k, v in sd.items()})
    return tm, nm


def _bool(rng, shape, p=0.7):
    return rng.random(shape) < p


# --- scaled_dot_product_attention ------------------------------------------------------------
def _dead_row_mask(rng, shape):
    m = _bool(rng, shape)
    m[..., 1, :] = False  # a query that may attend to no key: zeros, zero gradients
    return m


SDPA = [
    # name, q, k, v shapes, mask builder (rng, dt) -> array or None, kwargs
    ("plain", (2, 3, 4), (2, 5, 4), (2, 5, 6), None, {}),
    ("4d_heads", (2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 3), None, {}),
    ("unbatched_2d", (3, 4), (5, 4), (5, 2), None, {}),
    ("batch_broadcast", (1, 3, 4), (2, 5, 4), (2, 5, 6), None, {}),
    ("scale", (2, 3, 4), (2, 5, 4), (2, 5, 6), None, {"scale": 0.3}),
    ("causal_L<S", (2, 3, 4), (2, 5, 4), (2, 5, 6), None, {"is_causal": True}),
    ("causal_L>S", (2, 5, 4), (2, 3, 4), (2, 3, 6), None, {"is_causal": True}),
    ("bool_mask", (2, 3, 4), (2, 5, 4), (2, 5, 6), lambda r, d: _bool(r, (3, 5)), {}),
    ("bool_mask_dead_row", (2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 6),
     lambda r, d: _dead_row_mask(r, (2, 1, 3, 5)), {}),
    ("float_mask", (2, 3, 4), (2, 5, 4), (2, 5, 6),
     lambda r, d: r.standard_normal((2, 3, 5)).astype(d), {}),
    ("float_mask_neg_inf", (2, 3, 4), (2, 5, 4), (2, 5, 6),
     lambda r, d: np.where(_dead_row_mask(r, (3, 5)), 0.5, -np.inf).astype(d), {}),
    ("float32_mask", (2, 3, 4), (2, 5, 4), (2, 5, 6),
     lambda r, d: r.standard_normal((3, 5)).astype("float32"), {}),
    ("gqa", (2, 4, 3, 4), (2, 2, 5, 4), (2, 1, 5, 6), None, {"enable_gqa": True}),
    ("gqa_causal_5d", (2, 2, 4, 3, 4), (2, 2, 2, 5, 4), (2, 2, 2, 5, 6), None,
     {"enable_gqa": True, "is_causal": True}),
    ("empty_keys", (2, 3, 4), (2, 0, 4), (2, 0, 6), None, {}),
    ("empty_queries", (2, 0, 4), (2, 5, 4), (2, 5, 6), lambda r, d: _bool(r, (0, 5)), {}),
]


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("name,qs,ks,vs,mask,kw", SDPA, ids=[c[0] for c in SDPA])
def test_sdpa_matches_torch(name, qs, ks, vs, mask, kw, dt, rng):
    arrays = [rng.standard_normal(s).astype(dt) for s in (qs, ks, vs)]
    m = mask(rng, dt) if mask else None
    arrays.append(None if m is None else NoGrad(m))
    fn = lambda lib, _, q, k, v, am: (F if lib is numtorch else TF).scaled_dot_product_attention(
        q, k, v, attn_mask=am, **kw)
    _both(fn, arrays, dt, rng)


def test_sdpa_float_mask_gets_gradient(rng):
    arrays = [rng.standard_normal(s) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 6), (3, 5))]
    _both(lambda lib, _, q, k, v, am: (F if lib is numtorch else TF)
          .scaled_dot_product_attention(q, k, v, attn_mask=am), arrays, "float64", rng)


@pytest.mark.parametrize("kw,mask", [({}, None), ({"is_causal": True, "scale": 0.7}, None),
                                     ({"enable_gqa": True}, None),
                                     ({}, "dead_row")], ids=["plain", "causal", "gqa", "mask"])
def test_sdpa_gradcheck(kw, mask, rng):
    q = numtorch.tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    heads = 1 if kw.get("enable_gqa") else 2
    k = numtorch.tensor(rng.standard_normal((1, heads, 4, 4)), requires_grad=True)
    v = numtorch.tensor(rng.standard_normal((1, heads, 4, 2)), requires_grad=True)
    am = numtorch.tensor(_dead_row_mask(rng, (3, 4))) if mask else None
    assert numtorch.autograd.gradcheck(
        lambda *t: F.scaled_dot_product_attention(*t, attn_mask=am, **kw), (q, k, v))


def test_sdpa_dropout_in_training(rng):
    # uniform weights 1/S over S keys, values 1: dropout keeps each weight w.p. 1-p, scaled
    # by 1/(1-p), so every output is 2 * (kept keys) / S and their mean is about 1
    numtorch.manual_seed(0)
    S = 8
    q, k = numtorch.zeros(64, 16, 4, requires_grad=True), numtorch.zeros(64, S, 4)
    v = numtorch.ones(64, S, 3)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    vals = out.detach().numpy()
    assert out.shape == (64, 16, 3)
    np.testing.assert_allclose(vals * S / 2, np.round(vals * S / 2), atol=1e-5)  # whole keys
    assert abs(vals.mean() - 1.0) < 0.03 and vals.std() > 0.2
    assert np.all(vals[..., 0] == vals[..., 2])  # one dropped weight serves every value column
    out.sum().backward()
    assert q.grad is not None and q.grad.shape == q.shape
    assert not F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).detach().numpy().any()


SDPA_ERRORS = [
    (((4,), (4,), (4,)), {}, RuntimeError, "at least 2 dimensional"),
    (((2, 3, 4), (2, 5, 4), (2, 5, 6, "float64")), {}, RuntimeError, "same dtype"),
    (((2, 3, 4), (2, 5, 3), (2, 5, 6)), {}, RuntimeError, r"query \[2, 3, 4\] and key \[2, 5, 3\]"),
    (((2, 3, 4), (2, 5, 4), (2, 4, 6)), {}, RuntimeError, r"key \[2, 5, 4\] and value \[2, 4, 6\]"),
    (((2, 3, 4), (3, 5, 4), (3, 5, 6)), {}, RuntimeError, "do not broadcast"),
    (((2, 3, 4), (2, 5, 4), (2, 5, 6)), {"mask": ((3, 5), "bool"), "is_causal": True},
     RuntimeError, "should not be set when is_causal=True"),
    (((2, 3, 4), (2, 5, 4), (2, 5, 6)), {"mask": ((3, 4), "float32")}, RuntimeError,
     r"attn_mask of shape \[3, 4\] does not broadcast"),
    (((2, 3, 4), (2, 5, 4), (2, 5, 6)), {"mask": ((2, 2, 3, 5), "float32")}, RuntimeError,
     "does not broadcast"),
    (((2, 3, 4), (2, 5, 4), (2, 5, 6)), {"mask": ((3, 5), "int64")}, RuntimeError,
     "attn_mask dtype to be bool or float"),
    (((2, 3, 4), (2, 5, 4), (2, 5, 6)), {"mask": ((3, 5), "float64")}, RuntimeError,
     "attn_mask dtype to be bool or float"),
    (((2, 3, 4), (2, 5, 4), (2, 5, 6)), {"dropout_p": 1.5}, RuntimeError,
     "dropout probability has to be between 0 and 1"),
    (((2, 4, 3, 4), (2, 3, 5, 4), (2, 3, 5, 6)), {"enable_gqa": True}, RuntimeError,
     "must divide the number of heads"),
    (((3, 4), (5, 4), (5, 6)), {"enable_gqa": True}, IndexError, "Dimension out of range"),
    (((2, 3, 4, "int32"), (2, 5, 4, "int32"), (2, 5, 6, "int32")), {}, RuntimeError,
     "floating point"),
]


@pytest.mark.parametrize("shapes,kw,exc,msg", SDPA_ERRORS, ids=[f"{e[3][:25]}-{i}" for i, e in
                                                               enumerate(SDPA_ERRORS)])
def test_sdpa_errors_match_torch(shapes, kw, exc, msg):
    kw = dict(kw)
    mask = kw.pop("mask", None)
    for lib, fn in ((torch, TF), (numtorch, F)):
        args = [lib.zeros(*s[:-1], dtype=getattr(lib, s[-1])) if isinstance(s[-1], str)
                else lib.zeros(*s) for s in shapes]
        am = lib.zeros(*mask[0], dtype=getattr(lib, mask[1])) if mask else None
        with pytest.raises(exc, match=msg if lib is numtorch else None):
            fn.scaled_dot_product_attention(*args, attn_mask=am, **kw)


# --- multi-head attention --------------------------------------------------------------------
L, S, N, E, H = 3, 4, 2, 8, 2


def _masks(rng, dt, kind, batched=True):
    """(attn_mask, key_padding_mask) arrays for a mask kind, with no query left without keys."""
    am = kpm = None
    if "attn2d_bool" in kind:
        am = ~_bool(rng, (L, S), 0.7)
        am[:, 0] = False
    if "attn3d_float" in kind:
        am = rng.standard_normal((N * H if batched else H, L, S)).astype(dt)
    if "attn_causal" in kind:
        am = np.triu(np.full((L, S), -np.inf, dt), 1)
    if "kpm_bool" in kind:
        kpm = np.zeros((N, S) if batched else (S,), bool)
        kpm[..., -1] = True
    if "kpm_float" in kind:
        kpm = rng.standard_normal((N, S) if batched else (S,)).astype(dt)
    return (None if am is None else NoGrad(am)), (None if kpm is None else NoGrad(kpm))


MHA = [
    # name, constructor kwargs, forward kwargs, mask kind, self-attention, unbatched
    ("self_default", {}, {}, "", True, False),
    ("self_batch_first_masks", {"batch_first": True}, {}, "attn2d_bool kpm_bool", True, False),
    ("cross_kdim_vdim", {"kdim": 5, "vdim": 6}, {}, "attn3d_float kpm_float", False, False),
    ("cross_kdim_bf", {"kdim": 5, "vdim": 6, "batch_first": True}, {"need_weights": False},
     "kpm_bool", False, False),
    ("no_bias_heads_weights", {"bias": False}, {"average_attn_weights": False}, "attn3d_float",
     False, False),
    ("bias_kv_zero_attn", {"add_bias_kv": True, "add_zero_attn": True}, {},
     "attn2d_bool kpm_bool", False, False),
    ("bias_kv_no_weights", {"add_bias_kv": True, "batch_first": True}, {"need_weights": False},
     "attn3d_float kpm_float", True, False),
    ("zero_attn_sdpa", {"add_zero_attn": True}, {"need_weights": False}, "attn2d_bool", False,
     False),
    ("causal_hint", {}, {"need_weights": False, "is_causal": True}, "attn_causal", True, False),
    ("causal_hint_kpm", {"batch_first": True}, {"need_weights": False, "is_causal": True},
     "attn_causal kpm_bool", True, False),
    ("unbatched", {}, {}, "attn3d_float kpm_bool", False, True),
    ("unbatched_self_no_weights", {"batch_first": True}, {"need_weights": False},
     "attn2d_bool", True, True),
]


MHA_F32 = ("self_batch_first_masks", "cross_kdim_vdim", "bias_kv_zero_attn", "unbatched")


@pytest.mark.parametrize("name,ckw,fkw,kind,self_attn,unbatched,dt", [
    pytest.param(*c, dt, id=f"{c[0]}-{dt}") for dt in ("float64", "float32") for c in MHA
    if dt == "float64" or c[0] in MHA_F32])  # float32: a covering subset
def test_multihead_attention_matches_torch(name, ckw, fkw, kind, self_attn, unbatched, dt, rng):
    tm, nm = _pair(torch.nn.MultiheadAttention, nn.MultiheadAttention, E, H, dt=dt, **ckw)
    bf = ckw.get("batch_first", False)

    def shape(seq, feat):
        return (seq, feat) if unbatched else ((N, seq, feat) if bf else (seq, N, feat))
    am, kpm = _masks(rng, dt, kind, batched=not unbatched)
    q = rng.standard_normal(shape(L if not self_attn else S, E)).astype(dt)
    if self_attn:
        if am is not None and am.a.shape[-2] != S:  # self-attention: L == S
            am = NoGrad(np.concatenate([am.a, am.a[..., :1, :]], -2)[..., :S, :])
        arrays = [q, am, kpm]
        fn = lambda lib, m, x, a, p: m(x, x, x, key_padding_mask=p, attn_mask=a, **fkw)
    else:
        k = rng.standard_normal(shape(S, ckw.get("kdim", E))).astype(dt)
        v = rng.standard_normal(shape(S, ckw.get("vdim", E))).astype(dt)
        arrays = [q, k, v, am, kpm]
        fn = lambda lib, m, x, y, z, a, p: m(x, y, z, key_padding_mask=p, attn_mask=a, **fkw)
    _both(fn, arrays, dt, rng, modules=(nm, tm))


def test_multihead_attention_parameters_and_state_dict_both_ways(rng):
    for kw in ({}, {"kdim": 5, "vdim": 3, "bias": False}, {"add_bias_kv": True}):
        nm = nn.MultiheadAttention(E, H, **kw)
        tm = torch.nn.MultiheadAttention(E, H, **kw)
        assert [(k, tuple(v.shape)) for k, v in nm.state_dict().items()] == \
            [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]
        # numtorch's random init loads into torch and gives torch's outputs
        tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in nm.state_dict().items()})
        x = rng.standard_normal((L, N, E)).astype("float32")
        kv = [rng.standard_normal((S, N, kw.get(d, E))).astype("float32") for d in ("kdim", "vdim")]
        no = nm(numtorch.tensor(x), *map(numtorch.tensor, kv))
        to = tm(torch.tensor(x), *map(torch.tensor, kv))
        np.testing.assert_allclose(no[0].detach().numpy(), to[0].detach().numpy(), **TOL["float32"])
    nm = nn.MultiheadAttention(E, H)
    w = nm.in_proj_weight.detach().numpy()
    bound = np.sqrt(6.0 / (E + 3 * E))  # xavier-uniform over (3E, E); zero biases
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert not nm.in_proj_bias.detach().numpy().any()
    assert not nm.out_proj.bias.detach().numpy().any()
    assert nm.bias_k is None and nm.q_proj_weight is None
    assert "out_proj" in dict(nm.named_children())


def test_multi_head_attention_forward_functional(rng):
    x = rng.standard_normal((L, N, E))
    w, b = rng.standard_normal((3 * E, E)), rng.standard_normal(3 * E)
    wo, bo = rng.standard_normal((E, E)), rng.standard_normal(E)
    sk, sv = rng.standard_normal((N * H, 5, E // H)), rng.standard_normal((N * H, 5, E // H))
    for static in (False, True):
        res = []
        for lib, fn in ((numtorch, F), (torch, TF)):
            t = [lib.tensor(a) for a in (x, w, b, wo, bo, sk, sv)]
            res.append(fn.multi_head_attention_forward(
                t[0], t[0], t[0], E, H, t[1], t[2], None, None, False, 0.0, t[3], t[4],
                static_k=t[5] if static else None, static_v=t[6] if static else None,
                average_attn_weights=False))
        for n, t in zip(*res):
            np.testing.assert_allclose(n.numpy(), t.numpy(), **TOL["float64"])


def test_multihead_attention_gradcheck(rng):
    """Inputs and every kind of parameter (separate projections, biases, bias_k/bias_v), through
    the functional form nn.MultiheadAttention calls, with a padding mask."""
    def t(*shape):
        return numtorch.tensor(rng.standard_normal(shape), requires_grad=True)
    q, k, v = t(2, 1, 4), t(3, 1, 3), t(3, 1, 2)
    wq, wk, wv, b_in, bk, bv, wo = t(4, 4), t(4, 3), t(4, 2), t(12), t(1, 1, 4), t(1, 1, 4), t(4, 4)
    kpm = numtorch.tensor([[False, False, True]])

    def fn(q, k, v, wq, wk, wv, b_in, bk, bv, wo):
        return F.multi_head_attention_forward(
            q, k, v, 4, 2, None, b_in, bk, bv, True, 0.0, wo, None, key_padding_mask=kpm,
            use_separate_proj_weight=True, q_proj_weight=wq, k_proj_weight=wk, v_proj_weight=wv)
    assert numtorch.autograd.gradcheck(fn, (q, k, v, wq, wk, wv, b_in, bk, bv, wo))


def test_multihead_attention_dropout_in_training(rng):
    numtorch.manual_seed(0)
    m = nn.MultiheadAttention(E, H, dropout=0.5)
    x = numtorch.tensor(rng.standard_normal((L, N, E)).astype("float32"), requires_grad=True)
    out, w = m(x, x, x)
    out2, _ = m(x, x, x)
    assert out.shape == (L, N, E) and w.shape == (N, L, L)
    assert not np.allclose(out.detach().numpy(), out2.detach().numpy())
    # dropped weights are zeros, kept ones are scaled by 2: a row sums to about 1 on average
    assert abs(w.detach().numpy().sum(-1).mean() - 1.0) < 0.35
    out.sum().backward()
    assert m.in_proj_weight.grad is not None and x.grad is not None
    m.eval()
    e1, e2 = m(x, x, x)[0], m(x, x, x)[0]
    np.testing.assert_array_equal(e1.detach().numpy(), e2.detach().numpy())


def test_multihead_attention_dead_rows_follow_torch(rng):
    # a query with every key masked: NaN with need_weights (a plain softmax), zeros without
    tm, nm = _pair(torch.nn.MultiheadAttention, nn.MultiheadAttention, E, H)
    x = rng.standard_normal((L, N, E))
    am = np.zeros((L, L), bool)
    am[1] = True
    for need in (True, False):
        no = nm(*[numtorch.tensor(x)] * 3, attn_mask=numtorch.tensor(am), need_weights=need)[0]
        to = tm(*[torch.tensor(x)] * 3, attn_mask=torch.tensor(am), need_weights=need)[0]
        np.testing.assert_allclose(no.detach().numpy(), to.detach().numpy(), **TOL["float64"])
        assert np.isnan(no.detach().numpy()[1]).all() == need


def _mha_call(lib, q=(L, N, E), k=(S, N, E), v=(S, N, E), am=None, kpm=None, heads=H, **kw):
    m = (nn if lib is numtorch else torch.nn).MultiheadAttention(E, heads, **kw.pop("ctor", {}))
    mk = lambda spec: None if spec is None else lib.zeros(*spec[0], dtype=getattr(lib, spec[1]))
    return m(lib.zeros(*q), lib.zeros(*k), lib.zeros(*v), attn_mask=mk(am),
             key_padding_mask=mk(kpm), **kw)


MHA_ERRORS = [
    ({"q": (2, L, N, E)}, AssertionError, "query should be unbatched 2D or batched 3D"),
    ({"k": (S, E)}, AssertionError, "expected `key` and `value` to be 3-D"),
    ({"kpm": ((N, S, 1), "bool")}, AssertionError, "`key_padding_mask` to be `None` or 2-D"),
    ({"am": ((L,), "bool")}, AssertionError, "`attn_mask` to be `None`, 2-D or 3-D"),
    ({"am": ((L, S + 1), "bool")}, RuntimeError, r"The shape of the 2D attn_mask is \[3, 5\]"),
    ({"am": ((H, L, S), "float32")}, RuntimeError, r"3D attn_mask is \[2, 3, 4\], but should be "
                                                   r"\(4, 3, 4\)"),
    ({"am": ((L, S), "int64")}, AssertionError, "only bool and floating types of attn_mask"),
    ({"kpm": ((N + 1, S), "bool")}, AssertionError, "key_padded_mask.shape\\[0\\] to be 2"),
    ({"kpm": ((N, S + 1), "bool")}, AssertionError, "key_padded_mask.shape\\[1\\] to be 4"),
    ({"q": (L, N, E + 1)}, AssertionError, "was expecting embedding dimension of 8"),
    ({"v": (S + 1, N, E)}, AssertionError, "does not match value shape"),
    ({"is_causal": True}, RuntimeError, "Need attn_mask if specifying the is_causal hint"),
    ({"q": (L, E), "k": (S, E), "v": (S, E), "am": ((N * H, L, S), "bool")}, AssertionError,
     r"Expected `attn_mask` shape to be \(2, 3, 4\) but got \[4, 3, 4\]"),
]


@pytest.mark.parametrize("kw,exc,msg", MHA_ERRORS, ids=[e[2][:25] for e in MHA_ERRORS])
def test_multihead_attention_errors_match_torch(kw, exc, msg):
    with pytest.raises(exc):
        _mha_call(torch, **kw)
    with pytest.raises(exc, match=msg):
        _mha_call(numtorch, **kw)


def test_multihead_attention_constructor_errors_and_mask_warning():
    for lib in (numtorch, torch):
        with pytest.raises(AssertionError):
            (nn if lib is numtorch else torch.nn).MultiheadAttention(6, 4)
        with pytest.raises(ValueError):
            (nn if lib is numtorch else torch.nn).MultiheadAttention(0, 2)
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        _mha_call(numtorch, am=((L, S), "float32"), kpm=((N, S), "bool"))


# --- Transformer layers ----------------------------------------------------------------------
D_MODEL, NHEAD, FF = 8, 2, 12


def _act(name):
    return (lambda x: x.tanh()) if name == "callable" else name


LAYERS = [
    # name, dtype, layer kwargs, masks
    ("post_relu", "float64", {}, "src_bool"),
    ("pre_gelu_bf", "float64", {"norm_first": True, "activation": "gelu", "batch_first": True},
     "src_float kpm_bool"),
    ("callable_nobias", "float64", {"activation": "callable", "bias": False}, "causal"),
    ("f32_pre_bf", "float32", {"norm_first": True, "batch_first": True}, "src_bool kpm_bool"),
]


def _layer_masks(rng, dt, kind, T, n=N):
    m = kpm = None
    if "src_bool" in kind:
        m = ~_bool(rng, (T, T), 0.7)
        np.fill_diagonal(m, False)
    if "src_float" in kind:
        m = rng.standard_normal((T, T)).astype(dt)
    if "causal" in kind:
        m = np.triu(np.full((T, T), -np.inf, dt), 1)
    if "kpm_bool" in kind:
        kpm = np.zeros((n, T), bool)
        kpm[0, -1] = True
    return (None if m is None else NoGrad(m)), (None if kpm is None else NoGrad(kpm))


@pytest.mark.parametrize("name,dt,kw,kind", LAYERS, ids=[c[0] for c in LAYERS])
def test_encoder_layer_and_stack_match_torch(name, dt, kw, kind, rng):
    kw = dict(kw, dropout=0.0, dim_feedforward=FF)
    if "activation" in kw:
        kw["activation"] = _act(kw["activation"])
    tm, nm = _pair(torch.nn.TransformerEncoderLayer, nn.TransformerEncoderLayer, D_MODEL, NHEAD,
                   dt=dt, **kw)
    T = 4
    x = rng.standard_normal((N, T, D_MODEL) if kw.get("batch_first") else (T, N, D_MODEL))
    m, kpm = _layer_masks(rng, dt, kind, T)
    causal = "causal" in kind
    _both(lambda lib, mod, x, m, p: mod(x, src_mask=m, src_key_padding_mask=p, is_causal=causal),
          [x.astype(dt), m, kpm], dt, rng, modules=(nm, tm))
    # the stack: deep copies under layers.N, a final norm, is_causal detected from the mask
    for p in list(nm.parameters()) + list(tm.parameters()):
        p.grad = None  # (numtorch's deepcopy of a Parameter keeps its grad, torch's does not)
    norm = lambda lib: (nn if lib is numtorch else torch.nn).LayerNorm(D_MODEL)
    te = torch.nn.TransformerEncoder(tm, 2, norm(torch)).to(getattr(torch, dt))
    ne = nn.TransformerEncoder(nm, 2, norm(numtorch), enable_nested_tensor=False)
    ne.to(getattr(numtorch, dt)).load_state_dict(
        {k: numtorch.tensor(v.detach().numpy()) for k, v in te.state_dict().items()})
    assert list(ne.state_dict()) == list(te.state_dict())
    assert ne.layers[0] is not nm and ne.layers[0].linear1.weight is not ne.layers[1].linear1.weight
    _both(lambda lib, mod, x, m, p: mod(x, mask=m, src_key_padding_mask=p),
          [x.astype(dt), m, kpm], dt, rng, modules=(ne, te))


@pytest.mark.parametrize("name,dt,kw,kind", LAYERS, ids=[c[0] for c in LAYERS])
def test_decoder_layer_matches_torch(name, dt, kw, kind, rng):
    kw = dict(kw, dropout=0.0, dim_feedforward=FF)
    if "activation" in kw:
        kw["activation"] = _act(kw["activation"])
    tm, nm = _pair(torch.nn.TransformerDecoderLayer, nn.TransformerDecoderLayer, D_MODEL, NHEAD,
                   dt=dt, **kw)
    T, Sm = 4, 5
    bf = kw.get("batch_first")
    x = rng.standard_normal((N, T, D_MODEL) if bf else (T, N, D_MODEL)).astype(dt)
    mem = rng.standard_normal((N, Sm, D_MODEL) if bf else (Sm, N, D_MODEL)).astype(dt)
    m, kpm = _layer_masks(rng, dt, kind, T)
    mm = NoGrad(~_bool(rng, (T, Sm), 0.8) & (np.arange(Sm) > 0))
    mkpm = NoGrad(np.arange(Sm)[None, :].repeat(N, 0) == Sm - 1)
    causal = "causal" in kind
    _both(lambda lib, mod, x, mem, m, p, mm, mp: mod(
        x, mem, tgt_mask=m, memory_mask=mm, tgt_key_padding_mask=p, memory_key_padding_mask=mp,
        tgt_is_causal=causal), [x, mem, m, kpm, mm, mkpm], dt, rng, modules=(nm, tm))


@pytest.mark.parametrize("dt,bf,nf", [("float64", False, False), ("float64", True, True),
                                      ("float32", True, False)])
def test_transformer_matches_torch_with_every_mask(dt, bf, nf, rng):
    kw = dict(d_model=D_MODEL, nhead=NHEAD, num_encoder_layers=2, num_decoder_layers=1,
              dim_feedforward=FF, dropout=0.0, batch_first=bf, norm_first=nf, activation="gelu")
    tm, nm = _pair(torch.nn.Transformer, nn.Transformer, dt=dt, **kw)
    Ss, T = 5, 4
    src = rng.standard_normal((N, Ss, D_MODEL) if bf else (Ss, N, D_MODEL)).astype(dt)
    tgt = rng.standard_normal((N, T, D_MODEL) if bf else (T, N, D_MODEL)).astype(dt)
    src_mask = ~_bool(rng, (Ss, Ss), 0.7)
    np.fill_diagonal(src_mask, False)
    tgt_mask = np.triu(np.full((T, T), -np.inf, dt), 1)
    mem_mask = rng.standard_normal((T, Ss)).astype(dt)
    skpm = np.zeros((N, Ss), bool)
    skpm[1, -2:] = True
    tkpm = np.zeros((N, T), bool)
    tkpm[0, -1] = True
    arrays = [src, tgt] + [NoGrad(a) for a in (src_mask, tgt_mask, mem_mask, skpm, tkpm, skpm)]
    _both(lambda lib, mod, s, t, sm, tm_, mm, sp, tp, mp: mod(
        s, t, src_mask=sm, tgt_mask=tm_, memory_mask=mm, src_key_padding_mask=sp,
        tgt_key_padding_mask=tp, memory_key_padding_mask=mp, tgt_is_causal=True),
        arrays, dt, rng, modules=(nm, tm))


def test_transformer_unbatched_and_causal_detection(rng):
    tm, nm = _pair(torch.nn.Transformer, nn.Transformer, D_MODEL, NHEAD, 1, 1, FF, 0.0)
    src, tgt = rng.standard_normal((5, D_MODEL)), rng.standard_normal((4, D_MODEL))
    causal = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    ncausal = nn.Transformer.generate_square_subsequent_mask(4, dtype=numtorch.float64)
    np.testing.assert_array_equal(ncausal.numpy(), causal.numpy())
    assert ncausal.dtype is numtorch.float64
    assert nn.Transformer.generate_square_subsequent_mask(2).dtype is numtorch.float32
    # None: detected from the mask; explicit True/False hints with the same mask agree
    for hint in (None, True, False):
        _both(lambda lib, mod, s, t, m: mod(s, t, tgt_mask=m, tgt_is_causal=hint),
              [src, tgt, NoGrad(causal.numpy())], "float64", rng, modules=(nm, tm))
    from numtorch.nn.modules.transformer import _detect_is_causal_mask
    assert _detect_is_causal_mask(ncausal, None, 4) is True
    assert _detect_is_causal_mask(ncausal, None, 3) is False
    assert _detect_is_causal_mask(numtorch.zeros(4, 4), None, 4) is False
    assert _detect_is_causal_mask(None, None, 4) is False


def test_transformer_custom_parts_dropout_and_state_dict_both_ways(rng):
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF), 1)
    model = nn.Transformer(D_MODEL, NHEAD, custom_encoder=enc, num_decoder_layers=1,
                           dim_feedforward=FF, dropout=0.5)
    assert model.encoder is enc and len(model.decoder.layers) == 1
    # Transformer's own init: xavier-uniform for matrices (bias vectors keep theirs)
    w = model.decoder.layers[0].linear1.weight.detach().numpy()
    assert np.abs(w).max() <= np.sqrt(6.0 / (D_MODEL + FF))
    src = numtorch.tensor(rng.standard_normal((5, 2, D_MODEL)).astype("float32"))
    tgt = numtorch.tensor(rng.standard_normal((4, 2, D_MODEL)).astype("float32"))
    a, b = model(src, tgt), model(src, tgt)
    assert a.shape == (4, 2, D_MODEL) and not np.allclose(a.detach().numpy(), b.detach().numpy())
    model.eval()
    np.testing.assert_array_equal(model(src, tgt).detach().numpy(),
                                  model(src, tgt).detach().numpy())
    # numtorch weights into torch: same outputs in eval mode
    tmodel = torch.nn.Transformer(D_MODEL, NHEAD, num_encoder_layers=1, num_decoder_layers=1,
                                  dim_feedforward=FF, dropout=0.5, custom_encoder=torch.nn.
                                  TransformerEncoder(torch.nn.TransformerEncoderLayer(
                                      D_MODEL, NHEAD, FF), 1)).eval()
    assert list(tmodel.state_dict()) == list(model.state_dict())
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    np.testing.assert_allclose(model(src, tgt).detach().numpy(),
                               tmodel(torch.tensor(src.numpy()), torch.tensor(tgt.numpy()))
                               .detach().numpy(), **TOL["float32"])


def test_transformer_errors_match_torch():
    for lib in (numtorch, torch):
        mod = nn if lib is numtorch else torch.nn
        with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
            mod.TransformerEncoderLayer(D_MODEL, NHEAD, activation="tanh")
        model = mod.Transformer(D_MODEL, NHEAD, 1, 1, FF)
        with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
            model(lib.zeros(5, 2, D_MODEL), lib.zeros(4, 3, D_MODEL))
        with pytest.raises(RuntimeError, match="must be equal to d_model"):
            model(lib.zeros(5, 2, D_MODEL), lib.zeros(4, 2, D_MODEL + 1))
        layer = mod.TransformerEncoderLayer(D_MODEL, NHEAD, FF)
        with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal"):
            layer(lib.zeros(5, 2, D_MODEL), is_causal=True)


@pytest.mark.skipif(not numtorch.cuda.is_available(), reason="no CUDA device and no simulator")
def test_attention_on_cuda_equals_cpu(rng):
    """The fused kernel (no mask) and the composite (a mask) on "cuda", through MHA: the CPU's
    outputs and gradients, with everything on the GPU."""
    q, k, v = (rng.standard_normal(s) for s in ((1, 2, 3, 2), (1, 2, 4, 2), (1, 2, 4, 3)))
    mask = _dead_row_mask(rng, (3, 4))
    for kw in ({"is_causal": True}, {"attn_mask": mask}):
        res = []
        for dev in ("cpu", "cuda"):
            xs = [numtorch.tensor(a, requires_grad=True, device=dev) for a in (q, k, v)]
            am = {"attn_mask": numtorch.tensor(mask, device=dev)} if "attn_mask" in kw else kw
            out = F.scaled_dot_product_attention(*xs, **am)
            out.pow(2).sum().backward()
            assert out.device.type == dev and xs[1].grad.device.type == dev
            res.append([out.detach().cpu().numpy()] + [x.grad.cpu().numpy() for x in xs])
        for c, g in zip(*res):
            np.testing.assert_allclose(g, c, rtol=1e-10, atol=1e-12)
    numtorch.manual_seed(0)
    m = nn.MultiheadAttention(4, 2, dtype=numtorch.float64)
    x = rng.standard_normal((3, 1, 4))
    kpm = np.array([[False, False, True]])
    outs = []
    for dev in ("cpu", "cuda"):
        m.to(dev)
        xd = numtorch.tensor(x, device=dev)
        o, w = m(xd, xd, xd, key_padding_mask=numtorch.tensor(kpm, device=dev))
        outs.append((o.detach().cpu().numpy(), w.detach().cpu().numpy()))
    for c, g in zip(*outs):
        np.testing.assert_allclose(g, c, rtol=1e-10, atol=1e-12)


def test_multihead_attention_lives_where_pytorch_programs_name_it():
    # programs list these classes for torch.load(weights_only=True) (word_language_model does)
    import io
    assert nn.modules.activation.MultiheadAttention is nn.MultiheadAttention
    m = nn.MultiheadAttention(4, 2)
    assert type(m.out_proj) is nn.modules.linear.NonDynamicallyQuantizableLinear
    assert repr(m.out_proj) == "NonDynamicallyQuantizableLinear(in_features=4, out_features=4, bias=True)"
    buf = io.BytesIO()
    numtorch.save(m, buf)
    buf.seek(0)
    with numtorch.serialization.safe_globals([nn.modules.activation.MultiheadAttention,
                                              nn.modules.linear.NonDynamicallyQuantizableLinear]):
        back = numtorch.load(buf)
    x = numtorch.randn(3, 1, 4)
    np.testing.assert_array_equal(back(x, x, x)[0].detach().numpy(), m(x, x, x)[0].detach().numpy())
