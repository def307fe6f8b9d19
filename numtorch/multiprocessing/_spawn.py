"""``spawn`` / ``start_processes``: run ``fn(i, *args)`` in ``nprocs`` processes; when one fails,
stop the others and raise its error in the parent."""
import multiprocessing
import multiprocessing.connection
import signal
import sys
import time
import traceback
import warnings

__all__ = ["ProcessContext", "ProcessException", "ProcessRaisedException",
           "ProcessExitedException", "spawn", "start_processes"]


class ProcessException(Exception):
    """A process started by :func:`spawn` failed; ``error_index`` and ``error_pid`` name it.

    >>> from numtorch.multiprocessing import ProcessException
    >>> e = ProcessException("process 1 failed", error_index=1, error_pid=4242)
    >>> e.error_index, e.error_pid
    (1, 4242)
    """

    def __init__(self, msg, error_index, error_pid):
        super().__init__(msg)
        self.msg = msg
        self.error_index = error_index
        self.error_pid = error_pid

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.error_pid)


class ProcessRaisedException(ProcessException):
    """The function of a process raised; the message holds that process's traceback.

    >>> import numtorch.multiprocessing as mp
    >>> try:
    ...     mp.start_processes(divmod, args=(0,), nprocs=1, start_method="fork")
    ... except mp.ProcessRaisedException as e:
    ...     print(e.error_index, "ZeroDivisionError" in str(e))
    0 True
    """


class ProcessExitedException(ProcessException):
    """A process exited with a non-zero code or was killed by a signal (``signal_name``).

    >>> import sys
    >>> import numtorch.multiprocessing as mp
    >>> try:  # process i calls sys.exit(i)
    ...     mp.start_processes(sys.exit, nprocs=2, start_method="fork")
    ... except mp.ProcessExitedException as e:
    ...     print(e)
    ...     print(e.error_index, e.exit_code, e.signal_name)
    process 1 terminated with exit code 1
    1 1 None
    """

    def __init__(self, msg, error_index, error_pid, exit_code, signal_name=None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code = exit_code
        self.signal_name = signal_name

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.error_pid, self.exit_code,
                            self.signal_name)


