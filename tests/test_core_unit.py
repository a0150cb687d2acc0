"""CO-RE rules, one at a time, on hand-built local/target BTF pairs (bpfnb's writer).

Each test builds the smallest local and target type tables that exercise
one rule of libbpf's ``relo_core.c`` (field/type compatibility, type
matching, flavors, arrays, bitfields, enums, candidate search) and checks
the resolved values, then the instruction patching rules.
"""

from __future__ import annotations

import pytest

from bpfnb.asm import Instruction, Instructions, InsnClass, Mode, Size
from bpfnb.btf import (
    Array, Btf, CoreRelo, Enum, Enum64, EnumValue, Float, FuncProto, Fwd, Int, IntEncoding, Member, Param, Ptr,
    Struct, Typedef, Union,
)
from bpfnb.btf.core import POISON_HELPER, CandidateCache, resolve_core_relocations
from bpfnb.btf.core_patch import apply_core_relocations, patch_one
from bpfnb.btf.core_spec import core_essential_name, parse_spec, types_compatible, types_match
from bpfnb.btf.writer import write_types
from bpfnb.errors import BpfnbError, ConflictingCandidates, CoreRelocationError, InvalidAccessString
from bpfnb.uapi import CoreReloKind as K


class Types:
    """Build a BTF by adding types in id order; ``add`` returns the new id."""

    def __init__(self, base: Btf | None = None):
        self.base = base
        self.types: list = []
        self.start = len(base) if base is not None else 1

    def add(self, cls, *args) -> int:
        tid = self.start + len(self.types)
        self.types.append(cls(tid, *args))
        return tid

    def int(self, name="int", size=4, signed=True, offset=0) -> int:
        # bits + offset fit the size, as the kernel requires of an INT record
        return self.add(Int, name, size, IntEncoding.SIGNED if signed else IntEncoding.NONE, offset,
                        size * 8 - offset)

    def struct(self, name, size, *members, union=False) -> int:
        return self.add(Union if union else Struct, name, size, tuple(Member(*m) for m in members))

    def btf(self, source="t") -> Btf:
        return Btf.from_bytes(write_types(self.types, base=self.base), base=self.base, source=source)


def resolve(local: Btf, type_id: int, access: str, kind: K, *targets: Btf, **kw):
    [r] = resolve_core_relocations(local, [CoreRelo(0, type_id, access, kind)], list(targets), program="p", **kw)
    return r


# --- field offsets, arrays, anonymous members ----------------------------------------------


def _pair():
    """local: struct s {int a; int b; long c[4]}; target: struct s {long c[8]; char pad; int b; int a;}."""
    lt = Types()
    i = lt.int()
    lng = lt.int("long", 8)
    arr = lt.add(Array, "", lng, i, 4)
    s = lt.struct("s", 40, ("a", i, 0), ("b", i, 32), ("c", arr, 64))
    tt = Types()
    ti = tt.int()
    tl = tt.int("long", 8)
    tarr = tt.add(Array, "", tl, ti, 8)
    ch = tt.int("char", 1, signed=False)
    tt.struct("s", 80, ("c", tarr, 0), ("pad", ch, 512), ("b", ti, 544), ("a", ti, 576))
    return lt.btf("local"), s, tt.btf("target")


def test_field_offset_moves_by_name() -> None:
    local, s, target = _pair()
    r = resolve(local, s, "0:1", K.FIELD_BYTE_OFFSET, target)
    assert (r.old_value, r.new_value, r.old_size, r.new_size) == (4, 68, 4, 4)
    assert r.local_path == "s->b" and r.target_path == "s->b" and r.target_type_id == 5
    assert [c.matched for c in r.candidates] == [True]


