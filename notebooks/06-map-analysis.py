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
# # 6 · Live maps: Python objects, DataFrames, event streams
#
# A loaded program talks to user space through maps. bpfnb gives every map kind a Python class
# (`bpfnb.maps.HashMap`, `Array`, `PerCpuHash`, `LpmTrie`, `Queue`, `RingBuf`, …) whose keys and values are
# encoded and decoded through BTF, and turns a whole map into a pandas DataFrame with batch lookups —
# one syscall per tens of thousands of entries, decoded column by column.
#
# This notebook runs a real program on this machine — `syscall_counter` counts system calls per process from the
# `sys_enter` raw tracepoint and streams every `execve` through a ring buffer — then reads its maps as DataFrames,
# groups them with pandas, lists every map on the system, opens one by id and collects the event stream.
#
# Everything that talks to the kernel needs CAP_BPF; without it (Binder) those cells print a note instead.

# %%
import subprocess
import time

import pandas as pd

import bpfnb
from bpfnb import examples, kernel
from bpfnb.maps import open_map, typed
from bpfnb.events import define_record

PRIVILEGED = kernel.can_use_bpf()


def needs_bpf(what: str) -> bool:
    """True when bpf() is usable; otherwise say what this cell would have shown."""
    if not PRIVILEGED:
        print(f"needs CAP_BPF, so {what} cannot be shown here (unprivileged run).")
    return PRIVILEGED


print("privileged: real syscalls" if PRIVILEGED else "unprivileged: kernel cells are skipped")

# %% [markdown]
# ## The program and its maps
#
# `syscall_counter.bpf.c` declares a hash map `syscalls` (`struct syscall_key {pid, nr}` → `__u64` count), an LRU
# hash `comms` (pid → command name), a ring buffer `events`, and global data (`.rodata`, `.bss`). Loading it gives
# raw kernel maps; `typed(map, btf)` picks the class of each map kind and its codecs from the object's BTF (the
# loaded, fixed-up copy, where even the global-data sections have a struct-like layout).

# %%
source = examples.source("syscall_counter")
print(source[source.index("struct syscall_key {"):source.index("const volatile")].strip())

# %%
if needs_bpf("loading syscall_counter"):
    ebpf = bpfnb.EbpfLoader().load_file(examples.path("syscall_counter"))
    maps = {name: typed(m, ebpf.btf.btf) for name, m in ebpf.maps.items()}
    display(pd.DataFrame([
        {"map": name, "class": type(m).__name__, "key": m.key_codec.name, "value": m.value_codec.name,
         "types from": m.codecs.source, "max_entries": m.max_entries}
        for name, m in maps.items()
    ]))

# %% [markdown]
# ## Counting system calls
#
# Attach the program to the `sys_enter` raw tracepoint (`attach()`: its section names the tracepoint; one bpf()
# call that returns a link), run a little workload, detach. The program now has counted every system call of every
# process during that time.

# %%
if needs_bpf("attaching to sys_enter"):
    link = ebpf.programs["count_syscalls"].attach()  # a RawTracePoint: the section names sys_enter
    children = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL) for cmd in (["/bin/true"], ["ls", "/"], ["uname", "-a"])]
    for child in children:
        child.wait()
    time.sleep(0.2)
    link.close()
    print("attached, ran", len(children), "commands, detached")

# %% [markdown]
# `to_dataframe()` reads the whole map (here with `BPF_MAP_LOOKUP_BATCH`) and decodes keys and values into typed
# columns named after the BTF members. The counts are live, so the compared output is the frame's shape of
# columns and types; the rows themselves follow.

# %%
if needs_bpf("the syscalls map as a DataFrame"):
    calls = maps["syscalls"].to_dataframe()
    comms = maps["comms"].to_dataframe()
    print(calls.dtypes.to_string())
    print(comms.dtypes.to_string())
    print("entries read by:", maps["syscalls"].read().method)

# %%
# NBVAL_IGNORE_OUTPUT
if PRIVILEGED:
    display(calls.sort_values("value", ascending=False).head(8))

# %% [markdown]
# Every child we started made an `execve` (system call 59 on x86-64) under its own pid — a check that holds on
# every run:

# %%
if needs_bpf("the check"):
    ours = calls[calls["key.pid"].isin([c.pid for c in children])]
    print("each child seen:", set(ours["key.pid"]) == {c.pid for c in children})
    print("each child called execve:", (ours[ours["key.nr"] == 59].groupby("key.pid")["value"].sum() >= 1).all())

