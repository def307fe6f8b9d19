"""numtorch.distributed and DistributedDataParallel under real ``mpiexec`` ranks.

Each test launches ``mpiexec -n N sys.executable tests/mpi_scripts/<script>.py`` in its own
session with a timeout (the process group is killed on timeout) and checks exit codes and the
.npz files the ranks wrote against NumPy (collectives) or a single-process run (DDP)."""
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = pathlib.Path(__file__).resolve().parent
SCRIPTS = HERE / "mpi_scripts"
sys.path.insert(0, str(SCRIPTS))
from _inputs import OPS, DTYPES, rank_data, reduce_np  # noqa: E402


def _mpiexec():
    for cand in (pathlib.Path(sys.executable).parent / "mpiexec", shutil.which("mpiexec")):
        if cand and pathlib.Path(cand).exists():
            return str(cand)
    return None


def _have_mpi():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return _mpiexec() is not None


pytestmark = pytest.mark.skipif(not _have_mpi(), reason="needs mpi4py and mpiexec")


def launch(n, script, *args, timeout=120):
    """Run ``mpiexec -n n python script args``; returns (returncode, output, seconds)."""
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONUNBUFFERED="1")
    cmd = [_mpiexec(), "-n", str(n), sys.executable, str(SCRIPTS / script), *map(str, args)]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                         start_new_session=True, text=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        pytest.fail(f"mpiexec -n {n} {script} {args} hung for {timeout} s:\n{out[-4000:]}")
    return p.returncode, out, time.monotonic() - t0


