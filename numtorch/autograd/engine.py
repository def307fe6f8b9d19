"""The backward engine: Kahn's algorithm over dependency counts (no recursion, any depth).

It does the generic work for every rule: un-broadcast a gradient to its input's shape, cast it
to the input's dtype, accumulate the gradients a node receives from several consumers, run
tensor hooks, retain_grad, post-accumulate hooks, and free saved tensors unless asked to keep them.
"""
from . import grad_mode
from .function import AccumulateGrad

__all__ = ["run_backward"]


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


def _fit(g, meta, node):
    shape, dtype, device = meta
    if g.shape != shape:
        try:
            g = _sum_to(g, shape)
        except RuntimeError:
            raise RuntimeError(
                f"Function {node.name} returned an invalid gradient - got {list(g.shape)} but "
                f"expected shape compatible with {list(shape)}") from None
    if g.dtype is not dtype:
        g = g.to(dtype)
    return g


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
                                grads[nr] = r
            if wanted:
                for nr, g in grads.items():
                    for k in wanted.get((node, nr), ()):
                        results[k] = g
            if isinstance(node, AccumulateGrad):
                if accumulate:
                    _accumulate(node, grads.get(0), create_graph)
                continue
            retained = getattr(node, "_retained", None)
            if retained:
                for nr, t in retained.items():
                    t = t()
                    if t is not None and nr in grads:
                        g = grads[nr] if create_graph else grads[nr].detach()
                        t.grad = g if t.grad is None else t.grad + g
            grad_list = tuple(grads.get(i) for i in range(node.n_outputs))
            if all(g is None for g in grad_list):
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
            for e, g, meta in zip(node.next_edges, in_grads, node.input_meta):
                if e is None:
                    continue
                nxt, nr = e
                if g is not None:
                    g = _fit(g, meta, node)
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
    for h in node._tensor_hooks:
        r = h(g)
        if r is not None:
            g = r
    if not create_graph:
        g = g.detach()
    if leaf.grad is None:
        # own the buffer: rules like add's pass one gradient object to several inputs, and the
        # next accumulation (or zero_grad) works in place
        leaf.grad = g if create_graph else g.clone()
    elif create_graph:
        leaf.grad = leaf.grad + g
    else:
        leaf.grad._iadd_nograd(g)
    for h in node._post_hooks:
        h(leaf)


# --- anomaly detection --------------------------------------------------------------------------
_anomaly = [False]


def _check_anomaly(node, grads):
    for g in grads:
        if g is not None and g.dtype.is_floating_point and bool(g.isnan().any()):
            raise RuntimeError(f"Function '{node.name}' returned nan values in its output.")
