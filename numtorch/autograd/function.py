"""``Function``: one op's forward and backward side by side; its ctx is the graph node.

Built-in ops and users' own ops are the same kind of object::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            y = <kernel call>
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            y, = ctx.saved_tensors
            return g * y            # Tensor ops: double backward works

The engine un-broadcasts each returned gradient to its input's shape and casts it to the input's
dtype, so rules stay one-liners.
"""
import functools

from .._hooks import RemovableHandle
from .._tracing import state as _listen
from . import grad_mode

__all__ = ["Function", "FunctionCtx", "once_differentiable", "Node"]

_Tensor = None  # numtorch.Tensor, set by numtorch._tensor on import (the layer below us)


class Node:
    """A node of the backward graph. ``next_edges[i]`` is ``(node, output_nr)`` for the i-th tensor
    input (``None`` when that input needs no grad); ``input_meta[i]`` its (shape, dtype, device)."""

    __slots__ = ("next_edges", "input_meta", "_pre_hooks", "_hooks", "__weakref__")
    name = "Node"

    def __init__(self):
        self.next_edges = ()
        self.input_meta = ()
        self._pre_hooks = None  # {output_nr: [hook(grad) -> grad | None]}
        self._hooks = None

    def apply(self, grads):
        raise NotImplementedError

    def release(self):
        pass

    @property
    def next_functions(self):
        return tuple((e[0], e[1]) if e is not None else (None, 0) for e in self.next_edges)

    def register_hook(self, hook):
        """``hook(grad_inputs, grad_outputs)`` runs after this node computed its gradients."""
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return RemovableHandle(self._hooks, hook)

    def name_(self):
        return self.name

    def __repr__(self):
        return f"<{self.name} object at {id(self):#x}>"


class AccumulateGrad(Node):
    """The sink of a leaf: adds the incoming gradient into ``leaf.grad``."""

    __slots__ = ("variable", "_tensor_hooks", "_post_hooks")
    name = "AccumulateGrad"

    def __init__(self, variable):
        super().__init__()
        self.variable = variable
        self._tensor_hooks = []
        self._post_hooks = []


class FunctionCtx(Node):
    """The ``ctx`` of a :class:`Function`: what forward saves for backward, and the graph node.

    >>> import numtorch as torch
    >>> class Double(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * 2
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         return g * 2
    >>> x = torch.tensor([1.0], requires_grad=True)
    >>> y = Double.apply(x)
    >>> y.grad_fn.saved_tensors
    (tensor([1.], requires_grad=True),)
    """

    __slots__ = ("fn", "needs_input_grad", "saved_meta", "_saved", "_saved_versions", "_freed",
                 "_non_diff", "_materialize", "n_outputs", "_arg_slots", "_tensor_positions", "_retained",
                 "__dict__")

    def __init__(self, fn):
        # Node.__init__'s fields, set here: one Python call less per recorded op
        self.next_edges = ()
        self.input_meta = ()
        self._pre_hooks = None
        self._hooks = None
        self.fn = fn
        self._saved = ()
        self._saved_versions = ()
        self._freed = False
        self._non_diff = ()
        self._materialize = True
        self.n_outputs = 1
        self._retained = None
        self.needs_input_grad = ()

    @property
    def name(self):
        return self.fn.__name__ + "Backward"

    # --- the ctx API -------------------------------------------------------------------------
    def save_for_backward(self, *tensors):
        """Keep tensors for backward; backward raises if any is modified in place meanwhile."""
        self._saved = tensors
        self._saved_versions = tuple([t._ver.v if t is not None else 0 for t in tensors])

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify "
                "retain_graph=True if you need to backward through the graph a second time or if "
                "you need to access saved tensors after calling backward.")
        for i, (t, v) in enumerate(zip(self._saved, self._saved_versions)):
            if t is not None and t._ver.v != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: [{t.dtype} {list(t.shape)}], which is saved tensor "
                    f"{i} of {self.name}, is at version {t._ver.v}; expected version {v} "
                    "instead.")
        return self._saved

    def mark_non_differentiable(self, *tensors):
        """Outputs that get no gradient (e.g. the indices of ``max``)."""
        self._non_diff = tuple(id(t) for t in tensors)

    def mark_dirty(self, *tensors):
        """Accepted for compatibility; numtorch's in-place ops handle versioning themselves."""

    def set_materialize_grads(self, value):
        """With False, backward receives None (not zeros) for outputs that got no gradient."""
        self._materialize = bool(value)

    def release(self):
        self._saved = ()
        self._freed = True

    # --- engine entry point ------------------------------------------------------------------
    def apply(self, grads):
        if self._materialize:
            grads = tuple(g if g is not None else _zeros_for(self, i) for i, g in enumerate(grads))
        out = self.fn.backward(self, *grads)
        if not isinstance(out, tuple):
            out = (out,)
        slots = self._arg_slots
        if len(out) < len(slots) or (len(out) > len(slots) and any(o is not None for o in out[len(slots):])):
            raise RuntimeError(
                f"function {self.name} returned an incorrect number of gradients (expected "
                f"{len(slots)}, got {len(out)})")
        return tuple(out[i] for i in self._tensor_positions)


