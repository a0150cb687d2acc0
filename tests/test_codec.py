"""BTF value layouts, numpy dtypes and the per-value codec.

Oracles: ``struct`` for plain layouts, a host program compiled by clang for
bitfields, BTF member offsets (``Btf.member_offset``) for every struct in
the fixtures and a 2,000-type sample of vmlinux, and round trips generated
by hypothesis from the types themselves.
"""

from __future__ import annotations

import math
import os
import pickle
import struct

import numpy as np
import pytest
from codec_btf import (
    ARR_0, ARR_2X3, ARR_NAMES, ARR_U16_3, BITS, BOOL, CHAR, CHARS8, CLASH, CONST_VOL_U16, ENUM64, ENUM_S32, ENUM_U8,
    F16, F32, F64, F128, FLOW, NARROW, OUTER, PACKED_BITS, PAIR_UNION, PTR, S8, S16, S32, S64, S128, SCHAR,
    TYPEDEF_U32, U8, U16, U32, U64, U128, UCHAR, UCHARS6, kinds_btf, kinds_types,
)
from helpers import all_fixtures, fixture_path

from bpfnb.btf import Btf, Float, Int, IntEncoding, Member, Union
from bpfnb.btf.codec import Codec, PerCpuCodec, RawCodec, per_cpu_stride
from bpfnb.btf.dtype import ArrayOf, CharArray, Record, Scalar, ScalarKind, dtype_of, layout_of
from bpfnb.btf.values import decode_value
from bpfnb.errors import BpfnbError, ValueEncodingError

BTF = kinds_btf()


def codec(type_id: int) -> Codec:
    return Codec(BTF, type_id)


# --- dtypes ------------------------------------------------------------------------


@pytest.mark.parametrize(("type_id", "expected"), [
    (U8, "u1"), (U16, "<u2"), (U32, "<u4"), (U64, "<u8"), (S8, "i1"), (S16, "<i2"), (S32, "<i4"), (S64, "<i8"),
    (BOOL, "?"), (CHAR, "i1"), (UCHAR, "u1"), (S128, "V16"), (U128, "V16"), (ENUM_U8, "u1"), (ENUM_S32, "<i4"),
    (ENUM64, "<u8"), (F32, "<f4"), (F64, "<f8"), (F16, "<f2"), (F128, "V16"), (PTR, "<u8"), (TYPEDEF_U32, "<u4"),
    (CONST_VOL_U16, "<u2"), (CHARS8, "S8"), (UCHARS6, ("u1", (6,))), (ARR_2X3, ("<u2", (2, 3))),
    (ARR_NAMES, ("S8", (2,))), (ARR_0, ("S1", (0,))), (NARROW, "<u4"),
])
def test_scalar_and_array_dtypes(type_id, expected):
    assert dtype_of(BTF, type_id) == np.dtype(expected)
    assert dtype_of(BTF, type_id).itemsize == BTF.size_of(type_id)


def test_struct_dtype_has_btf_offsets_padding_and_nesting():
    dt = dtype_of(BTF, FLOW)
    assert dt.itemsize == 24  # trailing padding kept
    assert {n: (dt.fields[n][0].str, dt.fields[n][1]) for n in dt.names} == {
        "saddr": ("<u4", 0), "sport": ("<u2", 4), "proto": ("|u1", 6), "comm": ("|S8", 8), "ok": ("|b1", 16)}
    outer = dtype_of(BTF, OUTER)
    assert outer.fields["f"][0] == dt and outer.fields["f"][1] == 0  # named members stay nested
    assert outer.fields["x"][1] == outer.fields["y"][1] == 24  # the anonymous union is flattened
    assert outer.fields["m"][0] == np.dtype(("<u2", (2, 3)))
    assert outer.fields["pairs"][0].shape == (2,) and outer.fields["pairs"][1] == 160
    assert outer.fields["nothing"][1] == 176 == outer.itemsize  # flexible array at the end, zero bytes


def test_union_fields_overlap_and_anonymous_struct_flattens():
    dt = dtype_of(BTF, PAIR_UNION)
    assert dt.itemsize == 8
    assert {n: dt.fields[n][1] for n in dt.names} == {"lo": 0, "hi": 4, "both": 0, "f": 0}
    layout = layout_of(BTF, PAIR_UNION)
    assert isinstance(layout, Record) and layout.is_union and layout.overlapping


