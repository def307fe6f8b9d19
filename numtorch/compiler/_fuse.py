"""Fusion of elementwise chains in a captured replay program (``numtorch.compile``).

A *chain* is a run of kernel-call steps of one device's elementwise launchers
(``numtorch.kernels.cpu.elementwise`` or ``numtorch.kernels.cuda.elementwise``: unary and binary
maps, casts) in which each step after the first reads the array its predecessor wrote, and that
array is a temporary: no other step of either program (forward, backward) reads or writes it, no
host step or optimizer island can reach it, and it is none of the plan's buffers. The links are
consecutive steps, except that device copies (on CUDA, the upload of a Python scalar such as the
2.0 of ``x * 2.0``) may sit between them if they write nothing an earlier link read: the fused
kernel runs where the chain's last step ran, after them.

The chain becomes one generated kernel that passes each element through the ops' own scalar
functions in order (``SCALARS`` of the device's elementwise module: the CPU's ``@njit`` helpers,
CUDA's device functions under the names ``_Op.pick`` gives), rounding every intermediate to its
array's dtype behind a fence that FMA contraction and fast-math rewrites do not cross, so the
results are bit for bit those of the separate kernels; the temporaries are never written (one
pass over memory instead of one per op). The chain analysis and the loop body are shared; the
targets differ in the loop and the fence:
- CPU: ``@njit`` serial and parallel twins (``policy.Twin``, picked by size as the launchers
  do); ``policy.fence`` (``llvm.arithmetic.fence``).
- CUDA: one ``@cuda.jit`` grid-stride loop (``policy.cuda_kernel``: fast-math off, as every
  numtorch CUDA kernel) launched at the elementwise launchers' geometry (``memory.grid``);
  ``kernels/cuda/_fence.py``. NVVM contracts a multiply and a following add into an FMA by
  default, across inlined device functions too, ptxas contracts what NVVM leaves, numba-cuda
  has no per-kernel ``-fma=0``, and ``policy.fence`` reaches PTX as a call ptxas rejects; the
  CUDA fence is an inline-asm ``add.rn`` of -0.0 (exact, never contracted; NaNs bypass it).
  Checked without a GPU: this module's CUDA kernel for Linear -> ``x * 2 + 1`` -> relu, through
  libNVVM to PTX and ptxas to sm_90 SASS, has FMUL then FADD (DMUL, DADD) and no FFMA (DFMA);
  without the fences it has five. Values are tested only in Numba's simulator, which runs the
  kernel as Python (NumPy scalars, nothing contracted, the fence the identity): it checks the
  chain analysis, layouts, roles and the rounding of intermediates, not NVVM's code.

Layouts the generated loops take: every array C-contiguous; each input of out's size, or of one
element, or a row (the last dim of out, repeated over the others: a bias). Anything else is left
unfused. CUDA chains take the dtypes Numba types on a GPU (bool, integers, float16/32/64).

The generated source is written to a file named by its hash in numtorch's cache folder; another
process that fuses the same chain finds the file (it is not written again) and imports it, and
Numba caches the compiled code next to it, so on the CPU that process loads machine code without
compiling. A CUDA kernel is compiled with ``cache=True`` like every numtorch CUDA kernel, so
numba-cuda caches it there too; that needs a GPU (numba-cuda links a kernel into a CUDA context
before it saves it) and is untested here. The simulator compiles nothing and ignores ``cache``:
the source file is all there is to reuse.
"""
import hashlib
import importlib.util
import os
import sys
import tempfile
import types

import numpy as np

from .._tensor import Tensor
from ._capture import CALL, COPY_RESULT

__all__ = ["fuse", "cache_dir"]


def cache_dir():
    """Where generated kernels live: ``$NUMTORCH_CACHE_DIR``, else ``$NUMBA_CACHE_DIR``, else
    ``~/.cache/numtorch`` (``numtorch_fused/`` inside)."""
    root = os.environ.get("NUMTORCH_CACHE_DIR") or os.environ.get("NUMBA_CACHE_DIR") or \
        os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                     "numtorch")
    return os.path.join(root, "numtorch_fused")


