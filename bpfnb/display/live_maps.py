"""View of a typed live map: what it is, how it decodes, a bounded preview of its entries.

The preview reads at most ``max_rows`` entries (one batch call), never the
whole map, and is skipped for maps where reading changes them (queues and
stacks pop, ring buffers consume) or that cannot be read (bloom filters,
perf event arrays).  The id is kernel-assigned (``Live``); entries are
whatever the kernel holds now, so a notebook comparing outputs should show
derived, deterministic facts instead of this view of a map programs write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .html import Raw, escape, kv_table, live, section, wrap

if TYPE_CHECKING:
    from ..maps.typed import TypedMap

__all__ = ["typed_map_html"]

#: Classes whose entries a view must not read (reading pops/consumes, or is impossible).
_NO_PREVIEW = ("Queue", "Stack", "BloomFilter", "RingBuf", "PerfEventArray")


def _type_label(value: Any) -> str:
    return f"{value.name.lower()} ({int(value)})" if hasattr(value, "name") else str(value)


def _preview(m: TypedMap, max_rows: int) -> str:
    from ..maps.bulk import read_head

    entries = read_head(m.raw, max_rows)
    df = m.frame_from_entries(entries)
    html = df.head(max_rows).to_html(index=False, max_cols=24, border=0)
    more = ""
    if entries.count >= max_rows:
        more = f'<div class="bpfnb-note">showing the first {max_rows} entries; to_dataframe() reads them all</div>'
    return Raw(html + more)


def typed_map_html(m: TypedMap, *, max_rows: int = 20) -> str:
    c = m.codecs
    pairs: list[tuple[str, Any]] = [
        ("kind", f"{type(m).__name__} — {_type_label(m.map_type)}"),
        ("key", f"{c.key.name} ({m.key_size} B)"),
        ("value", f"{c.value.name} ({m.value_size} B)" + (f" × {c.ncpus} CPUs" if c.ncpus else "")),
        ("types from", {"object": "the object's BTF", "kernel": "the kernel's BTF for the map",
                        "map type": "the map type", "raw": "nothing: raw bytes"}.get(c.source, c.source)),
        ("max_entries", f"{m.max_entries:,}"),
    ]
    if m.closed:
        pairs.append(("state", "closed"))
        return wrap(f"map {m.name!r}", kv_table(pairs), text_fallback=repr(m))
    pairs.append(("id", live("id", m.id)))
    if m.raw.pinned:
        pairs.append(("pinned at", m.raw.pinned))
    body = kv_table(pairs)
    if type(m).__name__ not in _NO_PREVIEW:
        try:
            body += section("entries", _preview(m, max_rows), open=True)
        except Exception as exc:  # a view must not raise
            body += f'<div class="bpfnb-err">cannot read entries: {escape(exc)}</div>'
    return wrap(f"map {m.name!r}", body, text_fallback=repr(m))