def test_colliding_anonymous_members_stay_nested_under_a_fixed_name():
    dt = dtype_of(BTF, CLASH)
    assert dt.names == ("_anon0", "x")
    assert dt.fields["_anon0"][0].names == ("x", "y")


def test_bitfields_become_raw_storage_fields():
    dt = dtype_of(BTF, BITS)
    assert "a" not in dt.names and "tail" in dt.names
    layout = layout_of(BTF, BITS)
    widths = {f.name: (f.bit_offset, f.bit_size) for f in layout.fields if f.is_bitfield}
    assert widths == {"a": (0, 3), "b": (3, 13), "c": (16, 7), "wide": (23, 40), "e": (64, 8), "flag": (72, 1),
                      "neg": (75, 4)}
    storage = [n for n in dt.names if n.startswith("_bits_")]
    covered = set()
    for n in storage:
        off = dt.fields[n][1]
        covered.update(range(8 * off, 8 * (off + dt.fields[n][0].itemsize)))
    assert all(set(range(o, o + w)) <= covered for o, w in widths.values())
    # the compiler's unit: a u64 storage word for the bitfields of btf_kinds.bpf.c's struct bits
    kinds = Btf.from_file(fixture_path("btf_kinds"))
    real = dtype_of(kinds, kinds.find("bits", kind="struct").id)
    assert {n: (real.fields[n][0].str, real.fields[n][1]) for n in real.names} == {
        "_bits_0": ("<u8", 0), "_bits_8": ("|u1", 8), "tail": ("|i1", 9)}
    assert dtype_of(BTF, PACKED_BITS).fields["_bits_0"][0] == np.dtype(("u1", (9,)))


def test_layout_classifies_char_arrays_by_element_not_typedef():
    assert isinstance(layout_of(BTF, CHARS8), CharArray)
    assert isinstance(layout_of(BTF, UCHARS6), ArrayOf)  # unsigned char[6]: a MAC, not text
    scalar = layout_of(BTF, SCHAR)
    assert isinstance(scalar, Scalar) and scalar.kind is ScalarKind.INT and scalar.signed


def test_values_without_layout_are_refused():
    from bpfnb.btf import FuncProto, Fwd
    from bpfnb.btf.writer import write_types

    btf = Btf.from_bytes(write_types([Fwd(1, "later", False), FuncProto(2, "", 0, (), False)]))
    for tid in (0, 1, 2):
        with pytest.raises(ValueEncodingError, match="no value layout|has no size"):
            dtype_of(btf, tid)


def _check_record_offsets(btf: Btf, tid: int) -> int:
    """dtype itemsize/offsets against BTF for one struct/union; returns fields checked."""
    dt = dtype_of(btf, tid)
    assert dt.itemsize == btf.size_of(tid), btf.name_of(tid)
    checked = 0
    layout = layout_of(btf, tid)
    for f in layout.fields:
        if f.name.startswith("_anon"):
            continue
        loc = btf.member_offset(tid, f.name)
        assert (loc.bit_offset, loc.bitfield_size) == (f.bit_offset, f.bit_size), (btf.name_of(tid), f.name)
        if not f.is_bitfield:
            assert dt.fields[f.name][1] == loc.offset, (btf.name_of(tid), f.name)
            assert dt.fields[f.name][0].itemsize == btf.size_of(loc.type_id), (btf.name_of(tid), f.name)
        checked += 1
    return checked


@pytest.mark.parametrize("path", all_fixtures(), ids=lambda p: p.name)
def test_every_fixture_struct_has_btf_offsets(path):
    try:
        btf = Btf.from_file(path)
    except BpfnbError:
        pytest.skip("fixture without parseable .BTF")
    ids = btf.ids_of_kind("STRUCT", "UNION").tolist()
    for tid in ids:
        _check_record_offsets(btf, tid)


def _has_raw(node) -> bool:
    """Does the layout hold a leaf numpy stores as raw bytes (``V<n>``)?"""
    if isinstance(node, Scalar):
        return node.dtype.kind == "V"
    if isinstance(node, ArrayOf):
        return _has_raw(node.elem)
    if isinstance(node, Record):
        return any(_has_raw(f.node) for f in node.fields)
    return False


