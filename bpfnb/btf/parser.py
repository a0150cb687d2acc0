"""Raw BTF blob → index arrays, and one record → one type object.

Why numpy: vmlinux has ~126k types, and creating a Python object per type
takes the better part of a second.  Parsing therefore only *finds* where each
record starts.  Records are variable-length (their size depends on kind and
``vlen``), so the starts form a chain.  Candidates are the words followed by
something that looks like an info word (a known kind); for every candidate at
once numpy computes where the next record would start, squares that jump
table a few times, and Python walks the chain 32 records per step.
Kinds, name offsets and sizes then come out of the words with fancy indexing.
Type objects are decoded one record at a time, on access, by :func:`decode`.

Every field of the type section is a 4-byte word, so big-endian blobs are
byte-swapped once into little-endian and handled by the same code.
"""

from __future__ import annotations

import array
import struct
from dataclasses import dataclass

import numpy as np

from ..errors import BtfError
from ..uapi.btf_layout import BTF_MAGIC, COMMON, HEADER, HEADER_SIZE, LAYOUTS
from .types import (
    Array, BtfType, Const, Datasec, DeclTag, Enum, Enum64, EnumValue, Float, Func, FuncProto, Fwd, Int,
    IntEncoding, Kind, Linkage, Member, Param, Ptr, Restrict, Struct, Typedef, TypeTag, Union, Var,
    VarSecinfo, Volatile,
)

__all__ = ["BTF_MAGIC", "HEADER_SIZE", "Header", "StringTable", "TypeTable", "check_scalars", "decode", "parse_header",
           "referenced_type_ids", "scan_types"]

MAX_KIND = int(Kind.ENUM64)

# words after the 3-word common header: fixed part, and per vlen item (from the one layout table)
_FIXED = {Kind(k): layout.fixed_words for k, layout in LAYOUTS.items() if layout.fixed_words}
_PER_ITEM = {Kind(k): layout.item_words for k, layout in LAYOUTS.items() if layout.item_words}

_DOUBLINGS = 5  # walk 2**5 records per Python iteration (measured best on vmlinux)
_BAD = 1 << 24  # a step that jumps past any type section: ends the chain on junk


def _step_tables() -> tuple[np.ndarray, np.ndarray]:
    """Record length in words, indexed by the info word's top byte (kind + flags)."""
    fixed = np.full(256, _BAD, dtype=np.int32)
    per = np.zeros(256, dtype=np.int32)
    for top in range(256):
        kind = top & 0x1F
        if top & 0x60 or not 1 <= kind <= MAX_KIND:
            continue
        fixed[top] = 3 + _FIXED.get(Kind(kind), 0)
        per[top] = _PER_ITEM.get(Kind(kind), 0)
    return fixed, per


_STEP_FIXED, _STEP_PER = _step_tables()


def record_words(info: int) -> int:
    """Length in words of a type record with this info word (``_BAD`` if junk)."""
    top = info >> 24
    return int(_STEP_FIXED[top] + _STEP_PER[top] * (info & 0xFFFF))


@dataclass(frozen=True, slots=True)
class Header:
    """``struct btf_header``; offsets are relative to the end of the header."""

    magic: int
    version: int
    flags: int
    hdr_len: int
    type_off: int
    type_len: int
    str_off: int
    str_len: int
    byteorder: str  # "<" or ">"

    @property
    def type_start(self) -> int:
        return self.hdr_len + self.type_off

    @property
    def str_start(self) -> int:
        return self.hdr_len + self.str_off


