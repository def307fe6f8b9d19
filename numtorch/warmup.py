"""Compile numtorch's kernels before the first training step: ``python -m numtorch.warmup``.

Numba compiles every kernel specialisation (dtypes, layout, serial or parallel twin) on its first
call and keeps it in the on-disk cache (``$NUMBA_CACHE_DIR``, see kernels/policy.py); later
processes load it in a few milliseconds. On an empty cache the first step of the Fashion-MNIST CNN
thus spends 20-30 s compiling (2 cores). This module runs small representative workloads once,
so that later processes find what ordinary training needs in the cache: it runs programs, it does
not list kernels, and so stays right as kernels change.

    python -m numtorch.warmup                        # every workload, float32 (~2 min)
    python -m numtorch.warmup --quick                # what scripts/train.sh needs (~30 s)
    python -m numtorch.warmup --dtype float32 float64 --cuda

Each workload runs twice on the CPU: at batch 1, where every tensor is below the size from which
kernels run their parallel twin (``kernels.policy.PARALLEL_THRESHOLD``), and at a batch that
takes its activations above it; parameters of both kinds occur in every model. A second run
compiles nothing and costs the loading and the small computations only (a few seconds).

Workloads run in ``--jobs`` processes (default 2 where there are 2 cores: 1.4x faster cold on 2
cores; Numba compiles on one thread). They share the cache safely: policy names each cached
specialisation after its signature and rewrites the index under a lock, so two processes saving
signatures of one kernel at once lose nothing and never load each other's code (a fresh process
after a 2-process warmup compiles nothing).
"""
import argparse
import gc
import math
import os
import sys
import tempfile
import time

import numpy as np

import numtorch as torch
import numtorch.nn as nn
import numtorch.nn.functional as F
from numtorch.kernels import policy


# --- sizes --------------------------------------------------------------------------------------
class _Ctx:
    """What a workload runs on: ``dtype`` and ``device``, and :meth:`batches`."""

    def __init__(self, dtype, device):
        self.dtype = dtype
        self.device = torch.device(device)

    def batches(self, per_sample, small=1):
        """Batch sizes that reach both twins of the kernels a workload calls: ``small`` (serial)
        and the smallest batch whose ``per_sample``-element activations reach the parallel
        threshold. On CUDA (no twins) the larger one only."""
        big = max(small + 1, math.ceil(policy.PARALLEL_THRESHOLD / per_sample))
        return [big] if self.device.type == "cuda" else [small, big]

    def randn(self, *shape):
        return torch.randn(*shape, dtype=self.dtype, device=self.device)

    def labels(self, n, classes, *shape):
        return torch.randint(0, classes, (n, *shape), device=self.device)


def _train(model, opt, x, y, loss_fn=F.cross_entropy, clip=None):
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    if clip:
        nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return loss.item()


def _evaluate(model, x, y):
    """The evaluation loop of the examples: no_grad, summed loss, argmax accuracy."""
    model.eval()
    with torch.no_grad():
        out = model(x)
        loss = F.cross_entropy(out, y, reduction="sum").item()
        correct = (out.argmax(1) == y).sum().item()
    model.train()
    return loss, correct


def _classifier(ctx, model, per_sample, shape, small=1, sgd=False):
    """A step with Adam (and SGD with momentum) at each batch size, then an evaluation. (The
    optimizers' kernels see parameters, not batches: one model with large and small ones
    compiles both twins for all.)"""
    model = model.to(device=ctx.device, dtype=ctx.dtype)
    opts = [torch.optim.Adam(model.parameters(), lr=1e-3)]
    if sgd:
        opts.append(torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9))
    for b in ctx.batches(per_sample, small):
        x, y = ctx.randn(b, *shape), ctx.labels(b, 10)
        for opt in opts:
            _train(model, opt, x, y)
        _evaluate(model, x, y)


# --- workloads: each is one tick of the progress bar ----------------------------------------------
class SeedCNN(nn.Module):
    """examples/train_fashion_mnist.py's CNN (also bench_train's)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class ExamplesNet(nn.Module):
    """pytorch/examples' mnist/main.py network: two unpadded convs, dropout, log_softmax."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        return F.log_softmax(self.fc2(x), dim=1)


