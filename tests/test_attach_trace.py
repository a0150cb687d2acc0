"""Tracing programs attached end to end: tracepoint, raw_tp, tp_btf, uprobe, perf_event, iter.

Each test loads ``attach_trace.bpf.o`` with ``target_tgid`` set to the
process whose syscalls should count (a .rodata knob, so the machine's
other activity does not disturb the counts), attaches through the typed
classes, makes the syscalls or calls, and reads the counters back from
``.bss``.  bpftool is the oracle for "attached" and "nothing left".
"""

from __future__ import annotations

import errno
import gc
import os
import shutil
import subprocess
import time

import pytest

from helpers import TESTS, fixture_path, kernel_feature, loaded, newer_assertions
from oracles.bpftool import bpftool
from oracles.bpftool import link_ids as bpftool_link_ids

from bpfnb.errors import AttachError, KernelError, UnsupportedFeature
from bpfnb.kernel.links import Link
from bpfnb.loader import EbpfLoader
from bpfnb.programs import (
    BtfTracePoint,
    FEntry,
    FExit,
    Iter,
    KProbe,
    LinkGroup,
    PerfEvent,
    RawTracePoint,
    TracePoint,
    UProbe,
    URetProbe,
    as_typed,
    auto_attach,
    class_for_spec,
    read_globals,
)
from bpfnb.uapi import LinkType

pytestmark = pytest.mark.kernel

BPFFS = "/sys/fs/bpf"
#: What a perf_event link is attached to is reported since 6.6 (bpf_link_info.perf_event).
PERF_LINK_INFO = "perf_event link info"


@pytest.fixture
def trace():
    """attach_trace.bpf.o loaded for this process, programs typed; everything closed after."""
    with loaded(EbpfLoader().set_global("target_tgid", os.getpid()), fixture_path("attach_trace")) as both:
        yield both


def counters(ebpf) -> dict:
    return read_globals(ebpf, ".bss")


def test_typed_classes_follow_the_sections(trace) -> None:
    _, progs = trace
    assert type(progs["tp_getppid"]) is TracePoint
    assert type(progs["raw_getppid"]) is RawTracePoint
    assert type(progs["btf_getppid"]) is BtfTracePoint
    assert type(progs["on_call"]) is UProbe and type(progs["on_return"]) is URetProbe
    assert type(progs["on_unlinkat"]) is KProbe
    assert type(progs["on_sample"]) is PerfEvent
    assert as_typed(progs["tp_getppid"]) is progs["tp_getppid"]


def test_tracepoint_counts_getppid_and_detaches(trace) -> None:
    ebpf, progs = trace
    link = progs["tp_getppid"].attach("syscalls", "sys_enter_getppid")
    assert isinstance(link, Link) and link.attached
    info = link.info()
    assert info.type == LinkType.PERF_EVENT and link.target == "tracepoint syscalls/sys_enter_getppid"
    with newer_assertions(PERF_LINK_INFO):
        assert info.detail("perf_event_type") == "tracepoint" and info.detail("tp_name") == "sys_enter_getppid"
    assert info.id in bpftool_link_ids() and info.prog_id == progs["tp_getppid"].id
    for _ in range(5):
        os.getppid()
    assert counters(ebpf)["tp_hits"] == 5
    link.detach()
    assert not link.attached and link.closed
    os.getppid()
    assert counters(ebpf)["tp_hits"] == 5
    assert info.id not in bpftool_link_ids()
    link.detach()  # idempotent


# Kprobes are a build option (CONFIG_KPROBES): compiled out on the development VM, present on most
# distributions.  Tests take both branches: a kprobe that fires, or this exact refusal.
KPROBE_REFUSAL = {"errno": errno.EOPNOTSUPP, "mentions": ("on_unlinkat", "do_unlinkat", "CONFIG_KPROBES is not set")}


def unlink_files(tmp_dir, count: int) -> None:
    for i in range(count):
        path = os.path.join(tmp_dir, f"unlink{i}")
        open(path, "w").close()
        os.unlink(path)  # unlinkat(2) -> do_unlinkat()


