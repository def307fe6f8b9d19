"""numtorch.compile's fusion of elementwise chains (numtorch/compiler/_fuse.py): a fused replay
equals eager execution bit for bit (NaN, inf, signed zeros, broadcasting, float64, integers,
non-contiguous inputs), temporaries that anything else reads stay unfused, and generated kernels
are cached on disk for the next process."""
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
