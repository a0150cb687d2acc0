"""CO-RE self-checks: programs that return 0 under BPF_PROG_TEST_RUN only when every relocation resolved right.

In the style of the kernel selftests' ``core_reloc_*`` and cilium/ebpf's
``btf/testdata``: the C fixtures ``tests/bpf/core_selfcheck*.bpf.c`` compare
every CO-RE-relocated value (offsets, sizes, existence, signedness, bitfield
shifts, type ids/existence/size/match, enumerators) and every value read
through a relocated load with what the target BTF says.  A failed check
returns its own source line; :func:`_explain` turns it back into the C text.

What the target says is computed here, from the target BTF handed to the
loader, with ``Btf.member_offset`` and libbpf's bitfield rule — never with
bpfnb's CO-RE resolver — and passed in ``.rodata``.  One object thus checks
itself against:

(a) its own types (a target written from the object's BTF);
(b) ``shifted``: a target built here with bpfnb's BTF writer, every type id
    moved, members reordered and padded, loads that change size, bitfields
    that straddle their unit, flavour suffixes on the target's names, a
    member and an enumerator and a type gone;
(c) the running kernel (``core_selfcheck_kernel``), the expectations read
    from /sys/kernel/btf/vmlinux and from the test's own task.

libbpf loads the same objects with the same ``.rodata`` and the same target
(``btf_custom_path``): both must return 0 (the oracle: the self-checks pass
under bpfnb exactly where they pass under libbpf).  The negative programs
(``core_selfcheck_neg``) must fail for their own reason: a typed ambiguity,
a poisoned instruction explained by the record that failed, a weak kfunc or
kernel variable the kernel lacks.
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import BPF_DIR, fixture_path
from oracles.libbpf import _OpenOpts, _load_lib, _log, available

from bpfnb import EbpfLoader
from bpfnb.btf import Btf, Enum, EnumValue, Member, Struct
from bpfnb.btf.types import Array, Const, Enum64, Fwd, Int, IntEncoding, Ptr, Typedef, Union, Volatile
from bpfnb.btf.writer import BtfBuilder
from bpfnb.errors import BpfnbError, ConflictingCandidates, VerifierError
from bpfnb.obj import Object

SELF = fixture_path("core_selfcheck")
KERNEL = fixture_path("core_selfcheck_kernel")
NEG = fixture_path("core_selfcheck_neg")

needs_libbpf = pytest.mark.skipif(not available(), reason="libbpf.so.1 not installed")


# --- naming a failed check ---------------------------------------------------------------------------


def _explain(source: str, code: int) -> str:
    """The C text of the CHECK that returned ``code`` (its line), or what the code is."""
    if code == 0:
        return "all checks passed"
    lines = (BPF_DIR / source).read_text().splitlines()
    if 0 < code <= len(lines) and "CHECK(" in lines[code - 1]:
        return f"{source}:{code}: {lines[code - 1].strip()}"
    return f"{source}: return code {code} is no CHECK line"


def test_every_check_has_its_own_line() -> None:
    """Codes are line numbers: two checks on one line could not be told apart."""
    for name in ("core_selfcheck.bpf.c", "core_selfcheck_kernel.bpf.c"):
        for n, line in enumerate((BPF_DIR / name).read_text().splitlines(), 1):
            assert line.count("CHECK(") <= 1, (name, n)
    assert "bpf_core_field_offset(struct cs_basic, c)" in _explain("core_selfcheck.bpf.c", _check_line("cs_basic, c)"))


def test_selfcheck_covers_every_kind() -> None:
    """Every CO-RE relocation kind bpfnb supports is checked by core_selfcheck, and by the kernel one too."""
    from bpfnb.uapi import CoreReloKind

    for path in (SELF, KERNEL):
        relos = Object.from_file(path).btf_ext.core_relos.values()
        assert {r.kind for rs in relos for r in rs} == set(CoreReloKind), path.name


def _check_line(text: str, source: str = "core_selfcheck.bpf.c") -> int:
    return next(n for n, line in enumerate((BPF_DIR / source).read_text().splitlines(), 1)
                if "CHECK(" in line and text in line)


# --- what a target says, computed without bpfnb's CO-RE code ------------------------------------------


def _essential(name: str) -> str:
    return re.sub(r"___[^_].*$", "", name)


_BY_ESSENTIAL: weakref.WeakKeyDictionary[Btf, dict[str, list[int]]] = weakref.WeakKeyDictionary()


def _named(btf: Btf, essential: str, kind: str) -> list:
    """Types of ``kind`` whose name, flavour suffix dropped, is ``essential``."""
    index = _BY_ESSENTIAL.get(btf)
    if index is None:
        index = _BY_ESSENTIAL[btf] = {}
        for name, ids in btf.name_index().items():
            index.setdefault(_essential(name), []).extend(ids)
    return [btf[i] for i in index.get(essential, ()) if btf.kind_of(i).name == kind.upper()]


def _field(btf: Btf, root: str, path: str, kind: str = "struct"):
    """(type, location) of ``path`` in the one type called ``root`` (any flavour) that has it; None if none."""
    found = []
    for t in _named(btf, root, kind):
        try:
            found.append((t, btf.member_offset(t.id, path)))
        except BpfnbError:
            continue
    assert len(found) <= 1 or len({loc.bit_offset for _, loc in found}) == 1, (root, path, found)
    return found[0] if found else None


def _member(btf: Btf, root: str, path: str) -> Member:
    t, loc = _field(btf, root, path)
    name = path.split(".")[-1]
    container = btf.member_offset(t.id, path.rsplit(".", 1)[0]).type_id if "." in path else t.id
    return _find_member(btf, btf[btf.resolve(container)], name)


def _find_member(btf: Btf, t: Struct, name: str) -> Member:
    for m in t.members:
        if m.name == name:
            return m
    for m in t.members:
        inner = btf[btf.resolve(m.type_id)]
        if not m.name and isinstance(inner, Struct):
            try:
                return _find_member(btf, inner, name)
            except KeyError:
                pass
    raise KeyError(name)


def _bitfield(btf: Btf, root: str, name: str) -> tuple[int, int, int, int]:
    """libbpf's (byte offset, byte size, lshift, rshift) of a bitfield: the smallest aligned load that holds it."""
    _, loc = _field(btf, root, name)
    m = _member(btf, root, name)
    bits = m.bitfield_size or 8 * btf.size_of(m.type_id)
    size = btf.size_of(m.type_id)
    off = loc.bit_offset // 8 // size * size
    while loc.bit_offset + bits - 8 * off > 8 * size:
        assert size < 8, f"{root}.{name} cannot be read with one load"
        size *= 2
        off = loc.bit_offset // 8 // size * size
    return off, size, 64 - (loc.bit_offset + bits - 8 * off), 64 - bits


