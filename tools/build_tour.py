"""Write notebooks/00-tour.ipynb: the whole story on one page.

Usage: ``.venv/bin/python tools/build_tour.py && tools/refresh_notebooks.sh notebooks/00-tour.ipynb``
(run as root so the stored outputs are the privileged ones; every kernel
cell is guarded, so the notebook also runs top to bottom on Binder).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_notebooks import GUARD  # noqa: E402
from nb import code, md, write  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

TOUR = [
    md("""
# bpfnb · a tour

What happens between `clang -target bpf` and a program running in the kernel, one stage at a
time — the same stages libbpf, Aya and cilium/ebpf run, in readable Python, each one showing
what it did. Every stage has its own notebook for the details:

| stage | notebook |
|---|---|
| parse the ELF object | [01 · the object file](01-object-file.ipynb) |
| BTF: types, line info, fix-up and sanitization | [02 · BTF](02-btf.ipynb) |
| maps and relocation | [03 · maps and relocation](03-maps-and-relocation.ipynb) |
| load and the verifier | [04 · load and verify](04-load-and-verify.ipynb) |
| CO-RE relocations | [05 · CO-RE](05-core-relocations.ipynb) |
| live maps as DataFrames, ring buffers | [06 · map analysis](06-map-analysis.ipynb) |
| attach, links, test runs | [07 · attach and observe](07-attach-and-observe.ipynb) |
"""),
    code(GUARD),
    md("""
## 1 · Parse

An example shipped with bpfnb: XDP and TC programs counting packets per IP protocol, sharing a
subprogram, with two read-only knobs in `.rodata`. Parsing makes no syscalls.
"""),
    code("""
import bpfnb
from bpfnb import examples

obj = bpfnb.Object.from_file(examples.path("packet_counter"))
obj
"""),
    code("""
obj.call_graph()
"""),
    md("""
## 2 · BTF

The object carries its own type information; the kernel publishes its own in
`/sys/kernel/btf/vmlinux`. bpfnb parses the kernel's ~100k types lazily, in milliseconds.
"""),
    code("""
obj.maps["proto_stats"]
"""),
    code("""
vmlinux = bpfnb.Btf.from_sys_fs()
vmlinux["iphdr"]
"""),
    md("""
## 3 · The loading pipeline, one stage at a time

`EbpfLoader` takes Aya's options (`set_global`, `set_max_entries`, `map_pin_path`, `btf`, …);
`pipeline()` runs the stages one call at a time and each result renders what it changed.
Without privileges the same stages run as a labelled dry run.
"""),
    code("""
pipeline = bpfnb.EbpfLoader().set_global("min_len", 64).pipeline(examples.path("packet_counter"))
pipeline.next()   # parse
pipeline.next()   # btf: fixed up for this kernel, then loaded
"""),
    code("""
pipeline.next()   # maps: created, .rodata written with min_len = 64 and frozen
"""),
    code("""
relocated = pipeline.next()   # relocate: map fds patched in, the subprogram appended
pipeline.relocated["xdp_count"].to_dataframe()[["slot", "kind", "symbol", "note"]]
"""),
    code("""
pipeline.next()   # load: BPF_PROG_LOAD with BTF func/line info
pipeline
"""),
    md("""
## 4 · CO-RE

Programs compiled against one kernel's types run on another because each field access is
recorded and re-resolved against the target kernel's BTF at load time.
"""),
    code("""
core_obj = bpfnb.Object.from_file(examples.path("core_kinds"))
table = core_obj.core_relocations()
table
"""),
    md("""
## 5 · Run it, read the maps

The loaded programs are typed (`Xdp`, `SchedClassifier`, …: each with its own `attach`), and so are the maps
(`PerCpuHash`, `Array`, … decoding keys and values through BTF). `BPF_PROG_TEST_RUN` runs the XDP program on
frames we build, no network needed: a 40-byte frame is below `min_len = 64` and is dropped, a 100-byte one passes.
"""),
    code("""
import struct

def udp_frame(size: int) -> bytes:
    eth = bytes(12) + struct.pack("!H", 0x0800)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size - 14, 0, 0, 64, 17, 0, bytes(4), bytes(4))
    return (eth + ip).ljust(size, b"\\0")

if needs_bpf("the test runs"):
    ebpf = pipeline.ebpf()
    xdp = ebpf.programs["xdp_count"]
    print(type(xdp).__name__, "| 40 bytes ->", xdp.test_run(udp_frame(40)).verdict,
          "| 100 bytes ->", xdp.test_run(udp_frame(100)).verdict)
"""),
    code("""
if needs_bpf("the maps"):
    stats = ebpf.maps["proto_stats"]                 # per-CPU hash: IP protocol -> {packets, bytes}
    print(type(stats).__name__, "UDP (17) summed over CPUs:", stats.sum(17))
    verdicts = ebpf.maps["verdicts"].to_dataframe()  # array: index -> count, read in one batch
    display(verdicts)
"""),
    code("""
pipeline.close()   # every program, map and BTF object released
"""),
    md("""
## 6 · The widget

The same pipeline behind buttons: pick an example, set options, run one stage at a time.
"""),
    code("""
from bpfnb.widgets import Loader

Loader(examples.path("packet_counter"))
"""),
]


def main() -> int:
    write(str(ROOT / "notebooks/00-tour.ipynb"), TOUR)
    return 0


if __name__ == "__main__":
    sys.exit(main())
