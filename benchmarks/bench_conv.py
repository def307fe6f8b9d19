"""Convolution and pooling, numtorch vs PyTorch CPU, on the Fashion-MNIST CNN's layers at batch 64.

Prints ms per forward and per forward+backward and the ratio numtorch/torch. Each library runs
in its own worker process (in one process, the threads one library leaves spinning after a call
slow the other's next call); the two workers take turns, a few calls at a time, and the best of
the repeats is kept: on a shared machine that measures the code rather than the neighbours.
Run: ``.venv/bin/python benchmarks/bench_conv.py [--batch 64] [--repeat 20]``.
"""
import argparse
import json
import subprocess
import sys
import time

import numpy as np


def _layers(batch):
    r = np.random.default_rng(0)
    f = np.float32
    x1 = r.standard_normal((batch, 1, 28, 28)).astype(f)
    w1 = (r.standard_normal((32, 1, 3, 3)) * 0.3).astype(f)
    b1 = r.standard_normal(32).astype(f)
    x2 = r.standard_normal((batch, 32, 14, 14)).astype(f)
    w2 = (r.standard_normal((64, 32, 3, 3)) * 0.06).astype(f)
    b2 = r.standard_normal(64).astype(f)
    p1 = r.standard_normal((batch, 32, 28, 28)).astype(f)
    p2 = r.standard_normal((batch, 64, 14, 14)).astype(f)
    t2 = (r.standard_normal((64, 32, 4, 4)) * 0.05).astype(f)
    return [
        # name, function of (F, *tensors), arrays, which need grad
        ("conv 1->32 3x3 p1 28x28", lambda F, x, w, b: F.conv2d(x, w, b, padding=1),
         (x1, w1, b1), (False, True, True)),
        ("conv 32->64 3x3 p1 14x14", lambda F, x, w, b: F.conv2d(x, w, b, padding=1),
         (x2, w2, b2), (True, True, True)),
        ("convT 64->32 4x4 s2 14->28", lambda F, x, w, b: F.conv_transpose2d(
            x, w, b, stride=2, padding=1), (p2, t2, b1), (True, True, True)),
        ("maxpool 2 on 32x28x28", lambda F, x: F.max_pool2d(x, 2), (p1,), (True,)),
        ("maxpool 2 on 64x14x14", lambda F, x: F.max_pool2d(x, 2), (p2,), (True,)),
        ("avgpool 2 on 32x28x28", lambda F, x: F.avg_pool2d(x, 2), (p1,), (True,)),
    ]


def _calls(lib, F, fn, arrays, grads):
    ts = [lib.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    g_out = []

    def fwd():
        with lib.no_grad():
            fn(F, *ts)

    def fwd_bwd():
        y = fn(F, *ts)
        if not g_out:
            g_out.append(lib.ones(tuple(y.shape)))
        y.backward(g_out[0])
        for t in ts:
            t.grad = None

    return fwd, fwd_bwd


def worker(lib_name, batch):
    """Answer ``<layer> <fwd|fb> <calls>`` with the ms of each call, ``quit`` to end."""
    if lib_name == "numtorch":
        import numtorch as lib
        import numtorch.nn.functional as F
    else:
        import torch as lib
        import torch.nn.functional as F
    calls = [_calls(lib, F, fn, arrays, grads) for _, fn, arrays, grads in _layers(batch)]
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "quit":
            break
        f = calls[int(cmd[0])][0 if cmd[1] == "fwd" else 1]
        ts = []
        for _ in range(int(cmd[2])):
            t0 = time.perf_counter()
            f()
            ts.append(1e3 * (time.perf_counter() - t0))
        print(json.dumps(ts), flush=True)


def _ask(p, cmd):
    p.stdin.write(cmd + "\n")
    p.stdin.flush()
    return json.loads(p.stdout.readline())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.batch)
    procs = {lib: subprocess.Popen([sys.executable, __file__, "--worker", lib, "--batch",
                                    str(args.batch)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
             for lib in ("numtorch", "torch")}
    print(f"batch {args.batch}, float32, each library in its own process with its own thread "
          "settings; ms per call, best of repeats")
    head = f"{'layer':26s} {'fwd nt':>8s} {'fwd torch':>9s} {'ratio':>6s}   " \
           f"{'f+b nt':>8s} {'f+b torch':>9s} {'ratio':>6s}"
    print(head)
    print("-" * len(head))
    tot = np.zeros(4)
    try:
        for i, (name, *_) in enumerate(_layers(args.batch)):
            row = []
            for kind in ("fwd", "fb"):
                best = {}
                for lib, p in procs.items():  # warm-up: compilation, first-touch
                    _ask(p, f"{i} {kind} 2")
                for _ in range(max(1, args.repeat // 4)):  # turns of 4 calls each
                    for lib, p in procs.items():
                        best[lib] = min([best.get(lib, np.inf)] + _ask(p, f"{i} {kind} 4"))
                row += [best["numtorch"], best["torch"]]
            nf, tf, nfb, tfb = row
            tot += row
            print(f"{name:26s} {nf:8.2f} {tf:9.2f} {nf / tf:6.2f}   {nfb:8.2f} {tfb:9.2f} "
                  f"{nfb / tfb:6.2f}")
    finally:
        for p in procs.values():
            p.stdin.write("quit\n")
            p.stdin.close()
            p.wait()
    print("-" * len(head))
    print(f"{'total':26s} {tot[0]:8.2f} {tot[1]:9.2f} {tot[0] / tot[1]:6.2f}   {tot[2]:8.2f} "
          f"{tot[3]:9.2f} {tot[2] / tot[3]:6.2f}")


if __name__ == "__main__":
    main()