# %% [markdown]
# ## Grouping with pandas
#
# Join the counts with the command names and group: system calls per command. matplotlib is not installed in this
# environment, so the "plot" is a table with bars drawn by pandas' `Styler.bar`.

# %%
# NBVAL_IGNORE_OUTPUT
if PRIVILEGED:
    names = comms.rename(columns={"key": "key.pid", "value.name": "comm"})
    per_comm = (calls.merge(names, on="key.pid", how="left").fillna({"comm": "?"})
                .groupby("comm")["value"].sum().sort_values(ascending=False).head(12).to_frame("syscalls"))
    display(per_comm.style.bar(color="#7aa6d6"))

# %%
# NBVAL_IGNORE_OUTPUT
if PRIVILEGED:
    per_nr = calls.groupby("key.nr")["value"].agg(["sum", "count"]).rename(columns={"count": "processes"})
    display(per_nr.sort_values("sum", ascending=False).head(10).style.bar(subset=["sum"], color="#d6a67a"))

# %% [markdown]
# ## Every map on the system
#
# `bpfnb.maps.show()` walks the kernel's map ids like `bpftool map show`. Other programs' maps come and go, so the compared
# output keeps only our own maps (by id) and the columns that do not change between runs.

# %%
if needs_bpf("the system's maps"):
    listing = bpfnb.maps.show().to_dataframe()
    our_ids = [m.id for m in maps.values()]
    print("our maps are among them:", set(our_ids) <= set(listing.index))
    display(listing.loc[our_ids, ["name", "type", "key_size", "value_size", "max_entries", "flags", "frozen"]]
            .reset_index(drop=True))

# %% [markdown]
# ## Opening a map by id
#
# Any map can be opened by id (or pin) through the typed layer. A map created with BTF keeps a reference to it in
# the kernel (`btf_id`, key and value type ids), so `open_map` decodes it exactly as the object's BTF does —
# without the object file:

# %%
if needs_bpf("opening a map by id"):
    with open_map(id=maps["syscalls"].id) as by_id:
        print(by_id)
        print("types from:", by_id.codecs.source)
        print("same frame as through the object's BTF:", by_id.to_dataframe().sort_values(["key.pid", "key.nr"])
              .reset_index(drop=True).equals(maps["syscalls"].to_dataframe().sort_values(["key.pid", "key.nr"])
              .reset_index(drop=True)))

# %% [markdown]
# The program itself, opened by id, shows its translated instructions with the C source lines from the line info
# the kernel kept (as `bpftool prog dump xlated linum` does). The first few source lines:

# %%
if needs_bpf("the program's source lines"):
    with kernel.Program.from_id(ebpf.programs["count_syscalls"].id) as prog:
        for line in list(dict.fromkeys(prog.source_lines().values()))[:6]:
            print(line)

# %% [markdown]
# ## The ring buffer stream
#
# Every `execve` also sends a `struct exec_event` through the `events` ring buffer. clang put no BTF for that struct
# into the object (it is only used through `bpf_ringbuf_reserve`'s result), so the record type is written down with
# `define_record`. `collect(duration=...)` maps the ring, waits with epoll, and decodes all records in one go.

# %%
exec_event = define_record("exec_event", pid="u32", ppid_unused="u32", ts_ns="u64", comm="char[16]")
print(exec_event, exec_event.dtype)
pd.DataFrame([(f.name, f.offset, f.node.type_name) for f in exec_event.layout.fields],
             columns=["member", "offset", "type"])

# %%
if needs_bpf("the ring buffer stream"):
    link = ebpf.programs["count_syscalls"].attach()  # a RawTracePoint: the section names sys_enter
    with maps["events"].reader(exec_event) as reader:
        started = [subprocess.Popen(["/bin/true"]) for _ in range(3)]
        pids = [child.wait() or child.pid for child in started]
        time.sleep(0.2)
        stream = reader.collect(duration=0.5)
    link.close()
    print(stream.dtypes.astype(str).to_dict())
    print("our three execve events arrived:", set(pids) <= set(stream["pid"]))

# %%
# NBVAL_IGNORE_OUTPUT
if PRIVILEGED:
    display(stream.tail(5))

# %%
if PRIVILEGED:
    ebpf.close()
    print("closed")
