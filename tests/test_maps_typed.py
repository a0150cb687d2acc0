"""Every typed map class against the kernel, typed through the map_types fixture's BTF.

Each map is created on its own from the fixture's MapSpec with
``create_map`` against the object's BTF as ``load_object_btf`` loaded it,
then wrapped with ``typed(map, loaded.btf)``: keys and values go through
the real (clang-emitted) BTF types.
"""

from __future__ import annotations

import errno
import os

import pytest
from helpers import fixture_path
from map_types_fixtures import loaded, make, obj  # noqa: F401  (fixtures)

import bpfnb
from bpfnb.errors import KernelError, MapError, ValueEncodingError
from bpfnb.kernel import create_map, possible_cpus
from bpfnb.maps import (
    Array,
    ArrayOfMaps,
    BloomFilter,
    HashMap,
    HashOfMaps,
    LpmTrie,
    LruHash,
    LruPerCpuHash,
    PerCpuArray,
    PerCpuHash,
    ProgArray,
    Queue,
    Stack,
    StackTraceMap,
    open_map,
    typed,
)
pytestmark = pytest.mark.kernel

FLOW = {"saddr": 0x0A000001, "sport": 443, "proto": 6}
STATS = {"packets": 10, "bytes": 1500, "proto": "PROTO_TCP", "seen": True, "tag": "ok"}


def full_stats(**over):
    return {**STATS, **over}


# --- dispatch ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, cls", [
    ("flows", HashMap), ("lru_flows", LruHash), ("pcpu_flows", PerCpuHash), ("lru_pcpu_flows", LruPerCpuHash),
    ("slots", Array), ("pcpu_counts", PerCpuArray), ("routes", LpmTrie), ("fifo", Queue), ("lifo", Stack),
    ("seen", BloomFilter), ("stacks", StackTraceMap), ("outer", ArrayOfMaps), ("outer_hash", HashOfMaps),
])
def test_typed_picks_the_class(make, name, cls):
    m = make(name)
    assert type(m) is cls
    assert m.codecs.source in ("object", "map type")
    assert name in repr(m)


def test_codecs_are_resolved_at_first_use_and_explicit_types_at_once(obj, loaded):
    """A typed map builds its codecs when first asked (a load types every map), the same ones
    as before; a type given by name is still looked up at construction, so a wrong one fails there."""
    with create_map(obj.maps["flows"], btf_fd=loaded.fd).map as raw:
        m = typed(raw, loaded.btf)
        assert m._codecs is None
        assert m.codecs.source == "object" and m.codecs is m.codecs and m.btf is loaded.btf
        assert m.key_codec.size == raw.key_size
        with pytest.raises(bpfnb.BpfnbError):
            typed(raw, loaded.btf, value_type="no_such_type_anywhere")
        with pytest.raises(bpfnb.BpfnbError, match="needs btf="):
            typed(raw, value_type="no_such_type_anywhere")


def test_an_array_of_maps_is_not_a_prog_array(make):
    """Both hold fds read back as ids, but neither passes for the other."""
    outer = make("outer")
    assert not isinstance(outer, ProgArray) and not issubclass(ProgArray, ArrayOfMaps)
    assert isinstance(outer, Array) and outer.value_column == "map_id"


# --- hash maps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["flows", "lru_flows"])
def test_hash_mapping_protocol(make, name):
    m = make(name)
    assert m.codecs.key.name == "struct flow" and m.codecs.value.name == "struct stats"
    assert FLOW not in m and m.get(FLOW) is None
    m[FLOW] = STATS
    assert FLOW in m
    got = m[FLOW]
    assert got == {**STATS, "proto": "PROTO_TCP"} | {"tag": "ok"}
    other = {**FLOW, "sport": 80}
    m.put(other, full_stats(packets=1), flags="noexist")
    with pytest.raises(KernelError) as exc:
        m.put(other, STATS, flags="noexist")
    assert exc.value.errno == errno.EEXIST
    with pytest.raises(KernelError) as exc:
        m.put({**FLOW, "sport": 1}, STATS, flags="exist")
    assert exc.value.errno == errno.ENOENT
    m.put(other, full_stats(packets=2), flags="exist")
    assert m[other]["packets"] == 2
    assert sorted(k["sport"] for k in m) == [80, 443]
    assert len(m) == 2
    assert dict((k["sport"], v["packets"]) for k, v in m.items()) == {80: 2, 443: 10}
    assert m.lookup_and_delete(other)["packets"] == 2
    assert other not in m
    with pytest.raises(KeyError):
        m.lookup_and_delete(other)
    del m[FLOW]
    with pytest.raises(KeyError):
        del m[FLOW]
    with pytest.raises(KeyError):
        m[FLOW]
    assert len(m) == 0


