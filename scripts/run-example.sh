#!/usr/bin/env bash
# The main job: install sagespec, generate the BlazingText example project from its spec, and run its
# pipeline locally on the Women's E-Commerce Clothing Reviews (no AWS, no Docker). Prints each step and
# a summary. The generated project lands in build/reviews-blazingtext (replaced on every run).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[local]"

SPEC=${SPEC:-specs/womens-clothing-blazingtext.yaml}
OUT=${OUT:-build/reviews-blazingtext}
rm -rf "$OUT"
.venv/bin/sagespec validate "$SPEC"
.venv/bin/sagespec new "$SPEC" -o "$OUT"
exec .venv/bin/sagespec local run "$OUT"
