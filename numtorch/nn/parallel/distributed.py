"""``DistributedDataParallel``: replicate a module on every rank and average its gradients.

At wrap time the parameters and buffers of rank 0 are broadcast to every rank. Gradients are
packed into flat buckets (reverse registration order, a small first bucket, then
``bucket_cap_mb``); a bucket's allreduce starts (non-blocking) from the post-accumulate-grad
hook of its last ready parameter, so it overlaps with the rest of backward, and buckets start in
the same order on every rank. The hook that starts the last bucket waits for all of them and
writes the averaged gradients back into ``.grad``.
"""
import contextlib
import time
import weakref

import numpy as np

from ... import distributed as dist
from ..._tensor import Tensor
from ... import _dtype as D
from ...autograd.graph import reached_leaves
from ...autograd.grad_mode import is_grad_enabled, no_grad
from ...ops import _core
from ..modules.module import Module

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1024 * 1024  # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES


def _flat_view(flat_t, offset, shape):
    n = int(np.prod(shape)) if shape else 1
    return flat_t._view_of(flat_t._data[offset:offset + n].reshape(shape))


def _broadcast_coalesced(tensors, src, pg):
    """Broadcast ``tensors`` from global rank ``src`` with one flat message per dtype."""
    by_dtype = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    with no_grad():
        for dt, ts in by_dtype.items():
            flat = _core.empty((sum(t.numel() for t in ts),), dt, ts[0].device)
            views, off = [], 0
            for t in ts:
                views.append(_flat_view(flat, off, tuple(t.shape)))
                off += t.numel()
            if dist.get_rank() == src:
                for v, t in zip(views, ts):
                    v.copy_(t.detach())
            dist.broadcast(flat, src, group=pg)
            for v, t in zip(views, ts):
                t.detach().copy_(v)  # shares t's version counter: the write bumps it


class _Bucket:
    __slots__ = ("dtype", "index", "params", "offsets", "flat", "views", "pending", "work")

    def __init__(self, dtype, params, sizes, device):
        self.dtype = dtype
        self.params = params  # parameter indices, in the order they sit in the flat buffer
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.flat = _core.empty((int(self.offsets[-1]),), dtype, device)
        _core.fill(self.flat, 0)
        self.views = []
        self.pending = len(params)
        self.work = None


def _assign_buckets(params, cap_bytes):
    """PyTorch's rule: walk parameters in reverse order, one open bucket per dtype; close it
    when it reaches its limit (1 MiB for the first bucket of a dtype, then ``cap_bytes``)."""
    open_, limits, done = {}, {}, []
    for i in reversed(range(len(params))):
        p = params[i]
        dt = p.dtype
        b = open_.setdefault(dt, [[], 0])
        b[0].append(i)
        b[1] += p.numel() * dt.itemsize
        limit = limits.get(dt, min(_FIRST_BUCKET_BYTES, cap_bytes))
        if b[1] >= limit:
            done.append(b[0])
            del open_[dt]
            limits[dt] = cap_bytes
    done.extend(b[0] for b in open_.values())
    return done


