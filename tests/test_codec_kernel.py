"""Maps as DataFrames against the kernel and bpftool.

A hash map and a per-CPU hash map typed ``struct flow_key → struct
flow_stats`` (from the multi fixture's ``flows``) are created with BTF,
filled with one ``BPF_MAP_UPDATE_BATCH`` built by ``batch_from_frame``,
read back with ``BPF_MAP_LOOKUP_BATCH`` and turned into a DataFrame, which
must equal what ``bpftool map dump id N -j`` prints in its BTF-formatted
output.  clang's object BTF needs loader fix-ups (DATASEC sizes) before the
kernel takes it, so the test loads just the two structs and what they
refer to, renumbered.  A third test does the same for the hand-built
bitfield, enum, text and anonymous-member structs (bpftool prints
bitfields as the hex of their raw bits and nests anonymous members under
``""``; floats it cannot print, so float members are left out).
"""

from __future__ import annotations

import json
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest
from helpers import fixture_path
from oracles.bpftool import BPFTOOL, bpftool

from bpfnb.btf import Btf, BtfType, Member
from bpfnb.btf.codec import Codec, PerCpuCodec
from bpfnb.btf.writer import write_types
from bpfnb.btf.frames import batch_from_frame, frame_from_batch
from bpfnb.kernel.info import map_info
from bpfnb.kernel.syscall import btf_load, map_create, map_lookup_batch, map_update_batch, possible_cpus
from bpfnb.obj import Object
from bpfnb.uapi.enums import MapType

pytestmark = pytest.mark.kernel

N = 300


def subset_btf(btf: Btf, roots: list[int]) -> tuple[Btf, dict[int, int]]:
    """The types ``roots`` need, renumbered from 1, as a standalone Btf."""
    order: list[int] = []
    seen: set[int] = set()

    def visit(tid: int) -> None:
        if tid == 0 or tid in seen:
            return
        seen.add(tid)
        t = btf[tid]
        for ref in _refs(t):
            visit(ref)
        order.append(tid)

    for r in roots:
        visit(r)
    new_id = {old: i + 1 for i, old in enumerate(order)}
    new_id[0] = 0
    types = [_renumber(btf[old], new_id) for old in order]
    return Btf.from_bytes(write_types(types), source="subset"), new_id


def _refs(t: BtfType) -> list[int]:
    out = [getattr(t, name) for name in ("type_id", "index_type_id") if hasattr(t, name)]
    out += [m.type_id for m in getattr(t, "members", ())]
    return out


def _renumber(t: BtfType, new_id: dict[int, int]) -> BtfType:
    changes: dict = {"id": new_id[t.id]}
    for f in fields(t):
        if f.name in ("type_id", "index_type_id"):
            changes[f.name] = new_id[getattr(t, f.name)]
    if hasattr(t, "members"):
        changes["members"] = tuple(Member(m.name, new_id[m.type_id], m.bit_offset, m.bitfield_size)
                                   for m in t.members)
    return replace(t, **changes)


@pytest.fixture(scope="module")
def flows_btf():
    obj = Object.from_file(fixture_path("multi"))
    spec = obj.maps["flows"]
    small, new_id = subset_btf(obj.btf, [spec.key_type_id, spec.value_type_id])
    fd, _ = btf_load(small.to_bytes())
    yield small, fd, new_id[spec.key_type_id], new_id[spec.value_type_id], spec
    fd.close()


def bpftool_dump(map_id: int) -> list[dict]:
    return bpftool("map", "dump", "id", str(map_id))


def read_all(fd, key_size: int, value_size: int) -> tuple[bytes, bytes]:
    """Every entry through BPF_MAP_LOOKUP_BATCH, 64 at a time."""
    keys, values, cursor = [], [], None
    while True:
        res = map_lookup_batch(fd, key_size, value_size, 64, cursor)
        keys.append(bytes(res.keys[: res.count * key_size]))
        values.append(bytes(res.values[: res.count * value_size]))
        if res.next_batch is None:
            return b"".join(keys), b"".join(values)
        cursor = res.next_batch


