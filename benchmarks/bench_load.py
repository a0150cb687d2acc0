#!/usr/bin/env python3
"""Whole-object loads: bpfnb beside libbpf, cold and warm.  ``python benchmarks/bench_load.py``

Needs root (both load into the running kernel).  The objects are every
example (``bpfnb/examples/*.bpf.o``) and test fixture (``tests/bpf/build``)
that *both* bpfnb and libbpf load with default options; the others (libbpf
refuses legacy maps, some fixtures need per-program options or a newer
kernel) are listed and left out.

Each run is a fresh child process per loader that loads every object once
(the **cold** pass: bpfnb's first load parses vmlinux BTF, probes features
and imports what loading needs; libbpf's first load dlopens nothing new but
pays its own probes) and then ``--passes`` more times (the **warm** passes:
bpfnb's vmlinux BTF, feature probes and CO-RE candidates cached; libbpf
caches nothing between objects).  ``import bpfnb`` / loading libbpf.so are
outside the timings.  A third child imports numpy and bpfnb's loading
modules before its cold pass ("imports first"): the cold pass's one-time
cost split into importing (~150 ms: numpy, and ~100 dataclasses built at
import) and first-load work (vmlinux BTF, probes, a first kallsyms read).  Every object is closed before the next one loads,
so both pay map creation, BTF load and the verifier every time.

libbpf runs through ctypes with its print callback off (no Python call per
debug message), which is how it runs in a C program.  Timings are the best
of ``--runs`` interleaved runs, bytecode cached (as installed); this VM is shared, ratios move by ~±20%.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def child_env(cache_dir: str) -> dict[str, str]:
    """The environment for timed children: bytecode cached (in ``cache_dir``, not the tree).

    With ``PYTHONDONTWRITEBYTECODE`` set (this VM's sessions set it) every
    child would compile each module it imports from source, a cost no
    installed bpfnb pays.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


ENV: dict[str, str] = dict(os.environ)


def candidates() -> list[Path]:
    return sorted((ROOT / "tests/bpf/build").glob("*.bpf.o")) + sorted((ROOT / "bpfnb/examples").glob("*.bpf.o"))


def _libbpf_loader(pin_root: str):
    from oracles.libbpf import _PRINT_FN, LibbpfObject, _load_lib

    _load_lib().libbpf_set_print(ctypes.cast(None, _PRINT_FN))

    def load(path: Path) -> None:
        with LibbpfObject(path, pin_root) as o:
            o.load()

    return load


def _bpfnb_loader(pin_root: str):
    import bpfnb

    def load(path: Path) -> None:
        bpfnb.EbpfLoader().map_pin_path(pin_root).load_file(path).close()

    return load


def _import_loading_modules() -> None:
    """Import numpy and every bpfnb module but the display side, filling no cache: what a cold
    pass would import on the way, so that the "imports first" pass times the first loads alone."""
    import importlib
    import pkgutil

    import bpfnb

    importlib.import_module("numpy")
    for info in pkgutil.walk_packages(bpfnb.__path__, "bpfnb."):
        if info.name.split(".")[1] not in ("display", "widgets", "cli", "examples", "snapshot"):
            importlib.import_module(info.name)


def child(who: str, paths: list[Path], passes: int, pin_root: str) -> None:
    """Time one cold pass and ``passes`` warm passes; print JSON (seconds per object per pass)."""
    if who == "bpfnb-imported":
        _import_loading_modules()
    load = _libbpf_loader(pin_root) if who == "libbpf" else _bpfnb_loader(pin_root)
    out: list[dict[str, float]] = []
    for _ in range(1 + passes):
        times = {}
        for p in paths:
            start = time.perf_counter()
            load(p)
            times[p.name] = time.perf_counter() - start
        out.append(times)
    print(json.dumps(out))


def loadable(paths: list[Path], pin_root: str) -> tuple[list[Path], dict[str, str]]:
    """The objects both loaders load, and why each other one is left out (probed in a child)."""
    code = (
        "import sys, json; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/tests']\n"
        "from pathlib import Path\n"
        "from bench_load import _libbpf_loader, _bpfnb_loader\n"
        "lb, bn, out = _libbpf_loader(sys.argv[2]), _bpfnb_loader(sys.argv[2]), {}\n"
        "for p in sys.argv[3:]:\n"
        "    why = ''\n"
        "    for name, fn in (('libbpf', lb), ('bpfnb', bn)):\n"
        "        try: fn(Path(p))\n"
        "        except Exception as e: why += f'{name}: {type(e).__name__} '\n"
        "    out[p] = why\n"
        "print(json.dumps(out))\n"
    )
    env = dict(ENV, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "benchmarks"), ENV.get("PYTHONPATH")])))
    res = subprocess.run([sys.executable, "-c", code, str(ROOT), pin_root, *map(str, paths)],
                         capture_output=True, text=True, env=env, check=True)
    verdict = json.loads(res.stdout.strip().splitlines()[-1])
    keep = [p for p in paths if not verdict[str(p)]]
    return keep, {Path(p).name: why.strip() for p, why in verdict.items() if why}