def parse_header(data: bytes) -> Header:
    """Read and bounds-check the header; raise :class:`BtfError` on anything odd."""
    if len(data) < HEADER_SIZE:
        raise BtfError(f"blob of {len(data)} bytes is shorter than the {HEADER_SIZE}-byte BTF header", offset=0)
    if data[0:2] == b"\x9f\xeb":
        order = "<"
    elif data[0:2] == b"\xeb\x9f":
        order = ">"
    else:
        raise BtfError(f"bad magic {data[0:2].hex()} (want 9feb little- or eb9f big-endian)", offset=0)
    magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        order + HEADER.format.lstrip("<"), data
    )
    hdr = Header(magic, version, flags, hdr_len, type_off, type_len, str_off, str_len, order)
    if version != 1:
        raise BtfError(f"unsupported BTF version {version}", offset=2)
    if hdr_len < HEADER_SIZE or hdr_len > len(data):
        raise BtfError(f"hdr_len {hdr_len} outside [{HEADER_SIZE}, {len(data)}]", offset=4)
    if any(data[HEADER_SIZE:hdr_len]):
        raise BtfError("unknown non-zero header fields past the known 24 bytes", offset=HEADER_SIZE)
    end = len(data)
    if type_off % 4 or type_len % 4:
        raise BtfError(f"type section (off {type_off}, len {type_len}) not 4-byte aligned", offset=8)
    if hdr.type_start + type_len > end:
        raise BtfError(f"type section [{hdr.type_start}, +{type_len}) runs past the {end}-byte blob", offset=8)
    if hdr.str_start + str_len > end:
        raise BtfError(f"string section [{hdr.str_start}, +{str_len}) runs past the {end}-byte blob", offset=16)
    if type_len and str_len and type_off < str_off + str_len and str_off < type_off + type_len:
        raise BtfError("type and string sections overlap", offset=8)
    return hdr


class StringTable:
    """The string section, chained to a base BTF's for split BTF."""

    __slots__ = ("data", "base", "start", "total", "_cache", "_parts")

    def __init__(self, data: bytes, base: StringTable | None = None):
        self.data = data
        self.base = base
        self.start = base.total if base is not None else 0
        self.total = self.start + len(data)
        self._cache: dict[int, str] = {}
        self._parts: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def check(cls, data: bytes, *, split: bool, offset: int) -> None:
        if data and data[-1] != 0:
            raise BtfError("string section is not NUL-terminated", offset=offset + len(data) - 1)
        if not split and (not data or data[0] != 0):
            raise BtfError("string section must start with an empty string", offset=offset)

    def get(self, off: int, type_id: int | None = None) -> str:
        """The NUL-terminated string at ``off`` (errors name the type asking)."""
        text = self._cache.get(off)
        if text is not None:
            return text
        if off < self.start:
            return self.base.get(off, type_id)  # type: ignore[union-attr]
        rel = off - self.start
        if rel >= len(self.data):
            raise BtfError(f"string offset {off} beyond string section ({self.total} bytes)", type_id=type_id)
        end = self.data.find(b"\0", rel)
        if end < 0:
            raise BtfError(f"string at offset {off} is not NUL-terminated", type_id=type_id)
        text = self.data[rel:end].decode("utf-8", "replace")
        self._cache[off] = text
        return text

    def _split(self) -> tuple[np.ndarray, np.ndarray]:
        """Where each string of this section begins, and its text (an object array), built once.

        The section is decoded in one call and split on NULs: a NUL byte is
        never part of a multi-byte UTF-8 sequence, so this gives the same
        strings as decoding each one with ``errors="replace"``.
        """
        if self._parts is None:
            nuls = np.flatnonzero(np.frombuffer(self.data, dtype=np.uint8) == 0)
            begins = np.zeros(len(nuls) + 1, dtype=np.int64)
            begins[1:] = nuls + 1
            texts = np.array(self.data.decode("utf-8", "replace").split("\0"), dtype=object)
            self._parts = (begins, texts)
        return self._parts

    def strings_at(self, offsets: np.ndarray) -> list[str]:
        """``get`` for many offsets at once (one split of the section, not one find each)."""
        offsets = np.asarray(offsets, dtype=np.int64)
        out: list[str] = [""] * len(offsets)
        own = offsets >= self.start
        if self.base is not None and (~own).any():
            idx = np.flatnonzero(~own)
            for i, text in zip(idx.tolist(), self.base.strings_at(offsets[idx])):
                out[i] = text
        if not own.any() or not self.data:
            return out
        begins, texts = self._split()
        idx = np.flatnonzero(own)
        rel = offsets[idx] - self.start
        pos = np.searchsorted(begins, rel, side="right") - 1
        exact = (rel < len(self.data)) & (begins[np.clip(pos, 0, None)] == rel)
        picked = texts[np.where(exact, pos, 0)]
        if exact.all() and len(idx) == len(offsets):
            return picked.tolist()
        for i, text in zip(idx.tolist(), picked.tolist()):
            out[i] = text
        for i, r in zip(idx[~exact].tolist(), rel[~exact].tolist()):
            out[i] = self.get(self.start + r)  # points into the middle of a string (legal, if odd)
        return out

    def matches(self, offsets: np.ndarray, name: str) -> np.ndarray:
        """Boolean mask: is the string at each offset exactly ``name``?

        Compares one byte position at a time over the shrinking set of
        survivors: one gather over all offsets, then a handful of tiny ones,
        instead of scanning the whole string section for every occurrence.
        Out-of-range reads are clipped onto the section's final NUL.
        """
        offsets = np.asarray(offsets)
        mask = np.zeros(len(offsets), dtype=bool)
        raw = name.encode() + b"\0"
        if len(raw) == 1 or not len(offsets):
            return mask
        if self.base is None:
            idx = np.arange(len(offsets))
            pos = offsets
        else:
            own = offsets >= self.start
            if not own.all():
                below = np.flatnonzero(~own)
                mask[below] = self.base.matches(offsets[below], name)
            idx = np.flatnonzero(own)
            pos = offsets[idx].astype(np.int64) - self.start
        if not self.data or not len(idx):
            return mask
        data = np.frombuffer(self.data, dtype=np.uint8)
        for k, byte in enumerate(raw):
            keep = np.flatnonzero(np.take(data, pos + k if k else pos, mode="clip") == byte)
            idx, pos = idx[keep], pos[keep]
            if not len(idx):
                return mask
        mask[idx] = True
        return mask

    def offsets_of(self, name: str) -> list[int]:
        """Every offset (in this table and its bases) whose string is exactly ``name``."""
        out = self.base.offsets_of(name) if self.base is not None else []
        raw = name.encode()
        if not raw:
            return out + ([self.start] if self.data[:1] == b"\0" else [])
        pat = b"\0" + raw + b"\0"
        data = self.data
        pos = data.find(pat)
        while pos >= 0:
            out.append(self.start + pos + 1)
            pos = data.find(pat, pos + 1)
        if data.startswith(raw + b"\0"):
            out.append(self.start)
        return out


