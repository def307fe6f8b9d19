"""The communicator layer: process groups over MPI communicators, the polling wait with a
deadline, ``Work`` handles, fail-fast abort on an uncaught exception (from import on, under an
MPI launcher), the start-up watchdog that bounds MPI's own start-up by the timeout, and the
cross-rank signature check that turns a mismatched collective into an error naming both calls
instead of a hang.

mpi4py is imported lazily (``_mpi()``), so ``import numtorch`` works without it.
"""
import datetime
import os
import subprocess
import sys
import threading
import time
import traceback

import numpy as np

__all__ = ["is_available", "is_initialized", "init_process_group", "destroy_process_group",
           "get_rank", "get_world_size", "get_backend", "new_group", "ProcessGroup",
           "GroupMember", "Work", "ReduceOp", "Backend"]

# PyTorch's default timeout for CPU process groups
DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)


def is_available():
    """True if mpi4py imports (the MPI backend can be used).

    >>> import numtorch.distributed as dist
    >>> isinstance(dist.is_available(), bool)
    True
    """
    try:
        import mpi4py  # noqa: F401  (importing the package does not start MPI)
        return True
    except ImportError:
        return False


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError(
            "numtorch.distributed needs mpi4py and an MPI library: pip install mpi4py mpich "
            f"(import failed: {e})") from None
    return MPI


class Backend(str):
    """Backend names; every name runs on MPI here (gloo/nccl are accepted for portability).

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.Backend.MPI, dist.Backend.GLOO
    ('mpi', 'gloo')
    """
    MPI = "mpi"
    GLOO = "gloo"
    NCCL = "nccl"
    UNDEFINED = "undefined"


class ReduceOp:
    """Reduction operators of ``all_reduce``/``reduce``/``reduce_scatter_tensor``.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.ReduceOp.SUM
    <ReduceOp.SUM: 0>
    >>> t = torch.ones(2)
    >>> dist.all_reduce(t, op=dist.ReduceOp.MAX)   # doctest: +SKIP
    """

    class _Op:
        __slots__ = ("name", "code")

        def __init__(self, name, code):
            self.name, self.code = name, code

        def __repr__(self):
            return f"<ReduceOp.{self.name}: {self.code}>"

    SUM = _Op("SUM", 0)
    AVG = _Op("AVG", 1)
    PRODUCT = _Op("PRODUCT", 2)
    MIN = _Op("MIN", 3)
    MAX = _Op("MAX", 4)
    BAND = _Op("BAND", 5)
    BOR = _Op("BOR", 6)
    BXOR = _Op("BXOR", 7)


def _as_op(op):
    if isinstance(op, ReduceOp._Op):
        return op
    if isinstance(op, str) and hasattr(ReduceOp, op.upper()):
        return getattr(ReduceOp, op.upper())
    raise ValueError(f"unknown reduce op {op!r}")


def _mpi_op(op, np_dtype):
    """The MPI operator of a ReduceOp (AVG reduces with SUM and divides afterwards)."""
    MPI = _mpi()
    if np_dtype == np.bool_:  # MPI defines only logical ops on C_BOOL
        table = {0: MPI.LOR, 1: MPI.LOR, 2: MPI.LAND, 3: MPI.LAND, 4: MPI.LOR, 5: MPI.LAND,
                 6: MPI.LOR, 7: MPI.LXOR}
    else:
        table = {0: MPI.SUM, 1: MPI.SUM, 2: MPI.PROD, 3: MPI.MIN, 4: MPI.MAX, 5: MPI.BAND,
                 6: MPI.BOR, 7: MPI.BXOR}
    return table[op.code]


_MPI_TYPES = {}


