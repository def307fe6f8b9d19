"""Hardening by generated cases: numtorch must never crash, hang or silently give a wrong answer.

Five families, each case run in a child process (``tests/fuzz/sandbox.py``: a forked worker,
restarted after a crash or a hang, which are then failed cases with the case printed):

1. ``test_ops_match_torch``       the op table of test_ops.py called with hypothesis-generated
                                  inputs (0-/1-sized dims, 0-d, broadcasting pairs, transposed,
                                  strided, offset and stride-0 views, NaN/inf/-0.0, foreign
                                  dtypes, out-of-range indices) against torch;
2. ``test_wrong_shaped_gradients``  hooks and custom Functions that return gradients of the
                                  wrong shape or dtype into every differentiable op, and
                                  ``.grad`` of the wrong shape/dtype before ``optimizer.step()``;
3. ``test_hostile_checkpoints``   hand-made files for ``numtorch.load`` (code-execution pickles,
                                  corrupt zips, storages read out of bounds, huge and stride-0
                                  views) under an address-space limit;
4. ``test_tampered_optimizer_state``  state dicts with wrong sizes/dtypes/keys/groups, then step;
5. ``test_mpi_faults``            ``mpiexec -n 2`` jobs where one rank fails at each stage.

Families 1, 2 and 4 take torch as the oracle: numtorch gives torch's result or raises an
exception of the same built-in type. ``test_sandbox_reports_crashes_and_hangs`` checks the
isolation itself. Every family prints a one-line summary (``-s``) with the number of cases
tried and records it as a junit property; with ``NUMTORCH_FUZZ_SUMMARY=<file>`` the lines are
also appended there as JSON. Other knobs: ``NUMTORCH_FUZZ_EXAMPLES`` (examples per op, 8),
``NUMTORCH_FUZZ_ONLY=<op name>`` (family 1 on one entry of the table, to reproduce a case),
``NUMTORCH_FUZZ_TIMEOUT`` (seconds per case, 240: a case may compile kernels on an empty Numba
cache), ``NUMTORCH_FUZZ_MPI_DEADLINE`` (15).
Cases are deterministic (hypothesis derandomized, one seed per op), so a failure reproduces.
"""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

import numtorch

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from fuzz import checkpoints, gradcases, known, optable as OT, opfuzz, optcases  # noqa: E402
from fuzz.sandbox import Sandbox  # noqa: E402

try:
    import torch
except ImportError:  # the oracle of families 1, 2 and 4
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch (the oracle) is not installed")

#: examples per op of the table in family 1
OP_EXAMPLES = int(os.environ.get("NUMTORCH_FUZZ_EXAMPLES", "8"))
#: seconds one case may take in the worker (a cold Numba compile of a new signature included)
CASE_TIMEOUT = float(os.environ.get("NUMTORCH_FUZZ_TIMEOUT", "240"))

# what the forked workers can run, by key (the table exists before any fork)
TABLE = {"op": opfuzz.run_numtorch,
         "grad": lambda i, arrays, kind: gradcases.grad_case(numtorch, OT.OPS[i], arrays, kind),
         "grad_step": lambda opt, kind: gradcases.grad_step_case(numtorch, opt, kind),
         "optim": optcases.run_numtorch}


@pytest.fixture(scope="module")
def box():
    sb = Sandbox(TABLE, timeout=CASE_TIMEOUT)
    yield sb
    sb.close()


def _record(family, tried, failures, t0, record_property=None, **extra):
    line = {"family": family, "cases": tried, "failed": len(failures),
            "seconds": round(time.monotonic() - t0, 1), **extra}
    print(f"\nfuzz[{family}]: {tried} cases tried, {len(failures)} failed, "
          f"{line['seconds']} s" + "".join(f", {k}={v}" for k, v in extra.items()))
    if record_property is not None:
        record_property("fuzz_cases", tried)
        record_property("fuzz_failed", len(failures))
    path = os.environ.get("NUMTORCH_FUZZ_SUMMARY")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