def _signed(btf: Btf, root: str, name: str) -> int:
    t = btf[btf.resolve(_member(btf, root, name).type_id)]
    return int(isinstance(t, Int) and bool(t.encoding & IntEncoding.SIGNED))


def _offset(btf: Btf, root: str, path: str) -> int:
    return _field(btf, root, path)[1].bit_offset // 8


def _size(btf: Btf, root: str, path: str) -> int:
    return btf.size_of(_field(btf, root, path)[1].type_id)


def _enum(btf: Btf, enum: str, name: str) -> int | None:
    for t in _named(btf, enum, "enum") + _named(btf, enum, "enum64"):
        for v in t.values:
            if v.name == name:
                return v.value & ((1 << 64) - 1)
    return None


def _same_ints(local: Btf, target: Btf, struct: str) -> int:
    """TYPE_MATCHES for a struct of integers: every local member by name, with an integer of the same size and sign."""
    [lt] = _named(local, struct, "struct")
    for t in _named(target, struct, "struct"):
        try:
            if all(_int_like(local, m.type_id) == _int_like(target, _find_member(target, t, m.name).type_id)
                   for m in lt.members):
                return 1
        except KeyError:
            continue
    return 0


def _int_like(btf: Btf, type_id: int) -> tuple[int, bool]:
    t = btf[btf.resolve(type_id)]
    return (t.size, bool(t.encoding & IntEncoding.SIGNED))


#: The values core_selfcheck.bpf.c expects to read (its V_* macros), by path in struct cs_basic.
VALUES = {"c": 0x5A, "i": -123456, "ll": 0x1122334455667788, "grow": 0xDEADBEEF, "ub": 5, "sb": -7,
          "wide": 0xABCDEF0123, "arr[2]": -300, "in[1].b": 0x1234, "s2": 0x4321, "grid[1][2]": 77}
FLAV_VALUES = {"fresh": 0x0102030405060708, "stale": 0x1111222233334444}


def _put(blob: bytearray, bit: int, bits: int, value: int) -> None:
    """Write ``value``'s low ``bits`` bits at bit ``bit`` (little-endian, as the kernel lays out bitfields)."""
    start, end = bit // 8, (bit + bits + 7) // 8
    word = int.from_bytes(blob[start:end], "little")
    shift = bit - 8 * start
    mask = ((1 << bits) - 1) << shift
    word = (word & ~mask) | ((value & ((1 << bits) - 1)) << shift)
    blob[start:end] = word.to_bytes(end - start, "little")


def _fill(btf: Btf, root: str, values: dict[str, int], blob: bytearray, at: int = 0) -> None:
    for path, value in values.items():
        hit = _field(btf, root, path)
        if hit is None:
            continue
        loc = hit[1]
        bits = loc.bitfield_size or 8 * btf.size_of(loc.type_id)
        _put(blob, 8 * at + loc.bit_offset, bits, value)


def selfcheck_globals(local: Btf, target: Btf) -> dict[str, object]:
    """Every ``.rodata`` global of core_selfcheck.bpf.c, from what ``target`` says."""
    g: dict[str, object] = {}
    for name, path in [("c", "c"), ("i", "i"), ("ll", "ll"), ("grow", "grow"), ("arr2", "arr[2]"),
                       ("in1b", "in[1].b"), ("s2", "s2"), ("grid12", "grid[1][2]"), ("col", "col")]:
        g[f"exp_off_{name}"] = _offset(target, "cs_basic", path)
    for name in ("i", "grow", "arr", "in", "grid", "big"):
        g[f"exp_sz_{name}"] = _size(target, "cs_basic", name)
    g["exp_signed_i"], g["exp_signed_c"] = _signed(target, "cs_basic", "i"), _signed(target, "cs_basic", "c")
    for bf in ("ub", "sb", "wide"):
        g[f"exp_{bf}_off"], g[f"exp_{bf}_sz"], g[f"exp_{bf}_lshift"], g[f"exp_{bf}_rshift"] = _bitfield(
            target, "cs_basic", bf)
    ptr = _field(target, "cs_basic", "ptr")
    g["exp_exists_ptr"] = int(ptr is not None)
    g["exp_off_ptr"] = ptr[1].bit_offset // 8 if ptr else 0
    for name in ("fresh", "stale"):
        hit = _field(target, "cs_flav", name)
        g[f"exp_exists_{name}"] = int(hit is not None)
        g[f"exp_off_{name}"] = hit[1].bit_offset // 8 if hit else 0
    [basic] = _named(local, "cs_basic", "struct")
    [tbasic] = _named(target, "cs_basic", "struct")
    [tinner] = _named(target, "cs_inner", "struct")
    g["exp_id_local"], g["exp_id_target"], g["exp_id_target_inner"] = basic.id, tbasic.id, tinner.id
    g["exp_type_size"] = tbasic.size
    g["exp_type_exists_absent"] = int(bool(_named(target, "cs_absent", "struct")))
    g["exp_match_inner"] = _same_ints(local, target, "cs_inner")
    g["exp_match_pair"] = _same_ints(local, target, "cs_pair") if _pair_of_ints(target) else 0
    blue = _enum(target, "cs_color", "CS_BLUE")
    g["exp_blue_exists"], g["exp_blue"] = int(blue is not None), blue or 0
    g["exp_red"], g["exp_green"] = _enum(target, "cs_color", "CS_RED"), _enum(target, "cs_color", "CS_GREEN")
    g["exp_huge"] = _enum(target, "cs_big", "CS_HUGE")
    blob = bytearray(512)
    _fill(target, "cs_basic", VALUES, blob)
    _put(blob, 8 * g["exp_off_col"], 32, g["exp_green"])
    flav_at = 256
    _fill(target, "cs_flav", FLAV_VALUES, blob, at=flav_at)
    g["blob"], g["flav_at"] = bytes(blob), flav_at
    return g


