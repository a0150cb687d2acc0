"""Event streams from programs: BPF ring buffers and perf event arrays.

Both readers map the kernel's rings into this process, wait with epoll,
and hand back records — raw bytes, dicts decoded through a BTF type, or
with ``collect(duration=..., max_records=...)`` one DataFrame decoded in
bulk::

    with RingBufReader(ebpf_maps["events"], "exec_event", btf=obj_btf) as r:
        df = r.collect(duration=2.0)

The typed map classes open them too: ``RingBuf.reader()``/``collect()``,
``PerfEventArray.reader()``/``collect()``.
"""

from __future__ import annotations

from .perf import PerfEventReader, online_cpus, perf_event_open
from .records import EventReader, Record, define_record, record_codec
from .ringbuf import RingBufReader

__all__ = ["EventReader", "PerfEventReader", "Record", "RingBufReader", "define_record", "online_cpus",
           "perf_event_open", "record_codec"]
