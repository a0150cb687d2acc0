# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # bpfnb · a tour
#
# What happens between `clang -target bpf` and a program running in the kernel, one stage at a
# time — the same stages libbpf, Aya and cilium/ebpf run, in readable Python, each one showing
# what it did. Every stage has its own notebook for the details:
#
# | stage | notebook |
# |---|---|
# | parse the ELF object | [01 · the object file](01-object-file.ipynb) |
# | BTF: types, line info, fix-up and sanitization | [02 · BTF](02-btf.ipynb) |
# | maps and relocation | [03 · maps and relocation](03-maps-and-relocation.ipynb) |
# | load and the verifier | [04 · load and verify](04-load-and-verify.ipynb) |
# | CO-RE relocations | [05 · CO-RE](05-core-relocations.ipynb) |
# | live maps as DataFrames, ring buffers | [06 · map analysis](06-map-analysis.ipynb) |
# | attach, links, test runs | [07 · attach and observe](07-attach-and-observe.ipynb) |

# %%
from bpfnb import kernel

PRIVILEGED = kernel.can_use_bpf()


def needs_bpf(what: str) -> bool:
    """True when bpf() is usable; otherwise say what this cell would have shown."""
    if not PRIVILEGED:
        print(f"needs CAP_BPF: this is a dry run, so {what} cannot be shown here.")
    return PRIVILEGED


print("privileged: real syscalls" if PRIVILEGED else "unprivileged: dry run (no CAP_BPF / CAP_SYS_ADMIN)")

# %% [markdown]
# ## 1 · Parse
#
# An example shipped with bpfnb: XDP and TC programs counting packets per IP protocol, sharing a
# subprogram, with two read-only knobs in `.rodata`. Parsing makes no syscalls.

# %% tags=["nbval-check-output"]
import bpfnb
from bpfnb import examples

obj = bpfnb.Object.from_file(examples.path("packet_counter"))
obj

# %% tags=["nbval-check-output"]
obj.call_graph()

# %% [markdown]
# ## 2 · BTF
#
# The object carries its own type information; the kernel publishes its own in
# `/sys/kernel/btf/vmlinux`. bpfnb parses the kernel's ~100k types lazily, in milliseconds.
#
# Type ids, sizes and offsets in a kernel's BTF change with every kernel build, so this page reads
# a **snapshot** shipped with bpfnb, `examples.kernel_btf()`: the BTF of one fixed Linux 6.18 kernel
# (`examples.KERNEL_BTF_RELEASE` names it), the same on every machine and on Binder.
# `bpfnb.Btf.from_sys_fs()` gives your running kernel's instead; try it in place of the snapshot.

# %% tags=["nbval-check-output"]
obj.maps["proto_stats"]

# %% tags=["nbval-check-output"]
vmlinux = examples.kernel_btf()   # a fixed kernel; bpfnb.Btf.from_sys_fs() is yours
print("snapshot of Linux", examples.KERNEL_BTF_RELEASE)
vmlinux["iphdr"]

# %% [markdown]
# ## 3 · The loading pipeline, one stage at a time
#
# `EbpfLoader` takes Aya's options (`set_global`, `set_max_entries`, `map_pin_path`, `btf`, …);
# `pipeline()` runs the stages one call at a time and each result renders what it changed.
# Without privileges the same stages run as a labelled dry run.

# %%
pipeline = bpfnb.EbpfLoader().set_global("min_len", 64).pipeline(examples.path("packet_counter"))
pipeline.next()   # parse
pipeline.next()   # btf: fixed up for this kernel, then loaded

# %%
pipeline.next()   # maps: created, .rodata written with min_len = 64 and frozen

# %%
relocated = pipeline.next()   # relocate: map fds patched in, the subprogram appended
pipeline.relocated["xdp_count"].to_dataframe()[["slot", "kind", "symbol", "note"]]

# %%
pipeline.next()   # load: BPF_PROG_LOAD with BTF func/line info
pipeline

# %% [markdown]
# ## 4 · CO-RE
#
# Programs compiled against one kernel's types run on another because each field access is
# recorded and re-resolved against the target kernel's BTF at load time. Here the target is the
# snapshot kernel, so the resolved offsets are the same wherever this runs; `core_relocations()`
# with no argument resolves against the running kernel, as a real load does.

# %% tags=["nbval-check-output"]
core_obj = bpfnb.Object.from_file(examples.path("core_kinds"))
table = core_obj.core_relocations(vmlinux)
table

# %% [markdown]
# ## 5 · Run it, read the maps
#
# The loaded programs are typed (`Xdp`, `SchedClassifier`, …: each with its own `attach`), and so are the maps
# (`PerCpuHash`, `Array`, … decoding keys and values through BTF). `BPF_PROG_TEST_RUN` runs the XDP program on
# frames we build, no network needed: a 40-byte frame is below `min_len = 64` and is dropped, a 100-byte one passes.

# %%
import struct

def udp_frame(size: int) -> bytes:
    eth = bytes(12) + struct.pack("!H", 0x0800)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size - 14, 0, 0, 64, 17, 0, bytes(4), bytes(4))
    return (eth + ip).ljust(size, b"\0")

if needs_bpf("the test runs"):
    ebpf = pipeline.ebpf()
    xdp = ebpf.programs["xdp_count"]
    print(type(xdp).__name__, "| 40 bytes ->", xdp.test_run(udp_frame(40)).verdict,
          "| 100 bytes ->", xdp.test_run(udp_frame(100)).verdict)

# %%
if needs_bpf("the maps"):
    stats = ebpf.maps["proto_stats"]                 # per-CPU hash: IP protocol -> {packets, bytes}
    print(type(stats).__name__, "UDP (17) summed over CPUs:", stats.sum(17))
    verdicts = ebpf.maps["verdicts"].to_dataframe()  # array: index -> count, read in one batch
    display(verdicts)

# %%
pipeline.close()   # every program, map and BTF object released

# %% [markdown]
# ## 6 · The widget
#
# The same pipeline behind buttons: pick an example, set options, run one stage at a time.

# %% tags=["nbval-check-output"]
from bpfnb.widgets import Loader

Loader(examples.path("packet_counter"))

# %% [markdown]
# A map can be watched too: `MapView` re-reads it every `interval` seconds from the moment it is shown, with
# start and stop buttons (here the `verdicts` array of a fresh load, counted by test runs while it refreshes).

# %% tags=["nbval-check-output"]
# NBVAL_IGNORE_OUTPUT
if needs_bpf("watching a map"):
    from bpfnb.widgets import MapView

    watched = bpfnb.EbpfLoader().load_file(examples.path("packet_counter"))
    display(MapView(watched.maps["verdicts"], interval=0.5))
    for size in (40, 100, 100):
        watched.programs["xdp_count"].test_run(udp_frame(size))
