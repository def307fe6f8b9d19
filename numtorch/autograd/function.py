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
import linecache
from types import CodeType, FunctionType
from weakref import ref as _weakref

from .._hooks import RemovableHandle
from .._tracing import state as _listen
from . import grad_mode

_grad_state = grad_mode.state  # (one attribute read less per op)

__all__ = ["Function", "FunctionCtx", "once_differentiable", "Node"]

_Tensor = None  # numtorch.Tensor, set by numtorch._tensor on import (the layer below us)


class Node:
    """A node of the backward graph. ``next_edges[i]`` is ``(node, output_nr)`` for the i-th tensor
    input (``None`` when that input needs no grad); ``input_meta[i]`` its (shape, dtype, device)
    (``None`` where the edge is)."""

    __slots__ = ("next_edges", "input_meta", "__dict__", "__weakref__")
    name = "Node"
    # hooks, which few nodes get: class defaults until registered (on the instance's __dict__)
    _pre_hooks = None  # {output_nr: [hook(grad) -> grad | None]}
    _hooks = None

    def __init__(self):
        self.next_edges = ()
        self.input_meta = ()

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
    """The sink of a leaf: adds the incoming gradient into ``leaf.grad``.

    The leaf keeps its node for its lifetime (``Tensor._accumulator``: made once, not once per
    graph) and the node refers to the leaf weakly, so the two make no reference cycle: a leaf
    that nobody holds any more is freed with its data even while a graph still reaches its node,
    and its gradient (which nobody could read) and its hooks are then skipped."""

    __slots__ = ("_leaf",)
    name = "AccumulateGrad"

    def __init__(self, variable):
        # Node.__init__'s fields, set here: one Python call less
        self.next_edges = ()
        self.input_meta = ()
        self._leaf = _weakref(variable)

    @property
    def variable(self):
        """The leaf tensor, or None once it was freed."""
        return self._leaf()

    @property
    def _tensor_hooks(self):
        """The leaf's ``register_hook`` hooks (kept on the leaf)."""
        leaf = self._leaf()
        return leaf.__dict__.get("_hooks", ()) if leaf is not None else ()

    @property
    def _post_hooks(self):
        """The leaf's ``register_post_accumulate_grad_hook`` hooks."""
        leaf = self._leaf()
        return leaf.__dict__.get("_post_hooks", ()) if leaf is not None else ()


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

    __slots__ = ("fn", "needs_input_grad", "saved_meta", "n_args", "_saved", "_saved_versions")
    # what few nodes set: class defaults until then (on the instance's __dict__)
    _tensor_positions = None  # of the tensors among forward's arguments; None: all are
    _freed = False
    _non_diff = ()
    _materialize = True
    n_outputs = 1
    _retained = None

    def __init__(self, fn):
        # Node.__init__'s fields, set here: one Python call less per recorded op (the generated
        # applies make the node without any: _new_node)
        self.next_edges = ()
        self.input_meta = ()
        self.fn = fn
        self.needs_input_grad = ()
        self._saved = self._saved_versions = ()

    @property
    def name(self):
        return self.fn.__name__ + "Backward"

    # --- the ctx API -------------------------------------------------------------------------
    def save_for_backward(self, *tensors):
        """Keep tensors for backward; backward raises if any is modified in place meanwhile."""
        self._saved = tensors
        n = len(tensors)  # one or two tensors (most ops) unrolled: 150 -> 110 ns for two
        if n == 2:
            a, b = tensors
            self._saved_versions = (a._ver[0] if a is not None else 0,
                                    b._ver[0] if b is not None else 0)
        elif n == 1:
            a = tensors[0]
            self._saved_versions = (a._ver[0] if a is not None else 0,)
        else:
            versions = []  # (a loop: a comprehension would cost a function call)
            for t in tensors:
                versions.append(t._ver[0] if t is not None else 0)
            self._saved_versions = versions

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
            if t is not None and t._ver[0] != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: [{t.dtype} {list(t.shape)}], which is saved tensor "
                    f"{i} of {self.name}, is at version {t._ver[0]}; expected version {v} "
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
            for g in grads:
                if g is None:  # (rare: outputs that got no gradient become zeros)
                    grads = tuple([g if g is not None else _zeros_for(self, i)
                                   for i, g in enumerate(grads)])
                    break
        out = self.fn.backward(self, *grads)
        if not isinstance(out, tuple):
            out = (out,)
        n = self.n_args
        if len(out) < n or (len(out) > n and any(o is not None for o in out[n:])):
            raise RuntimeError(
                f"function {self.name} returned an incorrect number of gradients (expected "
                f"{n}, got {len(out)})")
        pos = self._tensor_positions
        if pos is None:  # every argument was a tensor
            return out if len(out) == n else out[:n]
        return tuple([out[i] for i in pos])