def _mpi_type(np_dtype):
    """The predefined MPI datatype of a NumPy dtype (reductions need predefined types)."""
    t = _MPI_TYPES.get(np_dtype)
    if t is None:
        MPI = _mpi()
        table = {"float32": MPI.FLOAT, "float64": MPI.DOUBLE, "int64": MPI.INT64_T,
                 "int32": MPI.INT32_T, "int16": MPI.INT16_T, "int8": MPI.INT8_T,
                 "uint8": MPI.UINT8_T, "bool": MPI.C_BOOL}
        t = table.get(np.dtype(np_dtype).name)
        if t is None:  # float16: MPI has no predefined type; moves work, reductions do not
            from mpi4py.util.dtlib import from_numpy_dtype
            t = from_numpy_dtype(np_dtype)
        _MPI_TYPES[np_dtype] = t
    return t


def _seconds(timeout):
    if timeout is None:
        return None
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds()
    return float(timeout)


class ProcessGroup:
    """A set of ranks and its MPI communicator. ``ranks`` are global ranks in group-rank order.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> g = dist.new_group([0, 1])  # doctest: +SKIP
    >>> isinstance(g, dist.ProcessGroup), dist.get_process_group_ranks(g)  # doctest: +SKIP
    (True, [0, 1])
    """

    def __init__(self, comm, ranks, timeout):
        self.comm = comm
        self.ranks = list(ranks)
        self.timeout = timeout  # seconds
        self._rank = comm.Get_rank()

    def rank(self):
        return self._rank

    def size(self):
        return len(self.ranks)

    def group_rank(self, global_rank):
        try:
            return self.ranks.index(global_rank)
        except ValueError:
            raise ValueError(f"global rank {global_rank} is not part of the group "
                             f"{self.ranks}") from None

    def __repr__(self):
        return f"ProcessGroup(ranks={self.ranks})"


class GroupMember:
    """``GroupMember.WORLD`` (the default group, set by ``init_process_group``) and
    ``GroupMember.NON_GROUP_MEMBER`` (what ``new_group`` gives ranks outside the group).

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> dist.GroupMember.WORLD is not None  # doctest: +SKIP
    True
    """
    WORLD = None  # set by init_process_group
    NON_GROUP_MEMBER = object()


class _State:
    world = None
    backend = None
    groups = []
    prev_hooks = None


_state = _State()


# --- debug / signature check --------------------------------------------------------------------
_DEBUG_LEVELS = ("OFF", "INFO", "DETAIL")


def _debug_level():
    lvl = os.environ.get("NUMTORCH_DISTRIBUTED_DEBUG", os.environ.get("TORCH_DISTRIBUTED_DEBUG",
                                                                      "DETAIL")).upper()
    return lvl if lvl in _DEBUG_LEVELS else "DETAIL"


_check_enabled = [True]
_MAXD = 6
_OP_NAMES = ["barrier", "all_reduce", "broadcast", "reduce", "all_gather",
             "all_gather_into_tensor", "reduce_scatter_tensor", "gather", "scatter",
             "broadcast_object_list", "all_gather_object", "reduce_scatter", "all_to_all_single",
             "gather_object", "scatter_object_list", "new_group", "DistributedDataParallel",
             "ddp_bucket", "ddp_unused_map"]
_OP_ID = {n: i for i, n in enumerate(_OP_NAMES)}
_DT_NAMES = ["float16", "float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool"]
_MAGIC = 0x6E74_7369_6701  # first word of every signature: tells a signature from other data
_LABELS = {"ddp_bucket": "DistributedDataParallel's gradient all_reduce",
           "ddp_unused_map": "DistributedDataParallel's unused-parameter all_reduce"}
_REDUCE_NAMES = {0: "SUM", 1: "AVG", 2: "PRODUCT", 3: "MIN", 4: "MAX", 5: "BAND", 6: "BOR",
                 7: "BXOR"}


