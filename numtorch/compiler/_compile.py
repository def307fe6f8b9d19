"""``numtorch.compile``: capture a call once at the kernel level, then replay it.

A compiled callable keeps a small cache of *plans*, one per guard key (the tensor arguments'
shapes, dtypes, devices and ``requires_grad``, the other arguments' values, grad mode, the default
dtype and, for a module, every submodule's ``training`` flag; the parameters' storage is checked
too). The first call with a key runs eagerly; the second captures (an eager run that records its
kernel calls, :mod:`numtorch.compiler._capture`); later calls replay. A plan is one of:

- **autograd** (outputs need gradients, e.g. a compiled module's forward): the capture also
  records the backward (``autograd.grad`` of the outputs with respect to the inputs and every leaf
  they depend on), and a replay is one autograd Function whose forward replays the forward kernels
  and whose backward replays the backward kernels: ``loss.backward()`` and ``opt.step()`` outside
  work unchanged and the leaves' ``.grad`` accumulate as in eager mode;
- **step** (no output needs a gradient: a whole training step with ``backward()`` and an
  optimizer ``step()`` inside, or inference): the replay runs every recorded kernel, the optimizer
  steps eagerly in place (:meth:`Capture.island`), and leaves ``.grad`` as the capture did.

Inputs are copied into the plan's own buffers and outputs copied out, so a replay never aliases
the caller's tensors. A graph break (a host read like ``.item()``, an unsupported random draw)
makes that key run eagerly from then on (``fullgraph=True``: an error naming the cause and line).
"""
import time
import warnings
import weakref

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd import grad_mode
from ..autograd.function import Function
from ..autograd.graph import reached_leaves, tensors_in
from ..nn.modules.module import Module
from ..ops import _core
from ._capture import Capture, replay
from ._fuse import fuse
from ._memory import plan_memory

__all__ = ["compile", "reset", "explain", "CompiledFunction", "OptimizedModule"]

#: how many plans (guard keys) one compiled callable keeps before it runs new keys eagerly
CACHE_SIZE = 8
#: how many more plans a module's key may get while its plan awaits a backward (_replay)
SPARE_PLANS = 3


def _busy(plan):
    """Whether a forward replayed from ``plan`` still awaits its backward (its saved values are in
    the plan's buffers): its autograd node is alive and has not run."""
    pending = plan.pending() if plan.pending is not None else None
    return pending is not None and not pending.backward_done

_compiled = weakref.WeakSet()


def reset():
    """Forget every plan of every compiled callable (the next calls capture again).

    >>> import numtorch as torch
    >>> f = torch.compile(lambda x: x + 1)
    >>> for _ in range(3): _ = f(torch.ones(2))
    >>> f.stats["replays"], torch.compiler.reset(), f.stats["replays"]
    (1, None, 0)
    """
    for c in list(_compiled):
        c._reset()


# --- guards ------------------------------------------------------------------------------------
def _arg_key(a):
    if isinstance(a, Tensor):
        return ("T", a._data.shape, a.dtype, a.device, a._requires_grad)
    if isinstance(a, (tuple, list)):
        return (type(a).__name__,) + tuple(_arg_key(x) for x in a)
    if isinstance(a, dict):
        return ("dict",) + tuple((k, _arg_key(v)) for k, v in a.items())
    if isinstance(a, (int, float, bool, str, type(None), D.dtype)):
        return (type(a).__name__, a)
    return ("id", id(a))


def _substitute(obj, it):
    """``obj`` with each tensor replaced by ``next(it)``."""
    if isinstance(obj, Tensor):
        return next(it)
    if isinstance(obj, tuple):
        return tuple(_substitute(o, it) for o in obj)
    if isinstance(obj, list):
        return [_substitute(o, it) for o in obj]
    if isinstance(obj, dict):
        return {k: _substitute(v, it) for k, v in obj.items()}
    return obj


def _copy_into(dst, src):
    _core.kernels(dst.device).elementwise.copy(src._data, dst._data)


def _fresh_copy(t):
    """A new tensor holding ``t``'s values (no graph)."""
    out = _core.empty(t._data.shape, t.dtype, t.device)
    _core.kernels(t.device).elementwise.copy(t._data, out._data)
    return out


