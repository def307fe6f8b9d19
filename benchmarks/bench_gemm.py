"""float32 GEMM GFLOP/s: numtorch.kernels.cpu.matmul vs np.matmul vs torch.mm or torch.bmm.

Run: ``python benchmarks/bench_gemm.py [--repeats R]``. Every number is the best of R timed
repeats, each long enough (~50 ms) to average the timer out, numtorch and NumPy interleaved, torch after them;
outputs are preallocated; torch keeps its default thread count. The last line is the per-call
time of a 4x4 product: the fixed cost a framework op pays on every call.
"""
import argparse
import time

import numpy as np

from numtorch.kernels.cpu import matmul as mm

try:
    import torch
except ImportError:  # torch is optional here
    torch = None


def best_time(fn, repeats):
    """Best seconds per call of ``fn`` over ``repeats`` repeats of an auto-sized loop."""
    fn()  # warm-up: compilation, first-touch of buffers, BLAS thread start
    t = time.perf_counter()
    fn()
    once = time.perf_counter() - t
    loops = max(1, int(0.05 / max(once, 1e-7)))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - t) / loops)
    return best


def operands(batch, m, k, n, transpose_a=False):
    """float32 a (batch, m, k), b (batch, k, n); a optionally a transposed view (g @ w.T style)."""
    rng = np.random.default_rng(0)
    if transpose_a:
        a = np.swapaxes(rng.standard_normal((batch, k, m), dtype=np.float32), -1, -2)
    else:
        a = rng.standard_normal((batch, m, k), dtype=np.float32)
    return a, rng.standard_normal((batch, k, n), dtype=np.float32)


def time_numpy_side(batch, m, k, n, repeats, transpose_a=False):
    """Seconds per call of numtorch's matmul and np.matmul, alternating within each repeat.

    Alternating makes a burst of load from other tenants of this machine hit both alike.
    """
    a, b = operands(batch, m, k, n, transpose_a)
    out = np.empty((batch, m, n), np.float32)
    out_np = np.empty_like(out)
    t_nt = t_np = float("inf")
    for _ in range(repeats):
        t_nt = min(t_nt, best_time(lambda: mm.matmul(a, b, out), 1))
        t_np = min(t_np, best_time(lambda: np.matmul(a, b, out=out_np), 1))
    assert np.allclose(out, out_np, rtol=1e-3, atol=1e-3 * k ** 0.5)
    return t_nt, t_np


def time_torch(batch, m, k, n, repeats, transpose_a=False):
    """Seconds per call of torch.mm (batch 1) or torch.bmm into a preallocated out."""
    a, b = operands(batch, m, k, n, transpose_a)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    tout = torch.empty((batch, m, n), dtype=torch.float32)
    if batch == 1:
        ta, tb, tout = ta[0], tb[0], tout[0]
        return best_time(lambda: torch.mm(ta, tb, out=tout), repeats)
    return best_time(lambda: torch.bmm(ta, tb, out=tout), repeats)


CASES = [(f"n={n}", (1, n, n, n), {}) for n in (64, 256, 512, 1024, 2048)] + [
    ("n=1024 a=w.T view", (1, 1024, 1024, 1024), {"transpose_a": True}),
    ("B=64 32x32", (64, 32, 32, 32), {}),
    ("B=64 16x16", (64, 16, 16, 16), {}),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    r = args.repeats
    # torch runs in a phase of its own: interleaved with OpenBLAS calls on this 2-core machine,
    # each library's idle threads spin while the other's work, and torch.mm slowed 100-1000x.
    a = np.ones((1, 4, 4), np.float32)
    o = np.empty_like(a)
    tiny = [best_time(lambda: mm.matmul(a, a, o), r), best_time(lambda: np.matmul(a, a, out=o), r)]
    results = [time_numpy_side(*shape, r, **kw) for _, shape, kw in CASES]
    if torch is None:
        results = [res + (None,) for res in results]
    else:
        time.sleep(1.0)  # OpenBLAS's threads spin a while after their last call
        results = [res + (time_torch(*shape, r, **kw),)
                   for res, (_, shape, kw) in zip(results, CASES)]
        t, to = torch.from_numpy(a[0]), torch.from_numpy(o[0])
        tiny.append(best_time(lambda: torch.mm(t, t, out=to), r))
    threads = f", torch threads {torch.get_num_threads()}" if torch is not None else ""
    print(f"float32 GEMM, GFLOP/s (best of {r}){threads}")
    print(f"{'case':>18} {'numtorch':>10} {'numpy':>10} {'torch':>10}"
          f" {'nt/numpy':>9} {'nt/torch':>9}")
    for (label, (batch, m, k, n), _), (t_nt, t_np, t_th) in zip(CASES, results):
        g = lambda t: 2.0 * batch * m * n * k / t / 1e9  # noqa: E731
        row = f"{label:>18} {g(t_nt):10.1f} {g(t_np):10.1f}"
        row += f" {g(t_th):10.1f}" if t_th else f" {'-':>10}"
        row += f" {t_np / t_nt:9.2f}"
        row += f" {t_th / t_nt:9.2f}" if t_th else f" {'-':>9}"
        print(row)
    names = ["numtorch", "numpy", "torch.mm"]
    print("4x4 per call (us): " + ", ".join(f"{nm} {t * 1e6:.2f}" for nm, t in zip(names, tiny)))


if __name__ == "__main__":
    main()
