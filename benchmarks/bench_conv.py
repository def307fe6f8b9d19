"""Convolution and pooling, numtorch vs PyTorch CPU, on the Fashion-MNIST CNN's layers at batch 64.

Prints ms per forward and per forward+backward and the ratio numtorch/torch. The two libraries
run alternately, call by call, and the best of the repeats is kept: on a shared machine that
measures the code rather than the neighbours.
Run: ``.venv/bin/python benchmarks/bench_conv.py [--batch 64] [--repeat 20]``.
"""
import argparse
import time

import numtorch as nt  # before NumPy, so that numtorch's OpenBLAS thread policy applies
import numpy as np
import torch
import torch.nn.functional as TF

import numtorch.nn.functional as NF


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


def _time_pair(fa, fb, repeat):
    """Best ms of fa and of fb, called alternately."""
    for f in (fa, fb, fa, fb):
        f()
    ta, tb = [], []
    for _ in range(repeat):
        for f, ts in ((fa, ta), (fb, tb)):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    return 1e3 * min(ta), 1e3 * min(tb)


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    print(f"batch {args.batch}, float32, torch threads {torch.get_num_threads()}; "
          "ms per call, best of repeats")
    head = f"{'layer':26s} {'fwd nt':>8s} {'fwd torch':>9s} {'ratio':>6s}   " \
           f"{'f+b nt':>8s} {'f+b torch':>9s} {'ratio':>6s}"
    print(head)
    print("-" * len(head))
    tot = np.zeros(4)
    for name, fn, arrays, grads in _layers(args.batch):
        n_fwd, n_fb = _calls(nt, NF, fn, arrays, grads)
        t_fwd, t_fb = _calls(torch, TF, fn, arrays, grads)
        nf, tf = _time_pair(n_fwd, t_fwd, args.repeat)
        nfb, tfb = _time_pair(n_fb, t_fb, args.repeat)
        tot += (nf, tf, nfb, tfb)
        print(f"{name:26s} {nf:8.2f} {tf:9.2f} {nf / tf:6.2f}   {nfb:8.2f} {tfb:9.2f} "
              f"{nfb / tfb:6.2f}")
    print("-" * len(head))
    print(f"{'total':26s} {tot[0]:8.2f} {tot[1]:9.2f} {tot[0] / tot[1]:6.2f}   {tot[2]:8.2f} "
          f"{tot[3]:9.2f} {tot[2] / tot[3]:6.2f}")


if __name__ == "__main__":
    main()
