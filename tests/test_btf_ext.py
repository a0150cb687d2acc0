"""``.BTF.ext`` against the ELF symbol table, DWARF lines (llvm-objdump) and the source."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from helpers import all_fixtures, fixture_path
from elftools.elf.elffile import ELFFile

from bpfnb.btf import Btf, BtfExt, Kind
from bpfnb.errors import BtfError
from bpfnb.uapi import CoreReloKind

FIXTURES = [p.name.removesuffix(".bpf.o") for p in all_fixtures()]


def load(name: str) -> tuple[Btf, BtfExt, ELFFile, bytes]:
    path = fixture_path(name)
    elf = ELFFile(open(path, "rb"))  # noqa: SIM115 - closed with the test process
    btf = Btf.from_file(path)
    raw = elf.get_section_by_name(".BTF.ext").data()
    return btf, BtfExt.from_bytes(raw, btf), elf, raw


def objdump_lines(path: Path) -> dict[tuple[str, int], int]:
    """(section, insn index) → DWARF line, from ``llvm-objdump -d -l``."""
    out = subprocess.run(["llvm-objdump-19", "-d", "-l", "--no-show-raw-insn", str(path)], check=True,
                         capture_output=True, text=True).stdout
    lines: dict[tuple[str, int], int] = {}
    section, line = None, None
    for text in out.splitlines():
        if m := re.match(r"Disassembly of section (.*):", text):
            section, line = m.group(1), None
        elif m := re.match(r"; .*:(\d+)$", text):
            line = int(m.group(1))
        elif (m := re.match(r"\s+(\d+):\s", text)) and section and line is not None:
            lines[(section, int(m.group(1)))] = line
    return lines


def dwarf_decl_lines(path: Path) -> dict[str, int]:
    """Function name → DW_AT_decl_line, from ``llvm-dwarfdump --debug-info``."""
    out = subprocess.run(["llvm-dwarfdump-19", "--debug-info", str(path)], check=True,
                         capture_output=True, text=True).stdout
    decl: dict[str, int] = {}
    for block in out.split("DW_TAG_subprogram")[1:]:
        name = re.search(r'DW_AT_name\s+\("([^"]+)"\)', block)
        line = re.search(r"DW_AT_decl_line\s+\((\d+)\)", block)
        if name and line:
            decl.setdefault(name.group(1), int(line.group(1)))
    return decl


@pytest.mark.parametrize("name", FIXTURES)
def test_func_info_matches_function_symbols(name):
    btf, ext, elf, _ = load(name)
    symtab = elf.get_section_by_name(".symtab")
    for section, infos in ext.func_info.items():
        shndx = next(i for i, s in enumerate(elf.iter_sections()) if s.name == section)
        syms = {(s["st_value"], s.name) for s in symtab.iter_symbols()
                if s["st_info"]["type"] == "STT_FUNC" and s["st_shndx"] == shndx}
        ours = {(f.insn_off, btf[f.type_id].name) for f in infos}
        assert ours == syms, section
        assert all(btf.kind_of(f.type_id) == Kind.FUNC for f in infos)
    assert ext.record_sizes["func_info"] == 8


@pytest.mark.skipif(shutil.which("llvm-objdump-19") is None or shutil.which("llvm-dwarfdump-19") is None,
                    reason="llvm-objdump-19/llvm-dwarfdump-19 (oracles) missing")
@pytest.mark.parametrize("name", FIXTURES)
def test_line_info_matches_dwarf_and_source(name):
    path = fixture_path(name)
    btf, ext, _, _ = load(name)
    dwarf = objdump_lines(path)
    decl = dwarf_decl_lines(path)
    assert ext.line_info, "fixtures are built with -g"
    checked = 0
    for section, infos in ext.line_info.items():
        entries = {f.insn_off: btf[f.type_id].name for f in ext.func_info[section]}
        for li in infos:
            if li.insn_off in entries:
                # a function's first record is its declaration line when DWARF has a prologue row
                # there, else DWARF's first body row
                assert li.line_num in (decl[entries[li.insn_off]], dwarf[(section, li.insn_index)]), (section, li)
            else:
                assert dwarf[(section, li.insn_index)] == li.line_num, (section, li)
            # examples are built with -fdebug-prefix-map: their file names are relative
            source = (path.parent / li.file_name).read_text().splitlines()
            assert source[li.line_num - 1] == li.line, (section, li)
            assert 0 <= li.column < 1024
            checked += 1
    assert checked == sum(len(v) for v in ext.line_info.values())
    assert set(ext.line_info) <= set(ext.func_info)


def test_core_relos_walk_the_source_expressions():
    btf, ext, _, _ = load("btf_kinds")
    relos = ext.core_relos["tp_btf/sched_switch"]
    kinds = [r.kind for r in relos]
    assert kinds == [CoreReloKind.FIELD_BYTE_OFFSET, CoreReloKind.FIELD_EXISTS, CoreReloKind.FIELD_BYTE_SIZE,
                     CoreReloKind.FIELD_LSHIFT_U64, CoreReloKind.TYPE_ID_TARGET, CoreReloKind.TYPE_EXISTS,
                     CoreReloKind.ENUMVAL_VALUE]

    def walk(r) -> str:
        t = btf[btf.resolve(r.type_id)]
        path = []
        if t.kind in (Kind.ENUM, Kind.ENUM64):
            return t.values[r.access_indices[0]].name
        for idx in r.access_indices[1:]:
            m = t.members[idx]
            path.append(m.name)
            t = btf[btf.resolve(m.type_id)]
        return ".".join(path)

    # the fields named in core_reader()'s source, in order
    assert [walk(r) for r in relos] == ["tgid", "pid", "tgid", "flags.b", "", "", "BIG_HIGH"]
    assert all(btf.name_of(r.type_id) in ("struct task_like", "enum big_enum") for r in relos)
    offsets = [r.insn_off for r in relos]
    assert offsets == sorted(offsets) and all(o % 8 == 0 for o in offsets)


def _ext_header(func=b"", line=b"", core=b"", hdr_len=32) -> bytes:
    body = func + line + core
    hdr = struct.pack("<HBBIIIIIII", 0xEB9F, 1, 0, hdr_len, 0, len(func), len(func), len(line),
                      len(func) + len(line), len(core))
    return hdr[:hdr_len] + body


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda raw: raw[:6], "shorter than"),
        (lambda raw: b"\0\0" + raw[2:], "bad magic"),
        (lambda raw: raw[:2] + b"\x02" + raw[3:], "version"),
        (lambda raw: raw[:4] + struct.pack("<I", 4) + raw[8:], "hdr_len"),
        (lambda raw: raw[:12] + struct.pack("<I", 10**6) + raw[16:], "runs past"),
        (lambda raw: raw[: len(raw) - 3], "runs past|truncated"),
    ],
)
def test_malformed_ext_raises(mutate, match):
    btf, _, _, raw = load("multi")
    with pytest.raises(BtfError, match=match):
        BtfExt.from_bytes(mutate(raw), btf)


def test_bad_record_size_and_kind():
    btf = Btf.from_file(fixture_path("minimal"))
    sec = struct.pack("<II", 0, 1)
    with pytest.raises(BtfError, match="record size 4"):
        BtfExt.from_bytes(_ext_header(func=struct.pack("<I", 4) + sec + bytes(4)), btf)
    core = struct.pack("<I", 16) + sec + struct.pack("<IIII", 0, 1, 0, 99)
    with pytest.raises(BtfError, match="unknown kind 99"):
        BtfExt.from_bytes(_ext_header(core=core), btf)
    bad_name = struct.pack("<I", 8) + struct.pack("<II", 10**6, 1) + bytes(8)
    with pytest.raises(BtfError, match="string offset"):
        BtfExt.from_bytes(_ext_header(func=bad_name), btf)


def test_larger_record_sizes_are_stepped_over():
    """Newer producers may append fields: read what we know, skip the rest."""
    btf = Btf.from_file(fixture_path("minimal"))
    name = btf._strings.offsets_of(".text")
    name_off = name[0] if name else 0
    recs = struct.pack("<II", 16, 7) + bytes(8) + struct.pack("<II", 32, 9) + bytes(8)
    func = struct.pack("<I", 16) + struct.pack("<II", name_off, 2) + recs
    ext = BtfExt.from_bytes(_ext_header(func=func, hdr_len=24), btf)
    (section,) = ext.func_info
    assert [(f.insn_off, f.type_id, f.insn_index) for f in ext.func_info[section]] == [(16, 7, 2), (32, 9, 4)]
    assert ext.core_relos == {} and "func_info" in repr(ext)