@pytest.mark.parametrize("kernel", ["snapshot", "running"])
def test_vmlinux_sample_of_2000_structs_and_unions(kernel):
    """Every sampled type lays out; offsets match BTF.  What numpy cannot hold
    as numbers (``__int128``, bitfields) is counted, not skipped: the counts
    are the snapshot's (another kernel build has other types)."""
    from bpfnb import examples

    vmlinux = examples.kernel_btf() if kernel == "snapshot" else Btf.from_sys_fs()
    ids = vmlinux.ids_of_kind("STRUCT", "UNION")
    sample = ids[np.linspace(0, len(ids) - 1, 2000).astype(int)].tolist()
    fields = with_bits = raw = 0
    for tid in sample:
        fields += _check_record_offsets(vmlinux, tid)
        dt = dtype_of(vmlinux, tid)
        with_bits += any(n.startswith("_bits_") for n in dt.names)
        raw += _has_raw(layout_of(vmlinux, tid))
    assert len(set(sample)) == 2000
    if kernel == "snapshot":
        assert fields > 10000 and with_bits > 50 and raw < 100  # bounds on the snapshot's sample (10934, 70, 0)
    # a few well-known layouts, by name
    for name, size in (("task_struct", None), ("sk_buff", None), ("bpf_attr", None)):
        t = vmlinux.find(name)
        assert dtype_of(vmlinux, t.id).itemsize == (size or t.size)


# --- the per-value codec: known bytes ------------------------------------------------


def test_flow_decodes_like_struct_unpack():
    c = codec(FLOW)
    assert Codec(BTF, "flow").type_id == FLOW and repr(c) == "<Codec struct flow size=24>"
    data = struct.pack("<IHB1x8s?7x", 0x0A000001, 443, 6, b"curl\0zz\0", True)
    assert c.size == 24 and c.dtype == dtype_of(BTF, FLOW)
    assert c.decode(data) == {"saddr": 0x0A000001, "sport": 443, "proto": "TCP", "comm": "curl", "ok": True}
    assert c.encode({"saddr": 0x0A000001, "sport": 443, "proto": "TCP", "comm": "curl", "ok": True}) == \
        struct.pack("<IHB1x8s?7x", 0x0A000001, 443, 6, b"curl", True)
    assert c.encode({"proto": 17}) == struct.pack("<IHB1x8s?7x", 0, 0, 17, b"", False)  # missing members are zero
    assert c.decode(c.encode({"proto": 99}))["proto"] == 99  # an unknown enum value stays a number


def test_scalars_decode_with_sign_and_width():
    assert codec(S8).decode(b"\xff") == -1
    assert codec(U64).decode(b"\xff" * 8) == (1 << 64) - 1
    assert codec(S128).decode(b"\xff" * 16) == -1
    assert codec(U128).encode((1 << 128) - 1) == b"\xff" * 16
    assert codec(ENUM_S32).decode(struct.pack("<i", -5)) == "NEG"
    assert codec(ENUM_S32).encode("NEG") == struct.pack("<i", -5)
    assert codec(ENUM64).decode(b"\xff" * 8) == "TOP"
    assert codec(ENUM_U8).decode(b"\x06") == "TCP"  # the first of two names for 6
    assert codec(ENUM_U8).encode("TCP_ALIAS") == b"\x06"
    assert codec(F16).decode(struct.pack("<e", 1.5)) == 1.5
    assert codec(F128).decode(bytes(range(16))) == bytes(range(16))  # long double: raw bytes
    assert codec(NARROW).decode(struct.pack("<I", 0xFFFF_F123)) == 0x123  # 12 value bits
    assert codec(UCHARS6).decode(bytes([1, 2, 3, 4, 5, 255])) == [1, 2, 3, 4, 5, 255]
    assert codec(ARR_NAMES).decode(b"ab\0\0\0\0\0\0cdefghij") == ["ab", "cdefghij"]
    assert codec(PTR).decode(struct.pack("<Q", 0xFFFF_8880_0000_1000)) == 0xFFFF_8880_0000_1000


