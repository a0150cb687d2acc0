"""The relocate stage: pure checks on every fixture, then libbpf as the oracle.

Pure tests relocate every program of the fixtures with fake fds and check
each patched instruction against facts taken elsewhere (the data sections'
variables, the callee's own bytes, the BTF string table).  Kernel tests
load what bpfnb relocated and what libbpf relocated into the running
kernel and require the same program tag (the kernel's SHA-1 over the
instructions), the same translated code and the same BTF records.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import uuid

import pytest

from helpers import fixture_path, require_isa

from bpfnb.asm import PseudoCall, PseudoLdImm64
from bpfnb.btf.types import Kind
from bpfnb.errors import (
    CoreRelocationError,
    InvalidRelocationOffset,
    RelocationError,
    SectionNotFound,
    UnknownFunction,
    UnknownSymbol,
)
from bpfnb.obj import Object, RelocationKind
from bpfnb.obj.relocate import (
    FUNC_INFO_REC_SIZE,
    LINE_INFO_REC_SIZE,
    RelocatedProgram,
    placeholder_fds,
    relocate,
    relocate_all,
)

FIXTURES = ("multi", "minimal", "legacy_maps", "isa", "calls", "fentry", "hostile", "section_static")
#: Programs that cannot be relocated yet, and why (typed errors tested below).
UNSUPPORTED = {("isa", "kfunc_user"): UnknownFunction}


def _objects() -> dict[str, Object]:
    return {name: Object.from_file(fixture_path(name)) for name in FIXTURES}


OBJECTS = _objects()
CASES = [
    pytest.param(f, p, id=f"{f}:{p}")
    for f, obj in OBJECTS.items()
    for p in obj.programs
    if (f, p) not in UNSUPPORTED
]


def fake_fds(obj: Object) -> dict[str, int]:
    """Distinct fds that could be real, so a mix-up between maps shows."""
    return {name: 40 + 3 * i for i, name in enumerate([*obj.maps, *obj.data])}


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _pieces(obj: Object, rp: RelocatedProgram):
    """(code spec, first slot) of the program and of each appended subprogram."""
    yield rp.spec, 0
    for name, start in rp.subprograms:
        yield obj.functions[name], start


def _unpatched(rp: RelocatedProgram) -> bytes:
    """The relocated program with every applied patch undone."""
    insns = rp.instructions
    for a in rp.applied:
        insns = insns.replace_at_slot(a.slot, a.before)
    return insns.to_bytes()


# --- pure: maps and global data ------------------------------------------------


@pytest.mark.parametrize("fixture,program", CASES)
def test_every_map_and_data_reference_is_patched(fixture: str, program: str) -> None:
    obj = OBJECTS[fixture]
    fds = fake_fds(obj)
    rp = relocate(obj, program, fds)
    expected_slots = set()
    for code, start in _pieces(obj, rp):
        for rec in code.relocations:
            slot = start + rec.slot
            before = code.instructions.at_slot(rec.slot)
            after = rp.instructions.at_slot(slot)
            if rec.kind is RelocationKind.MAP:
                expected_slots.add(slot)
                # the map whose definition the symbol names
                name = rec.symbol.name
                assert name in obj.maps
                assert (after.src, after.imm, after.dst) == (PseudoLdImm64.MAP_FD, fds[name], before.dst)
            elif rec.kind is RelocationKind.DATA:
                expected_slots.add(slot)
                section = obj.data[rec.target_section]
                if rec.symbol.type == "STT_SECTION":
                    offset = before.imm  # static variable: offset carried by the instruction
                else:
                    assert before.imm == 0
                    offset = section.variable(rec.symbol.name).offset
                assert 0 <= offset < section.size
                assert after.src == PseudoLdImm64.MAP_VALUE and after.dst == before.dst
                assert (after.imm_lo, after.imm_hi) == (fds[section.name], offset)
    # ... and nothing else became a map reference
    map_loads = {s for s, i in rp.instructions.slots() if i.is_map_load}
    assert map_loads == expected_slots
    applied = {a.slot for a in rp.applied if a.kind in (RelocationKind.MAP, RelocationKind.DATA)}
    assert applied == expected_slots


def test_static_variables_are_reached_through_the_section_symbol() -> None:
    """calls.bpf.c's ``static hits[4]`` sits after ``total`` in .bss: offset 8, carried in imm."""
    obj = OBJECTS["calls"]
    fds = fake_fds(obj)
    rp = relocate(obj, "calls_reverse", fds)
    hits = [a for a in rp.applied if a.kind is RelocationKind.DATA and a.symbol == ".bss"]
    assert hits and all(a.after.imm_hi == 8 and a.after.imm_lo == fds[".bss"] for a in hits)
    total = [a for a in rp.applied if a.symbol == "total"]
    assert [a.after.imm_hi for a in total] == [obj.data[".bss"].variable("total").offset] == [0]


