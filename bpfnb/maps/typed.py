"""Typed live maps: Python values in, Python values out, DataFrames in bulk.

:class:`TypedMap` wraps a raw :class:`~bpfnb.kernel.maps.Map` (which keeps
owning the fd) with a key and a value codec (:mod:`bpfnb.maps.codecs`).
Every value is encoded — and so checked against its BTF type — *before*
the syscall: a wrong size or type raises
:class:`~bpfnb.errors.ValueEncodingError` naming the member, and the
kernel never sees half-right bytes.

The mapping protocol follows ``dict`` where the kernel's semantics allow:

* ``m[k]``, ``m.get(k)``, ``k in m`` — one lookup;
* ``m[k] = v`` (any), ``m.put(k, v, flags="noexist"|"exist"|"any")``;
* ``del m[k]`` (``KeyError`` when absent), ``m.pop(k)`` =
  ``lookup_and_delete``;
* ``iter(m)``/``m.keys()`` walk keys with ``BPF_MAP_GET_NEXT_KEY`` (live: the
  map may change meanwhile); ``m.items()``/``m.values()`` read a snapshot
  in bulk first;
* ``len(m)`` counts the entries *now*: a bulk read for hash maps (the
  kernel keeps no count user space can read), ``max_entries`` for arrays.

Per-CPU maps give a list with one value per possible CPU for ``m[k]``; a
write takes such a list, or one value that every CPU gets.
``to_dataframe()`` reads everything with batch lookups where the map type
has them (else a key walk into the same buffers) and decodes column by
column; ``update_from_dataframe(df)`` is the way back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Union

from ..btf.codec import Codec, RawCodec
from ..errors import MapError, ValueEncodingError
from ..kernel.syscall import BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, map_lookup_and_delete_elem
from ..uapi import MapType
from . import bulk
from .codecs import MapCodecs, resolve_codecs

if TYPE_CHECKING:
    import pandas as pd

    from ..btf import Btf
    from ..kernel.map import Map

__all__ = ["Array", "HashMap", "LruHash", "LruPerCpuHash", "PerCpuArray", "PerCpuHash", "TypedMap", "update_flags"]

Layout = Literal["long", "wide"]
Flags = Union[int, str]
_FLAG_NAMES = {"any": BPF_ANY, "noexist": BPF_NOEXIST, "exist": BPF_EXIST, "lock": BPF_F_LOCK}
_MISSING = object()


def update_flags(flags: Flags) -> int:
    """``"any"``/``"noexist"``/``"exist"`` (``|``-joined, e.g. ``"exist|lock"``) or an int → BPF_* flags."""
    if isinstance(flags, int):
        return flags
    out = 0
    for part in str(flags).lower().replace(" ", "").split("|"):
        if part not in _FLAG_NAMES:
            raise ValueError(f"unknown update flag {part!r} (use any, noexist, exist, lock)")
        out |= _FLAG_NAMES[part]
    return out


class TypedMap:
    """A live map seen through its key and value types; the generic fallback.

    Subclasses only change what a map kind does differently.  ``raw`` is
    the underlying :class:`~bpfnb.kernel.maps.Map`; closing the typed map
    closes it.
    """

    #: Map types this class is chosen for by :func:`bpfnb.maps.typed`.
    map_types: tuple[MapType, ...] = ()
    #: Name of the key column in frames (``"index"`` for arrays).
    key_column = "key"
    #: Arrays up to this many elements get a column per element in frames (longer: one list column).
    max_array_columns = 16

    def __init__(self, raw: Map, btf: Btf | None = None, *, codecs: MapCodecs | None = None,
                 key_type: Any = None, value_type: Any = None):
        self.raw = raw
        self._btf = btf
        self._codecs = codecs
        if codecs is None and (key_type is not None or value_type is not None):
            # Explicit types are checked now (a wrong name raises here, not at first use).
            self._codecs = resolve_codecs(raw, btf, key_type=key_type, value_type=value_type,
                                          **self._default_codecs(raw))

    @property
    def codecs(self) -> MapCodecs:
        """Key and value codecs, resolved at first use: a load makes a typed map of every map,
        and building codecs (a DATASEC's struct re-emitted as BTF...) cost a fifth of a load."""
        if self._codecs is None:
            self._codecs = resolve_codecs(self.raw, self._btf, **self._default_codecs(self.raw))
        return self._codecs

    @property
    def btf(self) -> Btf | None:
        """The BTF given (the object's), else the one the codecs came from: event readers
        look record types up here, since ring buffers have no key/value types."""
        return self._btf if self._btf is not None else self.codecs.btf

    @classmethod
    def _default_codecs(cls, raw: Map) -> dict[str, Any]:
        """What the map type implies about keys/values when there is no BTF."""
        return {}

    def __getattr__(self, name: str) -> Any:
        """Anything else is the raw map's (``spec``, ``pinned``, ``lookup``/``update`` on bytes...),
        so a typed map can stand in wherever a raw :class:`~bpfnb.kernel.maps.Map` was used."""
        if name in ("raw", "_btf", "_codecs") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.raw, name)

    # -- identity ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.raw.name

    @property
    def map_type(self) -> MapType | int:
        return self.raw.map_type

    @property
    def key_size(self) -> int:
        return self.raw.key_size

    @property
    def value_size(self) -> int:
        return self.raw.value_size

    @property
    def max_entries(self) -> int:
        return self.raw.max_entries

    @property
    def fd(self) -> Any:
        return self.raw.fd

    @property
    def key_codec(self) -> Codec | RawCodec:
        return self.codecs.key

    @property
    def value_codec(self) -> Codec | RawCodec:
        """One entry's value (one CPU's, for per-CPU maps)."""
        return self.codecs.value

    @property
    def is_per_cpu(self) -> bool:
        return self.raw.is_per_cpu

    @property
    def ncpus(self) -> int | None:
        return self.codecs.ncpus

    def info(self) -> Any:
        return self.raw.info()

    @property
    def id(self) -> int:
        return self.raw.id

    # -- encoding ------------------------------------------------------------------------

    def encode_key(self, key: Any) -> bytes:
        try:
            return self.codecs.key.encode(key)
        except ValueEncodingError as exc:
            raise ValueEncodingError(f"{type(self).__name__} {self.name!r}: key {key!r}: {exc}") from None

    def decode_key(self, data: bytes) -> Any:
        return self.codecs.key.decode(data)

    def encode_value(self, value: Any) -> bytes:
        """One entry's value bytes; per-CPU: a list per CPU, or one value for all."""
        codec = self.codecs.per_cpu
        if codec is None:
            return self.codecs.value.encode(value)
        if isinstance(value, (list, tuple)) and len(value) == codec.ncpus and not _is_value_list(self, value):
            return codec.encode(list(value))
        one = self.codecs.value.encode(value)
        pad = b"\0" * (codec.stride - len(one))
        return (one + pad) * codec.ncpus

    def decode_value(self, data: bytes) -> Any:
        codec = self.codecs.per_cpu
        return codec.decode(data) if codec is not None else self.codecs.value.decode(data)

    # -- single entries -------------------------------------------------------------------

    def lookup(self, key: Any, default: Any = None) -> Any:
        """The typed value under a typed ``key`` (``get``); ``.raw.lookup`` takes and returns bytes."""
        return self.get(key, default)

    def update(self, key: Any, value: Any, flags: Flags = "any") -> None:
        """``put``: typed key and value; ``.raw.update`` takes bytes."""
        self.put(key, value, flags)

    def get(self, key: Any, default: Any = None) -> Any:
        raw = self.raw.lookup(self.encode_key(key))
        return default if raw is None else self.decode_value(raw)

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: Any) -> bool:
        try:
            encoded = self.encode_key(key)
        except ValueEncodingError:
            return False
        return self.raw.lookup(encoded) is not None

    def put(self, key: Any, value: Any, flags: Flags = "any") -> None:
        """Store ``value`` under ``key``; ``flags`` ``"noexist"`` (create only) or ``"exist"`` (replace only).

        The kernel's refusal comes back as KernelError (``EEXIST``, ``ENOENT``,
        ``E2BIG`` when a hash map is full).
        """
        self.raw.update(self.encode_key(key), self.encode_value(value), update_flags(flags))

    def __setitem__(self, key: Any, value: Any) -> None:
        self.put(key, value)

    def delete(self, key: Any) -> bool:
        """Remove ``key``; False when it was not there."""
        return self.raw.delete(self.encode_key(key))

    def __delitem__(self, key: Any) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def lookup_and_delete(self, key: Any, default: Any = _MISSING) -> Any:
        """Read and remove in one syscall (hash maps since Linux 5.14)."""
        data = map_lookup_and_delete_elem(self.fd, self.encode_key(key), self.raw.value_buffer_size)
        if data is None:
            if default is _MISSING:
                raise KeyError(key)
            return default
        return self.decode_value(data)

    pop = lookup_and_delete

    def freeze(self) -> None:
        """No more writes from user space (``BPF_MAP_FREEZE``)."""
        self.raw.freeze()

    # -- walking ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Any]:
        for key in self.raw.keys():
            yield self.decode_key(key)

    def keys(self) -> Iterator[Any]:
        return iter(self)

    def items(self) -> Iterator[tuple[Any, Any]]:
        """(key, value) of a bulk snapshot (one batch read, then decoded pair by pair)."""
        e = self.read()
        ks, vs = self.key_size, self.raw.value_buffer_size
        kb, vb = e.key_bytes(), e.value_bytes()
        for i in range(e.count):
            yield self.decode_key(kb[i * ks : (i + 1) * ks]), self.decode_value(vb[i * vs : (i + 1) * vs])

    def values(self) -> Iterator[Any]:
        return (v for _, v in self.items())

    def __len__(self) -> int:
        """Entries now: a bulk read of the map (hash maps keep no count user space can see)."""
        return self.read().count

    def __bool__(self) -> bool:
        return True  # a map object is truthy even when empty (len() would read it)

    def clear(self) -> int:
        """Delete every entry (bulk read of the keys, bulk delete); returns how many."""
        return bulk.delete_all(self.raw)

    # -- bulk ------------------------------------------------------------------------------

    def read(self, *, method: str = "auto") -> bulk.Entries:
        """Every entry as packed bytes (``method``: auto, batch or iterate)."""
        return bulk.read_entries(self.raw, method=method)

    def frame_from_entries(self, entries: bulk.Entries, layout: Layout = "long") -> pd.DataFrame:
        """Decode packed entries into a frame (no syscalls)."""
        from ..btf.frames import frame_from_batch

        df = frame_from_batch(entries.key_bytes(), entries.value_bytes(), self.codecs.key, self.codecs.value,
                              per_cpu=self.ncpus, layout=layout, count=entries.count,
                              max_array_columns=self.max_array_columns)
        return self._rename_out(df)

    def to_dataframe(self, layout: Layout = "long", *, method: str = "auto") -> pd.DataFrame:
        """Every entry, one row each (per-CPU: one per entry and CPU in ``"long"``,
        ``<column>@cpu<k>`` columns in ``"wide"``); columns typed from BTF."""
        return self.frame_from_entries(self.read(method=method), layout)

    def update_from_dataframe(self, df: pd.DataFrame, *, flags: Flags = "any", layout: Layout = "long") -> int:
        """Write every row of a frame shaped like :meth:`to_dataframe`'s; one batch update."""
        from ..btf.frames import batch_from_frame

        keys, values = batch_from_frame(self._rename_in(df), self.codecs.key, self.codecs.value,
                                        per_cpu=self.ncpus, layout=layout)
        count = len(keys) // self.key_size if self.key_size else 0
        return bulk.write_entries(self.raw, keys, values, count, update_flags(flags))

    def delete_from_dataframe(self, df: pd.DataFrame) -> int:
        """Delete the keys in the frame's key columns (other columns are ignored); one batch delete."""
        from ..btf.frames import batch_from_frame

        frame = self._rename_in(df)
        key_cols = [c for c in frame.columns if str(c) == "key" or str(c).startswith(("key.", "key["))]
        keys, _ = batch_from_frame(frame[key_cols], self.codecs.key, RawCodec(0))
        count = len(keys) // self.key_size if self.key_size else 0
        return bulk.delete_keys(self.raw, keys, count)

    def _rename_out(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.key_column == "key":
            return df
        return df.rename(columns=lambda c: self.key_column + c[3:] if c == "key" or c.startswith(("key.", "key["))
                         else c)

    def _rename_in(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.key_column == "key":
            return df
        k = self.key_column
        return df.rename(columns=lambda c: "key" + c[len(k):] if c == k or str(c).startswith((k + ".", k + "["))
                         else c)

    # -- lifetime and views -----------------------------------------------------------------

    def pin(self, path: Any) -> None:
        self.raw.pin(path)

    def unpin(self) -> None:
        self.raw.unpin()

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> TypedMap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        label = self.map_type.name.lower() if isinstance(self.map_type, MapType) else f"type {self.map_type}"
        per = f"[{self.ncpus} CPUs]" if self.ncpus else ""
        state = " closed" if self.closed else ""
        return (f"<{type(self).__name__} {self.name!r} {label} {self.codecs.key.name}→{self.codecs.value.name}{per} "
                f"max_entries={self.max_entries}{state}>")

    def _repr_html_(self) -> str:
        from ..display.live_maps import typed_map_html

        return typed_map_html(self)


def _is_value_list(m: TypedMap, value: Sequence[Any]) -> bool:
    """True when a list given to a per-CPU map is one array value, not a value per CPU."""
    from ..btf.dtype import ArrayOf, CharArray

    layout = getattr(m.codecs.value, "layout", None)
    if not isinstance(layout, (ArrayOf, CharArray)):
        return False
    return not all(isinstance(v, (list, tuple, str, bytes)) for v in value)


# --- hash maps ---------------------------------------------------------------------------------


class HashMap(TypedMap):
    """``BPF_MAP_TYPE_HASH``: a dict in the kernel."""

    map_types = (MapType.HASH,)


class LruHash(HashMap):
    """``BPF_MAP_TYPE_LRU_HASH``: a hash map that evicts the least recently used entry when full."""

    map_types = (MapType.LRU_HASH,)


class PerCpuHash(HashMap):
    """``BPF_MAP_TYPE_PERCPU_HASH``: one value per possible CPU under each key."""

    map_types = (MapType.PERCPU_HASH,)

    def sum(self, key: Any) -> Any:
        """The per-CPU values of ``key`` added up (numbers, or dicts of numbers member by member)."""
        return _sum(self[key])


class LruPerCpuHash(PerCpuHash):
    """``BPF_MAP_TYPE_LRU_PERCPU_HASH``."""

    map_types = (MapType.LRU_PERCPU_HASH,)


def _sum(values: list[Any]) -> Any:
    first = values[0]
    if isinstance(first, dict):
        return {k: _sum([v[k] for v in values]) for k in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return sum(values)
    return first


# --- arrays ---------------------------------------------------------------------------------------


class Array(TypedMap):
    """``BPF_MAP_TYPE_ARRAY``: ``max_entries`` preallocated slots indexed by ``u32``.

    Every index always exists (zero-filled), so ``len`` is ``max_entries``,
    ``in`` is a bounds check and ``del`` is refused by the kernel: write a
    zero value instead.  Frames have an ``index`` column.
    """

    map_types = (MapType.ARRAY,)
    key_column = "index"

    @classmethod
    def _default_codecs(cls, raw: Map) -> dict[str, Any]:
        from .codecs import u32_codec

        return {"default_key": u32_codec()}

    def __len__(self) -> int:
        return self.max_entries

    def __contains__(self, key: Any) -> bool:
        try:
            return 0 <= int(key) < self.max_entries
        except (TypeError, ValueError):
            return False

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.max_entries))

    def delete(self, key: Any) -> bool:
        raise MapError(f"map {self.name!r}: array elements cannot be deleted (write a zero value instead)")

    def clear(self) -> int:
        """Zero every slot (one batch update)."""
        import numpy as np

        n = self.max_entries
        keys = np.arange(n, dtype="<u4").tobytes()
        values = bytes(self.raw.value_buffer_size * n)
        return bulk.write_entries(self.raw, keys, values, n)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return [self[i] for i in range(*key.indices(self.max_entries))]
        return super().__getitem__(key)


class PerCpuArray(Array):
    """``BPF_MAP_TYPE_PERCPU_ARRAY``: an array with one value per possible CPU per slot."""

    map_types = (MapType.PERCPU_ARRAY,)

    def sum(self, key: Any) -> Any:
        return _sum(self[key])

