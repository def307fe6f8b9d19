"""numtorch.compile's fusion of elementwise chains (numtorch/compiler/_fuse.py): a fused replay
equals eager execution bit for bit (NaN, inf, signed zeros, broadcasting, float64, integers,
non-contiguous inputs), temporaries that anything else reads stay unfused, and generated kernels
are cached on disk for the next process. The CUDA twins run in Numba's simulator (tiny tensors:
it runs every thread in Python), and one is compiled to PTX to check that no FMA crosses a link."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import numtorch

UNARY = ["exp", "tanh", "sigmoid", "relu", "neg", "abs", "sqrt", "log1p", "sin"]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "pow"]
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.5, 1e-30, 3e38]


def _apply(x, ops, others):
    for op, other in zip(ops, others):
        if op in UNARY:
            x = getattr(numtorch, op)(x)
        elif op == "gt_where":
            x = numtorch.where(x > 0, x, x * 0.5)
        elif op == "cast":
            x = x.to(numtorch.float64 if x.dtype is numtorch.float32 else numtorch.float32)
        else:
            x = getattr(numtorch, op)(x, other)
    return x


@st.composite
def chains(draw):
    dt = draw(st.sampled_from([np.float32, np.float64]))
    shape = draw(st.sampled_from([(7,), (3, 5), (2, 3, 4), ()]))
    n = draw(st.integers(2, 5))
    ops = draw(st.lists(st.sampled_from(UNARY + BINARY + ["cast", "gt_where"]),
                        min_size=n, max_size=n))
    kinds = draw(st.lists(st.sampled_from(["full", "row", "scalar", "python", "transposed"]),
                          min_size=n, max_size=n))
    seed = draw(st.integers(0, 2 ** 16))
    special = draw(st.booleans())
    return dt, shape, ops, kinds, seed, special


def _values(rng, shape, dt, special):
    a = rng.standard_normal(shape).astype(dt)
    if special and a.size:
        mask = rng.random(shape) < 0.3
        a = np.where(mask, rng.choice(SPECIAL, size=shape), a).astype(dt)
    return a


def _other(kind, rng, shape, dt, special):
    if kind == "python":
        return 1.5
    if kind == "scalar" or not shape:
        return numtorch.tensor(_values(rng, (), dt, special))
    if kind == "row":
        return numtorch.tensor(_values(rng, shape[-1:], dt, special))
    if kind == "transposed" and len(shape) >= 2:
        t = numtorch.tensor(_values(rng, shape[:-2] + (shape[-1], shape[-2]), dt, special))
        return t.transpose(-1, -2)
    return numtorch.tensor(_values(rng, shape, dt, special))


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(chains())
def test_fused_chains_equal_eager_bit_for_bit(case):
    dt, shape, ops, kinds, seed, special = case
    rng = np.random.default_rng(seed)
    others = [_other(k, rng, shape, dt, special) for k in kinds]
    f = numtorch.compile(lambda x: _apply(x, ops, others))
    with np.errstate(all="ignore"):
        for _ in range(4):
            x = numtorch.tensor(_values(rng, shape, dt, special))
            got, want = f(x), _apply(x, ops, others)
            assert got.dtype is want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=str(ops))
    assert f.stats["replays"] == 2 and not f.stats["breaks"]


def test_a_chain_is_one_kernel_and_live_temporaries_are_not_fused():
    b = numtorch.randn(16)

    @numtorch.compile
    def f(x):
        return ((x + b).relu() * 2.0).exp()

    x = numtorch.randn(8, 16)
    for _ in range(3):
        f(x)
    assert f.stats["fused"] == 3  # four kernels became one
    plan = next(p for p in f._plans.values() if not isinstance(p, str))
    assert plan.n_kernels == 1  # (2.0 is a constant array, no kernel)
    np.testing.assert_array_equal(f(x).numpy(), ((x + b).relu() * 2.0).exp().numpy())

    @numtorch.compile
    def g(x):
        h = (x + b).relu()  # returned too: must stay written
        return h, h * 2.0

    for _ in range(3):
        h, h2 = g(x)
    assert g.stats["fused"] == 1  # add+relu fused into h's kernel; h * 2 reads h
    np.testing.assert_array_equal(h.numpy(), (x + b).relu().numpy())
    np.testing.assert_array_equal(h2.numpy(), (x + b).relu().numpy() * 2.0)


def test_training_chains_fuse_and_match(tmp_path):
    numtorch.manual_seed(0)
    m = numtorch.nn.Sequential(numtorch.nn.Linear(6, 8), numtorch.nn.ReLU(), numtorch.nn.Linear(8, 2))
    cm = numtorch.compile(m)
    plain = numtorch.compile(m, options={"fuse": False})
    x = numtorch.randn(5, 6)
    for _ in range(3):
        a, b = cm(x), plain(x)
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert cm.stats["fused"] >= 1 and plain.stats["fused"] == 0
    with pytest.raises(RuntimeError, match="unknown options"):
        numtorch.compile(m, options={"fusion": True})


CHILD = r"""
import time, numtorch
b = numtorch.randn(64)
f = numtorch.compile(lambda x: ((x + b).relu() * 3.0).tanh())
x = numtorch.randn(32, 64)
f(x); f(x)  # eager, capture (the chain is fused at the end of the capture)
t = time.perf_counter(); f(x); first_replay = time.perf_counter() - t  # compiles or loads
from numtorch.compiler import _fuse
twin = next(iter(_fuse._loaded.values()))
k = twin.serial
print(sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values()), round(first_replay, 3))
"""


def test_generated_kernels_load_from_the_disk_cache_in_another_process(tmp_path):
    env = dict(os.environ, NUMTORCH_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                           text=True, timeout=300) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    (hits1, misses1, _), (hits2, misses2, _) = [
        tuple(float(v) for v in r.stdout.split()) for r in runs]
    assert (hits1, misses1) == (0, 1)  # the first process compiles the fused kernel ...
    assert (hits2, misses2) == (1, 0)  # ... the second loads it
    assert len([n for n in os.listdir(tmp_path / "numtorch_fused") if n.endswith(".py")]) == 1


# --- CUDA (Numba's simulator in CI) ------------------------------------------------------------
cuda = pytest.mark.skipif(not numtorch.cuda.is_available(),
                          reason="no CUDA device and no simulator")
SPECIAL_X = [[np.nan, 1.0, 2.0, 3.0], [np.inf, 0.5, -0.0, -2.0], [1e-30, -np.inf, 3e38, 4.0]]


def _plan(f):
    return next(p for p in f._plans.values() if not isinstance(p, str))


def _cuda_runs(fn, x, fuse, n=3):
    """``n`` calls of ``fn`` compiled (eager, capture, replays) on ``x``: host copies, stats,
    the plan."""
    f = numtorch.compile(fn, options={"fuse": fuse})
    with numtorch.no_grad(), np.errstate(all="ignore"):
        outs = [f(x).cpu().numpy() for _ in range(n)]
    return outs, f.stats, _plan(f)


@cuda
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_chain_fuses_into_one_kernel_equal_to_eager_bit_for_bit(dtype):
    """Linear -> x * 2 + 1 -> relu -> cast on CUDA: the bias add (a row), the Python scalars (one
    element each, uploaded between the links), relu and the cast become one generated
    ``@cuda.jit`` kernel; NaN, inf, -0.0 and overflow come out as the unfused kernels' and
    eager's, bit for bit."""
    dt = getattr(numtorch, dtype)
    other = numtorch.float64 if dtype == "float32" else numtorch.float32
    numtorch.manual_seed(0)
    m = numtorch.nn.Linear(4, 5).to(dt).cuda()
    x = numtorch.tensor(SPECIAL_X, dtype=dt).cuda()

    def f(x):
        return (m(x) * 2.0 + 1.0).relu().to(other)

    fused, stats, plan = _cuda_runs(f, x, True)
    plain, pstats, pplan = _cuda_runs(f, x, False)
    with numtorch.no_grad(), np.errstate(all="ignore"):
        want = f(x).cpu().numpy()
    assert stats["replays"] == 1 and not stats["breaks"]
    assert stats["fused"] == 4 and pstats["fused"] == 0  # add, mul, add, relu, copy: one kernel
    assert len(plan.fwd) == len(pplan.fwd) - 4 and plan.n_kernels == pplan.n_kernels - 4
    assert any(type(s[1]).__name__ == "_Launch" for s in plan.fwd)
    for a, b in zip(fused, plain):
        assert a.dtype == want.dtype and a.tobytes() == b.tobytes() == want.tobytes()
    assert np.isnan(want).any() and np.isinf(want).any()  # (the special values got through)


