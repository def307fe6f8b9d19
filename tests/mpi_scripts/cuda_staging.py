"""Collectives and DDP on CUDA tensors (staged through host buffers); Numba's CUDA simulator
stands in for a GPU in CI.

    NUMBA_ENABLE_CUDASIM=1 mpiexec -n N python tests/mpi_scripts/cuda_staging.py
"""
import numpy as np

import numtorch as torch
import numtorch.distributed as dist
import numtorch.nn as nn
import numtorch.nn.functional as F
from numtorch.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
ranks = np.arange(n, dtype=np.float32)


def check(t, expect, what):
    assert t.device.type == "cuda", f"{what}: result left the GPU ({t.device})"
    np.testing.assert_allclose(t.cpu().numpy(), expect, rtol=1e-6, err_msg=what)


t = torch.full((2, 3), float(r + 1), device="cuda")
dist.all_reduce(t)
check(t, np.full((2, 3), (ranks + 1).sum()), "all_reduce SUM")
t = torch.full((3, 2), float(r + 1), device="cuda").t()  # a strided view is staged, written back
dist.all_reduce(t, op=dist.ReduceOp.AVG)
check(t, np.full((2, 3), (ranks + 1).mean()), "all_reduce AVG of a view")
t = torch.tensor([float(r)] * 4, device="cuda")
dist.broadcast(t, src=n - 1)
check(t, np.full(4, n - 1.0), "broadcast")
outs = [torch.zeros(2, device="cuda") for _ in range(n)]
dist.all_gather(outs, torch.tensor([r, 10.0 * r], device="cuda"))
for k, o in enumerate(outs):
    check(o, [k, 10.0 * k], f"all_gather[{k}]")
w = dist.all_reduce(torch.ones(5, device="cuda"), async_op=True)
w.wait()

# DDP on the GPU: the same parameters as one process on the whole batch
B = 4 * n
g = torch.Generator().manual_seed(7)
x, y = torch.randn(B, 6, generator=g), torch.randint(0, 3, (B,), generator=g)
torch.manual_seed(0 if r == 0 else 50 + r)  # DDP broadcasts rank 0's weights
net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)).cuda()
ddp = DDP(net, bucket_cap_mb=0.00005)
assert len(ddp.reducer.buckets) > 1
opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
torch.manual_seed(0)
ref = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
ropt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
for _ in range(3):
    opt.zero_grad()
    F.cross_entropy(ddp(x[r::n].cuda()), y[r::n].cuda()).backward()
    opt.step()
    ropt.zero_grad()
    F.cross_entropy(ref(x), y).backward()
    ropt.step()
for (k, p), q in zip(net.state_dict().items(), ref.state_dict().values()):
    assert p.device.type == "cuda", k
    np.testing.assert_allclose(p.cpu().numpy(), q.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
dist.destroy_process_group()
print(f"rank {r} ok", flush=True)
