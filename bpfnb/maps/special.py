"""Map kinds whose protocol is not a dict's.

* :class:`LpmTrie` — keys are (prefix length, address bytes); a lookup
  finds the longest matching prefix, so ``m.match(address)`` is the useful
  query.  Keys also accept ``ipaddress`` networks and addresses.
* :class:`Queue`, :class:`Stack` — no keys: ``push``/``pop``/``peek``.
* :class:`BloomFilter` — no keys, no reads: ``push`` and ``contains``
  (false positives possible, false negatives not).
* :class:`ProgArray`, :class:`ArrayOfMaps`, :class:`HashOfMaps` — written
  with fds (a :class:`~bpfnb.kernel.programs.Program`/map, or an fd
  number), read back as kernel *ids*, as the kernel hands them out.
* :class:`StackTraceMap` — ``u32`` stack id → instruction pointers.
* :class:`PerfEventArray`, :class:`RingBuf` — event channels: the map holds
  no readable entries; ``reader()`` / ``collect()`` open the stream
  (:mod:`bpfnb.events`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..btf.codec import RawCodec
from ..errors import MapError, ValueEncodingError
from ..kernel.syscall import BPF_ANY, map_lookup_and_delete_elem, map_lookup_elem, map_update_elem
from ..uapi import MapType
from . import bulk
from .typed import Array, Flags, HashMap, Layout, TypedMap, update_flags

if TYPE_CHECKING:
    import pandas as pd

    from ..kernel.map import Map

__all__ = ["ArrayOfMaps", "BloomFilter", "HashOfMaps", "LpmTrie", "PerfEventArray", "ProgArray", "Queue",
           "RingBuf", "Stack", "StackTraceMap"]


# --- LPM trie ----------------------------------------------------------------------------------


class LpmTrie(TypedMap):
    """``BPF_MAP_TYPE_LPM_TRIE``: longest-prefix-match on ``{u32 prefixlen; u8 data[]}`` keys.

    Keys may be given as ``ipaddress`` networks (``"10.0.0.0/8"`` strings
    too), ``(prefixlen, data_bytes)`` tuples, or whatever the key's BTF type
    takes.  Without BTF, keys decode as ``(prefixlen, bytes)``.
    """

    map_types = (MapType.LPM_TRIE,)

    @classmethod
    def _default_codecs(cls, raw: Map) -> dict[str, Any]:
        from .codecs import lpm_key_codec

        return {"default_key": lpm_key_codec(raw.key_size)} if raw.key_size > 4 else {}

    @property
    def data_size(self) -> int:
        return self.key_size - 4

    def encode_key(self, key: Any) -> bytes:
        if isinstance(key, str):
            key = ipaddress.ip_network(key, strict=False)
        if isinstance(key, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            key = ipaddress.ip_network(key)
        if isinstance(key, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            key = (key.prefixlen, key.network_address.packed)
        if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], (bytes, bytearray)):
            prefixlen, data = int(key[0]), bytes(key[1])
            if len(data) > self.data_size:
                raise ValueEncodingError(f"{len(data)} address bytes for a {self.data_size}-byte trie key",
                                         path=self.name)
            if not 0 <= prefixlen <= 8 * self.data_size:
                raise ValueEncodingError(f"prefix length {prefixlen} outside 0..{8 * self.data_size}", path=self.name)
            return prefixlen.to_bytes(4, "little") + data.ljust(self.data_size, b"\0")
        return super().encode_key(key)

    def decode_key(self, data: bytes) -> Any:
        if isinstance(self.codecs.key, RawCodec) or self.codecs.source == "map type":
            raw = bytes(data)
            return int.from_bytes(raw[:4], "little"), raw[4:]
        return super().decode_key(data)

    def match(self, address: Any, default: Any = None) -> Any:
        """The value of the longest prefix containing ``address`` (a full-length lookup)."""
        if isinstance(address, str):
            address = ipaddress.ip_address(address)
        if isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            address = address.packed
        return self.get((8 * self.data_size, bytes(address)), default)


# --- keyless maps ------------------------------------------------------------------------------


class Queue(TypedMap):
    """``BPF_MAP_TYPE_QUEUE``: first in, first out."""

    map_types = (MapType.QUEUE,)

    def push(self, value: Any, flags: Flags = "any") -> None:
        """Append; ``flags="exist"`` overwrites the oldest value when full (``BPF_EXIST``)."""
        map_update_elem(self.fd, None, self.encode_value(value), update_flags(flags))

    def pop(self, default: Any = None) -> Any:  # type: ignore[override]
        """Remove and return the next value; ``default`` when empty."""
        data = map_lookup_and_delete_elem(self.fd, None, self.value_size)
        return default if data is None else self.decode_value(data)

    def peek(self, default: Any = None) -> Any:
        """The next value without removing it."""
        data = map_lookup_elem(self.fd, None, self.value_size)
        return default if data is None else self.decode_value(data)

    def _drain(self) -> np.ndarray:
        rows = []
        while (data := map_lookup_and_delete_elem(self.fd, None, self.value_size)) is not None:
            rows.append(data)
        return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), self.value_size)

    def read(self, *, method: str = "auto", drain: bool = False) -> bulk.Entries:  # type: ignore[override]
        """Every value in pop order.  A queue cannot be read in place: values are
        popped and (unless ``drain``) pushed back in the same order — not atomic
        against programs using the map meanwhile."""
        values = self._drain()
        if not drain:
            self._restore(values)
        keys = np.zeros((len(values), 0), dtype=np.uint8)
        return bulk.Entries(keys, values, len(values), "pop")

    def _restore(self, values: np.ndarray) -> None:
        for row in values:
            map_update_elem(self.fd, None, row.tobytes(), BPF_ANY)

    def frame_from_entries(self, entries: bulk.Entries, layout: Layout = "long") -> pd.DataFrame:
        from ..btf.frames import frame_from_batch

        df = frame_from_batch(b"", entries.value_bytes(), RawCodec(0), self.codecs.value, count=entries.count)
        df = df.drop(columns=[c for c in df.columns if c == "key"])
        df.insert(0, "position", np.arange(entries.count))
        return df

    def to_dataframe(self, layout: Layout = "long", *, method: str = "auto", drain: bool = False) -> pd.DataFrame:
        return self.frame_from_entries(self.read(drain=drain))

    def update_from_dataframe(self, df: pd.DataFrame, *, flags: Flags = "any", layout: Layout = "long") -> int:
        """Push every row's value columns, in row order."""
        from ..btf.frames import batch_from_frame

        frame = df.drop(columns=[c for c in df.columns if c == "position"]).copy()
        frame.insert(0, "key", np.zeros(len(frame), dtype=np.uint8))
        _, values = batch_from_frame(frame, _byte_key(), self.codecs.value)
        vs = self.value_size
        for i in range(len(frame)):
            map_update_elem(self.fd, None, values[i * vs : (i + 1) * vs], update_flags(flags))
        return len(frame)

    def __iter__(self) -> Iterator[Any]:
        e = self.read()
        vs = self.value_size
        vb = e.value_bytes()
        return iter([self.decode_value(vb[i * vs : (i + 1) * vs]) for i in range(e.count)])

    def __len__(self) -> int:
        return self.read().count

    def __contains__(self, value: Any) -> bool:
        return any(v == value for v in self)

    def _keyless(self, *args: Any, **kw: Any) -> Any:
        raise MapError(f"{type(self).__name__.lower()} {self.name!r} has no keys: use push/pop/peek")

    __getitem__ = __setitem__ = __delitem__ = get = put = delete = lookup_and_delete = items = keys = _keyless  # type: ignore

    def clear(self) -> int:
        return len(self._drain())


