"""BTF fix-up and sanitization, pure: every fixture, every feature combination.

The kernel side (loading the results, comparing with libbpf) is in
tests/test_kernel_btf.py; here we check the properties that need no kernel:
sizes and offsets from the ELF file, extern handling, kinds replaced, ids
and sizes kept, string offsets kept, escaping in the view, and that mutated
input only ever raises BpfnbError.
"""

from __future__ import annotations

import dataclasses
import itertools
import struct
from functools import cache
from pathlib import Path

import pytest
from helpers import all_fixtures, fixture_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfnb.btf import Btf, Datasec, Enum, Func, FuncProto, Int, Kind, Linkage, Param, Ptr, Struct, Union, Var
from bpfnb.btf.sanitize import (
    DUMMY_KSYM, OLD_SECTION_NAME, BtfFeatures, Change, ElfLayout, FixupResult, fixup, loadable_btf, sanitize,
)
from bpfnb.btf.writer import BtfBuilder
from bpfnb.errors import BpfnbError, BtfError
from bpfnb.obj import Object

EXAMPLES = Path(__file__).resolve().parent.parent / "bpfnb" / "examples"
PATHS = [*all_fixtures(), *sorted(EXAMPLES.glob("*.bpf.o"))]
IDS = [p.name.removesuffix(".bpf.o") for p in PATHS]
#: every combination of the seven kinds (qmark_datasec on), then the name flag off, alone and with all
COMBOS = [BtfFeatures(*bits) for bits in itertools.product((True, False), repeat=7)]
COMBOS += [BtfFeatures(qmark_datasec=False), BtfFeatures.none()]

#: kinds that must be gone when a flag is off
GONE = {"func": {Kind.FUNC, Kind.FUNC_PROTO}, "datasec": {Kind.VAR, Kind.DATASEC}, "float": {Kind.FLOAT},
        "decl_tag": {Kind.DECL_TAG}, "type_tag": {Kind.TYPE_TAG}, "enum64": {Kind.ENUM64}, "func_global": set(),
        "qmark_datasec": set()}


@cache
def obj_at(path: Path) -> Object:
    return Object.from_file(path)


@cache
def fixed_at(path: Path) -> FixupResult:
    obj = obj_at(path)
    return fixup(obj.btf, obj)


def test_features_flags():
    assert BtfFeatures.all().missing == ()
    assert set(BtfFeatures.none().missing) == set(GONE)
    assert len(set(COMBOS)) == 130
    assert "float" in repr(BtfFeatures(float=False))


# --- fix-up -------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_fixup_sizes_offsets_from_elf(path):
    """Every data DATASEC is as large as its ELF section; global VARs sit at their symbols."""
    obj, res = obj_at(path), fixed_at(path)
    sizes = {s.name: s.size for s in obj.sections}
    symbols = {s.name: s for s in obj.symbols if s.type == "STT_OBJECT" and s.is_global}
    btf = res.btf
    seen = 0
    for tid in btf.ids_of_kind(Kind.DATASEC).tolist():
        sec = btf[tid]
        offsets = [v.offset for v in sec.vars]
        assert offsets == sorted(offsets), sec.name
        if sec.name in (".ksyms", ".kconfig"):
            continue
        assert sec.size == sizes[sec.name], sec.name
        for vs in sec.vars:
            var = btf[vs.type_id]
            assert vs.offset + vs.size <= sec.size
            if var.name in symbols and obj.btf[vs.type_id].linkage == Linkage.GLOBAL:
                assert vs.offset == symbols[var.name].value, var.name
                seen += 1
    assert seen or not btf.ids_of_kind(Kind.DATASEC).size


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_fixup_keeps_ids_kinds_and_strings(path):
    before, res = obj_at(path).btf, fixed_at(path)
    after = res.btf
    assert len(after) >= len(before)
    for tid in before.own_ids:
        assert after.kind_of(tid) == before.kind_of(tid)
        assert after.name_offset(tid) == before.name_offset(tid) or after[tid].name == before[tid].name
    # strings are only appended: every .BTF.ext offset stays valid
    assert after._strings.data.startswith(before._strings.data)
    assert res.to_bytes() == res.data and Btf.from_bytes(res.data)[len(before) - 1] == after[len(before) - 1]
    for c in res.changes:
        assert c.added == (c.type_id >= len(before))


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_fixup_leaves_nothing_the_kernel_refuses(path):
    """No extern linkage, only VARs in DATASECs, every FUNC parameter named."""
    btf = fixed_at(path).btf
    for t in btf:
        if isinstance(t, (Func, Var)):
            assert t.linkage in (Linkage.STATIC, Linkage.GLOBAL), t
        if isinstance(t, Datasec):
            assert all(btf.kind_of(v.type_id) == Kind.VAR for v in t.vars), t
        if isinstance(t, Func):
            assert all(p.name or not p.type_id for p in btf[t.type_id].params), t
        if t.kind == Kind.PTR:
            assert not t.name


