"""The whole pipeline: dry run, real loads equal to libbpf's, cleanup, CLI."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bpfnb import examples
from bpfnb.errors import BpfnbError, UnknownName, VerifierError
from bpfnb.loader import STAGES, EbpfLoader

from helpers import (assert_libbpf_refuses_naming, assert_programs_refuse_missing_ksyms, fixture_path, kernel_feature,
                     missing_strong_ksyms)

# Objects libbpf 1.1 can load whole on this kernel (fentry/fexit are refused
# with EPERM here, reject is rejected, ksym has its own test).
# section_static is bpfnb-only: libbpf refuses a static function in a program section.
LIBBPF_LOADABLE = ["multi", "minimal", "calls", "core_min", "core_kinds", "core_chains", "core_enums", "kconfig", "tailcall", "isa"]


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def pin_dirs(pin_root):
    """Separate pin roots for libbpf and bpfnb loading the same object."""
    path = Path(pin_root)
    (path / "libbpf").mkdir()
    (path / "bpfnb").mkdir()
    return path


# --- dry run (pure: no privileges needed) ------------------------------------------


def test_dry_run_walks_every_stage_without_syscalls():
    p = EbpfLoader().dry_run().pipeline(examples.path("packet_counter"))
    assert p.dry_run and p.next_stage == "parse"
    results = [p.next() for _ in STAGES]
    assert [r.stage for r in results] == list(STAGES)
    assert all(r.dry_run for r in results[1:])
    assert p.map_fds == {"proto_stats": 1000, "verdicts": 1001, ".rodata": 1002, ".bss": 1003}
    rel = p.relocated["xdp_count"]
    assert any("fd 1001" in a.note or "1001" in str(a.after) for a in rel.applied) or rel.applied
    assert "not loaded" in results[-1].summary
    ebpf = p.ebpf()
    assert ebpf.dry_run and not ebpf.programs and not ebpf.maps
    html = p._repr_html_()
    assert "dry run" in html and html.count("<tr>") >= len(STAGES)
    with pytest.raises(BpfnbError, match="every stage has run"):
        p.next()


def test_dry_run_of_a_co_re_object_resolves_against_the_running_kernel():
    p = EbpfLoader().dry_run().pipeline(fixture_path("core_kinds")).run("relocate")
    assert p.core is not None and len(p.core.relocations) > 0
    assert "CO-RE records resolved" in p.results["relocate"].summary
    for rel in p.relocated.values():
        for r in rel.core_relocations:
            assert rel.instructions.annotations  # CO-RE notes reach the listing


def test_run_until_and_unknown_stage():
    p = EbpfLoader().dry_run().pipeline(fixture_path("minimal")).run("maps")
    assert list(p.results) == ["parse", "btf", "maps"]
    with pytest.raises(UnknownName):
        p.run("attach-everything")


def test_dry_run_false_without_privileges_is_refused(tmp_path):
    code = (
        "from bpfnb.loader import EbpfLoader\n"
        "from bpfnb.errors import NotPrivileged\n"
        "p = EbpfLoader().pipeline(%r)\n"
        "assert p.dry_run\n"
        "p.run()\n"
        "assert not p.programs and p.results['load'].dry_run\n"
        "try:\n    EbpfLoader().dry_run(False).pipeline(%r)\nexcept NotPrivileged:\n    print('refused')\n"
    ) % (str(examples.path("packet_counter")), str(examples.path("packet_counter")))
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop capabilities")
    out = subprocess.run(
        ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-c", code],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "refused"


# --- real loads --------------------------------------------------------------------


@pytest.mark.kernel
@pytest.mark.parametrize("name", LIBBPF_LOADABLE)
def test_program_tags_equal_libbpf(name, pin_dirs, differential):
    from oracles.libbpf_tags import libbpf_programs

    from bpfnb.obj import Object

    missing = missing_strong_ksyms(Object.from_file(fixture_path(name)))
    if missing:  # isa calls kfuncs older kernels lack: libbpf refuses the object, bpfnb the calling program
        assert_libbpf_refuses_naming(lambda: libbpf_programs(fixture_path(name), str(pin_dirs / "libbpf")), missing)
        assert assert_programs_refuse_missing_ksyms(fixture_path(name), missing)
        return
    with kernel_feature("ISA"):  # isa uses the newest instructions: skipped on kernels older than them
        with EbpfLoader().map_pin_path(pin_dirs / "bpfnb").load_file(fixture_path(name)) as ebpf:
            ours = differential["bpfnb"] = {n: p.info().tag for n, p in ebpf.programs.items()}
    theirs = libbpf_programs(fixture_path(name), str(pin_dirs / "libbpf"))
    differential["libbpf"] = {n: k.tag for n, k in theirs.items()}
    assert set(ours) == set(theirs)
    assert ours == {n: k.tag for n, k in theirs.items()}


@pytest.mark.kernel
def test_open_by_id_gives_the_classes_a_load_gives() -> None:
    """``bpfnb.maps.open`` / ``bpfnb.programs.open``: any map or program of the system, typed like the loader's."""
    from bpfnb import maps, programs

    with EbpfLoader().load_file(examples.path("packet_counter")) as ebpf:
        for name, m in ebpf.maps.items():
            with maps.open(id=m.raw.id) as again:
                assert type(again) is type(m) and again.raw.id == m.raw.id, name
        for name, p in ebpf.programs.items():
            again = programs.open(id=p.info().id)
            try:
                assert type(again) is type(p) and programs.typed(again) is again, name
            finally:
                again.close()


