"""C rendering: compiles with clang-19, layouts match BTF, names match bpftool's vmlinux.h."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from helpers import CLANG, all_fixtures, fixture_path, needs_bpftool, needs_clang, needs_vmlinux
from oracles.bpftool import bpftool

import bpfnb.btf.btf as btf_module
from bpfnb.btf import Btf, Kind
from bpfnb.btf.c import CWriter, render_type_definition

VMLINUX = btf_module.SYS_BTF / "vmlinux"  # where Btf.from_sys_fs() reads (-p mutant_btf moves it)

PROGRAM = """\
#include "vmlinux.h"
#define SEC(n) __attribute__((section(n), used))
SEC("tp_btf/sched_switch")
int handle(unsigned long long *ctx)
{
\tstruct task_struct *t = (void *)ctx[1];
\treturn t->pid + sizeof(struct sk_buff) + BPF_MAP_CREATE;
}
char LICENSE[] SEC("license") = "GPL";
"""


def clang(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CLANG, "-target", "bpf", *args], cwd=cwd, capture_output=True, text=True)


def _uses_builtin_typedef(btf: Btf, tid: int, memo: dict[int, bool]) -> bool:
    """Layout differs from the kernel's when a compiler built-in (va_list) is embedded."""
    if tid in memo:
        return memo[tid]
    memo[tid] = False
    t = btf[tid]
    hit = False
    if t.kind == Kind.TYPEDEF:
        hit = t.name.startswith("__builtin_") or _uses_builtin_typedef(btf, t.type_id, memo)
    elif t.kind in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG, Kind.ARRAY):
        hit = _uses_builtin_typedef(btf, t.type_id, memo)
    elif t.kind in (Kind.STRUCT, Kind.UNION):
        hit = any(_uses_builtin_typedef(btf, m.type_id, memo) for m in t.members)
    memo[tid] = hit
    return hit


def layout_asserts(btf: Btf, writer: CWriter) -> tuple[list[str], int]:
    """``_Static_assert``s for every named struct/union size and member offset."""
    lines, count, memo = [], 0, {}
    for tid in btf.ids_of_kind(Kind.STRUCT, Kind.UNION).tolist():
        t = btf[tid]
        if not t.name or _uses_builtin_typedef(btf, tid, memo):
            continue
        tag = f"{'union' if t.kind == Kind.UNION else 'struct'} {writer.tag_name(t)}"
        lines.append(f'_Static_assert(sizeof({tag}) == {t.size}, "{tag}");')
        count += 1
        for m in t.members:
            if m.name and not m.bitfield_size:
                lines.append(f'_Static_assert(__builtin_offsetof({tag}, {m.name}) == {m.offset}, "{tag}.{m.name}");')
                count += 1
    return lines, count


def defined_names(text: str) -> set[tuple[str, str]]:
    """Named struct/union/enum definitions and typedef names of a C header."""
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    stmts, depth, start = [], 0, 0
    for m in re.finditer(r"[{};]", body):
        c = m.group()
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif depth == 0:
            stmts.append(body[start : m.end()].strip())
            start = m.end()
    out = set()
    for st in stmts:
        if m := re.match(r"(struct|union|enum)\s+(\w+)\s*\{", st):
            out.add((m.group(1), m.group(2)))
        elif st.startswith("typedef"):
            flat = st
            while (n := re.sub(r"\{[^{}]*\}", "", flat)) != flat:
                flat = n
            m = (re.search(r"\(\s*\*\s*(?:const\s*)?(\w+)\s*\)", flat) or re.search(r"(\w+)\s*\(", flat)
                 or re.search(r"(\w+)\s*(\[[^\]]*\]\s*)*(__attribute__.*)?;$", flat, re.S))
            out.add(("typedef", m.group(1)))
    return out


