"""The BTF binary layout, declared once: header, the common ``struct btf_type``, and what follows it per kind.

``include/uapi/linux/btf.h`` defines a 24-byte header and, for every type,
a 12-byte ``struct btf_type`` (``name_off``, ``info``, ``size``/``type``)
followed by a fixed part (``btf_int``'s encoding word, ``btf_array``,
``btf_var``, ``btf_decl_tag``) and/or ``vlen`` items (``btf_member``,
``btf_enum``, ``btf_param``, ``btf_var_secinfo``, ``btf_enum64``).  The
parser's record lengths and reference offsets, the writer's records and the
feature probes' hand-made blobs all come from :data:`LAYOUTS` (as
pyelftools' ``structs.py`` declares each ELF record once for readers and
writers alike), so they cannot disagree.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: ``BTF_KIND_*`` numbers (``include/uapi/linux/btf.h``); :class:`bpfnb.btf.Kind` is the enum over them.
(KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_FWD, KIND_TYPEDEF, KIND_VOLATILE,
 KIND_CONST, KIND_RESTRICT, KIND_FUNC, KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC, KIND_FLOAT, KIND_DECL_TAG,
 KIND_TYPE_TAG, KIND_ENUM64) = range(1, 20)

__all__ = ["BTF_MAGIC", "COMMON", "HEADER", "HEADER_SIZE", "LAYOUTS", "RecordLayout", "btf_blob", "int_data",
           "pack_info", "pack_record", "unpack_info"]

BTF_MAGIC = 0xEB9F
#: ``struct btf_header``: magic, version, flags, hdr_len, type_off, type_len, str_off, str_len.
HEADER = struct.Struct("<HBBIIIII")
HEADER_SIZE = HEADER.size
#: ``struct btf_type``: name_off, info (kind_flag << 31 | kind << 24 | vlen), size or type.
COMMON = struct.Struct("<III")


@dataclass(frozen=True)
class RecordLayout:
    """What follows the common header for one kind: a fixed part, then ``vlen`` items.

    Field names say which words are type ids (``"type"``, ``"index_type"``),
    for readers that gather references without decoding; ``common_is_type``
    says the common header's third word is a type id rather than a size.
    """

    kind: int
    name: str
    fixed: tuple[str, ...] = ()
    fixed_format: str = ""
    item: tuple[str, ...] = ()
    item_format: str = ""
    common_is_type: bool = False

    @property
    def fixed_struct(self) -> struct.Struct:
        return struct.Struct("<" + self.fixed_format)

    @property
    def item_struct(self) -> struct.Struct:
        return struct.Struct("<" + self.item_format)

    @property
    def fixed_words(self) -> int:
        return len(self.fixed)

    @property
    def item_words(self) -> int:
        return len(self.item)

    def words(self, vlen: int) -> int:
        """Length of a record of this kind in 4-byte words."""
        return 3 + self.fixed_words + self.item_words * vlen

    def first_reference(self) -> tuple[int, int] | None:
        """(word of the first type id in the record, words per item or 0 for one id), or None."""
        if "type" in self.item:
            return 3 + self.fixed_words + self.item.index("type"), self.item_words
        if "type" in self.fixed:
            return 3 + self.fixed.index("type"), 0
        return (2, 0) if self.common_is_type else None


_MEMBERS = dict(item=("name_off", "type", "offset"), item_format="III")  # btf_member
LAYOUTS: dict[int, RecordLayout] = {layout.kind: layout for layout in (
    # btf_int: encoding << 24 | offset << 16 | bits
    RecordLayout(KIND_INT, "INT", fixed=("encoding",), fixed_format="I"),
    RecordLayout(KIND_PTR, "PTR", common_is_type=True),
    RecordLayout(KIND_ARRAY, "ARRAY", fixed=("type", "index_type", "nelems"), fixed_format="III"),  # btf_array
    RecordLayout(KIND_STRUCT, "STRUCT", **_MEMBERS),
    RecordLayout(KIND_UNION, "UNION", **_MEMBERS),
    RecordLayout(KIND_ENUM, "ENUM", item=("name_off", "val"), item_format="II"),  # btf_enum (val read unsigned)
    RecordLayout(KIND_FWD, "FWD"),
    RecordLayout(KIND_TYPEDEF, "TYPEDEF", common_is_type=True),
    RecordLayout(KIND_VOLATILE, "VOLATILE", common_is_type=True),
    RecordLayout(KIND_CONST, "CONST", common_is_type=True),
    RecordLayout(KIND_RESTRICT, "RESTRICT", common_is_type=True),
    RecordLayout(KIND_FUNC, "FUNC", common_is_type=True),  # vlen is the linkage
    # btf_param; the common header's type is the return type
    RecordLayout(KIND_FUNC_PROTO, "FUNC_PROTO", item=("name_off", "type"), item_format="II"),
    RecordLayout(KIND_VAR, "VAR", fixed=("linkage",), fixed_format="I", common_is_type=True),  # btf_var
    RecordLayout(KIND_DATASEC, "DATASEC", item=("type", "offset", "size"), item_format="III"),  # btf_var_secinfo
    RecordLayout(KIND_FLOAT, "FLOAT"),
    # btf_decl_tag: -1 for the type itself, else a member or parameter index
    RecordLayout(KIND_DECL_TAG, "DECL_TAG", fixed=("component_idx",), fixed_format="i", common_is_type=True),
    RecordLayout(KIND_TYPE_TAG, "TYPE_TAG", common_is_type=True),
    RecordLayout(KIND_ENUM64, "ENUM64", item=("name_off", "val_lo32", "val_hi32"), item_format="III"),  # btf_enum64
)}


def pack_info(kind: int, vlen: int = 0, kflag: bool | int = False) -> int:
    """The ``info`` word of ``struct btf_type``."""
    return int(bool(kflag)) << 31 | int(kind) << 24 | vlen


def unpack_info(info: int) -> tuple[int, int, bool]:
    """(kind, vlen, kind_flag) of an ``info`` word (the kind as a plain int: it may be junk)."""
    return (info >> 24) & 0x1F, info & 0xFFFF, bool(info >> 31)


def int_data(encoding: int, offset: int, bits: int) -> int:
    """``btf_int``'s word: ``BTF_INT_ENCODING << 24 | BTF_INT_OFFSET << 16 | BTF_INT_BITS``."""
    return (encoding & 0xF) << 24 | (offset & 0xFF) << 16 | (bits & 0xFF)