# --- in process: no MPI needed ------------------------------------------------------------------
def test_import_does_not_start_mpi():
    code = ("import sys, numtorch, numtorch.distributed as d, numtorch.nn.parallel; "
            "assert 'mpi4py.MPI' not in sys.modules; assert d.is_available(); "
            "assert not d.is_initialized(); print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_uninitialized_errors():
    import numtorch as torch
    import numtorch.distributed as dist
    from numtorch.nn.parallel import DistributedDataParallel
    with pytest.raises(ValueError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedDataParallel(torch.nn.Linear(2, 2))


# --- collectives ----------------------------------------------------------------------------------
def _expected_collectives(n):
    exp = {}
    for dt in DTYPES:
        for op in OPS:
            for key, name in ((f"ar-{op}-{dt}", "all_reduce"), (f"aar-{op}-{dt}", "async_all_reduce")):
                e = reduce_np([rank_data(k, key, dtype=dt) for k in range(n)], op)
                for r in range(n):
                    exp[(r, f"{name}-{op}-{dt}")] = e
            e = reduce_np([rank_data(k, f"red-{op}-{dt}", dtype=dt) for k in range(n)], op)
            exp[(n - 1, f"reduce-{op}-{dt}")] = e
        for op in ("SUM", "MAX"):
            e = reduce_np([rank_data(k, f"rs-{op}-{dt}", shape=(n * 2, 3), dtype=dt)
                           for k in range(n)], op)
            for r in range(n):
                exp[(r, f"reduce_scatter_tensor-{op}-{dt}")] = e[2 * r:2 * r + 2]
    nc = [rank_data(k, "nc", shape=(4, 6)) for k in range(n)]
    for r in range(n):
        b = nc[r].copy()
        b[:, ::2] = sum(x[:, ::2] for x in nc)
        exp[(r, "noncontig")] = b
        exp[(r, "broadcast")] = rank_data(1, "bc")
        exp[(r, "async_broadcast")] = rank_data(0, "abc")
        exp[(r, "all_gather")] = np.stack([rank_data(k, "ag") for k in range(n)])
        exp[(r, "all_gather_into_tensor")] = np.concatenate([rank_data(k, "agt") for k in range(n)])
        exp[(r, "scatter")] = rank_data(r, "sc")
        exp[(r, "sendrecv")] = rank_data((r - 1) % n, "p2p")
        exp[(r, "isendrecv")] = rank_data((r - 1) % n, "ip2p")
        grp = (0, n - 1)
        exp[(r, "group_all_reduce")] = (rank_data(0, "grp") + rank_data(n - 1, "grp")
                                        if r in grp else rank_data(r, "grp"))
        if r in grp:
            exp[(r, "group_broadcast")] = rank_data(n - 1, "grpbc")
    exp[(0, "gather")] = np.stack([rank_data(k, "ga") for k in range(n)])
    return exp


@pytest.mark.parametrize("n", [2, 3])
def test_collectives(n, tmp_path):
    rc, out, _ = launch(n, "collectives.py", tmp_path)
    assert rc == 0, out[-4000:]
    got = {r: dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(n)}
    for (r, key), e in _expected_collectives(n).items():
        assert key in got[r], (r, key)
        g = got[r][key]
        assert g.shape == e.shape and g.dtype == e.dtype, (r, key, g.shape, g.dtype)
        if e.dtype.kind == "f":
            np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6, err_msg=f"rank {r}: {key}")
        else:
            np.testing.assert_array_equal(g, e, err_msg=f"rank {r}: {key}")


# --- DistributedDataParallel ----------------------------------------------------------------------
CONFIGS = ["sgd", "adam_buckets", "sgd_view_buckets", "nosync", "adam_nosync_view", "unused"]


@pytest.mark.parametrize("n", [2, 3])
def test_ddp_matches_single_process(n, tmp_path):
    rc, out, _ = launch(n, "ddp_train.py", tmp_path, timeout=240)
    assert rc == 0, out[-4000:]
    for name in CONFIGS:
        ref = np.load(tmp_path / f"{name}-ref.npz")
        ranks = [np.load(tmp_path / f"{name}-rank{r}.npz") for r in range(n)]
        assert sorted(ranks[0].files) == sorted(ref.files)
        for k in ref.files:
            for r in range(n):
                # identical on every rank (same averaged gradients, same update)
                np.testing.assert_array_equal(ranks[r][k], ranks[0][k], err_msg=f"{name} {k}")
            np.testing.assert_allclose(ranks[0][k], ref[k], rtol=1e-5, atol=1e-5,
                                       err_msg=f"{name}: {k}")


@pytest.mark.parametrize("n", [2])
def test_cuda_tensors_are_staged_through_the_host(n):
    """Collectives and DDP on CUDA tensors (Numba's simulator in CI: NUMBA_ENABLE_CUDASIM=1 is
    set by conftest and inherited by the ranks)."""
    import numtorch
    if not numtorch.cuda.is_available():
        pytest.skip("no CUDA device and no simulator")
    rc, out, _ = launch(n, "cuda_staging.py", timeout=300)
    assert rc == 0, out[-4000:]
    assert all(f"rank {r} ok" in out for r in range(n)), out[-4000:]


# --- failures: every rank exits non-zero, fast, with a clear message -------------------------------
@pytest.mark.parametrize("mode,n,message", [
    ("raise", 3, "rank 1 fails on purpose"),
    ("mismatch", 2, "rank 0 called all_reduce(float32 [3, 2], op=SUM) while rank 1 called "
                    "all_reduce(float32 [4, 2], op=SUM)"),
    ("timeout", 2, "timed out on rank 0"),
    ("unused", 2, "Expected to have finished reduction in the prior iteration"),
    # uneven DDP steps: one rank's barrier meets the other's gradient bucket, named in words
    ("uneven", 2, "rank 0 called barrier() while rank 1 called all_reduce(bucket 0 of "
                  "DistributedDataParallel, 16.6 kB float32)"),
    ("after_init", 2, "rank 1 fails right after init_process_group"),
])
def test_failures_abort_the_job(mode, n, message):
    rc, out, secs = launch(n, "failures.py", mode, timeout=60)
    assert rc != 0, out[-4000:]
    assert message in out, out[-4000:]
    assert "no error (unexpected)" not in out
    assert secs < 30, secs


@pytest.mark.parametrize("mode,message", [
    # the failing rank starts MPI from its excepthook and aborts the job: ends at once
    ("before_init", "rank 1: uncaught exception before init_process_group; starting MPI to "
                    "abort the job"),
    # no numtorch in the failing rank: its peer's start-up watchdog ends the job after 3 s
    ("before_import", "rank 0: init_process_group did not finish within 3 s: still waiting in "
                      "MPI start-up (MPI_Init_thread)"),
    # MPI started, init_process_group never called: the peer waits in Comm_dup until 3 s
    ("stuck_in_init", "rank 0: init_process_group did not finish within 3 s: still waiting in "
                      "MPI_Comm_dup(COMM_WORLD)"),
])
def test_rank_failing_before_init_ends_the_job(mode, message):
    """A rank that dies before init_process_group (even before importing numtorch), or never
    gets there, leaves its peers blocked in MPI's start-up, where no Python code runs and the
    launcher sees no failure: every rank still ends, within the timeout (3 s here)."""
    rc, out, secs = launch(2, "failures.py", mode, timeout=60)
    assert rc != 0, out[-4000:]
    assert "rank 1 fails" in out, out[-4000:]
    assert message in out, out[-4000:]
    assert "no error (unexpected)" not in out
    assert secs < 3 + 12, secs  # the timeout, plus start-up of the interpreters
