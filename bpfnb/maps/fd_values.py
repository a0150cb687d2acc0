"""Maps whose values are fds: written with a program, a map or an fd number, read back as kernel ids.

Shared by :mod:`.prog_array` and :mod:`.of_maps`, as the kernel hands out
ids, never fds, when such a slot is read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ValueEncodingError
from .typed import Array, Layout, TypedMap

if TYPE_CHECKING:
    import pandas as pd

    from ..kernel.map import Map

__all__: list[str] = []


def _fd_of(value: Any) -> int:
    """A program/map object, an Fd, or a plain fd number → the number to write."""
    from ..kernel.fd import Fd

    target = getattr(value, "raw", value)  # a TypedMap
    fd = getattr(target, "fd", target)
    if isinstance(fd, Fd):
        return fd.fileno()
    if isinstance(fd, (int, np.integer)) and not isinstance(fd, bool):
        return int(fd)
    raise ValueEncodingError(f"needs a program, a map or an fd number, got {type(value).__name__}")


class _FdValues:
    """Values are written as fds and read back as kernel ids (``u32``)."""

    @classmethod
    def _default_codecs(cls, raw: Map) -> dict[str, Any]:
        from .codecs import u32_codec

        return {"default_key": u32_codec() if raw.key_size == 4 else None, "default_value": u32_codec()}

    def encode_value(self, value: Any) -> bytes:
        return _fd_of(value).to_bytes(4, "little")


class _FdArray(_FdValues, Array):
    """An array of fds (programs or maps): slots are set or cleared, never all present as in an array.

    The common base of :class:`~bpfnb.maps.ProgArray` and
    :class:`~bpfnb.maps.ArrayOfMaps`, so neither passes for the other.
    """

    #: What the id read back from a slot names.
    value_column = "id"

    def delete(self, key: Any) -> bool:
        return self.raw.delete(self.encode_key(key))

    def __contains__(self, key: Any) -> bool:
        return TypedMap.__contains__(self, key)

    def to_dataframe(self, layout: Layout = "long", *, method: str = "auto") -> pd.DataFrame:
        return super().to_dataframe(layout, method=method).rename(columns={"value": self.value_column})

    def __len__(self) -> int:
        return self.read().count
