"""One translation per traced Function: ``OPS[name](builder, node)`` emits the ONNX nodes of one
graph node and binds its outputs (``numtorch/ops/*.py`` documents each Function's arguments).
Fused Functions (the recurrent cells, attention) are decomposed into standard operators."""
import math

import numpy as np

from ..compiler.ir import Value
from ._graph import _INT64_MAX, _PARAMS, _describe

OPS = {}


def _op(*names):
    def deco(fn):
        for n in names:
            OPS[n] = fn
        return fn
    return deco


def _fail(node, why):
    raise RuntimeError(f"onnx.export: {_describe(node)}: {why}")


def _float(dtype):
    return dtype.is_floating_point


# --- elementwise ------------------------------------------------------------------------------
_BINARY = {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "Div", "Pow": "Pow",
           "Maximum": "Max", "Minimum": "Min"}


@_op(*_BINARY)
def _binary(b, node):
    out = node.outputs[0]
    x, y = node.args[:2]
    b.emit(_BINARY[node.op], [b.operand(x, out.dtype), b.operand(y, out.dtype)], bind=out)


_UNARY = {"Relu": "Relu", "Neg": "Neg", "Abs": "Abs", "Sign": "Sign", "Exp": "Exp", "Log": "Log",
          "Sqrt": "Sqrt", "Sin": "Sin", "Cos": "Cos", "Tan": "Tan", "Tanh": "Tanh",
          "Sigmoid": "Sigmoid", "Erf": "Erf", "Reciprocal": "Reciprocal", "Floor": "Floor",
          "Ceil": "Ceil", "Round": "Round"}


@_op(*_UNARY)
def _unary(b, node):
    x, out = node.args[0], node.outputs[0]
    if node.op in ("Floor", "Ceil", "Round") and not _float(x.dtype):
        b.alias(out, b.name(x))  # integers pass through
        return
    b.emit(_UNARY[node.op], [b.operand(x, out.dtype)], bind=out)


@_op("Rsqrt", "Expm1", "Log1p", "Log2")
def _unary_composite(b, node):
    out = node.outputs[0]
    x = b.operand(node.args[0], out.dtype)
    if node.op == "Rsqrt":
        b.emit("Reciprocal", [b.emit("Sqrt", [x])], bind=out)
    elif node.op == "Expm1":
        b.emit("Sub", [b.emit("Exp", [x]), b.scalar(1, out.dtype)], bind=out)
    elif node.op == "Log1p":
        b.emit("Log", [b.emit("Add", [x, b.scalar(1, out.dtype)])], bind=out)
    else:
        b.emit("Div", [b.emit("Log", [x]), b.scalar(math.log(2), out.dtype)], bind=out)


@_op("Clamp")
def _clamp(b, node):
    x, lo, hi = node.args
    out = node.outputs[0]
    y = b.operand(x, out.dtype)
    if all(v is None or isinstance(v, (bool, int, float)) for v in (lo, hi)):
        ins = [y, "" if lo is None else b.scalar(lo, out.dtype)]
        if hi is not None:
            ins.append(b.scalar(hi, out.dtype))
        b.emit("Clip", ins, bind=out)
        return
    if lo is not None:
        y = b.emit("Max", [y, b.operand(lo, out.dtype)], bind=None if hi is not None else out)
    if hi is not None:
        b.emit("Min", [y, b.operand(hi, out.dtype)], bind=out)


def _is_positive_mask(b, cond, x):
    """Whether ``cond`` is ``x > 0``: the traced comparison (a kernel node, leaky_relu and elu)
    or a frozen bool constant equal to it in both traces."""
    if not isinstance(x, Value) or cond.dtype.np != np.bool_ or cond.shape != x.shape:
        return False
    p = b.producer.get(cond)
    if p is not None:
        return p.op == "elementwise.gt" and p.args[0] is x and isinstance(p.args[1], np.ndarray) \
            and p.args[1].ndim == 0 and p.args[1].item() == 0 and len(b.users.get(cond, ())) == 1
    if cond.role != "const":
        return False
    for trace in (1, 2):
        vals = b.values(trace)
        c = b._array(vals[cond])
        if not np.array_equal(c, b._array(vals[x]) > 0):
            return False
    return True


