"""Benchmarks (pytest-benchmark) of the hot paths on the largest fixture program.

Bounded to a few rounds so that they cost well under a second in a normal
run; ``--benchmark-only`` shows the table.  The assertions are loose
ceilings that catch accidental quadratic behaviour, not tuning targets.
"""

from __future__ import annotations

from conftest import fixture_path
from elftools.elf.elffile import ELFFile

from bpfnb.asm import Instructions, decode

with open(fixture_path("isa"), "rb") as _f:
    BIG = ELFFile(_f).get_section_by_name("socket").data()  # ~33k slots (the gotol program)


def test_bench_decode(benchmark):
    insns = benchmark.pedantic(decode, args=(BIG,), rounds=3, iterations=1)
    assert len(insns) > 33000
    assert benchmark.stats.stats.min < 33000 * 20e-6  # 20 µs per instruction is a ceiling, not a goal


def test_bench_text(benchmark):
    insns = Instructions.decode(BIG)
    text = benchmark.pedantic(insns.text, rounds=2, iterations=1)
    assert text.count("\n") + 1 == len(insns)
    assert benchmark.stats.stats.min < 33000 * 40e-6


def test_bench_html_is_independent_of_program_size(benchmark):
    insns = Instructions.decode(BIG)
    html = benchmark.pedantic(insns._repr_html_, rounds=3, iterations=1)
    assert "showing 200 of" in html
    assert benchmark.stats.stats.min < 0.2
