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
# # 8 · BPF state as data: snapshots, SQL, time series
#
# `bpftool prog show` answers "what is loaded here, now". The questions that follow are about many
# readings: *which hosts run this program tag*, *which maps grew since this morning*, *which programs
# ran most*. bpfnb does not answer them with code of its own: `bpfnb.snapshot()` (and `bpfnb snapshot
# OUT` on the command line) writes the kernel's programs, maps, links and — on request — map contents
# as **Parquet** tables, every row stamped with `host` and `time`. Any engine that reads Parquet takes it
# from there: **DuckDB** embedded in this notebook, Spark or Dask for a fleet.
#
# ```
# OUT/programs.parquet          id, name, type, tag, loaded_at, map_ids, run_cnt, run_time_ns, ...
# OUT/maps.parquet              id, name, type, key_size, value_size, max_entries, ..., contents
# OUT/links.parquet             id, type, prog_id and the attach fields of each link type
# OUT/map_contents/ID.parquet   one map's entries, with the columns its BTF gives
# ```
#
# The analysis below runs on two snapshots **recorded** with `tools/record_example_snapshots.py`
# and shipped with bpfnb, so it reads the same on every machine (and on Binder, where nothing can be
# loaded): the `packet_sizes` and `packet_counter` examples were loaded, fed 4 packets, snapshotted,
# fed 6 more, snapshotted again. The last section takes a live snapshot of this kernel.

# %% tags=["nbval-check-output"]
import duckdb
import pandas as pd

duckdb.execute("SET enable_progress_bar = false")  # a slow machine (Binder) would print one into the outputs

from bpfnb import examples, kernel
from bpfnb.maps import Log2Histogram

ROOT = examples.SNAPSHOTS
sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("t[01]/**/*.parquet"))[:6]  # syscall_counter/ is notebook 06's

# %% [markdown]
# ## The programs, twice
#
# A glob reads both snapshots as one table. The columns keep their types (timestamps with time zone,
# 64-bit integers, lists for `map_ids`), so no parsing happens on the way.

# %% tags=["nbval-check-output"]
programs = f"'{ROOT}/*/programs.parquet'"
duckdb.sql(f"select time, host, name, type, tag, run_cnt from {programs} order by name, time").df()

# %% [markdown]
# **Which programs ran most between the readings?** (`run_cnt` counts only while statistics are on:
# the recording held `bpfnb.kernel.enable_stats()` open, as `bpftool prog profile` would.)

# %% tags=["nbval-check-output"]
duckdb.sql(f"""
    select name, tag, max(run_cnt) - min(run_cnt) as runs_between
    from {programs} group by name, tag order by runs_between desc, name
""").df()

# %% [markdown]
# ## Which maps grew
#
# Map contents are one file per map, named by map id (a map's name comes from whoever loaded it and
# never becomes a path). `union_by_name` stacks maps of different shapes; joining on `(map_id, time)`
# with the maps table gives each reading its map's name and type.

# %% tags=["nbval-check-output"]
contents = f"read_parquet('{ROOT}/*/map_contents/*.parquet', union_by_name=true)"
maps = f"'{ROOT}/*/maps.parquet'"
duckdb.sql(f"""
    with per_reading as (
        select m.name, m.type, c.time, count(*) as entries, sum(coalesce(c.value, 0))::bigint as total
        from {maps} m join {contents} c on c.map_id = m.id and c.time = m.time
        group by m.name, m.type, c.time)
    select name, type, min(total) as first, max(total) as last, max(total) - min(total) as grew
    from per_reading where type in ('array', 'percpu_array') group by name, type order by grew desc, name
""").df()

# %% [markdown]
# ## A log2 histogram from the recorded map
#
# `len_hist` is how latency and size tools keep histograms: the program adds 1 to slot
# `floor(log2(length))`. `Log2Histogram` turns the slots into the ranges and star bars that bcc and
# libbpf-tools print — from a live map (`Log2Histogram.from_map(m)`) or, as here, from recorded rows.

# %% tags=["nbval-check-output"]
last = duckdb.sql(f"""
    select c."index" as slot, c.value as count
    from {maps} m join {contents} c on c.map_id = m.id and c.time = m.time
    where m.name = 'len_hist' and m.time = (select max(time) from {maps})
""").df()
hist = Log2Histogram.from_counts(dict(zip(last["slot"], last["count"])), unit="bytes", title="len_hist")
print(hist)

# %% tags=["nbval-check-output"]
hist

# %% tags=["nbval-check-output"]
ax = hist.plot()

# %% [markdown]
# ## A live snapshot and a time series
#
# With CAP_BPF the same tables come from this kernel. The values the kernel assigns (ids, times) change
# with every run, so the cell prints what holds everywhere: the live program is the recorded one (same name
# and type; the same tag too where the kernel release is the recording's, since releases hash a program
# differently), and `Recorder` — the sampler behind `bpfnb.maps.record()` and `MapView(history=...)` — turns five
# readings of `len_hist`, two packets apart, into one time-stamped DataFrame.

# %%
import json
import os
import struct
import tempfile

from bpfnb import EbpfLoader
from bpfnb.maps import Recorder
from bpfnb.snapshot import snapshot


def udp(length: int) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length - 14, 0, 0, 64, 17, 0, bytes(4), bytes(4))
    return (bytes(12) + struct.pack("!H", 0x0800) + ip).ljust(length, b"\0")


if kernel.can_use_bpf():
    with EbpfLoader().load_file(examples.path("packet_sizes")) as sizes, tempfile.TemporaryDirectory() as out:
        program, len_hist = sizes.programs["count_lengths"], sizes.maps["len_hist"]
        recorder = Recorder(len_hist)
        for _ in range(5):
            for length in (64, 1500):
                program.test_run(udp(length))
            recorder.sample()
        snapshot(out, contents=[len_hist.id])
        live = duckdb.sql(f"select name, type, tag from '{out}/programs.parquet' where id = {program.info().id}").df()
        recorded = duckdb.sql(f"select distinct name, type, tag from {programs} where name = 'count_lengths'").df()
        recorded_on = json.loads((ROOT / "manifest.json").read_text())["kernel_release"]
        same = ["name", "type", "tag"] if os.uname().release == recorded_on else ["name", "type"]
        print("the live program is the recorded one:", live[same].values.tolist() == recorded[same].values.tolist())
        series = recorder.to_dataframe()
else:
    print("needs CAP_BPF: the live snapshot is not taken here (unprivileged run); the recorded data above stands in")
    series = None

# %%
if series is not None:
    per_reading = series.groupby("time")["value"].sum().reset_index(drop=True).rename("packets counted")
    print(per_reading.to_string())
    ax = series.pivot_table(index="time", columns="index", values="value").loc[:, [6, 10]].plot(
        title="len_hist slots 6 (64-127 B) and 10 (1024-2047 B) per reading")
