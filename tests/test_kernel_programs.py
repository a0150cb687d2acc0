"""The load stage against the running kernel: tags equal libbpf's, attach BTF ids, refusals.

Every program of the fixtures and shipped examples goes through the real
pipeline — ``create_maps`` → ``relocate`` → ``load_program`` with the
object's BTF — and its tag, func/line info and map ids are compared with
what libbpf loads from the same object.  Rejected programs must come back
as a ``VerifierError`` whose parsed log names the instruction and the
reason, with no fd left open.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import struct

import pytest

from helpers import fixture_path, kernel_feature

from bpfnb import examples
from bpfnb.btf import Btf
from bpfnb.errors import KernelError, UnknownName, UnsupportedFeature, VerifierError
from bpfnb.kernel.maps import MapsResult, create_maps
from bpfnb.kernel.programs import (
    BPF_F_XDP_HAS_FRAGS,
    Program,
    decode_xlated,
    load_program,
    resolve_attach_btf,
)
from bpfnb.kernel.syscall import BPF_F_SLEEPABLE
from bpfnb.kernel.verifier import VerifierLog
from bpfnb.kernel.version import KernelVersion, running_kernel
from bpfnb.obj import Object
from bpfnb.obj.relocate import relocate
from bpfnb.uapi import AttachType, ProgType

pytestmark = pytest.mark.kernel


def source(name: str):
    return examples.path(name) if name in examples.names() else fixture_path(name)


NAMES = ("multi", "minimal", "legacy_maps", "map_kinds", "prog_flags", "packet_counter", "syscall_counter", "fentry",
         "reject")
OBJECTS = {n: Object.from_file(source(n)) for n in NAMES}
#: Objects libbpf 1.1 loads whole (legacy_maps: SEC("maps") is refused by libbpf 1.x).
LIBBPF_LOADS = ("multi", "minimal", "map_kinds", "prog_flags", "packet_counter", "syscall_counter")


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


class Loaded:
    """The object's BTF and maps, live for one test (closed on exit, even on failure)."""

    def __init__(self, obj: Object):
        from bpfnb.kernel.btf import load_object_btf

        self.obj = obj
        self.btf_fd = load_object_btf(obj).fd  # the pipeline's BTF stage: fix-up, sanitize, load
        try:
            self.maps: MapsResult = create_maps(obj, btf_fd=self.btf_fd)
        except BaseException:
            self.btf_fd.close()
            raise

    def relocated(self, program: str):
        return relocate(self.obj, program, self.maps.fds())

    def load(self, program: str, **kw) -> Program:
        return load_program(self.relocated(program), btf_fd=self.btf_fd, **kw)

    def __enter__(self) -> Loaded:
        return self

    def __exit__(self, *exc) -> None:
        self.maps.close()
        self.btf_fd.close()


_LIBBPF: dict[tuple[str, tuple[str, ...]], dict] = {}


def libbpf_view(name: str, unique: str, skip: tuple[str, ...] = ()) -> dict:
    """libbpf's load of ``name`` (without ``skip``) as the kernel reports it (once per module)."""
    if (name, skip) not in _LIBBPF:
        from oracles.libbpf import available

        if not available():
            pytest.skip("libbpf.so.1 not installed")
        from oracles.libbpf_tags import libbpf_programs

        pin = f"/sys/fs/bpf/{unique}"
        os.mkdir(pin)
        try:
            _LIBBPF[name, skip] = libbpf_programs(source(name), pin, skip=skip)
        finally:
            for entry in os.listdir(pin):
                os.unlink(os.path.join(pin, entry))
            os.rmdir(pin)
    return _LIBBPF[name, skip]


def is_iterator(fixture: str, program: str) -> bool:
    return OBJECTS[fixture].programs[program].expected_attach_type == AttachType.TRACE_ITER


_REFUSED: dict[str, tuple[str, ...]] = {}


def refused_iterators(fixture: str) -> tuple[str, ...]:
    """The fixture's iter/ programs this kernel refuses by policy: libbpf must not try them either
    (it would fail the whole object); the iterators' own cases check the refusal."""
    if fixture not in _REFUSED:
        refused = []
        for name in OBJECTS[fixture].programs:
            if is_iterator(fixture, name):
                try:
                    with Loaded(OBJECTS[fixture]) as env, env.load(name):
                        pass
                except UnsupportedFeature as exc:
                    if exc.feature != "bpf iterators" or exc.min_version is not None:
                        raise
                    refused.append(name)
        _REFUSED[fixture] = tuple(refused)
    return _REFUSED[fixture]


CASES = [pytest.param(f, p, id=f"{f}:{p}") for f in LIBBPF_LOADS for p in OBJECTS[f].programs]


