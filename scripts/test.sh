#!/usr/bin/env bash
# The one command that runs numtorch's tests on a fresh machine:
#   bash scripts/test.sh [pytest args...]
# It creates .venv (if missing), installs numtorch with its test extras (and PyTorch 2.13.0 as
# the test oracle where that wheel is available), then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${NUMTORCH_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[dev,examples,mpi,notebooks,cuda,cuda13,vision]"
# PyTorch is only an oracle for the tests, never a dependency; exactly this version (a local file
# on the project's machines; any other version pulls gigabytes of CUDA wheels).
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q "torch==2.13.0" \
        || echo "note: torch==2.13.0 not installable here; tests fall back to NumPy references"
fi
# torchvision, the oracle of numtorch.vision (tests/conftest.py imports it; --no-deps: it must
# not replace the CPU torch above)
if "$VENV/bin/python" -c "import torch" 2>/dev/null \
        && ! "$VENV/bin/python" -m pip show -q torchvision >/dev/null 2>&1; then
    "$VENV/bin/python" -m pip install -q --no-deps "torchvision==0.28.0" \
        || echo "note: torchvision==0.28.0 not installable here; its parity tests skip"
fi
# Real data for the vision/training/notebook tests (they fall back to files they write, or to
# this repository's own text, when it is missing): Debian's packages, where we are root with
# apt-get: Fashion-MNIST, and the English text of fortunes (the sequence-model notebook).
PKGS=""
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || PKGS="dataset-fashion-mnist"
[ -e /usr/share/games/fortunes/fortunes ] || PKGS="$PKGS fortunes"
if [ -n "$PKGS" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq $PKGS) >/dev/null 2>&1 \
        || echo "note: $PKGS not installable; data tests use generated files"
fi
# the pytest executable, not `python -m pytest`: that would put the repo root on sys.path and
# make kernels/ importable as a top-level package (see shared/TOOLCHAIN.md). pytest-xdist runs
# the tests on one worker per core (NUMTORCH_TEST_WORKERS=1: in this process); tests that start
# processes of their own stay together on one worker (tests/conftest.py).
WORKERS=${NUMTORCH_TEST_WORKERS:-$(nproc)}
if [ "$WORKERS" -gt 1 ]; then
    exec "$VENV/bin/pytest" -q -n "$WORKERS" --dist loadgroup "$@"
fi
exec "$VENV/bin/pytest" -q "$@"
