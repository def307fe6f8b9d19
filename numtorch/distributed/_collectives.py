"""Collectives on tensors (in place, like PyTorch) and on picklable objects.

Each collective: check the cross-rank signature (debug mode), take zero-copy host buffers of the
tensors, start a non-blocking MPI operation, and either return a ``Work`` (``async_op=True``) or
wait with the group's deadline. Group arguments ``src``/``dst`` are global ranks (PyTorch's rule).
"""
import pickle

import numpy as np

from ._core import (ReduceOp, Work, _as_op, _check_signature, _group, _mpi, _mpi_op, _mpi_type,
                    _run, _start_signature_check, _wait)

__all__ = ["all_reduce", "broadcast", "reduce", "all_gather", "all_gather_into_tensor",
           "reduce_scatter_tensor", "reduce_scatter", "all_to_all_single", "gather", "scatter",
           "send", "recv", "isend", "irecv", "barrier", "broadcast_object_list",
           "all_gather_object", "gather_object", "scatter_object_list"]


# --- host buffers -------------------------------------------------------------------------------
class _Buf:
    """The host array MPI reads/writes for a tensor, and how to write it back.

    CPU tensors: the tensor's own C-contiguous NumPy array (zero-copy); a non-contiguous tensor
    is staged through a contiguous copy. CUDA tensors are staged through host memory the same
    way: downloaded before the collective (when it reads them), uploaded in ``writeback``; the
    caller does not see the difference. (Passing device pointers to a CUDA-aware MPI instead
    is not implemented: it needs a GPU to test.)"""
    __slots__ = ("tensor", "arr", "staged")

    def __init__(self, tensor, read=True):
        from .._tensor import Tensor
        if not isinstance(tensor, Tensor):
            raise TypeError(f"expected a numtorch Tensor, got {type(tensor).__name__}")
        self.tensor = tensor
        a = tensor._data
        if tensor.device.type != "cpu":
            from ..ops import _core
            self.arr = _core.to_host(tensor.contiguous()._data, tensor.device) if read else \
                np.empty(tuple(a.shape), a.dtype)
            self.staged = True
        elif a.flags.c_contiguous:
            self.arr, self.staged = a, False
        else:
            self.arr = np.ascontiguousarray(a) if read else np.empty(a.shape, a.dtype)
            self.staged = True

    def spec(self):
        return [self.arr, _mpi_type(self.arr.dtype)]

    def writeback(self):
        """Copy a staged buffer into the tensor and bump its version (it was written in place)."""
        t = self.tensor
        if self.staged:
            from ..ops import _core
            src = _core.to_device(self.arr, t.device)  # (on the CPU: self.arr itself)
            _core.kernels(t.device).elementwise.cast(src, t._data)
        t._ver[0] += 1


def _avg(buf, n):
    """Divide in place by the group size (AVG = SUM then divide); integers floor-divide."""
    from ..autograd.grad_mode import no_grad
    from .._tensor import Tensor
    from .. import _dtype as D
    t = Tensor._make(buf.arr, D.from_numpy(buf.arr.dtype))
    with no_grad():
        if buf.arr.dtype.kind == "f":
            t.div_(n)
        elif buf.arr.dtype.kind in "iu":
            t.floor_divide_(n)


def _finisher(outs, op=None, n=1, after=None):
    def finish():
        if op is ReduceOp.AVG:
            for b in outs:
                _avg(b, n)
        for b in outs:
            b.writeback()
        if after is not None:
            after()
    return finish