def _assert_no_unexpected(failures):
    """Fail on any failing case that is not a known, listed deviation (tests/fuzz/known.py);
    print the known ones (``-s``) so the backlog stays visible."""
    unexpected, known_hits = known.split(failures)
    for f, why in known_hits:
        print(f"known deviation ({why}): {f[:200]}")
    assert not unexpected, _report(unexpected)


def _report(failures, limit=60):
    shown = failures[:limit]
    more = f"\n... and {len(failures) - limit} more" if len(failures) > limit else ""
    return f"{len(failures)} failing case(s):\n" + "\n".join(shown) + more


# --- the harness itself ----------------------------------------------------------------------
def _segfault():
    import ctypes
    return ctypes.string_at(0)


def _allocate(gib):
    import numpy as np
    return np.ones(int(gib * (1 << 30)), dtype=np.uint8).size


SELF_TEST = {"echo": lambda *a: a, "segfault": _segfault, "sleep": time.sleep,
             "exit": os._exit, "raise": lambda: {}["missing"], "allocate": _allocate}


def test_sandbox_reports_crashes_and_hangs():
    """The isolation the families rely on: a segfault, an exit and a hang are outcomes of their
    case, the next case gets a fresh worker, a batch goes on past them, and the memory cap
    turns an oversized allocation into MemoryError."""
    sb = Sandbox(SELF_TEST, timeout=10, memory_gib=1)
    try:
        assert sb.run("echo", 1, "a").value == (1, "a")
        crash = sb.run("segfault")
        assert crash.kind == "crash" and "SIGSEGV" in crash.detail, crash.describe()
        assert "_segfault" in crash.detail, crash.detail  # where it crashed, from faulthandler
        assert sb.run("sleep", 30, timeout=1).kind == "hang"
        assert sb.run("exit", 3).detail == "worker exited with status 3"
        err = sb.run("raise")
        assert err.kind == "raise" and err.exc["bases"][0] == "KeyError"
        assert sb.run("allocate", 2).exc["bases"][0] == "MemoryError"
        assert sb.run("allocate", 0.25).value == 1 << 28
        outs = sb.batch("echo", [(1,), (2,)])
        assert [o.value for o in outs] == [(1,), (2,)]
        outs = sb.batch("exit", [(0,), (5,)])
        assert [o.detail for o in outs] == ["worker exited with status 0",
                                            "worker exited with status 5"]
        assert sb.forks >= 5
    finally:
        sb.close()


# --- family 1: the op table against torch ----------------------------------------------------
# reproducible (derandomize, a seed per op), no example database, no shrinking (a case that
# fails is reported as generated; shrinking would rerun hangs), every example tried
OP_SETTINGS = settings(max_examples=OP_EXAMPLES, deadline=None, derandomize=True, database=None,
                       phases=(Phase.explicit, Phase.generate), print_blob=False,
                       suppress_health_check=list(HealthCheck))


def _check_op_case(box, index, info, case):
    inputs = opfuzz.make_inputs(info, case)
    want = opfuzz.differentiable(info, case)
    t_res = opfuzz.run(torch, info, inputs, want)
    want = want and t_res["forward"][0] == "ok"
    out = box.run("op", index, inputs, want, t_res.get("seeds") if want else None)
    if out.kind != "ok":
        return out.describe()
    return opfuzz.compare(info, case, t_res, out.value, ties=opfuzz.has_ties(inputs))


