"""Core benchmarks: numtorch vs NumPy vs PyTorch (when installed), side by side in one run.

    .venv/bin/python benchmarks/bench_core.py [--quick]

Prints one table: GEMM GFLOP/s (through the public ``@``), elementwise and broadcast-bias GB/s
on 16M float32, per-op overhead of a 4-element add (eager, no grad and with grad), and the cold
(empty Numba cache) and warm (cached) time to import numtorch and run the first op of each
family. Each library runs in its own process (one after the other, in the same run); numbers
are the best of several repeats; ratios are numtorch / peer (higher is better for rates, lower
is better for times).
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
        return f"{ours / peer:.2f}x"
    f = (lambda v: f"{'-':>10}" if v is None else f"{v:10.2f}")
    print(f"{name:<34}{unit:<8}{f(ours)}{f(npv)}{f(thv)}   {ratio(npv):>8} {ratio(thv):>8}")


# --- measurements, one library per process -------------------------------------------------
# Each library is timed in its own process: idle OpenBLAS / OpenMP / Numba thread pools of the
# others otherwise spin on the same cores and distort every number (seen here: 100x).
def _lib(name):
    if name == "numtorch":
        import numtorch as lib
    elif name == "torch":
        import torch as lib
    else:
        lib = None
    return lib


def measure(name, sizes):
    lib = _lib(name)
    res = {}
    wrap = (lambda a: a) if name == "numpy" else lib.from_numpy
    for n in sizes:
        a = np.random.rand(n, n).astype(np.float32)
        b = np.random.rand(n, n).astype(np.float32)
        ta, tb = wrap(a), wrap(b)
        rep = 3 if n >= 1024 else 10
        res[f"gemm{n}"] = 2 * n ** 3 / best(lambda: ta @ tb, rep) / 1e9
    n = 1 << 24
    a = np.random.rand(n).astype(np.float32)
    b = np.random.rand(n).astype(np.float32)
    ta, tb = wrap(a), wrap(b)
    # every column allocates its result, as eager ``a + b`` does (fresh pages included)
    add = (lambda: a + b) if name == "numpy" else (lambda: ta + tb)
    res["add"] = 3 * 4 * n / best(add) / 1e9
    m = a.reshape(4096, n // 4096)
    bias = np.random.rand(n // 4096).astype(np.float32)
    tm, tbias = wrap(m), wrap(bias)
    badd = (lambda: m + bias) if name == "numpy" else (lambda: tm + tbias)
    res["bias"] = 2 * 4 * n / best(badd) / 1e9
    x = np.ones(4, np.float32)
    if name == "numpy":
        res["overhead"] = best(lambda: x + x, 9, 20000) * 1e6
    else:
        tx, ty = wrap(x), wrap(x.copy())
        res["overhead"] = best(lambda: tx + ty, 9, 20000) * 1e6
        g = lib.ones(4, requires_grad=True)
        res["overhead_grad"] = best(lambda: g * ty, 9, 20000) * 1e6
    return res


def run_all(sizes):
    import json
    out = {}
    for name in ("numtorch", "numpy", "torch"):
        if name == "torch" and torch is None:
            out[name] = {}
            continue
        r = subprocess.run([sys.executable, __file__, "--worker", name, "--sizes",
                            ",".join(map(str, sizes))], capture_output=True, text=True, check=True)
        out[name] = json.loads(r.stdout.strip().splitlines()[-1])
    nt_, np_, th = out["numtorch"], out["numpy"], out["torch"]
    for n in sizes:
        k = f"gemm{n}"
        row(f"GEMM float32 n={n}", "GFLOP/s", nt_[k], np_[k], th.get(k))
    row("a + b, 16M float32", "GB/s", nt_["add"], np_["add"], th.get("add"))
    row("bias add (4096,4096)+(4096,)", "GB/s", nt_["bias"], np_["bias"], th.get("bias"))
    row("4-element add, no grad", "us", nt_["overhead"], np_["overhead"], th.get("overhead"),
        higher_better=False)
    row("4-element mul, recording grad", "us", nt_["overhead_grad"], None,
        th.get("overhead_grad"), higher_better=False)


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
    p.add_argument("--worker", choices=["numtorch", "numpy", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--sizes", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        import json
        print(json.dumps(measure(args.worker, [int(v) for v in args.sizes.split(",")])))
        return
    print(f"numtorch {nt.__version__}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else '(not installed)'}; {os.cpu_count()} CPUs; "
          "each library timed in its own process")
    print(f"{'':<34}{'unit':<8}{'numtorch':>10}{'numpy':>10}{'torch':>10}   "
          f"{'vs numpy':>8} {'vs torch':>8}")
    run_all([64, 256, 512] if args.quick else [64, 256, 512, 1024, 2048])
    if not args.quick:
        startup()


if __name__ == "__main__":
    main()