def test_fixup_of_clang_output_is_needed():
    """The raw .BTF really has the zeros fix-up exists for (else these tests prove nothing)."""
    btf = obj_at(fixture_path("btf_fixup")).btf
    assert all(btf[t].size == 0 for t in btf.ids_of_kind(Kind.DATASEC).tolist())
    assert any(btf[t].linkage == Linkage.EXTERN for t in btf.ids_of_kind(Kind.FUNC).tolist())


def _section(btf: Btf, name: str) -> dict[str, tuple[int, int, Var]]:
    sec = btf.find(name, Kind.DATASEC)
    return {btf[v.type_id].name if btf[v.type_id].name != DUMMY_KSYM else f"slot{i}": (v.offset, v.size, btf[v.type_id])
            for i, v in enumerate(sec.vars)}


def test_fixup_fixture_details():
    """btf_fixup.bpf.c: statics, __hidden, .kconfig layout and .ksyms as libbpf does them."""
    path = fixture_path("btf_fixup")
    res = fixed_at(path)
    btf = res.btf
    data = _section(btf, ".data")
    assert [(n, o) for n, (o, _s, _v) in data.items()] == [("first_data", 0), ("second_data", 8), ("hidden_data", 12),
                                                           ("static_data", 16)]
    assert data["hidden_data"][2].linkage == Linkage.STATIC  # __hidden → static
    assert data["static_data"][2].linkage == Linkage.STATIC
    assert btf.find(".data", Kind.DATASEC).size == 24
    # .kconfig: alignment descending, then size, then name (libbpf's kconfig map)
    kcfg = _section(btf, ".kconfig")
    assert [(n, o) for n, (o, _s, _v) in kcfg.items()] == [
        ("CONFIG_NR_CPUS", 0), ("CONFIG_HZ", 8), ("LINUX_KERNEL_VERSION", 12), ("CONFIG_BPF_SYSCALL", 16),
        ("CONFIG_DEFAULT_HOSTNAME", 17)]
    assert btf.find(".kconfig", Kind.DATASEC).size == 25
    assert all(v.linkage == Linkage.GLOBAL for _o, _s, v in kcfg.values())
    # .ksyms: three kfuncs through one dummy VAR, the untyped ksym retyped int, 4-byte slots
    ksyms = btf.find(".ksyms", Kind.DATASEC)
    assert [(v.offset, v.size) for v in ksyms.vars] == [(0, 4), (4, 4), (8, 4), (12, 4)] and ksyms.size == 16
    dummy = btf.find(DUMMY_KSYM, Kind.VAR)
    assert dummy.id == len(obj_at(path).btf)  # appended after the last id
    assert [v.type_id for v in ksyms.vars][:3] == [dummy.id] * 3
    active = btf.find("bpf_prog_active", Kind.VAR)
    int_type = btf[active.type_id]
    assert isinstance(int_type, Int) and int_type.bits == 32 and active.linkage == Linkage.GLOBAL
    kfunc = btf.find("bpf_cast_to_kern_ctx", Kind.FUNC)
    assert kfunc.linkage == Linkage.GLOBAL and [p.name for p in btf[kfunc.type_id].params] == [DUMMY_KSYM]
    # a __hidden subprogram becomes static, a plain global one and the entry point stay global
    assert btf.find("hidden_helper", Kind.FUNC).linkage == Linkage.STATIC
    assert btf.find("global_helper", Kind.FUNC).linkage == Linkage.GLOBAL
    assert btf.find("fixup_user", Kind.FUNC).linkage == Linkage.GLOBAL
    kinds = {(c.name, c.kind_before) for c in res.changes}
    assert (DUMMY_KSYM, None) in kinds and ("hidden_data", Kind.VAR) in kinds


