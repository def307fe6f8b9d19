#!/usr/bin/env bash
# The character-level language model on a fresh machine: virtual environment, numtorch, the
# fortunes corpus (Debian's package fortunes), training.
#   bash scripts/char_lm.sh [char_lm.py options, e.g. --model gpt --epochs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${NUMTORCH_VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[examples]"

DATA=/usr/share/games/fortunes
if [ ! -e "$DATA/fortunes" ] && [ -z "${FORTUNES_DIR:-}" ] && [ ! -d data/fortunes ]; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        echo "installing Debian's package fortunes (about 2.5 MB of English text) ..."
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq fortunes || {
            echo "apt-get could not install fortunes: put plain-text fortune files into" >&2
            echo "./data/fortunes (or set FORTUNES_DIR, or pass --data DIR)." >&2
            exit 1
        }
    else
        echo "The fortunes corpus was not found: put plain-text fortune files (fortunes separated" >&2
        echo "by lines holding '%') into ./data/fortunes (or set FORTUNES_DIR)." >&2
        exit 1
    fi
fi
exec "$VENV/bin/python" examples/char_lm.py "$@"
