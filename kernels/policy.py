"""The one place that sets Numba's compile policy for every numtorch kernel.

- on-disk cache on, under ``$NUMBA_CACHE_DIR`` or ``$XDG_CACHE_HOME/numtorch/numba``
  (never inside site-packages, where ``pip uninstall`` would leave it behind), safe when
  several processes compile at once (:class:`_KeyedEntries`);
- fastmath without ``nnan``/``ninf`` so NaN and inf propagate as in PyTorch;
- the TBB threading layer (the ``tbb`` wheel's runtime, loaded here) unless the user chose one,
  else ``workqueue``: never GNU OpenMP, which hangs a child that ``fork()``s after a parallel
  region ran (DataLoader workers fork);
- one size threshold below which kernels run serially (a ``prange`` region costs ~3 us);
- on a cold cache, parallel builds compiled by a helper process while the serial builds run
  (:class:`_BackgroundBuild`, ``kernels/_background.py``);
- float16 and bfloat16, which Numba does not compile for the CPU, as storage dtypes: a CPU
  kernel called with such arrays runs on float32 copies and its results are rounded back
  (:class:`_StorageDtypes`), as PyTorch computes half types on the CPU in float32.
"""
import contextlib
import functools
import hashlib
import os
import pickle
import threading
import types
import weakref

import ml_dtypes
import numpy as np

# numba.config reads the cache folder on import: set it before importing numba.
_CACHE_DIR = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
    "numtorch", "numba")
os.environ.setdefault("NUMBA_CACHE_DIR", _CACHE_DIR)

import numba  # noqa: E402
import numba.extending  # noqa: E402
# registers the hash secret's symbols at import; cached code that hashes links against them,
# and a cache load here no longer imports Numba's registries (see _LoadWithoutRefresh)
import numba.cpython.hashing  # noqa: E402,F401
import llvmlite.ir  # noqa: E402

# numba may have been imported before us: its config is then already read, so set it directly.
numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]


def _load_tbb():
    """Load the TBB runtime of the ``tbb`` wheel (a dependency on x86_64 Linux) so that Numba's
    TBB threading layer finds it: pip puts ``libtbb.so.12`` under ``<prefix>/lib``, where the
    dynamic loader does not look, and Numba opens it by its soname, which a library already
    loaded answers. True when it is loaded."""
    import ctypes
    import sys
    path = os.path.join(sys.prefix, "lib", "libtbb.so.12")
    if not os.path.exists(path):  # a user or system install: ask the wheel's file list
        import importlib.metadata
        try:
            files = importlib.metadata.files("tbb") or ()
        except importlib.metadata.PackageNotFoundError:
            return False
        path = next((str(f.locate()) for f in files if f.name == "libtbb.so.12"), None)
        if path is None:
            return False
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return False
    return True


def _tbb_layer_loads():
    """TBB's runtime loaded and passing Numba's own checks (its version, its TBB pool), without
    starting threads."""
    if not _load_tbb():
        return False
    try:
        from numba.np.ufunc import parallel as _parallel
        _parallel._check_tbb_version_compatible()
        from numba.np.ufunc import tbbpool  # noqa: F401
    except (ImportError, OSError, AttributeError):
        return False
    return True


#: The threading layer of the parallel twins (``numba.threading_layer()`` once one ran): the
#: user's ``NUMBA_THREADING_LAYER``, else TBB where it loads (a parallel region opens in ~3 us;
#: thread- and fork-safe), else workqueue (fork-safe, but ~80 us per parallel region here, and
#: it aborts the process when two threads open parallel regions at once: see
#: _OneRegionAtATime). Never GNU OpenMP: a child that fork()s after a parallel region hangs, and
#: DataLoader workers fork. Not exported to the environment: each child process (MPI ranks,
#: spawned workers) decides for itself, so one without TBB falls back instead of inheriting a
#: layer it cannot load.
THREADING_LAYER = os.environ.get("NUMBA_THREADING_LAYER")
if not THREADING_LAYER:
    THREADING_LAYER = "tbb" if _tbb_layer_loads() else "workqueue"