def _die_with_parent():
    """Ask Linux to send SIGINT to this process when its parent dies (no orphans left running)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGINT))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        pass


def _run(fn, i, args, conn):
    """The body of each started process: ``fn(i, *args)``; a traceback goes back on ``conn``."""
    _die_with_parent()
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass  # SIGINT: the parent is stopping us (or died)
    except Exception:
        conn.send(traceback.format_exc())
        conn.close()
        sys.exit(1)
    conn.close()


class ProcessContext:
    """The processes of :func:`start_processes` (``join=False``); ``join()`` until it is True.

    >>> import numtorch.multiprocessing as mp
    >>> ctx = mp.start_processes(abs, nprocs=2, join=False, start_method="fork")
    >>> len(ctx.pids())
    2
    >>> while not ctx.join():
    ...     pass
    """

    def __init__(self, processes, error_conns):
        self.processes = processes
        self._conns = {c: i for i, c in enumerate(error_conns)}
        self._errors = {}
        self.sentinels = {p.sentinel: i for i, p in enumerate(processes)}

    def pids(self):
        """The process ids, in index order."""
        return [int(p.pid) for p in self.processes]

    def _read_errors(self, conns):
        for c in conns:
            i = self._conns.pop(c)
            try:
                self._errors[i] = c.recv()
            except (EOFError, OSError):
                pass  # the process finished without an error
            c.close()

    def join(self, timeout=None, grace_period=None):
        """Wait up to ``timeout`` s for the processes. True once every one has exited with status
        0, False while some still run; if one failed, stop the others (SIGTERM, then SIGKILL
        after ``grace_period`` or 30 s) and raise :class:`ProcessRaisedException` with its
        traceback, or :class:`ProcessExitedException` with its exit code or signal."""
        if not self.sentinels:
            return True
        ready = multiprocessing.connection.wait(list(self.sentinels) + list(self._conns),
                                                timeout=timeout)
        self._read_errors([c for c in ready if c in self._conns])
        failed = None
        for s in ready:
            if s not in self.sentinels:
                continue
            i = self.sentinels.pop(s)
            p = self.processes[i]
            p.join()
            if p.exitcode != 0:
                failed = i
                break
        if failed is None:
            if self.sentinels:
                return False
            self._close_conns()
            return True
        self._stop_all(grace_period)
        p = self.processes[failed]
        self._read_errors([c for c, i in self._conns.items() if i == failed])
        self._close_conns()
        if failed in self._errors:
            raise ProcessRaisedException(
                f"\n\n-- Process {failed} terminated with the following error:\n"
                + self._errors[failed], failed, p.pid)
        if p.exitcode < 0:
            try:
                name = signal.Signals(-p.exitcode).name
            except ValueError:
                name = f"<Unknown signal {-p.exitcode}>"
            raise ProcessExitedException(f"process {failed} terminated with signal {name}",
                                         failed, p.pid, p.exitcode, name)
        raise ProcessExitedException(f"process {failed} terminated with exit code {p.exitcode}",
                                     failed, p.pid, p.exitcode)

    def _close_conns(self):
        for c in self._conns:
            c.close()
        self._conns.clear()

    def _stop_all(self, grace_period):
        def wait_all(seconds):
            end = time.monotonic() + seconds
            for q in self.processes:
                q.join(max(0.0, end - time.monotonic()))
        if grace_period is not None:
            wait_all(grace_period)
        for q in self.processes:
            if q.is_alive():
                q.terminate()
        wait_all(30 if grace_period is None else grace_period)
        for q in self.processes:
            if q.is_alive():
                q.kill()
            q.join()
        self.sentinels.clear()


def _warn_if_fork_unsafe(start_method):
    """GNU OpenMP hangs a forked child once a parallel region ran (numtorch's default threading
    layers, TBB and workqueue, are fork-safe; a user may have chosen another)."""
    if start_method != "fork" or "numba" not in sys.modules:
        return
    import numba
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel ran yet
        return
    if layer == "omp":
        warnings.warn("forking after Numba's OpenMP threading layer ran parallel kernels can "
                      "hang the children; use NUMBA_THREADING_LAYER=tbb (numtorch's "
                      "default) or start_method='spawn'", RuntimeWarning, stacklevel=3)


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Start ``nprocs`` processes running ``fn(i, *args)`` (``i`` = 0 .. nprocs-1) with the
    given start method. ``join=True`` waits and raises the first failure (see
    :meth:`ProcessContext.join`); ``join=False`` returns the :class:`ProcessContext`.

    >>> import numtorch.multiprocessing as mp
    >>> mp.start_processes(abs, nprocs=2, start_method="fork")
    """
    _warn_if_fork_unsafe(start_method)
    ctx = multiprocessing.get_context(start_method)
    processes, conns = [], []
    try:
        for i in range(nprocs):
            reader, writer = ctx.Pipe(duplex=False)
            conns.append(reader)
            p = ctx.Process(target=_run, args=(fn, i, args, writer), daemon=daemon)
            try:
                p.start()  # (spawn pickles fn and args here)
            finally:
                writer.close()  # the child holds the other end: EOF here once it is gone
            processes.append(p)
    except BaseException:  # e.g. an unpicklable fn: stop the processes already running
        for p in processes:
            p.kill()
            p.join()
        for c in conns:
            c.close()
        raise
    context = ProcessContext(processes, conns)
    if not join:
        return context
    while not context.join():
        pass


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Run ``fn(i, *args)`` in ``nprocs`` fresh interpreters (start method ``spawn``); ``fn``
    must be importable (defined at the top level of a module). If a process raises or exits
    with a non-zero status, the others are stopped and the parent raises
    :class:`ProcessRaisedException` (with the child's traceback) or
    :class:`ProcessExitedException`. Returns None, or a :class:`ProcessContext` with
    ``join=False``. Shared tensors in ``args`` arrive sharing their memory.

    >>> import numtorch.multiprocessing as mp
    >>> mp.spawn(abs, nprocs=1)  # each process imports numtorch afresh: about a second
    """
    if start_method != "spawn":
        warnings.warn(f"This method only supports start_method=spawn (got: {start_method}).\n"
                      "To use a different start_method use:\n\t\t"
                      " numtorch.multiprocessing.start_processes(...)", FutureWarning,
                      stacklevel=2)
    return start_processes(fn, args, nprocs, join, daemon, start_method="spawn")