def test_array_element_and_leading_index() -> None:
    local, s, target = _pair()
    r = resolve(local, s, "0:2:3", K.FIELD_BYTE_OFFSET, target)
    assert (r.old_value, r.new_value, r.local_path) == (8 + 24, 24, "s->c[3]")
    r = resolve(local, s, "2:0", K.FIELD_BYTE_OFFSET, target)  # &p[2].a
    assert (r.old_value, r.new_value, r.local_path) == (80 + 0, 160 + 72, "s[2].a")
    size = resolve(local, s, "0:2:1", K.FIELD_BYTE_SIZE, target)
    assert (size.old_value, size.new_value) == (8, 8)
    with pytest.raises(CoreRelocationError, match="cannot be applied to an array element"):
        resolve(local, s, "0:2:1", K.FIELD_SIGNED, target)


def test_array_index_beyond_target_bounds_poisons() -> None:
    lt = Types()
    i = lt.int()
    s = lt.struct("s", 16, ("c", lt.add(Array, "", i, i, 4), 0))
    tt = Types()
    ti = tt.int()
    tt.struct("s", 8, ("c", tt.add(Array, "", ti, ti, 2), 0))
    r = resolve(lt.btf(), s, "0:0:3", K.FIELD_BYTE_OFFSET, tt.btf())
    assert r.poisoned and "beyond the 2 elements" in r.candidates[0].reason
    assert resolve(lt.btf(), s, "0:0:3", K.FIELD_EXISTS, tt.btf()).new_value == 0


def test_flexible_array_has_no_bound() -> None:
    lt = Types()
    i = lt.int()
    s = lt.struct("s", 4, ("n", i, 0), ("data", lt.add(Array, "", i, i, 0), 32))
    tt = Types()
    ti = tt.int()
    tt.struct("s", 8, ("x", ti, 0), ("n", ti, 32), ("data", tt.add(Array, "", ti, ti, 0), 64))
    r = resolve(lt.btf(), s, "0:1:5", K.FIELD_BYTE_OFFSET, tt.btf())
    assert (r.old_value, r.new_value) == (4 + 20, 8 + 20)


def test_anonymous_members_are_see_through_on_both_sides() -> None:
    lt = Types()
    i = lt.int()
    inner = lt.struct("", 8, ("x", i, 0), ("y", i, 32))
    s = lt.struct("s", 12, ("a", i, 0), ("", inner, 32))
    tt = Types()
    ti = tt.int()
    tinner = tt.struct("", 8, ("y", ti, 0), ("z", ti, 32), union=True)
    outer = tt.struct("", 16, ("pad", ti, 0), ("", tinner, 64))
    tt.struct("s", 20, ("", outer, 0), ("a", ti, 128))
    r = resolve(lt.btf(), s, "0:1:1", K.FIELD_BYTE_OFFSET, tt.btf())
    assert (r.old_value, r.new_value, r.local_path, r.target_path) == (8, 8, "s->y", "s->y")
    assert [st.index for st in r.target_steps] == [0, 0, 1, 0]


def test_modifiers_and_typedefs_are_skipped() -> None:
    lt = Types()
    i = lt.int()
    s = lt.struct("s", 4, ("a", lt.add(Typedef, "myint", i), 0))
    td = lt.add(Typedef, "s_t", s)
    tt = Types()
    ti = tt.int("unsigned int", 4, signed=False)
    tt.struct("s", 8, ("b", ti, 0), ("a", ti, 32))
    tt.add(Typedef, "s_t", 2)
    r = resolve(lt.btf(), td, "0:0", K.FIELD_BYTE_OFFSET, tt.btf())
    assert r.new_value == 4 and r.target_type_name == "s_t"


# --- field compatibility -------------------------------------------------------------


