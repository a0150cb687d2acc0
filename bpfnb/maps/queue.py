"""``BPF_MAP_TYPE_QUEUE`` and ``BPF_MAP_TYPE_STACK``: maps without keys; ``push``/``pop``/``peek``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..btf.codec import RawCodec
from ..errors import MapError
from ..kernel.syscall import BPF_ANY, map_lookup_and_delete_elem, map_lookup_elem, map_update_elem
from ..uapi import MapType
from . import bulk
from .typed import Flags, Layout, TypedMap, update_flags

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Queue", "Stack"]


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
