"""BPF ring buffer reader (``BPF_MAP_TYPE_RINGBUF``), over shared memory.

The kernel exposes a ring buffer map through ``mmap`` of its fd:

* page 0: the *consumer* page, writable by user space — ``consumer_pos``
  (u64) at offset 0, the byte position up to which records are consumed;
* page 1: the *producer* page, read-only — ``producer_pos`` (u64);
* from page 2: the data area of ``max_entries`` bytes (a power of two),
  mapped **twice** back to back, so a record that wraps around the end
  reads as one contiguous slice.

Each record starts with an 8-byte header: ``u32 len`` whose bit 31 says
the producer has reserved but not yet committed it (*busy*: stop reading
there) and bit 30 that it was discarded; then ``u32 pg_off`` (for the
kernel).  The payload follows; the next record starts at
``round_up(len + 8, 8)``.  Reading stops at ``producer_pos``; writing
``consumer_pos`` afterwards frees the space and (unless the program asked
for no wake-up) arms the next epoll notification.

On x86-64 stores are not reordered with other stores nor loads with other
loads, which is what the kernel's acquire/release pairs ask of us here.
"""

from __future__ import annotations

import mmap
import select
import struct
from typing import TYPE_CHECKING, Any

from ..errors import MapError
from ..uapi import MapType
from .records import EventReader, Record, new_epoll, record_codec

if TYPE_CHECKING:
    from ..btf import Btf

__all__ = ["RingBufReader"]

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
HEADER_SIZE = 8
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


class RingBufReader(EventReader):
    """Reads one ring buffer map; ``poll(timeout)`` → records, ``collect(duration=)`` → DataFrame.

    ``ring`` is a :class:`~bpfnb.maps.RingBuf`, a raw
    :class:`~bpfnb.kernel.maps.Map` or anything with ``fd`` and
    ``max_entries``; ``record`` the BTF type of the records (id, name or
    codec; ``btf`` to look it up in), or None for raw bytes.
    """

    def __init__(self, ring: Any, record: Any = None, *, btf: Btf | None = None):
        raw = getattr(ring, "raw", ring)
        if getattr(raw, "map_type", MapType.RINGBUF) != MapType.RINGBUF:
            raise MapError(f"map {getattr(raw, 'name', '?')!r} is not a ring buffer ({raw.map_type})")
        super().__init__(record_codec(record, btf))
        self.ring, self.record, self.btf = ring, record, btf
        self._consumer: mmap.mmap | None = None
        self._producer: mmap.mmap | None = None
        self.size = int(raw.max_entries)
        page = mmap.PAGESIZE
        fd = raw.fd.fileno()
        self._consumer = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        try:
            self._producer = mmap.mmap(fd, page + 2 * self.size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        except BaseException:
            self._consumer.close()
            raise
        self._data = memoryview(self._producer)[page:]
        self._mask = self.size - 1
        self.epoll = new_epoll()
        self.epoll.register(fd, select.EPOLLIN)

    @property
    def consumer_pos(self) -> int:
        return _U64.unpack_from(self._consumer, 0)[0]

    @property
    def producer_pos(self) -> int:
        return _U64.unpack_from(self._producer, 0)[0]

    def available(self) -> int:
        """Bytes written by producers and not yet consumed."""
        return self.producer_pos - self.consumer_pos

    def _drain(self, limit: int | None) -> list[Record]:
        out: list[Record] = []
        cons = self.consumer_pos
        prod = self.producer_pos
        data, mask = self._data, self._mask
        while cons < prod and (limit is None or len(out) < limit):
            at = cons & mask
            length = _U32.unpack_from(data, at)[0]
            if length & BUSY_BIT:
                break  # reserved, not yet committed: later records wait for it
            size = length & ~(BUSY_BIT | DISCARD_BIT)
            if not length & DISCARD_BIT:
                out.append(Record(bytes(data[at + HEADER_SIZE : at + HEADER_SIZE + size])))
            cons += (size + HEADER_SIZE + 7) & ~7
        _U64.pack_into(self._consumer, 0, cons)
        return out

    def _close_rings(self) -> None:
        self._data.release()  # the mmap cannot close while a view exports it
        for m in (self._producer, self._consumer):
            if m is not None:
                m.close()

    def __repr__(self) -> str:
        kind = self.codec.name if self.codec is not None else "raw bytes"
        state = " closed" if self.closed else ""
        return f"<RingBufReader {getattr(self.ring, 'name', '?')!r} {self.size} bytes records={kind}{state}>"
