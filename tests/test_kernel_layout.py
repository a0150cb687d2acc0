"""Every cffi struct in bpfnb.kernel._ffi against the running kernel's BTF.

A hand-typed layout once got ``bpf_prog_info.tag`` wrong; this compares the
complete flattened layout (every field path, byte offset, size and bitfield
width, through anonymous and nested members) both ways, from two sources:
bpfnb's own BTF parser and ``bpftool btf dump -j`` as an independent oracle.
Needs only a readable /sys/kernel/btf/vmlinux, not privileges.
"""

from __future__ import annotations

from functools import cache
from typing import Callable

import pytest

import bpfnb.btf.btf as btf_module
from oracles.bpftool import bpftool

from bpfnb.kernel._ffi import ATTR_STRUCTS, INFO_STRUCTS, ffi

VMLINUX = btf_module.SYS_BTF / "vmlinux"  # where Btf.from_sys_fs() reads (-p mutant_btf moves it)
pytestmark = pytest.mark.skipif(not VMLINUX.exists(), reason="no kernel BTF")

# A type as (kind, size, members, extra): members are (name, type_id, bit_offset, bitfield_size);
# extra is the referenced type for modifiers/typedefs, (elem_type, nelems) for arrays.
TypeGetter = Callable[[int], tuple[str, int, list[tuple[str, int, int, int]], object]]
Layout = set[tuple[tuple[str, ...], int, int, int]]  # (path, byte offset, byte size, bitfield bits)

_MODIFIERS = {"TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"}


@cache
def _bpftool_types() -> dict[int, dict]:
    return {t["id"]: t for t in bpftool("btf", "dump", "file", str(VMLINUX))["types"]}


def _from_bpftool(type_id: int):
    t = _bpftool_types()[type_id]
    kind = t["kind"]
    members = [(m["name"] if m["name"] != "(anon)" else "", m["type_id"], m["bits_offset"], m.get("bitfield_size", 0))
               for m in t.get("members", [])]
    if kind == "ARRAY":
        extra: object = (t["type_id"], t["nr_elems"])
    else:
        extra = t.get("type_id")
    return kind, t.get("size", 0), members, extra


@cache
def _vmlinux():
    from bpfnb.btf import Btf

    return Btf.from_sys_fs()


def _from_bpfnb(type_id: int):
    t = _vmlinux()[type_id]
    kind = t.kind.name
    members = [(m.name, m.type_id, m.bit_offset, m.bitfield_size) for m in getattr(t, "members", ())]
    if kind == "ARRAY":
        extra: object = (t.type_id, t.nelems)
    else:
        extra = getattr(t, "type_id", None)
    return kind, getattr(t, "size", 0), members, extra


def _find_id(source: str, name: str, kind: str) -> int:
    if source == "bpftool":
        return next(i for i, t in _bpftool_types().items() if t["name"] == name and t["kind"] == kind)
    return _vmlinux().find(name, kind).id


def _resolve(get: TypeGetter, type_id: int) -> tuple[str, int, list, object, int]:
    """Skip typedefs/modifiers; return kind, size, members, extra and the final id."""
    kind, size, members, extra = get(type_id)
    while kind in _MODIFIERS:
        type_id = int(extra)  # type: ignore[arg-type]
        kind, size, members, extra = get(type_id)
    return kind, size, members, extra, type_id


def _sizeof(get: TypeGetter, type_id: int) -> int:
    kind, size, _, extra, _ = _resolve(get, type_id)
    if kind == "ARRAY":
        elem, n = extra  # type: ignore[misc]
        return _sizeof(get, elem) * n
    if kind == "PTR":
        return 8
    return size