def flows_frame(rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame({
        "key.saddr": rng.integers(0, 2**32, N, dtype=np.uint32),
        "key.daddr": np.full(N, 0x0A0000FE, dtype=np.uint32),
        "key.sport": np.arange(N, dtype=np.uint16) + 1000,  # unique keys
        "key.dport": rng.choice([53, 80, 443], N).astype(np.uint16),
        "key.proto": rng.choice([6, 17], N).astype(np.uint8),
        "value.packets": rng.integers(0, 2**40, N, dtype=np.uint64),
        "value.bytes": rng.integers(0, 2**63, N, dtype=np.uint64),
    })


def by_key(df: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in df.columns if c.startswith("key.")] + (["cpu"] if "cpu" in df.columns else [])
    return df.sort_values(keys).reset_index(drop=True)


def test_hash_map_frame_equals_bpftool(flows_btf):
    btf, btf_fd, key_id, value_id, spec = flows_btf
    kc, vc = Codec(btf, key_id), Codec(btf, value_id)
    want = flows_frame(np.random.default_rng(5))
    keys, values = batch_from_frame(want, kc, vc)
    fd = map_create(MapType.HASH, kc.size, vc.size, 1024, name="bpfnb_flows", btf_fd=btf_fd,
                    btf_key_type_id=key_id, btf_value_type_id=value_id)
    with fd:
        assert map_update_batch(fd, keys, values, N) == N
        got_keys, got_values = read_all(fd, kc.size, vc.size)
        df = frame_from_batch(got_keys, got_values, kc, vc)
        assert len(df) == N
        pd.testing.assert_frame_equal(by_key(df), by_key(want))
        dump = bpftool_dump(map_info(fd).id)
    assert len(dump) == N
    theirs = pd.DataFrame([{**{f"key.{k}": v for k, v in e["formatted"]["key"].items()},
                            **{f"value.{k}": v for k, v in e["formatted"]["value"].items()}} for e in dump])
    pd.testing.assert_frame_equal(by_key(df), by_key(theirs), check_dtype=False)
    # bpftool's raw hex bytes, too: the same packed entries (in the kernel's order)
    raw_keys = b"".join(bytes(int(x, 16) for x in e["key"]) for e in dump)
    raw_values = b"".join(bytes(int(x, 16) for x in e["value"]) for e in dump)
    pd.testing.assert_frame_equal(by_key(frame_from_batch(raw_keys, raw_values, kc, vc)), by_key(df))


def test_per_cpu_hash_map_frame_equals_bpftool(flows_btf):
    btf, btf_fd, key_id, value_id, spec = flows_btf
    ncpus = possible_cpus()
    kc, vc = Codec(btf, key_id), Codec(btf, value_id)
    pc = PerCpuCodec(vc, ncpus)
    rng = np.random.default_rng(6)
    base = flows_frame(rng).drop(columns=["value.packets", "value.bytes"])
    long = base.loc[base.index.repeat(ncpus)].reset_index(drop=True)
    long.insert(5, "cpu", np.tile(np.arange(ncpus), N))
    long["value.packets"] = rng.integers(0, 2**40, N * ncpus, dtype=np.uint64)
    long["value.bytes"] = rng.integers(0, 2**63, N * ncpus, dtype=np.uint64)
    keys, values = batch_from_frame(long, kc, vc, per_cpu=ncpus)
    assert len(values) == N * pc.size
    fd = map_create(MapType.PERCPU_HASH, kc.size, vc.size, 1024, name="bpfnb_pcpu", btf_fd=btf_fd,
                    btf_key_type_id=key_id, btf_value_type_id=value_id)
    with fd:
        assert map_update_batch(fd, keys, values, N) == N
        got_keys, got_values = read_all(fd, kc.size, pc.size)
        df = frame_from_batch(got_keys, got_values, kc, vc, per_cpu=ncpus)
        wide = frame_from_batch(got_keys, got_values, kc, pc, layout="wide")
        dump = bpftool_dump(map_info(fd).id)
    pd.testing.assert_frame_equal(by_key(df), by_key(long))
    assert len(wide) == N and f"value.bytes@cpu{ncpus - 1}" in wide.columns
    rows = []
    for e in dump:
        key = {f"key.{k}": v for k, v in e["formatted"]["key"].items()}
        for slot in e["formatted"]["values"]:
            rows.append({**key, "cpu": slot["cpu"], **{f"value.{k}": v for k, v in slot["value"].items()}})
    theirs = pd.DataFrame(rows)
    assert len(theirs) == N * ncpus
    pd.testing.assert_frame_equal(by_key(df), by_key(theirs), check_dtype=False)
    for cpu in range(ncpus):  # the wide layout holds the same numbers
        merged = wide.merge(theirs[theirs["cpu"] == cpu], on=[c for c in wide.columns if c.startswith("key.")])
        assert (merged[f"value.packets@cpu{cpu}"] == merged["value.packets"]).all()


# --- bitfields, enums, text and anonymous members against bpftool's formatting ------


def _pairs_hook(pairs: list) -> list:
    return pairs  # keep duplicate "" keys (anonymous members, padding bitfields) in order


def flatten_bpftool(value, prefix: str, out: dict) -> dict:
    """bpftool's formatted value → our column names, by C rules implemented on
    bpftool's own output: an anonymous ("") object merges into its parent
    unless its names collide with a sibling, then it is ``_anon<position>``;
    an anonymous scalar is a padding bitfield and has no column."""
    if not isinstance(value, list) or (value and not isinstance(value[0], tuple)):
        out[prefix] = value
        return out
    named = {k for k, _ in value if k}
    for position, (k, v) in enumerate(value):
        if k:
            flatten_bpftool(v, f"{prefix}.{k}", out)
        elif isinstance(v, list) and v and isinstance(v[0], tuple):
            inner = {ik for ik, _ in v}
            flatten_bpftool(v, prefix if not inner & named else f"{prefix}._anon{position}", out)
    return out


def bitfield_widths(codec: Codec, prefix: str) -> dict[str, tuple[int, object]]:
    """Column name → (width, layout node) of every bitfield, from the layout."""
    from bpfnb.btf.dtype import Record

    out = {}

    def walk(node, name):
        if isinstance(node, Record):
            for f in node.fields:
                if f.is_bitfield:
                    out[f"{name}.{f.name}"] = (f.bit_size, f.node)
                else:
                    walk(f.node, f"{name}.{f.name}")

    walk(codec.layout, prefix)
    return out


def as_bpftool(value, width: int | None, node) -> object:
    """Our cell as bpftool prints it: bitfields as hex of their raw bits."""
    if isinstance(value, np.generic):
        value = value.item()
    if width is None:
        return value
    if isinstance(value, str):  # an enum bitfield shown by name
        value = dict(node.enum_values)[value]
    return hex(int(value) & ((1 << width) - 1))


def test_bitfields_enums_text_equal_bpftool():
    if BPFTOOL is None:
        pytest.skip("bpftool not installed")
    from codec_btf import BITS, CLASH, FLOW, PACKED_BITS, TYPEDEF_U32, kinds_btf

    small, new_id = subset_btf(kinds_btf(), [TYPEDEF_U32, BITS, FLOW, CLASH, PACKED_BITS])
    btf_fd, _ = btf_load(small.to_bytes())
    rng = np.random.default_rng(8)
    kc = Codec(small, new_id[TYPEDEF_U32])
    n = 64
    keys = np.arange(n, dtype="<u4").tobytes()
    with btf_fd:
        for root in (BITS, FLOW, CLASH, PACKED_BITS):
            vc = Codec(small, new_id[root])
            if root == FLOW:  # printable text, known and unknown enum values
                frame = pd.DataFrame({"key": np.arange(n, dtype=np.uint32),
                                      "value.saddr": rng.integers(0, 2**32, n, dtype=np.uint32),
                                      "value.proto": rng.choice([1, 6, 17, 99], n),
                                      "value.comm": [f"proc{i}"[: 1 + i % 8] for i in range(n)],
                                      "value.ok": rng.integers(0, 2, n).astype(bool)})
                _, values = batch_from_frame(frame, kc, vc)
            else:
                values = rng.integers(0, 256, n * vc.size, dtype=np.uint8).tobytes()
            fd = map_create(MapType.HASH, 4, vc.size, n, name="bpfnb_kinds", btf_fd=btf_fd,
                            btf_key_type_id=kc.type_id, btf_value_type_id=vc.type_id)
            with fd:
                map_update_batch(fd, keys, values, n)
                got_keys, got_values = read_all(fd, 4, vc.size)
                ours = frame_from_batch(got_keys, got_values, kc, vc)
                out = bpftool("map", "dump", "id", str(map_info(fd).id), "-j", json=False)
            dump = json.loads(out, object_pairs_hook=_pairs_hook)
            widths = bitfield_widths(vc, "value")
            theirs = {}
            for entry in dump:
                formatted = dict(dict(entry)["formatted"])
                theirs[formatted["key"]] = flatten_bpftool(formatted["value"], "value", {})
            assert len(theirs) == n
            for row in ours.to_dict("records"):
                want = theirs[row.pop("key")]
                assert set(row) == set(want), (small.name_of(vc.type_id), set(row) ^ set(want))
                for column, value in row.items():
                    width, node = widths.get(column, (None, None))
                    assert as_bpftool(value, width, node) == want[column], (column, value, want[column])
