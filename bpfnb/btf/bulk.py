"""Every record of a type table → its type object, one kind at a time.

:func:`bpfnb.btf.parser.decode` reads one record: a ``struct`` unpack, a
kind dispatch and a string look-up per name.  Materialising all of vmlinux
(126k types, 170k members, parameters and enumerators) that way costs over
a second, most of it in that per-record overhead rather than in building
the objects.  Here the fields of all records of one kind come out of the
type section as numpy columns, every name (types' and items') comes from one
vectorised string look-up, and the objects are built by ``map`` over the
columns, so Python code runs per object, not per field.

The result equals what :func:`~bpfnb.btf.parser.decode` gives record by
record (``tests/test_btf_bulk.py`` compares them).  Checks that decoding
makes one record at a time (linkage values, item name offsets) are made
here over whole columns; when one fails, :func:`decode_all` returns
``None`` and the caller decodes record by record, which raises the
:class:`~bpfnb.errors.BtfError` naming the first bad type.
"""

from __future__ import annotations

from collections.abc import Collection
from itertools import repeat

import numpy as np

from .._gc import paused_gc
from .parser import StringTable, TypeTable
from .types import (
    Array, BtfType, Const, Datasec, DeclTag, Enum, Enum64, EnumValue, Float, Func, FuncProto, Fwd, Int,
    IntEncoding, Kind, Linkage, Member, Param, Ptr, Restrict, Struct, Typedef, TypeTag, Union, Var, VarSecinfo,
    Volatile,
)

__all__ = ["decode_all"]

_LINKAGES = tuple(Linkage)
# kinds whose record is the common header only, and whose third word is a type id
_REFERENCES = {Kind.PTR: Ptr, Kind.TYPEDEF: Typedef, Kind.VOLATILE: Volatile, Kind.CONST: Const,
               Kind.RESTRICT: Restrict}


class _Columns:
    """The type section as words, with helpers to gather fields of one kind's records."""

    def __init__(self, table: TypeTable, strings: StringTable, start_id: int):
        self.words = np.frombuffer(table.words, dtype="<u4")
        self.word_starts = table.starts // 4
        self.table = table
        self.strings = strings
        self.start_id = start_id
        self.names = np.array(strings.strings_at(table.name_offs), dtype=object)  # every type's name, by index

    def rows(self, kind: Kind) -> np.ndarray:
        return np.flatnonzero(self.table.kinds == kind)

    def fixed(self, rows: np.ndarray, word: int) -> np.ndarray:
        """Word ``word`` (counted from the record start) of each record in ``rows``."""
        return self.words[self.word_starts[rows] + word]

    def items(self, rows: np.ndarray, first: int, per: int) -> tuple[np.ndarray, list[int]]:
        """Word positions of every ``vlen`` item of ``rows``, and where each record's items end."""
        counts = self.table.vlens[rows]
        ends = np.cumsum(counts)
        within = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - counts, counts)
        return np.repeat(self.word_starts[rows] + first, counts) + per * within, ends.tolist()

    def item_names(self, offsets: np.ndarray) -> list[str] | None:
        """Names of items; ``None`` when an offset lies outside the string section."""
        if len(offsets) and int(offsets.max()) >= self.strings.total:
            return None
        return self.strings.strings_at(offsets)


def _grouped(values: list, ends: list[int], cut: list[int] | None = None) -> list[tuple]:
    """``values`` cut into one tuple per record (``ends`` from :meth:`_Columns.items`),
    leaving out the last ``cut[i]`` items of record ``i``."""
    if cut is None:
        return [tuple(values[start:end]) for start, end in zip([0, *ends], ends)]
    return [tuple(values[start:end - c]) for start, end, c in zip([0, *ends], ends, cut)]