@needs_torch
@pytest.mark.parametrize("group", OT.GROUPS)
def test_ops_match_torch(group, box, record_property):
    """Every entry of the op table in ``group``, OP_EXAMPLES generated calls each: numtorch
    gives torch's outputs (shape, dtype, values, NaN positions) and input gradients, or raises
    an exception of the same built-in type; a crash or a hang fails the case."""
    t0 = time.monotonic()
    failures, tried = [], [0]
    entries = [(i, info) for i, info in enumerate(OT.OPS) if OT.group(info) == group]
    assert entries, f"no op of the table falls in group {group}"
    only = os.environ.get("NUMTORCH_FUZZ_ONLY")
    if only:
        entries = [(i, info) for i, info in entries if info.name == only]
    for index, info in entries:
        @OP_SETTINGS
        @seed(zlib.crc32(info.name.encode()))
        @given(case=opfuzz.op_case(info))
        def check(case):
            tried[0] += 1
            msg = _check_op_case(box, index, info, case)
            if msg:
                failures.append(f"{opfuzz.describe(info, case)}: {msg}")
        check()
    _record(f"ops:{group}", tried[0], failures, t0, record_property, ops=len(entries))
    assert tried[0] >= len(entries) * min(OP_EXAMPLES, 2)
    _assert_no_unexpected(failures)


# --- family 2: wrong-shaped gradients into every backward ------------------------------------
GRAD_OPS = [(i, info) for i, info in enumerate(OT.OPS)
            if info.grad and info.torch_grad and "float64" in info.dtypes
            and OT.gc_sample(info) is not None]


def _sandboxed(box, key, cases, torch_fn, compare, label):
    """Run ``cases`` with torch here and numtorch in the box; the failures, described."""
    failures = []
    outs = box.batch(key, cases)
    for case, out in zip(cases, outs):
        if out.kind != "ok":
            failures.append(f"{label(case)}: {out.describe()}")
            continue
        msg = compare(torch_fn(*case), out.value)
        if msg:
            failures.append(f"{label(case)}: {msg}")
    return failures


@needs_torch
def test_wrong_shaped_gradients(box, record_property):
    """A hook, a custom Function or a leaf hook hands every differentiable op's backward a
    gradient of the wrong shape or dtype: PyTorch's RuntimeError (or, where PyTorch sums a
    broadcastable gradient or casts a dtype, PyTorch's gradients), never a crash."""
    t0 = time.monotonic()
    arrays = {i: gradcases.sample_arrays(info) for i, info in GRAD_OPS}
    # the leaf-hook kinds do not depend on the op: every fifth op is enough
    cases = [(i, arrays[i], k) for n, (i, _) in enumerate(GRAD_OPS) for k in gradcases.KINDS
             if not k.startswith("leaf:") or n % 5 == 0]
    failures = _sandboxed(
        box, "grad", cases,
        lambda i, a, k: gradcases.grad_case(torch, OT.OPS[i], a, k), gradcases.compare,
        lambda c: f"{OT.OPS[c[0]].name} {c[2]}")
    _record("wrong_gradients", len(cases), failures, t0, record_property, ops=len(GRAD_OPS))
    assert len(GRAD_OPS) > 150
    _assert_no_unexpected(failures)


@needs_torch
def test_bad_grad_before_optimizer_step(box, record_property):
    """``p.grad`` of the wrong shape or dtype (or not a tensor) before ``step()``: PyTorch
    refuses the assignment (RuntimeError/TypeError); numtorch may refuse it there or at step,
    with the same type. Valid non-contiguous and stride-0 gradients step like PyTorch."""
    t0 = time.monotonic()
    cases = [(o, k) for o in gradcases.OPTIMIZERS for k in gradcases.GRAD_KINDS]
    failures = _sandboxed(
        box, "grad_step", cases, lambda o, k: gradcases.grad_step_case(torch, o, k),
        lambda t, n: gradcases.compare(t, n, rtol=1e-5, atol=1e-6), lambda c: f"{c[0]} {c[1]}")
    _record("bad_grad_step", len(cases), failures, t0, record_property)
    _assert_no_unexpected(failures)


# --- family 3: hostile checkpoints ----------------------------------------------------------------
#: the address space a checkpoint case may add to its worker (a fork of pytest): a blow-up fails
CKPT_MEMORY_GIB = 2


