"""Every map and program of the running kernel, like ``bpftool map/prog show``.

Walks the kernel's id space (``BPF_*_GET_NEXT_ID``), opens each object by
id just long enough to ask for its info, and reads what the info struct
lacks (locked memory, frozen) from ``/proc/self/fdinfo`` as bpftool does.
Objects may vanish between "next id" and "open by id": those are skipped.
Pinned paths are found, when asked, by walking the bpffs mounts.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import KernelError
from .fd import Fd
from .info import map_info, obj_get_info_by_fd, prog_info
from .syscall import iter_ids, map_get_fd_by_id, map_get_next_id, obj_get, prog_get_fd_by_id, prog_get_next_id

__all__ = ["Listing", "bpffs_mounts", "maps", "pinned_paths", "programs"]

#: Stop walking bpffs after this many entries: a listing must stay quick.
MAX_PIN_WALK = 20_000

MAP_COLUMNS = [
    "id", "name", "type", "key_size", "value_size", "max_entries", "flags",
    "btf_id", "memlock", "frozen", "pinned",
]
PROG_COLUMNS = [
    "id", "name", "type", "tag", "loaded_at", "uid", "gpl", "xlated_len", "jited_len",
    "verified_insns", "map_ids", "btf_id", "memlock", "run_cnt", "run_time_ns", "pinned",
]


@dataclass(frozen=True)
class Listing:
    """A table of kernel objects: renders as HTML, converts to a DataFrame."""

    kind: str  # "maps" or "programs"
    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def ids(self) -> list[int]:
        return [r["id"] for r in self.rows]

    def to_dataframe(self):
        import pandas as pd

        from ..display.tidy import tidy

        df = tidy(pd.DataFrame(list(self.rows), columns=list(self.columns)), categorical=("type",))
        return df.set_index("id") if len(df) else df

    def __repr__(self) -> str:
        return f"<Listing {len(self.rows)} {self.kind}>"

    def _repr_html_(self) -> str:
        from ..display.html import live, table, wrap

        rows = ([live(c, _cell(r[c])) for c in self.columns] for r in self.rows)
        return wrap(f"{len(self.rows)} {self.kind} in the kernel", table(self.columns, rows, total=len(self.rows), what=self.kind))


def _cell(value: Any) -> Any:
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def _fdinfo(fd: Fd) -> dict[str, str]:
    """``/proc/self/fdinfo/N`` as a dict: memlock, frozen, prog_tag..."""
    out = {}
    try:
        with open(f"/proc/self/fdinfo/{fd.fileno()}") as f:
            for line in f:
                key, _, value = line.partition(":")
                out[key.strip()] = value.strip()
    except OSError:
        pass
    return out


def _each(next_id: Callable[[int], int | None], open_by_id: Callable[[int], Fd]) -> Iterator[tuple[int, Fd]]:
    for object_id in iter_ids(next_id):
        try:
            fd = open_by_id(object_id)
        except KernelError as exc:
            if exc.errno == errno.ENOENT:  # gone between next_id and open
                continue
            raise
        with fd:
            yield object_id, fd


def _type_name(value: Any) -> str:
    return value.name.lower() if hasattr(value, "name") else f"type {value}"


def maps(*, pinned: bool = False) -> Listing:
    """Every map in the kernel (needs CAP_SYS_ADMIN, like bpftool)."""
    pins = pinned_paths("map") if pinned else {}
    rows = []
    for map_id, fd in _each(map_get_next_id, map_get_fd_by_id):
        info = map_info(fd)
        extra = _fdinfo(fd)
        rows.append(
            {
                "id": info.id,
                "name": info.name,
                "type": _type_name(info.type),
                "key_size": info.key_size,
                "value_size": info.value_size,
                "max_entries": info.max_entries,
                "flags": info.map_flags,
                "btf_id": info.btf_id or None,
                "memlock": int(extra["memlock"]) if "memlock" in extra else None,
                "frozen": extra.get("frozen") == "1",
                "pinned": tuple(pins.get(info.id, ())),
            }
        )
    return Listing("maps", tuple(MAP_COLUMNS), tuple(rows))


def programs(*, pinned: bool = False) -> Listing:
    """Every program in the kernel (needs CAP_SYS_ADMIN, like bpftool)."""
    pins = pinned_paths("prog") if pinned else {}
    rows = []
    for prog_id, fd in _each(prog_get_next_id, prog_get_fd_by_id):
        info = prog_info(fd)
        extra = _fdinfo(fd)
        rows.append(
            {
                "id": info.id,
                "name": info.name,
                "type": _type_name(info.type),
                "tag": info.tag,
                "loaded_at": datetime.fromtimestamp(info.loaded_at, tz=timezone.utc),
                "uid": info.created_by_uid,
                "gpl": info.gpl_compatible,
                "xlated_len": info.xlated_prog_len,
                "jited_len": info.jited_prog_len,
                "verified_insns": info.verified_insns,
                "map_ids": info.map_ids,
                "btf_id": info.btf_id or None,
                "memlock": int(extra["memlock"]) if "memlock" in extra else None,
                "run_cnt": info.run_cnt,
                "run_time_ns": info.run_time_ns,
                "pinned": tuple(pins.get(info.id, ())),
            }
        )
    return Listing("programs", tuple(PROG_COLUMNS), tuple(rows))


def bpffs_mounts() -> list[str]:
    """Mount points of bpffs, from /proc/self/mounts."""
    out = []
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "bpf":
                    out.append(parts[1].replace("\\040", " "))
    except OSError:
        pass
    return out


def pinned_paths(kind: str) -> dict[int, list[str]]:
    """Object id -> pinned paths, for ``kind`` "map", "prog" or "link"."""
    found: dict[int, list[str]] = {}
    seen = 0
    for mount in bpffs_mounts():
        for root, dirs, files in os.walk(mount):
            dirs.sort()
            for name in sorted(files):
                seen += 1
                if seen > MAX_PIN_WALK:
                    return found
                path = os.path.join(root, name)
                try:
                    with obj_get(path, file_flags=_O_RDONLY_BPF) as fd:
                        info = obj_get_info_by_fd(fd)
                except (KernelError, OSError):
                    continue
                if _kind_of(info) == kind:
                    found.setdefault(info.id, []).append(path)
    return found


#: BPF_F_RDONLY: opening a pin to read its info must not need write access.
_O_RDONLY_BPF = 1 << 3


def _kind_of(info: Any) -> str:
    name = type(info).__name__
    return {"MapInfo": "map", "ProgInfo": "prog", "LinkInfo": "link", "BtfInfo": "btf"}.get(name, "")
