"""How much memory a map created now could take: the machine's, or this process's memory cgroup's.

Since 5.11 the kernel charges BPF map memory to the creating process's
memory cgroup, so inside a container ``MemAvailable`` (the whole machine's)
says nothing about what fits: a map over the cgroup's limit fails with
ENOMEM only after the kernel has allocated and zeroed up to it, which for
gigabytes takes many seconds.  The answer here is the smallest headroom of
``MemAvailable`` and every memory cgroup from this process's up to the
root (a parent's limit binds its children), cgroup v2 (``memory.max``,
``memory.current``) or v1 (``memory.limit_in_bytes``,
``memory.usage_in_bytes``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Headroom", "available_memory"]

PROC_MEMINFO = "/proc/meminfo"
PROC_CGROUP = "/proc/self/cgroup"
CGROUP_ROOT = "/sys/fs/cgroup"

#: v1 reports "no limit" as a page-rounded LONG_MAX; anything this large is no limit.
_UNLIMITED = 1 << 62


@dataclass(frozen=True)
class Headroom:
    """``bytes`` that fit, and what says so ("this machine", or the cgroup whose limit binds)."""

    bytes: int
    where: str


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _mem_available() -> int | None:
    try:
        with open(PROC_MEMINFO) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_dirs() -> list[tuple[str, str, str]]:
    """(directory, limit file, usage file) of this process's memory cgroup and its ancestors."""
    try:
        with open(PROC_CGROUP) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":  # v2, where the memory controller is enabled
            base, files = CGROUP_ROOT, ("memory.max", "memory.current")
            if not os.path.exists(os.path.join(base, "cgroup.controllers")):
                continue  # a hybrid system's v2 tree (/sys/fs/cgroup/unified) holds no memory controller
        elif "memory" in controllers.split(","):
            base, files = os.path.join(CGROUP_ROOT, "memory"), ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        parts = [p for p in path.split("/") if p and p not in (".", "..")]
        for depth in range(len(parts), -1, -1):
            out.append((os.path.join(base, *parts[:depth]), *files))
    return out


def available_memory() -> Headroom | None:
    """The memory a new map may take now (None when neither the machine nor a cgroup says)."""
    best: Headroom | None = None
    free = _mem_available()
    if free is not None:
        best = Headroom(free, "this machine")
    for directory, limit_file, usage_file in _cgroup_dirs():
        limit = _read_int(os.path.join(directory, limit_file))
        if limit is None or limit >= _UNLIMITED:
            continue
        usage = _read_int(os.path.join(directory, usage_file)) or 0
        room = max(limit - usage, 0)
        if best is None or room < best.bytes:
            best = Headroom(room, f"this process's memory cgroup ({directory}, limit {limit} bytes)")
    return best
