"""One rank of a 2-rank job that fails on purpose (run by tests/test_fuzz.py under mpiexec).

    mpiexec -n 2 python tests/fuzz/mpi_faults.py MODE

MODE says where rank 1 fails (the exception texts name no rank: the test looks for the rank
in what numtorch or the launcher reports):

- ``before_init``       raises before ``init_process_group``; rank 0 inits and all_reduces;
- ``after_init``        raises right after ``init_process_group``; rank 0 all_reduces;
- ``ddp_backward``      raises inside a DDP backward (a tensor hook) at the third step;
- ``after_last_step``   raises after the last step; rank 0 finishes and prints that it did;
- ``other_collective``  calls broadcast while rank 0 calls all_reduce;
- ``other_collective_unchecked``  the same with NUMTORCH_DISTRIBUTED_DEBUG=OFF (no signature
                        check) and a 3 s collective timeout.
"""
import os
import sys

import numtorch as torch
import numtorch.distributed as dist
import numtorch.nn as nn
from numtorch.nn.parallel import DistributedDataParallel as DDP

mode = sys.argv[1]
launched_rank = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))


class Failure(RuntimeError):
    pass


def train(model, steps, fail_at=None):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(steps):
        opt.zero_grad()
        x = torch.ones(4, 4) * (step + 1)
        out = model(x)
        if fail_at == step:
            def boom(grad):
                raise Failure("a backward hook fails on purpose")
            out.register_hook(boom)
        out.sum().backward()
        opt.step()


if mode == "before_init":
    if launched_rank == 1:
        raise Failure("failing on purpose before init_process_group")
    dist.init_process_group("mpi")
    dist.all_reduce(torch.ones(3))
elif mode == "after_init":
    dist.init_process_group("mpi")
    if dist.get_rank() == 1:
        raise Failure("failing on purpose right after init_process_group")
    dist.all_reduce(torch.ones(3))
elif mode == "ddp_backward":
    dist.init_process_group("mpi")
    torch.manual_seed(0)
    train(DDP(nn.Linear(4, 2)), 6, fail_at=2 if dist.get_rank() == 1 else None)
elif mode == "after_last_step":
    dist.init_process_group("mpi")
    torch.manual_seed(0)
    train(DDP(nn.Linear(4, 2)), 3)
    if dist.get_rank() == 1:
        raise Failure("failing on purpose after the last step")
    print(f"rank {dist.get_rank()} finished its steps", flush=True)
elif mode in ("other_collective", "other_collective_unchecked"):
    dist.init_process_group("mpi", timeout=3.0 if mode.endswith("unchecked") else None)
    t = torch.ones(3)
    if dist.get_rank() == 1:
        dist.broadcast(t, src=0)
    else:
        dist.all_reduce(t)
else:
    raise SystemExit(f"unknown mode {mode}")
if mode != "after_last_step":
    print(f"rank {launched_rank}: no error (unexpected)", flush=True)