# --- pure: calls and callbacks -------------------------------------------------


@pytest.mark.parametrize("fixture,program", CASES)
def test_every_call_lands_on_its_callee(fixture: str, program: str) -> None:
    obj = OBJECTS[fixture]
    rp = relocate(obj, program, fake_fds(obj))
    starts = dict(rp.subprograms)
    original = _unpatched(rp)
    calls = [a for a in rp.applied if a.kind in (RelocationKind.CALL, RelocationKind.SUBPROG_ADDR)]
    for a in calls:
        target = a.slot + a.after.imm + 1
        assert target == starts[a.symbol]
        callee = obj.functions[a.symbol]
        # the callee's own bytes, unrelocated, start exactly there
        assert original[target * 8 : target * 8 + callee.size] == callee.instructions.to_bytes()
        if a.kind is RelocationKind.SUBPROG_ADDR:
            assert a.after.is_pseudo_func and a.after.dst == a.before.dst
        else:
            assert a.after.is_pseudo_call and (a.after.off, a.after.dst) == (0, 0)
    # every bpf-to-bpf call and callback of the result was relocated
    pseudo = {s for s, i in rp.instructions.slots() if i.is_pseudo_call or i.is_pseudo_func}
    assert pseudo == {a.slot for a in calls}
    # subprograms are back to back after the program, each exactly once
    end = rp.spec.instructions.len_slots
    for name, start in rp.subprograms:
        assert start == end
        end += obj.functions[name].instructions.len_slots
    assert end == rp.insn_cnt
    assert len({n for n, _ in rp.subprograms}) == len(rp.subprograms)
    assert original[: rp.spec.size] == rp.spec.instructions.to_bytes()


EXPECTED_ORDER = {
    ("multi", "xdp_count"): ["bump", "global_sample"],
    ("multi", "xdp_drop_small"): ["bump"],
    ("multi", "socket_len"): ["global_sample"],
    ("multi", "raw_sys_enter"): ["loop_cb"],
    ("multi", "cgroup_ingress"): ["bump"],
    ("isa", "natural"): ["isa_loop_cb", "isa_sub"],
    # depth first: leaf (called by mid_a) comes before mid_b, the program's next callee
    ("calls", "calls_nested"): ["mid_a", "leaf", "mid_b", "each"],
    ("calls", "calls_reverse"): ["mid_b", "each", "leaf", "global_top", "mid_a"],
    ("section_static", "calls_in_section"): ["twice"],
    ("section_static", "calls_backwards"): ["twice"],
}


@pytest.mark.parametrize("fixture,program", CASES)
def test_subprogram_order_is_libbpfs_depth_first_walk(fixture: str, program: str) -> None:
    obj = OBJECTS[fixture]
    rp = relocate(obj, program, fake_fds(obj))
    assert [n for n, _ in rp.subprograms] == EXPECTED_ORDER.get((fixture, program), [])


