"""numtorch.optim against torch.optim: parameters step by step, state_dicts, schedulers' lrs."""
import copy
import math
import warnings

import numpy as np
import pytest

import numtorch as nt
import numtorch.optim  # noqa: F401  (until numtorch/__init__.py imports it)

torch = pytest.importorskip("torch")

# --------------------------------------------------------------------------------------------
# A fixed quadratic problem, built the same way in both frameworks.
# --------------------------------------------------------------------------------------------
_rng = np.random.default_rng(0)
_W0 = _rng.standard_normal((3, 4))
_B0 = _rng.standard_normal(3)
_V0 = _rng.standard_normal(5)
_X = _rng.standard_normal((4, 6))
_Y = _rng.standard_normal((3, 6))
_C = _rng.uniform(0.5, 2.0, 5)

NP_DT = {"float32": np.float32, "float64": np.float64}
TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


def make_params(lib, dtype):
    """(W, b, v) leaves of ``lib`` (numtorch or torch) with the same initial values."""
    return [lib.tensor(a.astype(NP_DT[dtype]), requires_grad=True) for a in (_W0, _B0, _V0)]


def loss_fn(lib, params):
    w, b, v = params
    x = lib.tensor(_X.astype(NP_DT[str(w.dtype).split(".")[-1]]))
    y = lib.tensor(_Y.astype(NP_DT[str(w.dtype).split(".")[-1]]))
    c = lib.tensor(_C.astype(NP_DT[str(w.dtype).split(".")[-1]]))
    r = w @ x + b.reshape(3, 1) - y
    return (r ** 2).sum() + (c * v ** 2).sum() + (v ** 3).sum() * 0.1


def as_np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.detach().numpy())


def assert_params_close(nt_params, th_params, dtype):
    for a, b in zip(nt_params, th_params):
        a, b = as_np(a), as_np(b)
        # rounding errors scale with the largest terms that cancel, not with each element
        scale = max(1.0, float(np.abs(b).max(initial=0.0)))
        np.testing.assert_allclose(a, b, rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"] * scale)


def train(lib, opt, params, steps):
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(lib, params).backward()
        opt.step()


OPTIMIZERS = [
    ("SGD", dict(lr=0.01)),
    ("SGD", dict(lr=0.01, momentum=0.9)),
    ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.01, momentum=0.5, dampening=0.3, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6, maximize=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=0.1, momentum=0.5, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2)),
    ("Adagrad", dict(lr=0.1, eps=1e-5, maximize=True)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw in OPTIMIZERS]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=IDS)
def test_matches_torch(name, kwargs, dtype):
    tp, npar = make_params(torch, dtype), make_params(nt, dtype)
    topt = getattr(torch.optim, name)(tp, **kwargs)
    nopt = getattr(nt.optim, name)(npar, **kwargs)
    for _ in range(20):
        train(torch, topt, tp, 1)
        train(nt, nopt, npar, 1)
    assert_params_close(npar, tp, dtype)
    # the state agrees too, key by key
    tsd, nsd = topt.state_dict(), nopt.state_dict()
    assert tsd["state"].keys() == nsd["state"].keys()
    for i in tsd["state"]:
        assert list(tsd["state"][i]) == list(nsd["state"][i])
        for k, tv in tsd["state"][i].items():
            nv = nsd["state"][i][k]
            assert isinstance(nv, nt.Tensor)
            np.testing.assert_allclose(as_np(nv), as_np(tv), **TOL[dtype])
    assert [sorted(g) for g in tsd["param_groups"]] == [sorted(g) for g in nsd["param_groups"]]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS[1::2], ids=IDS[1::2])
def test_state_dict_round_trip(name, kwargs):
    ref = make_params(nt, "float64")
    ropt = getattr(nt.optim, name)(ref, **kwargs)
    train(nt, ropt, ref, 10)

    params = make_params(nt, "float64")
    opt = getattr(nt.optim, name)(params, **kwargs)
    train(nt, opt, params, 5)
    saved = copy.deepcopy(opt.state_dict())
    saved_params = [p.detach().clone() for p in params]

    fresh = [p.clone().detach().requires_grad_() for p in saved_params]
    opt2 = getattr(nt.optim, name)(fresh, **{**kwargs, "lr": 123.0})  # lr comes from the dict
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    assert opt2.param_groups[0]["params"][0] is fresh[0]
    if "step" in opt2.state[fresh[0]]:
        assert isinstance(opt2.state[fresh[0]]["step"], nt.Tensor)
        assert opt2.state[fresh[0]]["step"].item() == 5
    train(nt, opt2, fresh, 5)
    for a, b in zip(fresh, ref):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    # loading copied the state: the saved dict is unchanged by the later steps
    for k, v in saved["state"][0].items():
        if k != "step":
            assert not np.shares_memory(v.numpy(), opt2.state[fresh[0]][k].numpy())


