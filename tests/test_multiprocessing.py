"""numtorch.multiprocessing: shared-memory tensors across fork and spawn, Hogwild, ``spawn``'s
error propagation, and no shared-memory segment or descriptor left behind.

Worker functions live at the top level: spawned children import this module to find them."""
import copy
import gc
import os
import signal
import sys
import time
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest

import numtorch
import numtorch.multiprocessing as mp
import numtorch.nn as nn
import numtorch.nn.functional as F
from numtorch.multiprocessing import _storage

# these tests start processes: keep them on one pytest-xdist worker (see tests/conftest.py)
pytestmark = pytest.mark.xdist_group("processes")

SHM = "/dev/shm"
TIMEOUT = 120  # seconds a group of child processes may take before the test fails


def _other_workers():
    """The pids of the other pytest-xdist workers (our parent's other children): the segments
    they make while a test here runs are theirs (names hold the creator's pid)."""
    if "PYTEST_XDIST_WORKER" not in os.environ or not os.path.isdir("/proc"):
        return set()
    pids = set()
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == os.getppid():
                        pids.add(d)
            except (OSError, ValueError, IndexError):
                pass
    return pids


def _segments():
    """numtorch's shared-memory segments, but those of the other test workers."""
    if not os.path.isdir(SHM):
        return set()
    others = _other_workers()
    return {n for n in os.listdir(SHM)
            if n.startswith("numtorch_") and n.split("_")[1] not in others}


@pytest.fixture(autouse=True)
def no_shm_leak():
    """Every test leaves /dev/shm as it found it and the default strategy in place."""
    before = _segments()
    yield
    mp.set_sharing_strategy("file_descriptor")
    if _segments() - before:
        gc.collect()  # (a collection costs ~0.5 s here: only when something is left)
    assert _segments() - before == set()


def _torch():
    """PyTorch as an extra oracle where it is installed (imported lazily: spawned children
    import this module and need not pay for it)."""
    try:
        import torch
    except ImportError:  # the NumPy/closed-form checks still run
        return None
    return torch