def test_depth_first_differs_from_breadth_first() -> None:
    """The call graph's breadth-first order would give another (wrong) program."""
    from bpfnb.obj import reachable_functions

    obj = OBJECTS["calls"]
    bfs = [f.name for f in reachable_functions(obj, obj.programs["calls_nested"])]
    dfs = [n for n, _ in relocate(obj, "calls_nested", fake_fds(obj)).subprograms]
    assert sorted(bfs) == sorted(dfs) and bfs != dfs


# --- pure: func_info and line_info ------------------------------------------------


@pytest.mark.parametrize("fixture,program", CASES)
def test_func_and_line_info_are_rebased(fixture: str, program: str) -> None:
    obj = OBJECTS[fixture]
    rp = relocate(obj, program, fake_fds(obj))
    names = [program] + [n for n, _ in rp.subprograms]
    assert len(rp.func_info) == 1 + len(rp.subprograms)
    assert [f.slot for f in rp.func_info] == [0] + [s for _, s in rp.subprograms]
    for f, name in zip(rp.func_info, names):
        t = obj.btf[f.type_id]
        assert (t.kind, t.name, f.name) == (Kind.FUNC, name, name)
    slots = [li.slot for li in rp.line_info]
    assert slots[0] == 0 and all(a < b for a, b in zip(slots, slots[1:]))  # strictly increasing
    for li in rp.line_info:
        rp.instructions.index_at_slot(li.slot)  # an instruction starts there
        # the raw offsets name the same strings in the object's BTF
        assert obj.btf._strings.get(li.file_name_off) == li.file_name
        assert obj.btf._strings.get(li.line_off) == li.line
    assert {f.slot for f in rp.func_info} <= set(slots)  # every function starts with a line
    # the same records as the parse stage put above each spec's instructions
    per_piece = sum(len([r for r in obj.btf_ext.line_info[c.section] if c.offset <= r.insn_off < c.offset + c.size])
                    for c, _ in _pieces(obj, rp))
    assert len(rp.line_info) == per_piece
    raw_f, raw_l = rp.func_info_bytes(), rp.line_info_bytes()
    assert len(raw_f) == FUNC_INFO_REC_SIZE * len(rp.func_info)
    assert len(raw_l) == LINE_INFO_REC_SIZE * len(rp.line_info)
    first = struct.unpack_from("<IIII", raw_l)
    li0 = rp.line_info[0]
    assert first == (0, li0.file_name_off, li0.line_off, (li0.line_num << 10) | li0.column)


def test_subprogram_line_info_matches_its_source_lines() -> None:
    obj = OBJECTS["multi"]
    rp = relocate(obj, "xdp_count", fake_fds(obj))
    start = dict(rp.subprograms)["bump"]
    bump = obj.functions["bump"]
    shifted = {start + s: text for s, text in bump.instructions.source_lines.items()}
    assert {s: t for s, t in rp.instructions.source_lines.items() if s in shifted} == shifted
    assert any("bump" in t for t in shifted.values())


# --- pure: determinism, annotations, dry run --------------------------------------


def test_relocation_is_deterministic_and_leaves_the_object_alone() -> None:
    obj = Object.from_file(fixture_path("multi"))
    before = {n: p.instructions.to_bytes() for n, p in obj.code.items()}
    fds = fake_fds(obj)
    first = relocate_all(obj, fds)
    second = relocate_all(obj, dict(fds))
    assert first == second
    assert {n: p.instructions.to_bytes() for n, p in obj.code.items()} == before
    # a fresh parse relocates to the same bytes
    again = relocate_all(Object.from_file(fixture_path("multi")), fds)
    assert {n: r.to_bytes() for n, r in again.items()} == {n: r.to_bytes() for n, r in first.items()}


