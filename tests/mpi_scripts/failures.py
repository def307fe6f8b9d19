"""Jobs that must fail on every rank, quickly and with a clear message.

    mpiexec -n N python tests/mpi_scripts/failures.py MODE

MODE: raise (rank 1 raises mid-training), mismatch (ranks all_reduce different shapes),
timeout (rank 1 never joins a collective; timeout=2 s), unused (DDP without
find_unused_parameters on a model with an unused parameter)."""
import sys
import time

import numtorch as torch
import numtorch.distributed as dist
import numtorch.nn as nn
import numtorch.nn.functional as F
from numtorch.nn.parallel import DistributedDataParallel as DDP

mode = sys.argv[1]
dist.init_process_group("mpi", timeout=2.0 if mode == "timeout" else 60.0)
r, n = dist.get_rank(), dist.get_world_size()

if mode == "raise":
    model = DDP(nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(1000):
        if r == 1 and step == 3:
            raise ValueError("rank 1 fails on purpose")
        opt.zero_grad()
        model(torch.randn(4, 4)).sum().backward()
        opt.step()
elif mode == "mismatch":
    dist.all_reduce(torch.zeros(3 + r, 2))
elif mode == "timeout":
    if r == 1:
        time.sleep(60)  # a stuck rank: the others must give up after the timeout
    dist.all_reduce(torch.zeros(4))
elif mode == "unused":
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 2)
            self.b = nn.Linear(4, 2)  # not used

        def forward(self, x):
            return self.a(x)
    model = DDP(Net())
    for step in range(3):
        F.mse_loss(model(torch.randn(2, 4)), torch.zeros(2, 2)).backward()
print(f"rank {r}: no error (unexpected)", flush=True)