def test_load_torch_state_dict():
    """A state_dict saved by torch (converted tensor by tensor) continues as torch does."""
    kwargs = dict(lr=0.05, amsgrad=True, weight_decay=0.01)
    tp = make_params(torch, "float64")
    topt = torch.optim.Adam(tp, **kwargs)
    train(torch, topt, tp, 5)
    tsd = topt.state_dict()
    nsd = {"state": {i: {k: nt.tensor(v.numpy().copy()) for k, v in s.items()}
                     for i, s in tsd["state"].items()},
           "param_groups": copy.deepcopy(tsd["param_groups"])}
    npar = [nt.tensor(p.detach().numpy().copy(), requires_grad=True) for p in tp]
    nopt = nt.optim.Adam(npar, **kwargs)
    nopt.load_state_dict(nsd)
    assert nopt.state[npar[0]]["step"].dtype == nt.float32  # step keeps its own dtype
    train(torch, topt, tp, 5)
    train(nt, nopt, npar, 5)
    assert_params_close(npar, tp, "float64")


def test_state_dict_structure():
    params = make_params(nt, "float64")
    opt = nt.optim.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}], lr=0.1)
    train(nt, opt, params, 1)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == [0, 1, 2]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert [g["lr"] for g in sd["param_groups"]] == [0.1, 0.5]
    assert list(sd["state"][0]) == ["step", "exp_avg", "exp_avg_sq"]
    assert sd["state"][0]["step"].shape == () and sd["state"][0]["step"].item() == 1.0
    assert sd["param_groups"][1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        nt.optim.Adam(params).load_state_dict(sd)
    # Adagrad's state exists from construction (torch does the same)
    assert sorted(nt.optim.Adagrad(params).state_dict()["state"]) == [0, 1, 2]


def test_param_groups_different_lrs():
    def groups(p, lib):
        return [{"params": [p[0]], "lr": 0.02, "momentum": 0.5}, {"params": p[1:]}]
    tp, npar = make_params(torch, "float64"), make_params(nt, "float64")
    topt = torch.optim.SGD(groups(tp, torch), lr=0.01, momentum=0.9)
    nopt = nt.optim.SGD(groups(npar, nt), lr=0.01, momentum=0.9)
    assert nopt.param_groups[0]["lr"] == 0.02 and nopt.param_groups[1]["lr"] == 0.01
    assert nopt.param_groups[1]["momentum"] == 0.9 and nopt.param_groups[0]["nesterov"] is False
    train(torch, topt, tp, 20)
    train(nt, nopt, npar, 20)
    assert_params_close(npar, tp, "float64")


def test_add_param_group_and_duplicates():
    w, b, v = make_params(nt, "float64")
    opt = nt.optim.SGD([w], lr=0.1)
    opt.add_param_group({"params": b, "lr": 0.2})
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["lr"] == 0.2
    assert opt.param_groups[1]["momentum"] == 0
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})
    with pytest.raises(ValueError, match="more than one parameter group"):
        nt.optim.SGD([{"params": [w]}, {"params": [v, w]}], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        opt.add_param_group({"params": {v}})
    with pytest.warns(UserWarning, match="duplicate parameters"):
        nt.optim.SGD([v, v], lr=0.1)


def test_zero_grad():
    params = make_params(nt, "float64")
    opt = nt.optim.SGD(params, lr=0.1)
    loss_fn(nt, params).backward()
    g = params[0].grad
    opt.zero_grad(set_to_none=False)
    assert params[0].grad is g and not g.numpy().any()
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    opt.step()  # no gradients: nothing changes
    np.testing.assert_array_equal(params[0].detach().numpy(), _W0)


def test_skips_params_without_grad_and_empty_state():
    w, b, v = make_params(nt, "float64")
    opt = nt.optim.Adam([w, b, v], lr=0.1)
    (w.sum() * 2).backward()
    opt.step()
    assert len(opt.state) == 1 and w in opt.state
    np.testing.assert_array_equal(b.detach().numpy(), _B0)


def test_closure():
    tp, npar = make_params(torch, "float64"), make_params(nt, "float64")
    topt = torch.optim.SGD(tp, lr=0.01, momentum=0.9)
    nopt = nt.optim.SGD(npar, lr=0.01, momentum=0.9)

    def closure_for(lib, opt, params):
        def closure():
            assert lib.is_grad_enabled()
            opt.zero_grad()
            loss = loss_fn(lib, params)
            loss.backward()
            return loss
        return closure

    for _ in range(5):
        tl = topt.step(closure_for(torch, topt, tp))
        with nt.no_grad():  # the closure still runs with grad enabled
            nl = nopt.step(closure_for(nt, nopt, npar))
        assert nl.item() == pytest.approx(tl.item(), rel=1e-12)
    assert_params_close(npar, tp, "float64")
    assert nopt.step() is None


def test_step_runs_without_grad_and_bumps_versions():
    params = make_params(nt, "float64")
    opt = nt.optim.Adam(params, lr=0.1)
    seen = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append(nt.is_grad_enabled()))
    handle = opt.register_step_post_hook(lambda o, a, k: seen.append("post"))
    loss_fn(nt, params).backward()
    before = [p._version for p in params]
    opt.step()
    assert [p._version for p in params] != before
    assert all(p.grad_fn is None and p.requires_grad for p in params)
    assert opt.state[params[0]]["exp_avg"]._version == 1
    handle.remove()
    opt.step()
    assert seen == [True, "post", True]


