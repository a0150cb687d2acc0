"""The attach side of bpf(2): links, PROG_ATTACH/DETACH/QUERY, raw tracepoints, stats, iterators.

Same contract as :mod:`bpfnb.kernel.syscall` (one thin typed function per
command, KernelError naming the command, Fd results); split off so each
file keeps one job: syscall.py creates and reads objects, this one
connects programs to the places they run.
"""

from __future__ import annotations

import errno as _errno
from typing import Any, NamedTuple

from ..errors import KernelError
from ..uapi import AttachType, Cmd, StatsType
from ._ffi import ffi
from .fd import Fd, FdLike, fd_number
from .syscall import BPF_F_REPLACE, _addr, _buffer, _cstring, _error, _new_fd, _raw, _type_name, bpf

__all__ = [
    "BPF_F_QUERY_EFFECTIVE",
    "QueryResult",
    "enable_stats",
    "iter_create",
    "link_create",
    "link_detach",
    "link_update",
    "prog_attach",
    "prog_detach",
    "prog_query",
    "raw_tracepoint_open",
]


def raw_tracepoint_open(name: str | None, prog_fd: FdLike, *, cookie: int = 0) -> Fd:
    """BPF_RAW_TRACEPOINT_OPEN: attach a raw_tp (``name``) or tracing program (None)."""
    attr = ffi.new("struct bpf_attr_raw_tracepoint *")
    keep = None
    if name is not None:
        keep = _cstring(name)
        attr.name = _addr(keep)
    attr.prog_fd = fd_number(prog_fd)
    attr.cookie = cookie
    return _new_fd(Cmd.RAW_TRACEPOINT_OPEN, attr, "link", name)


def link_create(
    prog_fd: FdLike, target: FdLike, attach_type: AttachType | int, *, flags: int = 0,
    target_btf_id: int | None = None, iter_info: Any = None, bpf_cookie: int | None = None,
    tracing_cookie: int | None = None, relative_fd: FdLike | None = None, relative_id: int | None = None,
    expected_revision: int | None = None, relative_to: str = "tcx",
) -> Fd:
    """BPF_LINK_CREATE.  ``target`` is an fd (cgroup, map, prog) or an ifindex.

    The attach-specific union takes one group of keywords: ``target_btf_id``
    (+ ``tracing_cookie`` for fentry-style tracing), ``iter_info`` (bytes of
    ``union bpf_iter_link_info``), ``bpf_cookie`` (perf_event), or
    ``relative_fd``/``relative_id``/``expected_revision`` for the tcx, netkit
    or cgroup multi-attach APIs (``relative_to`` picks which).
    """
    attr = ffi.new("struct bpf_attr_link_create *")
    attr.prog_fd = fd_number(prog_fd)
    attr.target_fd = fd_number(target)
    attr.attach_type = int(attach_type)
    attr.flags = flags
    keep = None
    groups = [
        target_btf_id is not None or tracing_cookie is not None,
        iter_info is not None,
        bpf_cookie is not None,
        relative_fd is not None or relative_id is not None or expected_revision is not None,
    ]
    if sum(groups) > 1:
        raise ValueError("link_create: the attach-specific keywords share a union; use one group")
    if tracing_cookie is not None:
        attr.tracing.target_btf_id = target_btf_id or 0
        attr.tracing.cookie = tracing_cookie
    elif target_btf_id is not None:
        attr.target_btf_id = target_btf_id
    elif iter_info is not None:
        keep = _buffer(memoryview(iter_info).cast("B"))
        attr.iter_info = _addr(keep)
        attr.iter_info_len = len(keep)
    elif bpf_cookie is not None:
        attr.perf_event.bpf_cookie = bpf_cookie
    elif groups[3]:
        if relative_to not in ("tcx", "netkit", "cgroup"):
            raise ValueError(f"relative_to must be tcx, netkit or cgroup, not {relative_to!r}")
        part = getattr(attr, relative_to)
        if relative_fd is not None:
            part.relative_fd = fd_number(relative_fd)
        elif relative_id is not None:
            part.relative_id = relative_id
        part.expected_revision = expected_revision or 0
    return _new_fd(Cmd.LINK_CREATE, attr, "link", _type_name(AttachType, attach_type))