def _human_bytes(n):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _describe(sig):
    """A signature in words: ``barrier()``, ``all_reduce(float32 [3, 2], op=SUM)``,
    ``all_reduce(bucket 3 of DistributedDataParallel, 1.2 MB float32)``."""
    sig = [int(v) for v in sig]
    if sig[0] != _MAGIC or not 0 <= sig[1] < len(_OP_NAMES):
        return ("an MPI operation that is not a numtorch collective (its data arrived where a "
                "collective's signature was expected)")
    op, extra, dti, nd, numel = _OP_NAMES[sig[1]], sig[2], sig[3], sig[4], sig[5]
    dt = _DT_NAMES[dti] if 0 <= dti < len(_DT_NAMES) else "?"
    if op == "ddp_bucket":
        isz = {"float16": 2, "float32": 4, "float64": 8, "int64": 8, "int32": 4, "int16": 2}
        return (f"all_reduce(bucket {extra} of DistributedDataParallel, "
                f"{_human_bytes(numel * isz.get(dt, 1))} {dt})")
    if op == "ddp_unused_map":
        return f"all_reduce(unused-parameter map of DistributedDataParallel, {numel} flags)"
    if op == "barrier":
        return "barrier()"
    if op in ("broadcast_object_list", "gather_object", "all_gather_object"):
        args = [f"{numel} objects"] if numel >= 0 and op == "broadcast_object_list" else []
        if extra >= 0:
            args.append(("src=" if op == "broadcast_object_list" else "dst=") + str(extra))
        return f"{op}({', '.join(args)})"
    if dti < 0:
        return f"{op}()"
    shape = [int(s) for s in sig[6:6 + min(max(nd, 0), _MAXD)]] + (["..."] if nd > _MAXD else [])
    args = [f"{dt} {shape}"]
    if op in ("all_reduce", "reduce_scatter_tensor") and extra in _REDUCE_NAMES:
        args.append(f"op={_REDUCE_NAMES[extra]}")
    elif op == "reduce" and extra >= 0:
        args.append(f"op={_REDUCE_NAMES.get(extra // 1000, '?')}, dst={extra % 1000}")
    elif op in ("broadcast", "scatter") and extra >= 0:
        args.append(f"src={extra}")
    elif op == "gather" and extra >= 0:
        args.append(f"dst={extra}")
    elif extra >= 0:
        args.append(f"arg={extra}")
    return f"{op}({', '.join(args)})"


def _signature(opname, arr=None, extra=-1, numel=None):
    sig = np.full(6 + _MAXD, -1, np.int64)
    sig[0] = _MAGIC
    sig[1] = _OP_ID[opname]
    sig[2] = extra
    if arr is not None:
        sig[3] = _DT_NAMES.index(arr.dtype.name) if arr.dtype.name in _DT_NAMES else 99
        sig[4] = arr.ndim
        sig[5] = arr.size if numel is None else numel
        sig[6:6 + min(arr.ndim, _MAXD)] = arr.shape[:_MAXD]
    elif numel is not None:
        sig[3] = 99
        sig[4] = 0
        sig[5] = numel
    return sig


def _mismatch(group, allsig, detected_in):
    """The error for signatures that differ: who called what, in words, ranks in order."""
    rows = {}
    for r in range(group.size()):
        rows.setdefault(tuple(int(v) for v in allsig[r]), []).append(group.ranks[r])
    parts = [f"rank{'s' if len(rk) > 1 else ''} {', '.join(map(str, rk))} called "
             f"{_describe(s)}" for s, rk in sorted(rows.items(), key=lambda kv: kv[1][0])]
    calls = parts[0] + " while " + " and ".join(parts[1:])
    return RuntimeError(
        f"numtorch.distributed: mismatched collectives: {calls} (detected on rank "
        f"{group.ranks[group.rank()]} in {detected_in}). Every rank must call the same "
        "collectives in the same order with tensors of the same shape and dtype.")


def _check_signature(group, opname, arr=None, extra=-1, numel=None):
    """Allgather (op, reduce op/root, dtype, shape) of every rank; raise on any difference.

    Runs when NUMTORCH_DISTRIBUTED_DEBUG is not OFF. Costs one small Iallgather."""
    check = _start_signature_check(group, opname, arr, extra, numel)
    if check is not None:
        check.wait()


