"""Loader parity with libbpf (issue 12): what libbpf loads, bpfnb loads, with the same kernel tags.

Each test loads a ``tests/bpf/parity_*.bpf.c`` fixture with both loaders
(libbpf through ``oracles.libbpf_parity``) and compares the kernel's tags;
expectations about values (offsets, BTF ids) are computed from the BTF
involved — the running kernel's, the committed snapshot
(``bpfnb.examples.kernel_btf()``) or a modified copy of it — never taken
from this kernel as literals.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import pytest

from core_targets import conflict_kernel
from helpers import KFUNC_MIN_KERNEL, fixture_path, kernel_btf_has, needs_libbpf
from oracles.bpftool import bpftool

from bpfnb import EbpfLoader, Object, examples
from bpfnb.asm import PseudoCall, PseudoLdImm64
from bpfnb.btf import Btf, Member, Struct
from bpfnb.btf.core_portability import edit_btf
from bpfnb.cli import main
from bpfnb.errors import ConflictingCandidates, UnknownName, UnknownSymbol, VerifierError
from bpfnb.kernel.version import KernelVersion, running_kernel
from bpfnb.uapi import AttachType, MapType, ProgType

CORE = fixture_path("parity_core")
#: parity_core programs that fail whatever the target: their CO-RE records are poisoned
POISONED = ("poisoned", "poisoned_ld")


def _libbpf(path: Path, pin_root: str, **kw):
    from oracles.libbpf_parity import libbpf_load

    return libbpf_load(path, pin_root, **kw)


def _tags(ebpf) -> dict[str, str]:
    return {name: prog.info().tag for name, prog in ebpf.programs.items()}


def _write(btf: Btf, path: Path) -> str:
    path.write_bytes(btf.to_bytes())
    return str(path)


def _snapshot_file(tmp_path: Path) -> str:
    path = tmp_path / f"vmlinux-{examples.KERNEL_BTF_RELEASE}.btf"
    path.write_bytes(examples.kernel_btf_bytes())
    return str(path)


def _struct(btf: Btf, name: str) -> Struct:
    t = btf.find(name, "struct")
    assert isinstance(t, Struct)
    return t


def _moved_tgid_without_tp(btf: Btf) -> Btf:
    """The snapshot with task_struct.tgid 64 bytes further and no ``btf_trace_sys_enter`` typedef."""
    task = _struct(btf, "task_struct")
    members = tuple(replace(m, bit_offset=m.bit_offset + 512) if m.name == "tgid" else m for m in task.members)
    tp = btf.find("btf_trace_sys_enter", "typedef")
    return edit_btf(btf, {task.id: replace(task, members=members),
                          tp.id: replace(tp, name="bpfnb_parity_renamed_tp")}, source="moved-tgid")


def _core_imm(ebpf_or_pipeline, program: str, field: str) -> int:
    relocated = ebpf_or_pipeline.relocated[program]
    [rec] = [r for r in relocated.core_relocations if r.local_path.endswith(field)]
    return rec.new_value


# --- 2. CO-RE per loaded program -----------------------------------------------------------------


def test_core_records_of_programs_left_out_are_not_resolved():
    """Pure: ``only`` keeps the records of the named code; the conflict in 'ambiguous' stays unseen."""
    obj = Object.from_file(CORE)
    target = conflict_kernel(examples.kernel_btf())
    with pytest.raises(ConflictingCandidates) as info:
        obj.core_relocations(target)
    assert info.value.program == "ambiguous"
    table = obj.core_relocations(target, errors="collect")
    assert {r.program for r in table if r.error} == {"ambiguous"}
    only = obj.core_relocations(target, only={"good"})
    assert [r.program for r in only] == ["good"]
    tgid = _struct(target, "task_struct").member("tgid")
    assert only[0].new_value == tgid.bit_offset // 8


def test_dry_run_relocates_only_what_loads():
    loader = EbpfLoader().dry_run().target_btf(conflict_kernel(examples.kernel_btf()))
    with pytest.raises(ConflictingCandidates, match="ambiguous"):
        loader.pipeline(CORE).run("relocate")
    with loader.set_autoload("ambiguous", False).pipeline(CORE) as p:
        p.run("relocate")
        assert set(p.relocated) == {"good", *POISONED}
        assert {r.program for r in p.core} == {"good", *POISONED}


@pytest.mark.kernel
@needs_libbpf
def test_ambiguous_record_in_a_disabled_program_like_libbpf(tmp_path, pin_root):
    target = conflict_kernel(examples.kernel_btf())
    path = _write(target, tmp_path / "conflict.btf")
    # both refuse the object while 'ambiguous' loads...
    assert not _libbpf(CORE, pin_root, skip=POISONED, btf_custom_path=path).loaded
    with pytest.raises(ConflictingCandidates, match="ambiguous"):
        EbpfLoader().target_btf(target).set_autoload("poisoned", False).set_autoload(
            "poisoned_ld", False).load_file(CORE)
    # ...and load the rest, the same program, when it does not
    theirs = _libbpf(CORE, pin_root, skip=("ambiguous", *POISONED), btf_custom_path=path)
    assert theirs.loaded and set(theirs.tags) == {"good"}
    loader = EbpfLoader().target_btf(target)
    for name in ("ambiguous", *POISONED):
        loader.set_autoload(name, False)
    with loader.pipeline(CORE) as p:
        ebpf = p.run_all()
        assert _tags(ebpf) == theirs.tags
        assert _core_imm(p, "good", "tgid") == _struct(target, "task_struct").member("tgid").bit_offset // 8


# --- 3. target BTF is for CO-RE only ----------------------------------------------------------------


@pytest.mark.kernel
@needs_libbpf
@pytest.mark.parametrize("which", ["snapshot", "modified"])
def test_target_btf_is_for_core_only(tmp_path, pin_root, which):
    """tp_btf's attach target comes from this kernel even when the target BTF lacks it; CO-RE from the target."""
    snapshot = examples.kernel_btf()
    target = snapshot if which == "snapshot" else _moved_tgid_without_tp(snapshot)
    path = _snapshot_file(tmp_path) if which == "snapshot" else _write(target, tmp_path / "moved.btf")
    if which == "modified":
        assert not target.find_all("btf_trace_sys_enter", "TYPEDEF")
    skip = ("ambiguous", *POISONED)
    theirs = _libbpf(CORE, pin_root, skip=skip, btf_custom_path=path)
    assert theirs.loaded, theirs.log[-3:]
    vmlinux = Btf.from_sys_fs()
    for spell in ("target_btf", "btf"):  # btf() is the alias (Aya's spelling)
        loader = getattr(EbpfLoader(), spell)(target)
        for name in skip:
            loader.set_autoload(name, False)
        with loader.pipeline(CORE) as p:
            ebpf = p.run_all()
            assert _tags(ebpf) == theirs.tags
            good = ebpf.programs["good"]
            assert good.attach_target.btf_id == vmlinux.find("btf_trace_sys_enter", "typedef").id
            assert _core_imm(p, "good", "tgid") == _struct(target, "task_struct").member("tgid").bit_offset // 8


