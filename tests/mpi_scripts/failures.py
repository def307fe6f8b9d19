"""Jobs that must fail on every rank, quickly and with a clear message.

    mpiexec -n N python tests/mpi_scripts/failures.py MODE

MODE: raise (rank 1 raises mid-training), mismatch (ranks all_reduce different shapes),
timeout (rank 1 never joins a collective; timeout=2 s), unused (DDP without
find_unused_parameters on a model with an unused parameter), before_import (rank 1 raises
before importing numtorch), before_init (rank 1 raises before init_process_group),
after_init (rank 1 raises right after it), stuck_in_init (rank 1 starts MPI but never calls
init_process_group: rank 0 waits in MPI_Comm_dup), uneven (DDP with uneven steps: rank 0 reaches
barrier() while rank 1 runs one more step). The start-up modes use timeout=3 s."""
import os
import sys
import time

mode = sys.argv[1]
_rank = os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
if mode == "before_import" and _rank == "1":
    raise RuntimeError("rank 1 fails before importing numtorch")
if mode == "stuck_in_init" and _rank == "1":  # MPI started, but init_process_group never comes
    from mpi4py import MPI  # noqa: F401
    print("rank 1 fails to reach init_process_group", flush=True)
    time.sleep(60)

import numtorch as torch  # noqa: E402
import numtorch.distributed as dist  # noqa: E402
import numtorch.nn as nn  # noqa: E402
import numtorch.nn.functional as F  # noqa: E402
from numtorch.nn.parallel import DistributedDataParallel as DDP  # noqa: E402

if mode == "before_init" and _rank == "1":
    raise RuntimeError("rank 1 fails before init_process_group")
_startup = mode in ("before_import", "before_init", "after_init", "stuck_in_init")
dist.init_process_group("mpi", timeout=2.0 if mode == "timeout" else 3.0 if _startup else 60.0)
r, n = dist.get_rank(), dist.get_world_size()
if mode == "after_init" and r == 1:
    raise RuntimeError("rank 1 fails right after init_process_group")

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
elif mode == "uneven":
    torch.manual_seed(0)
    model = DDP(nn.Linear(64, 64))
    for step in range(1 + r):  # rank 1 runs one step more than rank 0
        model(torch.randn(4, 64)).sum().backward()
    dist.barrier()
else:
    dist.barrier()  # before_import / before_init / after_init: rank 0 waits for the others
print(f"rank {r}: no error (unexpected)", flush=True)