def link_update(link_fd: FdLike, new_prog_fd: FdLike, *, old_prog_fd: FdLike | None = None, flags: int = 0) -> None:
    """BPF_LINK_UPDATE: swap the link's program (atomically against ``old_prog_fd``)."""
    attr = ffi.new("struct bpf_attr_link_update *")
    attr.link_fd = fd_number(link_fd)
    attr.new_prog_fd = fd_number(new_prog_fd)
    attr.flags = flags
    if old_prog_fd is not None:
        attr.old_prog_fd = fd_number(old_prog_fd)
        attr.flags = flags | BPF_F_REPLACE
    bpf(Cmd.LINK_UPDATE, attr)


def link_detach(link_fd: FdLike) -> None:
    """BPF_LINK_DETACH: detach now; the link fd stays valid but defunct."""
    attr = ffi.new("struct bpf_attr_link_detach *")
    attr.link_fd = fd_number(link_fd)
    bpf(Cmd.LINK_DETACH, attr)


def prog_attach(
    prog_fd: FdLike, target: FdLike, attach_type: AttachType | int, *, flags: int = 0,
    replace_fd: FdLike | None = None, relative_fd: FdLike | None = None, relative_id: int | None = None,
    expected_revision: int = 0,
) -> None:
    """BPF_PROG_ATTACH (the pre-link API: cgroup, sockmap, flow dissector, tcx...)."""
    attr = ffi.new("struct bpf_attr_prog_attach *")
    attr.target_fd = fd_number(target)
    attr.attach_bpf_fd = fd_number(prog_fd)
    attr.attach_type = int(attach_type)
    attr.attach_flags = flags
    if replace_fd is not None:
        attr.replace_bpf_fd = fd_number(replace_fd)
    if relative_fd is not None:
        attr.relative_fd = fd_number(relative_fd)
    elif relative_id is not None:
        attr.relative_id = relative_id
    attr.expected_revision = expected_revision
    bpf(Cmd.PROG_ATTACH, attr, _type_name(AttachType, attach_type))


def prog_detach(target: FdLike, attach_type: AttachType | int, *, prog_fd: FdLike | None = None, flags: int = 0,
                expected_revision: int = 0) -> None:
    """BPF_PROG_DETACH (``prog_fd`` needed for multi-attach points)."""
    attr = ffi.new("struct bpf_attr_prog_attach *")
    attr.target_fd = fd_number(target)
    if prog_fd is not None:
        attr.attach_bpf_fd = fd_number(prog_fd)
    attr.attach_type = int(attach_type)
    attr.attach_flags = flags
    attr.expected_revision = expected_revision
    bpf(Cmd.PROG_DETACH, attr, _type_name(AttachType, attach_type))


class QueryResult(NamedTuple):
    """BPF_PROG_QUERY's answer for one attach point.

    ``prog_attach_flags`` (6.0+), ``link_ids`` and ``revision`` (6.6+) are
    None where the running kernel has no such query field: an older kernel
    cannot report them, which is not the same as reporting zeros.
    """

    attach_flags: int
    prog_ids: tuple[int, ...]
    prog_attach_flags: tuple[int, ...] | None
    link_ids: tuple[int, ...] | None
    revision: int | None


#: BPF_F_QUERY_EFFECTIVE: the programs that run (inherited ones included), not those attached here.
BPF_F_QUERY_EFFECTIVE = 1 << 0

#: The query fields each kernel generation knows, newest first.  The kernel
#: refuses a non-zero field past the last one it knows with EINVAL
#: (CHECK_ATTR), so the arrays asked for are cut back to what it takes.
_QUERY_LEVELS = (("prog_attach_flags", "link_ids"), ("prog_attach_flags",), ())
#: Index into _QUERY_LEVELS this kernel took; found by the first query that
#: succeeded only after an EINVAL (libbpf asks only for what its caller passes).
_query_level = 0


