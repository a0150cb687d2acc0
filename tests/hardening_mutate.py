"""Field-targeted mutations of eBPF objects and BTF blobs, and fd counting.

Shared by tests/test_hardening_*.py, the hypothesis fuzzers and
tools/fuzz.py.  Every mutator takes the original bytes and returns new bytes
with one *field* changed (an ELF header field, a section header field, a BTF
header field, a word of one type record, a string offset, a .BTF.ext record
size), so fuzzing reaches the checks behind the magic numbers instead of
stopping at them.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

BTF_KIND = {"INT": 1, "PTR": 2, "ARRAY": 3, "STRUCT": 4, "UNION": 5, "ENUM": 6, "FWD": 7, "TYPEDEF": 8,
            "VOLATILE": 9, "CONST": 10, "RESTRICT": 11, "FUNC": 12, "FUNC_PROTO": 13, "VAR": 14,
            "DATASEC": 15, "FLOAT": 16, "DECL_TAG": 17, "TYPE_TAG": 18, "ENUM64": 19}

# ELF64 header fields: name -> (offset, struct format)
ELF_HEADER_FIELDS = {
    "e_type": (16, "<H"), "e_machine": (18, "<H"), "e_version": (20, "<I"), "e_entry": (24, "<Q"),
    "e_phoff": (32, "<Q"), "e_shoff": (40, "<Q"), "e_flags": (48, "<I"), "e_ehsize": (52, "<H"),
    "e_phentsize": (54, "<H"), "e_phnum": (56, "<H"), "e_shentsize": (58, "<H"), "e_shnum": (60, "<H"),
    "e_shstrndx": (62, "<H"),
}
# Elf64_Shdr fields: name -> (offset in the header, format)
SECTION_HEADER_FIELDS = {
    "sh_name": (0, "<I"), "sh_type": (4, "<I"), "sh_flags": (8, "<Q"), "sh_addr": (16, "<Q"),
    "sh_offset": (24, "<Q"), "sh_size": (32, "<Q"), "sh_link": (40, "<I"), "sh_info": (44, "<I"),
    "sh_addralign": (48, "<Q"), "sh_entsize": (56, "<Q"),
}
BTF_HEADER_FIELDS = {"version": (2, "<B"), "flags": (3, "<B"), "hdr_len": (4, "<I"), "type_off": (8, "<I"),
                     "type_len": (12, "<I"), "str_off": (16, "<I"), "str_len": (20, "<I")}

INTERESTING = (0, 1, 2, 3, 4, 7, 8, 0xF, 0x10, 0x11, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF,
               0x80000000, 0xFFFFFFFC, 0xFFFFFFFF, 1 << 32, (1 << 63) - 1, (1 << 64) - 1)


@dataclass(frozen=True)
class Section:
    index: int
    name: str
    header: int  # file offset of its Elf64_Shdr
    offset: int
    size: int
    type: int


def sections(data: bytes) -> list[Section]:
    """The section headers of a well-formed little-endian ELF64 file; [] when an earlier
    mutation broke the headers (stacked mutations then target what is left)."""
    try:
        return _sections(data)
    except (struct.error, OverflowError, ValueError, IndexError, UnicodeDecodeError):
        return []


def _sections(data: bytes) -> list[Section]:
    shoff, = struct.unpack_from("<Q", data, 40)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 58)
    raw = []
    for i in range(shnum):
        h = shoff + i * shentsize
        name, typ, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", data, h)
        raw.append((i, name, h, off, size, typ))
    str_off = raw[shstrndx][3]
    out = []
    for i, name, h, off, size, typ in raw:
        end = data.index(b"\0", str_off + name)
        out.append(Section(i, data[str_off + name : end].decode(), h, off, size, typ))
    return out


def section(data: bytes, name: str) -> Section:
    for s in sections(data):
        if s.name == name:
            return s
    raise KeyError(name)


def _put(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    size = struct.calcsize(fmt)
    value &= (1 << (8 * size)) - 1
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def set_elf_header(data: bytes, field: str, value: int) -> bytes:
    off, fmt = ELF_HEADER_FIELDS[field]
    return _put(data, off, fmt, value)


def set_section_header(data: bytes, index: int, field: str, value: int) -> bytes:
    secs = sections(data)
    if not secs:
        return data  # headers already broken: nothing to aim at
    s = secs[index % len(secs)]
    off, fmt = SECTION_HEADER_FIELDS[field]
    return _put(data, s.header + off, fmt, value)


# --- BTF ------------------------------------------------------------------------


def _record_words(info: int) -> int:
    kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
    fixed = {1: 1, 3: 3, 14: 1, 17: 1}.get(kind, 0)
    per = {4: 3, 5: 3, 6: 2, 13: 2, 15: 3, 19: 3}.get(kind, 0)
    return 3 + fixed + per * vlen


@dataclass(frozen=True)
class Record:
    type_id: int
    offset: int  # absolute offset in the blob/file of the record
    kind: int
    vlen: int
    words: int


def btf_records(blob: bytes, base: int = 0) -> list[Record]:
    """Every type record of a little-endian BTF blob starting at ``base``."""
    hdr_len, type_off, type_len = struct.unpack_from("<III", blob, base + 4)
    p = base + hdr_len + type_off
    end = p + type_len
    out = []
    tid = 1
    while p < end:
        info, = struct.unpack_from("<I", blob, p + 4)
        n = _record_words(info)
        out.append(Record(tid, p, (info >> 24) & 0x1F, info & 0xFFFF, n))
        p += 4 * n
        tid += 1
    return out


def btf_base(data: bytes) -> int:
    """Where the BTF blob starts: 0 for raw BTF, the .BTF section in an ELF."""
    if data[:4] == b"\x7fELF":
        return section(data, ".BTF").offset
    return 0


def set_btf_header(data: bytes, field: str, value: int) -> bytes:
    off, fmt = BTF_HEADER_FIELDS[field]
    return _put(data, btf_base(data) + off, fmt, value)


def set_record_word(data: bytes, kind: str | int | None, nth: int, word: int, value: int) -> bytes:
    """Word ``word`` of the ``nth`` record (of ``kind``, or any) set to ``value``.

    Word 0 is the name offset, 1 the info word, 2 size/type, 3... the rest.
    """
    k = BTF_KIND[kind] if isinstance(kind, str) else kind
    recs = [r for r in btf_records(data, btf_base(data)) if k is None or r.kind == k]
    if not recs:
        raise LookupError(f"no BTF record of kind {kind}")
    r = recs[nth % len(recs)]
    return _put(data, r.offset + 4 * (word % r.words), "<I", value)


def set_string_offset(data: bytes, nth: int, value: int) -> bytes:
    """The ``nth`` string offset of any record (type names, member/param/enum names) set to ``value``."""
    base = btf_base(data)
    offsets = []
    for r in btf_records(data, base):
        offsets.append(r.offset)
        per = {4: 3, 5: 3, 6: 2, 13: 2, 19: 3}.get(r.kind)
        if per:
            start = r.offset + 12
            offsets.extend(start + 4 * per * i for i in range(r.vlen))
    return _put(data, offsets[nth % len(offsets)], "<I", value)


def set_btf_ext_rec_size(data: bytes, which: str, value: int) -> bytes:
    """``func_info``/``line_info``/``core_relo`` record size word of .BTF.ext set to ``value``."""
    s = section(data, ".BTF.ext")
    hdr_len, = struct.unpack_from("<I", data, s.offset + 4)
    field = {"func_info": 0, "line_info": 8, "core_relo": 16}[which]
    sub_off, = struct.unpack_from("<I", data, s.offset + 8 + field)
    return _put(data, s.offset + hdr_len + sub_off, "<I", value)


def bad_string_offset_object(data: bytes) -> bytes:
    """An object whose first struct member or func param name points past the string section."""
    for r in btf_records(data, btf_base(data)):
        if r.kind in (4, 13) and r.vlen:
            return _put(data, r.offset + 12, "<I", 0x7FFFFF00)
    raise LookupError("no struct or func proto with members")


# --- fds ---------------------------------------------------------------------------

_BPF_LINKS = ("anon_inode:bpf-map", "anon_inode:bpf-prog", "anon_inode:btf", "anon_inode:bpf_link",
              "anon_inode:bpf-link")


def bpf_fds() -> set[int]:
    """This process's open fds that are bpf maps, programs, BTF objects or links."""
    out = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith(_BPF_LINKS):
            out.add(int(name))
    return out