_TARGETS = {"numtorch.kernels.cpu.elementwise": "cpu", "numtorch.kernels.cuda.elementwise": "cuda"}


def _is_device(x):
    """A Numba device array (a GPU's, or the simulator's stand-in)."""
    return hasattr(type(x), "copy_to_host") and hasattr(x, "shape")


def _elementwise(step):
    """The target (``"cpu"`` or ``"cuda"``) of an elementwise kernel-call step (arity 1 or 2),
    else None."""
    kind, fn, args, _ = step
    if kind != CALL or getattr(fn, "arity", None) not in (1, 2) or len(args) != fn.arity + 1:
        return None
    target = _TARGETS.get(type(fn).__module__)
    if target == "cpu":
        return target if all(isinstance(a, np.ndarray) for a in args) else None
    if target == "cuda":
        ok = all(_is_device(a) and a.dtype.kind in "biuf" for a in args) and args[-1].size
        return target if ok else None
    return None


def _arrays_in(obj, out, depth=0):
    """Every array (NumPy or device) ``obj`` reaches: itself, a tensor's, a sequence's, a
    function's closure cells and defaults (host steps and islands are closures)."""
    if depth > 4:
        return out
    if isinstance(obj, np.ndarray):
        out.append(obj)
    elif isinstance(obj, Tensor):
        if isinstance(obj._data, np.ndarray) or _is_device(obj._data):
            out.append(obj._data)
    elif _is_device(obj):
        out.append(obj)
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
    """Elementwise steps of one target (and their indices in the program), each reading the array
    its predecessor wrote."""

    def __init__(self, step, i, target):
        self.steps, self.index, self.target = [step], [i], target

    def add(self, step, i):
        self.steps.append(step)
        self.index.append(i)

    @property
    def out(self):
        return self.steps[-1][2][-1]

    def reads(self):
        """The arrays its steps read."""
        return [a for step in self.steps for a in step[2][:-1]]


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


def _extent(a):
    """[first byte, last byte + 1) of device array ``a``."""
    from ..kernels.cuda import memory
    lo = hi = memory.pointer(a)
    for n, st in zip(a.shape, a.strides):
        if st > 0:
            hi += (n - 1) * st
        else:
            lo += (n - 1) * st
    return lo, hi + a.dtype.itemsize


def _overlap(a, b):
    """May arrays ``a`` and ``b`` share memory? (NumPy with NumPy, device with device; never
    across.)"""
    if not (a.size and b.size):
        return False
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and \
            np.may_share_memory(a, b)
    (lo, hi), (lo2, hi2) = _extent(a), _extent(b)
    return lo < hi2 and lo2 < hi


def _is_temporary(arr, p, writer, reader, refs):
    for q, i, other in refs:
        if q == p and i in (writer, reader) and other is arr:
            continue
        if _overlap(other, arr):
            return False
    return True


def _passes(chain, step):
    """May ``chain`` extend past ``step``, a device copy (``c = a(*b)``), to a later link? Its
    kernel then runs after the copy, so the copy must write nothing the chain has read."""
    c = step[3]
    if not (isinstance(c, np.ndarray) or _is_device(c)):
        return False
    return not any(_overlap(c, a) for a in chain.reads())


def _chains(programs, p, refs):
    steps = programs[p]
    out, cur = [], None
    for i, step in enumerate(steps):
        if step[0] == COPY_RESULT and cur is not None and _passes(cur, step):
            continue
        target = _elementwise(step)
        if target is None or not step[2][-1].flags.c_contiguous:
            cur = None
            continue
        if cur is not None and cur.target == target:  # (cur's last link is the last kernel call)
            t = cur.out
            if any(a is t for a in step[2][:-1]) and t.shape == step[2][-1].shape \
                    and _is_temporary(t, p, cur.index[-1], i, refs):
                cur.add(step, i)
                continue
        cur = _Chain(step, i, target)
        out.append(cur)
    return [c for c in out if len(c.steps) > 1]


def _np_type(dtype):
    return "np." + ("bool_" if dtype == np.bool_ else np.dtype(dtype).name)