elif THREADING_LAYER in ("tbb", "safe", "threadsafe", "default"):
    _load_tbb()  # the user's choice may take TBB: make its runtime findable all the same
numba.config.THREADING_LAYER = THREADING_LAYER

CACHE = True


class _KeyedEntries:
    """Numba's on-disk cache, safe when processes compile one function at once (two pytest-xdist
    workers, MPI ranks, DataLoader workers with a cold cache).

    Numba names a function's data files by counting (``f.1.nbc``, ``f.2.nbc``...) after reading
    its index, so two processes saving different signatures of one function at the same time
    pick the same file: the last one's machine code then sits under the other's index entry, and
    a later process loads code compiled for other types (a "can't unbox array" TypeError, or
    worse, wrong numbers). Here a data file is named after its signature and target, holds its
    key, and is read back only under that key (anything else is a miss: a compile); the index is
    rewritten under a file lock, so no entry is lost. Mixed into the cache-file class of each
    numtorch dispatcher (:func:`_keyed_cache`); everything else is Numba's.
    """

    def save(self, key, data):
        digest = hashlib.sha256(repr(key[:2]).encode()).hexdigest()[:24]
        name = self._data_name_pattern.replace("{number:d}", digest)
        self._save_data(name, (key, data))  # the data first: the index never names a missing file
        with _locked(self._index_path + ".lock"):
            overloads = self._load_index()
            if overloads.get(key) != name:
                # entries of the same signature and target under an older key (the code or a
                # callee changed) now name a file that holds this key: dead, dropped
                for k in [k for k in overloads if k[:2] == key[:2] and k != key]:
                    del overloads[k]
                overloads[key] = name
                self._save_index(overloads)

    def load(self, key):
        name = self._load_index().get(key)
        if name is None:
            return None
        try:
            stored = self._load_data(name)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError):
            return None  # removed, truncated or written by another scheme: compile instead
        if not (isinstance(stored, tuple) and len(stored) == 2 and stored[0] == key):
            return None
        return stored[1]


@contextlib.contextmanager
def _locked(path):
    try:
        import fcntl
    except ImportError:  # (no POSIX locks: saves race as in plain Numba; loads still check keys)
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@functools.lru_cache(maxsize=None)
def _keyed_class(cls):
    return type("Keyed" + cls.__name__, (_KeyedEntries, cls), {})


class _LoadWithoutRefresh:
    """A CPU dispatcher's on-disk cache that loads machine code without first refreshing Numba's
    target context, and without parsing the code's LLVM bitcode.

    Numba's ``Cache.load_overload`` refreshes the context before every load: on the first, that
    imports some seventy modules of Numba's typing and lowering registries and installs them
    (~0.15 s of a warm start). Linking code that is already compiled needs none of it, only
    the runtime (NRT, initialised here) and the symbols that modules register when imported
    (the hash secret: imported above; the parallel runtime: re-run by the library's own
    ``reload_init``). Compiling still refreshes: Numba's compiler does so itself.

    The loaded libraries are :class:`_LazyLinkLibrary`: Numba's own class, which parses the
    bitcode stored beside the machine code only when another function links the library in.
    """

    def load_overload(self, sig, target_context):
        from numba.core.runtime import rtsys
        rtsys.initialize(target_context)
        codegen = target_context.codegen()
        # the libraries this load makes are lazy ones; every load and compile runs under Numba's
        # global compiler lock (Dispatcher.compile, _BackgroundBuild._from_disk), so no other
        # thread makes a library meanwhile
        lazy = _LazyLinkLibrary is not None and "_library_class" not in vars(codegen) \
            and type(codegen)._library_class is _LazyLinkLibrary.__base__ \
            and hasattr(getattr(codegen, "_engine", None), "_defined_symbols")
        if lazy:
            codegen._library_class = _LazyLinkLibrary
        try:
            with self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)
        finally:
            if lazy:
                del codegen._library_class


