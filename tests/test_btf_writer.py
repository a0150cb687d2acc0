"""Writer round trips, and split BTF built from a slice of vmlinux."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import all_fixtures, fixture_path, needs_vmlinux
from elftools.elf.elffile import ELFFile

import bpfnb.btf.btf as btf_module
from bpfnb.btf import Btf, Kind, Member, Ptr, Struct, Typedef
from bpfnb.btf.writer import BtfBuilder, write_btf, write_types
from bpfnb.errors import BtfError, UnknownName

VMLINUX = btf_module.SYS_BTF / "vmlinux"  # where Btf.from_sys_fs() reads (-p mutant_btf moves it)


def raw_btf(path: Path) -> bytes:
    with open(path, "rb") as f:
        return ELFFile(f).get_section_by_name(".BTF").data()


@pytest.mark.parametrize("name", [p.name.removesuffix(".bpf.o") for p in all_fixtures()])
def test_fixture_round_trip_is_byte_identical(name):
    path = fixture_path(name)
    btf = Btf.from_file(path)
    assert write_btf(btf) == raw_btf(path)
    # fresh string layout: bytes may differ, types must not
    again = Btf.from_bytes(write_btf(btf, keep_strings=False))
    assert list(again) == list(btf)


@needs_vmlinux
def test_vmlinux_round_trip_is_byte_identical():
    btf = Btf.from_sys_fs()
    assert write_btf(btf) == VMLINUX.read_bytes()


@needs_vmlinux
def test_vmlinux_fresh_strings_keep_types_equal():
    btf = Btf.from_sys_fs()
    again = Btf.from_bytes(write_btf(btf, keep_strings=False))
    assert len(again) == len(btf)
    assert all(again[i] == btf[i] for i in range(1, len(btf), 37))
    assert again.find("task_struct") == btf.find("task_struct")


def _split_from_slice(base: Btf, names: list[str]) -> bytes:
    """Copies of some vmlinux structs, renamed ``name___mod``, plus pointers to them."""
    b = BtfBuilder(base=base)
    next_id = len(base)
    for name in names:
        t = base.find(name, kind=Kind.STRUCT)
        copy_id = b.add(dataclasses.replace(t, id=next_id, name=f"{name}___mod"))
        assert copy_id == next_id
        b.add(Ptr(next_id + 1, "", copy_id))
        b.add(Typedef(next_id + 2, f"{name}_mod_t", next_id + 1))
        next_id += 3
    ulong = base.find("long unsigned int", kind=Kind.INT).id  # not "id 1": type ids differ build to build
    b.add(Struct(next_id, "bpfnb_only_in_module", 16,
                 (Member("task", base.find("task_struct", kind="struct").id, 0), Member("brand_new_member", ulong, 64))))
    return b.to_bytes()


@needs_vmlinux
def test_split_btf_continues_base_ids_and_strings():
    base = Btf.from_sys_fs()
    raw = _split_from_slice(base, ["list_head", "sk_buff", "task_struct"])
    split = Btf.from_bytes(raw, base=base, source="module")
    assert split.start_id == len(base)
    assert len(split) == len(base) + 10
    skb = split.find("sk_buff___mod")
    assert skb.id == len(base) + 3
    assert skb.members == base.find("sk_buff", kind="struct").members
    # names shared with the base are not duplicated in the split string section
    assert b"brand_new_member" in raw and raw.count(b"\0len\0") == 0
    assert split.find("task_struct", kind="struct") is base.find("task_struct", kind="struct")
    assert split[1] is base[1]
    assert split.name_of(split.find("sk_buff_mod_t").id) == "sk_buff_mod_t"
    assert split.name_of(split.find("sk_buff_mod_t").type_id) == "struct sk_buff___mod *"
    loc = split.member_offset("bpfnb_only_in_module", "task.pid")
    ref = base.member_offset("task_struct", "pid")
    assert (loc.bit_offset, loc.type_id) == (ref.bit_offset, ref.type_id)
    assert [t.id for t in split.find_all("list_head___mod")] == [len(base)]
    assert write_btf(split) == raw  # split round trip, strings kept


@needs_vmlinux
def test_split_btf_c_rendering_covers_base_dependencies(tmp_path):
    if shutil.which("clang-19") is None:
        pytest.skip("clang-19 missing")
    base = Btf.from_sys_fs()
    split = Btf.from_bytes(_split_from_slice(base, ["sk_buff"]), base=base)
    pointer_only = split.to_c(["bpfnb_only_in_module", "sk_buff_mod_t"])
    assert "struct task_struct {" in pointer_only  # embedded by value
    assert "struct sk_buff___mod;" in pointer_only and "struct sk_buff___mod {" not in pointer_only
    text = split.to_c(["bpfnb_only_in_module", "sk_buff_mod_t", "sk_buff___mod"])
    assert "struct sk_buff___mod {" in text
    (tmp_path / "h.h").write_text(text)
    (tmp_path / "t.c").write_text('#include "h.h"\n_Static_assert(sizeof(struct sk_buff___mod) == %d, "");\n'
                                  % base.find("sk_buff", kind="struct").size)
    res = subprocess.run(["clang-19", "-target", "bpf", "-fsyntax-only", "t.c"], cwd=tmp_path, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr[-2000:]


@needs_vmlinux
def test_from_sys_fs_module(tmp_path, monkeypatch):
    (tmp_path / "vmlinux").write_bytes(VMLINUX.read_bytes())
    base = Btf.from_file(tmp_path / "vmlinux")
    (tmp_path / "fake_mod").write_bytes(_split_from_slice(base, ["list_head"]))
    monkeypatch.setattr(btf_module, "SYS_BTF", tmp_path)
    mod = Btf.from_sys_fs("fake_mod", cache=False)
    assert mod.base is not None and mod.start_id == len(mod.base)
    assert mod.find("list_head___mod").id == mod.start_id
    assert Btf.from_sys_fs(cache=False).base is None
    with pytest.raises(UnknownName, match="no BTF for kernel module"):
        Btf.from_sys_fs("not_loaded", cache=False)
    with pytest.raises(UnknownName, match="not a kernel module name"):
        Btf.from_sys_fs("../vmlinux", cache=False)
    cached = Btf.from_sys_fs("fake_mod")
    assert Btf.from_sys_fs("fake_mod") is cached
    Btf.clear_cache()
    assert Btf.from_sys_fs("fake_mod") is not cached


def test_write_types_builds_standalone_btf():
    from bpfnb.btf import Int, IntEncoding

    types = [Int(1, "int", 4, IntEncoding.SIGNED, 0, 32), Ptr(2, "", 1),
             Struct(3, "pair", 16, (Member("a", 1, 0), Member("p", 2, 64), Member("bits", 1, 96, 5)))]
    btf = Btf.from_bytes(write_types(types))
    assert list(btf)[1:] == types
    assert btf.name_of(3) == "struct pair" and btf.member_offset(3, "bits").bitfield_size == 5


def test_writer_rejects_unencodable():
    b = BtfBuilder()
    with pytest.raises(BtfError, match="65535"):
        b.add(Struct(1, "huge", 4, tuple(Member(f"m{i}", 0, 0) for i in range(70000))))
    with pytest.raises(BtfError, match="too large"):
        b.add(Struct(1, "far", 4, (Member("x", 1, 1 << 25, 3),)))
