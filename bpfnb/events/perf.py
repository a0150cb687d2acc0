"""Perf event array reader (``BPF_MAP_TYPE_PERF_EVENT_ARRAY``): one perf ring per CPU.

``bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, data, size)`` writes
a sample into the perf buffer installed at the current CPU's index of the
map.  Installing one per online CPU is user space's job:

1. ``perf_event_open`` a software event ``PERF_COUNT_SW_BPF_OUTPUT`` on
   that CPU (any process), sampling ``PERF_SAMPLE_RAW``, waking up the
   reader after every sample;
2. ``mmap`` one metadata page plus ``2^n`` data pages of its fd;
3. store the perf fd in the map at the CPU's index; register it with epoll.

The metadata page (``struct perf_event_mmap_page``) holds ``data_head``
(bytes written, at offset 1024) and ``data_tail`` (bytes consumed, 1032,
written by us).  Records are ``struct perf_event_header { u32 type; u16
misc; u16 size; }`` followed by the body: a ``PERF_RECORD_SAMPLE`` (9)
with ``u32 size`` and the raw bytes (zero-padded by the kernel so the
record stays 8-byte aligned), or a ``PERF_RECORD_LOST`` (2) with ``u64 id,
u64 lost`` when the ring was full.  Unlike the BPF ring buffer the data
is mapped once, so a record at the end may wrap: it is stitched.
"""

from __future__ import annotations

import fcntl
import mmap
import platform
import select
import struct
from typing import TYPE_CHECKING, Any

from ..errors import KernelError, MapError, NotPrivileged
from ..kernel._ffi import ffi, lib
from ..kernel.fd import Fd
from ..kernel.privilege import is_privileged
from ..kernel.syscall import map_delete_elem, map_update_elem
from ..uapi import MapType
from .records import EventReader, Record, new_epoll, record_codec

if TYPE_CHECKING:
    from ..btf import Btf

__all__ = ["PerfEventReader", "online_cpus", "perf_event_open"]

PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_BPF_OUTPUT = 10
PERF_SAMPLE_RAW = 1 << 10
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_RECORD_LOST = 2
PERF_RECORD_SAMPLE = 9
#: ``sizeof(struct perf_event_attr)`` as of PERF_ATTR_SIZE_VER7; the kernel takes any size it knows up to.
ATTR_SIZE = 128
_DATA_HEAD, _DATA_TAIL = 1024, 1032
_NR_PERF_EVENT_OPEN = {"x86_64": 298, "amd64": 298, "aarch64": 241, "arm64": 241, "riscv64": 241,
                       "s390x": 331, "ppc64le": 319, "loongarch64": 241}
_U64 = struct.Struct("<Q")
_HEADER = struct.Struct("<IHH")


def online_cpus() -> list[int]:
    """CPUs that are online now (``/sys/devices/system/cpu/online``): perf events open only there."""
    with open("/sys/devices/system/cpu/online") as f:
        spec = f.read().strip()
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def _attr(config: int, sample_type: int, wakeup_events: int) -> Any:
    """A zeroed ``struct perf_event_attr`` with the fields a BPF output event needs."""
    buf = ffi.new("char[]", ATTR_SIZE)
    raw = ffi.buffer(buf)
    struct.pack_into("<IIQQQ", raw, 0, PERF_TYPE_SOFTWARE, ATTR_SIZE, config, 1, sample_type)  # period 1
    struct.pack_into("<I", raw, 48, wakeup_events)
    return buf


def perf_event_open(cpu: int, *, pid: int = -1, config: int = PERF_COUNT_SW_BPF_OUTPUT,
                    sample_type: int = PERF_SAMPLE_RAW, wakeup_events: int = 1) -> Fd:
    """perf_event_open(2) for a software event on ``cpu`` (every process when ``pid`` is -1)."""
    nr = _NR_PERF_EVENT_OPEN.get(platform.machine().lower())
    if nr is None:
        raise OSError(f"bpfnb does not know __NR_perf_event_open on {platform.machine()}")
    attr = _attr(config, sample_type, wakeup_events)
    result = lib.syscall(ffi.cast("long", nr), ffi.cast("void *", attr), ffi.cast("long", pid),
                         ffi.cast("long", cpu), ffi.cast("long", -1), ffi.cast("long", PERF_FLAG_FD_CLOEXEC))
    if result < 0:
        err = ffi.errno
        if err in (1, 13) and not is_privileged():
            raise NotPrivileged("perf_event_open", f"cpu {cpu}")
        raise KernelError(err, "perf_event_open", f"cpu {cpu}")
    return Fd(result, "perf_event")


