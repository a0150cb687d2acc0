"""Networking programs: XDP, tc (tcx), socket filters, flow dissectors, sockmap verdicts.

Every attach here is link-based except the socket filter (sockets have no
bpf_link; ``SO_ATTACH_BPF`` is the API):

* ``Xdp.attach`` — BPF_LINK_CREATE with BPF_XDP on an ifindex.  XDP links
  exist since 5.9; the netlink (``IFLA_XDP``) path older kernels need is
  not implemented, as every kernel bpfnb targets (6.x) has links.
* ``SchedClassifier.attach`` — tcx links (6.6+: BPF_TCX_INGRESS/EGRESS),
  the successor of clsact qdiscs + cls_bpf filters; no qdisc is created.
* ``FlowDissector.attach`` — a netns link (BPF_FLOW_DISSECTOR).
* ``SkSkb``/``SkMsg.attach`` — sockmap links (6.10+) on a SOCKMAP/SOCKHASH;
  on older kernels BPF_PROG_ATTACH on the map, the only API they have (and
  the one Aya always uses), unless a link is demanded (``legacy=False``).

Interfaces are looked up by name in ``netns`` when given (``ip netns``
names or a path), and the link is created there, because an ifindex only
means something inside one namespace.
"""

from __future__ import annotations

import enum
import errno as _errno
import os
import socket as _socket
from typing import Any

from ..errors import KernelError, UnsupportedFeature
from ..kernel.attach import in_netns, ifindex_of, netns_path
from ..kernel.fd import Fd, FdLike, fd_number
from ..kernel.features import SOCKMAP_LINK_MIN_VERSION, Support, sockmap_links
from ..kernel.links import SO_ATTACH_BPF, Attachment, Link, ProgAttachment, SocketAttachment, attach_error
from ..kernel.syscall_attach import prog_attach
from ..uapi import AttachType, ProgType
from .base import TypedProgram

__all__ = ["FlowDissector", "SchedClassifier", "SkMsg", "SkSkb", "SocketFilter", "Xdp", "XdpFlags"]


class XdpFlags(enum.IntFlag):
    """``XDP_FLAGS_*`` accepted by XDP links: the mode (none = let the driver choose)."""

    DEFAULT = 0
    SKB_MODE = 1 << 1
    DRV_MODE = 1 << 2
    HW_MODE = 1 << 3


#: errnos with which a kernel says it has no such link type (XDP links < 5.9, tcx < 6.6).
_LINK_UNSUPPORTED = frozenset({_errno.EINVAL, _errno.EOPNOTSUPP, 524})

#: ``BPF_F_LINK``: a tcx ``relative_fd`` names a link rather than a program.
BPF_F_LINK = 1 << 13

_XDP_MODES = {"skb": XdpFlags.SKB_MODE, "generic": XdpFlags.SKB_MODE, "drv": XdpFlags.DRV_MODE,
              "native": XdpFlags.DRV_MODE, "hw": XdpFlags.HW_MODE, "offload": XdpFlags.HW_MODE,
              "default": XdpFlags.DEFAULT}


def _label(interface: str | int, netns: Any) -> str:
    where = f" (netns {os.path.basename(netns_path(netns))})" if netns is not None else ""
    return f"{interface}{where}"


class Xdp(TypedProgram):
    """An XDP program: runs on every frame an interface receives, before the stack."""

    prog_types = (ProgType.XDP,)

    def attach(self, interface: str | int, flags: XdpFlags | str | int = XdpFlags.DEFAULT, *,
               netns: str | os.PathLike[str] | None = None, netlink: bool | None = None) -> Link | Attachment:
        """Attach to ``interface`` (name or ifindex) with an XDP link.

        ``flags``: ``"skb"`` (generic), ``"drv"`` (native) or ``"hw"``, or
        :class:`XdpFlags`; the default lets the kernel pick native when the
        driver supports it.  ``netlink=True`` uses rtnetlink (``IFLA_XDP``),
        the way before XDP links; ``None`` falls back to it when the kernel
        refuses the link as unsupported (before 5.9).
        """
        mode = _XDP_MODES[flags] if isinstance(flags, str) else XdpFlags(int(flags))
        label = _label(interface, netns)
        with in_netns(netns):
            ifindex = ifindex_of(interface)
            if not netlink:
                try:
                    return self._link_create(ifindex, AttachType.XDP, flags=int(mode), label=label, kind="xdp")
                except KernelError as exc:
                    if netlink is False or exc.errno not in _LINK_UNSUPPORTED:
                        raise
            return self._track(self._netlink_xdp(ifindex, int(mode), label, netns))

    def _netlink_xdp(self, ifindex: int, mode: int, label: str, netns: Any) -> Attachment:
        from ..kernel import netlink as rtnl
        from ..kernel.netlink_attach import NetlinkXdpAttachment

        prog_fd = self.fd.dup()
        try:
            rtnl.xdp_set(ifindex, prog_fd.fileno(), mode | rtnl.XDP_FLAGS_UPDATE_IF_NOEXIST)
        except KernelError as exc:
            prog_fd.close()
            raise attach_error(exc, self.name, label) from exc
        return NetlinkXdpAttachment(prog_fd, self.info().id, ifindex, mode, program=self.name, target=label, netns=netns)


