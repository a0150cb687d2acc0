"""The maps stage against the running kernel, bpftool and libbpf.

Every map of the fixtures and shipped examples is created with and without
the object's BTF and compared field by field with ``bpftool map show`` and
with the maps libbpf creates for the same object; pinning by name, reuse
and mismatch; global data written, read back and frozen; and failures
half-way that must leave no fd and no pin behind.
"""

from __future__ import annotations

import copy
import errno
import json
import os
import shutil
import struct
import subprocess
import sys

import pytest

from helpers import fixture_path
from oracles.bpftool import bpftool

from bpfnb import examples
from bpfnb.errors import (
    KernelError,
    MapError,
    PinMismatch,
    UnknownName,
    UnsafeName,
    UnsupportedFeature,
    ValueEncodingError,
)
from bpfnb.kernel.maps import (
    Map,
    create_data_map,
    create_map,
    create_maps,
    internal_map_name,
)
from bpfnb.obj import Object
from bpfnb.obj.maps import MapSpec, PinningType
from bpfnb.uapi import MapType

BPF_F_NO_PREALLOC = 1


def source(name: str):
    """A fixture (tests/bpf) or a shipped example, by name."""
    return examples.path(name) if name in examples.names() else fixture_path(name)


OBJECTS = {n: Object.from_file(source(n)) for n in ("multi", "minimal", "legacy_maps", "map_kinds", "packet_counter",
                                                    "syscall_counter", "fentry", "calls", "prog_flags")}


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def bpftool_map(map_id: int) -> dict:
    return bpftool("map", "show", "id", str(map_id), timeout=60)


def loaded_btf(obj: Object):
    """The object's BTF fixed up, sanitized and loaded by the pipeline's own BTF stage (its fd)."""
    from bpfnb.kernel.btf import load_object_btf

    return load_object_btf(obj).fd


def with_maps(obj: Object, maps: dict[str, MapSpec]) -> Object:
    """A shallow copy of ``obj`` with other map specs (Object is a plain dataclass)."""
    clone = copy.copy(obj)
    clone.maps = maps
    return clone


# --- refused before any syscall -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "", "x\0y", "tab\there", "/abs", "x" * 256])
def test_hostile_names_never_become_paths(name: str, tmp_path) -> None:
    """The rule itself is tested in test_obj_map_rules; here: refused before any map is created."""
    spec = MapSpec(name=name, map_type=MapType.HASH, key_size=4, value_size=4, max_entries=1,
                   pinning=PinningType.BY_NAME)
    before = fd_count()
    with pytest.raises(UnsafeName):  # refused before any syscall: no map was created
        create_map(spec, pin_root=tmp_path)
    assert fd_count() == before
    assert os.listdir(tmp_path) == [] and not os.path.exists(tmp_path.parent / "x")


def test_unknown_override_names_fail_before_any_map() -> None:
    before = fd_count()
    with pytest.raises(UnknownName, match="nope"):
        create_maps(OBJECTS["multi"], max_entries={"nope": 4})
    with pytest.raises(UnknownName, match="no global variable 'nope'"):
        create_maps(OBJECTS["multi"], globals={"nope": 1})
    assert fd_count() == before


# --- kernel: every map vs bpftool and libbpf -------------------------------------------------

MAP_OBJECTS = ["multi", "minimal", "legacy_maps", "map_kinds", "packet_counter", "syscall_counter"]


@pytest.mark.kernel
@pytest.mark.parametrize("with_btf", [False, True], ids=["no-btf", "btf"])
@pytest.mark.parametrize("name", MAP_OBJECTS)
def test_every_map_matches_bpftool(name: str, with_btf: bool) -> None:
    obj = OBJECTS[name]
    before = fd_count()
    btf_fd = loaded_btf(obj) if with_btf and obj.btf_data else None
    try:
        with create_maps(obj, btf_fd=btf_fd) as result:
            assert list(result) == [*obj.maps, *obj.data]
            assert result.created == list(result) and not result.reused and not result.skipped
            for record in result.records:
                spec, live = record.spec, result[record.name]
                shown = bpftool_map(live.id)
                assert shown["type"] == spec.type_name
                assert (shown["bytes_key"], shown["bytes_value"]) == (spec.key_size, spec.value_size)
                assert shown["max_entries"] == spec.max_entries and shown["flags"] == spec.map_flags
                expected = internal_map_name(obj.name, record.name) if spec.is_global_data else record.name[:15]
                assert shown["name"] == record.kernel_name == live.kernel_name == expected
                assert shown["frozen"] == int(record.name.startswith(".rodata"))
                info = live.info()
                assert info.map_extra == spec.map_extra
                if record.with_btf:
                    value_type = (obj.btf.find(record.name, kind="DATASEC").id if spec.is_global_data
                                  else spec.value_type_id)
                    assert shown["btf_id"] == info.btf_id > 0
                    assert (info.btf_key_type_id, info.btf_value_type_id) == (spec.key_type_id, value_type)
                else:
                    assert info.btf_key_type_id == info.btf_value_type_id == 0
            assert set(result.fds()) == set(result)
    finally:
        if btf_fd is not None:
            btf_fd.close()
    assert fd_count() == before