#: Examples that exist to be refused by the verifier (shown in notebook 04).
REJECTED_EXAMPLES = {"rejected"}


@pytest.mark.kernel
@pytest.mark.parametrize("name", [n for n in examples.names() if n not in REJECTED_EXAMPLES])
def test_examples_load(name):
    before = _fds()
    with EbpfLoader().load_file(examples.path(name)) as ebpf:
        assert ebpf.programs and all(p.info().tag for p in ebpf.programs.values())
        assert set(ebpf.maps) >= set(ebpf.obj.maps)
    assert _fds() == before


@pytest.mark.kernel
def test_set_global_reaches_the_rodata_map():
    with EbpfLoader().set_global("min_len", 64).load_file(examples.path("packet_counter")) as ebpf:
        rodata = ebpf.maps[".rodata"]
        value = rodata.raw.lookup((0).to_bytes(4, "little"))
        var = ebpf.obj.data[".rodata"].variable("min_len")
        assert int.from_bytes(value[var.offset : var.offset + 4], "little") == 64


@pytest.mark.kernel
def test_every_data_map_starts_with_its_section(pin_root):
    """Writable maps are written through a shared mapping, read-only ones whole, .bss not at all (zeroed by the kernel)."""
    from helpers import fixture_path

    from bpfnb.obj.initial_data import initial_data

    loader = EbpfLoader().map_pin_path(pin_root).set_global("start_value", 77).set_global("sample_rate", 9)
    with loader.load_file(fixture_path("multi")) as ebpf:  # multi pins a map by name: under this test's root
        globals_ = {".data": {"start_value": 77}, ".rodata": {"sample_rate": 9}}
        for name, section in ebpf.obj.data.items():
            m = ebpf.maps[name]
            assert m.raw.lookup(bytes(4)) == initial_data(section, globals_.get(name, {}), btf=ebpf.obj.btf), name
        assert ebpf.maps[".data"].raw.map_flags & (1 << 10)  # BPF_F_MMAPABLE: the mapped path was taken


@pytest.mark.kernel
def test_set_global_unknown_name():
    with pytest.raises(UnknownName):
        EbpfLoader().set_global("no_such_knob", 1).load_file(examples.path("packet_counter"))
    # must_exist=False: silently ignored
    with EbpfLoader().set_global("no_such_knob", 1, must_exist=False).load_file(examples.path("packet_counter")) as ebpf:
        assert ebpf.programs


