"""BPF_PROG_TEST_RUN through the typed programs: verdicts for crafted packets and contexts.

The packets are built with ``struct`` (tests/attach_net.py); each program
of ``attach_net.bpf.o`` classifies them the same way (UDP to the watched
port counted, UDP to port 9 dropped, TCP bounced by XDP), so every program
type's verdict for every packet is known in advance.
"""

from __future__ import annotations

import struct

import pytest

from attach_net import arp_request, tcp_syn, udp_packet
from helpers import fixture_path, loaded

from bpfnb.loader import EbpfLoader
from bpfnb.programs import TestRuns, as_typed, read_globals

pytestmark = pytest.mark.kernel

PACKETS = {
    "udp 7777": udp_packet(7777),
    "udp 9 (discard)": udp_packet(9),
    "tcp syn": tcp_syn(),
    "arp": arp_request(),
}


@pytest.fixture(scope="module")
def net():
    with loaded(EbpfLoader(), fixture_path("attach_net")) as both:
        yield both


@pytest.fixture(scope="module")
def trace():
    ebpf = EbpfLoader().load_file(fixture_path("attach_trace"))
    progs = {name: as_typed(p) for name, p in ebpf.programs.items()}
    try:
        yield progs
    finally:
        for p in progs.values():
            p.close()
        ebpf.close()


def test_xdp_verdicts(net) -> None:
    ebpf, progs = net
    before = read_globals(ebpf)["xdp_seen"]
    runs = progs["xdp_watch"].test_runs(PACKETS)
    assert isinstance(runs, TestRuns)
    assert runs.verdicts() == {"udp 7777": "XDP_PASS", "udp 9 (discard)": "XDP_DROP", "tcp syn": "XDP_TX",
                               "arp": "XDP_PASS"}
    run = runs["udp 7777"]
    assert run.retval == 2 and run.data_out == PACKETS["udp 7777"] and run.data_in_len == len(PACKETS["udp 7777"])
    assert read_globals(ebpf)["xdp_seen"] == before + 1  # the program really ran: it counted the packet
    html = runs._repr_html_()
    assert "XDP_DROP" in html and "udp 9 (discard)" in html


def test_xdp_repeat_runs_the_program_n_times(net) -> None:
    ebpf, progs = net
    before = read_globals(ebpf)["xdp_seen"]
    run = progs["xdp_watch"].test_run(PACKETS["udp 7777"], repeat=10)
    assert run.repeat == 10 and run.verdict == "XDP_PASS"
    assert read_globals(ebpf)["xdp_seen"] == before + 10


def test_tc_verdicts(net) -> None:
    _, progs = net
    runs = progs["tcx_in"].test_runs(PACKETS)
    assert runs.verdicts() == {"udp 7777": "TC_ACT_OK", "udp 9 (discard)": "TC_ACT_SHOT", "tcp syn": "TC_ACT_OK",
                               "arp": "TC_ACT_OK"}


def test_socket_filter_keeps_trim_to_bytes(net) -> None:
    _, progs = net
    run = progs["keep_head"].test_run(PACKETS["udp 7777"])
    assert run.retval == 4 and run.verdict == "keep 4 bytes"
    assert progs["drop_all"].test_run(PACKETS["udp 7777"]).verdict == "drop"


def test_cgroup_skb_verdicts(net) -> None:
    _, progs = net
    runs = progs["cg_egress"].test_runs(PACKETS)
    assert runs.verdicts() == {"udp 7777": "allow", "udp 9 (discard)": "drop", "tcp syn": "allow", "arp": "allow"}


def test_flow_dissector_fills_flow_keys(net) -> None:
    _, progs = net
    run = progs["dissect"].test_run(PACKETS["udp 7777"])
    assert run.verdict == "BPF_OK"
    # struct bpf_flow_keys: nhoff, thoff, addr_proto (u16), is_frag, is_first_frag, is_encap, ip_proto (u8) ...
    nhoff, thoff, addr_proto = struct.unpack_from("<HHH", run.data_out)
    assert (nhoff, thoff, addr_proto, run.data_out[9]) == (14, 34, 0x0800, 17)
    assert run.data_out[16:20] == bytes([10, 201, 0, 1]) and run.data_out[20:24] == bytes([10, 201, 0, 2])
    assert progs["dissect"].test_run(PACKETS["arp"]).verdict == "BPF_DROP"


def test_raw_tracepoint_runs_on_its_args(trace) -> None:
    run = trace["add_args"].test_run(ctx_in=struct.pack("<QQ", 40, 2))
    assert run.retval == 42 and run.verdict is None and run.repeat == 0
    with pytest.raises(ValueError, match="ctx_in"):
        trace["add_args"].test_run(b"data")


def test_syscall_program_writes_its_context(trace) -> None:
    run = trace["sum"].test_run(ctx_in=struct.pack("<IIQ", 1000, 234, 0))
    assert run.retval == 7
    assert struct.unpack("<IIQ", run.ctx_out) == (1000, 234, 1234)
    assert trace["sum"].run(struct.pack("<IIQ", 1, 2, 0)).ctx_out[8:] == struct.pack("<Q", 3)
