"""DDP on N ranks (each on its shard of the batch) vs one process on the whole batch.

    mpiexec -n N python tests/mpi_scripts/ddp_train.py OUT

For each configuration, saves OUT/<config>-rank<r>.npz (the DDP parameters after training) and,
on rank 0, OUT/<config>-ref.npz (the single-process reference)."""
import os
import sys

import numpy as np

import numtorch as torch
import numtorch.distributed as dist
import numtorch.nn as nn
import numtorch.nn.functional as F
from numtorch.nn.parallel import DistributedDataParallel as DDP

out_dir = sys.argv[1]
dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
B = 6 * n  # batch divisible by the world size: the mean of shard means is the batch mean


class Net(nn.Module):
    def __init__(self, unused=False):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.fc1 = nn.Linear(2 * 4 * 4, 16)
        self.fc2 = nn.Linear(16, 3)
        if unused:
            self.extra = nn.Linear(16, 3)  # never used in forward

    def forward(self, x):
        x = F.relu(self.conv(x)).flatten(1)
        return self.fc2(F.relu(self.fc1(x)))


def data(step):
    g = torch.Generator().manual_seed(1000 + step)
    return torch.randn(B, 1, 4, 4, generator=g), torch.randint(0, 3, (B,), generator=g)


def make_opt(kind, params):
    if kind == "sgd":
        return torch.optim.SGD(params, lr=0.1, momentum=0.9)
    return torch.optim.Adam(params, lr=0.01)


def train(model, opt, steps, shard, micro, wrapper=None):
    for s in range(steps):
        x, y = data(s)
        if shard:
            x, y = x[r::n], y[r::n]
        opt.zero_grad()
        chunks = list(zip(x.chunk(micro), y.chunk(micro)))
        for k, (xc, yc) in enumerate(chunks):
            last = k == len(chunks) - 1
            ctx = wrapper.no_sync() if (wrapper is not None and not last) else _null()
            with ctx:
                F.cross_entropy(model(xc), yc).backward()
        opt.step()


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


CONFIGS = {
    # name: (optimizer, DDP kwargs, micro-batches, unused parameter)
    "sgd": ("sgd", {}, 1, False),
    "adam_buckets": ("adam", {"bucket_cap_mb": 0.0005}, 1, False),
    "sgd_view_buckets": ("sgd", {"bucket_cap_mb": 0.001, "gradient_as_bucket_view": True}, 1,
                         False),
    "nosync": ("sgd", {"bucket_cap_mb": 0.0005}, 2, False),
    "adam_nosync_view": ("adam", {"gradient_as_bucket_view": True}, 2, False),
    "unused": ("sgd", {"find_unused_parameters": True, "bucket_cap_mb": 0.0005}, 1, True),
}
STEPS = 3

for name, (okind, kw, micro, unused) in CONFIGS.items():
    torch.manual_seed(0 if r == 0 else 100 + r)  # DDP must broadcast rank 0's initial weights
    net = Net(unused)
    ddp = DDP(net, **kw)
    if "bucket_cap_mb" in kw:
        assert len(ddp.reducer.buckets) > 1, len(ddp.reducer.buckets)
    train(ddp, make_opt(okind, ddp.parameters()), STEPS, True, micro, ddp)
    sd = {k: v.detach().numpy() for k, v in ddp.state_dict().items()}
    assert all(k.startswith("module.") for k in sd)
    if unused:
        assert net.extra.weight.grad is None and net.extra.bias.grad is None
    np.savez(os.path.join(out_dir, f"{name}-rank{r}.npz"), **sd)
    if r == 0:
        torch.manual_seed(0)
        ref = Net(unused)
        train(ref, make_opt(okind, ref.parameters()), STEPS, False, micro)
        np.savez(os.path.join(out_dir, f"{name}-ref.npz"),
                 **{"module." + k: v.detach().numpy() for k, v in ref.state_dict().items()})
    dist.barrier()

dist.destroy_process_group()
print(f"rank {r} ok", flush=True)