@pytest.mark.parametrize("local_kind, target_kind, ok", [
    ("int", "int8", True),         # integers: size and sign ignored
    ("int", "ptr", False),
    ("ptr", "ptr2", True),          # pointers: always
    ("struct", "union", True),      # composites mix
    ("enum_a", "enum_a", True),
    ("enum_a", "enum_b", False),    # enums need the same essential name
    ("enum_a", "enum_anon", True),  # ... or one anonymous
    ("float", "float", True),
    ("int", "bitint", False),       # old-style bitfield ints (offset != 0)
    ("arr", "arr2", True),          # arrays: element types, dimensions ignored
    ("arr", "arr_ptr", False),
])
def test_field_type_compatibility(local_kind: str, target_kind: str, ok: bool) -> None:
    def make(t: Types, which: str) -> int:
        i = t.int()
        return {
            "int": lambda: i, "int8": lambda: t.int("long", 8, signed=False), "ptr": lambda: t.add(Ptr, "", i),
            "ptr2": lambda: t.add(Ptr, "", t.struct("x", 1)),
            "struct": lambda: t.struct("q", 4, ("v", i, 0)), "union": lambda: t.struct("q", 4, ("w", i, 0), union=True),
            "enum_a": lambda: t.add(Enum, "a", 4, False, (EnumValue("A", 0),)),
            "enum_b": lambda: t.add(Enum, "b", 4, False, (EnumValue("A", 0),)),
            "enum_anon": lambda: t.add(Enum, "", 4, False, (EnumValue("A", 0),)),
            "float": lambda: t.add(Float, "double", 8), "bitint": lambda: t.int("int", 4, offset=3),
            "arr": lambda: t.add(Array, "", i, i, 3), "arr2": lambda: t.add(Array, "", t.int("long", 8), i, 9),
            "arr_ptr": lambda: t.add(Array, "", t.add(Ptr, "", i), i, 3),
        }[which]()

    lt, tt = Types(), Types()
    s = lt.struct("s", 8, ("f", make(lt, local_kind), 0))
    tt.struct("s", 8, ("f", make(tt, target_kind), 0))
    r = resolve(lt.btf(), s, "0:0", K.FIELD_EXISTS, tt.btf())
    assert r.new_value == int(ok)
    if not ok:
        assert "incompatible" in r.candidates[0].reason


# --- field size, signedness, bitfields, load resizing --------------------------------------


def test_signedness_size_and_shifts_of_plain_fields() -> None:
    lt, tt = Types(), Types()
    s = lt.struct("s", 8, ("v", lt.int("short", 2), 0))
    tt.struct("s", 16, ("v", tt.int("unsigned long", 8, signed=False), 64))
    local, target = lt.btf(), tt.btf()
    got = {k: resolve(local, s, "0:0", k, target) for k in
           (K.FIELD_BYTE_SIZE, K.FIELD_SIGNED, K.FIELD_LSHIFT_U64, K.FIELD_RSHIFT_U64)}
    assert {k.name: (r.old_value, r.new_value) for k, r in got.items()} == {
        "FIELD_BYTE_SIZE": (2, 8), "FIELD_SIGNED": (1, 0), "FIELD_LSHIFT_U64": (48, 0), "FIELD_RSHIFT_U64": (48, 0)}


def test_bitfields_load_the_smallest_covering_integer() -> None:
    lt, tt = Types(), Types()
    u = lt.int("unsigned int", 4, signed=False)
    s = lt.struct("s", 4, ("lo", u, 0, 3), ("hi", u, 3, 5))
    tu = tt.int("unsigned int", 4, signed=False)
    tt.struct("s", 8, ("pad", tu, 0, 30), ("hi", tu, 30, 5))  # straddles the first u32: needs a u64 load
    local, target = lt.btf(), tt.btf()
    vals = {k: resolve(local, s, "0:1", k, target) for k in
            (K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE, K.FIELD_LSHIFT_U64, K.FIELD_RSHIFT_U64)}
    assert {k.name: (r.old_value, r.new_value) for k, r in vals.items()} == {
        "FIELD_BYTE_OFFSET": (0, 0), "FIELD_BYTE_SIZE": (4, 8), "FIELD_LSHIFT_U64": (56, 29),
        "FIELD_RSHIFT_U64": (59, 59)}
    assert not vals[K.FIELD_BYTE_OFFSET].validate and vals[K.FIELD_RSHIFT_U64].validate


