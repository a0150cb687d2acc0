"""``bpfnb btf dump`` through argparse, diffed against bpftool's output."""

from __future__ import annotations

import argparse
import io
import json

import pytest
from helpers import all_fixtures, fixture_path, needs_bpftool, needs_vmlinux
from oracles.bpftool import bpftool

import bpfnb.btf.btf as btf_module
from bpfnb.btf import Btf
from bpfnb.cli.btf import add_btf_parser
from bpfnb.errors import UnknownName

VMLINUX = btf_module.SYS_BTF / "vmlinux"  # where Btf.from_sys_fs() reads (-p mutant_btf moves it)
FIXTURES = [p.name.removesuffix(".bpf.o") for p in all_fixtures()]


def run(argv: list[str]) -> str:
    parser = argparse.ArgumentParser(prog="bpfnb")
    add_btf_parser(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(argv)
    args.out = io.StringIO()
    assert args.func(args) == 0
    return args.out.getvalue()


def bpftool_dump(*argv: str) -> str:
    return bpftool("btf", "dump", *argv, json=False)


@needs_bpftool
@pytest.mark.parametrize("name", FIXTURES)
def test_raw_is_identical_to_bpftool(name):
    path = str(fixture_path(name))
    assert run(["btf", "dump", path]) == bpftool_dump("file", path)


@pytest.mark.slow
@needs_bpftool
@needs_vmlinux
def test_raw_vmlinux_is_identical_to_bpftool():
    assert run(["btf", "dump", "--vmlinux"]) == bpftool_dump("file", str(VMLINUX))


@needs_bpftool
@pytest.mark.parametrize("name", ["multi", "btf_kinds"])
def test_json_matches_bpftool(name):
    path = str(fixture_path(name))
    ours = json.loads(run(["btf", "dump", path, "--format", "json"]))
    theirs = bpftool("btf", "dump", "file", path)
    assert ours == theirs


def test_type_filter_and_c_format():
    path = str(fixture_path("btf_kinds"))
    btf = Btf.from_file(path)
    raw = run(["btf", "dump", path, "--type", "packed_hdr"])
    lines = raw.splitlines()
    hdr = btf.find("packed_hdr")
    assert lines[0] == f"[{hdr.id}] STRUCT 'packed_hdr' size=7 vlen=3" and len(lines) == 4
    c = run(["btf", "dump", path, "--format", "c", "--type", "ops"])
    assert "struct ops {" in c and "struct packed_hdr {" in c and "struct task_like {" not in c
    two = json.loads(run(["btf", "dump", path, "--format", "json", "--type", "bits", "--type", "small_enum"]))
    assert [t["name"] for t in two["types"]] == ["bits", "small_enum"]


@needs_vmlinux
def test_default_is_vmlinux_and_errors():
    out = run(["btf", "dump", "--type", "task_struct"])
    ts = Btf.from_sys_fs().find("task_struct")
    assert out.startswith(f"[{ts.id}] STRUCT 'task_struct' size={ts.size} vlen={len(ts.members)}\n")
    with pytest.raises(UnknownName):
        run(["btf", "dump", "--type", "no_such_type_anywhere"])
    with pytest.raises(SystemExit):
        run(["btf", "dump", str(fixture_path("minimal")), "--vmlinux"])
    with pytest.raises(SystemExit):
        run(["btf", "dump", "--format", "yaml"])