def test_ksyms_ignore_the_target_btf(monkeypatch):
    """__ksym externs resolve against the running kernel: the loader passes no target to them."""
    import bpfnb.kernel.ksyms as ksyms

    seen = []
    real = ksyms.resolve_ksyms

    def spy(obj, target_btf=None, **kw):
        seen.append(target_btf)
        return real(obj, Btf.from_sys_fs() if Path("/sys/kernel/btf/vmlinux").exists() else examples.kernel_btf(),
                    **kw)

    monkeypatch.setattr(ksyms, "resolve_ksyms", spy)
    with EbpfLoader().dry_run().target_btf(Btf.from_bytes(Object.from_file(CORE).btf.to_bytes())).pipeline(
            fixture_path("parity_ksym")) as p:
        p.run("relocate")
    assert seen == [None]


# --- 4. weak kfuncs and ksyms the kernel lacks ------------------------------------------------------


@pytest.mark.kernel
@needs_libbpf
def test_weak_missing_ksyms_load_like_libbpf(pin_root):
    path = fixture_path("parity_ksym")
    theirs = _libbpf(path, pin_root, skip=["unguarded_kfunc"])
    assert theirs.loaded and set(theirs.tags) == {"guarded_kfunc", "guarded_var", "present_kfunc"}
    vmlinux = Btf.from_sys_fs()
    assert not vmlinux.find_all("bpfnb_parity_no_such_kfunc", "FUNC")
    with EbpfLoader().set_autoload("unguarded_kfunc", False).pipeline(path) as p:
        ebpf = p.run_all()
        assert _tags(ebpf) == theirs.tags
        compared = 0
        for name, rel in p.relocated.items():
            sent = theirs.insns[name]
            for a in rel.applied:
                if a.kind.value not in ("kfunc", "extern"):
                    continue
                # the very bytes libbpf sent for every extern reference
                ours = a.after.encode()
                assert ours == sent[a.slot * 8 : a.slot * 8 + len(ours)], (name, a)
                compared += 1
        externs = [r for n in p.relocated for r in p.obj.programs[n].relocations if r.kind.value in ("kfunc", "extern")]
        assert compared == len(externs) >= 6
        guarded = {a.symbol: a.after for a in p.relocated["guarded_kfunc"].applied}
        call = guarded["bpfnb_parity_no_such_kfunc"]
        assert call.is_call and (call.src, call.imm, call.off) == (PseudoCall.KFUNC_CALL, 0, 0)
        # bpf_rcu_read_lock is weak too: where the kernel has it (6.2) bpf_ksym_exists() loads its
        # BTF id; where it lacks it, 0 (src 0), the guarded calls are neutralised and dead code
        present = {a.symbol: [] for a in p.relocated["present_kfunc"].applied}
        for a in p.relocated["present_kfunc"].applied:
            present[a.symbol].append(a.after)
        ld = next(i for i in present["bpf_rcu_read_lock"] if i.is_ld_imm64)
        calls = [i for name in ("bpf_rcu_read_lock", "bpf_rcu_read_unlock") for i in present[name] if i.is_call]
        assert len(calls) == 2
        if kernel_btf_has("bpf_rcu_read_lock"):
            rcu_ids = [vmlinux.find(n, "FUNC").id for n in ("bpf_rcu_read_lock", "bpf_rcu_read_unlock")]
            assert (ld.src, ld.imm_lo) == (PseudoLdImm64.BTF_ID, rcu_ids[0])
            assert [(c.src, c.imm, c.off) for c in calls] == [(PseudoCall.KFUNC_CALL, i, 0) for i in rcu_ids]
        else:
            assert running_kernel() < KernelVersion.parse(KFUNC_MIN_KERNEL["bpf_rcu_read_lock"])
            assert (ld.src, ld.imm_lo, ld.imm_hi) == (0, 0, 0)
            assert [(c.src, c.imm, c.off) for c in calls] == [(PseudoCall.KFUNC_CALL, 0, 0)] * 2