def test_bitfield_beyond_a_u64_cannot_be_read() -> None:
    lt, tt = Types(), Types()
    u = lt.int("unsigned long", 8, signed=False)
    s = lt.struct("s", 8, ("b", u, 0, 4))
    tu = tt.int("unsigned long", 8, signed=False)
    tt.struct("s", 16, ("b", tu, 62, 4))
    with pytest.raises(CoreRelocationError, match="64-bit load"):
        resolve(lt.btf(), s, "0:0", K.FIELD_BYTE_OFFSET, tt.btf())


def _load(off: int, size: Size = Size.DW) -> Instruction:
    return Instruction(int(InsnClass.LDX) | int(Mode.MEM) | int(size), 1, 2, off, 0)


@pytest.mark.parametrize("target_signed, poisoned", [(False, False), (True, True)])
def test_load_size_changes_only_when_the_value_survives(target_signed: bool, poisoned: bool) -> None:
    lt, tt = Types(), Types()
    s = lt.struct("s", 8, ("v", lt.int("u64", 8, signed=False), 0))
    tt.struct("s", 8, ("x", tt.int(), 0), ("v", tt.int("u32", 4, signed=target_signed), 32))
    r = resolve(lt.btf(), s, "0:0", K.FIELD_BYTE_OFFSET, tt.btf())
    assert (r.old_size, r.new_size, r.size_mismatch) == (8, 4, poisoned)
    after, was_poisoned, why = patch_one(_load(0), r)
    assert was_poisoned == poisoned
    if poisoned:
        assert after == [Instruction.call(POISON_HELPER)] and "only pointers and unsigned" in why
    else:
        assert after == [_load(4, Size.W)]
    alu = patch_one(Instruction(0x07, 1, 0, 0, 0), r)  # r1 += 0: sizes do not matter to ALU
    assert alu[0] == [Instruction(0x07, 1, 0, 0, 4)] and not alu[1]


# --- flavors and candidates --------------------------------------------------------------


def test_core_essential_name_follows_libbpf() -> None:
    assert core_essential_name("task_struct___v2") == "task_struct"
    assert core_essential_name("a___b___c") == "a___b"
    assert core_essential_name("foo____bar") == "foo____bar"
    assert core_essential_name("___x") == "___x"
    assert core_essential_name("plain") == "plain"


def _flavored(offsets: list[int], names: list[str]) -> tuple[Btf, int, Btf]:
    lt = Types()
    s = lt.struct("s___local", 8, ("a", lt.int(), 0))
    tt = Types()
    i = tt.int()
    for name, off in zip(names, offsets):
        tt.struct(name, 16, ("a", i, off))
    return lt.btf(), s, tt.btf()


def test_flavored_candidates_that_agree_are_fine() -> None:
    local, s, target = _flavored([32, 32], ["s", "s___other"])
    r = resolve(local, s, "0:0", K.FIELD_BYTE_OFFSET, target)
    assert r.new_value == 4 and [c.type_id for c in r.candidates] == [2, 3]


def test_flavored_candidates_that_disagree_conflict() -> None:
    local, s, target = _flavored([32, 64], ["s", "s___other"])
    with pytest.raises(ConflictingCandidates, match=r"p insn 0: relo #0: s___local->a is at bit 32"):
        resolve(local, s, "0:0", K.FIELD_BYTE_OFFSET, target)
    # type ids always differ between two candidates: libbpf refuses those too
    with pytest.raises(ConflictingCandidates):
        resolve(local, s, "0", K.TYPE_ID_TARGET, target)


def test_candidates_failing_once_are_pruned_for_the_object() -> None:
    lt = Types()
    i = lt.int()
    s = lt.struct("s", 8, ("a", i, 0), ("b", i, 32))
    tt = Types()
    ti = tt.int()
    tt.struct("s", 8, ("a", ti, 0))                       # no b
    tt.struct("s___v2", 8, ("a", ti, 0), ("b", ti, 32))
    local, target = lt.btf(), tt.btf()
    cache = CandidateCache([target])
    relos = [CoreRelo(0, s, "0:1", K.FIELD_BYTE_OFFSET), CoreRelo(8, s, "0", K.TYPE_ID_TARGET)]
    first, second = resolve_core_relocations(local, relos, [target], program="p", cache=cache)
    assert first.new_value == 4 and [c.matched for c in first.candidates] == [False, True]
    assert second.new_value == 3 and len(second.candidates) == 1  # "s" was pruned by the first record