def _byte_key() -> Any:
    """A one-byte dummy key codec so a value-only frame can go through ``batch_from_frame``."""
    from ..btf.codec import Codec
    from .codecs import _base_btf

    return Codec(_base_btf(), 3)


class Stack(Queue):
    """``BPF_MAP_TYPE_STACK``: last in, first out (``pop`` gives the newest)."""

    map_types = (MapType.STACK,)

    def _restore(self, values: np.ndarray) -> None:
        for row in values[::-1]:  # popped newest first: push the oldest back first
            map_update_elem(self.fd, None, row.tobytes(), BPF_ANY)


class BloomFilter(TypedMap):
    """``BPF_MAP_TYPE_BLOOM_FILTER``: ``push`` values, ask ``contains`` (``in``).

    ``contains`` may say True for a value never pushed (a false positive, at
    a rate set by ``map_extra`` hash functions and ``max_entries``), never
    False for one that was.  Nothing can be listed or removed.
    """

    map_types = (MapType.BLOOM_FILTER,)

    def push(self, value: Any) -> None:
        map_update_elem(self.fd, None, self.encode_value(value), BPF_ANY)

    def contains(self, value: Any) -> bool:
        probe = bytearray(self.encode_value(value))  # the kernel reads the value to test from here
        return map_lookup_elem(self.fd, None, self.value_size, out=probe) is not None

    __contains__ = contains

    def _refuse(self, *args: Any, **kw: Any) -> Any:
        raise MapError(f"bloom filter {self.name!r}: values can only be pushed and tested (push/contains), "
                       "not listed, read or removed")

    __getitem__ = __setitem__ = __delitem__ = get = __iter__ = __len__ = read = clear = _refuse  # type: ignore
    to_dataframe = lookup_and_delete = items = _refuse  # type: ignore[assignment]

    def update_from_dataframe(self, df: pd.DataFrame, **kw: Any) -> int:  # type: ignore[override]
        """Push the ``value`` columns of every row."""
        from ..btf.frames import batch_from_frame

        frame = df.copy()
        frame.insert(0, "key", np.zeros(len(frame), dtype=np.uint8))
        _, values = batch_from_frame(frame, _byte_key(), self.codecs.value)
        vs = self.value_size
        for i in range(len(frame)):
            map_update_elem(self.fd, None, values[i * vs : (i + 1) * vs], BPF_ANY)
        return len(frame)