@pytest.mark.kernel
@needs_libbpf
def test_reachable_missing_weak_kfunc_is_explained(pin_root):
    path = fixture_path("parity_ksym")
    theirs = _libbpf(path, pin_root, skip=["guarded_kfunc", "guarded_var", "present_kfunc"])
    assert not theirs.loaded  # the verifier refuses it for libbpf too
    with EbpfLoader().pipeline(path) as p:
        p.run()
        assert set(p.programs) == {"guarded_kfunc", "guarded_var", "present_kfunc"}
        exc = p.program_errors["unguarded_kfunc"]
        assert isinstance(exc, VerifierError)
        assert "not eliminated" in exc.log
        assert "bpfnb_parity_no_such_kfunc" in exc.explanation and "bpf_ksym_exists" in str(exc)
        assert "bpfnb_parity_no_such_kfunc" in exc.verifier_log.error


# --- 5. program type overrides -----------------------------------------------------------------------


TYPES = fixture_path("parity_types")
OVERRIDES = {"custom_filter": (ProgType.SOCKET_FILTER, None),
             "custom_ingress": (ProgType.CGROUP_SKB, AttachType.CGROUP_INET_INGRESS)}


def test_set_program_type_spellings():
    loader = EbpfLoader().dry_run()
    loader.set_program_type("custom_filter", "socket_filter")
    loader.set_program_type("custom_ingress", "BPF_PROG_TYPE_CGROUP_SKB", "bpf_cgroup_inet_ingress")
    assert loader.options.program_types == OVERRIDES
    loader.set_program_type("custom_filter", int(ProgType.SOCKET_FILTER))
    assert loader.options.program_types["custom_filter"] == OVERRIDES["custom_filter"]
    with pytest.raises(UnknownName, match="program type 'sock_filterz'"):
        loader.set_program_type("x", "sock_filterz")
    with pytest.raises(UnknownName, match="attach type"):
        loader.set_program_type("x", "xdp", "nowhere")
    with loader.pipeline(TYPES) as p:
        p.run("relocate")
        spec = p.relocated["custom_ingress"].spec
        assert (spec.prog_type, spec.expected_attach_type) == OVERRIDES["custom_ingress"]
        assert p.obj.programs["custom_ingress"].prog_type is None  # the parsed object is untouched


