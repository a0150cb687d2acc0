"""Notebook views of BTF: bounded, escaped HTML; DataFrames from the index; graphs."""

from __future__ import annotations


import pytest
from helpers import fixture_path, needs_vmlinux

import bpfnb.btf.btf as btf_module
from bpfnb.btf import Btf, Int, IntEncoding, Kind, Member, Struct
from bpfnb.btf.writer import write_types

VMLINUX = btf_module.SYS_BTF / "vmlinux"  # where Btf.from_sys_fs() reads (-p mutant_btf moves it)


def hostile_btf() -> Btf:
    types = [
        Int(1, "int", 4, IntEncoding.SIGNED, 0, 32),
        Struct(2, "<script>alert(1)</script>", 8, (Member("<b>x</b>", 1, 0), Member("a&b", 1, 32))),
    ]
    return Btf.from_bytes(write_types(types), source="<evil>.o")


def test_type_html_escapes_names():
    btf = hostile_btf()
    html = btf[2]._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "a&amp;b" in html
    assert "<evil>" not in btf._repr_html_()


def test_struct_html_has_c_text_and_member_table():
    btf = Btf.from_file(fixture_path("multi"))
    key = btf.find("flow_key", kind="struct")
    html = key._repr_html_()
    assert "struct flow_key {" in html and "__u32 saddr;" in html
    for header in ("name", "type", "offset", "size", "bit offset", "bits"):
        assert f"<th>{header}</th>" in html
    assert "<td>dport</td><td>__u16</td><td>10</td><td>2</td><td>80</td>" in html


def test_struct_dataframe_rows_follow_members():
    btf = Btf.from_file(fixture_path("btf_kinds"))
    bits = btf.find("bits", kind="struct")
    df = bits.to_dataframe()
    assert list(df["name"]) == [m.name for m in bits.members]
    assert list(df["bitfield_size"]) == [m.bitfield_size for m in bits.members]
    assert df.loc[df["name"] == "tail", "size"].item() == 1
    assert df.loc[df["name"] == "a", "size"].isna().all()


@needs_vmlinux
def test_vmlinux_summary_is_bounded():
    btf = Btf.from_sys_fs()
    html = btf._repr_html_()
    assert len(html) < 20_000
    assert "STRUCT" in html and f"{len(btf) - 1:,}" in html
    assert f"showing 50 of {len(btf) - 1:,} types" in html
    first = btf[1]
    assert f"<td>1</td><td>{first.kind.name}</td><td>{first.name or '(anon)'}</td>" in html
    ts = btf.find("task_struct")
    html = ts._repr_html_()
    assert "showing 200 of" in html or len(ts.members) <= 200
    enum = btf.find("bpf_func_id", kind="enum")
    assert "showing 200 of" in enum._repr_html_()


@needs_vmlinux
def test_vmlinux_dataframe_matches_types():
    """Built from the index columns (speed: benchmarks/bench_btf.py)."""
    btf = Btf.from_sys_fs(cache=False)
    df = btf.to_dataframe()
    assert len(df) == len(btf) - 1
    ts = btf.find("task_struct")
    row = df.loc[ts.id]
    assert (row["kind"], row["name"], row["size"], row["vlen"]) == ("STRUCT", "task_struct", ts.size,
                                                                     len(ts.members))
    ptr = next(int(i) for i in btf.ids_of_kind(Kind.PTR)[:1])
    assert df["size"].isna()[ptr]
    assert (df["kind"] == "FUNC").sum() == btf.kind_counts()[Kind.FUNC]
    sample = btf.ids_of_kind(Kind.STRUCT, Kind.TYPEDEF, Kind.ENUM)[::97].tolist()
    assert [df.loc[i, "name"] for i in sample] == [btf[i].name for i in sample]


def test_type_graph():
    pytest.importorskip("graphviz")
    btf = Btf.from_file(fixture_path("btf_kinds"))
    dot = btf.type_graph("ops", depth=1)
    src = dot.source
    ops = btf.find("ops").id
    bits = btf.find("bits").id
    assert f"{ops} -> {bits}" in src and 'label="struct bits"' in src
    deep = btf.type_graph("ops", depth=3).source
    assert len(deep) >= len(src)
    assert btf.type_graph("ops", depth=0).source.count("->") == 0


def _graph_counts(dot) -> tuple[int, int]:
    nodes = sum(1 for line in dot.body if "->" not in line and "label=" in line and "showing" not in line)
    return nodes, sum(1 for line in dot.body if "->" in line)


def test_type_graph_caps_nodes_with_a_visible_note():
    pytest.importorskip("graphviz")
    from bpfnb import examples

    btf = examples.kernel_btf()
    task = btf.find("task_struct")
    full = btf.type_graph("task_struct", depth=2, max_nodes=None)
    total, _ = _graph_counts(full)
    assert total > 200 and not any("showing" in line for line in full.body)
    capped = btf.type_graph("task_struct", depth=2)
    nodes, edges = _graph_counts(capped)
    assert nodes == 100
    note = [line for line in capped.body if "showing" in line]
    assert len(note) == 1 and f"showing 100 of {total:,} types within depth 2" in note[0]
    # the root and its direct members' types are kept (breadth first)
    assert f'\t{task.id} [label="struct task_struct"]' in capped.source
    # members of one type sharing a target type share one edge that lists them
    assert edges == len({line.split("[")[0] for line in capped.body if "->" in line})
    assert edges < 400
    small = btf.type_graph("task_struct", depth=1)
    assert not any("showing" in line for line in small.body)
    assert capped.pipe(format="svg")  # graphviz draws it
