"""Network programs attached end to end: XDP and tcx on a veth pair, socket filters, flow dissector.

The veth pair joins two network namespaces made for the test, so the only
traffic the programs see is what the test sends: UDP datagrams from
``ns_a`` to ``ns_b``.  Counters are globals read from ``.bss``; bpftool
run inside the namespace (``ip netns exec NS bpftool net -j``) is the
oracle for what is attached, before and after detaching.
"""

from __future__ import annotations

import errno
import json
import socket
import subprocess
import time

import pytest

from attach_net import VethPair, make_veth_pair, udp_packet
from helpers import fixture_path, loaded, require_feature
from oracles.bpftool import bpftool

from bpfnb.errors import AttachError
from bpfnb.kernel.attach import in_netns
from bpfnb.kernel.links import Link, SocketAttachment
from bpfnb.loader import EbpfLoader
from bpfnb.programs import FlowDissector, SchedClassifier, SocketFilter, Xdp, read_globals
from bpfnb.uapi import AttachType, LinkType

pytestmark = pytest.mark.kernel


@pytest.fixture
def veth_pair(unique_name):
    yield from make_veth_pair(unique_name)

WATCHED = 7788  # set through the watch_port knob; the fixture's default is 7777


@pytest.fixture
def net():
    with loaded(EbpfLoader().set_global("watch_port", WATCHED), fixture_path("attach_net")) as both:
        yield both


def bpftool_net(netns: str) -> dict:
    return bpftool("net", netns=netns)[0]


def flow_dissector_ids(netns: str) -> list[int]:
    """Flow dissector programs of a netns, from bpftool's text output (7.1's JSON for them is invalid)."""
    import re

    out = bpftool("net", netns=netns, json=False)
    section = out.split("flow_dissector:", 1)[1] if "flow_dissector:" in out else ""
    return [int(m) for m in re.findall(r"\bid (\d+)", section)]


def bpftool_links() -> dict[int, dict]:
    return {entry["id"]: entry for entry in bpftool("link", "show")}


def send_udp(pair: VethPair, port: int, count: int) -> None:
    with in_netns(pair.ns_a):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        for i in range(count):
            sock.sendto(b"bpfnb %d" % i, (pair.addr_b, port))


def receiver(pair: VethPair, port: int) -> socket.socket:
    with in_netns(pair.ns_b):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((pair.addr_b, port))
    sock.setblocking(False)
    return sock


def drain(sock: socket.socket, expect: int) -> int:
    """Datagrams received, polling (bounded) until ``expect`` arrived or nothing more comes."""
    got = 0
    for _ in range(100):
        try:
            while True:
                sock.recv(2048)
                got += 1
        except BlockingIOError:
            pass
        if got >= expect:
            break
        time.sleep(0.01)
    return got


def poll(read, want: int) -> int:
    value = read()
    for _ in range(100):
        if value >= want:
            break
        time.sleep(0.01)
        value = read()
    return value


def test_xdp_on_veth_counts_and_drops(net, veth_pair: VethPair) -> None:
    ebpf, progs = net
    xdp = progs["xdp_watch"]
    assert isinstance(xdp, Xdp)
    link = xdp.attach(veth_pair.vb, netns=veth_pair.ns_b)
    try:
        assert link.info().type == LinkType.XDP and link.attached
        shown = bpftool_net(veth_pair.ns_b)["xdp"]
        assert [(e["devname"], e["id"]) for e in shown] == [(veth_pair.vb, xdp.id)]
        with receiver(veth_pair, WATCHED) as watched, receiver(veth_pair, 9) as discard:
            send_udp(veth_pair, WATCHED, 5)
            send_udp(veth_pair, 9, 3)
            assert drain(watched, 5) == 5
            assert poll(lambda: read_globals(ebpf)["xdp_seen"], 5) == 5
            assert drain(discard, 1) == 0  # XDP_DROP: never reached the socket
    finally:
        link.detach()
    assert not link.attached
    assert bpftool_net(veth_pair.ns_b)["xdp"] == []
    send_udp(veth_pair, WATCHED, 2)
    time.sleep(0.05)
    assert read_globals(ebpf)["xdp_seen"] == 5