def _bits_oracle(blobs: list[bytes]) -> list[dict] | None:
    """Decode ``struct bits`` with a host program clang compiles (skips without clang)."""
    import shutil
    import subprocess
    import tempfile

    cc = shutil.which("clang-19") or shutil.which("clang")
    if cc is None:
        return None
    src = r"""
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <stdbool.h>
enum proto : unsigned char { ICMP = 1, TCP = 6, UDP = 17 };
enum sign { NEG = -5, ZERO = 0, POS = 7 };
struct bits { unsigned int a : 3, b : 13; int c : 7; unsigned long long wide : 40; enum proto e : 8;
              bool flag : 1; unsigned int : 2; enum sign neg : 4; char tail; };
_Static_assert(sizeof(struct bits) == 16, "size");
_Static_assert(offsetof(struct bits, tail) == 10, "tail");
int main(void) {
    unsigned char buf[16]; struct bits s;
    while (fread(buf, 1, 16, stdin) == 16) {
        memcpy(&s, buf, 16);
        printf("%u %u %d %llu %u %d %d %d\n", s.a, s.b, s.c, (unsigned long long)s.wide, s.e, s.flag,
               (int)s.neg, s.tail);
    }
    return 0;
}
"""
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "bits")
        subprocess.run([cc, "-std=c2x", "-O1", "-x", "c", "-", "-o", exe], input=src.encode(), check=True)
        out = subprocess.run([exe], input=b"".join(blobs), check=True, capture_output=True).stdout.decode()
    rows = []
    for line in out.splitlines():
        a, b, c, wide, e, flag, neg, tail = map(int, line.split())
        rows.append({"a": a, "b": b, "c": c, "wide": wide, "e": e, "flag": bool(flag), "neg": neg, "tail": tail})
    return rows


def test_bitfields_decode_like_the_c_compiler():
    rng = np.random.default_rng(7)
    blobs = [rng.integers(0, 256, 16, dtype=np.uint8).tobytes() for _ in range(300)]
    blobs.append(b"\xff" * 16)
    expected = _bits_oracle(blobs)
    if expected is None:
        pytest.skip("no clang to build the bitfield oracle")
    c = codec(BITS)
    names = {1: "ICMP", 6: "TCP", 17: "UDP"}
    signs = {-5: "NEG", 0: "ZERO", 7: "POS"}
    for blob, want in zip(blobs, expected, strict=True):
        want = dict(want, e=names.get(want["e"], want["e"]), neg=signs.get(want["neg"], want["neg"]))
        assert c.decode(blob) == want
    assert len(expected) == len(blobs)


def test_bitfield_encode_sets_only_its_bits():
    c = codec(BITS)
    assert c.encode({"a": 7}) == b"\x07" + bytes(15)
    assert c.encode({"c": -1}) == b"\x00\x00\x7f" + bytes(13)
    assert c.encode({"wide": (1 << 40) - 1}) == bytes([0, 0, 0x80]) + b"\xff" * 4 + b"\x7f" + bytes(8)
    assert c.encode({"neg": "NEG"}) == bytes(9) + bytes([(0b1011 << 3)]) + bytes(6)
    assert c.decode(c.encode({"neg": "NEG", "flag": True, "e": "UDP"})) == {
        "a": 0, "b": 0, "c": 0, "wide": 0, "e": "UDP", "flag": True, "neg": "NEG", "tail": 0}
    packed = codec(PACKED_BITS)
    value = {"lo": 5, "big": -2, "hi": 9, "last": 200}
    assert packed.decode(packed.encode(value)) == value
    assert packed.encode({"big": -1}) == b"\xf0" + b"\xff" * 7 + b"\x0f\x00"


def test_union_members_must_agree():
    c = codec(PAIR_UNION)
    assert c.encode({"both": 0x1_0000_0002}) == c.encode({"lo": 2, "hi": 1}) == \
        c.encode({"lo": 2, "hi": 1, "both": 0x1_0000_0002})
    assert c.encode({"f": 1.0}) == struct.pack("<fI", 1.0, 0)
    with pytest.raises(ValueEncodingError, match=r"'lo' and 'both' overlap and disagree"):
        c.encode({"lo": 2, "both": 3 << 32})
    decoded = c.decode(struct.pack("<Q", 0x3F800000))
    assert decoded == {"lo": 0x3F800000, "hi": 0, "both": 0x3F800000, "f": 1.0}
    assert c.encode(decoded) == struct.pack("<Q", 0x3F800000)