def pack_record(kind: int, name_off: int, size_type: int = 0, *, kflag: bool | int = False,
                fixed: Sequence[int] = (), items: Iterable[Sequence[int]] = (), vlen: int | None = None) -> bytes:
    """One little-endian type record: common header, fixed part, items (``vlen`` defaults to their count).

    ``vlen`` is given where it is not a count (``FUNC``'s linkage).
    """
    layout = LAYOUTS[int(kind)]
    if len(fixed) != layout.fixed_words:
        raise ValueError(f"{layout.name} has {layout.fixed_words} fixed words ({', '.join(layout.fixed)}), "
                         f"not {len(fixed)}")
    rows = list(items)
    if rows and not layout.item:
        raise ValueError(f"{layout.name} records have no items")
    item = layout.item_struct if layout.item else None
    body = layout.fixed_struct.pack(*fixed) if fixed else b""
    body += b"".join(item.pack(*row) for row in rows) if item is not None else b""
    count = len(rows) if vlen is None else vlen
    return COMMON.pack(name_off, pack_info(kind, count, kflag), size_type & 0xFFFFFFFF) + body


def btf_blob(types: bytes, strings: bytes, byteorder: str = "<") -> bytes:
    """A whole BTF blob: header (version 1, no flags), the type section, the string section."""
    header = struct.pack(byteorder + HEADER.format.lstrip("<"), BTF_MAGIC, 1, 0, HEADER_SIZE, 0, len(types),
                         len(types), len(strings))
    return header + types + strings