def _static_copy(x):
    """The plan's own buffer for an input: a copy, graph-connected to ``x`` when ``x`` needs a
    gradient (so an eager fallback still reaches it)."""
    if x._requires_grad and grad_mode.state.enabled:
        return x.clone()
    return _fresh_copy(x)


class _Plan:
    """One captured call: ``mode`` ``autograd`` or ``step`` (module docstring), the static input
    buffers, the forward (or whole-step) and backward replay programs, the static outputs and
    gradient buffers, and the leaves whose storage is guarded."""
    __slots__ = ("mode", "static_in", "fwd", "bwd", "outs", "structure", "grad_in", "leaves",
                 "grads", "leaf_arrays", "final_grads", "n_kernels", "mutated", "pending",
                 "generation")


class _Replay(Function):
    """A replayed autograd plan: forward = the captured forward kernels, backward = the captured
    backward kernels. Arguments: the plan, a flag (the capture already computed this forward),
    the inputs and then the leaves (so the engine routes their gradients)."""

    @staticmethod
    def forward(ctx, plan, computed, *tensors):
        if not computed:
            for s, x in zip(plan.static_in, tensors):
                _copy_into(s, x)
            replay(plan.fwd)
            for i in plan.mutated:
                _copy_into(tensors[i], plan.static_in[i])
        # the plan's buffers now hold this forward's saved values until its backward has run
        plan.generation += 1
        ctx.plan, ctx.generation, ctx.backward_done = plan, plan.generation, False
        plan.pending = weakref.ref(ctx)
        return tuple(_fresh_copy(o) for o in plan.outs)

    @staticmethod
    def backward(ctx, *grads):
        plan = ctx.plan
        if ctx.generation != plan.generation:
            raise RuntimeError(
                "numtorch.compile: backward through a compiled forward whose buffers a later call "
                "has overwritten (a second backward with retain_graph=True after another forward "
                "of the same compiled module); run that backward before the next forward")
        ctx.backward_done = True
        for buf, g in zip(plan.grad_in, grads):
            if buf is None:
                continue
            if g is None:
                _core.fill(buf, 0)
            else:
                _copy_into(buf, g)
        replay(plan.bwd)
        return (None, None) + tuple(None if g is None else _fresh_copy(g) for g in plan.grads)