@pytest.mark.parametrize("fixture,program", CASES)
def test_tag_equals_libbpfs(fixture: str, program: str, unique_name: str, differential: dict) -> None:
    from oracles.libbpf_tags import kernel_program

    before = fd_count()
    # an iterator refused by policy (EPERM) is the exact typed refusal; other programs of the
    # object are compared with libbpf loading the object without the refused iterators
    with kernel_feature("bpf iterators", errno=errno.EPERM, mentions=(program, "refused by policy")) \
            if is_iterator(fixture, program) else _nothing():
        with Loaded(OBJECTS[fixture]) as env:
            rp = env.relocated(program)
            with load_program(rp, btf_fd=env.btf_fd) as prog:
                theirs = libbpf_view(fixture, unique_name, refused_iterators(fixture))[program]
                differential["libbpf"] = {program: theirs.tag}
                ours = kernel_program(prog.fd, program)
                differential["bpfnb"] = {program: ours.tag}
                info = prog.info()
                assert prog.tag == info.tag == ours.tag == theirs.tag
                assert ours.canonical() == theirs.canonical()
                # the verifier drops line_info of dead code it removes: at most what we sent
                assert info.nr_func_info == len(rp.func_info) and info.nr_line_info <= len(rp.line_info)
                assert (ours.func_info, ours.line_info) == (theirs.func_info, theirs.line_info)
                assert info.name == program[:15] and prog.verifier_log is None
                live = {m.id for m in env.maps.maps.values()}
                assert set(info.map_ids) <= live
    assert fd_count() == before


def _nothing():
    import contextlib

    return contextlib.nullcontext()


@pytest.mark.parametrize("program", list(OBJECTS["legacy_maps"].programs))
def test_legacy_maps_programs_load(program: str) -> None:
    """libbpf 1.x refuses SEC("maps"): bpfnb loads it, referencing both legacy maps."""
    with Loaded(OBJECTS["legacy_maps"]) as env, env.load(program) as prog:
        info = prog.info()
        assert set(info.map_ids) == {env.maps[n].id for n in ("legacy_counts", "legacy_array")}
        assert info.nr_func_info == 1 and info.gpl_compatible  # "Dual BSD/GPL"


def test_program_object(unique_name: str) -> None:
    before = fd_count()
    with Loaded(OBJECTS["minimal"]) as env:
        prog = env.load("count_packets", log_level=1)
        with prog:
            assert repr(prog) == f"<Program 'count_packets' xdp tag={prog.tag}>"
            assert isinstance(prog.verifier_log, VerifierLog) and not prog.verifier_log.failed
            assert prog.verifier_log.insns_processed > 0
            # XDP_PASS, and the program counted the packet in the map
            result = prog.test_run(bytes(64), repeat=3)
            assert result.retval == 2 and result.data_out == bytes(64)
            assert struct.unpack("<Q", env.maps["pkt_count"].lookup(b"\0" * 4))[0] == 3
            xlated = prog.xlated()
            assert xlated.len_slots * 8 == prog.info().xlated_prog_len
            html = prog._repr_html_()
            assert prog.tag in html and "xlated instructions" in html and "verifier log" in html
            path = f"/sys/fs/bpf/{unique_name}"
            prog.pin(path)
            try:
                with Program.from_pin(path) as pinned, Program.from_id(prog.id) as by_id:
                    assert pinned.tag == by_id.tag == prog.tag and pinned.name == "count_packets"
                    assert pinned.pinned == path
            finally:
                prog.unpin()
            assert not os.path.exists(path)
        assert prog.closed and repr(prog).endswith("closed>") and "closed" in prog._repr_html_()
    assert fd_count() == before


def test_xlated_of_every_program_decodes() -> None:
    """Kernel-internal rewrites (per-CPU address moves...) decode and are annotated."""
    with Loaded(OBJECTS["multi"]) as env:
        for name in OBJECTS["multi"].programs:
            with env.load(name) as prog:
                insns = prog.xlated()
                assert insns.len_slots * 8 == prog.info().xlated_prog_len
                for notes in insns.annotations.values():
                    assert all(n.startswith("kernel-internal") for n in notes)


def test_decode_xlated_keeps_internal_instructions() -> None:
    # r0 = 0; mov with off=-1 (the kernel's per-CPU address move); exit
    raw = bytes.fromhex("b700000000000000" "bf00ffff00000000" "9500000000000000")
    insns = decode_xlated(raw, name="x")
    assert len(insns) == 3 and insns[1].off == -1
    assert insns.annotations[1][0].startswith("kernel-internal")


# --- attach targets in kernel BTF ---------------------------------------------------------


