"""Adadelta, Adamax, NAdam, RAdam, ASGD and LBFGS against torch.optim (the installed torch).

The fused optimizers get the same initial weights and the same gradient sequence in both
frameworks; parameters and every state tensor must agree after each step. State dicts travel
numtorch -> torch -> numtorch and training continues identically. LBFGS runs on a Rosenbrock
function with and without the strong-Wolfe line search.
"""
import copy

import numpy as np
import pytest

import numtorch as nt
import numtorch.optim  # noqa: F401

torch = pytest.importorskip("torch")

_rng = np.random.default_rng(7)
_W0 = _rng.standard_normal((3, 4))
_B0 = _rng.standard_normal(3)
_GRADS = [(_rng.standard_normal((3, 4)), _rng.standard_normal(3)) for _ in range(10)]
NP_DT = {"float32": np.float32, "float64": np.float64}
TOL = {"float32": dict(rtol=1e-6, atol=1e-7), "float64": dict(rtol=1e-12, atol=1e-14)}

CASES = [
    ("Adadelta", {}),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True)),
    ("Adamax", {}),
    ("Adamax", dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.1, maximize=True)),
    ("NAdam", {}),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.1)),
    ("RAdam", dict(lr=0.1, betas=(0.9, 0.9), weight_decay=0.1)),  # rectified from step 6 on
    ("RAdam", dict(lr=0.1, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("ASGD", dict(lr=0.1)),
    ("ASGD", dict(lr=0.1, lambd=0.01, alpha=0.5, t0=2, weight_decay=0.1, maximize=True)),
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CASES)]


def make_params(lib, dtype, device=None):
    ps = [lib.tensor(a.astype(NP_DT[dtype]), requires_grad=True) for a in (_W0, _B0)]
    if device is not None:
        ps = [p.detach().to(device).requires_grad_() for p in ps]
    return ps


def train(lib, opt, params, steps, start=0):
    for gw, gb in _GRADS[start:start + steps]:
        for p, g in zip(params, (gw, gb)):
            p.grad = lib.tensor(g.astype(p.detach().cpu().numpy().dtype)).to(p.device)
        opt.step()


def as_np(t):
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def assert_same(nparams, tparams, nopt, topt, dtype):
    for a, b in zip(nparams, tparams):
        np.testing.assert_allclose(as_np(a), as_np(b), **TOL[dtype])
    nsd, tsd = nopt.state_dict(), topt.state_dict()
    assert sorted(nsd["state"]) == sorted(tsd["state"])
    for i in tsd["state"]:
        assert sorted(nsd["state"][i]) == sorted(tsd["state"][i])
        for k, tv in tsd["state"][i].items():
            nv = nsd["state"][i][k]
            assert tuple(nv.shape) == tuple(tv.shape), k
            assert str(nv.dtype).split(".")[-1] == str(tv.dtype).split(".")[-1], k
            np.testing.assert_allclose(as_np(nv), as_np(tv), **TOL[dtype])
    assert [sorted(g) for g in nsd["param_groups"]] == [sorted(g) for g in tsd["param_groups"]]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_matches_torch(name, kwargs, dtype):
    tp, npar = make_params(torch, dtype), make_params(nt, dtype)
    topt = getattr(torch.optim, name)(tp, **kwargs)
    nopt = getattr(nt.optim, name)(npar, **kwargs)
    for s in range(8):
        train(torch, topt, tp, 1, s)
        train(nt, nopt, npar, 1, s)
        assert_same(npar, tp, nopt, topt, dtype)


def test_matches_torch_through_backward():
    # a tiny Linear trained on fixed data: gradients come from autograd in both frameworks
    x = _rng.standard_normal((8, 4))
    y = _rng.standard_normal((8, 3))
    for name, kwargs in [("NAdam", dict(lr=0.01)), ("RAdam", dict(lr=0.01)),
                         ("Adamax", dict(lr=0.01)), ("Adadelta", {}), ("ASGD", {})]:
        res = []
        for lib in (torch, nt):
            w, b = make_params(lib, "float64")
            opt = getattr(lib.optim, name)([w, b], **kwargs)
            for _ in range(5):
                opt.zero_grad()
                loss = ((lib.tensor(x) @ w.T + b - lib.tensor(y)) ** 2).mean()
                loss.backward()
                opt.step()
            res.append([as_np(w), as_np(b)])
        for a, b in zip(*res):
            np.testing.assert_allclose(b, a, **TOL["float64"])


def _to_torch_sd(sd):
    return {"state": {i: {k: torch.tensor(as_np(v).copy()) for k, v in s.items()}
                      for i, s in sd["state"].items()},
            "param_groups": copy.deepcopy(sd["param_groups"])}