# --- tensor collectives ---------------------------------------------------------------------------
def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` across ranks in place (every rank gets the result).

    >>> t = torch.ones(3) * (dist.get_rank() + 1)   # doctest: +SKIP
    >>> dist.all_reduce(t, op=dist.ReduceOp.SUM)     # doctest: +SKIP
    """
    g = _group(group)
    if g is None:
        return None
    op = _as_op(op)
    b = _Buf(tensor)
    _check_signature(g, "all_reduce", b.arr, op.code)
    MPI = _mpi()
    req = g.comm.Iallreduce(MPI.IN_PLACE, b.spec(), _mpi_op(op, b.arr.dtype))
    return _run([req], "all_reduce", g, async_op, _finisher([b], op, g.size()), tensor)


def _all_reduce_internal(tensor, group=None, what="ddp_bucket", index=-1):
    """SUM-allreduce started now (DDP's buckets, ``index`` = the bucket, and its
    unused-parameter map); returns the Work. Its signature exchange starts just before it and
    is checked when the Work is tested or waited for, so it never delays the allreduce, and a
    rank in another collective (uneven steps) gets an error naming both calls."""
    g = _group(group)
    b = _Buf(tensor)
    check = _start_signature_check(g, what, b.arr, index)
    req = g.comm.Iallreduce(_mpi().IN_PLACE, b.spec(), _mpi_op(ReduceOp.SUM, b.arr.dtype))
    label = f"all_reduce (bucket {index} of DistributedDataParallel)" if what == "ddp_bucket" \
        else "all_reduce (unused-parameter map of DistributedDataParallel)"
    return Work([req], label, g, b.writeback, tensor, check=check)


def broadcast(tensor, src=0, group=None, async_op=False):
    """Copy ``tensor`` of global rank ``src`` into ``tensor`` of every rank.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> t = torch.tensor([float(dist.get_rank())])  # doctest: +SKIP
    >>> dist.broadcast(t, src=0)  # doctest: +SKIP
    >>> t   # on every rank  # doctest: +SKIP
    tensor([0.])
    """
    g = _group(group)
    if g is None:
        return None
    root = g.group_rank(src)
    b = _Buf(tensor)
    _check_signature(g, "broadcast", b.arr, src)
    req = g.comm.Ibcast(b.spec(), root)
    outs = [b] if g.rank() != root else []
    return _run([req], "broadcast", g, async_op, _finisher(outs), tensor)


def reduce(tensor, dst=0, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` of every rank into ``tensor`` of global rank ``dst``.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> t = torch.tensor([dist.get_rank() + 1.0])  # doctest: +SKIP
    >>> dist.reduce(t, dst=0)  # doctest: +SKIP
    >>> t   # on rank 0  # doctest: +SKIP
    tensor([3.])
    """
    g = _group(group)
    if g is None:
        return None
    op = _as_op(op)
    root = g.group_rank(dst)
    b = _Buf(tensor)
    _check_signature(g, "reduce", b.arr, op.code * 1000 + dst)
    MPI = _mpi()
    mop = _mpi_op(op, b.arr.dtype)
    if g.rank() == root:
        req = g.comm.Ireduce(MPI.IN_PLACE, b.spec(), mop, root)
        fin = _finisher([b], op, g.size())
    else:
        req = g.comm.Ireduce(b.spec(), None, mop, root)
        fin = None
    return _run([req], "reduce", g, async_op, fin, tensor)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Gather every rank's ``input_tensor`` into ``output_tensor`` (shape ``(world*n, ...)`` or
    ``(world, n, ...)``), ordered by rank.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> out = torch.zeros(2)  # doctest: +SKIP
    >>> dist.all_gather_into_tensor(out, torch.tensor([float(dist.get_rank())]))  # doctest: +SKIP
    >>> out  # doctest: +SKIP
    tensor([0., 1.])
    """
    g = _group(group)
    if g is None:
        return None
    bi, bo = _Buf(input_tensor), _Buf(output_tensor, read=False)
    if bo.arr.size != bi.arr.size * g.size() or bo.arr.dtype != bi.arr.dtype:
        raise ValueError(
            f"all_gather_into_tensor: output must have world_size ({g.size()}) times the input's "
            f"elements and the same dtype; got output {list(bo.arr.shape)} {bo.arr.dtype}, input "
            f"{list(bi.arr.shape)} {bi.arr.dtype}")
    _check_signature(g, "all_gather_into_tensor", bi.arr)
    req = g.comm.Iallgather(bi.spec(), bo.spec())
    return _run([req], "all_gather_into_tensor", g, async_op, _finisher([bo]), output_tensor)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill ``tensor_list[r]`` with rank r's ``tensor`` on every rank.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> out = [torch.zeros(1) for _ in range(2)]  # doctest: +SKIP
    >>> dist.all_gather(out, torch.tensor([float(dist.get_rank())]))  # doctest: +SKIP
    >>> out  # doctest: +SKIP
    [tensor([0.]), tensor([1.])]
    """
    g = _group(group)
    if g is None:
        return None
    if len(tensor_list) != g.size():
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors, the group "
                         f"has {g.size()} ranks")
    bi = _Buf(tensor)
    for t in tensor_list:
        if tuple(t.shape) != bi.arr.shape or t._data.dtype != bi.arr.dtype:
            raise ValueError(f"all_gather: every output must be {list(bi.arr.shape)} "
                             f"{bi.arr.dtype}, got {list(t.shape)} {t._data.dtype}")
    _check_signature(g, "all_gather", bi.arr)
    flat = np.empty((g.size(),) + bi.arr.shape, bi.arr.dtype)
    req = g.comm.Iallgather(bi.spec(), [flat, _mpi_type(flat.dtype)])
    outs = [_Buf(t, read=False) for t in tensor_list]

    def after():
        for r, b in enumerate(outs):
            b.arr[...] = flat[r]
            b.writeback()
    return _run([req], "all_gather", g, async_op, after, tensor_list)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input`` (``world*n`` elements, rank-major) across ranks; rank r gets chunk r.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> out = torch.zeros(1)  # doctest: +SKIP
    >>> dist.reduce_scatter_tensor(out, torch.tensor([1.0, 2.0]))  # doctest: +SKIP
    >>> out   # on rank 0  # doctest: +SKIP
    tensor([2.])
    """
    g = _group(group)
    if g is None:
        return None
    op = _as_op(op)
    bi, bo = _Buf(input), _Buf(output, read=False)
    if bi.arr.size != bo.arr.size * g.size() or bo.arr.dtype != bi.arr.dtype:
        raise ValueError(
            f"reduce_scatter_tensor: input must have world_size ({g.size()}) times the output's "
            f"elements and the same dtype; got input {list(bi.arr.shape)} {bi.arr.dtype}, output "
            f"{list(bo.arr.shape)} {bo.arr.dtype}")
    _check_signature(g, "reduce_scatter_tensor", bi.arr, op.code)
    req = g.comm.Ireduce_scatter_block(bi.spec(), bo.spec(), _mpi_op(op, bi.arr.dtype))
    return _run([req], "reduce_scatter_tensor", g, async_op, _finisher([bo], op, g.size()),
                output)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input_list[r]`` across ranks into ``output`` of rank r.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> out = torch.zeros(1)  # doctest: +SKIP
    >>> dist.reduce_scatter(out, [torch.tensor([1.0]), torch.tensor([2.0])])  # doctest: +SKIP
    >>> out   # rank 0: 1 + 1; rank 1 gets 2 + 2  # doctest: +SKIP
    tensor([2.])
    """
    from .. import stack
    g = _group(group)
    if g is None:
        return None
    inp = stack([t.detach() for t in input_list])
    return reduce_scatter_tensor(output, inp, op, group, async_op)


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None,
                      group=None, async_op=False):
    """Rank r sends its chunk j of ``input`` to rank j (even splits only).

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> inp = torch.tensor([0.0, 1.0]) + 10 * dist.get_rank()  # doctest: +SKIP
    >>> out = torch.zeros(2)  # doctest: +SKIP
    >>> dist.all_to_all_single(out, inp)  # doctest: +SKIP
    >>> out   # on rank 0  # doctest: +SKIP
    tensor([ 0., 10.])
    """
    g = _group(group)
    if g is None:
        return None
    if output_split_sizes is not None or input_split_sizes is not None:
        raise NotImplementedError("all_to_all_single: uneven splits are not implemented")
    bi, bo = _Buf(input), _Buf(output, read=False)
    if bi.arr.size != bo.arr.size or bi.arr.size % g.size():
        raise ValueError("all_to_all_single: input and output must have the same number of "
                         "elements, divisible by the world size")
    _check_signature(g, "all_to_all_single", bi.arr)
    req = g.comm.Ialltoall(bi.spec(), bo.spec())
    return _run([req], "all_to_all_single", g, async_op, _finisher([bo]), output)


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """Global rank ``dst`` gets ``gather_list[r]`` = rank r's ``tensor``.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> t = torch.tensor([float(dist.get_rank())])  # doctest: +SKIP
    >>> out = [torch.zeros(1), torch.zeros(1)] if dist.get_rank() == 0 else None  # doctest: +SKIP
    >>> dist.gather(t, out, dst=0)  # doctest: +SKIP
    >>> out   # on rank 0  # doctest: +SKIP
    [tensor([0.]), tensor([1.])]
    """
    g = _group(group)
    if g is None:
        return None
    root = g.group_rank(dst)
    bi = _Buf(tensor)
    _check_signature(g, "gather", bi.arr, dst)
    if g.rank() == root:
        if gather_list is None or len(gather_list) != g.size():
            raise ValueError(f"gather: the destination rank needs a gather_list of {g.size()} "
                             "tensors")
        flat = np.empty((g.size(),) + bi.arr.shape, bi.arr.dtype)
        req = g.comm.Igather(bi.spec(), [flat, _mpi_type(flat.dtype)], root)
        outs = [_Buf(t, read=False) for t in gather_list]

        def after():
            for r, b in enumerate(outs):
                b.arr[...] = flat[r]
                b.writeback()
    else:
        req = g.comm.Igather(bi.spec(), None, root)
        after = None
    return _run([req], "gather", g, async_op, after, gather_list)


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """Rank r's ``tensor`` gets ``scatter_list[r]`` of global rank ``src``.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> t = torch.zeros(1)  # doctest: +SKIP
    >>> parts = [torch.tensor([5.0]), torch.tensor([6.0])] if dist.get_rank() == 0 else None  # doctest: +SKIP
    >>> dist.scatter(t, parts, src=0)  # doctest: +SKIP
    >>> t   # on rank 1  # doctest: +SKIP
    tensor([6.])
    """
    g = _group(group)
    if g is None:
        return None
    root = g.group_rank(src)
    bo = _Buf(tensor, read=False)
    _check_signature(g, "scatter", bo.arr, src)
    if g.rank() == root:
        if scatter_list is None or len(scatter_list) != g.size():
            raise ValueError(f"scatter: the source rank needs a scatter_list of {g.size()} "
                             "tensors")
        flat = np.ascontiguousarray(np.stack([t.detach().cpu()._data for t in scatter_list]),
                                  bo.arr.dtype)
        req = g.comm.Iscatter([flat, _mpi_type(flat.dtype)], bo.spec(), root)
    else:
        req = g.comm.Iscatter(None, bo.spec(), root)
    return _run([req], "scatter", g, async_op, _finisher([bo]), tensor)


def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank of the group reached this call.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> dist.barrier()   # every rank waits here for the others  # doctest: +SKIP
    """
    g = _group(group)
    if g is None:
        return None
    _check_signature(g, "barrier")
    return _run([g.comm.Ibarrier()], "barrier", g, async_op)


