"""Parsing and look-ups, diffed against ``bpftool btf dump -j`` (the oracle)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import all_fixtures, fixture_path, needs_bpftool, needs_vmlinux
from oracles.bpftool import bpftool

import bpfnb.btf.btf as btf_module
from bpfnb.btf import (
    Btf, Enum, Enum64, FuncProto, Int, Kind, Linkage, Struct, Union, essential_name,
)
from bpfnb.btf.parser import StringTable
from bpfnb.btf.writer import write_btf
from bpfnb.display.btf_dump import type_json
from bpfnb.errors import BtfError, UnknownName
from bpfnb.obj import Object

VMLINUX = btf_module.SYS_BTF / "vmlinux"  # where Btf.from_sys_fs() reads (-p mutant_btf moves it)


def bpftool_json(path: Path) -> list[dict]:
    return bpftool("btf", "dump", "file", str(path))["types"]


def as_bpftool(btf: Btf, tid: int) -> dict:
    """Our type through the production conversion (``bpfnb btf dump --format json``)."""
    return type_json(btf, btf[tid])


def _normalise(ref: dict) -> dict:
    ref = dict(ref)
    if ref["kind"] == "VAR" and ref["linkage"] not in ("static", "global"):
        ref["linkage"] = "extern"
    if ref["kind"] == "ENUM" and ref["encoding"] == "UNSIGNED":
        # bpftool widens a 32-bit value through s32 (0xefffffff prints as 2**64 - 0x10000001);
        # the record holds a u32, which is what we report
        ref["values"] = [{"name": v["name"], "val": v["val"] & 0xFFFFFFFF} for v in ref["values"]]
    return ref


FIXTURES = [p.name.removesuffix(".bpf.o") for p in all_fixtures()]


@needs_bpftool
@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_matches_bpftool(name):
    path = fixture_path(name)
    btf = Btf.from_file(path)
    ref = bpftool_json(path)
    assert len(btf) == len(ref) + 1
    assert [as_bpftool(btf, t["id"]) for t in ref] == [_normalise(t) for t in ref]


@needs_vmlinux
@needs_bpftool
def test_vmlinux_matches_bpftool_every_type():
    btf = Btf.from_sys_fs(cache=False)
    ref = bpftool_json(VMLINUX)
    assert len(btf) == len(ref) + 1
    mismatches = [t["id"] for t in ref if as_bpftool(btf, t["id"]) != _normalise(t)]
    assert mismatches == []


@needs_vmlinux
def test_vmlinux_lookups():
    btf = Btf.from_sys_fs()
    ts = btf.find("task_struct", kind="struct")
    assert isinstance(ts, Struct) and ts.size > 1000
    assert btf["task_struct"] is ts
    assert btf.find("task_struct") is ts
    assert btf.size_of(ts.id) == ts.size and btf.align_of(ts.id) == 8
    pid = btf.member_offset("task_struct", "pid")
    assert btf.name_of(pid.type_id) == "pid_t" and btf.size_of(pid.type_id) == 4
    assert btf.name_of(btf.resolve(pid.type_id)) == "int"
    comm = btf.member_offset(ts.id, "comm")
    assert btf.name_of(comm.type_id) == "char[16]"
    assert btf.member_offset(ts.id, "comm[3]").offset == comm.offset + 3
    # anonymous unions are see-through: sk_buff.len sits in none, but .next is in an anonymous union
    nxt = btf.member_offset("sk_buff", "next")
    assert nxt.offset == 0 and btf.name_of(nxt.type_id) == "struct sk_buff *"
    with pytest.raises(UnknownName, match="no member"):
        btf.member_offset("task_struct", "no_such_member")
    with pytest.raises(UnknownName, match="no type named"):
        btf.find("definitely_not_a_type_name_xyz")
    with pytest.raises(UnknownName, match="found"):
        btf.find("task_struct", kind="union")  # the hint lists the struct
    assert "task_struct" in btf and "definitely_not_a_type_name_xyz" not in btf


@needs_vmlinux
def test_vmlinux_find_agrees_with_full_name_index():
    btf = Btf.from_sys_fs(cache=False)
    lazy = {n: btf._ids_named(n) for n in ("sk_buff", "pid_t", "u32", "bpf_cmd", "BPF_MAP_CREATE", "list_head")}
    index = btf.name_index()
    for n, ids in lazy.items():
        assert ids == index.get(n, [])
    assert lazy["BPF_MAP_CREATE"] == []  # enumerators are not types


def test_fixture_types_and_c_names():
    btf = Btf.from_file(fixture_path("multi"))
    key = btf.find("flow_key", kind=Kind.STRUCT)
    assert [m.name for m in key.members] == ["saddr", "daddr", "sport", "dport", "proto"]
    assert btf.name_of(key.id) == "struct flow_key"
    assert btf.name_of(key.members[0].type_id) == "__u32"
    ptrs = [t for t in btf if t.kind == Kind.PTR]
    assert any(btf.name_of(p.id) == "struct flow_key *" for p in ptrs)
    u64 = btf.find("__u64", kind="typedef")
    assert btf.size_of(u64.id) == 8 and isinstance(btf[btf.resolve(u64.id)], Int)
    # section layout of globals is visible through DATASEC/VAR
    rodata = btf.find(".rodata", kind="datasec")
    assert rodata.vars and all(btf.kind_of(v.type_id) == Kind.VAR for v in rodata.vars)
    funcs = btf.find_all("global_sample", kind="func")
    assert len(funcs) == 1 and funcs[0].linkage == Linkage.GLOBAL
    proto = btf[funcs[0].type_id]
    assert isinstance(proto, FuncProto) and [p.name for p in proto.params] == ["n"]


def test_iteration_and_len_are_consistent():
    btf = Btf.from_file(fixture_path("minimal"))
    types = list(btf)
    assert len(types) == len(btf) and [t.id for t in types] == list(range(len(btf)))
    assert types[0].kind == Kind.UNKN and btf.name_of(0) == "void"
    with pytest.raises(BtfError, match="out of range"):
        btf[len(btf)]


@needs_vmlinux
def test_vmlinux_kinds_and_enums():
    btf = Btf.from_sys_fs()
    counts = btf.kind_counts()
    assert sum(counts.values()) == len(btf) - 1
    assert counts[Kind.STRUCT] > 1000 and counts[Kind.FUNC] > 1000
    assert btf.find_all("") == []  # anonymous types are not found by name
    cmd = btf.find("bpf_cmd", kind=Kind.ENUM)
    assert isinstance(cmd, Enum) and cmd.as_dict()["BPF_MAP_CREATE"] == 0
    ids64 = btf.ids_of_kind(Kind.ENUM64)
    if len(ids64):
        assert all(isinstance(btf[int(i)], Enum64) for i in ids64)
    unions = btf.ids_of_kind("union")
    assert all(isinstance(btf[int(i)], Union) for i in unions[:50])


def test_essential_name():
    assert essential_name("task_struct___v2") == "task_struct"
    assert essential_name("task_struct") == "task_struct"
    assert essential_name("___x") == "___x"
    assert essential_name("a___b___c") == "a"


def test_find_prefers_definition_over_forward_declaration():
    btf = Btf.from_file(fixture_path("multi"))
    fwds = btf.find_all("bpf_flow_keys")
    assert [t.kind for t in fwds] == [Kind.FWD]
    assert btf.find("bpf_flow_keys").kind == Kind.FWD


def _blob(types: bytes, strings: bytes, **over) -> bytes:
    hdr = dict(magic=0xEB9F, version=1, flags=0, hdr_len=24, type_off=0, type_len=len(types),
               str_off=len(types), str_len=len(strings))
    hdr.update(over)
    return struct.pack("<HBBIIIII", *hdr.values()) + types + strings


INT_REC = struct.pack("<IIII", 1, 1 << 24, 4, (1 << 24) | 32)  # "int", signed 32-bit
STRS = b"\0int\0"


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (b"\x9f\xeb\x01", "shorter than"),
        (b"\x00\x00" + bytes(22), "bad magic"),
        (_blob(INT_REC, STRS, version=2), "version"),
        (_blob(INT_REC, STRS, hdr_len=8), "hdr_len"),
        (_blob(INT_REC, STRS, type_len=len(INT_REC) + 64), "runs past"),
        (_blob(INT_REC, STRS, str_len=99), "runs past"),
        (_blob(INT_REC, STRS, type_len=6), "aligned"),
        (_blob(INT_REC[:12], STRS, type_len=12), "runs past the type section"),
        (_blob(struct.pack("<III", 1, 25 << 24, 0), STRS), "kind 25"),
        (_blob(struct.pack("<IIII", 99, 1 << 24, 4, 32), STRS), "name offset 99"),
        (_blob(INT_REC, b"int\0"), "must start with an empty string"),
        (_blob(INT_REC, b"\0int"), "NUL-terminated"),
        (_blob(struct.pack("<IIII", 0, 4 << 24 | 0xFFFF, 8, 0), STRS), "runs past"),
    ],
)
def test_malformed_headers_raise_btf_error(blob, match):
    with pytest.raises(BtfError, match=match) as info:
        Btf.from_bytes(blob)
    assert "BTF" in str(info.value) or info.value.offset is not None or info.value.type_id is not None


def test_error_names_type_id():
    recs = INT_REC + struct.pack("<III", 0, 25 << 24, 0)
    with pytest.raises(BtfError) as info:
        Btf.from_bytes(_blob(recs, STRS))
    assert info.value.type_id == 2 and "BTF type #2" in str(info.value)


def test_member_name_offset_checked_on_access():
    rec = struct.pack("<III", 1, 4 << 24 | 1, 4) + struct.pack("<III", 500, 2, 0) + INT_REC
    btf = Btf.from_bytes(_blob(rec, b"\0s\0"))
    with pytest.raises(BtfError, match="string offset 500") as info:
        btf[1]
    assert info.value.type_id == 1


def test_big_endian_blob_parses_like_little_endian():
    little = Btf.from_file(fixture_path("multi"))
    big = Btf.from_bytes(write_btf(little, byteorder=">"))
    assert big.byteorder == ">"
    assert list(big) == list(little)


def test_string_table_offsets_of():
    table = StringTable(b"\0ab\0abc\0ab\0")
    assert table.offsets_of("ab") == [1, 8]
    assert table.offsets_of("abc") == [4]
    assert table.offsets_of("b") == []
    assert table.get(4) == "abc"
    # bulk look-up agrees with one-by-one, including offsets into the middle of a string
    offs = [0, 1, 2, 4, 5, 8, 9]
    assert table.strings_at(np.array(offs)) == [table.get(o) for o in offs]
    split = StringTable(b"yy\0ab\0", table)
    offs = [1, 11, 12, 14]
    assert split.strings_at(np.array(offs)) == [split.get(o) for o in offs] == ["ab", "yy", "y", "ab"]
    with pytest.raises(BtfError, match="beyond"):
        split.strings_at(np.array([99]))
    # vectorised equality: own and base offsets, mid-string offsets, out of range
    offs = np.array([1, 4, 8, 11, 14, 12, 999], dtype=np.uint32)
    assert split.matches(offs, "ab").tolist() == [True, False, True, False, True, False, False]
    assert split.matches(offs, "yy").tolist() == [False, False, False, True, False, False, False]
    assert not split.matches(offs, "").any() and not split.matches(offs, "abcd").any()


@needs_vmlinux
@pytest.mark.skipif(shutil.which("llvm-objcopy-19") is None, reason="llvm-objcopy-19 missing")
def test_elf_with_btf_section_like_a_vmlinux_image(tmp_path):
    """``from_file`` on an ELF reads its .BTF section (as for a vmlinux image)."""
    raw = tmp_path / "vmlinux.btf"
    raw.write_bytes(VMLINUX.read_bytes())
    elf = tmp_path / "vmlinux.o"
    subprocess.run(["clang-19", "-c", "-x", "c", "-", "-o", str(tmp_path / "empty.o")], input=b"int x;", check=True)
    subprocess.run(["llvm-objcopy-19", "--add-section", f".BTF={raw}", str(tmp_path / "empty.o"), str(elf)],
                   check=True)
    from_elf = Btf.from_file(elf)
    kernel = Btf.from_sys_fs()
    assert len(from_elf) == len(kernel)
    assert from_elf.find("task_struct") == kernel.find("task_struct")
    assert from_elf.source == str(elf)


def test_from_file_cache_returns_same_object(tmp_path):
    src = fixture_path("minimal")
    a = Btf.from_file(src, cache=True)
    b = Btf.from_file(src, cache=True)
    c = Btf.from_file(src)
    assert a is b and c is not a and list(a) == list(c)


@needs_vmlinux
def test_kernel_btf_mapped_or_read_parses_the_same(monkeypatch):
    """/sys/kernel/btf files are mapped where the kernel allows it (6.16+; libbpf 1.6 does the same),
    read where it refuses: the same types either way, and nothing of the mapping kept."""
    import mmap as mmap_module

    path = "/sys/kernel/btf/vmlinux"
    with open(path, "rb") as f:
        read = Btf.from_bytes(f.read())
    mapped = Btf.from_file(path)
    assert btf_module._is_kernel_btf(path) and len(mapped) == len(read)
    assert mapped.to_bytes() == read.to_bytes()

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")  # what kernels before 6.16 answer

    monkeypatch.setattr(mmap_module, "mmap", refused)
    assert Btf.from_file(path).to_bytes() == read.to_bytes()


def test_only_kernel_btf_is_mapped(tmp_path):
    """A regular file could be truncated under a mapping (SIGBUS): it is read."""
    raw = tmp_path / "copy.btf"
    raw.write_bytes(Object.from_file(fixture_path("minimal")).btf_data)
    (tmp_path / "vmlinux").symlink_to(raw)
    assert not btf_module._is_kernel_btf(str(raw)) and not btf_module._is_kernel_btf(str(tmp_path / "vmlinux"))
    assert Btf.from_file(raw).to_bytes() == Btf.from_bytes(raw.read_bytes()).to_bytes()


def test_elf_without_btf_raises(tmp_path):
    p = tmp_path / "x.o"
    subprocess.run(["clang-19", "-target", "bpf", "-c", "-x", "c", "-", "-o", str(p)], input=b"int x;",
                   check=True)
    with pytest.raises(BtfError, match="no .BTF section"):
        Btf.from_file(p)


@needs_vmlinux
def test_ambiguous_name_lists_candidates():
    btf = Btf.from_sys_fs()
    both = btf.find_all("format_state")  # an enum and a struct share this name in 6.x kernels
    if len({t.kind for t in both}) < 2:
        pytest.skip("this kernel has no enum/struct name clash for format_state")
    with pytest.raises(UnknownName, match=r"2 types named 'format_state'.*ENUM.*STRUCT|STRUCT.*ENUM") as info:
        btf.find("format_state")
    assert "pass kind=" in str(info.value)
    assert btf.find("format_state", kind="struct").kind == Kind.STRUCT
    assert btf.find("format_state", kind=Kind.ENUM).kind == Kind.ENUM


def test_sizes_alignment_and_member_paths_on_btf_kinds():
    """Checked against what clang laid out for tests/bpf/btf_kinds.bpf.c."""
    btf = Btf.from_file(fixture_path("btf_kinds"))
    hdr = btf.find("packed_hdr", kind="struct")
    assert (btf.size_of(hdr.id), btf.align_of(hdr.id)) == (7, 1)
    assert btf.member_offset(hdr.id, "value").offset == 1  # packed: no padding after the u8
    ops = btf.find("ops", kind="struct")
    assert btf.align_of(ops.id) == 8
    # lo/hi live in an anonymous struct inside an anonymous union
    lo, hi, both = (btf.member_offset("ops", p) for p in ("lo", "hi", "both"))
    assert hi.offset == lo.offset + 4 and both.offset == lo.offset
    assert btf.name_of(both.type_id) == "__u64"
    b = btf.member_offset("ops", "bits.b")
    assert (b.bit_offset - btf.member_offset("ops", "bits").bit_offset, b.bitfield_size) == (3, 13)
    assert btf.member_offset("ops", "handlers[2]").offset == 16
    assert btf.size_of(btf.find("handler_fn").id) == 8
    assert btf.size_of(btf.member_offset("ops", "names").type_id) == 16
    with pytest.raises(UnknownName, match="not an array"):
        btf.member_offset("ops", "big[1]")
    with pytest.raises(BtfError, match="has no size"):
        btf.size_of(btf.find("core_reader", kind="func").id)
