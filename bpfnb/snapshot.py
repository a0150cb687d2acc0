"""BPF state as data: the system's programs, maps and links, and map contents, as Parquet tables.

bpftool answers "what is loaded here, now"; fleets ask "which hosts run
this tag", "which maps grew since yesterday".  A snapshot writes one
Parquet file per table, every row stamped with ``host`` and ``time``, so
snapshots of many hosts (or many times) are queried together by an
existing engine — DuckDB embedded (``duckdb.sql("select ... from
'snaps/*/programs.parquet'")``), Spark or Dask at scale — with no code of
ours in between::

    OUT/programs.parquet   id, name, type, tag, loaded_at, map_ids, run_cnt, ...
    OUT/maps.parquet       id, name, type, key_size, value_size, max_entries, ..., contents
    OUT/links.parquet      id, type, prog_id, and the attach fields of every link type
    OUT/map_contents/ID.parquet   one map's entries with BTF-typed columns (on request)

Map contents are named by map id, never by the map's name: names come from
whoever loaded the map and must not become paths.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BpfnbError, MapError

if TYPE_CHECKING:
    import pandas

__all__ = ["Snapshot", "snapshot"]

#: Maps with more entries than this are listed but their contents are not read.
MAX_CONTENT_ENTRIES = 1_000_000


@dataclass
class Snapshot:
    """One reading of the kernel's BPF state; ``write(out)`` stores it as Parquet."""

    host: str
    time: Any  # pandas.Timestamp, UTC
    programs: pandas.DataFrame
    maps: pandas.DataFrame
    links: pandas.DataFrame
    contents: dict[int, pandas.DataFrame] = field(default_factory=dict)

    def tables(self) -> dict[str, pandas.DataFrame]:
        return {"programs": self.programs, "maps": self.maps, "links": self.links}

    def write(self, out: str | os.PathLike[str]) -> Path:
        """Write the tables under ``out`` (created; existing files of a snapshot are replaced)."""
        from ._optional import require

        require("pyarrow")
        root = Path(out)
        root.mkdir(parents=True, exist_ok=True)
        for name, df in self.tables().items():
            df.to_parquet(root / f"{name}.parquet", index=False, schema=_schema(df))
        if self.contents:
            (root / "map_contents").mkdir(exist_ok=True)
            for map_id, df in self.contents.items():
                df.to_parquet(root / "map_contents" / f"{int(map_id)}.parquet", index=False)
        return root

    def __repr__(self) -> str:
        return (f"<Snapshot {self.host} {self.time}: {len(self.programs)} programs, {len(self.maps)} maps, "
                f"{len(self.links)} links, {len(self.contents)} map contents>")

    def _repr_html_(self) -> str:
        from .display.html import kv_table, wrap

        return wrap("BPF snapshot", kv_table([
            ("host", self.host), ("time", str(self.time)), ("programs", len(self.programs)),
            ("maps", len(self.maps)), ("links", len(self.links)), ("map contents", len(self.contents))]),
            text_fallback=repr(self))


#: Column types of the listing tables, so that an empty table (a host with nothing
#: loaded) has the same schema as a full one and snapshots of many hosts union.
_TYPES = {
    "id": "Int64", "name": "string", "type": "string", "tag": "string", "uid": "Int64", "gpl": "boolean",
    "xlated_len": "Int64", "jited_len": "Int64", "verified_insns": "Int64", "btf_id": "Int64", "memlock": "Int64",
    "run_cnt": "Int64", "run_time_ns": "Int64", "key_size": "Int64", "value_size": "Int64", "max_entries": "Int64",
    "flags": "Int64", "frozen": "boolean", "prog_id": "Int64", "loaded_at": "datetime64[ns, UTC]",
}
_LIST_COLUMNS = {"map_ids": "int64", "pinned": "string"}