# --- fd arrays and maps of maps ---------------------------------------------------------------


def _fd_of(value: Any) -> int:
    """A program/map object, an Fd, or a plain fd number → the number to write."""
    from ..kernel.fd import Fd

    target = getattr(value, "raw", value)  # a TypedMap
    fd = getattr(target, "fd", target)
    if isinstance(fd, Fd):
        return fd.fileno()
    if isinstance(fd, (int, np.integer)) and not isinstance(fd, bool):
        return int(fd)
    raise ValueEncodingError(f"needs a program, a map or an fd number, got {type(value).__name__}")


class _FdValues:
    """Values are written as fds and read back as kernel ids (``u32``)."""

    @classmethod
    def _default_codecs(cls, raw: Map) -> dict[str, Any]:
        from .codecs import u32_codec

        return {"default_key": u32_codec() if raw.key_size == 4 else None, "default_value": u32_codec()}

    def encode_value(self, value: Any) -> bytes:
        return _fd_of(value).to_bytes(4, "little")


class ProgArray(_FdValues, Array):
    """``BPF_MAP_TYPE_PROG_ARRAY``: tail-call targets; set with programs, read as program ids."""

    map_types = (MapType.PROG_ARRAY,)
    value_column = "prog_id"

    def delete(self, key: Any) -> bool:
        return self.raw.delete(self.encode_key(key))

    def __contains__(self, key: Any) -> bool:
        return TypedMap.__contains__(self, key)

    def to_dataframe(self, layout: Layout = "long", *, method: str = "auto") -> pd.DataFrame:
        return super().to_dataframe(layout, method=method).rename(columns={"value": self.value_column})

    def __len__(self) -> int:
        return self.read().count


class ArrayOfMaps(ProgArray):
    """``BPF_MAP_TYPE_ARRAY_OF_MAPS``: set slots with maps, read inner map ids; ``inner(i)`` opens one."""

    map_types = (MapType.ARRAY_OF_MAPS,)
    value_column = "map_id"

    def inner(self, key: Any) -> TypedMap:
        """The inner map under ``key``, opened by id and typed through its kernel BTF."""
        from . import open as open_map

        return open_map(id=self[key])


