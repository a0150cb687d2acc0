#!/usr/bin/env python3
"""How fast is bpfnb's CO-RE resolution next to libbpf?  ``python benchmarks/bench_core.py``

On tests/bpf/build/core_chains.bpf.o (59 CO-RE records through task_struct,
mm_struct, dentry, ...) against /sys/kernel/btf/vmlinux, best and median of
N interleaved runs:

a. bpfnb cold: parse vmlinux BTF (no cache), parse the object, resolve and
   patch every record (``core_relocations``);
b. bpfnb warm: resolve every record again against the same ``Btf`` (the
   per-target name index is cached; the per-object candidate pruning is not);
c. libbpf: ``bpf_object__open_file`` + ``bpf_object__load`` + close through
   ctypes: vmlinux BTF parse, CO-RE, map creation *and* the kernel verifier
   (needs root; libbpf offers no CO-RE-only entry point);
d. libbpf ``btf__parse`` of vmlinux alone, to show what part of (c) is BTF;
e. whole-object loads of the same object, bpfnb ``EbpfLoader().load_file``
   beside (c), each in fresh child processes (``bench_load.py``'s): **cold**
   is the first load in a process (vmlinux parsed, features probed),
   **warm** the best later one (vmlinux BTF, probes and CO-RE candidates
   cached; libbpf caches nothing between objects).

The ratios printed are bpfnb / libbpf: below 1 means bpfnb is faster.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bpfnb.btf import Btf  # noqa: E402
from bpfnb.obj.core import core_relocations  # noqa: E402
from bpfnb.obj import Object  # noqa: E402

VMLINUX = "/sys/kernel/btf/vmlinux"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=7)
    ap.add_argument("--object", default=str(ROOT / "tests/bpf/build/core_chains.bpf.o"))
    args = ap.parse_args()
    obj_path = args.object
    count = len(core_relocations(Object.from_file(obj_path), Btf.from_file(VMLINUX)))

    def cold() -> None:
        core_relocations(Object.from_file(obj_path), Btf.from_file(VMLINUX, cache=False))

    warm_btf = Btf.from_file(VMLINUX)
    warm_obj = Object.from_file(obj_path)
    core_relocations(warm_obj, warm_btf)

    def warm() -> None:
        core_relocations(warm_obj, warm_btf)

    contenders: dict[str, Callable[[], object]] = {"bpfnb cold": cold, "bpfnb warm": warm}
    lib = ctypes.CDLL(ctypes.util.find_library("bpf") or "libbpf.so.1")
    lib.btf__parse.restype = ctypes.c_void_p
    lib.btf__parse.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.btf__free.argtypes = [ctypes.c_void_p]
    contenders["libbpf btf__parse"] = lambda: lib.btf__free(lib.btf__parse(VMLINUX.encode(), None))
    pin_root = None
    if os.geteuid() == 0:
        from oracles.libbpf import LibbpfObject

        pin_root = tempfile.mkdtemp(prefix="bpfnb_bench_", dir="/sys/fs/bpf")

        def libbpf_load() -> None:
            with LibbpfObject(Path(obj_path), pin_root) as o:
                o.load()

        contenders["libbpf open+load"] = libbpf_load
    try:
        times: dict[str, list[float]] = {k: [] for k in contenders}
        for _ in range(args.runs):
            for name, fn in contenders.items():
                times[name].append(timed(fn))
    finally:
        if pin_root is not None:
            os.rmdir(pin_root)
    print(f"{Path(obj_path).name}: {count} CO-RE records vs {VMLINUX}, {args.runs} runs")
    for name, ts in times.items():
        print(f"  {name:<20} best {min(ts) * 1e3:8.2f} ms   median {statistics.median(ts) * 1e3:8.2f} ms")
    if "libbpf open+load" in times:
        ref = min(times["libbpf open+load"])
        for name in ("bpfnb cold", "bpfnb warm"):
            print(f"  ratio {name} / libbpf open+load: {min(times[name]) / ref:.2f}")
    ref = min(times["libbpf btf__parse"])
    print(f"  ratio bpfnb cold / libbpf btf__parse: {min(times['bpfnb cold']) / ref:.2f}")
    per = min(times["bpfnb warm"]) / count * 1e6
    print(f"  bpfnb warm: {per:.0f} us per record")
    if os.geteuid() == 0:
        whole_loads(Path(obj_path), args.runs)
    return 0


def whole_loads(path: Path, runs: int, passes: int = 5) -> None:
    """(e): cold and warm whole-object loads, bpfnb beside libbpf, in child processes."""
    import bench_load

    pin_root = tempfile.mkdtemp(prefix="bpfnb_bench_core_", dir="/sys/fs/bpf")
    cache = tempfile.TemporaryDirectory(prefix="bpfnb_bench_pyc_")
    bench_load.ENV.clear()
    bench_load.ENV.update(bench_load.child_env(cache.name))
    best: dict[tuple[str, str], float] = {}
    try:
        for run in range(runs + 1):
            for who in ("bpfnb", "libbpf"):
                passes_ = bench_load.run_child(who, [path], passes, pin_root)
                if not run:
                    continue  # the first round fills the bytecode cache
                for kind, ps in (("cold", passes_[:1]), ("warm", passes_[1:])):
                    t = min(p[path.name] for p in ps)
                    best[who, kind] = min(best.get((who, kind), t), t)
    finally:
        shutil.rmtree(pin_root)
        cache.cleanup()
    print(f"whole-object load of {path.name}, best of {runs} fresh processes ({passes} warm loads each)")
    for kind in ("cold", "warm"):
        b, lb = best["bpfnb", kind], best["libbpf", kind]
        print(f"  {kind}: bpfnb {b * 1e3:7.2f} ms   libbpf open+load {lb * 1e3:7.2f} ms   ratio {b / lb:.2f}")


if __name__ == "__main__":
    sys.exit(main())
