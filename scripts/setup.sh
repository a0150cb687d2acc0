#!/usr/bin/env bash
# Idempotent set-up for bpfnb: system packages (when root), bpffs/tracefs,
# a virtualenv with the package and its extras, and the C test fixtures.
# Safe to run again: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(clang-19 llvm-19 graphviz bpftool libbpf-dev libbpf1 iproute2 util-linux libcap2-bin make gcc chromium)
# What each package provides, to check without dpkg on non-Debian systems.
need_cmd() { command -v "$1" >/dev/null 2>&1; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && need_cmd apt-get; then
        echo "setup: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "setup: missing system packages: ${missing[*]}"
        echo "setup: install them with: sudo apt-get install ${missing[*]}"
        # Not fatal: the pure layers and notebooks still work; tests that need
        # clang or the oracles say what they miss.
    fi
fi

if [ "$(id -u)" = 0 ]; then
    mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || echo "setup: could not mount bpffs"
    if [ -d /sys/kernel/tracing ] && ! mountpoint -q /sys/kernel/tracing; then
        mount -t tracefs tracefs /sys/kernel/tracing || echo "setup: could not mount tracefs"
    fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PY" -m venv .venv
fi
stamp=.venv/.bpfnb-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing bpfnb[notebook,dev,browser] into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[notebook,dev,browser]'
    echo "$want" > "$stamp"
fi

if need_cmd clang-19; then
    make -s -C tests/bpf
    make -s -C bpfnb/examples  # reproducible: a rebuild with clang-19 matches the shipped objects
else
    echo "setup: clang-19 missing: C fixtures not built (apt-get install clang-19)"
fi
echo "setup: ready"
