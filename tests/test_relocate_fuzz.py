"""Hypothesis against the relocate stage: mutated code and records, typed errors only.

Two levels: the model (an instruction's fields, a relocation record's
symbol/section/kind, a .BTF.ext offset, changed in a parsed object) hits
the relocation logic directly; raw bytes (flips inside code and
relocation sections) go through the parser first.  Either way a
relocation must succeed or raise a ``BpfnbError`` — and when it succeeds,
every call it patched must land on an instruction of the program.
"""

from __future__ import annotations

import dataclasses

from hardening_mutate import example_database
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

try:
    from helpers import fixture_path
except ImportError:  # before tests/helpers.py existed
    from conftest import fixture_path

from bpfnb.asm import Instruction
from bpfnb.errors import BpfnbError, RelocationError
from bpfnb.obj import Object, RelocationKind
from bpfnb.obj.relocate import placeholder_fds, relocate

NAMES = ("multi", "calls", "isa", "minimal", "section_static")
SEEDS = {n: fixture_path(n).read_bytes() for n in NAMES}
SETTINGS = settings(max_examples=80, deadline=None, database=example_database(), suppress_health_check=[HealthCheck.too_slow])


def _check(obj: Object) -> None:
    fds = placeholder_fds(obj)
    for name in obj.programs:
        try:
            rp = relocate(obj, name, fds)
        except BpfnbError:
            continue
        for a in rp.applied:
            if a.kind in (RelocationKind.CALL, RelocationKind.SUBPROG_ADDR):
                rp.instructions.index_at_slot(a.slot + a.after.imm + 1)
        assert rp.insn_cnt >= rp.spec.instructions.len_slots


def _small_program(obj: Object, data) -> str:
    # far_jump (33k instructions) would make every example slow
    return data.draw(st.sampled_from(sorted(n for n, p in obj.programs.items() if len(p.instructions) < 2000)))


@SETTINGS
@given(name=st.sampled_from(NAMES), data=st.data())
def test_mutated_instruction_fields(name: str, data) -> None:
    obj = Object.from_bytes(SEEDS[name], name=name)
    target = _small_program(obj, data)
    spec = obj.programs[target]
    index = data.draw(st.integers(0, len(spec.instructions) - 1))
    insn = spec.instructions[index]
    bits = 64 if insn.is_ld_imm64 else 32
    new = Instruction(
        insn.opcode,
        insn.dst,
        data.draw(st.integers(0, 15)),
        insn.off,
        data.draw(st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)),
    )
    insns = spec.instructions.replace_at_slot(spec.instructions.slot_of(index), new)
    obj.programs[target] = dataclasses.replace(spec, instructions=insns)
    _check(obj)


@SETTINGS
@given(name=st.sampled_from(NAMES), data=st.data())
def test_mutated_relocation_records(name: str, data) -> None:
    if name == "section_static":
        name = "calls"  # section_static has no relocation records at all
    obj = Object.from_bytes(SEEDS[name], name=name)
    code = data.draw(st.sampled_from(sorted(k for k, c in obj.code.items() if c.relocations and len(c.instructions) < 2000)))
    table = obj.programs if code in obj.programs else obj.functions
    spec = table[code]
    i = data.draw(st.integers(0, len(spec.relocations) - 1))
    rec = spec.relocations[i]
    sections = [s.name for s in obj.sections] + [".nowhere", None]
    change = data.draw(st.sampled_from(["value", "section", "kind", "symbol_type"]))
    if change == "value":
        rec = dataclasses.replace(rec, symbol=dataclasses.replace(rec.symbol, value=data.draw(st.integers(0, 1 << 20))))
    elif change == "section":
        rec = dataclasses.replace(rec, target_section=data.draw(st.sampled_from(sections)))
    elif change == "kind":
        rec = dataclasses.replace(rec, kind=data.draw(st.sampled_from(list(RelocationKind))))
    else:
        rec = dataclasses.replace(rec, symbol=dataclasses.replace(rec.symbol, type=data.draw(st.sampled_from(["STT_SECTION", "STT_OBJECT", "STT_FUNC"]))))
    records = spec.relocations[:i] + (rec,) + spec.relocations[i + 1 :]
    table[code] = dataclasses.replace(spec, relocations=records)
    obj._by_location = {(c.section, c.offset): c for c in (*obj.functions.values(), *obj.programs.values())}
    _check(obj)


@SETTINGS
@given(name=st.sampled_from(NAMES), data=st.data())
def test_flipped_bytes_in_code_and_relocations(name: str, data) -> None:
    raw = bytearray(SEEDS[name])
    obj = Object.from_bytes(bytes(raw), name=name)
    targets = [s for s in obj.sections if s.kind.value in ("program", "text", "relocation") and s.size and s.sh_type != "SHT_NOBITS"
               and s.size < 100_000]
    for _ in range(data.draw(st.integers(1, 6))):
        sec = data.draw(st.sampled_from(targets))
        at = sec.offset + data.draw(st.integers(0, sec.size - 1))
        raw[at] ^= 1 << data.draw(st.integers(0, 7))
    try:
        mutated = Object.from_bytes(bytes(raw), name=name)
    except BpfnbError:
        return
    _check(mutated)


def test_errors_are_relocation_errors_for_relocation_problems() -> None:
    """The typed errors the fuzz accepts are the relocation family, not a catch-all."""
    obj = Object.from_bytes(SEEDS["multi"], name="multi")
    try:
        relocate(obj, "xdp_count", {})
    except RelocationError as err:
        assert err.program == "xdp_count" and err.index is not None
    else:  # pragma: no cover
        raise AssertionError("relocating without fds must fail")