class SchedClassifier(TypedProgram):
    """A tc classifier (``SEC("tc")``, ``tcx/ingress``...): attached with tcx links."""

    prog_types = (ProgType.SCHED_CLS, ProgType.SCHED_ACT)

    _DIRECTIONS = {"ingress": AttachType.TCX_INGRESS, "egress": AttachType.TCX_EGRESS}

    def attach(self, interface: str | int, direction: str | None = None, *,
               netns: str | os.PathLike[str] | None = None, before: Any = None, after: Any = None,
               legacy: bool | None = None, priority: int = 1) -> Link | Attachment:
        """Attach to ``interface`` on ``"ingress"`` or ``"egress"`` (default: from ``tcx/<dir>``).

        ``before``/``after`` (a program or link) place it relative to others
        at the same hook (tcx's multi-attach order); default: appended last.
        ``legacy=True`` uses a ``clsact`` qdisc and a direct-action ``bpf``
        filter at ``priority`` (the way before tcx); ``None`` falls back to
        it when the kernel refuses tcx as unsupported (before 6.6).
        """
        attach_type = self._direction(direction)
        kw: dict[str, Any] = {}
        if before is not None or after is not None:
            from ..kernel.syscall import BPF_F_AFTER, BPF_F_BEFORE

            anchor = before if before is not None else after
            kw["flags"] = BPF_F_BEFORE if before is not None else BPF_F_AFTER
            if isinstance(anchor, Link):
                kw["flags"] |= BPF_F_LINK  # the relative fd is a link, not a program
            kw["relative_fd"] = getattr(anchor, "fd", anchor)
        direction = attach_type.name.lower().removeprefix("tcx_")
        label = f"{_label(interface, netns)} {direction}"
        with in_netns(netns):
            ifindex = ifindex_of(interface)
            if not legacy:
                try:
                    return self._link_create(ifindex, attach_type, label=label, kind="tcx", **kw)
                except KernelError as exc:
                    if legacy is False or kw or exc.errno not in _LINK_UNSUPPORTED:
                        raise
            return self._track(self._cls_bpf(ifindex, direction, label, netns, priority))

    def _cls_bpf(self, ifindex: int, direction: str, label: str, netns: Any, priority: int) -> Attachment:
        from ..kernel import netlink as rtnl
        from ..kernel.netlink_attach import TcFilterAttachment

        prog_fd = self.fd.dup()
        try:
            rtnl.tc_clsact_add(ifindex)
            rtnl.tc_filter_add(ifindex, direction, prog_fd.fileno(), self.name, priority=priority)
        except KernelError as exc:
            prog_fd.close()
            raise attach_error(exc, self.name, label) from exc
        return TcFilterAttachment(prog_fd, ifindex, direction, priority, 1, program=self.name, target=label, netns=netns)

    def _direction(self, direction: str | None) -> AttachType:
        if direction is None:
            expected = self.expected_attach_type
            if expected in (AttachType.TCX_INGRESS, AttachType.TCX_EGRESS):
                return expected
            sec = self.section
            name = sec.name if sec is not None else ""
            if name.endswith("/ingress") or name.endswith("/egress"):  # tc/ingress: the legacy spelling
                return self._DIRECTIONS[name.rsplit("/", 1)[1]]
            raise ValueError(f"program {self.name!r}: say direction='ingress' or 'egress' (the section does not)")
        try:
            return self._DIRECTIONS[direction]
        except KeyError:
            raise ValueError(f"direction must be 'ingress' or 'egress', not {direction!r}") from None