def test_module_btfs_are_searched_only_without_a_vmlinux_candidate() -> None:
    base = Types()
    bi = base.int()
    base.struct("in_both", 4, ("a", bi, 0))
    vmlinux = base.btf("vmlinux")
    mod = Types(vmlinux)
    mod.struct("in_both", 8, ("a", bi, 32))
    mod.struct("mod_only", 8, ("x", bi, 0), ("a", bi, 32))
    module = mod.btf("/sys/kernel/btf/my_mod")
    lt = Types()
    li = lt.int()
    both = lt.struct("in_both", 4, ("a", li, 0))
    only = lt.struct("mod_only", 4, ("a", li, 0))
    local = lt.btf()
    r = resolve(local, both, "0:0", K.FIELD_BYTE_OFFSET, vmlinux, module)
    assert (r.new_value, r.target_btf) == (0, "vmlinux")
    r = resolve(local, only, "0:0", K.FIELD_BYTE_OFFSET, vmlinux, module)
    assert (r.new_value, r.target_btf, r.target_type_id) == (4, "my_mod", 4)


# --- type relocations -------------------------------------------------------------------------


def test_type_exists_size_and_ids() -> None:
    lt = Types()
    s = lt.struct("s", 4, ("a", lt.int(), 0))
    missing = lt.struct("nope", 4)
    tt = Types()
    tt.int()
    tt.int("long", 8)
    ts = tt.struct("s", 24)
    local, target = lt.btf(), tt.btf()
    assert resolve(local, s, "0", K.TYPE_EXISTS, target).new_value == 1
    assert resolve(local, s, "0", K.TYPE_SIZE, target).new_value == 24
    assert resolve(local, s, "0", K.TYPE_ID_TARGET, target).new_value == ts
    r = resolve(local, s, "0", K.TYPE_ID_LOCAL, target)
    assert (r.old_value, r.new_value, r.validate) == (s, s, False)
    for kind in (K.TYPE_EXISTS, K.TYPE_SIZE, K.TYPE_ID_TARGET, K.TYPE_MATCHES):
        r = resolve(local, missing, "0", kind, target)
        assert r.new_value == 0 and not r.poisoned and r.candidates == ()


def test_types_compatible_rules() -> None:
    lt, tt = Types(), Types()
    li, ti = lt.int(), tt.int("long", 8)
    lp = lt.add(FuncProto, "", li, (Param("a", li),), False)
    tp = tt.add(FuncProto, "", ti, (Param("x", ti),), False)
    tp2 = tt.add(FuncProto, "", ti, (), False)
    lptr, tptr = lt.add(Ptr, "", lp), tt.add(Ptr, "", tp)
    local, target = lt.btf(), tt.btf()
    assert types_compatible(local, lptr, target, tptr)
    assert not types_compatible(local, lp, target, tp2)  # parameter count
    assert not types_compatible(local, li, target, tptr)  # kinds