@pytest.fixture(scope="module")
def ckpt_box():
    sb = Sandbox({"load": checkpoints.load_case, "load_mapped": checkpoints.load_case_mapped,
                  "unsafe": checkpoints.unsafe_pickle_loads},
                 timeout=CASE_TIMEOUT, memory_gib=CKPT_MEMORY_GIB)
    yield sb
    sb.close()


def _check_checkpoint(name, expect, out):
    if out.fatal:
        return out.describe()
    if out.kind == "raise":
        exc = out.exc
        if expect == "load":
            return f"a valid file did not load: {out.describe()}"
        if not any(b in checkpoints.ACCEPTED for b in exc["bases"]) and \
                exc["type"].rsplit(".", 1)[-1] not in checkpoints.ACCEPTED:
            return (f"raised {exc['type']} (not one of {', '.join(checkpoints.ACCEPTED)}): "
                    f"{exc['message'][:200]}")
        if not exc["message"].strip():
            return f"raised {exc['type']} without a message"
        return None
    if expect == "refuse":
        return (f"loaded ({out.value['type']} with {out.value['tensors']} tensors) "
                "instead of refusing")
    if out.value["problems"]:
        return "loaded inconsistent tensors: " + "; ".join(out.value["problems"][:3])
    if expect == "load" and out.value["tensors"] != 1:
        return f"the valid file loaded {out.value['tensors']} tensors, not 1"
    return None


def test_hostile_checkpoints(ckpt_box, tmp_path, record_property):
    """Hand-made checkpoints: code-execution pickles never run (their marker file never
    appears); corrupt, truncated, out-of-bounds, huge, stride-0 and mistyped files raise
    UnpicklingError/RuntimeError/ValueError, within 2 GiB of address space, or load tensors
    that are consistent; the valid control file loads."""
    t0 = time.monotonic()
    marker = tmp_path / "payload-ran"
    cases = [(name, build(marker), expect, "load")
             for name, (build, expect) in checkpoints.CASES.items()]
    cases += [(name, data, "refuse", "load")
              for name, data in checkpoints.payload_cases(marker).items()]
    # a callable map_location makes numtorch walk what it loaded: deep, cyclic, hostile
    cases += [(name + "+map_location", data, expect, "load_mapped") for name, data, expect, _ in
              cases if name in ("valid_control", "deep_nesting", "self_reference",
                                "nested_in_state_dict", "reduce_nested_protocol2")]
    failures = []
    for name, data, expect, key in cases:  # one call each: the marker is checked per case
        msg = _check_checkpoint(name, expect, ckpt_box.run(key, data))
        if marker.exists():
            msg = f"THE PAYLOAD RAN (created {marker.name}); " + (msg or "")
            marker.unlink()
        if msg:
            failures.append(f"{name}: {msg}")
    # the payloads are live: Python's own pickle.loads runs them (so the marker check can fail)
    payloads = checkpoints.payload_cases(marker)
    for name in checkpoints.LIVE:
        ckpt_box.run("unsafe", payloads[name])
        for _ in range(40):  # subprocess.Popen's child may still be starting
            if marker.exists():
                break
            time.sleep(0.05)
        if not marker.exists():
            failures.append(f"{name}: not live (plain pickle.loads did not run it)")
        else:
            marker.unlink()
    time.sleep(0.2)
    if marker.exists():
        failures.append(f"a payload ran late (created {marker.name} after its case returned)")
    _record("checkpoints", len(cases), failures, t0, record_property)
    assert len(cases) > 80
    _assert_no_unexpected(failures)