def _open_fds():
    """This process's descriptors of shared-memory files (memfds and /dev/shm)."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the descriptor of listdir itself
            continue
        if "memfd:" in target or target.startswith(SHM):
            out.append(target)
    return sorted(out)


def _join_all(ctx):
    """``ctx.join()`` until done; kill everything and fail after TIMEOUT seconds."""
    end = time.monotonic() + TIMEOUT
    while not ctx.join(timeout=1):
        if time.monotonic() > end:
            for p in ctx.processes:
                p.kill()
            pytest.fail("child processes did not finish in time")


# --- in one process ------------------------------------------------------------------------------
def test_share_memory_in_place_keeps_views_and_aliases():
    t = numtorch.arange(12.).reshape(3, 4)
    v, tt, d = t[1], t.t(), t.data
    p = nn.Parameter(t)
    assert not any(x.is_shared() for x in (t, v, tt, d, p))
    assert v.share_memory_() is v  # a view shares its whole storage
    assert all(x.is_shared() for x in (t, v, tt, d, p))
    np.testing.assert_array_equal(t.numpy(), np.arange(12.).reshape(3, 4))
    ptr = t.data_ptr()
    t[1, 2] = 50.0
    assert v[2].item() == tt[2, 1].item() == d[1, 2].item() == p[1, 2].item() == 50.0
    assert t.share_memory_() is t and t.data_ptr() == ptr  # already shared: no-op
    torch = _torch()
    if torch is not None:  # the same sequence in PyTorch
        tc = torch.arange(12.).reshape(3, 4)
        vc, ttc, dc = tc[1], tc.t(), tc.data
        vc.share_memory_()
        tc[1, 2] = 50.0
        assert [x.is_shared() for x in (tc, vc, ttc, dc)] == [True] * 4
        assert vc[2].item() == ttc[2, 1].item() == dc[1, 2].item() == 50.0
    # a fresh tensor (no view of it exists), other dtypes, empty, expanded
    x = numtorch.ones(4, dtype=numtorch.float32).share_memory_()
    b = numtorch.tensor([True, False]).share_memory_()
    n = numtorch.tensor([3, -4]).share_memory_()
    e = numtorch.empty(0, 2).share_memory_()
    ex = numtorch.tensor([1., 2.]).expand(3, 2).share_memory_()
    assert all(y.is_shared() for y in (x, b, n, e, ex))
    assert x.tolist() == [1.0] * 4 and b.tolist() == [True, False] and n.tolist() == [3, -4]
    assert e.shape == (0, 2) and ex.tolist() == [[1., 2.]] * 3
    assert x.dtype is numtorch.float32 and n.dtype is numtorch.int64


def test_module_share_memory_and_cuda(monkeypatch):
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    params = list(m.parameters())
    opt = numtorch.optim.SGD(m.parameters(), lr=0.1)
    m(numtorch.randn(5, 3)).sum().backward()
    before = [q.detach().clone() for q in params]
    assert m.share_memory() is m
    assert [q is r for q, r in zip(m.parameters(), params)] == [True] * 4  # same objects
    assert all(q.is_shared() and q.grad.is_shared() for q in m.parameters())
    assert all(b.is_shared() for b in m.buffers())
    opt.step()  # the optimizer's references write into the shared memory
    assert all(q.is_shared() for q in m.parameters())
    assert any(not numtorch.equal(q, r) for q, r in zip(m.parameters(), before))
    # a fresh model has no views or aliases of its weights: no scan of the heap for them
    scans = []
    monkeypatch.setattr(_storage, "_tensors_over", lambda *a: scans.append(a) or [])
    fresh = nn.Linear(3, 2).share_memory()
    assert fresh.weight.is_shared() and fresh.bias.is_shared() and scans == []
    if numtorch.cuda.is_available():  # Numba's simulator in CI
        c = numtorch.zeros(2, device="cuda")
        with pytest.raises(RuntimeError, match="cannot share cuda"):
            c.share_memory_()
        assert not c.is_shared()


def test_sharing_strategies_match_torch():
    assert mp.get_sharing_strategy() == "file_descriptor"
    assert mp.get_all_sharing_strategies() == {"file_descriptor", "file_system"}
    with pytest.raises(AssertionError, match="invalid sharing strategy 'bad'"):
        mp.set_sharing_strategy("bad")
    if _torch() is not None:
        import torch.multiprocessing as tmp
        assert tmp.get_all_sharing_strategies() == mp.get_all_sharing_strategies()
        assert tmp.get_sharing_strategy() == mp.get_sharing_strategy()
    assert mp.Process is not None and mp.Queue is not None and mp.Pool is not None


@pytest.mark.parametrize("strategy", ["file_descriptor", "file_system"])
def test_pickled_handles_and_cleanup(strategy):
    """ForkingPickler (what queues and spawn use) sends a handle, not the data; segments and
    descriptors go away with the last tensor."""
    mp.set_sharing_strategy(strategy)
    fds, segs = _open_fds(), _segments()
    w = nn.Parameter(numtorch.zeros(2, 3)).share_memory_()
    if strategy == "file_system":
        assert len(_segments() - segs) == 1
    else:
        assert len(_open_fds()) > len(fds)
    got = ForkingPickler.loads(ForkingPickler.dumps(w.detach()[1]))
    assert type(got) is numtorch.Tensor and got.is_shared() and got.shape == (3,)
    got[2] = 7.0  # the same memory
    assert w[1, 2].item() == 7.0
    p = ForkingPickler.loads(ForkingPickler.dumps(w))
    assert type(p) is nn.Parameter and p.requires_grad and p.is_shared()
    plain = numtorch.ones(2)
    copy = ForkingPickler.loads(ForkingPickler.dumps(plain))  # not shared: travels by value
    copy[0] = 5.0
    assert plain.tolist() == [1.0, 1.0] and not copy.is_shared()
    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf"):
        ForkingPickler.dumps(w * 2)
    del w, got, p
    gc.collect()
    assert _segments() == segs
    assert _open_fds() == fds


# --- fork -----------------------------------------------------------------------------------------
def _fork_child(w, q, back, done):
    u = q.get(timeout=TIMEOUT)  # a shared tensor sent through the queue
    c = q.get(timeout=TIMEOUT)  # a plain one: a copy
    w += 1.0
    u[0] = 10.0
    c[0] = 10.0
    mine = numtorch.full((2,), 3.0).share_memory_()
    back.put(mine)
    done.wait(TIMEOUT)  # keep `mine` alive until the parent has it
    assert mine.tolist() == [3.0, -3.0]  # the parent wrote into it


def _fill_row(m, i):
    m[i] = float(i + 1)
    return m.is_shared()


@pytest.mark.parametrize("strategy", ["file_descriptor", "file_system"])
def test_fork_process_queue_pool(strategy):
    mp.set_sharing_strategy(strategy)
    ctx = mp.get_context("fork")
    w = numtorch.zeros(3).share_memory_()
    u = numtorch.zeros(2).share_memory_()
    c = numtorch.zeros(2)
    q, back, done = ctx.Queue(), ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_fork_child, args=(w, q, back, done))
    proc.start()
    q.put(u)
    q.put(c)
    mine = back.get(timeout=TIMEOUT)
    assert mine.is_shared() and mine.tolist() == [3.0, 3.0]
    mine[1] = -3.0
    done.set()
    proc.join(TIMEOUT)
    assert proc.exitcode == 0
    assert w.tolist() == [1.0] * 3 and u.tolist() == [10.0, 0.0] and c.tolist() == [0.0, 0.0]
    if strategy == "file_system":  # only the creator unlinks: the child's exit left w's name
        assert os.path.exists(SHM + _storage.segment_of(w._data).name)
    m = numtorch.zeros(2, 2).share_memory_()
    with ctx.Pool(2) as pool:  # arguments pickled through ForkingPickler to the workers
        assert pool.starmap(_fill_row, [(m, 0), (m, 1)]) == [True, True]
    assert m.tolist() == [[1.0, 1.0], [2.0, 2.0]]


def _sleep_or_fail(i, how):
    if i == 0:
        time.sleep(TIMEOUT)  # stopped by the parent once process 1 failed
    elif how == "raise":
        raise ValueError(f"bad value in process {i}")
    elif how == "exit":
        sys.exit(3)
    else:
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("how", ["raise", "exit", "signal"])
def test_start_processes_fork_propagates_failure(how):
    ctx = mp.start_processes(_sleep_or_fail, args=(how,), nprocs=2, join=False,
                             start_method="fork")
    assert len(set(ctx.pids())) == 2
    t0 = time.monotonic()
    err = {"raise": mp.ProcessRaisedException, "exit": mp.ProcessExitedException,
           "signal": mp.ProcessExitedException}[how]
    with pytest.raises(err) as info:
        _join_all(ctx)
    assert time.monotonic() - t0 < TIMEOUT / 2  # process 0 was stopped, not waited for
    assert not any(p.is_alive() for p in ctx.processes)
    e = info.value
    assert e.error_index == 1 and e.error_pid == ctx.processes[1].pid
    if how == "raise":
        assert "-- Process 1 terminated with the following error:" in str(e)
        assert "ValueError: bad value in process 1" in str(e)
    elif how == "exit":
        assert str(e) == "process 1 terminated with exit code 3" and e.exit_code == 3
    else:
        assert str(e) == "process 1 terminated with signal SIGKILL"
        assert e.exit_code == -signal.SIGKILL and e.signal_name == "SIGKILL"
    assert ctx.join() is True  # nothing left to join


# --- spawn ----------------------------------------------------------------------------------------
def _spawn_worker(i, flags, model):
    if i == 0:
        assert type(model.weight) is nn.Parameter and model.weight.is_shared()
        with numtorch.no_grad():
            model.weight.add_(1.0)
        flags[0] = 1.0
    else:
        end = time.monotonic() + TIMEOUT
        while flags[0].item() != 1.0:  # process 0's write arrives through shared memory
            if time.monotonic() > end:
                return
            time.sleep(0.01)
        raise ValueError("boom after process 0 wrote")


def test_spawn_shares_memory_and_propagates_errors():
    flags = numtorch.zeros(2).share_memory_()
    model = nn.Linear(2, 1).share_memory()
    w0 = model.weight.detach().clone()
    ctx = mp.spawn(_spawn_worker, args=(flags, model), nprocs=2, join=False)
    with pytest.raises(mp.ProcessRaisedException) as info:
        _join_all(ctx)
    assert info.value.error_index == 1
    assert "ValueError: boom after process 0 wrote" in str(info.value)
    assert flags.tolist() == [1.0, 0.0]
    np.testing.assert_array_equal(model.weight.detach().numpy(), w0.numpy() + 1.0)


# --- Hogwild --------------------------------------------------------------------------------------
def _hogwild_data():
    g = np.random.default_rng(0)
    x = g.standard_normal((64, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32)).astype(np.float32)
    return numtorch.from_numpy(x), numtorch.from_numpy(y)


def _hogwild_train(rank, model, steps, losses):
    x, y = _hogwild_data()
    xs, ys = x[rank::2], y[rank::2]  # each process its half of the data
    opt = numtorch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(model(xs), ys)
        loss.backward()
        opt.step()
    losses[rank] = loss.item()


def test_hogwild_fork_trains_one_set_of_weights():
    numtorch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    x, y = _hogwild_data()
    params = list(model.parameters())
    with numtorch.no_grad():
        loss0 = F.mse_loss(model(x), y).item()
    _hogwild_train(0, copy.deepcopy(model), 1, numtorch.zeros(1))  # compile here; children inherit
    model.share_memory()
    before = [p.detach().clone() for p in params]
    losses = numtorch.zeros(2).share_memory_()
    ctx = mp.start_processes(_hogwild_train, args=(model, 30, losses), nprocs=2, join=False,
                             start_method="fork")
    _join_all(ctx)
    assert all(p is q and p.is_shared() for p, q in zip(model.parameters(), params))
    assert all(not numtorch.equal(p, b) for p, b in zip(params, before))  # the children's steps
    with numtorch.no_grad():
        loss1 = F.mse_loss(model(x), y).item()
    assert loss1 < 0.1 * loss0, (loss0, loss1)
    assert all(0 < v < loss0 for v in losses.tolist())  # both children trained and reported
