"""Maps of maps: ``BPF_MAP_TYPE_ARRAY_OF_MAPS`` and ``HASH_OF_MAPS``; ``inner(key)`` opens an inner map."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..uapi import MapType
from .fd_values import _FdArray, _FdValues
from .typed import HashMap, Layout, TypedMap

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ArrayOfMaps", "HashOfMaps"]


class ArrayOfMaps(_FdArray):
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
