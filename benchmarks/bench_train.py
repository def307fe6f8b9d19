"""Training-step benchmark: the Fashion-MNIST CNN in numtorch vs PyTorch CPU, side by side.

    .venv/bin/python benchmarks/bench_train.py [--batch 64] [--steps 50]

Both frameworks train the same architecture (examples/train_fashion_mnist.py's CNN, Adam 1e-3,
cross-entropy) on the same random batches, each in its own process within one run; times are
per optimizer step (forward, backward, update), best-of and median over ``--steps`` after
warm-up. PyTorch runs twice: as installed, and with numtorch's malloc policy
(``numtorch/_allocator.py``: big blocks kept in the heap), which makes it much faster at large
batches on these machines; the ratios are numtorch's best and median over each. Also prints
the time to the first step of a fresh process (from before ``import numtorch`` to after the
first ``loss.item()``), cold (empty Numba cache) and warm (the next process, with the cache its
predecessor filled: started once the predecessor's background compiles have finished).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))


def time_steps(lib, model, batches, steps, settle=None):
    """Best and median seconds per step after 3 warm-up steps (with ``settle()`` and one more
    after them)."""
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    F = lib.nn.functional
    times = []
    warm = 3 if settle is None else 4
    for i in range(steps + warm):
        if i == 3 and settle is not None:
            settle()
        x, y = batches[i % len(batches)]
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        float(loss.item())
        if i >= warm:
            times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def torch_cnn(torch):
    nn = torch.nn

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
            self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
            self.fc1 = nn.Linear(3136, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            F = nn.functional
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc2(F.relu(self.fc1(x.flatten(1))))
    return CNN()


FIRST_STEP = r"""
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, {examples!r})
import numtorch as torch
from train_fashion_mnist import CNN
m = CNN(); opt = torch.optim.Adam(m.parameters(), lr=1e-3)
x = torch.randn({batch}, 1, 28, 28); y = torch.randint(0, 10, ({batch},))
loss = torch.nn.functional.cross_entropy(m(x), y); loss.backward(); opt.step(); loss.item()
t = time.perf_counter() - t0
from numtorch.kernels import _background
helper = _background.CLIENT._proc
print(helper.pid if helper is not None and _background.CLIENT.pending() else 0, t)
"""


def _wait_gone(pid, limit=600.0):
    """Wait until process ``pid`` (not our child) has exited."""
    deadline = time.monotonic() + limit
    while pid and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":  # exited, not reaped yet
                    return
        except OSError:
            return
        time.sleep(0.1)


def first_step(batch):
    code = FIRST_STEP.format(examples=os.path.join(HERE, "..", "examples"), batch=batch)
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        # as a user's Python does: the second process imports numtorch from its bytecode cache
        # (with PYTHONDONTWRITEBYTECODE set, each recompiles its ~170 modules: ~0.4 s more)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for _ in range(2):
            r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                               text=True, check=True)
            helper, seconds = r.stdout.split()[-2:]
            out.append(float(seconds))
            # the cache its predecessor filled: a helper left compiling the parallel builds the
            # first step asked for last (kernels/_background.py) finishes before the next run
            _wait_gone(int(helper))
    return out


def worker(lib_name, batch, steps):
    """Time one library in this process (run as a subprocess: see main). The library is the
    first thing imported (numtorch before NumPy: its OpenBLAS thread policy applies), and the
    torch worker never imports numtorch, whose allocator policy would then apply to PyTorch."""
    settle = None
    if lib_name == "numtorch":
        import numtorch as lib
        from train_fashion_mnist import CNN
        model = CNN()

        def settle():
            # on an empty cache the parallel builds compile in a helper process during the
            # warm-up (kernels/_background.py): time the steps once they are in, not beside it
            from numtorch.kernels import _background
            _background.CLIENT.wait()
    else:
        import torch as lib
        model = torch_cnn(lib)
    import numpy as np
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32),
             rng.integers(0, 10, batch)) for _ in range(4)]
    lib.manual_seed(0)
    batches = [(lib.tensor(x), lib.tensor(y)) for x, y in data]
    return time_steps(lib, model, batches, steps, settle)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, nargs="+", default=[64])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--no-startup", action="store_true")
    p.add_argument("--worker", choices=["numtorch", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(*worker(args.worker, args.batch[0], args.steps))
        return
    import importlib.util
    from numtorch import _allocator
    # PyTorch as a user runs it, and PyTorch under numtorch's malloc policy (set through glibc's
    # environment variables, which it reads at start): at batch 512 the page faults of fresh
    # mmap'd blocks cost stock PyTorch ~40% of its step on these machines
    runs = [("numtorch", "numtorch", {})]
    if importlib.util.find_spec("torch") is not None:
        runs += [("torch", "torch", {}),
                 ("torch, malloc policy", "torch",
                  {"MALLOC_MMAP_THRESHOLD_": str(_allocator.MMAP_THRESHOLD),
                   "MALLOC_TRIM_THRESHOLD_": str(_allocator.TRIM_THRESHOLD)})]
    # each library in its own process, one after the other: idle thread pools of the other
    # library otherwise spin on the same two cores and distort both numbers
    print(f"{'CNN train step (fwd+bwd+Adam), ms':<36}{'best':>8}{'median':>8}"
          f"{'numtorch/this':>15}")
    for batch in args.batch:
        res = {}
        for label, lib, extra in runs:
            r = subprocess.run([sys.executable, __file__, "--worker", lib, "--batch", str(batch),
                                "--steps", str(args.steps)], capture_output=True, text=True,
                               check=True, env=dict(os.environ, **extra))
            res[label] = [float(v) for v in r.stdout.split()[-2:]]
        ours = res["numtorch"]
        for label, (best, median) in res.items():
            ratio = "" if label == "numtorch" else \
                f"{ours[0] / best:7.2f}x / {ours[1] / median:.2f}x"
            print(f"{'batch ' + str(batch) + ' ' + label:<36}{best * 1e3:8.1f}{median * 1e3:8.1f}"
                  f"{ratio:>15}")
    if not args.no_startup:
        cold, warm = first_step(args.batch[0])
        print(f"\ntime to first step, fresh process: cold cache {cold:.2f} s, warm cache {warm:.2f} s")


if __name__ == "__main__":
    main()