def test_fixup_refuses_what_libbpf_refuses():
    obj = obj_at(fixture_path("multi"))
    no_sections = ElfLayout({}, obj.symbols)
    with pytest.raises(BtfError, match="no ELF section"):
        fixup(obj.btf, no_sections)
    no_symbols = ElfLayout({s.name: s.size for s in obj.sections}, ())
    with pytest.raises(BtfError, match="no ELF symbol for global VAR"):
        fixup(obj.btf, no_symbols)
    assert fixup(obj.btf, (no_symbols.section_sizes, obj.symbols)).btf.find(".data", Kind.DATASEC).size == 8


def test_fixup_names_params_and_clears_ptr_names():
    """Rust-style BTF: a named PTR and a FUNC whose prototype has unnamed parameters."""
    b = BtfBuilder()
    b.add(Int(1, "int", 4, 1, 0, 32))
    b.add(Ptr(2, "*const i32", 1))
    b.add(FuncProto(3, "", 1, (Param("", 2), Param("b", 1)), False))
    b.add(Func(4, "f", 3, Linkage.GLOBAL))
    btf = Btf.from_bytes(b.to_bytes())
    res = fixup(btf, ElfLayout({}))
    assert res.btf[2].name == "" and [p.name for p in res.btf[3].params] == ["param0", "b"]
    assert {c.type_id for c in res.changes} == {2, 3}


# --- sanitization ---------------------------------------------------------------


def _check_sanitized(before: Btf, feats: BtfFeatures) -> None:
    res = sanitize(before, feats)
    after = Btf.from_bytes(res.data)
    assert len(after) >= len(before)
    gone = set().union(*(GONE[m] for m in feats.missing))
    for t in after:
        assert t.kind not in gone, (feats, t)
        if not feats.func_global and isinstance(t, Func):
            assert t.linkage == Linkage.STATIC
        if not feats.enum64 and t.kind == Kind.ENUM:
            assert not t.signed
        if not feats.qmark_datasec and isinstance(t, Datasec):
            assert OLD_SECTION_NAME.match(t.name), t
    for tid in before.own_ids:
        old = before[tid]
        if hasattr(old, "size"):
            assert hasattr(after[tid], "size") and after[tid].size == old.size, (feats, old, after[tid])
    added = {c.type_id for c in res.changes if c.added}
    assert added == set(range(len(before), len(after)))
    assert after._strings.data.startswith(before._strings.data)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_sanitize_every_combination(path):
    """2^7 feature sets: parses, nothing missing left, every id and size kept."""
    before = fixed_at(path).btf
    for feats in COMBOS:
        _check_sanitized(before, feats)


