#!/usr/bin/env bash
# The main job on a fresh machine: virtual environment, numtorch, Fashion-MNIST, training.
#   bash scripts/train.sh [train_fashion_mnist.py options, e.g. --epochs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${NUMTORCH_VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[examples]"

DATA=/usr/share/datasets/fashion-mnist
if [ ! -e "$DATA/train-images-idx3-ubyte.gz" ] && [ -z "${FASHION_MNIST:-}" ] && [ ! -d data ]; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        echo "installing Debian's package dataset-fashion-mnist (Fashion-MNIST IDX files) ..."
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist
    else
        echo "Fashion-MNIST not found: put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz," >&2
        echo "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz into ./data (or set FASHION_MNIST)." >&2
        exit 1
    fi
fi
"$VENV/bin/python" -m numtorch.warmup --quick  # the first run compiles the kernels, once (~30 s)
exec "$VENV/bin/python" examples/train_fashion_mnist.py "$@"
