"""Round trips through the per-value codec, with values generated from the types.

Two properties, for every type of the hand-built BTF and every struct/union
of the fixtures (plus a vmlinux sample for the second):

* ``decode(encode(v))`` gives ``v`` back (for unions and flattened anonymous
  unions, ``decode`` also returns the other members: ``v`` must be contained);
* for arbitrary bytes ``b``, ``d = decode(b)`` re-encodes to bytes that
  decode to ``d`` again (padding, bytes after a string's NUL and non-0/1
  bools are normalised, nothing else changes).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from codec_btf import kinds_btf
from helpers import fixture_path
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bpfnb.btf import Btf
from bpfnb.btf.codec import Codec
from bpfnb.btf.dtype import ArrayOf, CharArray, Field, Node, Record, Scalar, ScalarKind, layout_of
from bpfnb.errors import ValueEncodingError

BTF = kinds_btf()
KIND_IDS = [tid for tid in range(1, len(BTF)) if BTF.kind_of(tid).name not in ("FWD", "FUNC", "FUNC_PROTO")]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fixture_types() -> list[tuple[str, Btf, int]]:
    out = []
    for name in ("multi", "btf_kinds"):
        btf = Btf.from_file(fixture_path(name))
        out += [(f"{name}:{btf.name_of(t)}", btf, t) for t in btf.ids_of_kind("STRUCT", "UNION").tolist()]
    return out


FIXTURE_TYPES = _fixture_types()


# --- value strategies from a layout -----------------------------------------------


def _int_range(signed: bool, width: int) -> tuple[int, int]:
    return (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)


def scalar_values(node: Scalar, width: int | None = None) -> st.SearchStrategy:
    width = width or node.width
    if node.kind is ScalarKind.BOOL:
        return st.booleans()
    if node.kind is ScalarKind.FLOAT:
        return st.floats(width=8 * node.size, allow_nan=False)
    if node.kind is ScalarKind.RAW:
        return st.binary(min_size=node.size, max_size=node.size)
    if node.kind is ScalarKind.ENUM:
        full = (1 << 8 * node.size) - 1
        members = {v for _, v in node.enum_values}
        first: dict[int, str] = {}
        for name, v in node.enum_values:
            first.setdefault(v, name)
        lo, hi = _int_range(node.signed, width)
        fits = [name for v, name in first.items() if _fits_enum_bits(v, node, width)]
        numbers = st.integers(lo, hi).filter(lambda x: (x & full) not in members)
        return st.one_of(st.sampled_from(fits), numbers) if fits else numbers
    return st.integers(*_int_range(node.signed and not node.bits, width))


def _fits_enum_bits(value: int, node: Scalar, width: int) -> bool:
    if width == 8 * node.size:
        return True
    signed = value - (1 << 8 * node.size) if node.signed and value >> (8 * node.size - 1) else value
    lo, hi = _int_range(node.signed, width)
    return lo <= signed <= hi


def text_values(length: int) -> st.SearchStrategy:
    alphabet = st.characters(exclude_characters="\0", exclude_categories=("Cs",))
    return st.text(alphabet, max_size=length).filter(lambda s: len(s.encode()) <= length)


def field_values(f: Field) -> st.SearchStrategy:
    if f.is_bitfield:
        return scalar_values(f.node, f.bit_size)  # type: ignore[arg-type]
    return values(f.node)


def values(node: Node) -> st.SearchStrategy:
    if isinstance(node, Scalar):
        return scalar_values(node)
    if isinstance(node, CharArray):
        return text_values(node.length)
    if isinstance(node, ArrayOf):
        inner: st.SearchStrategy = values(node.elem)
        for dim in reversed(node.shape):
            inner = st.lists(inner, min_size=dim, max_size=dim)
        return inner
    if not node.overlapping:
        return st.fixed_dictionaries({f.name: field_values(f) for f in node.fields})
    # Overlapping members: any subset whose bits do not overlap.
    def pick(indices: list[int]) -> st.SearchStrategy:
        chosen: list[Field] = []
        for i in indices:
            f = node.fields[i]
            if all(f.bit_end <= g.bit_offset or g.bit_end <= f.bit_offset for g in chosen):
                chosen.append(f)
        return st.fixed_dictionaries({f.name: field_values(f) for f in chosen})

    return st.lists(st.integers(0, len(node.fields) - 1), unique=True, max_size=len(node.fields)).flatmap(pick)


def assert_contained(want, got, path="v"):
    """``want`` equals ``got``, except that dicts in ``got`` may have more keys."""
    if isinstance(want, dict):
        assert isinstance(got, dict), path
        for k, v in want.items():
            assert k in got, f"{path}.{k}"
            assert_contained(v, got[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (a, b) in enumerate(zip(want, got)):
            assert_contained(a, b, f"{path}[{i}]")
    elif isinstance(want, float):
        assert struct.pack("<d", want) == struct.pack("<d", got), path  # -0.0 stays -0.0
    else:
        assert type(want) is type(got) and want == got, (path, want, got)


# --- properties --------------------------------------------------------------------


def _check_value_round_trip(c: Codec, data) -> None:
    v = data.draw(values(c.layout), label="value")
    blob = c.encode(v)
    assert len(blob) == c.size
    assert_contained(v, c.decode(blob))
    assert c.encode(c.decode(blob)) == blob


def _check_bytes_round_trip(c: Codec, blob: bytes) -> bool:
    """Any bytes decode and encode again (padding comes back zero, a lone _Bool 0x01), and stay
    put after that one normalisation; lossy union views (a _Bool read from 0xA3 beside an int,
    a float read from a signalling NaN beside a u32) encode without a disagreement."""
    d = c.decode(blob)
    again = c.encode(d)
    assert c.encode(c.decode(again)) == again
    if not _has_float(c.layout):
        assert c.decode(again) == d
    return True


def _has_float(node: Node) -> bool:
    if isinstance(node, Scalar):
        return node.kind is ScalarKind.FLOAT
    if isinstance(node, ArrayOf):
        return _has_float(node.elem)
    if isinstance(node, Record):
        return any(_has_float(f.node) for f in node.fields)
    return False


@pytest.mark.parametrize("type_id", KIND_IDS, ids=lambda t: f"{t}:{BTF.name_of(t)}")
@SETTINGS
@given(data=st.data())
def test_hand_built_values_round_trip(type_id, data):
    _check_value_round_trip(Codec(BTF, type_id), data)


@pytest.mark.parametrize("type_id", KIND_IDS, ids=lambda t: f"{t}:{BTF.name_of(t)}")
@SETTINGS
@given(data=st.data())
def test_hand_built_bytes_round_trip(type_id, data):
    c = Codec(BTF, type_id)
    assume(_check_bytes_round_trip(c, data.draw(st.binary(min_size=c.size, max_size=c.size))))


@pytest.mark.parametrize(("label", "btf", "type_id"), FIXTURE_TYPES, ids=[t[0] for t in FIXTURE_TYPES])
@SETTINGS
@given(data=st.data())
def test_fixture_struct_values_round_trip(label, btf, type_id, data):
    c = Codec(btf, type_id)
    _check_value_round_trip(c, data)
    assume(_check_bytes_round_trip(c, data.draw(st.binary(min_size=c.size, max_size=c.size))))


@pytest.mark.parametrize("kernel", ["snapshot", "running"])
def test_vmlinux_sample_bytes_round_trip(kernel):
    """Random bytes through 300 small vmlinux structs/unions (seeded, no hypothesis:
    the point is breadth of types, not search within one): the snapshot's, and this kernel's."""
    from bpfnb import examples

    vmlinux = examples.kernel_btf() if kernel == "snapshot" else Btf.from_sys_fs()
    ids = vmlinux.ids_of_kind("STRUCT", "UNION").tolist()
    small = [t for t in ids[:: max(1, len(ids) // 3000)] if 0 < vmlinux.size_of(t) <= 512][:300]
    rng = np.random.default_rng(3)
    assert len(small) == 300 or (kernel == "running" and len(small) > 100)
    for tid in small:
        c = Codec(vmlinux, tid)
        for _ in range(3):
            blob = rng.integers(0, 256, c.size, dtype=np.uint8).tobytes()
            assert _check_bytes_round_trip(c, blob)


def test_layouts_are_shared_per_btf():
    assert layout_of(BTF, 29) is layout_of(BTF, 29)
    assert Codec(BTF, 29).layout is Codec(BTF, 29).layout