def _shared_params(name_offs: np.ndarray, types: np.ndarray, names: list[str]) -> list[Param]:
    """One ``Param`` per parameter, equal ones shared (immutable): vmlinux's 83k parameters are
    20k distinct (name, type) pairs, and building objects is what bulk decoding spends most on."""
    keys = name_offs.astype(np.uint64) << np.uint64(32) | types
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    first_list = first.tolist()
    shared = np.empty(len(unique), dtype=object)
    shared[:] = list(map(Param, [names[i] for i in first_list], types[first].tolist()))
    return shared[inverse].tolist()


def decode_all(table: TypeTable, strings: StringTable, start_id: int, btf: object = None,
               kinds: Collection[Kind] | None = None) -> dict[int, BtfType] | None:
    """All records of ``table`` (of ``kinds``, default every kind) as type objects, by type id;
    ``None`` if a record needs the careful decoder."""
    with paused_gc():
        return _decode_all(table, strings, start_id, btf, None if kinds is None else frozenset(map(Kind, kinds)))


def _decode_all(table: TypeTable, strings: StringTable, start_id: int, btf: object,
                only: frozenset[Kind] | None) -> dict[int, BtfType] | None:
    n = len(table.starts)
    cols = _Columns(table, strings, start_id)
    decoded: dict[int, BtfType] = {}
    names = cols.names
    size_type = table.size_type
    vlens = table.vlens
    kflags = table.infos >> 31

    def place(ids: list[int], objects) -> None:
        decoded.update(zip(ids, objects))

    def want(kind: Kind) -> bool:
        return only is None or kind in only

    def common(rows: np.ndarray) -> tuple[list[int], list[str], list[int]]:
        """ids, names and the size/type word of ``rows``."""
        return (rows + start_id).tolist(), names[rows].tolist(), size_type[rows].tolist()

    for kind, cls in _REFERENCES.items():
        if not want(kind):
            continue
        rows = cols.rows(kind)
        ids, nm, st = common(rows)
        place(ids, map(cls, ids, nm, st, repeat(btf)))

    if want(Kind.TYPE_TAG):
        rows = cols.rows(Kind.TYPE_TAG)
        ids, nm, st = common(rows)
        place(ids, map(TypeTag, ids, nm, st, repeat(btf), kflags[rows].astype(bool).tolist()))

    if want(Kind.FUNC):
        rows = cols.rows(Kind.FUNC)
        if len(rows) and int(vlens[rows].max()) >= len(_LINKAGES):
            return None
        ids, nm, st = common(rows)
        place(ids, map(Func, ids, nm, st, map(_LINKAGES.__getitem__, vlens[rows].tolist()), repeat(btf)))

    if want(Kind.VAR):
        rows = cols.rows(Kind.VAR)
        linkage = cols.fixed(rows, 3)
        if len(rows) and int(linkage.max()) >= len(_LINKAGES):
            return None
        ids, nm, st = common(rows)
        place(ids, map(Var, ids, nm, st, map(_LINKAGES.__getitem__, linkage.tolist()), repeat(btf)))

    if want(Kind.INT):
        rows = cols.rows(Kind.INT)
        data = cols.fixed(rows, 3)
        ids, nm, st = common(rows)
        place(ids, map(Int, ids, nm, st, map(IntEncoding, ((data >> 24) & 0x0F).tolist()),
                        ((data >> 16) & 0xFF).tolist(), (data & 0xFF).tolist(), repeat(btf)))

    if want(Kind.ARRAY):
        rows = cols.rows(Kind.ARRAY)
        ids, nm, _ = common(rows)
        place(ids, map(Array, ids, nm, cols.fixed(rows, 3).tolist(), cols.fixed(rows, 4).tolist(),
                        cols.fixed(rows, 5).tolist(), repeat(btf)))

    if want(Kind.FWD):
        rows = cols.rows(Kind.FWD)
        ids, nm, _ = common(rows)
        place(ids, map(Fwd, ids, nm, kflags[rows].astype(bool).tolist(), repeat(btf)))

    if want(Kind.FLOAT):
        rows = cols.rows(Kind.FLOAT)
        ids, nm, st = common(rows)
        place(ids, map(Float, ids, nm, st, repeat(btf)))

    if want(Kind.DECL_TAG):
        rows = cols.rows(Kind.DECL_TAG)
        ids, nm, st = common(rows)
        place(ids, map(DeclTag, ids, nm, st, cols.fixed(rows, 3).view(np.int32).tolist(), repeat(btf),
                        kflags[rows].astype(bool).tolist()))

    for kind, cls in ((Kind.STRUCT, Struct), (Kind.UNION, Union)):
        if not want(kind):
            continue
        rows = cols.rows(kind)
        pos, ends = cols.items(rows, 3, 3)
        m_names = cols.item_names(cols.words[pos])
        if m_names is None:
            return None
        offset = cols.words[pos + 2]
        bitfield = np.repeat(kflags[rows], vlens[rows]).astype(bool)
        members = list(map(Member, m_names, cols.words[pos + 1].tolist(),
                           np.where(bitfield, offset & 0xFFFFFF, offset).tolist(),
                           np.where(bitfield, offset >> 24, 0).tolist()))
        ids, nm, st = common(rows)
        place(ids, map(cls, ids, nm, st, _grouped(members, ends), repeat(btf)))

    if want(Kind.FUNC_PROTO):
        rows = cols.rows(Kind.FUNC_PROTO)
        pos, ends = cols.items(rows, 3, 2)
        p_names = cols.item_names(cols.words[pos])
        if p_names is None:
            return None
        p_types = cols.words[pos + 1]
        # a trailing unnamed (void) parameter means "..."
        last = np.asarray(ends, dtype=np.int64) - 1
        variadic = vlens[rows] > 0
        if variadic.any():
            variadic[variadic] = p_types[last[variadic]] == 0
            variadic[variadic] = [not p_names[i] for i in last[variadic].tolist()]
        params = _grouped(_shared_params(cols.words[pos], p_types, p_names), ends, variadic.astype(int).tolist())
        ids, nm, st = common(rows)
        place(ids, map(FuncProto, ids, nm, st, params, variadic.tolist(), repeat(btf)))

    for kind, cls, per in ((Kind.ENUM, Enum, 2), (Kind.ENUM64, Enum64, 3)):
        if not want(kind):
            continue
        rows = cols.rows(kind)
        pos, ends = cols.items(rows, 3, per)
        v_names = cols.item_names(cols.words[pos])
        if v_names is None:
            return None
        signed = np.repeat(kflags[rows], vlens[rows]).astype(bool)
        low = cols.words[pos + 1]
        if kind == Kind.ENUM:  # kind_flag: the 32-bit value is signed
            picked = np.where(signed, low.view(np.int32), low).tolist()
        else:  # 64-bit values, unsigned ones beyond int64: Python ints
            value = cols.words[pos + 2].astype(np.uint64) << np.uint64(32) | low
            picked = [v if s else u for s, v, u in zip(signed.tolist(), value.view(np.int64).tolist(), value.tolist())]
        enum_values = _grouped(list(map(EnumValue, v_names, picked)), ends)
        ids, nm, st = common(rows)
        place(ids, map(cls, ids, nm, st, kflags[rows].astype(bool).tolist(), enum_values, repeat(btf)))

    if want(Kind.DATASEC):
        rows = cols.rows(Kind.DATASEC)
        pos, ends = cols.items(rows, 3, 3)
        secinfo = list(map(VarSecinfo, cols.words[pos].tolist(), cols.words[pos + 1].tolist(),
                           cols.words[pos + 2].tolist()))
        ids, nm, st = common(rows)
        place(ids, map(Datasec, ids, nm, st, _grouped(secinfo, ends), repeat(btf)))

    if only is None and len(decoded) != n:  # a kind this module does not know: scan_types rejects those first
        return None
    return decoded
