"""GPU benchmark: numtorch's @cuda.jit kernels vs PyTorch on the same GPU, side by side.

    python benchmarks/bench_cuda.py            # on a machine with an NVIDIA GPU
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/bench_cuda.py --quick   # smoke-test the script

Prints, as ratios to PyTorch (when ``torch.cuda`` is available in the same process):
- GEMM float32 TFLOP/s at 1024..8192 (``a @ b`` vs ``torch.mm``);
- elementwise ``a + b`` bandwidth on 256M float32 (GB/s, three arrays moved);
- the Fashion-MNIST CNN training step (Adam) at batch 64 and 512 (ms);
- launch overhead: one 4-element add, eager, synchronised and queued (us per op).
Every timing synchronises the device; best of ``--repeat`` after warm-up (first calls compile).
"""
import argparse
import os
import sys
import time

import numpy as np

import numtorch as nt

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import torch
    if not torch.cuda.is_available():
        torch = None
except ImportError:
    torch = None


def best(fn, sync, repeat, warmup=1):
    for _ in range(warmup):
        fn()
    sync()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def row(name, ours, theirs, unit, higher_is_better=True):
    if theirs is None:
        print(f"{name:<34} {ours:>12.3f} {unit:<8} {'-':>12}")
        return
    ratio = ours / theirs if higher_is_better else theirs / ours
    print(f"{name:<34} {ours:>12.3f} {unit:<8} {theirs:>12.3f}   {ratio:6.2f}x of torch")


def gemm(sizes, repeat):
    for n in sizes:
        a = nt.randn(n, n, device="cuda")
        b = nt.randn(n, n, device="cuda")
        t = best(lambda: a @ b, nt.cuda.synchronize, repeat)
        ours = 2 * n ** 3 / t / 1e12
        theirs = None
        if torch is not None:
            ta, tb = torch.randn(n, n, device="cuda"), torch.randn(n, n, device="cuda")
            theirs = 2 * n ** 3 / best(lambda: torch.mm(ta, tb), torch.cuda.synchronize,
                                       repeat) / 1e12
        row(f"GEMM fp32 {n}x{n}", ours, theirs, "TFLOP/s")


def bandwidth(n, repeat):
    a = nt.ones(n, device="cuda")
    b = nt.ones(n, device="cuda")
    ours = 3 * 4 * n / best(lambda: a + b, nt.cuda.synchronize, repeat) / 1e9
    theirs = None
    if torch is not None:
        ta, tb = torch.ones(n, device="cuda"), torch.ones(n, device="cuda")
        theirs = 3 * 4 * n / best(lambda: ta + tb, torch.cuda.synchronize, repeat) / 1e9
    row(f"a + b, {n / 2**20:.0f}M fp32", ours, theirs, "GB/s")


def cnn_step(lib, batch, repeat, sync):
    from bench_train import torch_cnn
    lib.manual_seed(0)
    model = torch_cnn(lib).to("cuda")
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    x = lib.randn(batch, 1, 28, 28, device="cuda")
    y = lib.randint(0, 10, (batch,), device="cuda")

    def step():
        opt.zero_grad()
        lib.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return best(step, sync, repeat, warmup=2) * 1e3


def launch_overhead(repeat):
    a = nt.ones(4, device="cuda")
    sync = best(lambda: a + a, nt.cuda.synchronize, repeat * 20) * 1e6

    def queued():
        for _ in range(100):
            a + a
    q = best(queued, nt.cuda.synchronize, repeat) / 100 * 1e6
    tq = ts = None
    if torch is not None:
        ta = torch.ones(4, device="cuda")
        ts = best(lambda: ta + ta, torch.cuda.synchronize, repeat * 20) * 1e6

        def tqueued():
            for _ in range(100):
                ta + ta
        tq = best(tqueued, torch.cuda.synchronize, repeat) / 100 * 1e6
    row("4-element add, synchronised", sync, ts, "us", higher_is_better=False)
    row("4-element add, queued", q, tq, "us", higher_is_better=False)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (simulator smoke test)")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    if not nt.cuda.is_available():
        sys.exit("no CUDA device (set NUMBA_ENABLE_CUDASIM=1 with --quick to smoke-test)")
    if nt.cuda.is_simulator() and not args.quick:
        sys.exit("the CUDA simulator is not a GPU: run with --quick to smoke-test the script")
    print(f"device: {nt.cuda.get_device_name()}; torch: "
          f"{torch.__version__ + ' ' + torch.cuda.get_device_name() if torch else 'not on GPU'}")
    print(f"{'':<34} {'numtorch':>12} {'':<8} {'torch':>12}")
    rep = 1 if args.quick else args.repeat
    gemm([16] if args.quick else [1024, 2048, 4096, 8192], rep)
    bandwidth(1 << (6 if args.quick else 28), rep)
    for batch in ([] if args.quick else [64, 512]):  # (the simulator needs minutes per step)
        ours = cnn_step(nt, batch, rep, nt.cuda.synchronize)
        theirs = cnn_step(torch, batch, rep, torch.cuda.synchronize) if torch else None
        row(f"CNN train step, batch {batch}", ours, theirs, "ms", higher_is_better=False)
    launch_overhead(rep)
    print(f"memory: {nt.cuda.max_memory_allocated() / 2**20:.1f} MiB peak allocated, "
          f"{nt.cuda.memory_reserved() / 2**20:.1f} MiB reserved")


if __name__ == "__main__":
    np.random.seed(0)
    main()
