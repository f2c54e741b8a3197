#!/usr/bin/env bash
# Set up sagespec's development environment (once; later runs only top it up) and run the whole test
# suite. Extra arguments go to pytest, e.g. `scripts/test.sh tests/spec -q`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements-dev.txt

exec .venv/bin/python -m pytest "$@"
