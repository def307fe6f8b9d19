"""Packaging and layering contracts."""
import ast
import pathlib

import pytest

import numtorch

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_kernels_never_import_numtorch():
    offenders = []
    for path in (ROOT / "kernels").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(n == "numtorch" or n.startswith("numtorch.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders


def test_kernels_is_installed_as_numtorch_kernels():
    import numtorch.kernels.cpu.elementwise as E
    assert E.__name__ == "numtorch.kernels.cpu.elementwise"
    assert pathlib.Path(E.__file__).resolve().parent == ROOT / "kernels" / "cpu"


def test_every_subpackage_is_listed_in_setup_cfg():
    cfg = (ROOT / "setup.cfg").read_text()
    listed = set()
    block = cfg.split("packages =", 1)[1].split("\n\n", 1)[0]
    for line in block.splitlines()[1:]:
        if line.strip():
            listed.add(line.strip())
    found = {"numtorch" + ("." + ".".join(p.relative_to(ROOT / "numtorch").parts) if p != ROOT / "numtorch" else "")
             for p in (ROOT / "numtorch").rglob("*") if p.is_dir() and (p / "__init__.py").exists()}
    found |= {"numtorch." + ".".join(("kernels",) + p.relative_to(ROOT / "kernels").parts)
              .rstrip(".") for p in [ROOT / "kernels", *(ROOT / "kernels").rglob("*")]
              if p.is_dir() and (p / "__init__.py").exists()}
    found = {f.replace("numtorch.kernels.", "numtorch.kernels.").rstrip(".") for f in found}
    assert found <= listed, found - listed


def test_numba_cache_dir_is_outside_the_package():
    import numba
    cache = pathlib.Path(numba.config.CACHE_DIR).resolve()
    assert ROOT not in cache.parents and "site-packages" not in cache.parts
    assert numba.config.THREADING_LAYER in ("workqueue", "omp", "tbb", "forksafe", "safe", "threadsafe", "default")


_THREADS_AND_FORK = r"""
import os, platform, threading
import numba, numtorch as torch
x = torch.arange(1 << 20, dtype=torch.float64)  # past the parallel threshold: parallel twins
expect = float((x * 2).relu().sum())
errors = []
def work():
    for _ in range(30):
        if float((x * 2).relu().sum()) != expect:
            errors.append("wrong sum")
threads = [threading.Thread(target=work) for _ in range(3)]
for t in threads: t.start()
for t in threads: t.join()
pid = os.fork()  # a DataLoader worker: the child runs parallel kernels too
if pid == 0:
    os._exit(0 if float((x * 2).relu().sum()) == expect else 3)
_, status = os.waitpid(pid, 0)
print(numba.threading_layer(), status, len(errors))
"""


@pytest.mark.parametrize("layer", [None, "workqueue"])
def test_parallel_kernels_from_several_threads_and_after_fork(layer):
    """Three Python threads running parallel kernels at once, then a fork whose child runs them
    too. numtorch's default layer is TBB (a dependency on x86_64 Linux), which is thread- and
    fork-safe; Numba's workqueue layer, the fallback, aborts the process when two threads open
    parallel regions at once, so there a thread that finds one open runs the serial twin
    (policy._OneRegionAtATime). GNU OpenMP would hang the child."""
    import os
    import platform
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    if layer:
        env["NUMBA_THREADING_LAYER"] = layer
    r = subprocess.run([sys.executable, "-c", _THREADS_AND_FORK], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    # (TBB may print that it could not join its threads before the fork: the threads that used
    # it hold on to it; the child still runs, which is what is checked)
    used, status, errors = r.stdout.splitlines()[-1].split()
    assert (status, errors) == ("0", "0")
    if layer:
        assert used == layer
    elif platform.system() == "Linux" and platform.machine() == "x86_64":
        assert used == "tbb"