def _pair_of_ints(target: Btf) -> bool:
    return all(isinstance(target[target.resolve(m.type_id)], Int) for t in _named(target, "cs_pair", "struct")
               for m in t.members)


# --- the targets -------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    btf: Btf
    path: Path


def _written(name: str, data: bytes, tmp: Path) -> Target:
    """Written to a file and parsed back from it: bpfnb and libbpf read the same bytes."""
    path = tmp / f"{name}.btf"
    path.write_bytes(data)
    return Target(name, Btf.from_file(path), path)


def own_target(obj: Object, tmp: Path) -> Target:
    """(a) the object's own types, as a target BTF."""
    return _written("own", obj.btf.to_bytes(), tmp)


class _Spec:
    """Types added one by one with bpfnb's writer; each ``add`` returns the new id."""

    def __init__(self, padding: int):
        self.b = BtfBuilder()
        self.ids: dict[str, int] = {}
        for k in range(padding):  # shift every later id
            self.int(f"bpfnb_pad{k}", 4, False)

    def add(self, t) -> int:
        return self.b.add(t)

    def int(self, name: str, size: int, signed: bool) -> int:
        enc = IntEncoding.SIGNED if signed else IntEncoding(0)
        self.ids[name] = self.add(Int(0, name, size, enc, 0, size * 8))
        return self.ids[name]

    def array(self, elem: int, n: int) -> int:
        return self.add(Array(0, "", elem, self.ids["int"], n))


def shifted_target(tmp: Path) -> Target:
    """(b) the same types as another "kernel" might define them, ids shifted by 23.

    cs_basic is ``cs_basic___v2`` (a flavoured target name): members in
    another order, ``i`` unsigned, ``grow`` widened to 8 bytes (a load that
    changes size), ``s1``/``s2`` direct members instead of two anonymous
    levels deep, ``ub`` straddling its 4-byte unit (an 8-byte load), arrays
    longer (``short[6]``, ``cs_inner[3]``, ``int[3][4]``), ``ptr`` gone;
    cs_inner reordered (still matches), cs_pair with a ``long`` (no longer
    matches), ``cs_color`` renumbered without ``CS_BLUE``, ``cs_big`` with a
    new 64-bit value, cs_flav with ``fresh`` elsewhere and no ``stale``,
    ``cs_absent`` gone.
    """
    s = _Spec(padding=23)
    for name, size, signed in [("char", 1, True), ("short", 2, True), ("int", 4, True), ("unsigned int", 4, False),
                               ("long", 8, True), ("long long", 8, True), ("long long unsigned int", 8, False)]:
        s.int(name, size, signed)
    i = s.ids
    inner = s.add(Struct(0, "cs_inner___v2", 8, (Member("b", i["short"], 0), Member("a", i["int"], 32))))
    s.add(Struct(0, "cs_pair", 16, (Member("x", i["int"], 0), Member("y", i["long"], 64))))
    color = s.add(Enum(0, "cs_color", 4, False, (EnumValue("CS_GREEN", 20), EnumValue("CS_RED", 10))))
    big = s.add(Enum64(0, "cs_big", 8, False, (EnumValue("CS_SMALL", 3), EnumValue("CS_HUGE", 0x500000007))))
    anon = s.add(Union(0, "", 8, (Member("u1", i["int"], 0), Member("spare", i["long"], 0))))
    row = s.array(i["int"], 4)
    basic = Struct(0, "cs_basic___v2", 160, (
        Member("ll", i["long long"], 0),
        Member("c", i["char"], 64),
        Member("s1", i["short"], 80),
        Member("s2", i["short"], 96),
        Member("", anon, 128),
        Member("i", i["unsigned int"], 192),
        Member("grow", i["long long unsigned int"], 256),
        Member("wide", i["long long unsigned int"], 324, 40),
        Member("sb", i["int"], 364, 5),
        Member("ub", i["unsigned int"], 414, 3),
        Member("arr", s.array(i["short"], 6), 448),
        Member("in", s.array(inner, 3), 576),
        Member("grid", s.array(row, 3), 768),
        Member("col", color, 1152),
        Member("big", big, 1216),
    ))
    s.add(basic)
    s.add(Struct(0, "cs_flav", 24, (Member("other", i["long"], 0), Member("pad", i["int"], 64),
                                    Member("fresh", i["long"], 128))))
    s.add(Ptr(0, "", inner))  # unused types in between do not matter
    return _written("shifted", s.b.to_bytes(), tmp)


