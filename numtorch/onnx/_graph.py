"""Builds the ONNX graph from two traces of one call (``_export.py``); the per-op translations
are in ``_ops.py``. Internal names start with ``/`` so they never meet the user's names or
the parameters' qualified names."""
import numpy as np

from ..autograd.grad_mode import no_grad
from ..compiler.ir import Value

_PARAMS = ("param", "buffer", "const")
_INT64_MAX = np.iinfo(np.int64).max


def _describe(node):
    shapes = ", ".join(v.type_str for v in node.inputs) or "no tensors"
    return f"{node.op} (inputs {shapes}; node: {node})"


class Builder:
    """``g1``: the graph traced on the example inputs ``flat1``; ``g2``: the same call on
    ``flat2``. Translators (``_ops.OPS``) read nodes of ``g1`` and call :meth:`emit`."""

    def __init__(self, onnx, g1, g2, flat1, flat2, opset, fold, export_params):
        self.onnx, self.h = onnx, onnx.helper
        self.g1, self.g2, self.flat = g1, g2, (flat1, flat2)
        self.opset, self.fold, self.export_params = opset, fold, export_params
        self.nodes, self.inits, self.param_inputs = [], {}, []
        self.env = {}        # Value of g1 -> ONNX name
        self.unbound = {}    # Value of g1 -> why it has no ONNX name
        self.folded = {}     # Value of g1 -> its tensor (a folded constant)
        self._count, self._cache, self._evaluated = 0, {}, {}
        self._op, self._claimed = None, set()
        self._match()

    # --- the two traces ---------------------------------------------------------------------
    def _match(self):
        g1, g2 = self.g1, self.g2
        if len(g1.nodes) != len(g2.nodes) or [n.op for n in g1.nodes] != [n.op for n in g2.nodes]:
            raise RuntimeError(self._structure_msg(
                f"{len(g1.nodes)} ops on the example inputs, {len(g2.nodes)} on others"))
        self.v2 = dict(zip(g1.inputs, g2.inputs))
        p2 = {(v.role, v.name): v for v in g2.params}
        self.dyn_consts = set()
        for v in g1.params:
            w = p2.get((v.role, v.name))
            if w is None:
                raise RuntimeError(self._structure_msg(f"%{v.name} appears in one trace only"))
            self.v2[v] = w
            if v.role == "const":
                a, b = self._array(v.tensor), self._array(w.tensor)
                if a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                    self.dyn_consts.add(v)
        self.producer, self.users, self.diffs = {}, {}, []
        for i, (n1, n2) in enumerate(zip(g1.nodes, g2.nodes)):
            if len(n1.outputs) != len(n2.outputs):
                raise RuntimeError(self._structure_msg(f"{n1.op} has a varying number of outputs"))
            for v, w in zip(n1.outputs, n2.outputs):  # (a kernel node names its output in its
                self.v2[v] = w                          # arguments: the array it writes)
                self.producer[v] = n1
            diffs = []
            self._compare(n1.args, n2.args, (), diffs, n1)
            self._compare(n1.kwargs, n2.kwargs, ("kw",), diffs, n1)
            self.diffs.append(diffs)
            for v in n1.inputs:
                self.users.setdefault(v, []).append(n1)
        if [self.v2.get(v) for v in g1.outputs] != list(g2.outputs):
            raise RuntimeError(self._structure_msg("the outputs come from different ops"))

    def _compare(self, a, b, path, diffs, node):
        if isinstance(a, Value) or isinstance(b, Value):
            if not (isinstance(a, Value) and self.v2.get(a) is b):
                raise RuntimeError(self._structure_msg(f"{node.op} reads other tensors"))
        elif isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                self._compare(x, y, path + (i,), diffs, node)
        elif isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
            for k in a:
                self._compare(a[k], b[k], path + (k,), diffs, node)
        elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):  # a kernel node's constant
            if type(a) is not type(b) or a.shape != b.shape or not np.array_equal(a, b):
                diffs.append((path, a, b))
        elif type(a) is not type(b) or a != b:
            diffs.append((path, a, b))

    @staticmethod
    def _structure_msg(what):
        return ("onnx.export: the traced graph changes with the input's values or with the size "
                f"of its dynamic axes ({what}): the model has control flow that depends on them "
                "(a loop over a dynamic sequence length, a branch on a value). Export with fixed "
                "sizes for those axes, or make the control flow independent of the input")

    @staticmethod
    def _array(t):
        return t.detach().cpu().numpy()

    def shape2(self, v):
        """``v``'s shape in the second trace."""
        return self.v2[v].shape

    def claim(self, node, *prefixes):
        """The differences between the traces in ``node``'s arguments under ``prefixes`` (paths
        of argument positions), now handled by the caller: {path: (value1, value2)}."""
        out = {}
        for path, a, b in self.diffs[self._index[id(node)]]:
            if any(path[:len(p)] == tuple(p) for p in prefixes):
                out[path] = (a, b)
                self._claimed.add(path)
        return out

    def values(self, trace):
        """{Value of g1: tensor} for every value of trace 1 or 2 (evaluated on demand)."""
        if trace not in self._evaluated:
            g = self.g1 if trace == 1 else self.g2
            env = dict(zip(g.inputs, self.flat[trace - 1]))
            env.update((v, v.tensor) for v in g.params)

            def sub(a):
                if isinstance(a, Value):
                    return env[a]
                if isinstance(a, (tuple, list)):
                    return type(a)(sub(x) for x in a)
                return a
            with no_grad():
                for n in g.nodes:
                    out = n.fn.apply(*sub(n.args), **{k: sub(v) for k, v in n.kwargs.items()})
                    outs = out if isinstance(out, tuple) else (out,)
                    env.update(zip(n.outputs, outs))
            if trace == 1:
                self._evaluated[1] = env
            else:
                inv = {w: v for v, w in self.v2.items()}
                self._evaluated[2] = {inv[w]: t for w, t in env.items() if w in inv}
        return self._evaluated[trace]

    # --- names ------------------------------------------------------------------------------
    def name(self, v):
        """The ONNX name of ``v`` (initializers are written on first use)."""
        if v in self.env:
            return self.env[v]
        if v in self.unbound:
            raise RuntimeError(f"onnx.export: {self.unbound[v]}")
        if v.role in _PARAMS:
            if v in self.dyn_consts and self._filled(v):
                return self.env[v]
            if v in self.dyn_consts:
                raise RuntimeError(
                    f"onnx.export: the constant %{v.name} (shape {list(v.shape)}, {v.dtype}) "
                    "differs between two traces on different inputs: it was computed outside "
                    "the ops the tracer records (a comparison, a random draw, a tensor created "
                    "with the input's sizes, a value read with .item(), ...), so a frozen copy "
                    "would make the model wrong. Used by: "
                    + ("; ".join(_describe(n) for n in self.users.get(v, []))
                       or "the model's outputs"))
            if v.role == "const":
                self.env[v] = self.const(self._array(v.tensor), f"/{v.name}")
            elif self.export_params:
                self.env[v] = self.const(self._array(v.tensor), v.name, share=False)
            else:
                self.env[v] = v.name
                self.param_inputs.append(v)
            return self.env[v]
        raise RuntimeError(f"onnx.export: internal error: %{v.name} has no ONNX name")

    def _filled(self, v):
        """A constant of one number whose shape follows the dynamic axes (``zeros(n, batch, h)``,
        an RNN's initial state) becomes ConstantOfShape; True if it could."""
        a, b = self._array(v.tensor), self._array(self.v2[v].tensor)
        if a.dtype.kind not in "fiu" or a.ndim != b.ndim or not a.size or not b.size:
            return False
        fill = a.reshape(-1)[0]
        if not ((a == fill).all() and (b == fill).all()):
            return False
        pieces = []
        for d, (s1, s2) in enumerate(zip(a.shape, b.shape)):
            src = self.ints([s1]) if s1 == s2 else self.dim_of_input(s1, s2)
            if src is None:
                return False
            pieces.append(src)
        shape = pieces[0] if len(pieces) == 1 else self.emit("Concat", pieces, axis=0)
        value = self.onnx.numpy_helper.from_array(np.array([fill], dtype=a.dtype))
        self.env[v] = self.emit("ConstantOfShape", [shape], value=value)
        return True

    def fresh(self, hint):
        self._count += 1
        return f"/{hint}_t{self._count}"

    def const(self, arr, name=None, share=True):
        """An initializer holding ``arr``; small equal arrays share one."""
        arr = np.asarray(arr)
        key = (arr.dtype.str, arr.shape, arr.tobytes()) if share and arr.size <= 64 else None
        if key is not None and key in self._cache:
            return self._cache[key]
        if name is None or name in self.inits:
            name = self.fresh("Constant")
        self.inits[name] = self.onnx.numpy_helper.from_array(np.ascontiguousarray(arr), name)
        if key is not None:
            self._cache[key] = name
        return name

    def scalar(self, value, dtype):
        """A 0-d constant of numtorch ``dtype`` holding the Python number ``value``."""
        return self.const(np.array(value, dtype=np.dtype(dtype.np)))

    def ints(self, values):
        return self.const(np.array(list(values), dtype=np.int64).reshape(-1))

    def elem_type(self, dtype):
        return self.h.np_dtype_to_tensor_dtype(np.dtype(dtype.np))

    def operand(self, a, dtype):
        """``a`` (a Value or a Python number) as a tensor of ``dtype``."""
        if isinstance(a, Value):
            n = self.name(a)
            return n if a.dtype is dtype else self.emit("Cast", [n], to=self.elem_type(dtype))
        if isinstance(a, (bool, int, float)):
            return self.scalar(a, dtype)
        if isinstance(a, np.ndarray):  # an array constant of a kernel node
            return self.const(a.astype(np.dtype(dtype.np)))
        raise RuntimeError(f"onnx.export: cannot use {a!r} as a tensor operand")

    def emit(self, op_type, inputs, bind=None, n_out=1, **attrs):
        """Add one ONNX node; ``bind``: the Value(s) its outputs are. Returns the output name
        (or a list when ``n_out`` > 1)."""
        binds = list(bind) if isinstance(bind, (tuple, list)) else [bind] * (bind is not None)
        outs = []
        for k in range(n_out):
            v = binds[k] if k < len(binds) else None
            outs.append(f"/{op_type}_{v.name}" if v is not None else self.fresh(op_type))
            if v is not None:
                self.env[v] = outs[-1]
        self.nodes.append(self.h.make_node(op_type, list(inputs), outs,
                                           name=self.fresh(f"{self._op}/{op_type}"), **attrs))
        return outs[0] if n_out == 1 else outs

    def alias(self, v, name):
        self.env[v] = name

    def unused(self, v, why):
        self.unbound[v] = why

    # --- symbolic sizes ---------------------------------------------------------------------
    def dim_of_input(self, s1, s2):
        """A 1-element int64 tensor: a graph input's dim that is ``s1`` in trace 1 and ``s2`` in
        trace 2 (read with Shape at run time), or None."""
        for v in self.g1.inputs:
            for d, (a, b) in enumerate(zip(v.shape, self.shape2(v))):
                if a == s1 and b == s2:
                    key = ("dim", v, d)
                    if key not in self._cache:
                        self._cache[key] = self.emit("Shape", [self.name(v)], start=d, end=d + 1)
                    return self._cache[key]
        return None

    def shape_tensor(self, node, out, x, reshape):
        """The target shape of a Reshape (``reshape``) or an Expand of ``x`` to ``out``'s shape,
        with the dims that change with the dynamic axes left symbolic."""
        s1, s2 = out.shape, self.shape2(out)
        changed = [d for d in range(len(s1)) if s1[d] != s2[d]]
        tokens = list(s1)
        if not changed:
            return self.ints(tokens)
        x1, x2 = x.shape, self.shape2(x)
        left = []
        for d in changed:
            if reshape:
                if d < len(x1) and x1[d] == s1[d] and x2[d] == s2[d] and 0 not in s1:
                    tokens[d] = 0  # Reshape's "copy the input's dim"
                    continue
            else:
                di = d - (len(s1) - len(x1))
                if di >= 0 and x1[di] == s1[d] and x2[di] == s2[d]:
                    tokens[d] = 1  # Expand broadcasts: 1 keeps the input's dim
                    continue
            left.append(d)
        if reshape and len(left) == 1:
            tokens[left[0]] = -1
        if not left or reshape and len(left) == 1:
            return self.ints(tokens)
        srcs = {d: self.dim_of_input(s1[d], s2[d]) for d in left}
        unknown = [d for d in left if srcs[d] is None]
        if len(unknown) > (1 if reshape else 0):
            d = unknown[-1]
            raise RuntimeError(
                f"onnx.export: {_describe(node)}: dim {d} of the result ({s1[d]} here, "
                f"{s2[d]} when the dynamic axes change) follows no input dim, so it "
                "cannot be written symbolically")
        pieces, static = [], []
        for d, t in enumerate(tokens):
            if d in left and srcs[d] is not None:
                if static:
                    pieces.append(self.ints(static))
                    static = []
                pieces.append(srcs[d])
            else:
                static.append(-1 if d in left else t)
        if static:
            pieces.append(self.ints(static))
        return self.emit("Concat", pieces, axis=0)

    # --- the graph --------------------------------------------------------------------------
    def _foldable(self, node):
        ins = node.inputs
        return self.fold and ins and not self.diffs[self._index[id(node)]] and all(
            (v.role in _PARAMS and v not in self.dyn_consts) or v in self.folded for v in ins)

    def _fold_node(self, node):
        def sub(a):
            if isinstance(a, Value):
                return self.folded.get(a, a.tensor)
            if isinstance(a, (tuple, list)):
                return type(a)(sub(x) for x in a)
            return a
        with no_grad():
            out = node.fn.apply(*sub(node.args), **{k: sub(v) for k, v in node.kwargs.items()})
        outs = out if isinstance(out, tuple) else (out,)
        for v, t in zip(node.outputs, outs):
            self.folded[v] = t
            self.env[v] = self.const(self._array(t), f"/{node.op}_{v.name}")

    def build(self, in_names, out_names, dyn, keep_initializers_as_inputs):
        from ._ops import OPS
        h = self.h
        for v, n in zip(self.g1.inputs, in_names):
            self.env[v] = n
        taken = set(in_names) | set(out_names)
        if set(in_names) & set(out_names):
            raise ValueError(f"onnx.export: names used for an input and an output: "
                             f"{sorted(set(in_names) & set(out_names))}")
        clash = [v.name for v in self.g1.params if v.name in taken and v.role != "const"]
        if clash:
            raise ValueError(f"onnx.export: input/output names {clash} are also parameter names")
        self._index = {id(n): i for i, n in enumerate(self.g1.nodes)}
        for node in self.g1.nodes:
            if node.outputs and all(v in self.env or v in self.unbound for v in node.outputs):
                continue  # translated with an earlier node (a fused pattern)
            self._op, self._claimed = node.op, set()
            if self._foldable(node):
                self._fold_node(node)
                continue
            tr = OPS.get(node.op)
            if tr is None:
                raise RuntimeError(f"onnx.export: no ONNX translation for the op {_describe(node)}")
            tr(self, node)
            left = [d for d in self.diffs[self._index[id(node)]] if d[0] not in self._claimed]
            if left:
                path, a, b = left[0]
                raise RuntimeError(
                    f"onnx.export: {_describe(node)}: its argument at {list(path)} is {a!r} on the "
                    f"example inputs but {b!r} on other input values or sizes of the dynamic "
                    "axes, so the exported graph would be wrong for other inputs (a size or a "
                    "value computed in Python from the input?)")
            for v in node.outputs:
                if v not in self.env and v not in self.unbound:
                    raise RuntimeError(f"onnx.export: internal error: {node.op} left "
                                       f"%{v.name} untranslated")
        self._op = None

        # outputs: rename the producing node's output, else an Identity
        produced = {o: k for k, n in enumerate(self.nodes) for o in n.output}
        outs, renames = [], {}
        for v, name in zip(self.g1.outputs, out_names):
            src = self.name(v)
            if src in produced and src not in renames:
                renames[src] = name
            else:
                self.nodes.append(h.make_node("Identity", [renames.get(src, src)], [name],
                                              name=self.fresh("Identity")))
            outs.append(name)
        for n in self.nodes:
            for seq in (n.input, n.output):
                for k, s in enumerate(seq):
                    if s in renames:
                        seq[k] = renames[s]

        # drop what no output needs
        need, kept = set(outs), []
        for n in reversed(self.nodes):
            if any(o in need for o in n.output):
                kept.append(n)
                need.update(i for i in n.input if i)
        kept.reverse()
        inits = [t for name, t in self.inits.items() if name in need]

        def info(name, v, dims):
            shape = [dims.get(d, s) for d, s in enumerate(v.shape)]
            return h.make_tensor_value_info(name, self.elem_type(v.dtype), shape)

        inputs = [info(n, v, dyn.get(n, {})) for v, n in zip(self.g1.inputs, in_names)]
        inputs += [info(v.name, v, {}) for v in self.param_inputs if v.name in need]
        if keep_initializers_as_inputs:
            inputs += [h.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
        outputs = [info(n, v, self._out_dims(v, n, dyn, in_names))
                   for v, n in zip(self.g1.outputs, out_names)]
        graph = h.make_graph(kept, "main_graph", inputs, outputs, inits)
        opsets = [h.make_opsetid("", self.opset)]
        from .. import __version__
        return h.make_model(graph, opset_imports=opsets, producer_name="numtorch",
                            producer_version=__version__,
                            ir_version=h.find_min_ir_version_for(opsets))

    def _out_dims(self, v, name, dyn, in_names):
        dims = dict(dyn.get(name, {}))
        for d, (a, b) in enumerate(zip(v.shape, self.shape2(v))):
            if a != b and d not in dims:
                dims[d] = f"{name}_dim_{d}"
                for x, xn in zip(self.g1.inputs, in_names):  # the input dim it follows
                    hit = [dyn[xn][e] for e, (p, q) in enumerate(zip(x.shape, self.shape2(x)))
                           if p == a and q == b and e in dyn.get(xn, {})]
                    if hit:
                        dims[d] = hit[0]
                        break
        return dims