# --- point to point -----------------------------------------------------------------------------
def isend(tensor, dst, group=None, tag=0):
    """Start sending ``tensor`` to global rank ``dst``; returns a Work.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> t = torch.zeros(2)  # doctest: +SKIP
    >>> work = dist.isend(torch.ones(2), dst=1) if dist.get_rank() == 0 else dist.irecv(t, src=0)  # doctest: +SKIP
    >>> _ = work.wait()  # doctest: +SKIP
    >>> t   # on rank 1  # doctest: +SKIP
    tensor([1., 1.])
    """
    g = _group(group)
    if g is None:
        return None
    b = _Buf(tensor)
    return Work([g.comm.Isend(b.spec(), g.group_rank(dst), tag)], f"send to {dst}", g)


def irecv(tensor, src=None, group=None, tag=0):
    """Start receiving into ``tensor`` from global rank ``src`` (any rank if None).

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> t = torch.zeros(2)  # doctest: +SKIP
    >>> work = dist.isend(torch.ones(2), dst=1) if dist.get_rank() == 0 else dist.irecv(t, src=0)  # doctest: +SKIP
    >>> _ = work.wait()  # doctest: +SKIP
    >>> t   # on rank 1  # doctest: +SKIP
    tensor([1., 1.])
    """
    g = _group(group)
    if g is None:
        return None
    MPI = _mpi()
    b = _Buf(tensor, read=False)
    status = MPI.Status()
    req = g.comm.Irecv(b.spec(), MPI.ANY_SOURCE if src is None else g.group_rank(src),
                       MPI.ANY_TAG if tag is None else tag)
    w = Work([req], f"recv from {'any rank' if src is None else src}", g, status=status)

    def finish():
        b.writeback()
        w._source = g.ranks[status.Get_source()]
    w._finish = finish
    return w


