"""Run every collective once per op/dtype and save what this rank got to OUT/rank<r>.npz.

    mpiexec -n N python tests/mpi_scripts/collectives.py OUT
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numtorch as torch  # noqa: E402
import numtorch.distributed as dist  # noqa: E402
from _inputs import OPS, DTYPES, rank_data  # noqa: E402

out_dir = sys.argv[1]
dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
res = {}


def T(a):
    return torch.from_numpy(np.array(a))


for dt in DTYPES:
    for op in OPS:
        t = T(rank_data(r, f"ar-{op}-{dt}", dtype=dt))
        v0 = t._version
        dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
        assert t._version > v0
        res[f"all_reduce-{op}-{dt}"] = t.numpy()
        t = T(rank_data(r, f"aar-{op}-{dt}", dtype=dt))
        w = dist.all_reduce(t, op=getattr(dist.ReduceOp, op), async_op=True)
        w.wait()
        assert w.is_completed()
        res[f"async_all_reduce-{op}-{dt}"] = t.numpy()
        t = T(rank_data(r, f"red-{op}-{dt}", dtype=dt))
        dist.reduce(t, dst=n - 1, op=getattr(dist.ReduceOp, op))
        res[f"reduce-{op}-{dt}"] = t.numpy()
    for op in ("SUM", "MAX"):
        x = T(rank_data(r, f"rs-{op}-{dt}", shape=(n * 2, 3), dtype=dt))
        o = T(np.zeros((2, 3), dt))
        dist.reduce_scatter_tensor(o, x, op=getattr(dist.ReduceOp, op))
        res[f"reduce_scatter_tensor-{op}-{dt}"] = o.numpy()

# non-contiguous tensor: staged through a contiguous buffer and written back
base = T(rank_data(r, "nc", shape=(4, 6)))
view = base[:, ::2]
dist.all_reduce(view)
res["noncontig"] = base.numpy()

t = T(rank_data(r, "bc")) if r == 1 else torch.zeros(3, 4)
dist.broadcast(t, src=1)
res["broadcast"] = t.numpy()
t = T(rank_data(r, "abc")) if r == 0 else torch.zeros(3, 4)
dist.broadcast(t, src=0, async_op=True).wait()
res["async_broadcast"] = t.numpy()

lst = [torch.zeros(3, 4) for _ in range(n)]
dist.all_gather(lst, T(rank_data(r, "ag")))
res["all_gather"] = np.stack([x.numpy() for x in lst])
o = torch.zeros(n * 3, 4)
w = dist.all_gather_into_tensor(o, T(rank_data(r, "agt")), async_op=True)
w.wait()
res["all_gather_into_tensor"] = o.numpy()

gl = [torch.zeros(3, 4) for _ in range(n)] if r == 0 else None
dist.gather(T(rank_data(r, "ga")), gl, dst=0)
if r == 0:
    res["gather"] = np.stack([x.numpy() for x in gl])
t = torch.zeros(3, 4)
dist.scatter(t, [T(rank_data(k, "sc")) for k in range(n)] if r == 0 else None, src=0)
res["scatter"] = t.numpy()

# point to point: a ring, blocking and async
t = torch.zeros(3, 4)
if r % 2 == 0:
    dist.send(T(rank_data(r, "p2p")), dst=(r + 1) % n)
    src = dist.recv(t, src=(r - 1) % n)
else:
    src = dist.recv(t)
    dist.send(T(rank_data(r, "p2p")), dst=(r + 1) % n)
assert src == (r - 1) % n, src
res["sendrecv"] = t.numpy()
t = torch.zeros(3, 4)
ws = [dist.isend(T(rank_data(r, "ip2p")), dst=(r + 1) % n),
      dist.irecv(t, src=(r - 1) % n)]
for w in ws:
    w.wait()
res["isendrecv"] = t.numpy()

# objects
objs = [{"rank": r, "s": "x" * r}, [r] * 3] if r == 0 else [None, None]
dist.broadcast_object_list(objs, src=0)
assert objs == [{"rank": 0, "s": ""}, [0, 0, 0]], objs
gathered = [None] * n
dist.all_gather_object(gathered, ("r", r, list(range(r))))
assert gathered == [("r", k, list(range(k))) for k in range(n)], gathered

# sub-group of ranks {0, n-1}
g = dist.new_group([0, n - 1])
t = T(rank_data(r, "grp"))
dist.all_reduce(t, group=g)
res["group_all_reduce"] = t.numpy()
if r in (0, n - 1):
    assert dist.get_world_size(g) == 2 and dist.get_rank(g) == (0 if r == 0 else 1)
    t = T(rank_data(r, "grpbc")) if r == n - 1 else torch.zeros(3, 4)
    dist.broadcast(t, src=n - 1, group=g)
    res["group_broadcast"] = t.numpy()
    ol = [None, None]
    dist.all_gather_object(ol, r, group=g)
    assert ol == [0, n - 1]
else:
    assert dist.get_rank(g) == -1

dist.barrier()
np.savez(os.path.join(out_dir, f"rank{r}.npz"), **res)
dist.barrier()
dist.destroy_process_group()
print(f"rank {r} ok", flush=True)
