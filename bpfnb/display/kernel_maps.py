"""Views of live maps: one map's info table, and the maps stage's result table.

Deterministic like every other view: no fd numbers; map ids (volatile)
appear in their own column so a notebook sanitizer can mask them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .html import Raw, escape, kv_table, live, table, wrap
from .tidy import tidy

if TYPE_CHECKING:
    import pandas as pd

    from ..kernel.map import Map
    from ..kernel.maps_stage import MapsResult

__all__ = ["map_html", "maps_frame", "maps_html"]

_COLUMNS = ("name", "type", "kernel_name", "key_size", "value_size", "max_entries", "flags", "id", "status",
            "pinned", "btf")
_STATUS_CLASS = {"created": "bpfnb-ok", "reused": "bpfnb-note", "skipped": "bpfnb-err"}


def map_html(m: Map) -> str:
    """The map's identity and, while open, what the kernel reports (MapInfo)."""
    pairs: list[tuple[str, Any]] = [("name", m.name), ("kernel name", m.kernel_name)]
    if m.pinned:
        pairs.append(("pinned at", m.pinned))
    if m.closed:
        pairs.append(("state", "closed"))
    else:
        info = m.info()
        for key, value in info.to_dict().items():
            if key in ("name",):
                continue
            if key == "type" and hasattr(value, "name"):
                value = f"{value.name.lower()} ({int(value)})"
            elif key == "map_flags":
                value = f"{value:#x}"
            pairs.append((key, live(key, value)))
    text = repr(m)
    return wrap(f"map {m.name!r}", kv_table(pairs), text_fallback=text)


def _status(value: str, reason: str) -> Raw:
    title = f' title="{escape(reason)}"' if reason else ""
    return Raw(f'<span class="{_STATUS_CLASS.get(value, "")}"{title}>{escape(value)}</span>')


def maps_html(result: MapsResult, *, max_rows: int = 200) -> str:
    """One row per map of the stage, in creation order."""
    rows = result.rows()
    body = []
    for r in rows:
        cells = [r[c] for c in _COLUMNS]
        cells[_COLUMNS.index("flags")] = f"{r['flags']:#x}" if r["flags"] else ""
        cells[_COLUMNS.index("status")] = _status(r["status"], r["reason"])
        cells[_COLUMNS.index("id")] = live("id", r["id"])
        body.append(cells)
    summary = (f"{len(result.created)} created, {len(result.reused)} reused from pins, "
               f"{len(result.skipped)} skipped")
    note = f'<div class="bpfnb-note">{escape(summary)}</div>'
    text = "\n".join(f"{r['name']:20} {r['type']:16} {r['kernel_name']:16} {r['status']}" for r in rows)
    return wrap(f"maps ({len(rows)})", note + table(_COLUMNS, body, total=len(body), max_rows=max_rows, what="maps"),
                text_fallback=text)


def maps_frame(result: MapsResult) -> pd.DataFrame:
    """The same table as a DataFrame (``reason`` included)."""
    from .._optional import require

    pd = require("pandas")
    return tidy(pd.DataFrame(result.rows(), columns=[*_COLUMNS, "reason"]), categorical=("type", "status"))
