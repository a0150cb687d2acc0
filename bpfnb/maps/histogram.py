"""Log2 histograms: the map shape of latency and size tools (bcc, libbpf-tools).

A program counts each value in slot ``floor(log2(value))`` of an array or
hash map (libbpf-tools' ``log2l``; slot 0 holds 0 and 1), and user space
prints the slots as ranges with a bar of stars.  :class:`Log2Histogram`
reads such a map (per-CPU slots summed) and renders it the same way as
text, as an HTML table with bars, as a DataFrame and, with matplotlib, as
a bar chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import MapError

if TYPE_CHECKING:
    import pandas

__all__ = ["Log2Histogram", "log2_slot"]

#: Slots a u64 value can fall in.
MAX_SLOTS = 64
_STARS = 40


def log2_slot(value: int) -> int:
    """The slot a program's ``log2l(value)`` gives: ``floor(log2(value))``, 0 for 0 and 1."""
    return max(int(value).bit_length() - 1, 0)


def _range(slot: int) -> tuple[int, int]:
    low, high = 1 << slot, (1 << (slot + 1)) - 1
    return (0 if slot == 0 else low), high


@dataclass(frozen=True)
class Log2Histogram:
    """``counts[i]``: how many values fell in slot ``i`` (``[2**i, 2**(i+1) - 1]``; slot 0 is ``0 -> 1``)."""

    counts: tuple[int, ...]
    unit: str = "value"
    title: str = ""

    @classmethod
    def from_counts(cls, counts: Mapping[int, int], *, unit: str = "value", title: str = "") -> Log2Histogram:
        """From ``{slot: count}``; slots outside 0..63 are a MapError."""
        bad = [s for s in counts if not 0 <= int(s) < MAX_SLOTS]
        if bad:
            raise MapError(f"log2 histogram {title or ''}: slot {bad[0]} outside 0..{MAX_SLOTS - 1}")
        top = max((int(s) for s, c in counts.items() if c), default=-1)
        return cls(tuple(int(counts.get(i, 0)) for i in range(top + 1)), unit, title)

    @classmethod
    def from_map(cls, bpf_map: Any, *, value: str | None = None, unit: str = "value") -> Log2Histogram:
        """Read a typed map of slot -> count (array or hash; per-CPU counts summed).

        ``value`` names the count's column when the value is a struct
        (``"value.count"``); a plain integer value needs none.
        """
        df = bpf_map.to_dataframe()
        name = getattr(bpf_map, "name", "map")
        key = next((c for c in ("index", "key") if c in df.columns), None)
        counts_column = value or ("value" if "value" in df.columns else None)
        if key is None or counts_column is None or counts_column not in df.columns:
            raise MapError(f"map {name!r}: a log2 histogram needs an integer key and an integer count "
                           f"(columns: {', '.join(map(str, df.columns))}; pass value='...')")
        if df[counts_column].dtype.kind not in "iu" or df[key].dtype.kind not in "iu":
            raise MapError(f"map {name!r}: {key!r} and {counts_column!r} must be integers for a log2 histogram")
        sums = df.groupby(key)[counts_column].sum()
        return cls.from_counts({int(k): int(v) for k, v in sums.items()}, unit=unit, title=name)

    @property
    def total(self) -> int:
        return sum(self.counts)

    def rows(self) -> list[tuple[int, int, int]]:
        """(low, high, count) per slot, from slot 0 to the last non-empty one."""
        return [(*_range(i), c) for i, c in enumerate(self.counts)]

    def __str__(self) -> str:
        """The text libbpf-tools and bcc print: ranges, counts and a bar of stars."""
        wide = len(self.counts) > 32
        width, label_width, indent = (20, 29, 15) if wide else (10, 19, 5)
        stars = _STARS // 2 if wide else _STARS
        peak = max(self.counts, default=0)
        lines = [f"{'':{indent}}{self.unit:<{label_width}} : count    distribution"]
        for low, high, count in self.rows():
            bar = "*" * (count * stars // peak) if peak else ""
            lines.append(f"{low:>{width}} -> {high:<{width}} : {count:<8} |{bar:<{stars}}|")
        return "\n".join(lines)

    def to_dataframe(self) -> pandas.DataFrame:
        from .._optional import require

        pd = require("pandas")
        rows = self.rows()
        df = pd.DataFrame(rows, columns=["low", "high", "count"])
        df.index = pd.Index([f"{lo} -> {hi}" for lo, hi, _ in rows], name=self.unit)
        return df

    def _repr_html_(self) -> str:
        from ..display.html import Raw, escape, table, wrap

        peak = max(self.counts, default=0) or 1
        cells = [(f"{low} -> {high}", count,
                  Raw(f'<span style="display:inline-block;height:0.8em;width:{200 * count // peak}px;'
                      f'background:var(--jp-brand-color1,#7aa6d6)"></span>'))
                 for low, high, count in self.rows()]
        title = f"log2 histogram {self.title}".strip()
        body = table((self.unit, "count", "distribution"), cells, max_rows=None)
        body += f'<div class="bpfnb-note">{self.total:,} values in {len(self.counts)} slots</div>'
        return wrap(title, body, text_fallback=str(self)) if self.counts else wrap(title, escape("empty"))

    def plot(self, ax: Any = None) -> Any:
        """A bar chart (matplotlib, from the ``notebook`` extra); returns the axes."""
        from .._optional import require

        require("matplotlib")
        ax = self.to_dataframe()["count"].plot.bar(ax=ax, width=0.9, color="#7aa6d6", rot=45)
        ax.set_xlabel(self.unit)
        ax.set_ylabel("count")
        ax.set_title(f"log2 histogram {self.title}".strip())
        return ax

    def __repr__(self) -> str:
        return f"<Log2Histogram {self.title or self.unit}: {self.total} values in {len(self.counts)} slots>"