class _SignatureCheck:
    """A started signature exchange: ``wait()`` (with the group's deadline) or ``test()``,
    then raise if the ranks' signatures differ. Started before the collective it describes,
    on the same communicator, so it pairs with the peers' signature exchange even when they
    are in another collective."""

    def __init__(self, group, opname, sig):
        self.group, self.opname, self.sig = group, opname, sig
        self.allsig = np.empty((group.size(), sig.size), np.int64)
        MPI = _mpi()
        self.req = group.comm.Iallgather([sig, MPI.INT64_T], [self.allsig, MPI.INT64_T])

    def _verify(self):
        if not (self.allsig == self.sig).all():
            raise _mismatch(self.group, self.allsig, _LABELS.get(self.opname, self.opname))

    def test(self):
        if not self.req.Test():
            return False
        self._verify()
        return True

    def wait(self):
        _wait([self.req], f"{self.opname} (signature check)", self.group, self.group.timeout)
        self._verify()


def _start_signature_check(group, opname, arr=None, extra=-1, numel=None):
    """Start the signature exchange of a collective; None when checks are off."""
    if not _check_enabled[0] or group.size() == 1:
        return None
    return _SignatureCheck(group, opname, _signature(opname, arr, extra, numel))


# --- waiting --------------------------------------------------------------------------------------
def _wait(reqs, what, group, timeout, status=None):
    """Wait for MPI requests by polling, so a deadline can end the wait with an error.

    Spin on Test for the first millisecond (latency), then yield the core between polls (ranks
    may oversubscribe the cores), then sleep briefly: a stuck peer costs little CPU."""
    MPI = _mpi()
    if len(reqs) == 1:
        req = reqs[0]
        if status is None:
            test = req.Test
        else:
            def test():
                return req.Test(status)
    else:
        def test():
            return MPI.Request.Testall(reqs)
    if test():
        return
    t0 = time.monotonic()
    deadline = None if timeout is None else t0 + timeout
    yield_ = os.sched_yield
    while True:
        if test():
            return
        now = time.monotonic()
        if deadline is not None and now > deadline:
            rank = _state.world.rank() if _state.world is not None else "?"
            raise RuntimeError(
                f"numtorch.distributed: {what} timed out on rank {rank} after {timeout:.1f} s "
                f"(group ranks {group.ranks}); a peer rank did not reach the same collective "
                "(it may have failed, hung, or called a different collective)")
        dt = now - t0
        if dt > 0.2:
            time.sleep(0.0005)
        elif dt > 0.001:
            yield_()


class Work:
    """Handle of an asynchronous collective (``async_op=True``): ``wait()``, ``is_completed()``.

    The MPI requests are non-blocking; ``finish`` runs once on completion (copy back a staged
    buffer, divide for AVG, bump version counters).

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> t = torch.ones(2)  # doctest: +SKIP
    >>> work = dist.all_reduce(t, async_op=True)  # doctest: +SKIP
    >>> work.wait()  # doctest: +SKIP
    True
    >>> work.is_completed()  # doctest: +SKIP
    True
    """

    def __init__(self, reqs, what, group, finish=None, result=None, status=None, check=None):
        self._reqs = reqs
        self._check = check  # a _SignatureCheck started just before the requests, or None
        self._status = status
        self._what = what
        self._group = group
        self._finish = finish
        self._result = result
        self._done = False

    def _complete(self):
        if not self._done:
            self._done = True
            if self._finish is not None:
                self._finish()

    def is_completed(self):
        if self._done:
            return True
        if self._check is not None:
            if not self._check.test():
                return False
            self._check = None
        if not self._reqs or (self._reqs[0].Test(self._status) if self._status is not None
                              else _mpi().Request.Testall(self._reqs)):
            self._complete()
            return True
        return False

    def wait(self, timeout=None):
        """Block until done; ``timeout`` (seconds or timedelta) defaults to the group's."""
        if not self._done:
            t = _seconds(timeout) if timeout is not None else self._group.timeout
            if self._check is not None:
                self._check.wait()
                self._check = None
            if self._reqs:
                _wait(self._reqs, self._what, self._group, t, self._status)
            self._complete()
        return True

    def is_success(self):
        return self._done

    def exception(self):
        return None

    def result(self):
        return self._result

    def source_rank(self):  # irecv from any source
        return getattr(self, "_source", None)