@cuda
def test_cuda_integer_and_bool_chain_fuses():
    """Integer ops take their own device functions (``pow_int``); a comparison's bool result is
    an intermediate rounded to bool; three scalar uploads sit between the links."""
    x = numtorch.tensor([[-7, -1, 0, 5], [9, 2**20, -2**20, 3]]).cuda()
    v = numtorch.tensor([1, -2, 3, 4]).cuda()

    def f(x):
        return ((x * 3 - v) ** 2 > 10).logical_not()

    (a, *_), stats, plan = _cuda_runs(f, x, True)
    with numtorch.no_grad():
        want = f(x).cpu().numpy()
    assert stats["fused"] == 4 and len(plan.fwd) == 4  # three uploads, then the kernel
    assert a.dtype == np.bool_ and a.tobytes() == want.tobytes()


@cuda
def test_cuda_layouts_the_kernel_does_not_take_stay_unfused():
    """A transposed (non-contiguous) input, and a column that broadcasts over rows: left to the
    launchers' strided kernels, with the same results."""
    x = numtorch.tensor(SPECIAL_X).cuda()
    col = numtorch.tensor([[1.0], [2.0], [3.0]]).cuda()
    for fn, inp in ((lambda t: (t.t() * 2.0 + 1.0).relu(), x),
                    (lambda t: ((t + col) * 2.0).relu(), x)):
        outs, stats, _ = _cuda_runs(fn, inp, True)
        with numtorch.no_grad(), np.errstate(all="ignore"):
            want = fn(inp).cpu().numpy()
        assert stats["fused"] == 0 and stats["replays"] == 1
        assert outs[-1].tobytes() == want.tobytes()