def test_fentry_resolves_do_unlinkat_then_loads_or_is_refused() -> None:
    """The attach BTF id is ours to find; then the kernel loads the program (trampolines allowed)
    or refuses it by policy with EPERM, typed and naming the target."""
    obj = OBJECTS["fentry"]
    want = Btf.from_sys_fs().find("do_unlinkat", kind="FUNC").id
    before = fd_count()
    with Loaded(obj) as env:
        for name in ("enter_unlinkat", "exit_unlinkat"):
            target = resolve_attach_btf(obj.programs[name])
            assert (target.name, target.kind, target.btf_id, target.btf_obj_id) == ("do_unlinkat", "FUNC", want, 0)
            with kernel_feature("trampolines", errno=errno.EPERM, mentions=(name, "do_unlinkat", "refused by policy")):
                try:
                    prog = env.load(name, log_level=1)
                except UnsupportedFeature as err:
                    assert isinstance(err, KernelError) and err.__cause__ is not None
                    assert err.attach_target.btf_id == want and err.program == name
                    raise
                with prog:
                    assert prog.info().attach_btf_id == want and prog.prog_type == ProgType.TRACING
    assert fd_count() == before


def test_tp_btf_loads_with_the_btf_trace_typedef() -> None:
    want = Btf.from_sys_fs().find("btf_trace_sched_switch", kind="TYPEDEF").id
    with Loaded(OBJECTS["fentry"]) as env, env.load("on_switch") as prog:
        assert prog.attach_target.btf_id == want == prog.info().attach_btf_id
        assert prog.prog_type == ProgType.TRACING


def test_iter_loads_with_the_bpf_iter_func() -> None:
    want = Btf.from_sys_fs().find("bpf_iter_task", kind="FUNC").id
    with kernel_feature("bpf iterators", errno=errno.EPERM, mentions=("walk_tasks", "iter/task")):
        with Loaded(OBJECTS["prog_flags"]) as env, env.load("walk_tasks") as prog:
            assert prog.info().attach_btf_id == want
            assert "bpf_iter_task" in prog._repr_html_()


@pytest.mark.parametrize("attach,target,btf_name,kind", [
    (AttachType.LSM_MAC, "file_open", "bpf_lsm_file_open", "FUNC"),
    (AttachType.TRACE_ITER, "bpf_map", "bpf_iter_bpf_map", "FUNC"),
    (AttachType.MODIFY_RETURN, "do_unlinkat", "do_unlinkat", "FUNC"),
    (AttachType.TRACE_RAW_TP, "sys_enter", "btf_trace_sys_enter", "TYPEDEF"),
])
def test_attach_target_naming_rules(attach: AttachType, target: str, btf_name: str, kind: str) -> None:
    vmlinux = Btf.from_sys_fs()
    ptype = ProgType.LSM if attach == AttachType.LSM_MAC else ProgType.TRACING
    spec = dataclasses.replace(OBJECTS["fentry"].programs["on_switch"], prog_type=ptype,
                               expected_attach_type=attach, attach_target=target)
    found = resolve_attach_btf(spec, target_btf=vmlinux)
    assert (found.name, found.kind, found.btf_id) == (btf_name, kind, vmlinux.find(btf_name, kind=kind).id)


@pytest.mark.parametrize("target", ["no_such_function_bpfnb", "nomod:do_unlinkat"])
def test_missing_attach_target_is_named(target: str) -> None:
    spec = dataclasses.replace(OBJECTS["fentry"].programs["enter_unlinkat"], attach_target=target)
    before = fd_count()
    with pytest.raises(UnknownName, match=target.split(":")[-1]):
        load_program(relocate(OBJECTS["fentry"], spec, {".bss": 0}))
    assert fd_count() == before


def test_no_program_type_is_refused_before_the_kernel() -> None:
    spec = dataclasses.replace(OBJECTS["minimal"].programs["count_packets"], prog_type=None)
    with pytest.raises(UnknownName, match="no known program type"):
        load_program(relocate(OBJECTS["minimal"], spec, {"pkt_count": 0}))


# --- load flags ------------------------------------------------------------------------------


def test_section_flags_reach_prog_load(monkeypatch) -> None:
    import bpfnb.kernel.programs as programs

    seen = {}

    def capture(*args, **kw):
        seen[kw["name"]] = kw["prog_flags"]
        raise KernelError(errno.EINVAL, "BPF_PROG_LOAD", "captured")

    monkeypatch.setattr(programs, "prog_load", capture)
    obj = OBJECTS["prog_flags"]
    for name in ("count_run", "frags_len"):
        with pytest.raises(KernelError, match="captured"):
            load_program(relocate(obj, name, {".bss": 0}), prog_flags=1 << 3)
    assert seen == {"count_run": BPF_F_SLEEPABLE | 1 << 3, "frags_len": BPF_F_XDP_HAS_FRAGS | 1 << 3}