def _run(reqs, what, group, async_op, finish=None, result=None):
    """Return a Work (async) or wait here with the group's deadline (blocking)."""
    w = Work(reqs, what, group, finish, result)
    if async_op:
        return w
    w.wait()
    return None


# --- fail fast ----------------------------------------------------------------------------------
def _abort_job(where):
    try:
        MPI = _mpi()
        if MPI.Is_initialized() and not MPI.Is_finalized():
            rank = MPI.COMM_WORLD.Get_rank()
            sys.stderr.write(f"[numtorch.distributed] rank {rank}: uncaught exception in {where}; "
                             "aborting the MPI job (MPI_Abort) so no rank hangs\n")
            sys.stderr.flush()
            sys.stdout.flush()
            # give mpiexec's proxy a moment to forward the traceback before the job is killed
            time.sleep(0.3)
            MPI.COMM_WORLD.Abort(1)
    finally:
        os._exit(1)


def _install_fail_fast():
    if _state.prev_hooks is not None:
        return
    prev_sys, prev_thread = sys.excepthook, threading.excepthook

    def excepthook(etype, value, tb):
        try:
            prev_sys(etype, value, tb)
        except Exception:
            traceback.print_exception(etype, value, tb)
        _abort_job("the main thread")

    def thread_excepthook(args):
        if args.exc_type is SystemExit:
            return prev_thread(args)
        try:
            prev_thread(args)
        except Exception:
            pass
        _abort_job(f"thread {getattr(args.thread, 'name', '?')}")

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
    _state.prev_hooks = (prev_sys, prev_thread, excepthook, thread_excepthook)


#: how long a rank that failed before init_process_group waits for its peers to start MPI
_PRESTART_WAIT = 60.0


def _launched_by_mpi():
    """True when an MPI launcher started this process as one of several ranks."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE"):
        v = os.environ.get(var)
        if v and v.isdigit():
            return int(v) > 1
    return False


def _install_prestart_hook():
    """Under an MPI launcher, make an uncaught exception end the whole job even before
    ``init_process_group`` (run at import).

    The peers of a rank that dies before MPI starts wait in MPI's start-up, where the
    launcher does not see a failure. So this rank starts MPI itself (its peers are usually
    waiting there already) and aborts the job; if they do not start MPI within
    ``_PRESTART_WAIT`` s it gives up and ends alone (their own start-up watchdog ends them
    after their timeout). Once a process group exists, ``_install_fail_fast``'s hook rules."""
    if not _launched_by_mpi() or getattr(sys.excepthook, "_numtorch_prestart", False):
        return
    prev = sys.excepthook

    def excepthook(etype, value, tb):
        try:
            prev(etype, value, tb)
        except Exception:
            traceback.print_exception(etype, value, tb)
        if _state.prev_hooks is not None:
            return  # called by the fail-fast hook to print: it aborts the job itself
        try:
            MPI = sys.modules.get("mpi4py.MPI")
            if MPI is None or not MPI.Is_initialized():
                rank = _rank_hint()
                sys.stderr.write(
                    f"[numtorch.distributed] rank {rank}: uncaught exception before "
                    "init_process_group; starting MPI to abort the job, so that no rank waits "
                    f"for this one (for at most {_PRESTART_WAIT:g} s)\n")
                sys.stderr.flush()
                _StartupWatchdog(_PRESTART_WAIT, "waiting in MPI start-up", (
                    f"[numtorch.distributed] rank {rank}: the other ranks did not start MPI "
                    f"within {_PRESTART_WAIT:g} s, so the job could not be aborted ({{stage}}); "
                    f"ending rank {rank}"))
                MPI = _mpi()
                if not MPI.Is_initialized():
                    MPI.Init_thread()
            _abort_job("the main thread, outside a process group")
        finally:
            os._exit(1)

    excepthook._numtorch_prestart = True
    sys.excepthook = excepthook


