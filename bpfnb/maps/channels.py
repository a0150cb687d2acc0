"""Event channels: ``BPF_MAP_TYPE_PERF_EVENT_ARRAY`` and ``RINGBUF`` hold no readable entries.

``reader()`` / ``collect()`` open the stream (:mod:`bpfnb.events`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MapError
from ..uapi import MapType
from .typed import Layout, TypedMap

if TYPE_CHECKING:
    import pandas as pd

    from ..kernel.map import Map

__all__ = ["PerfEventArray", "RingBuf"]


class PerfEventArray(TypedMap):
    """``BPF_MAP_TYPE_PERF_EVENT_ARRAY``: per-CPU perf buffers; ``reader()`` opens them."""

    map_types = (MapType.PERF_EVENT_ARRAY,)

    @classmethod
    def _default_codecs(cls, raw: Map) -> dict[str, Any]:
        from .codecs import u32_codec

        return {"default_key": u32_codec(), "default_value": u32_codec()}

    def reader(self, record: Any = None, *, btf: Any = None, **kw: Any) -> Any:
        """A :class:`~bpfnb.events.PerfEventReader` decoding samples as ``record`` (a BTF type id/name/codec)."""
        from ..events import PerfEventReader

        return PerfEventReader(self, record, btf=btf or self.btf, **kw)

    def collect(self, record: Any = None, *, duration: float = 1.0, max_records: int | None = None,
                btf: Any = None) -> pd.DataFrame:
        with self.reader(record, btf=btf) as r:
            return r.collect(duration=duration, max_records=max_records)

    def to_dataframe(self, layout: Layout = "long", *, method: str = "auto") -> pd.DataFrame:
        """Which CPUs have a perf event installed (the kernel shows no more)."""
        import pandas as pd

        return pd.DataFrame({"index": np.arange(self.max_entries, dtype=np.uint32)})


class RingBuf(TypedMap):
    """``BPF_MAP_TYPE_RINGBUF``: a byte ring shared with programs; ``reader()``/``collect()``."""

    map_types = (MapType.RINGBUF,)

    def reader(self, record: Any = None, *, btf: Any = None) -> Any:
        """A :class:`~bpfnb.events.RingBufReader` decoding records as ``record`` (BTF type id/name/codec)."""
        from ..events import RingBufReader

        return RingBufReader(self, record, btf=btf or self.btf)

    def collect(self, record: Any = None, *, duration: float = 1.0, max_records: int | None = None,
                btf: Any = None) -> pd.DataFrame:
        """Records arriving within ``duration`` seconds (or until ``max_records``), as a DataFrame."""
        with self.reader(record, btf=btf) as r:
            return r.collect(duration=duration, max_records=max_records)

    def to_dataframe(self, layout: Layout = "long", *, method: str = "auto", record: Any = None) -> pd.DataFrame:
        """The records waiting now (consumed), without blocking."""
        return self.collect(record, duration=0.0)

    def _refuse(self, *args: Any, **kw: Any) -> Any:
        raise MapError(f"ring buffer {self.name!r} has no entries to look up: use reader() or collect()")

    __getitem__ = __setitem__ = __delitem__ = get = __iter__ = read = items = clear = _refuse  # type: ignore
    update_from_dataframe = lookup_and_delete = _refuse  # type: ignore[assignment]

    def __len__(self) -> int:
        """Bytes waiting to be consumed."""
        with self.reader() as r:
            return r.available()
