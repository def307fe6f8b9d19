"""Family 4: optimizer state dicts tampered with, loaded into a fresh optimizer, then ``step()``.

``tamper_case(mod, opt_name, tamper)`` steps an optimizer once, takes its ``state_dict``, changes
it as ``TAMPERS[tamper]`` says, loads it into a new optimizer over fresh parameters and steps
twice; it returns ``("ok", parameters)`` or ``("raise", exception summary)``. The parent runs it
with torch and numtorch (in the sandbox) and compares: the same built-in exception type (at load
or at step), or the same parameters (where PyTorch casts or ignores what was changed).
"""
import warnings

import numpy as np

import numtorch

from .gradcases import OPTIMIZERS, _params, step
from .opfuzz import _exc


def _state_keys(st):
    return sorted(k for k in st if k != "step")


def _each_state_tensor(mod, sd, fn):
    """Replace every non-step state tensor of parameter 0 by ``fn(tensor)``."""
    st = sd["state"][0]
    for k in _state_keys(st):
        if isinstance(st[k], mod.Tensor):
            st[k] = fn(st[k])


def _drop_first(sd):
    st = sd["state"][0]
    del st[_state_keys(st)[0]]


def _set_step(sd, fn):
    """Change parameter 0's ``step`` (optimizers that keep one: not SGD)."""
    st = sd["state"][0]
    if "step" in st:
        st["step"] = fn(st["step"])


TAMPERS = {
    "wrong_size": lambda t, sd: _each_state_tensor(t, sd, lambda v: t.zeros(5)),
    "broadcastable_smaller": lambda t, sd: _each_state_tensor(t, sd, lambda v: t.zeros(1, 4)),
    "zero_dim": lambda t, sd: _each_state_tensor(t, sd, lambda v: t.tensor(0.5)),
    "same_numel_other_shape": lambda t, sd: _each_state_tensor(t, sd, lambda v: v.reshape(-1)),
    "float64": lambda t, sd: _each_state_tensor(t, sd, lambda v: v.double()),
    "int64": lambda t, sd: _each_state_tensor(t, sd, lambda v: (v * 1000).long()),
    "bool": lambda t, sd: _each_state_tensor(t, sd, lambda v: v != 0),
    "noncontiguous": lambda t, sd: _each_state_tensor(t, sd, lambda v: v.t().contiguous().t()),
    "empty": lambda t, sd: _each_state_tensor(t, sd, lambda v: t.zeros(0)),
    "step_python_number": lambda t, sd: _set_step(sd, float),
    "step_two_elements": lambda t, sd: _set_step(sd, lambda s: t.tensor([1.0, 2.0])),
    "missing_key": lambda t, sd: _drop_first(sd),
    "missing_step": lambda t, sd: sd["state"][0].pop("step", None),
    "extra_key": lambda t, sd: sd["state"][0].__setitem__("bogus", t.ones(7)),
    "extra_param_state": lambda t, sd: sd["state"].__setitem__(99, {"momentum_buffer": t.ones(2)}),
    "no_state": lambda t, sd: sd.__setitem__("state", {}),
    "extra_group": lambda t, sd: sd["param_groups"].append(dict(sd["param_groups"][0])),
    "group_too_long": lambda t, sd: sd["param_groups"][0]["params"].append(5),
    "no_groups": lambda t, sd: sd.__setitem__("param_groups", []),
    "lr_none": lambda t, sd: sd["param_groups"][0].__setitem__("lr", None),
}


def _clone(mod, obj):
    if isinstance(obj, mod.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _clone(mod, v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clone(mod, v) for v in obj]
    return obj


def _grads(mod, w, b):
    rng = np.random.default_rng(11)
    w.grad = mod.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    b.grad = mod.tensor(rng.standard_normal(4).astype(np.float32))


def tamper_case(mod, opt_name, tamper):
    make = OPTIMIZERS[opt_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w, b = _params(mod)
        opt = make(mod, [w, b])
        _grads(mod, w, b)
        step(mod, opt, [w, b])
        sd = _clone(mod, opt.state_dict())
        TAMPERS[tamper](mod, sd)
        w2, b2 = _params(mod)
        opt2 = make(mod, [w2, b2])
        try:
            opt2.load_state_dict(sd)
            for _ in range(2):
                _grads(mod, w2, b2)
                step(mod, opt2, [w2, b2])
            return "ok", [np.array(p.detach().numpy(), copy=True) for p in (w2, b2)]
        except Exception as e:  # noqa: BLE001 -- compared with torch's
            return "raise", _exc(e)


def run_numtorch(opt_name, tamper):
    return tamper_case(numtorch, opt_name, tamper)
