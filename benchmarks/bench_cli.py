#!/usr/bin/env python3
"""Whole-process timings: ``import bpfnb`` and the listing verbs beside bpftool.  ``python benchmarks/bench_cli.py``

Each row is a fresh process, best and median of ``--runs`` interleaved runs:

* ``python -c pass``: the interpreter's own start, the floor of any row below;
* ``import bpfnb``: measured inside the child (``perf_counter`` around the
  import) and as a whole process;
* ``bpfnb progs`` / ``bpfnb maps`` (``python -m bpfnb.cli``) beside
  ``bpftool prog show`` / ``bpftool map show``.

Children run with bytecode cached in a temporary directory (as an installed
bpfnb has it), after one untimed round that fills it.  Listing needs root to see the kernel's programs; unprivileged the verbs
still run (and report the missing privilege), so the timings hold either way.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child_env(cache_dir: str) -> dict[str, str]:
    """The environment for timed children: bytecode cached (in ``cache_dir``, not the tree).

    With ``PYTHONDONTWRITEBYTECODE`` set (this VM's sessions set it) every
    child would compile each module it imports from source, a cost no
    installed bpfnb pays.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


ENV: dict[str, str] = {}


def whole(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=ENV)
    return time.perf_counter() - start


def import_inside() -> float:
    code = "import time; t = time.perf_counter(); import bpfnb; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                                env=ENV).stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=15)
    args = ap.parse_args()
    py = sys.executable
    rows = {
        "python -c pass": lambda: whole([py, "-c", "pass"]),
        "import bpfnb (in process)": import_inside,
        "import bpfnb (whole process)": lambda: whole([py, "-c", "import bpfnb"]),
        "bpfnb progs": lambda: whole([py, "-m", "bpfnb.cli", "progs"]),
        "bpfnb maps": lambda: whole([py, "-m", "bpfnb.cli", "maps"]),
    }
    bpftool = shutil.which("bpftool")
    if bpftool:
        rows["bpftool prog show"] = lambda: whole([bpftool, "prog", "show"])
        rows["bpftool map show"] = lambda: whole([bpftool, "map", "show"])
    times: dict[str, list[float]] = {k: [] for k in rows}
    with tempfile.TemporaryDirectory(prefix="bpfnb_bench_pyc_") as cache:
        ENV.clear()
        ENV.update(child_env(cache))
        for run in range(args.runs + 1):
            for name, fn in rows.items():
                t = fn()
                if run:  # the first round only fills the bytecode cache
                    times[name].append(t)
    print(f"whole-process timings, {args.runs} interleaved runs")
    for name, ts in times.items():
        print(f"  {name:<30} best {min(ts) * 1e3:7.1f} ms   median {statistics.median(ts) * 1e3:7.1f} ms")
    if bpftool:
        for verb, ref in (("bpfnb progs", "bpftool prog show"), ("bpfnb maps", "bpftool map show")):
            print(f"  ratio {verb} / {ref}: {min(times[verb]) / min(times[ref]):.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
