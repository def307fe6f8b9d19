"""The driver of ``numtorch.onnx.export``: arguments, modes, the two traces, writing the file.

The model is traced twice: on the example inputs, and on other values of them (resized along
each dynamic axis). The two graphs must have the same nodes; a number that differs between them
is shape-dependent (a translator may turn it into a symbolic size, else the export fails), and a
frozen constant that differs was computed outside the ops the tracer records.
"""
import os
import warnings

import numpy as np

from .. import _creation
from .._tensor import Tensor
from ..autograd.grad_mode import no_grad
from ..compiler._trace import trace_graph
from ..nn.modules.module import Module
from ..serialization import _write_atomically
from . import TrainingMode
from ._graph import Builder

# torch.onnx.export's keyword arguments that change nothing here
_IGNORED = {"dynamo", "report", "verify", "profile", "dump_exported_program", "artifacts_dir",
            "fallback", "optimize", "external_data", "operator_export_type", "custom_opsets",
            "autograd_inlining", "strict", "export_options", "export_modules_as_functions",
            "dynamic_shapes"}
_MIN_OPSET = 17


def _import_onnx():
    try:
        import onnx
    except ImportError as e:
        raise ImportError("numtorch.onnx.export needs the onnx package: pip install "
                          "numtorch[onnx] (or pip install onnx)") from e
    return onnx


def _check_ignored(ignored):
    unknown = sorted(set(ignored) - _IGNORED)
    if unknown:
        raise TypeError(f"onnx.export() got unexpected keyword arguments {unknown}")
    if ignored.get("export_modules_as_functions"):
        raise NotImplementedError("onnx.export: export_modules_as_functions is not supported")
    if ignored.get("dynamic_shapes") is not None:
        raise NotImplementedError("onnx.export: dynamic_shapes (torch.export's API) is not "
                                  "supported; name the symbolic axes with dynamic_axes")


