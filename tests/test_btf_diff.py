"""BTF diffs: hand-checked edits of the snapshot kernel, and bpftool's C text as an oracle."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from core_targets import older_kernel

from helpers import needs_bpftool
from oracles.bpftool import bpftool

from bpfnb import examples
from bpfnb.btf import Btf, Member, Struct
from bpfnb.btf.core_portability import edit_btf
from bpfnb.cli import main
from bpfnb.errors import UnknownName


def test_hand_checked_changes(snapshot, older) -> None:
    diff = snapshot.diff(older)
    task = snapshot.find("task_struct", "struct")
    pid, tgid = task.member("pid"), task.member("tgid")
    assert [t.label for t in diff.changed] == ["enum pid_type", "struct task_struct"]
    assert [t.label for t in diff.added] == ["struct list_head___2"] and diff.removed == []
    changes = {(c.what, c.member): (c.old, c.new) for c in diff["task_struct"].changes}
    assert changes == {
        ("member removed", "__state"): (f"unsigned int at {task.member('__state').bit_offset // 8}", ""),
        ("member added", "state"): ("", f"unsigned int at {task.member('__state').bit_offset // 8}"),
        ("member removed", "in_execve"): (changes[("member removed", "in_execve")][0], ""),
        ("type", "flags"): ("unsigned int", "long unsigned int"),
        ("offset", "pid"): (str(pid.bit_offset // 8), str(tgid.bit_offset // 8)),
        ("offset", "tgid"): (str(tgid.bit_offset // 8), str(pid.bit_offset // 8)),
    }
    execve = task.member("in_execve")
    assert changes[("member removed", "in_execve")][0] == (
        f"unsigned int at {execve.bit_offset // 8}+{execve.bit_offset % 8} bits, 1 bits")
    max_value = snapshot.find("pid_type", "enum").values[-1].value
    pid_type = {(c.what, c.member): (c.old, c.new) for c in diff["pid_type"].changes}
    assert pid_type == {("value", "PIDTYPE_MAX"): (str(max_value), str(max_value + 1)),
                        ("value added", "PIDTYPE_BPFNB"): ("", str(max_value))}


def test_identical_btf_has_no_changes_and_counts_what_it_compared(snapshot) -> None:
    diff = snapshot.diff(snapshot)
    assert len(diff) == 0 and diff.compared > 50_000
    assert "no differences" in diff._repr_html_()


def _compile(tmp_path, name: str, source: str) -> Btf:
    c, o = tmp_path / f"{name}.c", tmp_path / f"{name}.o"
    c.write_text(source)
    subprocess.run(["clang-19", "-g", "-O2", "-target", "bpf", "-c", str(c), "-o", str(o)], check=True)
    return Btf.from_file(o)


@pytest.mark.skipif(shutil.which("clang-19") is None, reason="needs clang-19")
def test_types_match_by_name_not_id(tmp_path) -> None:
    """clang numbers types in declaration order: swapping declarations changes every id, not the diff."""
    a = _compile(tmp_path, "a", "struct pair { int a; long b; }; struct other { char c; };\n"
                                "struct pair p; struct other o;\n")
    b = _compile(tmp_path, "b", "struct other { char c; }; struct pair { long b; int a; };\n"
                                "struct other o; struct pair p;\n")
    assert a.find("pair").id != b.find("pair").id
    diff = a.diff(b, names=["pair", "other"])
    assert [t.label for t in diff] == ["struct pair"]
    assert {(c.member, c.old, c.new) for c in diff["pair"].changes} == {("a", "0", "8"), ("b", "8", "0")}


def test_anonymous_members_are_seen_through(snapshot) -> None:
    """A member moved inside one of sk_buff's anonymous unions is reported under its own name."""
    skb = snapshot.find("sk_buff", "struct")
    anon, inner = next((m, snapshot[snapshot.resolve(m.type_id)]) for m in skb.members
                       if not m.name and isinstance(snapshot[snapshot.resolve(m.type_id)], Struct)
                       and snapshot[snapshot.resolve(m.type_id)].members[0].name)
    first = inner.members[0]
    moved = replace(inner, members=(replace(first, bit_offset=first.bit_offset + 64), *inner.members[1:]))
    diff = snapshot.diff(edit_btf(snapshot, {inner.id: moved}), names=["sk_buff"])
    start = (anon.bit_offset + first.bit_offset) // 8
    assert [(c.what, c.member, c.old, c.new) for c in diff["sk_buff"].changes] == [
        ("offset", first.name, str(start), str(start + 8))]