class HashOfMaps(_FdValues, HashMap):
    """``BPF_MAP_TYPE_HASH_OF_MAPS``."""

    map_types = (MapType.HASH_OF_MAPS,)

    def inner(self, key: Any) -> TypedMap:
        from . import open as open_map

        return open_map(id=self[key])

    def to_dataframe(self, layout: Layout = "long", *, method: str = "auto") -> pd.DataFrame:
        return super().to_dataframe(layout, method=method).rename(columns={"value": "map_id"})


class StackTraceMap(TypedMap):
    """``BPF_MAP_TYPE_STACK_TRACE``: stack id → up to ``value_size / 8`` addresses.

    ``m[stack_id]`` gives the addresses without the zero tail.
    """

    map_types = (MapType.STACK_TRACE,)
    max_array_columns = 0  # one column of address lists, however deep the stacks

    @classmethod
    def _default_codecs(cls, raw: Map) -> dict[str, Any]:
        from .codecs import u32_codec, u64_array_codec

        return {"default_key": u32_codec(), "default_value": u64_array_codec(max(raw.value_size // 8, 1))}

    def get(self, key: Any, default: Any = None) -> Any:
        value = super().get(key, default)
        if isinstance(value, list):
            while value and value[-1] == 0:
                value.pop()
        return value


# --- event channels ---------------------------------------------------------------------------


class PerfEventArray(TypedMap):
    """``BPF_MAP_TYPE_PERF_EVENT_ARRAY``: per-CPU perf buffers; ``reader()`` opens them."""

    map_types = (MapType.PERF_EVENT_ARRAY,)

    @classmethod
    def _default_codecs(cls, raw: Map) -> dict[str, Any]:
        from .codecs import u32_codec

        return {"default_key": u32_codec(), "default_value": u32_codec()}

    def reader(self, record: Any = None, *, btf: Any = None, **kw: Any) -> Any:
        """A :class:`~bpfnb.events.PerfEventReader` decoding samples as ``record`` (a BTF type id/name/codec)."""
        from ..events import PerfEventReader

        return PerfEventReader(self, record, btf=btf or self.btf, **kw)

    def collect(self, record: Any = None, *, duration: float = 1.0, max_records: int | None = None,
                btf: Any = None) -> pd.DataFrame:
        with self.reader(record, btf=btf) as r:
            return r.collect(duration=duration, max_records=max_records)

    def to_dataframe(self, layout: Layout = "long", *, method: str = "auto") -> pd.DataFrame:
        """Which CPUs have a perf event installed (the kernel shows no more)."""
        import pandas as pd

        return pd.DataFrame({"index": np.arange(self.max_entries, dtype=np.uint32)})


class RingBuf(TypedMap):
    """``BPF_MAP_TYPE_RINGBUF``: a byte ring shared with programs; ``reader()``/``collect()``."""

    map_types = (MapType.RINGBUF,)

    def reader(self, record: Any = None, *, btf: Any = None) -> Any:
        """A :class:`~bpfnb.events.RingBufReader` decoding records as ``record`` (BTF type id/name/codec)."""
        from ..events import RingBufReader

        return RingBufReader(self, record, btf=btf or self.btf)

    def collect(self, record: Any = None, *, duration: float = 1.0, max_records: int | None = None,
                btf: Any = None) -> pd.DataFrame:
        """Records arriving within ``duration`` seconds (or until ``max_records``), as a DataFrame."""
        with self.reader(record, btf=btf) as r:
            return r.collect(duration=duration, max_records=max_records)

    def to_dataframe(self, layout: Layout = "long", *, method: str = "auto", record: Any = None) -> pd.DataFrame:
        """The records waiting now (consumed), without blocking."""
        return self.collect(record, duration=0.0)

    def _refuse(self, *args: Any, **kw: Any) -> Any:
        raise MapError(f"ring buffer {self.name!r} has no entries to look up: use reader() or collect()")

    __getitem__ = __setitem__ = __delitem__ = get = __iter__ = read = items = clear = _refuse  # type: ignore
    update_from_dataframe = lookup_and_delete = _refuse  # type: ignore[assignment]

    def __len__(self) -> int:
        """Bytes waiting to be consumed."""
        with self.reader() as r:
            return r.available()