def test_syscall_program_needs_the_sleepable_flag() -> None:
    """The kernel refuses a non-sleepable syscall program: the flag really reaches it."""
    with Loaded(OBJECTS["prog_flags"]) as env:
        with env.load("count_run") as prog:
            assert prog.prog_type == ProgType.SYSCALL
            assert prog.test_run(ctx_in=bytes(8)).retval == 0
            runs = env.maps[".bss"].lookup(b"\0" * 4)
            assert struct.unpack("<Q", runs)[0] == 1
        rp = env.relocated("count_run")
        awake = dataclasses.replace(rp, spec=dataclasses.replace(rp.spec, sleepable=False))
        before = fd_count()
        with pytest.raises(VerifierError) as info:
            load_program(awake, btf_fd=env.btf_fd)
        assert "sleepable" in info.value.verifier_log.error
        assert fd_count() == before
        with env.load("frags_len") as prog:
            assert prog.test_run(bytes(100)).retval == 2  # XDP_PASS: longer than 64 bytes


# --- rejection ------------------------------------------------------------------------------------


def _source_line(text: str) -> int:
    lines = (fixture_path("reject").parent.parent / "reject.bpf.c").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_rejected_program_names_instruction_and_reason(level: int) -> None:
    before = fd_count()
    with Loaded(OBJECTS["reject"]) as env:
        rp = env.relocated("unchecked_deref")
        # the faulting load: the first read through r0 after the map lookup
        call = next(s for s, i in rp.instructions.slots() if i.is_call)
        slot = next(s for s, i in rp.instructions.slots() if s > call and i.src == 0 and i.opcode & 0x07 == 0x01)
        with pytest.raises(VerifierError) as info:
            load_program(rp, btf_fd=env.btf_fd, log_level=level)
        err = info.value
        vlog = err.verifier_log
        assert err.errno == errno.EACCES and err.program == "unchecked_deref" and str(vlog) == err.log
        assert vlog.failed and vlog.error == "R0 invalid mem access 'map_value_or_null'"
        assert vlog.error_index == slot
        row = vlog.row_of_error()
        assert row.text == "r1 = *(u64 *)(r0 +0)" and row.opcode == 0x79
        assert row.source_file == "reject.bpf.c" and row.source_line == _source_line("*v += 1;")
        assert vlog.insns_processed == slot  # the walk stopped there
        html = vlog._repr_html_()
        assert html.index("invalid mem access") < html.index("<table") and "bpfnb-hl" in html
        if level == 2:
            assert all(r.index <= slot for r in vlog.rows)
            # the liveness listing came with 6.15 (bpf_compute_live_registers)
            assert ("Live regs before insn" in err.log) == (running_kernel() >= KernelVersion(6, 15, 0))
    assert fd_count() == before


def test_log_levels_of_an_accepted_program() -> None:
    with Loaded(OBJECTS["reject"]) as env:
        with env.load("checked_deref", log_level=1) as prog:
            one = prog.verifier_log
        with env.load("checked_deref", log_level=2) as prog:
            two = prog.verifier_log
            slots = prog.xlated().len_slots
    assert not one.failed and one.rows == () and one.insns_processed == two.insns_processed > 0
    assert not two.failed and two.error is None and two.error_index is None
    assert two.rows[0].kind == "state" and two.rows[0].registers.keys() == {"R1", "R10"}
    assert two.rows[0].registers["R1"].startswith("ctx(") and two.rows[0].registers["R10"] == "fp0"
    insns = two.instructions
    assert {r.index for r in insns} >= {0, 5, 7, 8} and max(r.index for r in insns) < slots
    call = next(r for r in insns if r.text.startswith("call bpf_map_lookup_elem"))
    assert call.registers["R0"].startswith("map_value_or_null(")
    branch = next(r for r in two.rows if r.kind == "branch")
    assert branch.branch_from == 8 and branch.state == "safe"
    assert {r.source_line for r in insns if r.source_file == "reject.bpf.c"} >= {_source_line("if (v)")}
    assert two.summary["peak_states"] == two.peak_states


def test_verifier_log_dataframe() -> None:
    pytest.importorskip("pandas")
    with Loaded(OBJECTS["reject"]) as env:
        with pytest.raises(VerifierError) as info:
            env.load("unchecked_deref", log_level=2)
    df = info.value.verifier_log.to_dataframe()
    assert df["error"].sum() == 1
    assert df.loc[df["error"], "instruction"].item() == "r1 = *(u64 *)(r0 +0)"