@dataclass(frozen=True, slots=True)
class TypeTable:
    """Where each record starts, plus the columns views need, as numpy arrays.

    Index ``i`` describes type id ``start_id + i``.
    """

    words: bytes  # the type section, little-endian (bytes, never a memoryview: see scan_types)
    starts: np.ndarray  # int64 byte offsets of records
    kinds: np.ndarray  # uint8
    vlens: np.ndarray  # uint16 (int64)
    name_offs: np.ndarray  # uint32
    infos: np.ndarray  # uint32
    size_type: np.ndarray  # uint32: size or referenced type id


def _swap_words(data: bytes | memoryview) -> bytes:
    return np.frombuffer(data, dtype=">u4").astype("<u4").tobytes()


def scan_types(section: bytes | memoryview, *, big_endian: bool = False, offset: int = 0, start_id: int = 1) -> TypeTable:
    """Find every record of a type section without decoding any of them.

    ``section`` is copied to ``bytes`` when it is a view: the table outlives
    parsing, and a long-lived memoryview whose buffer is exported (to a numpy
    array, a ``struct.iter_unpack`` in a frame kept by a traceback) can crash
    the garbage collector when it clears a reference cycle (CPython gh-77894).
    """
    if big_endian:
        section = _swap_words(section)
    elif not isinstance(section, bytes):
        section = bytes(section)
    n = len(section) // 4
    words = np.frombuffer(section, dtype="<u4", count=n)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return TypeTable(section, empty, empty.astype(np.uint8), empty, empty.astype(np.uint32),
                         empty.astype(np.uint32), empty.astype(np.uint32))
    if n < 3:
        raise BtfError("type record header runs past the type section", type_id=start_id, offset=offset)
    # Candidates: word positions p whose word p+1 looks like an info word (known kind, no junk
    # flags).  Real records are among them; member/value words rarely are, so there are few.
    top = np.frombuffer(section, dtype=np.uint8)[7::4].copy()  # top byte of word p+1 (little-endian)
    # 1 <= kind <= MAX_KIND with bits 29-30 clear, kind_flag ignored, in uint8 arithmetic (wraps at 0)
    cand = np.flatnonzero((top & 0x7F) - np.uint8(1) < MAX_KIND).astype(np.int32)
    m = len(cand)
    if m == 0 or cand[0] != 0:
        info = int(words[1])
        raise BtfError(f"bad info word {info:#010x} (kind {(info >> 24) & 0x1F})", type_id=start_id, offset=offset)
    # where the record after each candidate would start, as a candidate index (m: none / the end)
    cand_info = np.take(words, cand + 1)
    cand_top = (cand_info >> 24).astype(np.uint8)
    after = (cand_info & 0xFFFF).astype(np.int32)  # vlen
    after *= np.take(_STEP_PER, cand_top)
    after += np.take(_STEP_FIXED, cand_top)
    after += cand
    index = np.full(n + 1, m, dtype=np.int32)
    index[cand] = np.arange(m, dtype=np.int32)
    nxt = np.empty(m + 1, dtype=np.int32)
    np.take(index, after, mode="clip", out=nxt[:m])
    nxt[m] = m
    # jump tables for 1, 2, 4, ... records; walk 2**_DOUBLINGS records per Python iteration,
    # then fill in the records in between with one gather per level
    jumps = [nxt]
    for _ in range(_DOUBLINGS):
        j = jumps[-1]
        jumps.append(np.take(j, j))
    found = array.array("i")
    append = found.append
    i = 0
    with memoryview(jumps[-1]) as walk:  # released here, whatever happens
        while i < m:
            append(i)
            i = walk[i]
    s = np.frombuffer(found, dtype=np.int32)
    for j in reversed(jumps[:-1]):
        wider = np.empty(2 * len(s), dtype=np.int32)
        wider[0::2] = s
        wider[1::2] = np.take(j, s)
        s = wider
    starts = cand[s[s < m]].astype(np.int64)
    # validate: no junk info bits, and the chain of records covers the section exactly
    infos = words[starts + 1]
    junk = (infos & 0x00FF0000) != 0
    if junk.any():
        idx = int(np.flatnonzero(junk)[0])
        raise BtfError(f"bad info word {int(infos[idx]):#010x} (unused bits set)",
                       type_id=start_id + idx, offset=offset + 4 * int(starts[idx]))
    last = int(starts[-1])
    last_end = last + record_words(int(infos[-1]))
    if last_end < n:  # the chain stopped at a record whose info word is not valid
        info = int(words[last_end + 1]) if last_end + 1 < n else 0
        raise BtfError(f"bad info word {info:#010x} (kind {(info >> 24) & 0x1F})",
                       type_id=start_id + len(starts), offset=offset + 4 * last_end)
    if last_end > n:
        raise BtfError(f"type record runs past the type section ({4 * last_end} > {4 * n} bytes)",
                       type_id=start_id + len(starts) - 1, offset=offset + 4 * last)
    tops = (infos >> 24).astype(np.uint8)
    return TypeTable(
        words=section,
        starts=starts * 4,
        kinds=tops & 0x1F,
        vlens=(infos & 0xFFFF).astype(np.int64),
        name_offs=words[starts],
        infos=infos,
        size_type=words[starts + 2],
    )


