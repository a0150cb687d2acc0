#!/usr/bin/env bash
# Re-execute notebooks in place so their stored outputs match the code
# (nbval compares against them).  Run as root for the kernel stages.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- notebooks/*.ipynb
for nb in "$@"; do
    echo "refresh: $nb"
    .venv/bin/jupyter nbconvert --to notebook --execute --inplace \
        --ExecutePreprocessor.timeout=300 "$nb"
done
