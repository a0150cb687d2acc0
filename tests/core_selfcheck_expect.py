"""What a target BTF says about the types the CO-RE self-checks read: their ``.rodata`` expectations.

Computed from the target with plain look-ups (``Btf.member_offset``,
``Btf.size_of``, member names, anonymous members searched) and libbpf's
bitfield rule written out here — never with bpfnb's CO-RE resolver, whose
answers the self-checks test.  ``selfcheck_globals`` fills every ``exp_*``
global of ``tests/bpf/core_selfcheck.bpf.c`` and the ``blob`` it reads
values from, laid out as the target says; ``kernel_globals`` does the same
for ``core_selfcheck_kernel.bpf.c`` from the live BTF and the test's own
task.
"""

from __future__ import annotations

import os
import re
import threading
import weakref
from pathlib import Path

from bpfnb.btf import Btf, Member, Struct
from bpfnb.btf.types import Int, IntEncoding, Ptr
from bpfnb.errors import BpfnbError

__all__ = ["FLAV_VALUES", "VALUES", "enum_value", "field", "field_offset", "kernel_globals", "named", "put_bits",
           "selfcheck_globals"]


def essential_name(name: str) -> str:
    """libbpf's "essential" name: cut at the last ``X___Y`` (X and Y not underscores)."""
    for m in reversed(list(re.finditer(r"(?=[^_]___[^_])", name))):
        return name[: m.start() + 1]
    return name


_BY_ESSENTIAL: weakref.WeakKeyDictionary[Btf, dict[str, list[int]]] = weakref.WeakKeyDictionary()


def named(btf: Btf, essential: str, kind: str) -> list:
    """Types of ``kind`` whose name, flavour suffix dropped, is ``essential``."""
    index = _BY_ESSENTIAL.get(btf)
    if index is None:
        index = _BY_ESSENTIAL[btf] = {}
        for name, ids in btf.name_index().items():
            index.setdefault(essential_name(name), []).extend(ids)
    return [btf[i] for i in index.get(essential, ()) if btf.kind_of(i).name == kind.upper()]


def field(btf: Btf, root: str, path: str, kind: str = "struct"):
    """(type, location) of ``path`` in the one type called ``root`` (any flavour) that has it; None if none."""
    found = []
    for t in named(btf, root, kind):
        try:
            found.append((t, btf.member_offset(t.id, path)))
        except BpfnbError:
            continue
    assert len(found) <= 1 or len({loc.bit_offset for _, loc in found}) == 1, (root, path, found)
    return found[0] if found else None


def member(btf: Btf, root: str, path: str) -> Member:
    t, loc = field(btf, root, path)
    name = path.split(".")[-1]
    container = btf.member_offset(t.id, path.rsplit(".", 1)[0]).type_id if "." in path else t.id
    return find_member(btf, btf[btf.resolve(container)], name)


def find_member(btf: Btf, t: Struct, name: str) -> Member:
    for m in t.members:
        if m.name == name:
            return m
    for m in t.members:
        inner = btf[btf.resolve(m.type_id)]
        if not m.name and isinstance(inner, Struct):
            try:
                return find_member(btf, inner, name)
            except KeyError:
                pass
    raise KeyError(name)


def bitfield(btf: Btf, root: str, name: str) -> tuple[int, int, int, int]:
    """libbpf's (byte offset, byte size, lshift, rshift) of a bitfield: the smallest aligned load that holds it."""
    _, loc = field(btf, root, name)
    m = member(btf, root, name)
    bits = m.bitfield_size or 8 * btf.size_of(m.type_id)
    size = btf.size_of(m.type_id)
    off = loc.bit_offset // 8 // size * size
    while loc.bit_offset + bits - 8 * off > 8 * size:
        assert size < 8, f"{root}.{name} cannot be read with one load"
        size *= 2
        off = loc.bit_offset // 8 // size * size
    return off, size, 64 - (loc.bit_offset + bits - 8 * off), 64 - bits


def field_signed(btf: Btf, root: str, name: str) -> int:
    t = btf[btf.resolve(member(btf, root, name).type_id)]
    return int(isinstance(t, Int) and bool(t.encoding & IntEncoding.SIGNED))


def field_offset(btf: Btf, root: str, path: str) -> int:
    return field(btf, root, path)[1].bit_offset // 8


def field_size(btf: Btf, root: str, path: str) -> int:
    return btf.size_of(field(btf, root, path)[1].type_id)


