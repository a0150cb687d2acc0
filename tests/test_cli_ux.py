"""The command line as a bpftool user meets it (issue 14, items 15 and 16).

``--version``; help on every option; ``load --log-level`` checked;
``load --pin DIR`` pins every program so the load outlives the command
(all or none, names checked before they become paths); ``load --pin-maps``
says what it pinned; ``inspect --html`` writes one self-contained, escaped
report.  Run as subprocesses where the point is that the load outlives
the process.
"""

from __future__ import annotations

import argparse
import html
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import fixture_path
from test_hardening_escape import renamed

from bpfnb import examples
from bpfnb.cli import build_parser, main
from bpfnb.kernel.programs import Program

PACKET = str(examples.path("packet_counter"))


def bpfnb(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bpfnb.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def _parsers(parser: argparse.ArgumentParser, path: str = "bpfnb"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                assert helps.get(name), f"{path} {name}: no help line in the verb list"
                yield from _parsers(sub, f"{path} {name}")


@pytest.mark.parametrize("module", ["bpfnb", "bpfnb.cli"])
def test_version(module):
    """``python -m bpfnb`` is the command too (a venv's python without its scripts on PATH)."""
    proc = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"bpfnb {importlib.metadata.version('bpfnb')}"


def test_every_option_has_help():
    seen = 0
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help and len(action.help) > 8, f"{path} {action.option_strings or action.dest}: no help"
            seen += 1
    assert seen > 30


@pytest.mark.parametrize("level, says", [("9", "not a verifier log level"), ("-1", "not a verifier log level"),
                                         ("two", "not a number")])
def test_log_level_is_checked(level, says):
    proc = bpfnb("load", "--dry-run", "--log-level", level, PACKET)
    assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr


def test_log_level_accepts_the_kernel_bits(capsys):
    assert main(["load", "--dry-run", "--log-level", "6", PACKET]) == 1  # a dry run never says "loaded"
    assert "dry run" in capsys.readouterr().out


def test_pin_needs_a_real_load():
    proc = bpfnb("load", "--dry-run", "--pin", "/sys/fs/bpf/nowhere", PACKET)
    assert proc.returncode == 2 and "--pin needs a real load" in proc.stderr
    assert not os.path.exists("/sys/fs/bpf/nowhere")


# --- inspect --html ----------------------------------------------------------------------


def _report(tmp_path: Path, obj: str, *extra: str) -> str:
    out = tmp_path / "report.html"
    proc = bpfnb("inspect", obj, "--html", str(out), *extra)
    assert proc.returncode == 0, proc.stderr
    return out.read_text()


def _self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count(".bpfnb table{") == 1                       # one stylesheet, in the head
    assert page.index("</head>") > page.index(".bpfnb table{")
    assert not re.search(r'\b(src|href)\s*=\s*"(?!#)', page)     # nothing fetched from elsewhere
    assert "<script" not in page.lower()
    assert 'class="bpfnb-text"' not in page                        # no fallback text repeated per view


def test_inspect_html_report_has_every_part(tmp_path):
    from bpfnb.btf import Btf
    from bpfnb.obj import Object

    snapshot = tmp_path / "kernel.btf"
    snapshot.write_bytes(examples.kernel_btf().to_bytes())
    page = _report(tmp_path, str(examples.path("core_kinds")), "--btf", str(snapshot))
    _self_contained(page)
    obj = Object.from_file(examples.path("core_kinds"))
    prog = obj.programs["core_kinds"]
    for part in ("Programs (1)", "Functions (1)", "CO-RE relocations", "Call graph", "BTF", "Data sections"):
        assert f"<summary>{part}" in page, part
    # instructions with their C source lines
    for source in list(prog.instructions.source_lines.values())[:5]:
        assert f"; {html.escape(source.strip())}" in page
    assert f"Instructions core_kinds: {len(prog.instructions)} insns" in page
    # the CO-RE records, resolved against the BTF given, one row each
    table = obj.core_relocations(Btf.from_file(snapshot), errors="collect")
    assert f"resolved against {snapshot}" in page and len(table) > 5
    assert f"<th>records</th><td>{len(table)}</td>" in page
    # the call graph inline, without graphviz's comments (ids, version)
    assert page.count("<svg") == 1 and "parent_pid" in page[page.index("<svg"):]
    assert "<!--" not in page[page.index("<svg"):page.index("</svg>")]
    # the object's BTF summary
    own = len(obj.btf) - obj.btf.start_id
    assert f"<th>types</th><td>{own:,}</td>" in page and "<summary>kinds" in page


def test_inspect_html_report_maps_and_no_core(tmp_path):
    page = _report(tmp_path, PACKET)
    _self_contained(page)
    for name in ("proto_stats", "verdicts", "xdp_count"):
        assert f"MapSpec {name}" in page or f"Program {name}" in page
    assert "no CO-RE records" in page


def test_inspect_html_report_escapes_names_from_the_file(tmp_path):
    evil = tmp_path / "evil.bpf.o"
    evil.write_bytes(renamed(b"xdp_count", b"<b>xy</b>"))
    page = _report(tmp_path, str(evil))
    _self_contained(page)
    assert "<b>xy</b>" not in page and "&lt;b&gt;xy&lt;/b&gt;" in page


# --- load --pin, --pin-maps (kernel) -----------------------------------------------------


def _pinned_program(path: str):
    with Program.from_pin(path) as prog:
        return prog.info()


@pytest.mark.kernel
def test_load_pin_outlives_the_command(pin_root):
    target = os.path.join(pin_root, "progs")  # created by the command
    proc = bpfnb("load", PACKET, "--pin", target, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    pins = {p["name"]: p["pinned"] for p in doc["programs"]}
    assert pins == {"xdp_count": f"{target}/xdp_count", "tc_count": f"{target}/tc_count"}
    tags = {p["name"]: p["tag"] for p in doc["programs"]}
    # the command has exited; the programs live on in the kernel through their pins
    for name, path in pins.items():
        info = _pinned_program(path)
        assert info.name == name[:15] and info.tag == tags[name]
    text = bpfnb("load", PACKET, "--pin", os.path.join(pin_root, "again"))
    assert text.returncode == 0
    assert f"pinned program xdp_count at {pin_root}/again/xdp_count" in text.stdout


@pytest.mark.kernel
def test_load_pin_is_all_or_none(pin_root):
    os.mkdir(os.path.join(pin_root, "tc_count"))  # the second program's pin path is taken
    proc = bpfnb("load", PACKET, "--pin", pin_root)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "tc_count" in proc.stderr
    assert sorted(os.listdir(pin_root)) == ["tc_count"]  # xdp_count's pin was removed again


@pytest.mark.kernel
def test_load_pin_refuses_names_that_are_not_one_path_component(pin_root):
    evil = Path("/tmp") / f"{Path(pin_root).name}-evil.bpf.o"
    evil.write_bytes(renamed(b"xdp_count", b"../../etc"))
    try:
        proc = bpfnb("load", str(evil), "--pin", pin_root)
    finally:
        evil.unlink()
    assert proc.returncode == 1
    assert "program '../../etc' cannot be pinned" in proc.stderr and "single path component" in proc.stderr
    assert os.listdir(pin_root) == []  # checked before any pin


@pytest.mark.kernel
def test_load_pin_outside_bpffs_is_refused(tmp_path):
    target = tmp_path / "not-bpffs"
    proc = bpfnb("load", PACKET, "--pin", str(target))
    assert proc.returncode == 1 and "not on a bpffs mount" in proc.stderr
    assert not target.exists()


@pytest.mark.kernel
def test_load_pin_maps_reports_what_it_pinned(pin_root):
    multi = str(fixture_path("multi"))
    first = bpfnb("load", multi, "--pin-maps", pin_root)
    assert f"pinned map lru_pids at {pin_root}/lru_pids" in first.stdout, first.stderr
    assert os.listdir(pin_root) == ["lru_pids"]
    again = bpfnb("load", multi, "--pin-maps", pin_root, "--json")
    doc = json.loads(again.stdout)
    pinned = {m["name"]: (m["pinned"], m["pin"]) for m in doc["maps"] if m["pinned"]}
    assert pinned == {"lru_pids": (f"{pin_root}/lru_pids", "reused")}
    none = bpfnb("load", PACKET, "--pin-maps", pin_root)
    assert f"no map pinned under {pin_root}: none is declared with LIBBPF_PIN_BY_NAME" in none.stdout
