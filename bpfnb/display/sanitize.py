"""Views of the BTF fix-up and sanitization stages: one row per rewritten type.

The interesting part of a fixed-up BTF is the handful of records the
loader touched (DATASEC sizes, variable offsets, extern linkage, kinds
replaced for an older kernel), so the view is a before/after table of
those, with the kinds side by side and the change in words.  Names come
from the object file and are escaped at the leaf like every other view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._optional import require
from .html import ROWS_OPTION, build_dependent, escape, kv_table, section, table, wrap

if TYPE_CHECKING:
    import pandas as pd

    from ..btf.sanitize import Change
    from ..kernel.btf import LoadedObjectBtf

__all__ = ["CHANGE_COLUMNS", "changes_frame", "changes_html", "changes_table", "changes_text", "loaded_html"]

CHANGE_COLUMNS = ("type_id", "name", "kind_before", "before", "kind_after", "after", "what")


def _row(c: Change) -> tuple:
    kind = "(added)" if c.kind_before is None else c.kind_before.name
    return (c.type_id, c.name, kind, c.before, c.kind_after.name, c.after, c.what)


def changes_text(changes: Sequence[Change], title: str = "BTF changes") -> str:
    """Plain text: the title, then one line per change."""
    return "\n".join([title, *(str(c) for c in changes)])


def _counts(changes: Sequence[Change]) -> list[tuple[str, int]]:
    replaced = sum(1 for c in changes if c.kind_before is not None and c.kind_before != c.kind_after)
    added = sum(1 for c in changes if c.kind_before is None)
    return [("types rewritten", len(changes) - added), ("kinds replaced", replaced), ("types added", added)]


def changes_table(changes: Sequence[Change], max_rows: int | None = ROWS_OPTION) -> str:
    """The before/after table alone (kinds in words, kind changes highlighted)."""
    if not changes:
        return f'<div class="bpfnb-note">{escape("nothing to change: the kernel takes this BTF as it is")}</div>'
    classes = ("bpfnb-hl" if c.kind_before != c.kind_after else None for c in changes)
    return table(CHANGE_COLUMNS, (_row(c) for c in changes), total=len(changes), max_rows=max_rows,
                 row_classes=classes, what="changes")


def changes_html(changes: Sequence[Change], *, title: str = "BTF changes", max_rows: int | None = ROWS_OPTION) -> str:
    """A bounded before/after table; kind changes are highlighted."""
    body = kv_table(_counts(changes)) + changes_table(changes, max_rows)
    return wrap(title, body, text_fallback=changes_text(changes, title))


def loaded_html(loaded: LoadedObjectBtf, *, max_rows: int | None = ROWS_OPTION) -> str:
    """A loaded object BTF: what the kernel holds, what it was sanitized for, then the changes.

    The fix-up and sanitization tables are separate sections: the first is
    what every kernel needs, the second what only this (older) kernel did.
    """
    before = loaded.fixup.before if loaded.fixup is not None else None
    appended = len(loaded.strings) - len(before._strings.data) if before is not None else 0
    missing = ", ".join(loaded.features.missing) or "none (nothing to sanitize)"
    fix = loaded.fixup.changes if loaded.fixup is not None else ()
    san = loaded.sanitized.changes if loaded.sanitized is not None else ()
    head = kv_table([
        ("BTF id", "closed" if loaded.closed else loaded.id),
        ("bytes loaded", len(loaded.data)),
        ("types", len(loaded.btf) - 1),
        ("string bytes appended", appended),
        ("kernel lacks", build_dependent(missing)),  # what the probes said: this kernel's
        *_counts((*fix, *san)),
    ])
    body = (head + section("Fix-up (every kernel)", changes_table(fix, max_rows), count=len(fix))
            + section("Sanitization (this kernel)", changes_table(san, max_rows), count=len(san), open=bool(san)))
    title = f"Object BTF loaded as id {loaded.id}"
    return wrap(title, body, text_fallback=changes_text((*fix, *san), title))


def changes_frame(changes: Sequence[Change]) -> pd.DataFrame:
    """One row per change (``kind_before`` is None for an added type)."""
    pandas = require("pandas")
    rows = [
        {"type_id": c.type_id, "name": c.name, "kind_before": None if c.kind_before is None else c.kind_before.name,
         "before": c.before, "kind_after": c.kind_after.name, "after": c.after, "what": c.what}
        for c in changes
    ]
    return pandas.DataFrame(rows, columns=list(CHANGE_COLUMNS)).astype({"type_id": "int64"})
