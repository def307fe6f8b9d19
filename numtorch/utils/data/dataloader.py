"""``DataLoader``: batches from a dataset, in the main process or in worker processes.

Workers are real processes (``fork`` where the platform has it, else the default start method),
each fed indices over its own pipe and answering over another; results come back in sampler
order whatever order workers finish in. A worker that dies is noticed through its process
sentinel, so the main process raises instead of hanging.
"""
import itertools
import multiprocessing
import multiprocessing.connection
import os
import time
import warnings

from . import _worker
from ._collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, _draw_seed

__all__ = ["DataLoader"]


class _InfiniteConstantSampler(Sampler):
    """Yields None forever: the index stream that drives an iterable-style dataset."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Iterate over ``dataset`` in batches (PyTorch's signature and semantics).

    >>> import numtorch as torch
    >>> from numtorch.utils.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(torch.arange(10))
    >>> loader = DataLoader(ds, batch_size=4, shuffle=True,
    ...                     generator=torch.Generator().manual_seed(0))
    >>> len(loader), sorted(sum((b[0].tolist() for b in loader), []))
    (3, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device=""):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; "
                             "use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory  # no pinned host memory here: accepted and ignored
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self._is_iterable = isinstance(dataset, IterableDataset)

        if self._is_iterable:
            if shuffle not in (False, None):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None:
            if self._is_iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._iterator = None

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def _get_iterator(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        return _MultiProcessingIter(self)

    def __iter__(self):
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None or self._iterator._shutdown:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    def __len__(self):
        if self._is_iterable:
            length = len(self.dataset)
            if self.batch_size is not None:
                if self.drop_last:
                    return length // self.batch_size
                return -(-length // self.batch_size)
            return length
        return len(self._index_sampler)

    def __del__(self):
        it = getattr(self, "_iterator", None)
        if it is not None:
            it._shutdown_workers()


class _BaseIter:
    def __init__(self, loader):
        self._dataset = loader.dataset
        self._is_iterable = loader._is_iterable
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._collate_fn = loader.collate_fn
        self._timeout = loader.timeout
        self._sampler_iter = iter(self._index_sampler)
        # drawn from the loader's generator each epoch, as PyTorch does (workers: base + id)
        self._base_seed = _draw_seed(loader.generator)
        self._num_yielded = 0

    def __iter__(self):
        return self

    def _reset(self, loader):
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0

    def _next_index(self):
        return next(self._sampler_iter)

    def __len__(self):
        return len(self._index_sampler)


class _SingleProcessIter(_BaseIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._fetcher = _worker.create_fetcher(self._is_iterable, self._dataset,
                                               self._auto_collation, self._collate_fn,
                                               self._drop_last)

    def __next__(self):
        index = self._next_index()
        data = self._fetcher.fetch(index)
        self._num_yielded += 1
        return data


def _mp_context(spec):
    if spec is None:
        methods = multiprocessing.get_all_start_methods()
        return multiprocessing.get_context("fork" if "fork" in methods else None)
    if isinstance(spec, str):
        return multiprocessing.get_context(spec)
    return spec


class _MultiProcessingIter(_BaseIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._prefetch_factor = loader.prefetch_factor
        self._persistent = loader.persistent_workers
        self._shutdown = True  # until workers exist
        ctx = _mp_context(loader.multiprocessing_context)
        parent_pid = os.getpid()
        self._workers, self._index_conns, self._result_conns = [], [], []
        self._worker_pids = {}
        self._shutdown = False
        try:
            for wid in range(self._num_workers):
                index_r, index_w = ctx.Pipe(duplex=False)
                result_r, result_w = ctx.Pipe(duplex=False)
                w = ctx.Process(
                    target=_worker.worker_loop,
                    args=(self._is_iterable, self._dataset, index_r, result_w,
                          self._auto_collation, self._collate_fn, self._drop_last,
                          self._base_seed, loader.worker_init_fn, wid, self._num_workers,
                          parent_pid),
                    daemon=True)
                with warnings.catch_warnings():
                    # Python >= 3.12 warns about fork() in a multi-threaded process; numtorch's
                    # kernels use a fork-safe threading layer (kernels/policy.py)
                    warnings.simplefilter("ignore", DeprecationWarning)
                    w.start()
                # close our copies of the worker's ends now, before the next fork inherits them,
                # so a dead worker reads as EOF / broken pipe here
                index_r.close()
                result_w.close()
                self._workers.append(w)
                self._index_conns.append(index_w)
                self._result_conns.append(result_r)
        except BaseException:
            self._shutdown_workers()
            raise
        self._reset(loader, first_iter=True)

    # -- scheduling ---------------------------------------------------------------------------
    def _reset(self, loader, first_iter=False):
        super()._reset(loader)
        self._send_idx = 0
        self._rcvd_idx = 0
        self._task_info = {}
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            # persistent workers: start a new epoch and drop whatever the last one left behind
            for wid in range(self._num_workers):
                self._send_to(wid, _worker._ResumeIteration())
            for wid in range(self._num_workers):
                while True:
                    idx, _ = self._recv_from([wid])
                    if isinstance(idx, _worker._ResumeIteration):
                        break
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _try_put_index(self):
        assert self._tasks_outstanding < self._prefetch_factor * self._num_workers
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):
            wid = next(self._worker_cycle)
            if self._workers_status[wid]:
                break
        else:
            return  # every worker has reached the end of its iterable dataset
        self._send_to(wid, (self._send_idx, index))
        self._task_info[self._send_idx] = (wid,)
        self._tasks_outstanding += 1
        self._send_idx += 1

    def __next__(self):
        while True:
            while self._rcvd_idx < self._send_idx:
                info = self._task_info[self._rcvd_idx]
                if len(info) == 2 or self._workers_status[info[0]]:
                    break
                del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                data = self._task_info.pop(self._rcvd_idx)[1]
                return self._process_data(data)
            idx, data = self._recv_from(range(self._num_workers))
            self._tasks_outstanding -= 1
            if isinstance(data, _worker._IterableDatasetStopIteration):
                self._workers_status[data.worker_id] = False
                self._try_put_index()
                continue
            if idx != self._rcvd_idx:
                if idx in self._task_info:
                    self._task_info[idx] += (data,)
                continue
            del self._task_info[idx]
            return self._process_data(data)

    def _process_data(self, data):
        self._rcvd_idx += 1
        self._try_put_index()
        if isinstance(data, _worker.ExceptionWrapper):
            data.reraise()
        self._num_yielded += 1
        return data

    # -- pipes and processes ------------------------------------------------------------------
    def _send_to(self, wid, msg):
        try:
            self._index_conns[wid].send(msg)
        except OSError:
            self._raise_dead([self._workers[wid]])

    def _raise_dead(self, dead):
        desc = ", ".join(f"{w.pid} (exit code {w.exitcode})" for w in dead)
        self._shutdown_workers()
        raise RuntimeError(f"DataLoader worker (pid(s) {desc}) exited unexpectedly. A worker "
                           f"was killed (e.g. out of memory) or crashed in native code.")

    def _recv_from(self, wids):
        """The next (idx, data) message from any of workers ``wids``; raises if one died."""
        wids = list(wids)
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        conns = {self._result_conns[w]: w for w in wids}
        sentinels = {self._workers[w].sentinel: w for w in wids}
        while True:
            wait_s = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = multiprocessing.connection.wait(list(conns) + list(sentinels), wait_s)
            if not ready:
                self._shutdown_workers()
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
            for obj in ready:
                if obj in conns:
                    try:
                        return obj.recv()
                    except (EOFError, OSError):
                        self._workers[conns[obj]].join(1.0)
                        self._raise_dead([self._workers[conns[obj]]])
            dead = []
            for obj in ready:
                wid = sentinels.get(obj)
                if wid is None:
                    continue
                if self._result_conns[wid].poll(0):  # it left a message before exiting
                    continue
                self._workers[wid].join(1.0)
                dead.append(self._workers[wid])
            if dead:
                self._raise_dead(dead)

    def _shutdown_workers(self):
        if getattr(self, "_shutdown", True):
            return
        self._shutdown = True
        for conn in self._index_conns:
            try:
                conn.send(None)
            except OSError:
                pass
        # keep draining results so that a worker blocked writing a large batch can exit
        deadline = time.monotonic() + 2.0
        alive = [w for w in self._workers if w.is_alive()]
        while alive and time.monotonic() < deadline:
            conns = [c for c in self._result_conns if not c.closed]
            for c in multiprocessing.connection.wait(conns + [w.sentinel for w in alive], 0.1):
                if c in conns:
                    try:
                        c.recv_bytes()
                    except (EOFError, OSError):
                        c.close()
            alive = [w for w in alive if w.is_alive()]
        for w in alive:
            w.terminate()
        for w in self._workers:
            w.join(1.0)
        for c in self._index_conns + self._result_conns:
            try:
                c.close()
            except OSError:
                pass

    def __del__(self):
        self._shutdown_workers()
