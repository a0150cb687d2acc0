"""``BPF_MAP_TYPE_BLOOM_FILTER``: ``push`` and ``contains`` (false positives possible, false negatives not)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MapError
from ..kernel.syscall import BPF_ANY, map_lookup_elem, map_update_elem
from ..uapi import MapType
from .queue import _byte_key
from .typed import TypedMap

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BloomFilter"]


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