def send(tensor, dst, group=None, tag=0):
    """Send ``tensor`` to global rank ``dst`` (waits with the group's deadline).

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> t = torch.zeros(2)  # doctest: +SKIP
    >>> _ = dist.send(torch.ones(2), dst=1) if dist.get_rank() == 0 else dist.recv(t, src=0)  # doctest: +SKIP
    >>> t   # on rank 1  # doctest: +SKIP
    tensor([1., 1.])
    """
    w = isend(tensor, dst, group, tag)
    if w is not None:
        w.wait()


def recv(tensor, src=None, group=None, tag=0):
    """Receive into ``tensor`` from global rank ``src`` (any if None); returns the sender.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> t = torch.zeros(2)  # doctest: +SKIP
    >>> if dist.get_rank() == 0: dist.send(torch.ones(2), dst=1)  # doctest: +SKIP
    >>> if dist.get_rank() == 1: print(dist.recv(t, src=0), t)  # doctest: +SKIP
    0 tensor([1., 1.])
    """
    w = irecv(tensor, src, group, tag)
    if w is None:
        return -1
    w.wait()
    return w._source


# --- object collectives ---------------------------------------------------------------------------
def _bytes_buf(data):
    return np.frombuffer(data, np.uint8) if data else np.empty(0, np.uint8)


