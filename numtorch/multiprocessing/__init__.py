"""``numtorch.multiprocessing``: Python's ``multiprocessing`` with tensors that travel through
shared memory (PyTorch's ``torch.multiprocessing``).

Everything of ``multiprocessing`` is here (``Process``, ``Queue``, ``Pool``, ``get_context``,
``set_start_method``, ...), plus :func:`spawn` / :func:`start_processes` and the sharing
strategies. Importing the module registers pickling reducers with ``ForkingPickler``: a CPU tensor
in shared memory (``Tensor.share_memory_()``, ``Module.share_memory()``) that is put on a queue or
passed to a spawned process arrives as a view of the same memory, so a write on either side is
seen by both; that is how several processes train one model (Hogwild). Under ``fork``, process
arguments are inherited instead of pickled and shared memory stays shared as well. A tensor that
is not in shared memory travels as a copy (PyTorch moves it into shared memory first).

Start methods: ``fork`` is fast (no re-import); numtorch's Numba kernels use a fork-safe
threading layer (TBB, or ``workqueue`` without it). ``spawn`` starts fresh interpreters that import numtorch (about a
second each).

>>> import numtorch as torch
>>> import numtorch.multiprocessing as mp
>>> w = torch.zeros(3).share_memory_()
>>> p = mp.get_context("fork").Process(target=w.fill_, args=(7.0,))
>>> p.start(); p.join()
>>> w
tensor([7., 7., 7.])
"""
import multiprocessing
from multiprocessing import *  # noqa: F401,F403 - the whole standard API, as PyTorch does

from ._spawn import (ProcessContext, ProcessException, ProcessExitedException,  # noqa: F401
                     ProcessRaisedException, spawn, start_processes)
from ._storage import (get_all_sharing_strategies, get_sharing_strategy,  # noqa: F401
                       set_sharing_strategy)
from ._reductions import init_reductions as _init_reductions

__all__ = ["set_sharing_strategy", "get_sharing_strategy", "get_all_sharing_strategies",
           "spawn", "start_processes", "ProcessContext", "ProcessException",
           "ProcessRaisedException", "ProcessExitedException"] + list(multiprocessing.__all__)

_init_reductions()