def test_type_matches_rules() -> None:
    lt, tt = Types(), Types()
    li = lt.int("int", 4)
    lu = lt.int("unsigned int", 4, signed=False)
    e = lt.add(Enum, "e", 4, False, (EnumValue("A", 1), EnumValue("B___x", 2)))
    fwd = lt.add(Fwd, "peer", False)
    s = lt.struct("s", 16, ("a", li, 0), ("e", e, 32), ("p", lt.add(Ptr, "", fwd), 64))
    s_unsigned = lt.struct("s___u", 16, ("a", lu, 0))
    ti = tt.int("int", 4)
    te = tt.add(Enum64, "e", 4, False, (EnumValue("B", 9), EnumValue("A", 7), EnumValue("C", 3)))
    peer = tt.struct("peer", 8)
    ts = tt.struct("s", 24, ("p", tt.add(Ptr, "", peer), 0), ("a", ti, 64), ("e", te, 96), ("z", ti, 128))
    local, target = lt.btf(), tt.btf()
    assert types_match(local, s, target, ts)  # values by name, fwd behind ptr, extra target member
    assert not types_match(local, s_unsigned, target, ts)  # signedness
    small = Types()
    small.add(Enum, "e", 4, False, (EnumValue("A", 1),))
    assert not types_match(local, e, small.btf(), 1)  # a local enumerator missing in the target
    r = resolve(local, s, "0", K.TYPE_MATCHES, target)
    assert r.new_value == 1


# --- enums --------------------------------------------------------------------------------


def test_enum_values_by_essential_name_and_sign_extension() -> None:
    lt, tt = Types(), Types()
    e = lt.add(Enum, "e___mine", 4, False, (EnumValue("A", 0), EnumValue("NEG", 1), EnumValue("GONE", 2)))
    big = lt.add(Enum64, "big", 8, False, (EnumValue("HUGE", 0),))
    tt.add(Enum, "e", 4, True, (EnumValue("NEG___v2", -2), EnumValue("A", 5)))
    tt.add(Enum64, "big", 8, False, (EnumValue("HUGE", 1 << 40),))
    local, target = lt.btf(), tt.btf()
    assert resolve(local, e, "0", K.ENUMVAL_VALUE, target).new_value == 5
    assert resolve(local, e, "1", K.ENUMVAL_VALUE, target).new_value == (1 << 64) - 2
    assert resolve(local, e, "2", K.ENUMVAL_EXISTS, target).new_value == 0
    gone = resolve(local, e, "2", K.ENUMVAL_VALUE, target)
    assert gone.poisoned and "no enumerator 'GONE'" in gone.poison_reason
    assert resolve(local, big, "0", K.ENUMVAL_VALUE, target).new_value == 1 << 40
    assert resolve(local, e, "1", K.ENUMVAL_EXISTS, target).local_path == "e___mine::NEG"


# --- invalid records -------------------------------------------------------------------------


@pytest.mark.parametrize("access, kind, match", [
    ("", K.FIELD_BYTE_OFFSET, "empty"),
    ("0:x", K.FIELD_BYTE_OFFSET, "not a number"),
    ("0:7", K.FIELD_BYTE_OFFSET, "beyond the 2 members"),
    ("0:0:1", K.FIELD_BYTE_OFFSET, "neither members nor elements"),
    ("1", K.TYPE_EXISTS, "take the access string '0'"),
    ("0", K.ENUMVAL_VALUE, "enum relocations"),
    (":".join(["0"] * 70), K.FIELD_BYTE_OFFSET, "at most 64"),
])
def test_invalid_access_strings(access: str, kind: K, match: str) -> None:
    lt = Types()
    i = lt.int()
    s = lt.struct("s", 8, ("a", i, 0), ("b", i, 32))
    local = lt.btf()
    with pytest.raises(InvalidAccessString, match=match):
        resolve(local, s, access, kind, local)
    with pytest.raises(InvalidAccessString):
        parse_spec(local, 99, "0", K.FIELD_BYTE_OFFSET)


def test_anonymous_local_type_is_refused() -> None:
    lt = Types()
    s = lt.struct("", 4, ("a", lt.int(), 0))
    with pytest.raises(CoreRelocationError, match="anonymous type"):
        resolve(lt.btf(), s, "0:0", K.FIELD_BYTE_OFFSET, lt.btf())


# --- patching ----------------------------------------------------------------------------------


