"""Views of :class:`bpfnb.asm.Instructions`: a bounded HTML table and a DataFrame.

Only the rows shown are formatted, so a 100k-instruction program renders
as fast as a 200-instruction one; the note under the table says how many
were left out.  Every string that may come from an object file (source
lines, annotations, names from the ``names`` hook) is escaped at the leaf.
"""

from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING, Any

from .._optional import require
from .html import fmt_count, table, wrap

if TYPE_CHECKING:
    import pandas as pd

    from ..asm.disasm import Names
    from ..asm.instructions import Instructions

__all__ = ["instructions_dataframe", "instructions_html"]

COLUMNS = ("slot", "bytes", "instruction", "annotation")


def _hex(raw: bytes) -> str:
    return raw.hex(" ")


def _rows(
    insns: Instructions, limit: int | None, names: Names | None
) -> tuple[list[list[Any]], list[str | None], list[str]]:
    """Table rows (a source line gets its own row), row classes, text lines."""
    from ..asm.disasm import format_instruction

    rows: list[list[Any]] = []
    classes: list[str | None] = []
    lines: list[str] = []
    sources = insns.source_lines
    notes = insns.annotations
    for slot, insn in islice(insns.slots(), limit):
        source = sources.get(slot)
        if source is not None:
            rows.append(["", "", f"; {source.strip()}", ""])
            classes.append("bpfnb-note")
            lines.append(f"      ; {source.strip()}")
        text = format_instruction(insn, slot, names=names, kernel_dump=insns.kernel_dump)
        note = "; ".join(notes.get(slot, ()))
        rows.append([slot, _hex(insn.encode()), text, note])
        classes.append("bpfnb-hl" if note else None)
        lines.append(f"{slot:>5}: {text}" + (f"  ; {note}" if note else ""))
    return rows, classes, lines


def instructions_html(insns: Instructions, *, max_rows: int | None = 200, names: Names | None = None) -> str:
    """A table of at most ``max_rows`` instructions, with "showing N of M"."""
    rows, classes, lines = _rows(insns, max_rows, names)
    shown = len(insns) if max_rows is None else min(max_rows, len(insns))
    body = table(COLUMNS, rows, max_rows=None, row_classes=classes)
    if shown < len(insns):
        body += f'<div class="bpfnb-note">showing {fmt_count(shown)} of {fmt_count(len(insns))} instructions</div>'
    label = f" {insns.name}" if insns.name else ""
    title = f"Instructions{label}: {fmt_count(len(insns))} insns, {fmt_count(insns.len_slots)} slots"
    return wrap(title, body, text_fallback="\n".join(lines))


def instructions_dataframe(insns: Instructions, *, names: Names | None = None) -> pd.DataFrame:
    """One row per instruction with raw fields, bytes, text and annotation."""
    from ..asm.disasm import format_instruction

    pandas = require("pandas")
    notes = insns.annotations
    records = {name: [] for name in ("slot", "opcode", "dst", "src", "off", "imm", "bytes", "text", "annotation")}
    for slot, insn in insns.slots():
        records["slot"].append(slot)
        records["opcode"].append(insn.opcode)
        records["dst"].append(insn.dst)
        records["src"].append(insn.src)
        records["off"].append(insn.off)
        records["imm"].append(insn.imm)
        records["bytes"].append(_hex(insn.encode()))
        records["text"].append(format_instruction(insn, slot, names=names, kernel_dump=insns.kernel_dump))
        note = notes.get(slot)
        records["annotation"].append("; ".join(note) if note else None)
    frame = pandas.DataFrame(records)
    dtypes = {"slot": "int64", "opcode": "uint8", "dst": "uint8", "src": "uint8", "off": "int16", "imm": "int64"}
    return frame.astype(dtypes)