def test_auto_attach_from_section_names(trace, tmp_path) -> None:
    ebpf, progs = trace
    made = auto_attach(progs, keep_errors=True)
    # tracepoint/, raw_tp/ and tp_btf/ name their targets; bare uprobe/perf_event/raw_tp do not.
    assert set(made) == {"tp_getppid", "raw_getppid", "btf_getppid", "libc_getpid", "on_unlinkat"}
    for _ in range(3):
        os.getppid()
        os.getpid()  # glibc's getpid(), where the uprobe from "uprobe/libc.so.6:getpid" sits
    c = counters(ebpf)
    assert (c["tp_hits"], c["raw_hits"], c["btf_hits"]) == (3, 3, 3)
    assert c["libc_getpid_hits"] >= 3  # the interpreter may call getpid() itself too
    with newer_assertions(PERF_LINK_INFO):
        assert made["libc_getpid"].info().detail("file_name").endswith("libc.so.6")
    ids = {made[n].id for n in ("tp_getppid", "raw_getppid", "btf_getppid", "libc_getpid")}
    with kernel_feature("kprobes", **KPROBE_REFUSAL):
        if isinstance(made["on_unlinkat"], Exception):
            raise made["on_unlinkat"]
        unlink_files(tmp_path, 3)
        assert counters(ebpf)["kprobe_hits"] >= 3  # every process's unlinks count
        with newer_assertions(PERF_LINK_INFO):
            assert made["on_unlinkat"].info().detail("perf_event_type") == "kprobe"
        ids.add(made["on_unlinkat"].id)
    assert ids <= bpftool_link_ids()
    assert made["raw_getppid"].info().type == LinkType.RAW_TRACEPOINT
    assert made["btf_getppid"].info().type == LinkType.RAW_TRACEPOINT  # tp_btf links are raw_tp links
    for p in progs.values():
        p.close()  # closing a program detaches what it attached
    gc.collect()
    assert not ids & bpftool_link_ids()


def test_auto_attach_raises_and_rolls_back(trace) -> None:
    """Where one program cannot attach (kprobes compiled out), auto_attach raises and leaves nothing
    attached; where all can, everything attaches and detaches."""
    _, progs = trace
    with kernel_feature("kprobes", **KPROBE_REFUSAL):
        made = auto_attach(progs)
        assert set(made) == {"tp_getppid", "raw_getppid", "btf_getppid", "libc_getpid", "on_unlinkat"}
        for link in made.values():
            link.detach()
    # Other processes may make links meanwhile: look for links of *our* programs.
    shown = bpftool("link", "show")
    ours = {p.id for p in progs.values()}
    assert [e for e in shown if e.get("prog_id") in ours] == []
    assert all(not p.links for p in progs.values())


def test_explicit_raw_tp_and_tp_btf(trace) -> None:
    ebpf, progs = trace
    with progs["raw_getppid"].attach("sys_enter") as raw, progs["btf_getppid"].attach() as btf:
        assert raw.info().details["tp_name"] == "sys_enter"
        assert btf.target == "tp_btf sys_enter"
        os.getppid()
        os.getppid()
    os.getppid()
    c = counters(ebpf)
    assert (c["raw_hits"], c["btf_hits"]) == (2, 2)


def test_kprobe_counts_unlinkat_or_is_refused(trace, tmp_path) -> None:
    ebpf, progs = trace
    with kernel_feature("kprobes", **KPROBE_REFUSAL):
        with progs["on_unlinkat"].attach() as link:
            assert link.info().type == LinkType.PERF_EVENT
            with newer_assertions(PERF_LINK_INFO):
                assert link.info().detail("perf_event_type") == "kprobe"
                assert link.info().detail("func_name") == "do_unlinkat"
            unlink_files(tmp_path, 4)
            assert counters(ebpf)["kprobe_hits"] >= 4
        assert not link.attached
    assert progs["on_unlinkat"].links == []


# fentry/fexit/fmod_ret/lsm/freplace need BPF trampolines: refused at load by policy on the
# development VM (EPERM), allowed on most distributions.  Both branches are checked.
def trampoline_refusal(*mentions: str):
    return kernel_feature("trampolines", errno=errno.EPERM, mentions=(*mentions, "refused by policy"))


def failing_unlinks(tmp_path, count: int) -> None:
    for i in range(count):
        try:
            os.unlink(tmp_path / f"missing{i}")  # do_unlinkat() runs and returns -ENOENT
        except FileNotFoundError:
            pass