def test_other_fds_change_only_map_immediates() -> None:
    obj = OBJECTS["multi"]
    a = relocate(obj, "raw_sys_enter", fake_fds(obj))
    b = relocate(obj, "raw_sys_enter", {k: v + 7 for k, v in fake_fds(obj).items()})
    differ = [s for (s, x), (_, y) in zip(a.instructions.slots(), b.instructions.slots()) if x != y]
    assert differ == [x.slot for x in a.applied if x.kind in (RelocationKind.MAP, RelocationKind.DATA)]
    assert all(x.imm_hi == y.imm_hi for x, y in zip(a.instructions, b.instructions) if x.is_map_load)


def test_patched_slots_are_annotated() -> None:
    obj = OBJECTS["multi"]
    fds = fake_fds(obj)
    rp = relocate(obj, "xdp_count", fds)
    notes = rp.instructions.annotations
    bump = dict(rp.subprograms)["bump"]
    assert notes[bump][0] == "subprogram bump"
    counters = next(a for a in rp.applied if a.symbol == "counters")
    assert notes[counters.slot] == (f"map counters → fd {fds['counters']}",)
    call = next(a for a in rp.applied if a.kind is RelocationKind.CALL)
    assert notes[call.slot] == (f"call bump → pc+{call.after.imm}",)
    assert (counters.function, counters.origin_slot) == ("bump", 4)


def test_placeholder_fds_cover_every_map_and_section() -> None:
    obj = OBJECTS["multi"]
    fds = placeholder_fds(obj)
    assert set(fds) == set(obj.maps) | set(obj.data)
    assert len(set(fds.values())) == len(fds)
    assert all(relocate_all(obj, fds))


# --- pure: typed errors -------------------------------------------------------------


def test_missing_map_fd_names_program_slot_and_symbol() -> None:
    obj = OBJECTS["multi"]
    fds = fake_fds(obj)
    del fds["counters"]
    with pytest.raises(UnknownSymbol) as info:
        relocate(obj, "xdp_count", fds)
    err = info.value
    slot = dict(relocate(obj, "xdp_count", fake_fds(obj)).subprograms)["bump"] + 4
    assert (err.program, err.index, err.symbol) == ("xdp_count", slot, "counters")
    assert "counters" in str(err) and f"insn {slot}" in str(err)


def test_missing_data_section_fd() -> None:
    obj = OBJECTS["multi"]
    fds = fake_fds(obj)
    del fds[".bss"]
    with pytest.raises(UnknownSymbol, match=r"xdp_count insn 2: no fd for map '\.bss' \(symbol 'packets_seen'\)"):
        relocate(obj, "xdp_count", fds)


def _mutated(fixture: str, program: str, **changes) -> Object:
    obj = Object.from_file(fixture_path(fixture))
    obj.programs[program] = dataclasses.replace(obj.programs[program], **changes)
    return obj


def test_call_to_a_non_function_is_unknown_function() -> None:
    obj = OBJECTS["multi"]
    spec = obj.programs["xdp_drop_small"]
    call = spec.instructions.at_slot(7)
    bad = _mutated("multi", "xdp_drop_small", instructions=spec.instructions.replace_at_slot(7, call.with_(imm=call.imm + 1)))
    with pytest.raises(UnknownFunction, match=r"no function starts at \.text\+") as info:
        relocate(bad, "xdp_drop_small", fake_fds(bad))
    assert (info.value.program, info.value.index, info.value.symbol) == ("xdp_drop_small", 7, ".text")


def test_call_into_a_missing_section() -> None:
    spec = OBJECTS["multi"].programs["cgroup_ingress"]
    records = tuple(dataclasses.replace(r, target_section=".text.gone") if r.slot == 2 else r for r in spec.relocations)
    bad = _mutated("multi", "cgroup_ingress", relocations=records)
    with pytest.raises(SectionNotFound, match="'.text.gone'") as info:
        relocate(bad, "cgroup_ingress", fake_fds(bad))
    assert info.value.index == 2