class CompiledFunction:
    """What :func:`compile` returns for a function (and uses for a module's forward); ``stats``
    counts captures, replays, eager calls, graph breaks and why it recompiled.

    >>> import numtorch as torch
    >>> f = torch.compile(lambda x: (x * x).sum())
    >>> [f(torch.tensor([1.0, float(i)])).item() for i in range(4)]
    [1.0, 2.0, 5.0, 10.0]
    >>> f.stats["captures"], f.stats["replays"]
    (1, 2)
    """

    def __init__(self, fn, fullgraph=False, module=None, name=None, fuse=True, memory_plan=True):
        self._fn = fn
        self._fullgraph = fullgraph
        self._fuse = fuse
        self._memory_plan = memory_plan
        self._module = module
        self.__name__ = name or getattr(fn, "__name__", "compiled")
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn
        self._reset()
        _compiled.add(self)

    def _reset(self):
        self._plans = {}      # key -> _Plan | "eager" (a graph break) | "seen" (called once)
        self._spares = {}     # key -> more plans of an autograd key (see _replay)
        self._warned = False
        #: what happened: captures, replays, eager calls, graph breaks and retrace reasons
        self.stats = {"captures": 0, "replays": 0, "eager": 0, "breaks": [], "recompiles": [],
                      "fused": 0, "buffer_bytes": (0, 0), "plan_seconds": 0.0}
        self._last_key = None

    def _key(self, args, kwargs):
        key = (_arg_key(args), _arg_key(kwargs), grad_mode.state.enabled, D.get_default_dtype())
        m = self._module
        if m is not None:
            key += (tuple(x.training for x in m.modules()),)
        return key

    def __call__(self, *args, **kwargs):
        key = self._key(args, kwargs)
        plan = self._plans.get(key)
        if isinstance(plan, _Plan):
            for p, a in plan.leaf_arrays:
                if p._data is not a:  # a parameter got new storage (p.data = ...): capture again
                    self.stats["recompiles"].append("a parameter's storage was replaced")
                    plan = self._plans[key] = "seen"
                    self._spares.pop(key, None)
                    break
            else:
                self.stats["replays"] += 1
                return self._replay(plan, args, kwargs)
        if plan is None:
            if self._last_key is not None and len(self._plans) < CACHE_SIZE:
                self.stats["recompiles"].append(_why(self._last_key, key))
            if len(self._plans) >= CACHE_SIZE:
                if not self._warned:
                    self._warned = True
                    warnings.warn(
                        f"numtorch.compile: {self.__name__} was called with {CACHE_SIZE} different "
                        "guard keys (shapes, dtypes, flags); further new keys run eagerly",
                        stacklevel=2)
                self.stats["eager"] += 1
                return self._fn(*args, **kwargs)
            self._last_key = key
            self._plans[key] = "seen"  # first call: eager
            self.stats["eager"] += 1
            return self._fn(*args, **kwargs)
        if plan == "eager":
            self.stats["eager"] += 1
            return self._fn(*args, **kwargs)
        return self._capture(key, args, kwargs)

    # --- capture -------------------------------------------------------------------------------
    def _capture(self, key, args, kwargs, spare=False):
        """Capture a plan for ``key`` (``spare``: one more for a key whose plan is busy)."""
        self.stats["captures"] += 1
        inputs = tensors_in((args, kwargs), [])
        static = [_static_copy(x) for x in inputs]
        s_args, s_kwargs = _substitute((args, kwargs), iter(static))
        versions = [s._ver[0] for s in static]
        with Capture(self._fullgraph) as cap:
            result = self._fn(*s_args, **s_kwargs)
        # inputs the call changed in place: a replay writes them back to the caller's tensors
        mutated = [i for i, (s, v) in enumerate(zip(static, versions)) if s._ver[0] != v]
        for i in mutated:
            _copy_into(inputs[i], static[i])
        outs = tensors_in(result, [])
        if cap.breaks:
            self._plans[key] = "eager"
            self._spares.pop(key, None)
            self.stats["breaks"] += cap.breaks
            return result
        plan = _Plan()
        plan.static_in, plan.fwd = static, cap.steps
        plan.grad_in = plan.grads = plan.pending = None
        plan.generation = 0
        plan.mutated = mutated
        plan.n_kernels = cap.n_kernels
        plan.structure = result
        grad_outs = [o for o in outs if o._requires_grad]
        if grad_outs and grad_mode.state.enabled and not cap.leaves:
            stop = {id(s.grad_fn) for s in static if s.grad_fn is not None}
            leaves = reached_leaves(grad_outs, stop)
            wrt = [s for s in static if s._requires_grad] + [p for p in leaves]
            plan.grad_in = [_core.empty(o._data.shape, o.dtype, o.device) for o in grad_outs]
            for g in plan.grad_in:
                _core.fill(g, 1)
            from ..autograd import grad as _grad
            with Capture(self._fullgraph) as bcap:
                grads = _grad(grad_outs, wrt, grad_outputs=plan.grad_in, allow_unused=True)
            if bcap.breaks or bcap.leaves:
                self._plans[key] = "eager"
                self.stats["breaks"] += bcap.breaks or ["the backward set a .grad"]
                # the forward's graph was used up by the backward capture: run this call again
                return self._fn(*args, **kwargs)
            plan.mode = "autograd"
            plan.bwd = bcap.steps
            plan.n_kernels += bcap.n_kernels
            plan.outs = grad_outs
            # one gradient per argument of _Replay after the two flags: each input (None where it
            # needs none), then each leaf
            it = iter(grads)
            plan.grads = [next(it) if s._requires_grad else None for s in static] + list(it)
            plan.leaves = leaves
            plan.leaf_arrays = [(p, p._data) for p in leaves]
            plan.final_grads = ()
            self._optimise(plan, cap.allocated + bcap.allocated)
            if spare:
                self._spares.setdefault(key, []).append(plan)
            else:
                self._plans[key] = plan
            return self._replay(plan, args, kwargs, computed=True)
        plan.mode = "step"
        plan.bwd = None
        plan.outs = outs
        plan.leaves = list(cap.leaves.values())
        plan.leaf_arrays = [(p, p._data) for p in plan.leaves]
        plan.final_grads = [(p, p.grad) for p in plan.leaves]
        self._optimise(plan, cap.allocated)
        self._plans[key] = plan
        return _substitute(result, iter([_fresh_copy(o) for o in outs]))

    def _optimise(self, plan, allocated):
        """The passes over a new plan: fusion of elementwise chains (``_fuse.py``), then the
        memory plan (``_memory.py``) over the buffers the capture ``allocated``."""
        live = [t._data for t in list(plan.static_in) + list(plan.outs) + list(plan.grad_in or ())
                + [g for g in plan.grads or () if g is not None] + list(plan.leaves)
                + [g for _, g in plan.final_grads if g is not None]]
        programs = [plan.fwd, plan.bwd or []]
        t0 = time.perf_counter()
        if self._fuse:
            n = fuse(programs, live)
            plan.n_kernels -= n
            self.stats["fused"] += n
        if self._memory_plan:
            before, after = plan_memory(programs, live, allocated,
                                        forward_kept=plan.mode == "autograd")
            self.stats["buffer_bytes"] = (before, after)
        self.stats["plan_seconds"] = time.perf_counter() - t0

    # --- replay --------------------------------------------------------------------------------
    def _replay(self, plan, args, kwargs, computed=False):
        inputs = tensors_in((args, kwargs), [])
        if plan.mode == "autograd":
            if _busy(plan) and not computed:
                # an earlier forward still holds this plan's buffers until its backward runs
                # (model(a) + model(b); or an output kept from the last call without a backward):
                # another plan of the same key takes the call, captured if need be (up to
                # SPARE_PLANS), else it runs eagerly
                key = self._key(args, kwargs)
                spares = self._spares.get(key, [])
                free = next((p for p in spares if not _busy(p)), None)
                if free is not None:
                    plan = free
                elif len(spares) < SPARE_PLANS:
                    self.stats["replays"] -= 1
                    return self._capture(key, args, kwargs, spare=True)
                else:
                    self.stats["replays"] -= 1
                    self.stats["eager"] += 1
                    return self._fn(*args, **kwargs)
            outs = _Replay.apply(plan, computed, *inputs, *plan.leaves)
            if not isinstance(outs, tuple):
                outs = (outs,)
            it = iter(outs)
            return _substitute(plan.structure, _GradOuts(plan, it))
        for s, x in zip(plan.static_in, inputs):
            _copy_into(s, x)
        replay(plan.fwd)
        for i in plan.mutated:
            _copy_into(inputs[i], plan.static_in[i])
        for p, g in plan.final_grads:
            p.grad = g
        return _substitute(plan.structure, iter([_fresh_copy(o) for o in plan.outs]))