@cuda
def test_cuda_generated_source_comes_from_the_disk_cache(tmp_path, monkeypatch):
    """The generated CUDA source is written once per chain; a process that fuses the same chain
    later (here: the same process with its kernel memo emptied) imports the file instead of
    writing it. (The simulator compiles nothing, so the source is all there is to cache.)"""
    from numtorch.compiler import _fuse
    monkeypatch.setenv("NUMTORCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_fuse, "_loaded", {})
    b = numtorch.tensor([0.5, -1.0, 2.0]).cuda()
    x = numtorch.randn(2, 3).cuda()

    def f(x):
        return ((x + b) * 3.0).tanh()

    first, stats, _ = _cuda_runs(f, x, True)
    assert stats["fused"] == 2
    (src,) = list((tmp_path / "numtorch_fused").glob("fused_*.py"))
    text, stamp = src.read_text(), src.stat().st_mtime_ns
    assert "from numtorch.kernels.cuda.elementwise import SCALARS" in text
    assert "cuda.grid(1)" in text

    monkeypatch.setattr(_fuse, "_loaded", {})

    def no_write(*a, **k):
        raise AssertionError("the generated source was written again")

    monkeypatch.setattr(_fuse.tempfile, "mkstemp", no_write)
    again, stats, _ = _cuda_runs(f, x, True)
    assert stats["fused"] == 2 and src.stat().st_mtime_ns == stamp
    assert again[-1].tobytes() == first[-1].tobytes()


PTX_CHILD = r"""
import re, sys, types, importlib.util
import numpy as np
from numba import cuda, from_dtype, void
import numba.cuda.dispatcher as D
# no GPU here: numba-cuda asks the current device for its compute capability (as in
# tests/kernels/test_cuda_ptx.py)
D.get_current_device = lambda: types.SimpleNamespace(compute_capability=(8, 0))
src = open(sys.argv[1]).read()
for i, text in enumerate((src, re.sub(r"fence\((T\d+\(.*\))\)$", r"\1", src, flags=re.M))):
    spec = importlib.util.spec_from_loader(f"fused{i}", loader=None)
    mod = importlib.util.module_from_spec(spec)
    exec(compile(text, sys.argv[1], "exec"), mod.__dict__)
    a = from_dtype(np.dtype(sys.argv[2]))[::1]
    ptx, _ = cuda.compile_ptx(mod.fused, void(*[a] * mod.fused.__code__.co_argcount), cc=(8, 0))
    print(ptx.count("fma.rn."), ptx.count("add.rn."))
"""


def _have_cuda_compiler():
    """libNVVM and NVRTC are installed (numba-cuda[cu13]): numba.cuda.compile_ptx works."""
    import importlib.util
    spec = importlib.util.find_spec("nvidia")
    dirs = list(spec.submodule_search_locations) if spec else []
    found = {lib: False for lib in ("libnvrtc.so", "libnvvm.so")}
    for d in dirs + [os.environ.get("CUDA_HOME") or "/usr/local/cuda"]:
        for _root, _dirs, files in os.walk(d):
            for lib in found:
                found[lib] = found[lib] or any(f.startswith(lib) for f in files)
    return all(found.values())


@cuda
@pytest.mark.skipif(not _have_cuda_compiler(), reason="no CUDA compiler (numba-cuda[cu13])")
def test_cuda_fused_kernel_compiles_for_a_gpu_without_fma_across_links(tmp_path, monkeypatch):
    """The simulator cannot see FMA contraction: compile a generated kernel to PTX (libNVVM, no
    GPU needed). ``x * 2 + 1`` fenced has no ``fma.rn`` (the fences' ``add.rn`` instead); with the
    fences removed NVVM contracts the multiply and the add, so the check has teeth."""
    from numtorch.compiler import _fuse
    monkeypatch.setenv("NUMTORCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_fuse, "_loaded", {})
    b = numtorch.tensor([0.5, -1.0, 2.0]).cuda()
    _cuda_runs(lambda x: ((x + b) * 2.0 + 1.0).relu(), numtorch.randn(2, 3).cuda(), True)
    (src,) = list((tmp_path / "numtorch_fused").glob("fused_*.py"))
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    p = subprocess.run([sys.executable, "-c", PTX_CHILD, str(src), "float32"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    (fenced_fma, fences), (bare_fma, bare_fences) = [
        tuple(map(int, line.split())) for line in p.stdout.split("\n")[:2]]
    assert fenced_fma == 0 and fences > 0
    assert bare_fma > 0 and bare_fences == 0
