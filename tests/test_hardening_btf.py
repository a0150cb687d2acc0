"""Classes 2 and 3 of issue 13: malformed or hostile BTF fails typed, naming the type id.

Class 2: scalar records the kernel would refuse (INT of size 0 or 2^32-1,
FLOAT of size 2^32-4, bits beyond the size, odd enum sizes) are refused at
parse time with BtfError; sizes numpy cannot hold (a 3.8 GB char array) and
zero-length inner array dimensions no longer reach numpy or ``range``
untyped.  Class 3: every recursive walker over BTF stops at one shared depth
(``bpfnb.btf.limits.MAX_DEPTH``) with BtfError instead of RecursionError.
"""

from __future__ import annotations

import sys

import pytest

from bpfnb.btf import Array, Btf, Const, Enum, EnumValue, Float, Int, IntEncoding, Member, Ptr, Struct, Typedef
from bpfnb.btf.codec import Codec, RawCodec
from bpfnb.btf.dtype import layout_of
from bpfnb.btf.limits import MAX_DEPTH
from bpfnb.btf.writer import write_types
from bpfnb.errors import BpfnbError, BtfError, ValueEncodingError

from hardening_mutate import set_record_word

U32, CHAR = 1, 2


def _blob(extra: list) -> bytes:
    base = [Int(U32, "unsigned int", 4, IntEncoding.NONE, 0, 32), Int(CHAR, "char", 1, IntEncoding.SIGNED, 0, 8)]
    return write_types(base + extra)


# --- class 2: scalars the kernel refuses are refused at parse time ----------------------


@pytest.mark.parametrize("word,value,what", [
    (2, 0, "size 0"),
    (2, 0xFFFFFFFF, "size 2^32-1"),
    (2, 17, "size 17"),
    (3, 200, "200 bits"),  # int data: bits in the low byte
    (3, (60 << 16) | 32, "offset 60 + 32 bits in 4 bytes"),
])
def test_bad_int_is_refused_at_parse(word, value, what):
    blob = _blob([Int(3, "victim", 4, IntEncoding.NONE, 0, 32)])
    bad = set_record_word(blob, "INT", 2, word, value)
    with pytest.raises(BtfError) as info:
        Btf.from_bytes(bad)
    assert info.value.type_id == 3, what
    assert "INT" in str(info.value)


@pytest.mark.parametrize("size", [0, 1, 3, 6, 2**32 - 4])
def test_bad_float_is_refused_at_parse(size):
    blob = _blob([Float(3, "double", 8)])
    with pytest.raises(BtfError) as info:
        Btf.from_bytes(set_record_word(blob, "FLOAT", 0, 2, size))
    assert info.value.type_id == 3 and "FLOAT" in str(info.value)


def test_bad_enum_size_is_refused_at_parse():
    blob = _blob([Enum(3, "e", 4, False, (EnumValue("A", 1),))])
    with pytest.raises(BtfError) as info:
        Btf.from_bytes(set_record_word(blob, "ENUM", 0, 2, 3))
    assert info.value.type_id == 3


@pytest.mark.parametrize("size", [2, 4, 8, 12, 16])
def test_valid_float_sizes_parse(size):
    btf = Btf.from_bytes(_blob([Float(3, "f", size)]))
    assert btf[3].size == size


def test_huge_char_array_is_typed():
    btf = Btf.from_bytes(_blob([Array(3, "", CHAR, U32, 3875536912)]))
    with pytest.raises(BtfError) as info:
        Codec(btf, 3)
    assert isinstance(info.value, ValueEncodingError)  # old callers catching that still do
    assert info.value.type_id == 3 and "3875536912" in str(info.value)


def test_huge_array_and_struct_are_typed():
    btf = Btf.from_bytes(_blob([
        Array(3, "", U32, U32, 1 << 30),
        Struct(4, "big", 0xFFFFFFF0, (Member("x", U32, 0, 0),)),
        Array(5, "", 3, U32, 4),  # 4 x 4 GiB
    ]))
    for tid in (3, 4, 5):
        with pytest.raises(BtfError) as info:
            Codec(btf, tid)
        assert info.value.type_id is not None


@pytest.mark.parametrize("elem", ["number", "struct", "enum"])
def test_zero_inner_dimension_decodes_and_encodes(elem):
    elem_type = {"number": Int(3, "unsigned long", 8, IntEncoding.NONE, 0, 64),
                 "struct": Struct(3, "pair", 8, (Member("a", U32, 0, 0), Member("b", U32, 32, 0))),
                 "enum": Enum(3, "e", 4, False, (EnumValue("A", 1),))}[elem]
    btf = Btf.from_bytes(_blob([elem_type, Array(4, "", 3, U32, 0), Array(5, "", 4, U32, 2),
                                Struct(6, "s", 4, (Member("m", 5, 0, 0), Member("x", U32, 0, 0)))]))
    codec = Codec(btf, 5)  # elem m[2][0]
    assert codec.size == 0
    assert codec.decode(b"") == [[], []]
    assert codec.encode([[], []]) == b""
    assert Codec(btf, 6).decode(bytes(4)) == {"m": [[], []], "x": 0}


