"""The CPU and CUDA backends mirror each other: ``numtorch.kernels.cpu.<module>`` and
``numtorch.kernels.cuda.<module>`` export the same public names with the same signatures, for
every kernel family of ``numtorch.kernels.FAMILIES`` and for ``memory``. numtorch looks a kernel up
by name on the tensor's device, so a name one side lacks is an op that fails on that device.

Public: ``__all__`` where a module has one; else every callable bound at module level whose name
has no leading underscore, except names that an ``import`` statement of the module brings in
(``prange``, ``np``, numba types). Signatures are those of the Python functions (a Numba
dispatcher's ``py_func``; the launcher objects and ``policy.Twin`` report theirs).
"""
import ast
import importlib
import inspect
import pathlib

import pytest

import numtorch
import numtorch.kernels as K
from numtorch.ops import _core

pytestmark = pytest.mark.skipif(
    not numtorch.cuda.is_available(),
    reason="importing numtorch.kernels.cuda needs numba.cuda (a GPU or the simulator)")

MODULES = ("memory",) + K.FAMILIES

#: CUDA-only test hooks, not kernels: what tests/kernels/test_cuda_ptx.py compiles for a real GPU.
CUDA_ONLY = {"ptx_cases"}


def _imported(mod):
    """The names that the module's own import statements bind."""
    names = set()
    for node in ast.parse(pathlib.Path(mod.__file__).read_text()).body:
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def _public(mod):
    if hasattr(mod, "__all__"):
        return {n: getattr(mod, n) for n in mod.__all__}
    skip = _imported(mod)
    return {n: v for n, v in vars(mod).items()
            if not n.startswith("_") and n not in skip and callable(v)
            and not inspect.ismodule(v)}


def _signature(obj):
    return inspect.signature(getattr(obj, "py_func", obj))


@pytest.mark.parametrize("name", MODULES)
def test_cpu_and_cuda_export_the_same_kernels(name):
    cpu = importlib.import_module(f"numtorch.kernels.cpu.{name}")
    gpu = importlib.import_module(f"numtorch.kernels.cuda.{name}")
    pc = _public(cpu)
    pg = {n: v for n, v in _public(gpu).items() if n not in CUDA_ONLY}
    assert pc, f"kernels.cpu.{name} exports nothing"
    assert sorted(set(pc) - set(pg)) == [], f"only on the CPU: kernels.cpu.{name}"
    assert sorted(set(pg) - set(pc)) == [], f"only on CUDA: kernels.cuda.{name}"
    differ = {n: (str(_signature(pc[n])), str(_signature(pg[n]))) for n in pc
              if _signature(pc[n]) != _signature(pg[n])}
    assert differ == {}, f"signatures differ in {name} (cpu, cuda)"


def test_memory_modules_declare_all():
    # memory's API is declared, not inferred: CUDA's launch geometry (grid, BLOCK...) stays out
    for dev in ("cpu", "cuda"):
        mod = importlib.import_module(f"numtorch.kernels.{dev}.memory")
        assert all(callable(getattr(mod, n)) for n in mod.__all__)


def test_loader_imports_every_family():
    for dev in ("cpu", "cuda"):
        pkg = K.load(dev)
        assert pkg.__name__ == f"numtorch.kernels.{dev}"
        for name in MODULES:
            assert getattr(pkg, name).__name__ == f"numtorch.kernels.{dev}.{name}"


def test_missing_kernel_is_an_error_naming_it():
    with pytest.raises(AttributeError, match="no_such_kernel"):
        _core.kernels(numtorch.device("cuda", 0)).elementwise.no_such_kernel