def mlp(ctx):
    """The examples' MLP (784-256-10): its logits reach the parallel twins at the big batch."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    _classifier(ctx, model, 10, (1, 28, 28), sgd=True)


def cnn(ctx):
    """The seed CNN: conv/relu/maxpool twice, two linears, Adam."""
    _classifier(ctx, SeedCNN(), 128, (1, 28, 28))


def mnist(ctx):
    """pytorch/examples' mnist: dropout, log_softmax + nll_loss, Adadelta with StepLR."""
    model = ExamplesNet().to(device=ctx.device, dtype=ctx.dtype)
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    for b in ctx.batches(128):
        x, y = ctx.randn(b, 1, 28, 28), ctx.labels(b, 10)
        _train(model, opt, x, y, F.nll_loss)
        sched.step()
        model.eval()
        with torch.no_grad():
            out = model(x)
            F.nll_loss(out, y, reduction="sum").item()
            pred = out.argmax(dim=1, keepdim=True)
            pred.eq(y.view_as(pred)).sum().item()
        model.train()


def data(ctx):
    """Fashion-MNIST's loading path (IDX files, ToTensor + Normalize, DataLoader batches)."""
    from numtorch.utils.data import DataLoader
    from numtorch.vision import datasets, transforms
    big = ctx.batches(28 * 28)[-1]
    dflt = torch.get_default_dtype()
    torch.set_default_dtype(ctx.dtype)  # (ToTensor converts to the default dtype)
    try:
        with tempfile.TemporaryDirectory() as root:
            raw = os.path.join(root, "FashionMNIST", "raw")
            os.makedirs(raw)
            rng = np.random.default_rng(0)
            for split in ("train", "t10k"):
                _write_idx(os.path.join(raw, f"{split}-images-idx3-ubyte"),
                           rng.integers(0, 256, (big + 1, 28, 28), dtype=np.uint8))
                _write_idx(os.path.join(raw, f"{split}-labels-idx1-ubyte"),
                           rng.integers(0, 10, big + 1, dtype=np.uint8))
            tf = transforms.Compose([transforms.ToTensor(),
                                     transforms.Normalize((0.2860,), (0.3530,))])
            for train in (True, False):
                ds = datasets.FashionMNIST(root, train=train, transform=tf)
                ds[0]
                for x, y in DataLoader(ds, batch_size=big, shuffle=train):  # big, then 1
                    x.to(ctx.device), y.to(ctx.device)
    finally:
        torch.set_default_dtype(dflt)


def _write_idx(path, a):
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape))
        f.write(a.tobytes())


def norm(ctx):
    """BatchNorm (2d and 1d, train and eval), LayerNorm, Dropout2d, adaptive average pooling."""
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Dropout2d(0.1),
        nn.AvgPool2d(2), nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32),
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 64), nn.BatchNorm1d(64),
        nn.LayerNorm(64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10))
    _classifier(ctx, model, 32, (3, 16, 16), small=2)  # (BatchNorm1d trains on 2 or more)