def _elf_defined_symbols(obj):
    """The names of the functions and data an ELF64 little-endian object file defines (its
    symbol table's entries with a section), or None for another format."""
    import struct
    if obj[:4] != b"\x7fELF" or obj[4:6] != b"\x02\x01":
        return None
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
    names = set()
    for i in range(shnum):
        base = shoff + i * shentsize
        if struct.unpack_from("<I", obj, base + 4)[0] != 2:  # SHT_SYMTAB
            continue
        off, size = struct.unpack_from("<QQ", obj, base + 0x18)
        link, = struct.unpack_from("<I", obj, base + 0x28)
        strings, = struct.unpack_from("<Q", obj, shoff + link * shentsize + 0x18)
        for name, info, _, section, _, _ in struct.iter_unpack("<IBBHQQ", obj[off:off + size]):
            if section != 0 and info & 0xF in (1, 2):  # defined; STT_OBJECT or STT_FUNC
                start = strings + name
                names.add(obj[start:obj.index(b"\0", start)].decode())
    return names


def _lazy_link_library():
    """Numba's JIT code library, loaded from the cache without parsing its bitcode (None where
    this Numba's library is not the one this was written against).

    A cached library is machine code (which the JIT links) and the bitcode of its module, which
    Numba parses on load (~1.5 ms a kernel, a tenth of a warm first step) for two uses: the
    names the library defines (which tell the JIT where a function is) and linking the module
    into a function compiled later that calls it. Here the names come from the machine code's
    symbol table, the same set (the bitcode's defined functions and globals are the object's
    defined symbols: checked over every cached kernel), and the bitcode is parsed on first
    use for linking, its names then added as Numba would have."""
    from numba.core import codegen
    base = getattr(codegen, "JITCodeLibrary", None)
    if base is None or not all(hasattr(base, a) for a in (
            "_unserialize", "enable_object_caching", "_set_compiled_object",
            "_finalize_final_module")):
        return None
    import llvmlite.binding as ll

    class _LazyLinkLibrary(base):
        _pending_bitcode = None

        @classmethod
        def _unserialize(cls, codegen, state):
            name, kind, data = state
            names = _elf_defined_symbols(data[0]) if kind == "object" else None
            if names is None:
                return super()._unserialize(codegen, state)
            object_code, shared_bitcode = data
            self = codegen.create_library(name)
            self.enable_object_caching()
            self._set_compiled_object(object_code)
            self._pending_bitcode = shared_bitcode
            self._finalize_final_module()
            codegen._engine._defined_symbols |= names
            return self

        @property
        def _shared_module(self):
            bitcode = self._pending_bitcode
            if bitcode is not None:
                self._pending_bitcode = None
                mod = self.__dict__["_shared"] = ll.parse_bitcode(bitcode)
                self._codegen._engine._load_defined_symbols(mod)
            return self.__dict__.get("_shared")

        @_shared_module.setter
        def _shared_module(self, mod):
            self.__dict__["_shared"] = mod

    return _LazyLinkLibrary


_LazyLinkLibrary = _lazy_link_library()


@functools.lru_cache(maxsize=None)
def _light_class(cls):
    return type("Light" + cls.__name__, (_LoadWithoutRefresh, cls), {})


class _CalleesKeyed:
    """A dispatcher's on-disk cache whose entries are keyed also by the source files of the
    jitted functions it calls (:func:`_callee_stamp`). Numba checks only the function's own
    file, so a cached kernel kept the machine code of a helper from another module (``_vmath``'s
    exp in the norm kernels, a user's helpers) after that helper was edited: stale results,
    silently, until the cache was cleared. Now editing a helper recompiles its callers."""

    def _index_key(self, sig, codegen):
        return super()._index_key(sig, codegen) + (("callees", _callee_stamp(self._py_func)),)


@functools.lru_cache(maxsize=None)
def _callees_class(cls):
    return type("Callees" + cls.__name__, (_CalleesKeyed, cls), {})