def test_sanitize_replacements_are_libbpfs():
    """btf_kinds has every kind: check each replacement's shape once."""
    before = fixed_at(fixture_path("btf_kinds")).btf
    after = sanitize(before, BtfFeatures.none()).btf
    for tid in before.own_ids:
        old, new = before[tid], after[tid]
        if old.kind == Kind.DATASEC:
            assert isinstance(new, Struct) and new.name.isidentifier() and new.size == old.size
            assert [(m.name, m.type_id, m.bit_offset) for m in new.members] == [
                (before[v.type_id].name, v.type_id, 8 * v.offset) for v in old.vars]
        elif old.kind in (Kind.VAR, Kind.DECL_TAG):
            assert isinstance(new, Int) and new.size == 1 and new.bits == 8
        elif old.kind == Kind.FUNC_PROTO:
            assert isinstance(new, Enum) and new.size == 4 and [v.value for v in new.values][: len(old.params)] == [
                p.type_id for p in old.params]
            assert all(v.name.isidentifier() for v in new.values)
        elif old.kind == Kind.FUNC:
            assert new.kind == Kind.TYPEDEF and new.type_id == old.type_id and new.name == old.name
        elif old.kind == Kind.FLOAT:
            assert isinstance(new, Struct) and not new.members and not new.name
        elif old.kind == Kind.TYPE_TAG:
            assert new.kind == Kind.CONST and new.type_id == old.type_id
        elif old.kind == Kind.ENUM64:
            assert isinstance(new, Union) and [m.name for m in new.members] == [v.name for v in old.values]
            assert after[new.members[0].type_id].name == "enum64_placeholder"
        else:
            if old.kind == Kind.ENUM and old.signed:  # same bits, now read as unsigned
                assert not new.signed and [v.value for v in new.values] == [v.value % 2**32 for v in old.values]
            else:
                assert new == old, old


def test_sanitize_decl_tags_follow_their_targets():
    """A parameter's DECL_TAG on a FUNC turned TYPEDEF is replaced too (else the kernel refuses it)."""
    before = fixed_at(fixture_path("btf_kinds")).btf
    tags = [before[t] for t in before.ids_of_kind(Kind.DECL_TAG).tolist()]
    on_params = [t for t in tags if t.component_idx >= 0 and before.kind_of(t.type_id) == Kind.FUNC]
    assert on_params, "fixture lost its parameter tag"
    after = sanitize(before, BtfFeatures(func=False)).btf
    for t in tags:
        target = after.kind_of(t.type_id)
        if t in on_params:
            assert after.kind_of(t.id) == Kind.INT
        else:
            assert after.kind_of(t.id) == Kind.DECL_TAG and target in (Kind.STRUCT, Kind.UNION, Kind.VAR, Kind.TYPEDEF)


def test_sanitize_datasec_names_for_old_kernels():
    """Before 6.5 a DATASEC name was [A-Za-z0-9_.] only: hostile's section is renamed, .data is not."""
    before = fixed_at(fixture_path("hostile")).btf
    res = sanitize(before, BtfFeatures(qmark_datasec=False))
    sec = next(t for t in before if isinstance(t, Datasec) and t.name.startswith(".data"))
    assert res.btf[sec.id].name == ".data._i__amp_" and res.btf[sec.id].vars == sec.vars
    assert [c.type_id for c in res.changes] == [sec.id]
    assert sanitize(before, BtfFeatures(datasec=False, qmark_datasec=False)).btf[sec.id].name == "_data__i__amp_"


def test_sanitize_all_features_is_identity():
    for path in PATHS:
        before = fixed_at(path)
        res = sanitize(before.btf, BtfFeatures.all())
        assert res.changes == () and res.data == before.data


def test_loadable_btf_concatenates_changes():
    obj = obj_at(fixture_path("btf_kinds"))
    data, changes = loadable_btf(obj, BtfFeatures(float=False))
    fixed = fixed_at(fixture_path("btf_kinds"))
    assert changes[: len(fixed.changes)] == fixed.changes
    assert any(c.kind_before == Kind.FLOAT and c.kind_after == Kind.STRUCT for c in changes)
    assert Kind.FLOAT not in Btf.from_bytes(data).kind_counts()
    with pytest.raises(BtfError):
        loadable_btf(dataclasses.replace(obj, btf=None))


