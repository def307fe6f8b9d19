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
from .._tensor import Tensor as _Tensor
from ..compiler import _trace
from ..nn.modules.module import Module as _Module

__all__ = ["trace", "TracedModule", "TracedFunction", "script", "ignore", "unused", "export",
           "is_scripting", "is_tracing"]


def _as_inputs(example_inputs):
    if isinstance(example_inputs, _Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs)
    raise TypeError(f"trace: example_inputs must be a Tensor or a tuple of Tensors, got "
                    f"{type(example_inputs).__name__}")


def _named_tensors(module):
    """``(qualified name, tensor, role)`` of a module's parameters and buffers."""
    out = [(n, p, "param") for n, p in module.named_parameters()]
    out += [(n, b, "buffer") for n, b in module.named_buffers() if b is not None]
    return out


def trace(func, example_inputs=None, optimize=None, check_trace=True, check_inputs=None,
          check_tolerance=1e-5, strict=True, _force_outplace=False, _module_class=None,
          _compilation_unit=None, example_kwarg_inputs=None, _store_inputs=True):
    """Run ``func(*example_inputs)`` once and record its ops: a :class:`TracedModule` for an
    ``nn.Module`` (it shares the module's parameters), else a :class:`TracedFunction`; both print
    their graph as ``.graph`` (and ``.code``) and run it when called.

    >>> import numtorch as torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    >>> traced = torch.jit.trace(net, torch.zeros(2, 4))
    >>> [n.op for n in traced.graph.nodes], [v.name for v in traced.graph.params]
    (['Linear', 'Tanh'], ['0.weight', '0.bias'])
    """
    if example_kwarg_inputs is not None:
        raise NotImplementedError("trace: example_kwarg_inputs is not supported by numtorch")
    inputs = _as_inputs(example_inputs if example_inputs is not None else ())
    if isinstance(func, _Module):
        graph, _ = _trace.trace_graph(func, inputs, _named_tensors(func))
        return TracedModule(func, graph)
    if not callable(func):
        raise TypeError(f"trace: expected a Module or a function, got {type(func).__name__}")
    graph, _ = _trace.trace_graph(func, inputs)
    return TracedFunction(func, graph)


class TracedFunction:
    """A traced function: ``graph``, and calling it runs the graph.

    >>> import numtorch as torch
    >>> f = torch.jit.trace(lambda a, b: a * b + 1, (torch.ones(2), torch.ones(2)))
    >>> [n.op for n in f.graph.nodes], f(torch.tensor([2.0, 3.0]), torch.tensor([4.0, 5.0]))
    (['Mul', 'Add'], tensor([ 9., 16.]))
    """

    def __init__(self, func, graph):
        self.__name__ = getattr(func, "__name__", "traced")
        self.graph = graph

    @property
    def code(self):
        return str(self.graph)

    def __call__(self, *inputs):
        return _trace.run_graph(self.graph, inputs)


class TracedModule(_Module):
    """A traced module: the original's parameters, buffers and submodules (shared, so training
    either trains both), ``graph``, and a forward that runs the graph.

    >>> import numtorch as torch
    >>> traced = torch.jit.trace(torch.nn.ReLU(), torch.ones(3))
    >>> traced.code.splitlines()[1].strip(), traced(torch.tensor([-1.0, 0.0, 2.0]))
    ('%0: f32[3] = Relu(%x)', tensor([0., 0., 2.]))
    """

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
        return _trace.run_graph(self.graph, inputs, self._live)


def script(obj, *args, **kwargs):
    """numtorch has no TorchScript: use :func:`trace` (or run eagerly).

    >>> import numtorch as torch
    >>> torch.jit.script(torch.nn.ReLU())
    Traceback (most recent call last):
    NotImplementedError: numtorch.jit.script: numtorch has no TorchScript compiler; use numtorch.jit.trace or numtorch.compile, or run the model eagerly
    """
    raise NotImplementedError(
        "numtorch.jit.script: numtorch has no TorchScript compiler; use numtorch.jit.trace or "
        "numtorch.compile, or run the model eagerly")


def ignore(drop=False, **kwargs):
    """TorchScript's ``@ignore``: the function itself (numtorch never scripts).

    >>> import numtorch as torch
    >>> torch.jit.ignore(len) is len, torch.jit.ignore(drop=True)(len) is len
    (True, True)
    """
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn):
    """TorchScript's ``@unused``: the function itself.

    >>> import numtorch as torch
    >>> torch.jit.unused(len) is len
    True
    """
    return fn


def export(fn):
    """TorchScript's ``@export``: the function itself.

    >>> import numtorch as torch
    >>> torch.jit.export(len) is len
    True
    """
    return fn


def is_scripting():
    """False: numtorch never compiles TorchScript.

    >>> import numtorch as torch
    >>> torch.jit.is_scripting()
    False
    """
    return False


def is_tracing():
    """True while :func:`trace` records a call.

    >>> import numtorch as torch
    >>> seen = []
    >>> _ = torch.jit.trace(lambda x: seen.append(torch.jit.is_tracing()) or x + 1, torch.ones(1))
    >>> seen, torch.jit.is_tracing()
    ([True], False)
    """
    return _tracing.state.tracer is not None