def _callee_stamp(fn):
    """A digest of the modification time and size of each source file that holds a jitted
    function ``fn`` calls, directly or through other jitted functions (found by the global
    names their code uses, also as attributes of imported modules, and their closure cells),
    or of an intrinsic it uses; "" when it calls none outside its own file. Once per function
    and process: ~30 us."""
    stamp = _CALLEE_STAMPS.get(fn)
    if stamp is not None:
        return stamp
    own = fn.__code__.co_filename
    files, seen, todo = set(), set(), [fn]
    while todo:
        f = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        code = getattr(f, "__code__", None)
        if code is None:
            continue
        names, codes = set(), [code]
        while codes:
            c = codes.pop()
            names.update(c.co_names)
            codes.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        env = getattr(f, "__globals__", None) or {}
        objs = [env[n] for n in names if n in env]
        objs += [c.cell_contents for c in (f.__closure__ or ()) if _filled(c)]
        for o in list(objs):
            if isinstance(o, types.ModuleType):  # module.helper (no getattr: lazy modules)
                objs += [o.__dict__[n] for n in names if n in o.__dict__]
        for o in objs:
            callee = getattr(o, "py_func", None)  # a dispatcher
            if callee is None and isinstance(o, _INTRINSIC):
                callee = getattr(o, "_defn", None)
            if isinstance(callee, types.FunctionType):
                if callee.__code__.co_filename != own:
                    files.add(callee.__code__.co_filename)
                todo.append(callee)
    parts = []
    for path in sorted(files):
        try:
            st = os.stat(path)
            parts.append(f"{path}:{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            parts.append(path)
    stamp = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16] if parts else ""
    _CALLEE_STAMPS[fn] = stamp
    return stamp


def _filled(cell):
    try:
        cell.cell_contents
    except ValueError:  # an empty cell
        return False
    return True


_CALLEE_STAMPS = weakref.WeakKeyDictionary()
_INTRINSIC = getattr(numba.extending, "_Intrinsic", ())  # what @intrinsic makes


def _keyed_cache(dispatcher, light=False):
    """``dispatcher`` with its on-disk cache made process-safe (:class:`_KeyedEntries`), keyed
    also by its callees' sources (:class:`_CalleesKeyed`) and, with ``light`` (CPU
    dispatchers), loaded without a context refresh (:class:`_LoadWithoutRefresh`); a
    dispatcher whose cache is not of the expected kind (another Numba) is left as it is."""
    cache = getattr(dispatcher, "_cache", None)
    f = getattr(cache, "_cache_file", None)
    if f is not None and all(hasattr(f, a) for a in (
            "_load_index", "_save_index", "_load_data", "_save_data", "_data_name_pattern",
            "_index_path")) and not isinstance(f, _KeyedEntries):
        f.__class__ = _keyed_class(type(f))
    if hasattr(cache, "_index_key") and isinstance(getattr(cache, "_py_func", None),
                                                   types.FunctionType) \
            and not isinstance(cache, _CalleesKeyed):
        cache.__class__ = _callees_class(type(cache))
    if light and all(hasattr(cache, a) for a in ("_load_overload",
                                                  "_guard_against_spurious_io_errors")) \
            and not isinstance(cache, _LoadWithoutRefresh):
        cache.__class__ = _light_class(type(cache))
    return dispatcher


#: NumPy dtypes that CPU kernels take only as storage (Numba compiles neither for the CPU).
STORAGE_DTYPES = frozenset({np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)})


def _is_storage(x):
    return isinstance(x, (np.ndarray, np.generic)) and x.dtype in STORAGE_DTYPES


class _StorageDtypes:
    """float16/bfloat16 arguments of a CPU kernel: the kernel runs on float32 copies, then every
    writable converted array gets the float32 result rounded back (in argument order, so an
    output that overlaps an input is written last), rounding to nearest even.

    Mixed into the class of every CPU dispatcher. It costs nothing on the call path: a dispatcher
    reaches ``_compile_for_args`` only when no compiled signature matches its arguments, which
    is always the case for these dtypes and never for the others once compiled.
    """

    def _compile_for_args(self, *args, **kws):
        # returns the callable that the dispatcher then calls with the same arguments
        if any(map(_is_storage, args)) or any(map(_is_storage, kws.values())):
            return functools.partial(in_float32, self)
        return super()._compile_for_args(*args, **kws)