@pytest.mark.kernel
@needs_libbpf
def test_set_program_type_like_libbpf(pin_root):
    from bpfnb.programs import CgroupSkb, SocketFilter

    theirs = _libbpf(TYPES, pin_root, types=OVERRIDES)
    assert theirs.loaded and set(theirs.tags) == {"custom_filter", "custom_ingress", "std_socket"}
    loader = EbpfLoader()
    for name, (ptype, attach) in OVERRIDES.items():
        loader.set_program_type(name, ptype, attach)
    with loader.load_file(TYPES) as ebpf:
        assert _tags(ebpf) == theirs.tags
        assert isinstance(ebpf.programs["custom_filter"], SocketFilter)
        assert isinstance(ebpf.programs["custom_ingress"], CgroupSkb)
        assert ebpf.programs["custom_ingress"].prog_type == ProgType.CGROUP_SKB


@pytest.mark.kernel
def test_cli_program_type(capsys):
    args = ["load", str(TYPES), "--json", "--program-type", "custom_filter=socket_filter",
            "--program-type", "custom_ingress=cgroup_skb:cgroup_inet_ingress"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    by_name = {p["name"]: p for p in doc["programs"]}
    assert {n: p["type"] for n, p in by_name.items()} == {
        "custom_filter": "socket_filter", "custom_ingress": "cgroup_skb", "std_socket": "socket_filter"}
    assert all(p["loaded"] for p in by_name.values())
    assert main(["load", str(TYPES), "--program-type", "custom_filter"]) == 1
    assert "NAME=TYPE" in capsys.readouterr().err


@pytest.mark.kernel
def test_unknown_section_without_override_fails_alone():
    with EbpfLoader().pipeline(TYPES) as p:
        p.run()
        assert set(p.programs) == {"std_socket"}
        for name in ("custom_filter", "custom_ingress"):
            exc = p.program_errors[name]
            assert isinstance(exc, UnknownName) and "set_program_type" in str(exc) and name in str(exc)
        assert p.results["load"].summary.startswith("1 of 3 programs loaded")


# --- 6. poisoned CO-RE instructions explained ---------------------------------------------------------


@pytest.mark.kernel
@needs_libbpf
@pytest.mark.parametrize("program", POISONED)
def test_poisoned_instruction_explained_like_libbpf(pin_root, program):
    others = [n for n in ("good", "ambiguous", *POISONED) if n != program]
    theirs = _libbpf(CORE, pin_root, skip=others)
    assert not theirs.loaded
    libbpf_line = next(line for text in theirs.log for line in text.splitlines()
                       if line.startswith("failed to resolve CO-RE relocation"))
    with EbpfLoader().pipeline(CORE) as p:
        p.run()
        assert set(p.programs) == {"good", "ambiguous"}
        exc = p.program_errors[program]
        assert isinstance(exc, VerifierError) and "unknown#195896080" in exc.log
        # libbpf's rewritten log line, then why
        assert exc.explanation.startswith(libbpf_line), (exc.explanation, libbpf_line)
        assert "instruction poisoned by CO-RE" in str(exc)
        rec = exc.core_relocation
        assert rec is not None and rec.poisoned and rec.program == program
        vlog = exc.verifier_log
        assert exc.explanation in vlog.error
        assert vlog.explanations[vlog.error_index] == exc.explanation
        frame = vlog.to_dataframe()
        assert frame.loc[frame["error"], "loader note"].tolist() == [exc.explanation]
        assert "failed to resolve CO-RE relocation" in vlog.to_html()


def test_explanations_absent_when_nothing_was_neutralised():
    from bpfnb.kernel.verifier import VerifierLog

    vlog = VerifierLog("0: (85) call unknown#195896080\ninvalid func unknown#195896080\n", loaded=False)
    assert vlog.error == "invalid func unknown#195896080" and not vlog.error_explanations
    assert "loader note" not in vlog.to_dataframe().columns


# --- 8. per-program isolation ------------------------------------------------------------------------


@pytest.mark.kernel
@needs_libbpf
def test_missing_attach_target_fails_that_program_only(pin_root):
    path = fixture_path("parity_isolation")
    vmlinux = Btf.from_sys_fs()
    assert not vmlinux.find_all("btf_trace_bpfnb_parity_no_such_tracepoint", "TYPEDEF")
    assert not _libbpf(path, pin_root).loaded  # libbpf refuses the whole object
    theirs = _libbpf(path, pin_root, skip=["missing_target"])
    with EbpfLoader().pipeline(path) as p:
        p.run()
        assert _tags(p.ebpf()) == theirs.tags and set(theirs.tags) == {"present_target", "plain_xdp"}
        exc = p.program_errors["missing_target"]
        assert isinstance(exc, UnknownName) and "bpfnb_parity_no_such_tracepoint" in str(exc)
        assert p.results["load"].summary.startswith("2 of 3 programs loaded")
        # asked for by name, the program that failed says why, not a bare KeyError
        with pytest.raises(UnknownName, match=r"program 'missing_target' did not load: .*no_such_tracepoint"):
            p.ebpf().programs["missing_target"]
    with pytest.raises(UnknownName, match="missing_target"):  # load_file still says a program failed
        EbpfLoader().load_file(path)


@pytest.mark.kernel
@needs_libbpf
def test_missing_strong_ksym_fails_that_program_only(pin_root):
    path = fixture_path("parity_strong_ksym")
    assert not Btf.from_sys_fs().find_all("bpfnb_parity_no_such_strong_kfunc", "FUNC")
    assert not _libbpf(path, pin_root).loaded  # libbpf refuses the whole object at extern resolution
    with EbpfLoader().pipeline(path) as p:
        p.run()
        assert set(p.programs) == {"independent"}
        exc = p.program_errors["uses_missing"]
        assert isinstance(exc, UnknownSymbol)
        assert exc.program == "uses_missing" and exc.index == 0 and exc.symbol == "bpfnb_parity_no_such_strong_kfunc"
        assert "not __weak" in str(exc)
        assert "1 not relocatable" in p.results["relocate"].summary
        assert p.results["load"].summary.startswith("1 of 2 programs loaded")
    theirs = _libbpf(path, pin_root, skip=["uses_missing"])
    assert not theirs.loaded  # even with the user disabled: libbpf resolves every extern of the object


@pytest.mark.kernel
def test_cli_json_when_a_stage_fails(tmp_path, capsys):
    path = _write(conflict_kernel(examples.kernel_btf()), tmp_path / "conflict.btf")
    assert main(["load", str(CORE), "--json", "--target-btf", path]) == 1
    doc = json.loads(capsys.readouterr().out)
    failed = doc["failed"]
    assert failed["stage"] == "relocate" and failed["stages_done"] == ["parse", "btf", "maps"]
    assert failed["error"]["class"] == "ConflictingCandidates" and failed["error"]["program"] == "ambiguous"
    assert failed["created"]["maps"] == [".bss"] and failed["created"]["btf"] and failed["closed"]
    assert not any(p["loaded"] for p in doc["programs"])
    assert main(["load", str(CORE), "--target-btf", path]) == 1  # without --json: the error on stderr
    assert "ambiguous" in capsys.readouterr().err


def test_cli_json_when_parsing_fails(tmp_path, capsys):
    bad = tmp_path / "not_elf.bpf.o"
    bad.write_bytes(b"not an ELF file at all")
    assert main(["load", str(bad), "--json", "--dry-run"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["failed"]["stage"] == "parse" and doc["failed"]["stages_done"] == []
    assert doc["failed"]["error"]["class"] and doc["programs"] == [] and doc["maps"] == []


@pytest.mark.kernel
def test_cli_json_per_program_errors_are_typed(capsys):
    assert main(["load", str(fixture_path("parity_isolation")), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    by_name = {p["name"]: p for p in doc["programs"]}
    assert by_name["missing_target"]["error_type"] == "UnknownName"
    assert by_name["present_target"]["loaded"] and by_name["plain_xdp"]["loaded"]
    assert "failed" not in doc


# --- 9. names as bpftool prints them ------------------------------------------------------------------


def test_map_type_names_are_bpftools():
    assert MapType(19).name == "CGROUP_STORAGE" and MapType(21).name == "PERCPU_CGROUP_STORAGE"
    assert MapType.CGROUP_STORAGE_DEPRECATED is MapType.CGROUP_STORAGE  # the alias still spells it


@pytest.mark.kernel
def test_cgroup_storage_map_type_as_bpftool_shows_it(unique_name):
    from bpfnb.kernel import map_create
    from bpfnb.kernel.system import maps

    with map_create(MapType.CGROUP_STORAGE, 16, 8, 0, name=unique_name[:15]) as fd:  # key: bpf_cgroup_storage_key
        from bpfnb.kernel import map_info

        mid = map_info(fd).id
        shown = bpftool("map", "show", "id", str(mid))
        ours = next(r for r in maps() if r["id"] == mid)
        assert ours["type"] == shown["type"] == "cgroup_storage"


@pytest.mark.kernel
def test_xlated_map_operands_as_bpftool_prints_them():
    import re

    with EbpfLoader().load_file(fixture_path("multi")) as ebpf:
        compared = 0
        for prog in ebpf.programs.values():
            text = prog.xlated().text()
            ours = re.findall(r"= (map\[[^\]]+\](?:\[0\]\+\d+)?) ll", text)
            dump = bpftool("prog", "dump", "xlated", "id", str(prog.id), json=False)
            theirs = re.findall(r"= (map\[[^\]]+\](?:\[0\]\+\d+)?)", dump)
            assert ours == theirs and all(m.startswith("map[id:") for m in ours)
            compared += len(ours)
        assert compared > 0
        assert "map[fd:" in next(iter(ebpf._pipeline.relocated.values())).instructions.text()  # what was sent