_FLOAT_SIZES = (2, 4, 8, 12, 16)
_ENUM_SIZES = (1, 2, 4, 8)


def check_scalars(table: TypeTable, *, start_id: int = 1, offset: int = 0) -> None:
    """The kernel's checks of scalar records (``btf_int_check_meta``, ``btf_float_check_meta``,
    ``btf_enum_check_meta``), vectorised over the type table.

    INT: size 1..16, ``bits`` <= 128 and ``offset + bits`` within the size;
    FLOAT: size 2, 4, 8, 12 or 16; ENUM/ENUM64: size 1, 2, 4 or 8.  Layouts,
    codecs and numpy then never see a scalar they cannot represent.  Costs
    one mask per kind (vmlinux has a few dozen INT/FLOAT records).
    """
    kinds = table.kinds
    sizes = table.size_type
    problems: list[tuple[int, str]] = []
    ints = np.flatnonzero(kinds == Kind.INT)
    if len(ints):
        words = np.frombuffer(table.words, dtype="<u4")
        data = words[table.starts[ints] // 4 + 3]
        bits = data & 0xFF
        shift = (data >> 16) & 0xFF
        size = sizes[ints].astype(np.int64)
        bad = (size < 1) | (size > 16) | (bits > 128) | (bits + shift > 128) | (bits + shift > 8 * size)
        for i in np.flatnonzero(bad)[:1].tolist():
            problems.append((int(ints[i]), f"INT of size {int(size[i])} with {int(bits[i])} bits at bit offset "
                             f"{int(shift[i])} (the kernel wants size 1..16, bits <= 128, offset + bits <= 8 * size)"))
    floats = np.flatnonzero(kinds == Kind.FLOAT)
    if len(floats):
        bad = ~np.isin(sizes[floats], _FLOAT_SIZES)
        for i in np.flatnonzero(bad)[:1].tolist():
            problems.append((int(floats[i]), f"FLOAT of size {int(sizes[floats[i]])} (the kernel wants 2, 4, 8, 12 or 16)"))
    enums = np.flatnonzero((kinds == Kind.ENUM) | (kinds == Kind.ENUM64))
    if len(enums):
        bad = ~np.isin(sizes[enums], _ENUM_SIZES)
        for i in np.flatnonzero(bad)[:1].tolist():
            problems.append((int(enums[i]), f"{Kind(int(kinds[enums[i]])).name} of size {int(sizes[enums[i]])} "
                             "(the kernel wants 1, 2, 4 or 8)"))
    if problems:
        index, message = min(problems)
        raise BtfError(message, type_id=start_id + index, offset=offset + int(table.starts[index]))


# kind -> (word offset of the first reference in the record, words per vlen item or 0 for one reference)
_REFS = {Kind(k): ref for k, layout in LAYOUTS.items() if (ref := layout.first_reference()) is not None}


def referenced_type_ids(table: TypeTable) -> np.ndarray:
    """All type ids referenced by any record, gathered with numpy (no decoding)."""
    words = np.frombuffer(table.words, dtype="<u4")
    word_starts = table.starts // 4
    parts = [table.size_type[table.kinds == Kind.FUNC_PROTO]]  # return types
    for kind, (first, per) in _REFS.items():
        sel = table.kinds == kind
        if not sel.any():
            continue
        base = word_starts[sel] + first
        if per == 0:
            parts.append(words[base])
            if kind == Kind.ARRAY:
                parts.append(words[base + 1])  # index type
            continue
        counts = table.vlens[sel]
        total = int(counts.sum())
        if not total:
            continue
        item = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        parts.append(words[np.repeat(base, counts) + per * item])
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint32)