def in_float32(kernel, *args, **kws):
    """``kernel(*args, **kws)`` with float16/bfloat16 arrays and scalars replaced by float32
    copies, and the writable ones rounded back afterwards (see :class:`_StorageDtypes`). Also for
    launchers that take a faster float32 path themselves (BLAS for matmul)."""
    copies = {}  # id -> (array, float32 copy): one copy per array, aliasing kept

    def up(x):
        if isinstance(x, np.ndarray) and x.dtype in STORAGE_DTYPES:
            c = copies.get(id(x))
            if c is None:
                c = copies[id(x)] = (x, x.astype(np.float32))
            return c[1]
        if isinstance(x, np.generic) and x.dtype in STORAGE_DTYPES:
            return np.float32(x)
        return x

    result = kernel(*map(up, args), **{k: up(v) for k, v in kws.items()})
    for a, c in copies.values():
        if a.flags.writeable:
            np.copyto(a, c, casting="unsafe")
    return result


@functools.lru_cache(maxsize=None)
def _storage_class(cls):
    name = "Storage" + cls.__name__  # a module global, so that pickle finds it by name
    new = globals()[name] = type(name, (_StorageDtypes, cls), {"__module__": __name__})
    return new


def _cpu(dispatcher):
    """A CPU dispatcher under the policy: process-safe cache, storage dtypes run in float32."""
    dispatcher.__class__ = _storage_class(type(dispatcher))
    return _keyed_cache(dispatcher, light=True)


#: LLVM fast-math flags: reassociation (vectorised reductions), FMA contraction, signed zeros.
#: Deliberately no 'nnan'/'ninf' (NaN/inf must propagate) and no 'afn'/'arcp' (accuracy).
FASTMATH = {"nsz", "contract", "reassoc"}
# error_model="numpy": float x/0 gives inf like PyTorch (the Python model raises and blocks SIMD).


@numba.extending.intrinsic
def fence(typingctx, x):
    """``fence(x)`` is ``x``, but the fast-math rewrites above (FMA contraction, reassociation)
    do not cross it (LLVM's ``llvm.arithmetic.fence``): a kernel that computes several ops per
    element (numtorch.compile's fused chains) fences each float intermediate and so rounds it
    exactly as separate kernels, which store it, do. Integers and bools pass through."""
    sig = x(x)
    if not isinstance(x, numba.types.Float):
        return sig, lambda context, builder, signature, args: args[0]

    def codegen(context, builder, signature, args):
        (v,) = args
        fnty = llvmlite.ir.FunctionType(v.type, [v.type])
        fn = builder.module.declare_intrinsic("llvm.arithmetic.fence", [v.type], fnty)
        return builder.call(fn, [v])
    return sig, codegen


#: Element count from which a kernel runs its parallel twin.
PARALLEL_THRESHOLD = int(os.environ.get("NUMTORCH_PARALLEL_THRESHOLD", 1 << 15))


def scalar(fn=None, *, name=None, bind=None, inline="always"):
    """Compile a scalar helper that kernels call (Numba inlines it into them by default).

    ``name`` and ``bind`` work as in :func:`kernel`. A body bound to an op code as a global
    constant (``bind={"OP": code}``) compiles only that op's branch: Numba prunes the others
    before typing. Such a per-op helper can pass ``inline="never"``: it is then compiled (and
    cached) once per signature and linked into each kernel, where LLVM inlines it, instead of
    being retyped inside every kernel specialisation (the elementwise kernels: ~5x less compile
    time, the same speed). A helper that switches on an *argument* must stay inlined, so that
    the constant argument prunes branches that would not type (an integer op on a float).
    """
    if fn is None:
        return lambda f: scalar(f, name=name, bind=bind, inline=inline)
    if name or bind:
        fn = _renamed(fn, name or fn.__name__, bind)
    return _keyed_cache(numba.njit(cache=CACHE, fastmath=FASTMATH, error_model="numpy",
                                   inline=inline)(fn), light=True)


