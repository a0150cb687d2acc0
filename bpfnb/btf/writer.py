"""BTF model → raw bytes: the inverse of :mod:`bpfnb.btf.parser`.

Needed to hand the kernel a sanitized copy of an object's BTF, and to build
synthetic (split) BTF for tests.  Two string-table policies:

* ``keep_strings=True`` (default for :func:`write_btf`) reuses the source
  blob's string section, so an unchanged ``Btf`` round-trips byte for byte;
* otherwise strings are laid out fresh, deduplicated in first-use order
  (the types then compare equal, the bytes need not).

For split BTF the builder numbers types after the base and prefers strings the
base already has, as the kernel and pahole do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import BtfError
from ..uapi.btf_layout import btf_blob, int_data, pack_record
from .parser import StringTable
from .recode import recode_records
from .types import (
    Array, BtfType, Datasec, DeclTag, Enum, Enum64, Float, Func, FuncProto, Fwd, Int, Kind, Ptr, Struct, Typedef, Var,
)

if TYPE_CHECKING:
    from .btf import Btf

__all__ = ["BtfBuilder", "write_btf", "write_types"]


def _first_offsets(table: StringTable, start: int) -> dict[str, int]:
    """Each string of ``table`` → the offset (plus ``start``) where it first occurs."""
    begins, texts = table._split()
    # dict() keeps the last value given for a key: feed it back to front
    return dict(zip(texts[::-1].tolist(), (begins[::-1] + start).tolist()))


class BtfBuilder:
    """Accumulates types and strings; ``to_bytes()`` emits a blob."""

    def __init__(self, *, base: Btf | None = None, strings: bytes | StringTable | None = None):
        self.base = base
        self._base_total = base._strings.total if base is not None else 0
        self._base_index: dict[str, int] | None = None
        self._strings = bytearray()
        self._index: dict[str, int] = {}
        if strings is not None:
            # a parsed Btf's own table: its split is reused, and names decoded from it are the
            # very string objects indexed here, so looking them up hashes nothing
            table = strings if isinstance(strings, StringTable) else StringTable(bytes(strings))
            self._strings += table.data
            self._index = _first_offsets(table, self._base_total)
        elif base is None:
            self._strings += b"\0"
            self._index[""] = 0
        self._types = bytearray()
        self.count = 0
        self.start_id = len(base) if base is not None else 1

    def _base_strings(self) -> dict[str, int]:
        if self._base_index is None:
            index: dict[str, int] = {}
            b = self.base
            chain = []
            while b is not None:
                chain.append(b._strings)
                b = b.base
            for table in reversed(chain):
                for text, off in _first_offsets(table, table.start).items():
                    index.setdefault(text, off)
            self._base_index = index
        return self._base_index

    def add_string(self, text: str) -> int:
        """Offset of ``text``, appending it when neither base nor we have it."""
        off = self._index.get(text)
        if off is not None:
            return off
        if self.base is not None:
            off = self._base_strings().get(text)
            if off is not None:
                return off
        if not text and self.base is not None and not self._strings:
            self._strings += b"\0"
            self._index[""] = self._base_total
            return self._base_total
        off = self._base_total + len(self._strings)
        self._strings += text.encode() + b"\0"
        self._index[text] = off
        return off

    def _name(self, text: str) -> int:
        return self.add_string(text) if text else 0

    def add(self, t: BtfType) -> int:
        """Append ``t``'s record; its ``id`` and the ids it refers to are not rewritten."""
        kind = t.kind
        kflag = 0
        vlen: int | None = None
        size_type = 0
        fixed: tuple[int, ...] = ()
        items: list[tuple[int, ...]] = []
        if isinstance(t, Int):
            size_type = t.size
            fixed = (int_data(int(t.encoding), t.offset, t.bits),)
        elif isinstance(t, Struct):
            size_type = t.size
            kflag = int(any(m.bitfield_size for m in t.members))
            for m in t.members:
                if kflag:
                    if m.bit_offset >= 1 << 24 or m.bitfield_size >= 256:
                        raise BtfError(f"member {m.name!r} offset/bitfield too large for kind_flag encoding",
                                       type_id=t.id)
                    off = m.bitfield_size << 24 | m.bit_offset
                else:
                    off = m.bit_offset
                items.append((self._name(m.name), m.type_id, off))
        elif isinstance(t, Enum64):
            size_type, kflag = t.size, int(t.signed)
            items = [(self._name(v.name), v.value & 0xFFFFFFFF, (v.value >> 32) & 0xFFFFFFFF) for v in t.values]
        elif isinstance(t, Enum):
            size_type, kflag = t.size, int(t.signed)
            items = [(self._name(v.name), v.value & 0xFFFFFFFF) for v in t.values]
        elif isinstance(t, Array):
            fixed = (t.type_id, t.index_type_id, t.nelems)
        elif isinstance(t, Fwd):
            kflag = int(t.is_union)
        elif isinstance(t, (Typedef, Ptr)):  # typedef, const, volatile, restrict, type_tag, ptr
            size_type = t.type_id
            kflag = int(getattr(t, "attribute", False))
        elif isinstance(t, Func):
            size_type, vlen = t.type_id, int(t.linkage)
        elif isinstance(t, FuncProto):
            size_type = t.return_type_id
            items = [(self._name(p.name), p.type_id) for p in t.params]
            if t.variadic:
                items.append((0, 0))
        elif isinstance(t, Var):
            size_type = t.type_id
            fixed = (int(t.linkage),)
        elif isinstance(t, Datasec):
            size_type = t.size
            items = [(v.type_id, v.offset, v.size) for v in t.vars]
        elif isinstance(t, Float):
            size_type = t.size
        elif isinstance(t, DeclTag):
            size_type = t.type_id
            kflag = int(t.attribute)
            fixed = (t.component_idx,)
        else:
            raise BtfError(f"cannot encode {type(t).__name__}", type_id=t.id)
        if (len(items) if vlen is None else vlen) > 0xFFFF:
            raise BtfError(f"{kind.name} has {len(items)} items (BTF allows 65535)", type_id=t.id)
        self._types += pack_record(kind, self._name(t.name), size_type, kflag=kflag, fixed=fixed, items=items,
                                   vlen=vlen)
        self.count += 1
        return self.start_id + self.count - 1

    def add_records(self, btf: Btf, first_id: int, stop_id: int) -> None:
        """Append ``btf``'s own types ``first_id``..``stop_id - 1`` as :meth:`add` would, without decoding them.

        Their ids must be this builder's next ones (they are not rewritten).
        The records are re-encoded over numpy columns (:mod:`bpfnb.btf.recode`);
        malformed ones are decoded one by one, which raises the error naming
        the type.
        """
        first, stop = first_id - btf.start_id, stop_id - btf.start_id
        data = recode_records(btf._table, btf._strings, first, stop, self._index.get, self.add_string)
        if data is None:
            for tid in range(first_id, stop_id):
                self.add(btf[tid])
            return
        self._types += data
        self.count += stop - first

    def to_bytes(self, byteorder: str = "<") -> bytes:
        """Header, type section, string section (``">"`` for big-endian)."""
        types = bytes(self._types)
        if byteorder == ">":
            import numpy as np

            types = np.frombuffer(types, dtype="<u4").astype(">u4").tobytes()
        return btf_blob(types, bytes(self._strings), byteorder)


def write_types(types: Iterable[BtfType], *, base: Btf | None = None, byteorder: str = "<") -> bytes:
    """Encode ``types`` in order (ids must already be ``start_id, start_id+1, ...``)."""
    b = BtfBuilder(base=base)
    for t in types:
        if t.kind == Kind.UNKN:
            continue
        b.add(t)
    return b.to_bytes(byteorder)


def write_btf(btf: Btf, *, keep_strings: bool = True, byteorder: str | None = None) -> bytes:
    """Serialise ``btf``'s own types (split BTF stays split over its base)."""
    b = BtfBuilder(base=btf.base, strings=btf._strings if keep_strings else None)
    b.add_records(btf, btf.start_id, len(btf))
    return b.to_bytes(byteorder or btf.byteorder)