def test_apply_patches_validates_poisons_and_annotates() -> None:
    local, s, target = _pair()
    relos = [CoreRelo(8, s, "0:1", K.FIELD_BYTE_OFFSET), CoreRelo(16, s, "0", K.TYPE_SIZE),
             CoreRelo(24, s, "0", K.TYPE_ID_TARGET), CoreRelo(40, s, "0:2:3", K.FIELD_BYTE_OFFSET)]
    res = resolve_core_relocations(local, relos, [target], program="prog", section="kprobe/x", offset=8)
    insns = Instructions([Instruction(0xB7, 0, 0, 0, 0), _load(4, Size.W), Instruction(0xB7, 2, 0, 0, 40),
                          Instruction.ld_imm64(3, 4), Instruction(0x07, 1, 0, 0, 32), Instruction.exit()])
    out = apply_core_relocations(insns, res, base_slot=1)
    assert out.len_slots == insns.len_slots
    assert out.at_slot(1) == _load(68, Size.W)
    assert out.at_slot(2).imm == 80 and out.at_slot(3).imm == 5 and out.at_slot(5).imm == 24
    assert out.annotations[1] == ("CO-RE byte_off s->b: 4 → 68",)
    # a wrong original value is refused, naming the program and the slot
    bad = Instructions([_load(12, Size.W)])
    with pytest.raises(CoreRelocationError, match=r"prog insn 0: relo #0 \(byte_off s->b\): instruction holds off 12"):
        apply_core_relocations(bad, res[:1])


def test_poisoned_ld_imm64_keeps_its_two_slots() -> None:
    lt, tt = Types(), Types()
    e = lt.add(Enum, "e", 4, False, (EnumValue("GONE", 3),))
    tt.add(Enum, "e", 4, False, (EnumValue("OTHER", 1),))
    [r] = resolve_core_relocations(lt.btf(), [CoreRelo(0, e, "0", K.ENUMVAL_VALUE)], [tt.btf()], program="p")
    out = apply_core_relocations(Instructions([Instruction.ld_imm64(1, 3), Instruction.exit()]), [r])
    assert [i.imm for i in out[:2]] == [POISON_HELPER, POISON_HELPER] and out.len_slots == 3
    assert "poisoned" in out.annotations[0][0]


def test_instructions_that_cannot_carry_a_value() -> None:
    local, s, target = _pair()
    r = resolve(local, s, "0:1", K.FIELD_BYTE_OFFSET, target)
    for insn, match in [(Instruction(0x0F, 1, 2, 0, 0), "register operand"), (Instruction.exit(), "cannot carry"),
                        (Instruction.ld_imm64(1, 4, 1), "unexpected form")]:
        with pytest.raises(CoreRelocationError, match=match):
            patch_one(insn, r)
    far = resolve(local, s, "0:2:3", K.FIELD_BYTE_OFFSET, target)
    object.__setattr__(far, "new_value", 40000)
    with pytest.raises(CoreRelocationError, match="does not fit"):
        patch_one(_load(32), far)


def test_errors_are_bpfnb_errors() -> None:
    assert issubclass(ConflictingCandidates, BpfnbError) and issubclass(InvalidAccessString, ValueError)


def test_candidate_search_with_nested_flavor_names() -> None:
    """``a___b___c`` has essential name ``a___b``: found for that, not for ``a``."""
    lt = Types()
    i = lt.int()
    nested = lt.struct("foo___a___local", 4, ("v", i, 0))
    plain = lt.struct("foo___local", 4, ("v", i, 0))
    tt = Types()
    ti = tt.int()
    tt.struct("foo", 4, ("v", ti, 0))
    tt.struct("foo___a", 8, ("w", ti, 0), ("v", ti, 32))
    tt.struct("foo___a___x", 8, ("w", ti, 0), ("v", ti, 32))
    local, target = lt.btf(), tt.btf()
    r = resolve(local, nested, "0:0", K.FIELD_BYTE_OFFSET, target)
    assert [c.name for c in r.candidates] == ["struct foo___a___x"] and r.new_value == 4
    r = resolve(local, plain, "0", K.TYPE_EXISTS, target)
    assert [c.name for c in r.candidates] == ["struct foo", "struct foo___a"]
