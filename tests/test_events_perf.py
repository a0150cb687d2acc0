"""The perf event array reader against a real program.

The perf_events fixture calls ``bpf_perf_event_output`` on every execve
(``sys_enter`` raw tracepoint); the reader opens a ``PERF_COUNT_SW_BPF_OUTPUT``
event per online CPU, installs them in the map and must see the execve of
a ``/bin/true`` the test runs, with the CPU it ran on.
"""

from __future__ import annotations

import subprocess

import pytest
from helpers import fixture_path, poll_for_pid, run_true

import bpfnb
from bpfnb.errors import MapError
from bpfnb.events import PerfEventReader, online_cpus
from bpfnb.kernel import possible_cpus, raw_tracepoint_open
from bpfnb.maps import PerfEventArray, typed

pytestmark = pytest.mark.kernel


@pytest.fixture
def perf():
    # libbpf sizes a perf event array without max_entries to the CPU count; say it explicitly here
    loader = bpfnb.EbpfLoader().set_max_entries("samples", possible_cpus())
    with loader.load_file(fixture_path("perf_events")) as ebpf:
        link = raw_tracepoint_open("sys_enter", ebpf.programs["on_sys_enter"].fd)
        try:
            yield ebpf
        finally:
            link.close()


def test_samples_from_every_cpu_ring(perf):
    samples = typed(perf.maps["samples"], perf.btf.btf)
    assert isinstance(samples, PerfEventArray)
    with samples.reader("exec_sample") as reader:
        assert len(reader.rings) == len([c for c in online_cpus() if c < samples.max_entries])
        pid = run_true()
        mine = poll_for_pid(reader, pid)
        assert len(mine) == 1 and mine[0]["ts_ns"] > 0
        assert reader.lost == 0


def test_collect_has_the_cpu_column(perf):
    with PerfEventReader(perf.maps["samples"], "exec_sample", btf=perf.btf.btf, pages=2) as reader:
        pids = {run_true() for _ in range(3)}
        df = reader.collect(duration=0.5)
        assert list(df.columns) == ["cpu", "pid", "cpu_id", "ts_ns", "comm"]
        mine = df[df["pid"].isin(pids)]
        assert len(mine) == 3
        assert (mine["cpu"] == mine["cpu_id"]).all()  # the ring's CPU is the one the program ran on
    # closing removed the perf events from the map: the program's output now goes nowhere
    assert reader.closed and not reader.rings


def test_reader_checks_its_arguments(perf):
    with pytest.raises(MapError, match="not a perf event array"):
        PerfEventReader(perf.maps[".bss"])
    with pytest.raises(ValueError, match="power of two"):
        PerfEventReader(perf.maps["samples"], pages=3)


def test_full_rings_report_lost_samples(perf):
    # one data page per CPU holds ~80 samples: run more execs than that without reading
    with PerfEventReader(perf.maps["samples"], "exec_sample", btf=perf.btf.btf, pages=1) as reader:
        children = [subprocess.Popen(["/bin/true"]) for _ in range(300)]
        for child in children:
            child.wait()
        first = reader.collect(duration=0.2)
        assert 0 < len(first) < 300
        # the kernel writes PERF_RECORD_LOST once there is room again, before the next sample
        pids = {run_true() for _ in range(20)}
        later = reader.collect(duration=0.5)
        assert reader.lost > 0
        assert pids <= set(later["pid"])
