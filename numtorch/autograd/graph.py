"""Walking what a call returned and the backward graph behind it (used by DDP, which syncs the
gradients of the parameters a forward reached, and by numtorch.compile, which captures the
backward of those leaves)."""
from .function import AccumulateGrad

__all__ = ["tensors_in", "reached_leaves"]


def tensors_in(obj, out=None):
    """The tensors inside ``obj`` (a tensor, or tuples, lists and dicts of them), in order."""
    from .function import _Tensor as Tensor
    out = [] if out is None else out
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            tensors_in(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            tensors_in(o, out)
    return out


def reached_leaves(outputs, stop=()):
    """The leaf tensors whose ``AccumulateGrad`` the graph of ``outputs`` reaches (outputs that
    are leaves requiring grad count themselves), each once, in the order found; the walk does
    not go past the nodes whose ids are in ``stop``."""
    seen, found, leaves = set(), set(), []

    def add(t):
        if id(t) not in found:
            found.add(id(t))
            leaves.append(t)
    stack = []
    for t in tensors_in(outputs):
        if t.grad_fn is not None:
            stack.append(t.grad_fn)
        elif t.requires_grad:
            add(t)
    while stack:
        node = stack.pop()
        if id(node) in seen or id(node) in stop:
            continue
        seen.add(id(node))
        if isinstance(node, AccumulateGrad):
            if node.variable is not None:
                add(node.variable)
            continue
        for e in node.next_edges:
            if e is not None:
                stack.append(e[0])
    return leaves
