"""CO-RE views, the portability check and the ``core-check`` verb (through argparse).

The literal ids, offsets and record counts below are those of the committed
BTF snapshot (``bpfnb.examples.kernel_btf()``), the same on every machine;
against the running kernel only relations are checked (a kernel compared
with itself differs nowhere).
"""

from __future__ import annotations

import argparse
import io
import json

import pytest

from core_targets import conflict_kernel, older_kernel
from helpers import fixture_path

from bpfnb import examples
from bpfnb.btf import Btf
from bpfnb.btf import btf as btf_module
from bpfnb.btf.core import core_relocations
from bpfnb.cli.core_check import add_core_parser
from bpfnb.btf.core_portability import check_portability, edit_btf
from bpfnb.obj import Object


@pytest.fixture(scope="module")
def snapshot() -> Btf:
    """The snapshot kernel's BTF, not the running kernel's: the literals below are its values."""
    return examples.kernel_btf()


@pytest.fixture(scope="module")
def older(snapshot) -> Btf:
    return older_kernel(snapshot)


@pytest.fixture(scope="module")
def kinds() -> Object:
    return Object.from_file(fixture_path("core_kinds"))


def test_table_html_is_bounded_escaped_and_marks_failures(kinds, older) -> None:
    table = core_relocations(kinds, older)
    html = table._repr_html_()
    assert "showing 50 of" not in html and html.count("<tr") >= len(table)
    assert 'class="bpfnb-err"' in html and "task_struct-&gt;in_execve" in html
    small = table_html_rows(table, 5)
    assert "showing 5 of 43 records" in small
    df = table.to_dataframe()
    assert list(df["relo"][:3]) == [0, 1, 2] and df["poisoned"].sum() == 6
    assert df.loc[df["kind"] == "target_type_id", "new"].tolist() == [114, 68]


def table_html_rows(table, n: int) -> str:
    from bpfnb.display.core import table_html

    return table_html(table, max_rows=n)


def test_one_record_html_lists_candidates_and_instruction(kinds, snapshot) -> None:
    table = core_relocations(kinds, snapshot)
    r = next(r for r in table if r.local_path == "task_struct___old->state" and r.kind_label == "byte_off")
    html = r._repr_html_()
    assert "no member &#x27;state&#x27; in [114] struct task_struct" in html
    assert "call #195896080" in html and "poisoned" in html
    assert repr(r).startswith("<CoreRelocation core_kinds insn 80: byte_off task_struct___old->state: poisoned")


def test_graph_highlights_differing_offsets(kinds, snapshot) -> None:
    pytest.importorskip("graphviz")
    table = core_relocations(kinds, snapshot)
    moved = next(r for r in table if r.local_path == "mm_struct->arg_start")
    src = moved.graph().source
    assert "anonymous member" in src and src.count("#ffe0e0") == 2 and "+488" in src  # 0 -> 488 in the snapshot
    same = next(r for r in table if r.kind_label == "byte_sz" and r.local_path == "task_struct->prio")
    assert "#ffe0e0" in same.graph().source  # prio moved (8 -> 108) even though its size did not
    typed = next(r for r in table if r.kind_label == "type_size" and "task_struct" in r.local_path)
    assert "3264" in typed.graph().source


def test_portability_against_synthetic_kernels(kinds, snapshot, older) -> None:
    report = check_portability(kinds, {"older": older, "conflict": conflict_kernel(snapshot), "same": snapshot},
                               baseline=snapshot)
    v = report.verdicts
    assert v["same"].portable and v["same"].changed_vs_baseline == 0
    assert not v["older"].portable and v["older"].failed == 6  # in_execve removed: unguarded bitfield read
    assert v["older"].guarded == 0 and v["older"].changed_vs_baseline == 16
    assert v["conflict"].errors == 3 and v["conflict"].guarded == 2
    guarded = [e for e in report.entries if e.kernel == "conflict" and e.status == "guarded"]
    assert {e.guard.kind_label for e in guarded} == {"field_exists", "enumval_exists"}
    assert report.to_dataframe().groupby("kernel")["status"].apply(lambda s: (s == "changed").sum())["older"] == 10
    assert "NOT PORTABLE" in report.summary() and "portable" in report._repr_html_()
    assert examples.KERNEL_BTF_RELEASE in report.baseline  # not "running kernel"
    assert json.loads(json.dumps(report.to_dict()))["kernels"]["same"]["portable"] is True


