"""ProgInfo/MapInfo/BtfInfo against ``bpftool ... show -j``, field by field.

bpftool reads the same BPF_OBJ_GET_INFO_BY_FD structs with libbpf's own
definitions, so every field both report must agree; a wrong offset in our
cdef shows up here as a wrong value even if the layout test were fooled.
"""

from __future__ import annotations

import struct
import time

import pytest

from oracles.bpftool import bpftool

from bpfnb.kernel import (
    btf_info,
    btf_load,
    map_create,
    map_info,
    obj_get_info_by_fd,
    prog_info,
    prog_load,
    prog_test_run,
    enable_stats,
)
from bpfnb.kernel.features import _strtab
from bpfnb.uapi import MapType, ProgType
from bpfnb.uapi.btf_layout import KIND_INT, btf_blob, int_data, pack_record

pytestmark = pytest.mark.kernel

def show(kind: str, object_id: int) -> dict:
    return bpftool(kind, "show", "id", str(object_id))


def int_btf() -> bytes:
    strs, off = _strtab("int")
    return btf_blob(pack_record(KIND_INT, off["int"], 4, fixed=(int_data(1, 0, 32),)), strs)


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


MAP_CASES = [
    (MapType.HASH, 4, 8, 64, 0, "h_plain"),
    (MapType.HASH, 4, 8, 64, 1, "h_noprealloc"),  # BPF_F_NO_PREALLOC
    (MapType.ARRAY, 4, 16, 3, 1 << 10, "a_mmapable"),  # BPF_F_MMAPABLE
    (MapType.PERCPU_HASH, 8, 4, 5, 0, "pcpu"),
    (MapType.LRU_HASH, 16, 32, 7, 0, "lru_"),
]


@pytest.mark.parametrize("case", MAP_CASES, ids=[c[-1] for c in MAP_CASES])
def test_map_info_matches_bpftool(case) -> None:
    map_type, key, value, entries, flags, name = case
    with map_create(map_type, key, value, entries, map_flags=flags, name=name) as m:
        info = map_info(m)
        assert (info.type, info.key_size, info.value_size, info.max_entries, info.map_flags, info.name) == (
            map_type, key, value, entries, flags, name)
        tool = show("map", info.id)
        assert tool["id"] == info.id
        assert tool["type"] == info.type.name.lower()
        assert tool["name"] == info.name
        assert tool["flags"] == info.map_flags
        assert tool["bytes_key"] == info.key_size
        assert tool["bytes_value"] == info.value_size
        assert tool["max_entries"] == info.max_entries
        assert tool.get("btf_id", 0) == info.btf_id == 0


def test_map_info_btf_ids_match_bpftool() -> None:
    btf, _ = btf_load(int_btf())
    with btf, map_create(MapType.HASH, 4, 4, 8, name="with_btf", btf_fd=btf, btf_key_type_id=1,
                         btf_value_type_id=1) as m:
        info = map_info(m)
        assert info.btf_id == btf_info(btf).id and info.btf_key_type_id == 1 and info.btf_value_type_id == 1
        assert show("map", info.id)["btf_id"] == info.btf_id


def test_prog_info_matches_bpftool_with_maps_and_stats() -> None:
    with map_create(MapType.ARRAY, 4, 8, 1, name="pi_data") as data, \
            map_create(MapType.HASH, 4, 4, 1, name="pi_other") as other:
        # two map references: ld_imm64 map_value(data) and ld_imm64 map_fd(other)
        body = (insn(0x18, 1, 2, 0, data.fileno()) + insn(0) + insn(0x18, 2, 1, 0, other.fileno()) + insn(0)
                + insn(0xB7, 0, 0, 0, 0) + insn(0x95))
        with enable_stats(), prog_load(ProgType.SOCKET_FILTER, body, "Dual BSD/GPL", name="pi_prog").fd as p:
            prog_test_run(p, bytes(64), repeat=3)
            info = prog_info(p, xlated=True)
            tool = show("prog", info.id)
        map_ids = {map_info(data).id, map_info(other).id}
    assert tool["id"] == info.id
    assert tool["type"] == info.type.name.lower() == "socket_filter"
    assert tool["name"] == info.name == "pi_prog"
    assert tool["tag"] == info.tag and len(info.tag) == 16
    assert tool["gpl_compatible"] is info.gpl_compatible is True
    assert tool["uid"] == info.created_by_uid == 0
    assert tool["bytes_xlated"] == info.xlated_prog_len == len(info.xlated) == len(body)
    assert tool["bytes_jited"] == info.jited_prog_len > 0
    assert tool["map_ids"] == list(info.map_ids)
    assert set(info.map_ids) == map_ids and len(info.map_ids) == 2
    assert tool.get("btf_id", 0) == info.btf_id
    assert tool.get("run_cnt", 0) == info.run_cnt >= 3
    assert tool.get("run_time_ns", 0) == info.run_time_ns
    assert info.verified_insns == 4  # each ld_imm64 pair counts once
    # bpftool turns load_time (ns since boot) into wall-clock seconds
    assert abs(info.loaded_at - tool["loaded_at"]) < 3 and abs(info.loaded_at - time.time()) < 60


def test_gpl_bit_follows_license() -> None:
    for lic, expected in (("GPL", True), ("Proprietary", False)):
        with prog_load(ProgType.SOCKET_FILTER, insn(0xB7) + insn(0x95), lic).fd as p:
            info = prog_info(p)
            assert info.gpl_compatible is expected
            assert show("prog", info.id)["gpl_compatible"] is expected


def test_btf_info_matches_bpftool() -> None:
    fd, _ = btf_load(int_btf())
    with fd:
        info = obj_get_info_by_fd(fd)
        tool = show("btf", info.id)
        assert tool["id"] == info.id and tool["size"] == info.btf_size and tool.get("kernel", False) is info.kernel_btf


def test_info_html_is_escaped_and_bounded() -> None:
    with map_create(MapType.ARRAY, 4, 4, 1, name="html_map") as m:
        info = map_info(m)
        html = info._repr_html_()
    assert "map &#x27;html_map&#x27;" in html and "array (2)" in html
    assert f'<span class="bpfnb-live">{info.id}</span>' in html  # kernel-assigned, marked for sanitizers
    assert "<script" not in html and html.count("<tr>") == len(info.to_dict())