def _zeros_for(ctx, i):
    shape, dtype, device = ctx.saved_meta[i]
    from .._creation import zeros
    return zeros(shape, dtype=dtype, device=device)


class _FunctionMeta(type):
    def __init__(cls, name, bases, ns):
        super().__init__(name, bases, ns)
        cls.__name__ = name
        if bases and "apply" not in ns and getattr(cls.apply, "_numtorch_apply", False):
            fast = _fast_apply(cls)
            cls.apply = staticmethod(fast) if fast is not None else Function.__dict__["apply"]


# The body of a Function's own ``apply`` (see _fast_apply); {params} are forward's arguments after
# ctx, {needs} tests whether any of them is a tensor that requires grad.
_FAST_APPLY = """
def make(cls):
    def apply({params}):
        if _listen.tracer is None:
            if not (({needs}) and _grad_state.enabled):  # (the thread-local read last)
                return cls.forward({null_ctx}, {args})
            if not ({all_tensors}):
                return _apply_with_graph(cls, ({args},), {{}})
            # every argument a tensor: the node made here, unrolled (_apply_with_graph's steps;
            # FunctionCtx's fields set once each, without its __init__)
            ctx = _new_node(FunctionCtx)
            ctx.fn = cls
            ctx._saved = ctx._saved_versions = ()
{edges}
            ctx.needs_input_grad = ({need_flags},)
            ctx.n_args = {n}
            ctx.next_edges = ({edge_names},)
            ctx.input_meta = ({meta_names},)
{call}
            if out.__class__ is _Tensor and {not_input} and out.dtype.is_floating_point \
                    and not ctx._non_diff:
                # one new floating output (most ops): what _mark_outputs does with it
                ctx.saved_meta = ((out._data.shape, out.dtype, out.device),)
                out._requires_grad = True
                out.grad_fn = ctx
                out._out_nr = 0
                return out
            return _mark_outputs(ctx, out, ({args},))
        return _listen.tracer.apply(cls, ({args},), {{}})
    return apply
"""
# forward's call in the generated apply: with grad mode off (nothing it calls records), or as it
# is for a Function whose forward only launches kernels (_kernel_forward)
_FAST_CALL = """\
            _grad_state.enabled = False
            try:
                out = cls.forward(ctx, {args})
            finally:
                _grad_state.enabled = True"""
_FAST_KERNEL_CALL = """\
            out = cls.forward(ctx, {args})"""
# one argument's edge in the generated apply: (its node, output number) and its metadata, or None
_FAST_EDGE = """\
            if {p}._requires_grad:
                fn = {p}.grad_fn
                e_{p} = (fn, {p}._out_nr) if fn is not None else ({p}._accumulator(), 0)
                m_{p} = ({p}._data.shape, {p}.dtype, {p}.device)
            else:
                e_{p} = m_{p} = None"""
_new_node = object.__new__


@functools.lru_cache(maxsize=None)
def _apply_template(n, kernel_forward):
    """The code of ``make(cls) -> apply`` for a forward of ``n`` arguments, named ``p0``, ``p1``,
    ... (compiled once per count and kind of forward: compiling is the cost at import)."""
    names = [f"p{i}" for i in range(n)]
    args = ", ".join(names)
    # a tensor's exact class first: a plain Tensor is told without an isinstance call
    is_tensor = "({p}.__class__ is _Tensor or isinstance({p}, _Tensor))"
    needs = " or ".join(f"{is_tensor} and {{p}}._requires_grad".format(p=p) for p in names)
    src = _FAST_APPLY.format(
        params=args, args=args, needs=needs, n=n,
        all_tensors=" and ".join(is_tensor.format(p=p) for p in names),
        edges="\n".join(_FAST_EDGE.format(p=p) for p in names),
        call=(_FAST_KERNEL_CALL if kernel_forward else _FAST_CALL).format(args=args),
        null_ctx="_KERNEL_NULL_CTX" if kernel_forward else "_NullCtx()",
        need_flags=", ".join(f"e_{p} is not None" for p in names),
        edge_names=", ".join(f"e_{p}" for p in names),
        meta_names=", ".join(f"m_{p}" for p in names),
        not_input=" and ".join(f"out is not {p}" for p in names))
    filename = f"<numtorch: {'kernel ' if kernel_forward else ''}Function.apply({args})>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)  # tracebacks
    module = compile(src, filename, "exec")
    return next(c for c in module.co_consts if isinstance(c, CodeType) and c.co_name == "make")