def _zeros_for(ctx, i):
    shape, dtype, device = ctx.saved_meta[i]
    from .._creation import zeros
    return zeros(shape, dtype=dtype, device=device)


class _FunctionMeta(type):
    def __init__(cls, name, bases, ns):
        super().__init__(name, bases, ns)
        cls.__name__ = name


class Function(metaclass=_FunctionMeta):
    """Base class of differentiable operations (PyTorch's ``autograd.Function``).

    Subclass it with static ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``, then
    call ``MyFn.apply(*args)``. Example, an op on a user's own Numba kernel::

        >>> import numtorch as torch
        >>> class Square(torch.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x * x
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         x, = ctx.saved_tensors
        ...         return 2 * x * g
        >>> x = torch.tensor([3.0], requires_grad=True)
        >>> Square.apply(x).backward(); x.grad
        tensor([6.])
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom autograd.Function to use it with backward mode AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args, **kwargs):
        if _listen.tracer is not None:  # numtorch.jit.trace listens (numtorch/_tracing.py)
            return _listen.tracer.apply(cls, args, kwargs)
        if grad_mode.state.enabled:
            Tensor = _Tensor
            for a in args:
                if isinstance(a, Tensor) and a._requires_grad:
                    return _apply_with_graph(cls, args, kwargs)
        # no input needs a gradient, so nothing below records a graph either: run forward
        # directly with a throwaway ctx (the per-op cost of an eager framework lives here)
        return cls.forward(_NullCtx(), *args, **kwargs)


class _NullCtx:
    """The ctx of a forward that records no graph: saves are dropped."""
    needs_input_grad = ()
    _saved = ()

    def save_for_backward(self, *tensors):
        pass

    def mark_non_differentiable(self, *tensors):
        pass

    def mark_dirty(self, *tensors):
        pass

    def set_materialize_grads(self, value):
        pass


def _edge(t):
    if not t._requires_grad:
        return None
    fn = t.grad_fn
    if fn is not None:
        return (fn, t._out_nr)
    return (t._accumulator(), 0)


def _apply_with_graph(cls, args, kwargs):
    Tensor = _Tensor
    ctx = FunctionCtx(cls)
    positions, edges, metas, needs = [], [], [], []
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            positions.append(i)
            e = _edge(a)
            edges.append(e)
            metas.append((a._data.shape, a.dtype, a.device))
            needs.append(e is not None)
        else:
            needs.append(False)
    ctx.needs_input_grad = tuple(needs)
    ctx._tensor_positions = tuple(positions)
    ctx._arg_slots = args
    state = grad_mode.state
    state.enabled = False
    try:
        out = cls.forward(ctx, *args, **kwargs)
    finally:
        state.enabled = True
    ctx._arg_slots = range(len(args))  # keep only the count, not the arguments
    ctx.next_edges = tuple(edges)
    ctx.input_meta = tuple(metas)
    single = not isinstance(out, tuple)
    outs = (out,) if single else out
    non_diff = ctx._non_diff
    meta = []
    wrapped = []
    for k, o in enumerate(outs):
        if isinstance(o, Tensor):
            for a in args:
                if o is a:  # forward returned an input: give the output its own identity
                    o = o._alias()
                    break
            meta.append((o._data.shape, o.dtype, o.device))
            if id(o) not in non_diff and (o.dtype.is_floating_point):
                o._requires_grad = True
                o.grad_fn = ctx
                o._out_nr = k
        else:
            meta.append(None)
        wrapped.append(o)
    ctx.saved_meta = tuple(meta)
    ctx.n_outputs = len(outs)
    return wrapped[0] if single else tuple(wrapped)


def once_differentiable(backward):
    """Decorate a ``backward`` that is not itself differentiable: under ``create_graph`` it runs
    without recording, and its results cannot be differentiated again.

    >>> import numtorch as torch
    >>> from numtorch.autograd.function import once_differentiable
    >>> class Cube(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     @once_differentiable
    ...     def backward(ctx, g):
    ...         x, = ctx.saved_tensors
    ...         return 3 * x ** 2 * g
    >>> x = torch.tensor([2.0], requires_grad=True)
    >>> Cube.apply(x).backward()
    >>> x.grad
    tensor([12.])
    """
    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        with grad_mode.no_grad():
            out = backward(ctx, *grads)
        return out
    return wrapper