def _libbpf(name: str, pin_root: str):
    from oracles.libbpf import available

    if not available():
        pytest.skip("libbpf.so.1 not installed")
    from oracles.libbpf_maps import libbpf_loaded_maps, libbpf_map_names

    return libbpf_map_names, libbpf_loaded_maps


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["multi", "fentry", "calls", "prog_flags", "packet_counter", "syscall_counter"])
def test_map_names_equal_libbpfs(name: str, pin_root: str) -> None:
    """libbpf's names after open: ours for the same maps (internal names included)."""
    names, _ = _libbpf(name, pin_root)
    obj = OBJECTS[name]
    ours = [*obj.maps, *(internal_map_name(obj.name, d) for d in obj.data)]
    assert names(source(name), pin_root) == ours


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["multi", "minimal", "packet_counter", "syscall_counter", "map_kinds"])
def test_created_maps_equal_libbpfs(name: str, pin_root: str) -> None:
    """What the kernel holds after libbpf's load and after ours: same names, shapes, flags, BTF ids."""
    _, loaded = _libbpf(name, pin_root)
    obj = OBJECTS[name]
    theirs = loaded(source(name), pin_root)
    for entry in os.listdir(pin_root):  # libbpf pins by-name maps; ours must not reuse them
        os.unlink(os.path.join(pin_root, entry))
    btf_fd = loaded_btf(obj)
    with btf_fd, create_maps(obj, btf_fd=btf_fd) as result:
        ours = {r.kernel_name: r.map.info() for r in result.records}
    assert list(ours) == list(theirs)
    for kname, info in ours.items():
        other = theirs[kname]
        for field in ("type", "name", "key_size", "value_size", "max_entries", "map_flags", "map_extra",
                      "btf_key_type_id", "btf_value_type_id"):
            assert getattr(info, field) == getattr(other, field), (kname, field)


# --- kernel: pinning ----------------------------------------------------------------------------


@pytest.mark.kernel
def test_pin_by_name_then_reuse(pin_root: str) -> None:
    obj = OBJECTS["multi"]
    key, value = struct.pack("<I", 7), struct.pack("<Q", 99)
    with create_maps(obj, pin_root=pin_root) as first:
        record = next(r for r in first.records if r.name == "lru_pids")
        assert record.status == "created" and record.pinned_here
        assert record.pin_path == os.path.join(pin_root, "lru_pids")
        assert os.listdir(pin_root) == ["lru_pids"]  # only the BY_NAME map is pinned
        first["lru_pids"].update(key, value)
        first_id = first["lru_pids"].id
    with create_maps(obj, pin_root=pin_root) as second:
        assert second.reused == ["lru_pids"] and "lru_pids" not in second.created
        reused = second["lru_pids"]
        assert reused.id == first_id and reused.lookup(key) == value
        assert reused.pinned == os.path.join(pin_root, "lru_pids")
        assert "reused" in second._repr_html_()


@pytest.mark.kernel
@pytest.mark.parametrize("change", [{"max_entries": 512}, {"map_flags": BPF_F_NO_PREALLOC}, {"value_size": 16},
                                    {"map_type": MapType.HASH}])
def test_pinned_map_that_differs_is_refused(pin_root: str, change: dict) -> None:
    obj = OBJECTS["multi"]
    with create_maps(obj, pin_root=pin_root):
        pass
    spec = obj.maps["lru_pids"].with_(**change)
    before = fd_count()
    with pytest.raises(PinMismatch) as info:
        create_maps(with_maps(obj, {**obj.maps, "lru_pids": spec}), pin_root=pin_root)
    field = next(iter(change))
    field = "type" if field == "map_type" else field
    assert field in info.value.differences and "spec" in str(info.value) and "pinned" in str(info.value)
    assert fd_count() == before
    assert os.listdir(pin_root) == ["lru_pids"]  # the pin this call did not make stays


