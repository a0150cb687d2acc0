"""Bulk paths against their one-record-at-a-time references.

``Btf.materialise()`` (:mod:`bpfnb.btf.bulk`) must give exactly the objects
``btf[id]`` decodes one by one, and on malformed BTF the same error;
``BtfBuilder.add_records`` (:mod:`bpfnb.btf.recode`) exactly the bytes
``BtfBuilder.add(btf[id])`` writes, whatever the string policy; the raw dump
from columns (:mod:`bpfnb.display.btf_raw`) exactly ``raw_lines`` of each
type object.
"""

from __future__ import annotations

import struct

from helpers import all_fixtures, fixture_path, needs_vmlinux
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bpfnb.btf.btf as btf_module
from bpfnb.btf import Btf, Kind
from bpfnb.btf.bulk import decode_all
from bpfnb.btf.parser import decode
from bpfnb.btf.writer import BtfBuilder
from bpfnb.display.btf_dump import raw_lines
from bpfnb.display.btf_raw import raw_records
from bpfnb.errors import BpfnbError

VMLINUX = btf_module.SYS_BTF / "vmlinux"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def one_by_one(btf: Btf) -> list:
    return [decode(btf._table, i, btf.start_id + i, btf._strings, btf) for i in range(len(btf._table.starts))]


def assert_same_decoding(data: bytes, base: Btf | None = None) -> None:
    btf = Btf.from_bytes(data, base=base)
    bulk = decode_all(btf._table, btf._strings, btf.start_id, btf)
    try:
        reference = one_by_one(btf)
    except BpfnbError as exc:
        assert bulk is None, f"bulk decoding accepted what decode refuses: {exc}"
        again = Btf.from_bytes(data, base=base)
        try:
            list(again)
        except BpfnbError as bulk_exc:
            assert str(bulk_exc) == str(exc)
        else:
            raise AssertionError(f"list(btf) accepted what btf[id] refuses: {exc}")
        return
    assert bulk is not None
    assert sorted(bulk) == list(range(btf.start_id, len(btf)))
    bulk = [bulk[i] for i in range(btf.start_id, len(btf))]
    assert bulk == reference
    assert [type(t) for t in bulk] == [type(t) for t in reference]
    assert list(Btf.from_bytes(data, base=base)) == [btf[0], *reference]


def written(btf: Btf, *, keep_strings: bool, bulk: bool) -> bytes:
    b = BtfBuilder(base=btf.base, strings=btf._strings if keep_strings else None)
    if bulk:
        b.add_records(btf, btf.start_id, len(btf))
    else:
        for tid in btf.own_ids:
            b.add(btf[tid])
    return b.to_bytes()


def assert_same_writing(data: bytes) -> None:
    for keep_strings in (True, False):
        try:
            reference = written(Btf.from_bytes(data), keep_strings=keep_strings, bulk=False)
        except BpfnbError as exc:
            try:
                written(Btf.from_bytes(data), keep_strings=keep_strings, bulk=True)
            except BpfnbError as bulk_exc:
                assert str(bulk_exc) == str(exc)
                continue
            raise AssertionError(f"add_records accepted what add refuses: {exc}") from None
        assert written(Btf.from_bytes(data), keep_strings=keep_strings, bulk=True) == reference


def assert_same_raw_dump(data: bytes) -> None:
    btf = Btf.from_bytes(data)
    try:
        reference = ["\n".join(raw_lines(btf, btf[i])) for i in btf.own_ids]
    except BpfnbError as exc:
        try:
            records = raw_records(Btf.from_bytes(data))
        except BpfnbError:
            return
        assert records is None, f"columns formatted what the type objects refuse: {exc}"
        return
    records = raw_records(Btf.from_bytes(data))
    if records is not None:
        assert list(records) == reference


def test_fixtures_decode_write_and_dump_alike():
    for path in all_fixtures():
        data = Btf.from_file(path).to_bytes()
        assert_same_decoding(data)
        assert_same_writing(data)
        assert_same_raw_dump(data)


@needs_vmlinux
def test_vmlinux_decodes_writes_and_dumps_alike():
    data = VMLINUX.read_bytes()
    assert_same_decoding(data)
    assert_same_writing(data)
    assert raw_records(Btf.from_bytes(data)) is not None
    assert_same_raw_dump(data)


def test_records_in_pieces_equal_records_at_once():
    """How sanitize writes: runs of untouched records between replaced ones."""
    btf = Btf.from_file(fixture_path("btf_kinds"))
    whole = BtfBuilder(strings=btf._strings)
    whole.add_records(btf, 1, len(btf))
    pieces = BtfBuilder(strings=btf._strings)
    cuts = [1, 2, 2, 5, len(btf) - 1, len(btf)]
    for first, stop in zip(cuts, cuts[1:]):
        pieces.add_records(btf, first, stop)
    assert pieces.to_bytes() == whole.to_bytes()


def test_objects_already_handed_out_stay_the_same():
    btf = Btf.from_file(all_fixtures()[0])
    first = btf[len(btf) - 1]
    list(btf)
    assert btf[len(btf) - 1] is first


def test_materialising_some_kinds_decodes_those_alike_and_no_others():
    """A C header decodes records, enums and what they are built from in bulk, not functions."""
    btf = Btf.from_file(fixture_path("btf_kinds"))
    reference = Btf.from_file(fixture_path("btf_kinds"))
    first = btf[len(btf) - 1]
    btf.materialise(["struct", "union", Kind.ENUM, 8])
    wanted = {Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.TYPEDEF}
    decoded = set(btf._types)
    assert {tid for tid in btf.own_ids if btf.kind_of(tid) in wanted} <= decoded
    assert all(btf.kind_of(tid) in wanted for tid in decoded - {0, len(btf) - 1})
    assert [btf[tid] for tid in sorted(decoded) if tid] == [reference[tid] for tid in sorted(decoded) if tid]
    assert btf[len(btf) - 1] is first and not btf._materialised
    assert list(btf) == list(reference)


BLOB = Btf.from_file(fixture_path("btf_kinds")).to_bytes()


@st.composite
def mutated(draw) -> bytes:
    """A type-section word overwritten: names, linkages, vlens, kinds go wrong."""
    data = bytearray(BLOB)
    hdr_len, type_off, type_len = struct.unpack_from("<III", data, 4)
    for _ in range(draw(st.integers(1, 3))):
        pos = hdr_len + type_off + 4 * draw(st.integers(0, type_len // 4 - 1))
        value = draw(st.one_of(st.integers(0, 300), st.integers(0, 2**32 - 1), st.sampled_from([1 << 31, 0xFFFF])))
        struct.pack_into("<I", data, pos, value)
    return bytes(data)


@SETTINGS
@given(mutated())
def test_mutated_btf_decodes_and_writes_alike(data):
    try:
        Btf.from_bytes(data)
    except BpfnbError:
        return
    assert_same_decoding(data)
    assert_same_writing(data)
    assert_same_raw_dump(data)
