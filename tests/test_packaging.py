"""Packaging and layering contracts."""
import ast
import pathlib

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