def test_unrelocated_call_inside_a_program_section() -> None:
    """No relocation record: the target is relative to the call in its own section."""
    obj = OBJECTS["section_static"]
    twice = obj.functions["twice"]
    assert twice.section == "socket" and not any(p.relocations for p in obj.programs.values())
    rp = relocate(obj, "calls_backwards", {})
    (call,) = rp.applied
    assert obj.programs["calls_backwards"].offset > twice.offset  # a backward call in the section ...
    assert call.before.imm < 0 < call.after.imm  # ... becomes a forward call to the appended copy
    assert call.slot + call.after.imm + 1 == dict(rp.subprograms)["twice"]


def test_call_into_another_program_is_refused() -> None:
    """libbpf appends .text subprograms only; a call to a program entry is an error."""
    obj = Object.from_file(fixture_path("multi"))
    spec = obj.programs["xdp_count"]
    other = obj.programs["xdp_drop_small"]  # same section
    call = spec.instructions.at_slot(10)
    rel = (other.offset - spec.offset) // 8 - 10 - 1  # an unrelocated in-section call
    insns = spec.instructions.replace_at_slot(10, call.with_(imm=rel))
    records = tuple(r for r in spec.relocations if r.slot != 10)
    obj.programs["xdp_count"] = dataclasses.replace(spec, instructions=insns, relocations=records)
    with pytest.raises(UnknownFunction, match="xdp_drop_small"):
        relocate(obj, "xdp_count", fake_fds(obj))


def test_data_offset_outside_the_section() -> None:
    spec = OBJECTS["multi"].programs["xdp_count"]
    ld = spec.instructions.at_slot(2)
    bad = _mutated("multi", "xdp_count", instructions=spec.instructions.replace_at_slot(2, ld.with_(imm=4096)))
    with pytest.raises(InvalidRelocationOffset, match=r"outside '\.bss'") as info:
        relocate(bad, "xdp_count", fake_fds(bad))
    assert (info.value.index, info.value.symbol) == (2, "packets_seen")


def test_unknown_map_symbol() -> None:
    spec = OBJECTS["minimal"].programs["count_packets"]
    rec = spec.relocations[0]
    moved = dataclasses.replace(rec, symbol=dataclasses.replace(rec.symbol, value=rec.symbol.value + 8))
    bad = _mutated("minimal", "count_packets", relocations=(moved,))
    with pytest.raises(UnknownSymbol, match=r"no map defined at \.maps\+0x8"):
        relocate(bad, "count_packets", fake_fds(bad))


def test_call_relocation_on_a_helper_call() -> None:
    spec = OBJECTS["multi"].programs["cgroup_ingress"]
    call = spec.instructions.at_slot(2)
    bad = _mutated("multi", "cgroup_ingress",
                   instructions=spec.instructions.replace_at_slot(2, call.with_(src=PseudoCall.HELPER, imm=1)))
    with pytest.raises(InvalidRelocationOffset, match="not a bpf-to-bpf call"):
        relocate(bad, "cgroup_ingress", fake_fds(bad))


def _with_ext(obj: Object, *, func_info=None, line_info=None) -> Object:
    from bpfnb.btf.ext import BtfExt

    ext = obj.btf_ext
    obj.btf_ext = BtfExt(ext.header, dict(func_info if func_info is not None else ext.func_info),
                         dict(line_info if line_info is not None else ext.line_info), dict(ext.core_relos),
                         dict(ext.record_sizes))
    return obj


def test_line_info_inside_an_ld_imm64_is_refused() -> None:
    obj = Object.from_file(fixture_path("multi"))
    lines = dict(obj.btf_ext.line_info)
    spec = obj.programs["xdp_count"]  # slot 2 is the ld_imm64 of packets_seen
    bad = dataclasses.replace(lines["xdp"][0], insn_off=spec.offset + 3 * 8)
    lines["xdp"] = lines["xdp"] + (bad,)
    with pytest.raises(InvalidRelocationOffset, match=r"line_info at xdp\+0x18 does not start an instruction") as info:
        relocate(_with_ext(obj, line_info=lines), "xdp_count", fake_fds(obj))
    assert info.value.index == 3


