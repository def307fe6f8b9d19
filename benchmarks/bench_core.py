"""Core benchmarks: numtorch vs NumPy vs PyTorch (when installed), side by side in one run.

    .venv/bin/python benchmarks/bench_core.py [--quick]

Prints one table: GEMM GFLOP/s (through the public ``@``), elementwise and broadcast-bias GB/s
on 16M float32, per-op overhead of a 4-element add (eager, no grad and with grad), and the cold
(empty Numba cache) and warm (cached) time to import numtorch and run the first op of each
family. Numbers are the best of several repeats; ratios are numtorch / peer (higher is better
for rates, lower is better for times).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import timeit

import numba
import numpy as np

import numtorch as nt

try:
    import torch
except ImportError:
    torch = None


def best(fn, repeat=7, number=1):
    fn()
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def row(name, unit, ours, npv, thv, higher_better=True):
    def ratio(peer):
        if peer is None or not ours:
            return "-"
        return f"{(ours / peer) if higher_better else (ours / peer):.2f}x"
    f = (lambda v: f"{'-':>10}" if v is None else f"{v:10.2f}")
    print(f"{name:<34}{unit:<8}{f(ours)}{f(npv)}{f(thv)}   {ratio(npv):>8} {ratio(thv):>8}")


def gemm(sizes):
    for n in sizes:
        a = np.random.rand(n, n).astype(np.float32)
        b = np.random.rand(n, n).astype(np.float32)
        flop = 2 * n ** 3
        rep = 3 if n >= 1024 else 10
        ta, tb = nt.from_numpy(a), nt.from_numpy(b)
        ours = flop / best(lambda: ta @ tb, rep) / 1e9
        npv = flop / best(lambda: a @ b, rep) / 1e9
        thv = None
        if torch is not None:
            xa, xb = torch.from_numpy(a), torch.from_numpy(b)
            thv = flop / best(lambda: xa @ xb, rep) / 1e9
        row(f"GEMM float32 n={n}", "GFLOP/s", ours, npv, thv)


def elementwise(n=1 << 24):
    a = np.random.rand(n).astype(np.float32)
    b = np.random.rand(n).astype(np.float32)
    o = np.empty_like(a)
    ta, tb = nt.from_numpy(a), nt.from_numpy(b)
    nbytes = 3 * 4 * n
    ours = nbytes / best(lambda: ta + tb) / 1e9
    npv = nbytes / best(lambda: np.add(a, b, out=o)) / 1e9
    thv = None
    if torch is not None:
        xa, xb = torch.from_numpy(a), torch.from_numpy(b)
        thv = nbytes / best(lambda: xa + xb) / 1e9
    row("a + b, 16M float32", "GB/s", ours, npv, thv)

    rows_, cols = 4096, n // 4096
    m = a.reshape(rows_, cols)
    bias = np.random.rand(cols).astype(np.float32)
    tm, tbias = nt.from_numpy(m), nt.from_numpy(bias)
    nbytes = 2 * 4 * n
    ours = nbytes / best(lambda: tm + tbias) / 1e9
    npv = nbytes / best(lambda: np.add(m, bias, out=o.reshape(rows_, cols))) / 1e9
    thv = None
    if torch is not None:
        xm, xbias = torch.from_numpy(m), torch.from_numpy(bias)
        thv = nbytes / best(lambda: xm + xbias) / 1e9
    row("bias add (4096,4096)+(4096,)", "GB/s", ours, npv, thv)


def overhead():
    a, b = nt.ones(4), nt.ones(4)
    na, nb = np.ones(4, np.float32), np.ones(4, np.float32)
    us = 1e6
    ours = best(lambda: a + b, 9, 20000) * us
    npv = best(lambda: na + nb, 9, 20000) * us
    thv = None
    if torch is not None:
        xa, xb = torch.ones(4), torch.ones(4)
        thv = best(lambda: xa + xb, 9, 20000) * us
    row("4-element add, no grad", "us", ours, npv, thv, higher_better=False)
    g = nt.ones(4, requires_grad=True)
    ours = best(lambda: g * b, 9, 20000) * us
    thv = None
    if torch is not None:
        xg = torch.ones(4, requires_grad=True)
        thv = best(lambda: xg * xb, 9, 20000) * us
    row("4-element mul, recording grad", "us", ours, None, thv, higher_better=False)


STARTUP = r"""
import time
t0 = time.perf_counter()
import numtorch as nt
t1 = time.perf_counter()
x = nt.randn(64, 64, requires_grad=True)
x + x; (x * 2).exp()
t2 = time.perf_counter()
x.sum(1); x.softmax(1); x.max(1)
t3 = time.perf_counter()
x @ x
t4 = time.perf_counter()
x[nt.tensor([1, 2])]; x.gather(1, nt.zeros(64, 1, dtype=nt.int64))
t5 = time.perf_counter()
(x @ x).sum().backward()
t6 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)
"""


def startup():
    names = ["import numtorch", "first elementwise", "first reductions", "first matmul",
             "first indexing", "first backward"]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for _ in range(2):  # cold (empty cache), then warm (cached)
            out = subprocess.run([sys.executable, "-c", STARTUP], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            runs.append([float(v) for v in out])
    print(f"\n{'start-up (fresh process)':<34}{'cold s':>10}{'warm s':>10}")
    for name, c, w in zip(names, *runs):
        print(f"{name:<34}{c:10.3f}{w:10.3f}")
    print(f"{'total':<34}{sum(runs[0]):10.3f}{sum(runs[1]):10.3f}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="smaller GEMM sizes, skip start-up")
    args = p.parse_args()
    print(f"numtorch {nt.__version__}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else '(not installed)'}; "
          f"{os.cpu_count()} CPUs, numba threads {numba.get_num_threads()} ({numba.config.THREADING_LAYER})")
    print(f"{'':<34}{'unit':<8}{'numtorch':>10}{'numpy':>10}{'torch':>10}   "
          f"{'vs numpy':>8} {'vs torch':>8}")
    gemm([64, 256, 512] if args.quick else [64, 256, 512, 1024, 2048])
    elementwise()
    overhead()
    if not args.quick:
        startup()


if __name__ == "__main__":
    main()
