"""Whole-map reads and writes in as few syscalls as the kernel allows.

Reading: ``BPF_MAP_LOOKUP_BATCH`` fills caller buffers with many entries
per call.  The buffers here are two numpy arrays sized for every entry the
map can hold; each call writes straight into the next free slice of them,
so the bytes the kernel copies out are never copied again before numpy
decodes them (:func:`bpfnb.btf.frames.frame_from_batch`).  Map types
without batch operations (LPM tries, fd arrays, older kernels: the kernel
answers ``EINVAL``/``ENOTSUPP``) are walked with ``BPF_MAP_GET_NEXT_KEY``
and one lookup per key — still into the same two buffers, so decoding
stays one bulk step.  Which path a map type takes is remembered per type.

A hash map can change while it is read.  The batch cursor is a bucket, so
each entry is returned at most once; the walk can skip keys that are
deleted under it (their lookup says ``ENOENT``: dropped).  Buffers grow if
more entries turn up than ``max_entries`` promised (an LRU map briefly can).
"""

from __future__ import annotations

import errno as _errno
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import KernelError
from ..kernel.syscall import (
    map_delete_batch,
    map_delete_elem,
    map_get_next_key,
    map_lookup_and_delete_batch,
    map_lookup_batch,
    map_lookup_elem,
    map_update_batch,
    map_update_elem,
)

if TYPE_CHECKING:
    from ..kernel.map import Map

__all__ = ["Entries", "batch_supported", "delete_all", "delete_keys", "read_entries", "read_head", "write_entries"]

log = logging.getLogger(__name__)

#: errnos meaning "this map type has no batch operations".
_NO_BATCH = frozenset({_errno.EINVAL, _errno.EOPNOTSUPP, _errno.ENOTSUP, 524})
#: map type -> False once the kernel refused batch lookups for it.
_batch_ok: dict[int, bool] = {}
#: Entries per batch call when the map is big: bounds the kernel's temporary buffers.
CHUNK = 1 << 16
#: Buffers for a whole map are allocated at once up to this size, else grown as entries arrive.
PREALLOC_BYTES = 256 << 20


@dataclass
class Entries:
    """``count`` packed keys and values (``keys[:count]`` rows of ``key_size`` bytes).

    ``method`` says how they were read: ``"batch"`` or ``"iterate"``.
    """

    keys: np.ndarray
    values: np.ndarray
    count: int
    method: str

    def key_bytes(self) -> memoryview:
        return memoryview(self.keys[: self.count].reshape(-1))

    def value_bytes(self) -> memoryview:
        return memoryview(self.values[: self.count].reshape(-1))


def batch_supported(m: Map) -> bool | None:
    """What the kernel said about batch lookups for this map's type (None: not asked yet)."""
    return _batch_ok.get(int(m.map_type))


def _alloc(rows: int, width: int) -> np.ndarray:
    return np.empty((max(rows, 1), width), dtype=np.uint8)


def _grow(a: np.ndarray, rows: int) -> np.ndarray:
    bigger = _alloc(rows, a.shape[1])
    bigger[: len(a)] = a
    return bigger


def read_entries(m: Map, *, method: str = "auto", delete: bool = False) -> Entries:
    """Every entry of ``m`` (``method``: ``"auto"``, ``"batch"`` or ``"iterate"``).

    ``delete=True`` reads and removes (``BPF_MAP_LOOKUP_AND_DELETE_BATCH``,
    or delete-after-lookup on the walk).
    """
    if method not in ("auto", "batch", "iterate"):
        raise ValueError(f"method must be 'auto', 'batch' or 'iterate', not {method!r}")
    if method == "batch" or (method == "auto" and _batch_ok.get(int(m.map_type), True)):
        try:
            out = _read_batch(m, delete)
            _batch_ok[int(m.map_type)] = True
            return out
        except KernelError as exc:
            if exc.errno not in _NO_BATCH or method == "batch":
                raise
            log.debug("map %r: no batch lookups for %s (%s); walking keys", m.name, m.map_type, exc)
            _batch_ok[int(m.map_type)] = False
    return _read_iterate(m, delete)


def _initial_rows(m: Map) -> int:
    """Rows to allocate before the first call: the whole map when that is at most
    ``PREALLOC_BYTES`` (no regrowth), else one chunk, doubled as entries arrive —
    a nearly empty map with a huge ``max_entries`` must not cost gigabytes."""
    whole = max(m.max_entries, 1)
    if whole * (m.key_size + m.value_buffer_size) <= PREALLOC_BYTES:
        return whole
    return min(whole, CHUNK)


