"""bpfnb.maps.show() / bpfnb.programs.show() against bpftool's view of the same kernel."""

from __future__ import annotations

import os
import shutil

import pytest

import bpfnb
from oracles.bpftool import bpftool

from bpfnb.kernel import syscall
from bpfnb.uapi import MapType, ProgType

pytestmark = pytest.mark.kernel

RET0 = bytes.fromhex("b700000000000000" "9500000000000000")


@pytest.fixture
def objects(unique_name):
    """A hash map, a frozen array and a socket filter, all ours."""
    made = [
        syscall.map_create(MapType.HASH, 4, 8, 16, name=f"{unique_name[:10]}h"),
        syscall.map_create(MapType.ARRAY, 4, 4, 2, name=f"{unique_name[:10]}a", map_flags=1 << 7),
    ]
    syscall.map_freeze(made[1])
    prog = syscall.prog_load(ProgType.SOCKET_FILTER, RET0, "GPL", name=f"{unique_name[:10]}p").fd
    made.append(prog)
    yield made
    for fd in made:
        fd.close()


def _id(fd):
    return bpfnb.kernel.obj_get_info_by_fd(fd).id


def test_maps_match_bpftool(objects):
    ours = {r["id"]: r for r in bpfnb.maps.show()}
    theirs = {m["id"]: m for m in bpftool("map", "show")}
    for fd in objects[:2]:
        mid = _id(fd)
        o, t = ours[mid], theirs[mid]
        assert (o["name"], o["type"], o["key_size"], o["value_size"], o["max_entries"], o["flags"]) == (
            t["name"], t["type"], t["bytes_key"], t["bytes_value"], t["max_entries"], t["flags"],
        )
        assert o["memlock"] == t["bytes_memlock"]
        assert o["frozen"] == bool(t.get("frozen", 0))
    assert ours[_id(objects[1])]["frozen"] and not ours[_id(objects[0])]["frozen"]


def test_programs_match_bpftool(objects):
    ours = {r["id"]: r for r in bpfnb.programs.show()}
    pid = _id(objects[2])
    t = bpftool("prog", "show", "id", str(pid))
    o = ours[pid]
    assert (o["name"], o["type"], o["tag"], o["gpl"], o["xlated_len"]) == (
        t["name"], t["type"], t["tag"], t["gpl_compatible"], t["bytes_xlated"],
    )
    assert o["uid"] == t["uid"] and o["memlock"] == t["bytes_memlock"]
    assert int(o["loaded_at"].timestamp()) in range(t["loaded_at"] - 2, t["loaded_at"] + 3)


def test_pinned_paths_are_found(objects, unique_name):
    pin_dir = f"/sys/fs/bpf/{unique_name}"
    os.mkdir(pin_dir)
    try:
        syscall.obj_pin(objects[0], f"{pin_dir}/m")
        syscall.obj_pin(objects[2], f"{pin_dir}/p")
        maps = {r["id"]: r for r in bpfnb.maps.show(pinned=True)}
        progs = {r["id"]: r for r in bpfnb.programs.show(pinned=True)}
        assert maps[_id(objects[0])]["pinned"] == (f"{pin_dir}/m",)
        assert progs[_id(objects[2])]["pinned"] == (f"{pin_dir}/p",)
        assert maps[_id(objects[1])]["pinned"] == ()
    finally:
        shutil.rmtree(pin_dir, ignore_errors=True)


def test_listing_views(objects):
    listing = bpfnb.maps.show()
    df = listing.to_dataframe()
    assert _id(objects[0]) in df.index and df.loc[_id(objects[0]), "type"] == "hash"
    html = listing._repr_html_()
    assert "maps in the kernel" in html and "<th>max_entries</th>" in html
    assert repr(listing).startswith("<Listing ")
    progs = bpfnb.programs.show().to_dataframe()
    assert progs.loc[_id(objects[2]), "type"] == "socket_filter"