def _maps_named(name: str) -> set[int]:
    from bpfnb.kernel.system import maps

    return {r["id"] for r in maps() if r["name"] == name}


@pytest.mark.kernel
def test_rejected_program_leaves_nothing_behind():
    before = _maps_named("values")
    fds_before = _fds()
    with pytest.raises(VerifierError) as info:
        EbpfLoader().load_file(fixture_path("reject"))
    assert "unchecked_deref" in str(info.value) and info.value.log
    assert _fds() == fds_before
    # The kernel frees a map after an RCU grace period: wait for that, do not time it.
    for _ in range(200):
        if _maps_named("values") <= before:
            break
        time.sleep(0.01)
    assert _maps_named("values") <= before


@pytest.mark.kernel
def test_pipeline_close_releases_everything():
    fds_before = _fds()
    p = EbpfLoader().pipeline(fixture_path("multi")).run()
    assert len(p.programs) == 7 and _fds() > fds_before
    p.close()
    p.close()  # idempotent
    assert _fds() == fds_before


@pytest.mark.kernel
def test_tracing_programs_report_the_kernels_refusal():
    """fentry/fexit load where the kernel allows trampolines; elsewhere each names its refusal."""
    from bpfnb import Btf

    target = Btf.from_sys_fs().find("do_unlinkat", kind="FUNC").id
    with EbpfLoader().pipeline(fixture_path("fentry")) as p:
        p.run()
        assert "on_switch" in p.programs  # tp_btf needs no trampoline
        assert set(p.programs) | set(p.program_errors) == {"on_switch", "enter_unlinkat", "exit_unlinkat"}
        for name in ("enter_unlinkat", "exit_unlinkat"):
            with kernel_feature("trampolines", errno=errno.EPERM, mentions=(name, "do_unlinkat", "refused by policy")):
                if name in p.program_errors:
                    raise p.program_errors[name]
                assert p.programs[name].info().attach_btf_id == target


# --- CLI -----------------------------------------------------------------------------


