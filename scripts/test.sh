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
"$VENV/bin/python" -m pip install -q -e ".[dev,examples]"
# PyTorch is only an oracle for the tests, never a dependency; exactly this version (a local file
# on the project's machines; any other version pulls gigabytes of CUDA wheels).
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q "torch==2.13.0" \
        || echo "note: torch==2.13.0 not installable here; tests fall back to NumPy references"
fi
# the pytest executable, not `python -m pytest`: that would put the repo root on sys.path and
# make kernels/ importable as a top-level package (see shared/TOOLCHAIN.md)
exec "$VENV/bin/pytest" -q "$@"