def _remove_fail_fast():
    if _state.prev_hooks is None:
        return
    prev_sys, prev_thread, mine_sys, mine_thread = _state.prev_hooks
    if sys.excepthook is mine_sys:
        sys.excepthook = prev_sys
    if threading.excepthook is mine_thread:
        threading.excepthook = prev_thread
    _state.prev_hooks = None


# --- start-up watchdog ---------------------------------------------------------------------------
# MPI start-up blocks in C with the GIL held (mpi4py's MPI_Init_thread), so no Python thread of
# this process can end the wait: a small watcher process does. It reads stage names from a pipe;
# EOF (start-up done, or this process gone) ends it; at the deadline it prints its message with
# the current stage on stderr and kills the rank, which makes the launcher end the job.
_WATCHER = r"""
import os, select, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
pid, timeout, message, what = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
deadline, buf = time.monotonic() + timeout, b""
while True:
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([0], [], [], left)[0]:
        break
    data = os.read(0, 4096)
    if not data:
        sys.exit(0)
    *lines, buf = (buf + data).split(b"\n")
    what = lines[-1].decode() if lines else what
sys.stderr.write(message.replace("{stage}", what) + "\n")
sys.stderr.flush()
try:
    os.kill(pid, signal.SIGKILL)
except OSError:
    pass
sys.exit(1)
"""


def _rank_hint():
    """This process's rank from the launcher's environment (before MPI can tell), or '?'."""
    for var in ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK",
                "SLURM_PROCID"):
        v = os.environ.get(var)
        if v and v.isdigit():
            return v
    return "?"


def _init_timeout_message(timeout):
    rank = _rank_hint()
    return (f"[numtorch.distributed] rank {rank}: init_process_group did not finish within "
            f"{timeout:g} s: still {{stage}}. A rank has probably failed (or not reached "
            f"init_process_group); ending rank {rank} so that no rank hangs")


class _StartupWatchdog:
    """Ends this process if MPI start-up has not finished ``timeout`` seconds from now,
    printing ``message`` (``{stage}`` replaced by the last stage) on stderr.

    ``stage(what)`` names what the rank waits for next; ``stop()`` disarms it. Without a
    usable interpreter for the watcher, faulthandler's C timer ends the process instead
    (exit code 1, with a traceback of where it waited)."""

    def __init__(self, timeout, what, message=None):
        self._fd = self._proc = None
        self._faulthandler = False
        message = _init_timeout_message(timeout) if message is None else message
        r, w = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHER, str(os.getpid()),
                 repr(float(timeout)), message, what],
                stdin=r, stdout=subprocess.DEVNULL, close_fds=True)
            self._fd = w
        except (OSError, ValueError):
            os.close(w)
            import faulthandler
            faulthandler.dump_traceback_later(timeout, exit=True)
            self._faulthandler = True
        finally:
            os.close(r)

    def stage(self, what):
        if self._fd is not None:
            try:
                os.write(self._fd, what.encode() + b"\n")
            except OSError:
                pass

    def stop(self):
        if self._fd is not None:
            os.close(self._fd)  # EOF: the watcher exits; reap it without making init wait
            self._fd = None
            threading.Thread(target=self._proc.wait, name="numtorch-watchdog-reaper",
                             daemon=True).start()
        if self._faulthandler:
            import faulthandler
            faulthandler.cancel_dump_traceback_later()
            self._faulthandler = False


