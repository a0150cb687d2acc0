#!/usr/bin/env python3
"""How fast is bpfnb's BTF parser next to libbpf?  ``python benchmarks/bench_btf.py``

Times, on /sys/kernel/btf/vmlinux (best and median of N runs, runs of the
different contenders interleaved so a busy machine hurts all of them alike):

a. bpfnb cold: read the file, index it, ``find("task_struct")`` (no cache)
b. bpfnb cached: the same through ``Btf.from_file(..., cache=True)``
c. libbpf: ``btf__parse(path, NULL)`` + ``btf__find_by_name_kind`` + ``btf__free``
   through ctypes (an oracle for the benchmark only; bpfnb never calls libbpf)
d. bpfnb: decode every type into its dataclass
e. extras: ``to_dataframe()``, ``to_c()`` (vmlinux.h), ``write_btf`` round trip
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bpfnb.btf import Btf  # noqa: E402
from bpfnb.btf.writer import write_btf  # noqa: E402

BTF_KIND_STRUCT = 4


def libbpf_find(path: str) -> Callable[[], int]:
    name = ctypes.util.find_library("bpf") or "libbpf.so.1"
    lib = ctypes.CDLL(name)
    lib.btf__parse.restype = ctypes.c_void_p
    lib.btf__parse.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.btf__find_by_name_kind.restype = ctypes.c_int
    lib.btf__find_by_name_kind.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32]
    lib.btf__free.argtypes = [ctypes.c_void_p]
    raw = path.encode()

    def run() -> int:
        btf = lib.btf__parse(raw, None)
        if not btf:
            raise OSError("btf__parse failed")
        try:
            return lib.btf__find_by_name_kind(btf, b"task_struct", BTF_KIND_STRUCT)
        finally:
            lib.btf__free(btf)

    return run


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--btf", default="/sys/kernel/btf/vmlinux")
    ap.add_argument("-n", "--runs", type=int, default=30)
    ap.add_argument("--heavy-runs", type=int, default=3, help="runs of the slow (d, e) measurements")
    args = ap.parse_args(argv)
    path = args.btf

    def cold() -> int:
        return Btf.from_file(path).find("task_struct", kind="struct").id

    def cached() -> int:
        return Btf.from_file(path, cache=True).find("task_struct", kind="struct").id

    contenders: dict[str, Callable[[], object]] = {"a. bpfnb cold parse+find": cold,
                                                   "b. bpfnb cached parse+find": cached}
    try:
        lib = libbpf_find(path)
        assert lib() == cold(), "libbpf and bpfnb disagree on task_struct's id"
        contenders["c. libbpf btf__parse+find"] = lib
    except OSError as exc:
        print(f"libbpf unavailable ({exc}); skipping (c)", file=sys.stderr)
    for fn in contenders.values():  # warm page cache, imports, lazy numpy paths
        fn()
    samples: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(args.runs):
        for key, fn in contenders.items():
            samples[key].append(timed(fn))

    def fresh() -> Btf:
        return Btf.from_file(path)

    heavy = {
        "d. bpfnb materialise every type": lambda: list(fresh()),
        "e. bpfnb to_dataframe()": lambda: fresh().to_dataframe(),
        "e. bpfnb to_c() (vmlinux.h)": lambda: fresh().to_c(),
        "e. bpfnb write_btf round trip": lambda: write_btf(fresh()),
    }
    for key, fn in heavy.items():
        samples[key] = [timed(fn) for _ in range(args.heavy_runs)]

    ref_key = "c. libbpf btf__parse+find"
    ref = min(samples[ref_key]) if ref_key in samples else None
    btf = fresh()
    print(f"{path}: {len(btf) - 1:,} types, {Path(path).stat().st_size:,} bytes, "
          f"runs={args.runs} (heavy {args.heavy_runs})")
    print(f"{'measurement':36} {'best ms':>9} {'median ms':>10} {'best / libbpf':>14}")
    for key, values in samples.items():
        best, median = min(values) * 1e3, statistics.median(values) * 1e3
        ratio = f"{min(values) / ref:.2f}x" if ref else "-"
        print(f"{key:36} {best:9.2f} {median:10.2f} {ratio:>14}")
    if ref is not None:
        verdict = "OK" if min(samples["a. bpfnb cold parse+find"]) <= 3 * ref else "TOO SLOW"
        print(f"requirement: cold parse+find within 3x of libbpf: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