_LINKAGES = tuple(Linkage)


def _linkage(value: int, type_id: int) -> Linkage:
    if value < len(_LINKAGES):
        return _LINKAGES[value]
    raise BtfError(f"unknown linkage {value}", type_id=type_id)


_COMMON = COMMON
_MEMBER = LAYOUTS[Kind.STRUCT].item_struct
_PARAM = LAYOUTS[Kind.FUNC_PROTO].item_struct
_ENUM_VALUE = LAYOUTS[Kind.ENUM].item_struct
_ENUM64_VALUE = LAYOUTS[Kind.ENUM64].item_struct
_SECINFO = LAYOUTS[Kind.DATASEC].item_struct
_INT_DATA = LAYOUTS[Kind.INT].fixed_struct
_ARRAY_DATA = LAYOUTS[Kind.ARRAY].fixed_struct
_VAR_DATA = LAYOUTS[Kind.VAR].fixed_struct
_DECL_TAG_DATA = LAYOUTS[Kind.DECL_TAG].fixed_struct

# plain ints: comparing against IntEnum members costs a method call per test
_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF, _VOLATILE, _CONST, _RESTRICT = range(1, 12)
_FUNC, _FUNC_PROTO, _VAR, _DATASEC, _FLOAT, _DECL_TAG, _TYPE_TAG, _ENUM64 = range(12, 20)
_WRAPPERS = {_PTR: Ptr, _TYPEDEF: Typedef, _CONST: Const, _VOLATILE: Volatile, _RESTRICT: Restrict}


