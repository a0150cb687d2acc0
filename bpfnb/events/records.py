"""What both event readers share: the record type, decoding, epoll, ``collect``.

A reader yields raw records (bytes) from kernel memory it has mapped; this
module turns them into Python values (``dict`` per record through the BTF
codec) or, for ``collect``, gathers the bytes of many records into one
buffer first and decodes them column by column with
:func:`bpfnb.btf.frames.frame_from_batch` — the per-record Python work
is only finding where each record starts, which the ring formats force.

Records may be shorter than the type (a program that submitted fewer
bytes) or longer (perf pads samples to 8 bytes): they are cut or
zero-padded to the type's size.
"""

from __future__ import annotations

import select
import time
from dataclasses import dataclass
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from ..btf.codec import Codec, RawCodec
from ..errors import BpfnbError

if TYPE_CHECKING:
    import pandas as pd

    from ..btf import Btf

__all__ = ["EventReader", "Record", "define_record", "record_codec"]

AnyCodec = Union[Codec, RawCodec]


def record_codec(record: Any, btf: Btf | None) -> AnyCodec | None:
    """``record`` (a codec, a BTF type id or name in ``btf``, or None for raw bytes) → codec."""
    if record is None:
        return None
    if isinstance(record, (Codec, RawCodec)):
        return record
    if btf is None:
        raise BpfnbError(f"record type {record!r} needs a BTF to be looked up in (btf=)")
    if isinstance(record, str) and not record.startswith(("struct ", "union ")):
        try:
            return Codec(btf, btf.find(record, "STRUCT").id)
        except Exception:
            pass
    if isinstance(record, str) and record.startswith(("struct ", "union ")):
        kind, name = record.split(" ", 1)
        return Codec(btf, btf.find(name, kind.upper()).id)
    return Codec(btf, record)


_SCALARS = {"u8": (1, False), "u16": (2, False), "u32": (4, False), "u64": (8, False),
            "s8": (1, True), "s16": (2, True), "s32": (4, True), "s64": (8, True), "char": (1, True)}