@pytest.mark.kernel
def test_a_pinned_program_is_not_a_map(pin_root: str) -> None:
    from bpfnb import kernel

    with kernel.prog_load(1, bytes.fromhex("b7000000000000009500000000000000")).fd as prog:
        kernel.obj_pin(prog, os.path.join(pin_root, "lru_pids"))
    before = fd_count()
    with pytest.raises(PinMismatch, match="not a map"):
        create_maps(OBJECTS["multi"], pin_root=pin_root)
    with pytest.raises(MapError, match="not a map"):
        Map.from_pin(os.path.join(pin_root, "lru_pids"))
    assert fd_count() == before


@pytest.mark.kernel
def test_hostile_pinned_name_in_an_object_rolls_back(pin_root: str) -> None:
    obj = OBJECTS["multi"]
    evil = obj.maps["flows"].with_(name="../escape", pinning=PinningType.BY_NAME)
    before = fd_count()
    with pytest.raises(UnsafeName):
        create_maps(with_maps(obj, {**obj.maps, "../escape": evil}), pin_root=pin_root)
    assert fd_count() == before
    assert os.listdir(pin_root) == [] and not os.path.exists(os.path.join(os.path.dirname(pin_root), "escape"))


# --- kernel: failures half-way -------------------------------------------------------------------


def _insert_after(maps: dict[str, MapSpec], after: str, spec: MapSpec) -> dict[str, MapSpec]:
    out: dict[str, MapSpec] = {}
    for name, s in maps.items():
        out[name] = s
        if name == after:
            out[spec.name] = spec
    return out


@pytest.mark.kernel
@pytest.mark.parametrize("bad,error", [
    (MapSpec("bogus", 999, 4, 4, 1), UnsupportedFeature),
    (MapSpec("empty_hash", MapType.HASH, 4, 8, 0), KernelError),
    (MapSpec("no_inner", MapType.ARRAY_OF_MAPS, 4, 4, 1), MapError),
], ids=["unknown-type", "max_entries-0", "map-in-map-without-inner"])
def test_failure_half_way_leaves_nothing(pin_root: str, bad: MapSpec, error: type) -> None:
    obj = OBJECTS["multi"]
    broken = with_maps(obj, _insert_after(obj.maps, "lru_pids", bad))  # after the pinned map
    before = fd_count()
    ids_before = set(_all_map_ids())
    with pytest.raises(error) as info:
        create_maps(broken, pin_root=pin_root)
    assert fd_count() == before
    assert os.listdir(pin_root) == []  # the pin made by this call is gone
    assert not set(_all_map_ids()) - ids_before  # and so are the maps (no one holds them)
    if error is KernelError:
        assert info.value.errno == errno.EINVAL and "empty_hash" in str(info.value)


def _all_map_ids() -> list[int]:
    from bpfnb import kernel

    return list(kernel.iter_ids(kernel.map_get_next_id))


@pytest.mark.kernel
def test_allow_unsupported_skips_and_reports() -> None:
    obj = OBJECTS["multi"]
    broken = with_maps(obj, _insert_after(obj.maps, "flows", MapSpec("bogus", 999, 4, 4, 1)))
    with create_maps(broken, allow_unsupported=True) as result:
        assert result.skipped == ["bogus"] and "bogus" not in result
        assert result.created == [n for n in [*broken.maps, *broken.data] if n != "bogus"]
        row = next(r for r in result.rows() if r["name"] == "bogus")
        assert row["status"] == "skipped" and "map type 999" in row["reason"] and row["id"] is None
        assert "skipped" in result._repr_html_()


@pytest.mark.kernel
def test_unsupported_by_the_probes() -> None:
    """A map type the feature probes call missing is refused before any syscall."""
    import dataclasses

    from bpfnb.kernel import Support, features

    probes = features()
    fake = dataclasses.replace(probes, map_type_support={**probes.map_type_support, MapType.LRU_HASH: Support.NO})
    before = fd_count()
    with pytest.raises(UnsupportedFeature, match="lru_hash"):
        create_maps(OBJECTS["multi"], features=fake)
    assert fd_count() == before