def enum_value(btf: Btf, enum: str, name: str) -> int | None:
    """The enumerator's value as libbpf 1.1 relocates it: 64 bits, a 32-bit enumerator sign-extended
    (``btf_enum.val`` is an ``__s32``), even in an unsigned enum."""
    for t in named(btf, enum, "enum") + named(btf, enum, "enum64"):
        for v in t.values:
            if v.name != name:
                continue
            if t.kind.name == "ENUM":
                raw = v.value & 0xFFFFFFFF
                return (raw - (1 << 32) if raw >> 31 else raw) & ((1 << 64) - 1)
            return v.value & ((1 << 64) - 1)
    return None


def same_ints(local: Btf, target: Btf, struct: str) -> int:
    """TYPE_MATCHES for a struct of integers: every local member by name, with an integer of the same size and sign."""
    [lt] = named(local, struct, "struct")
    for t in named(target, struct, "struct"):
        try:
            if all(int_like(local, m.type_id) == int_like(target, find_member(target, t, m.name).type_id)
                   for m in lt.members):
                return 1
        except KeyError:
            continue
    return 0


def int_like(btf: Btf, type_id: int) -> tuple[int, bool]:
    t = btf[btf.resolve(type_id)]
    return (t.size, bool(t.encoding & IntEncoding.SIGNED))


#: The values core_selfcheck.bpf.c expects to read (its V_* macros), by path in struct cs_basic.
VALUES = {"c": 0x5A, "i": -123456, "ll": 0x1122334455667788, "grow": 0xDEADBEEF, "ub": 5, "sb": -7,
          "wide": 0xABCDEF0123, "arr[2]": -300, "in[1].b": 0x1234, "s2": 0x4321, "grid[1][2]": 77}
FLAV_VALUES = {"fresh": 0x0102030405060708, "stale": 0x1111222233334444}


def put_bits(blob: bytearray, bit: int, bits: int, value: int) -> None:
    """Write ``value``'s low ``bits`` bits at bit ``bit`` (little-endian, as the kernel lays out bitfields)."""
    start, end = bit // 8, (bit + bits + 7) // 8
    word = int.from_bytes(blob[start:end], "little")
    shift = bit - 8 * start
    mask = ((1 << bits) - 1) << shift
    word = (word & ~mask) | ((value & ((1 << bits) - 1)) << shift)
    blob[start:end] = word.to_bytes(end - start, "little")


def fill(btf: Btf, root: str, values: dict[str, int], blob: bytearray, at: int = 0) -> None:
    for path, value in values.items():
        hit = field(btf, root, path)
        if hit is None:
            continue
        loc = hit[1]
        bits = loc.bitfield_size or 8 * btf.size_of(loc.type_id)
        put_bits(blob, 8 * at + loc.bit_offset, bits, value)


def selfcheck_globals(local: Btf, target: Btf) -> dict[str, object]:
    """Every ``.rodata`` global of core_selfcheck.bpf.c, from what ``target`` says."""
    g: dict[str, object] = {}
    for name, path in [("c", "c"), ("i", "i"), ("ll", "ll"), ("grow", "grow"), ("arr2", "arr[2]"),
                       ("in1b", "in[1].b"), ("s2", "s2"), ("grid12", "grid[1][2]"), ("col", "col")]:
        g[f"exp_off_{name}"] = field_offset(target, "cs_basic", path)
    for name in ("i", "grow", "arr", "in", "grid", "big"):
        g[f"exp_sz_{name}"] = field_size(target, "cs_basic", name)
    g["exp_signed_i"], g["exp_signed_c"] = field_signed(target, "cs_basic", "i"), field_signed(target, "cs_basic", "c")
    for bf in ("ub", "sb", "wide"):
        g[f"exp_{bf}_off"], g[f"exp_{bf}_sz"], g[f"exp_{bf}_lshift"], g[f"exp_{bf}_rshift"] = bitfield(
            target, "cs_basic", bf)
    ptr = field(target, "cs_basic", "ptr")
    g["exp_exists_ptr"] = int(ptr is not None)
    g["exp_off_ptr"] = ptr[1].bit_offset // 8 if ptr else 0
    for name in ("fresh", "stale"):
        hit = field(target, "cs_flav", name)
        g[f"exp_exists_{name}"] = int(hit is not None)
        g[f"exp_off_{name}"] = hit[1].bit_offset // 8 if hit else 0
    [basic] = named(local, "cs_basic", "struct")
    [tbasic] = named(target, "cs_basic", "struct")
    [tinner] = named(target, "cs_inner", "struct")
    g["exp_id_local"], g["exp_id_target"], g["exp_id_target_inner"] = basic.id, tbasic.id, tinner.id
    g["exp_type_size"] = tbasic.size
    g["exp_type_exists_absent"] = int(bool(named(target, "cs_absent", "struct")))
    g["exp_match_inner"] = same_ints(local, target, "cs_inner")
    g["exp_match_pair"] = same_ints(local, target, "cs_pair") if pair_of_ints(target) else 0
    blue = enum_value(target, "cs_color", "CS_BLUE")
    g["exp_blue_exists"], g["exp_blue"] = int(blue is not None), blue or 0
    g["exp_red"], g["exp_green"] = enum_value(target, "cs_color", "CS_RED"), enum_value(target, "cs_color", "CS_GREEN")
    g["exp_huge"] = enum_value(target, "cs_big", "CS_HUGE")
    blob = bytearray(512)
    fill(target, "cs_basic", VALUES, blob)
    put_bits(blob, 8 * g["exp_off_col"], 32, g["exp_green"])
    flav_at = 256
    fill(target, "cs_flav", FLAV_VALUES, blob, at=flav_at)
    g["blob"], g["flav_at"] = bytes(blob), flav_at
    return g


