"""The one BTF record layout table (bpfnb.uapi.btf_layout) agrees with the kinds, the parser and the writer.

The writer's byte-identical round trips of every fixture and of vmlinux (test_btf_writer) and the
feature probes' BTF loads (test_kernel_features) exercise the same table on real blobs.
"""

from __future__ import annotations

import pytest

from bpfnb.btf import Btf, Kind
from bpfnb.btf.parser import record_words
from bpfnb.btf.writer import BtfBuilder
from bpfnb.uapi import btf_layout
from bpfnb.uapi.btf_layout import HEADER_SIZE, LAYOUTS, int_data, pack_info, pack_record


def test_every_kind_has_one_layout_under_its_uapi_number() -> None:
    assert sorted(LAYOUTS) == [int(k) for k in Kind if k != Kind.UNKN]
    for number, layout in LAYOUTS.items():
        assert Kind(number).name == layout.name and layout.kind == number
        assert getattr(btf_layout, f"KIND_{layout.name}") == number
        assert layout.fixed_struct.size == 4 * layout.fixed_words and layout.item_struct.size == 4 * layout.item_words


@pytest.mark.parametrize("vlen", [0, 1, 7])
def test_parser_record_lengths_come_from_the_table(vlen: int) -> None:
    for number, layout in LAYOUTS.items():
        assert record_words(pack_info(number, vlen)) == layout.words(vlen), layout.name


def test_records_the_table_packs_parse_as_the_writer_writes_them() -> None:
    """The same int, struct and func proto through pack_record and through BtfBuilder: identical bytes."""
    b = BtfBuilder()
    name, member = b.add_string("int"), b.add_string("x")
    by_hand = (pack_record(Kind.INT, name, 4, fixed=(int_data(1, 0, 32),))
               + pack_record(Kind.STRUCT, 0, 4, items=[(member, 1, 0)])
               + pack_record(Kind.FUNC_PROTO, 0, 1, items=[(member, 1)]))
    btf = Btf.from_bytes(btf_layout.btf_blob(by_hand, bytes(b._strings)))
    again = BtfBuilder()
    for tid in btf.own_ids:
        again.add(btf[tid])
    assert again.to_bytes()[HEADER_SIZE:HEADER_SIZE + len(by_hand)] == by_hand
    assert btf[2].members[0].name == "x" and btf[3].params[0].type_id == 1


def test_pack_record_refuses_a_shape_the_kind_does_not_have() -> None:
    with pytest.raises(ValueError, match="ARRAY has 3 fixed words"):
        pack_record(Kind.ARRAY, 0, 0, fixed=(1,))
    with pytest.raises(ValueError, match="PTR records have no items"):
        pack_record(Kind.PTR, 0, 1, items=[(1, 2)])
