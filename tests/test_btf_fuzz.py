"""Mutated BTF / .BTF.ext bytes: only ``BpfnbError`` may escape, in bounded time."""

from __future__ import annotations

import struct

import pytest
from helpers import fixture_path, hang_guard
from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfnb.btf import Btf, BtfExt
from bpfnb.btf.c import render_c
from bpfnb.btf.writer import write_btf
from bpfnb.errors import BpfnbError


def _sections(name: str) -> tuple[bytes, bytes]:
    with open(fixture_path(name), "rb") as f:
        elf = ELFFile(f)
        return elf.get_section_by_name(".BTF").data(), elf.get_section_by_name(".BTF.ext").data()


BLOBS = {name: _sections(name) for name in ("multi", "btf_kinds", "minimal")}
# no per-example deadline: the machine is shared; hang_guard turns a real hang into a failure
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def exercise(data: bytes) -> None:
    with hang_guard():
        _exercise(data)


def _exercise(data: bytes) -> None:
    """Parse, then touch everything a user could: every type, names, sizes, C, writer."""
    try:
        btf = Btf.from_bytes(data)
    except BpfnbError:
        return
    for tid in range(len(btf)):
        for call in (btf.__getitem__, btf.name_of, btf.size_of, btf.align_of, btf.resolve, btf.kind_of):
            try:
                call(tid)
            except BpfnbError:
                pass
    for call in (lambda: render_c(btf), lambda: write_btf(btf), btf.to_dataframe, btf._repr_html_):
        try:
            call()
        except BpfnbError:
            pass


@st.composite
def mutated(draw) -> bytes:
    name = draw(st.sampled_from(sorted(BLOBS)))
    data = bytearray(BLOBS[name][0])
    how = draw(st.sampled_from(["truncate", "flip", "header", "word", "vlen"]))
    if how == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            bit = draw(st.integers(0, 8 * len(data) - 1))
            data[bit // 8] ^= 1 << (bit % 8)
    elif how == "header":
        field = draw(st.integers(1, 5))  # hdr_len, type_off, type_len, str_off, str_len
        value = draw(st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1)))
        struct.pack_into("<I", data, 4 * field, value)
    elif how == "word":
        # overwrite a word of the type section: type ids, sizes, offsets go out of range
        hdr_len, type_off, type_len = struct.unpack_from("<III", data, 4)
        pos = hdr_len + type_off + 4 * draw(st.integers(0, type_len // 4 - 1))
        struct.pack_into("<I", data, pos, draw(st.one_of(st.integers(0, 200), st.integers(0, 2**32 - 1))))
    else:
        btf = Btf.from_bytes(bytes(data))
        idx = draw(st.integers(0, len(btf._table.starts) - 1))
        hdr_len, type_off = struct.unpack_from("<II", data, 4)
        pos = hdr_len + type_off + int(btf._table.starts[idx]) + 4
        info = struct.unpack_from("<I", data, pos)[0]
        struct.pack_into("<I", data, pos, (info & 0xFFFF0000) | draw(st.integers(0, 0xFFFF)))
    return bytes(data)


@SETTINGS
@given(mutated())
def test_mutated_btf_raises_only_bpfnb_errors(data):
    exercise(data)


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes(data):
    exercise(b"\x9f\xeb\x01\x00" + data)


@st.composite
def mutated_ext(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(BLOBS)))
    data = bytearray(BLOBS[name][1])
    how = draw(st.sampled_from(["truncate", "flip", "header", "word"]))
    if how == "truncate":
        return name, bytes(data[: draw(st.integers(0, len(data) - 1))])
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            bit = draw(st.integers(0, 8 * len(data) - 1))
            data[bit // 8] ^= 1 << (bit % 8)
    elif how == "header":
        field = draw(st.integers(1, 7))
        struct.pack_into("<I", data, 4 * field, draw(st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1))))
    else:
        pos = 4 * draw(st.integers(0, len(data) // 4 - 1))
        struct.pack_into("<I", data, pos, draw(st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1))))
    return name, bytes(data)


@SETTINGS
@given(mutated_ext())
def test_mutated_ext_raises_only_bpfnb_errors(case):
    name, data = case
    btf = Btf.from_bytes(BLOBS[name][0])
    try:
        with hang_guard():
            ext = BtfExt.from_bytes(data, btf)
    except BpfnbError:
        return
    assert sum(len(v) for v in ext.line_info.values()) >= 0


@pytest.mark.parametrize("vlen", [0xFFFF, 0x8000])
def test_huge_vlen_on_last_record(vlen):
    data = bytearray(BLOBS["minimal"][0])
    btf = Btf.from_bytes(bytes(data))
    hdr_len, type_off = struct.unpack_from("<II", data, 4)
    pos = hdr_len + type_off + int(btf._table.starts[-1]) + 4
    info = struct.unpack_from("<I", data, pos)[0]
    struct.pack_into("<I", data, pos, (info & 0xFFFF0000) | vlen)
    exercise(bytes(data))


def test_absurd_struct_size_renders_without_hanging():
    from bpfnb.btf import Int, IntEncoding, Member, Struct
    from bpfnb.btf.writer import write_types

    btf = Btf.from_bytes(write_types([Int(1, "int", 4, IntEncoding.SIGNED, 0, 32),
                                      Struct(2, "huge", 2**32 - 1, (Member("a", 1, 0), Member("b", 1, 2**23)))]))
    with hang_guard(10):  # one padding line per 64 bits would be 500M lines
        text = render_c(btf)
    assert "char __pad_4[" in text and "int b;" in text