def test_subprogram_without_func_info_while_program_has_some() -> None:
    """libbpf's rule: all or nothing from the main program, an error when a subprogram lacks them."""
    obj = Object.from_file(fixture_path("multi"))
    funcs = dict(obj.btf_ext.func_info)
    bump = obj.functions["bump"]
    funcs[".text"] = tuple(f for f in funcs[".text"] if f.insn_off != bump.offset)
    with pytest.raises(RelocationError, match="subprogram 'bump' has no BTF func_info"):
        relocate(_with_ext(obj, func_info=funcs), "xdp_count", fake_fds(obj))
    # without func_info for the program itself, none is sent at all
    funcs["xdp"] = ()
    rp = relocate(_with_ext(obj, func_info=funcs), "xdp_count", fake_fds(obj))
    assert rp.func_info == () and rp.line_info


def test_kfunc_calls_need_resolved_ksyms() -> None:
    obj = OBJECTS["isa"]
    with pytest.raises(UnknownSymbol, match="__ksym extern 'bpf_rcu_read_lock'") as info:
        relocate(obj, "kfunc_user", fake_fds(obj))
    assert (info.value.index, info.value.symbol) == (0, "bpf_rcu_read_lock")


def test_core_records_are_refused_with_a_count() -> None:
    obj = Object.from_file(fixture_path("core_min"))
    assert sum(map(len, obj.btf_ext.core_relos.values())) == 2
    with pytest.raises(CoreRelocationError) as info:
        relocate(obj, "core_pid", placeholder_fds(obj))
    err = info.value
    assert err.program == "core_pid"
    assert "2 CO-RE relocation record(s) in core_pid, read_tgid" in str(err)
    assert isinstance(err, RelocationError)


def test_unknown_program_name() -> None:
    from bpfnb.errors import UnknownName

    with pytest.raises(UnknownName, match="no program 'nope'"):
        relocate(OBJECTS["multi"], "nope", {})


# --- views --------------------------------------------------------------------------


def test_html_shows_before_and_after_escaped() -> None:
    obj = Object.from_file(fixture_path("hostile"))
    rp = relocate(obj, "html_in_section", placeholder_fds(obj))
    html = rp._repr_html_()
    assert "<i>" not in html and "<script>" not in html
    assert "&lt;i&gt;&amp;amp;" in html  # the section name `.data.<i>&amp;`, escaped once
    a = rp.applied[0]
    assert a.kind is RelocationKind.DATA and a.before.imm == 0 and a.after.src == PseudoLdImm64.MAP_VALUE
    assert "0x0 ll" in html and "map_value[fd:" in html  # both sides of the patch, disassembled


def test_html_is_bounded_for_huge_programs() -> None:
    obj = OBJECTS["isa"]
    rp = relocate(obj, "far_jump", fake_fds(obj))
    html = rp._repr_html_()
    assert len(html) < 200_000
    assert "showing 200 of 33,005 instructions" in html
    multi = relocate(OBJECTS["multi"], "xdp_count", fake_fds(OBJECTS["multi"]))._repr_html_()
    assert "call pc+10" in multi and "call pc+8" in multi  # before and after of the first call


def test_applied_table_is_bounded() -> None:
    obj = OBJECTS["multi"]
    rp = relocate(obj, "xdp_count", fake_fds(obj))
    many = dataclasses.replace(rp, applied=rp.applied * 20)  # 120 rows
    html = many._repr_html_()
    assert "showing 50 of 120 relocations" in html
    # each block of 6 rows has 2 calls to bump (before: pc+10); 50 rows = 8 blocks + 2 rows
    assert html.count("<pre>call pc+10</pre>") == 8 * 2 + 1


def test_dataframe_has_one_row_per_relocation() -> None:
    pytest.importorskip("pandas")
    obj = OBJECTS["calls"]
    rp = relocate(obj, "calls_nested", fake_fds(obj))
    df = rp.to_dataframe()
    assert len(df) == len(rp.applied) == 9
    assert list(df["slot"]) == [a.slot for a in rp.applied]
    assert set(df["kind"]) == {"call", "subprog", "data"}
    assert df.loc[df["symbol"] == "each", "after"].item().startswith("r2 = ")


