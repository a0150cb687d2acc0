"""Live maps as Python objects and DataFrames.

:func:`typed` turns a raw :class:`~bpfnb.kernel.maps.Map` into the class
of its kind (:class:`HashMap`, :class:`Array`, :class:`PerCpuHash`,
:class:`LpmTrie`, :class:`Queue`, :class:`RingBuf`...), with keys and values
decoded through BTF; :func:`open_map` does the same for any map on the
system, by id or pin, decoding through the BTF the kernel kept for it::

    counts = bpfnb.maps.open_map(id=42)
    counts[{"pid": 1, "nr": 0}]            # one lookup, the key checked against its BTF type
    counts.to_dataframe()                   # batch lookups, BTF-typed columns

Map kinds without a class of their own get :class:`TypedMap`, which has
the whole mapping protocol and DataFrame conversion.  :func:`show` lists
every map of the running kernel, like ``bpftool map show``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..kernel.system import maps as show
from ..uapi import MapType
from .bulk import Entries, read_entries
from .codecs import MapCodecs, kernel_btf, resolve_codecs
from .histogram import Log2Histogram, log2_slot
from .record import Recorder, record
from .special import (
    ArrayOfMaps,
    BloomFilter,
    HashOfMaps,
    LpmTrie,
    PerfEventArray,
    ProgArray,
    Queue,
    RingBuf,
    Stack,
    StackTraceMap,
)
from .struct_ops import StructOpsMap
from .typed import Array, HashMap, LruHash, LruPerCpuHash, PerCpuArray, PerCpuHash, TypedMap, update_flags

if TYPE_CHECKING:
    from ..btf import Btf
    from ..kernel.maps import Map

__all__ = [
    "Array",
    "ArrayOfMaps",
    "BloomFilter",
    "Entries",
    "HashMap",
    "HashOfMaps",
    "Log2Histogram",
    "LpmTrie",
    "LruHash",
    "LruPerCpuHash",
    "MapCodecs",
    "PerCpuArray",
    "PerCpuHash",
    "PerfEventArray",
    "ProgArray",
    "Queue",
    "Recorder",
    "RingBuf",
    "Stack",
    "StackTraceMap",
    "StructOpsMap",
    "TypedMap",
    "class_for",
    "kernel_btf",
    "log2_slot",
    "open_map",
    "read_entries",
    "record",
    "resolve_codecs",
    "show",
    "typed",
    "update_flags",
]

_CLASSES: tuple[type[TypedMap], ...] = (
    HashMap, LruHash, PerCpuHash, LruPerCpuHash, Array, PerCpuArray, LpmTrie, Queue, Stack, BloomFilter,
    ProgArray, ArrayOfMaps, HashOfMaps, StackTraceMap, PerfEventArray, RingBuf, StructOpsMap,
)
_BY_TYPE: dict[int, type[TypedMap]] = {int(t): cls for cls in _CLASSES for t in cls.map_types}


def class_for(map_type: MapType | int) -> type[TypedMap]:
    """The typed class for a map type (:class:`TypedMap` for kinds without their own)."""
    return _BY_TYPE.get(int(map_type), TypedMap)


def typed(m: Map | TypedMap, btf: Btf | None = None, **kw: Any) -> TypedMap:
    """``m`` as the typed class of its kind; ``btf`` is the object's BTF (with
    ``m.spec``'s type ids), else the kernel's BTF for the map is used, else raw
    bytes.  ``key_type``/``value_type`` (id, name in ``btf``, or a codec)
    override.  The typed map takes over the raw map (closing one closes both).
    """
    if isinstance(m, TypedMap):
        if btf is None and not kw:
            return m
        m = m.raw
    return class_for(m.map_type)(m, btf, **kw)


def open_map(*, id: int | None = None, pin: str | os.PathLike[str] | None = None,
             btf: Btf | None = None, **kw: Any) -> TypedMap:
    """Any map on the system, typed: by ``id`` (``bpftool map show``) or ``pin`` path.

    Keys and values decode through the BTF the kernel keeps for the map
    (``btf_id``), unless ``btf`` + ``key_type``/``value_type`` say otherwise.
    """
    from ..kernel.maps import Map

    if (id is None) == (pin is None):
        raise TypeError("open_map needs exactly one of id= or pin=")
    raw = Map.from_id(id) if id is not None else Map.from_pin(pin)  # type: ignore[arg-type]
    try:
        return typed(raw, btf, **kw)
    except BaseException:
        raw.close()
        raise