@pytest.fixture(scope="module")
def vmlinux_h(tmp_path_factory) -> tuple[Btf, CWriter, str, Path]:
    btf = Btf.from_sys_fs()
    writer = CWriter(btf)
    text = writer.render()
    out = tmp_path_factory.mktemp("vmlinux")
    (out / "vmlinux.h").write_text(text)
    return btf, writer, text, out


@pytest.mark.slow
@needs_clang
@pytest.mark.skipif(not VMLINUX.exists(), reason="no kernel BTF")
def test_vmlinux_h_compiles_and_layouts_match(vmlinux_h):
    btf, writer, text, out = vmlinux_h
    (out / "prog.c").write_text(PROGRAM)
    res = clang(["-g", "-O2", "-c", "prog.c", "-o", "prog.o"], out)
    assert res.returncode == 0, res.stderr[-3000:]
    # every named struct/union: clang's sizeof/offsetof agree with the kernel's BTF
    lines, count = layout_asserts(btf, writer)
    (out / "layout.c").write_text('#include "vmlinux.h"\n' + "\n".join(lines) + "\n")
    res = clang(["-fsyntax-only", "-ferror-limit=20", "layout.c"], out)
    assert res.returncode == 0, res.stderr[-3000:]
    assert count > 10_000
    # the compiled program's own BTF sees the same task_struct as the kernel
    prog = Btf.from_file(out / "prog.o")
    ours = prog.find("task_struct", kind="struct")
    theirs = btf.find("task_struct", kind="struct")
    assert ours.size == theirs.size
    assert [(m.name, m.bit_offset) for m in ours.members] == [(m.name, m.bit_offset) for m in theirs.members]


@pytest.mark.slow
@needs_bpftool
@needs_vmlinux
def test_vmlinux_h_defines_the_same_names_as_bpftool(vmlinux_h):
    _, _, text, _ = vmlinux_h
    ref = bpftool("btf", "dump", "file", str(VMLINUX), "format", "c", json=False)
    ours, theirs = defined_names(text), defined_names(ref)
    assert len(theirs) > 10_000
    assert ours == theirs
    assert "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)" in text


@needs_clang
@pytest.mark.parametrize("name", [p.name.removesuffix(".bpf.o") for p in all_fixtures()])
def test_fixture_header_compiles_with_same_layout(name, tmp_path):
    btf = Btf.from_file(fixture_path(name))
    writer = CWriter(btf)
    (tmp_path / "h.h").write_text(writer.render(guard="FIXTURE_H"))
    lines, _ = layout_asserts(btf, writer)
    (tmp_path / "t.c").write_text('#include "h.h"\n#include "h.h"\n' + "\n".join(lines) + "\n")
    res = clang(["-fsyntax-only", "-Wall", "-Werror", "-Wno-unused", "-Wno-pragma-clang-attribute", "t.c"], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]


def test_btf_kinds_rendering_details():
    btf = Btf.from_file(fixture_path("btf_kinds"))
    ops = btf.find("ops", kind="struct")
    text = render_type_definition(btf, ops.id)
    assert "handler_fn handlers[4];" in text
    assert "void (*log)(const char *, ...);" in text
    assert "const volatile int *cv;" in text
    assert "char *const names[2];" in text
    assert re.search(r"union \{\n\t\tstruct \{\n\t\t\t__u32 lo;\n\t\t\t__u32 hi;\n\t\t\};\n\t\t__u64 both;\n\t\};",
                     text)
    assert "} named_anon;" in text
    assert render_type_definition(btf, btf.find("packed_hdr").id).endswith("} __attribute__((packed));")
    bits = render_type_definition(btf, btf.find("bits").id)
    assert "unsigned int a: 3;" in bits and "__u64 wide: 40;" in bits and "enum small_enum e: 8;" in bits
    assert "BIG_HIGH = 78187493530ULL," in render_type_definition(btf, btf.find("big_enum").id)
    assert "NEG = -5," in render_type_definition(btf, btf.find("signed_enum").id)
    assert "__attribute__((mode(byte)))" in render_type_definition(btf, btf.find("small_enum").id)
    assert render_type_definition(btf, btf.find("handler_fn").id) == "typedef int (*handler_fn)(void *, unsigned long);"
    assert btf.name_of(btf.find("handler_fn").type_id) == "int (*)(void *, unsigned long)"
    assert btf.name_of(btf.find("core_reader", kind="func").id) == "int core_reader(unsigned long long *ctx)"