@pytest.mark.kernel
def test_a_load_that_succeeds_probes_no_map_type() -> None:
    """Map types are probed only to explain a refused create (cilium's map.go), never up front."""
    from bpfnb.kernel import features

    features.cache_clear()
    try:
        with create_maps(OBJECTS["map_kinds"]) as result:
            assert len(result.created) == len(OBJECTS["map_kinds"].maps) + len(OBJECTS["map_kinds"].data) >= 5
        assert features().map_type_support.probed == {} and features().prog_type_support.probed == {}
    finally:
        features.cache_clear()


@pytest.mark.kernel
@pytest.mark.parametrize("verdict", ["NO", "YES"])
def test_a_refused_create_is_explained_by_its_one_probe(verdict: str) -> None:
    """EINVAL from BPF_MAP_CREATE (bad flags here) asks the probe of that map type only: a "no" becomes
    UnsupportedFeature naming the type, a "yes" leaves the kernel's own error."""
    import dataclasses

    from bpfnb.kernel import Support, features
    from bpfnb.kernel.features import LazySupport

    asked: list[MapType] = []

    def probe(t: MapType) -> Support:
        asked.append(t)
        return Support[verdict]

    fake = dataclasses.replace(features(), map_type_support=LazySupport(probe, (MapType.HASH, MapType.ARRAY)))
    spec = MapSpec("bad_flags", MapType.HASH, 4, 4, 1, map_flags=1 << 30)
    before = fd_count()
    with pytest.raises(KernelError) as info:
        create_map(spec, features=fake)
    assert fd_count() == before and asked == [MapType.HASH]  # after the refusal, and ARRAY not at all
    assert info.value.errno == errno.EINVAL
    assert isinstance(info.value, UnsupportedFeature) == (verdict == "NO")
    if verdict == "NO":
        assert "no hash maps" in str(info.value) and "bad_flags" in str(info.value)
        with pytest.raises(UnsupportedFeature):  # now known: refused before any syscall, not probed again
            create_map(spec, features=fake)
        assert asked == [MapType.HASH] and fd_count() == before


# --- kernel: global data ----------------------------------------------------------------------------


@pytest.mark.kernel
def test_set_global_then_read_back() -> None:
    from bpfnb.btf.codec import Codec

    obj = OBJECTS["multi"]
    btf_fd = loaded_btf(obj)
    with btf_fd, create_maps(obj, btf_fd=btf_fd, globals={"sample_rate": 7, "greeting": "hey", "start_value": 5},
                             max_entries={"flows": 16}) as result:
        rodata, data = obj.data[".rodata"], obj.data[".data"]
        raw = result[".rodata"].lookup(b"\0\0\0\0")
        for var, expected in (("sample_rate", 7), ("greeting", "hey")):
            v = rodata.variable(var)
            assert Codec(obj.btf, v.type_id).decode(raw[v.offset : v.offset + v.size]) == expected
        v = data.variable("start_value")
        assert struct.unpack_from("<Q", result[".data"].lookup(b"\0\0\0\0"), v.offset)[0] == 5
        assert result["flows"].max_entries == 16 == bpftool_map(result["flows"].id)["max_entries"]
        # .rodata is frozen: user space can no longer write it; .data stays writable
        with pytest.raises(KernelError) as info:
            result[".rodata"].update(b"\0\0\0\0", bytes(rodata.size))
        assert info.value.errno == errno.EPERM
        result[".data"].update(b"\0\0\0\0", bytes(data.size))
        assert bpftool_map(result[".rodata"].id)["frozen"] == 1
        assert bpftool_map(result[".data"].id)["frozen"] == 0


@pytest.mark.kernel
@pytest.mark.parametrize("value,match", [(2**40, "sample_rate"), ("text", "sample_rate"), (b"\1\2", "2 bytes")])
def test_bad_global_values_are_refused_before_any_map(value, match: str) -> None:
    before = fd_count()
    with pytest.raises(ValueEncodingError, match=match):
        create_maps(OBJECTS["multi"], globals={"sample_rate": value})
    assert fd_count() == before


