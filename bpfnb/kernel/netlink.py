"""rtnetlink for the pre-link attach points: XDP on a device, tc clsact + cls_bpf.

Kernels before XDP links (5.9) and tcx links (6.6) attach packet programs
through rtnetlink instead of bpf(): ``RTM_SETLINK`` with a nested
``IFLA_XDP`` for XDP, and a ``clsact`` qdisc with a ``bpf`` filter
(direct-action) for tc.  The same requests still work on current
kernels, which is how the fallback paths are tested here.

Only the few messages these attachments need are built: each request asks
for an ACK, and a negative ACK becomes a :class:`KernelError` naming the
request.  Sockets are opened per request in the caller's network namespace.
"""

from __future__ import annotations

import errno as _errno
import socket
import struct
from collections.abc import Iterator

from ..errors import KernelError

__all__ = [
    "XDP_FLAGS_REPLACE",
    "XDP_FLAGS_UPDATE_IF_NOEXIST",
    "tc_clsact_add",
    "tc_filter_add",
    "tc_filter_del",
    "tc_filter_exists",
    "xdp_prog_id",
    "xdp_set",
]

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLA_F_NESTED = 0x8000

RTM_SETLINK, RTM_GETLINK = 19, 18
RTM_NEWQDISC = 36
RTM_NEWTFILTER, RTM_DELTFILTER, RTM_GETTFILTER = 44, 45, 46

IFLA_XDP = 43
IFLA_XDP_FD, IFLA_XDP_ATTACHED, IFLA_XDP_FLAGS, IFLA_XDP_PROG_ID, IFLA_XDP_EXPECTED_FD = 1, 2, 3, 4, 8
XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_REPLACE = 1 << 4

TCA_KIND, TCA_OPTIONS = 1, 2
TCA_BPF_FD, TCA_BPF_NAME, TCA_BPF_FLAGS = 6, 7, 8
TCA_BPF_FLAG_ACT_DIRECT = 1
TC_H_CLSACT = 0xFFFFFFF1
TC_H_MIN_INGRESS, TC_H_MIN_EGRESS = 0xFFF2, 0xFFF3
ETH_P_ALL = 0x0003

_IFINFOMSG = struct.Struct("=BxHiII")   # family, type, index, flags, change
_TCMSG = struct.Struct("=BxxxiIII")     # family, ifindex, handle, parent, info
_NLMSGHDR = struct.Struct("=IHHII")     # len, type, flags, seq, pid
_NLATTR = struct.Struct("=HH")


def _attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    length = _NLATTR.size + len(payload)
    return _NLATTR.pack(length, kind) + payload + bytes(-length % 4)