@pytest.mark.parametrize(("type_id", "value", "message"), [
    (U16, 70000, r"70000 out of range for unsigned short \(0\.\.65535\)"),
    (U16, -1, "out of range"),
    (S8, 128, r"-128\.\.127"),
    (U32, "12", "str '12' cannot be a unsigned int"),
    (U32, 1.5, "float 1.5 cannot be"),
    (BOOL, 2, "not a bool"),
    (ENUM_U8, "SCTP", r"'SCTP' is not a member of enum proto \(ICMP, TCP, UDP, TCP_ALIAS\)"),
    (ENUM_U8, 256, "out of range"),
    (F32, "x", "cannot be a float"),
    (F32, 1e300, "does not fit float"),
    (CHARS8, "123456789", "9 bytes of text do not fit char\\[8\\]"),
    (CHARS8, "a\0b", "contains a NUL"),
    (CHARS8, 5, "expected str"),
    (ARR_U16_3, [1, 2, 3, 4], "4 items given"),
    (ARR_U16_3, "abc", "expected a list"),
    (FLOW, {"saddr": 1, "nope": 2, "zip": 3}, r"no members 'nope', 'zip' in struct flow \(members: saddr, sport"),
    (FLOW, [1, 2], "expected a dict"),
    (FLOW, {"comm": "waytoolongname"}, r"struct flow\.comm: 14 bytes"),
    (OUTER, {"f": {"sport": 1 << 20}}, r"struct outer\.f\.sport: 1048576 out of range"),
    (OUTER, {"m": [[1, 2, 3], [4, 5, 70000]]}, r"struct outer\.m\[1\]\[2\]"),
    (OUTER, {"pairs": [{}, {"lo": 1, "both": 2 << 32}]}, r"struct outer\.pairs\[1\]: members 'lo' and 'both'"),
    (BITS, {"a": 8}, r"8 out of range for 3-bit bitfield of unsigned int \(0\.\.7\)"),
    (BITS, {"c": -65}, r"-64\.\.63"),
    (BITS, {"e": "NOPE"}, "not a member"),
    (FLOW, b"\0" * 23, "23 bytes given for a 24-byte struct flow"),
    (F128, 1.0, "needs exactly 16 bytes"),
])
def test_encode_errors_name_the_member(type_id, value, message):
    with pytest.raises(ValueEncodingError, match=message) as info:
        codec(type_id).encode(value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BpfnbError)
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and again.path == info.value.path


def test_decode_wants_exactly_the_size():
    with pytest.raises(ValueEncodingError, match="23 bytes given, the type is 24 bytes"):
        codec(FLOW).decode(bytes(23))
    with pytest.raises(ValueEncodingError):
        codec(FLOW).decode(bytes(25))


def test_escape_hatches_and_numpy_inputs():
    c = codec(OUTER)
    blob = os.urandom(c.size)
    assert c.encode(blob) == blob  # exact-size bytes pass through unchanged
    assert c.encode({"f": bytes(range(24))})[:24] == bytes(range(24))
    record = np.frombuffer(blob, dtype=c.dtype)[0]
    assert c.encode(record) == blob
    assert codec(ARR_2X3).encode(np.arange(6, dtype=np.uint16).reshape(2, 3)) == np.arange(6, dtype="<u2").tobytes()
    assert codec(U32).encode(np.uint32(7)) == b"\x07\0\0\0" and codec(U32).encode(True) == b"\x01\0\0\0"
    assert codec(U32).encode(3.0) == b"\x03\0\0\0"  # integral floats (from a float column) are fine
    assert codec(CHARS8).encode(b"raw\xff") == b"raw\xff\0\0\0\0"


def test_raw_and_per_cpu_codecs():
    raw = RawCodec(6)
    assert raw.encode(b"abcdef") == raw.decode(b"abcdef") == b"abcdef"
    assert raw.dtype == np.dtype("V6")
    with pytest.raises(ValueEncodingError, match="needs bytes"):
        raw.encode(5)
    with pytest.raises(ValueEncodingError, match="5 bytes given, the map wants 6"):
        raw.encode(b"abcde")
    pc = PerCpuCodec(codec(FLOW), 3)
    assert per_cpu_stride(24) == 24 and per_cpu_stride(12) == 16 and pc.size == 72
    values = [{"saddr": i, "comm": f"cpu{i}"} for i in range(3)]
    blob = pc.encode(values)
    assert [v["comm"] for v in pc.decode(blob)] == ["cpu0", "cpu1", "cpu2"]
    assert np.frombuffer(blob, dtype=pc.dtype)[0]["value"]["saddr"].tolist() == [0, 1, 2]
    small = PerCpuCodec(codec(U32), 2)
    assert small.encode([1, 2]) == b"\x01\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0"
    with pytest.raises(ValueEncodingError, match="1 values given for 2 CPUs"):
        small.encode([1])