class _GradOuts:
    """Feeds the replay's outputs into the result structure: an output that needed a gradient
    comes from the replay Function, any other output is a copy of its static buffer."""

    def __init__(self, plan, it):
        self._req = {id(o) for o in plan.outs}
        self._it = it
        self._all = iter(tensors_in(plan.structure, []))

    def __iter__(self):
        return self

    def __next__(self):
        o = next(self._all)
        return next(self._it) if id(o) in self._req else _fresh_copy(o)


def _why(old, new):
    """A short reason why ``new`` missed the plan of ``old`` (for ``stats['recompiles']``)."""
    names = ["arguments", "keyword arguments", "grad mode", "default dtype", "training flags"]
    for name, a, b in zip(names, old, new):
        if a != b:
            return f"{name} changed: {_short(a)} -> {_short(b)}"
    return "new guard key"


def _short(x):
    s = repr(x)
    return s if len(s) <= 120 else s[:117] + "..."


def compile(model=None, *, fullgraph=False, dynamic=None, backend="numtorch", mode=None,
            options=None, disable=False):
    """Capture ``model`` (an ``nn.Module`` or a function) at the kernel level and replay it
    (module docstring of :mod:`numtorch.compiler._compile`; README "Static graphs"). Shaped like
    ``torch.compile``; usable as ``@numtorch.compile`` or ``@numtorch.compile(fullgraph=True)``.
    ``dynamic`` and ``mode`` are accepted; shapes are always specialised (one plan per shape).

    >>> import numtorch as torch
    >>> lin = torch.nn.Linear(3, 1)
    >>> fast = torch.compile(lin)
    >>> x = torch.ones(4, 3)
    >>> all(torch.equal(fast(x), lin(x)) for _ in range(3))  # eager, capture, replay
    True
    """
    if model is None:
        return lambda m: compile(m, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                                 mode=mode, options=options, disable=disable)
    if mode is not None and mode not in ("default", "reduce-overhead", "max-autotune",
                                         "max-autotune-no-cudagraphs"):
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: default, "
                           "reduce-overhead, max-autotune, max-autotune-no-cudagraphs")
    if disable:
        return model
    opts = dict(options or {})
    passes = {"fuse": bool(opts.pop("fuse", True)),
              "memory_plan": bool(opts.pop("memory_plan", True))}
    if opts:
        raise RuntimeError(f"compile: unknown options {sorted(opts)} (numtorch knows 'fuse' and "
                           "'memory_plan')")
    if isinstance(model, Module):
        return OptimizedModule(model, fullgraph, **passes)
    if not callable(model):
        raise RuntimeError(f"compile: expected a Module or a callable, got {type(model).__name__}")
    return CompiledFunction(model, fullgraph, **passes)


