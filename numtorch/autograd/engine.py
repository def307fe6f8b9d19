"""The backward engine: Kahn's algorithm over dependency counts (no recursion, any depth).

It does the generic work for every rule: un-broadcast a gradient to its input's shape, cast it
to the input's dtype, accumulate the gradients a node receives from several consumers, run
tensor hooks, retain_grad, post-accumulate hooks, and free saved tensors unless asked to keep them.

It is also the one gate between a gradient and the kernels of a backward: every gradient a node
receives has exactly the (shape, dtype, device) recorded for that output. A backward's result
is summed to its input's shape only where broadcasting allows, and a hook must not change its
value's shape, dtype or device (PyTorch's errors), so no backward kernel reads a gradient of
another shape than its forward made.
"""
import math

from . import grad_mode
from .function import AccumulateGrad
from .._tracing import state as _listen

__all__ = ["run_backward"]


def _expandable(shape, gshape):
    """Whether ``shape`` broadcasts to ``gshape`` (so ``g`` sums back to it)."""
    lead = len(gshape) - len(shape)
    if lead < 0:
        return False
    for n, m in zip(shape, gshape[lead:]):
        if n != m and n != 1:
            return False
    return True


def _sum_to(g, shape):
    """Sum ``g`` down to ``shape`` (the reverse of broadcasting), with differentiable ops."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    if dims:
        g = g.sum(dims, keepdim=True)
    if lead:
        g = g.reshape(shape)
    if g.shape != shape:  # e.g. g was 0-d of a 1-element input
        g = g.reshape(shape)
    return g


def _fit(g, meta, node, i):
    """The gradient ``node``'s backward returned for its ``i``-th tensor input, made exactly
    that input's (shape, dtype, device): summed where it broadcasts, cast, else an error."""
    shape, dtype, device = meta
    try:
        gshape = g._data.shape
    except AttributeError:
        raise RuntimeError(f"expected Variable or None (got {type(g).__name__})") from None
    if gshape != shape:
        if _expandable(shape, gshape):
            g = _sum_to(g, shape)
        elif g._data.size == 1 and math.prod(shape) == 1:  # e.g. 0-d for a (1,) input
            g = g.reshape(shape)
        else:
            raise RuntimeError(
                f"Function {node.name} returned an invalid gradient at index {i} - got "
                f"{list(gshape)} but expected shape compatible with {list(shape)}")
    if g.device is not device and g.device != device:
        raise RuntimeError(
            f"Function {node.name} returned an invalid gradient at index {i} - expected device "
            f"{device} but got {g.device}")
    if g.dtype is not dtype:
        g = g.to(dtype)
    return g


def _type_name(t):
    name = t.type()
    return name.replace("torch.", "torch.cuda.", 1) if t.device.type == "cuda" else name


def _hooked(r, g, hook):
    """``r``, what ``hook`` returned for the gradient ``g``, if it may replace ``g``: the same
    shape, dtype and device (PyTorch's checks and messages)."""
    from .function import _Tensor
    if not isinstance(r, _Tensor):
        raise TypeError(f"expected Variable, but hook returned '{type(r).__name__}'")
    if r.dtype is not g.dtype or (r.device is not g.device and r.device != g.device):
        raise RuntimeError(
            f"hook '{getattr(hook, '__name__', '<unknown>')}' has changed the type of value "
            f"(was {_type_name(g)} got {_type_name(r)})")
    if r._data.shape != g._data.shape:
        raise RuntimeError(
            f"hook '{getattr(hook, '__name__', '<unknown>')}' has changed the size of value")
    return r


def _entering(node, nr, g, meta):
    """``g``, the gradient of ``node``'s output ``nr``, made exactly that output's recorded
    (shape, dtype, device). Gradients are fitted on the way, so a mismatch here means the tensor
    changed since forward (e.g. ``.data`` replaced by another shape): refuse rather than let a
    backward kernel read it."""
    shape, dtype, device = meta
    if g._data.shape != shape:
        raise RuntimeError(
            f"Function {node.name} got a gradient of shape {list(g._data.shape)} for its output "
            f"{nr}, which had shape {list(shape)} in forward (was the tensor's .data replaced?)")
    if g.device != device:
        raise RuntimeError(
            f"Function {node.name} got a gradient on {g.device} for its output {nr}, which was "
            f"on {device} in forward")
    return g if g.dtype is dtype else g.to(dtype)


def _seed(g, t):
    """A seed gradient for the output ``t``, of ``t``'s dtype (shapes are checked by
    ``autograd._seeds``); another device is an error."""
    if g.device is not t.device and g.device != t.device:
        raise RuntimeError(
            f"invalid gradient at index 0 - expected device {t.device} but got {g.device}")
    return g if g.dtype is t.dtype else g.to(t.dtype)


def _graph_deps(roots):
    """Count, for each node reachable from ``roots``, how many edges point at it."""
    deps = {}
    seen = set()
    stack = [r for r in roots if r is not None]
    for r in stack:
        seen.add(r)
    while stack:
        node = stack.pop()
        for e in node.next_edges:
            if e is None:
                continue
            nxt = e[0]
            deps[nxt] = deps.get(nxt, 0) + 1
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return deps