# --- family 4: optimizer state tampering ------------------------------------------------------
@needs_torch
def test_tampered_optimizer_state(box, record_property):
    """A state dict with state tensors of the wrong size/dtype, missing or extra keys, or the
    wrong param groups, loaded and stepped: PyTorch's exception type, or PyTorch's parameters
    where it casts or ignores the change; never a crash, a hang or NaN."""
    t0 = time.monotonic()
    exported = {n for n in numtorch.optim.__all__ if isinstance(getattr(numtorch.optim, n), type)
                and issubclass(getattr(numtorch.optim, n), numtorch.optim.Optimizer)
                and n != "Optimizer"}
    covered = {k.split("-")[0] for k in gradcases.OPTIMIZERS}
    assert exported <= covered, f"optimizers without tampering cases: {exported - covered}"
    cases = [(o, t) for o in gradcases.OPTIMIZERS for t in optcases.TAMPERS]
    failures = _sandboxed(
        box, "optim", cases, lambda o, t: optcases.tamper_case(torch, o, t),
        lambda t, n: gradcases.compare(t, n, rtol=1e-5, atol=1e-6), lambda c: f"{c[0]} {c[1]}")
    _record("optimizer_state", len(cases), failures, t0, record_property)
    _assert_no_unexpected(failures)


# --- family 5: MPI faults -------------------------------------------------------------------
def _mpiexec():
    for cand in (pathlib.Path(sys.executable).parent / "mpiexec", shutil.which("mpiexec")):
        if cand and pathlib.Path(cand).exists():
            return str(cand)
    return None


def _have_mpi():
    import importlib.util
    return importlib.util.find_spec("mpi4py") is not None and _mpiexec() is not None


#: seconds a failing 2-rank job may take to end (it takes 2-4 s when every rank aborts)
MPI_DEADLINE = float(os.environ.get("NUMTORCH_FUZZ_MPI_DEADLINE", "15"))
#: mode of tests/fuzz/mpi_faults.py -> (extra environment, what the output must match)
MPI_FAULTS = {
    "before_init": ({}, r"\brank 1\b"),
    "after_init": ({}, r"\brank 1\b"),
    "ddp_backward": ({}, r"\brank 1\b"),
    "after_last_step": ({}, r"(?s)(?=.*\brank 1\b)(?=.*rank 0 finished its steps)"),
    "other_collective": ({}, r"(?s)\brank 1\b.*broadcast|broadcast.*\brank 1\b"),
    "other_collective_unchecked": ({"NUMTORCH_DISTRIBUTED_DEBUG": "OFF"},
                                   r"timed out on rank [01]"),
}


def _launch_job(mode, env_extra, deadline):
    """``mpiexec -n 2 python tests/fuzz/mpi_faults.py mode``: (rc or None if killed, output, s)."""
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               **env_extra)
    cmd = [_mpiexec(), "-n", "2", sys.executable, str(HERE / "fuzz" / "mpi_faults.py"), mode]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                         start_new_session=True, text=True)
    try:
        out, _ = p.communicate(timeout=deadline)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        rc = None
    return rc, out, time.monotonic() - t0


@pytest.mark.xdist_group("processes")
@pytest.mark.skipif(not _have_mpi(), reason="needs mpi4py and mpiexec")
def test_mpi_faults(record_property):
    """One rank of ``mpiexec -n 2`` fails before init, after init, inside a DDP backward, after
    the last step, or calls another collective than its peer: the job ends non-zero within
    the deadline (no rank hangs), with output naming the failing rank; after the last step
    the healthy rank has finished its work first."""
    t0 = time.monotonic()
    failures = []
    for mode, (env, pattern) in MPI_FAULTS.items():
        rc, out, secs = _launch_job(mode, env, MPI_DEADLINE)
        tail = "\n    ".join(out.strip().splitlines()[-6:])
        if rc is None:
            failures.append(f"{mode}: HANG, killed after {secs:.0f} s:\n    {tail}")
        elif rc == 0:
            failures.append(f"{mode}: the job exited 0:\n    {tail}")
        elif "no error (unexpected)" in out:
            failures.append(f"{mode}: a rank went on as if nothing failed:\n    {tail}")
        elif not re.search(pattern, out):
            failures.append(f"{mode}: no message matching {pattern!r}:\n    {tail}")
    _record("mpi_faults", len(MPI_FAULTS), failures, t0, record_property)
    _assert_no_unexpected(failures)
