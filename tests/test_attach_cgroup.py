"""Cgroup programs end to end: cgroup_skb, sock_create, connect4, sockops feeding a sockmap (sk_skb, sk_msg).

Each test makes a fresh cgroup v2 directory and runs a child process in it
(the child writes its own pid to ``cgroup.procs`` before exec'ing Python),
so the programs see exactly the child's sockets.  bpftool (``cgroup show
PATH -j``, ``link show -j``) is the oracle for attached and detached.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from helpers import cgroup_dir, fixture_path, newer_assertions
from oracles.bpftool import bpftool, link_ids

from bpfnb.kernel.features import SOCKMAP_LINK_MIN_VERSION, Support, sockmap_links
from bpfnb.kernel.links import Link, ProgAttachment
from bpfnb.kernel.version import KernelVersion, running_kernel
from bpfnb.loader import EbpfLoader
from bpfnb.programs import CgroupSkb, CgroupSock, CgroupSockAddr, SkMsg, SkSkb, SockOps, as_typed, read_globals
from bpfnb.uapi import AttachType, LinkType

pytestmark = pytest.mark.kernel

@pytest.fixture
def cgroup(unique_name):
    with cgroup_dir(unique_name) as path:
        yield path


@pytest.fixture
def netns(unique_name):
    name = f"{unique_name}n"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def load(name: str):
    ebpf = EbpfLoader().load_file(fixture_path(name))
    return ebpf, {n: as_typed(p) for n, p in ebpf.programs.items()}


def close(ebpf, progs) -> None:
    for p in progs.values():
        p.close()
    ebpf.close()


def bpftool_cgroup(path: str) -> list[dict]:
    return bpftool("cgroup", "show", path)


def run_in_cgroup(cgroup: str, script: str, netns: str | None = None) -> str:
    """Run ``script`` with Python in a child that joined ``cgroup`` first (and then ``netns``)."""
    cmd = f'echo $$ > {cgroup}/cgroup.procs && exec "$@"'
    argv = [sys.executable, "-c", script]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    done = subprocess.run(["sh", "-c", cmd, "sh", *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


UDP_CHILD = """
import errno, socket
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0)); rx.settimeout(5)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3):
    tx.sendto(b"x%d" % i, rx.getsockname())
got = [rx.recv(100) for _ in range(3)]
try:
    tx.sendto(b"discard", ("127.0.0.1", 9))
    print("sent", len(got))
except PermissionError:
    print("refused", len(got))
