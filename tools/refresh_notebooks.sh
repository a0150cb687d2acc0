#!/usr/bin/env bash
# Re-execute notebooks so their stored outputs match the code (nbval
# compares against them).  Run as root for the kernel stages.
#
# Each notebook is a jupytext pair: notebooks/NN-name.py (percent format) is
# the source to edit and review, notebooks/NN-name.ipynb keeps the outputs.
# For each pair this first writes the .py's cells into the .ipynb (keeping
# the outputs of unchanged cells), then executes the .ipynb in place.
# Arguments: notebooks as .py or .ipynb (default: every pair).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- notebooks/*.py
for arg in "$@"; do
    src="${arg%.*}.py"
    nb="${arg%.*}.ipynb"
    [ -f "$src" ] || { echo "refresh: $src missing (every notebook is a jupytext pair)" >&2; exit 1; }
    echo "refresh: $src -> $nb"
    .venv/bin/jupytext --quiet --update --to ipynb --output "$nb" "$src"
    .venv/bin/jupyter nbconvert --to notebook --execute --inplace \
        --ExecutePreprocessor.timeout=300 "$nb"
done