def _renamed(fn, name, bind=None):
    # Numba names cache files after __qualname__ and keys entries by code + closure values; a
    # kernel built by a factory (a closure) or compiled twice (serial/parallel) needs its own
    # name or the twins overwrite and load each other's machine code. Jitted helpers a factory
    # passes in go in as globals (``bind``), never as closure cells: a dispatcher pickles with a
    # fresh UUID per process, which would make every cache lookup miss.
    env = fn.__globals__
    if bind:
        env = dict(env)
        env.update(bind)
    g = types.FunctionType(fn.__code__, env, name, fn.__defaults__, fn.__closure__)
    g.__qualname__ = name
    g.__module__ = fn.__module__
    g.__doc__ = fn.__doc__
    return g


def kernel(fn=None, *, name=None, bind=None):
    """Compile ``fn`` serially (its ``prange`` loops run as ``range``).

    ``bind`` maps global names in ``fn``'s body to jitted helpers (for kernel factories).
    """
    if fn is None:
        return lambda f: kernel(f, name=name, bind=bind)
    return _cpu(numba.njit(cache=CACHE, fastmath=FASTMATH, error_model="numpy")(
        _renamed(fn, name or fn.__name__, bind)))


def parallel_kernel(fn=None, *, name=None, bind=None):
    """Compile ``fn`` with ``parallel=True``."""
    if fn is None:
        return lambda f: parallel_kernel(f, name=name, bind=bind)
    return _cpu(numba.njit(cache=CACHE, fastmath=FASTMATH, error_model="numpy",
                           parallel=True)(
        _renamed(fn, (name or fn.__name__) + "_parallel", bind)))


class _OneRegionAtATime:
    """A parallel twin under Numba's workqueue layer, which aborts the whole process when two
    threads open parallel regions at once: the thread that finds a region open runs the serial
    twin instead (same results, no wait). TBB, numtorch's default layer, needs no such guard."""

    __slots__ = ("parallel", "serial")
    _region = threading.Lock()

    def __init__(self, parallel, serial):
        self.parallel, self.serial = parallel, serial

    def __call__(self, *args):
        if self._region.acquire(blocking=False):
            try:
                return self.parallel(*args)
            finally:
                self._region.release()
        return self.serial(*args)

    def __getattr__(self, name):  # the dispatcher's own attributes (py_func, signatures, ...)
        return getattr(self.parallel, name)


class _BackgroundBuild:
    """The parallel build of a :class:`Twin`: for argument types it has neither compiled nor in
    the on-disk cache, it asks a helper process to compile it (``kernels/_background.py``) and
    meanwhile runs the serial build, then loads the helper's result from the cache. Mixed into
    the class of each twin's parallel dispatcher; like :class:`_StorageDtypes`, it is reached
    only when no compiled signature matches."""

    def _compile_for_args(self, *args, **kws):
        from . import _background as bg
        key = getattr(self, "_numtorch_key", None)
        if (key is None or kws or not CACHE or not bg.enabled() or any(map(_is_storage, args))):
            return super()._compile_for_args(*args, **kws)
        try:
            argtypes = tuple(self.typeof_pyval(a) for a in args)
        except Exception:  # untypeable: let Numba report it
            return super()._compile_for_args(*args, **kws)
        state = bg.CLIENT.state((key, argtypes))
        if state == bg.PENDING:
            return self._numtorch_serial
        if state != bg.FAILED:
            entry = self._from_disk(argtypes)
            if entry is not None:
                return entry
            if state is None and bg.CLIENT.request((key, argtypes), key[0], key[1], argtypes):
                return self._numtorch_serial
        return super()._compile_for_args(*args, **kws)

    def _from_disk(self, argtypes):
        """The entry point for ``argtypes`` loaded from the on-disk cache (as Numba's ``compile``
        does before compiling), or None where the cache has none."""
        from numba.core.compiler_lock import global_compiler_lock
        with global_compiler_lock:
            existing = self.overloads.get(argtypes)
            if existing is not None:
                return existing.entry_point
            cres = self._cache.load_overload(argtypes, self.targetctx)
            if cres is None:
                return None
            self._cache_hits[argtypes] += 1
            if not cres.objectmode:
                self.targetctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
            self.add_overload(cres)
            return cres.entry_point


