"""Parallel builds of kernels compiled by a helper process while this one runs the serial builds.

A kernel twin (``policy.Twin``) has a serial and a parallel build. On an empty Numba cache the
parallel builds cost most of a first training step's compiling (the Fashion-MNIST CNN: 10 of
16 s; Numba's parfor pass, then LLVM on a bigger module). Numba compiles one function at a time
per process (a global lock), so a thread cannot overlap them with the main thread's own
compiles; a process can. So when a twin's parallel build is needed for argument types it has
neither in memory nor on disk, the call runs the serial build, and this module asks a helper
process (started on first use, ``python -m numtorch.kernels._background``) to compile the
parallel build into the shared on-disk cache; a call after it reported back loads it from
there. The results are the same either way (both builds compute the same thing; only the
speed differs until then).

It stays off where it could not help or would get in the way: ``NUMTORCH_BACKGROUND_COMPILE=0``,
the on-disk cache off, in a forked child of the process that started the helper (DataLoader
workers: they compile for themselves, as before), and under an MPI launcher with more than one
rank (every rank would start a helper on the same cores). A twin the helper cannot find by its
module and name (one created after import, e.g. by numtorch.compile) is compiled in this process,
as is anything the helper reports as failed or leaves unanswered for ``PATIENCE`` seconds, and
everything once the helper is gone. When this process exits the helper is stopped, unless it
still has requests to compile: it then finishes those, into the cache the next run of the
program loads, and exits (killing it there left a short program's late kernels uncompiled run
after run, each run starting a helper again). One such orphaned helper compiles at a time (a
lock file beside the cache): short programs run one after another on an empty cache leave one
helper at work, not one each.

Protocol (one line per message, base64 of a pickle): request ``(key, module, name, argtypes)``,
reply ``(key, ok)``.
"""
import atexit
import base64
import os
import pickle
import subprocess
import sys
import threading
import time

ENV = "NUMTORCH_BACKGROUND_COMPILE"
_MPI_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS",
                  "SLURM_NTASKS")

PENDING, DONE, FAILED = "pending", "done", "failed"
#: Seconds after which a request the helper has not answered counts as failed (compiled here).
PATIENCE = 300.0


def _encode(obj):
    return base64.b64encode(pickle.dumps(obj)) + b"\n"


def _decode(line):
    return pickle.loads(base64.b64decode(line))


def _wanted():
    if os.environ.get(ENV, "1") == "0":
        return False
    return not any(int(os.environ.get(v, "1") or 1) > 1 for v in _MPI_SIZE_VARS)


class _Client:
    """The helper process as seen from here: requests sent, their states, a reader thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._states = {}
        self._asked = {}  # key -> when it was requested
        self._proc = None
        self._owner = None
        self._broken = False

    def state(self, key):
        s = self._states.get(key)
        if s == PENDING and time.monotonic() - self._asked.get(key, 0.0) > PATIENCE:
            s = self._states[key] = FAILED  # a stuck helper: stop waiting for this one
        return s

    def request(self, key, module, name, argtypes):
        """Ask the helper to compile; False where it cannot be asked (the caller compiles)."""
        with self._lock:
            if key in self._states:
                return True
            proc = self._start()
            if proc is None:
                return False
            try:
                msg = _encode((key, module, name, argtypes))
            except Exception:  # argument types that do not pickle: compile here
                return False
            # pending before the request leaves: the reader thread may record the helper's answer
            # before write() even returns here (a quick "failed"), and must not be overwritten
            self._states[key] = PENDING
            self._asked[key] = time.monotonic()
            try:
                proc.stdin.write(msg)
                proc.stdin.flush()
            except (OSError, ValueError):
                self._broken = True
                del self._states[key]
                return False
            return True

    def _start(self):
        if self._broken or os.getpid() != (self._owner or os.getpid()):
            return None
        if self._proc is not None:
            return self._proc
        if getattr(sys, "frozen", False):  # sys.executable is the application, not Python
            self._broken = True
            return None
        env = dict(os.environ)
        env[ENV] = "0"  # the helper compiles what it is asked, itself, and asks no one
        # the helper imports the kernels this process imported, wherever its sys.path found them
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "numtorch.kernels._background"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        except OSError:
            self._broken = True
            return None
        self._owner = os.getpid()
        threading.Thread(target=self._read, args=(self._proc,), name="numtorch-compile-replies",
                         daemon=True).start()
        atexit.register(self.stop)
        return self._proc

    def _read(self, proc):
        for line in proc.stdout:
            try:
                key, ok = _decode(line)
            except Exception:
                continue
            self._states[key] = DONE if ok else FAILED
        # the helper is gone: whatever it still had is compiled here on the next call
        with self._lock:
            self._broken = True
            for k, v in list(self._states.items()):
                if v == PENDING:
                    self._states[k] = FAILED

    def pending(self):
        """How many requests the helper has not answered yet."""
        return sum(s == PENDING for s in list(self._states.values()))

    def wait(self, poll=0.05):
        """Block until the helper has answered every request (a stuck one counts as failed after
        ``PATIENCE``); True when there was any to wait for."""
        waited = False
        while any(self.state(k) == PENDING for k in list(self._states)):
            waited = True
            time.sleep(poll)
        return waited

    def stop(self):
        """At exit: end of input for the helper, which then finishes what it was asked and
        exits; one with nothing left to do is killed at once (it may be importing still)."""
        proc, self._proc = self._proc, None
        if proc is None or os.getpid() != self._owner:
            return
        try:
            proc.stdin.close()
        except OSError:
            pass
        if self.pending():
            proc.returncode = 0  # left running on purpose: no "still running" warning
            return
        proc.kill()
        proc.wait()

    def _after_fork_in_child(self):
        self._broken = True  # the helper's pipes belong to the parent
        self._proc = None


CLIENT = _Client()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=CLIENT._after_fork_in_child)


def enabled():
    """Background compiles apply in this process now."""
    return _wanted() and not CLIENT._broken


def serve():
    """The helper's loop: compile each requested parallel build into the on-disk cache."""
    import importlib

    from . import policy
    # the answers go out on a copy of stdout; anything else written to it (a library's message,
    # from Python or C) goes to /dev/null and cannot break an answer's line
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    parent, orphan_lock = os.getppid(), None
    for line in sys.stdin.buffer:  # to its end: what was asked is compiled even once no one waits
        if orphan_lock is None and os.getppid() != parent:  # the asking process has exited
            orphan_lock = orphan_turn()
            if orphan_lock is None:
                return  # another orphaned helper is compiling: leave the work to the next run
        key, ok = None, False
        try:
            key, module, name, argtypes = _decode(line)
            importlib.import_module(module)
            twin = policy.TWINS.get((module, name))
            if twin is not None:
                policy.parallel_dispatcher(twin).compile(argtypes)
                ok = True
        except Exception:  # reported as failed: the asking process compiles it itself
            pass
        if out is None:
            continue
        try:
            out.write(_encode((key, ok)))
            out.flush()
        except (OSError, ValueError):  # the asking process has exited: compile on, unheard
            out = None


def orphan_turn():
    """The lock that lets one orphaned helper compile (an open file; kept until exit), or None
    while another holds it. Without POSIX locks every orphan goes on, as before."""
    from . import policy
    try:
        import fcntl
    except ImportError:
        return True
    try:
        os.makedirs(policy.numba.config.CACHE_DIR, exist_ok=True)
        f = open(os.path.join(policy.numba.config.CACHE_DIR, "numtorch-background.lock"), "a")
    except OSError:
        return True
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


if __name__ == "__main__":
    serve()