@_op("Where")
def _where(b, node):
    cond, x, y = node.args
    out = node.outputs[0]
    if isinstance(cond, Value) and _is_positive_mask(b, cond, x):
        p = b.producer.get(y) if isinstance(y, Value) else None
        if p is not None and p.op == "Mul" and p.args[0] is x and \
                isinstance(p.args[1], (int, float)) and x.dtype is out.dtype \
                and len(b.users.get(y, ())) == 1 and y not in b.g1.outputs:
            b.emit("LeakyRelu", [b.name(x)], bind=out, alpha=float(p.args[1]))
            return
        c = b.emit("Greater", [b.name(x), b.scalar(0, x.dtype)]) if cond.role == "const" \
            else b.name(cond)
    else:
        c = b.name(cond)
    b.emit("Where", [c, b.operand(x, out.dtype), b.operand(y, out.dtype)], bind=out)


# --- matmul, linear ---------------------------------------------------------------------------
@_op("MatMul")
def _matmul(b, node):
    x, w = node.args
    out = node.outputs[0]
    p = b.producer.get(w)
    if len(x.shape) == 2 and p is not None and p.op == "Permute" and tuple(p.args[1]) == (1, 0) \
            and p.args[0].role in _PARAMS and p.args[0] not in b.dyn_consts \
            and x.dtype is out.dtype is w.dtype and out not in b.g1.outputs:
        # a Linear layer: x @ W^T (+ bias) is one Gemm on the parameter as stored
        ins = [b.name(x), b.name(p.args[0])]
        users = b.users.get(out, [])
        if len(users) == 1 and users[0].op == "Add":
            add = users[0]
            bias = add.args[1] if add.args[0] is out else add.args[0]
            if isinstance(bias, Value) and (bias.role in _PARAMS or bias in b.folded) \
                    and bias not in b.dyn_consts \
                    and bias.shape == out.shape[1:] and bias.dtype is out.dtype \
                    and add.outputs[0].dtype is out.dtype and not b.diffs[b._index[id(add)]]:
                b.emit("Gemm", ins + [b.name(bias)], bind=add.outputs[0], transB=1)
                b.unused(out, "fused into a Gemm")
                return
        b.emit("Gemm", ins, bind=out, transB=1)
        return
    b.emit("MatMul", [b.operand(x, out.dtype), b.operand(w, out.dtype)], bind=out)


@_op("Linear")
def _linear(b, node):
    x, w, bias = node.args  # x (..., K), w (N, K), bias (N,) or None; one dtype
    out = node.outputs[0]
    ins = [b.name(x), b.name(w)] + ([b.name(bias)] if isinstance(bias, Value) else [])
    if len(x.shape) == 2:  # the weight as stored
        b.emit("Gemm", ins, bind=out, transB=1)
        return
    y = b.emit("MatMul", [ins[0], b.emit("Transpose", [ins[1]], perm=[1, 0])],
               bind=None if len(ins) == 3 else out)
    if len(ins) == 3:
        b.emit("Add", [y, ins[2]], bind=out)


# --- shapes and movement ----------------------------------------------------------------------
@_op("Copy", "ToDevice")
def _identity(b, node):
    b.alias(node.outputs[0], b.name(node.args[0]))


@_op("ToDtype")
def _cast(b, node):
    x, out = node.args[0], node.outputs[0]
    if x.dtype is out.dtype:
        b.alias(out, b.name(x))
    else:
        b.emit("Cast", [b.name(x)], bind=out, to=b.elem_type(out.dtype))