class SocketFilter(TypedProgram):
    """A socket filter: its return value is how many bytes of each packet the socket keeps."""

    prog_types = (ProgType.SOCKET_FILTER,)

    def attach(self, sock: _socket.socket | Any) -> SocketAttachment:
        """``setsockopt(SO_ATTACH_BPF)``; the attachment's ``detach()`` sets SO_DETACH_BPF."""
        if not hasattr(sock, "setsockopt"):
            sock = _socket.socket(fileno=os.dup(int(sock)))  # a plain fd number
        try:
            sock.setsockopt(_socket.SOL_SOCKET, SO_ATTACH_BPF, self.fd.fileno())
        except OSError as exc:
            err = KernelError(exc.errno or 22, "setsockopt(SO_ATTACH_BPF)", None)
            raise attach_error(err, self.name, "socket") from exc
        return self._track(SocketAttachment(sock, program=self.name))  # type: ignore[return-value]


class FlowDissector(TypedProgram):
    """A flow dissector: replaces the kernel's for one network namespace (a netns link)."""

    prog_types = (ProgType.FLOW_DISSECTOR,)

    def attach(self, netns: str | os.PathLike[str] | None = None) -> Link:
        """Attach to ``netns`` (default: this thread's namespace)."""
        path = netns_path(netns) if netns is not None else "/proc/thread-self/ns/net"
        fd = Fd(os.open(path, os.O_RDONLY | os.O_CLOEXEC), "netns")
        with fd:
            return self._link_create(fd, AttachType.FLOW_DISSECTOR, label=f"netns {path}", kind="netns")


class _SockmapProgram(TypedProgram):
    _default: AttachType

    def attach(self, sockmap: Any, attach_type: AttachType | None = None, *,
               legacy: bool | None = None) -> Attachment:
        """Attach to a SOCKMAP/SOCKHASH (a kernel ``Map`` or an fd).

        ``legacy=None``: a sockmap link where the kernel makes them (6.10+),
        else BPF_PROG_ATTACH on the map (a :class:`ProgAttachment`, detached
        the same way).  ``legacy=False``: a link or UnsupportedFeature naming
        6.10.  ``legacy=True``: always BPF_PROG_ATTACH.  A prog-attached
        verdict program stays until detached or the map is freed: it does
        not die with this process as a link would.
        """
        kind = attach_type or self.expected_attach_type or self._default
        target: FdLike = getattr(sockmap, "fd", sockmap)
        label = f"sockmap {getattr(sockmap, 'name', '') or target}"
        if legacy is not True:
            try:
                return self._link_create(target, kind, label=label, kind=kind.name.lower())
            except KernelError as exc:
                if exc.errno != _errno.EINVAL or sockmap_links() is not Support.NO:
                    raise
                if legacy is False:
                    raise UnsupportedFeature(
                        "sockmap links", f"program {self.name!r} -> {label}: this kernel attaches "
                        f"{kind.name.lower()} programs with BPF_PROG_ATTACH only (legacy=None does)",
                        err=exc.errno, min_version=SOCKMAP_LINK_MIN_VERSION) from exc
        return self._prog_attach(target, kind, label)

    def _prog_attach(self, target: FdLike, kind: AttachType, label: str) -> Attachment:
        """BPF_PROG_ATTACH on the map; the attachment owns dups of the map and program fds."""
        map_fd = Fd(os.dup(fd_number(target)), "map")
        try:
            prog_attach(self.fd, map_fd, kind)
        except KernelError as exc:
            map_fd.close()
            raise attach_error(exc, self.name, label) from exc
        return self._track(ProgAttachment(map_fd, self.fd.dup(), kind, program=self.name, target=label))


class SkSkb(_SockmapProgram):
    """``sk_skb/stream_verdict`` (or ``stream_parser``, ``verdict``): skbs received on sockmap sockets."""

    prog_types = (ProgType.SK_SKB,)
    _default = AttachType.SK_SKB_STREAM_VERDICT


class SkMsg(_SockmapProgram):
    """``sk_msg``: every sendmsg on the sockets of a sockmap."""

    prog_types = (ProgType.SK_MSG,)
    _default = AttachType.SK_MSG_VERDICT
