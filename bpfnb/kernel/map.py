"""The live map: one kernel map that owns its fd and speaks raw bytes.

Typed views per map family and DataFrames (:mod:`bpfnb.maps`) build on it;
creating maps from an object's specs is the maps stage's job
(:mod:`.map_from_spec`, :mod:`.maps_stage`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ..errors import MapError, ValueEncodingError
from ..obj.maps import MapSpec
from ..uapi import MapType
from .fd import Fd
from .info import MapInfo, map_info
from .owned import Pinnable
from .syscall import (
    BPF_ANY,
    map_delete_elem,
    map_freeze,
    map_get_fd_by_id,
    map_get_next_key,
    map_lookup_elem,
    map_update_elem,
    possible_cpus,
)

__all__ = ["Map"]

_PERCPU = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE})


def _type_label(map_type: Any) -> str:
    try:
        return MapType(int(map_type)).name.lower()
    except (ValueError, TypeError):
        return f"type {map_type}"


class Map(Pinnable):
    """One kernel map: owns its fd; keys and values are raw bytes.

    The shape (type, key and value size) is read from the kernel once at
    construction, because every lookup needs the value size to size its
    buffer; ``info()`` asks again for everything else.  Per-CPU maps return
    one 8-byte-aligned slot per *possible* CPU, concatenated.
    """

    def __init__(self, fd: Fd, *, spec: MapSpec | None = None, name: str | None = None,
                 pinned: str | None = None):
        if not isinstance(fd, Fd):
            raise TypeError(f"Map needs an owned Fd, got {fd!r} (use Map.from_fd for a plain number)")
        self.fd = fd
        self.spec = spec
        info = map_info(fd)
        self.name = name or (spec.name if spec is not None else info.name)
        self.kernel_name = info.name
        self.map_type = info.type
        self.key_size = info.key_size
        self.value_size = info.value_size
        self.max_entries = info.max_entries
        self.map_flags = info.map_flags
        #: Where this map is pinned (set by :meth:`pin`, or when created/reused by name).
        self.pinned = pinned

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def from_id(cls, map_id: int) -> Map:
        """Open the map with this id (``bpftool map show id N``)."""
        return cls._adopt(map_get_fd_by_id(map_id))

    @classmethod
    def from_pin(cls, path: str | os.PathLike[str]) -> Map:
        """Open the map pinned at ``path``; MapError when something else is pinned there."""
        return cls._open_pin(path)

    @classmethod
    def from_fd(cls, fd: Fd | int) -> Map:
        """Wrap an ``Fd`` (ownership passes to the Map) or a plain number (duplicated)."""
        if isinstance(fd, Fd):
            return cls._adopt(fd)
        import fcntl

        return cls._adopt(Fd(fcntl.fcntl(int(fd), fcntl.F_DUPFD_CLOEXEC, 3), "map"))

    _pin_kind = "map"

    @classmethod
    def _wrong_pin(cls, path: str, kind: str) -> MapError:
        return MapError(f"{path} holds a pinned {kind}, not a map")

    # -- state ------------------------------------------------------------------------------

    def info(self) -> MapInfo:
        """What the kernel says about the map now (id, flags, BTF ids...)."""
        return map_info(self.fd)

    @property
    def id(self) -> int:
        return self.info().id

    @property
    def is_per_cpu(self) -> bool:
        return self.map_type in _PERCPU

    @property
    def value_buffer_size(self) -> int:
        """Bytes a lookup returns: ``value_size``, or one aligned slot per possible CPU."""
        if self.is_per_cpu:
            return ((self.value_size + 7) & ~7) * possible_cpus()
        return self.value_size

    # -- raw operations ----------------------------------------------------------------------

    def _raw(self, data: Any, size: int, what: str) -> Any:
        """Check a raw key/value before the syscall: bytes-like and exactly ``size`` bytes."""
        if data is None and size == 0:
            return None  # queue/stack maps have no key
        try:
            n = memoryview(data).nbytes
        except TypeError:
            raise ValueEncodingError(
                f"map {self.name!r}: a raw {what} is {size} bytes (bytes, bytearray, numpy buffer), not "
                f"{type(data).__name__}; typed access: bpfnb.maps.typed(map)"
            ) from None
        if n != size:
            raise ValueEncodingError(f"map {self.name!r}: {what} is {n} bytes, the map's {what} size is {size}")
        return data

    def lookup(self, key: Any, flags: int = 0) -> bytes | None:
        """The value stored under ``key`` (bytes-like), or None when absent."""
        return map_lookup_elem(self.fd, self._raw(key, self.key_size, "key"), self.value_buffer_size, flags)

    def update(self, key: Any, value: Any, flags: int = BPF_ANY) -> None:
        """Store ``value`` under ``key`` (``BPF_ANY``/``BPF_NOEXIST``/``BPF_EXIST``)."""
        map_update_elem(self.fd, self._raw(key, self.key_size, "key"), self._raw(value, self.value_buffer_size, "value"), flags)

    def delete(self, key: Any) -> bool:
        """Remove ``key``; False when it was not there."""
        return map_delete_elem(self.fd, self._raw(key, self.key_size, "key"))

    def keys(self) -> Iterator[bytes]:
        """Every key, by BPF_MAP_GET_NEXT_KEY (a snapshot-free walk, as bpftool's)."""
        key: bytes | None = None
        while (key := map_get_next_key(self.fd, key, self.key_size)) is not None:
            yield key

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs; keys deleted during the walk are skipped."""
        for key in self.keys():
            value = self.lookup(key)
            if value is not None:
                yield key, value

    def freeze(self) -> None:
        """No more writes from user space (programs keep theirs unless RDONLY_PROG)."""
        map_freeze(self.fd)

    # -- pinning and lifetime -----------------------------------------------------------------

    def _not_pinned(self) -> MapError:
        return MapError(f"map {self.name!r} is not pinned (by this object)")

    # -- views ------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        state = " closed" if self.closed else (" pinned" if self.pinned else "")
        flags = f" flags={self.map_flags:#x}" if self.map_flags else ""
        return (f"<Map {self.name!r} {_type_label(self.map_type)} key={self.key_size}B value={self.value_size}B "
                f"max_entries={self.max_entries}{flags}{state}>")

    def _repr_html_(self) -> str:
        from ..display.kernel_maps import map_html

        return map_html(self)