def test_non_contiguous_parameter():
    base = np.ascontiguousarray(_W0.T)  # (4, 3): its transpose is W0 without being contiguous
    w = nt.tensor(base).t().detach().requires_grad_()
    assert not w.is_contiguous() and w.is_leaf
    b, v = make_params(nt, "float64")[1:]
    tp = make_params(torch, "float64")
    topt = torch.optim.Adam(tp, lr=0.05, amsgrad=True)
    nopt = nt.optim.Adam([w, b, v], lr=0.05, amsgrad=True)
    train(torch, topt, tp, 10)
    train(nt, nopt, [w, b, v], 10)
    assert_params_close([w, b, v], tp, "float64")


def test_large_parameter_runs_parallel_kernel():
    # above the policy's parallel threshold the parallel twin runs: same numbers as torch
    rng = np.random.default_rng(1)
    a = rng.standard_normal(1 << 16)
    for name, kw in [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1)),
                     ("RMSprop", dict(lr=0.01, centered=True, momentum=0.3)),
                     ("Adagrad", dict(lr=0.1))]:
        tw = torch.tensor(a, requires_grad=True)
        nw = nt.tensor(a, requires_grad=True)
        topt, nopt = getattr(torch.optim, name)([tw], **kw), getattr(nt.optim, name)([nw], **kw)
        for lib, opt, w in ((torch, topt, tw), (nt, nopt, nw)):
            for _ in range(3):
                opt.zero_grad()
                (w * w * w).sum().backward()
                opt.step()
        np.testing.assert_allclose(nw.detach().numpy(), tw.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)