def test_raw_codec_size_is_bounded():
    with pytest.raises(ValueEncodingError):
        RawCodec(1 << 32)


# --- class 3: one depth guard for every walker ---------------------------------------------

N = 600


def _nested_structs(anonymous: bool = False) -> Btf:
    types = [Int(U32, "unsigned int", 4, IntEncoding.NONE, 0, 32), Int(CHAR, "char", 1, IntEncoding.SIGNED, 0, 8),
             Struct(3, "" if anonymous else "s0", 4, (Member("x", U32, 0, 0),))]
    for i in range(1, N):
        tid = 3 + i
        types.append(Struct(tid, "" if anonymous else f"s{i}", 4, (Member("" if anonymous else "m", tid - 1, 0, 0),)))
    if anonymous:
        types.append(Struct(3 + N, "outer", 4, (Member("", 2 + N, 0, 0),)))
    return Btf.from_bytes(write_types(types))


def _nested_arrays() -> Btf:
    types = [Int(U32, "unsigned int", 4, IntEncoding.NONE, 0, 32), Int(CHAR, "char", 1, IntEncoding.SIGNED, 0, 8),
             Array(3, "", U32, U32, 1)]
    types += [Array(3 + i, "", 2 + i, U32, 1) for i in range(1, N)]
    return Btf.from_bytes(write_types(types))


def _modifier_chain() -> Btf:
    types = [Int(U32, "unsigned int", 4, IntEncoding.NONE, 0, 32), Int(CHAR, "char", 1, IntEncoding.SIGNED, 0, 8)]
    for i in range(N):
        tid = 3 + i
        prev = U32 if i == 0 else tid - 1
        types.append([Const(tid, "", prev), Typedef(tid, f"t{i}", prev), Ptr(tid, "", prev)][i % 3])
    return Btf.from_bytes(write_types(types))


WALKERS = {
    "align_of": lambda b, t: b.align_of(t),
    "size_of": lambda b, t: b.size_of(t),
    "name_of": lambda b, t: b.name_of(t),
    "to_c": lambda b, t: b.to_c([t]),
    "to_c_all": lambda b, t: b.to_c(),
    "layout": lambda b, t: layout_of(b, t),
    "codec": lambda b, t: Codec(b, t).decode(bytes(Codec(b, t).size)),
    "member_offset": lambda b, t: b.member_offset(t, "x"),
    "type_graph": lambda b, t: b.type_graph(t, depth=N).source,
    "core_compat": lambda b, t: __import__("bpfnb.btf.core_spec", fromlist=["x"]).types_compatible(b, t, b, t),
    "core_match": lambda b, t: __import__("bpfnb.btf.core_spec", fromlist=["x"]).types_match(b, t, b, t),
    "core_fields": lambda b, t: __import__("bpfnb.btf.core_spec", fromlist=["x"]).fields_compatible(b, t, b, t),
}
SHAPES = {"structs": (_nested_structs, 2 + N), "anon_structs": (lambda: _nested_structs(True), 3 + N),
          "arrays": (_nested_arrays, 2 + N), "modifiers": (_modifier_chain, 2 + N)}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("walker", WALKERS)
def test_deep_btf_never_recurses_out(shape, walker):
    make, top = SHAPES[shape]
    btf = make()
    limit = sys.getrecursionlimit()
    try:
        WALKERS[walker](btf, top)
    except RecursionError as exc:  # the bug: never acceptable
        pytest.fail(f"{walker} on {N} nested {shape}: RecursionError {exc}")
    except BtfError as exc:
        assert exc.type_id is not None, str(exc)
    except BpfnbError:
        pass  # a typed refusal that is not about depth (e.g. no member "x")
    assert sys.getrecursionlimit() == limit


def test_deep_structs_say_why():
    btf = _nested_structs()
    with pytest.raises(BtfError, match=f"more than {MAX_DEPTH} levels") as info:
        btf.align_of(2 + N)
    assert info.value.type_id is not None
    with pytest.raises(BtfError, match=f"more than {MAX_DEPTH} levels"):
        layout_of(btf, 2 + N)


def test_depth_within_the_limit_still_works():
    types = [Int(U32, "unsigned int", 4, IntEncoding.NONE, 0, 32), Int(CHAR, "char", 1, IntEncoding.SIGNED, 0, 8),
             Struct(3, "s0", 4, (Member("x", U32, 0, 0),))]
    types += [Struct(3 + i, f"s{i}", 4, (Member("m", 2 + i, 0, 0),)) for i in range(1, 40)]
    btf = Btf.from_bytes(write_types(types))
    assert btf.align_of(42) == 4 and btf.size_of(42) == 4
    assert "struct s39" in btf.to_c([42])
    value = Codec(btf, 42).decode((7).to_bytes(4, "little"))
    for _ in range(39):
        value = value["m"]
    assert value == {"x": 7}