def _stamped(df: pandas.DataFrame, host: str, time: Any) -> pandas.DataFrame:
    df = df.reset_index() if "id" not in df.columns and df.index.name == "id" else df.copy()
    df = df.astype({c: t for c, t in _TYPES.items() if c in df.columns})
    for column in _LIST_COLUMNS:  # tuples become lists, which Parquet stores as list columns
        if column in df.columns:
            df[column] = df[column].map(list)
    df.insert(0, "time", time)
    df.insert(0, "host", host)
    return df


def _schema(df: pandas.DataFrame) -> Any:
    """The pyarrow schema of a table, list columns typed even when every row is missing."""
    import pyarrow as pa

    schema = pa.Schema.from_pandas(df, preserve_index=False)
    for column, item in _LIST_COLUMNS.items():
        if column in df.columns:
            item_type = pa.type_for_alias(item)  # "int64", "string"
            schema = schema.set(schema.get_field_index(column), pa.field(column, pa.list_(item_type)))
    return schema


def _links_frame() -> pandas.DataFrame:
    import pandas as pd

    from .kernel.links import system_links

    rows = []
    for info in system_links():
        row = info.to_dict()
        row["type"] = info.type.name.lower() if hasattr(info.type, "name") else str(info.type)
        rows.append(row)
    columns = ["id", "type", "prog_id", *sorted({k for r in rows for k in r} - {"id", "type", "prog_id"})]
    return pd.DataFrame(rows, columns=columns).convert_dtypes().astype(
        {"id": "Int64", "type": "string", "prog_id": "Int64"})


def _wanted(maps: pandas.DataFrame, contents: bool | Iterable[int | str]) -> list[int]:
    if contents is True:
        return [int(i) for i in maps["id"]]
    if contents is False:
        return []
    chosen = {str(c) for c in contents}
    return [int(i) for i, n in zip(maps["id"], maps["name"]) if str(i) in chosen or n in chosen]


def _contents(map_id: int, host: str, time: Any) -> pandas.DataFrame:
    from .maps import open_map

    with open_map(id=map_id) as m:
        if m.max_entries > MAX_CONTENT_ENTRIES:
            raise MapError(f"map {map_id}: {m.max_entries:,} entries, over the {MAX_CONTENT_ENTRIES:,} read here")
        df = m.to_dataframe()
        df.insert(0, "map_name", m.name)
    df.insert(0, "map_id", map_id)
    df.insert(0, "time", time)
    df.insert(0, "host", host)
    return df


def snapshot(out: str | os.PathLike[str] | None = None, *, contents: bool | Iterable[int | str] = False,
             host: str | None = None, pinned: bool = False) -> Snapshot:
    """Read the system's BPF state (needs CAP_SYS_ADMIN, as ``bpftool prog show`` does).

    ``contents``: True reads every map's entries, or give map ids or names;
    a map that cannot be read (no keys, like ring buffers, or too large)
    says why in the ``contents`` column of the maps table. ``out`` writes
    the snapshot there too.
    """
    import pandas as pd

    from .kernel import system

    host = host or socket.gethostname()
    now = pd.Timestamp.now(tz="UTC")
    programs = _stamped(system.programs(pinned=pinned).to_dataframe(), host, now)
    maps = _stamped(system.maps(pinned=pinned).to_dataframe(), host, now)
    links = _stamped(_links_frame(), host, now)
    read: dict[int, pd.DataFrame] = {}
    status: dict[int, str] = {}
    for map_id in _wanted(maps, contents):
        try:
            read[map_id] = _contents(map_id, host, now)
            status[map_id] = f"map_contents/{map_id}.parquet"
        except (BpfnbError, OSError) as exc:  # a map gone meanwhile, keyless, or too big: say so
            status[map_id] = f"not read: {exc}"
    maps["contents"] = pd.array([status.get(int(i)) for i in maps["id"]], dtype="string")
    snap = Snapshot(host, now, programs, maps, links, read)
    if out is not None:
        snap.write(out)
    return snap