def _query_once(target: FdLike, attach_type: AttachType | int, query_flags: int, count: int,
                fields: tuple[str, ...]) -> tuple[int, int, Any, dict[str, Any]]:
    """One BPF_PROG_QUERY with room for ``count`` ids: (result, errno, attr, arrays)."""
    attr = ffi.new("struct bpf_attr_query *")
    attr.target_fd = fd_number(target)
    attr.attach_type = int(attach_type)
    attr.query_flags = query_flags
    arrays = {name: ffi.new("uint32_t[]", max(count, 1)) for name in ("prog_ids", *fields)}
    # The pointers go in even when count is 0: then a kernel that lacks a
    # field says so on the first call, before anything is attached or read.
    for name, array in arrays.items():
        if name != "prog_ids" or count:
            setattr(attr, name, _addr(array))
    attr.prog_cnt = count
    result, err = _raw(Cmd.PROG_QUERY, attr)
    return result, err, attr, arrays


def prog_query(target: FdLike, attach_type: AttachType | int, *, query_flags: int = 0) -> QueryResult:
    """BPF_PROG_QUERY: programs attached at ``target`` (fd or ifindex) for ``attach_type``.

    The second-call pattern: the first call (no id array) reports the count,
    the second fetches that many ids.  Should someone attach in between,
    the kernel answers ENOSPC and we ask again at the new size.  Kernels
    before 6.6 (link ids, revision) or 6.0 (per-program attach flags) are
    asked only for the fields they know; an effective query never asks for
    attach flags, which the kernel refuses there.
    """
    global _query_level
    count, level, first_err = 0, _query_level, None
    for _ in range(8):
        fields = tuple(f for f in _QUERY_LEVELS[level]
                       if not (f == "prog_attach_flags" and query_flags & BPF_F_QUERY_EFFECTIVE))
        result, err, attr, arrays = _query_once(target, attach_type, query_flags, count, fields)
        if result < 0 and err == _errno.ENOSPC:
            count = max(int(attr.prog_cnt), count + 1)
            continue
        if result < 0 and err == _errno.EINVAL and fields and level + 1 < len(_QUERY_LEVELS):
            first_err = first_err or err
            level += 1  # maybe an older kernel: ask for fewer fields
            continue
        if result < 0:
            raise _error(Cmd.PROG_QUERY, first_err or err, _type_name(AttachType, attach_type))
        if level != _query_level and fields:
            _query_level = level  # an older kernel: EINVAL for a field, success without it
        n = int(attr.prog_cnt)
        if n > count:  # first call: only the count came back
            count = n
            continue

        def ids(name: str) -> tuple[int, ...] | None:
            return tuple(arrays[name][0:n]) if name in arrays else None

        newest = "link_ids" in _QUERY_LEVELS[level]
        return QueryResult(int(attr.attach_flags), ids("prog_ids") or (), ids("prog_attach_flags"),
                           ids("link_ids"), int(attr.revision) if newest else None)
    raise KernelError(_errno.ENOSPC, "BPF_PROG_QUERY", "attachments kept changing while querying")


def enable_stats(stats_type: StatsType | int = StatsType.RUN_TIME) -> Fd:
    """BPF_ENABLE_STATS: run_time_ns/run_cnt are counted while the fd is open."""
    attr = ffi.new("struct bpf_attr_enable_stats *")
    attr.type = int(stats_type)
    return _new_fd(Cmd.ENABLE_STATS, attr, "stats")


def iter_create(link_fd: FdLike, flags: int = 0) -> Fd:
    """BPF_ITER_CREATE: an fd whose read() runs the iterator program."""
    attr = ffi.new("struct bpf_attr_iter_create *")
    attr.link_fd = fd_number(link_fd)
    attr.flags = flags
    return _new_fd(Cmd.ITER_CREATE, attr, "iter")