@functools.lru_cache(maxsize=None)
def _apply_maker(names, kernel_forward=False):
    """``make(cls) -> apply`` for a forward with arguments ``names``: the template of their count
    with its parameters renamed (locals are read by position, so only calls by keyword and
    introspection see the names; tracebacks show the template's ``p0``, ``p1``, ...). None when
    a name is one of the template's own locals (``ctx``, ``out``, ``cls``, ...)."""
    make = _apply_template(len(names), kernel_forward)
    apply = next(c for c in make.co_consts if isinstance(c, CodeType) and c.co_name == "apply")
    if set(names).intersection(apply.co_varnames[len(names):] + apply.co_freevars):
        return None
    renamed = apply.replace(co_varnames=names + apply.co_varnames[len(names):])
    consts = tuple(renamed if c is apply else c for c in make.co_consts)
    return FunctionType(make.replace(co_consts=consts), globals())


def _fast_apply(cls):
    """``cls.apply`` with forward's own parameters, for a forward of plain positional-or-keyword
    arguments (``forward(ctx, a, b)``, defaults allowed): the checks of :meth:`Function.apply`
    without packing ``*args``/``**kwargs``, binding a classmethod or looping, which is a third of
    the cost of a small op that records no graph; when every argument is a tensor it also makes
    the graph node itself, unrolled per argument, and marks a single output inline. Like
    namedtuple and dataclasses, it is generated from source, so that calls by keyword keep
    working. None for any other forward (``*args``, keyword-only arguments, a classmethod): those
    keep the generic ``apply``."""
    fwd = cls.__dict__.get("forward")
    if fwd is None:
        for base in cls.__mro__[1:]:
            if "forward" in base.__dict__:
                fwd = base.__dict__["forward"]
                break
    fwd = fwd.__func__ if isinstance(fwd, staticmethod) else None
    if fwd is None or not hasattr(fwd, "__code__"):
        return None
    code = fwd.__code__
    n = code.co_argcount
    names = code.co_varnames[1:n]
    if code.co_flags & 0x0C or code.co_kwonlyargcount or code.co_posonlyargcount or not names:
        return None  # 0x04 *args, 0x08 **kwargs
    make = _apply_maker(names, bool(cls._kernel_forward))
    if make is None:
        return None
    apply = make(cls)
    apply.__defaults__ = fwd.__defaults__
    apply.__qualname__ = f"{cls.__qualname__}.apply"
    apply.__doc__ = Function.apply.__doc__
    apply._numtorch_apply = True
    return apply


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

    #: True for a forward that only launches kernels and calls no op that records a graph (the
    #: built-in elementwise ops, matmul, linear): its apply runs it without switching grad mode
    #: off, which is two writes of a thread-local, a tenth of a small recorded op, and hands it
    #: one shared ctx when it records nothing, on which no attribute can be set. (Were such a
    #: forward to call a recording op after all, the output would still get this node: only the
    #: inner node would be made in vain.) Leave it False in your own Functions.
    _kernel_forward = False

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward on ``args``, recording a graph node when any tensor among them requires
        grad (and grad mode is on). Arguments by keyword go to forward's positional parameters
        of those names, as in PyTorch (a tensor so passed gets its gradient); any other keyword
        is a TypeError. A subclass whose forward takes plain arguments gets its own copy of this
        method with those arguments (``_fast_apply``)."""
        if kwargs:
            args = _by_position(cls, args, kwargs)
            kwargs = {}
        if _listen.tracer is not None:  # numtorch.jit.trace listens (numtorch/_tracing.py)
            return _listen.tracer.apply(cls, args, kwargs)
        if _grad_state.enabled:
            Tensor = _Tensor
            for a in args:
                if isinstance(a, Tensor) and a._requires_grad:
                    return _apply_with_graph(cls, args, kwargs)
        # no input needs a gradient, so nothing below records a graph either: run forward
        # directly with a throwaway ctx (the per-op cost of an eager framework lives here)
        return cls.forward(_KERNEL_NULL_CTX if cls._kernel_forward else _NullCtx(), *args,
                           **kwargs)


Function.apply.__func__._numtorch_apply = True  # (not a subclass's own: _FunctionMeta)


def _by_position(cls, args, kwargs):
    """``args`` and ``kwargs`` as forward's positional arguments, defaults filling the gaps (the
    engine hands backward's gradients out by position, and finds tensors among args only)."""
    fwd = cls.forward
    code = getattr(fwd, "__code__", None)
    if code is None:  # not a plain function: nothing to bind by
        raise TypeError(f"{cls.__name__}.apply() takes no keyword arguments here "
                        f"({', '.join(kwargs)}): pass them by position")
    names = code.co_varnames[1:code.co_argcount]  # after ctx
    slots = list(args)
    for k, v in kwargs.items():
        if k not in names:
            raise TypeError(f"{cls.__name__}.forward() got an unexpected keyword argument "
                            f"'{k}'")
        i = names.index(k)
        if i < len(args):
            raise TypeError(f"{cls.__name__}.forward() got multiple values for argument '{k}'")
        slots.extend([_UNSET] * (i + 1 - len(slots)))
        slots[i] = v
    defaults = fwd.__defaults__ or ()
    first_default = len(names) - len(defaults)
    for i, v in enumerate(slots):
        if v is _UNSET:
            if i < first_default:
                raise TypeError(f"{cls.__name__}.forward() missing required positional argument "
                                f"'{names[i]}'")
            slots[i] = defaults[i - first_default]
    return tuple(slots)


