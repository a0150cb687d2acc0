"""Network fixtures for the attach tests: crafted packets, namespaces with a veth pair.

Packets are built with ``struct`` (Ethernet / IPv4 / UDP or TCP) so a test
can say exactly which verdict a program must give.  The namespaces and the
veth pair are made with iproute2 and always removed, even when the test
fails; names come from the ``unique_name`` fixture so parallel runs do not
collide.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import uuid
from dataclasses import dataclass
from typing import Iterator

import pytest

MAC_A = bytes.fromhex("020000000a01")
MAC_B = bytes.fromhex("020000000a02")
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(proto: int, payload: bytes, src: str = "10.201.0.1", dst: str = "10.201.0.2") -> bytes:
    import socket

    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + payload


def ethernet(ethertype: int, payload: bytes, dst: bytes = MAC_B, src: bytes = MAC_A) -> bytes:
    return dst + src + struct.pack("!H", ethertype) + payload


def udp_packet(dport: int, payload: bytes = b"hello", sport: int = 40000) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return ethernet(ETH_P_IP, ipv4(17, udp))


def tcp_syn(dport: int = 80, sport: int = 40001) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    return ethernet(ETH_P_IP, ipv4(6, tcp))


def arp_request() -> bytes:
    arp = struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, 1, MAC_A, bytes([10, 201, 0, 1]), bytes(6),
                      bytes([10, 201, 0, 2]))
    return ethernet(ETH_P_ARP, arp, dst=b"\xff" * 6)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class VethPair:
    """``va`` (10.201.0.1) in netns ``ns_a`` wired to ``vb`` (10.201.0.2) in ``ns_b``."""

    ns_a: str
    ns_b: str
    va: str
    vb: str
    addr_a: str = "10.201.0.1"
    addr_b: str = "10.201.0.2"


def make_veth_pair(unique_name: str) -> Iterator[VethPair]:
    """Two network namespaces joined by a veth pair with static neighbours (no ARP in the counts).

    A generator for a fixture to ``yield from``: the namespaces (and the
    veth pair with them) are deleted when it is closed, whatever happened.
    """
    if shutil.which("ip") is None:
        pytest.skip("iproute2 not installed")
    tag = uuid.uuid4().hex[:8]
    pair = VethPair(f"{unique_name}a", f"{unique_name}b", f"va{tag}", f"vb{tag}")
    try:
        ip("netns", "add", pair.ns_a)
        ip("netns", "add", pair.ns_b)
        ip("-n", pair.ns_a, "link", "add", pair.va, "address", MAC_A.hex(":"), "type", "veth",
           "peer", "name", pair.vb, "address", MAC_B.hex(":"), "netns", pair.ns_b)
        for ns, dev, addr, peer, mac in ((pair.ns_a, pair.va, pair.addr_a, pair.addr_b, MAC_B),
                                         (pair.ns_b, pair.vb, pair.addr_b, pair.addr_a, MAC_A)):
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "neigh", "add", peer, "lladdr", mac.hex(":"), "dev", dev, "nud", "permanent")
        yield pair
    finally:
        for ns in (pair.ns_a, pair.ns_b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
