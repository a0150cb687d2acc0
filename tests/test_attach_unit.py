"""The pure parts of attaching: class dispatch, ELF symbol offsets, perf_event_attr, verdicts, views.

No kernel needed: these run unprivileged (and on Binder).
"""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from helpers import TESTS, fixture_path

from bpfnb.kernel.attach import PERF_ATTR_SIZE, PerfType, netns_path, perf_event_attr, tracepoint_id
from bpfnb.kernel.links import Attachment
from bpfnb.obj import Object
from bpfnb.programs import (
    BtfTracePoint,
    CgroupSkb,
    FEntry,
    FExit,
    FModRet,
    Iter,
    KProbe,
    KRetProbe,
    Lsm,
    PerfEvent,
    RawTracePoint,
    SchedClassifier,
    SkMsg,
    SkSkb,
    SocketFilter,
    SockOps,
    SyscallProgram,
    TestRun,
    TestRuns,
    TracePoint,
    TypedProgram,
    UProbe,
    URetProbe,
    Xdp,
    class_for,
    class_for_spec,
    symbol_offset,
    verdict_name,
)
from bpfnb.uapi import AttachType, ProgType


@pytest.mark.parametrize(("section", "cls"), [
    ("xdp", Xdp), ("tc", SchedClassifier), ("tcx/egress", SchedClassifier), ("socket", SocketFilter),
    ("tracepoint/syscalls/sys_enter_openat", TracePoint), ("raw_tp/sys_enter", RawTracePoint),
    ("tp_btf/sched_switch", BtfTracePoint), ("fentry/do_unlinkat", FEntry), ("fexit/do_unlinkat", FExit),
    ("fmod_ret/security_x", FModRet), ("lsm/file_open", Lsm), ("iter/task", Iter),
    ("kprobe/do_unlinkat", KProbe), ("kretprobe/do_unlinkat", KRetProbe), ("uprobe", UProbe),
    ("uretprobe//bin/sh:main", URetProbe), ("perf_event", PerfEvent), ("cgroup_skb/ingress", CgroupSkb),
    ("sockops", SockOps), ("sk_skb/stream_verdict", SkSkb), ("sk_msg", SkMsg), ("syscall", SyscallProgram),
])
def test_class_for_sections(section: str, cls: type) -> None:
    from bpfnb.obj.section_defs import match_section

    sec = match_section(section)
    assert class_for(sec.prog_type, sec.expected_attach_type, section) is cls


def test_class_for_without_a_section() -> None:
    assert class_for(ProgType.KPROBE) is KProbe
    assert class_for(ProgType.TRACING) is TypedProgram  # which TRACING kind is unknown without the attach type
    assert class_for(ProgType.TRACING, AttachType.TRACE_ITER) is Iter
    assert class_for(ProgType.NETFILTER) is TypedProgram


def test_class_for_spec_on_the_fentry_fixture() -> None:
    obj = Object.from_file(fixture_path("fentry"))
    assert {n: class_for_spec(s) for n, s in obj.programs.items()} == {
        "enter_unlinkat": FEntry, "exit_unlinkat": FExit, "on_switch": BtfTracePoint}


