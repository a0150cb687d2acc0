"""Views of a verifier log: the error first, then a bounded instruction table.

The failing instruction is highlighted and always shown: when the table
must be cut, the rows kept are the ones leading up to the failure (that is
where the reason is), with "showing N of M" saying what was left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .html import Raw, escape, fmt_count, kv_table, section, table, wrap
from .tidy import tidy

if TYPE_CHECKING:
    import pandas as pd

    from ..kernel.verifier import VerifierLog, VerifierRow

__all__ = ["verifier_frame", "verifier_html"]

_COLUMNS = ("index", "kind", "instruction", "state", "source", "file", "line")
#: Shown only when the loader explains an instruction it neutralised (poisoned CO-RE, a missing weak kfunc).
_NOTE = "loader note"


def _columns(vlog: VerifierLog) -> tuple[str, ...]:
    return (*_COLUMNS, _NOTE) if vlog.explanations else _COLUMNS


def _cells(row: VerifierRow, vlog: VerifierLog, *, html: bool = False) -> list[object]:
    where = f"from {row.branch_from}" if row.kind == "branch" else row.kind
    source: object = row.source
    if html and row.source:  # C lines are long: they wrap in their column instead of widening the table
        source = Raw(f'<div class="bpfnb-wrap">{escape(row.source)}</div>')
    cells: list[object] = [row.index, where, row.text, row.state, source, row.source_file, row.source_line]
    if vlog.explanations:
        cells.append(vlog.explanations.get(row.index, "") if row.kind == "insn" else "")
    return cells


def verifier_html(vlog: VerifierLog, *, max_rows: int = 200) -> str:
    rows = list(vlog.rows)
    failing = vlog.row_of_error()
    parts = []
    if vlog.failed:
        at = f"insn {vlog.error_index}: " if vlog.error_index is not None else ""
        parts.append(f'<div class="bpfnb-err">{escape(at + (vlog.error or ""))}</div>')
        if failing is not None and failing.source:
            loc = f" ({failing.source_file}:{failing.source_line})" if failing.source_file else ""
            parts.append(f'<div class="bpfnb-note">{escape("source: " + failing.source + loc)}</div>')
    if vlog.summary:
        parts.append(kv_table(list(vlog.summary.items())))
    shown = rows
    if len(rows) > max_rows:
        end = rows.index(failing) + 1 if failing is not None else len(rows)
        start = max(0, end - max_rows)
        shown = rows[start : start + max_rows]
    if not rows and not vlog.failed:
        parts.append('<div class="bpfnb-note">no instruction rows: at log level 1 the kernel logs only the path '
                     "that fails, so an accepted program shows just the summary (use level 2 for every state)</div>")
    classes = ["bpfnb-hl" if r is failing else None for r in shown]
    body = table(_columns(vlog), (_cells(r, vlog, html=True) for r in shown), max_rows=None, row_classes=classes)
    if len(shown) < len(rows):
        body += (f'<div class="bpfnb-note">showing {fmt_count(len(shown))} of {fmt_count(len(rows))} rows'
                 f"{' (up to the failing instruction)' if failing is not None else ''}</div>")
    parts.append(section("instructions", body, count=len(rows), open=True))
    raw = f"<pre>{escape(vlog.text[-20000:])}</pre>"
    parts.append(section("raw log", Raw(raw), open=False))
    title = "verifier log: " + ("rejected" if vlog.failed else "accepted")
    return wrap(title, "".join(parts), text_fallback=vlog.error or title)


def verifier_frame(vlog: VerifierLog) -> pd.DataFrame:
    from .._optional import require

    pd = require("pandas")
    failing = vlog.row_of_error()
    columns = _columns(vlog)
    records = [dict(zip(columns, _cells(r, vlog)), opcode=r.opcode, branch_from=r.branch_from, error=r is failing)
               for r in vlog.rows]
    return tidy(pd.DataFrame(records, columns=[*columns, "opcode", "branch_from", "error"]))
