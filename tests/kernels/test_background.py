"""``kernels/_background.py``: a twin's parallel build compiled by a helper process while the
serial build runs, then loaded from the on-disk cache (each case in a fresh process with an
empty cache: the helper only comes into play on cold caches)."""
import os
import subprocess
import sys
import textwrap
import time

import pytest

SCRIPT = textwrap.dedent("""
    import os, time
    import numpy as np
    from numba import prange
    from numtorch.kernels import _background as bg, policy
    from numtorch.kernels.cpu import elementwise  # noqa: F401  (registers the twins)

    def run(twin, *args):
        twin(*args, work=policy.PARALLEL_THRESHOLD)
        return policy.parallel_dispatcher(twin)

    # a module-level twin: the helper compiles its parallel build; meanwhile the serial one runs
    x = np.arange(1000, dtype=np.float32)
    out = np.empty_like(x)
    twin = policy.TWINS[("numtorch.kernels.cpu.elementwise", "mul_flat")]
    par = run(twin, x, x, out)
    assert np.array_equal(out, x * x)
    assert not par.overloads, "the parallel build compiled here, not in the helper"
    key = par._numtorch_key
    states = [s for k, s in bg.CLIENT._states.items() if k[0] == key]
    assert states == [bg.PENDING] or states == [bg.DONE], states
    helper = bg.CLIENT._proc.pid
    deadline = time.monotonic() + 300
    while bg.CLIENT.state(next(k for k in bg.CLIENT._states if k[0] == key)) == bg.PENDING:
        assert time.monotonic() < deadline, "the helper never answered"
        time.sleep(0.05)
    assert bg.CLIENT.state(next(k for k in bg.CLIENT._states if k[0] == key)) == bg.DONE
    out[:] = 0
    run(twin, x, x, out)
    assert np.array_equal(out, x * x)
    assert par.overloads and sum(par._cache_hits.values()) == 1, "not loaded from the cache"

    # a twin the helper cannot find (made at run time): reported failed, compiled here
    def double(a, out):
        for i in prange(a.shape[0]):
            out[i] = 2 * a[i]
    late = policy.Twin(double, "test_background_late_double")
    par = run(late, x, out)  # asks the helper, runs serial
    assert np.array_equal(out, 2 * x)
    k = next(k for k in bg.CLIENT._states if k[0] == ("__main__", "test_background_late_double"))
    while bg.CLIENT.state(k) == bg.PENDING:
        assert time.monotonic() < deadline, "the helper never answered"
        time.sleep(0.05)
    assert bg.CLIENT.state(k) == bg.FAILED
    out[:] = 0
    run(late, x, out)
    assert np.array_equal(out, 2 * x) and par.overloads and not par._cache_hits
    print("helper", helper)
""")


def test_parallel_build_compiles_in_the_helper_then_loads(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               NUMTORCH_BACKGROUND_COMPILE="1")
    script = tmp_path / "script.py"  # a file: Numba caches no function defined in "-c" code
    script.write_text(SCRIPT)
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    pid = int(r.stdout.split()[-1])
    with pytest.raises(ProcessLookupError):  # stopped when the process exited
        os.kill(pid, 0)


@pytest.mark.parametrize("env,want", [
    ({}, True), ({"NUMTORCH_BACKGROUND_COMPILE": "0"}, False),
    ({"OMPI_COMM_WORLD_SIZE": "2"}, False), ({"PMI_SIZE": "1"}, True),
])
def test_helper_stays_off_where_asked_and_under_mpi(monkeypatch, env, want):
    from numtorch.kernels import _background as bg
    for v in ("NUMTORCH_BACKGROUND_COMPILE",) + bg._MPI_SIZE_VARS:
        monkeypatch.delenv(v, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert bg._wanted() is want


def test_an_answer_that_comes_before_the_request_returns_is_kept():
    """The reader thread may record the helper's answer (a quick "failed") while request() is
    still in write(): the request must be pending before it leaves, not after (the answer was
    overwritten by "pending", and the kernel waited ``PATIENCE`` seconds on its serial build)."""
    from numtorch.kernels import _background as bg
    client = bg._Client()
    key = (("m", "k"), ())

    class Pipe:
        def write(self, msg):
            client._states[key] = bg.FAILED  # the reader thread, answering at once

        def flush(self):
            pass

    class Proc:
        stdin = Pipe()

    client._start = lambda: Proc()
    assert client.request(key, "m", "k", ())
    assert client.state(key) == bg.FAILED


EXITS_EARLY = textwrap.dedent("""
    import sys
    import numpy as np
    from numtorch.kernels import _background as bg, policy
    from numtorch.kernels.cpu import elementwise  # noqa: F401  (registers the twins)

    x = np.arange(1000, dtype=np.float32)
    out = np.empty_like(x)
    twin = policy.TWINS[("numtorch.kernels.cpu.elementwise", "add_flat")]
    twin(x, x, out, work=policy.PARALLEL_THRESHOLD)
    par = policy.parallel_dispatcher(twin)
    assert np.array_equal(out, x + x)
    if sys.argv[1] == "first":  # exits while the helper still compiles what it was asked
        assert not par.overloads and bg.CLIENT.pending() == 1
        print("helper", bg.CLIENT._proc.pid)
    else:  # the next run: loaded from the cache, nothing asked of a helper
        assert par.overloads and sum(par._cache_hits.values()) == 1 and not bg.CLIENT._states
        print("helper", 0)
""")


def test_the_helper_finishes_what_was_pending_when_the_process_exited(tmp_path):
    """A program that ends before the helper has compiled what it asked for leaves the helper
    running until those builds are in the cache (killing it left a short program's last
    kernels uncompiled run after run): the next run loads them."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               NUMTORCH_BACKGROUND_COMPILE="1")
    script = tmp_path / "script.py"
    script.write_text(EXITS_EARLY)

    def run(which):
        r = subprocess.run([sys.executable, str(script), which], env=env, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        return int(r.stdout.split()[-1])

    pid = run("first")
    deadline = time.monotonic() + 300
    while _running(pid):  # the helper, orphaned: gone once its work is done
        assert time.monotonic() < deadline, "the helper never finished"
        time.sleep(0.1)
    run("next")


def _running(pid):
    """Process ``pid`` exists and has not exited (a zombie that no one reaped has)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def test_one_orphaned_helper_compiles_at_a_time():
    """Helpers left compiling by programs that exited take turns (a lock beside the cache): while
    one holds it, another gets None (and stops), so short cold runs in a row do not pile up
    helpers on the cores; once the holder exits the turn is free again."""
    from numtorch.kernels import _background as bg, policy
    env = dict(os.environ, NUMBA_CACHE_DIR=policy.numba.config.CACHE_DIR)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from numtorch.kernels import _background as bg; "
         "t = bg.orphan_turn(); print(t is not None, flush=True); sys.stdin.read()"],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "True"
        assert bg.orphan_turn() is None
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    turn = bg.orphan_turn()
    assert turn is not None
    turn.close()
