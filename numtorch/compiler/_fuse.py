"""Fusion of elementwise chains in a captured replay program (``numtorch.compile``).

A *chain* is a run of consecutive kernel-call steps of the CPU elementwise launchers
(``numtorch.kernels.cpu.elementwise``: unary and binary maps, casts) in which each step after the
first reads the array its predecessor wrote, and that array is a temporary: no other step of
either program (forward, backward) reads or writes it, no host step or optimizer island can reach
it, and it is none of the plan's buffers. The chain becomes one generated kernel that passes each
element through the ops' own scalar functions (``elementwise.SCALARS``) in order, rounding every
intermediate to its array's dtype behind a fence that fast-math rewrites do not cross
(``policy.fence``), so the results are bit for bit those of the separate kernels;
the temporaries are never written (one pass over memory instead of one per op).

Layouts the generated loops take: every array C-contiguous; each input of out's size, or of one
element, or a row (the last dim of out, repeated over the others: a bias). Anything else is left
unfused.

The generated source is written to a file named by its hash in numtorch's cache folder, and Numba
caches the compiled code next to it: another process that fuses the same chain loads it without
compiling.
"""
import hashlib
import importlib.util
import os
import sys
import tempfile
import types

import numpy as np

from .._tensor import Tensor
from ._capture import CALL

__all__ = ["fuse", "cache_dir"]


def cache_dir():
    """Where generated kernels live: ``$NUMTORCH_CACHE_DIR``, else ``$NUMBA_CACHE_DIR``, else
    ``~/.cache/numtorch`` (``numtorch_fused/`` inside)."""
    root = os.environ.get("NUMTORCH_CACHE_DIR") or os.environ.get("NUMBA_CACHE_DIR") or \
        os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                     "numtorch")
    return os.path.join(root, "numtorch_fused")


def _elementwise(step):
    """The launcher of an elementwise kernel-call step (arity 1 or 2), else None."""
    kind, fn, args, _ = step
    if kind != CALL or getattr(fn, "arity", None) not in (1, 2) or \
            type(fn).__module__ != "numtorch.kernels.cpu.elementwise":
        return None
    if len(args) != fn.arity + 1 or not all(isinstance(a, np.ndarray) for a in args):
        return None
    return fn


def _arrays_in(obj, out, depth=0):
    """Every NumPy array ``obj`` reaches: itself, a tensor's, a sequence's, a function's closure
    cells and defaults (host steps and islands are closures)."""
    if depth > 4:
        return out
    if isinstance(obj, np.ndarray):
        out.append(obj)
    elif isinstance(obj, Tensor):
        if isinstance(obj._data, np.ndarray):
            out.append(obj._data)
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            _arrays_in(o, out, depth + 1)
    elif isinstance(obj, dict):
        for o in obj.values():
            _arrays_in(o, out, depth + 1)
    elif isinstance(obj, types.FunctionType):
        for c in obj.__closure__ or ():
            try:
                _arrays_in(c.cell_contents, out, depth + 1)
            except ValueError:  # an empty cell
                pass
        _arrays_in(obj.__defaults__ or (), out, depth + 1)
    return out


def _role(a, out):
    """How input ``a`` maps onto out's elements: 'full', 'one', 'row' or None (not fusable)."""
    if not a.flags.c_contiguous:
        return None
    if a.size == 1:
        return "one"
    if a.shape == out.shape:
        return "full"
    m = out.shape[-1] if out.ndim else 1
    if a.size == m and out.ndim >= 2 and all(s == 1 for s in a.shape[:-1]) and a.shape[-1] == m:
        return "row"
    return None


class _Chain:
    """Consecutive elementwise steps (and their indices in the program), each reading the array
    its predecessor wrote."""

    def __init__(self, step, i):
        self.steps, self.index = [step], [i]

    def add(self, step, i):
        self.steps.append(step)
        self.index.append(i)

    @property
    def out(self):
        return self.steps[-1][2][-1]


def _refs(programs, extra):
    """[(program index, step index, array)] of every array any step touches, plus ``extra``
    arrays (plan buffers) as step index -1."""
    refs = []
    for p, steps in enumerate(programs):
        for i, (kind, a, b, c) in enumerate(steps):
            for arr in _arrays_in((a, b, c) if kind != CALL else b, []):
                refs.append((p, i, arr))
    for arr in extra:
        refs.append((-1, -1, arr))
    return refs


def _is_temporary(arr, p, writer, reader, refs):
    for q, i, other in refs:
        if q == p and i in (writer, reader) and other is arr:
            continue
        if other.size and np.may_share_memory(other, arr):
            return False
    return True


