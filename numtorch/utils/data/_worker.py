"""What runs inside a DataLoader worker process, plus what travels between it and the parent.

Each worker owns two one-way pipes: indices come in on one, pickled batches go out on the
other. Pickling happens in the worker's own thread (``send``), so a batch that cannot be
pickled becomes an error the parent re-raises instead of a silently dropped message.
"""
import os
import random
import sys
import traceback

__all__ = ["get_worker_info", "WorkerInfo"]

#: seconds between the worker's checks that its parent is still alive
STATUS_CHECK_INTERVAL = 2.0

_worker_info = None


class WorkerInfo:
    """``id``, ``num_workers``, ``seed`` and ``dataset`` (this worker's copy) of a worker.

    >>> import numtorch as torch
    >>> from numtorch.utils.data import DataLoader, get_worker_info
    >>> class Info(torch.utils.data.Dataset):
    ...     def __len__(self): return 2
    ...     def __getitem__(self, i):
    ...         info = get_worker_info()
    ...         return -1 if info is None else info.num_workers
    >>> [b.tolist() for b in DataLoader(Info(), batch_size=2)]
    [[-1, -1]]
    """

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_keys", tuple(kwargs))

    def __setattr__(self, key, val):
        raise RuntimeError(f"Cannot assign attributes to {self.__class__.__name__} objects")

    def __repr__(self):
        items = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._keys)
        return f"{self.__class__.__name__}({items})"


def get_worker_info():
    """The ``WorkerInfo`` of the current DataLoader worker, or None in the main process.

    >>> import numtorch as torch
    >>> from numtorch.utils.data import get_worker_info
    >>> get_worker_info() is None
    True
    """
    return _worker_info


class ExceptionWrapper:
    """An exception caught in a worker, carried to the parent with its traceback text."""

    def __init__(self, exc_info=None, where="in background"):
        exc_info = exc_info or sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        try:
            exception = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exception


class KeyErrorMessage(str):
    """A str whose repr is itself, so a KeyError shows its multi-line traceback readably."""

    def __repr__(self):
        return self


class _IterableDatasetStopIteration:
    def __init__(self, worker_id):
        self.worker_id = worker_id


class _ResumeIteration:
    """Sent to persistent workers at the start of an epoch; they answer with it (an ack)."""

    def __init__(self, seed=None):
        self.seed = seed


class _MapDatasetFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn

    def fetch(self, index):
        if self.auto_collation:
            getitems = getattr(self.dataset, "__getitems__", None)
            if callable(getitems):
                data = getitems(index)
            else:
                data = [self.dataset[i] for i in index]
        else:
            data = self.dataset[index]
        return self.collate_fn(data)


class _IterableDatasetFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset_iter = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, possibly_batched_index):
        if self.ended:
            raise StopIteration
        if self.auto_collation:
            data = []
            for _ in possibly_batched_index:
                try:
                    data.append(next(self.dataset_iter))
                except StopIteration:
                    self.ended = True
                    break
            if not data or (self.drop_last and len(data) < len(possibly_batched_index)):
                raise StopIteration
        else:
            data = next(self.dataset_iter)
        return self.collate_fn(data)


def create_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last):
    cls = _IterableDatasetFetcher if is_iterable else _MapDatasetFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)


def _seed_everything(seed, worker_id):
    import numpy as np
    from ... import manual_seed
    random.seed(seed)
    manual_seed(seed)
    np.random.seed(np.random.SeedSequence([seed & 0xFFFF_FFFF_FFFF_FFFF, worker_id])
                   .generate_state(1)[0])


def _send(conn, msg, worker_id):
    """Pickle and send ``msg``; an unpicklable batch is replaced by the error. False: parent gone."""
    from multiprocessing.reduction import ForkingPickler
    try:
        buf = ForkingPickler.dumps(msg)
    except Exception:
        err = ExceptionWrapper(where=f"in DataLoader worker process {worker_id} "
                                     f"while pickling its batch")
        buf = ForkingPickler.dumps((msg[0], err))
    try:
        conn.send_bytes(buf)
        return True
    except (BrokenPipeError, ConnectionResetError, OSError):
        return False


def worker_loop(is_iterable, dataset, index_conn, result_conn, auto_collation, collate_fn,
                drop_last, base_seed, init_fn, worker_id, num_workers, parent_pid):
    """The body of a worker: seed, ``init_fn``, then fetch batches until told to stop (None)."""
    global _worker_info
    try:
        seed = base_seed + worker_id
        _seed_everything(seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed,
                                  dataset=dataset)
        init_exception = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = create_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        iteration_end = False
        while True:
            if not index_conn.poll(STATUS_CHECK_INTERVAL):
                if os.getppid() != parent_pid:
                    break  # the parent died without telling us
                continue
            try:
                r = index_conn.recv()
            except (EOFError, OSError):
                break
            if r is None:
                break
            if isinstance(r, _ResumeIteration):
                if r.seed is not None:
                    _seed_everything(r.seed + worker_id, worker_id)
                if init_exception is None:
                    fetcher = create_fetcher(is_iterable, dataset, auto_collation, collate_fn,
                                             drop_last)
                iteration_end = False
                if not _send(result_conn, (r, None), worker_id):
                    break
                continue
            idx, index = r
            if init_exception is not None:
                data, init_exception = init_exception, None
            elif iteration_end:
                data = _IterableDatasetStopIteration(worker_id)
            else:
                try:
                    data = fetcher.fetch(index)
                except Exception as e:
                    if isinstance(e, StopIteration) and is_iterable:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
            if not _send(result_conn, (idx, data), worker_id):
                break
            del data
    except KeyboardInterrupt:
        pass
    finally:
        for c in (index_conn, result_conn):
            try:
                c.close()
            except OSError:
                pass
