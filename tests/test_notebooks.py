"""Execute every notebook in notebooks/ headless and fail on any cell error.

Small sizes come from environment variables the notebooks read in their first cell (NB_*), so
the whole module runs in about a minute with a warm Numba cache. The kernel is ipykernel's
``python3`` kernelspec, which runs the interpreter pytest runs under (the venv's).
"""
import os
import pathlib
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9]*.ipynb"))

SMALL = {
    # 02_train_fashion_mnist
    "NB_N_TRAIN": "1024",
    "NB_N_TEST": "500",
    "NB_EPOCHS": "2",
    # 03_write_your_own_kernel (NB_REPEATS too): ~1M elements for the timing, CUDA simulator check
    "NB_KERNEL_N": str(1 << 20),
    "NB_CUDA_N": "2000",
    # 04_distributed_training
    "NB_DDP_SAMPLES": "8192",
    "NB_DDP_EPOCHS": "2",
    # 05_performance
    "NB_GEMM_SIZES": "64,128,256",
    "NB_ELEMENTWISE_N": str(1 << 20),
    "NB_TRAIN_STEPS": "3",
    "NB_REPEATS": "2",
    # 06_sequence_models
    "NB_LM_STEPS": "40",
    # 07_static_graphs
    "NB_COMPILE_STEPS": "5",
    # every notebook runs the serial kernels: compiling the parallel twins again in each notebook
    # kernel cost minutes on an empty Numba cache (06 alone: ~100 s in CI); the parallel twins
    # are the kernel tests' job (the "cpu-parallel" device and the above-threshold shapes there)
    "NUMTORCH_PARALLEL_THRESHOLD": str(1 << 62),
}

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def _has_fashion_mnist():
    for d in (os.environ.get("FASHION_MNIST"), FASHION_MNIST, "data"):
        if d and any((pathlib.Path(d) / n).exists()
                     for n in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")):
            return True
    return False


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    if "fashion_mnist" in path.stem and not _has_fashion_mnist():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    for k, v in SMALL.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("NB_OUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # the kernel must import the numtorch and packages of the interpreter running the tests
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])

    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        f"{path.name} is stored with outputs: regenerate it (python notebooks/_build.py)"
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError on the first failing cell

    kernel_prefix = "".join(o.get("text", "") for o in nb.cells[0].outputs).strip()
    assert kernel_prefix == sys.prefix, f"the kernel ran in {kernel_prefix}, not {sys.prefix}"