def test_xdp_flags_and_errors(net, veth_pair: VethPair) -> None:
    _, progs = net
    xdp = progs["xdp_watch"]
    with xdp.attach(veth_pair.vb, "skb", netns=veth_pair.ns_b) as link:
        assert bpftool_net(veth_pair.ns_b)["xdp"][0]["mode"] == "generic"
        with pytest.raises(AttachError) as exc:  # one XDP link per interface and mode
            xdp.attach(veth_pair.vb, "skb", netns=veth_pair.ns_b)
        assert exc.value.errno == errno.EBUSY and "xdp_watch" in str(exc.value)
        assert link.attached
    with pytest.raises(Exception, match="no interface"):
        xdp.attach("nosuchdev0", netns=veth_pair.ns_b)


def test_tcx_ingress_and_egress_on_veth(net, veth_pair: VethPair) -> None:
    require_feature("tcx")  # 6.6; older kernels attach through netlink (test_tc_legacy_cls_bpf_...)
    ebpf, progs = net
    tin, tout = progs["tcx_in"], progs["tcx_out"]
    assert isinstance(tin, SchedClassifier)
    ingress = tin.attach(veth_pair.vb, netns=veth_pair.ns_b)  # direction from the section: tcx/ingress
    egress = tout.attach(veth_pair.va, "egress", netns=veth_pair.ns_a)
    try:
        assert ingress.info().type == LinkType.TCX
        assert ingress.info().details["attach_type"] == AttachType.TCX_INGRESS
        assert egress.info().details["attach_type"] == AttachType.TCX_EGRESS
        # bpftool 7.1's `net` predates tcx; its `link show` lists the links with their programs.
        shown = bpftool_links()
        assert shown[ingress.id]["prog_id"] == tin.id and shown[egress.id]["prog_id"] == tout.id
        ids = {ingress.id, egress.id}
        with receiver(veth_pair, 9) as discard:
            send_udp(veth_pair, WATCHED, 4)
            send_udp(veth_pair, 9, 2)
            assert poll(lambda: read_globals(ebpf)["tcx_ingress_seen"], 4) == 4
            assert read_globals(ebpf)["tcx_egress_seen"] == 4
            assert drain(discard, 1) == 0  # TC_ACT_SHOT on egress already
    finally:
        tin.close()  # closing the program detaches its links
        egress.detach()
    assert not ingress.attached and not egress.attached
    assert not ids & set(bpftool_links())
    assert bpftool_net(veth_pair.ns_b)["tc"] == [] and bpftool_net(veth_pair.ns_a)["tc"] == []


def test_socket_filter_trims_and_drops(net) -> None:
    _, progs = net
    keep, drop = progs["keep_head"], progs["drop_all"]
    assert isinstance(keep, SocketFilter)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        b.setblocking(False)
        att = keep.attach(b)
        assert isinstance(att, SocketAttachment) and att.attached
        a.send(b"hello world")
        assert b.recv(100) == b"hell"  # trim_to = 4
        att.detach()
        assert not att.attached and keep.links == []
        a.send(b"hello world")
        assert b.recv(100) == b"hello world"
        with drop.attach(b):
            a.send(b"dropped")
            with pytest.raises(BlockingIOError):
                b.recv(100)
        a.send(b"back")
        assert b.recv(100) == b"back"


def test_socket_filter_on_a_closed_socket_is_refused(net) -> None:
    _, progs = net
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    att = progs["keep_head"].attach(sock)
    sock.close()
    assert not att.attached
    att.detach()  # nothing to undo: no error
    with pytest.raises((AttachError, OSError)):
        progs["keep_head"].attach(sock)


def test_flow_dissector_attaches_to_a_netns(net, veth_pair: VethPair) -> None:
    _, progs = net
    fd = progs["dissect"]
    assert isinstance(fd, FlowDissector)
    link = fd.attach(veth_pair.ns_b)
    try:
        assert isinstance(link, Link) and link.info().type == LinkType.NETNS
        assert flow_dissector_ids(veth_pair.ns_b) == [fd.id]
        assert flow_dissector_ids(veth_pair.ns_a) == []
    finally:
        link.detach()
    assert flow_dissector_ids(veth_pair.ns_b) == []


def test_udp_packet_helper_is_well_formed() -> None:
    from attach_net import checksum

    pkt = udp_packet(53)
    assert len(pkt) == 14 + 20 + 8 + 5 and checksum(pkt[14:34]) == 0  # header checksum verifies


# --- the pre-link paths: rtnetlink XDP and tc clsact + cls_bpf ------------------------------