# --- one field mutation, for hypothesis and tools/fuzz.py -----------------------------------

FIELD_TARGETS = ("elf_header", "section_header", "btf_header", "record_word", "string_offset", "btf_ext_rec_size")


def apply_field_mutation(data: bytes, target: str, a: int, b: int, value: int) -> bytes:
    """Apply one field-targeted mutation; the input unchanged when it has no such field.

    ``a``/``b`` choose the field (section index and field, record kind and
    position...), ``value`` is what goes in.
    """
    try:
        if target == "elf_header":
            return set_elf_header(data, list(ELF_HEADER_FIELDS)[a % len(ELF_HEADER_FIELDS)], value)
        if target == "section_header":
            return set_section_header(data, a, list(SECTION_HEADER_FIELDS)[b % len(SECTION_HEADER_FIELDS)], value)
        if target == "btf_header":
            return set_btf_header(data, list(BTF_HEADER_FIELDS)[a % len(BTF_HEADER_FIELDS)], value)
        if target == "record_word":
            kinds = [None, *BTF_KIND]
            return set_record_word(data, kinds[a % len(kinds)], b, b >> 8, value)
        if target == "string_offset":
            return set_string_offset(data, a, value)
        if target == "btf_ext_rec_size":
            return set_btf_ext_rec_size(data, ("func_info", "line_info", "core_relo")[a % 3], value)
    except (KeyError, LookupError, ValueError, struct.error, IndexError, ZeroDivisionError, OverflowError):
        return data  # the field is not there (no .BTF.ext, a truncated input, an offset past any address...)
    raise ValueError(target)


def field_mutations():
    """A hypothesis strategy of ``(target, a, b, value)`` tuples for :func:`apply_field_mutation`."""
    from hypothesis import strategies as st

    values = st.one_of(st.sampled_from(INTERESTING), st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1),
                       st.integers(0, 4096))
    return st.tuples(st.sampled_from(FIELD_TARGETS), st.integers(0, 1 << 16), st.integers(0, 1 << 16), values)


def example_database():
    """The committed hypothesis example database (tests/hypothesis-db): found failures replay first."""
    from pathlib import Path

    from hypothesis.database import DirectoryBasedExampleDatabase

    return DirectoryBasedExampleDatabase(str(Path(__file__).resolve().parent / "hypothesis-db"))
