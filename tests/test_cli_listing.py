"""``bpfnb progs`` / ``bpfnb maps``: bpftool's layout in text, bpftool's keys in JSON (bpftool -j as the oracle)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from helpers import needs_bpftool
from oracles.bpftool import bpftool

from bpfnb import examples
from bpfnb.cli import main
from bpfnb.display.listing import listing_text
from bpfnb.display.text import printable
from bpfnb.kernel.system import PROG_COLUMNS, Listing


def _bpftool(*args: str):
    return bpftool(*args)


@pytest.fixture
def loaded():
    from bpfnb import EbpfLoader

    with EbpfLoader().load_file(examples.path("packet_counter")) as ebpf:
        yield ebpf


@pytest.mark.kernel
@needs_bpftool
@pytest.mark.parametrize("verb,what", [("progs", "prog"), ("maps", "map")])
def test_json_has_bpftool_keys_and_values(loaded, capsys, verb, what) -> None:
    ids = ([p.info().id for p in loaded.programs.values()] if verb == "progs"
           else [m.id for m in loaded.maps.values()])
    assert main([verb, "--json"]) == 0
    ours = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    for object_id in ids:
        theirs = _bpftool(what, "show", "id", str(object_id))
        mine = ours[object_id]
        volatile = {"run_cnt", "run_time_ns", "recursion_misses", "pids"}
        extra = {"verified_insns"}  # newer than this bpftool; bpfnb prints it too
        assert {k: v for k, v in mine.items() if k not in volatile | extra} == \
            {k: v for k, v in theirs.items() if k not in volatile}


@pytest.mark.kernel
def test_text_is_bpftool_like_and_narrow(loaded, capsys) -> None:
    assert main(["progs"]) == 0
    out = capsys.readouterr().out
    info = loaded.programs["xdp_count"].info()
    head = f"{info.id}: xdp  name xdp_count  tag {info.tag}  gpl"
    assert head in out.splitlines()
    assert max(len(line) for line in out.splitlines()) <= 100 and "NaN" not in out
    assert main(["maps"]) == 0
    maps = capsys.readouterr().out
    assert f"{loaded.maps['proto_stats'].id}: percpu_hash  name proto_stats  flags 0x0" in maps.splitlines()


def test_hostile_names_are_escaped_for_the_terminal() -> None:
    row = {c: 0 for c in PROG_COLUMNS} | {"id": 7, "name": "evil\x1b[31m\u202e", "type": "xdp", "tag": "0" * 16,
                                          "gpl": True, "loaded_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
                                          "map_ids": (), "pinned": ("/sys/fs/bpf/\x07bell",)}
    text = listing_text(Listing("programs", tuple(PROG_COLUMNS), (row,)))
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "evil\\x1b[31m\\u202e" in text and "\\x07bell" in text
    assert printable("plain") == "plain"