def _attrs(data: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos + _NLATTR.size <= len(data):
        length, kind = _NLATTR.unpack_from(data, pos)
        if length < _NLATTR.size:
            return
        yield kind & ~NLA_F_NESTED, data[pos + _NLATTR.size : pos + length]
        pos += (length + 3) & ~3


def _request(msg_type: int, flags: int, body: bytes, what: str) -> list[tuple[int, bytes]]:
    """Send one request with NLM_F_ACK; the replies before the ACK, as (type, payload)."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        seq = 1
        sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body)
        replies = []
        while True:
            data = sock.recv(65536)
            pos = 0
            while pos + _NLMSGHDR.size <= len(data):
                length, kind, _flags, rseq, _pid = _NLMSGHDR.unpack_from(data, pos)
                payload = data[pos + _NLMSGHDR.size : pos + length]
                pos += (length + 3) & ~3
                if rseq != seq:
                    continue
                if kind == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", payload)[0]
                    if err:
                        raise KernelError(err, f"netlink {what}")
                    return replies
                if kind == NLMSG_DONE:
                    return replies
                replies.append((kind, payload))
            if length < _NLMSGHDR.size:
                raise KernelError(_errno.EPROTO, f"netlink {what}", "malformed reply")


# --- XDP ------------------------------------------------------------------------------------


def xdp_set(ifindex: int, prog_fd: int, flags: int = 0, *, expected_fd: int | None = None) -> None:
    """Attach ``prog_fd`` (or detach with -1) as the device's XDP program.

    ``expected_fd`` (with ``XDP_FLAGS_REPLACE``) makes the change only if
    that program is the one attached: a detach then removes exactly ours.
    """
    nested = _attr(IFLA_XDP_FD, struct.pack("=i", prog_fd))
    if expected_fd is not None:
        flags |= XDP_FLAGS_REPLACE
        nested += _attr(IFLA_XDP_EXPECTED_FD, struct.pack("=i", expected_fd))
    if flags:
        nested += _attr(IFLA_XDP_FLAGS, struct.pack("=I", flags))
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, ifindex, 0, 0) + _attr(IFLA_XDP | NLA_F_NESTED, nested)
    _request(RTM_SETLINK, 0, body, f"RTM_SETLINK IFLA_XDP (ifindex {ifindex})")


def xdp_prog_id(ifindex: int) -> int | None:
    """The id of the XDP program attached to the device, or None."""
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, ifindex, 0, 0)
    for kind, payload in _request(RTM_GETLINK, 0, body, f"RTM_GETLINK (ifindex {ifindex})"):
        for attr, value in _attrs(payload[_IFINFOMSG.size :]):
            if attr == IFLA_XDP:
                for inner, data in _attrs(value):
                    if inner == IFLA_XDP_PROG_ID:
                        prog_id = struct.unpack_from("=I", data)[0]
                        return prog_id or None
    return None


# --- tc: clsact + cls_bpf ------------------------------------------------------------------------


def _parent(direction: str) -> int:
    try:
        minor = {"ingress": TC_H_MIN_INGRESS, "egress": TC_H_MIN_EGRESS}[direction]
    except KeyError:
        raise ValueError(f"direction must be 'ingress' or 'egress', not {direction!r}") from None
    return (TC_H_CLSACT & 0xFFFF0000) | minor


def _filter_msg(ifindex: int, direction: str, priority: int, handle: int) -> bytes:
    info = (priority << 16) | socket.htons(ETH_P_ALL)
    return _TCMSG.pack(socket.AF_UNSPEC, ifindex, handle, _parent(direction), info)


def tc_clsact_add(ifindex: int) -> bool:
    """Add the ``clsact`` qdisc that holds ingress/egress filters; False if it was there."""
    body = _TCMSG.pack(socket.AF_UNSPEC, ifindex, TC_H_CLSACT & 0xFFFF0000, TC_H_CLSACT, 0) + _attr(TCA_KIND, b"clsact\0")
    try:
        _request(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, body, f"RTM_NEWQDISC clsact (ifindex {ifindex})")
    except KernelError as exc:
        if exc.errno == _errno.EEXIST:
            return False
        raise
    return True


def tc_filter_add(ifindex: int, direction: str, prog_fd: int, name: str, *, priority: int = 1, handle: int = 1) -> None:
    """A direct-action ``bpf`` filter running ``prog_fd`` at ``priority``/``handle``."""
    options = (
        _attr(TCA_BPF_FD, struct.pack("=I", prog_fd))
        + _attr(TCA_BPF_NAME, name.encode()[:255] + b"\0")
        + _attr(TCA_BPF_FLAGS, struct.pack("=I", TCA_BPF_FLAG_ACT_DIRECT))
    )
    body = _filter_msg(ifindex, direction, priority, handle) + _attr(TCA_KIND, b"bpf\0") + _attr(TCA_OPTIONS | NLA_F_NESTED, options)
    _request(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, body, f"RTM_NEWTFILTER bpf {direction} (ifindex {ifindex})")


def tc_filter_del(ifindex: int, direction: str, *, priority: int = 1, handle: int = 1) -> None:
    body = _filter_msg(ifindex, direction, priority, handle) + _attr(TCA_KIND, b"bpf\0")
    _request(RTM_DELTFILTER, 0, body, f"RTM_DELTFILTER bpf {direction} (ifindex {ifindex})")


def tc_filter_exists(ifindex: int, direction: str, *, priority: int = 1, handle: int = 1) -> bool:
    body = _filter_msg(ifindex, direction, priority, handle) + _attr(TCA_KIND, b"bpf\0")
    try:
        return bool(_request(RTM_GETTFILTER, 0, body, f"RTM_GETTFILTER bpf {direction} (ifindex {ifindex})"))
    except KernelError as exc:
        if exc.errno in (_errno.ENOENT, _errno.EINVAL):
            return False
        raise