def broadcast_object_list(object_list, src=0, group=None, device=None):
    """Replace ``object_list``'s items on every rank by those of global rank ``src`` (pickled).

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> objs = [{'lr': 0.1}] if dist.get_rank() == 0 else [None]  # doctest: +SKIP
    >>> dist.broadcast_object_list(objs, src=0)  # doctest: +SKIP
    >>> objs  # doctest: +SKIP
    [{'lr': 0.1}]
    """
    g = _group(group)
    if g is None:
        return
    MPI = _mpi()
    root = g.group_rank(src)
    _check_signature(g, "broadcast_object_list", None, src, numel=len(object_list))
    n = np.zeros(1, np.int64)
    payload = None
    if g.rank() == root:
        payload = pickle.dumps(list(object_list), protocol=pickle.HIGHEST_PROTOCOL)
        n[0] = len(payload)
    _wait([g.comm.Ibcast([n, MPI.INT64_T], root)], "broadcast_object_list (size)", g, g.timeout)
    buf = np.empty(int(n[0]), np.uint8)
    if g.rank() == root:
        buf[:] = _bytes_buf(payload)
    _wait([g.comm.Ibcast([buf, MPI.BYTE], root)], "broadcast_object_list", g, g.timeout)
    if g.rank() != root:
        object_list[:] = pickle.loads(buf.tobytes())


def _allgather_bytes(g, payload, what):
    MPI = _mpi()
    n = np.array([len(payload)], np.int64)
    sizes = np.empty(g.size(), np.int64)
    _wait([g.comm.Iallgather([n, MPI.INT64_T], [sizes, MPI.INT64_T])], what + " (sizes)", g,
          g.timeout)
    displs = np.zeros(g.size(), np.int64)
    displs[1:] = np.cumsum(sizes)[:-1]
    out = np.empty(int(sizes.sum()), np.uint8)
    _wait([g.comm.Iallgatherv([_bytes_buf(payload), MPI.BYTE],
                              [out, (sizes, displs), MPI.BYTE])], what, g, g.timeout)
    return [out[displs[r]:displs[r] + sizes[r]].tobytes() for r in range(g.size())]


def all_gather_object(object_list, obj, group=None):
    """``object_list[r]`` = rank r's picklable ``obj``, on every rank.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> objs = [None, None]  # doctest: +SKIP
    >>> dist.all_gather_object(objs, {'rank': dist.get_rank()})  # doctest: +SKIP
    >>> objs  # doctest: +SKIP
    [{'rank': 0}, {'rank': 1}]
    """
    g = _group(group)
    if g is None:
        return
    if len(object_list) != g.size():
        raise ValueError(f"all_gather_object: object_list must have {g.size()} items")
    _check_signature(g, "all_gather_object")
    chunks = _allgather_bytes(g, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL),
                              "all_gather_object")
    for r, c in enumerate(chunks):
        object_list[r] = pickle.loads(c)


def gather_object(obj, object_gather_list=None, dst=0, group=None):
    """Global rank ``dst`` gets every rank's ``obj`` in ``object_gather_list``.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> out = [None, None] if dist.get_rank() == 0 else None  # doctest: +SKIP
    >>> dist.gather_object(dist.get_rank() * 10, out, dst=0)  # doctest: +SKIP
    >>> out   # on rank 0  # doctest: +SKIP
    [0, 10]
    """
    g = _group(group)
    if g is None:
        return
    _check_signature(g, "gather_object", None, dst)
    chunks = _allgather_bytes(g, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL),
                              "gather_object")
    if g.ranks[g.rank()] == dst:
        for r, c in enumerate(chunks):
            object_gather_list[r] = pickle.loads(c)


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=0,
                        group=None):
    """``scatter_object_output_list[0]`` = item r of global rank ``src``'s input list.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> out = [None]  # doctest: +SKIP
    >>> dist.scatter_object_list(out, ['a', 'b'] if dist.get_rank() == 0 else None, src=0)  # doctest: +SKIP
    >>> out   # on rank 1  # doctest: +SKIP
    ['b']
    """
    g = _group(group)
    if g is None:
        return
    objs = [scatter_object_input_list if g.ranks[g.rank()] == src else None]
    broadcast_object_list(objs, src, group)
    scatter_object_output_list[0] = objs[0][g.rank()]
