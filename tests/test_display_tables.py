"""Tables that fit a notebook (issue 14, item 9).

The CO-RE records table has short columns (the target type by name, its
build-dependent id in a tooltip; the target's access only where it reads
differently; old → new in one column), the reason of every poisoned or
failed record in a wrapping note column, and one explanation of poisoning
under the table.  The verifier log's source column wraps.  JupyterLab
right-aligns output cells with a more specific selector; ours wins.
"""

from __future__ import annotations

import re

import pytest

from bpfnb import examples
from bpfnb.display.core import POISON_NOTE, TABLE_COLUMNS
from bpfnb.display.html import _STYLE
from bpfnb.kernel.verifier import VerifierLog
from bpfnb.obj import Object


@pytest.fixture(scope="module")
def table():
    obj = Object.from_file(examples.path("core_kinds"))
    return obj.core_relocations(examples.kernel_btf())


def _body_rows(html: str) -> list[str]:
    body = html[html.index("<tbody>", html.index("<th>program</th>")):]
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body[:body.index("</tbody>")])


def test_core_table_columns_are_short(table):
    html = table._repr_html_()
    head = re.findall(r"<th>([^<]*)</th>", html[html.index("<th>program</th>"):])[:len(TABLE_COLUMNS)]
    assert tuple(head) == TABLE_COLUMNS
    rows = _body_rows(html)
    assert len(rows) == len(table)
    for r, row in zip(table, rows):
        cells = re.findall(r"<td>(.*?)</td>", row)
        assert len(cells) == len(TABLE_COLUMNS)
        target = cells[TABLE_COLUMNS.index("target type")]
        if r.target_type_id is not None:
            # the name is the cell; the id and the BTF it is in (build-dependent) only in the tooltip
            text = re.sub(r"<[^>]+>", "", target)
            assert text == r.target_type_name
            assert f'title="type [{r.target_type_id}] in {r.target_btf}"' in target
        value = re.sub(r"<[^>]+>", "", cells[TABLE_COLUMNS.index("value")])
        if r.changed:
            assert value.startswith(f"{r.old_value}") and " → " in value
        else:
            assert value == str(r.old_value)
        access = cells[TABLE_COLUMNS.index("access")]
        assert ("→ " in access) == bool(r.target_path and r.target_path != r.local_path)
        assert 'class="bpfnb-nw"' in access  # task_struct->se.x does not break at "->"


def test_poisoned_rows_say_why_and_the_table_says_what_poisoning_is(table):
    html = table._repr_html_()
    poisoned = table.poisoned
    assert len(poisoned) == 2
    rows = _body_rows(html)
    for r, row in zip(table, rows):
        note = re.findall(r"<td>(.*?)</td>", row)[-1]
        if r.poisoned:
            assert note.startswith('<div class="bpfnb-wrap">poisoned: ') and "no candidate matches" in note
        elif r.guarded and r.new_value == 0:
            assert "existence check: absent" in note
    assert html.count("invalid helper 0xbad2310") == 1 and POISON_NOTE.split(",")[0] in html
    clean = Object.from_file(examples.path("core_kinds")).core_relocations(
        examples.kernel_btf(), only=["parent_pid"])
    assert not clean.poisoned and "0xbad2310" not in clean._repr_html_()


def test_stylesheet_beats_jupyterlab_alignment_and_wraps_notes():
    assert ".bpfnb th,.bpfnb td{text-align:left !important;" in _STYLE
    assert ".bpfnb .bpfnb-wrap{white-space:normal;" in _STYLE
    assert ".bpfnb .bpfnb-nw{white-space:nowrap}" in _STYLE


def test_verifier_source_column_wraps():
    text = ("0: R1=ctx() R10=fp0\n; if (data + sizeof(struct ethhdr) + sizeof(struct iphdr) > data_end) return XDP_PASS; "
            "@ x.bpf.c:18\n0: (b7) r0 = 0\n1: (95) exit\nprocessed 2 insns (limit 1000000) max_states_per_insn 0 "
            "total_states 0 peak_states 0 mark_read 0\n")
    html = VerifierLog(text)._repr_html_()
    assert ('<div class="bpfnb-wrap">if (data + sizeof(struct ethhdr) + sizeof(struct iphdr) &gt; data_end) '
            "return XDP_PASS;</div>") in html
    frame = VerifierLog(text).to_dataframe()
    assert frame["source"].dropna().str.startswith("if (data").any()  # the DataFrame keeps plain text
