"""CO-RE self-checks: programs that return 0 under BPF_PROG_TEST_RUN only when every relocation resolved right.

In the style of the kernel selftests' ``core_reloc_*`` and cilium/ebpf's
``btf/testdata``: the C fixtures ``tests/bpf/core_selfcheck*.bpf.c`` compare
every CO-RE-relocated value (offsets, sizes, existence, signedness, bitfield
shifts, type ids/existence/size/match, enumerators) and every value read
through a relocated load with what the target BTF says.  A failed check
returns its own source line; :func:`_explain` turns it back into the C text.

What the target says is computed from the target BTF handed to the loader
(``core_selfcheck_expect``: ``Btf.member_offset`` and libbpf's bitfield rule,
never bpfnb's CO-RE resolver) and passed in ``.rodata``.  One object thus
checks itself against (``core_selfcheck_targets``):

(a) its own types (a target written from the object's BTF);
(b) ``shifted``: a target built here with bpfnb's BTF writer, every type id
    moved, members reordered and padded, loads that change size, bitfields
    that straddle their unit, flavour suffixes on the target's names, a
    member and an enumerator and a type gone;
(c) the running kernel (``core_selfcheck_kernel``), the expectations read
    from /sys/kernel/btf/vmlinux and from the test's own task.

libbpf loads the same objects with the same ``.rodata`` and the same target
(``btf_custom_path``, ``oracles.libbpf_selfcheck``): both must return 0 (the oracle: the self-checks pass
under bpfnb exactly where they pass under libbpf).  The negative programs
(``core_selfcheck_neg``) must fail for their own reason: a typed ambiguity,
a poisoned instruction explained by the record that failed, a weak kfunc or
kernel variable the kernel lacks.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from core_selfcheck_expect import (
    enum_value, field, field_offset, kernel_globals, named, put_bits, selfcheck_globals,
)
from core_selfcheck_targets import (
    Target, neg_target, own_target, random_target, shifted_target, twisted_target,
)
from helpers import BPF_DIR, fixture_path
from oracles.libbpf import available
from oracles.libbpf_selfcheck import libbpf_run

from bpfnb import EbpfLoader
from bpfnb.btf import Btf
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


TARGETS = ["own", "shifted", "twisted"]


@pytest.fixture(scope="module")
def targets(tmp_path_factory) -> dict[str, Target]:
    tmp = tmp_path_factory.mktemp("selfcheck")
    return {"own": own_target(Object.from_file(SELF), tmp), "shifted": shifted_target(tmp),
            "twisted": twisted_target(tmp)}


def test_shifted_target_differs_where_it_should(targets) -> None:
    """The expectations are not the local ones: on the shifted target most answers move, each kind at least once."""
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
    """Load ``program`` alone with ``globals`` against ``target``; its test run's return value."""
    with _loader(path, program, target, globals).pipeline(path) as p:
        ebpf = p.run_all()
        if program not in ebpf.programs:
            raise p.program_errors[program]  # the load failed: say why, not KeyError
        return ebpf.programs[program].test_run(ctx_in=bytes(8)).retval


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
    code, log = libbpf_run(SELF, "selfcheck", pin_root, t.path, g)
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
        code, _ = libbpf_run(SELF, "selfcheck", pin_root, t.path, g)
    assert code == _check_line("struct cs_basic, c) == exp_off_c"), _explain("core_selfcheck.bpf.c", code)
    # one wrong value read through a relocated load is caught too
    g = selfcheck_globals(local, t.btf)
    blob = bytearray(g["blob"])
    put_bits(blob, 8 * field_offset(t.btf, "cs_basic", "in[1].b"), 16, 0x1235)
    g["blob"] = bytes(blob)
    code = _bpfnb_run(SELF, "selfcheck", t.btf, g) if loader == "bpfnb" else libbpf_run(
        SELF, "selfcheck", pin_root, t.path, g)[0]
    assert code == _check_line("obj->in[1].b == V_IN1B"), _explain("core_selfcheck.bpf.c", code)


def test_random_targets_vary(tmp_path) -> None:
    """The eight seeds cover each variation at least once, both ways."""
    seen = []
    for seed in range(8):
        t = random_target(seed, tmp_path).btf
        [basic] = named(t, "cs_basic", "struct")
        members = {m.name: m for m in basic.members}
        seen.append(("___" in basic.name, "ptr" in members, members["ub"].bitfield_size > 0, "s2" in members,
                     field(t, "cs_flav", "stale") is not None, field(t, "cs_absent", "z") is not None,
                     (enum_value(t, "cs_color", "CS_BLUE") or 0) >> 63 == 1))  # a 32-bit top bit, sign-extended
    assert all(len({row[k] for row in seen}) == 2 for k in range(len(seen[0]))), seen


@pytest.mark.kernel
@pytest.mark.parametrize("seed", range(8))
def test_selfcheck_on_random_targets(seed, tmp_path, pin_root) -> None:
    """Random layouts: bpfnb's run returns 0, and so does libbpf's on the same target."""
    t = random_target(seed, tmp_path)
    g = selfcheck_globals(Object.from_file(SELF).btf, t.btf)
    code = _bpfnb_run(SELF, "selfcheck", t.btf, g)
    assert code == 0, _explain("core_selfcheck.bpf.c", code)
    if available():
        theirs, log = libbpf_run(SELF, "selfcheck", pin_root, t.path, g)
        assert theirs == 0, _explain("core_selfcheck.bpf.c", theirs) if theirs is not None else log[-8:]