def _read_batch(m: Map, delete: bool) -> Entries:
    ks, vs = m.key_size, m.value_buffer_size
    keys = _alloc(_initial_rows(m), ks)
    values = _alloc(len(keys), vs)
    call = map_lookup_and_delete_batch if delete else map_lookup_batch
    filled, cursor = 0, None
    chunk = min(len(keys), CHUNK)
    need = 1  # the least room one call may get: grows when a hash bucket holds more (ENOSPC)
    while True:
        if len(keys) - filled < need:
            grown = max(2 * len(keys), filled + max(chunk, need))
            keys, values = _grow(keys, grown), _grow(values, grown)
        count = min(chunk, len(keys) - filled)
        kview = memoryview(keys[filled:].reshape(-1))
        vview = memoryview(values[filled:].reshape(-1))
        try:
            res = call(m.fd, ks, vs, count, cursor, keys=kview, values=vview)
        except KernelError as exc:
            if exc.errno == _errno.ENOSPC and count < 1 << 24:  # the next bucket does not fit in count
                need = chunk = 4 * count
                continue
            raise
        filled += res.count
        if res.next_batch is None:
            return Entries(keys, values, filled, "batch")
        cursor = res.next_batch


def read_head(m: Map, limit: int) -> Entries:
    """Up to ``limit`` entries (a preview): batch calls from the start until that many, or the first keys of a walk.

    A hash map's batch ends at a bucket boundary, so one call can return fewer
    entries than asked although more follow (19 of 20 when the next bucket
    holds two): the preview keeps going from the cursor until it has
    ``limit`` or the map ends.
    """
    ks, vs = m.key_size, m.value_buffer_size
    if _batch_ok.get(int(m.map_type), True):
        want = max(limit, 1)
        keys, values = _alloc(want, ks), _alloc(want, vs)
        filled, cursor = 0, None
        while filled < want:
            try:
                res = map_lookup_batch(m.fd, ks, vs, len(keys) - filled, cursor,
                                       keys=memoryview(keys[filled:].reshape(-1)),
                                       values=memoryview(values[filled:].reshape(-1)))
            except KernelError as exc:
                if exc.errno == _errno.ENOSPC and len(keys) < 1 << 20:
                    grown = filled + 4 * (len(keys) - filled)  # the next hash bucket holds more than the room left
                    keys, values = _grow(keys, grown), _grow(values, grown)
                    continue
                if exc.errno not in _NO_BATCH or filled:
                    raise
                _batch_ok[int(m.map_type)] = False
                return _read_iterate(m, False, limit)
            _batch_ok[int(m.map_type)] = True
            filled += res.count
            if res.next_batch is None:
                break
            cursor = res.next_batch
        return Entries(keys, values, min(filled, limit), "batch")
    return _read_iterate(m, False, limit)


def _read_iterate(m: Map, delete: bool, limit: int | None = None) -> Entries:
    ks, vs = m.key_size, m.value_buffer_size
    rows = max(min(m.max_entries, CHUNK), 1)
    keys, values = _alloc(rows, ks), _alloc(rows, vs)
    n = 0
    key = None
    walked: list[bytes] = []
    while (key := map_get_next_key(m.fd, key, ks)) is not None:
        walked.append(key)
        if limit is not None and len(walked) >= limit:
            break
    for key in walked:
        if n >= len(keys):
            keys, values = _grow(keys, 2 * len(keys)), _grow(values, 2 * len(values))
        got = map_lookup_elem(m.fd, key, vs, out=memoryview(values[n]).cast("B"))
        if got is None:
            continue  # deleted during the walk, or an empty fd-array slot
        keys[n] = np.frombuffer(key, dtype=np.uint8)
        n += 1
        if delete:
            map_delete_elem(m.fd, key)
    return Entries(keys, values, n, "iterate")


def write_entries(m: Map, keys: bytes, values: bytes, count: int, flags: int = 0) -> int:
    """Store ``count`` packed entries: one ``BPF_MAP_UPDATE_BATCH``, or one update each
    when the map type has no batch updates.  Returns how many were written."""
    if not count:
        return 0
    try:
        return map_update_batch(m.fd, keys, values, count, elem_flags=flags)
    except KernelError as exc:
        if exc.errno not in _NO_BATCH:
            raise
    ks, vs = m.key_size, m.value_buffer_size
    kv, vv = memoryview(keys).cast("B"), memoryview(values).cast("B")
    for i in range(count):  # no batch op for this type: the kernel needs one call per entry anyway
        map_update_elem(m.fd, kv[i * ks : (i + 1) * ks], vv[i * vs : (i + 1) * vs], flags)
    return count


def delete_keys(m: Map, keys: bytes, count: int) -> int:
    """Delete ``count`` packed keys (absent keys are an error of the batch; the
    per-key fallback skips them).  Returns how many were deleted."""
    if not count:
        return 0
    try:
        return map_delete_batch(m.fd, keys, count)
    except KernelError as exc:
        if exc.errno not in _NO_BATCH:
            raise
    ks = m.key_size
    kv = memoryview(keys).cast("B")
    return sum(map_delete_elem(m.fd, kv[i * ks : (i + 1) * ks]) for i in range(count))


def delete_all(m: Map) -> int:
    """Remove every entry: keys read in bulk, deleted in bulk."""
    entries = read_entries(m)
    if not entries.count:
        return 0
    return delete_keys(m, bytes(entries.key_bytes()), entries.count)