class _Reducer:
    """Bucketed gradient averaging driven by post-accumulate-grad hooks."""

    def __init__(self, params, names, bucket_cap_mb, find_unused, as_view, pg):
        self.params = params
        self.names = names
        self.pg = pg
        self.world = dist.get_world_size(pg)
        self.find_unused = find_unused
        self.as_view = as_view
        self.buckets = []
        self.loc = [None] * len(params)  # param index -> (bucket, position)
        for idx in _assign_buckets(params, int(bucket_cap_mb * 1024 * 1024)):
            b = _Bucket(params[idx[0]].dtype, idx, [params[i].numel() for i in idx],
                        params[idx[0]].device)
            for k, i in enumerate(idx):
                b.views.append(_flat_view(b.flat, int(b.offsets[k]), tuple(params[i].shape)))
                self.loc[i] = (len(self.buckets), k)
            b.index = len(self.buckets)
            self.buckets.append(b)
        self.ready = [False] * len(params)
        self.next_bucket = 0
        self.expect_hooks = False
        self.any_ready = False
        self.unused = []
        self.unused_marked = False
        self.used_map = None
        self.used_work = None
        # timing: seconds spent waiting for communication at the end of backward
        self.stats = {"iters": 0, "wait_s": 0.0, "launch_s": 0.0}
        ref = weakref.ref(self)
        self.handles = [p.register_post_accumulate_grad_hook(_make_hook(ref, i))
                        for i, p in enumerate(params)]

    # -- forward side --
    def prepare_for_backward(self, outputs):
        if self.expect_hooks and self.any_ready:
            missing = [i for i, r in enumerate(self.ready) if not r]
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a "
                "new one. This error indicates that your module has parameters that were not "
                "used in producing loss. You can enable unused parameter detection by passing "
                "the keyword argument `find_unused_parameters=True` to "
                "`torch.nn.parallel.DistributedDataParallel`, and by making sure all `forward` "
                "function outputs participate in calculating loss. If you already have done the "
                "above, then the distributed data parallel module wasn't able to locate the "
                "output tensors in the return value of your module's `forward` function. "
                f"Parameters which did not receive grad for rank {dist.get_rank()}: "
                f"{', '.join(self.names[i] for i in missing)}\nParameter indices which did not "
                f"receive grad for rank {dist.get_rank()}: {' '.join(map(str, missing))}")
        self._reset()
        self.expect_hooks = True
        if self.find_unused:
            reached = {id(t) for t in reached_leaves(outputs)}
            self.unused = [i for i, p in enumerate(self.params) if id(p) not in reached]
            self.used_map = np.array([id(p) in reached for p in self.params], np.int32)

    def _reset(self):
        for b in self.buckets:
            b.pending = len(b.params)
            b.work = None
        self.ready = [False] * len(self.params)
        self.next_bucket = 0
        self.any_ready = False
        self.unused = []
        self.unused_marked = False
        self.used_work = None
        self.expect_hooks = False

    # -- backward side --
    def on_grad_ready(self, i):
        if not self.expect_hooks:
            return  # no_sync(), or backward through a graph DDP's forward did not prepare
        if self.find_unused and not self.unused_marked:
            self.unused_marked = True
            t = Tensor._make(self.used_map, D.int32)
            self.used_work = dist._collectives._all_reduce_internal(t, self.pg, "ddp_unused_map")
            for j in self.unused:
                self._mark_ready(j)
        self._mark_ready(i)

    def _mark_ready(self, i):
        if self.ready[i]:
            raise RuntimeError(
                "Expected to mark a variable ready only once. This error is caused by one of the "
                "following reasons: 1) Use of a module parameter outside the `forward` function; "
                "2) Reused parameters in multiple reentrant backward passes; 3) backward called "
                f"twice after one forward. Parameter: {self.names[i]} (index {i})")
        self.ready[i] = True
        self.any_ready = True
        bi, k = self.loc[i]
        b = self.buckets[bi]
        p = self.params[i]
        view = b.views[k]
        with no_grad():
            if p.grad is None:
                view.zero_()
            elif p.grad._data is not view._data:
                view.copy_(p.grad)
                if self.as_view:
                    p.grad = view
        b.pending -= 1
        if b.pending == 0:
            self._launch()
        else:
            self._progress()

    def _progress(self):
        # MPI progresses only inside MPI calls: poke the started buckets from each hook
        for b in self.buckets[:self.next_bucket]:
            if b.work is not None:
                b.work.is_completed()

    def _launch(self):
        t0 = time.perf_counter()
        while self.next_bucket < len(self.buckets) and \
                self.buckets[self.next_bucket].pending == 0:
            b = self.buckets[self.next_bucket]
            if self.world > 1:
                with no_grad():
                    b.flat.div_(self.world)  # pre-divide: the SUM is then the average
                b.work = dist._collectives._all_reduce_internal(b.flat, self.pg, index=b.index)
            self.next_bucket += 1
        self.stats["launch_s"] += time.perf_counter() - t0
        if self.next_bucket == len(self.buckets):
            self._finalize()
        else:
            self._progress()

    def _finalize(self):
        t0 = time.perf_counter()
        for b in self.buckets:
            if b.work is not None:
                b.work.wait()
        used = None
        if self.used_work is not None:
            self.used_work.wait()
            used = self.used_map
        self.stats["wait_s"] += time.perf_counter() - t0
        self.stats["iters"] += 1
        with no_grad():
            for i, p in enumerate(self.params):
                bi, k = self.loc[i]
                view = self.buckets[bi].views[k]
                if p.grad is None:
                    if used is not None and used[i] == 0:
                        continue  # unused on every rank: keep None, like PyTorch
                    p.grad = view if self.as_view else view.clone()
                elif p.grad._data is not view._data:
                    p.grad.copy_(view)
                else:
                    p.grad._ver[0] += 1
        self._reset()

    def remove(self):
        for h in self.handles:
            h.remove()
        self.handles = []