def twisted_target(tmp: Path) -> Target:
    """(b') the local layout seen through everything CO-RE must see through, ids shifted by 101.

    Members typed through typedefs and const/volatile, ``i`` and ``s2`` three
    anonymous levels deep, an array of a typedef'd struct and a typedef'd
    array, forward declarations of cs_inner/cs_pair/cs_absent beside (or
    instead of) the real ones, ``ptr`` pointing at a forward declaration,
    two identical flavours of cs_flav (candidates that agree), negative
    enumerators in a signed ENUM and a signed ENUM64.
    """
    s = _Spec(padding=101)
    for name, size, signed in [("char", 1, True), ("short", 2, True), ("int", 4, True), ("unsigned int", 4, False),
                               ("long", 8, True), ("long long", 8, True), ("long long unsigned int", 8, False)]:
        s.int(name, size, signed)
    i = s.ids
    s32 = s.add(Typedef(0, "cs_s32", i["int"]))
    u32 = s.add(Typedef(0, "cs_u32", i["unsigned int"]))
    cchar = s.add(Const(0, "", s.add(Volatile(0, "", i["char"]))))
    s.add(Fwd(0, "cs_inner", False))
    fwd_pair = s.add(Fwd(0, "cs_pair", False))
    s.add(Fwd(0, "cs_absent", False))
    inner = s.add(Struct(0, "cs_inner", 8, (Member("a", s32, 0), Member("b", i["short"], 32))))
    inner_t = s.add(Typedef(0, "cs_inner_t", inner))
    s.add(Struct(0, "cs_pair___v3", 8, (Member("x", i["int"], 0), Member("y", s32, 32))))
    color = s.add(Enum(0, "cs_color", 4, True, (EnumValue("CS_RED", -10), EnumValue("CS_GREEN", 20),
                                                 EnumValue("CS_BLUE", 70000))))
    big = s.add(Enum64(0, "cs_big", 8, True, (EnumValue("CS_HUGE", -5), EnumValue("CS_SMALL", 3))))
    deep_i = s.add(Struct(0, "", 4, (Member("i", s32, 0),)))
    deep_i = s.add(Union(0, "", 4, (Member("", deep_i, 0), Member("i_raw", i["unsigned int"], 0))))
    deep_i = s.add(Struct(0, "", 4, (Member("", deep_i, 0),)))
    u2 = s.add(Union(0, "", 2, (Member("s2", i["short"], 0),)))
    s1 = s.add(Struct(0, "", 4, (Member("s1", i["short"], 0), Member("", u2, 16))))
    u1 = s.add(Union(0, "", 4, (Member("", s1, 0), Member("u1", i["int"], 0))))
    short4 = s.add(Typedef(0, "cs_short4", s.array(i["short"], 4)))
    basic = Struct(0, "cs_basic___twisted", 112, (
        Member("c", cchar, 0),
        Member("", deep_i, 32),
        Member("ll", i["long long"], 64),
        Member("grow", i["unsigned int"], 128),
        Member("ub", u32, 160, 3),
        Member("sb", i["int"], 163, 5),
        Member("wide", i["long long unsigned int"], 200, 40),
        Member("", u1, 256),
        Member("arr", short4, 288),
        Member("in", s.array(inner_t, 2), 384),
        Member("grid", s.array(s.array(i["int"], 3), 2), 512),
        Member("col", color, 704),
        Member("big", big, 768),
        Member("ptr", s.add(Ptr(0, "", fwd_pair)), 832),
    ))
    s.add(basic)
    for flavour in ("cs_flav___a", "cs_flav___b"):
        s.add(Struct(0, flavour, 16, (Member("stale", i["long"], 0), Member("fresh", i["long"], 64))))
    return _written("twisted", s.b.to_bytes(), tmp)


