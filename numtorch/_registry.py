"""The op registry: every public op is declared once, where its Function lives.

An op module declares a public function with one decorator::

    @op("multiply", inplace=True)
    def mul(input, other):
        return Mul.apply(input, other)

That one line makes ``numtorch.mul`` and ``numtorch.multiply`` (``function``), ``Tensor.mul`` and
``Tensor.multiply`` (``method``) and ``Tensor.mul_`` / ``Tensor.multiply_`` (``inplace``);
``functional=True`` (or ``@functional_op()``) adds ``numtorch.nn.functional.<name>``. Nothing
else keeps a list of op names: ``numtorch/__init__.py`` exports :func:`functions`,
``numtorch.nn.functional`` exports :func:`functional`, the ops package binds :func:`methods` onto
``Tensor``, Tensor's operators call ops through :data:`fn`, and the op tests check that every
entry of :data:`OPS` is tested. ``meta`` carries per-op facts for
the tools that read the graph (a tracer, an exporter): the family (the module that declares it) is
always there; a declaration may add more (``@op(pointwise=True)``).

This module imports nothing from numtorch: it sits below the Tensor and the ops, so both can read
it without an import cycle.
"""
import types
from dataclasses import dataclass, field

__all__ = ["OpDef", "OPS", "op", "functional_op", "fn", "functions", "functional", "methods"]


@dataclass(frozen=True)
class OpDef:
    """One public op: its callable, names and where it appears."""
    name: str
    fn: object
    aliases: tuple = ()
    function: bool = True   # numtorch.<name>
    method: bool = True     # Tensor.<name>(...) with the tensor as first argument
    inplace: bool = False   # Tensor.<name>_(...): the result is written into the tensor
    functional: bool = False  # numtorch.nn.functional.<name>
    meta: dict = field(default_factory=dict)

    @property
    def names(self):
        return (self.name,) + self.aliases


#: name -> OpDef, in declaration order (aliases are not keys: see ``OpDef.aliases``).
OPS = {}
#: Every registered callable by each of its names (and ``<name>_`` for in-place variants, once
#: the ops package has made them): what Tensor's operators call.
fn = types.SimpleNamespace()


def op(*aliases, function=True, method=True, inplace=False, functional=False, name=None, **meta):
    """Declare the decorated function as a public op (see the module docstring)."""
    def register(f):
        key = name or f.__name__
        if key in OPS:
            raise RuntimeError(f"op {key!r} is declared twice ({OPS[key].fn.__module__} and "
                               f"{f.__module__})")
        m = {"family": f.__module__.rsplit(".", 1)[-1]}
        m.update(meta)
        OPS[key] = OpDef(key, f, tuple(aliases), function, method, inplace, functional, m)
        for n in (key,) + tuple(aliases):
            setattr(fn, n, f)
        return f
    return register


def functional_op(*aliases, **kw):
    """``@op`` for a ``numtorch.nn.functional.<name>`` that is neither ``numtorch.<name>`` nor a
    Tensor method (layers' functional forms, losses, activations)."""
    kw.setdefault("function", False)
    kw.setdefault("method", False)
    return op(*aliases, functional=True, **kw)


def functions():
    """``{name: callable}`` of everything exported as ``numtorch.<name>``."""
    return {n: d.fn for d in OPS.values() if d.function for n in d.names}


def functional():
    """``{name: callable}`` of everything exported as ``numtorch.nn.functional.<name>``."""
    return {n: d.fn for d in OPS.values() if d.functional for n in d.names}


def methods(make_inplace):
    """``{name: callable}`` of every Tensor method: ops with ``method`` under each of their
    names, and ``<name>_`` made by ``make_inplace(fn)`` for ops with ``inplace``."""
    out = {}
    for d in OPS.values():
        if d.method:
            out.update((n, d.fn) for n in d.names)
        if d.inplace:
            f = make_inplace(d.fn)
            out.update((n + "_", f) for n in d.names)
    for n, f in out.items():
        if n.endswith("_"):
            setattr(fn, n, f)
    return out
