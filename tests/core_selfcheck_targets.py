"""Target BTFs for the CO-RE self-checks, written with bpfnb's BTF writer from specs kept here.

Each is written to a file and parsed back from it, so that bpfnb
(``target_btf``) and libbpf (``btf_custom_path``) read the same bytes:

``own``      the object's own types (``obj.btf`` written out);
``shifted``  another "kernel": ids moved by 23, members reordered and padded,
             flavoured names, loads that change size, bitfields that straddle
             their unit, members, an enumerator and a type gone;
``twisted``  the local layout behind typedefs, const/volatile, three anonymous
             levels, forward-declaration decoys, agreeing duplicate flavours,
             negative enumerators;
``random``   a random valid layout per seed;
``neg``      what the negative programs need: a member and an enumerator
             missing, two flavours that disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bpfnb.btf import Btf, Enum, EnumValue, Member, Struct
from bpfnb.btf.types import Array, Const, Enum64, Fwd, Int, IntEncoding, Ptr, Typedef, Union, Volatile
from bpfnb.btf.writer import BtfBuilder
from bpfnb.obj import Object

__all__ = ["Target", "neg_target", "own_target", "random_target", "shifted_target", "twisted_target"]


@dataclass
class Target:
    name: str
    btf: Btf
    path: Path


def written(name: str, data: bytes, tmp: Path) -> Target:
    """Written to a file and parsed back from it: bpfnb and libbpf read the same bytes."""
    path = tmp / f"{name}.btf"
    path.write_bytes(data)
    return Target(name, Btf.from_file(path), path)


def own_target(obj: Object, tmp: Path) -> Target:
    """(a) the object's own types, as a target BTF."""
    return written("own", obj.btf.to_bytes(), tmp)


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
    return written("shifted", s.b.to_bytes(), tmp)


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
    return written("twisted", s.b.to_bytes(), tmp)


def random_target(seed: int, tmp: Path) -> Target:
    """A random but valid layout of every type the self-check reads (deterministic per seed).

    Members of cs_basic in random order with random padding, integer widths
    and signs where the program allows it, the bitfields at random places in
    one 8-byte unit, array lengths, typedef/const wrappers, flavour suffixes,
    ``s1``/``s2`` direct or anonymous, ``ptr``/``CS_BLUE``/``cs_absent`` present
    or not, random enumerator values; sometimes the bitfields are whole
    members of their own.
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
    if len(names) == 3 and rng.random() < 0.4:
        values = [abs(v) for v in values[:2]] + [(1 << 31) + rng.randrange(1000)]  # an unsigned enum's top bit
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
    if rng.random() < 0.3:  # the bitfields became whole members (BPF_CORE_READ_BITFIELD reads those too)
        pieces += [("ub", s.int("unsigned char", 1, False), 1, 1), ("sb", s.int("signed char", 1, True), 1, 1),
                   ("wide", i["long long unsigned int"], 8, 8)]
    else:
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
    return written(f"random{seed}", s.b.to_bytes(), tmp)



def neg_target(tmp: Path) -> Target:
    """cs_gone without ``gone``, cs_gone_enum without CS_DROPPED, two cs_amb flavours that disagree on ``b``."""
    s = _Spec(padding=5)
    i = s.int("int", 4, True)
    s.add(Struct(0, "cs_amb___x", 8, (Member("a", i, 0), Member("b", i, 32))))
    s.add(Struct(0, "cs_gone", 12, (Member("spare", i, 0), Member("here", i, 64))))
    s.add(Enum(0, "cs_gone_enum", 4, False, (EnumValue("CS_KEPT", 1),)))
    s.add(Struct(0, "cs_amb___y", 8, (Member("b", i, 0), Member("a", i, 32))))
    return written("neg", s.b.to_bytes(), tmp)
