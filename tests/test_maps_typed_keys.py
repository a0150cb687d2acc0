"""Typed maps take typed keys everywhere, struct keys as tuples too, and errors name the class in hand."""

from __future__ import annotations

from collections import namedtuple

import pytest

from map_types_fixtures import loaded, make, obj  # noqa: F401

from bpfnb.errors import ValueEncodingError

pytestmark = pytest.mark.kernel

Flow = namedtuple("Flow", "saddr sport proto pad")


def test_lookup_and_update_are_typed(make) -> None:
    m = make("flows")
    key = {"saddr": 0x0A000001, "sport": 443, "proto": 6}
    m.update(key, {"packets": 3, "bytes": 120})
    assert m.lookup(key)["packets"] == 3 == m[key]["packets"]
    assert m.lookup({"saddr": 9}) is None and m.lookup({"saddr": 9}, "absent") == "absent"
    raw = m.raw.lookup(m.encode_key(key))  # the raw map keeps the bytes API
    assert m.decode_value(raw) == m[key]


def test_struct_keys_accept_tuples_in_member_order(make) -> None:
    m = make("flows")
    m[(0x0A000002, 80, 17)] = {"packets": 1}
    assert m[{"saddr": 0x0A000002, "sport": 80, "proto": 17}]["packets"] == 1
    assert m[Flow(0x0A000002, 80, 17, 0)]["packets"] == 1  # a namedtuple is a tuple
    assert m.encode_key((0x0A000002, 80)) == m.encode_key({"saddr": 0x0A000002, "sport": 80})
    with pytest.raises(ValueEncodingError, match="5 items for struct flow, which has 4 members"):
        m.encode_key((1, 2, 3, 4, 5))


def test_errors_name_the_typed_class(make) -> None:
    m = make("flows")
    with pytest.raises(ValueEncodingError, match=r"^HashMap 'flows': key 'nope'"):
        m.lookup("nope")
    with pytest.raises(ValueEncodingError, match=r"^PerCpuHash 'pcpu_flows'"):
        make("pcpu_flows").update("nope", {})