# --- kernel: the differential oracle ----------------------------------------------

from bpfnb.btf.sanitize import loadable_btf  # noqa: E402  (the pipeline's own fix-up)


@pytest.fixture(scope="module")
def bpffs_dir():
    """A unique directory under /sys/fs/bpf for libbpf's pinned maps, removed after."""
    path = f"/sys/fs/bpf/bpfnb_reloc_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    os.mkdir(path)
    try:
        yield path
    finally:
        for entry in os.listdir(path):
            os.unlink(os.path.join(path, entry))
        os.rmdir(path)


_LIBBPF: dict[str, dict] = {}


def libbpf_view(fixture: str, root: str) -> dict:
    """libbpf's load of ``fixture`` as the kernel reports it (cached per module run)."""
    if fixture not in _LIBBPF:
        from oracles.libbpf import available
        from oracles.libbpf_tags import libbpf_programs

        if not available():
            pytest.skip("libbpf.so.1 not installed")
        from bpfnb.asm.versions import newer_than
        from bpfnb.kernel.version import running_kernel

        # programs with instructions newer than this kernel are gated (require_isa): libbpf
        # would refuse the whole object for one of them, so it does not load them either
        too_new = [name for name, spec in OBJECTS[fixture].programs.items()
                   if any(newer_than(insn, running_kernel()) for insn in spec.instructions)]
        pin = os.path.join(root, fixture)
        os.mkdir(pin)
        try:
            _LIBBPF[fixture] = libbpf_programs(fixture_path(fixture), pin, skip=too_new)
        finally:
            for entry in os.listdir(pin):
                os.unlink(os.path.join(pin, entry))
            os.rmdir(pin)
    return _LIBBPF[fixture]


class Loaded:
    """Maps created from an object's specs, closed on exit (the test's mini maps stage)."""

    def __init__(self, obj: Object):
        from bpfnb import kernel

        self.obj = obj
        self.fds: dict[str, object] = {}
        try:
            for m in obj.maps.values():
                self.fds[m.name] = kernel.map_create(m.map_type, m.key_size, m.value_size, m.max_entries,
                                                    name=m.name, map_flags=m.map_flags)
            for d in obj.data.values():
                spec = d.map_spec()
                fd = kernel.map_create(spec.map_type, 4, spec.value_size, 1, name=d.name, map_flags=spec.map_flags)
                self.fds[d.name] = fd
                kernel.map_update_elem(fd, struct.pack("<I", 0), d.data)
                if d.read_only:
                    kernel.map_freeze(fd)
            self.btf_fd, _ = kernel.btf_load(loadable_btf(obj)[0])
        except BaseException:
            self.close()
            raise

    def numbers(self) -> dict[str, int]:
        return {name: fd.fileno() for name, fd in self.fds.items()}

    def load(self, program: str):
        from bpfnb import kernel

        rp = relocate(self.obj, program, self.numbers())
        spec = rp.spec
        result = kernel.prog_load(
            spec.prog_type, rp.to_bytes(), spec.license, name=spec.name,
            expected_attach_type=spec.expected_attach_type or 0, kern_version=spec.kernel_version,
            prog_btf_fd=self.btf_fd, func_info=rp.func_info_bytes(), func_info_rec_size=rp.func_info_rec_size,
            line_info=rp.line_info_bytes(), line_info_rec_size=rp.line_info_rec_size,
        )
        return rp, result.fd

    def close(self) -> None:
        for fd in self.fds.values():
            fd.close()
        if getattr(self, "btf_fd", None) is not None:
            self.btf_fd.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


KERNEL_CASES = [
    pytest.param(f, p, id=f"{f}:{p}")
    for f in ("multi", "minimal", "isa", "calls")
    for p in OBJECTS[f].programs
    if (f, p) not in UNSUPPORTED
]


