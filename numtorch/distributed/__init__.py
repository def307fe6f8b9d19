"""``numtorch.distributed``: PyTorch's ``torch.distributed`` over MPI (mpi4py).

Launch N processes with ``mpiexec -n N python train.py``; each calls ``init_process_group()``.
Collectives work in place on CPU tensors (zero-copy NumPy buffers) and run as non-blocking MPI
operations waited for with a deadline (``timeout``). Once initialised, an uncaught exception in
any rank aborts the whole job, and (unless ``NUMTORCH_DISTRIBUTED_DEBUG=OFF``) every collective
first checks that all ranks call the same op with the same shapes and dtypes.

>>> import numtorch as torch
>>> import numtorch.distributed as dist
>>> dist.init_process_group("mpi")               # doctest: +SKIP
>>> t = torch.tensor([float(dist.get_rank())])   # doctest: +SKIP
>>> dist.all_reduce(t)                           # t = 0 + 1 + ... + N-1  # doctest: +SKIP
"""
from . import _core
from ._core import (is_available, is_initialized, init_process_group, destroy_process_group,
                    get_rank, get_world_size, get_backend, get_global_rank,
                    get_process_group_ranks, new_group, ProcessGroup, GroupMember, Work,
                    ReduceOp, Backend, DEFAULT_TIMEOUT)
from ._collectives import (all_reduce, broadcast, reduce, all_gather, all_gather_into_tensor,
                           reduce_scatter_tensor, reduce_scatter, all_to_all_single, gather,
                           scatter, send, recv, isend, irecv, barrier, broadcast_object_list,
                           all_gather_object, gather_object, scatter_object_list)

group = GroupMember  # torch.distributed.group.WORLD

_core._install_prestart_hook()  # under mpiexec: fail fast from the first line, before init


def launched_world_size():
    """The number of ranks an MPI launcher started (1 when run without one), read from the
    launcher's environment without starting MPI: lets a script choose DDP automatically.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.launched_world_size() >= 1
    True
    >>> dist.launched_world_size()   # under ``mpiexec -n 4``  # doctest: +SKIP
    4
    """
    import os
    for var in ("PMI_SIZE", "PMIX_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS",
                "WORLD_SIZE"):
        v = os.environ.get(var)
        if v and v.isdigit():
            return int(v)
    return 1


__all__ = ["is_available", "is_initialized", "init_process_group", "destroy_process_group",
           "get_rank", "get_world_size", "get_backend", "get_global_rank",
           "get_process_group_ranks", "new_group", "ProcessGroup", "GroupMember", "group", "Work",
           "ReduceOp", "Backend", "all_reduce", "broadcast", "reduce", "all_gather",
           "all_gather_into_tensor", "reduce_scatter_tensor", "reduce_scatter",
           "all_to_all_single", "gather", "scatter", "send", "recv", "isend", "irecv", "barrier",
           "broadcast_object_list", "all_gather_object", "gather_object", "scatter_object_list",
           "launched_world_size"]