def test_errors():
    w = nt.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        nt.optim.SGD([w], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum"):
        nt.optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid momentum"):
        nt.optim.SGD([w], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 0"):
        nt.optim.Adam([w], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        nt.optim.AdamW([w], betas=(0.9, -0.1))
    with pytest.raises(ValueError, match="Invalid epsilon"):
        nt.optim.Adam([w], eps=-1e-8)
    with pytest.raises(ValueError, match="Invalid weight_decay"):
        nt.optim.Adam([w], weight_decay=-1)
    with pytest.raises(ValueError, match="Invalid alpha"):
        nt.optim.RMSprop([w], alpha=-0.1)
    with pytest.raises(ValueError, match="Invalid lr_decay"):
        nt.optim.Adagrad([w], lr_decay=-0.1)
    with pytest.raises(ValueError, match="Invalid initial_accumulator_value"):
        nt.optim.Adagrad([w], initial_accumulator_value=-1)
    with pytest.raises(ValueError, match="empty parameter list"):
        nt.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        nt.optim.SGD(w, lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        nt.optim.SGD([w, 1.0], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        nt.optim.SGD([w * 2], lr=0.1)
    with pytest.raises(TypeError, match="must be a dict"):
        nt.optim.SGD([w], lr=0.1).add_param_group([w])


# --------------------------------------------------------------------------------------------
# Schedulers
# --------------------------------------------------------------------------------------------
def _opt_pair(opt_name="SGD", **kw):
    kw = kw or dict(lr=0.1, momentum=0.9)
    tp = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    npar = [nt.zeros(2, requires_grad=True), nt.zeros(3, requires_grad=True)]

    def groups(p):
        return [{"params": [p[0]]}, {"params": [p[1]], "lr": kw["lr"] * 0.5}]
    return (getattr(torch.optim, opt_name)(groups(tp), **kw),
            getattr(nt.optim, opt_name)(groups(npar), **kw))


SCHEDULERS = [
    ("StepLR", dict(step_size=4, gamma=0.5), "SGD"),
    ("MultiStepLR", dict(milestones=[3, 7, 7, 20], gamma=0.3), "SGD"),
    ("ExponentialLR", dict(gamma=0.9), "SGD"),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001), "SGD"),
    ("CosineAnnealingLR", dict(T_max=7), "Adam"),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (1 + e)), "SGD"),
    ("LinearLR", dict(start_factor=0.25, end_factor=0.9, total_iters=12), "SGD"),
    ("LinearLR", dict(), "Adam"),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=31), "SGD"),
    ("OneCycleLR", dict(max_lr=[1.0, 0.5], epochs=4, steps_per_epoch=8,
                        anneal_strategy="linear", pct_start=0.25), "SGD"),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=40, three_phase=True), "Adam"),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=35, cycle_momentum=False,
                        div_factor=10.0, final_div_factor=100.0), "Adam"),
]


def _build(mod, opt, name, kw):
    return getattr(mod.optim.lr_scheduler, name)(opt, **kw)


def _check_groups(topt, nopt):
    for tg, ng in zip(topt.param_groups, nopt.param_groups):
        assert ng["lr"] == pytest.approx(tg["lr"], rel=1e-13, abs=1e-15)
        for key in ("momentum", "betas"):
            if key in tg:
                assert ng[key] == pytest.approx(tg[key], rel=1e-13)


@pytest.mark.parametrize("name,kw,opt_name", SCHEDULERS,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(SCHEDULERS)])
def test_scheduler_matches_torch(name, kw, opt_name):
    topt, nopt = _opt_pair(opt_name, lr=0.1)
    ts, ns = _build(torch, topt, name, kw), _build(nt, nopt, name, kw)
    assert ns.base_lrs == pytest.approx(ts.base_lrs)
    assert ns.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-13)
    _check_groups(topt, nopt)
    for _ in range(30):
        topt.step()
        nopt.step()
        ts.step()
        ns.step()
        assert ns.last_epoch == ts.last_epoch
        assert ns.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-13, abs=1e-15)
        _check_groups(topt, nopt)


@pytest.mark.parametrize("name,kw,opt_name", SCHEDULERS,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(SCHEDULERS)])
def test_scheduler_state_dict_round_trip(name, kw, opt_name):
    _, ropt = _opt_pair(opt_name, lr=0.1)
    rs = _build(nt, ropt, name, kw)
    lrs = []
    for _ in range(30):
        ropt.step()
        rs.step()
        lrs.append(rs.get_last_lr())

    _, opt = _opt_pair(opt_name, lr=0.1)
    s = _build(nt, opt, name, kw)
    for _ in range(12):
        opt.step()
        s.step()
    ssd, osd = copy.deepcopy(s.state_dict()), copy.deepcopy(opt.state_dict())
    assert "optimizer" not in ssd and ssd["last_epoch"] == 12

    _, opt2 = _opt_pair(opt_name, lr=0.1)
    s2 = _build(nt, opt2, name, kw)
    s2.load_state_dict(ssd)
    opt2.load_state_dict(osd)
    for i in range(12, 30):
        opt2.step()
        s2.step()
        assert s2.get_last_lr() == lrs[i]


