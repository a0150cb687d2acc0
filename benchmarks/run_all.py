#!/usr/bin/env python3
"""Run every benchmark in one go (``make bench``): bpfnb beside libbpf/bpftool.

Each ``bench_*.py`` is a plain script printing its own table of timings
and ratios; ``bench_asm.py`` is a pytest-benchmark module.  Benchmarks
never run in the test command: speed is measured here, not asserted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {script.name} ===", flush=True)
        if "def test_" in script.read_text():  # a pytest-benchmark module
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(script)]
        else:
            cmd = [sys.executable, str(script)]
        if subprocess.run(cmd).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