def test_edit_btf_renames_and_appends(snapshot) -> None:
    task = snapshot.find("task_struct", "struct")
    renamed = [m if m.name != "pid" else type(m)("pid___x", m.type_id, m.bit_offset) for m in task.members]
    edited = edit_btf(snapshot, {task.id: type(task)(task.id, task.name, task.size, tuple(renamed))})
    assert edited.find("task_struct", "struct").member("pid___x").bit_offset == task.member("pid").bit_offset
    assert len(edited) == len(snapshot) and edited[task.id + 1] == snapshot[task.id + 1]
    assert Btf.from_bytes(edited.to_bytes()).find("task_struct", "struct").members == tuple(renamed)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bpfnb")
    add_core_parser(parser.add_subparsers(dest="verb", required=True))
    return parser.parse_args(argv)


def test_core_check_verb(kinds, snapshot, older, tmp_path, monkeypatch) -> None:
    # the verb's baseline is "the running kernel": here, the snapshot, put where bpfnb looks for it
    sys_btf = tmp_path / "sys_btf"
    sys_btf.mkdir()
    (sys_btf / "vmlinux").write_bytes(examples.kernel_btf_bytes())
    monkeypatch.setattr(btf_module, "SYS_BTF", sys_btf)
    older_path = tmp_path / "older.btf"
    older_path.write_bytes(older.to_bytes())
    vm_path = tmp_path / "vmlinux"
    vm_path.write_bytes(snapshot.to_bytes())
    obj = str(fixture_path("core_kinds"))
    args = _parse(["core-check", obj, "--btf", str(vm_path)])
    args.out = io.StringIO()
    assert args.func(args) == 0
    assert "vmlinux: ok - 43 records, 0 differ from running kernel" in args.out.getvalue()
    args = _parse(["core-check", obj, "--btf", str(older_path), "--changes"])
    args.out = io.StringIO()
    assert args.func(args) == 1
    text = args.out.getvalue()
    assert "older.btf: NOT PORTABLE" in text and "older.btf: 10 records differ from running kernel" in text
    assert "core_kinds insn 1: byte_off task_struct->pid: 1264 -> 1268" in text
    args = _parse(["core-check", obj, "--btf", str(vm_path), "--btf", str(older_path), "--json", "--no-baseline"])
    args.out = io.StringIO()
    assert args.func(args) == 1
    data = json.loads(args.out.getvalue())
    assert data["baseline"] is None and data["kernels"]["older.btf"]["failed"] == 6
    failing = [r for r in data["records"] if r["kernel"] == "older.btf" and r["status"] == "failed"]
    assert {r["access"] for r in failing} == {"task_struct->in_execve"}
    with pytest.raises(SystemExit):
        _parse(["core-check", obj])  # --btf is required


def test_core_check_of_the_running_kernel_against_itself(kinds, tmp_path) -> None:
    """Whatever this kernel's layout: every record resolves to the baseline's value."""
    live = btf_module.SYS_BTF / "vmlinux"
    if not live.exists():
        pytest.skip("no kernel BTF")
    copy = tmp_path / "this-kernel"
    copy.write_bytes(live.read_bytes())
    args = _parse(["core-check", str(fixture_path("core_kinds")), "--btf", str(copy), "--json"])
    args.out = io.StringIO()
    status = args.func(args)
    data = json.loads(args.out.getvalue())
    records = sum(len(r) for r in kinds.btf_ext.core_relos.values())
    verdict = data["kernels"]["this-kernel"]
    assert data["baseline"] == "running kernel" and verdict["records"] == records
    assert verdict["changed_vs_baseline"] == 0
    assert status == (0 if verdict["portable"] else 1)


def test_hostile_names_are_escaped_everywhere() -> None:
    from bpfnb.btf import CoreRelo, Int, IntEncoding, Member, Struct
    from bpfnb.btf.core import resolve_core_relocations
    from bpfnb.btf.writer import write_types
    from bpfnb.display.core import table_html
    from bpfnb.btf.core import CoreRelocationTable
    from bpfnb.uapi import CoreReloKind

    evil = "<script>x</script>"
    local = Btf.from_bytes(write_types([Int(1, "int", 4, IntEncoding.SIGNED, 0, 32),
                                        Struct(2, evil, 4, (Member("<b>m", 1, 0),))]))
    target = Btf.from_bytes(write_types([Int(1, "int", 4, IntEncoding.SIGNED, 0, 32),
                                         Struct(2, evil, 8, (Member("x", 1, 0), Member("<b>m", 1, 32)))]))
    relos = [CoreRelo(0, 2, "0:0", CoreReloKind.FIELD_BYTE_OFFSET), CoreRelo(8, 2, "0:0", CoreReloKind.FIELD_EXISTS)]
    res = resolve_core_relocations(local, relos, [target], program="<i>p")
    assert res[0].new_value == 4
    html = table_html(CoreRelocationTable("<o>", "<t>", tuple(res))) + res[0]._repr_html_()
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    graphviz = pytest.importorskip("graphviz")
    try:
        svg = res[0].graph().pipe(format="svg").decode()
    except graphviz.ExecutableNotFound:
        pytest.skip("graphviz's dot is not installed")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
