"""``Optimizer``: param groups, per-parameter state and its ``state_dict``, in PyTorch's shape.

A subclass sets its defaults and writes ``step``: for each parameter with a gradient it makes
sure the state exists and calls one fused in-place kernel (``numtorch.kernels.<device>.optim``).
``step`` always runs outside autograd; a closure runs with grad enabled.
"""
import copy
import functools
import warnings
from collections import OrderedDict, defaultdict
from itertools import chain

import numpy as np

from .._hooks import RemovableHandle
from .._tracing import state as _listen
from .._tensor import Tensor
from .. import _creation, _dtype as D
from ..autograd import grad_mode
from ..ops import _core

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Singleton marking a default that every param group must set."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _wrap_step(step):
    # every subclass's step: hooks around it, autograd off inside (PyTorch's _use_grad)
    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        if _listen.capture is not None:  # numtorch.compile: the step runs eagerly in each replay
            return _listen.capture.island(self, wrapper, args, kwargs)
        for hook in list(self._optimizer_step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        f"{hook} must return None or a tuple of (new_args, new_kwargs), "
                        f"but got {result}.")
                args, kwargs = result
        prev = grad_mode.state.enabled
        grad_mode.state.enabled = False
        try:
            out = step(self, *args, **kwargs)
        finally:
            grad_mode.state.enabled = prev
        self._opt_called = True
        for hook in list(self._optimizer_step_post_hooks.values()):
            hook(self, args, kwargs)
        return out
    wrapper._numtorch_wrapped = True
    return wrapper


def _typename(obj):
    if isinstance(obj, Tensor):
        return "numtorch.Tensor"
    return type(obj).__module__ + "." + type(obj).__qualname__


class Optimizer:
    """Base class of all optimizers (PyTorch's ``torch.optim.Optimizer``).

    ``params`` is an iterable of tensors, or of dicts (param groups) with a ``"params"`` entry and
    per-group options that override ``defaults``.

    >>> import numtorch as torch
    >>> w = torch.ones(3, requires_grad=True)
    >>> opt = torch.optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step(); opt.zero_grad()
    >>> w
    tensor([0.8000, 0.8000, 0.8000], requires_grad=True)
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_numtorch_wrapped", False):
            cls.step = _wrap_step(step)

    def __init__(self, params, defaults):
        self.defaults = defaults
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                "dicts, but got " + _typename(params))
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    # --- pickling and repr ------------------------------------------------------------------
    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("_optimizer_step_pre_hooks", OrderedDict())
        self.__dict__.setdefault("_optimizer_step_post_hooks", OrderedDict())
        self.defaults.setdefault("differentiable", False)

    def __repr__(self):
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"

    # --- param groups -----------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a param group (a dict with ``"params"`` and optional per-group options)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)

        tensors, names = [], []
        for param in param_group["params"]:
            if isinstance(param, tuple):  # (name, tensor) from named_parameters()
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. "
                                 "Some param names are missing")
            param_group["param_names"] = names

        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(param))
            if not self.defaults.get("differentiable", None) and not (
                    param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)

        ids = [id(p) for p in param_group["params"]]
        if len(ids) != len(set(ids)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this "
                "will cause an error; see github.com/pytorch/pytorch/issues/40967 for more "
                "information", stacklevel=3)
        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                txt = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {txt} to the optimizer")
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # --- gradients --------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Reset the gradients: to ``None`` (default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        g = p.grad
                        if g.grad_fn is not None:
                            g.detach_()
                        else:
                            g.requires_grad_(False)
                        g.zero_()

    def step(self, closure=None):
        """Perform one optimization step (subclasses implement it)."""
        raise NotImplementedError

    @staticmethod
    def _eval_closure(closure):
        if closure is None:
            return None
        prev = grad_mode.state.enabled
        grad_mode.state.enabled = True
        try:
            return closure()
        finally:
            grad_mode.state.enabled = prev

    # --- hooks ------------------------------------------------------------------------------
    def register_step_pre_hook(self, hook):
        """``hook(optimizer, args, kwargs) -> None | (args, kwargs)`` runs before ``step``."""
        handle = RemovableHandle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook):
        """``hook(optimizer, args, kwargs)`` runs after ``step``."""
        handle = RemovableHandle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    # --- state_dict -------------------------------------------------------------------------
    def state_dict(self):
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]}``.

        Parameters are numbered in group order; state tensors are the live ones (not copies),
        as in PyTorch: save the dict (``numtorch.save``) or deep-copy it to keep a snapshot.
        """
        mapping = {}
        start = 0

        def pack_group(group):
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            mapping.update({id(p): i for i, p in enumerate(group["params"], start)
                            if id(p) not in mapping})
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v
                        for k, v in self.state.items()}
        return {"state": packed_state, "param_groups": param_groups}

    @staticmethod
    def _cast_state_value(param, value, key, fused_or_capturable):
        # as PyTorch's _process_value_according_to_param_policy: state follows the parameter's
        # device and, for a floating parameter, its dtype; 'step' keeps its own dtype. Shapes
        # are step()'s check (_Updated). Tensors are copied (PyTorch may alias them): the
        # loaded dict stays untouched.
        if key == "step":
            if fused_or_capturable:
                return value.to(dtype=D.float32, device=param.device).clone()
            return value.clone()
        if param.is_floating_point():
            return value.to(dtype=param.dtype, device=param.device).clone()
        return value.to(device=param.device).clone()

    def load_state_dict(self, state_dict):
        """Load a dict made by :meth:`state_dict` (same group structure)."""
        state_dict = state_dict.copy()
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def flags(param_id):
            for pg in state_dict["param_groups"]:
                if param_id in pg["params"]:
                    return bool(pg.get("fused", False) or pg.get("capturable", False))
            return False

        def cast(param, value, param_id, key=None):
            if key == "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = _creation.tensor(float(value))  # older checkpoints: a Python number
            if isinstance(value, Tensor):
                return self._cast_state_value(param, value, key, flags(param_id))
            if isinstance(value, dict):
                return {k: cast(param, v, param_id, k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(cast(param, v, param_id) for v in value)
            return copy.deepcopy(value)

        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = cast(param, v, k)
            else:
                state[k] = v

        def update_group(group, new_group):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})