@_op("View")
def _view(b, node):
    x, out = node.args[0], node.outputs[0]
    b.claim(node, (1,))
    b.emit("Reshape", [b.name(x), b.shape_tensor(node, out, x, reshape=True)], bind=out)


@_op("Expand")
def _expand(b, node):
    x, out = node.args[0], node.outputs[0]
    b.claim(node, (1,))
    b.emit("Expand", [b.name(x), b.shape_tensor(node, out, x, reshape=False)], bind=out)


@_op("Permute")
def _permute(b, node):
    x, dims = node.args
    b.emit("Transpose", [b.name(x)], bind=node.outputs[0], perm=[int(d) for d in dims])


@_op("Cat")
def _cat(b, node):
    dim, xs = node.args[0], node.args[1:]
    out = node.outputs[0]
    b.emit("Concat", [b.operand(x, out.dtype) for x in xs], bind=out, axis=dim % len(out.shape))


@_op("Stack")
def _stack(b, node):
    dim, xs = node.args[0], node.args[1:]
    out = node.outputs[0]
    axes = b.ints([dim])
    parts = [b.emit("Unsqueeze", [b.operand(x, out.dtype), axes]) for x in xs]
    b.emit("Concat", parts, bind=out, axis=dim)


@_op("Slice")
def _slice(b, node):
    x, key = node.args
    out = node.outputs[0]
    key = key if isinstance(key, tuple) else (key,)
    n_used = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(1 for k in key if k is Ellipsis) > 1 or n_used > len(x.shape):
        _fail(node, "an index this exporter does not understand")
    full = []
    for k in key:
        full += [slice(None)] * (len(x.shape) - n_used) if k is Ellipsis else [k]
    full += [slice(None)] * (len(x.shape) - sum(1 for k in full if k is not None))
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis = pos = 0
    for k in full:
        if k is None:
            unsqueeze.append(pos)
            pos += 1
            continue
        if isinstance(k, slice):
            if k != slice(None) and k != slice(None, None, 1):
                if k.step is not None and k.step <= 0:
                    _fail(node, "slices with a step below 1")
                starts.append(0 if k.start is None else int(k.start))
                ends.append(_INT64_MAX if k.stop is None else int(k.stop))
                axes.append(axis)
                steps.append(1 if k.step is None else int(k.step))
            pos += 1
        elif isinstance(k, int) and not isinstance(k, bool):
            starts.append(k)
            ends.append(_INT64_MAX if k == -1 else k + 1)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        else:
            _fail(node, f"an index {k!r} this exporter does not understand")
        axis += 1
    y = b.name(x)
    last = [bool(squeeze or unsqueeze), bool(unsqueeze), True]
    if axes:
        y = b.emit("Slice", [y, b.ints(starts), b.ints(ends), b.ints(axes), b.ints(steps)],
                   bind=None if last[0] else out)
    if squeeze:
        y = b.emit("Squeeze", [y, b.ints(squeeze)], bind=None if last[1] else out)
    if unsqueeze:
        y = b.emit("Unsqueeze", [y, b.ints(unsqueeze)], bind=out)
    if not (axes or squeeze or unsqueeze):
        b.alias(out, y)


@_op("Flip")
def _flip(b, node):
    x, key = node.args
    axes = [d for d, k in enumerate(key) if isinstance(k, slice) and k.step == -1]
    if any(not isinstance(k, slice) or k not in (slice(None), slice(None, None, -1)) for k in key):
        _fail(node, "an index this exporter does not understand")
    if not axes:
        b.alias(node.outputs[0], b.name(x))
        return
    n = len(axes)
    b.emit("Slice", [b.name(x), b.ints([-1] * n), b.ints([np.iinfo(np.int64).min] * n),
                     b.ints(axes), b.ints([-1] * n)], bind=node.outputs[0])