@pytest.mark.kernel
def test_create_data_map_alone() -> None:
    obj = OBJECTS["packet_counter"]
    section = obj.data[".rodata"]
    with pytest.raises(UnknownName, match="nope"):
        create_data_map(section, obj_name=obj.name, globals={"nope": 1})
    created = create_data_map(section, obj_name=obj.name, btf=obj.btf, globals={"min_len": 60, "nope": 1},
                              must_exist=False)
    with created.map as m:
        assert m.kernel_name == "packet_c.rodata" and created.status == "created"
        assert struct.unpack_from("<I", m.lookup(b"\0" * 4), section.variable("min_len").offset)[0] == 60
    # without BTF: bytes and ints still work
    created = create_data_map(section, obj_name=obj.name, globals={"drop_proto": 17})
    with created.map as m:
        assert m.lookup(b"\0" * 4)[section.variable("drop_proto").offset] == 17


# --- kernel: map-in-map, BTF fallback, the Map object -----------------------------------------------


@pytest.mark.kernel
def test_map_in_map_inner_template_and_slots() -> None:
    obj = OBJECTS["map_kinds"]
    # the parser does not collect `.values = {[1] = &inner_a}` yet: give the spec its slot
    outer = obj.maps["outer"].with_(init_slots=((1, "inner_a"),))
    before = fd_count()
    with create_maps(with_maps(obj, {**obj.maps, "outer": outer})) as result:
        items = list(result["outer"].items())
        inner_id = struct.unpack("<I", items[0][1])[0]
        assert [k for k, _ in items] == [struct.pack("<I", 1)] and inner_id == result["inner_a"].id
        assert bpftool_map(result["outer_hash"].id)["type"] == "hash_of_maps"
        assert result["seen"].info().map_extra == 3
        assert result["lazy"].map_flags == BPF_F_NO_PREALLOC
    assert fd_count() == before  # the inner templates were closed


@pytest.mark.kernel
def test_btf_refused_for_a_map_retries_without_it() -> None:
    obj = OBJECTS["minimal"]
    spec = obj.maps["pkt_count"]
    func_id = next(t.id for t in obj.btf if t.kind.name == "FUNC")  # not a value type: the kernel says no
    btf_fd = loaded_btf(obj)
    with btf_fd:
        created = create_map(spec.with_(value_type_id=func_id), btf_fd=btf_fd)
        with created.map as m:
            assert created.btf_fallback and not created.with_btf
            info = m.info()
            assert info.btf_value_type_id == 0 and info.btf_id == 0
        ok = create_map(spec, btf_fd=btf_fd)
        with ok.map as m:
            assert ok.with_btf and not ok.btf_fallback and m.info().btf_value_type_id == spec.value_type_id


@pytest.mark.kernel
def test_map_object(pin_root: str) -> None:
    spec = MapSpec("counts", MapType.HASH, 4, 8, 16)
    before = fd_count()
    created = create_map(spec)
    m = created.map
    with m:
        for i in range(3):
            m.update(struct.pack("<I", i), struct.pack("<Q", i * 10))
        assert sorted(m.keys()) == [struct.pack("<I", i) for i in range(3)]
        assert dict(m.items())[struct.pack("<I", 2)] == struct.pack("<Q", 20)
        assert m.delete(struct.pack("<I", 1)) and not m.delete(struct.pack("<I", 1))
        assert m.lookup(struct.pack("<I", 1)) is None
        assert repr(m) == "<Map 'counts' hash key=4B value=8B max_entries=16>"
        html = m._repr_html_()
        assert "counts" in html and str(m.id) in html
        path = os.path.join(pin_root, "counts")
        m.pin(path)
        with Map.from_pin(path) as again, Map.from_id(m.id) as by_id, Map.from_fd(m.fd.fileno()) as dup:
            assert again.id == by_id.id == dup.id == m.id
            assert again.lookup(struct.pack("<I", 0)) == bytes(8)
        m.unpin()
        assert not os.path.exists(path)
        m.freeze()
        with pytest.raises(KernelError):
            m.update(struct.pack("<I", 5), bytes(8))
    assert m.closed and repr(m).endswith("closed>") and "closed" in m._repr_html_()
    assert fd_count() == before


@pytest.mark.kernel
def test_per_cpu_values_have_one_slot_per_possible_cpu() -> None:
    from bpfnb.kernel import possible_cpus

    with create_maps(OBJECTS["multi"]) as result:
        m = result["percpu_hits"]
        assert m.is_per_cpu and len(m.lookup(struct.pack("<I", 0))) == 8 * possible_cpus()


