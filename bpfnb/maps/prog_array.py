"""``BPF_MAP_TYPE_PROG_ARRAY``: tail-call targets, set with programs and read as program ids."""

from __future__ import annotations

from ..uapi import MapType
from .fd_values import _FdArray

__all__ = ["ProgArray"]


class ProgArray(_FdArray):
    """``BPF_MAP_TYPE_PROG_ARRAY``: tail-call targets; set with programs, read as program ids."""

    map_types = (MapType.PROG_ARRAY,)
    value_column = "prog_id"
