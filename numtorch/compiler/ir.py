"""The graph IR of numtorch's static side: values and the op nodes between them.

A :class:`Graph` is what ``numtorch.jit.trace`` records and ``numtorch.onnx.export`` reads. It is
flat and typed, printed one op per line like a jaxpr::

    graph(%x: f32[64, 784]) params(%fc1.weight: f32[256, 784], %fc1.bias: f32[256], ...) {
      %0: f32[64, 256] = Linear(%x, %fc1.weight, %fc1.bias)
      %1: f32[64, 256] = Relu(%0)
      ...
      return %3
    }

A node is one ``autograd.Function`` application of eager execution (the primitive ops: ``Conv2d``,
``Linear``, ``MatMul``, ``View``, ...): ``fn`` is the Function class, ``args`` its positional arguments as
passed to ``apply`` with tensors replaced by :class:`Value` (nested in tuples/lists where the op
took sequences), ``kwargs`` likewise.
"""
from dataclasses import dataclass, field

__all__ = ["Value", "Node", "Graph", "values_in"]

_SHORT = {"float32": "f32", "float64": "f64", "float16": "f16", "bfloat16": "bf16", "int64": "i64",
          "int32": "i32", "int16": "i16", "int8": "i8", "uint8": "u8", "bool": "bool"}


class Value:
    """One tensor of the graph. ``role``: ``input`` (an argument of the traced call), ``param`` /
    ``buffer`` (a module's, by its qualified name), ``const`` (a tensor the trace met that came from
    outside it: its value is frozen into the graph), ``temp`` (made by a node). ``tensor`` holds the
    tensor for params, buffers and constants (what an exporter writes as an initializer)."""

    __slots__ = ("name", "shape", "dtype", "device", "role", "tensor")

    def __init__(self, name, shape, dtype, device, role, tensor=None):
        self.name, self.shape, self.dtype, self.device = name, tuple(shape), dtype, device
        self.role, self.tensor = role, tensor

    @property
    def type_str(self):
        dt = str(self.dtype).replace("torch.", "")
        return f"{_SHORT.get(dt, dt)}[{', '.join(map(str, self.shape))}]"

    def __repr__(self):
        return f"%{self.name}"


@dataclass
class Node:
    """``outputs = fn.apply(*args, **kwargs)``; ``op`` is the Function's name."""
    fn: type
    args: tuple
    kwargs: dict
    outputs: tuple

    @property
    def op(self):
        return self.fn.__name__

    @property
    def inputs(self):
        """The :class:`Value` arguments, in order (tensors inside sequences included; a kernel
        node's written array, which is its output, excluded)."""
        return tuple(v for v in values_in((self.args, tuple(self.kwargs.values())))
                     if v not in self.outputs)

    def __str__(self):
        outs = ", ".join(f"%{v.name}: {v.type_str}" for v in self.outputs) or "()"
        args = [_fmt(a) for a in self.args] + [f"{k}={_fmt(v)}" for k, v in self.kwargs.items()]
        return f"{outs} = {self.op}({', '.join(args)})"


@dataclass
class Graph:
    """``inputs`` (role ``input``) -> ``nodes`` -> ``outputs``; ``params`` are the params, buffers
    and constants the nodes read. ``output_structure`` rebuilds the traced call's return value
    from the output values (``None`` for a single tensor)."""
    inputs: list
    params: list
    nodes: list
    outputs: list
    output_structure: object = None
    meta: dict = field(default_factory=dict)

    def __str__(self):
        sig = ", ".join(f"%{v.name}: {v.type_str}" for v in self.inputs)
        lines = [f"graph({sig})"]
        if self.params:
            lines[0] += " params(" + ", ".join(f"%{v.name}: {v.type_str}" for v in self.params) + ")"
        lines[0] += " {"
        lines += ["  " + str(n) for n in self.nodes]
        lines.append("  return " + ", ".join(f"%{v.name}" for v in self.outputs))
        lines.append("}")
        return "\n".join(lines)

    __repr__ = __str__

    def op_counts(self):
        """``{op: number of nodes}``."""
        out = {}
        for n in self.nodes:
            out[n.op] = out.get(n.op, 0) + 1
        return out


def values_in(obj):
    """The :class:`Value` objects inside ``obj`` (nested tuples, lists, dicts), in order."""
    if isinstance(obj, Value):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from values_in(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from values_in(o)


def _fmt(a):
    if isinstance(a, Value):
        return f"%{a.name}"
    if isinstance(a, tuple):
        return "(" + ", ".join(_fmt(x) for x in a) + ("," if len(a) == 1 else "") + ")"
    if isinstance(a, list):
        return "[" + ", ".join(_fmt(x) for x in a) + "]"
    if isinstance(a, type):
        return a.__name__
    if hasattr(a, "ndim") and hasattr(a, "dtype"):  # an array constant of a kernel node
        return repr(a.item()) if a.ndim == 0 else f"array{list(a.shape)}"
    return repr(a)
