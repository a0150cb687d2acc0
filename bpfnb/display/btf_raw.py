"""``bpftool btf dump``'s raw lines for a whole BTF, formatted from numpy columns.

:func:`bpfnb.display.btf_dump.raw_lines` formats one type object.  Dumping
all of vmlinux that way first builds ~200k objects (types, members,
parameters), which costs more than formatting the 300k lines.  The kinds
that make up nearly all of vmlinux (functions and their prototypes,
pointers and qualifiers, structs and unions, arrays, enums) are formatted
here straight from the type section's words, one f-string per line; the
few others go through ``raw_lines``.  The text is the same
(``tests/test_btf_bulk.py`` compares the two, and the CLI tests compare
with bpftool).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..btf.btf import Btf
from ..btf.types import Kind

__all__ = ["raw_records"]

_LINKAGES = ("static", "global", "extern")
_REFERENCES = (Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG)


def _items(words: np.ndarray, word_starts: np.ndarray, vlens: np.ndarray, per: int) -> tuple[np.ndarray, list[int]]:
    """Word positions of the items of these records, and where each record's items end."""
    ends = np.cumsum(vlens)
    within = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - vlens, vlens)
    return np.repeat(word_starts + 3, vlens) + per * within, ends.tolist()


def _with_items(heads: list[str], items: list[str], ends: list[int]) -> list[str]:
    """Each record's head line followed by its item lines, as one text per record."""
    return ["\n".join([head, *items[start:end]]) for head, start, end in zip(heads, [0, *ends], ends)]


def raw_records(btf: Btf) -> Iterator[str] | None:
    """The raw dump of ``btf``'s own types, one text (its lines joined) per type in id order.

    ``None`` when something needs the careful path (an item name outside the
    string section, a linkage past ``extern``): type objects raise the
    error naming the type.
    """
    table, strings = btf._table, btf._strings
    words = np.frombuffer(table.words, dtype="<u4")
    word_starts = table.starts // 4
    kinds, vlens, size_type = table.kinds, table.vlens, table.size_type
    kflags = table.infos >> 31
    start_id = btf.start_id
    names = [text or "(anon)" for text in strings.strings_at(table.name_offs)]
    out = np.empty(len(kinds), dtype=object)
    done = np.zeros(len(kinds), dtype=bool)

    def rows_of(*wanted: Kind) -> np.ndarray:
        rows = np.flatnonzero(np.isin(kinds, [int(k) for k in wanted]))
        done[rows] = True
        return rows

    def common(rows: np.ndarray) -> tuple[list[int], list[str], list[int]]:
        index = rows.tolist()
        return [i + start_id for i in index], [names[i] for i in index], size_type[rows].tolist()

    def item_names(offsets: np.ndarray) -> list[str] | None:
        if len(offsets) and int(offsets.max()) >= strings.total:
            return None
        return [text or "(anon)" for text in strings.strings_at(offsets)]

    rows = rows_of(Kind.FUNC)
    linkage = vlens[rows]
    if len(rows) and int(linkage.max()) >= len(_LINKAGES):
        return None
    ids, nm, st = common(rows)
    out[rows] = [f"[{i}] FUNC '{n}' type_id={t} linkage={_LINKAGES[k]}"
                 for i, n, t, k in zip(ids, nm, st, linkage.tolist())]

    for kind in _REFERENCES:
        rows = rows_of(kind)
        ids, nm, st = common(rows)
        out[rows] = [f"[{i}] {kind.name} '{n}' type_id={t}" for i, n, t in zip(ids, nm, st)]

    rows = rows_of(Kind.ARRAY)
    ids, nm, _ = common(rows)
    elem, index, nelems = (words[word_starts[rows] + w].tolist() for w in (3, 4, 5))
    out[rows] = [f"[{i}] ARRAY '{n}' type_id={e} index_type_id={x} nr_elems={c}"
                 for i, n, e, x, c in zip(ids, nm, elem, index, nelems)]

    rows = rows_of(Kind.FUNC_PROTO)
    pos, ends = _items(words, word_starts[rows], vlens[rows], 2)
    p_names = item_names(words[pos])
    if p_names is None:
        return None
    items = [f"\t'{n}' type_id={t}" for n, t in zip(p_names, words[pos + 1].tolist())]
    ids, nm, st = common(rows)
    heads = [f"[{i}] FUNC_PROTO '{n}' ret_type_id={t} vlen={v}"
             for i, n, t, v in zip(ids, nm, st, vlens[rows].tolist())]
    out[rows] = _with_items(heads, items, ends)

    for kind in (Kind.STRUCT, Kind.UNION):
        rows = rows_of(kind)
        pos, ends = _items(words, word_starts[rows], vlens[rows], 3)
        m_names = item_names(words[pos])
        if m_names is None:
            return None
        offset = words[pos + 2]
        bitfield = np.repeat(kflags[rows], vlens[rows]).astype(bool)
        bits = np.where(bitfield, offset >> 24, 0).tolist()
        items = [f"\t'{n}' type_id={t} bits_offset={o}" + (f" bitfield_size={b}" if b else "")
                 for n, t, o, b in zip(m_names, words[pos + 1].tolist(),
                                       np.where(bitfield, offset & 0xFFFFFF, offset).tolist(), bits)]
        ids, nm, st = common(rows)
        heads = [f"[{i}] {kind.name} '{n}' size={s} vlen={v}" for i, n, s, v in zip(ids, nm, st, vlens[rows].tolist())]
        out[rows] = _with_items(heads, items, ends)

    rows = rows_of(Kind.ENUM)
    pos, ends = _items(words, word_starts[rows], vlens[rows], 2)
    v_names = item_names(words[pos])
    if v_names is None:
        return None
    signed = np.repeat(kflags[rows], vlens[rows]).astype(bool)
    values = np.where(signed, words[pos + 1].view(np.int32), words[pos + 1]).tolist()
    items = [f"\t'{n}' val={v}" for n, v in zip(v_names, values)]
    ids, nm, st = common(rows)
    heads = [f"[{i}] ENUM '{n}' encoding={'SIGNED' if k else 'UNSIGNED'} size={s} vlen={v}"
             for i, n, s, v, k in zip(ids, nm, st, vlens[rows].tolist(), kflags[rows].tolist())]
    out[rows] = _with_items(heads, items, ends)

    rest = np.flatnonzero(~done)  # the rare kinds: through the type objects
    if len(rest):
        from .btf_dump import raw_lines

        out[rest] = ["\n".join(raw_lines(btf, btf[i + start_id])) for i in rest.tolist()]
    return iter(out.tolist())