def _to_nt_sd(sd):
    return {"state": {i: {k: nt.tensor(as_np(v).copy()) for k, v in s.items()}
                      for i, s in sd["state"].items()},
            "param_groups": copy.deepcopy(sd["param_groups"])}


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_state_dict_both_ways(name, kwargs):
    dtype = "float64"
    tp, npar = make_params(torch, dtype), make_params(nt, dtype)
    topt = getattr(torch.optim, name)(tp, **kwargs)
    nopt = getattr(nt.optim, name)(npar, **kwargs)
    train(nt, nopt, npar, 3)
    # numtorch -> torch: torch continues from numtorch's state
    tp2 = [torch.tensor(as_np(p).copy(), requires_grad=True) for p in npar]
    topt2 = getattr(torch.optim, name)(tp2, **{**kwargs, "lr": 123.0})
    topt2.load_state_dict(_to_torch_sd(nopt.state_dict()))
    assert topt2.param_groups[0]["lr"] == kwargs.get("lr", topt.defaults["lr"])
    train(torch, topt2, tp2, 3, 3)
    # ... and back: numtorch continues from torch's state
    np2 = [nt.tensor(as_np(p).copy(), requires_grad=True) for p in tp2]
    nopt2 = getattr(nt.optim, name)(np2, **kwargs)
    nopt2.load_state_dict(_to_nt_sd(topt2.state_dict()))
    assert nopt2.state[np2[0]]["step"].item() == 6
    # reference: torch all the way, with the same two loads (a load casts 0-d state such as
    # mu_product or eta to the parameter's dtype, which changes later roundings)
    train(torch, topt, tp, 3)
    for start in (3, 6):
        tp = [torch.tensor(as_np(p).copy(), requires_grad=True) for p in tp]
        sd = copy.deepcopy(topt.state_dict())
        topt = getattr(torch.optim, name)(tp, **kwargs)
        topt.load_state_dict(sd)
        train(torch, topt, tp, 3, start)
    train(nt, nopt2, np2, 3, 6)
    assert_same(np2, tp, nopt2, topt, dtype)


BAD = [
    ("Adadelta", dict(lr=-1.0)), ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(eps=-1.0)),
    ("Adadelta", dict(weight_decay=-0.1)),
    ("Adamax", dict(lr=-1.0)), ("Adamax", dict(eps=-1.0)), ("Adamax", dict(betas=(1.0, 0.9))),
    ("Adamax", dict(betas=(0.9, -0.1))), ("Adamax", dict(weight_decay=-1)),
    ("NAdam", dict(lr=-0.5)), ("NAdam", dict(momentum_decay=-1.0)),
    ("NAdam", dict(betas=(0.9, 1.0))), ("NAdam", dict(weight_decay=-1.0)),
    ("RAdam", dict(lr=-1.0)), ("RAdam", dict(eps=-1e-8)), ("RAdam", dict(betas=(-0.1, 0.9))),
    ("RAdam", dict(weight_decay=-1.0)),
    ("ASGD", dict(lr=-1.0)), ("ASGD", dict(weight_decay=-1.0)),
    ("LBFGS", dict(lr=-1.0)),
]


@pytest.mark.parametrize("name,kwargs", BAD, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD)])
def test_bad_arguments_raise_like_torch(name, kwargs):
    with pytest.raises(ValueError) as want:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as got:
        getattr(nt.optim, name)([nt.zeros(2, requires_grad=True)], **kwargs)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("name", ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD"])
def test_options_accepted_like_torch(name):
    # foreach/capturable/differentiable are accepted (and ignored: the update is always fused);
    # an option torch does not know is a TypeError in both
    for kw in (dict(foreach=True), dict(foreach=False), dict(differentiable=False)):
        getattr(nt.optim, name)([nt.zeros(2, requires_grad=True)], **kw)
    with pytest.raises(TypeError):
        getattr(nt.optim, name)([nt.zeros(2, requires_grad=True)], no_such_option=1)
    t = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)])
    n = getattr(nt.optim, name)([nt.zeros(2, requires_grad=True)])
    assert sorted(n.defaults) == sorted(t.defaults)
    assert n.defaults == {k: v for k, v in t.defaults.items()}


def test_bad_state_shape_is_caught():
    params = make_params(nt, "float64")
    opt = nt.optim.NAdam(params)
    train(nt, opt, params, 1)
    sd = copy.deepcopy(opt.state_dict())
    sd["state"][0]["exp_avg"] = nt.zeros(5, dtype=nt.float64)
    opt.load_state_dict(sd)
    with pytest.raises(RuntimeError, match="exp_avg"):
        train(nt, opt, params, 1)


@pytest.mark.parametrize("name,kwargs", [CASES[1], CASES[3], CASES[6], CASES[9], CASES[11]],
                         ids=["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD"])
