"""CO-RE resolutions agree with libbpf 1.1, record by record, and with what it loads.

libbpf logs each CO-RE decision at debug level (``oracles.libbpf_core``);
for every record of every ``core_*`` fixture we require the same
instruction, kind, old value, new value, poisoning and load-size change,
against the running kernel and against synthetic kernels given to libbpf
as ``btf_custom_path``.  A kernel test then compares the instructions
libbpf finally sent to the kernel with ours at every CO-RE-patched slot.

Against the running kernel the comparison is relational (both must agree,
whatever this build's ids and offsets are).  The synthetic kernels derive
from the committed snapshot (``bpfnb.examples.kernel_btf()``), written to a
file for libbpf and parsed from that file for bpfnb: their decisions, and
the literal messages some tests expect, are the same on every machine.
"""

from __future__ import annotations


import pytest

from core_targets import conflict_kernel, older_kernel
from helpers import all_fixtures
from oracles.libbpf import available
from oracles.libbpf_core import core_decisions

from bpfnb import examples
from bpfnb.btf import Btf
from bpfnb.obj.core import check_portability, core_relocations
from bpfnb.btf.core_patch import apply_core_relocations
from bpfnb.errors import ConflictingCandidates
from bpfnb.obj import Object

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(not available(), reason="libbpf.so.1 not installed")]

#: The CO-RE fixtures (the self-checks read types of their own: tests/test_core_selfcheck.py).
#: All but core_unguarded are portable; it loads only where one task_struct bitfield exists.
CORE_FIXTURES = [p for p in all_fixtures() if p.name.startswith("core_") and not p.name.startswith("core_selfcheck")]


@pytest.fixture(scope="module")
def vmlinux() -> Btf:
    return Btf.from_sys_fs()


@pytest.fixture(scope="module")
def older(tmp_path_factory) -> tuple[Btf, str]:
    btf = older_kernel()  # from the snapshot
    path = tmp_path_factory.mktemp("core") / "older.btf"
    path.write_bytes(btf.to_bytes())
    return Btf.from_file(path), str(path)


def _ours(path, target) -> dict[tuple[str, int], tuple]:
    table = core_relocations(Object.from_file(path), target)
    out = {}
    for r in table:
        mem = (r.old_size, r.new_size) if r.old_size != r.new_size and not r.poisoned else None
        values = (None, None) if r.poisoned else (r.old_value, r.new_value)
        out[(r.program, r.index)] = (r.slot, r.kind_label, *values, r.poisoned, mem)
    return out


def _refusals(path, target) -> set[str]:
    """The programs bpfnb's portability check says the kernel will refuse (a poisoned, unguarded read)."""
    report = check_portability(Object.from_file(path), {"target": target}, baseline=False)
    return {e.relocation.program for e in report.problems("target")}


def _assert_libbpf_load_predicted(run, refused: set[str]) -> None:
    """libbpf loads the object exactly when no program is predicted to be refused, else names one of them."""
    if not refused:
        assert run.loaded, run.log[-3:]
        return
    assert not run.loaded
    assert any(f"prog '{name}': failed to load" in line for line in run.log for name in refused), run.log[-5:]


def _theirs(run) -> dict[tuple[str, int], tuple]:
    return {k: (r.insn, r.kind, r.old, r.new, r.poisoned, r.mem_sz) for k, r in run.records.items()}


def test_fixtures_have_every_kind() -> None:
    kinds = set()
    for path in CORE_FIXTURES:
        obj = Object.from_file(path)
        kinds |= {r.kind for relos in obj.btf_ext.core_relos.values() for r in relos}
    from bpfnb.uapi import CoreReloKind

    assert kinds == set(CoreReloKind)


@pytest.mark.parametrize("path", CORE_FIXTURES, ids=lambda p: p.name)
def test_matches_libbpf_on_running_kernel(path, vmlinux, pin_root) -> None:
    run = core_decisions(path, pin_root)
    ours = _ours(path, vmlinux)
    theirs = _theirs(run)
    assert theirs, "libbpf logged no CO-RE decisions (is the debug print callback installed?)"
    assert ours == theirs
    _assert_libbpf_load_predicted(run, _refusals(path, vmlinux))


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> tuple[Btf, str]:
    path = tmp_path_factory.mktemp("core") / "snapshot.btf"
    path.write_bytes(examples.kernel_btf_bytes())
    return Btf.from_file(path), str(path)


@pytest.fixture(scope="module")
def without_bitfield(tmp_path_factory) -> tuple[Btf, str]:
    """The snapshot without task_struct.init_private_fork_class, as on Debian's 6.1 and 6.12."""
    from dataclasses import replace

    from bpfnb.btf.core_portability import edit_btf

    base = examples.kernel_btf()
    task = base.find("task_struct", "struct")
    members = tuple(m for m in task.members if m.name != "init_private_fork_class")
    assert len(members) == len(task.members) - 1
    path = tmp_path_factory.mktemp("core") / "without_bitfield.btf"
    path.write_bytes(edit_btf(base, {task.id: replace(task, members=members)}, source="without_bitfield").to_bytes())
    return Btf.from_file(path), str(path)


