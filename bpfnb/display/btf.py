"""Notebook views of BTF: summaries, member tables, DataFrames, type graphs.

Imported lazily by ``Btf``/type methods so the model loads without pandas or
graphviz.  Everything from the object file (type and member names) is escaped
by the table helpers; vmlinux-sized inputs are summarised, never listed whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._optional import require
from ..errors import BpfnbError
from .html import escape, fmt_count, kv_table, section, table, wrap
from .text import dot_label
from .tidy import tidy

if TYPE_CHECKING:
    import graphviz
    import pandas

    from ..btf.btf import Btf
    from ..btf.types import BtfType, Struct

__all__ = ["btf_dataframe", "btf_html", "members_dataframe", "type_graph", "type_html"]

#: Members shown in a type's table before "showing N of M".
MAX_MEMBERS = 200
#: Types previewed in a Btf's summary.
PREVIEW_TYPES = 50
#: Characters of C text shown before truncation.
MAX_C_CHARS = 20_000


def _safe_name(btf: Btf, type_id: int) -> str:
    try:
        return btf.name_of(type_id)
    except BpfnbError as exc:
        return f"<#{type_id}: {exc}>"


def _safe_size(btf: Btf, type_id: int) -> int | None:
    try:
        return btf.size_of(type_id)
    except BpfnbError:
        return None


def btf_html(btf: Btf) -> str:
    """Summary: source, ids, bytes, and a count per kind (bounded for vmlinux)."""
    counts = btf.kind_counts()
    own = len(btf) - btf.start_id
    pairs = [("source", btf.source or "(bytes)"), ("types", fmt_count(own)),
             ("type ids", f"{btf.start_id}..{len(btf) - 1}"),
             ("strings", f"{fmt_count(len(btf._strings.data))} bytes"),
             ("byte order", "little-endian" if btf.byteorder == "<" else "big-endian")]
    if btf.base is not None:
        pairs.append(("split over", f"{btf.base.source or 'base'} ({fmt_count(len(btf.base))} ids)"))
    kinds = table(["kind", "count"], [(k.name, fmt_count(c)) for k, c in sorted(counts.items())])
    body = kv_table(pairs) + section("kinds", kinds, count=len(counts))
    body += section("types", table(["id", "kind", "name", "size", "vlen"], _preview_rows(btf, PREVIEW_TYPES),
                                   total=own, max_rows=PREVIEW_TYPES, what="types"), count=own, open=False)
    title = f"BTF {btf.source or ''}".strip()
    return wrap(title, body, text_fallback=repr(btf))


def _preview_rows(btf: Btf, limit: int):
    """First rows of the type table, straight from the index columns (nothing decoded)."""
    from ..btf.types import Kind

    t = btf._table
    sized = {Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.DATASEC, Kind.FLOAT}
    for i in range(min(limit, len(t.starts))):
        kind = Kind(int(t.kinds[i]))
        off = int(t.name_offs[i])
        try:
            name = btf._strings.get(off) if off else ""
        except BpfnbError:
            name = f"<bad name offset {off}>"
        yield (btf.start_id + i, kind.name, name or "(anon)", int(t.size_type[i]) if kind in sized else None,
               int(t.vlens[i]))


def type_html(btf: Btf, t: BtfType) -> str:
    """A type as C text plus, for records, a member table."""
    from ..btf.types import Enum, Struct

    try:
        c_text = t.c_decl()
    except BpfnbError as exc:
        c_text = f"/* cannot render: {exc} */"
    if len(c_text) > MAX_C_CHARS:
        c_text = c_text[:MAX_C_CHARS] + f"\n/* ... {fmt_count(len(c_text) - MAX_C_CHARS)} more characters */"
    body = f"<pre>{escape(c_text)}</pre>"
    if isinstance(t, Struct):
        rows = (_member_row(btf, m) for m in t.members)
        body += section("members", table(["name", "type", "offset", "size", "bit offset", "bits"], rows,
                                         total=len(t.members), max_rows=MAX_MEMBERS, what="members"),
                        count=len(t.members))
    elif isinstance(t, Enum):
        rows = ((v.name, v.value, hex(v.value & ((1 << (8 * t.size)) - 1)) if t.size else "") for v in t.values)
        body += section("values", table(["name", "value", "hex"], rows, total=len(t.values), max_rows=MAX_MEMBERS,
                                        what="values"), count=len(t.values))
    title = f"{t.kind.name.lower()} {t.name or '(anon)'} #{t.id}"
    return wrap(title, body, text_fallback=c_text)


def _member_row(btf: Btf, m) -> tuple:
    size = None if m.bitfield_size else _safe_size(btf, m.type_id)
    return (m.name or "(anon)", _safe_name(btf, m.type_id), m.offset, size, m.bit_offset,
            m.bitfield_size or None)


def members_dataframe(btf: Btf, t: Struct) -> pandas.DataFrame:
    """One row per member: name, type, type_id, offset, size, bit_offset, bitfield_size."""
    pd = require("pandas")
    rows = [{"name": m.name, "type": _safe_name(btf, m.type_id), "type_id": m.type_id, "offset": m.offset,
             "size": _safe_size(btf, m.type_id) if not m.bitfield_size else None, "bit_offset": m.bit_offset,
             "bitfield_size": m.bitfield_size} for m in t.members]
    columns = ["name", "type", "type_id", "offset", "size", "bit_offset", "bitfield_size"]
    return tidy(pd.DataFrame(rows, columns=columns))


def btf_dataframe(btf: Btf) -> pandas.DataFrame:
    """One row per own type, built from the index columns (no type objects).

    ``size`` is the record's size word for kinds that have one (INT, STRUCT,
    UNION, ENUM, ENUM64, DATASEC, FLOAT), else missing.
    """
    pd = require("pandas")
    from ..btf.types import Kind

    table_ = btf._table
    kinds = table_.kinds
    sized = np.isin(kinds, [Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.DATASEC, Kind.FLOAT])
    offs = table_.name_offs
    try:
        names = btf._strings.strings_at(offs)
    except BpfnbError:  # a corrupt offset: fall back to one look-up per type, marking the bad ones
        names = []
        for off in offs.tolist():
            try:
                names.append(btf._strings.get(off) if off else "")
            except BpfnbError:
                names.append(f"<bad name offset {off}>")
    kind_names = np.array([k.name for k in Kind], dtype=object)
    frame = pd.DataFrame({
        "id": np.arange(btf.start_id, len(btf), dtype=np.int64),
        "kind": pd.Categorical(kind_names[kinds], categories=[k.name for k in Kind]),
        "name": names,
        "size": pd.array(np.where(sized, table_.size_type, 0).astype(np.int64), dtype="Int64"),
        "vlen": table_.vlens.astype(np.int64),
    })
    frame.loc[~sized, "size"] = pd.NA
    return frame.set_index("id")


#: Nodes a type graph draws by default: depth 1 of ``task_struct`` fits, depth 2 (about 300
#: types and 1,000 member edges) would be a wall of labels.
MAX_GRAPH_NODES = 100
#: Member names written on one edge before "+N more".
EDGE_NAMES = 3


def type_graph(btf: Btf, name: str | int, depth: int = 2, *, max_nodes: int | None = MAX_GRAPH_NODES) -> graphviz.Digraph:
    """Types reachable from ``name`` within ``depth`` named hops (modifiers are see-through).

    Breadth first, so the nearest types are the ones kept when ``max_nodes``
    cuts the graph; the graph's label then says how many were left out.
    Members of one type that refer to the same type share one edge whose
    label lists their names.
    """
    graphviz = require("graphviz")
    from ..btf.types import Array, Enum, FuncProto, Ptr, Struct, Typedef, Var

    root = name if isinstance(name, int) else btf.find(name).id
    dot = graphviz.Digraph(name=f"btf_{root}", graph_attr={"rankdir": "LR"},
                           node_attr={"shape": "box", "fontname": "monospace", "fontsize": "10"})

    def node_of(tid: int) -> int:
        """Skip anonymous modifiers/pointers/arrays to the named (or record) type."""
        for _ in range(64):
            try:
                t = btf[tid]
            except BpfnbError:  # a broken reference: drawn as the <#id: error> fallback node
                return tid
            if isinstance(t, (Ptr, Array)) or (isinstance(t, Typedef) and t.kind.name != "TYPEDEF"):
                tid = t.type_id
            else:
                return tid
        return tid

    def edges(t: BtfType) -> list[tuple[str, int]]:
        if isinstance(t, Struct):
            return [(m.name or "(anon)", m.type_id) for m in t.members]
        if isinstance(t, (Typedef, Var)):
            return [("", t.type_id)]
        if isinstance(t, FuncProto):
            return [("return", t.return_type_id)] + [(p.name, p.type_id) for p in t.params]
        if isinstance(t, Ptr):
            return [("*", t.type_id)]
        return []

    # breadth first: which types are reached at which level, and the edges between them
    level_of: dict[int, int] = {node_of(root): 0}
    order = [node_of(root)]
    links: dict[tuple[int, int], list[str]] = {}
    frontier = 0
    while frontier < len(order):
        tid = order[frontier]
        frontier += 1
        if level_of[tid] >= depth:
            continue
        try:
            t = btf[tid]
        except BpfnbError:
            continue
        for edge_label, target in edges(t):
            tgt = node_of(target)
            if tgt == 0:
                continue
            links.setdefault((tid, tgt), []).append(edge_label)
            if tgt not in level_of:
                level_of[tgt] = level_of[tid] + 1
                order.append(tgt)
    drawn = order if max_nodes is None else order[:max_nodes]
    shown = set(drawn)
    for tid in drawn:
        try:
            t = btf[tid]
        except BpfnbError:
            dot.node(str(tid), label=dot_label(_safe_name(btf, tid)), style="dashed")
            continue
        label = _safe_name(btf, tid) if tid else "void"
        if isinstance(t, Enum):
            label += f" ({len(t.values)} values)"
        dot.node(str(tid), label=dot_label(label))
    for (src, tgt), names in links.items():
        if src in shown and tgt in shown:
            named = [n for n in names if n]
            text = ", ".join(named[:EDGE_NAMES]) + (f" +{len(named) - EDGE_NAMES} more" if len(named) > EDGE_NAMES else "")
            dot.edge(str(src), str(tgt), label=dot_label(text))
    if len(drawn) < len(order):
        note = (f"showing {len(drawn):,} of {len(order):,} types within depth {depth} (the nearest first); "
                f"type_graph(..., max_nodes=None) draws them all")
        dot.attr(label=dot_label(note), labelloc="t", labeljust="l", fontname="monospace", fontsize="10")
    return dot


