"""Views of the relocate stage: what changed, as before/after disassembly.

A relocated program is mostly the same instructions as its spec; the
interesting part is the few that were patched.  The HTML shows a summary,
the applied relocations side by side (both instructions disassembled, so
``r1 = 0x0 ll`` visibly becomes ``r1 = map[fd:5]``), the appended
subprograms and the re-based BTF records, every table bounded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._optional import require
from .html import ROWS_OPTION, Raw, escape, kv_table, section, table, wrap

if TYPE_CHECKING:
    import pandas as pd

    from ..obj.relocate import RelocatedProgram

__all__ = ["APPLIED_COLUMNS", "relocated_frame", "relocated_html", "relocated_text"]

APPLIED_COLUMNS = ("slot", "kind", "symbol", "from", "before", "after", "note")


def _text(insn) -> str:
    from ..asm.disasm import format_instruction

    return format_instruction(insn)


def _applied_rows(rp: RelocatedProgram):
    for a in rp.applied:
        origin = f"{a.function}+{a.origin_slot}" if a.function else ""
        yield (a.slot, a.kind.value, a.symbol, origin, Raw(f"<pre>{escape(_text(a.before))}</pre>"),
               Raw(f"<pre>{escape(_text(a.after))}</pre>"), a.note)


def relocated_text(rp: RelocatedProgram) -> str:
    """Plain-text summary: one line per applied relocation."""
    lines = [repr(rp)]
    for a in rp.applied:
        lines.append(f"{a.slot:>5}: {_text(a.before)}  =>  {_text(a.after)}  ; {a.note}")
    return "\n".join(lines)


def relocated_html(rp: RelocatedProgram, *, max_rows: int | None = ROWS_OPTION, max_insns: int = 200) -> str:
    spec = rp.spec
    subs = ", ".join(f"{name} @ {start}" for name, start in rp.subprograms) or "(none)"
    summary = kv_table(
        [
            ("program", spec.name),
            ("type", spec.type_name),
            ("section", spec.section),
            ("instructions", f"{len(rp.instructions)} ({rp.insn_cnt} slots; the spec alone has {spec.instructions.len_slots})"),
            ("subprograms", subs),
            ("relocations applied", len(rp.applied)),
            ("func_info / line_info", f"{len(rp.func_info)} / {len(rp.line_info)}"),
            *([("fd_array (module BTF fds)", ", ".join(map(str, rp.fd_array)))] if rp.fd_array else []),
        ]
    )
    applied = table(APPLIED_COLUMNS, _applied_rows(rp), total=len(rp.applied), max_rows=max_rows, what="relocations")
    funcs = table(
        ("slot", "BTF type id", "function"),
        ((f.slot, f.type_id, f.name) for f in rp.func_info),
        total=len(rp.func_info),
        max_rows=max_rows,
    )
    lines = table(
        ("slot", "file", "line", "column", "source"),
        ((li.slot, li.file_name.rsplit("/", 1)[-1], li.line_num, li.column, li.line.strip()) for li in rp.line_info),
        total=len(rp.line_info),
        max_rows=max_rows,
    )
    body = (
        summary
        + section("Applied relocations", applied, count=len(rp.applied))
        + section("Instructions", Raw(rp.instructions.to_html(max_rows=max_insns)), count=len(rp.instructions), open=False)
        + section("func_info", funcs, count=len(rp.func_info), open=False)
        + section("line_info", lines, count=len(rp.line_info), open=False)
    )
    return wrap(f"Relocated program {rp.name}", body, text_fallback=relocated_text(rp))


def relocated_frame(rp: RelocatedProgram) -> pd.DataFrame:
    """One row per applied relocation."""
    pandas = require("pandas")
    columns = ["slot", "kind", "symbol", "function", "origin_slot", "before", "after", "note", "changed"]
    rows = [
        {
            "slot": a.slot,
            "kind": a.kind.value,
            "symbol": a.symbol,
            "function": a.function,
            "origin_slot": a.origin_slot,
            "before": _text(a.before),
            "after": _text(a.after),
            "note": a.note,
            "changed": a.changed,
        }
        for a in rp.applied
    ]
    frame = pandas.DataFrame(rows, columns=columns)
    return frame.astype({"slot": "int64", "origin_slot": "int64", "changed": "bool"})
