"""Re-encode parsed records without decoding them: the writer's fast path.

Writing a parsed ``Btf`` back (``write_btf``, and the fix-up and sanitize
passes, which replace a few records and keep the rest) used to decode every
record into objects and encode each object again: for vmlinux, three
seconds spent reproducing words that are nearly all unchanged.  Encoding a
decoded record changes only a few things, all expressible over numpy
columns of the type section:

* names: a name is written as the offset of the *first* string with its
  text (``""`` as 0), appending the text when the section lacks it (an
  offset into the middle of a string);
* the ``info`` word keeps kind and ``vlen`` (``FUNC``'s linkage is its
  ``vlen``); ``kind_flag`` survives where the model keeps it (``FWD``,
  ``ENUM``/``ENUM64``, ``TYPE_TAG``, ``DECL_TAG``), is set on a struct or
  union only if a member is a bitfield, and is cleared elsewhere;
* fields the model does not keep are written as 0: the size word of
  ``ARRAY`` and ``FWD``, and the unused bits of ``INT``'s encoding word.

Member offsets, enumerator values, parameter and variable words come out as
they went in.  :func:`recode_records` gives the bytes
``BtfBuilder.add(btf[id])`` would give for each record of a range
(``tests/test_btf_bulk.py`` compares the two); where decoding would refuse
a record (a linkage past ``extern``, an item name outside the string
section) it returns ``None`` and the caller takes the careful path, which
raises the error naming the type.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .parser import StringTable, TypeTable
from .types import Kind

__all__ = ["recode_records"]

# kinds whose kind_flag the model keeps as is (is_union, signed, attribute)
_KEEP_FLAG = (Kind.FWD, Kind.ENUM, Kind.ENUM64, Kind.TYPE_TAG, Kind.DECL_TAG)
# item layout per kind with items: (words per item, word of the item's name or -1)
_ITEMS = {Kind.STRUCT: (3, 0), Kind.UNION: (3, 0), Kind.ENUM: (2, 0), Kind.ENUM64: (3, 0),
          Kind.FUNC_PROTO: (2, 0), Kind.DATASEC: (3, -1)}
_FIXED_WORDS = {Kind.INT: 1, Kind.ARRAY: 3, Kind.VAR: 1, Kind.DECL_TAG: 1}
_MAX_LINKAGE = 2  # Linkage.EXTERN


def _item_positions(word_starts: np.ndarray, vlens: np.ndarray, first: int, per: int) -> np.ndarray:
    """Word position of every item of these records (items start ``first`` words in)."""
    ends = np.cumsum(vlens)
    within = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - vlens, vlens)
    return np.repeat(word_starts + first, vlens) + per * within


def recode_records(table: TypeTable, strings: StringTable, first: int, stop: int,
                   known: Callable[[str], int | None], add_string: Callable[[str], int]) -> bytes | None:
    """Records ``first``..``stop - 1`` of ``table`` as the writer encodes their decoded types.

    ``known`` and ``add_string`` are the builder's: the offset of a text it
    already has (or ``None``), and the offset of any text, appended if new.
    Little-endian, like the table.  ``None``: decode record by record instead.
    """
    if first >= stop:
        return b""
    starts = table.starts[first:stop] // 4
    end_word = int(table.starts[stop]) // 4 if stop < len(table.starts) else len(table.words) // 4
    words = np.frombuffer(table.words, dtype="<u4")[int(starts[0]):end_word].copy()
    starts = starts - starts[0]
    kinds = table.kinds[first:stop]
    vlens = table.vlens[first:stop]
    infos = words[starts + 1]

    for kind in (Kind.FUNC, Kind.VAR):  # linkages decoding refuses
        rows = np.flatnonzero(kinds == kind)
        linkage = vlens[rows] if kind == Kind.FUNC else words[starts[rows] + 3]
        if len(rows) and int(linkage.max()) > _MAX_LINKAGE:
            return None

    name_pos = [starts]
    flag = np.isin(kinds, _KEEP_FLAG) & (infos >> 31 == 1)
    for kind, (per, name_word) in _ITEMS.items():
        rows = np.flatnonzero(kinds == kind)
        if not len(rows):
            continue
        fixed = _FIXED_WORDS.get(kind, 0)
        pos = _item_positions(starts[rows], vlens[rows], 3 + fixed, per)
        if name_word >= 0:
            name_pos.append(pos + name_word)
        if kind in (Kind.STRUCT, Kind.UNION):  # kind_flag only when a member has a bitfield size
            bits = np.repeat(infos[rows] >> 31 == 1, vlens[rows]) & (words[pos + 2] >> 24 != 0)
            seen = np.concatenate(([0], np.cumsum(bits)))
            ends = np.cumsum(vlens[rows])
            flag[rows] = seen[ends] > seen[ends - vlens[rows]]
    type_ends = np.append(starts[1:], len(words))
    if not _rename(words, np.concatenate(name_pos), type_ends, strings, known, add_string):
        return None

    keeps_vlen = np.isin(kinds, tuple(_ITEMS) + (Kind.FUNC,))
    words[starts + 1] = (flag.astype(np.uint32) << 31) | (kinds.astype(np.uint32) << 24) \
        | np.where(keeps_vlen, vlens, 0).astype(np.uint32)
    unsized = np.flatnonzero((kinds == Kind.ARRAY) | (kinds == Kind.FWD))
    words[starts[unsized] + 2] = 0
    ints = np.flatnonzero(kinds == Kind.INT)
    words[starts[ints] + 3] &= 0x0FFF00FF  # encoding (4 bits), offset, bits: what btf_int keeps
    return words.tobytes()


def _rename(words: np.ndarray, name_pos: np.ndarray, type_ends: np.ndarray, strings: StringTable,
            known: Callable[[str], int | None], add_string: Callable[[str], int]) -> bool:
    """Rewrite every name word in place as the writer would; False if an offset is outside the strings.

    ``name_pos`` holds the types' name words first (one per type, whose
    records end at ``type_ends``), then the items'.  ``known`` looks a text
    up in the builder's strings; the others go through ``add_string``.
    """
    n_types = len(type_ends)
    offsets = words[name_pos]
    if len(offsets) > n_types and int(offsets[n_types:].max()) >= strings.total:
        return False  # item names (type names were checked when parsing)
    # New strings are appended in the order the writer meets them: a record's
    # items, then its own name (BtfBuilder.add names the type last).
    met = np.concatenate((2 * type_ends - 1, 2 * name_pos[n_types:]))
    unique, first_use = np.unique(offsets[np.argsort(met, kind="stable")], return_index=True)
    by_use = np.argsort(first_use, kind="stable")
    texts = strings.strings_at(unique[by_use])
    found = [known(text) if text else 0 for text in texts]  # "" is written as offset 0
    for i in [i for i, off in enumerate(found) if off is None]:
        found[i] = add_string(texts[i])
    new = np.empty(len(unique), dtype=np.uint32)
    new[by_use] = found
    words[name_pos] = new[np.searchsorted(unique, offsets)]
    return True