# --- inputs: nested tuples of tensors flatten into the graph's inputs ------------------------
def _flatten_args(args, kwargs):
    if isinstance(args, Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    elif not isinstance(args, tuple):
        raise TypeError(f"onnx.export: args must be a Tensor or a tuple of inputs, got "
                        f"{type(args).__name__}")
    if args and isinstance(args[-1], dict):
        if args[-1]:
            raise NotImplementedError(
                "onnx.export: keyword arguments to the model (a trailing dict in args) are not "
                "supported; pass the inputs positionally")
        args = args[:-1]
    if kwargs:
        raise NotImplementedError("onnx.export: kwargs are not supported; pass the inputs "
                                  "positionally in args")
    flat = []

    def walk(a):
        if isinstance(a, Tensor):
            flat.append(a)
            return ("tensor", len(flat) - 1)
        if isinstance(a, (tuple, list)):
            return (type(a), [walk(x) for x in a])
        if a is None or isinstance(a, (bool, int, float, str)):
            return ("literal", a)
        raise TypeError(f"onnx.export: an input of type {type(a).__name__} cannot be exported "
                        "(tensors, tuples/lists of them and Python scalars can)")

    return [walk(a) for a in args], flat


def _rebuild(structure, flat):
    kind, item = structure
    if kind == "tensor":
        return flat[item]
    if kind == "literal":
        return item
    return kind(_rebuild(s, flat) for s in item)


# --- names and dynamic axes -----------------------------------------------------------------
def _names(given, n, default, what):
    given = list(given or [])
    if len(given) > n:
        raise ValueError(f"onnx.export: {len(given)} {what}_names for {n} {what}s")
    names = given + [f"{default}.{i + 1}" for i in range(len(given), n)]
    if len(set(names)) != len(names):
        raise ValueError(f"onnx.export: {what} names must be unique, got {names}")
    return names


def _dynamic_axes(dynamic_axes, ranks):
    """{name: {axis: dim name}} from torch's forms (a list of axes or a dict axis -> name)."""
    out = {}
    for key, axes in (dynamic_axes or {}).items():
        if key not in ranks:
            warnings.warn(f"onnx.export: dynamic_axes names {key!r}, which is no input or output "
                          "name; it is ignored")
            continue
        if isinstance(axes, dict):
            items = [(int(a), str(n)) for a, n in axes.items()]
        elif isinstance(axes, (list, tuple)):
            items = [(int(a), f"{key}_dynamic_axes_{i + 1}") for i, a in enumerate(axes)]
        else:
            raise TypeError(f"onnx.export: dynamic_axes[{key!r}] must be a list of axes or a "
                            f"dict axis -> name, got {type(axes).__name__}")
        rank = ranks[key]
        m = {}
        for a, n in items:
            if not -rank <= a < rank:
                raise ValueError(f"onnx.export: dynamic axis {a} of {key!r} is out of range for "
                                 f"its {rank} dimensions")
            m[a % rank] = n
        out[key] = m
    return out


def _new_sizes(flat, in_names, dyn, by_size):
    """A new size for each dynamic dim name: traced size + 1, + 2, ... per name, so that a size
    tells which name it follows (``by_size``: names of one traced size share a new size, for
    models that need, e.g., one batch size across inputs whose axes were named apart)."""
    sizes = {}
    for x, name in zip(flat, in_names):
        for axis, dim in dyn.get(name, {}).items():
            s = x.shape[axis]
            if sizes.setdefault(dim, s) != s:
                raise ValueError(f"onnx.export: dynamic axis {dim!r} has size {sizes[dim]} in one "
                                 f"input and {s} in {name!r}")
            if s == 0:
                raise ValueError(f"onnx.export: the example input {name!r} is empty along its "
                                 f"dynamic axis {axis}")
    keys = sorted({(s, dim if not by_size else "") for dim, s in sizes.items()})
    bump = {k: i + 1 for i, k in enumerate(keys)}
    return {dim: s + bump[(s, dim if not by_size else "")] for dim, s in sizes.items()}


def _second_inputs(flat, in_names, dyn, new):
    """Other values for the inputs, resized along the dynamic axes to the sizes ``new``."""
    rng = np.random.default_rng(0)
    out = []
    for x, name in zip(flat, in_names):
        arr = x.detach().cpu().numpy()
        for axis, dim in dyn.get(name, {}).items():
            arr = np.take(arr, np.arange(new[dim]) % arr.shape[axis], axis=axis)
        if arr.dtype.kind == "f":
            scale = float(np.abs(arr).mean()) + 1.0 if arr.size else 1.0
            arr = arr + (rng.standard_normal(arr.shape) * scale).astype(arr.dtype)
        else:  # integers (indices) and bools: the same values in another order
            arr = rng.permutation(arr.reshape(-1)).reshape(arr.shape)
        out.append(_creation.from_numpy(np.ascontiguousarray(arr)).to(x.device))
    return out


def _trace_again(fn, flat, in_names, dyn, named):
    """The second trace (see the module's docstring); returns (graph, its inputs)."""
    tries = [_new_sizes(flat, in_names, dyn, False)]
    if dyn:
        by_size = _new_sizes(flat, in_names, dyn, True)
        if by_size != tries[0]:
            tries.append(by_size)
    for k, new in enumerate(tries):
        flat2 = _second_inputs(flat, in_names, dyn, new)
        try:
            return trace_graph(fn, flat2, named)[0], flat2
        except Exception as e:
            if k + 1 < len(tries):
                continue
            what = "other input values and sizes along dynamic_axes" if dyn else \
                "other input values"
            raise RuntimeError(f"onnx.export: the model failed when traced again on {what} "
                               f"(which the exporter does to find what depends on the input): "
                               f"{type(e).__name__}: {e}") from e


def _named_tensors(module):
    """(qualified name, tensor, role) of a module's parameters and buffers, for the tracer."""
    out = [(n, p, "param") for n, p in module.named_parameters()]
    return out + [(n, b, "buffer") for n, b in module.named_buffers() if b is not None]


# --- modes ------------------------------------------------------------------------------------
def _set_mode(model, training):
    if training is None:
        training = TrainingMode.EVAL
    if isinstance(training, bool):
        training = TrainingMode.TRAINING if training else TrainingMode.EVAL
    training = TrainingMode(training)
    if not isinstance(model, Module) or training is TrainingMode.PRESERVE:
        return []
    saved = [(m, m.training) for m in model.modules()]
    model.train(training is TrainingMode.TRAINING)
    return saved


def _restore_mode(saved):
    for m, mode in saved:
        m.training = mode


def export(model, args, f, *, kwargs, export_params, verbose, input_names, output_names,
           dynamic_axes, opset_version, do_constant_folding, training,
           keep_initializers_as_inputs, ignored):
    onnx = _import_onnx()
    _check_ignored(ignored)
    if f is None:
        raise ValueError("onnx.export: f (a path or a binary file object) is required")
    if not isinstance(f, (str, os.PathLike)) and not hasattr(f, "write"):
        raise TypeError(f"onnx.export: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")
    if opset_version is None:
        opset_version = 18
    max_opset = onnx.defs.onnx_opset_version()
    if not _MIN_OPSET <= opset_version <= max_opset:
        raise ValueError(f"onnx.export: opset_version {opset_version} is not supported "
                         f"(numtorch writes opsets {_MIN_OPSET} to {max_opset})")
    if not callable(model):
        raise TypeError(f"onnx.export: model must be a Module or a function, got "
                        f"{type(model).__name__}")

    structure, flat = _flatten_args(args, kwargs)
    named = _named_tensors(model) if isinstance(model, Module) else ()

    def fn(*xs):
        return model(*(_rebuild(s, xs) for s in structure))

    in_names = _names(input_names, len(flat), "input", "input")
    saved = _set_mode(model, training)
    try:
        with no_grad():
            g1, _ = trace_graph(fn, flat, named)
            out_names = _names(output_names, len(g1.outputs), "output", "output")
            ranks = {n: x.ndim for n, x in zip(in_names, flat)}
            ranks.update({n: len(v.shape) for n, v in zip(out_names, g1.outputs)})
            dyn = _dynamic_axes(dynamic_axes, ranks)
            g2, flat2 = _trace_again(fn, flat, in_names, dyn, named)
            b = Builder(onnx, g1, g2, flat, flat2, opset=opset_version,
                        fold=do_constant_folding and export_params, export_params=export_params)
            proto = b.build(in_names, out_names, dyn, keep_initializers_as_inputs)
    finally:
        _restore_mode(saved)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as e:
        raise RuntimeError(f"onnx.export: internal error, the translated model does not pass "
                           f"onnx.checker ({e}); nothing was written") from e
    if verbose:
        print(onnx.helper.printable_graph(proto.graph))
    data = proto.SerializeToString()
    if isinstance(f, (str, os.PathLike)):
        _write_atomically(os.fspath(f), lambda fh: fh.write(data))
    else:
        f.write(data)
