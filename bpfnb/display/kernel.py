"""Views of what the kernel reports: Features tables and object info summaries.

Deterministic on purpose: rows sorted by name, no fds, and the volatile
fields of an info object (ids, load times, run statistics) shown as they
are but kept in the plain-text fallback too, so a notebook sanitizer can
mask them with one rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .html import LIVE_FIELDS, build_dependent, escape, kv_table, live, section, table, wrap
from .tidy import tidy

if TYPE_CHECKING:  # views import models lazily; the type checker may look
    from ..kernel.features import Features

__all__ = ["features_dataframe", "features_html", "info_html"]

_COLOUR = {"yes": "var(--jp-success-color1,#080)", "no": "var(--jp-error-color1,#c00)",
           "unknown": "var(--jp-content-font-color2,#777)"}


def _support_cell(value: str):
    # each answer is this kernel's: marked build-dependent (one sanitizer
    # rule masks it in the notebooks), coloured inline to stay one span
    return build_dependent(value, style=f"color:{_COLOUR[value]}" if value in _COLOUR else None)


def features_html(features: Features) -> str:
    """Three collapsible tables (features, program types, map types)."""
    rows = features.rows()
    parts = [f'<div class="bpfnb-note">{escape(features.note)}</div>']
    for group, title in (("feature", "features"), ("prog_type", "program types"), ("map_type", "map types")):
        mine = [(name, _support_cell(value)) for g, name, value in rows if g == group]
        yes = sum(1 for g, _, value in rows if g == group and value == "yes")
        body = table(("name", "supported"), mine, max_rows=None)
        parts.append(section(f"{title}: {yes} of {len(mine)} supported", body, open=group == "feature"))
    # the answers are this kernel's: the plain-text fallback (compared by the
    # notebook tests as it is) lists what was probed, the table the answers
    text = "\n".join(f"{g:10} {n}" for g, n, _ in rows)
    return wrap("Kernel features", "".join(parts), text_fallback=text)


def features_dataframe(features: Features) -> Any:
    """One row per probe: group, name, support ("yes"/"no"/"unknown")."""
    from .._optional import require

    pd = require("pandas")
    return tidy(pd.DataFrame(features.rows(), columns=["group", "name", "support"]), categorical=("group", "support"))


def _value(value: Any) -> Any:
    if hasattr(value, "name") and isinstance(value, int):  # an IntEnum: show its name
        return f"{value.name.lower()} ({int(value)})"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value) if value else "—"
    return value


def info_html(info: Any) -> str:
    """A key/value table of a ProgInfo/MapInfo/LinkInfo/BtfInfo (``to_dict()``)."""
    pairs = [(k, _value(v)) for k, v in info.to_dict().items()]
    name = getattr(info, "name", "") or ""
    kind = type(info).__name__.removesuffix("Info").lower()
    title = f"{kind} {name!r}" if name else kind
    # kernel-assigned values are marked in the table and left out of the
    # plain-text fallback, so that stored notebook outputs stay comparable
    text = "\n".join(f"{k}: {v}" for k, v in pairs if k not in LIVE_FIELDS)
    return wrap(title, kv_table([(k, live(k, v)) for k, v in pairs]), text_fallback=text)
