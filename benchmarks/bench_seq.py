"""Sequence and attention benchmark: numtorch vs PyTorch CPU, side by side in one run.

    .venv/bin/python benchmarks/bench_seq.py [--quick] [--repeats 20] [--threads N]

Cases (each a training step: forward, loss, backward, Adam; attention: forward and backward):
  LSTM LM     embedding(100, 256) -> 2-layer LSTM(256, hidden 256) -> linear(256, 100),
              cross-entropy; seq 64, batch 32
  GRU LM      the same with a GRU
  GPT block   one pre-norm block (d 128, 4 heads, causal F.scaled_dot_product_attention, GELU
              MLP 4x), mean-square loss; seq 128, batch 16
  SDPA        F.scaled_dot_product_attention(q, k, v, is_causal) forward + backward, q, k, v
              (2, 4, L, 64), L = 128, 512, 2048 (--quick: 128, 512), causal and not

Each framework runs a case in its own worker process (the other one's idle thread pools then do
not compete for the cores, and memory is per framework); the two workers of a case take turns,
a few steps at a time, so that a change of load on the machine hits both alike. Times are per
step after two warm-up steps (compilation), best-of and median over --repeats steps.

Memory: the peak resident set size (Linux VmHWM, reset through /proc/self/clear_refs) during the
timed steps minus the resident size just before them, i.e. the memory a step adds at its peak
on top of the model, optimizer state and inputs. It is measured by a second pair of workers (two
steps each) in which glibc's mmap threshold is fixed at 64 KiB, so that freed buffers go back to
the system and the resident size follows what is live (both frameworks allocate large CPU
buffers through malloc). The timed workers run with each framework's own allocator settings
(numtorch keeps freed blocks in the heap, numtorch/_allocator.py; forcing the 64 KiB threshold on
them made numtorch's LSTM step 1.6x slower from page faults alone).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# --- the cases: one source for both frameworks (the same API) ----------------------------------


def rnn_lm(lib, cell):
    nn, F = lib.nn, lib.nn.functional
    V, H, T, B = 100, 256, 64, 32

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, H)
            self.rnn = getattr(nn, cell)(H, H, num_layers=2, batch_first=True)
            self.head = nn.Linear(H, V)

        def forward(self, x):
            return self.head(self.rnn(self.emb(x))[0])

    model = LM()
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    x, y = lib.randint(V, (B, T)), lib.randint(V, (B, T))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss.item()
    return step


def gpt_block(lib):
    nn, F = lib.nn, lib.nn.functional
    D, heads, T, B = 128, 4, 128, 16

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
            self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

        def forward(self, x):
            q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
            q, k, v = (t.view(B, T, heads, D // heads).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(B, T, D))
            return x + self.mlp(self.ln2(x))

    model = Block()
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    x, target = lib.randn(B, T, D), lib.randn(B, T, D)

    def step():
        opt.zero_grad()
        loss = F.mse_loss(model(x), target)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def sdpa(lib, L, causal):
    F = lib.nn.functional
    q, k, v = (lib.randn(2, 4, L, 64, requires_grad=True) for _ in range(3))
    grad = lib.randn(2, 4, L, 64)

    def step():
        for t in (q, k, v):
            t.grad = None
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        out.backward(grad)
        return q.grad[0, 0, 0, 0].item()
    return step


def build(lib, case):
    kind, *rest = case.split(":")
    if kind in ("LSTM", "GRU"):
        return rnn_lm(lib, kind)
    if kind == "GPT":
        return gpt_block(lib)
    return sdpa(lib, int(rest[0]), rest[1] == "causal")


def label(case):
    kind, *rest = case.split(":")
    if kind in ("LSTM", "GRU"):
        return f"{kind} LM step (h 256, seq 64, batch 32)"
    if kind == "GPT":
        return "GPT block step (d 128, 4 heads, seq 128, b 16)"
    return f"SDPA fwd+bwd L={rest[0]} {rest[1]}"


# --- the worker: one framework, one case, steps on request -------------------------------------
def rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def worker(lib_name, case):
    """Build the case, warm up, then answer ``run N`` with N step times and ``peak`` with the
    peak memory added by the steps so far (MiB); ``quit`` ends."""
    if lib_name == "numtorch":
        import numtorch as lib
    else:
        import torch as lib
    lib.manual_seed(0)
    step = build(lib, case)
    for _ in range(2):
        step()
    base = rss_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident size
    except OSError:
        base = None
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "run":
            times = []
            for _ in range(int(cmd[1])):
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
            print(json.dumps(times), flush=True)
        elif cmd[0] == "peak":
            print(json.dumps(None if base is None else (rss_kib("VmHWM") - base) / 1024),
                  flush=True)
        else:
            return


def start_worker(lib_name, case, threads, for_memory=False):
    env = dict(os.environ)
    if for_memory:
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    if threads:
        env.update(NUMBA_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                   OMP_NUM_THREADS=str(threads))
    p = subprocess.Popen([sys.executable, __file__, "--worker", lib_name, case], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for line in p.stdout:  # anything a library prints on import comes before "ready"
        if line.strip() == "ready":
            return p
    p.wait()
    raise RuntimeError(f"the {lib_name} worker for {case} failed (exit status {p.returncode})")


def ask(p, cmd):
    p.stdin.write(cmd + "\n")
    p.stdin.flush()
    return json.loads(p.stdout.readline())


def _stop(procs):
    for p in procs:
        try:
            p.stdin.write("quit\n")
            p.stdin.close()
        except OSError:
            pass
        p.wait()


#: seconds between one worker's turn and the other's: the threads a library leaves spinning after
#: its last parallel region (OpenBLAS's for ~0.1 s; bench_gemm waits 1 s) must go to sleep first,
#: or they take cores from the other's timed steps
SETTLE = 0.3


def run_case(case, libs, repeats, chunk):
    """Both workers up first, then turns of ``chunk`` steps each until ``repeats`` steps."""
    procs = {lib: start_worker(lib, case, ARGS.threads) for lib in libs}
    times = {lib: [] for lib in libs}
    try:
        while len(times[libs[0]]) < repeats:
            n = min(chunk, repeats - len(times[libs[0]]))
            for lib in libs:
                time.sleep(SETTLE)  # the other worker's spinning threads go to sleep
                times[lib] += ask(procs[lib], f"run {n}")
    finally:
        _stop(procs.values())
    peaks = {}
    for lib in libs:  # memory: one worker at a time, with the mmap threshold fixed (docstring)
        p = start_worker(lib, case, ARGS.threads, for_memory=True)
        try:
            ask(p, "run 2")
            peaks[lib] = ask(p, "peak")
        finally:
            _stop([p])
    return {lib: (min(t), statistics.median(t), peaks[lib]) for lib, t in times.items()}


def fmt_ms(t):
    return f"{t * 1e3:.1f}" if t is not None else "-"


def fmt_mib(m):
    return f"{m:.1f}" if m is not None else "-"


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="few repeats, SDPA at L = 128, 512 only")
    p.add_argument("--repeats", type=int, default=None, help="timed steps per case and framework "
                   "(default 20, --quick 5)")
    p.add_argument("--threads", type=int, default=0,
                   help="threads for both frameworks (NUMBA/OPENBLAS/OMP_NUM_THREADS; default: "
                        "each framework's own choice)")
    p.add_argument("--only", default=None, help="run the cases whose label contains this")
    p.add_argument("--worker", nargs=2, metavar=("LIB", "CASE"), help=argparse.SUPPRESS)
    ARGS = p.parse_args()
    if ARGS.worker:
        worker(*ARGS.worker)
        return
    repeats = ARGS.repeats or (5 if ARGS.quick else 20)
    chunk = max(1, repeats // 5)
    lengths = (128, 512) if ARGS.quick else (128, 512, 2048)
    cases = ["LSTM", "GRU", "GPT"] + [f"SDPA:{L}:{c}" for L in lengths
                                      for c in ("full", "causal")]
    if ARGS.only:
        cases = [c for c in cases if ARGS.only.lower() in label(c).lower()]
    try:
        import torch  # noqa: F401
        libs = ["numtorch", "torch"]
    except ImportError:
        libs = ["numtorch"]
    print(f"{repeats} timed steps per case after 2 warm-up steps; threads: "
          f"{ARGS.threads or 'default'}; memory: peak RSS added by a step (MiB)\n")
    cols = ["case", "numtorch best ms", "torch best ms", "ratio best", "numtorch median ms",
            "torch median ms", "ratio median", "numtorch peak MiB", "torch peak MiB"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for case in cases:
        res = run_case(case, libs, repeats, chunk)
        ours, theirs = res["numtorch"], res.get("torch", (None, None, None))
        ratio = [f"{ours[k] / theirs[k]:.2f}x" if theirs[k] else "-" for k in (0, 1)]
        row = [label(case), fmt_ms(ours[0]), fmt_ms(theirs[0]), ratio[0], fmt_ms(ours[1]),
               fmt_ms(theirs[1]), ratio[1], fmt_mib(ours[2]), fmt_mib(theirs[2])]
        print("| " + " | ".join(row) + " |", flush=True)
    print("\nratio: numtorch time / torch time (below 1: numtorch is faster)")


if __name__ == "__main__":
    main()