"""


def test_cgroup_skb_links_count_the_childs_packets(cgroup) -> None:
    ebpf, progs = load("attach_net")
    try:
        egress, ingress = progs["cg_egress"], progs["cg_ingress"]
        assert isinstance(egress, CgroupSkb)
        out_link = egress.attach(cgroup)
        in_link = ingress.attach(cgroup)
        assert isinstance(out_link, Link) and out_link.info().type == LinkType.CGROUP
        assert out_link.info().details["cgroup_id"] == os.stat(cgroup).st_ino
        shown = {(e["id"], e["attach_type"]) for e in bpftool_cgroup(cgroup)}
        assert shown == {(egress.id, "cgroup_inet_egress"), (ingress.id, "cgroup_inet_ingress")}
        assert run_in_cgroup(cgroup, UDP_CHILD).split() == ["refused", "3"]  # port 9 dropped at egress: EPERM
        c = read_globals(ebpf)
        assert c["cg_egress_seen"] == 4 and c["cg_ingress_seen"] == 3
        out_link.detach()
        assert [e["attach_type"] for e in bpftool_cgroup(cgroup)] == ["cgroup_inet_ingress"]
        assert run_in_cgroup(cgroup, UDP_CHILD).split() == ["sent", "3"]
    finally:
        close(ebpf, progs)
    assert bpftool_cgroup(cgroup) == [] and not in_link.attached


def test_cgroup_skb_legacy_prog_attach(cgroup) -> None:
    ebpf, progs = load("attach_net")
    try:
        att = progs["cg_egress"].attach(cgroup, legacy=True)
        assert isinstance(att, ProgAttachment) and att.attached
        shown = bpftool_cgroup(cgroup)
        assert [(e["id"], e["attach_type"], e["attach_flags"]) for e in shown] == \
            [(progs["cg_egress"].id, "cgroup_inet_egress", "multi")]
        assert run_in_cgroup(cgroup, UDP_CHILD).split() == ["refused", "3"]
        att.detach()
        assert not att.attached and bpftool_cgroup(cgroup) == []
        att.detach()  # idempotent
    finally:
        close(ebpf, progs)


TCP_CHILD = """
import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
cli = socket.create_connection(srv.getsockname(), timeout=5)
peer, _ = srv.accept(); peer.settimeout(5)
cli.sendall(b"ping")
got = peer.recv(100)
peer.sendall(b"pong")
back = cli.recv(100)
print(got.decode(), back.decode())
"""


def test_sockops_fills_a_sockmap_seen_by_sk_msg_and_sk_skb(cgroup, netns) -> None:
    ebpf, progs = load("attach_sock")
    try:
        assert isinstance(progs["on_sockops"], SockOps)
        assert isinstance(progs["on_skb"], SkSkb) and isinstance(progs["on_msg"], SkMsg)
        assert isinstance(progs["on_sock_create"], CgroupSock)
        assert isinstance(progs["on_connect4"], CgroupSockAddr)
        socks = ebpf.maps["socks"]
        links = [progs[n].attach(cgroup) for n in ("on_sockops", "on_sock_create", "on_connect4")]
        links.append(progs["on_skb"].attach(socks))
        links.append(progs["on_msg"].attach(socks))
        if has_sockmap_links():
            sockmap_info = links[-1].info()
            assert sockmap_info.type == LinkType.SOCKMAP and sockmap_info.details["map_id"] == socks.id
        else:  # BPF_PROG_ATTACH on the map, the API of kernels before sockmap links
            assert [type(a) for a in links[-2:]] == [ProgAttachment, ProgAttachment]
            assert [a.kind for a in links[-2:]] == ["legacy sk_skb_stream_verdict", "legacy sk_msg_verdict"]
        assert {link.id for link in links if isinstance(link, Link)} <= link_ids()
        assert {e["attach_type"] for e in bpftool_cgroup(cgroup)} == {"cgroup_sock_ops", "cgroup_inet_sock_create", "cgroup_inet4_connect"}

        assert run_in_cgroup(cgroup, TCP_CHILD, netns=netns).split() == ["ping", "pong"]
        c = read_globals(ebpf)
        assert (c["active_established"], c["passive_established"]) == (1, 1)
        assert c["socks_created"] == 2 and c["connects4"] == 1  # listener + client; one connect()
        assert c["msgs"] == 2 and c["msg_bytes"] == 8  # ping and pong went through sk_msg
        assert c["skbs"] >= 2  # each side received through the sk_skb verdict

        for link in links:
            link.detach()
        assert bpftool_cgroup(cgroup) == []
        assert not any(link.attached for link in links)
    finally:
        close(ebpf, progs)


def has_sockmap_links() -> bool:
    """The probe, checked against the release that brought sockmap links."""
    answer = sockmap_links()
    assert answer is not Support.UNKNOWN
    assert bool(answer) == (running_kernel() >= KernelVersion.parse(SOCKMAP_LINK_MIN_VERSION))
    return bool(answer)


def test_sockmap_attach_modes() -> None:
    """legacy=False demands a link (refused with the release below 6.10), legacy=True uses
    BPF_PROG_ATTACH everywhere; both detach, so the next attach finds the map free."""
    ebpf, progs = load("attach_sock")
    try:
        socks, on_msg = ebpf.maps["socks"], progs["on_msg"]
        with newer_assertions("sockmap links"):  # below 6.10: the refusal, and the rest still runs
            with on_msg.attach(socks, legacy=False) as link:
                assert isinstance(link, Link) and link.info().type == LinkType.SOCKMAP
                assert link.info().details["attach_type"] == AttachType.SK_MSG_VERDICT
            assert not link.attached
        assert has_sockmap_links() or on_msg.links == []  # a refused attach leaves nothing behind
        legacy = on_msg.attach(socks, legacy=True)
        assert isinstance(legacy, ProgAttachment) and legacy.attached and legacy.target == "sockmap socks"
        assert on_msg.links == [legacy]
        legacy.detach()
        assert not legacy.attached and on_msg.links == []
        legacy.detach()  # idempotent
        again = on_msg.attach(socks)  # the default picks the kernel's API
        assert isinstance(again, Link if has_sockmap_links() else ProgAttachment)
        again.detach()
    finally:
        close(ebpf, progs)


def test_cgroup_attach_needs_a_hook_and_a_directory(cgroup) -> None:
    ebpf, progs = load("attach_net")
    try:
        from bpfnb.errors import KernelError

        with pytest.raises(KernelError):
            progs["cg_egress"].attach(f"{cgroup}/missing-{uuid.uuid4().hex[:6]}")
        assert progs["cg_egress"].links == []
    finally:
        close(ebpf, progs)
