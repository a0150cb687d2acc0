"""``.BTF.ext``: per-section func_info, line_info and CO-RE relocation records.

Layout (Documentation/bpf/btf.rst, "BTF Ext Section"): a header with the
offset/length of up to three sub-sections; each sub-section is a record size
followed by groups ``{section name offset, record count, records...}``.
Record sizes come from the file, so newer producers may append fields: we
read the fields we know and step by the declared size.  Names and file/line
text live in the ``.BTF`` string table, hence ``BtfExt.from_bytes(data, btf)``.

Instruction offsets are kept as in the object file (bytes from the start of
the ELF section); ``insn_index`` divides by the 8-byte instruction size.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..errors import BtfError
from ..uapi import CoreReloKind

if TYPE_CHECKING:
    from .btf import Btf

__all__ = ["BTF_EXT_MAGIC", "BtfExt", "CoreRelo", "ExtHeader", "FuncInfo", "LineInfo"]

BTF_EXT_MAGIC = 0xEB9F
_MIN_HDR = 24  # up to line_info; 32 with core relos
_MIN_REC = {"func_info": 8, "line_info": 16, "core_relo": 16}


@dataclass(frozen=True, slots=True)
class ExtHeader:
    magic: int
    version: int
    flags: int
    hdr_len: int
    func_info_off: int
    func_info_len: int
    line_info_off: int
    line_info_len: int
    core_relo_off: int
    core_relo_len: int


@dataclass(frozen=True, slots=True)
class FuncInfo:
    """A function starts at ``insn_off`` (bytes) and has BTF FUNC ``type_id``."""

    insn_off: int
    type_id: int

    @property
    def insn_index(self) -> int:
        return self.insn_off // 8


@dataclass(frozen=True, slots=True)
class LineInfo:
    """Source position of the instruction at ``insn_off`` (bytes)."""

    insn_off: int
    file_name: str
    line: str
    line_num: int
    column: int

    @property
    def insn_index(self) -> int:
        return self.insn_off // 8


@dataclass(frozen=True, slots=True)
class CoreRelo:
    """``struct bpf_core_relo``: patch ``insn_off`` per ``kind`` walking ``access`` from ``type_id``."""

    insn_off: int
    type_id: int
    access: str
    kind: CoreReloKind

    @property
    def insn_index(self) -> int:
        return self.insn_off // 8

    @property
    def access_indices(self) -> tuple[int, ...]:
        """``"0:1:2"`` → ``(0, 1, 2)``."""
        return tuple(int(x) for x in self.access.split(":")) if self.access else ()


class BtfExt:
    """Parsed ``.BTF.ext``; each mapping is keyed by ELF section name."""

    def __init__(self, header: ExtHeader, func_info: dict[str, tuple[FuncInfo, ...]],
                 line_info: dict[str, tuple[LineInfo, ...]], core_relos: dict[str, tuple[CoreRelo, ...]],
                 record_sizes: dict[str, int]):
        self.header = header
        self.func_info: Mapping[str, tuple[FuncInfo, ...]] = MappingProxyType(func_info)
        self.line_info: Mapping[str, tuple[LineInfo, ...]] = MappingProxyType(line_info)
        self.core_relos: Mapping[str, tuple[CoreRelo, ...]] = MappingProxyType(core_relos)
        self.record_sizes = MappingProxyType(record_sizes)

    @property
    def sections(self) -> list[str]:
        return sorted(set(self.func_info) | set(self.line_info) | set(self.core_relos))

    def __repr__(self) -> str:
        n = lambda m: sum(len(v) for v in m.values())  # noqa: E731
        return (f"<BtfExt {len(self.sections)} sections: {n(self.func_info)} func_info, "
                f"{n(self.line_info)} line_info, {n(self.core_relos)} core_relos>")

    @classmethod
    def from_bytes(cls, data: bytes, btf: Btf) -> BtfExt:
        """Parse and validate; names resolve through ``btf``'s string table."""
        data = bytes(data)
        if len(data) < 8:
            raise BtfError(f".BTF.ext: {len(data)} bytes is shorter than its header", offset=0)
        if data[:2] == b"\x9f\xeb":
            order = "<"
        elif data[:2] == b"\xeb\x9f":
            order = ">"
        else:
            raise BtfError(f".BTF.ext: bad magic {data[:2].hex()}", offset=0)
        magic, version, flags, hdr_len = struct.unpack_from(order + "HBBI", data)
        if version != 1:
            raise BtfError(f".BTF.ext: unsupported version {version}", offset=2)
        if hdr_len < _MIN_HDR or hdr_len > len(data):
            raise BtfError(f".BTF.ext: hdr_len {hdr_len} outside [{_MIN_HDR}, {len(data)}]", offset=4)
        fields = list(struct.unpack_from(order + "IIII", data, 8))
        fields += list(struct.unpack_from(order + "II", data, 24)) if hdr_len >= 32 else [0, 0]
        header = ExtHeader(magic, version, flags, hdr_len, *fields)
        sizes: dict[str, int] = {}
        parsed = {}
        for i, what in enumerate(("func_info", "line_info", "core_relo")):
            off, length = fields[2 * i], fields[2 * i + 1]
            parsed[what] = _parse_subsection(data, order, what, hdr_len + off, length, btf, sizes)
        return cls(header, parsed["func_info"], parsed["line_info"], parsed["core_relo"], sizes)


