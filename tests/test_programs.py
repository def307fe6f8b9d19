"""Whole training programs, written as a user would write them for PyTorch, run on numtorch.

Each module of ``tests/programs/`` defines ``run(torch, steps, state=None)``: it builds its model
with the framework module it is given, trains a few steps on synthetic data and returns the
losses and its initial ``state_dict`` (as NumPy arrays). Here every program runs in-process under
numtorch (losses finite, and falling where the program says so); where PyTorch is installed, the
same program runs again under torch from numtorch's initial weights and the losses must agree.
"""
import importlib.util
import math
import pathlib

import numpy as np
import pytest

import numtorch

HERE = pathlib.Path(__file__).resolve().parent / "programs"
PROGRAMS = ["cnn", "rnn_lm", "transformer_lm", "vae", "gan", "gcn", "rl", "vision"]

try:
    import torch as _torch
    if "numtorch" in (_torch.__file__ or ""):  # a shim that aliases numtorch is no oracle
        _torch = None
except ImportError:
    _torch = None


def _load(name):
    spec = importlib.util.spec_from_file_location(f"numtorch_test_programs.{name}",
                                                  HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")  # torch's, on sparse_coo_tensor
@pytest.mark.parametrize("name", PROGRAMS)
def test_program_trains_and_matches_torch(name, request):
    prog = _load(name)
    ours, theirs = {}, {}
    if getattr(prog, "VISION", False):  # it takes its vision library too: ours and torchvision
        pytest.importorskip("PIL")
        ours["vision"] = importlib.import_module("numtorch.vision")
        try:
            theirs["vision"] = request.getfixturevalue("torchvision")  # (tests/conftest.py)
        except pytest.skip.Exception:
            theirs["vision"] = None
    got = prog.run(numtorch, **ours)
    losses = got["losses"]
    assert losses and all(math.isfinite(v) for v in losses), losses
    if prog.FALLS:
        assert np.mean(losses[len(losses) // 2:]) < losses[0], losses
    if _torch is None or theirs.get("vision", True) is None:
        return
    want = prog.run(_torch, state=got["state0"], **theirs)
    np.testing.assert_allclose(losses, want["losses"], rtol=2e-4, atol=1e-5,
                               err_msg=f"{name}: losses differ from torch's")
    np.testing.assert_allclose(got.get("eval", []), want.get("eval", []), rtol=1e-4, atol=1e-6)