def run_child(who: str, paths: list[Path], passes: int, pin_root: str) -> list[dict[str, float]]:
    res = subprocess.run([sys.executable, __file__, "--child", who, "--passes", str(passes),
                          "--pin-root", pin_root, *map(str, paths)], capture_output=True, text=True, check=True,
                         env=ENV)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=5)
    ap.add_argument("--passes", type=int, default=3, help="warm passes after the cold one")
    ap.add_argument("--per-object", action="store_true", help="also print each object's best times")
    ap.add_argument("--child", choices=("bpfnb", "bpfnb-imported", "libbpf"), help=argparse.SUPPRESS)
    ap.add_argument("--pin-root", help=argparse.SUPPRESS)
    ap.add_argument("objects", nargs="*", type=Path)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.objects, args.passes, args.pin_root)
        return 0
    if os.geteuid() != 0:
        print("bench_load: needs root (both loaders load into the kernel); skipped")
        return 0
    pin_root = tempfile.mkdtemp(prefix="bpfnb_bench_load_", dir="/sys/fs/bpf")
    cache = tempfile.TemporaryDirectory(prefix="bpfnb_bench_pyc_")
    ENV.clear()
    ENV.update(child_env(cache.name))
    try:  # the probe below also fills the bytecode cache
        paths, left_out = loadable(args.objects or candidates(), pin_root)
        runs: dict[str, list[list[dict[str, float]]]] = {"bpfnb": [], "bpfnb-imported": [], "libbpf": []}
        for _ in range(args.runs):
            for who in runs:
                runs[who].append(run_child(who, paths, args.passes, pin_root))
    finally:
        shutil.rmtree(pin_root)  # the maps libbpf and bpfnb pinned by name
        cache.cleanup()
    print(f"{len(paths)} objects loaded whole by both, {args.runs} runs, {args.passes} warm passes each")
    if left_out:
        print("left out: " + ", ".join(f"{n} ({why})" for n, why in sorted(left_out.items())))

    def best(who: str, warm: bool) -> float:
        return min(sum(p.values()) for run in runs[who] for p in (run[1:] if warm else run[:1]))

    print(f"  {'':<26} {'bpfnb':>10} {'libbpf':>10} {'ratio':>7}")
    for label, who, warm in (("cold pass (fresh process)", "bpfnb", False),
                             ("cold pass, imports first", "bpfnb-imported", False),
                             ("warm pass (caches filled)", "bpfnb", True)):
        b, lb = best(who, warm), best("libbpf", warm)
        print(f"  {label:<26} {b * 1e3:8.1f}ms {lb * 1e3:8.1f}ms {b / lb:6.2f}x")
    if args.per_object:
        print(f"\n  {'object (best warm)':<28} {'bpfnb':>9} {'libbpf':>9} {'ratio':>7}")
        for p in paths:
            b = min(ps[p.name] for run in runs["bpfnb"] for ps in run[1:])
            lb = min(ps[p.name] for run in runs["libbpf"] for ps in run[1:])
            print(f"  {p.name:<28} {b * 1e3:7.2f}ms {lb * 1e3:7.2f}ms {b / lb:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
