"""``bpfnb progs`` / ``bpfnb maps`` as bpftool users read them: its text layout and its JSON keys.

The text is bpftool's: one line per object (``id: type  name N  tag T``)
and indented detail lines, no pandas, no NaN, under 100 columns.  The JSON
uses ``bpftool -j``'s keys (``bytes_key``, ``bytes_memlock``,
``gpl_compatible``, ``loaded_at`` in epoch seconds, ``map_ids``...), so a
script written against bpftool reads bpfnb's output unchanged.  Names come
from whoever loaded the object: control characters are escaped.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .text import printable

if TYPE_CHECKING:
    from ..kernel.system import Listing

__all__ = ["bpftool_json", "listing_text"]


def _program_json(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row["id"], "type": row["type"], "name": row["name"], "tag": row["tag"],
                           "gpl_compatible": bool(row["gpl"]), "loaded_at": int(row["loaded_at"].timestamp()),
                           "uid": row["uid"], "bytes_xlated": row["xlated_len"], "jited": bool(row["jited_len"]),
                           "bytes_jited": row["jited_len"]}
    if row.get("memlock") is not None:
        out["bytes_memlock"] = row["memlock"]
    if row["map_ids"]:
        out["map_ids"] = list(row["map_ids"])
    if row.get("btf_id"):
        out["btf_id"] = row["btf_id"]
    if row.get("run_cnt"):
        out.update(run_time_ns=row["run_time_ns"], run_cnt=row["run_cnt"])
    if row.get("verified_insns"):
        out["verified_insns"] = row["verified_insns"]
    if row.get("pinned"):
        out["pinned"] = list(row["pinned"])
    return out


def _map_json(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row["id"], "type": row["type"], "name": row["name"], "flags": row["flags"],
                           "bytes_key": row["key_size"], "bytes_value": row["value_size"],
                           "max_entries": row["max_entries"]}
    if row.get("memlock") is not None:
        out["bytes_memlock"] = row["memlock"]
    out["frozen"] = int(bool(row.get("frozen")))
    if row.get("btf_id"):
        out["btf_id"] = row["btf_id"]
    if row.get("pinned"):
        out["pinned"] = list(row["pinned"])
    return out


def bpftool_json(listing: Listing) -> list[dict[str, Any]]:
    """The rows with ``bpftool -j prog show`` / ``map show`` keys."""
    convert = _program_json if listing.kind == "programs" else _map_json
    return [convert(row) for row in listing]


def _loaded_at(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")


def _program_text(row: dict[str, Any]) -> list[str]:
    head = f"{row['id']}: {printable(row['type'])}  name {printable(row['name'])}  tag {row['tag']}"
    lines = [head + ("  gpl" if row["gpl"] else ""),
             f"\tloaded_at {_loaded_at(row['loaded_at'])}  uid {row['uid']}"]
    sizes = f"\txlated {row['xlated_len']}B  " + (f"jited {row['jited_len']}B" if row["jited_len"] else "not jited")
    if row.get("memlock") is not None:
        sizes += f"  memlock {row['memlock']}B"
    if row["map_ids"]:
        sizes += "  map_ids " + ",".join(str(i) for i in row["map_ids"])
    lines.append(sizes)
    extra = []
    if row.get("btf_id"):
        extra.append(f"btf_id {row['btf_id']}")
    if row.get("run_cnt"):
        extra.append(f"run_time_ns {row['run_time_ns']}  run_cnt {row['run_cnt']}")
    if extra:
        lines.append("\t" + "  ".join(extra))
    lines += [f"\tpinned {printable(p)}" for p in row.get("pinned") or ()]
    return lines


def _map_text(row: dict[str, Any]) -> list[str]:
    lines = [f"{row['id']}: {printable(row['type'])}  name {printable(row['name'])}  flags {row['flags']:#x}"]
    sizes = f"\tkey {row['key_size']}B  value {row['value_size']}B  max_entries {row['max_entries']}"
    if row.get("memlock") is not None:
        sizes += f"  memlock {row['memlock']}B"
    lines.append(sizes)
    extra = []
    if row.get("btf_id"):
        extra.append(f"btf_id {row['btf_id']}")
    if row.get("frozen"):
        extra.append("frozen")
    if extra:
        lines.append("\t" + "  ".join(extra))
    lines += [f"\tpinned {printable(p)}" for p in row.get("pinned") or ()]
    return lines


def listing_text(listing: Listing) -> str:
    """bpftool's text layout, one object after another."""
    render = _program_text if listing.kind == "programs" else _map_text
    return "\n".join(line.expandtabs(8) for row in listing for line in render(row))