@needs_clang
def test_subset_rendering_pulls_in_dependencies(tmp_path):
    btf = Btf.from_file(fixture_path("btf_kinds"))
    text = btf.to_c(["ops"])
    assert "struct packed_hdr {" in text and "enum big_enum {" in text and "typedef int (*handler_fn)" in text
    assert "struct task_like {" not in text  # not reachable from struct ops
    (tmp_path / "h.h").write_text(text)
    (tmp_path / "t.c").write_text('#include "h.h"\n_Static_assert(sizeof(struct ops) == %d, "");\n'
                                  % btf.size_of(btf.find("ops").id))
    res = clang(["-fsyntax-only", "t.c"], tmp_path)
    assert res.returncode == 0, res.stderr


def test_clashing_names_get_suffixes_in_id_order():
    from bpfnb.btf import Enum, EnumValue, Int, IntEncoding, Member, Struct
    from bpfnb.btf.writer import write_types

    types = [
        Int(1, "int", 4, IntEncoding.SIGNED, 0, 32),
        Struct(2, "dup", 4, (Member("a", 1, 0),)),
        Struct(3, "dup", 8, (Member("a", 1, 0), Member("b", 1, 32))),
        Enum(4, "dup_e", 4, False, (EnumValue("X", 1),)),
        Enum(5, "dup_e", 4, False, (EnumValue("X", 2),)),
    ]
    btf = Btf.from_bytes(write_types(types))
    text = btf.to_c()
    assert "struct dup {" in text and "struct dup___2 {" in text
    assert "enum dup_e {" in text and "enum dup_e___2 {" in text and "X___2 = 2," in text


@pytest.mark.slow
@needs_clang
@pytest.mark.skipif(not VMLINUX.exists(), reason="no kernel BTF")
def test_clang_reads_back_the_same_bitfields(vmlinux_h):
    """Round trip: our vmlinux.h → clang -g → BTF equals the kernel's, bitfields included.

    Globals of every named record with a bitfield pull those records (and all
    they embed) into the object's BTF; each must match the kernel's member for
    member (name, bit offset, bitfield size) and in size.
    """
    btf, writer, _, out = vmlinux_h
    lines = ['#include "vmlinux.h"']
    for tid in btf.ids_of_kind(Kind.STRUCT, Kind.UNION).tolist():
        t = btf[tid]
        if t.name and any(m.bitfield_size for m in t.members):
            lines.append(f"{'union' if t.kind == Kind.UNION else 'struct'} {writer.tag_name(t)} v{tid};")
    (out / "bits.c").write_text("\n".join(lines) + "\n")
    res = clang(["-g", "-O0", "-c", "bits.c", "-o", "bits.o"], out)
    assert res.returncode == 0, res.stderr[-3000:]
    back = Btf.from_file(out / "bits.o")
    by_name = {(t.kind, writer.tag_name(t)): t for t in (btf[i] for i in
                                                         btf.ids_of_kind(Kind.STRUCT, Kind.UNION).tolist()) if t.name}
    compared = 0
    for tid in back.ids_of_kind(Kind.STRUCT, Kind.UNION).tolist():
        ours = back[tid]
        if not ours.name:
            continue
        kernel = by_name[(ours.kind, ours.name)]
        assert ours.size == kernel.size, ours.name
        assert [(m.name, m.bit_offset, m.bitfield_size) for m in ours.members] == \
               [(m.name, m.bit_offset, m.bitfield_size) for m in kernel.members], ours.name
        compared += 1
    assert compared > 200