def pair_of_ints(target: Btf) -> bool:
    return all(isinstance(target[target.resolve(m.type_id)], Int) for t in named(target, "cs_pair", "struct")
               for m in t.members)



def task_comm() -> bytes:
    return Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_bytes().rstrip(b"\n")[:15].ljust(16, b"\0")


def kernel_globals(local: Btf, vmlinux: Btf, *, running: bool = True) -> dict[str, object]:
    """Every ``.rodata`` global of core_selfcheck_kernel.bpf.c: what ``vmlinux`` says and, when it is the
    running kernel's BTF, this task's pid, tgid, parent and comm (the program reads them)."""
    g: dict[str, object] = {"check_task": int(running)}
    if running:
        g.update(exp_pid=threading.get_native_id(), exp_tgid=os.getpid(), exp_ppid=os.getppid(),
                 exp_comm=task_comm())
    g["exp_off_pid"] = field_offset(vmlinux, "task_struct", "pid")
    g["exp_off_tgid"] = field_offset(vmlinux, "task_struct", "tgid")
    g["exp_off_comm1"] = field_offset(vmlinux, "task_struct", "comm[1]")
    g["exp_off_children_prev"] = field_offset(vmlinux, "task_struct", "children.prev")
    g["exp_sz_flags"] = field_size(vmlinux, "task_struct", "flags")
    g["exp_sz_comm"] = field_size(vmlinux, "task_struct", "comm")
    g["exp_signed_pid"] = field_signed(vmlinux, "task_struct", "pid")
    g["exp_signed_flags"] = field_signed(vmlinux, "task_struct", "flags")
    rof = field(vmlinux, "task_struct", "sched_reset_on_fork")
    g["exp_rof_exists"] = int(rof is not None)
    if rof is not None:
        g["exp_rof_off"], g["exp_rof_sz"], g["exp_rof_lshift"], g["exp_rof_rshift"] = bitfield(
            vmlinux, "task_struct", "sched_reset_on_fork")
    g["exp_has_new_state"] = int(field(vmlinux, "task_struct", "__state") is not None)
    g["exp_has_old_state"] = int(field(vmlinux, "task_struct", "state") is not None)
    g["exp_skb_off_next"] = field_offset(vmlinux, "sk_buff", "next")
    g["exp_skb_off_len"] = field_offset(vmlinux, "sk_buff", "len")
    task = local.find("task_struct", "struct")
    [ktask] = vmlinux.find_all("task_struct", "struct")
    g["exp_id_local"], g["exp_id_task"], g["exp_size_task"] = task.id, ktask.id, ktask.size
    [klist] = vmlinux.find_all("list_head", "struct")
    g["exp_match_list"] = int(sorted(m.name for m in klist.members) == ["next", "prev"] and all(
        isinstance(vmlinux[vmlinux.resolve(m.type_id)], Ptr) for m in klist.members))
    for name, key in [("PIDTYPE_TGID", "tgid"), ("PIDTYPE_MAX", "max"), ("PIDTYPE_BPFNB_NONE", "none")]:
        value = enum_value(vmlinux, "pid_type", name)
        g[f"exp_{key}_exists"] = int(value is not None)
        if value is not None and key != "none":
            g[f"exp_{key}_value"] = value
    return g
