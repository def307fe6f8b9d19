"""Run test cases in a forked child so that a crash or a hang is a failed case, not a dead pytest.

``Sandbox(table)`` forks a worker (``multiprocessing``'s ``fork`` context: numtorch runs a
fork-safe Numba threading layer: TBB, or ``workqueue``) that serves ``table[key](*args)`` one call at a time and
sends back what it returned or raised. The worker lives across calls, so the kernels it compiles or
loads from the cache are paid for once. When a call kills it (a signal, ``os._exit``) or outlives
its timeout, the call's outcome says so, the worker is killed if needed, and the next call forks a
fresh one. ``batch`` sends a list of cases at once; the worker answers case by case, so a crash or a
hang is charged to the case that caused it and the rest go on in a fresh worker.

``memory_gib`` caps the worker's address space (``RLIMIT_AS``) at its size when forked plus that
many GiB: an allocation that blows up is then a ``MemoryError`` in the case, not a machine that
swaps. (A fork of pytest already maps about 1 GiB, so the cap is relative to that, not absolute.)
"""
import faulthandler
import multiprocessing
import os
import resource
import signal
import tempfile
import traceback

__all__ = ["Sandbox", "Outcome", "exc_summary"]

_CTX = multiprocessing.get_context("fork")


class Outcome:
    """What one call did: ``kind`` is ``"ok"`` (``value``), ``"raise"`` (``exc``: the dict of
    :func:`exc_summary`), ``"crash"`` (``detail``: the exit status) or ``"hang"`` (``detail``)."""

    __slots__ = ("kind", "value", "exc", "detail")

    def __init__(self, kind, value=None, exc=None, detail=""):
        self.kind, self.value, self.exc, self.detail = kind, value, exc, detail

    @property
    def fatal(self):
        return self.kind in ("crash", "hang")

    def describe(self):
        if self.kind == "ok":
            return "returned"
        if self.kind == "raise":
            return f"raised {self.exc['type']}: {self.exc['message'][:300]}"
        return f"{self.kind.upper()} ({self.detail})"

    def __repr__(self):
        return f"Outcome({self.describe()})"


def builtin_bases(etype):
    """Names of the built-in exception classes ``etype`` derives from, nearest first."""
    return [c.__name__ for c in etype.__mro__ if c.__module__ == "builtins"]


def exc_summary(e):
    """A picklable description of an exception (its type, built-in bases, message, traceback)."""
    return {"type": f"{type(e).__module__}.{type(e).__qualname__}".replace("builtins.", ""),
            "bases": builtin_bases(type(e)), "message": str(e),
            "where": "".join(traceback.format_exception(type(e), e, e.__traceback__)[-3:])}


def _limit_memory(gib):
    try:
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        vm = 0
    limit = vm + int(gib * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))


def _serve(conn, table, memory_gib, crash_log):
    if crash_log is None:
        faulthandler.disable()
    else:  # where a fatal signal's Python traceback goes: the parent reads it after a crash
        faulthandler.enable(file=open(crash_log, "w"), all_threads=False)
    if memory_gib:
        _limit_memory(memory_gib)
    while True:
        try:
            key, args, many = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        for a in (args if many else [args]):  # a batch: one reply per case, in order
            reply = _call(table[key], a)
            try:
                conn.send(reply)
            except Exception as e:  # an unpicklable result: report it, keep serving
                conn.send(("raise", exc_summary(e)))


def _call(fn, args):
    try:
        return ("ok", fn(*args))
    except BaseException as e:  # noqa: BLE001 (MemoryError, RecursionError... are results too)
        return ("raise", exc_summary(e))


def _outcome(reply):
    kind, payload = reply
    return Outcome("ok", value=payload) if kind == "ok" else Outcome("raise", exc=payload)


class Sandbox:
    """A forked worker serving ``table[key](*args)``; see the module docstring."""

    def __init__(self, table, timeout=60.0, memory_gib=None, tracebacks=True):
        self.table = table
        self.timeout = timeout
        self.memory_gib = memory_gib
        self._proc = None
        self._conn = None
        self.forks = 0
        self._log = None
        if tracebacks:
            fd, self._log = tempfile.mkstemp(prefix="numtorch-sandbox-", suffix=".log")
            os.close(fd)

    def _crash_trace(self):
        """The last lines of the worker's fatal-signal traceback (faulthandler), if any."""
        if self._log is None:
            return ""
        try:
            with open(self._log) as f:
                lines = [ln.rstrip() for ln in f if ln.strip()]
        except OSError:
            return ""
        frames = [ln.strip() for ln in lines if ln.strip().startswith("File ")]
        return ("; traceback: " + " <- ".join(frames[:4])) if frames else ""

    def _start(self):
        parent, child = _CTX.Pipe()
        self._proc = _CTX.Process(target=_serve, args=(child, self.table, self.memory_gib,
                                                       self._log), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent
        self.forks += 1

    def _stop(self, kill=False):
        if self._proc is None:
            return
        if kill and self._proc.is_alive():
            os.kill(self._proc.pid, signal.SIGKILL)
        try:
            self._conn.close()
        except OSError:
            pass
        self._proc.join(5)
        if self._proc.is_alive():
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.join(5)
        self._proc = self._conn = None

    def close(self):
        self._stop(kill=True)
        if self._log is not None:
            try:
                os.unlink(self._log)
            except OSError:
                pass

    def _send(self, key, args, many):
        if self._proc is None or not self._proc.is_alive():
            self._stop(kill=True)
            self._start()
        self._conn.send((key, args, many))

    def _receive(self, timeout):
        timeout = self.timeout if timeout is None else timeout
        if not self._conn.poll(timeout):
            self._stop(kill=True)
            return Outcome("hang", detail=f"no answer within {timeout:.0f} s; worker killed")
        try:
            return _outcome(self._conn.recv())
        except (EOFError, OSError):
            proc = self._proc
            proc.join(5)
            code = proc.exitcode
            self._stop(kill=True)
            if code is not None and code < 0:
                try:
                    name = signal.Signals(-code).name
                except ValueError:
                    name = str(-code)
                return Outcome("crash", detail=f"worker killed by {name}{self._crash_trace()}")
            return Outcome("crash", detail=f"worker exited with status {code}")

    def run(self, key, *args, timeout=None):
        """``table[key](*args)`` in the worker: an :class:`Outcome`."""
        self._send(key, args, False)
        return self._receive(timeout)

    def batch(self, key, arglist, timeout=None):
        """``[table[key](*a) for a in arglist]``, the cases sent at once and answered one by
        one (``timeout`` per case); after a crash or a hang the rest go to a fresh worker."""
        arglist = [tuple(a) for a in arglist]
        out = []
        while len(out) < len(arglist):
            rest = arglist[len(out):]
            self._send(key, rest, True)
            for _ in rest:
                o = self._receive(timeout)
                out.append(o)
                if o.fatal:
                    break
        return out
