"""The on-disk kernel cache (kernels/policy.py): processes that compile one kernel at the same
time never load each other's machine code, and a kernel compiled once is loaded, not recompiled,
by the next process."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from numtorch.kernels import policy


def _double(x, out):
    for i in range(x.size):
        out[i] = x[i] * 2


def _cache_file(name):
    return policy.kernel(_double, name=name)._cache._cache_file


def test_concurrent_saves_never_cross_signatures(tmp_path, monkeypatch):
    """Replays the race of two processes saving different signatures of one kernel: both read
    the index before either wrote it, b wrote its index first, then a its index and data, then b
    its data. Numba alone files both under data file 1, so a's index entry then loads b's code;
    here each signature has its own data file and an entry loads only its own data (or misses,
    and the kernel compiles)."""
    monkeypatch.setattr(policy.numba.config, "CACHE_DIR", str(tmp_path))
    a, b = _cache_file("cache_race"), _cache_file("cache_race")
    key_a, key_b = (("float32",), "target", (1, 2)), (("int64",), "target", (1, 2))
    monkeypatch.setattr(b, "_load_index", lambda: {})  # read before a saved
    monkeypatch.setattr(b, "_save_index", lambda overloads: None)  # written before a's index
    monkeypatch.setattr(a, "_load_index", lambda: {})
    a.save(key_a, "code for float32")
    b.save(key_b, "code for int64")
    fresh = _cache_file("cache_race")
    assert fresh.load(key_a) == "code for float32"
    assert fresh.load(key_b) is None  # b's entry was lost: a miss, never a's code
    # saves one after the other (the lock makes concurrent ones so): every entry kept
    monkeypatch.undo()
    monkeypatch.setattr(policy.numba.config, "CACHE_DIR", str(tmp_path))
    b.save(key_b, "code for int64")
    a.save(key_a, "code for float32")
    assert fresh.load(key_a) == "code for float32" and fresh.load(key_b) == "code for int64"


def test_an_entry_whose_data_belongs_to_another_key_is_a_miss(tmp_path, monkeypatch):
    monkeypatch.setattr(policy.numba.config, "CACHE_DIR", str(tmp_path))
    f = _cache_file("cache_mismatch")
    key_a, key_b = (("float32",), "target", (1, 2)), (("int64",), "target", (1, 2))
    f.save(key_b, "code for int64")
    f._save_index({key_a: f._load_index()[key_b]})  # an index pointing at the wrong data
    assert f.load(key_a) is None
    f._save_data(f._load_index()[key_a], "plain data of an older scheme")
    assert f.load(key_a) is None


def test_a_compiled_kernel_is_loaded_by_the_next_process(tmp_path):
    script = textwrap.dedent("""
        import sys
        import numpy as np
        from numba.core import event
        from numtorch.kernels import policy
        compiles = []
        class Count(event.Listener):
            def on_start(self, e):
                compiles.append(e)
            def on_end(self, e):
                pass
        event.register("numba:compile", Count())
        def double(x, out):
            for i in range(x.size):
                out[i] = x[i] * 2
        k = policy.kernel(double, name="cache_next_process")
        for dt in sys.argv[1:]:
            x = np.arange(5, dtype=dt)
            out = np.empty_like(x)
            k(x, out)
            assert (out == 2 * x).all(), out
        print(len(compiles))
    """)
    path = tmp_path / "kernel_user.py"
    path.write_text(script)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    def compiles(*dtypes):
        r = subprocess.run([sys.executable, str(path), *dtypes], env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return int(r.stdout.split()[-1])

    assert compiles("float32", "int64") == 2
    assert compiles("float32", "int64", "float64") == 1  # two loaded, float64 new
    assert compiles("float64", "int64", "float32") == 0
    np.testing.assert_array_equal(sorted(p.suffix for p in (tmp_path / "cache").rglob("*.nbc")),
                                  [".nbc"] * 3)


def test_a_cached_kernel_loads_without_a_context_refresh(tmp_path):
    """Loading machine code from the cache skips Numba's context refresh (policy's
    _LoadWithoutRefresh: ~0.15 s of a warm start) and the parse of its bitcode
    (_LazyLinkLibrary): kernels that allocate (NRT), run parallel loops (the parallel runtime),
    hash strings (the hash secret's symbols) and raise load and run correctly without them; a
    kernel compiled afterwards in the same process refreshes as before, and links a helper
    loaded from the cache (its bitcode parsed then)."""
    script = textwrap.dedent("""
        import sys
        import numpy as np
        from numba import prange
        from numba.core import base
        from numtorch.kernels import policy
        refreshes = []
        real = base.BaseContext.refresh
        def counted(self):
            refreshes.append(1)
            return real(self)
        base.BaseContext.refresh = counted

        def allocating(x, out):
            t = np.empty(x.size, x.dtype)
            for i in range(x.size):
                t[i] = x[i] + 1
            out[:] = t * 2

        def parallel_loop(x, out):
            for i in prange(x.size):
                out[i] = x[i] * 3

        def hashing(x, out):
            d = {}
            for i in range(x.size):
                d[str(i) + "k"] = x[i]  # strings made at run time: hashed with the secret
            for i in range(x.size):
                out[i] = d[str(i) + "k"] + 2

        def raising(x, out):
            if x.size != out.size:
                raise ValueError("sizes differ")
            out[:] = x

        def plus_ten(v):
            return v + 10
        helper = policy.scalar(plus_ten, name="cache_light_plus_ten", inline="never")

        def calling(x, out):
            for i in range(x.size):
                out[i] = helper(x[i])

        twin = policy.Twin(parallel_loop, name="cache_light_twin")
        x = np.arange(6, dtype=np.float64)
        out = np.empty_like(x)
        policy.kernel(allocating, name="cache_light_alloc")(x, out)
        assert (out == (x + 1) * 2).all(), out
        twin(x, out, work=policy.PARALLEL_THRESHOLD)
        assert (out == 3 * x).all(), out
        policy.kernel(hashing, name="cache_light_hash")(x, out)
        assert (out == x + 2).all(), out
        try:
            policy.kernel(raising, name="cache_light_raise")(x, out[:2])
        except ValueError as e:
            assert "sizes differ" in str(e)
        else:
            raise AssertionError("no error")
        helper(1.5)  # compiled (and cached) as a function of its own
        policy.kernel(calling, name="cache_light_call")(x, out)
        assert (out == x + 10).all(), out
        before = len(refreshes)
        lib = helper.overloads[helper.signatures[0]].library
        if sys.argv[1] == "old" and before == 0:  # loaded: machine code only, bitcode kept
            assert isinstance(lib, policy._LazyLinkLibrary) and lib._pending_bitcode
        if sys.argv[1] == "new":
            def fresh(x, out):
                for i in range(x.size):
                    out[i] = helper(x[i]) - 1
            policy.kernel(fresh, name="cache_light_new_" + sys.argv[2])(x, out)
            assert (out == x + 9).all(), out
            assert lib._pending_bitcode is None  # linked into fresh: parsed
        print(before, len(refreshes))
    """)
    path = tmp_path / "light_user.py"
    path.write_text(script)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               NUMTORCH_BACKGROUND_COMPILE="0")

    def refreshes(*argv):
        r = subprocess.run([sys.executable, str(path), *argv], env=env, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        return [int(v) for v in r.stdout.split()[-2:]]

    assert refreshes("old", "")[0] > 0  # a cold cache: every kernel compiles, and refreshes
    assert refreshes("old", "") == [0, 0]  # all loaded: no refresh at all
    before, after = refreshes("new", str(os.getpid()))
    assert before == 0 and after > 0  # compiling still refreshes the context first


def test_the_symbols_a_cached_library_defines_are_its_bitcodes():
    """_LazyLinkLibrary takes the names a cached library defines from its machine code's
    symbol table instead of its parsed bitcode: the two sets are the same (for a kernel that
    allocates, loops in parallel and raises: environments, helpers, wrappers)."""
    import llvmlite.binding as ll
    from numba import prange

    def several(x, out):
        t = np.empty(x.size, x.dtype)
        for i in prange(x.size):
            t[i] = x[i] * 2
        if t.size != out.size:
            raise ValueError("sizes")
        out[:] = t

    k = policy.parallel_kernel(several, name="cache_symbols_several")
    x = np.arange(4.0)
    out = np.empty_like(x)
    k(x, out)
    name, kind, (obj, bitcode) = k.overloads[k.signatures[0]].library.serialize_using_object_code()
    mod = ll.parse_bitcode(bitcode)
    want = {v.name for vs in (mod.functions, mod.global_variables) for v in vs
            if not v.is_declaration}
    got = policy._elf_defined_symbols(obj)
    if got is None:
        pytest.skip("machine code not ELF here: the bitcode is parsed on load, as Numba does")
    assert len(want) > 3 and got == want


def test_editing_a_helper_in_another_module_recompiles_its_callers(tmp_path):
    """A kernel's cache entry is keyed also by the files of the jitted helpers it calls (policy's
    _CalleesKeyed): after a helper in another module changes, the next process recompiles the
    kernel instead of loading the old helper's machine code (Numba checks the kernel's own file
    only). Helpers reached by name, as a module's attribute and through another helper; the
    index keeps one entry per signature."""
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    helpers = pkg / "helpers.py"

    def write_helpers(a, b):
        helpers.write_text(textwrap.dedent(f"""
            from numtorch.kernels import policy

            @policy.scalar
            def inner(v):
                return v + {b}

            @policy.scalar
            def add_a(v):
                return inner(v) + {a}
            """))

    (pkg / "kernels.py").write_text(textwrap.dedent("""
        from numtorch.kernels import policy
        from . import helpers
        from .helpers import add_a

        @policy.kernel
        def k(x, out):
            for i in range(x.size):
                out[i] = add_a(x[i]) * 10 + helpers.inner(x[i])
        """))
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        from userpkg.kernels import k
        x = np.zeros(1)
        out = np.empty(1)
        k(x, out)
        index = k._cache._cache_file._load_index()
        print(int(out[0]), sum(k._cache_hits.values()), len(index))
    """))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               NUMTORCH_BACKGROUND_COMPILE="0", PYTHONPATH=str(tmp_path),
               PYTHONDONTWRITEBYTECODE="1")

    def run():
        r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        return [int(v) for v in r.stdout.split()[-3:]]

    write_helpers(1, 2)
    assert run() == [32, 0, 1]  # (0 + 2 + 1) * 10 + 2, compiled
    assert run() == [32, 1, 1]  # loaded
    write_helpers(1, 5)  # the helper two calls down changes
    assert run() == [65, 0, 1]  # recompiled: (0 + 5 + 1) * 10 + 5; the old entry dropped
    assert run() == [65, 1, 1]
    write_helpers(4, 5)
    assert run() == [95, 0, 1]