def run_backward(tensors, grad_tensors, retain_graph, create_graph, inputs=None,
                 allow_unused=False, accumulate=True):
    """Backpropagate from ``tensors`` seeded with ``grad_tensors``.

    With ``accumulate`` (``Tensor.backward``) leaf gradients go into ``.grad``; otherwise
    (``autograd.grad``) the gradients reaching ``inputs`` are returned and no ``.grad`` changes.
    """
    roots, buffers = [], {}
    for t, g in zip(tensors, grad_tensors):
        node = t.grad_fn if t.grad_fn is not None else t._accumulator()
        nr = t._out_nr if t.grad_fn is not None else 0
        roots.append(node)
        g = _seed(g, t)
        buf = buffers.setdefault(node, {})
        buf[nr] = buf[nr] + g if nr in buf else g

    # what autograd.grad wants: leaf inputs by their AccumulateGrad, others by (node, output_nr)
    wanted = {}
    if inputs is not None:
        for k, t in enumerate(inputs):
            key = (t.grad_fn, t._out_nr) if t.grad_fn is not None else (t._accumulator(), 0)
            wanted.setdefault(key, []).append(k)
    results = [None] * (len(inputs) if inputs is not None else 0)

    deps = _graph_deps(roots)
    ready = [n for n in dict.fromkeys(roots) if deps.get(n, 0) == 0]
    state = grad_mode.state
    prev = state.enabled
    state.enabled = bool(create_graph)
    try:
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, {})
            if node._pre_hooks:
                for nr, hooks in node._pre_hooks.items():
                    if nr in grads:
                        for h in hooks:
                            r = h(grads[nr])
                            if r is not None:
                                grads[nr] = _hooked(r, grads[nr], h)
            if wanted:
                for nr, g in grads.items():
                    for k in wanted.get((node, nr), ()):
                        results[k] = g
            if isinstance(node, AccumulateGrad):
                if accumulate:
                    _accumulate(node, grads.get(0), create_graph)
                continue
            metas = node.saved_meta  # what each output was: its gradient must match exactly
            for nr, g in grads.items():
                m = metas[nr]
                if g._data.shape != m[0] or g.dtype is not m[1] or g.device is not m[2]:
                    grads[nr] = _entering(node, nr, g, m)
            retained = getattr(node, "_retained", None)
            if retained:
                for nr, t in retained.items():
                    t = t()
                    if t is not None and nr in grads:
                        g = grads[nr] if create_graph else grads[nr].detach()
                        t.grad = g if t.grad is None else t.grad + g
            n_out = node.n_outputs
            if n_out == 1:  # (most nodes: no generator)
                grad_list = (grads.get(0),)
                none = grad_list[0] is None
            else:
                grad_list = tuple([grads.get(i) for i in range(n_out)])
                none = all(g is None for g in grad_list)
            if none:
                in_grads = (None,) * len(node.next_edges)
            else:
                in_grads = node.apply(grad_list)
                if len(in_grads) != len(node.next_edges):
                    raise RuntimeError(
                        f"function {node.name} returned an incorrect number of gradients "
                        f"(expected {len(node.next_edges)}, got {len(in_grads)})")
            if node._hooks:
                for h in node._hooks:
                    h(in_grads, grad_list)
            if not retain_graph:
                node.release()
            if _anomaly[0]:
                _check_anomaly(node, in_grads)
            for i, (e, g, meta) in enumerate(zip(node.next_edges, in_grads, node.input_meta)):
                if e is None:
                    continue
                nxt, nr = e
                if g is not None:
                    g = _fit(g, meta, node, i)
                    buf = buffers.setdefault(nxt, {})
                    buf[nr] = buf[nr] + g if nr in buf else g
                d = deps[nxt] - 1
                deps[nxt] = d
                if d == 0:
                    ready.append(nxt)
    finally:
        state.enabled = prev

    if inputs is not None and not allow_unused:
        for k, r in enumerate(results):
            if r is None:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior.")
    return results


def _accumulate(node, g, create_graph):
    if g is None:
        return
    leaf = node.variable
    if leaf is None:  # freed: nobody can read its gradient
        return
    for h in node._tensor_hooks:
        r = h(g)
        if r is not None:
            g = _hooked(r, g, h)
    if not create_graph:
        g = g.detach()
    if leaf.grad is None:
        # own the buffer: rules like add's pass one gradient object to several inputs, and the
        # next accumulation (or zero_grad) works in place
        leaf.grad = g if create_graph else g.clone()
    elif leaf.grad._data.shape != g._data.shape:  # leaf.data was replaced by another shape
        raise RuntimeError(
            f"The size of tensor a ({list(leaf.grad.shape)}) must match the size of tensor b "
            f"({list(g.shape)}): the leaf's .grad no longer has its shape")
    elif create_graph:
        leaf.grad = leaf.grad + g
    else:
        leaf.grad._iadd_nograd(g)
    for h in node._post_hooks:
        h(leaf)
    if _listen.capture is not None:  # numtorch.compile: a replay restores this .grad
        _listen.capture.leaf_grad(leaf)


# --- anomaly detection --------------------------------------------------------------------------
_anomaly = [False]


def _check_anomaly(node, grads):
    for g in grads:
        if g is not None and g.dtype.is_floating_point and bool(g.isnan().any()):
            raise RuntimeError(f"Function '{node.name}' returned nan values in its output.")
