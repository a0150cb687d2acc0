"""Attachments made through rtnetlink: XDP on a device and tc cls_bpf filters.

The fallback for kernels without XDP links (before 5.9) or tcx (before
6.6).  Like links they hold a dup of the program fd and detach exactly
that program: XDP with ``XDP_FLAGS_REPLACE`` against it, tc by the
filter's priority and handle.  The namespace they were made in is kept,
so ``detach()`` works from anywhere.
"""

from __future__ import annotations

import os

from . import netlink
from .attach import in_netns
from .fd import Fd
from .links import Attachment

__all__ = ["NetlinkXdpAttachment", "TcFilterAttachment"]


class NetlinkXdpAttachment(Attachment):
    """An XDP program set on a device with ``RTM_SETLINK`` (no link object)."""

    kind = "xdp (netlink)"

    def __init__(self, prog_fd: Fd, prog_id: int, ifindex: int, flags: int, *, program: str | None, target: str,
                 netns: str | os.PathLike[str] | None = None):
        super().__init__(program=program, target=target)
        self.prog_fd, self.prog_id, self.ifindex, self.flags, self.netns = prog_fd, prog_id, ifindex, flags, netns

    @property
    def attached(self) -> bool:
        if self.prog_fd.closed:
            return False
        with in_netns(self.netns):
            return netlink.xdp_prog_id(self.ifindex) == self.prog_id

    def _undo(self) -> None:
        try:
            with in_netns(self.netns):
                netlink.xdp_set(self.ifindex, -1, self.flags, expected_fd=self.prog_fd.fileno())
        finally:
            self.prog_fd.close()


class TcFilterAttachment(Attachment):
    """A direct-action ``bpf`` filter on a ``clsact`` qdisc (the pre-tcx way)."""

    def __init__(self, prog_fd: Fd, ifindex: int, direction: str, priority: int, handle: int, *,
                 program: str | None, target: str, netns: str | os.PathLike[str] | None = None):
        super().__init__(program=program, target=target)
        self.kind = f"tc {direction} (cls_bpf)"
        self.prog_fd, self.ifindex, self.direction = prog_fd, ifindex, direction
        self.priority, self.handle, self.netns = priority, handle, netns

    @property
    def attached(self) -> bool:
        if self.prog_fd.closed:
            return False
        with in_netns(self.netns):
            return netlink.tc_filter_exists(self.ifindex, self.direction, priority=self.priority, handle=self.handle)

    def _undo(self) -> None:
        try:
            with in_netns(self.netns):
                netlink.tc_filter_del(self.ifindex, self.direction, priority=self.priority, handle=self.handle)
        finally:
            self.prog_fd.close()
