"""The libbpf oracle itself: it loads minimal.bpf.o and reports the tag bpftool and bpfnb see."""

from __future__ import annotations

import os

import pytest

from helpers import fixture_path
from oracles.bpftool import BPFTOOL, bpftool
from oracles.libbpf import LibbpfObject, available, version

from bpfnb.kernel import prog_get_fd_by_id, prog_info
from bpfnb.uapi import ProgType

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(not available(), reason="libbpf.so.1 not installed")]


def test_libbpf_loads_minimal_and_reports_tag(pin_root: str) -> None:
    assert version().startswith("v1.")
    with LibbpfObject(fixture_path("minimal"), pin_root) as obj:
        progs = obj.programs()
        assert set(progs) == {"count_packets"}
        assert progs["count_packets"].fd < 0  # nothing loaded yet (libbpf returns a -errno)
        obj.load()
        prog = obj.programs()["count_packets"]
        assert prog.section == "xdp" and prog.type == ProgType.XDP and prog.fd >= 0
        ours = prog_info(prog.fd)
        assert prog.tag == ours.tag
        if BPFTOOL is not None:
            shown = bpftool("prog", "show", "id", str(ours.id))
            assert shown["tag"] == prog.tag and shown["name"] == "count_packets"
        assert os.listdir(pin_root) == []  # minimal pins nothing; the root was ours anyway
    with pytest.raises(Exception):
        prog_get_fd_by_id(ours.id)  # closing the object unloaded the program


def test_pin_root_must_exist() -> None:
    with pytest.raises(FileNotFoundError):
        LibbpfObject(fixture_path("minimal"), "/sys/fs/bpf/bpfnb-does-not-exist")