def test_typedef_of_anonymous_struct_compares_the_body(snapshot) -> None:
    typedef = snapshot.find("atomic_t", "typedef")
    body = snapshot[typedef.type_id]
    assert isinstance(body, Struct) and not body.name
    wider = replace(body, size=body.size * 2, members=(*body.members, Member("extra", body.members[0].type_id,
                                                                             body.size * 8)))
    diff = snapshot.diff(edit_btf(snapshot, {body.id: wider}), names=["atomic_t"])
    assert {(c.what, c.member) for c in diff["atomic_t"].changes} == {("target", ""), ("member added", "extra")}


def test_views_are_bounded_and_escaped(snapshot, older) -> None:
    diff = snapshot.diff(older, names=["task_struct", "pid_type", "list_head___2"])
    html = diff._repr_html_()
    assert "~ struct task_struct (6 changes)" in html and "+ struct list_head___2" in html
    assert html == diff._repr_html_()
    df = diff.to_dataframe()
    assert len(df) == 6 + 2 + 1 and str(df["name"].dtype) == "string"
    assert set(df["status"]) == {"changed", "added"}
    hostile = edit_btf(snapshot, add=[Struct(len(snapshot), "<b>x</b>", 4, ())])
    assert "&lt;b&gt;x&lt;/b&gt;" in snapshot.diff(hostile, names=["<b>x</b>"])._repr_html_()
    with pytest.raises(UnknownName):
        snapshot.diff(older, names=["no_such_type_anywhere"])