@_op("Repeat")
def _repeat(b, node):
    x, sizes = node.args
    y = b.name(x)
    if len(sizes) > len(x.shape):
        if x.shape != b.shape2(x):
            _fail(node, "repeat adding dims to an input of dynamic size")
        y = b.emit("Reshape", [y, b.ints((1,) * (len(sizes) - len(x.shape)) + x.shape)])
    b.emit("Tile", [y, b.ints(sizes)], bind=node.outputs[0])


@_op("Pad")
def _pad(b, node):
    x, pads, value = node.args
    out = node.outputs[0]
    n = len(x.shape)
    begin, end = [0] * n, [0] * n
    for k in range(len(pads) // 2):
        begin[n - 1 - k], end[n - 1 - k] = int(pads[2 * k]), int(pads[2 * k + 1])
    b.emit("Pad", [b.name(x), b.ints(begin + end), b.scalar(value, out.dtype)], bind=out,
           mode="constant")


@_op("SplitRows")
def _split_rows(b, node):
    x, sizes = node.args
    changed = b.claim(node, (1,))
    outs = list(node.outputs)
    if not changed:
        b.emit("Split", [b.name(x), b.ints(sizes)], bind=outs, n_out=len(outs), axis=0)
        return
    sizes2 = [b.shape2(o)[0] for o in outs]
    if len(set(sizes)) == 1 and len(set(sizes2)) == 1 and b.opset >= 18:
        b.emit("Split", [b.name(x)], bind=outs, n_out=len(outs), axis=0, num_outputs=len(outs))
        return
    _fail(node, "row blocks whose sizes follow the dynamic axes unevenly")


def _split(b, x, parts, size, axis=1):
    if b.opset >= 18:
        return b.emit("Split", [x], n_out=parts, axis=axis, num_outputs=parts)
    return b.emit("Split", [x, b.ints([size] * parts)], n_out=parts, axis=axis)


# --- reductions, softmax ----------------------------------------------------------------------
def _reduce(b, op, x, axes, keepdims, bind=None):
    if op == "ReduceSum" or b.opset >= 18:
        return b.emit(op, [x, b.ints(axes)], bind=bind, keepdims=int(bool(keepdims)))
    return b.emit(op, [x], bind=bind, axes=list(axes), keepdims=int(bool(keepdims)))


_REDUCE = {"Sum": "ReduceSum", "Mean": "ReduceMean", "Prod": "ReduceProd", "AMax": "ReduceMax",
           "AMin": "ReduceMin", "LogSumExp": "ReduceLogSumExp", "Norm2": "ReduceL2"}


@_op(*_REDUCE)
def _reduction(b, node):
    x, dims, keepdim = node.args[:3]
    out = node.outputs[0]
    y = b.operand(x, out.dtype)
    if not dims:
        b.alias(out, y)
        return
    _reduce(b, _REDUCE[node.op], y, [d % len(x.shape) for d in dims], keepdim, bind=out)


@_op("MaxDim", "MinDim")
def _max_dim(b, node):
    x, dim, keepdim = node.args
    vals, idx = node.outputs
    op = "Max" if node.op == "MaxDim" else "Min"
    if not x.shape:
        _fail(node, "0-d input")
    dim %= len(x.shape)
    _reduce(b, "Reduce" + op, b.name(x), [dim], keepdim, bind=vals)
    b.emit("Arg" + op, [b.name(x)], bind=idx, axis=dim, keepdims=int(bool(keepdim)))


@_op("Var")
def _var(b, node):
    x, dims, correction, keepdim = node.args
    out = node.outputs[0]
    if any(x.shape[d] != b.shape2(x)[d] for d in dims):
        _fail(node, "a variance over a dynamic axis")
    n = int(np.prod([x.shape[d] for d in dims]))
    axes = [d % len(x.shape) for d in dims]
    y = b.operand(x, out.dtype)
    d = b.emit("Sub", [y, _reduce(b, "ReduceMean", y, axes, True)])
    s = _reduce(b, "ReduceSum", b.emit("Mul", [d, d]), axes, keepdim)
    b.emit("Div", [s, b.scalar(max(n - correction, 0), out.dtype)], bind=out)


@_op("CumSum")
def _cumsum(b, node):
    x, dim = node.args[:2]
    out = node.outputs[0]
    b.emit("CumSum", [b.operand(x, out.dtype),
                      b.const(np.array(dim % max(len(x.shape), 1), np.int64))], bind=out)


@_op("Softmax", "LogSoftmax")
def _softmax(b, node):
    x, dim = node.args
    if not x.shape:
        _fail(node, "0-d input")
    b.emit(node.op, [b.name(x)], bind=node.outputs[0], axis=dim % len(x.shape))


# --- indexing ---------------------------------------------------------------------------------
@_op("IndexSelect")
def _index_select(b, node):
    x, dim, idx = node.args[:3]
    b.emit("Gather", [b.name(x), b.name(idx)], bind=node.outputs[0], axis=dim % len(x.shape))


@_op("Gather")
def _gather(b, node):
    x, dim, idx = node.args
    b.emit("GatherElements", [b.name(x), b.name(idx)], bind=node.outputs[0],
           axis=dim % len(x.shape))


@_op("Triangle")
def _triangle(b, node):
    x, diagonal, upper = node.args
    b.emit("Trilu", [b.name(x), b.const(np.array(diagonal, np.int64))], bind=node.outputs[0],
           upper=int(bool(upper)))


# --- convolution, pooling, normalisation ------------------------------------------------------
def _tail_pad(b, node, x, axis, k, s, p, d, o, ceil_ok):
    """(trailing pad, ceil_mode) that give the traced output size ``o`` (and the second
    trace's) along spatial ``axis`` of ``x`` with leading pad ``p``."""
    o2 = b.shape2(node.outputs[0])[axis]
    L1, L2 = x.shape[axis], b.shape2(x)[axis]
    eff = d * (k - 1) + 1

    def size(L, tail, ceil):
        n = L + p + tail - eff
        return (-(-n // s) if ceil else n // s) + 1

    for ceil in (False, True) if ceil_ok else (False,):
        if size(L1, p, ceil) == o and size(L2, p, ceil) == o2:
            return p, ceil
    tail = (o - 1) * s + eff - L1 - p
    if L1 == L2 and tail >= 0 and size(L1, tail, False) == o:
        return tail, False
    _fail(node, f"no ONNX padding gives output size {o} along dim {axis}")


@_op("Conv2d")
def _conv(b, node):
    x, w, bias, geom = node.args
    sh, sw, ph, pw, dh, dw, groups = geom[:7]
    out = node.outputs[0]
    b.claim(node, (3, 7), (3, 8))
    kh, kw = w.shape[2:]
    th, _ = _tail_pad(b, node, x, 2, kh, sh, ph, dh, out.shape[2], False)
    tw, _ = _tail_pad(b, node, x, 3, kw, sw, pw, dw, out.shape[3], False)
    ins = [b.operand(x, out.dtype), b.operand(w, out.dtype)]
    if bias is not None:
        ins.append(b.operand(bias, out.dtype))
    b.emit("Conv", ins, bind=out, kernel_shape=[kh, kw], strides=[sh, sw],
           pads=[ph, pw, th, tw], dilations=[dh, dw], group=groups)


@_op("ConvTranspose2d")
def _conv_transpose(b, node):
    x, w, bias, geom = node.args
    sh, sw, ph, pw, dh, dw, groups = geom[:7]
    out = node.outputs[0]
    b.claim(node, (3, 7), (3, 8))
    kh, kw = w.shape[2:]
    extra = []
    for axis, k, s, p, d in ((2, kh, sh, ph, dh), (3, kw, sw, pw, dw)):
        pads = []
        for shape_x, shape_o in ((x.shape, out.shape), (b.shape2(x), b.shape2(out))):
            pads.append(shape_o[axis] - ((shape_x[axis] - 1) * s - 2 * p + d * (k - 1) + 1))
        if pads[0] != pads[1] or not 0 <= pads[0] < max(s, d):
            _fail(node, "an output padding ONNX cannot express")
        extra.append(pads[0])
    ins = [b.operand(x, out.dtype), b.operand(w, out.dtype)]
    if bias is not None:
        ins.append(b.operand(bias, out.dtype))
    b.emit("ConvTranspose", ins, bind=out, kernel_shape=[kh, kw], strides=[sh, sw],
           pads=[ph, pw, ph, pw], dilations=[dh, dw], group=groups, output_padding=extra)


@_op("MaxPool2d")
def _max_pool(b, node):
    x, geom = node.args
    kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = geom
    out, idx = node.outputs
    b.claim(node, (1, 8), (1, 9))
    th, ceil_h = _tail_pad(b, node, x, 2, kh, sh, ph, dh, oh, True)
    tw, ceil_w = _tail_pad(b, node, x, 3, kw, sw, pw, dw, ow, True)
    if (th, tw) != (ph, pw) or ceil_h != ceil_w:
        _fail(node, "a pooling geometry ONNX cannot express")
    b.emit("MaxPool", [b.name(x)], bind=out, kernel_shape=[kh, kw], strides=[sh, sw],
           pads=[ph, pw, ph, pw], dilations=[dh, dw], ceil_mode=int(ceil_h))
    b.unused(idx, f"the indices output of {_describe(node)} is used, and ONNX MaxPool's "
                  "indices count differently; return_indices=True cannot be exported")


@_op("AvgPool2d")
def _avg_pool(b, node):
    x, geom = node.args
    kh, kw, sh, sw, ph, pw, include_pad, divisor, oh, ow = geom
    out = node.outputs[0]
    b.claim(node, (1, 8), (1, 9))
    if divisor:
        _fail(node, "divisor_override")
    th, ceil_h = _tail_pad(b, node, x, 2, kh, sh, ph, 1, oh, True)
    tw, ceil_w = _tail_pad(b, node, x, 3, kw, sw, pw, 1, ow, True)
    if (th, tw) != (ph, pw) or ceil_h != ceil_w:
        _fail(node, "a pooling geometry ONNX cannot express")
    b.emit("AveragePool", [b.name(x)], bind=out, kernel_shape=[kh, kw], strides=[sh, sw],
           pads=[ph, pw, ph, pw], ceil_mode=int(ceil_h), count_include_pad=int(bool(include_pad)))


@_op("AdaptiveAvgPool2d")
def _adaptive_avg_pool(b, node):
    x, size = node.args
    out = node.outputs[0]
    if tuple(size) == (1, 1):
        b.emit("GlobalAveragePool", [b.name(x)], bind=out)
        return
    (h, w), (h2, w2) = x.shape[2:], b.shape2(x)[2:]
    oh, ow = size
    if (h, w) != (h2, w2) or h % oh or w % ow:
        _fail(node, "adaptive pooling to other than 1x1 needs a static input size divisible "
                    "by the output size")
    b.emit("AveragePool", [b.name(x)], bind=out, kernel_shape=[h // oh, w // ow],
           strides=[h // oh, w // ow])


def _channel(b, v, n, fill, dtype):
    if v is None:
        return b.const(np.full((n,), fill, dtype=np.dtype(dtype.np)))
    return b.operand(v, dtype)


@_op("BatchNorm")
def _batch_norm(b, node):
    x, weight, bias, mean, var, training, _momentum, eps = node.args
    out = node.outputs[0]
    if training or mean is None or var is None:
        _fail(node, "batch norm with batch statistics (training mode, or "
                    "track_running_stats=False) is not exported; export in eval mode")
    c, dt = x.shape[1], out.dtype
    b.emit("BatchNormalization",
           [b.operand(x, dt), _channel(b, weight, c, 1, dt), _channel(b, bias, c, 0, dt),
            b.operand(mean, dt), b.operand(var, dt)], bind=out, epsilon=float(eps))


@_op("LayerNorm")
def _layer_norm(b, node):
    x, ns, weight, bias, eps = node.args
    out, dt = node.outputs[0], node.outputs[0].dtype
    ins = [b.operand(x, dt)]
    if weight is None:
        ins.append(b.const(np.ones(tuple(ns), dtype=np.dtype(dt.np))))
    else:
        ins.append(b.operand(weight, dt))
    if bias is not None:
        ins.append(b.operand(bias, dt))
    b.emit("LayerNormalization", ins, bind=out, axis=-len(ns), epsilon=float(eps))


# --- fused recurrent cells and attention ------------------------------------------------------
def _lstm_gates(b, gates, c_prev, H, h=None, c=None):
    """The LSTM cell on pre-activations ``gates`` (B, 4H): returns (h, c) names, bound to the
    Values ``h``, ``c`` where given."""
    i, f, g, o = _split(b, gates, 4, H)
    i, f, o = (b.emit("Sigmoid", [t]) for t in (i, f, o))
    g = b.emit("Tanh", [g])
    c_new = b.emit("Add", [b.emit("Mul", [f, c_prev]), b.emit("Mul", [i, g])], bind=c)
    return b.emit("Mul", [o, b.emit("Tanh", [c_new])], bind=h), c_new


@_op("FusedLSTMCell")
def _lstm_cell(b, node):
    xg, hg, c_prev = node.args
    h, c = node.outputs
    _lstm_gates(b, b.emit("Add", [b.name(xg), b.name(hg)]), b.name(c_prev), c.shape[-1], h, c)


@_op("LSTMLayer")
def _lstm_layer(b, node):
    # unrolled: the steps of a fixed length (the batch may be dynamic), one matmul and cell each
    xp, h0, c0, w_hh, sizes, reverse = node.args
    out, h_n, c_n = node.outputs
    sizes2 = list(sizes)  # the second trace's (its batch)
    for path, (_, size2) in b.claim(node, (4,)).items():
        sizes2[path[1]] = size2
    if len(set(sizes)) != 1 or len(set(sizes2)) != 1:
        _fail(node, "packed sequences (steps of unequal batch) are not exported")
    T, H = len(sizes), out.shape[-1]
    steps = _split(b, b.name(xp), T, sizes[0], axis=0) if T > 1 else [b.name(xp)]
    wt = b.emit("Transpose", [b.name(w_hh)], perm=[1, 0])
    h, c, hs = b.name(h0), b.name(c0), [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        gates = b.emit("Add", [steps[t], b.emit("MatMul", [h, wt])])
        h, c = _lstm_gates(b, gates, c, H)
        hs[t] = h
    b.emit("Concat", hs, bind=out, axis=0)
    b.emit("Identity", [h], bind=h_n)
    b.emit("Identity", [c], bind=c_n)


@_op("FusedGRUCell")
def _gru_cell(b, node):
    gi, gh, b_hh, h_prev = node.args
    h = node.outputs[0]
    H = h.shape[-1]
    ghn = b.name(gh)
    if b_hh is not None:
        ghn = b.emit("Add", [ghn, b.name(b_hh)])
    ir, iz, in_ = _split(b, b.name(gi), 3, H)
    hr, hz, hn = _split(b, ghn, 3, H)
    r = b.emit("Sigmoid", [b.emit("Add", [ir, hr])])
    z = b.emit("Sigmoid", [b.emit("Add", [iz, hz])])
    n = b.emit("Tanh", [b.emit("Add", [in_, b.emit("Mul", [r, hn])])])
    one_minus_z = b.emit("Sub", [b.scalar(1, h.dtype), z])
    b.emit("Add", [b.emit("Mul", [one_minus_z, n]), b.emit("Mul", [z, b.name(h_prev)])], bind=h)


@_op("Gelu")
def _gelu(b, node):
    # opset 18 has no Gelu: x * 0.5 * (1 + erf(x / sqrt(2))), as the composite it replaces
    out = node.outputs[0]
    xs = b.operand(node.args[0], out.dtype)
    erf = b.emit("Erf", [b.emit("Mul", [xs, b.scalar(1 / math.sqrt(2), out.dtype)])])
    half = b.emit("Mul", [xs, b.scalar(0.5, out.dtype)])
    b.emit("Mul", [half, b.emit("Add", [erf, b.scalar(1, out.dtype)])], bind=out)


@_op("FusedAttention")
def _attention(b, node):
    q, k, v, scale, causal = node.args
    out = node.outputs[0]
    # q (B, H, L, E), k (B, H, S, E), v (B, H, S, Ev)
    scores = b.emit("MatMul", [b.name(q), b.emit("Transpose", [b.name(k)], perm=[0, 1, 3, 2])])
    scores = b.emit("Mul", [scores, b.scalar(float(scale), out.dtype)])
    if causal:
        (L, S), (L2, S2) = (q.shape[2], k.shape[2]), (b.shape2(q)[2], b.shape2(k)[2])
        if (L, S) != (L2, S2):
            _fail(node, "causal attention over a dynamic sequence length")
        mask = np.triu(np.full((L, S), -np.inf, dtype=np.dtype(out.dtype.np)), 1)
        scores = b.emit("Add", [scores, b.const(mask)])
    probs = b.emit("Softmax", [scores], axis=-1)
    b.emit("MatMul", [probs, b.name(v)], bind=out)


# --- kernel nodes: ops that are no Function, seen by the tracer at the kernel level -----------
_COMPARE = {"elementwise.gt": "Greater", "elementwise.ge": "GreaterOrEqual",
            "elementwise.lt": "Less", "elementwise.le": "LessOrEqual",
            "elementwise.eq": "Equal", "elementwise.ne": "Equal",
            "elementwise.logical_and": "And", "elementwise.logical_or": "Or",
            "elementwise.logical_xor": "Xor", "elementwise.bitwise_and": "And",
            "elementwise.bitwise_or": "Or", "elementwise.bitwise_xor": "Xor"}


@_op(*_COMPARE)
def _kernel_compare(b, node):
    x, y, out = node.args
    kind = _COMPARE[node.op]
    if node.op.startswith("elementwise.bitwise") and out.dtype.np != np.bool_:
        _fail(node, "bitwise operations on integers have no translation (bool ones do)")
    if kind in ("And", "Or", "Xor"):
        ins = [_as_bool(b, x), _as_bool(b, y)]
    else:
        dt = x.dtype if isinstance(x, Value) else y.dtype
        ins = [b.operand(x, dt), b.operand(y, dt)]
    if node.op == "elementwise.ne":
        b.emit("Not", [b.emit("Equal", ins)], bind=out)
    else:
        b.emit(kind, ins, bind=out)


def _as_bool(b, a):
    from .. import _dtype as D
    if isinstance(a, Value) and a.dtype is D.bool:
        return b.name(a)
    if isinstance(a, Value):
        return b.emit("Not", [b.emit("Equal", [b.name(a), b.scalar(0, a.dtype)])])
    return b.const(np.asarray(a).astype(bool))


_PREDICATE = {"elementwise.isnan": "IsNaN", "elementwise.isinf": "IsInf",
              "elementwise.logical_not": "Not"}


@_op(*_PREDICATE)
def _kernel_predicate(b, node):
    x, out = node.args
    ins = [_as_bool(b, x)] if node.op == "elementwise.logical_not" else [b.name(x)]
    b.emit(_PREDICATE[node.op], ins, bind=out)


@_op("elementwise.copy")
def _kernel_cast(b, node):
    x, out = node.args
    b.emit("Cast", [b.name(x)], bind=out, to=b.elem_type(out.dtype))