@functools.lru_cache(maxsize=None)
def _background_class(cls):
    name = "Background" + cls.__name__  # a module global, so that pickle finds it by name
    new = globals()[name] = type(name, (_BackgroundBuild, cls), {"__module__": __name__})
    return new


#: Every Twin by (its function's module, its name): the background compiler finds them here.
TWINS = {}


def parallel_dispatcher(twin):
    """The Numba dispatcher of a twin's parallel build."""
    p = twin.parallel
    return p.parallel if isinstance(p, _OneRegionAtATime) else p


class Twin:
    """A kernel compiled twice, serial and parallel; calling it picks by work size.

    ``Twin(fn)(*args, work=n)`` runs the parallel build when ``n >= PARALLEL_THRESHOLD``.
    Without ``work`` the size of the last argument (the output) decides. On a cold cache the
    parallel build compiles in a helper process while the serial one runs
    (:class:`_BackgroundBuild`).
    """

    __slots__ = ("serial", "parallel", "__name__", "_recipe")

    def __init__(self, fn, name=None, bind=None, python_serial=False):
        name = name or fn.__name__
        # the two dispatchers are made on first use (__getattr__): a program uses a few dozen of
        # the ~200 twins, and making one costs ~0.1 ms (its cache locator writes a probe file)
        self._recipe = (fn, name, bind, python_serial)
        TWINS[(fn.__module__, name)] = self
        self.__name__ = name

    def __getattr__(self, attr):  # reached only while a slot is unset
        if attr not in ("serial", "parallel"):
            raise AttributeError(attr)
        fn, name, bind, python_serial = self._recipe
        # python_serial: the serial build is ``fn`` run by Python, for drivers whose loop only
        # hands a few tasks to jitted helpers (compiling it cost ~0.5 s of a cold start each)
        serial = _renamed(fn, name, bind) if python_serial else kernel(fn, name=name, bind=bind)
        parallel = parallel_kernel(fn, name=name, bind=bind)
        parallel.__class__ = _background_class(type(parallel))
        parallel._numtorch_key = (fn.__module__, name)
        parallel._numtorch_serial = serial
        if THREADING_LAYER == "workqueue":
            parallel = _OneRegionAtATime(parallel, serial)
        self.serial, self.parallel = serial, parallel
        return getattr(self, attr)

    def __call__(self, *args, work=None):
        if work is None:
            work = args[-1].size
        if work >= PARALLEL_THRESHOLD:
            return self.parallel(*args)
        return self.serial(*args)

    @property
    def __signature__(self):
        # what inspect reports (and the CPU/CUDA mirror test compares): fn's arguments + work
        import inspect
        sig = inspect.signature(getattr(self.serial, "py_func", self.serial))
        work = inspect.Parameter("work", inspect.Parameter.KEYWORD_ONLY, default=None)
        return sig.replace(parameters=[*sig.parameters.values(), work])


# --- CUDA (numtorch.kernels.cuda) -------------------------------------------------------------
#: GPU fast-math stays off: IEEE division and square root, denormals kept, as PyTorch does.
CUDA_FASTMATH = False


def cuda_kernel(fn=None, *, name=None, bind=None, device=False):
    """Compile ``fn`` with ``numba.cuda.jit`` under numtorch's policy (cache on, fast-math off).

    ``device=True`` makes a device function that kernels call. ``name`` and ``bind`` work as in
    :func:`kernel` (factories give each specialisation its own cache name; jitted helpers go in
    as globals). numba.cuda is imported here, on first use, never by CPU-only code.
    """
    if fn is None:
        return lambda f: cuda_kernel(f, name=name, bind=bind, device=device)
    from numba import cuda
    return _keyed_cache(cuda.jit(device=device, cache=CACHE, fastmath=CUDA_FASTMATH)(
        _renamed(fn, name or fn.__name__, bind)))