class _CpuRing:
    """One CPU's perf event fd and its mapped ring."""

    def __init__(self, cpu: int, pages: int):
        self.cpu = cpu
        self.fd = perf_event_open(cpu)
        page = mmap.PAGESIZE
        self.size = pages * page
        try:
            self.mem = mmap.mmap(self.fd.fileno(), page + self.size, mmap.MAP_SHARED,
                                 mmap.PROT_READ | mmap.PROT_WRITE)
            fcntl.ioctl(self.fd.fileno(), PERF_EVENT_IOC_ENABLE, 0)
        except BaseException:
            self.fd.close()
            raise
        self.data = memoryview(self.mem)[page:]

    def drain(self, out: list[Record], limit: int | None) -> int:
        """Append samples to ``out``; returns the count of lost samples reported."""
        head = _U64.unpack_from(self.mem, _DATA_HEAD)[0]
        tail = _U64.unpack_from(self.mem, _DATA_TAIL)[0]
        lost = 0
        size, data = self.size, self.data
        while tail < head and (limit is None or len(out) < limit):
            at = tail % size
            if at + 8 <= size:
                rtype, _misc, rsize = _HEADER.unpack_from(data, at)
            else:
                rtype, _misc, rsize = _HEADER.unpack(self._read(at, 8))
            if rsize < 8:
                break  # never valid; do not spin
            body = self._read((at + 8) % size, rsize - 8)
            if rtype == PERF_RECORD_SAMPLE:
                n = struct.unpack_from("<I", body, 0)[0]
                out.append(Record(body[4 : 4 + n], self.cpu))
            elif rtype == PERF_RECORD_LOST:
                lost += struct.unpack_from("<QQ", body, 0)[1]
            tail += rsize
        _U64.pack_into(self.mem, _DATA_TAIL, tail)
        return lost

    def _read(self, at: int, n: int) -> bytes:
        end = at + n
        if end <= self.size:
            return bytes(self.data[at:end])
        return bytes(self.data[at:]) + bytes(self.data[: end - self.size])  # wrapped around the end

    def close(self) -> None:
        try:
            fcntl.ioctl(self.fd.fileno(), PERF_EVENT_IOC_DISABLE, 0)
        except OSError:
            pass
        self.data.release()
        self.mem.close()
        self.fd.close()


class PerfEventReader(EventReader):
    """Installs a perf ring per online CPU in a perf event array and reads them all.

    ``pages`` per CPU must be a power of two.  ``lost`` counts samples the
    kernel dropped (rings full).  Closing removes the CPUs' entries from the
    map again and closes the perf events.
    """

    def __init__(self, perf_map: Any, record: Any = None, *, btf: Btf | None = None, pages: int = 8,
                 cpus: list[int] | None = None):
        raw = getattr(perf_map, "raw", perf_map)
        if getattr(raw, "map_type", None) != MapType.PERF_EVENT_ARRAY:
            raise MapError(f"map {getattr(raw, 'name', '?')!r} is not a perf event array")
        if pages < 1 or pages & (pages - 1):
            raise ValueError(f"pages must be a power of two, got {pages}")
        super().__init__(record_codec(record, btf))
        self.map = perf_map
        self._raw = raw
        self.rings: list[_CpuRing] = []
        self.epoll = new_epoll()
        try:
            for cpu in cpus if cpus is not None else online_cpus():
                if cpu >= raw.max_entries:
                    continue  # the map has no slot for it: the program could not write there either
                ring = _CpuRing(cpu, pages)
                self.rings.append(ring)
                map_update_elem(raw.fd, cpu.to_bytes(4, "little"), ring.fd.fileno().to_bytes(4, "little"))
                self.epoll.register(ring.fd.fileno(), select.EPOLLIN)
        except BaseException:
            self.close()
            raise

    def _drain(self, limit: int | None) -> list[Record]:
        out: list[Record] = []
        for ring in self.rings:
            self.lost += ring.drain(out, limit)
        return out

    def _close_rings(self) -> None:
        for ring in self.rings:
            if not self._raw.closed:
                try:
                    map_delete_elem(self._raw.fd, ring.cpu.to_bytes(4, "little"))
                except KernelError:
                    pass
            ring.close()
        self.rings = []

    def __repr__(self) -> str:
        kind = self.codec.name if self.codec is not None else "raw bytes"
        return f"<PerfEventReader {getattr(self._raw, 'name', '?')!r} cpus={len(self.rings)} records={kind} lost={self.lost}>"