def test_encoding_errors_before_any_syscall(make):
    m = make("flows")
    with pytest.raises(ValueEncodingError, match="no member 'port'"):
        m[{"saddr": 1, "port": 2}] = STATS
    with pytest.raises(ValueEncodingError, match="out of range"):
        m[{**FLOW, "sport": 70000}] = STATS
    with pytest.raises(ValueEncodingError, match="PROTO_ICMP"):
        m[FLOW] = full_stats(proto="PROTO_ICMP")
    with pytest.raises(ValueEncodingError, match="bytes"):
        m[b"\0" * 3] = STATS
    assert len(m) == 0  # nothing reached the kernel
    assert {"port": 1} not in m  # an impossible key is simply not there


def test_clear_and_freeze(make):
    m = make("flows")
    for port in range(50):
        m[{**FLOW, "sport": port}] = STATS
    assert m.clear() == 50 and len(m) == 0
    m[FLOW] = STATS
    m.freeze()
    with pytest.raises(KernelError) as exc:
        m[FLOW] = STATS
    assert exc.value.errno == errno.EPERM
    assert m[FLOW]["packets"] == 10


@pytest.mark.parametrize("name", ["pcpu_flows", "lru_pcpu_flows"])
def test_per_cpu_hash_values_per_cpu(make, name):
    m = make(name)
    n = possible_cpus()
    assert m.ncpus == n
    m[FLOW] = STATS  # one value: every CPU gets it
    values = m[FLOW]
    assert len(values) == n and all(v["packets"] == 10 for v in values)
    m[FLOW] = [full_stats(packets=cpu + 1) for cpu in range(n)]
    assert [v["packets"] for v in m[FLOW]] == list(range(1, n + 1))
    assert m.sum(FLOW)["packets"] == n * (n + 1) // 2
    df = m.to_dataframe()
    assert list(df["cpu"]) == list(range(n)) and list(df["value.packets"]) == list(range(1, n + 1))
    wide = m.to_dataframe(layout="wide")
    assert len(wide) == 1 and wide[f"value.packets@cpu{n - 1}"].iloc[0] == n
    with pytest.raises(ValueEncodingError):
        m[FLOW] = [STATS] * (n + 1) if n > 1 else [STATS, STATS]


# --- arrays -----------------------------------------------------------------------------------------


def test_array(make):
    m = make("slots")
    assert len(m) == 16 and list(m) == list(range(16))
    assert 3 in m and 16 not in m and "x" not in m
    assert m[3]["packets"] == 0  # every slot exists, zeroed
    m[3] = STATS
    assert m[3]["tag"] == "ok" and m[2:5][1]["packets"] == 10
    with pytest.raises(MapError, match="cannot be deleted"):
        del m[3]
    with pytest.raises(KernelError) as exc:
        m[16] = STATS
    assert exc.value.errno == errno.E2BIG
    df = m.to_dataframe()
    assert list(df.columns[:2]) == ["index", "value.packets"] and len(df) == 16
    assert df.loc[df["index"] == 3, "value.packets"].item() == 10
    df["value.packets"] = df["index"] * 100
    assert m.update_from_dataframe(df) == 16
    assert m[7]["packets"] == 700 and m[3]["tag"] == "ok"
    assert m.clear() == 16 and m[3]["packets"] == 0


def test_per_cpu_array(make):
    m = make("pcpu_counts")
    n = possible_cpus()
    m[1] = list(range(10, 10 + n))
    assert m[1] == list(range(10, 10 + n)) and m.sum(1) == sum(range(10, 10 + n))
    df = m.to_dataframe()
    assert len(df) == 8 * n and set(df.columns) == {"index", "cpu", "value"}
    row = df[(df["index"] == 1) & (df["cpu"] == n - 1)]
    assert row["value"].item() == 9 + n


# --- LPM trie ------------------------------------------------------------------------------------


def test_lpm_trie_longest_prefix(make):
    import ipaddress

    m = make("routes")
    assert m.codecs.key.name == "struct lpm_v4"
    m["10.0.0.0/8"] = 1
    m[ipaddress.ip_network("10.1.0.0/16")] = 2
    m[(32, bytes([192, 168, 0, 1]))] = 3
    assert m.match("10.1.2.3") == 2
    assert m.match("10.200.0.1") == 1
    assert m.match("192.168.0.1") == 3
    assert m.match("11.0.0.1") is None
    assert m["10.0.0.0/8"] == 1  # an exact key is a lookup too
    keys = sorted((k["prefixlen"], k["addr"]) for k in m)
    assert keys == [(8, 0x0A), (16, 0x010A), (32, 0x0100A8C0)]
    df = m.to_dataframe()  # LPM tries have no batch ops: the key walk
    assert sorted(df["key.prefixlen"]) == [8, 16, 32] and sorted(df["value"]) == [1, 2, 3]
    del m["10.1.0.0/16"]
    assert m.match("10.1.2.3") == 1
    with pytest.raises(ValueEncodingError):
        m[(40, b"\1\2\3\4")] = 1