def _ip_xdp_prog_id(netns: str, dev: str) -> int | None:
    out = subprocess.run(["ip", "-n", netns, "-j", "link", "show", dev], capture_output=True, text=True, check=True).stdout
    xdp = json.loads(out)[0].get("xdp")
    return xdp["prog"]["id"] if xdp else None


def _tc_filters(netns: str, dev: str, direction: str) -> list[dict]:
    out = subprocess.run(["tc", "-n", netns, "-j", "filter", "show", "dev", dev, direction],
                         capture_output=True, text=True, check=True).stdout
    return [f for f in json.loads(out or "[]") if f.get("kind") == "bpf" and "options" in f]


def test_xdp_through_netlink_counts_and_detaches_only_itself(net, veth_pair: VethPair) -> None:
    from bpfnb.kernel.netlink_attach import NetlinkXdpAttachment

    ebpf, progs = net
    xdp = progs["xdp_watch"]
    att = xdp.attach(veth_pair.vb, "skb", netns=veth_pair.ns_b, netlink=True)
    try:
        assert isinstance(att, NetlinkXdpAttachment) and att.attached
        assert _ip_xdp_prog_id(veth_pair.ns_b, veth_pair.vb) == xdp.id
        with pytest.raises(AttachError) as exc:  # UPDATE_IF_NOEXIST: never replaces someone else's program
            xdp.attach(veth_pair.vb, "skb", netns=veth_pair.ns_b, netlink=True)
        assert exc.value.errno == errno.EBUSY
        with receiver(veth_pair, WATCHED) as watched:
            send_udp(veth_pair, WATCHED, 3)
            assert drain(watched, 3) == 3
            assert poll(lambda: read_globals(ebpf)["xdp_seen"], 3) == 3
    finally:
        att.detach()
    assert not att.attached and _ip_xdp_prog_id(veth_pair.ns_b, veth_pair.vb) is None
    assert xdp.links == []


def test_tc_legacy_cls_bpf_counts_and_detaches(net, veth_pair: VethPair) -> None:
    from bpfnb.kernel.netlink_attach import TcFilterAttachment

    ebpf, progs = net
    tin = progs["tcx_in"]
    att = tin.attach(veth_pair.vb, netns=veth_pair.ns_b, legacy=True, priority=7)
    try:
        assert isinstance(att, TcFilterAttachment) and att.attached and att.kind == "tc ingress (cls_bpf)"
        [shown] = _tc_filters(veth_pair.ns_b, veth_pair.vb, "ingress")
        assert shown["pref"] == 7 and shown["options"]["bpf_name"] == "tcx_in" and shown["options"]["prog"]["id"] == tin.id
        send_udp(veth_pair, WATCHED, 4)
        assert poll(lambda: read_globals(ebpf)["tcx_ingress_seen"], 4) == 4
    finally:
        tin.close()  # closing the program detaches what it attached, the netlink way too
    assert not att.attached and _tc_filters(veth_pair.ns_b, veth_pair.vb, "ingress") == []


def test_unsupported_links_fall_back_to_netlink(net, veth_pair: VethPair, monkeypatch) -> None:
    """A kernel without XDP links or tcx answers EINVAL: the same call then uses netlink."""
    from bpfnb.errors import KernelError
    from bpfnb.kernel.netlink_attach import NetlinkXdpAttachment, TcFilterAttachment
    from bpfnb.programs import base

    def old_kernel(*args, **kw):
        raise KernelError(errno.EINVAL, "BPF_LINK_CREATE")

    monkeypatch.setattr(base, "link_create", old_kernel)
    _, progs = net
    xdp_att = progs["xdp_watch"].attach(veth_pair.vb, netns=veth_pair.ns_b)
    tc_att = progs["tcx_in"].attach(veth_pair.vb, netns=veth_pair.ns_b)
    try:
        assert isinstance(xdp_att, NetlinkXdpAttachment) and xdp_att.attached
        assert isinstance(tc_att, TcFilterAttachment) and tc_att.attached
        with pytest.raises(AttachError):  # no fallback when asked for links only
            progs["xdp_watch"].attach(veth_pair.va, netns=veth_pair.ns_a, netlink=False)
    finally:
        xdp_att.detach()
        tc_att.detach()
    assert _ip_xdp_prog_id(veth_pair.ns_b, veth_pair.vb) is None
