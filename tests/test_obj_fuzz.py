"""Hypothesis mutation of real objects: only BpfnbError may escape, quickly."""

from __future__ import annotations

import struct

from hardening_mutate import example_database
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfnb.errors import BpfnbError
from bpfnb.obj import Object

from hardening_mutate import apply_field_mutation, example_database, field_mutations
from helpers import fixture_path, hang_guard

SEEDS = [fixture_path(n).read_bytes() for n in ("multi", "legacy_maps", "minimal", "fentry")]
# ELF64 header fields worth corrupting: e_shoff, e_shentsize, e_shnum, e_shstrndx
HEADER_FIELDS = [(0x28, "<Q"), (0x3A, "<H"), (0x3C, "<H"), (0x3E, "<H")]


def _parse_bounded(data: bytes) -> None:
    with hang_guard():
        try:
            obj = Object.from_bytes(data, name="fuzz.o")
        except BpfnbError:
            return
        # A parsed object must also render: views run over the same data.
        obj.summary()
        obj._repr_html_()


def _section_header_offset(data: bytes, index: int) -> int:
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    return shoff + 64 * index


mutation = st.one_of(
    # bit flips inside one section's contents (BTF, .BTF.ext, symtab, relocations, code)
    st.tuples(st.just("inside"), st.integers(1, 40), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 7)), min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 7)), min_size=1, max_size=16)),
    st.tuples(st.just("header"), st.sampled_from(HEADER_FIELDS), st.integers(0, 2**64 - 1)),
    st.tuples(
        st.just("section"),
        st.integers(1, 40),
        st.sampled_from([(0x18, "<Q"), (0x20, "<Q"), (0x28, "<I"), (0x2C, "<I"), (0x38, "<Q"), (0x04, "<I")]),
        st.sampled_from([0, 1, 7, 0xFFFF, 0xFFFFFFFF, 2**40, 2**63, 2**64 - 1]),
    ),
)


def _apply(data: bytes, m) -> bytes:
    buf = bytearray(data)
    kind = m[0]
    if kind == "truncate":
        return bytes(buf[: int(len(buf) * m[1])])
    if kind == "flip":
        if not buf:
            return b""
        for pos, bit in m[1]:
            i = min(int(pos * len(buf)), len(buf) - 1)
            buf[i] ^= 1 << bit
        return bytes(buf)
    if len(buf) < 64:
        return bytes(buf)  # header and section mutations need an ELF header
    if kind == "inside":
        hdr = _section_header_offset(data, m[1])
        if hdr + 64 > len(buf):
            return bytes(buf)
        off, size = struct.unpack_from("<QQ", buf, hdr + 0x18)
        if size == 0 or off + size > len(buf):
            return bytes(buf)
        for pos, bit in m[2]:
            buf[off + min(int(pos * size), size - 1)] ^= 1 << bit
        return bytes(buf)
    if kind == "header":
        (off, fmt), value = m[1], m[2]
        struct.pack_into(fmt, buf, off, value & ((1 << (8 * struct.calcsize(fmt))) - 1))
        return bytes(buf)
    _, index, (field_off, fmt), value = m
    at = _section_header_offset(data, index) + field_off
    if at + struct.calcsize(fmt) <= len(buf):
        struct.pack_into(fmt, buf, at, value & ((1 << (8 * struct.calcsize(fmt))) - 1))
    return bytes(buf)


@settings(max_examples=int(__import__("os").environ.get("BPFNB_FUZZ_EXAMPLES", "300")), deadline=None,
          database=example_database(), suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(seed=st.sampled_from(range(len(SEEDS))),
       mutations=st.lists(st.one_of(mutation, st.tuples(st.just("field"), field_mutations())), min_size=1, max_size=3))
def test_mutated_objects_raise_only_bpfnb_errors(seed, mutations):
    data = SEEDS[seed]
    for m in mutations:
        data = apply_field_mutation(data, *m[1]) if m[0] == "field" else _apply(data, m)
    _parse_bounded(data)


def test_every_single_byte_truncation_of_minimal():
    data = SEEDS[2]
    for n in range(0, len(data), 97):
        _parse_bounded(data[:n])