def test_cuda_matches_cpu(name, kwargs):
    if not nt.cuda.is_available():
        pytest.skip("no CUDA (and no simulator)")
    cp, gp = make_params(nt, "float32"), make_params(nt, "float32", "cuda")
    copt = getattr(nt.optim, name)(cp, **kwargs)
    gopt = getattr(nt.optim, name)(gp, **kwargs)
    train(nt, copt, cp, 4)
    train(nt, gopt, gp, 4)
    for a, b in zip(gp, cp):
        assert a.device.type == "cuda"
        np.testing.assert_allclose(as_np(a), as_np(b), **TOL["float32"])
    for p, q in zip(gp, cp):
        for k, v in copt.state[q].items():
            np.testing.assert_allclose(as_np(gopt.state[p][k]), as_np(v), **TOL["float32"])


# --- LBFGS ------------------------------------------------------------------------------------
_X0 = np.array([-1.5, 2.0, 0.5, -0.3])


def rosenbrock_run(lib, dtype, steps, **kwargs):
    x = lib.tensor(_X0.astype(NP_DT[dtype]), requires_grad=True)
    opt = lib.optim.LBFGS([x], **kwargs)

    def closure():
        opt.zero_grad()
        loss = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
        loss.backward()
        return loss

    losses = [float(opt.step(closure).detach()) for _ in range(steps)]
    st = opt.state[x]
    return as_np(x), losses, st["func_evals"], st["n_iter"], opt


LBFGS_CASES = [
    dict(max_iter=5, history_size=3, lr=0.5),
    dict(max_iter=5, history_size=3, lr=0.5, line_search_fn="strong_wolfe"),
    dict(line_search_fn="strong_wolfe"),
    dict(max_iter=4, history_size=2, line_search_fn="strong_wolfe", tolerance_change=1e-6),
]


# (float32 with the default 20 iterations per step amplifies last-bit differences on Rosenbrock:
# that case is compared in float64 only)
@pytest.mark.parametrize("dtype,kwargs", [
    (dt, kw) for kw in LBFGS_CASES for dt in ("float32", "float64")
    if not (dt == "float32" and kw.get("max_iter", 20) == 20)])
def test_lbfgs_matches_torch(kwargs, dtype):
    a = rosenbrock_run(torch, dtype, 3, **kwargs)
    b = rosenbrock_run(nt, dtype, 3, **kwargs)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b[0], a[0], **tol)
    np.testing.assert_allclose(b[1], a[1], **tol)
    assert b[2:4] == a[2:4]  # same number of evaluations and iterations


def test_lbfgs_state_dict_round_trip():
    kwargs = dict(max_iter=3, history_size=4, line_search_fn="strong_wolfe")
    _, _, _, _, ref = rosenbrock_run(nt, "float64", 4, **kwargs)
    x, _, _, _, opt = rosenbrock_run(nt, "float64", 2, **kwargs)
    sd = copy.deepcopy(opt.state_dict())
    x2 = nt.tensor(x, requires_grad=True)
    opt2 = nt.optim.LBFGS([x2], **kwargs)
    opt2.load_state_dict(sd)

    def closure():
        opt2.zero_grad()
        loss = (100 * (x2[1:] - x2[:-1] ** 2) ** 2 + (1 - x2[:-1]) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(2):
        opt2.step(closure)
    want = ref.param_groups[0]["params"][0]
    np.testing.assert_array_equal(as_np(x2), as_np(want))
    assert opt2.state[x2]["n_iter"] == ref.state[want]["n_iter"]


def test_lbfgs_arguments():
    x = nt.zeros(2, requires_grad=True)
    with pytest.raises(TypeError):
        nt.optim.LBFGS([x]).step()  # a closure is required
    with pytest.raises(ValueError, match="parameter groups"):
        nt.optim.LBFGS([{"params": [x]}, {"params": [nt.zeros(1, requires_grad=True)]}])
    opt = nt.optim.LBFGS([x], line_search_fn="armijo")

    def closure():
        opt.zero_grad()
        loss = ((x - 1) ** 2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)
    assert nt.optim.LBFGS([x], max_iter=8).defaults["max_eval"] == 10
    t = torch.optim.LBFGS([torch.zeros(2, requires_grad=True)])
    assert nt.optim.LBFGS([x]).defaults == t.defaults


def test_lbfgs_cuda_matches_cpu():
    if not nt.cuda.is_available():
        pytest.skip("no CUDA (and no simulator)")
    res = []
    for device in ("cpu", "cuda"):
        x = nt.tensor(_X0).to(device).requires_grad_()
        # (each op is a simulated launch on "cuda": one step of 4 iterations, history wrapping)
        opt = nt.optim.LBFGS([x], max_iter=4, history_size=2, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        assert x.device.type == device
        res.append(as_np(x))
    np.testing.assert_allclose(res[1], res[0], rtol=1e-12, atol=1e-14)
