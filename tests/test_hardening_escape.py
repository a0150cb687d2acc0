"""Class 7 of issue 13: names from object files cannot inject into views or pins.

Graphviz labels are literal (python-graphviz reads ``<...>`` as an HTML-like
label, so a program named ``<b>x</b>`` broke ``dot``); terminal output shows
ESC and other control characters as escapes; bidi controls (U+202E) are
visible in HTML views and refused in pin names.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import needs_dot

from bpfnb import examples
from bpfnb.btf import Btf, Int, IntEncoding, Member, Struct
from bpfnb.btf.writer import write_types
from bpfnb.errors import UnsafeName
from bpfnb.kernel.maps import pin_path
from bpfnb.obj import Object



def renamed(old: bytes, new: bytes) -> bytes:
    """packet_counter with every NUL-terminated occurrence of ``old`` renamed (same length)."""
    assert len(old) == len(new)
    data = examples.path("packet_counter").read_bytes()
    assert old + b"\0" in data
    return data.replace(b"\0" + old + b"\0", b"\0" + new + b"\0")


def dot_ok(source: str) -> None:
    proc = subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@needs_dot
@pytest.mark.parametrize("name", [b"<b>xy</b>", b"a\\Nb\\lc\"d", b"<<x>>\x1b[1m"])
def test_call_graph_with_hostile_program_name(name):
    obj = Object.from_bytes(renamed(b"xdp_count", name.ljust(9, b"_")[:9]))
    source = obj.call_graph().source
    dot_ok(source)
    assert "\x1b" not in source


@needs_dot
def test_type_graph_with_hostile_names_and_broken_ids():
    blob = write_types([Int(1, "int", 4, IntEncoding.SIGNED, 0, 32),
                        Struct(2, "<b>t</b>", 8, (Member("<i>m</i>", 1, 0, 0), Member("\\N", 99, 32, 0))),
                        Struct(3, "<#>", 4, (Member("x", 2, 0, 0),))])
    btf = Btf.from_bytes(blob)
    for root in (2, 3):
        source = btf.type_graph(root, depth=3).source
        dot_ok(source)
        assert "<b>t</b>" in source or "&lt;b&gt;" in source  # the name is shown, literally


def test_terminal_output_escapes_map_names(tmp_path):
    evil = tmp_path / "evil.o"
    evil.write_bytes(renamed(b"proto_stats", b"pr\x1b[2Jstats"))
    for args in (["inspect", str(evil)], ["load", "--dry-run", str(evil)], ["btf", "dump", str(evil)]):
        proc = subprocess.run([sys.executable, "-m", "bpfnb.cli", *args], capture_output=True, text=True, timeout=60)
        assert "\x1b" not in proc.stdout + proc.stderr, args
        assert "pr\\x1b[2Jstats" in proc.stdout, (args, proc.stdout[-2000:], proc.stderr[-2000:])


def test_bidi_controls_are_visible_in_html():
    obj = Object.from_bytes(renamed(b"proto_stats", "pr\u202estats".encode()[:11].ljust(11, b"_")))
    html = obj._repr_html_()
    assert "\u202e" not in html and "\\u202e" in html


@pytest.mark.parametrize("name", ["abc\u202etxt.exe", "x\u2066y", "m\u200fn", "c1\x85"])
def test_pin_names_refuse_bidi_and_c1_controls(name, tmp_path):
    with pytest.raises(UnsafeName):
        pin_path(tmp_path, name)


def test_plain_unicode_pin_names_still_work(tmp_path):
    assert pin_path(tmp_path, "größe_map").endswith("größe_map")


@pytest.mark.parametrize("keep_lines", [False, True])
def test_printable_fast_path_agrees_with_the_escaping_regex(keep_lines):
    """Plain ASCII skips the regex; every character, alone and amid text, escapes as the regex says."""
    from bpfnb.display import text

    pattern = text._UNSAFE_KEEP_LINES if keep_lines else text._UNSAFE
    for code in [*range(0x100), *map(ord, text.BIDI_CONTROLS)]:
        s = f"name{chr(code)}x"
        assert text.printable(s, keep_lines=keep_lines) == pattern.sub(text._visible, s), hex(code)