def random_target(seed: int, tmp: Path) -> Target:
    """A random but valid layout of every type the self-check reads (deterministic per seed).

    Members of cs_basic in random order with random padding, integer widths
    and signs where the program allows it, the bitfields at random places in
    one 8-byte unit, array lengths, typedef/const wrappers, flavour suffixes,
    ``s1``/``s2`` direct or anonymous, ``ptr``/``CS_BLUE``/``cs_absent`` present
    or not, random enumerator values.
    """
    import random

    rng = random.Random(seed)
    s = _Spec(padding=rng.randrange(60))
    for name, size, signed in [("char", 1, True), ("short", 2, True), ("int", 4, True), ("unsigned int", 4, False),
                               ("long", 8, True), ("long long", 8, True), ("long long unsigned int", 8, False)]:
        s.int(name, size, signed)
    i = s.ids

    def wrap(tid: int) -> int:
        roll = rng.random()
        if roll < 0.2:
            return s.add(Typedef(0, f"cs_t{s.b.count}", tid))
        if roll < 0.35:
            return s.add(Const(0, "", tid))
        return tid

    def flavour(name: str) -> str:
        return name + rng.choice(["", "", "___r", f"___{seed}x"])

    order = [("a", i["int"], 0), ("b", i["short"], 32)] if rng.random() < 0.5 else [("b", i["short"], 0),
                                                                                   ("a", i["int"], 32)]
    inner = s.add(Struct(0, flavour("cs_inner"), 8, tuple(Member(n, wrap(t), o) for n, t, o in order)))
    s.add(Struct(0, flavour("cs_pair"), 16, (Member("x", i["int"], 0),
                                            Member("y", rng.choice([i["int"], i["long"]]), 64))))
    names = ["CS_RED", "CS_GREEN"] + (["CS_BLUE"] if rng.random() < 0.6 else [])
    values = rng.sample(range(-1000, 100000), len(names))
    values[1] = abs(values[1])  # col holds CS_GREEN and is compared as an unsigned local enum
    color = s.add(Enum(0, "cs_color", 4, min(values) < 0, tuple(EnumValue(n, v) for n, v in zip(names, values))))
    big = s.add(Enum64(0, "cs_big", 8, False, (EnumValue("CS_HUGE", rng.getrandbits(64)), EnumValue("CS_SMALL", 3))))
    if rng.random() < 0.5:
        s.add(Struct(0, "cs_absent", 4, (Member("z", i["int"], 0),)))
    # (name, type, size, align) of each top-level piece; bitfields and s1/s2 come as groups
    pieces: list[tuple] = [
        ("c", wrap(i["char"]), 1, 1), ("i", wrap(rng.choice([i["int"], i["unsigned int"]])), 4, 4),
        ("ll", i["long long"], 8, 8),
        ("grow", *rng.choice([(i["unsigned int"], 4, 4), (i["long long unsigned int"], 8, 8)])),
    ]
    n = rng.randrange(3, 7)
    pieces.append(("arr", wrap(s.array(i["short"], n)), 2 * n, 2))
    n = rng.randrange(2, 4)
    pieces.append(("in", s.array(wrap(inner), n), 8 * n, 4))
    rows, cols = rng.randrange(2, 4), rng.randrange(3, 5)
    pieces.append(("grid", s.array(s.array(i["int"], cols), rows), 4 * rows * cols, 4))
    pieces += [("col", color, 4, 4), ("big", big, 8, 8)]
    if rng.random() < 0.7:
        pieces.append(("ptr", s.add(Ptr(0, "", inner)), 8, 8))
    if rng.random() < 0.5:
        pieces.append(("s1+s2", None, 4, 2))
    else:
        inner_s = s.add(Struct(0, "", 4, (Member("s1", i["short"], 0), Member("s2", i["short"], 16))))
        pieces.append(("", s.add(Union(0, "", 4, (Member("u1", i["int"], 0), Member("", inner_s, 0)))), 4, 4))
    pieces.append(("bits", None, 8, 8))
    rng.shuffle(pieces)
    members, at = [], 0
    for name, tid, size, align in pieces:
        at += rng.randrange(3) * align
        at = (at + align - 1) // align * align
        if name == "s1+s2":
            members += [Member("s1", i["short"], 8 * at), Member("s2", i["short"], 8 * at + 16)]
        elif name == "bits":
            widths = [("wide", i["long long unsigned int"], 40), ("sb", i["int"], 5),
                      ("ub", wrap(i["unsigned int"]), 3)]
            rng.shuffle(widths)
            bit, spare = 0, 64 - 48
            for fname, ftid, width in widths:
                gap = rng.randrange(spare + 1)
                spare -= gap
                bit += gap
                members.append(Member(fname, ftid, 8 * at + bit, width))
                bit += width
        else:
            members.append(Member(name, tid, 8 * at))
        at += size
    s.add(Struct(0, flavour("cs_basic"), (at + 7) // 8 * 8, tuple(members)))
    fresh_first = rng.random() < 0.5
    flav = [Member("fresh", i["long"], 0 if fresh_first else 64)]
    if rng.random() < 0.5:
        flav.append(Member("stale", i["long"], 64 if fresh_first else 0))
    s.add(Struct(0, flavour("cs_flav"), 16, tuple(flav)))
    return _written(f"random{seed}", s.b.to_bytes(), tmp)


TARGETS = ["own", "shifted", "twisted"]


@pytest.fixture(scope="module")
def targets(tmp_path_factory) -> dict[str, Target]:
    tmp = tmp_path_factory.mktemp("selfcheck")
    return {"own": own_target(Object.from_file(SELF), tmp), "shifted": shifted_target(tmp),
            "twisted": twisted_target(tmp)}


def test_shifted_target_differs_where_it_should(targets) -> None:
    """The expectations are not the local ones: every rule gives another answer on the shifted target."""
    local = Object.from_file(SELF).btf
    own = selfcheck_globals(local, targets["own"].btf)
    shifted = selfcheck_globals(local, targets["shifted"].btf)
    same = sorted(k for k in own if own[k] == shifted[k])
    # what a layout change leaves alone: bit widths (rshift), the sign of char and of the bitfields, the local id,
    # the 8-byte enum64, members present in both flavours, a 4-byte int turned unsigned, the value of a gone member
    assert same == ["exp_exists_fresh", "exp_id_local", "exp_match_inner", "exp_off_stale", "exp_sb_rshift",
                    "exp_sb_sz", "exp_signed_c", "exp_sz_big", "exp_sz_i", "exp_ub_rshift", "exp_wide_rshift",
                    "exp_wide_sz", "flav_at"], same
    assert own["exp_id_local"] == shifted["exp_id_local"]
    assert (shifted["exp_ub_sz"], shifted["exp_sz_grow"], shifted["exp_exists_ptr"]) == (8, 8, 0)
    assert shifted["exp_id_target"] > 23 and shifted["exp_match_pair"] == 0 and shifted["exp_match_inner"] == 1


# --- running the self-checks -------------------------------------------------------------------------


def _loader(path: Path, program: str, target: Btf | None, globals: dict[str, object] | None = None) -> EbpfLoader:
    """A loader for ``program`` alone (autoload off for the object's others), with ``globals`` set."""
    loader = EbpfLoader().target_btf(target)
    for name in Object.from_file(path).programs:
        loader.set_autoload(name, name == program)
    for name, value in (globals or {}).items():
        loader.set_global(name, value)
    return loader


def _bpfnb_run(path: Path, program: str, target: Btf | None, globals: dict[str, object]) -> int:
    with _loader(path, program, target, globals).load_file(path) as ebpf:
        return ebpf.programs[program].test_run(ctx_in=bytes(8)).retval


def _rodata(obj: Object, globals: dict[str, object]) -> bytes:
    """The ``.rodata`` bytes for libbpf, written at each variable's offset (little-endian)."""
    section = obj.data[".rodata"]
    data = bytearray(section.data.ljust(section.size, b"\0"))
    for var in section.variables:
        if var.name not in globals:
            continue
        value = globals[var.name]
        raw = bytes(value) if isinstance(value, (bytes, bytearray)) else int(value).to_bytes(
            var.size, "little", signed=int(value) < 0)
        data[var.offset : var.offset + var.size] = raw.ljust(var.size, b"\0")
    return bytes(data)


def _libbpf_run(path: Path, program: str, pin_root: str, target: Path | None,
                globals: dict[str, object]) -> tuple[int | None, list[str]]:
    """libbpf loads ``path`` with the same .rodata against ``target`` (btf_custom_path); the run's retval."""
    from bpfnb.kernel import prog_test_run

    lib = _load_lib()
    lib.bpf_object__find_map_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.bpf_object__find_map_by_name.restype = ctypes.c_void_p
    lib.bpf_map__set_initial_value.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    lib.bpf_object__find_program_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.bpf_object__find_program_by_name.restype = ctypes.c_void_p
    lib.bpf_program__set_autoload.argtypes = [ctypes.c_void_p, ctypes.c_bool]
    start = len(_log)
    custom = str(target).encode() if target else None
    opts = _OpenOpts(sz=ctypes.sizeof(_OpenOpts), pin_root_path=pin_root.encode(), btf_custom_path=custom)
    obj = lib.bpf_object__open_file(str(path).encode(), ctypes.byref(opts))
    assert obj and not lib.libbpf_get_error(obj), f"libbpf could not open {path}"
    try:
        data = _rodata(Object.from_file(path), globals)
        rodata = lib.bpf_object__find_map_by_name(obj, b".rodata")
        assert rodata and lib.bpf_map__set_initial_value(rodata, data, len(data)) == 0
        prog = None
        while prog := lib.bpf_object__next_program(obj, prog):
            lib.bpf_program__set_autoload(prog, lib.bpf_program__name(prog).decode() == program)
        if lib.bpf_object__load(obj) != 0:
            return None, [text for _, text in _log[start:]]
        fd = lib.bpf_program__fd(lib.bpf_object__find_program_by_name(obj, program.encode()))
        run = prog_test_run(fd, b"", ctx_in=bytes(8), repeat=0, data_size_out=0)
        return run.retval, [text for _, text in _log[start:]]
    finally:
        lib.bpf_object__close(obj)


@pytest.mark.kernel
@pytest.mark.parametrize("target", TARGETS)
def test_selfcheck_passes_on_target(target, targets) -> None:
    t = targets[target]
    g = selfcheck_globals(Object.from_file(SELF).btf, t.btf)
    code = _bpfnb_run(SELF, "selfcheck", t.btf, g)
    assert code == 0, _explain("core_selfcheck.bpf.c", code)


@pytest.mark.kernel
@needs_libbpf
@pytest.mark.parametrize("target", TARGETS)
def test_selfcheck_passes_under_libbpf_too(target, targets, pin_root) -> None:
    t = targets[target]
    g = selfcheck_globals(Object.from_file(SELF).btf, t.btf)
    code, log = _libbpf_run(SELF, "selfcheck", pin_root, t.path, g)
    assert code == 0, _explain("core_selfcheck.bpf.c", code) if code is not None else log[-8:]


@pytest.mark.kernel
@pytest.mark.parametrize("loader", ["bpfnb", pytest.param("libbpf", marks=needs_libbpf)])
def test_selfcheck_fails_on_wrong_expectations(loader, targets, pin_root) -> None:
    """The checks can fail: expectations of one target with the other target name the first check that differs."""
    local = Object.from_file(SELF).btf
    g = selfcheck_globals(local, targets["own"].btf)
    t = targets["shifted"]
    if loader == "bpfnb":
        code = _bpfnb_run(SELF, "selfcheck", t.btf, g)
    else:
        code, _ = _libbpf_run(SELF, "selfcheck", pin_root, t.path, g)
    assert code == _check_line("struct cs_basic, c) == exp_off_c"), _explain("core_selfcheck.bpf.c", code)
    # one wrong value read through a relocated load is caught too
    g = selfcheck_globals(local, t.btf)
    blob = bytearray(g["blob"])
    _put(blob, 8 * _offset(t.btf, "cs_basic", "in[1].b"), 16, 0x1235)
    g["blob"] = bytes(blob)
    code = _bpfnb_run(SELF, "selfcheck", t.btf, g) if loader == "bpfnb" else _libbpf_run(
        SELF, "selfcheck", pin_root, t.path, g)[0]
    assert code == _check_line("obj->in[1].b == V_IN1B"), _explain("core_selfcheck.bpf.c", code)


@pytest.mark.kernel
@pytest.mark.parametrize("seed", range(8))
def test_selfcheck_on_random_targets(seed, tmp_path, pin_root) -> None:
    """Random layouts: bpfnb's run returns 0, and so does libbpf's on the same target."""
    t = random_target(seed, tmp_path)
    g = selfcheck_globals(Object.from_file(SELF).btf, t.btf)
    code = _bpfnb_run(SELF, "selfcheck", t.btf, g)
    assert code == 0, _explain("core_selfcheck.bpf.c", code)
    if available():
        theirs, log = _libbpf_run(SELF, "selfcheck", pin_root, t.path, g)
        assert theirs == 0, _explain("core_selfcheck.bpf.c", theirs) if theirs is not None else log[-8:]


# --- (c) the running kernel --------------------------------------------------------------------------


def _comm() -> bytes:
    return Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_bytes().rstrip(b"\n")[:15].ljust(16, b"\0")


def kernel_globals(local: Btf, vmlinux: Btf) -> dict[str, object]:
    """Every ``.rodata`` global of core_selfcheck_kernel.bpf.c: this task, and what vmlinux's BTF says."""
    g: dict[str, object] = {"exp_pid": threading.get_native_id(), "exp_tgid": os.getpid(), "exp_ppid": os.getppid(),
                            "exp_comm": _comm()}
    g["exp_off_pid"] = _offset(vmlinux, "task_struct", "pid")
    g["exp_off_tgid"] = _offset(vmlinux, "task_struct", "tgid")
    g["exp_off_comm1"] = _offset(vmlinux, "task_struct", "comm[1]")
    g["exp_off_children_prev"] = _offset(vmlinux, "task_struct", "children.prev")
    g["exp_sz_flags"] = _size(vmlinux, "task_struct", "flags")
    g["exp_sz_comm"] = _size(vmlinux, "task_struct", "comm")
    g["exp_signed_pid"] = _signed(vmlinux, "task_struct", "pid")
    g["exp_signed_flags"] = _signed(vmlinux, "task_struct", "flags")
    rof = _field(vmlinux, "task_struct", "sched_reset_on_fork")
    g["exp_rof_exists"] = int(rof is not None)
    if rof is not None:
        g["exp_rof_off"], g["exp_rof_sz"], g["exp_rof_lshift"], g["exp_rof_rshift"] = _bitfield(
            vmlinux, "task_struct", "sched_reset_on_fork")
    g["exp_has_new_state"] = int(_field(vmlinux, "task_struct", "__state") is not None)
    g["exp_has_old_state"] = int(_field(vmlinux, "task_struct", "state") is not None)
    g["exp_skb_off_next"] = _offset(vmlinux, "sk_buff", "next")
    g["exp_skb_off_len"] = _offset(vmlinux, "sk_buff", "len")
    task = local.find("task_struct", "struct")
    [ktask] = vmlinux.find_all("task_struct", "struct")
    g["exp_id_local"], g["exp_id_task"], g["exp_size_task"] = task.id, ktask.id, ktask.size
    [klist] = vmlinux.find_all("list_head", "struct")
    g["exp_match_list"] = int(sorted(m.name for m in klist.members) == ["next", "prev"] and all(
        isinstance(vmlinux[vmlinux.resolve(m.type_id)], Ptr) for m in klist.members))
    for name, key in [("PIDTYPE_TGID", "tgid"), ("PIDTYPE_MAX", "max"), ("PIDTYPE_BPFNB_NONE", "none")]:
        value = _enum(vmlinux, "pid_type", name)
        g[f"exp_{key}_exists"] = int(value is not None)
        if value is not None and key != "none":
            g[f"exp_{key}_value"] = value
    return g


@pytest.fixture(scope="module")
def vmlinux() -> Btf:
    return Btf.from_sys_fs()


@pytest.mark.kernel
def test_kernel_selfcheck_passes(vmlinux) -> None:
    g = kernel_globals(Object.from_file(KERNEL).btf, vmlinux)
    assert g["exp_has_new_state"] != g["exp_has_old_state"]  # one of the two flavours is this kernel's
    code = _bpfnb_run(KERNEL, "selfcheck_kernel", None, g)
    assert code == 0, _explain("core_selfcheck_kernel.bpf.c", code)


@pytest.mark.kernel
@needs_libbpf
def test_kernel_selfcheck_passes_under_libbpf(vmlinux, pin_root) -> None:
    g = kernel_globals(Object.from_file(KERNEL).btf, vmlinux)
    code, log = _libbpf_run(KERNEL, "selfcheck_kernel", pin_root, None, g)
    assert code == 0, _explain("core_selfcheck_kernel.bpf.c", code) if code is not None else log[-8:]


@pytest.mark.kernel
def test_kernel_selfcheck_sees_another_task(vmlinux) -> None:
    """A value check that cannot pass by accident: another pid than ours names the pid check."""
    g = kernel_globals(Object.from_file(KERNEL).btf, vmlinux)
    g["exp_pid"] = threading.get_native_id() + 1
    code = _bpfnb_run(KERNEL, "selfcheck_kernel", None, g)
    assert code == _check_line("BPF_CORE_READ(t, pid)", "core_selfcheck_kernel.bpf.c")


# --- libbpf decides every record as bpfnb does -------------------------------------------------------


@pytest.mark.kernel
@needs_libbpf
@pytest.mark.parametrize("target", TARGETS)
def test_records_match_libbpf(target, targets, pin_root) -> None:
    """Record by record (instruction, kind, old and new value, poisoning, load size) as libbpf's debug log says."""
    from oracles.libbpf_core import core_decisions

    from bpfnb.btf.core import core_relocations

    t = targets[target]
    run = core_decisions(SELF, pin_root, btf_custom_path=str(t.path))
    theirs = {k: (r.insn, r.kind, r.old, r.new, r.poisoned, r.mem_sz) for k, r in run.records.items()}
    ours = {}
    for r in core_relocations(Object.from_file(SELF), t.btf):
        mem = (r.old_size, r.new_size) if r.old_size != r.new_size and not r.poisoned else None
        values = (None, None) if r.poisoned else (r.old_value, r.new_value)
        ours[(r.program, r.index)] = (r.slot, r.kind_label, *values, r.poisoned, mem)
    assert len(theirs) == 84 and ours == theirs
    assert run.loaded
    poisoned = sorted(k[1] for k, v in theirs.items() if v[4])
    assert bool(poisoned) == (target == "shifted")
    if target == "twisted":
        changed = {k for k, v in theirs.items() if v[2] != v[3]}
        assert len(changed) >= 30  # the same C layout, yet most answers move  # the guarded reads of what the shifted target lacks


# --- negative self-checks ----------------------------------------------------------------------------


def neg_target(tmp: Path) -> Target:
    """cs_gone without ``gone``, cs_gone_enum without CS_DROPPED, two cs_amb flavours that disagree on ``b``."""
    s = _Spec(padding=5)
    i = s.int("int", 4, True)
    s.add(Struct(0, "cs_amb___x", 8, (Member("a", i, 0), Member("b", i, 32))))
    s.add(Struct(0, "cs_gone", 12, (Member("spare", i, 0), Member("here", i, 64))))
    s.add(Enum(0, "cs_gone_enum", 4, False, (EnumValue("CS_KEPT", 1),)))
    s.add(Struct(0, "cs_amb___y", 8, (Member("b", i, 0), Member("a", i, 32))))
    return _written("neg", s.b.to_bytes(), tmp)


@pytest.fixture(scope="module")
def neg_targets(tmp_path_factory) -> dict[str, Target]:
    tmp = tmp_path_factory.mktemp("selfcheck_neg")
    return {"own": own_target(Object.from_file(NEG), tmp), "neg": neg_target(tmp)}


def _refused(program: str, target: Target) -> BpfnbError:
    """Load ``program`` of the negative object alone: the error of its relocation or load."""
    with _loader(NEG, program, target.btf).pipeline(NEG) as p:
        try:
            p.run()
        except BpfnbError as exc:
            return exc
        assert program not in p.programs, f"{program} loaded against {target.name}"
        return p.program_errors[program]


@pytest.mark.kernel
@pytest.mark.parametrize("target", ["own", "neg"])
def test_ambiguous_flavours_refused(target, neg_targets, pin_root) -> None:
    """Two flavours of cs_amb in the target put ``b`` at different offsets: no loader may pick one."""
    t = neg_targets[target]
    exc = _refused("neg_ambiguous", t)
    assert isinstance(exc, ConflictingCandidates), exc
    ids = sorted(x.id for x in _named(t.btf, "cs_amb", "struct"))
    assert len(ids) == 2
    m = re.search(r"neg_ambiguous insn \d+: relo #(\d+): cs_amb___one->b is at bit (\d+) in \[(\d+)\] but at bit "
                  r"(\d+) in \[(\d+)\] struct cs_amb___", str(exc))
    assert m, str(exc)
    assert sorted(int(x) for x in (m[3], m[5])) == ids
    bits = {x.id: t.btf.member_offset(x.id, "b").bit_offset for x in _named(t.btf, "cs_amb", "struct")}
    assert {int(m[3]): int(m[2]), int(m[5]): int(m[4])} == bits
    if available():
        code, log = _libbpf_run(NEG, "neg_ambiguous", pin_root, t.path, {})
        assert code is None
        assert any(f"relo #{m[1]}: field offset ambiguity" in line for line in log), log[-6:]


@pytest.mark.kernel
@pytest.mark.parametrize("program, spec", [("neg_poisoned_field", "struct cs_gone.gone"),
                                           ("neg_poisoned_enum", "enum cs_gone_enum::CS_DROPPED")])
def test_poisoned_record_is_named(program, spec, neg_targets, pin_root) -> None:
    """The target lacks what the program reads unguarded: the verifier refuses the poisoned instruction, and
    the error names the record, as libbpf's rewritten log line does."""
    t = neg_targets["neg"]
    exc = _refused(program, t)
    assert isinstance(exc, VerifierError), exc
    assert "unknown#195896080" in exc.log and "licen" not in exc.log.lower()
    assert spec in exc.explanation and "instruction poisoned by CO-RE" in str(exc)
    rec = exc.core_relocation
    assert rec is not None and rec.poisoned and rec.program == program and not rec.guarded
    if available():
        code, log = _libbpf_run(NEG, program, pin_root, t.path, {})
        assert code is None
        line = next(x for text in log for x in text.splitlines() if x.startswith("failed to resolve CO-RE relocation"))
        assert exc.explanation.startswith(line), (exc.explanation, line)


@pytest.mark.kernel
@pytest.mark.parametrize("loader", ["bpfnb", pytest.param("libbpf", marks=needs_libbpf)])
def test_guarded_reads_pass(loader, neg_targets, pin_root) -> None:
    """The same reads, and a missing weak kfunc, behind existence checks: the program loads and returns 0."""
    t = neg_targets["neg"]
    blob = bytearray(64)
    _put(blob, _field(t.btf, "cs_gone", "here")[1].bit_offset, 32, 1)
    g = {"blob": bytes(blob)}
    code = (_bpfnb_run(NEG, "neg_guarded", t.btf, g) if loader == "bpfnb"
            else _libbpf_run(NEG, "neg_guarded", pin_root, t.path, g)[0])
    assert code == 0


@pytest.mark.kernel
@pytest.mark.parametrize("program, symbol, verifier_says", [
    ("neg_weak_kfunc", "bpfnb_selfcheck_no_such_kfunc", "invalid kernel function call not eliminated"),
    ("neg_weak_ksym", "bpfnb_selfcheck_no_such_var", "type=scalar"),
])
def test_missing_weak_ksym_is_named(program, symbol, verifier_says, neg_targets, pin_root) -> None:
    """A weak kfunc / kernel variable no kernel has, used unguarded: refused, and the error names it.

    kfuncs and ksyms resolve in the running kernel whatever the CO-RE target (issue 12, item 3).
    """
    exc = _refused(program, neg_targets["own"])
    assert isinstance(exc, VerifierError), exc
    assert verifier_says in exc.log and "licen" not in exc.log.lower()
    assert symbol in exc.explanation and "bpf_ksym_exists()" in str(exc)
    assert exc.explanation in exc.verifier_log.error  # the log table says it too
    if available():
        code, log = _libbpf_run(NEG, program, pin_root, neg_targets["own"].path, {})
        assert code is None and any(verifier_says in line for line in log)


#: The verifier's log for neg_weak_ksym (Linux 6.18), and the same with the address moved to another register.
WEAK_VAR_LOG = """0: R1=ctx() R10=fp0
0: (18) r1 = 0x0                      ; R1=0
2: (85) call bpf_this_cpu_ptr#154
R1 type=scalar expected=percpu_ptr_, percpu_rcu_ptr_, percpu_trusted_ptr_
processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""


def test_weak_variable_explained_from_the_log() -> None:
    """Pure: the register the verifier complains about is followed back to the neutralised ld_imm64."""
    from bpfnb.kernel.verifier import explain_poisoned

    with EbpfLoader().dry_run().set_autoload("neg_ambiguous", False).pipeline(NEG) as p:
        p.run("relocate")
        rel = p.relocated["neg_weak_ksym"]
    why = explain_poisoned(WEAK_VAR_LOG, rel)
    assert list(why) == [2] and "'bpfnb_selfcheck_no_such_var'" in why[2] and "insn 0" in why[2]
    moved = WEAK_VAR_LOG.replace("0: (18) r1 = 0x0                      ; R1=0",
                                 "0: (18) r3 = 0x0                      ; R3=0\n2: (bf) r1 = r3")
    assert "'bpfnb_selfcheck_no_such_var'" in explain_poisoned(moved, rel)[2]
    # R1 came from elsewhere: nothing to say
    other = WEAK_VAR_LOG.replace("0: (18) r1 = 0x0                      ; R1=0",
                                 "0: (18) r1 = 0x0                      ; R1=0\n1: (b7) r1 = 5")
    assert explain_poisoned(other, rel) == {}
