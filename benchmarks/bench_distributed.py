"""Distributed benchmarks: all_reduce overhead vs raw mpi4py, and DDP step time and overlap.

    python benchmarks/bench_distributed.py            # driver: launches the mpiexec runs below
    mpiexec -n 2 python benchmarks/bench_distributed.py --worker allreduce
    mpiexec -n 2 python benchmarks/bench_distributed.py --worker ddp [--batch 64 --steps 20]

allreduce: float32 buffers of 1-256 MB; raw ``comm.Allreduce(IN_PLACE)`` on a NumPy array vs
``numtorch.distributed.all_reduce`` on a tensor over the same kind of buffer (signature check on,
the default, and off). ddp: the Fashion-MNIST CNN of examples/, random data, ``batch`` images per
rank; the step time, and how much of the gradient allreduce was hidden behind backward
(1 - exposed wait at the end of backward / time of the same bucket allreduces run alone).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _med(f, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def worker_allreduce():
    import numpy as np
    import numtorch as torch
    import numtorch.distributed as dist
    from numtorch.distributed import _core
    from mpi4py import MPI
    dist.init_process_group("mpi")
    comm = MPI.COMM_WORLD
    r = dist.get_rank()
    if r == 0:
        print(f"{'size':>8} {'mpi4py ms':>10} {'numtorch ms':>12} {'overhead':>9} "
              f"{'no-check ms':>12} {'overhead':>9} {'algbw GB/s':>11}")
    for mb in (1, 4, 16, 64, 256):
        n = mb * 1024 * 1024 // 4
        a = np.ones(n, np.float32)
        t = torch.ones(n)
        reps = max(5, min(200, 2000 // mb))
        for _ in range(2):  # warm up both paths (page faults, MPI's shm setup)
            comm.Allreduce(MPI.IN_PLACE, a)
            dist.all_reduce(t)
        # interleave the three variants so drift hits them alike
        raw, ours, nochk = [], [], []
        for _ in range(reps):
            comm.Barrier()
            raw.append(_med(lambda: comm.Allreduce(MPI.IN_PLACE, a), 1))
            comm.Barrier()
            _core._check_enabled[0] = True
            ours.append(_med(lambda: dist.all_reduce(t), 1))
            comm.Barrier()
            _core._check_enabled[0] = False
            nochk.append(_med(lambda: dist.all_reduce(t), 1))
        _core._check_enabled[0] = True
        m_raw, m_ours, m_no = (statistics.median(x) for x in (raw, ours, nochk))
        if r == 0:
            print(f"{mb:>6}MB {1e3 * m_raw:>10.3f} {1e3 * m_ours:>12.3f} "
                  f"{100 * (m_ours / m_raw - 1):>8.1f}% {1e3 * m_no:>12.3f} "
                  f"{100 * (m_no / m_raw - 1):>8.1f}% {mb * 1.048576e-3 / m_raw:>11.2f}",
                  flush=True)
    dist.destroy_process_group()


def worker_ddp(batch, steps):
    sys.path.insert(0, os.path.join(HERE, "..", "examples"))
    import numtorch as torch
    import numtorch.distributed as dist
    import numtorch.nn.functional as F
    from numtorch.nn.parallel import DistributedDataParallel as DDP
    from train_fashion_mnist import CNN
    dist.init_process_group("mpi")
    r, n = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(r)
    xs = [torch.randn(batch, 1, 28, 28, generator=g) for _ in range(4)]
    ys = [torch.randint(0, 10, (batch,), generator=g) for _ in range(4)]

    def run(model, k):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        ts = []
        for s in range(k):
            dist.barrier()
            t0 = time.perf_counter()
            opt.zero_grad()
            F.cross_entropy(model(xs[s % 4]), ys[s % 4]).backward()
            opt.step()
            ts.append(time.perf_counter() - t0)
        return ts

    plain = CNN()
    run(plain, 3)
    t_plain = statistics.median(run(plain, steps))
    model = DDP(CNN())
    run(model, 3)
    red = model.reducer
    red.stats.update(iters=0, wait_s=0.0, launch_s=0.0)
    t_ddp = statistics.median(run(model, steps))
    exposed = red.stats["wait_s"] / max(red.stats["iters"], 1)
    # the same bucket allreduces alone, back to back (what backward would wait for with no overlap)
    alone = []
    for _ in range(steps):
        dist.barrier()
        t0 = time.perf_counter()
        ws = [dist._collectives._all_reduce_internal(b.flat) for b in red.buckets]
        for w in ws:
            w.wait()
        alone.append(time.perf_counter() - t0)
    t_alone = statistics.median(alone)
    sizes = [b.flat.numel() * 4 / 2 ** 20 for b in red.buckets]
    if r == 0:
        hidden = max(0.0, 1 - exposed / t_alone) if n > 1 else float("nan")
        print(f"ranks={n} batch/rank={batch}: plain step {1e3 * t_plain:.1f} ms, DDP step "
              f"{1e3 * t_ddp:.1f} ms, {n * batch / t_ddp:.0f} img/s; buckets "
              f"{', '.join(f'{s:.2f}' for s in sizes)} MB; allreduce alone "
              f"{1e3 * t_alone:.2f} ms, exposed wait {1e3 * exposed:.2f} ms, hidden "
              f"{100 * hidden:.0f}%", flush=True)
    dist.destroy_process_group()


def driver(args):
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    me = os.path.abspath(__file__)
    runs = [] if args.skip_allreduce else [(2, ["--worker", "allreduce"])]
    runs += [
        (1, ["--worker", "ddp", "--batch", str(args.batch), "--steps", str(args.steps)]),
        (2, ["--worker", "ddp", "--batch", str(args.batch), "--steps", str(args.steps)])]
    for n, extra in runs:
        print(f"$ mpiexec -n {n} python {os.path.relpath(me)} {' '.join(extra)}", flush=True)
        # one share of the cores per rank: more threads than cores make every rank's Numba /
        # OpenBLAS workers spin against each other (a 2-rank step ran 10x slower on 2 cores)
        k = str(max(1, (os.cpu_count() or 1) // n))
        env = dict(os.environ, NUMBA_NUM_THREADS=k, OMP_NUM_THREADS=k, OPENBLAS_NUM_THREADS=k)
        subprocess.run([mpiexec, "-n", str(n), sys.executable, me, *extra], check=True,
                       timeout=900, env=env)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", choices=["allreduce", "ddp"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--skip-allreduce", action="store_true")
    args = p.parse_args()
    if args.worker == "allreduce":
        worker_allreduce()
    elif args.worker == "ddp":
        worker_ddp(args.batch, args.steps)
    else:
        driver(args)


if __name__ == "__main__":
    main()