# --- helpers shared by the optimizers ---------------------------------------------------------
def _kernels(device):
    """The optimizer kernels of a device (``numtorch.kernels.<type>.optim``)."""
    return _core.kernels(device).optim


def _step_tensor():
    """A fresh 0-d ``step`` counter (float32, float64 under a float64 default, as torch)."""
    dt = D.float64 if D.get_default_dtype() is D.float64 else D.float32
    return Tensor._make(np.zeros((), dt.np), dt)


def _bump_step(step):
    """``step += 1`` in place; returns the new value as a float."""
    step._data[...] += 1
    step._ver[0] += 1
    return float(step._data.reshape(-1)[0])


def _zeros_like(p, value=0.0):
    from ..ops import _core
    t = _core.empty(p._data.shape, p.dtype, p.device)
    _core.fill(t, value)
    return t


def _flat(t, dtype=None):
    """1-D contiguous array over ``t``'s memory (a copy when it is not contiguous)."""
    a = t._data
    if t.device.type == "cpu":
        if dtype is not None and a.dtype != dtype:
            a = a.astype(dtype)
        return np.ascontiguousarray(a).reshape(-1)
    from ..ops import _core
    if dtype is not None and a.dtype != dtype:
        t = _core.cast(t, D.from_numpy(np.dtype(dtype)))
    return t.contiguous()._data.reshape(-1)


class _Updated:
    """Hand a kernel flat contiguous arrays of a parameter and its state, and write results back
    where a temp was needed.

    ``with _Updated(opt, p, exp_avg=m, unused=None) as (a, b, c): kernel(a, b, c)`` bumps every
    version counter. It is the gate of the fused kernels, which index every state array with the
    parameter's positions: each state tensor must have the parameter's shape, dtype and device
    (a state dict loaded from elsewhere may not), else a RuntimeError names the key.
    """
    __slots__ = ("tensors", "arrays")

    def __init__(self, opt, p, **state):
        for key, t in state.items():
            if t is not None and not (isinstance(t, Tensor) and t._data.shape == p._data.shape
                                      and t.dtype is p.dtype and t.device == p.device):
                _bad_state(opt, p, key, t)
        self.tensors = (p,) + tuple(state.values())

    def __enter__(self):
        self.arrays = []
        for t in self.tensors:
            if t is None:
                self.arrays.append(None)
                continue
            self.arrays.append(_flat(t))
        return self.arrays

    def __exit__(self, exc_type, *exc):
        for t, a in zip(self.tensors, self.arrays):
            if t is None:
                continue
            if t._data.size and not t._data.flags.c_contiguous:  # a temp: copy back
                from ..ops import _core
                _core.kernels(t.device).elementwise.copy(a.reshape(t._data.shape), t._data)
            t._ver[0] += 1
        return False


def _bad_state(opt, p, key, t):
    index = next((i for i, q in enumerate(chain.from_iterable(
        g["params"] for g in opt.param_groups)) if q is p), "?")
    where = f"optimizer state '{key}' of parameter {index}"
    if not isinstance(t, Tensor):
        raise RuntimeError(f"{where} must be a Tensor, got {type(t).__name__}")
    if t._data.shape != p._data.shape:
        raise RuntimeError(
            f"size mismatch for {where}: the state has shape {list(t._data.shape)}, the "
            f"parameter has shape {list(p._data.shape)}")
    if t.dtype is not p.dtype:
        raise RuntimeError(
            f"dtype mismatch for {where}: the state is {t.dtype}, the parameter {p.dtype}")
    raise RuntimeError(
        f"device mismatch for {where}: the state is on {t.device}, the parameter on {p.device}")


def _none(p):
    """The empty array a kernel gets for state that its options do not use."""
    if p.device.type == "cpu":
        return np.empty(0, dtype=p._data.dtype)
    from ..ops import _core
    return _core.empty((0,), p.dtype, p.device)._data


def _grad(p):
    """``p.grad`` as a flat contiguous array of ``p``'s dtype (read only by the kernels)."""
    g = p.grad
    if g._data.shape != p._data.shape:
        raise RuntimeError(f"gradient of shape {tuple(g._data.shape)} does not match its "
                           f"parameter's shape {tuple(p._data.shape)}")
    if g.device != p.device:
        raise RuntimeError("gradient and parameter are on different devices")
    if g.dtype is not p.dtype:
        raise RuntimeError(f"gradient of dtype {g.dtype} does not match its parameter's dtype "
                           f"{p.dtype}")
    return _flat(g)