def btf_layout(get: TypeGetter, type_id: int, prefix: tuple[str, ...] = (), base: int = 0) -> Layout:
    """Flatten a BTF struct/union: anonymous members merge into the parent, named ones nest."""
    out: Layout = set()
    _, _, members, _, _ = _resolve(get, type_id)
    for name, mtype, bit_offset, bits in members:
        kind, _, _, _, rid = _resolve(get, mtype)
        off = base + bit_offset
        if not name:
            out |= btf_layout(get, rid, prefix, off)
            continue
        path = prefix + (name,)
        if bits:
            out.add((path, -1, 0, bits))  # cffi places bitfields itself; checked by width and neighbours
        else:
            out.add((path, off // 8, _sizeof(get, mtype), 0))
        if kind in ("STRUCT", "UNION"):
            out |= btf_layout(get, rid, path, off)
    return out


def cffi_layout(ctype, prefix: tuple[str, ...] = (), base: int = 0) -> Layout:
    out: Layout = set()
    for name, f in ctype.fields:
        path = prefix + (name,)
        if f.bitsize >= 0:
            out.add((path, -1, 0, f.bitsize))
            continue
        out.add((path, base + f.offset, ffi.sizeof(f.type), 0))
        if f.type.kind == "struct" or f.type.kind == "union":
            out |= cffi_layout(f.type, path, base + f.offset)
    return out


def _attr_member(source: str, how: str, key: str) -> int:
    """The type id of the ``union bpf_attr`` member a cdef struct mirrors."""
    get = _from_bpftool if source == "bpftool" else _from_bpfnb
    union_id = _find_id(source, "bpf_attr", "UNION")
    _, _, members, _ = get(union_id)
    for name, mtype, _, _ in members:
        if how == "member" and name == key:
            return mtype
        if how == "field" and not name and any(path == (key,) for path, *_ in btf_layout(get, mtype)):
            return mtype
    raise AssertionError(f"union bpf_attr has no member identified by {how} {key!r}")


SOURCES = ["bpfnb", "bpftool"]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("cdef", sorted(ATTR_STRUCTS))
def test_bpf_attr_member_layout(source: str, cdef: str) -> None:
    get = _from_bpftool if source == "bpftool" else _from_bpfnb
    how, key = ATTR_STRUCTS[cdef]
    type_id = _attr_member(source, how, key)
    assert ffi.sizeof(cdef) == _sizeof(get, type_id), cdef
    kernel, ours = btf_layout(get, type_id), cffi_layout(ffi.typeof(cdef))
    assert ours == kernel, f"{cdef}: only ours {sorted(ours - kernel)}; only kernel {sorted(kernel - ours)}"


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("cdef", sorted(INFO_STRUCTS))
def test_info_struct_layout(source: str, cdef: str) -> None:
    get = _from_bpftool if source == "bpftool" else _from_bpfnb
    type_id = _find_id(source, INFO_STRUCTS[cdef], "STRUCT")
    assert ffi.sizeof(cdef) == _sizeof(get, type_id), cdef
    kernel, ours = btf_layout(get, type_id), cffi_layout(ffi.typeof(cdef))
    assert ours == kernel, f"{cdef}: only ours {sorted(ours - kernel)}; only kernel {sorted(kernel - ours)}"


def test_bpf_attr_union_is_covered() -> None:
    """Every cdef'd attr struct fits in union bpf_attr, and the ones bpfnb uses are all there."""
    get = _from_bpftool
    union_size = _sizeof(get, _find_id("bpftool", "bpf_attr", "UNION"))
    assert all(ffi.sizeof(c) <= union_size for c in ATTR_STRUCTS)
    assert len({_attr_member("bpftool", *ATTR_STRUCTS[c]) for c in ATTR_STRUCTS}) == len(ATTR_STRUCTS)


def test_prog_info_tag_and_bitfield() -> None:
    """The fields a past wrapper got wrong, spelled out: tag at 8 (8 bytes), name at 64, gpl bit 0 at 84."""
    assert ffi.offsetof("struct bpf_prog_info", "tag") == 8
    assert ffi.sizeof(ffi.typeof("struct bpf_prog_info").fields[2][1].type) == 8
    assert ffi.offsetof("struct bpf_prog_info", "name") == 64
    assert ffi.offsetof("struct bpf_prog_info", "ifindex") == 80
    info = ffi.new("struct bpf_prog_info *")
    raw = ffi.buffer(info)
    raw[84:88] = (1).to_bytes(4, "little")
    assert info.gpl_compatible == 1 and info.ifindex == 0 and info.netns_dev == 0
    get = _from_bpftool
    members = {m[0]: m for m in get(_find_id("bpftool", "bpf_prog_info", "STRUCT"))[2]}
    assert members["gpl_compatible"][2:] == (84 * 8, 1)