# --- keyless maps -----------------------------------------------------------------------------------


def test_queue(make):
    m = make("fifo")
    assert m.pop() is None and m.peek() is None
    for port in (1, 2, 3):
        m.push({**FLOW, "sport": port})
    assert m.peek()["sport"] == 1
    df = m.to_dataframe()  # read without losing anything
    assert list(df["position"]) == [0, 1, 2] and list(df["value.sport"]) == [1, 2, 3]
    assert len(m) == 3
    assert [m.pop()["sport"] for _ in range(3)] == [1, 2, 3]
    assert m.pop("empty") == "empty"
    assert m.update_from_dataframe(df) == 3  # pushed back in row order
    assert m.to_dataframe(drain=True).equals(df) and len(m) == 0
    with pytest.raises(MapError, match="no keys"):
        m[0]
    with pytest.raises(MapError, match="no keys"):
        m[0] = {**FLOW}


def test_stack(make):
    m = make("lifo")
    for v in (1, 2, 3):
        m.push(v)
    assert m.peek() == 3
    assert list(m.to_dataframe()["value"]) == [3, 2, 1]
    assert list(m) == [3, 2, 1]  # still all there, in pop order
    assert m.pop() == 3 and m.pop() == 2
    assert m.to_dataframe(drain=True)["value"].tolist() == [1]
    assert m.pop() is None


def test_bloom_filter(make):
    m = make("seen")
    for v in (5, 7, 1000):
        m.push(v)
    assert 5 in m and m.contains(1000)
    misses = sum(m.contains(v) for v in range(2000, 2100))
    assert misses < 50  # false positives are possible, but rare at this fill
    with pytest.raises(MapError, match="pushed and tested"):
        m.to_dataframe()
    with pytest.raises(ValueEncodingError):
        m.push(-1)


def test_stack_trace_map_shape(make):
    m = make("stacks")
    assert m.codecs.key.name == "__u32" and m.codecs.value.size == 128
    df = m.to_dataframe()
    assert len(df) == 0 and list(df.columns) == ["key", "value"]
    assert m.get(0) is None


# --- fd arrays and maps of maps -------------------------------------------------------------------


def test_prog_array_holds_program_ids():
    with bpfnb.EbpfLoader().load_file(fixture_path("map_types")) as ebpf:
        jumps = typed(ebpf.maps["jumps"], ebpf.btf.btf)
        assert isinstance(jumps, ProgArray)
        prog = ebpf.programs["touch"]
        assert 0 not in jumps
        jumps[0] = prog
        assert jumps[0] == prog.id
        df = jumps.to_dataframe()
        assert list(df.columns) == ["index", "prog_id"] and df["prog_id"].tolist() == [prog.id]
        assert len(jumps) == 1
        del jumps[0]
        assert 0 not in jumps and len(jumps) == 0


def test_array_and_hash_of_maps(obj, loaded, make):
    outer, outer_hash = make("outer"), make("outer_hash")
    inner = create_map(obj.maps["outer"].inner, btf_fd=None).map
    try:
        outer[1] = inner
        outer_hash[7] = inner.fd.fileno()
        assert outer[1] == inner.id == outer_hash[7]
        assert outer.to_dataframe()["map_id"].tolist() == [inner.id]
        assert outer_hash.to_dataframe()["map_id"].tolist() == [inner.id]
        with outer.inner(1) as opened:
            assert isinstance(opened, Array) and opened.id == inner.id
            opened[2] = (5).to_bytes(8, "little")  # no BTF on the inner map: raw values
            assert inner.lookup((2).to_bytes(4, "little")) == (5).to_bytes(8, "little")
        with pytest.raises(ValueEncodingError):
            outer[2] = "not a map"
    finally:
        inner.close()


# --- opening maps on the system ---------------------------------------------------------------------


def test_open_by_id_decodes_through_kernel_btf(make):
    m = make("flows")
    m[FLOW] = STATS
    with open_map(id=m.id) as opened:
        assert isinstance(opened, HashMap)
        assert opened.codecs.source == "kernel"
        assert opened[FLOW] == m[FLOW]
        assert opened.to_dataframe().equals(m.to_dataframe())


def test_open_by_pin(make, unique_name):
    m = make("slots")
    m[2] = STATS
    path = f"/sys/fs/bpf/{unique_name}"
    m.pin(path)
    try:
        with open_map(pin=path) as opened:
            assert isinstance(opened, Array) and opened[2]["tag"] == "ok"
    finally:
        os.unlink(path)
    with pytest.raises(TypeError):
        open_map()