@pytest.mark.synthetic_kernel
@pytest.mark.parametrize("target", ["older", "snapshot", "without_bitfield"])
@pytest.mark.parametrize("path", CORE_FIXTURES, ids=lambda p: p.name)
def test_matches_libbpf_on_custom_btf(path, target, request, pin_root) -> None:
    btf, file = request.getfixturevalue(target)
    run = core_decisions(path, pin_root, btf_custom_path=file)
    theirs = _theirs(run)
    assert theirs and _ours(path, btf) == theirs
    # the decisions (poisoning included) are the target's alone; whether the running kernel then
    # accepts instructions relocated for another kernel's layout is not, so it is not asserted here
    refused = _refusals(path, btf)
    assert ("where_the_field_is" in refused) == (target == "without_bitfield" and path.name == "core_unguarded.bpf.o")
    if refused:
        assert not run.loaded


@pytest.mark.synthetic_kernel
def test_conflicting_candidates_fail_like_libbpf(tmp_path, pin_root) -> None:
    btf = conflict_kernel()  # from the snapshot
    file = tmp_path / "conflict.btf"
    file.write_bytes(btf.to_bytes())
    path = next(p for p in CORE_FIXTURES if p.name == "core_kinds.bpf.o")
    run = core_decisions(path, pin_root, btf_custom_path=str(file))
    assert not run.loaded
    assert any("field offset ambiguity" in line for line in run.log)
    with pytest.raises(ConflictingCandidates, match=r"core_kinds insn 1: relo #0: task_struct->pid is at bit"):
        core_relocations(Object.from_file(path), Btf.from_file(file))


@pytest.mark.parametrize("path", CORE_FIXTURES, ids=lambda p: p.name)
def test_patched_slots_equal_libbpf_final_instructions(path, vmlinux, pin_root) -> None:
    """apply_core_relocations, as the relocate stage calls it, writes the bytes libbpf sent to the kernel.

    Each program is patched on its own and each subprogram it calls at the
    slot where libbpf appended it (after the program, in call order: the
    fixtures call at most one subprogram per program).
    """
    run = core_decisions(path, pin_root, keep_insns=True)
    refused = _refusals(path, vmlinux)
    _assert_libbpf_load_predicted(run, refused)
    if refused:  # libbpf refuses the whole object: it sent nothing final to compare with
        return
    obj = Object.from_file(path)
    table = core_relocations(obj, vmlinux)
    checked = 0
    for name, spec in obj.programs.items():
        final = run.insns[name]
        pieces = [(spec, 0)]
        callees = [f for f in obj.functions.values() if f.section == ".text"]
        assert len(callees) <= 1
        if callees and spec.instructions.len_slots < len(final) // 8:
            pieces.append((callees[0], spec.instructions.len_slots))
        for code, start in pieces:
            patched = apply_core_relocations(code.instructions, table.for_program(code.name))
            for r in table.for_program(code.name):
                ours = b"".join(i.encode() for i in patched[patched.index_at_slot(r.slot):][: len(r.after)])
                slot = start + r.slot
                assert final[8 * slot : 8 * slot + len(ours)] == ours, (name, r)
                assert any("CO-RE" in note for note in patched.annotations[r.slot])
                checked += 1
    assert checked == len(table)


@pytest.mark.synthetic_kernel
@pytest.mark.parametrize("seed", range(6))
def test_matches_libbpf_on_random_kernels(seed, tmp_path, pin_root) -> None:
    """Random layout changes to every type the fixtures read: same decision as libbpf for every record.

    libbpf stops at the first record it cannot relocate; up to there every
    record must agree, and that one must be an error for us too.
    """
    from core_targets import random_kernel

    btf = random_kernel(None, seed)  # the snapshot, changed
    file = tmp_path / f"random{seed}.btf"
    file.write_bytes(btf.to_bytes())
    target = Btf.from_file(file)
    for path in CORE_FIXTURES:
        run = core_decisions(path, pin_root, btf_custom_path=str(file))
        table = core_relocations(Object.from_file(path), target, errors="collect")
        ours = {(r.program, r.index): r for r in table}
        for key, rec in run.records.items():
            r = ours[key]
            if rec.insn is None:  # libbpf gave up on this record
                assert r.error, (path.name, r)
                continue
            mem = (r.old_size, r.new_size) if r.old_size != r.new_size and not r.poisoned else None
            values = (None, None) if r.poisoned else (r.old_value, r.new_value)
            assert (r.slot, r.kind_label, *values, r.poisoned, mem) == (
                rec.insn, rec.kind, rec.old, rec.new, rec.poisoned, rec.mem_sz), (path.name, r)
        if all(rec.insn is not None for rec in run.records.values()):
            assert set(run.records) == set(ours) and not any(r.error for r in table)