def _scalar(target, fn, args):
    """The name in the device's ``SCALARS`` of the scalar function a step's kernel calls."""
    if target == "cuda":
        return fn.pick(args[0].dtype, args[-1].dtype)[0]  # (by dtype: integer variants, bool)
    return fn.__name__


#: What differs between the targets' kernels: the imports, and the loop over out's elements
#: (``{m}``: the row length; a row operand is read at ``c``, the column of element ``i``).
_HEADER = {
    "cpu": ["import numpy as np", "from numba import prange",
            "from numtorch.kernels.cpu.elementwise import SCALARS",
            "from numtorch.kernels.policy import fence"],
    "cuda": ["import numpy as np", "from numba import cuda",
             "from numtorch.kernels.cuda.elementwise import SCALARS",
             "from numtorch.kernels.cuda._fence import fence"]}
_LOOP = {
    ("cpu", False): ["for i in prange(out.shape[0]):"],
    ("cpu", True): ["m = {m}", "for r in prange(out.shape[0] // m):", "    for c in range(m):",
                    "        i = r * m + c"],
    ("cuda", False): ["for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):"],
    ("cuda", True): ["for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):",
                     "    c = i % {m}"]}


def _generate(chain):
    """(source, kernel arguments) of the fused kernel of ``chain``, or None (a layout that the
    generated loop does not take)."""
    out, target = chain.out, chain.target
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
        scalars.append(_scalar(target, fn, args))
        temps.append(args[-1].dtype)
        prev = args[-1]
        body.append((j, terms))
    if any(r is None for r in roles):
        return None
    rows = "row" in roles
    m = out.shape[-1] if out.ndim else 1
    src = _HEADER[target] + [""]
    src += [f"s{j} = SCALARS[{name!r}]" for j, name in enumerate(scalars)]
    src += [f"T{j} = {_np_type(dt)}" for j, dt in enumerate(temps[:-1])]
    src += ["", "", f"def fused({', '.join(f'i{k}' for k in range(len(params)))}, out):"]
    ind = "    "
    for k, r in enumerate(roles):
        if r == "one":
            src.append(f"{ind}x{k} = i{k}[0]")
    loop = _LOOP[target, rows]
    src += [ind + line.format(m=m) for line in loop]
    ind += " " * (len(loop[-1]) - len(loop[-1].lstrip()) + 4 * loop[-1].endswith(":"))

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


def _load(source, target):
    """The compiled kernel of a generated source, written once per hash (Numba caches its code
    beside): a ``policy.Twin`` on the CPU, a ``@cuda.jit`` kernel on CUDA."""
    key = hashlib.sha256(source.encode()).hexdigest()[:20]
    kernel = _loaded.get(key)
    if kernel is not None:
        return kernel
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
    if target == "cuda":
        kernel = policy.cuda_kernel(mod.fused, name=f"fused_{key}")
    else:
        kernel = policy.Twin(mod.fused, name=f"fused_{key}")
    _loaded[key] = kernel
    return kernel


class _Launch:
    """A generated CUDA kernel at its launch geometry: ``launch(*args)`` runs it (on the default
    stream, as the elementwise launchers do)."""
    __slots__ = ("kernel", "blocks", "threads", "__name__")

    def __init__(self, kernel, n):
        from ..kernels.cuda import memory
        self.kernel, self.__name__ = kernel, getattr(kernel.py_func, "__name__", "fused")
        self.blocks, self.threads = memory.grid(n)

    def __call__(self, *args):
        self.kernel[self.blocks, self.threads](*args)


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
            kernel = _load(source, chain.target)
            n = chain.out.size
            if chain.target == "cuda":
                k = _Launch(kernel, n)
            else:
                k = kernel.parallel if n >= policy.PARALLEL_THRESHOLD else kernel.serial
            # at the last link: device copies a chain passed (_passes) run before its kernel
            replace[chain.index[-1]] = (CALL, k, tuple(args), None)
            for i in chain.index[:-1]:
                replace[i] = None
            saved += len(chain.index) - 1
        if replace:
            steps[:] = [replace.get(i, s) for i, s in enumerate(steps) if replace.get(i, s)]
    return saved