@pytest.fixture(scope="module")
def target_binary(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    out = tmp_path_factory.mktemp("uprobe") / "target"
    subprocess.run(["gcc", "-O2", "-o", str(out), str(TESTS / "native" / "attach_uprobe_target.c")], check=True)
    return str(out)


def section_offset(path: str, symbol: str) -> int:
    """Independent oracle: the symbol's address mapped through its *section* (not its segment)."""
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        elf = ELFFile(f)
        for name in (".symtab", ".dynsym"):
            table = elf.get_section_by_name(name)
            found = table.get_symbol_by_name(symbol) if table is not None else None
            if found:
                sym = found[0]
                sec = elf.get_section(sym["st_shndx"])
                return sym["st_value"] - sec["sh_addr"] + sec["sh_offset"]
    raise KeyError(symbol)


def test_symbol_offset_in_the_test_binary(target_binary) -> None:
    nm = subprocess.run(["nm", target_binary], check=True, capture_output=True, text=True).stdout
    value = next(int(line.split()[0], 16) for line in nm.splitlines() if line.endswith(" bpfnb_probe_me"))
    assert symbol_offset(target_binary, "bpfnb_probe_me") == section_offset(target_binary, "bpfnb_probe_me")
    assert symbol_offset(target_binary, "bpfnb_probe_me") <= value


def test_symbol_offset_in_libc() -> None:
    import ctypes.util

    from bpfnb.programs.probes import resolve_binary

    name = ctypes.util.find_library("c")
    if name is None:
        pytest.skip("no libc found")
    path = resolve_binary(name)
    # libc's text is not mapped at its file offset: the segment arithmetic matters here.
    assert symbol_offset(path, "getpid") == section_offset(path, "getpid")


def test_symbol_offset_unknown(target_binary) -> None:
    from bpfnb.errors import UnknownName

    with pytest.raises(UnknownName, match="nothing_here"):
        symbol_offset(target_binary, "nothing_here")


def test_perf_event_attr_layout() -> None:
    attr = perf_event_attr(PerfType.SOFTWARE, 0, sample_freq=99, config1=0x1234, config2=0x10)
    assert len(attr) == PERF_ATTR_SIZE == 112
    type_, size, config, sample, _, _, flags = struct.unpack_from("<IIQQQQQ", attr)
    assert (type_, size, config, sample) == (1, 112, 0, 99)
    assert flags & (1 << 10)  # freq
    assert struct.unpack_from("<QQ", attr, 56) == (0x1234, 0x10)  # config1, config2
    period = perf_event_attr(PerfType.TRACEPOINT, 7, sample_period=1)
    assert struct.unpack_from("<Q", period, 40)[0] == 0


def test_tracepoint_names_are_checked() -> None:
    with pytest.raises(ValueError):
        tracepoint_id("../..", "x")
    assert netns_path("blue") == "/run/netns/blue" and netns_path("/proc/1/ns/net") == "/proc/1/ns/net"


def test_test_runs_table_and_frame() -> None:
    runs = TestRuns("xdp_watch", {"a": TestRun("xdp_watch", ProgType.XDP, 2, data_in_len=60),
                                  "b": TestRun("xdp_watch", ProgType.XDP, 1, data_in_len=60)})
    assert runs.verdicts() == {"a": "XDP_PASS", "b": "XDP_DROP"}
    html = runs._repr_html_()
    assert "<td>a</td><td>2</td><td>XDP_PASS</td>" in html
    frame = runs.to_dataframe()
    assert list(frame.index) == ["a", "b"] and list(frame["verdict"]) == ["XDP_PASS", "XDP_DROP"]


def test_test_run_view_masks_duration() -> None:
    run = TestRun("p", ProgType.XDP, 1, data_out=b"\x01" * 100, duration_ns=123, data_in_len=100)
    assert run.verdict == "XDP_DROP" and "XDP_DROP" in repr(run)
    html = run._repr_html_()
    assert '<span class="bpfnb-live">123 ns</span>' in html and "(+36 bytes)" in html
    assert verdict_name(ProgType.SCHED_CLS, 0xFFFFFFFF) == "TC_ACT_UNSPEC (TCX_NEXT)"
    assert verdict_name(ProgType.XDP, 9) == "unknown (9)"
    assert verdict_name(ProgType.KPROBE, 0) is None


def test_attachment_detach_is_idempotent() -> None:
    class Fake(Attachment):
        kind = "fake"

        def __init__(self) -> None:
            super().__init__(program="p", target="t")
            self.undone = 0

        @property
        def attached(self) -> bool:
            return self.undone == 0

        def _undo(self) -> None:
            self.undone += 1

    tracked: list = []
    fake = Fake()
    fake._owned_by(tracked)
    assert tracked == [fake] and "attached" in repr(fake)
    with fake:
        pass
    fake.detach()
    assert fake.undone == 1 and tracked == [] and "detached" in repr(fake)
    assert "fake" in fake._repr_html_()


# --- refusals of BTF-attached programs: what is refused, and why ------------------------------


def test_lockdown_mode_is_the_bracketed_one(tmp_path) -> None:
    from bpfnb.kernel.privilege import describe_lockdown, lockdown_mode

    path = tmp_path / "lockdown"
    path.write_text("none [integrity] confidentiality\n")
    assert lockdown_mode(str(path)) == "integrity"
    assert "kernel lockdown is 'integrity'" in describe_lockdown(str(path))
    path.write_text("[none] integrity confidentiality\n")
    assert lockdown_mode(str(path)) == "none" and "another LSM" in describe_lockdown(str(path))
    missing = str(tmp_path / "absent")
    assert lockdown_mode(missing) is None and f"{missing} is absent" in describe_lockdown(missing)


def _refusal(monkeypatch, fixture: str, program: str, err: int, *, kernel=None):
    import bpfnb.kernel.programs as programs
    from bpfnb.errors import KernelError, UnsupportedFeature
    from bpfnb.obj import Object

    monkeypatch.setattr(programs, "is_privileged", lambda: True)
    monkeypatch.setattr(programs, "describe_lockdown", lambda: "kernel lockdown is 'integrity' (test)")
    if kernel is not None:
        monkeypatch.setattr(programs, "running_kernel", lambda: kernel)
    spec = Object.from_file(fixture_path(fixture)).programs[program]
    try:
        programs._refine_eperm(KernelError(err, "BPF_PROG_LOAD"), spec, program, None)
    except UnsupportedFeature as exc:
        return exc
    return None


@pytest.mark.parametrize("fixture,program,feature", [
    ("prog_flags", "walk_tasks", "bpf iterators"),
    ("fentry", "enter_unlinkat", "BPF trampolines (fentry/fexit/fmod_ret/lsm/freplace)"),
    ("fentry", "on_switch", "BTF tracepoints (tp_btf)"),
    ("lsm_fmod", "deny_nothing", "BPF trampolines (fentry/fexit/fmod_ret/lsm/freplace)"),
])
def test_eperm_names_what_is_refused_by_policy(monkeypatch, fixture, program, feature) -> None:
    import errno

    exc = _refusal(monkeypatch, fixture, program, errno.EPERM)
    assert exc is not None and exc.feature == feature and exc.min_version is None and exc.errno == errno.EPERM
    assert program in str(exc) and "refused by policy" in str(exc) and "lockdown is 'integrity'" in str(exc)
    assert ("trampoline" in str(exc)) == (feature.startswith("BPF trampolines"))


def test_einval_below_the_release_is_the_minimum_version(monkeypatch) -> None:
    import errno

    from bpfnb.kernel.version import KernelVersion

    old = _refusal(monkeypatch, "prog_flags", "walk_tasks", errno.EINVAL, kernel=KernelVersion(5, 4, 0))
    assert old is not None and old.feature == "bpf iterators" and old.min_version == "5.8"
    # at or above it, EINVAL is the verifier's business, not a missing feature
    assert _refusal(monkeypatch, "prog_flags", "walk_tasks", errno.EINVAL, kernel=KernelVersion(6, 1, 0)) is None
    from bpfnb.obj import Object

    first = next(iter(Object.from_file(fixture_path("multi")).programs))
    assert _refusal(monkeypatch, "multi", first, errno.EPERM) is None  # not a BTF-attached program