@pytest.mark.kernel
def test_cli_load_json(capsys):
    from bpfnb.cli import main

    assert main(["load", str(fixture_path("multi")), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    progs = {p["name"]: p for p in doc["programs"]}
    assert len(progs) == 7 and all(p["loaded"] and len(p["tag"]) == 16 and p["id"] for p in progs.values())
    assert {m["name"] for m in doc["maps"]} >= {"flows", ".rodata"}
    assert all(m["id"] for m in doc["maps"])


@pytest.mark.kernel
def test_cli_load_failure_exit_status(capsys):
    """One program the verifier rejects on every kernel makes the exit status 1; the others load."""
    from bpfnb.cli import main

    assert main(["load", str(examples.path("rejected")), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    by_name = {p["name"]: p for p in doc["programs"]}
    assert by_name["bounds_checked"]["loaded"] and not by_name["no_bounds_check"]["loaded"]
    assert "invalid access to packet" in by_name["no_bounds_check"]["error"]


@pytest.mark.kernel
def test_cli_load_exit_status_follows_the_kernel(capsys):
    """fentry loads or not, as the kernel decides: the status says which (0 only if all loaded)."""
    from bpfnb.cli import main

    status = main(["load", str(fixture_path("fentry")), "--json"])
    doc = json.loads(capsys.readouterr().out)
    failed = [p for p in doc["programs"] if not p["loaded"]]
    assert status == (1 if failed else 0)
    assert all(p["error"] and "do_unlinkat" in p["error"] for p in failed)
    assert {p["name"] for p in failed} <= {"enter_unlinkat", "exit_unlinkat"}


def test_cli_load_dry_run(capsys):
    from bpfnb.cli import main

    assert main(["load", str(examples.path("packet_counter")), "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "dry run" in out and "xdp_count" in out


@pytest.mark.kernel
def test_kconfig_externs_reach_the_program():
    """The program copies each extern into .bss; a test run shows what it saw.

    A kernel whose configuration cannot be read refuses the strong externs
    in a typed way ("kernel config"), the tested branch there."""
    import struct

    from bpfnb.kernel.kconfig import kernel_config
    from bpfnb.kernel.version import running_kernel

    with kernel_feature("kernel config"):
        config = kernel_config()
        with EbpfLoader().load_file(fixture_path("kconfig")) as ebpf:
            ebpf.programs["read_kconfig"].test_run(bytes(64))
            bss = ebpf.maps[".bss"].raw.lookup(bytes(4))
        seen = struct.unpack("<10Q", bss[:80])
        tristate = {"y": 1, "m": 2}
        assert seen[0] == running_kernel().code
        assert seen[1] == 1  # CONFIG_BPF_SYSCALL=y
        assert seen[2] == tristate.get(config.get("CONFIG_IPV6", "n"), 0)
        assert seen[3] == tristate.get(config.get("CONFIG_KPROBES", "n"), 0)  # weak: 0 where "is not set"
        assert seen[4] == int(config["CONFIG_HZ"])
        assert seen[5] == int(config["CONFIG_NR_CPUS"])
        assert seen[6] == ord("y")
        assert seen[9] == 0  # weak, absent


@pytest.mark.kernel
@pytest.mark.parametrize(("slot", "retval"), [(0, 42), (1, 1), (2, 7)])
def test_prog_array_initial_slots_are_filled_after_load(slot, retval):
    with EbpfLoader().set_global("slot", slot).load_file(fixture_path("tailcall")) as ebpf:
        assert "2 prog-array slots filled" in ebpf._pipeline.results["load"].summary
        assert ebpf.programs["entry"].test_run(bytes(64)).retval == retval


@pytest.mark.kernel
def test_lsm_and_fmod_ret_resolve_their_targets_then_attach_or_are_refused(tmp_path):
    """Both resolve their attach BTF ids first; then a kernel that allows trampolines attaches them
    (the hooks allow everything: files still open), one that does not says EPERM, typed."""
    from bpfnb import Btf
    from bpfnb.programs import FModRet, Lsm, as_typed, class_for_spec

    vmlinux = Btf.from_sys_fs()
    with EbpfLoader().pipeline(fixture_path("lsm_fmod")) as p:
        p.run()
        for name, target, cls in (("deny_nothing", "bpf_lsm_file_open", Lsm), ("pass_through", "security_file_open", FModRet)):
            assert class_for_spec(p.obj.programs[name]) is cls
            btf_id = vmlinux.find(target, kind="FUNC").id
            with kernel_feature("trampolines", errno=errno.EPERM,
                                mentions=(name, f"BTF id {btf_id}", "refused by policy")):
                if name in p.program_errors:
                    raise p.program_errors[name]
                typed = as_typed(p.programs[name])
                assert type(typed) is cls and p.programs[name].info().attach_btf_id == btf_id
                with typed.attach() as link:
                    assert link.attached
                    (tmp_path / name).write_text("opened under the hook")
                    assert (tmp_path / name).read_text() == "opened under the hook"
                typed.close()


def test_a_pipeline_keeps_the_options_it_was_made_with() -> None:
    """Builder calls after pipeline() reach later pipelines only (every container option is copied)."""
    from bpfnb import EbpfLoader

    loader = EbpfLoader().set_global("min_len", 60).dry_run()
    first = loader.pipeline(examples.path("packet_counter"))
    loader.set_global("drop_proto", 17).set_max_entries("proto_stats", 64).set_autoload("tc_count", False)
    loader.extension("xdp_count").set_program_type("tc_count", "sched_cls")
    assert first.options.globals == {"min_len": 60} and first.options.must_exist == {"min_len"}
    assert first.options.max_entries == {} and first.options.autoload == {}
    assert first.options.extensions == set() and first.options.program_types == {}
    second = loader.pipeline(examples.path("packet_counter"))
    assert second.options.globals == {"min_len": 60, "drop_proto": 17} and "tc_count" in second.options.autoload
