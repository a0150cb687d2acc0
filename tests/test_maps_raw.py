"""Typed maps without BTF, the generic fallback, the hooks and the view.

Maps created straight from a ``MapSpec`` (no object, no BTF) still get
what their type implies — a ``u32`` index for arrays, ``(prefixlen,
bytes)`` keys for LPM tries — and raw bytes otherwise; a map kind without
a class of its own (a devmap here) gets the generic :class:`TypedMap`.
"""

from __future__ import annotations

import pytest

import bpfnb.maps

from bpfnb.errors import ValueEncodingError
from bpfnb.kernel import Map, create_map
from bpfnb.maps import Array, HashMap, LpmTrie, TypedMap, typed
from bpfnb.obj import MapSpec
from bpfnb.uapi import MapType

pytestmark = pytest.mark.kernel


@pytest.fixture
def make():
    made = []

    def _make(map_type, key_size, value_size, max_entries, **kw) -> TypedMap:
        spec = MapSpec(f"bpfnb_{map_type.name.lower()}"[:15], map_type, key_size, value_size, max_entries, **kw)
        m = typed(create_map(spec).map)
        made.append(m)
        return m

    yield _make
    for m in made:
        m.close()


def test_raw_hash_speaks_bytes(make):
    m = make(MapType.HASH, 4, 8, 16)
    assert isinstance(m, HashMap) and m.codecs.source == "raw"
    m[b"\1\0\0\0"] = b"\2" * 8
    assert m[b"\1\0\0\0"] == b"\2" * 8
    with pytest.raises(ValueEncodingError, match="needs bytes"):
        m[1] = b"\0" * 8
    with pytest.raises(ValueEncodingError, match="3 bytes given"):
        m[b"\1\0\0"] = b"\0" * 8
    df = m.to_dataframe()
    assert df.to_dict("records") == [{"key": b"\1\0\0\0", "value": b"\2" * 8}]


def test_array_without_btf_has_int_indices(make):
    m = make(MapType.ARRAY, 4, 4, 4)
    assert isinstance(m, Array) and m.codecs.source == "map type" and m.codecs.key.name == "__u32"
    m[2] = b"abcd"
    assert m[2] == b"abcd" and list(m.to_dataframe()["index"]) == [0, 1, 2, 3]


def test_lpm_trie_without_btf(make):
    m = make(MapType.LPM_TRIE, 8, 4, 16, map_flags=1)  # BPF_F_NO_PREALLOC, which tries need
    assert isinstance(m, LpmTrie)
    m["192.168.0.0/16"] = b"\1\0\0\0"
    assert m.match("192.168.7.7") == b"\1\0\0\0"
    assert list(m) == [(16, bytes([192, 168, 0, 0]))]
    df = m.to_dataframe()
    assert df["key.prefixlen"].tolist() == [16] and df["key.data[1]"].tolist() == [168]


def test_generic_fallback_for_other_kinds(make):
    m = make(MapType.DEVMAP, 4, 4, 4)
    assert type(m) is TypedMap
    m[(0).to_bytes(4, "little")] = (1).to_bytes(4, "little")  # ifindex 1: lo
    assert m.get((0).to_bytes(4, "little")) == (1).to_bytes(4, "little")
    assert len(m.to_dataframe()) == 1


def test_hooks_and_the_maps_listing(make):
    m = make(MapType.HASH, 4, 4, 4)
    with Map.from_id(m.id) as raw:
        again = bpfnb.maps.typed(raw)
        assert isinstance(again, HashMap) and again.spec is None  # other attributes come from the raw map

    assert m.id in bpfnb.maps.show().ids()  # every map of the system


def test_view_is_bounded_and_skips_destructive_reads(make):
    m = make(MapType.HASH, 4, 4, 1000)
    for i in range(100):
        m[i.to_bytes(4, "little")] = b"\0" * 4
    html = m._repr_html_()
    assert "types from" in html and "showing the first 20 entries" in html and 'class="bpfnb-live"' in html
    q = make(MapType.QUEUE, 0, 4, 4)
    q.push(b"abcd")
    assert "<summary>entries" not in q._repr_html_()
    assert q.pop() == b"abcd"  # the view did not pop it


def test_a_preview_continues_past_a_short_batch(make, monkeypatch):
    """A hash batch ends at a bucket boundary (19 of 20 asked when the next bucket holds two):
    the preview keeps reading from the cursor until it has its rows. Calls here give three
    entries each; every real preview of a map with more entries has exactly 20."""
    from bpfnb.maps import bulk

    m = make(MapType.HASH, 4, 4, 1000)
    for i in range(100):
        m[i.to_bytes(4, "little")] = i.to_bytes(4, "little")
    real, calls = bulk.map_lookup_batch, []

    def three_at_a_time(fd, ks, vs, count, cursor, **kw):
        calls.append(count)
        return real(fd, ks, vs, min(count, 3), cursor, **kw)

    monkeypatch.setattr(bulk, "map_lookup_batch", three_at_a_time)
    head = bulk.read_head(m.raw, 20)
    assert head.count == 20 and len(calls) > 1
    got = {bytes(k) for k in head.keys[: head.count]}
    assert len(got) == 20 and all(int.from_bytes(k, "little") < 100 for k in got)
    monkeypatch.undo()
    for _ in range(10):  # fresh maps: a fresh hash seed each, so bucket layouts differ
        again = make(MapType.HASH, 4, 4, 1000)
        for i in range(100):
            again[i.to_bytes(4, "little")] = b"\0" * 4
        assert bulk.read_head(again.raw, 20).count == 20