def rnn(ctx):
    """The examples' sequence models: a 2-layer LSTM over an embedding (char LM, gradient
    clipping), an LSTM reading image rows, a GRU."""

    class LM(nn.Module):
        def __init__(self, cell):
            super().__init__()
            self.emb = nn.Embedding(40, 32)
            self.rnn = cell(32, 64, 2, batch_first=True, dropout=0.1)
            self.head = nn.Linear(64, 40)

        def forward(self, x):
            return self.head(self.rnn(self.emb(x))[0])

    class Rows(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(28, 64, batch_first=True)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(self.lstm(x)[0][:, -1])

    def flat_ce(out, y):
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    T = 6
    for cell in (nn.LSTM, nn.GRU):
        model = LM(cell).to(device=ctx.device, dtype=ctx.dtype)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for b in ctx.batches(64):
            x, y = ctx.labels(b, 40, T), ctx.labels(b, 40, T)
            _train(model, opt, x, y, flat_ce, clip=1.0)
            model.eval()
            with torch.no_grad():
                logits = model(x[:1])
                probs = F.softmax(logits[0, -1] / 0.8, dim=-1)
                torch.multinomial(probs, 1)
            model.train()
    model = Rows().to(device=ctx.device, dtype=ctx.dtype)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for b in ctx.batches(64):
        _train(model, opt, ctx.randn(b, 28, 28), ctx.labels(b, 10), clip=1.0)


def transformer(ctx):
    """nn.TransformerEncoderLayer and a GPT block (scaled_dot_product_attention, causal,
    LayerNorm, GELU), token and position embeddings, AdamW with clipping."""
    V, T, D = 40, 8, 32

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(V, D), nn.Embedding(T, D)
            self.ln1, self.ln2, self.ln_f = nn.LayerNorm(D), nn.LayerNorm(D), nn.LayerNorm(D)
            self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
            self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D),
                                     nn.Dropout(0.1))
            self.enc = nn.TransformerEncoderLayer(D, 4, 64, dropout=0.1, batch_first=True)
            self.head = nn.Linear(D, V, bias=False)

        def forward(self, idx):
            B = idx.shape[0]
            x = self.tok(idx) + self.pos(torch.arange(T, device=idx.device))
            q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
            q, k, v = (t.view(B, T, 4, D // 4).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).contiguous().view(B, T, D))
            x = self.enc(x + self.mlp(self.ln2(x)))
            return self.head(self.ln_f(x))

    model = GPT().to(device=ctx.device, dtype=ctx.dtype)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for b in ctx.batches(T * D):
        x, y = ctx.labels(b, V, T), ctx.labels(b, V, T)
        _train(model, opt, x, y,
               lambda out, y: F.cross_entropy(out.reshape(-1, V), y.reshape(-1)), clip=1.0)
        model.eval()
        with torch.no_grad():
            model(x)
        model.train()


def tensor(ctx):
    """Common tensor code outside models: reductions, comparisons, masks, indexing, math (the
    lines below only run ops; their results are dropped)."""
    for b in ctx.batches(64):
        x, z = ctx.randn(b, 64), ctx.randn(b, 64)
        for r in (x.sum(), x.mean(), x.sum(0), x.mean(1), x.std(1), x.var(), x.norm(),
                  x.max(), x.min(1)[0], x.argmax(), x.argmin(1), x.amax(1), x.abs().max(),
                  x.cumsum(1), x.logsumexp(1), F.log_softmax(x, 1), F.softmax(x, 1),
                  x.topk(3, 1)[0], x.sort(1)[0]):
            r.sum().item()
        m = (x > 0) & (z <= 0.5) | (x == z) | (x != 0) ^ (x < z) | (x >= 1)
        m.any().item(), m.all().item(), m.sum().item(), m.float().mean().item(), (~m).sum()
        torch.where(m, x, z).masked_fill(~m, 0.0).clamp(-1, 1)
        x[m].sum(), x[x.argmax(1) % 64 == 0], x[torch.arange(0, b, 2, device=ctx.device)]
        (x.exp() + x.abs().log1p() + x.abs().sqrt() + x.sigmoid() + x.tanh() - x.pow(2) / 2 * z)
        torch.maximum(x, z), torch.minimum(x, z), torch.cat([x, z]), torch.stack([x, z], 1)
        x @ z.T, x.t().contiguous(), x.clone().add_(z).mul_(0.5), torch.zeros_like(x).fill_(1)
        torch.allclose(x, x.clone()), torch.isnan(x).any(), x.to(torch.float64).to(ctx.dtype)


#: name -> workload, in the order they run (the heaviest first: they pay most in parallel).
WORKLOADS = {f.__name__: f for f in (cnn, mnist, transformer, rnn, norm, tensor, mlp, data)}
#: what scripts/train.sh needs: examples/train_fashion_mnist.py's CNN or MLP and its data path.
QUICK = ("cnn", "mlp", "data")


# --- running --------------------------------------------------------------------------------------
class _Compiles:
    """Counts Numba compilations (cache misses) from Numba's ``numba:compile`` events."""

    def __init__(self):
        from numba.core import event
        self.n = 0
        outer = self

        class Listener(event.Listener):
            def on_start(self, ev):
                outer.n += 1

            def on_end(self, ev):
                pass
        event.register("numba:compile", Listener())


def _loaded():
    """Specialisations this process loaded from the disk cache so far."""
    from numba.core.dispatcher import _DispatcherBase
    return sum(len(getattr(o, "_cache_hits", ())) for o in gc.get_objects()
               if isinstance(o, _DispatcherBase))


def _cached(cache):
    """Whether ``cache`` holds an index of a cached kernel."""
    return any(f.endswith(".nbi") for _, _, files in os.walk(cache) for f in files)


_COMPILES = None


def run_task(name, dtype, device):
    """Run one workload in this process: ``(name, dtype, device, seconds, compiled, loaded)``."""
    global _COMPILES
    if _COMPILES is None:
        _COMPILES = _Compiles()
    c0, l0, t0 = _COMPILES.n, _loaded(), time.perf_counter()
    torch.manual_seed(0)
    WORKLOADS[name](_Ctx(getattr(torch, dtype), device))
    return (name, dtype, device, time.perf_counter() - t0, _COMPILES.n - c0, _loaded() - l0)


def _tasks(names, dtypes, devices):
    # (data loading runs on the CPU; the models' workloads move their batches to the GPU)
    return [(n, d, dev) for dev in devices for d in dtypes for n in names
            if not (n == "data" and dev == "cuda")]


def _in_pool(tasks, jobs):
    """Yield run_task's results, the tasks spread over ``jobs`` fresh processes."""
    import concurrent.futures
    import importlib
    import multiprocessing
    fn = importlib.import_module("numtorch.warmup").run_task  # (by name, also under -m)
    # spawn, not fork: a forked child of a process that ran parallel kernels can hang
    with concurrent.futures.ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for f in concurrent.futures.as_completed([pool.submit(fn, *t) for t in tasks]):
            yield f.result()


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m numtorch.warmup",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="only what examples/train_fashion_mnist.py needs: " + ", ".join(QUICK))
    p.add_argument("--dtype", nargs="+", default=["float32"], choices=["float32", "float64"])
    p.add_argument("--cuda", action="store_true", help="also the CUDA kernels (needs a GPU)")
    p.add_argument("--only", nargs="+", choices=list(WORKLOADS), metavar="WORKLOAD",
                   help="these workloads only: " + ", ".join(WORKLOADS))
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes, each running whole workloads (default: 2 where there "
                        "are 2 cores)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    # every build compiles in the workers themselves: a background helper (kernels/_background.py)
    # would be stopped with its process, its builds unfinished
    os.environ["NUMTORCH_BACKGROUND_COMPILE"] = "0"
    names = args.only or (QUICK if args.quick else list(WORKLOADS))
    if policy.numba.config.DISABLE_JIT:
        print("numtorch.warmup: NUMBA_DISABLE_JIT is set: nothing to compile")
        return
    devices = ["cpu"]
    if args.cuda:
        if policy.numba.config.ENABLE_CUDASIM:  # (it compiles nothing; and is slow)
            print("numtorch.warmup: CUDA runs in Numba's simulator (NUMBA_ENABLE_CUDASIM=1), "
                  "which compiles nothing: warming up the CPU kernels only", file=sys.stderr)
        elif torch.cuda.is_available():
            devices.append("cuda")
        else:
            print("numtorch.warmup: CUDA is not available: warming up the CPU kernels only",
                  file=sys.stderr)
    tasks = _tasks([n for n in WORKLOADS if n in names], args.dtype, devices)

    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    cache = policy.numba.config.CACHE_DIR
    if _cached(cache):
        print("numtorch.warmup: loading the cached kernels, compiling what is missing",
              file=sys.stderr, flush=True)
    else:
        print("numtorch.warmup: the first run compiles numtorch's kernels into the cache, once "
              "(later runs load them in seconds)", file=sys.stderr, flush=True)
    bar = None
    if tqdm is not None and not args.no_progress:
        bar = tqdm(total=len(tasks), desc="warmup", unit="workload", file=sys.stderr)
    t0 = time.perf_counter()
    jobs = min(args.jobs, len(tasks))
    results = _in_pool(tasks, jobs) if jobs > 1 else (run_task(*t) for t in tasks)
    compiled = loaded = 0
    for i, (name, dtype, device, secs, c, n) in enumerate(results, 1):
        compiled, loaded = compiled + c, loaded + n
        what = f"{name} {dtype}" + (" cuda" if device == "cuda" else "")
        if bar is not None:
            bar.set_postfix_str(f"{what}: {c} compiled", refresh=False)
            bar.update()
        elif not args.no_progress:
            print(f"[{i}/{len(tasks)}] {what}: {secs:.1f} s, {c} compiled, {n} loaded",
                  file=sys.stderr, flush=True)
    if bar is not None:
        bar.close()
    print(f"numtorch.warmup: {len(tasks)} workloads in {time.perf_counter() - t0:.1f} s, "
          f"{compiled} kernels compiled, {loaded} loaded; cache: {cache}",
          flush=True)


if __name__ == "__main__":
    main()