@pytest.mark.kernel
@pytest.mark.parametrize("fixture,program", KERNEL_CASES)
def test_kernel_tag_equals_libbpfs(fixture: str, program: str, bpffs_dir: str) -> None:
    from oracles.libbpf_tags import kernel_program

    require_isa(OBJECTS[fixture].programs[program].instructions)
    theirs = libbpf_view(fixture, bpffs_dir)[program]
    with Loaded(OBJECTS[fixture]) as maps:
        rp, fd = maps.load(program)
        with fd:
            ours = kernel_program(fd, program)
    assert ours.tag == theirs.tag
    assert ours.xlated_insn_cnt == theirs.xlated_insn_cnt
    # the verifier's output too, with map ids replaced by (first use, shape)
    assert ours.canonical() == theirs.canonical()
    assert (ours.nr_func_info, ours.nr_line_info) == (theirs.nr_func_info, theirs.nr_line_info)
    assert (ours.nr_func_info, ours.nr_line_info) == (len(rp.func_info), len(rp.line_info))
    # record for record: same functions, same source positions, same string offsets
    assert ours.func_info == theirs.func_info
    assert ours.line_info == theirs.line_info


@pytest.mark.kernel
def test_kernel_legacy_maps_load_and_reference_both_maps() -> None:
    """libbpf 1.x refuses SEC("maps"); bpfnb relocates against both legacy maps."""
    from bpfnb import kernel

    obj = OBJECTS["legacy_maps"]
    with Loaded(obj) as maps:
        rp, fd = maps.load("legacy_prog")
        with fd:
            info = kernel.prog_info(fd)
            assert info.nr_func_info == 1 and info.nr_line_info == len(rp.line_info)
            ours = {kernel.map_info(m).id for m in maps.fds.values()}
            assert set(info.map_ids) == ours and len(info.map_ids) == 2
            names = set()
            for map_id in info.map_ids:
                with kernel.map_get_fd_by_id(map_id) as mfd:
                    names.add(kernel.map_info(mfd).name)
            assert names == {"legacy_counts", "legacy_array"}


@pytest.mark.kernel
def test_kernel_runs_static_function_from_the_program_section() -> None:
    """libbpf refuses this object; the kernel runs bpfnb's relocation and gets twice(len)."""
    from bpfnb import kernel

    with Loaded(OBJECTS["section_static"]) as maps:
        for program, field in (("calls_in_section", 0xFF), ("calls_backwards", 0x7F)):
            _, fd = maps.load(program)
            with fd:
                # Ethernet header (type IPv4) + 50 bytes; a socket filter sees the
                # skb after the header is pulled: skb->len = 50
                packet = bytes(12) + b"\x08\x00" + bytes(range(50))
                result = kernel.prog_test_run(fd, packet)
            x = 50 if program == "calls_in_section" else 0x0008  # skb->protocol: 0x0800 in network order
            assert result.retval == (x * 2 + 1) & field


@pytest.mark.kernel
def test_kernel_run_writes_globals_where_the_source_says() -> None:
    """calls_reverse stores v in ``total`` (offset 0) and ``hits[3]`` (static, offset 8 + 24)."""
    from bpfnb import kernel

    obj = OBJECTS["calls"]
    with Loaded(obj) as maps:
        _, fd = maps.load("calls_reverse")
        with fd:
            result = kernel.prog_test_run(fd, bytes(14) + bytes(86))
        bss = kernel.map_lookup_elem(maps.fds[".bss"], struct.pack("<I", 0), obj.data[".bss"].size)
    total, h0, h1, h2, h3 = struct.unpack("<5Q", bss)
    assert total != 0 and total == h3 & 0xFFFFFFFF
    assert result.retval in (0, 2)  # TC_ACT_OK / TC_ACT_SHOT
    assert h0 + h1 + h2 > 0  # mid_a / mid_b counted through the section-relative reference
