#!/usr/bin/env python3
"""How fast are ``bpfnb btf dump`` and bulk BTF work next to bpftool?  ``python benchmarks/bench_btf_dump.py``

Whole processes (bpfnb's with bytecode cached, as in bench_cli.py), output to
/dev/null, the contenders interleaved so a busy machine hurts all of them alike (best and median wall time of N runs, and the
best CPU time, user + system, which a shared machine disturbs less):

a. ``bpfnb btf dump --vmlinux --format c`` beside ``bpftool btf dump file … format c``
b. ``bpfnb btf dump --vmlinux`` (raw) beside ``bpftool btf dump file …``

and in this process, on a fresh parse of /sys/kernel/btf/vmlinux each run:

c. materialise every type (``list(btf)``)
d. ``write_btf`` round trip (parse, encode every type back to a blob)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_cli import child_env  # noqa: E402
from bpfnb.btf import Btf  # noqa: E402
from bpfnb.btf.writer import write_btf  # noqa: E402

VMLINUX = "/sys/kernel/btf/vmlinux"


ENV: dict[str, str] = {}


def run_process(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``argv``, output discarded."""
    env = dict(ENV or os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--runs", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bpfnb-bench-pyc-") as cache_dir:
        ENV.update(child_env(cache_dir))  # children with bytecode cached, as an installed bpfnb has
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    bpfnb = [sys.executable, "-m", "bpfnb.cli", "btf", "dump", "--vmlinux"]
    bpftool = shutil.which("bpftool")
    pairs: dict[str, tuple[list[str], list[str] | None]] = {
        "a. C header": (bpfnb + ["--format", "c"],
                        [bpftool, "btf", "dump", "file", VMLINUX, "format", "c"] if bpftool else None),
        "b. raw dump": (bpfnb, [bpftool, "btf", "dump", "file", VMLINUX] if bpftool else None),
    }
    samples: dict[str, list[tuple[float, float]]] = {}
    for _ in range(args.runs):
        for key, (ours, theirs) in pairs.items():
            samples.setdefault(f"{key}: bpfnb", []).append(run_process(ours))
            if theirs:
                samples.setdefault(f"{key}: bpftool", []).append(run_process(theirs))
        samples.setdefault("c. materialise every type", []).append(timed(lambda: list(Btf.from_file(VMLINUX))))
        samples.setdefault("d. write_btf round trip", []).append(timed(lambda: write_btf(Btf.from_file(VMLINUX))))

    btf = Btf.from_file(VMLINUX)
    print(f"{VMLINUX}: {len(btf) - 1:,} types, runs={args.runs}")
    print(f"{'measurement':30} {'best ms':>9} {'median ms':>10} {'best cpu ms':>12} {'wall ratio':>11} {'cpu ratio':>10}")
    for key, values in samples.items():
        walls = [w for w, _ in values]
        cpus = [c for _, c in values]
        ratio = cpu_ratio = "-"
        ref = samples.get(key.replace(": bpfnb", ": bpftool")) if key.endswith(": bpfnb") else None
        if ref:
            ratio = f"{min(walls) / min(w for w, _ in ref):.2f}x"
            cpu_ratio = f"{min(cpus) / min(c for _, c in ref):.2f}x"
        print(f"{key:30} {min(walls) * 1e3:9.0f} {statistics.median(walls) * 1e3:10.0f} {min(cpus) * 1e3:12.0f} "
              f"{ratio:>11} {cpu_ratio:>10}")
    print("goals: dumps <= 2x bpftool (whole process); materialise <= 400 ms; write_btf round trip <= 500 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