class OptimizedModule(Module):
    """A compiled module: calls go through :class:`CompiledFunction` over the original module;
    everything else (parameters, ``train()``, ``state_dict``, its own methods) is the original's,
    held as ``_orig_mod`` as in PyTorch (so state_dict keys carry ``_orig_mod.``).

    >>> import numtorch as torch
    >>> m = torch.compile(torch.nn.Linear(2, 1))
    >>> type(m).__name__, list(m.state_dict())
    ('OptimizedModule', ['_orig_mod.weight', '_orig_mod.bias'])
    """

    def __init__(self, mod, fullgraph=False, fuse=True, memory_plan=True):
        super().__init__()
        self._orig_mod = mod
        self.__dict__["_compiled_call"] = CompiledFunction(
            mod.__call__, fullgraph, module=mod, name=type(mod).__name__, fuse=fuse,
            memory_plan=memory_plan)
        self.training = mod.training

    def __call__(self, *args, **kwargs):
        return self.__dict__["_compiled_call"](*args, **kwargs)

    forward = __call__

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["_orig_mod"], name)

    def train(self, mode=True):
        self._modules["_orig_mod"].train(mode)
        self.training = mode
        return self

    @property
    def stats(self):
        """The compiled call's counters (:attr:`CompiledFunction.stats`)."""
        return self.__dict__["_compiled_call"].stats


class ExplainOutput:  # (reached through explain(); not exported)
    """What :func:`explain` found: ``graph_count`` (1 when the call can be replayed),
    ``graph_break_count``, ``break_reasons``, ``kernel_count`` (kernel calls in the capture),
    ``island_count`` (optimizer steps run eagerly in each replay)."""

    def __init__(self, breaks, n_kernels, n_islands):
        self.break_reasons = list(breaks)
        self.graph_break_count = len(breaks)
        self.graph_count = 0 if breaks else 1
        self.kernel_count = n_kernels
        self.island_count = n_islands

    def __str__(self):
        lines = [f"Graph Count: {self.graph_count}", f"Graph Break Count: {self.graph_break_count}",
                 f"Kernel Count: {self.kernel_count}", f"Island Count: {self.island_count}"]
        if self.break_reasons:
            lines.append("Break Reasons:")
            lines += [f"  {r}" for r in self.break_reasons]
        return "\n".join(lines)

    __repr__ = __str__


def explain(fn):
    """``explain(fn)(*args)``: run ``fn`` once under a capture (eagerly, with its effects) and
    report whether it can be replayed and what breaks it (like ``torch._dynamo.explain``).

    >>> import numtorch as torch
    >>> out = torch.compiler.explain(lambda x: x * 2 if x.sum().item() > 0 else x)(torch.ones(2))
    >>> out.graph_count, out.graph_break_count, out.break_reasons[0].split(" (at")[0]
    (0, 1, "Tensor.item() reads a tensor's value on the host")
    """
    def run(*args, **kwargs):
        with Capture(False) as cap:
            fn(*args, **kwargs)
        return ExplainOutput(cap.breaks, cap.n_kernels, cap.n_islands)
    return run
