"""Tracing: run a call eagerly and record every ``Function.apply`` it makes as a graph node.

The tracer listens at ``Function.apply`` (``numtorch/_tracing.py``); only the outermost
application is recorded (what a Function does inside, including other Functions, is that node).
Ops that are no Function (comparisons, logical ops, argmax: nothing to differentiate) are seen at
the kernel level instead: the tracer hands out kernel namespaces (``ops._core.kernels``), and a
kernel called outside any Function becomes a *kernel node* (``op`` is ``<family>.<kernel>``,
its written array, the kernel's last array argument, is the output and appears in its arguments
as the output value itself); a kernel call that reads no traced value (a fill) makes a constant. Tensors a node reads are looked up by identity: the traced call's
inputs, the module's params and buffers (by their qualified names), outputs of earlier nodes, and
anything else is a constant whose value is frozen into the graph. A tensor that shares memory
with a traced value without having been made by a node (e.g. ``detach()``) is that value when it
views the same elements, and an error otherwise: a silent constant would make the graph wrong.
"""
import numpy as np

from .. import _dtype as D
from .. import _tracing
from .._device import CPU
from .._tensor import Tensor
from ._proxy import KernelNamespace
from .ir import Graph, Node, Value

__all__ = ["trace_graph", "run_graph"]


def _key(arr):
    """Which elements an array views: (address, shape, strides, dtype)."""
    try:
        ptr = arr.__array_interface__["data"][0]
    except AttributeError:  # a device array
        ptr = arr.device_ctypes_pointer.value if arr.size else 0
    return (ptr, arr.shape, arr.strides, arr.dtype.str)


class KernelOp:
    """The ``fn`` of a kernel node: the kernel (``kernel``) and its name ``<family>.<kernel>``."""

    def __init__(self, kernel, name):
        self.kernel, self.__name__ = kernel, name

    def __repr__(self):
        return self.__name__


def _is_array(a):
    return isinstance(a, np.ndarray) or hasattr(a, "copy_to_host")


class Tracer:
    def __init__(self, named_tensors):
        self.values = {}    # id(tensor) -> Value
        self.keep = []      # the traced tensors, so that ids stay unique while tracing
        self.by_key = {}    # _key(array) -> Value
        self.params = []
        self.nodes = []
        self.named = {id(t): (name, role) for name, t, role in named_tensors}
        self._n = 0
        self._backends = {}
        self._kernel_outs = []  # arrays written by kernel nodes (for the shared-memory check)

    # --- values -------------------------------------------------------------------------------
    def new_value(self, t, role, name=None):
        if name is None:
            name = str(self._n)
            self._n += 1
        v = Value(name, t._data.shape, t.dtype, t.device, role,
                  t if role in ("param", "buffer", "const") else None)
        self.values[id(t)] = v
        self.keep.append(t)
        self.by_key[_key(t._data)] = v
        return v

    def value_of(self, t):
        v = self.values.get(id(t))
        if v is not None:
            return v
        named = self.named.get(id(t))
        if named is not None:
            v = self.new_value(t, named[1], named[0])
            self.params.append(v)
            return v
        v = self.by_key.get(_key(t._data))
        if v is not None:  # the same elements as a traced value (detach(), .data): that value
            self.values[id(t)] = v
            self.keep.append(t)
            return v
        for other in [o._data for o in self.keep] + self._kernel_outs:
            if other.size and t._data.size and isinstance(t._data, np.ndarray) and \
                    isinstance(other, np.ndarray) and np.may_share_memory(other, t._data):
                raise RuntimeError(
                    f"trace: a tensor of shape {list(t.shape)} views the memory of the traced value "
                    f"%{self.by_key[_key(other)].name} but was not made by an op the tracer sees "
                    "(a view taken outside numtorch's ops?): the graph would be wrong")
        v = self.new_value(t, "const", f"c{len([p for p in self.params if p.role == 'const'])}")
        self.params.append(v)
        return v

    def map_args(self, obj):
        if isinstance(obj, Tensor):
            return self.value_of(obj)
        if isinstance(obj, tuple):
            return tuple(self.map_args(o) for o in obj)
        if isinstance(obj, list):
            return [self.map_args(o) for o in obj]
        return obj

    # --- the listeners ------------------------------------------------------------------------
    def kernels(self, pkg):
        b = self._backends.get(id(pkg))
        if b is None:
            b = self._backends[id(pkg)] = KernelNamespace(pkg, self._traced)
        return b

    def _traced(self, family, name, fn):
        """What the ops get for ``<family>.<name>`` while tracing: a kernel called outside any
        Function with arrays becomes a kernel node (:meth:`kernel_call`)."""
        if family == "memory" or not callable(fn) or isinstance(fn, type):
            return fn
        op = f"{family}.{name}"

        def call(*args, **kwargs):
            if _tracing.state.tracer is not self or kwargs or not any(map(_is_array, args)):
                return fn(*args, **kwargs)
            return self.kernel_call(KernelOp(fn, op), args)
        return call

    def kernel_call(self, op, args):
        """A kernel called outside any Function: a kernel node writing its last array argument."""
        out_i = max(i for i, a in enumerate(args) if _is_array(a))
        margs, reads = [], False
        for i, a in enumerate(args):
            if i != out_i and _is_array(a):
                v = self.by_key.get(_key(a))
                if v is not None:
                    reads = reads or v.role not in ("param", "buffer", "const")
                a = v if v is not None else (a.copy() if isinstance(a, np.ndarray) else a)
            margs.append(a)
        result = op.kernel(*args)
        if not reads:  # reads no traced value (a fill, a factory): a constant, as before
            return result
        out = args[out_i]
        v = Value(str(self._n), out.shape, D.from_numpy(out.dtype), CPU if isinstance(
            out, np.ndarray) else None, "temp")
        self._n += 1
        self.by_key[_key(out)] = v
        self._kernel_outs.append(out)
        margs[out_i] = v
        self.nodes.append(Node(op, tuple(margs), {}, (v,)))
        return result

    def apply(self, cls, args, kwargs):
        _tracing.state.tracer = None  # what the op does inside is this node
        try:
            out = cls.apply(*args, **kwargs)
        finally:
            _tracing.state.tracer = self
        margs = self.map_args(args)
        mkw = {k: self.map_args(v) for k, v in kwargs.items()}
        outs = out if isinstance(out, tuple) else (out,)
        ovals = tuple(self.new_value(o, "temp") for o in outs if isinstance(o, Tensor))
        self.nodes.append(Node(cls, margs, mkw, ovals))
        return out