def define_record(name: str, **members: str) -> Codec:
    """A record type written in Python, for events whose C type is not in the object's BTF.

    clang emits BTF only for types reachable from globals and function
    signatures: a struct used just as ``bpf_ringbuf_reserve``'s result is
    often missing.  Members are C-like spellings — ``u8``..``u64``,
    ``s8``..``s64``, ``char`` and arrays of them (``char[16]``, ``u64[4]``)
    — laid out in order at their natural alignment, as the C compiler does::

        define_record("exec_event", pid="u32", ppid="u32", ts_ns="u64", comm="char[16]")
    """
    from ..btf import Array, Btf, Int, IntEncoding, Member, Struct
    from ..btf.writer import write_types

    types: list[Any] = []
    ids: dict[str, int] = {}

    def scalar(kind: str) -> int:
        if kind not in ids:
            size, signed = _SCALARS[kind]
            enc = IntEncoding.SIGNED if signed else IntEncoding.NONE
            cname = "char" if kind == "char" else f"__{kind}"
            ids[kind] = len(types) + 1
            types.append(Int(ids[kind], cname, size, enc, 0, 8 * size))
        return ids[kind]

    out, offset, align = [], 0, 1
    for mname, spelling in members.items():
        base, _, count = spelling.replace(" ", "").partition("[")
        if base not in _SCALARS:
            raise BpfnbError(f"record {name}.{mname}: unknown type {spelling!r} (use {', '.join(_SCALARS)})")
        elem = scalar(base)
        size = _SCALARS[base][0]
        tid = elem
        total = size
        if count:
            n = int(count.rstrip("]"))
            index = scalar("u32")
            tid = len(types) + 1
            types.append(Array(tid, "", elem, index, n))
            total = size * n
        offset = (offset + size - 1) // size * size
        align = max(align, size)
        out.append(Member(mname, tid, 8 * offset))
        offset += total
    sid = len(types) + 1
    types.append(Struct(sid, name, (offset + align - 1) // align * align, tuple(out)))
    return Codec(Btf.from_bytes(write_types(types), source=f"record {name}"), sid)


@dataclass
class Record:
    """One event: its bytes and, for perf buffers, the CPU it came from."""

    data: bytes
    cpu: int | None = None


class EventReader:
    """Base of :class:`RingBufReader` and :class:`PerfEventReader`.

    Subclasses map their rings in ``__post_init__``, register fds with
    ``self.epoll`` and implement ``_drain(limit)`` (non-blocking: every
    complete record now, at most ``limit``).
    """

    def __init__(self, codec: AnyCodec | None = None):
        self.codec = codec
        self.epoll: Any = None
        #: Samples the kernel dropped because the ring was full (perf reports these; ring buffers do not).
        self.lost = 0
        self.closed = False

    # -- to implement --------------------------------------------------------------------

    def _drain(self, limit: int | None) -> list[Record]:
        raise NotImplementedError

    def _close_rings(self) -> None:
        raise NotImplementedError

    # -- reading ----------------------------------------------------------------------------

    def read_raw(self, timeout: float | None = 0.0, limit: int | None = None) -> list[Record]:
        """Records available now; when none, wait up to ``timeout`` s (None: forever) for more."""
        if self.closed:
            raise BpfnbError("the reader is closed")
        out = self._drain(limit)
        if out or timeout == 0:
            return out
        self.epoll.poll(-1 if timeout is None else max(timeout, 0.0))
        return self._drain(limit)

    def poll(self, timeout: float | None = 0.0, limit: int | None = None) -> list[Any]:
        """Decoded records (dicts through the record type, or bytes without one)."""
        return [self.decode(r) for r in self.read_raw(timeout, limit)]

    def records(self, *, duration: float | None = None, max_records: int | None = None) -> Iterator[Any]:
        """Decoded records as they arrive, for ``duration`` seconds (None: until closed or
        ``max_records``) — for a loop that reacts to each event."""
        deadline = None if duration is None else time.monotonic() + duration
        seen = 0
        while not self.closed and (max_records is None or seen < max_records):
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            room = None if max_records is None else max_records - seen
            for rec in self.read_raw(0.5 if left is None else min(left, 0.5), room):
                seen += 1
                yield self.decode(rec)

    def decode(self, rec: Record) -> Any:
        if self.codec is None:
            return rec.data
        return self.codec.decode(_fit(rec.data, self.codec.size))

    def collect(self, *, duration: float = 1.0, max_records: int | None = None) -> pd.DataFrame:
        """Everything arriving within ``duration`` seconds, or until ``max_records`` came, as a frame.

        Columns are the record type's members (no prefix; a scalar record
        is ``value``), plus ``cpu`` for perf buffers (``perf_cpu`` when the record has a ``cpu``); raw records are one
        ``data`` column of bytes.
        """
        got: list[Record] = []
        deadline = time.monotonic() + duration
        while True:
            room = None if max_records is None else max_records - len(got)
            if room is not None and room <= 0:
                break
            left = deadline - time.monotonic()
            got += self.read_raw(max(left, 0.0), room)
            if left <= 0:
                break
        return self.to_frame(got)

    def to_frame(self, records: list[Record]) -> pd.DataFrame:
        """Decode records in bulk: one buffer, one ``frame_from_batch``."""
        import pandas as pd

        cpus = [r.cpu for r in records] if records and records[0].cpu is not None else None
        if self.codec is None:
            df = pd.DataFrame({"data": [r.data for r in records]})
        else:
            from ..btf.frames import frame_from_batch

            size = self.codec.size
            buf = b"".join(_fit(r.data, size) for r in records)
            df = frame_from_batch(b"", buf, RawCodec(0), self.codec, count=len(records))
            df = df.drop(columns=["key"]).rename(columns=lambda c: c[6:] if c.startswith("value.") else c)
        if cpus is not None:
            df.insert(0, "cpu" if "cpu" not in df.columns else "perf_cpu", np.asarray(cpus, dtype=np.int64))
        return df

    # -- lifetime ----------------------------------------------------------------------------

    def fileno(self) -> int:
        """The epoll fd: readable when any ring has data (for ``select``/asyncio)."""
        return self.epoll.fileno()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._close_rings()
        finally:
            if self.epoll is not None:
                self.epoll.close()

    def __enter__(self) -> EventReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _fit(data: bytes, size: int) -> bytes:
    if len(data) == size:
        return data
    return data[:size] if len(data) > size else data.ljust(size, b"\0")


def new_epoll() -> Any:
    return select.epoll()
