"""Views of CO-RE resolution: tables of records, one record explained, portability.

The question a notebook user asks of CO-RE is "what did my program ask
for, and what did this kernel answer?".  The views answer it at three
zoom levels: a table of every record (local access as C, target access,
old → new value, poisoned/guarded), one record with the candidates that
were considered and why each was rejected, and a graph drawing the local
access path beside the target path with every member's offset, the
differing ones highlighted.  All HTML is bounded and escaped; ids are
deterministic so nbval can compare outputs.
"""

from __future__ import annotations

import html as _html
from typing import TYPE_CHECKING, Any

from .._optional import require
from .html import ROWS_OPTION, Raw, escape, kv_table, section, table, wrap

if TYPE_CHECKING:
    import graphviz
    import pandas as pd

    from ..btf.btf import Btf
    from ..btf.core import CoreRelocation, CoreRelocationTable
    from ..btf.core_portability import PortabilityReport
    from ..btf.core_spec import Step

__all__ = [
    "TABLE_COLUMNS",
    "portability_dataframe",
    "portability_html",
    "relocation_graph",
    "relocation_html",
    "table_dataframe",
    "table_html",
]

#: The records table: one short column each, the reason last and wrapping (see :func:`table_html`).
TABLE_COLUMNS = ("program", "insn", "relo", "kind", "access", "target type", "value", "note")

#: Under a table with poisoned records: what poisoning means, once, instead of in every row.
POISON_NOTE = (
    "poisoned: this kernel has nothing that matches the access, so the loader rewrites the instruction into a "
    "call to the invalid helper 0xbad2310, as libbpf does. The program still loads if that instruction is "
    "never reached (the code checks bpf_core_field_exists() or bpf_core_type_exists() first, and that check "
    "resolved to 0); otherwise the verifier rejects it, and the loader's error names this record."
)


def _insn_text(insn: Any) -> str:
    from ..asm.disasm import format_instruction

    return format_instruction(insn)


def _value(r: CoreRelocation, which: str) -> str:
    if r.error:
        return "error" if which == "new" else str(r.old_value)
    if r.poisoned and which == "new":
        return "poisoned"
    value = r.old_value if which == "old" else r.new_value
    size = r.old_size if which == "old" else r.new_size
    text = str(value)
    if r.old_size != r.new_size:
        text += f" ({size} B)"
    return text


def _note(r: CoreRelocation) -> str:
    if r.error:
        return r.error
    if r.poisoned:
        return r.poison_reason
    if r.guarded and r.new_value == 0:
        return "existence check: absent"
    return ""


def _row_class(r: CoreRelocation) -> str | None:
    if r.failed:
        return "bpfnb-err"
    return "bpfnb-hl" if r.changed else None


def _target(r: CoreRelocation) -> str:
    if r.target_type_id is None:
        return ""
    return f"[{r.target_type_id}] {r.target_type_name} ({r.target_btf})"


def _nowrap(text: str, title: str | None = None) -> Raw:
    attr = f' title="{escape(title)}"' if title else ""
    return Raw(f'<span class="bpfnb-nw"{attr}>{escape(text)}</span>')


def _access_cell(r: CoreRelocation) -> Raw:
    """The local access, and the target's beneath it only where it reads differently."""
    cell = str(_nowrap(r.local_path))
    if r.target_path and r.target_path != r.local_path:
        cell += "<br>" + str(_nowrap(f"→ {r.target_path}"))
    return Raw(cell)


def _target_cell(r: CoreRelocation, table_target: str) -> Raw | str:
    """The target type by name; its id and BTF (which differ between kernel builds) in the tooltip."""
    if r.target_type_id is None:
        return ""
    where = "" if r.target_btf in (None, "", table_target) else f" ({r.target_btf})"
    return _nowrap(f"{r.target_type_name}{where}", f"type [{r.target_type_id}] in {r.target_btf}")


def _value_cell(r: CoreRelocation) -> str:
    old, new = _value(r, "old"), _value(r, "new")
    return old if old == new else f"{old} → {new}"


