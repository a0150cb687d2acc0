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
# Loading and attaching need CAP_BPF. Without it (Binder, a laptop) the analysis still runs, on a **recording**
# shipped with bpfnb (`bpfnb.examples.SNAPSHOTS / "syscall_counter"`, made by `tools/record_example_snapshots.py`
# on a real kernel while the same three commands ran): every table read from it says "recorded", and the few cells
# that only a live kernel can answer say so.

# %%
import json
import subprocess
import time

import pandas as pd
import bpfnb
from bpfnb import examples, kernel
from bpfnb.maps import open_map, typed
from bpfnb.events import define_record

PRIVILEGED = kernel.can_use_bpf()
RECORDED = examples.SNAPSHOTS / "syscall_counter"
RECORDING = json.loads((RECORDED / "recording.json").read_text())


def needs_bpf(what: str) -> bool:
    """True when bpf() is usable; otherwise say what only a live kernel can show."""
    if not PRIVILEGED:
        print(f"{what[0].upper()}{what[1:]} needs CAP_BPF and a live kernel, so it is not shown in this unprivileged run.")
    return PRIVILEGED


def recorded(title: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` captioned as recorded data, so it cannot be mistaken for this machine's."""
    return frame.style.set_caption(f"recorded on Linux {RECORDING['kernel_release']} "
                                   f"(bpfnb.examples.SNAPSHOTS/syscall_counter): {title}")


def recorded_map(name: str) -> pd.DataFrame:
    """One map's recorded entries, with the columns ``to_dataframe()`` gives the live map."""
    maps_table = pd.read_parquet(RECORDED / "t0" / "maps.parquet")
    row = maps_table[maps_table["name"] == name].iloc[0]
    return pd.read_parquet(RECORDED / "t0" / row["contents"]).drop(columns=["host", "time", "map_id", "map_name"])


print("privileged: the cells below load and run syscall_counter on this kernel" if PRIVILEGED else
      f"unprivileged (no CAP_BPF): the analysis reads the recording made on Linux {RECORDING['kernel_release']} "
      f"while {', '.join(RECORDING['workload'])} ran")

# %% [markdown]
# ## The program and its maps
#
# `syscall_counter.bpf.c` declares a hash map `syscalls` (`struct syscall_key {pid, nr}` → `__u64` count), an LRU
# hash `comms` (pid → command name), a ring buffer `events`, and global data (`.rodata`, `.bss`). Loading it gives
# raw kernel maps; `typed(map, btf)` picks the class of each map kind and its codecs from the object's BTF (the
# loaded, fixed-up copy, where even the global-data sections have a struct-like layout).

# %% tags=["nbval-check-output"]
source = examples.source("syscall_counter")
print(source[source.index("struct syscall_key {"):source.index("const volatile")].strip())

# %%
if PRIVILEGED:
    ebpf = bpfnb.EbpfLoader().load_file(examples.path("syscall_counter"))
    maps = {name: typed(m, ebpf.btf.btf) for name, m in ebpf.maps.items()}
    display(pd.DataFrame([
        {"map": name, "class": type(m).__name__, "key": m.key_codec.name, "value": m.value_codec.name,
         "types from": m.codecs.source, "max_entries": m.max_entries}
        for name, m in maps.items()
    ]))
else:
    maps_table = pd.read_parquet(RECORDED / "t0" / "maps.parquet")
    display(recorded("the maps as the kernel listed them",
                     maps_table[["name", "type", "key_size", "value_size", "max_entries", "frozen"]]))

# %% [markdown]
# ## Counting system calls
#
# Attach the program to the `sys_enter` raw tracepoint (`attach()`: its section names the tracepoint; one bpf()
# call that returns a link), run a little workload, detach. The program now has counted every system call of every
# process during that time.

# %%
if PRIVILEGED:
    link = ebpf.programs["count_syscalls"].attach()  # a RawTracePoint: the section names sys_enter
    children = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL) for cmd in (["/bin/true"], ["ls", "/"], ["uname", "-a"])]
    for child in children:
        child.wait()
    time.sleep(0.2)
    link.close()
    child_pids = [child.pid for child in children]
    print("attached, ran", len(children), "commands, detached")
else:
    child_pids = RECORDING["pids"]
    print("recorded: attached, ran", len(child_pids), "commands, detached")

# %% [markdown]
# `to_dataframe()` reads the whole map (here with `BPF_MAP_LOOKUP_BATCH`) and decodes keys and values into typed
# columns named after the BTF members. The counts are live, so the compared output is the frame's shape of
# columns and types; the rows themselves follow. The recording stored the same frames as Parquet, types included.

# %%
if PRIVILEGED:
    calls = maps["syscalls"].to_dataframe()
    comms = maps["comms"].to_dataframe()
else:
    calls, comms = recorded_map("syscalls"), recorded_map("comms")
print(calls.dtypes.to_string())
print(comms.dtypes.to_string())
if PRIVILEGED:
    print("entries read by:", maps["syscalls"].read().method)

# %% tags=["nbval-check-output"]
# NBVAL_IGNORE_OUTPUT
top = calls.sort_values("value", ascending=False).head(8)
display(top if PRIVILEGED else recorded("the most frequent (pid, system call) pairs", top))

# %% [markdown]
# Every child we started made an `execve` (system call 59 on x86-64) under its own pid — a check that holds on
# every run, and on the recording:

# %% tags=["nbval-check-output"]
ours = calls[calls["key.pid"].isin(child_pids)]
print("each child seen:", set(ours["key.pid"]) == set(child_pids))
print("each child called execve:", (ours[ours["key.nr"] == 59].groupby("key.pid")["value"].sum() >= 1).all())

# %% [markdown]
# ## Grouping with pandas
#
# Join the counts with the command names and group: system calls per command, drawn as bars by pandas'
# `Styler.bar` (no plotting library needed; `per_comm.plot.barh()` draws the same with matplotlib). The name is the
# one the program saw at a process's first system call, so a child forked by Python shows as `python` until it
# has exec'd.

# %% tags=["nbval-check-output"]
# NBVAL_IGNORE_OUTPUT
names = comms.rename(columns={"key": "key.pid", "value.name": "comm"})
per_comm = (calls.merge(names, on="key.pid", how="left").fillna({"comm": "?"})
            .groupby("comm")["value"].sum().sort_values(ascending=False).head(12).to_frame("syscalls"))
bars = per_comm.style.bar(color="#7aa6d6")
display(bars if PRIVILEGED else bars.set_caption(f"recorded on Linux {RECORDING['kernel_release']}: system calls per command"))

# %% tags=["nbval-check-output"]
# NBVAL_IGNORE_OUTPUT
per_nr = calls.groupby("key.nr")["value"].agg(["sum", "count"]).rename(columns={"count": "processes"})
bars = per_nr.sort_values("sum", ascending=False).head(10).style.bar(subset=["sum"], color="#d6a67a")
display(bars if PRIVILEGED else bars.set_caption(f"recorded on Linux {RECORDING['kernel_release']}: "
                                                 "the most frequent system calls"))

# %% [markdown]
# ## Watching a map
#
# `MapView` shows a map's DataFrame in a widget, re-read every `interval` seconds from the moment it is displayed,
# with start and stop buttons, "20 of N rows" and the map's keys as the index. Here it watches the syscall counts
# while the program is attached again for a moment.

# %%
if needs_bpf("watching the live map"):
    from bpfnb.widgets import MapView

    view = MapView(maps["syscalls"], interval=0.5, sort_by="value")
    display(view)
    link = ebpf.programs["count_syscalls"].attach()
    time.sleep(1.2)
    link.close()
    view.stop()
    print("refreshed while attached:", view.refreshes >= 2)

# %% [markdown]
# ## Every map on the system
#
# `bpfnb.maps.show()` walks the kernel's map ids like `bpftool map show`. Other programs' maps come and go, so the compared
# output keeps only our own maps (by id) and the columns that do not change between runs. The recording kept the same
# listing of the example's maps.

# %%
columns = ["name", "type", "key_size", "value_size", "max_entries", "flags", "frozen"]
if PRIVILEGED:
    listing = bpfnb.maps.show().to_dataframe()
    our_ids = [m.id for m in maps.values()]
    print("our maps are among them:", set(our_ids) <= set(listing.index))
    display(listing.loc[our_ids, columns].reset_index(drop=True))
else:
    display(recorded("bpfnb.maps.show(), the example's maps", maps_table[columns]))

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
if needs_bpf("reading the loaded program's source lines"):
    with kernel.Program.from_id(ebpf.programs["count_syscalls"].id) as prog:
        for line in list(dict.fromkeys(prog.source_lines().values()))[:6]:
            print(line)

# %% [markdown]
# ## The ring buffer stream
#
# Every `execve` also sends a `struct exec_event` through the `events` ring buffer. clang put no BTF for that struct
# into the object (it is only used through `bpf_ringbuf_reserve`'s result), so the record type is written down with
# `define_record`. `collect(duration=...)` maps the ring, waits with epoll, and decodes all records in one go. The
# recording kept the events of its three commands.

# %% tags=["nbval-check-output"]
exec_event = define_record("exec_event", pid="u32", ppid_unused="u32", ts_ns="u64", comm="char[16]")
print(exec_event, exec_event.dtype)
pd.DataFrame([(f.name, f.offset, f.node.type_name) for f in exec_event.layout.fields],
             columns=["member", "offset", "type"])

# %% tags=["nbval-check-output"]
if PRIVILEGED:
    link = ebpf.programs["count_syscalls"].attach()  # a RawTracePoint: the section names sys_enter
    with maps["events"].reader(exec_event) as reader:
        started = [subprocess.Popen(["/bin/true"]) for _ in range(3)]
        pids = [child.wait() or child.pid for child in started]
        time.sleep(0.2)
        stream = reader.collect(duration=0.5)
    link.close()
else:
    stream, pids = pd.read_parquet(RECORDED / "events.parquet"), RECORDING["pids"]
print(stream.dtypes.astype(str).to_dict())
print("our execve events arrived:", set(pids) <= set(stream["pid"]))

# %% tags=["nbval-check-output"]
# NBVAL_IGNORE_OUTPUT
display(stream.tail(5) if PRIVILEGED else recorded("the last execve events", stream.tail(5)))

# %%
if PRIVILEGED:
    ebpf.close()
    print("closed")