@pytest.mark.kernel
def test_maps_result_views() -> None:
    pd = pytest.importorskip("pandas")
    with create_maps(OBJECTS["multi"]) as result:
        df = result.to_dataframe()
        assert list(df["name"]) == list(result) and set(df["status"]) == {"created"}
        assert df.loc[df["name"] == ".rodata", "kernel_name"].item() == "multi.rodata"
        html = result._repr_html_()
        assert "multi.rodata" in html and "9 created" in html
        assert repr(result) == "<MapsResult 9 maps created=9 reused=0 skipped=0>"
        assert isinstance(df, pd.DataFrame)
    with pytest.raises(UnknownName):
        result["nope"]


# --- privilege --------------------------------------------------------------------------------------

CHILD = r"""
import json, sys
from bpfnb.obj import Object
from bpfnb.kernel.maps import create_maps
from bpfnb.errors import NotPrivileged
try:
    create_maps(Object.from_file(sys.argv[1]))
    print(json.dumps("succeeded"))
except NotPrivileged as e:  # a PermissionError too
    print(json.dumps({"permission_error": isinstance(e, PermissionError), "errno": e.errno, "text": str(e)}))
"""


@pytest.mark.kernel
def test_unprivileged_child_gets_not_privileged() -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed")
    cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--reuid=65534", "--regid=65534", "--clear-groups",
           sys.executable, "-c", CHILD, str(fixture_path("multi"))]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd="/", timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert isinstance(out, dict), out
    assert out["permission_error"] and out["errno"] == errno.EPERM and "CAP_BPF" in out["text"]


@pytest.mark.kernel
def test_raw_keys_are_checked_before_the_syscall():
    from bpfnb.errors import ValueEncodingError
    from bpfnb.kernel.maps import create_map
    from bpfnb.obj.maps import MapSpec
    from bpfnb.uapi import MapType

    created = create_map(MapSpec("rawcheck", MapType.HASH, 4, 8, 4))
    with created.map as m:
        with pytest.raises(ValueEncodingError, match="raw key is 4 bytes"):
            m.lookup(7)
        with pytest.raises(ValueEncodingError, match="key is 2 bytes, the map's key size is 4"):
            m.update(b"ab", bytes(8))
        with pytest.raises(ValueEncodingError, match="value is 4 bytes"):
            m.update(bytes(4), bytes(4))
        m.update((7).to_bytes(4, "little"), (9).to_bytes(8, "little"))
        assert m.lookup((7).to_bytes(4, "little")) == (9).to_bytes(8, "little")


@pytest.mark.kernel
def test_perf_event_array_without_max_entries_gets_one_slot_per_cpu():
    from bpfnb.kernel.maps import create_map
    from bpfnb.kernel.syscall import possible_cpus
    from bpfnb.obj.maps import MapSpec
    from bpfnb.uapi import MapType

    created = create_map(MapSpec("perf_noent", MapType.PERF_EVENT_ARRAY, 4, 4, 0))
    with created.map as m:
        assert m.info().max_entries == possible_cpus()


@pytest.mark.kernel
def test_opening_a_pin_of_the_wrong_kind_is_refused_without_leaking(pin_root):
    import errno as errno_

    from bpfnb.errors import KernelError, MapError
    from bpfnb.kernel import Map, Program
    from bpfnb.kernel.maps import create_map
    from bpfnb.kernel.syscall import prog_load
    from bpfnb.obj.maps import MapSpec
    from bpfnb.uapi import MapType, ProgType

    before = len(os.listdir("/proc/self/fd"))
    with create_map(MapSpec("pinkind", MapType.ARRAY, 4, 4, 1)).map as m, \
            prog_load(ProgType.SOCKET_FILTER, bytes.fromhex("b700000000000000" "9500000000000000"), "GPL").fd as p:
        m.pin(f"{pin_root}/m")
        from bpfnb.kernel.syscall import obj_pin

        obj_pin(p, f"{pin_root}/p")
        with pytest.raises(MapError, match="holds a pinned prog, not a map"):
            Map.from_pin(f"{pin_root}/p")
        with pytest.raises(KernelError, match="holds a pinned map, not a program") as info:
            Program.from_pin(f"{pin_root}/m")
        assert info.value.errno == errno_.EINVAL
        with Map.from_pin(f"{pin_root}/m") as again, Program.from_pin(f"{pin_root}/p") as prog:
            assert again.pinned == f"{pin_root}/m" and prog.pinned == f"{pin_root}/p"
    assert len(os.listdir("/proc/self/fd")) == before