def _note_cell(r: CoreRelocation) -> Raw | str:
    note = _note(r)
    if not note:
        return ""
    label = "poisoned: " if r.poisoned else "error: " if r.error else ""
    return Raw(f'<div class="bpfnb-wrap">{escape(label + note)}</div>')


def _rows(t: CoreRelocationTable):
    for r in t:
        yield (r.program, r.slot, r.index, r.kind_label, _access_cell(r), _target_cell(r, t.target),
               _value_cell(r), _note_cell(r))


def table_text(t: CoreRelocationTable) -> str:
    lines = [repr(t)]
    for r in t:
        lines.append(f"{r.program} insn {r.slot:>4} relo #{r.index:<3} {r.describe()}")
    return "\n".join(lines)


def table_html(t: CoreRelocationTable, *, max_rows: int | None = ROWS_OPTION) -> str:
    """Summary plus one row per record; changed rows highlighted, failed ones in red."""
    programs = sorted({r.program for r in t})
    summary = kv_table([
        ("object", t.object_name), ("target BTF", t.target), ("records", len(t)),
        ("changed by the target", len(t.changed)), ("poisoned", len(t.poisoned)),
        ("programs", ", ".join(programs) or "(none)"),
    ])
    body = table(TABLE_COLUMNS, _rows(t), total=len(t), max_rows=max_rows,
                 row_classes=(_row_class(r) for r in t), what="records")
    if t.poisoned:
        body += f'<div class="bpfnb-note bpfnb-wrap">{escape(POISON_NOTE)}</div>'

    return wrap(f"CO-RE relocations: {t.object_name} vs {t.target}",
                summary + section("records", body, count=len(t)), text_fallback=table_text(t))


def _frame_row(r: CoreRelocation) -> dict[str, Any]:
    return {
        "program": r.program, "section": r.section, "insn": r.slot, "relo": r.index, "kind": r.kind_label,
        "local_type_id": r.local_type_id, "local_type": r.local_type_name, "access": r.access,
        "local_path": r.local_path, "target_btf": r.target_btf, "target_type_id": r.target_type_id,
        "target_type": r.target_type_name, "target_path": r.target_path, "old": r.old_value,
        "new": None if r.failed else r.new_value, "old_size": r.old_size, "new_size": r.new_size,
        "changed": r.changed, "poisoned": r.poisoned, "guarded": r.guarded, "error": r.error,
        "reason": r.poison_reason, "candidates": len(r.candidates),
    }


def table_dataframe(t: CoreRelocationTable) -> pd.DataFrame:
    pd = require("pandas")
    df = pd.DataFrame([_frame_row(r) for r in t], columns=list(_frame_row_columns()))
    for col in ("target_type_id", "new"):  # missing values must not turn ids and values into floats
        df[col] = df[col].astype("UInt64")
    return df


def _frame_row_columns() -> tuple[str, ...]:
    return ("program", "section", "insn", "relo", "kind", "local_type_id", "local_type", "access", "local_path",
            "target_btf", "target_type_id", "target_type", "target_path", "old", "new", "old_size", "new_size",
            "changed", "poisoned", "guarded", "error", "reason", "candidates")


# --- one record ------------------------------------------------------------------------


def relocation_html(r: CoreRelocation) -> str:
    """Everything about one record: request, answer, candidates, the instruction patched."""
    pairs: list[tuple[str, Any]] = [
        ("program", f"{r.program} ({r.section})"), ("instruction", r.slot), ("record", f"#{r.index}"),
        ("kind", f"{r.kind.name} ({r.kind_label})"),
        ("local type", f"[{r.local_type_id}] {r.local_type_name}"), ("access string", r.access),
        ("local access", r.local_path), ("target", _target(r) or "(none)"),
        ("target access", r.target_path or "(none)"), ("old value", _value(r, "old")),
        ("new value", _value(r, "new")),
    ]
    if r.guarded:
        pairs.append(("existence check", "yes: answers 0 instead of failing"))
    if r.poisoned:
        pairs.append(("poisoned", Raw(f'<span class="bpfnb-err">{escape(r.poison_reason)}</span>')))
    if r.error:
        pairs.append(("error", Raw(f'<span class="bpfnb-err">{escape(r.error)}</span>')))
    parts = [kv_table(pairs)]
    if r.candidates:
        rows = ((c.btf, c.type_id, c.name, c.matched, c.path if c.matched else c.reason) for c in r.candidates)
        parts.append(section("candidates", table(("btf", "id", "type", "matched", "target access / why not"), rows,
                                                 total=len(r.candidates), max_rows=ROWS_OPTION,
                                                 what="candidates"), count=len(r.candidates)))
    if r.before is not None:
        after = "; ".join(_insn_text(i) for i in r.after)
        parts.append(section("instruction", kv_table([("before", Raw(f"<pre>{escape(_insn_text(r.before))}</pre>")),
                                                      ("after", Raw(f"<pre>{escape(after)}</pre>"))])))
    if r.local_steps:
        parts.append(section("path", _steps_table(r), open=False))
    return wrap(f"CO-RE relo #{r.index}: {r.kind_label} {r.local_path}", "".join(parts), text_fallback=r.describe())


