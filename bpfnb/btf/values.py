"""Decode raw bytes into Python values through a BTF type.

Used wherever bytes meet a BTF type: initial values of global variables,
map keys and values.  The mapping is the one a notebook user expects:
integers as ``int`` (signedness from BTF), ``bool``, enums as their
member name when one matches, ``char`` arrays as ``str``, other arrays as
lists, structs and unions as dicts, pointers as addresses.  Bulk decoding
into numpy belongs elsewhere; this is the readable, per-value path.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from ..errors import BtfError
from .types import Array, Enum, Float, Int, IntEncoding, Kind, Ptr, Struct

if TYPE_CHECKING:
    from .btf import Btf

__all__ = ["decode_value"]

_MAX_DEPTH = 32


def decode_value(btf: Btf, type_id: int, data: bytes, *, depth: int = 0) -> Any:
    """Decode ``data`` (exactly the type's size, or longer) as ``type_id``."""
    if depth > _MAX_DEPTH:
        raise BtfError("type nesting too deep to decode", type_id=type_id)
    tid = btf.resolve(type_id)
    t = btf[tid]
    size = btf.size_of(tid)
    if len(data) < size:
        raise BtfError(f"{len(data)} bytes cannot hold {btf.name_of(type_id)} ({size} bytes)", type_id=type_id)
    if isinstance(t, Int):
        return _int(t, data)
    if isinstance(t, Enum):  # Enum64 too
        raw = int.from_bytes(data[: t.size], "little", signed=t.signed)
        return next((v.name for v in t.values if v.value == raw), raw)
    if isinstance(t, Ptr):
        return int.from_bytes(data[:8], "little")
    if isinstance(t, Float):
        fmt = {4: "<f", 8: "<d"}.get(t.size)
        return struct.unpack_from(fmt, data)[0] if fmt else data[: t.size].hex()
    if isinstance(t, Array):
        elem = btf.resolve(t.type_id)
        elem_size = btf.size_of(elem)
        et = btf[elem]
        if isinstance(et, Int) and elem_size == 1 and (et.encoding & IntEncoding.CHAR or et.name in ("char", "signed char", "unsigned char")):
            return data[: t.nelems].split(b"\0", 1)[0].decode("utf-8", "replace")
        return [decode_value(btf, elem, data[i * elem_size : (i + 1) * elem_size], depth=depth + 1) for i in range(t.nelems)]
    if isinstance(t, Struct):  # Union too
        out = {}
        for i, m in enumerate(t.members):
            name = m.name or f"<anon{i}>"
            if m.bitfield_size:
                word = int.from_bytes(data[: t.size], "little")
                out[name] = (word >> m.bit_offset) & ((1 << m.bitfield_size) - 1)
                continue
            start = m.bit_offset // 8
            msize = btf.size_of(m.type_id)
            out[name] = decode_value(btf, m.type_id, data[start : start + msize], depth=depth + 1)
        return out
    if t.kind in (Kind.FUNC_PROTO, Kind.FUNC, Kind.FWD, Kind.UNKN):
        return data[:size].hex()
    raise BtfError(f"cannot decode a value of kind {t.kind.name}", type_id=tid)


def _int(t: Int, data: bytes) -> int | bool:
    if t.encoding & IntEncoding.BOOL:
        return data[0] != 0
    raw = int.from_bytes(data[: t.size], "little", signed=bool(t.encoding & IntEncoding.SIGNED))
    if t.bits and t.bits < t.size * 8 or t.offset:
        raw = (raw >> t.offset) & ((1 << t.bits) - 1)
    return raw
