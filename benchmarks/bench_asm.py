"""Benchmarks (pytest-benchmark) of the hot paths on the largest fixture program.

Run with ``.venv/bin/pytest benchmarks/bench_asm.py`` (not part of the test
command: speed is measured here, never asserted in tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers import fixture_path  # noqa: E402
from elftools.elf.elffile import ELFFile

from bpfnb.asm import Instructions, decode

with open(fixture_path("isa"), "rb") as _f:
    BIG = ELFFile(_f).get_section_by_name("socket").data()  # ~33k slots (the gotol program)


def test_bench_decode(benchmark):
    insns = benchmark.pedantic(decode, args=(BIG,), rounds=3, iterations=1)
    assert len(insns) > 33000


def test_bench_text(benchmark):
    insns = Instructions.decode(BIG)
    text = benchmark.pedantic(insns.text, rounds=2, iterations=1)
    assert text.count("\n") + 1 == len(insns)


def test_bench_html_is_independent_of_program_size(benchmark):
    insns = Instructions.decode(BIG)
    html = benchmark.pedantic(insns._repr_html_, rounds=3, iterations=1)
    assert "showing 200 of" in html
