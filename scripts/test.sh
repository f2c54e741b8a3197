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

# The CloudFormation linters live in an environment of their own: checkov pins libraries the SageMaker
# stack needs at other versions. The tests find them in .venv-iac/bin.
if [ ! -x .venv-iac/bin/python ]; then
    "$PYTHON" -m venv .venv-iac
fi
.venv-iac/bin/python -m pip install --quiet "cfn-lint==1.58.0" "checkov==3.3.30"

# smdebug (SageMaker Debugger's library) reads back what the training scripts write for Debugger's rule
# jobs. It pins protobuf<=3.20.3, which TensorFlow 2.21 cannot share: it lives in .venv-smdebug, with the
# libraries its trial reader imports (pandas 2.2 is the last that fits numpy 1.x).
if [ ! -x .venv-smdebug/bin/python ]; then
    "$PYTHON" -m venv .venv-smdebug
fi
.venv-smdebug/bin/python -m pip install --quiet "smdebug==1.0.34" "protobuf==3.20.3" "numpy==1.26.4" \
    "pandas==2.2.3" "psutil==7.2.2" "requests==2.34.2"

# Headless Chromium drives the local labeling page in its browser test (Debian's package). Where it
# cannot be installed, that one test skips and says why.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
        || echo "note: could not install chromium; the labeling browser test will skip" >&2
fi

exec .venv/bin/python -m pytest "$@"