def _chains(programs, p, refs):
    steps = programs[p]
    out, cur = [], None
    for i, step in enumerate(steps):
        fn = _elementwise(step)
        if fn is None or not step[2][-1].flags.c_contiguous:
            cur = None
            continue
        if cur is not None:  # (cur ends at step i - 1: any other step resets it)
            t = cur.out
            if any(a is t for a in step[2][:-1]) and t.shape == step[2][-1].shape \
                    and _is_temporary(t, p, i - 1, i, refs):
                cur.add(step, i)
                continue
        cur = _Chain(step, i)
        out.append(cur)
    return [c for c in out if len(c.steps) > 1]


def _np_type(dtype):
    return "np." + ("bool_" if dtype == np.bool_ else np.dtype(dtype).name)


def _generate(chain):
    """(source, kernel arguments) of the fused kernel of ``chain``."""
    out = chain.out
    params, roles, names = [], [], {}

    def param(a):
        for k, p in enumerate(params):
            if p is a:
                return names[k]
        params.append(a)
        roles.append(_role(a, out))
        names[len(params) - 1] = f"i{len(params) - 1}"
        return names[len(params) - 1]

    body, scalars, temps = [], [], []
    prev = None
    for j, (_, fn, args, _) in enumerate(chain.steps):
        terms = []
        for a in args[:-1]:
            if prev is not None and a is prev:
                terms.append(f"t{j - 1}")
            else:
                terms.append(param(a))
        scalars.append(fn.__name__)
        temps.append(args[-1].dtype)
        prev = args[-1]
        body.append((j, terms))
    if any(r is None for r in roles):
        return None
    rows = "row" in roles
    m = out.shape[-1] if out.ndim else 1
    src = ["import numpy as np", "from numba import prange",
           "from numtorch.kernels.cpu.elementwise import SCALARS",
           "from numtorch.kernels.policy import fence", ""]
    src += [f"s{j} = SCALARS[{name!r}]" for j, name in enumerate(scalars)]
    src += [f"T{j} = {_np_type(dt)}" for j, dt in enumerate(temps[:-1])]
    src += ["", "", f"def fused({', '.join(f'i{k}' for k in range(len(params)))}, out):"]
    ind = "    "
    for k, r in enumerate(roles):
        if r == "one":
            src.append(f"{ind}x{k} = i{k}[0]")
    if rows:
        src.append(f"{ind}m = {m}")
        src.append(f"{ind}for r in prange(out.shape[0] // m):")
        src.append(f"{ind}    for c in range(m):")
        src.append(f"{ind}        i = r * m + c")
        ind = ind + "        "
    else:
        src.append(f"{ind}for i in prange(out.shape[0]):")
        ind = ind + "    "

    def ref(term):
        if term.startswith("t"):
            return term
        k = int(term[1:])
        return {"one": f"x{k}", "full": f"i{k}[i]", "row": f"i{k}[c]"}[roles[k]]

    last = len(body) - 1
    for j, terms in body:
        call = f"s{j}({', '.join(ref(t) for t in terms)})"
        src.append(f"{ind}out[i] = {call}" if j == last else f"{ind}t{j} = fence(T{j}({call}))")
    flat = [p.reshape(-1) for p in params] + [out.reshape(-1)]
    return "\n".join(src) + "\n", flat


_loaded = {}


def _load(source):
    """The compiled Twin of a generated source (written once per hash; Numba caches beside)."""
    key = hashlib.sha256(source.encode()).hexdigest()[:20]
    twin = _loaded.get(key)
    if twin is not None:
        return twin
    from ..kernels import policy
    d = cache_dir()
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"fused_{key}.py")
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(f"# generated by numtorch.compile: a fused elementwise chain\n{source}")
        os.replace(tmp, path)
    name = f"numtorch_fused_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    twin = _loaded[key] = policy.Twin(mod.fused, name=f"fused_{key}")
    return twin


def fuse(programs, live):
    """Fuse the elementwise chains of each program (lists of replay steps, changed in place);
    ``live``: arrays that must stay as they are (the plan's buffers). Returns how many kernel
    calls were saved."""
    from ..kernels import policy
    refs = _refs(programs, live)
    saved = 0
    for p, steps in enumerate(programs):
        replace = {}
        for chain in _chains(programs, p, refs):
            gen = _generate(chain)
            if gen is None:
                continue
            source, args = gen
            twin = _load(source)
            n = chain.out.size
            k = twin.parallel if n >= policy.PARALLEL_THRESHOLD else twin.serial
            replace[chain.index[0]] = (CALL, k, tuple(args), None)
            for i in chain.index[1:]:
                replace[i] = None
            saved += len(chain.index) - 1
        if replace:
            steps[:] = [replace.get(i, s) for i, s in enumerate(steps) if replace.get(i, s)]
    return saved
