"""Batches ⇄ DataFrames (``bpfnb.btf.frames``) against the per-value codec.

The oracle for every vectorised column is ``Codec.decode`` of the same
entry's bytes, flattened by the documented column rules; the way back is
checked against ``Codec.encode(Codec.decode(...))``, the canonical bytes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from codec_btf import (
    ARR_NAMES, BITS, BOOL, CHARS8, CLASH, ENUM64, ENUM_S32, ENUM_U8, F16, F128, FLOW, NARROW, OUTER, PACKED_BITS,
    PAIR_UNION, PTR, S128, TYPEDEF_U32, U128, UCHARS6, kinds_btf,
)
from helpers import fixture_path

from bpfnb.btf import Btf
from bpfnb.btf.codec import Codec, PerCpuCodec, RawCodec, per_cpu_stride
from bpfnb.btf.dtype import ArrayOf, Record
from bpfnb.btf.frames import MAX_ARRAY_COLUMNS, batch_from_frame, frame_from_batch
from bpfnb.errors import ValueEncodingError

BTF = kinds_btf()
RNG = np.random.default_rng(11)


def codec(type_id: int) -> Codec:
    return Codec(BTF, type_id)


def random_bytes(n: int) -> bytes:
    return RNG.integers(0, 256, n, dtype=np.uint8).tobytes()


def expected_row(c, value, prefix: str, limit: int = MAX_ARRAY_COLUMNS) -> dict:
    """Flatten one decoded value by the documented column rules."""
    out: dict = {}

    def walk(node, v, name):
        if isinstance(node, Record):
            for f in node.fields:
                walk(f.node if not f.is_bitfield else None, v[f.name], f"{name}.{f.name}")
        elif isinstance(node, ArrayOf):
            if not node.count:
                return
            if node.count > limit:
                out[name] = v
                return
            for index in np.ndindex(*node.shape):
                item = v
                for i in index:
                    item = item[i]
                walk(node.elem, item, name + "".join(f"[{i}]" for i in index))
        elif getattr(node, "length", None) == 0:
            return
        else:
            out[name] = v

    walk(c.layout, value, prefix)
    return out


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def python(x):
    """A frame cell as a plain Python value."""
    return x.item() if isinstance(x, np.generic) else x


def assert_frame_matches(df: pd.DataFrame, rows: list[dict]) -> None:
    assert len(df) == len(rows)
    assert list(df.columns) == list(rows[0]) if rows else True
    records = df.to_dict("list")
    for name in df.columns:
        got = [python(x) for x in records[name]]
        want = [r[name] for r in rows]
        bad = [i for i, (g, w) in enumerate(zip(got, want)) if not same(g, w)]
        assert not bad, f"{name} row {bad[0]}: frame {got[bad[0]]!r}, codec {want[bad[0]]!r}"


CASES = {
    "flow": (TYPEDEF_U32, FLOW),
    "outer": (FLOW, OUTER),
    "bits": (ENUM_U8, BITS),
    "packed_bits": (PACKED_BITS, PACKED_BITS),
    "clash": (CLASH, PAIR_UNION),
    "scalars": (S128, ENUM_S32),
    "text": (CHARS8, ARR_NAMES),
    "misc": (U128, F16),
    "enum64_bool": (ENUM64, BOOL),
    "narrow_ptr": (NARROW, PTR),
    "mac_longdouble": (UCHARS6, F128),
}


@pytest.mark.parametrize("case", CASES)
def test_frame_rows_equal_per_value_decode(case):
    kc, vc = (codec(t) for t in CASES[case])
    n = 257
    keys, values = random_bytes(n * kc.size), random_bytes(n * vc.size)
    df = frame_from_batch(keys, values, kc, vc)
    rows = []
    for i in range(n):
        row = expected_row(kc, kc.decode(keys[i * kc.size : (i + 1) * kc.size]), "key")
        row.update(expected_row(vc, vc.decode(values[i * vc.size : (i + 1) * vc.size]), "value"))
        rows.append(row)
    assert_frame_matches(df, rows)


@pytest.mark.parametrize("case", CASES)
def test_batch_from_frame_gives_canonical_bytes(case):
    kc, vc = (codec(t) for t in CASES[case])
    n = 64
    keys, values = random_bytes(n * kc.size), random_bytes(n * vc.size)
    df = frame_from_batch(keys, values, kc, vc)
    k2, v2 = batch_from_frame(df, kc, vc)  # signalling NaNs in a union's float view included
    canon_k = b"".join(kc.encode(kc.decode(keys[i * kc.size : (i + 1) * kc.size])) for i in range(n))
    canon_v = b"".join(vc.encode(vc.decode(values[i * vc.size : (i + 1) * vc.size])) for i in range(n))
    assert k2 == canon_k
    assert v2 == canon_v
    assert frame_from_batch(k2, v2, kc, vc).equals(frame_from_batch(canon_k, canon_v, kc, vc))


def test_column_names_and_dtypes():
    df = frame_from_batch(random_bytes(3 * 4), random_bytes(3 * 176), codec(TYPEDEF_U32), codec(OUTER))
    cols = list(df.columns)
    assert cols[0] == "key" and df["key"].dtype == np.uint32  # scalar key: the column "key"
    assert cols[1:6] == ["value.f.saddr", "value.f.sport", "value.f.proto", "value.f.comm", "value.f.ok"]
    assert "value.x" in cols and "value.y" in cols  # anonymous union flattened
    assert ["value.m[0][0]", "value.m[0][1]", "value.m[0][2]", "value.m[1][0]"] == cols[cols.index("value.m[0][0]"):][:4]
    assert "value.counts" in cols and isinstance(df["value.counts"][0], list) and len(df["value.counts"][0]) == 20
    assert "value.pairs[1].both" in cols and not any("nothing" in c for c in cols)
    assert isinstance(df["value.f.proto"].dtype, pd.CategoricalDtype)
    assert df["value.f.ok"].dtype == bool and df["value.p.f"].dtype == np.float32
    assert df["value.i128"].dtype == object and isinstance(df["value.i128"][0], int)
    wide = frame_from_batch(random_bytes(4), random_bytes(176), codec(TYPEDEF_U32), codec(OUTER),
                            max_array_columns=20)
    assert "value.counts[19]" in wide.columns and "value.counts" not in wide.columns
    bits = frame_from_batch(random_bytes(10), random_bytes(16), codec(PACKED_BITS), codec(BITS))
    assert bits["value.c"].dtype == np.int8 and bits["value.wide"].dtype == np.uint64
    assert bits["key.big"].dtype == np.int64 and bits["value.flag"].dtype == bool
    assert not any("_bits_" in c for c in bits.columns)


def test_enum_categories_names_first_then_unknown_numbers():
    values = bytes([6, 17, 99, 1, 6, 200, 99])
    df = frame_from_batch(np.arange(7, dtype="<u4"), values, codec(TYPEDEF_U32), codec(ENUM_U8))
    col = df["value"]
    assert list(col.cat.categories) == ["ICMP", "TCP", "UDP", 99, 200]  # TCP_ALIAS shares TCP's value
    assert col.tolist() == ["TCP", "UDP", 99, "ICMP", "TCP", 200, 99]
    signed = frame_from_batch(np.arange(3, dtype="<u4"), np.array([-5, -6, 7], dtype="<i4"), codec(TYPEDEF_U32),
                              codec(ENUM_S32))
    assert signed["value"].tolist() == ["NEG", -6, "POS"]
    # names, numbers, or a plain string column all go back
    for column in (col, col.astype(object), col.astype(object).map(lambda v: v if isinstance(v, int) else str(v))):
        frame = pd.DataFrame({"key": df["key"], "value": column})
        assert batch_from_frame(frame, codec(TYPEDEF_U32), codec(ENUM_U8))[1] == values


def test_char_arrays_cut_at_nul_and_keep_non_utf8_bytes():
    raw = b"curl\0junk" [:8] + b"\xffab\0\0\0\0\0" + b"12345678"
    df = frame_from_batch(np.arange(3, dtype="<u4"), raw, codec(TYPEDEF_U32), codec(CHARS8))
    assert df["value"].tolist() == ["curl", "\udcffab", "12345678"]
    keys, values = batch_from_frame(df, codec(TYPEDEF_U32), codec(CHARS8))
    assert values == b"curl\0\0\0\0" + b"\xffab\0\0\0\0\0" + b"12345678"
    df.loc[1, "value"] = "ninechars"
    with pytest.raises(ValueEncodingError, match=r"value: row 1: 'ninechars' does not fit char\[8\]"):
        batch_from_frame(df, codec(TYPEDEF_U32), codec(CHARS8))


@pytest.mark.parametrize("ncpus", [1, 3])
def test_per_cpu_long_and_wide(ncpus):
    kc, vc = codec(FLOW), codec(BITS)
    stride = per_cpu_stride(vc.size)
    n = 50
    keys = random_bytes(n * kc.size)
    values = random_bytes(n * ncpus * stride)
    pc = PerCpuCodec(vc, ncpus)
    decoded = [pc.decode(values[i * pc.size : (i + 1) * pc.size]) for i in range(n)]
    long = frame_from_batch(keys, values, kc, vc, per_cpu=ncpus)
    assert len(long) == n * ncpus and list(long.columns).index("cpu") == 5
    rows = []
    for i in range(n):
        key_row = expected_row(kc, kc.decode(keys[i * kc.size : (i + 1) * kc.size]), "key")
        for cpu in range(ncpus):
            rows.append({**key_row, "cpu": cpu, **expected_row(vc, decoded[i][cpu], "value")})
    assert_frame_matches(long, rows)
    wide = frame_from_batch(keys, values, kc, pc, layout="wide")
    assert len(wide) == n
    assert [c for c in wide.columns if c.startswith("value.a@")] == [f"value.a@cpu{k}" for k in range(ncpus)]
    for cpu in range(ncpus):
        assert wide[f"value.e@cpu{cpu}"].tolist() == [decoded[i][cpu]["e"] for i in range(n)]
        assert wide[f"value.c@cpu{cpu}"].tolist() == [decoded[i][cpu]["c"] for i in range(n)]
    canon = b"".join(pc.encode(d) for d in decoded)
    canon_keys = b"".join(kc.encode(kc.decode(keys[i * kc.size : (i + 1) * kc.size])) for i in range(n))
    assert batch_from_frame(wide, kc, pc, layout="wide") == (canon_keys, canon)
    assert batch_from_frame(long, kc, vc, per_cpu=ncpus) == (canon_keys, canon)
    # rows may come in any order: keys are regrouped by first appearance, cpus placed by the column
    shuffled = long.iloc[RNG.permutation(len(long))]
    k3, v3 = batch_from_frame(shuffled, kc, vc, per_cpu=ncpus)
    back = frame_from_batch(k3, v3, kc, vc, per_cpu=ncpus)
    order = ["key.saddr", "key.sport", "key.comm", "cpu"]
    assert back.sort_values(order).reset_index(drop=True).equals(long.sort_values(order).reset_index(drop=True))


def test_long_per_cpu_missing_cpus_are_zero_and_duplicates_refused():
    kc, vc = codec(TYPEDEF_U32), codec(TYPEDEF_U32)
    df = pd.DataFrame({"key": [7, 7, 9], "cpu": [1, 0, 1], "value": [10, 11, 12]})
    keys, values = batch_from_frame(df, kc, vc, per_cpu=2)
    assert np.frombuffer(keys, "<u4").tolist() == [7, 9]
    assert np.frombuffer(values, "<u4").tolist() == [11, 0, 10, 0, 0, 0, 12, 0]  # u32 padded to 8 per CPU
    with pytest.raises(ValueEncodingError, match="two rows for the same key and cpu"):
        batch_from_frame(pd.DataFrame({"key": [7, 7], "cpu": [0, 0], "value": [1, 2]}), kc, vc, per_cpu=2)
    with pytest.raises(ValueEncodingError, match=r"cpu: 2 out of range \(0\.\.1\)"):
        batch_from_frame(pd.DataFrame({"key": [7], "cpu": [2], "value": [1]}), kc, vc, per_cpu=2)
    with pytest.raises(ValueEncodingError, match="needs a 'cpu' column"):
        batch_from_frame(pd.DataFrame({"key": [7], "value": [1]}), kc, vc, per_cpu=2)


def test_frame_errors():
    kc, vc = codec(TYPEDEF_U32), codec(FLOW)
    with pytest.raises(ValueEncodingError, match="10 bytes of keys are not a whole number of 4-byte entries"):
        frame_from_batch(bytes(10), bytes(48), kc, vc)
    with pytest.raises(ValueEncodingError, match="2 keys but 47 bytes of values"):
        frame_from_batch(bytes(8), bytes(47), kc, vc)
    with pytest.raises(ValueEncodingError, match="cannot hold 3 entries"):
        frame_from_batch(bytes(8), bytes(72), kc, vc, count=3)
    with pytest.raises(ValueError, match="layout must be"):
        frame_from_batch(bytes(4), bytes(24), kc, vc, layout="tall")
    df = frame_from_batch(np.arange(2, dtype="<u4"), bytes(48), kc, vc)
    for column, value, message in [
        ("value.sport", 70000, r"value\.sport: 70000 out of range \(0\.\.65535\)"),
        ("value.proto", "SCTP", "'SCTP' is not a member of enum proto"),
        ("value.saddr", 1.5, "non-integer"),
        ("value.saddr", "12", "holds mixed-integer values, not integers"),
        ("value.ok", 2, r"value\.ok: 2 out of range \(0\.\.1\)"),
    ]:
        bad = df.copy()
        bad[column] = bad[column].astype(object)
        bad.loc[1, column] = value
        with pytest.raises(ValueEncodingError, match=message):
            batch_from_frame(bad, kc, vc)
    with pytest.raises(ValueEncodingError, match="'value.nope', 'extra' match no key or value member"):
        batch_from_frame(df.assign(**{"value.nope": 1, "extra": 2}), kc, vc)
    with pytest.raises(ValueEncodingError, match="no key columns"):
        batch_from_frame(df.drop(columns=["key"]), kc, vc)
    with pytest.raises(ValueEncodingError, match="per_cpu=2 but the codec is for 3 CPUs"):
        frame_from_batch(bytes(4), bytes(72), kc, PerCpuCodec(vc, 3), per_cpu=2)


def test_missing_columns_are_zero_and_count_limits_the_buffer():
    kc, vc = codec(TYPEDEF_U32), codec(FLOW)
    keys, values = batch_from_frame(pd.DataFrame({"key": [1, 2], "value.comm": ["a", "bb"]}), kc, vc)
    assert [vc.decode(values[i * 24 : (i + 1) * 24]) for i in range(2)] == [
        {"saddr": 0, "sport": 0, "proto": 0, "comm": "a", "ok": False},
        {"saddr": 0, "sport": 0, "proto": 0, "comm": "bb", "ok": False}]
    big_keys = bytearray(4 * 10)
    big_keys[:8] = keys
    big_values = bytearray(24 * 10)
    big_values[:48] = values
    df = frame_from_batch(big_keys, np.frombuffer(big_values, np.uint8), kc, vc, count=2)
    assert df["key"].tolist() == [1, 2] and df["value.comm"].tolist() == ["a", "bb"]
    empty = frame_from_batch(b"", b"", kc, vc)
    assert len(empty) == 0 and list(empty.columns) == list(df.columns)
    assert batch_from_frame(empty, kc, vc) == (b"", b"")


def test_raw_codecs_give_bytes_columns():
    df = frame_from_batch(b"abcdwxyz", b"\x01\x02\x03\x04\x05\x06", RawCodec(4), RawCodec(3))
    assert df["key"].tolist() == [b"abcd", b"wxyz"] and df["value"].tolist() == [b"\x01\x02\x03", b"\x04\x05\x06"]
    assert batch_from_frame(df, RawCodec(4), RawCodec(3)) == (b"abcdwxyz", b"\x01\x02\x03\x04\x05\x06")
    with pytest.raises(ValueEncodingError, match="row 1: 2 bytes given, 3 wanted"):
        batch_from_frame(pd.DataFrame({"key": [b"abcd", b"wxyz"], "value": [b"abc", b"ab"]}), RawCodec(4), RawCodec(3))


def test_list_columns_go_back():
    kc, vc = codec(TYPEDEF_U32), codec(OUTER)
    values = random_bytes(5 * vc.size)
    df = frame_from_batch(np.arange(5, dtype="<u4"), values, kc, vc)
    _, back = batch_from_frame(df, kc, vc)
    wide = frame_from_batch(np.arange(5, dtype="<u4"), values, kc, vc, max_array_columns=64)
    _, back_wide = batch_from_frame(wide, kc, vc)
    assert back == back_wide
    bad = df.copy()
    bad["value.counts"] = [[1, 2]] * 5
    with pytest.raises(ValueEncodingError, match=r"lists of shape \(2,\) given"):
        batch_from_frame(bad, kc, vc)


def test_multi_fixture_flows_frame():
    multi = Btf.from_file(fixture_path("multi"))
    from bpfnb.obj import Object

    spec = Object.from_file(fixture_path("multi")).maps["flows"]
    kc, vc = Codec(multi, spec.key_type_id), Codec(multi, spec.value_type_id)
    assert (kc.size, vc.size) == (spec.key_size, spec.value_size)
    entries = [({"saddr": 0x0A000001 + i, "daddr": 0x0A0000FE, "sport": 1000 + i, "dport": 443, "proto": 6},
                {"packets": i, "bytes": 1500 * i}) for i in range(10)]
    keys = b"".join(kc.encode(k) for k, _ in entries)
    values = b"".join(vc.encode(v) for _, v in entries)
    df = frame_from_batch(keys, values, kc, vc)
    assert list(df.columns) == ["key.saddr", "key.daddr", "key.sport", "key.dport", "key.proto",
                                "value.packets", "value.bytes"]
    assert df["value.bytes"].sum() == 1500 * 45 and df["key.sport"].tolist() == list(range(1000, 1010))
    assert batch_from_frame(df, kc, vc) == (keys, values)