# --- process groups -----------------------------------------------------------------------------
def is_initialized():
    """True between ``init_process_group`` and ``destroy_process_group``.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.is_initialized()                # before init_process_group  # doctest: +SKIP
    False
    >>> dist.init_process_group("mpi")       # doctest: +SKIP
    >>> dist.is_initialized()                # doctest: +SKIP
    True
    """
    return _state.world is not None


def _world():
    if _state.world is None:
        raise ValueError("Default process group has not been initialized, please make sure to "
                         "call init_process_group.")
    return _state.world


def _group(group):
    """The ProcessGroup to run on, or None if this rank is not a member of ``group``."""
    if group is None or group is GroupMember.WORLD:
        return _world()
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup returned by new_group, got {group!r}")
    _world()
    return group


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the job's process group (rank and world size come from MPI, e.g. ``mpiexec -n 4``).

    Any backend name (``"mpi"``, ``"gloo"``, ``"nccl"``) runs over MPI. ``world_size``/``rank``,
    if given, must agree with MPI's. ``timeout`` (timedelta or seconds, default 30 min) bounds
    every collective's wait, and MPI start-up itself: a rank still waiting for its peers in
    MPI's start-up after ``timeout`` says so on stderr and ends (a peer failed before init).
    From here on an uncaught exception in any rank aborts the job.

    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")           # doctest: +SKIP
    >>> dist.get_rank(), dist.get_world_size()   # doctest: +SKIP
    (0, 1)
    """
    if _state.world is not None:
        raise ValueError("trying to initialize the default process group twice!")
    if backend is not None and str(backend).split(":")[0].lower() not in (
            "mpi", "gloo", "nccl", "cpu", "cuda", "undefined"):
        raise ValueError(f"Invalid backend: '{backend}'")
    t = _seconds(timeout)
    if t is None:
        t = DEFAULT_TIMEOUT.total_seconds()
    # start-up waits for every rank in C calls without a deadline (MPI_Init_thread, Comm_dup,
    # Split_type): a watchdog bounds them by the timeout, so a rank that failed before or
    # during init_process_group ends the job instead of hanging it
    dog = _StartupWatchdog(t, "waiting in MPI start-up (MPI_Init_thread) for every rank to "
                              "start MPI")
    try:
        MPI = _mpi()
        if not MPI.Is_initialized():
            MPI.Init_thread()
        comm = MPI.COMM_WORLD
        size, me = comm.Get_size(), comm.Get_rank()
        if world_size is not None and world_size != -1 and world_size != size:
            raise ValueError(f"init_process_group: world_size={world_size} but MPI runs {size} "
                             "processes (launch with mpiexec -n N, or leave world_size unset)")
        if rank is not None and rank != -1 and rank != me:
            raise ValueError(f"init_process_group: rank={rank} but MPI says this process is "
                             f"rank {me}")
        dog.stage("waiting in MPI_Comm_dup(COMM_WORLD) for every rank to call "
                  "init_process_group")
        world = comm.Dup()
        dog.stage("waiting in MPI_Comm_split_type for the ranks of this node")
        _share_cores(comm, MPI)
    finally:
        dog.stop()
    _check_enabled[0] = _debug_level() != "OFF"
    _state.world = ProcessGroup(world, range(size), t)
    _state.backend = "mpi"
    _state.groups = []
    GroupMember.WORLD = _state.world
    _install_fail_fast()


def _share_cores(comm, MPI):
    """Give each rank on a node an equal share of its cores for Numba's and OpenBLAS's pools.

    N ranks each running pools as wide as the machine oversubscribe the cores: the Fashion-MNIST
    CNN on 2 ranks x 2 cores took 368 ms a step with full-width pools and 59 ms with shares.
    A user's NUMBA_NUM_THREADS / OPENBLAS_NUM_THREADS wins."""
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    n_local = local.Get_size()
    local.Free()
    if n_local <= 1:
        return
    share = max(1, (os.cpu_count() or 1) // n_local)
    if "NUMBA_NUM_THREADS" not in os.environ:
        import numba
        numba.set_num_threads(min(numba.config.NUMBA_NUM_THREADS, share))
    if "OPENBLAS_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # the mpi extra brings it; without it BLAS keeps its width
            return
        _state.blas_limits = threadpool_limits(share, user_api="blas")


def destroy_process_group(group=None):
    """Leave the process group (MPI itself stays up until the process exits).

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> dist.destroy_process_group()  # doctest: +SKIP
    >>> dist.is_initialized()  # doctest: +SKIP
    False
    """
    if group is not None and group is not GroupMember.WORLD:
        if isinstance(group, ProcessGroup) and group in _state.groups:
            _state.groups.remove(group)
            group.comm.Free()
        return
    if _state.world is None:
        return
    for g in _state.groups:
        try:
            g.comm.Free()
        except Exception:
            pass
    try:
        _state.world.comm.Free()
    except Exception:
        pass
    _state.world = None
    _state.groups = []
    _state.backend = None
    GroupMember.WORLD = None
    _remove_fail_fast()


def get_rank(group=None):
    """This process's rank in ``group`` (the world by default); -1 if not a member.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> dist.get_rank()   # with mpiexec -n 2: 0 on one process, 1 on the other  # doctest: +SKIP
    0
    """
    g = _group(group)
    return -1 if g is None else g.rank()


def get_world_size(group=None):
    """The number of ranks in ``group`` (the world by default); -1 if not a member.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> dist.get_world_size()   # with mpiexec -n 2  # doctest: +SKIP
    2
    """
    g = _group(group)
    return -1 if g is None else g.size()


def get_backend(group=None):
    """The backend name of ``group`` (the world by default).

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> dist.get_backend()  # doctest: +SKIP
    'mpi'
    """
    _group(group)
    return _state.backend


def get_global_rank(group, group_rank):
    """The global rank of rank ``group_rank`` of ``group``.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> g = dist.new_group([0, 1])  # doctest: +SKIP
    >>> dist.get_global_rank(g, 1)  # doctest: +SKIP
    1
    """
    return _group(group).ranks[group_rank]


def get_process_group_ranks(group):
    """The global ranks of ``group``, in group-rank order.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> dist.get_process_group_ranks(dist.new_group([1, 0]))  # doctest: +SKIP
    [0, 1]
    """
    return list(_group(group).ranks)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False):
    """A sub-group of the world; every rank must call it (like PyTorch). Ranks are sorted.
    Non-members get ``GroupMember.NON_GROUP_MEMBER``; collectives on it are no-ops for them.

    >>> import numtorch as torch
    >>> import numtorch.distributed as dist
    >>> dist.init_process_group("mpi")                          # doctest: +SKIP
    >>> evens = dist.new_group([r for r in range(dist.get_world_size()) if r % 2 == 0])  # doctest: +SKIP
    >>> t = torch.ones(1)  # doctest: +SKIP
    >>> if dist.get_rank() % 2 == 0: dist.all_reduce(t, group=evens)  # doctest: +SKIP
    """
    world = _world()
    ranks = sorted(set(range(world.size()) if ranks is None else ranks))
    for r in ranks:
        if not 0 <= r < world.size():
            raise ValueError(f"new_group: rank {r} is not in the world of {world.size()} ranks")
    _check_signature(world, "new_group", np.asarray(ranks, np.int64))
    MPI = _mpi()
    me = world.rank()
    color = 0 if me in ranks else MPI.UNDEFINED
    key = ranks.index(me) if me in ranks else 0
    comm = world.comm.Split(color, key)
    if comm == MPI.COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    t = _seconds(timeout)
    g = ProcessGroup(comm, ranks, world.timeout if t is None else t)
    _state.groups.append(g)
    return g
