"""The op table of ``tests/test_ops.py`` (``OPS`` and its input specs), loaded from its file.

``tests/`` is not a package, so the table is imported by path under a private module name; the
fuzz families reuse its entries (callables, sample shapes, domains, dtypes, tolerances) and its
``_gc_sample`` choice of a non-empty sample. ``group(info)`` sorts an entry into the op family
of the registry module that declares it (elementwise, reduction, shape, ...).
"""
import importlib.util
import pathlib
import sys

from numtorch import _registry

_PATH = pathlib.Path(__file__).resolve().parent.parent / "test_ops.py"
_NAME = "_numtorch_fuzz_optable"


def _load():
    mod = sys.modules.get(_NAME)
    if mod is None:
        spec = importlib.util.spec_from_file_location(_NAME, _PATH)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[_NAME] = mod
        spec.loader.exec_module(mod)
    return mod


T = _load()
OPS = T.OPS
Idx, Perm, Mask, D = T.Idx, T.Perm, T.Mask, T.D
DEFAULT_TOL, GRAD_TOL = T.DEFAULT_TOL, T.GRAD_TOL
gc_sample = T._gc_sample

_BY_NAME = {n: d for d in _registry.OPS.values() for n in d.names}

# registry module -> fuzz group; small families share a group so the groups weigh about the same
_GROUP_OF_MODULE = {
    "elementwise": "elementwise", "compare": "compare", "reduction": "reduction",
    "shape": "shape", "indexing": "indexing", "sort": "sort_triangular",
    "triangular": "sort_triangular", "linalg": "linalg_device", "device": "linalg_device",
    "inplace": "linalg_device",
}
GROUPS = ("elementwise", "compare", "reduction", "shape", "getitem", "indexing",
          "sort_triangular", "linalg_device")


def _module(info):
    """The registry module (elementwise, shape, ...) that declares the entry's op."""
    op = info.name.split(".")[1] if info.name.startswith("Tensor.") else info.op
    d = _BY_NAME.get(op) or _BY_NAME.get(op.rstrip("_"))
    return d.fn.__module__.rsplit(".", 1)[-1] if d is not None else "shape"


def group(info):
    if info.name.startswith("Tensor.__getitem__"):
        return "getitem"
    return _GROUP_OF_MODULE.get(_module(info), "shape")


def is_index_spec(spec):
    return isinstance(spec, (Idx, Perm, Mask))


def spec_shape(spec):
    return tuple(spec.shape) if isinstance(spec, (D, Idx, Perm, Mask)) else tuple(spec)


def domain(info, k):
    return info.domain[k] if isinstance(info.domain, (list, tuple)) else info.domain


def free_kind(info):
    """'unary' / 'binary' for an elementwise entry whose samples are the table's generic shapes
    (any shape, or any broadcasting pair, is then a valid input); None otherwise."""
    if _module(info) not in ("elementwise", "compare", "device"):
        return None
    plain = all(not isinstance(x, (D, Idx, Perm, Mask)) for s in info.samples for x in s)
    if not plain:
        return None
    if all(len(s) == 1 for s in info.samples) and set(info.samples) <= set(T.UN):
        return "unary"
    if all(len(s) == 2 for s in info.samples) and set(info.samples) <= set(T.BIN):
        return "binary"
    return None
