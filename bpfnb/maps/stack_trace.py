"""``BPF_MAP_TYPE_STACK_TRACE``: stack id → instruction pointers, without the zero tail."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..uapi import MapType
from .typed import TypedMap

if TYPE_CHECKING:
    from ..kernel.map import Map

__all__ = ["StackTraceMap"]


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