_UNSET = object()


class _NullCtxBase:
    """The ctx of a forward that records no graph: saves are dropped."""
    __slots__ = ()
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


class _NullCtx(_NullCtxBase):
    """A fresh no-graph ctx per call, which a forward may set attributes on."""


#: The one no-graph ctx of every kernel forward (``Function._kernel_forward``): no allocation per
#: call, and no attribute can be set on it (such a forward keeps nothing on a ctx that records
#: nothing; were one to try, it would fail loudly rather than leak across calls).
_KERNEL_NULL_CTX = _NullCtxBase()


def _apply_with_graph(cls, args, kwargs):
    Tensor = _Tensor
    ctx = FunctionCtx(cls)
    edges, metas, needs = [], [], []
    positions = None  # of the tensors among args, made at the first argument that is none
    i = 0
    for a in args:
        if isinstance(a, Tensor):
            if positions is not None:
                positions.append(i)
            if a._requires_grad:
                fn = a.grad_fn
                edges.append((fn, a._out_nr) if fn is not None else (a._accumulator(), 0))
                needs.append(True)
                metas.append((a._data.shape, a.dtype, a.device))
            else:
                edges.append(None)
                needs.append(False)
                metas.append(None)  # (the engine reads the metadata of edges only)
        else:
            if positions is None:
                positions = list(range(i))
            needs.append(False)
        i += 1
    ctx.needs_input_grad = tuple(needs)
    if positions is not None:
        ctx._tensor_positions = positions
    ctx.n_args = i
    if cls._kernel_forward:
        out = cls.forward(ctx, *args, **kwargs)
    else:
        _grad_state.enabled = False
        try:
            out = cls.forward(ctx, *args, **kwargs) if kwargs else cls.forward(ctx, *args)
        finally:
            _grad_state.enabled = True
    ctx.next_edges = tuple(edges)
    ctx.input_meta = tuple(metas)
    return _mark_outputs(ctx, out, args)


def _mark_outputs(ctx, out, args):
    """Make the tensors among ``out`` (forward's result for ``args``) outputs of node ``ctx``:
    ``requires_grad``, ``grad_fn``, output number; an input returned as is gets an alias."""
    Tensor = _Tensor
    if isinstance(out, Tensor):  # one output (most ops): no tuples to build
        for a in args:
            if out is a:  # forward returned an input: give the output its own identity
                out = out._alias()
                break
        ctx.saved_meta = ((out._data.shape, out.dtype, out.device),)
        if out.dtype.is_floating_point and id(out) not in ctx._non_diff:
            out._requires_grad = True
            out.grad_fn = ctx
            out._out_nr = 0
        return out
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