def _flatten(obj, tensors):
    """``obj``'s structure with each tensor replaced by its index in ``tensors``."""
    if isinstance(obj, Tensor):
        tensors.append(obj)
        return len(tensors) - 1
    if isinstance(obj, tuple):
        return ("tuple",) + tuple(_flatten(o, tensors) for o in obj)
    if isinstance(obj, list):
        return ("list",) + tuple(_flatten(o, tensors) for o in obj)
    if isinstance(obj, dict):
        return ("dict",) + tuple((k, _flatten(v, tensors)) for k, v in obj.items())
    raise RuntimeError(f"trace: the traced call returned a {type(obj).__name__}; only tensors and "
                       "tuples, lists and dicts of tensors can be graph outputs")


def _rebuild(structure, values):
    if isinstance(structure, int):
        return values[structure]
    kind, items = structure[0], structure[1:]
    if kind == "dict":
        return {k: _rebuild(v, values) for k, v in items}
    seq = [_rebuild(o, values) for o in items]
    return tuple(seq) if kind == "tuple" else seq


def trace_graph(fn, inputs, named_tensors=()):
    """Run ``fn(*inputs)`` eagerly, recording it. Returns ``(graph, result)``.
    ``named_tensors``: ``(name, tensor, role)`` for the params and buffers of a traced module."""
    if _tracing.state.tracer is not None:
        raise RuntimeError("trace: already tracing (a traced call cannot trace again)")
    tracer = Tracer(named_tensors)
    ins = []
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"trace: example input {i} is a {type(x).__name__}, expected a Tensor")
        ins.append(tracer.new_value(x, "input", f"input{i}" if len(inputs) > 1 else "x"))
    _tracing.state.tracer = tracer
    try:
        result = fn(*inputs)
    finally:
        _tracing.state.tracer = None
    outs = []
    structure = _flatten(result, outs)
    ovals = [tracer.value_of(o) for o in outs]
    graph = Graph(ins, tracer.params, tracer.nodes, ovals,
                  None if isinstance(structure, int) else structure)
    return graph, result


def run_graph(graph, inputs, tensors_of=None):
    from ..ops import _core
    """Evaluate ``graph`` on ``inputs`` by applying its nodes' Functions in order (autograd records
    as in eager mode). ``tensors_of(value)`` gives the current tensor of a param or buffer (a
    module's live parameter), defaulting to the traced one."""
    if len(inputs) != len(graph.inputs):
        raise TypeError(f"the traced graph takes {len(graph.inputs)} inputs, got {len(inputs)}")
    env = {}
    for v, x in zip(graph.inputs, inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"input %{v.name}: expected a Tensor, got {type(x).__name__}")
        if tuple(x.shape) != v.shape or x.dtype is not v.dtype:
            raise RuntimeError(
                f"input %{v.name}: the graph was traced for {v.type_str}, got "
                f"{Value('', x.shape, x.dtype, x.device, 'input').type_str} (trace again for "
                "other shapes or dtypes)")
        env[v] = x
    for v in graph.params:
        env[v] = tensors_of(v) if tensors_of is not None else v.tensor

    def sub(a):
        if isinstance(a, Value):
            return env[a]
        if isinstance(a, tuple):
            return tuple(sub(o) for o in a)
        if isinstance(a, list):
            return [sub(o) for o in a]
        return a

    for node in graph.nodes:
        if isinstance(node.fn, KernelOp):  # allocate the written array, call the kernel
            v = node.outputs[0]
            out = _core.empty(v.shape, v.dtype, v.device or CPU)
            node.fn.kernel(*[out._data if a is v else env[a]._data if isinstance(a, Value) else a
                             for a in node.args])
            env[v] = out
            continue
        out = node.fn.apply(*sub(node.args), **{k: sub(v) for k, v in node.kwargs.items()})
        outs = out if isinstance(out, tuple) else (out,)
        for v, o in zip(node.outputs, [o for o in outs if isinstance(o, Tensor)]):
            env[v] = o
    values = [env[v] for v in graph.outputs]
    if graph.output_structure is None:
        return values[0]
    return _rebuild(graph.output_structure, values)