def test_cli_text_and_json(snapshot, older, tmp_path, capsys) -> None:
    old_path, new_path = tmp_path / "old.btf.gz", tmp_path / "new.btf"
    old_path.write_bytes(__import__("gzip").compress(examples.kernel_btf_bytes()))
    new_path.write_bytes(older.to_bytes())
    assert main(["btf", "diff", str(old_path), str(new_path), "--type", "task_struct"]) == 0
    out = capsys.readouterr().out
    assert "~ struct task_struct" in out and "pid: offset" in out
    assert main(["btf", "diff", str(old_path), str(new_path), "--type", "pid_type", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["changes"]
    assert {r["member"] for r in rows} == {"PIDTYPE_MAX", "PIDTYPE_BPFNB"}


# --- bpftool's C text as an oracle -----------------------------------------------

_BLOCK = re.compile(r"^(struct|union|enum) (\w+) \{\n.*?^\}[^\n]*;\n", re.S | re.M)
_PADDING = re.compile(r"^\s+(?:unsigned |signed )?(?:long long|long|int|short|char): \d+;\n", re.M)


def _c_blocks(path) -> dict[tuple[str, str], str]:
    """Named struct/union/enum definitions as bpftool prints them (its ``___N`` renames excluded)."""
    text = bpftool("btf", "dump", "file", str(path), "format", "c", json=False)
    # padding bpftool spells out (``long: 64;``) depends on inner types' alignment, not on this layout
    return {(m.group(1), m.group(2)): _PADDING.sub("", m.group(0))
            for m in _BLOCK.finditer(text) if "___" not in m.group(0)}


def _layouts(path) -> dict[tuple[str, str], tuple]:
    """Named struct/union → (size, every member's (name, bit offset, bitfield size)), anonymous
    members flattened, from bpftool's raw JSON dump: the layout C text does not show (a member
    whose own type shrank prints the same line at another offset)."""
    types = bpftool("btf", "dump", "file", str(path))["types"]
    by_id = {t["id"]: t for t in types}

    def flat(t: dict, base: int) -> list[tuple]:
        out = []
        for m in t.get("members", ()):
            inner = by_id.get(m["type_id"], {})
            if m["name"] == "(anon)" and inner.get("kind") in ("STRUCT", "UNION"):
                out.extend(flat(inner, base + m["bits_offset"]))
            else:
                out.append((m["name"], base + m["bits_offset"], m.get("bitfield_size", 0)))
        return out

    return {(t["kind"].lower(), t["name"]): (t["size"], tuple(flat(t, 0)))
            for t in types if t["kind"] in ("STRUCT", "UNION") and t["name"] != "(anon)"}


def _against_bpftool(old: Btf, new: Btf, tmp_path) -> tuple[set, dict]:
    """(types bpftool shows differently, our changed types among those bpftool prints in both).

    "Shows differently": its C text differs, or its layout in bpftool's raw dump does.
    """
    a, b = tmp_path / "a.btf", tmp_path / "b.btf"
    a.write_bytes(old.to_bytes())
    b.write_bytes(new.to_bytes())
    old_c, new_c = _c_blocks(a), _c_blocks(b)
    old_l, new_l = _layouts(a), _layouts(b)
    common = old_c.keys() & new_c.keys()
    expected = {key for key in common if old_c[key] != new_c[key] or old_l.get(key) != new_l.get(key)}
    diff = old.diff(new, names=sorted({name for _, name in common}))
    return expected, {(t.kind, t.name): t for t in diff.changed if (t.kind, t.name) in common}


def _pairs():
    yield "older edit", lambda snap, tmp: older_kernel(snap)
    yield "running kernel", lambda snap, tmp: Btf.from_sys_fs()


@needs_bpftool
@pytest.mark.parametrize("label,make", list(_pairs()), ids=[p[0] for p in _pairs()])
def test_changed_types_match_bpftool_c(snapshot, tmp_path, label, make) -> None:
    """A struct/union/enum is "changed" exactly when bpftool prints its definition or its layout differently."""
    expected, found = _against_bpftool(snapshot, make(snapshot, tmp_path), tmp_path)
    assert set(found) == expected
    if label == "older edit":
        assert expected == {("struct", "task_struct"), ("enum", "pid_type")}


# --- two real kernels the matrix captured -----------------------------------------

KERNELS = Path(__file__).resolve().parent / "testdata" / "kernels"


@pytest.fixture(scope="module")
def debian():
    return (Btf.from_file(KERNELS / "debian-6.1.0-57.btf.xz"), Btf.from_file(KERNELS / "debian-6.12.118+deb12.btf.xz"))


def test_debian_6_1_to_6_12_hand_checked(debian) -> None:
    """UAPI history between 6.1 and 6.12: tcx (6.6), netkit (6.7), unix sockaddr hooks, kprobe session..."""
    from bpfnb.uapi import AttachType

    old, new = debian
    diff = old.diff(new, names=["bpf_map_info", "bpf_attach_type"])
    added = {c.member: int(c.new) for c in diff["bpf_attach_type"].changes if c.what == "value added"}
    assert {"BPF_TCX_INGRESS", "BPF_TCX_EGRESS", "BPF_NETKIT_PRIMARY", "BPF_NETKIT_PEER",
            "BPF_TRACE_UPROBE_MULTI", "BPF_STRUCT_OPS"} <= set(added)
    for name, value in added.items():  # UAPI numbers never change: they agree with bpfnb's own table
        assert AttachType[name.removeprefix("BPF_")] == value, name
    assert [(c.what, c.member, c.new) for c in diff["bpf_map_info"].changes] == [
        ("member added", "btf_vmlinux_id", "__u32 at 76")]
    assert old.find("bpf_map_info").size == new.find("bpf_map_info").size == 88  # it filled padding


@needs_bpftool
def test_debian_changed_structs_match_bpftool_c(debian, tmp_path) -> None:
    expected, found = _against_bpftool(*debian, tmp_path)
    assert expected <= set(found)
    # the C text names an embedded struct, so it stays the same when only that struct's size moved
    # the outer one's offsets: those, and only those, are the extra changes the diff sees
    for key in set(found) - expected:
        assert {c.what for c in found[key].changes} <= {"size", "offset"}, key
    assert len(expected) > 500  # two years of kernel development: a real test of the matcher