def _off(bits: int) -> str:
    return f"{bits // 8}" if bits % 8 == 0 else f"{bits // 8}.{bits % 8}"


def _step_label(btf: Btf | None, s: Step) -> str:
    name = f"[{s.index}]" if s.name is None else (s.name or f"(anon #{s.index})")
    owner = btf.name_of(s.container_id) if btf is not None else f"#{s.container_id}"
    return f"{owner} {name}"


def _steps_table(r: CoreRelocation) -> str:
    rows = []
    n = max(len(r.local_steps), len(r.target_steps))
    for i in range(n):
        ls = r.local_steps[i] if i < len(r.local_steps) else None
        ts = r.target_steps[i] if i < len(r.target_steps) else None
        rows.append((
            _step_label(r.local_btf, ls) if ls else "", _off(ls.total_bit_offset) if ls else "",
            _step_label(r.target, ts) if ts else "", _off(ts.total_bit_offset) if ts else "",
        ))
    return table(("local step", "offset", "target step", "offset"), rows, total=n, max_rows=ROWS_OPTION,
                 what="steps")


def _pairs(steps: tuple[Step, ...]) -> list[int]:
    """Indices of the steps that correspond across local and target (named members, array indices)."""
    return [i for i, s in enumerate(steps) if s.name != ""]


def relocation_graph(r: CoreRelocation) -> graphviz.Digraph:
    """Local path (left) beside target path (right); corresponding steps joined, differing offsets highlighted.

    Each node is one step: the struct/array indexed, the member or index
    taken, its offset inside that type and the offset from the root.
    Type- and enum-based records draw the local and target type instead.
    """
    graphviz = require("graphviz")
    g = graphviz.Digraph(name=f"core_relo_{r.index}", graph_attr={"rankdir": "TB", "fontsize": "10"},
                         node_attr={"fontname": "monospace", "fontsize": "10", "shape": "plaintext"})
    differ: set[int] = set()
    lp, tp = _pairs(r.local_steps), _pairs(r.target_steps)
    links = list(zip(lp, tp))
    for li, ti in links:
        if r.local_steps[li].total_bit_offset != r.target_steps[ti].total_bit_offset:
            differ.add(li)
    tdiffer = {ti for li, ti in links if li in differ}
    for side, steps, btf, hl, title in (
        ("l", r.local_steps, r.local_btf, differ, f"local: {r.local_type_name}"),
        ("t", r.target_steps, r.target, tdiffer, f"{r.target_btf or 'target'}: {r.target_type_name or '(none)'}"),
    ):
        with g.subgraph(name=f"cluster_{side}") as c:
            c.attr(label=title, fontname="monospace", fontsize="10")
            if not steps:
                c.node(f"{side}0", label=_node_label(_root_summary(r, side), [], False))
            for i, s in enumerate(steps):
                what = f"[{s.index}]" if s.name is None else (s.name or f"(anonymous member #{s.index})")
                rows = [(what, f"+{_off(s.bit_offset)}"), ("from root", _off(s.total_bit_offset))]
                c.node(f"{side}{i}", label=_node_label(_type_name(btf, s.container_id), rows, i in hl))
                if i:
                    c.edge(f"{side}{i - 1}", f"{side}{i}")
    for li, ti in links:
        g.edge(f"l{li}", f"t{ti}", style="dashed", color="#c00000" if li in differ else "#888888",
               constraint="false", dir="none")
    if not r.local_steps:
        g.edge("l0", "t0", style="dashed", dir="none", constraint="false")
    return g