def test_fentry_fexit_count_unlinkat_or_are_refused(tmp_path) -> None:
    import struct

    pipeline = EbpfLoader().pipeline(fixture_path("fentry"))
    with pipeline:
        pipeline.run("load")
        specs = pipeline.obj.programs
        assert class_for_spec(specs["enter_unlinkat"]) is FEntry
        assert class_for_spec(specs["exit_unlinkat"]) is FExit
        assert class_for_spec(specs["on_switch"]) is BtfTracePoint

        def calls() -> int:
            return struct.unpack("<Q", pipeline.maps[".bss"].lookup(bytes(4))[:8])[0]

        for name in ("enter_unlinkat", "exit_unlinkat"):
            with trampoline_refusal(name, "fentry/" if name.startswith("enter") else "fexit/", "do_unlinkat"):
                if name in pipeline.program_errors:
                    raise pipeline.program_errors[name]
                typed = as_typed(pipeline.programs[name])
                before = calls()
                with typed.attach() as link:
                    assert link.info().type == LinkType.TRACING
                    failing_unlinks(tmp_path, 3)
                    assert calls() >= before + 3  # fentry counts every call, fexit every failed one
                typed.close()
        # tp_btf on the same object loads and attaches everywhere (no trampoline).
        assert "on_switch" not in pipeline.program_errors
        typed = as_typed(pipeline.programs["on_switch"])
        with typed.attach() as link:
            assert link.info().type == LinkType.RAW_TRACEPOINT
        typed.close()


def test_extension_replaces_a_function_or_is_refused() -> None:
    """freplace goes through a trampoline too: loaded against its target, or refused (EPERM)."""
    from bpfnb.kernel.programs import load_program
    from bpfnb.programs import Extension

    pipeline = EbpfLoader().extension("new_decide").pipeline(fixture_path("attach_ext"))
    with pipeline:
        pipeline.run("load")
        assert class_for_spec(pipeline.obj.programs["new_decide"]) is Extension
        target = as_typed(pipeline.programs["target"])
        assert target.test_run(bytes(64)).verdict == "XDP_PASS"
        with trampoline_refusal("new_decide", "freplace"):
            ext = load_program(pipeline.relocated["new_decide"], btf_fd=pipeline.btf.fd,
                               attach_prog_fd=target.fd)
            typed = as_typed(ext)  # a kernel that allows trampolines: the extension attaches and replaces
            assert type(typed) is Extension
            with typed.attach():
                assert target.test_run(bytes(64)).verdict == "XDP_DROP"
            typed.close()
        assert target.test_run(bytes(64)).verdict == "XDP_PASS"


def test_link_pin_from_pin_and_from_id(trace, unique_name) -> None:
    ebpf, progs = trace
    path = f"{BPFFS}/{unique_name}"
    link = progs["tp_getppid"].attach()
    try:
        link.pin(path)
        link_id = link.id
        progs["tp_getppid"].close()  # pinned links survive their program object
        gc.collect()
        assert link_id in bpftool_link_ids()
        os.getppid()
        assert counters(ebpf)["tp_hits"] == 1
        again = Link.from_id(link_id)
        assert again.program == "tp_getppid" and again.kind == "perf_event"
        if again.info().unreported is not None:  # the kernel does not say where the link points
            assert again.target == "? (perf_event link info not reported by this kernel)"
        with newer_assertions(PERF_LINK_INFO):
            assert again.info().detail("tp_name") == "sys_enter_getppid"
            assert again.target == "sys_enter_getppid"
        again.close()
        pinned = Link.from_pin(path)
        assert pinned.id == link_id and pinned.pinned == path and pinned.attached
        pinned.detach()  # unpins, then closes the last fd
        gc.collect()
        assert not os.path.exists(path) and link_id not in bpftool_link_ids()
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_from_pin_refuses_a_pinned_map(trace, unique_name) -> None:
    ebpf, _ = trace
    path = f"{BPFFS}/{unique_name}"
    ebpf.maps[".bss"].pin(path)
    try:
        with pytest.raises(KernelError) as exc:
            Link.from_pin(path)
        assert "not a link" in str(exc.value)
    finally:
        os.unlink(path)


