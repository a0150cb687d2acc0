"""Hand-built BTF covering every value kind, shared by the codec tests.

Built with :mod:`bpfnb.btf.writer` (and parsed back, so the parser checks
it), because compilers never emit some shapes we must handle: legacy
narrow INTs, a bitfield window of nine bytes, anonymous members whose names
collide, 128-bit integers in a map value.  Import with
``from codec_btf import kinds_btf``.
"""

from __future__ import annotations

from functools import lru_cache

from bpfnb.btf import (
    Array, Btf, Const, Enum, Enum64, EnumValue, Float, Int, IntEncoding, Member, Ptr, Struct, Typedef, Union,
    Volatile,
)
from bpfnb.btf.writer import write_types

# Ids of interest (the order of ``_types`` below).
U8, U16, U32, U64, S8, S16, S32, S64, BOOL, CHAR, SCHAR, UCHAR, S128, U128 = range(1, 15)
ENUM_U8, ENUM_S32, ENUM64, F32, F64, F16, PTR, TYPEDEF_U32, CONST_VOL_U16 = range(15, 24)
CHARS8, ARR_U16_3, ARR_2X3, ARR_0, ARR_LONG = range(24, 29)
FLOW, PAIR_UNION, BITS, PACKED_BITS, OUTER, CLASH, NARROW, F128 = range(29, 37)
ARR_PAIR, ARR_NAMES, UCHARS6, VOL = range(37, 41)
ANON_U, ANON_S = 41, 42


def kinds_types() -> list:
    """The type objects, ids from 1, before writing (for other byte orders)."""
    i = IntEncoding
    t = [
        Int(U8, "unsigned char8", 1, i.NONE, 0, 8),
        Int(U16, "unsigned short", 2, i.NONE, 0, 16),
        Int(U32, "unsigned int", 4, i.NONE, 0, 32),
        Int(U64, "unsigned long long", 8, i.NONE, 0, 64),
        Int(S8, "s8", 1, i.SIGNED, 0, 8),
        Int(S16, "short", 2, i.SIGNED, 0, 16),
        Int(S32, "int", 4, i.SIGNED, 0, 32),
        Int(S64, "long long", 8, i.SIGNED, 0, 64),
        Int(BOOL, "_Bool", 1, i.BOOL, 0, 8),
        Int(CHAR, "char", 1, i.SIGNED, 0, 8),
        Int(SCHAR, "signed char", 1, i.SIGNED | i.CHAR, 0, 8),
        Int(UCHAR, "unsigned char", 1, i.NONE, 0, 8),
        Int(S128, "__int128", 16, i.SIGNED, 0, 128),
        Int(U128, "unsigned __int128", 16, i.NONE, 0, 128),
        Enum(ENUM_U8, "proto", 1, False, (EnumValue("ICMP", 1), EnumValue("TCP", 6), EnumValue("UDP", 17),
                                           EnumValue("TCP_ALIAS", 6))),
        Enum(ENUM_S32, "sign", 4, True, (EnumValue("NEG", -5), EnumValue("ZERO", 0), EnumValue("POS", 7))),
        Enum64(ENUM64, "big", 8, False, (EnumValue("LOW", 1), EnumValue("HIGH", 0x123456789A),
                                         EnumValue("TOP", (1 << 64) - 1))),
        Float(F32, "float", 4),
        Float(F64, "double", 8),
        Float(F16, "_Float16", 2),
        Ptr(PTR, "", S32),
        Typedef(TYPEDEF_U32, "__u32", U32),
        Const(CONST_VOL_U16, "", VOL),
        Array(CHARS8, "", CHAR, U32, 8),
        Array(ARR_U16_3, "", U16, U32, 3),
        Array(ARR_2X3, "", ARR_U16_3, U32, 2),  # u16 m[2][3]
        Array(ARR_0, "", CHAR, U32, 0),
        Array(ARR_LONG, "", U32, U32, 20),  # beyond the default element-column limit
        # struct flow { __u32 saddr; __u16 sport; enum proto proto; char comm[8]; bool ok; } (+ padding)
        Struct(FLOW, "flow", 24, (Member("saddr", TYPEDEF_U32, 0), Member("sport", CONST_VOL_U16, 32),
                                  Member("proto", ENUM_U8, 48), Member("comm", CHARS8, 64),
                                  Member("ok", BOOL, 128))),
        # union pair { struct { u32 lo; u32 hi; }; u64 both; float f; }
        Union(PAIR_UNION, "pair", 8, (Member("", ANON_S, 0), Member("both", U64, 0), Member("f", F32, 0))),
        # struct bits { u32 a:3, b:13; int c:7; u64 wide:40; enum proto e:8; bool flag:1; char tail; }
        Struct(BITS, "bits", 16, (Member("a", U32, 0, 3), Member("b", U32, 3, 13), Member("c", S32, 16, 7),
                                  Member("wide", U64, 23, 40), Member("e", ENUM_U8, 64, 8),
                                  Member("flag", BOOL, 72, 1), Member("", U32, 73, 2),
                                  Member("neg", ENUM_S32, 75, 4), Member("tail", CHAR, 80))),
        # packed: a 64-bit bitfield at bit 4 spans nine bytes
        Struct(PACKED_BITS, "packed_bits", 10, (Member("lo", U8, 0, 4), Member("big", S64, 4, 64),
                                               Member("hi", U8, 68, 4), Member("last", U8, 72))),
        # struct outer { struct flow f; union { u16 x; s16 y; }; union pair p; u16 m[2][3]; u32 counts[20];
        #                __int128 i128; union pair pairs[2]; char nothing[]; }
        Struct(OUTER, "outer", 176, (Member("f", FLOW, 0), Member("", ANON_U, 192), Member("p", PAIR_UNION, 256),
                                     Member("m", ARR_2X3, 320), Member("counts", ARR_LONG, 416),
                                     Member("i128", S128, 1152), Member("pairs", ARR_PAIR, 1280),
                                     Member("nothing", ARR_0, 1408))),
        # two anonymous members both holding "x": C forbids it, BTF can say it
        Struct(CLASH, "clash", 8, (Member("", ANON_U, 0), Member("x", U32, 32))),
        Int(NARROW, "narrow", 4, IntEncoding.NONE, 0, 12),  # legacy: 12 value bits in 4 bytes
        Float(F128, "long double", 16),
        Array(ARR_PAIR, "", PAIR_UNION, U32, 2),
        Array(ARR_NAMES, "", CHARS8, U32, 2),  # char names[2][8]
        Array(UCHARS6, "", UCHAR, U32, 6),  # unsigned char mac[6]: numbers, not text
        Volatile(VOL, "", U16),
        Union(ANON_U, "", 2, (Member("x", U16, 0), Member("y", S16, 0))),
        Struct(ANON_S, "", 8, (Member("lo", U32, 0), Member("hi", U32, 32))),
    ]
    return t


@lru_cache(maxsize=1)
def kinds_btf() -> Btf:
    """The hand-built BTF, parsed back from its bytes."""
    types = sorted(kinds_types(), key=lambda t: t.id)
    assert [t.id for t in types] == list(range(1, len(types) + 1))
    return Btf.from_bytes(write_types(types), source="codec_btf")


# A struct mixing everything that can appear in a map value, for frames.
def value_btf() -> tuple[Btf, int]:
    """(btf, id) of ``struct outer`` — nested, unions, arrays, enums, text."""
    return kinds_btf(), OUTER