def _type_name(btf: Btf | None, type_id: int) -> str:
    return btf.name_of(type_id) if btf is not None else f"#{type_id}"


def _root_summary(r: CoreRelocation, side: str) -> str:
    if side == "l":
        return f"{r.local_path} = {r.old_value}"
    if r.failed:
        return "not found" if not r.error else "error"
    return f"{r.target_path} = {r.new_value}"


def _node_label(title: str, rows: list[tuple[str, str]], highlight: bool) -> str:
    """An HTML-like graphviz label; the last row (offset from the root) is shaded when it differs."""
    shade = ' bgcolor="#ffe0e0"'
    cells = "".join(
        f'<tr><td align="left">{_html.escape(a)}</td>'
        f'<td align="right"{shade if highlight and i == len(rows) - 1 else ""}>{_html.escape(b)}</td></tr>'
        for i, (a, b) in enumerate(rows))
    return (f'<<table border="0" cellborder="1" cellspacing="0"><tr><td colspan="2"><b>{_html.escape(title)}</b>'
            f"</td></tr>{cells}</table>>")


# --- portability -------------------------------------------------------------------------


_STATUS_CLASS = {"changed": "bpfnb-hl", "failed": "bpfnb-err", "error": "bpfnb-err", "guarded": "bpfnb-note"}


def portability_html(report: PortabilityReport, *, max_rows: int | None = ROWS_OPTION) -> str:
    verdicts = report.verdicts
    vrows = [(v.kernel, Raw('<span class="bpfnb-ok">portable</span>') if v.portable
              else Raw('<span class="bpfnb-err">not portable</span>'), v.records, v.changed_vs_baseline,
              v.changed_vs_local, v.guarded, v.failed, v.errors) for v in verdicts.values()]
    head = table(("kernel", "verdict", "records", f"≠ {report.baseline or 'local'}", "≠ compiled-in", "guarded",
                  "fail unguarded", "unresolvable"), vrows, total=len(vrows), max_rows=max_rows, what="kernels")
    interesting = [e for e in report.entries if e.status != "same"]
    rows = ((e.kernel, e.relocation.program, e.relocation.slot, e.relocation.kind_label, e.relocation.local_path,
             "" if e.baseline is None else _value(e.baseline, "new"), _value(e.relocation, "new"), e.status,
             "" if e.guard is None else f"insn {e.guard.slot}: {e.guard.kind_label} {e.guard.local_path}")
            for e in interesting)
    detail = table(("kernel", "program", "insn", "kind", "access", report.baseline or "baseline", "value", "status",
                    "guard"), rows, total=len(interesting), max_rows=max_rows,
                   row_classes=(_STATUS_CLASS.get(e.status) for e in interesting), what="differences")
    return wrap(f"CO-RE portability of {report.object_name}",
                head + section("records that differ or fail", detail, count=len(interesting)),
                text_fallback=report.summary())


def portability_dataframe(report: PortabilityReport) -> pd.DataFrame:
    pd = require("pandas")
    rows = []
    for e in report.entries:
        r = e.relocation
        rows.append({
            "kernel": e.kernel, "program": r.program, "insn": r.slot, "relo": r.index, "kind": r.kind_label,
            "access": r.local_path, "local": r.old_value, "baseline": None if e.baseline is None or e.baseline.failed
            else e.baseline.new_value, "value": None if r.failed else r.new_value, "status": e.status,
            "guard_insn": None if e.guard is None else e.guard.slot,
        })
    df = pd.DataFrame(rows, columns=["kernel", "program", "insn", "relo", "kind", "access", "local", "baseline",
                                     "value", "status", "guard_insn"])
    for col in ("baseline", "value", "guard_insn"):
        df[col] = df[col].astype("UInt64")
    return df