# --- uprobes ------------------------------------------------------------------------------


@pytest.fixture
def target_binary(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    out = tmp_path / "uprobe_target"
    subprocess.run(["gcc", "-O2", "-o", str(out), str(TESTS / "native" / "attach_uprobe_target.c")], check=True)
    return str(out)


def test_uprobe_and_uretprobe_count_calls(trace, target_binary) -> None:
    ebpf, progs = trace
    with progs["on_call"].attach(target_binary, "bpfnb_probe_me") as entry, \
            progs["on_return"].attach(target_binary, "bpfnb_probe_me") as ret:
        assert entry.info().type == ret.info().type == LinkType.PERF_EVENT
        with newer_assertions(PERF_LINK_INFO):
            info = entry.info()
            assert info.detail("perf_event_type") == "uprobe" and info.detail("file_name") == target_binary
            assert ret.info().detail("perf_event_type") == "uretprobe"
        out = subprocess.run([target_binary, "5"], check=True, capture_output=True, text=True).stdout
        assert out.strip() == "30"
    c = counters(ebpf)
    assert c["uprobe_hits"] == 5 and c["uprobe_arg_sum"] == 15  # arguments 1..5
    assert c["uretprobe_hits"] == 5 and c["uretprobe_ret_sum"] == 30  # returns 2*i
    subprocess.run([target_binary, "2"], check=True, capture_output=True)
    assert counters(ebpf)["uprobe_hits"] == 5  # detached


def test_uprobe_pid_filter_and_offset(trace, target_binary) -> None:
    """A uprobe bound to another pid never fires for a new process; a raw file offset works too."""
    ebpf, progs = trace
    from bpfnb.programs import symbol_offset

    offset = symbol_offset(target_binary, "bpfnb_probe_me")
    with progs["on_call"].attach(target_binary, offset=offset, pid=os.getpid()):
        subprocess.run([target_binary, "3"], check=True, capture_output=True)
    assert counters(ebpf)["uprobe_hits"] == 0
    with progs["on_call"].attach(target_binary, offset=offset):
        subprocess.run([target_binary, "3"], check=True, capture_output=True)
    assert counters(ebpf)["uprobe_hits"] == 3


def test_uprobe_unknown_symbol(trace, target_binary) -> None:
    _, progs = trace
    from bpfnb.errors import UnknownName

    with pytest.raises(UnknownName, match="no_such_function"):
        progs["on_call"].attach(target_binary, "no_such_function")


# --- perf events and iterators -----------------------------------------------------------


def test_perf_event_cpu_clock_samples(trace) -> None:
    ebpf, progs = trace
    group = progs["on_sample"].attach("software", 0, sample_freq=1000)
    assert isinstance(group, LinkGroup) and len(group) == os.cpu_count()
    assert all(link.info().type == LinkType.PERF_EVENT for link in group)
    with newer_assertions(PERF_LINK_INFO):
        assert all(link.info().detail("perf_event_type") == "event" for link in group)
    ids = {link.id for link in group}
    samples = 0
    for _ in range(50):  # bounded: wait for the timer to sample, burning a little CPU meanwhile
        sum(range(200_000))
        samples = counters(ebpf)["perf_samples"]
        if samples >= 5:
            break
        time.sleep(0.02)
    assert samples >= 5
    group.detach()
    assert not group.attached and not ids & bpftool_link_ids()


def test_perf_event_one_cpu_and_arguments(trace) -> None:
    _, progs = trace
    with pytest.raises(ValueError):
        progs["on_sample"].attach("software", 0)
    with progs["on_sample"].attach("software", 0, sample_period=1_000_000, cpu=0) as link:
        assert isinstance(link, Link) and link.target == "software cpu_clock cpu 0"


def test_perf_event_refusals_are_attach_errors(trace) -> None:
    _, progs = trace
    with pytest.raises(AttachError) as exc:
        progs["on_sample"].attach("software", 0, sample_period=100_000, pid=2**30)
    assert exc.value.errno == errno.ESRCH and "on_sample" in str(exc.value)
    try:
        link = progs["on_sample"].attach("hardware", 0, sample_period=10_000_000, cpu=0)
    except AttachError as err:  # a virtual machine without a hardware PMU
        assert err.errno in (errno.ENOENT, errno.EOPNOTSUPP) and "hardware cpu_cycles" in str(err)
        assert "no hardware PMU" in str(err) or err.errno == errno.EOPNOTSUPP
    else:
        link.detach()
    assert progs["on_sample"].links == []


# Iterators (5.8) are refused by policy on some kernels: EPERM at load from a privileged process
# (the development VM loads iter/bpf_map and iter/task but refuses iter/bpf_map_elem so).  Each
# program is its own branch: it loads and reads what it should, or its refusal is exact.
ITERATORS = {"dump_maps": "iter/bpf_map", "dump_tasks": "iter/task", "dump_elems": "iter/bpf_map_elem"}


@pytest.fixture
def iterators():
    """attach_iter.bpf.o through the pipeline: programs the kernel refused are in program_errors."""
    with EbpfLoader().pipeline(fixture_path("attach_iter")) as pipeline:
        pipeline.run("load")
        assert set(pipeline.programs) | set(pipeline.program_errors) == set(ITERATORS)
        yield pipeline


def iterator(pipeline, name: str) -> Iter:
    """The typed iterator ``name``, or its load error raised (inside ``kernel_feature``)."""
    if name in pipeline.program_errors:
        raise pipeline.program_errors[name]
    typed = as_typed(pipeline.programs[name])
    assert type(typed) is Iter
    return typed


def iter_refusal(name: str):
    return kernel_feature("bpf iterators", errno=errno.EPERM,
                          mentions=(name, ITERATORS[name], "refused by policy", "lockdown"))


def test_map_iterator_reads_every_map(iterators) -> None:
    with iter_refusal("dump_maps"):
        maps_it = iterator(iterators, "dump_maps")
        with maps_it.attach() as link:
            assert link.info().type == LinkType.ITER and link.info().details["target_name"] == "bpf_map"
            text = link.read()
            second = link.read()  # each read runs the iterator again
        rodata = iterators.maps[".rodata"].info()
        assert f"map {rodata.id} {rodata.name} 1" in text.splitlines()
        assert f"map {rodata.id} {rodata.name} 1" in second.splitlines()
        assert maps_it.links == []


def test_task_iterator_reads_every_process(iterators) -> None:
    with iter_refusal("dump_tasks"):
        tasks_it = iterator(iterators, "dump_tasks")
        tasks = tasks_it.read()  # attach, read, detach
        # task->tgid is the pid in the initial namespace (this test may run in a pid namespace):
        # look for our command name, and for the kernel's own threads.
        with open("/proc/self/comm") as f:
            comm = f.read().strip()
        lines = tasks.splitlines()
        assert any(line.endswith(f" {comm}") for line in lines) and "task 2 kthreadd" in lines
        assert tasks_it.links == []


def test_map_element_iterator_reads_the_given_map(iterators) -> None:
    import struct

    with iter_refusal("dump_elems"):
        elems = iterator(iterators, "dump_elems")
        squares = iterators.maps["squares"]
        for key in range(4):
            squares.update(struct.pack("<I", key), struct.pack("<Q", key * key))
        with elems.attach(squares) as link:
            assert link.info().details["map_id"] == squares.id
            assert link.lines() == ["0=0", "1=1", "2=4", "3=9"]
        with pytest.raises(AttachError):  # a map element iterator needs its map
            elems.attach()


def test_iterator_refusals_are_not_called_trampolines(iterators) -> None:
    for name, exc in iterators.program_errors.items():
        assert "trampoline" not in str(exc) and exc.feature == "bpf iterators" and exc.min_version is None, name


def test_attach_error_names_program_and_target(trace) -> None:
    _, progs = trace
    with pytest.raises(AttachError) as exc:
        progs["raw_getppid"].attach("no_such_tracepoint_bpfnb")
    assert exc.value.errno == errno.ENOENT
    assert "raw_getppid" in str(exc.value) and "no_such_tracepoint_bpfnb" in str(exc.value)
    with pytest.raises(KernelError, match="no tracepoint syscalls/sys_enter_nothing"):
        progs["tp_getppid"].attach("syscalls", "sys_enter_nothing")
