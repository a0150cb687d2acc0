"""Link objects: update, tcx ordering, views, and closing an Ebpf whose programs are typed.

The last test stands in for the one-line loader change (``as_typed`` at
load): with typed programs in the pipeline, ``Ebpf.close()`` leaves nothing
attached, which bpftool confirms.
"""

from __future__ import annotations

import gc
import os

import pytest

from attach_net import VethPair, make_veth_pair
from helpers import fixture_path, require_feature
from oracles.bpftool import link_ids as bpftool_link_ids

from bpfnb.kernel.attach import ifindex_of, in_netns
from bpfnb.kernel.syscall_attach import prog_query
from bpfnb.loader import EbpfLoader
from bpfnb.programs import as_typed, detach_all
from bpfnb.uapi import AttachType

pytestmark = pytest.mark.kernel


@pytest.fixture
def veth_pair(unique_name):
    yield from make_veth_pair(unique_name)

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "bpfnb", "examples", "packet_counter.bpf.o")


@pytest.fixture
def two_objects():
    net = EbpfLoader().load_file(fixture_path("attach_net"))
    counter = EbpfLoader().load_file(EXAMPLE)
    try:
        yield {n: as_typed(p) for n, p in net.programs.items()}, {n: as_typed(p) for n, p in counter.programs.items()}
    finally:
        for ebpf in (net, counter):
            detach_all(ebpf.programs)
            ebpf.close()


def test_xdp_link_update_swaps_the_program(two_objects, veth_pair: VethPair) -> None:
    net, counter = two_objects
    with net["xdp_watch"].attach(veth_pair.vb, netns=veth_pair.ns_b) as link:
        assert link.info().prog_id == net["xdp_watch"].id
        link.update(counter["xdp_count"], old_program=net["xdp_watch"])
        assert link.info().prog_id == counter["xdp_count"].id and link.program == "xdp_count"
    assert not link.attached


def test_tcx_before_orders_programs(two_objects, veth_pair: VethPair) -> None:
    require_feature("tcx")  # 6.6
    net, counter = two_objects
    first = net["tcx_in"].attach(veth_pair.vb, netns=veth_pair.ns_b)
    second = counter["tc_count"].attach(veth_pair.vb, "ingress", netns=veth_pair.ns_b, before=first)
    with in_netns(veth_pair.ns_b):
        order = prog_query(ifindex_of(veth_pair.vb), AttachType.TCX_INGRESS).prog_ids
    assert order == (counter["tc_count"].id, net["tcx_in"].id)
    assert detach_all([net["tcx_in"], counter["tc_count"]]) == 2
    assert not first.attached and not second.attached
    with in_netns(veth_pair.ns_b):
        assert prog_query(ifindex_of(veth_pair.vb), AttachType.TCX_INGRESS).prog_ids == ()


def test_tc_program_needs_a_direction(two_objects) -> None:
    _, counter = two_objects
    with pytest.raises(ValueError, match="direction"):
        counter["tc_count"].attach("lo")
    with pytest.raises(ValueError, match="ingress"):
        counter["tc_count"].attach("lo", "sideways")


def test_views_of_links_and_programs(two_objects, veth_pair: VethPair) -> None:
    net, _ = two_objects
    xdp = net["xdp_watch"]
    link = xdp.attach(veth_pair.vb, netns=veth_pair.ns_b)
    html = link._repr_html_()
    assert "xdp_watch" in html and veth_pair.vb in html and 'class="bpfnb-ok">attached<' in html
    assert f'<span class="bpfnb-live">{link.id}</span>' in html  # ids are marked for the sanitizer
    prog_html = xdp._repr_html_()
    assert "attachments (1)" in prog_html and "links=1" in repr(xdp)
    link.detach()
    assert "closed" in link._repr_html_() and "links=" not in repr(xdp)


def test_as_typed_is_remembered_and_detach_all_takes_plain_programs(veth_pair: VethPair) -> None:
    ebpf = EbpfLoader().load_file(fixture_path("attach_net"))
    try:
        plain = ebpf.programs["xdp_watch"]
        assert as_typed(plain) is as_typed(plain)
        link = as_typed(plain).attach(veth_pair.vb, netns=veth_pair.ns_b)
        assert detach_all(ebpf.programs) == 1  # the plain programs an Ebpf holds
        assert not link.attached
    finally:
        ebpf.close()


def test_typed_program_pin_and_from_pin(unique_name, veth_pair: VethPair) -> None:
    from bpfnb.programs import Xdp

    ebpf = EbpfLoader().load_file(fixture_path("attach_net"))
    path = f"/sys/fs/bpf/{unique_name}"
    try:
        xdp = as_typed(ebpf.programs["xdp_watch"])
        xdp.pin(path)
        again = Xdp.from_pin(path)  # a typed class adopts a pinned program directly
        assert isinstance(again, Xdp) and again.id == xdp.id and again.pinned == path
        with again.attach(veth_pair.vb, netns=veth_pair.ns_b) as link:
            assert link.info().prog_id == xdp.id
        again.unpin()
        again.close()
        assert not os.path.exists(path) and not link.attached
    finally:
        if os.path.exists(path):
            os.unlink(path)
        ebpf.close()


def test_system_links_agree_with_bpftool(veth_pair: VethPair) -> None:
    from bpfnb.kernel.links import system_links

    ebpf = EbpfLoader().load_file(fixture_path("attach_net"))
    try:
        link = as_typed(ebpf.programs["xdp_watch"]).attach(veth_pair.vb, netns=veth_pair.ns_b)
        link_id = link.id
        mine = {info.id: info for info in system_links()}
        assert link_id in mine and mine[link_id].prog_id == ebpf.programs["xdp_watch"].id
        assert link_id in bpftool_link_ids()
        link.detach()
        assert link_id not in {info.id for info in system_links()}
    finally:
        ebpf.close()


def test_ebpf_close_detaches_typed_programs(veth_pair: VethPair) -> None:
    require_feature("tcx")  # 6.6: the tc program's attachment is a tcx link
    ebpf = EbpfLoader().load_file(fixture_path("attach_net"))
    # What the loader does once it hands out typed programs (see the issue report).
    ebpf._pipeline.programs = {n: as_typed(p) for n, p in ebpf._pipeline.programs.items()}
    programs = ebpf._pipeline.programs
    links = [programs["xdp_watch"].attach(veth_pair.vb, netns=veth_pair.ns_b),
             programs["tcx_in"].attach(veth_pair.vb, netns=veth_pair.ns_b)]
    ids = {link.id for link in links}
    assert ids <= bpftool_link_ids()
    ebpf.close()
    gc.collect()
    assert not ids & bpftool_link_ids()
    assert not any(link.attached for link in links)