def test_decode_value_wraps_the_codec_and_keeps_its_contract():
    data = codec(FLOW).encode({"saddr": 9, "comm": "x"})
    assert decode_value(BTF, FLOW, data + b"trailing") == codec(FLOW).decode(data)
    multi = Btf.from_file(fixture_path("multi"))
    greeting = multi.find("greeting", kind="var")
    assert decode_value(multi, greeting.type_id, b"hello\0\0\0") == "hello"
    assert Codec(multi, greeting.id).decode(b"hello\0\0\0") == "hello"  # a VAR id means its type
    from bpfnb.errors import BtfError

    with pytest.raises(BtfError, match="cannot hold"):
        decode_value(BTF, FLOW, bytes(3))


def test_float_round_trip_keeps_special_values():
    c = codec(F64)
    for x in (0.0, -0.0, math.inf, -math.inf, 1e-310):
        assert struct.pack("<d", c.decode(c.encode(x))) == struct.pack("<d", x)
    assert math.isnan(c.decode(c.encode(math.nan)))


def test_big_endian_btf_values_and_the_bitfield_refusal():
    from bpfnb.btf.writer import write_types
    from bpfnb.btf.frames import frame_from_batch

    big = Btf.from_bytes(write_types(sorted(kinds_types(), key=lambda t: t.id), byteorder=">"))
    flow = Codec(big, FLOW)
    data = struct.pack(">IHB1x8s?7x", 0x0A000001, 443, 6, b"curl", True)
    assert flow.dtype.fields["saddr"][0] == np.dtype(">u4")
    assert flow.decode(data) == {"saddr": 0x0A000001, "sport": 443, "proto": "TCP", "comm": "curl", "ok": True}
    assert flow.encode(flow.decode(data)) == data
    df = frame_from_batch(data, struct.pack(">d", 2.5), flow, Codec(big, F64))
    assert df["key.saddr"].tolist() == [0x0A000001] and df["value"].tolist() == [2.5]
    with pytest.raises(ValueEncodingError, match="big-endian"):
        Codec(big, BITS).decode(bytes(16))
    with pytest.raises(ValueEncodingError, match="big-endian"):
        frame_from_batch(bytes(16), bytes(16), Codec(big, BITS), Codec(big, BITS))


def test_lossy_union_views_encode_back_to_their_bytes():
    """A _Bool read from a byte that is not 0/1, a float read from a signalling NaN: the decoded
    dict encodes to the same bytes (the integer views set the bits, the lossy view only has to
    read as its value), and a view that reads otherwise is still a disagreement."""
    from bpfnb.btf.writer import write_types

    lossy = Btf.from_bytes(write_types([
        Int(1, "_Bool", 1, IntEncoding.BOOL, 0, 8), Int(2, "int", 4, IntEncoding.SIGNED, 0, 32),
        Float(3, "float", 4),
        Union(4, "view", 4, (Member("boolean", 1, 0), Member("int_32", 2, 0), Member("f", 3, 0))),
    ]), source="lossy")
    c = Codec(lossy, 4)
    for raw in (b"\xa3\x00\x00\x00", struct.pack("<I", 0x7F800001), struct.pack("<I", 0xFFA00001), bytes(4)):
        decoded = c.decode(raw)
        assert c.encode(decoded) == raw, decoded
        assert c.encode(dict(reversed(list(decoded.items())))) == raw  # member order does not matter
    assert c.decode(b"\xa3\0\0\0")["boolean"] is True and c.decode(b"\xa3\0\0\0")["int_32"] == 0xA3
    assert c.encode({"boolean": True}) == b"\x01\0\0\0"
    assert c.encode({"boolean": 1, "int_32": 0x1A3}) == b"\xa3\x01\0\0"
    assert c.encode({"boolean": False, "int_32": 0x100}) == b"\0\x01\0\0"
    with pytest.raises(ValueEncodingError, match="overlap and disagree"):
        c.encode({"boolean": True, "int_32": 0x100})  # the bool's byte is 0
    with pytest.raises(ValueEncodingError, match="overlap and disagree"):
        c.encode({"boolean": False, "int_32": 0xA3})
    with pytest.raises(ValueEncodingError, match="overlap and disagree"):
        c.encode({"f": math.nan, "int_32": 1})  # 1 is a denormal, not a NaN