# --- views ------------------------------------------------------------------------


def test_views_escape_names_and_list_changes():
    res = fixed_at(fixture_path("hostile"))
    html = res._repr_html_()
    assert ".data.&lt;i&gt;&amp;amp;" in html and "<i>" not in html
    frame = res.to_dataframe()
    assert list(frame.columns) == ["type_id", "name", "kind_before", "before", "kind_after", "after", "what"]
    sec = frame[frame["name"] == ".data.<i>&amp;"].iloc[0]
    assert (sec["before"], sec["after"]) == ("size=0 [tricky@0]", "size=4 [tricky@0]")
    assert len(frame) == len(res.changes) and ".data.<i>&amp;" in set(frame["name"])
    san = sanitize(res.btf, BtfFeatures(datasec=False))
    assert "bpfnb-hl" in san._repr_html_()  # kind changes are highlighted
    assert "DATASEC → STRUCT" in str(next(c for c in san.changes if c.kind_before == Kind.DATASEC))
    assert repr(san).startswith("<SanitizeResult ")
    empty = sanitize(res.btf, BtfFeatures.all())
    assert "nothing to change" in empty._repr_html_()
    added = Change(9, None, Kind.INT, "why", "x")
    assert added.added and "added" in str(added)


# --- hostile input ------------------------------------------------------------------

_OBJS = {name: obj_at(fixture_path(name)) for name in ("btf_kinds", "btf_fixup", "multi", "isa")}
SETTINGS = settings(max_examples=300, deadline=10000, suppress_health_check=[HealthCheck.too_slow], database=None)


@st.composite
def mutated(draw) -> tuple[bytes, Object]:
    name = draw(st.sampled_from(sorted(_OBJS)))
    obj = _OBJS[name]
    data = bytearray(obj.btf_data)
    hdr_len = 24
    type_len = struct.unpack_from("<I", data, 12)[0]
    for _ in range(draw(st.integers(1, 6))):
        how = draw(st.sampled_from(["bit", "word"]))
        if how == "bit":
            bit = draw(st.integers(0, 8 * (hdr_len + type_len) - 1))
            data[bit // 8] ^= 1 << (bit % 8)
        else:  # a whole type-section word: ids, offsets, sizes, vlen/kind
            at = hdr_len + 4 * draw(st.integers(0, type_len // 4 - 1))
            struct.pack_into("<I", data, at, draw(st.sampled_from([0, 1, 2, 3, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF,
                                                                   draw(st.integers(0, 2**32 - 1))])))
    return bytes(data), obj


@SETTINGS
@given(mutated(), st.sampled_from(COMBOS))
def test_mutated_btf_raises_only_bpfnb_errors(case, feats):
    data, obj = case
    try:
        btf = Btf.from_bytes(data)
    except BpfnbError:
        return
    try:
        fixed = fixup(btf, obj)
    except BpfnbError:
        fixed = None
    for source in (btf, fixed.btf if fixed is not None else None):
        if source is None:
            continue
        try:
            res = sanitize(source, feats)
        except BpfnbError:
            continue
        res._repr_html_()
        assert isinstance(res.btf, Btf)


@SETTINGS
@given(st.sampled_from(sorted(_OBJS)), st.data())
def test_mutated_layout_raises_only_bpfnb_errors(name, data):
    """Sizes and symbol values that disagree with the BTF: BtfError or a result, nothing else."""
    obj = _OBJS[name]
    sizes = {s.name: data.draw(st.sampled_from([0, 1, s.size, 2**32 - 1])) for s in obj.sections}
    symbols = [dataclasses.replace(s, value=data.draw(st.sampled_from([s.value, 0, 2**32 - 1, 2**40])))
               for s in obj.symbols]
    try:
        res = fixup(obj.btf, ElfLayout(sizes, symbols))
    except BpfnbError:
        return
    assert Btf.from_bytes(res.data)