def test_sequential_lr_matches_torch():
    def build(mod, opt):
        S = mod.optim.lr_scheduler
        s1 = S.LinearLR(opt, start_factor=0.1, total_iters=5)
        s2 = S.ExponentialLR(opt, gamma=0.9)
        s3 = S.CosineAnnealingLR(opt, T_max=6, eta_min=0.01)
        return S.SequentialLR(opt, schedulers=[s1, s2, s3], milestones=[5, 12])
    topt, nopt = _opt_pair()
    ts, ns = build(torch, topt), build(nt, nopt)
    assert ns.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-13)
    sd = None
    for i in range(30):
        topt.step()
        nopt.step()
        ts.step()
        ns.step()
        assert ns.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-13), i
        _check_groups(topt, nopt)
        if i == 9:
            sd, osd, mark = copy.deepcopy(ns.state_dict()), copy.deepcopy(nopt.state_dict()), i
    # round trip from the middle of the second phase
    _, nopt2 = _opt_pair()
    ns2 = build(nt, nopt2)
    ns2.load_state_dict(sd)
    nopt2.load_state_dict(osd)
    assert isinstance(sd["_schedulers"], list) and len(sd["_schedulers"]) == 3
    for _ in range(mark + 1, 30):
        nopt2.step()
        ns2.step()
    assert ns2.get_last_lr() == ns.get_last_lr()


@pytest.mark.parametrize("kw", [
    dict(),
    dict(mode="max", factor=0.5, patience=2, threshold=0.01, threshold_mode="abs", cooldown=2),
    dict(factor=0.3, patience=1, cooldown=1, min_lr=[0.01, 0.02], eps=1e-3),
    dict(mode="max", patience=0, threshold=0.1),
])
def test_reduce_lr_on_plateau_matches_torch(kw):
    metrics = [1.0, 0.9, 0.95, 0.95, 0.94, 0.96, 0.97, 0.8, 0.81, 0.82, 0.83, 0.84, 1.2, 1.3,
               1.25, 1.25, 1.25, 0.5, 0.5, 0.5, 0.49, 0.6, 0.7, 0.7, 0.7, 0.7, 0.1, 0.1, 0.1, 0.1]
    topt, nopt = _opt_pair()
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    ns = nt.optim.lr_scheduler.ReduceLROnPlateau(nopt, **kw)
    for i, m in enumerate(metrics):
        topt.step()
        nopt.step()
        ts.step(m)
        ns.step(nt.tensor(m, dtype=nt.float64) if i % 2 else m)
        assert ns.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-13)
        assert (ns.num_bad_epochs, ns.cooldown_counter, ns.best) == (
            ts.num_bad_epochs, ts.cooldown_counter, ts.best)
        _check_groups(topt, nopt)
        if i == 14:
            sd = copy.deepcopy(ns.state_dict())
    _, nopt2 = _opt_pair()
    ns2 = nt.optim.lr_scheduler.ReduceLROnPlateau(nopt2, **kw)
    ns2.load_state_dict(sd)
    assert (ns2.best, ns2.last_epoch, ns2.mode) == (sd["best"], 15, sd["mode"])


def test_scheduler_errors_and_warnings():
    _, nopt = _opt_pair()
    S = nt.optim.lr_scheduler
    with pytest.raises(TypeError, match="is not an Optimizer"):
        S.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        S.ReduceLROnPlateau(nopt, factor=1.0)
    with pytest.raises(ValueError, match="mode foo is unknown"):
        S.ReduceLROnPlateau(nopt, mode="foo")
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(nopt, max_lr=1.0)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        S.LambdaLR(nopt, lr_lambda=[lambda e: 1.0])
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        S.LinearLR(nopt, start_factor=0)
    with pytest.raises(KeyError, match="initial_lr"):
        _, fresh = _opt_pair()
        S.StepLR(fresh, step_size=1, last_epoch=3)
    s = S.OneCycleLR(nopt, max_lr=1.0, total_steps=2)
    nopt.step(); s.step(); nopt.step(); s.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        s.step()
    _, nopt = _opt_pair()
    s = S.StepLR(nopt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nopt.step()
        s.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        s.get_lr()


def test_scheduler_drives_training_like_torch():
    """Adam + OneCycleLR (beta1 cycled) end to end: the parameters follow torch's."""
    tp, npar = make_params(torch, "float64"), make_params(nt, "float64")
    topt, nopt = torch.optim.Adam(tp, lr=0.01), nt.optim.Adam(npar, lr=0.01)
    ts = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=20)
    ns = nt.optim.lr_scheduler.OneCycleLR(nopt, max_lr=0.1, total_steps=20)
    for _ in range(20):
        train(torch, topt, tp, 1)
        train(nt, nopt, npar, 1)
        ts.step()
        ns.step()
    assert_params_close(npar, tp, "float64")
    assert math.isclose(nopt.param_groups[0]["betas"][0], topt.param_groups[0]["betas"][0])
