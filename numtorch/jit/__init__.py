"""``numtorch.jit``: ``trace`` records a module's or function's ops into a printable graph.

>>> import numtorch as torch
>>> lin = torch.nn.Linear(3, 2)
>>> traced = torch.jit.trace(lin, torch.ones(4, 3))
>>> print(traced.graph)  # doctest: +ELLIPSIS
graph(%x: f32[4, 3]) params(%weight: f32[2, 3], %bias: f32[2]) {
  ...
  return %...
}
>>> torch.allclose(traced(torch.ones(4, 3)), lin(torch.ones(4, 3)))
True

The graph is what eager execution did for the example inputs: control flow is frozen and shapes
are fixed (a call with other shapes is refused). numtorch has no TorchScript compiler: ``script``
raises, the decorators ``ignore``, ``unused``, ``export`` return what they decorate, and
``is_scripting()`` is False, so model code written for TorchScript runs eagerly.
"""
from .. import _tracing
from .._tensor import Tensor
from ..compiler._trace import trace_graph, run_graph
from ..nn.modules.module import Module

__all__ = ["trace", "TracedModule", "TracedFunction", "script", "ignore", "unused", "export",
           "is_scripting", "is_tracing"]


def _as_inputs(example_inputs):
    if isinstance(example_inputs, Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs)
    raise TypeError(f"trace: example_inputs must be a Tensor or a tuple of Tensors, got "
                    f"{type(example_inputs).__name__}")


def named_tensors(module):
    """``(qualified name, tensor, role)`` of a module's parameters and buffers."""
    out = [(n, p, "param") for n, p in module.named_parameters()]
    out += [(n, b, "buffer") for n, b in module.named_buffers() if b is not None]
    return out


def trace(func, example_inputs=None, optimize=None, check_trace=True, check_inputs=None,
          check_tolerance=1e-5, strict=True, _force_outplace=False, _module_class=None,
          _compilation_unit=None, example_kwarg_inputs=None, _store_inputs=True):
    """Run ``func(*example_inputs)`` once and record its ops: a :class:`TracedModule` for an
    ``nn.Module`` (it shares the module's parameters), else a :class:`TracedFunction`; both print
    their graph as ``.graph`` (and ``.code``) and run it when called."""
    if example_kwarg_inputs is not None:
        raise NotImplementedError("trace: example_kwarg_inputs is not supported by numtorch")
    inputs = _as_inputs(example_inputs if example_inputs is not None else ())
    if isinstance(func, Module):
        graph, _ = trace_graph(func, inputs, named_tensors(func))
        return TracedModule(func, graph)
    if not callable(func):
        raise TypeError(f"trace: expected a Module or a function, got {type(func).__name__}")
    graph, _ = trace_graph(func, inputs)
    return TracedFunction(func, graph)


class TracedFunction:
    """A traced function: ``graph``, and calling it runs the graph."""

    def __init__(self, func, graph):
        self.__name__ = getattr(func, "__name__", "traced")
        self.graph = graph

    @property
    def code(self):
        return str(self.graph)

    def __call__(self, *inputs):
        return run_graph(self.graph, inputs)


class TracedModule(Module):
    """A traced module: the original's parameters, buffers and submodules (shared, so training
    either trains both), ``graph``, and a forward that runs the graph."""

    def __init__(self, module, graph):
        super().__init__()
        self.__dict__["_modules"] = module._modules
        self.__dict__["_parameters"] = module._parameters
        self.__dict__["_buffers"] = module._buffers
        self.__dict__["_traced_from"] = module
        self.graph = graph
        self.training = module.training

    @property
    def code(self):
        return str(self.graph)

    def _live(self, v):
        m = self.__dict__["_traced_from"]
        return m.get_parameter(v.name) if v.role == "param" else (
            m.get_buffer(v.name) if v.role == "buffer" else v.tensor)

    def forward(self, *inputs):
        return run_graph(self.graph, inputs, self._live)


def script(obj, *args, **kwargs):
    """numtorch has no TorchScript: use :func:`trace` (or run eagerly)."""
    raise NotImplementedError(
        "numtorch.jit.script: numtorch has no TorchScript compiler; use numtorch.jit.trace or "
        "numtorch.compile, or run the model eagerly")


def ignore(drop=False, **kwargs):
    """TorchScript's ``@ignore``: the function itself (numtorch never scripts)."""
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn):
    """TorchScript's ``@unused``: the function itself."""
    return fn


def export(fn):
    """TorchScript's ``@export``: the function itself."""
    return fn


def is_scripting():
    """False: numtorch never compiles TorchScript."""
    return False


def is_tracing():
    """True while :func:`trace` records a call."""
    return _tracing.state.tracer is not None
