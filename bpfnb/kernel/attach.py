"""The non-bpf(2) syscalls attaching needs: perf_event_open, tracefs ids, netns, cgroups.

The kernel layer is the only code that makes syscalls, so the typed
programs in :mod:`bpfnb.programs` come here for everything that is not a
bpf() command:

* :func:`perf_event_open` — ``struct perf_event_attr`` packed with
  ``struct`` (PERF_ATTR_SIZE_VER5, 112 bytes) and the syscall made through
  ctypes; the fd is owned (:class:`~bpfnb.kernel.fd.Fd`).  Tracepoints,
  uprobes, kprobes and software/hardware events all go through it, and
  a BPF_LINK_CREATE with ``BPF_PERF_EVENT`` then connects the program.
* :func:`tracepoint_id` — the id tracefs gives ``<category>/<name>``.
* :func:`pmu_type` — the dynamic PMU type of ``uprobe``/``kprobe`` under
  ``/sys/bus/event_source/devices`` (absent when the kernel lacks them,
  which is how we know CONFIG_KPROBES is not set).
* :func:`in_netns` — run a block inside a network namespace (setns on this
  thread), because an interface name or ifindex means something only in
  one namespace.
* :func:`open_cgroup` — an O_DIRECTORY fd of a cgroup v2 directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as _errno
import os
import platform
import struct
from typing import Iterator

from ..errors import KernelError, NotPrivileged, UnsupportedFeature
from .fd import Fd

__all__ = [
    "PERF_FLAG_FD_CLOEXEC",
    "PerfType",
    "TRACEFS_ROOTS",
    "in_netns",
    "ifindex_of",
    "open_cgroup",
    "perf_event_attr",
    "perf_event_open",
    "pmu_type",
    "tracefs_root",
    "tracepoint_id",
]

#: perf_event_open(2) syscall numbers.
_NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241, "riscv64": 241, "ppc64le": 319, "s390x": 331}
PERF_FLAG_FD_CLOEXEC = 1 << 3
#: PERF_ATTR_SIZE_VER5: every field up to sample_max_stack; accepted by all kernels since 4.17.
PERF_ATTR_SIZE = 112
_ATTR = struct.Struct("<IIQQQQQIIQQQQIiQIHH")
assert _ATTR.size == PERF_ATTR_SIZE

#: perf_event_attr.flags bits we use.
ATTR_DISABLED = 1 << 0
ATTR_FREQ = 1 << 10

TRACEFS_ROOTS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


class PerfType:
    """``enum perf_type_id``: the fixed event kinds (uprobe/kprobe types are dynamic)."""

    HARDWARE = 0
    SOFTWARE = 1
    TRACEPOINT = 2
    HW_CACHE = 3
    RAW = 4
    BREAKPOINT = 5


def perf_event_attr(type_: int, config: int = 0, *, sample_period: int = 0, sample_freq: int | None = None,
                    flags: int = 0, config1: int = 0, config2: int = 0, wakeup_events: int = 0) -> bytes:
    """Pack a ``struct perf_event_attr``.

    ``sample_freq`` sets the ``freq`` bit and goes where ``sample_period``
    would (the two share a union); ``config1``/``config2`` carry a probe's
    path or function address and its offset.
    """
    if sample_freq is not None:
        flags |= ATTR_FREQ
        sample = sample_freq
    else:
        sample = sample_period
    return _ATTR.pack(type_, PERF_ATTR_SIZE, config, sample, 0, 0, flags, wakeup_events, 0, config1, config2,
                      0, 0, 0, 0, 0, 0, 0, 0)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def perf_event_open(attr: bytes, *, pid: int = -1, cpu: int = -1, group_fd: int = -1,
                    flags: int = PERF_FLAG_FD_CLOEXEC, what: str = "perf event") -> Fd:
    """perf_event_open(2); KernelError naming ``what`` on failure.

    ``pid=-1, cpu=-1`` is invalid for the kernel (an event must be bound
    to a task or a CPU); callers pick ``cpu=0`` for probes meant for every
    process, as a BPF program on a tracepoint/probe event runs wherever the
    event fires, whichever CPU the perf event was opened on.
    """
    nr = _NR_PERF_EVENT_OPEN.get(platform.machine())
    if nr is None:
        raise UnsupportedFeature("perf_event_open", f"syscall number unknown for {platform.machine()}")
    buf = ctypes.create_string_buffer(attr, len(attr))
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(nr), buf, ctypes.c_int(pid), ctypes.c_int(cpu), ctypes.c_int(group_fd),
                      ctypes.c_ulong(flags))
    if fd < 0:
        err = ctypes.get_errno()
        if err in (_errno.EPERM, _errno.EACCES):
            raise NotPrivileged("perf_event_open", f"{what} (perf_event_paranoid or missing CAP_PERFMON)", err=err)
        hint = _PERF_HINTS.get(err)
        raise KernelError(err, "perf_event_open", what, hint=hint)
    return Fd(int(fd), "perf_event")


#: What perf_event_open's errnos mean (the bpf-centric defaults would mislead).
_PERF_HINTS = {
    _errno.ENOENT: "no such event on this machine (e.g. no hardware PMU in a virtual machine, or no such probe)",
    _errno.EOPNOTSUPP: "this PMU does not support sampling or this event",
    _errno.ESRCH: "no such process",
    _errno.EINVAL: "an attr field, pid/cpu combination or CPU number the kernel does not accept",
}


def tracefs_root() -> str:
    """Where tracefs is mounted; UnsupportedFeature (with the mount command) when it is not."""
    for root in TRACEFS_ROOTS:
        if os.path.exists(os.path.join(root, "events")):
            return root
    raise UnsupportedFeature(
        "tracefs", "tracefs is not mounted: mount -t tracefs tracefs /sys/kernel/tracing", err=_errno.ENOENT
    )


def tracepoint_id(category: str, name: str) -> int:
    """The perf tracepoint id of ``category/name`` (tracefs ``events/<category>/<name>/id``)."""
    if "/" in category or "/" in name or category in ("", ".", "..") or name in ("", ".", ".."):
        raise ValueError(f"not a tracepoint name: {category!r}/{name!r}")
    path = os.path.join(tracefs_root(), "events", category, name, "id")
    try:
        with open(path) as f:
            return int(f.read().strip())
    except FileNotFoundError:
        raise KernelError(_errno.ENOENT, "tracefs", f"no tracepoint {category}/{name} ({path})") from None


def pmu_type(name: str) -> int | None:
    """The dynamic PMU type of ``uprobe``/``kprobe``, or None when the kernel has no such PMU."""
    try:
        with open(f"/sys/bus/event_source/devices/{name}/type") as f:
            return int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def pmu_retprobe_bit(name: str) -> int:
    """Which config bit makes a ``uprobe``/``kprobe`` PMU event a return probe (``config:0``)."""
    try:
        with open(f"/sys/bus/event_source/devices/{name}/format/retprobe") as f:
            text = f.read().strip()
        return int(text.split(":", 1)[1])
    except (FileNotFoundError, ValueError, IndexError):
        return 0


# --- network namespaces and interfaces --------------------------------------------------------

_CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):
        os.setns(fd, _CLONE_NEWNET)
        return
    libc = _libc()
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def netns_path(netns: str | os.PathLike[str]) -> str:
    """``/run/netns/<name>`` for a bare name (as ``ip netns`` makes them), else the path."""
    text = os.fsdecode(netns)
    return text if "/" in text else f"/run/netns/{text}"


@contextlib.contextmanager
def in_netns(netns: str | os.PathLike[str] | None) -> Iterator[None]:
    """Run the block with this thread in network namespace ``netns`` (None: stay).

    Only the calling thread moves; it moves back even when the block
    raises.  Sockets and links made inside keep that namespace.
    """
    if netns is None:
        yield
        return
    path = netns_path(netns)
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            there = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise KernelError(_errno.ENOENT, "setns", f"no network namespace {path}") from None
        try:
            _setns(there)
        except OSError as exc:
            raise KernelError(exc.errno or _errno.EINVAL, "setns", f"cannot enter {path}") from exc
        finally:
            os.close(there)
        try:
            yield
        finally:
            _setns(here)
    finally:
        os.close(here)


def ifindex_of(interface: str | int, netns: str | os.PathLike[str] | None = None) -> int:
    """The ifindex of an interface name (in ``netns``), or the int given."""
    if isinstance(interface, int) and not isinstance(interface, bool):
        return interface
    import socket

    with in_netns(netns):
        try:
            return socket.if_nametoindex(interface)
        except OSError:
            where = f" in netns {netns}" if netns is not None else ""
            raise KernelError(_errno.ENODEV, "if_nametoindex", f"no interface {interface!r}{where}") from None


def open_cgroup(path: str | os.PathLike[str]) -> Fd:
    """An owned O_DIRECTORY fd of a cgroup v2 directory (what cgroup attach APIs take)."""
    text = os.fsdecode(path)
    try:
        fd = os.open(text, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise KernelError(exc.errno or _errno.ENOENT, "open(cgroup)", text) from exc
    return Fd(fd, "cgroup")