def _string(btf: Btf, off: int, what: str, where: int) -> str:
    try:
        return btf._strings.get(off)
    except BtfError as exc:
        raise BtfError(f".BTF.ext {what}: {exc}", offset=where) from None


def _parse_subsection(data: bytes, order: str, what: str, start: int, length: int, btf: Btf,
                      sizes: dict[str, int]) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    if length == 0:
        return out
    end = start + length
    if end > len(data):
        raise BtfError(f".BTF.ext {what}: [{start}, +{length}) runs past the {len(data)}-byte section", offset=start)
    if length < 4:
        raise BtfError(f".BTF.ext {what}: too short for a record size", offset=start)
    (rec_size,) = struct.unpack_from(order + "I", data, start)
    if rec_size < _MIN_REC[what] or rec_size % 4:
        raise BtfError(f".BTF.ext {what}: record size {rec_size} (need a multiple of 4, >= {_MIN_REC[what]})",
                       offset=start)
    sizes[what] = rec_size
    pos = start + 4
    rec = struct.Struct(order + ("II" if what == "func_info" else "IIII"))
    while pos < end:
        if pos + 8 > end:
            raise BtfError(f".BTF.ext {what}: truncated section group header", offset=pos)
        name_off, count = struct.unpack_from(order + "II", data, pos)
        sec = _string(btf, name_off, what, pos)
        pos += 8
        if count * rec_size > end - pos:
            raise BtfError(f".BTF.ext {what} for {sec!r}: {count} records of {rec_size} bytes run past the section",
                           offset=pos)
        records = []
        for _ in range(count):
            f = rec.unpack_from(data, pos)
            if what == "func_info":
                records.append(FuncInfo(f[0], f[1]))
            elif what == "line_info":
                records.append(LineInfo(f[0], _string(btf, f[1], what, pos), _string(btf, f[2], what, pos),
                                        f[3] >> 10, f[3] & 0x3FF))
            else:
                try:
                    kind = CoreReloKind(f[3])
                except ValueError:
                    raise BtfError(f".BTF.ext core_relo for {sec!r}: unknown kind {f[3]}", offset=pos) from None
                records.append(CoreRelo(f[0], f[1], _string(btf, f[2], what, pos), kind))
            pos += rec_size
        if sec in out:
            out[sec] = out[sec] + tuple(records)
        else:
            out[sec] = tuple(records)
    return out
