"""Views of a BTF diff: a highlighted HTML table per type and a DataFrame of changes.

A whole-kernel diff has thousands of changed types, so the HTML lists at
most ``max_types`` of them (changed first, then added and removed) with
counts; the DataFrame has them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._optional import require
from .html import ROWS_OPTION, details, escape, fmt_count, kv_table, rows_limit, table, wrap

if TYPE_CHECKING:
    import pandas

    from ..btf.diff import BtfDiff, TypeDiff

__all__ = ["diff_dataframe", "diff_html"]

COLUMNS = ("status", "kind", "name", "change", "member", "old", "new")

_ROW_CLASS = {"member added": "bpfnb-ok", "value added": "bpfnb-ok", "member removed": "bpfnb-err",
              "value removed": "bpfnb-err"}


def diff_dataframe(diff: BtfDiff) -> pandas.DataFrame:
    pd = require("pandas")
    df = pd.DataFrame(list(diff.rows()), columns=list(COLUMNS))
    for column in ("status", "kind", "change"):
        df[column] = df[column].astype("category")
    return df.astype({c: "string" for c in ("name", "member", "old", "new")})


def _type_block(t: TypeDiff) -> str:
    if t.status != "changed":
        return ""
    rows = [(c.what, c.member or "(the type)", c.old, c.new) for c in t.changes]
    classes = [_ROW_CLASS.get(c.what, "bpfnb-hl") for c in t.changes]
    return table(("change", "member", "old", "new"), rows, total=len(rows), row_classes=classes,
                 max_rows=ROWS_OPTION, what="changes")


def diff_html(diff: BtfDiff, *, max_types: int | None = ROWS_OPTION) -> str:
    summary = kv_table([("old", diff.old_source), ("new", diff.new_source),
                        ("compared", fmt_count(diff.compared)), ("changed", fmt_count(len(diff.changed))),
                        ("added", fmt_count(len(diff.added))), ("removed", fmt_count(len(diff.removed)))])
    ordered = diff.changed + diff.added + diff.removed
    max_types = rows_limit(max_types)
    if max_types is None:
        max_types = len(ordered)
    blocks = []
    for t in ordered[:max_types]:
        if t.status == "changed":
            blocks.append(details(f"~ {t.label} ({len(t.changes)} changes)", _type_block(t),
                                  open=len(ordered) <= 5))
        else:
            mark, cls = ("+", "bpfnb-ok") if t.status == "added" else ("-", "bpfnb-err")
            blocks.append(f'<div class="{cls}">{mark} {escape(t.label)}</div>')
    if len(ordered) > max_types:
        blocks.append(f'<div class="bpfnb-note">showing {fmt_count(max_types)} of '
                      f'{fmt_count(len(ordered))} types</div>')
    if not ordered:
        blocks.append('<div class="bpfnb-note">no differences</div>')
    return wrap("BTF diff", summary + "".join(blocks), text_fallback=diff.to_text(max_types=max_types))
