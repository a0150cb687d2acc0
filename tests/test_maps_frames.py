"""Typed maps as DataFrames: batch reads against key walks, bpftool, round trips.

* ``to_dataframe(method="batch")`` and ``method="iterate"`` (the
  ``GET_NEXT_KEY`` fallback) must give the same frame for every map kind
  that has both;
* a BTF-typed map's frame must equal ``bpftool map dump -j``'s formatted
  output (bpftool prints an enum bitfield as the hex of its bits);
* ``update_from_dataframe`` / ``delete_from_dataframe`` round trips;
* a real program: syscall_counter counts the execve of a ``/bin/true``
  this test runs, seen in the ``syscalls`` frame and decoded through both
  the object's BTF and (opened by id) the kernel's.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from map_types_fixtures import loaded, make, obj  # noqa: F401  (fixtures)

import bpfnb
from bpfnb.kernel import possible_cpus, raw_tracepoint_open
from bpfnb.maps import bulk, open_map, typed
pytestmark = pytest.mark.kernel

N = 500
EXAMPLE = "bpfnb/examples/syscall_counter.bpf.o"


def flows_frame(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "key.saddr": rng.integers(0, 2**32, n, dtype=np.uint32),
        "key.sport": np.arange(n, dtype=np.uint16),  # unique keys
        "key.proto": rng.choice([6, 17], n).astype(np.uint8),
        "value.packets": rng.integers(0, 2**50, n, dtype=np.uint64),
        "value.bytes": rng.integers(0, 2**32, n, dtype=np.uint32),
        "value.proto": rng.choice(["PROTO_TCP", "PROTO_UDP"], n),
        "value.seen": rng.integers(0, 2, n).astype(bool),
        "value.tag": [f"t{i % 10}" for i in range(n)],
    })


def sort(df: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in df.columns if c.startswith(("key", "index"))] + (["cpu"] if "cpu" in df.columns else [])
    return df.sort_values(keys).reset_index(drop=True)


@pytest.mark.parametrize("name", ["flows", "lru_flows", "pcpu_flows", "lru_pcpu_flows"])
def test_batch_and_walk_give_the_same_frame(make, name):
    m = make(name)
    want = flows_frame(N)
    if m.is_per_cpu:  # long layout: a row per CPU, each with its own counters
        n = possible_cpus()
        want = want.loc[want.index.repeat(n)].reset_index(drop=True)
        want.insert(3, "cpu", np.tile(np.arange(n), N))
        want["value.packets"] = np.arange(len(want), dtype=np.uint64)
    assert m.update_from_dataframe(want) == N
    batch, walk = m.read(method="batch"), m.read(method="iterate")
    assert (batch.method, walk.method, batch.count, walk.count) == ("batch", "iterate", N, N)
    a, b = m.frame_from_entries(batch), m.frame_from_entries(walk)
    pd.testing.assert_frame_equal(sort(a), sort(b))
    got = sort(m.to_dataframe())
    pd.testing.assert_frame_equal(got.drop(columns=["key.pad"]), sort(want), check_dtype=False,
                                  check_categorical=False)
    if m.is_per_cpu:
        wide = m.to_dataframe(layout="wide")
        assert len(wide) == N and "value.packets@cpu0" in wide.columns
        m.clear()
        assert m.update_from_dataframe(wide, layout="wide") == N
        pd.testing.assert_frame_equal(sort(m.to_dataframe()), got)


@pytest.mark.parametrize("name", ["slots", "pcpu_counts"])
def test_arrays_batch_and_walk(make, name):
    m = make(name)
    df = m.to_dataframe()
    value = "value.packets" if "value.packets" in df.columns else "value"
    df[value] = np.arange(len(df), dtype=np.uint64) * 3
    m.update_from_dataframe(df)
    pd.testing.assert_frame_equal(m.to_dataframe(method="batch"), m.to_dataframe(method="iterate"))
    pd.testing.assert_frame_equal(m.to_dataframe(), df)


def test_delete_from_dataframe(make):
    m = make("flows")
    df = flows_frame(100)
    m.update_from_dataframe(df)
    assert m.delete_from_dataframe(df.iloc[:40]) == 40
    left = m.to_dataframe()
    assert len(left) == 60 and set(left["key.sport"]) == set(range(40, 100))
    with pytest.raises(bpfnb.KernelError):
        m.update_from_dataframe(df.iloc[40:], flags="noexist")  # they exist: the batch stops


def test_frame_equals_bpftool_dump(make):
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool not installed")
    m = make("flows")
    m.update_from_dataframe(flows_frame(200, seed=3))
    ours = sort(m.to_dataframe())
    out = subprocess.run(["bpftool", "map", "dump", "id", str(m.id), "-j"], check=True, capture_output=True,
                         text=True).stdout
    rows = [{**{f"key.{k}": v for k, v in e["formatted"]["key"].items()},
             **{f"value.{k}": v for k, v in e["formatted"]["value"].items()}} for e in json.loads(out)]
    theirs = sort(pd.DataFrame(rows))
    # bpftool shows the 8-bit enum bitfield as the hex of its bits
    numbers = {"PROTO_TCP": 6, "PROTO_UDP": 17}
    ours["value.proto"] = [hex(numbers[p]) for p in ours["value.proto"]]
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)


def test_entries_buffers_grow(make, monkeypatch):
    m = make("flows")
    m.update_from_dataframe(flows_frame(300))
    monkeypatch.setattr(bulk, "CHUNK", 64)  # many batch calls into one buffer
    monkeypatch.setattr(bulk, "PREALLOC_BYTES", 0)  # which starts at one chunk and has to grow
    e = m.read(method="batch")
    assert e.count == 300 and len(e.keys) >= 300
    pd.testing.assert_frame_equal(sort(m.frame_from_entries(e)), sort(m.to_dataframe(method="iterate")))


def test_syscall_counter_counts_our_execve():
    with bpfnb.EbpfLoader().load_file(EXAMPLE) as ebpf:
        maps = {name: typed(m, ebpf.btf.btf) for name, m in ebpf.maps.items()}
        link = raw_tracepoint_open("sys_enter", ebpf.programs["count_syscalls"].fd)
        try:
            child = subprocess.Popen(["/bin/true"])
            child.wait()
        finally:
            link.close()
        df = maps["syscalls"].to_dataframe()
        assert list(df.columns) == ["key.pid", "key.nr", "value"]
        mine = df[df["key.pid"] == child.pid]
        assert 59 in set(mine["key.nr"])  # execve (x86-64)
        assert mine["value"].sum() > 1
        comms = maps["comms"].to_dataframe()
        assert "value.name" in comms.columns
        assert maps[".rodata"][0] == {"only_pid": 0}
        # the same map opened by id decodes through the kernel's copy of the BTF
        with open_map(id=maps["syscalls"].id) as by_id:
            assert by_id.codecs.source == "kernel"
            theirs = by_id.to_dataframe()
        assert set(theirs.columns) == set(df.columns)
        assert child.pid in set(theirs["key.pid"])