# --- (c) the running kernel --------------------------------------------------------------------------


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
    code, log = libbpf_run(KERNEL, "selfcheck_kernel", pin_root, None, g)
    assert code == 0, _explain("core_selfcheck_kernel.bpf.c", code) if code is not None else log[-8:]


@pytest.mark.kernel
def test_kernel_selfcheck_sees_another_task(vmlinux) -> None:
    """A value check that cannot pass by accident: another pid than ours names the pid check."""
    g = kernel_globals(Object.from_file(KERNEL).btf, vmlinux)
    g["exp_pid"] = threading.get_native_id() + 1
    code = _bpfnb_run(KERNEL, "selfcheck_kernel", None, g)
    assert code == _check_line("BPF_CORE_READ(t, pid)", "core_selfcheck_kernel.bpf.c")


KERNELS = Path(__file__).parent / "testdata" / "kernels"
OTHER_KERNELS = ["debian-6.1.0-57", "debian-6.12.118+deb12", "snapshot"]


@pytest.fixture(scope="module")
def other_kernels(tmp_path_factory) -> dict[str, Path]:
    """Other kernels' BTF as plain files (libbpf reads no .xz): Debian 6.1, 6.12 and the committed snapshot."""
    import lzma

    from bpfnb import examples

    tmp = tmp_path_factory.mktemp("kernels")
    out = {}
    for name in OTHER_KERNELS:
        data = examples.kernel_btf_bytes() if name == "snapshot" else lzma.decompress(
            (KERNELS / f"{name}.btf.xz").read_bytes())
        out[name] = tmp / f"{name}.btf"
        out[name].write_bytes(data)
    return out


def test_other_kernels_answer_differently(other_kernels) -> None:
    """Debian 6.1, 6.12 and the snapshot disagree on task_struct (offsets, id): the checks below are not one."""
    local = Object.from_file(KERNEL).btf
    gs = [kernel_globals(local, Btf.from_file(other_kernels[k]), running=False) for k in OTHER_KERNELS]
    for key in ("exp_off_pid", "exp_id_task", "exp_rof_off"):
        assert len({g[key] for g in gs}) == 3, key


@pytest.mark.kernel
@pytest.mark.parametrize("loader", ["bpfnb", pytest.param("libbpf", marks=needs_libbpf)])
@pytest.mark.parametrize("kernel", OTHER_KERNELS)
def test_kernel_selfcheck_against_other_kernels(kernel, loader, other_kernels, pin_root) -> None:
    """The kernel self-check's relocations against another kernel's BTF (``btf_custom_path``) on this one.

    Only the relocated constants are checked (``check_task`` off): the reads of
    the current task would use the other kernel's offsets.
    """
    path = other_kernels[kernel]
    btf = Btf.from_file(path)
    g = kernel_globals(Object.from_file(KERNEL).btf, btf, running=False)
    code = (_bpfnb_run(KERNEL, "selfcheck_kernel", btf, g) if loader == "bpfnb"
            else libbpf_run(KERNEL, "selfcheck_kernel", pin_root, path, g)[0])
    assert code == 0, _explain("core_selfcheck_kernel.bpf.c", code)


# --- libbpf decides every record as bpfnb does -------------------------------------------------------


@pytest.mark.kernel
@needs_libbpf
@pytest.mark.parametrize("target", TARGETS)
def test_records_match_libbpf(target, targets, pin_root) -> None:
    """Record by record (instruction, kind, old and new value, poisoning, load size) as libbpf's debug log says."""
    from oracles.libbpf_core import core_decisions

    from bpfnb.obj.core import core_relocations

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
    ids = sorted(x.id for x in named(t.btf, "cs_amb", "struct"))
    assert len(ids) == 2
    m = re.search(r"neg_ambiguous insn \d+: relo #(\d+): cs_amb___one->b is at bit (\d+) in \[(\d+)\] but at bit "
                  r"(\d+) in \[(\d+)\] struct cs_amb___", str(exc))
    assert m, str(exc)
    assert sorted(int(x) for x in (m[3], m[5])) == ids
    bits = {x.id: t.btf.member_offset(x.id, "b").bit_offset for x in named(t.btf, "cs_amb", "struct")}
    assert {int(m[3]): int(m[2]), int(m[5]): int(m[4])} == bits
    if available():
        code, log = libbpf_run(NEG, "neg_ambiguous", pin_root, t.path, {})
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
        code, log = libbpf_run(NEG, program, pin_root, t.path, {})
        assert code is None
        line = next(x for text in log for x in text.splitlines() if x.startswith("failed to resolve CO-RE relocation"))
        assert exc.explanation.startswith(line), (exc.explanation, line)


@pytest.mark.kernel
@pytest.mark.parametrize("loader", ["bpfnb", pytest.param("libbpf", marks=needs_libbpf)])
def test_guarded_reads_pass(loader, neg_targets, pin_root) -> None:
    """The same reads, and a missing weak kfunc, behind existence checks: the program loads and returns 0."""
    t = neg_targets["neg"]
    blob = bytearray(64)
    put_bits(blob, field(t.btf, "cs_gone", "here")[1].bit_offset, 32, 1)
    g = {"blob": bytes(blob)}
    code = (_bpfnb_run(NEG, "neg_guarded", t.btf, g) if loader == "bpfnb"
            else libbpf_run(NEG, "neg_guarded", pin_root, t.path, g)[0])
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
        code, log = libbpf_run(NEG, program, pin_root, neg_targets["own"].path, {})
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
