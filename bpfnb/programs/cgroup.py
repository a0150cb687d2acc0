"""Programs attached to a cgroup v2 directory: skb filters, socket hooks, sockops, sysctl...

They all attach the same way — the program, a cgroup fd and an attach type
— so one base class does it; the subclasses exist for their names, their
program types and their docs.  The attach type comes from the section
(``cgroup_skb/egress`` → BPF_CGROUP_INET_EGRESS) unless given.

Link-based (BPF_LINK_CREATE, 5.7+) by default: the link pins the program to
the cgroup for exactly as long as the link lives, and the cgroup's other
programs (multi-attach) are untouched.  ``legacy=True`` uses
BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI instead, returning a
:class:`~bpfnb.kernel.links.ProgAttachment` that detaches the same way.
"""

from __future__ import annotations

import os

from ..errors import KernelError
from ..kernel.attach import open_cgroup
from ..kernel.links import Attachment, ProgAttachment, attach_error
from ..kernel.syscall_attach import prog_attach
from ..uapi import AttachType, ProgType
from .base import TypedProgram

__all__ = [
    "BPF_F_ALLOW_MULTI",
    "CgroupDevice",
    "CgroupProgram",
    "CgroupSkb",
    "CgroupSock",
    "CgroupSockAddr",
    "CgroupSockopt",
    "CgroupSysctl",
    "SockOps",
]

#: BPF_PROG_ATTACH flag: several programs per cgroup and attach type, run in order.
BPF_F_ALLOW_MULTI = 1 << 1


class CgroupProgram(TypedProgram):
    """Any program that attaches to a cgroup v2 directory."""

    prog_types = (ProgType.CGROUP_SKB, ProgType.CGROUP_SOCK, ProgType.CGROUP_SOCK_ADDR, ProgType.SOCK_OPS,
                  ProgType.CGROUP_DEVICE, ProgType.CGROUP_SYSCTL, ProgType.CGROUP_SOCKOPT)

    def attach(self, cgroup: str | os.PathLike[str], attach_type: AttachType | None = None, *,
               legacy: bool = False) -> Attachment:
        """Attach to the cgroup directory ``cgroup`` (e.g. ``/sys/fs/cgroup/my.slice``)."""
        kind = attach_type if attach_type is not None else self.expected_attach_type
        if kind is None:
            raise ValueError(f"program {self.name!r}: the section names no cgroup hook; pass attach_type")
        path = os.fsdecode(cgroup)
        label = f"cgroup {path} {kind.name.lower()}"
        if not legacy:
            with open_cgroup(path) as cgfd:  # the link holds its own reference to the cgroup
                return self._link_create(cgfd, kind, label=label, kind="cgroup")
        cgfd = open_cgroup(path)
        try:
            prog_attach(self.fd, cgfd, kind, flags=BPF_F_ALLOW_MULTI)
        except KernelError as exc:
            cgfd.close()
            raise attach_error(exc, self.name, label) from exc
        att = ProgAttachment(cgfd, self.fd.dup(), kind, program=self.name, target=label)
        return self._track(att)


class CgroupSkb(CgroupProgram):
    """``cgroup_skb/ingress|egress``: sees every IP packet of the cgroup's sockets; 1 allows, 0 drops."""

    prog_types = (ProgType.CGROUP_SKB,)


class CgroupSock(CgroupProgram):
    """``cgroup/sock_create``, ``sock_release``, ``post_bind4/6``: socket lifetime hooks."""

    prog_types = (ProgType.CGROUP_SOCK,)


class CgroupSockAddr(CgroupProgram):
    """``cgroup/connect4``, ``bind6``, ``sendmsg4``...: may rewrite or refuse socket addresses."""

    prog_types = (ProgType.CGROUP_SOCK_ADDR,)


class SockOps(CgroupProgram):
    """``sockops``: TCP events (established, RTO, state changes) of the cgroup's sockets."""

    prog_types = (ProgType.SOCK_OPS,)


class CgroupDevice(CgroupProgram):
    """``cgroup/dev``: device access control."""

    prog_types = (ProgType.CGROUP_DEVICE,)


class CgroupSysctl(CgroupProgram):
    """``cgroup/sysctl``: sysctl reads and writes."""

    prog_types = (ProgType.CGROUP_SYSCTL,)


class CgroupSockopt(CgroupProgram):
    """``cgroup/getsockopt``, ``cgroup/setsockopt``."""

    prog_types = (ProgType.CGROUP_SOCKOPT,)
