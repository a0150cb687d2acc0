"""Maps as time series: read a map on an interval into one time-indexed DataFrame.

A counter map answers "how many so far"; the question is usually "how
many per second, and when did it change".  :func:`record` samples the
whole map (one batch read per sample), stamps each sample with its time,
and returns them stacked: one row per entry per sample, ``time`` first, so
``df.pivot_table(index="time", columns="key", values="value")`` or
``groupby("key").diff()`` give rates, and ``df.to_parquet(path)`` keeps it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

__all__ = ["Recorder", "record"]


class Recorder:
    """Samples of one map, kept until asked for as a DataFrame (MapView keeps one)."""

    def __init__(self, bpf_map: Any, *, layout: str = "long", max_samples: int | None = None):
        self.map = bpf_map
        self.layout = layout
        self.max_samples = max_samples
        self._samples: list[pandas.DataFrame] = []

    def sample(self, frame: pandas.DataFrame | None = None) -> pandas.DataFrame:
        """Read the map now (or take ``frame``, a reading already made) and keep it stamped."""
        import pandas as pd

        df = frame.copy() if frame is not None else self.map.to_dataframe(layout=self.layout)
        df.insert(0, "time", pd.Timestamp.now(tz="UTC"))
        self._samples.append(df)
        if self.max_samples is not None and len(self._samples) > self.max_samples:
            del self._samples[0]
        return df

    def __len__(self) -> int:
        return len(self._samples)

    def to_dataframe(self) -> pandas.DataFrame:
        """Every kept sample, stacked; ``time`` is a timezone-aware UTC timestamp."""
        import pandas as pd

        if not self._samples:
            columns = ["time", *self.map.to_dataframe(layout=self.layout).columns]
            return pd.DataFrame(columns=columns)
        return pd.concat(self._samples, ignore_index=True)


def record(bpf_map: Any, *, interval: float = 1.0, duration: float | None = None, samples: int | None = None,
           layout: str = "long", sleep: Callable[[float], None] = time.sleep) -> pandas.DataFrame:
    """Read ``bpf_map`` every ``interval`` seconds for ``duration`` seconds or ``samples`` readings.

    One of ``duration`` and ``samples`` is required: a recording is bounded.
    The first reading is taken at once; readings keep their schedule (a
    slow read shortens the next wait instead of drifting).
    """
    if duration is None and samples is None:
        raise ValueError("record() needs duration= or samples= (a recording must end)")
    if interval <= 0:
        raise ValueError(f"interval must be positive, not {interval!r}")
    count = samples if samples is not None else int(duration // interval) + 1  # type: ignore[operator]
    recorder = Recorder(bpf_map, layout=layout)
    start = time.monotonic()
    for i in range(count):
        if i:
            sleep(max(0.0, start + i * interval - time.monotonic()))
        recorder.sample()
    return recorder.to_dataframe()
