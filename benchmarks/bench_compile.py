"""Compiled vs eager training steps, numtorch and PyTorch side by side in one run.

    .venv/bin/python benchmarks/bench_compile.py [--quick] [--threads 1] [--no-torch-compile]

Models (issue 11): an MLP 784-256-10 and the seed CNN (conv 1->32, relu, max-pool, conv 32->64,
relu, max-pool, fc 1600->128, relu, fc 128->10), Adam 1e-3, cross-entropy, batches 64 and 512.
Modes, each in a fresh worker process (so thread pools and caches do not leak between them):

- ``nt eager``: numtorch, the step as written;
- ``nt compile step``: ``numtorch.compile(step)`` of the whole step (forward, backward, Adam);
- ``nt compile module``: ``numtorch.compile(model)``, the loop eager;
- ``torch eager`` and ``torch.compile`` (``torch.compile(model)``, the loop eager; its first
  call's compile time is reported; ``--no-torch-compile`` skips it).

Times are per step, best and median after warm-up; ratios are against numtorch eager and
against PyTorch eager of the same model and batch. ``capture ms`` is the capturing call's time
(numtorch: the second call, an eager run that records kernel calls, then fusion and the memory
plan). Last, the cold and warm first replay of a fused kernel in a fresh process.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODES = ["nt eager", "nt compile step", "nt compile module", "torch eager", "torch.compile"]


def build(lib, model):
    nn = lib.nn
    if model == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3)
            self.conv2 = nn.Conv2d(32, 64, 3)
            self.fc1 = nn.Linear(1600, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            F = nn.functional
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc2(F.relu(self.fc1(x.flatten(1))))
    return CNN()


def worker(mode, model, batch, steps, threads):
    if mode.startswith("nt"):
        import numtorch as lib
    else:
        import torch as lib
    import numpy as np
    lib.set_num_threads(threads)
    lib.manual_seed(0)
    net = build(lib, model)
    opt = lib.optim.Adam(net.parameters(), lr=1e-3)
    F = lib.nn.functional
    rng = np.random.default_rng(0)
    data = [(lib.tensor(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)),
             lib.tensor(rng.integers(0, 10, batch))) for _ in range(4)]
    if mode in ("nt compile module", "torch.compile"):
        net = lib.compile(net)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = lib.compile(step) if mode == "nt compile step" else step
    firsts, times = [], []
    warm = 3
    for i in range(steps + 3):
        if i == 3 and mode.startswith("nt"):
            # on an empty cache the parallel builds compile in a helper process during the first
            # calls (kernels/_background.py): time the steps once they are in, not beside it
            from numtorch.kernels import _background
            if _background.CLIENT.wait():
                warm = 4  # and one more untimed call, which loads them
        x, y = data[i % 4]
        t0 = time.perf_counter()
        loss = fn(x, y)
        loss.item()
        dt = time.perf_counter() - t0
        (firsts if i < warm else times).append(dt)
    out = {"best": min(times), "median": statistics.median(times), "first": firsts,
           "loss": float(loss.item())}
    print("RESULT " + json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="batch 64 only, fewer steps")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-torch-compile", action="store_true")
    ap.add_argument("--worker", nargs=3, metavar=("MODE", "MODEL", "BATCH"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        mode, model, batch = a.worker
        worker(mode, model, int(batch), a.steps, a.threads)
        return
    batches = [64] if a.quick else [64, 512]
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    rows = []
    for model in ("mlp", "cnn"):
        for batch in batches:
            steps = a.steps or ((10 if a.quick else 30) if model == "mlp" else
                                (5 if a.quick else (12 if batch == 64 else 4)))
            res = {}
            for mode in MODES:
                if mode.startswith("torch") and not have_torch:
                    continue
                if mode == "torch.compile" and a.no_torch_compile:
                    continue
                cmd = [sys.executable, __file__, "--worker", mode, model, str(batch),
                       "--steps", str(steps), "--threads", str(a.threads)]
                p = subprocess.run(cmd, capture_output=True, text=True,
                                   env={**os.environ, "PYTHONWARNINGS": "ignore"})
                if p.returncode != 0:
                    print(f"{model} b{batch} {mode}: failed\n{p.stderr[-2000:]}", file=sys.stderr)
                    continue
                lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
                if not lines:
                    print(f"{model} b{batch} {mode}: no result\n{p.stdout[-1000:]}", file=sys.stderr)
                    continue
                res[mode] = json.loads(lines[-1][len("RESULT "):])
            for mode, r in res.items():
                rows.append((model, batch, mode, r, res.get("nt eager"), res.get("torch eager")))
    print(f"threads per process: {a.threads}")
    print("| model | batch | mode | best ms | median ms | vs nt eager | vs torch eager | "
          "first call ms | capture/compile ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model, batch, mode, r, nt, th in rows:
        best, med = r["best"] * 1e3, r["median"] * 1e3
        vs_nt = f"{r['median'] / nt['median']:.2f}x" if nt else "-"
        vs_th = f"{r['median'] / th['median']:.2f}x" if th else "-"
        first = r["first"][0] * 1e3
        cap = "-"
        if mode.startswith("nt compile"):
            cap = f"{r['first'][1] * 1e3:.1f}"
        elif mode == "torch.compile":
            cap = f"{r['first'][0] * 1e3:.0f}"
        print(f"| {model} | {batch} | {mode} | {best:.2f} | {med:.2f} | {vs_nt} | {vs_th} | "
              f"{first:.1f} | {cap} |")
    fused_kernel_times()


FUSED_CHILD = r"""
import time, numtorch
b = numtorch.randn(256)
f = numtorch.compile(lambda x: ((x + b).relu() * 0.5 - 1.0).tanh())
x = numtorch.randn(64, 256)
f(x); f(x)  # eager, capture (fuses the chain)
t = time.perf_counter(); f(x); print(time.perf_counter() - t, f.stats["fused"])
"""


def fused_kernel_times():
    """First replay of a fused chain in a fresh process: cold (empty cache folder: the generated
    kernel compiles) and warm (a second process loads it)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "NUMTORCH_CACHE_DIR": d}
        out = []
        for _ in range(2):
            p = subprocess.run([sys.executable, "-c", FUSED_CHILD], env=env, capture_output=True,
                               text=True)
            out.append(float(p.stdout.split()[0]) if p.returncode == 0 else float("nan"))
    print(f"fused kernel (4 ops in 1), first replay in a fresh process: cold {out[0] * 1e3:.0f} ms, "
          f"warm (from the disk cache) {out[1] * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
