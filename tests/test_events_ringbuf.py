"""The ring buffer reader against a real program.

syscall_counter (``bpfnb/examples``) submits a ``struct exec_event`` to its
``events`` ring buffer on every execve; the test attaches it to the
``sys_enter`` raw tracepoint, runs ``/bin/true`` and must find the child's
pid among the records — decoded one by one (``poll``) and in bulk
(``collect``).  The record type is not in the object's BTF (clang emits
none for a struct only used through ``bpf_ringbuf_reserve``'s result), so
it is described with ``define_record``.
"""

from __future__ import annotations


import pytest

from helpers import poll_for_pid, run_true

import bpfnb
from bpfnb.errors import MapError
from bpfnb.events import RingBufReader, define_record
from bpfnb.kernel import raw_tracepoint_open
from bpfnb.maps import RingBuf, typed

pytestmark = pytest.mark.kernel

EXAMPLE = "bpfnb/examples/syscall_counter.bpf.o"
EXEC_EVENT = define_record("exec_event", pid="u32", ppid_unused="u32", ts_ns="u64", comm="char[16]")


@pytest.fixture
def counter():
    with bpfnb.EbpfLoader().load_file(EXAMPLE) as ebpf:
        link = raw_tracepoint_open("sys_enter", ebpf.programs["count_syscalls"].fd)
        try:
            yield ebpf
        finally:
            link.close()


def test_define_record_lays_out_like_c():
    assert EXEC_EVENT.size == 32 and EXEC_EVENT.name == "struct exec_event"
    odd = define_record("odd", a="u8", b="u64", c="u16")
    assert odd.size == 24 and odd.layout.by_name["b"].offset == 8
    with pytest.raises(bpfnb.BpfnbError):
        define_record("bad", a="float")


def test_poll_finds_our_execve(counter):
    events = typed(counter.maps["events"], counter.btf.btf)
    assert isinstance(events, RingBuf)
    with events.reader(EXEC_EVENT) as reader:
        pid = run_true()
        mine = poll_for_pid(reader, pid)
        assert len(mine) == 1
        assert mine[0]["ts_ns"] > 0 and mine[0]["comm"]  # the parent's comm: exec has not happened yet
        assert reader.available() >= 0


def test_collect_frame_and_raw_records(counter):
    ring = counter.maps["events"]
    with RingBufReader(ring, EXEC_EVENT) as reader:
        pids = [run_true() for _ in range(3)]
        df = reader.collect(duration=0.5, max_records=10_000)
        # bulk decoding: member columns, no prefix
        assert list(df.columns) == ["pid", "ppid_unused", "ts_ns", "comm"]
        assert set(pids) <= set(df["pid"])
        assert df["ts_ns"].dtype == "uint64" and df["comm"].map(len).gt(0).all()
        later = reader.collect(duration=0.0)  # non-blocking: whatever arrived since, same columns
        assert list(later.columns) == list(df.columns)
    with RingBufReader(ring) as raw:
        pid = run_true()
        records = raw.poll(timeout=2.0)
        assert all(isinstance(r, bytes) and len(r) == 32 for r in records)
        assert any(int.from_bytes(r[:4], "little") == pid for r in records)


def test_reader_refuses_other_maps(counter):
    with pytest.raises(MapError, match="not a ring buffer"):
        RingBufReader(counter.maps["syscalls"])
    with pytest.raises(MapError, match="reader"):
        typed(counter.maps["events"])[0]


def test_records_generator_stops_at_max_records(counter):
    with RingBufReader(counter.maps["events"], EXEC_EVENT) as reader:
        for _ in range(3):
            run_true()
        got = list(reader.records(duration=10, max_records=3))  # bounded by the count, not the time
        assert len(got) == 3 and all(r["pid"] > 0 and r["ts_ns"] > 0 and r["comm"] for r in got)
        assert list(reader.records(duration=0.0)) == []  # no time: nothing waited for