def decode(table: TypeTable, index: int, type_id: int, strings: StringTable, btf: object = None,
           off: int | None = None) -> BtfType:
    """Decode record ``index`` of ``table`` into its dataclass (no cross-checks).

    ``off`` (the record's byte offset) saves a numpy scalar look-up when the
    caller already has the starts as a Python list.
    """
    buf = table.words
    if off is None:
        off = int(table.starts[index])
    name_off, info, st = _COMMON.unpack_from(buf, off)
    kind = (info >> 24) & 0x1F
    vlen = info & 0xFFFF
    kflag = info >> 31
    get = strings.get
    name = get(name_off, type_id) if name_off else ""
    p = off + _COMMON.size
    if kind == _FUNC:
        return Func(type_id, name, st, _linkage(vlen, type_id), btf)
    if kind == _FUNC_PROTO:
        params = [Param(get(p_name, type_id) if p_name else "", p_type)
                  for p_name, p_type in _PARAM.iter_unpack(buf[p : p + _PARAM.size * vlen])]
        variadic = bool(params) and params[-1].type_id == 0 and not params[-1].name
        if variadic:
            params.pop()
        return FuncProto(type_id, name, st, tuple(params), variadic, btf)
    wrapper = _WRAPPERS.get(kind)
    if wrapper is not None:
        return wrapper(type_id, name, st, btf)
    if kind == _STRUCT or kind == _UNION:
        if kflag:
            members = tuple(Member(get(m_name, type_id) if m_name else "", m_type, m_off & 0xFFFFFF, m_off >> 24)
                            for m_name, m_type, m_off in _MEMBER.iter_unpack(buf[p : p + _MEMBER.size * vlen]))
        else:
            members = tuple(Member(get(m_name, type_id) if m_name else "", m_type, m_off, 0)
                            for m_name, m_type, m_off in _MEMBER.iter_unpack(buf[p : p + _MEMBER.size * vlen]))
        return (Struct if kind == _STRUCT else Union)(type_id, name, st, members, btf)
    if kind == _INT:
        (x,) = _INT_DATA.unpack_from(buf, p)
        return Int(type_id, name, st, IntEncoding((x >> 24) & 0x0F), (x >> 16) & 0xFF, x & 0xFF, btf)
    if kind == _ARRAY:
        elem, index_type, nelems = _ARRAY_DATA.unpack_from(buf, p)
        return Array(type_id, name, elem, index_type, nelems, btf)
    if kind == _ENUM:
        values = []
        for v_name, v in _ENUM_VALUE.iter_unpack(buf[p : p + _ENUM_VALUE.size * vlen]):
            if kflag and v >= 1 << 31:
                v -= 1 << 32
            values.append(EnumValue(get(v_name, type_id) if v_name else "", v))
        return Enum(type_id, name, st, bool(kflag), tuple(values), btf)
    if kind == _ENUM64:
        values = []
        for v_name, lo, hi in _ENUM64_VALUE.iter_unpack(buf[p : p + _ENUM64_VALUE.size * vlen]):
            v = hi << 32 | lo
            if kflag and v >= 1 << 63:
                v -= 1 << 64
            values.append(EnumValue(get(v_name, type_id) if v_name else "", v))
        return Enum64(type_id, name, st, bool(kflag), tuple(values), btf)
    if kind == _TYPE_TAG:
        return TypeTag(type_id, name, st, btf, attribute=bool(kflag))
    if kind == _FWD:
        return Fwd(type_id, name, bool(kflag), btf)
    if kind == _VAR:
        (linkage,) = _VAR_DATA.unpack_from(buf, p)
        return Var(type_id, name, st, _linkage(linkage, type_id), btf)
    if kind == _DATASEC:
        vars_ = tuple(VarSecinfo(*v) for v in _SECINFO.iter_unpack(buf[p : p + _SECINFO.size * vlen]))
        return Datasec(type_id, name, st, vars_, btf)
    if kind == _FLOAT:
        return Float(type_id, name, st, btf)
    if kind == _DECL_TAG:
        (idx,) = _DECL_TAG_DATA.unpack_from(buf, p)
        return DeclTag(type_id, name, st, idx, btf, attribute=bool(kflag))
    raise BtfError(f"unknown kind {kind}", type_id=type_id)  # scan_types rejects these first