def _make_hook(ref, i):
    def hook(param):
        r = ref()
        if r is not None:
            r.on_grad_ready(i)
    return hook


class DistributedDataParallel(Module):
    """Data parallelism over ``numtorch.distributed``: wrap the model, train as usual.

    >>> import numtorch as torch, numtorch.distributed as dist
    >>> from numtorch.nn.parallel import DistributedDataParallel as DDP
    >>> dist.init_process_group("mpi")                   # doctest: +SKIP
    >>> model = DDP(torch.nn.Linear(4, 2))                # doctest: +SKIP
    >>> model(torch.randn(8, 4)).sum().backward()         # grads averaged  # doctest: +SKIP
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0,
                 broadcast_buffers=True, process_group=None, bucket_cap_mb=None,
                 find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, **kwargs):
        super().__init__()
        if not dist.is_initialized():
            raise RuntimeError("Default process group has not been initialized, please make "
                               "sure to call init_process_group.")
        devices = {p.device for p in module.parameters()}
        if len(devices) > 1:
            raise ValueError("DistributedDataParallel's input module must be on the same type of "
                             f"devices, but input module parameters are located in {devices}.")
        self.module = module
        self.device_ids = device_ids
        self.broadcast_buffers = broadcast_buffers
        self.process_group = process_group
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.require_backward_grad_sync = True
        self.bucket_cap_mb = 25 if bucket_cap_mb is None else bucket_cap_mb
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._params = [p for _, p in named]
        self._verify_same_model(named)
        states = [p for _, p in module.named_parameters()] + [b for _, b in module.named_buffers()]
        if dist.get_world_size(process_group) > 1 and states:
            _broadcast_coalesced(states, dist.get_global_rank(process_group, 0), process_group)
        self.reducer = _Reducer(self._params, [n for n, _ in named], self.bucket_cap_mb,
                                find_unused_parameters, gradient_as_bucket_view, process_group)

    def _verify_same_model(self, named):
        import zlib
        desc = ";".join(f"{tuple(p.shape)}:{p.dtype}" for _, p in named).encode()
        mine = [len(named), sum(p.numel() for _, p in named), zlib.crc32(desc)]
        allv = [None] * dist.get_world_size(self.process_group)
        dist.all_gather_object(allv, mine, group=self.process_group)
        if any(v != allv[0] for v in allv):
            ranks = dist.get_process_group_ranks(self.process_group)
            detail = "; ".join(f"rank {ranks[r]}: {v[0]} parameters, {v[1]} elements"
                               for r, v in enumerate(allv))
            raise RuntimeError("DistributedDataParallel: the model differs across ranks (every "
                               f"rank must wrap the same architecture): {detail}")

    def forward(self, *inputs, **kwargs):
        if self.broadcast_buffers and dist.get_world_size(self.process_group) > 1:
            bufs = [b for _, b in self.module.named_buffers()]
            if bufs:
                _broadcast_coalesced(bufs, dist.get_global_rank(self.process_group, 0),
                                     self.process_group)
        out = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync:
            self.reducer.prepare_for_backward(out)
        else:
            self.reducer.expect_hooks = False
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Skip gradient communication inside the context (gradients accumulate locally); the
        first backward after it averages the accumulated gradients.

        >>> with ddp.no_sync():                          # doctest: +SKIP
        ...     ddp(x1).sum().backward()
        >>> ddp(x2).sum().backward()                     # averages x1 + x2  # doctest: +SKIP
        """
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def __del__(self):
        try:
            self.reducer.remove()
        except Exception:
            pass
