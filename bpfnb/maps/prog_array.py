"""``BPF_MAP_TYPE_PROG_ARRAY``: tail-call targets, set with programs and read as program ids."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..uapi import MapType
from .fd_values import _FdValues
from .typed import Array, Layout, TypedMap

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ProgArray"]


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
