"""Property tests: arbitrary bytes either decode or raise InstructionError, and
whatever decodes round-trips, prints, and keeps its slot bookkeeping."""

from __future__ import annotations

import random
import struct

from helpers import fixture_path
from elftools.elf.elffile import ELFFile
from hardening_mutate import example_database
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfnb.asm import LD_IMM64, Instructions, as_array, decode, format_instruction
from bpfnb.errors import InstructionError
from test_asm_unit import VALID_OPCODES

FUZZ = settings(max_examples=300, deadline=None, database=example_database(), suppress_health_check=[HealthCheck.too_slow])


def check(data: bytes) -> None:
    """The whole contract for one input."""
    try:
        insns = decode(data, where="fuzz")
    except InstructionError as exc:
        assert exc.where == "fuzz"
        assert exc.index is not None and 0 <= exc.index <= len(data) // 8
        return
    assert b"".join(i.encode() for i in insns) == data
    container = Instructions(insns)
    assert container.len_slots * 8 == len(data)
    assert len(as_array(data)) == container.len_slots
    for slot, insn in container.slots():
        assert container.at_slot(slot) is insn
        text = format_instruction(insn, slot)
        assert text and not text.startswith("<invalid")


@FUZZ
@given(st.binary(max_size=8 * 16).map(lambda b: b[: len(b) - len(b) % 8]))
def test_random_bytes(data):
    check(data)


# Random bytes rarely get past the first slot; build slots from real opcodes
# with random fields so that most inputs exercise the deeper checks.
slot = st.builds(
    lambda op, regs, off, imm: struct.pack("<BBhi", op, regs, off, imm),
    st.sampled_from(sorted(VALID_OPCODES)),
    st.integers(0, 255) | st.sampled_from([0x00, 0x01, 0x21, 0x1A]),
    st.sampled_from([0, 1, 8, 16, 32, -8]) | st.integers(-0x8000, 0x7FFF),
    st.sampled_from([0, 1, 16, 32, 64, 0x100, 0x110, 0xE1, 0xF1, 0xA1, -1]) | st.integers(-(2**31), 2**31 - 1),
)


@FUZZ
@given(st.lists(slot | st.just(bytes(8)), max_size=24).map(b"".join))
def test_plausible_slots(data):
    check(data)


def test_plausible_slots_exercise_both_outcomes():
    """The slot strategy is only useful if many, but not all, of its slots decode."""
    rng = random.Random(1)
    ok = 0
    for _ in range(2000):
        raw = struct.pack(
            "<BBhi",
            rng.choice(sorted(VALID_OPCODES)),
            rng.choice([0x00, 0x01, 0x21, rng.randrange(256)]),
            rng.choice([0, 1, 8, rng.randrange(-0x8000, 0x8000)]),
            rng.choice([0, 16, 0x100, 0xE1, rng.randrange(-(2**31), 2**31)]),
        )
        if raw[0] == LD_IMM64:
            raw += bytes(8)
        try:
            decode(raw)
            ok += 1
        except InstructionError:
            pass
    assert 0.4 < ok / 2000 < 0.95


def _xdp_section() -> bytes:
    with open(fixture_path("multi"), "rb") as f:
        return ELFFile(f).get_section_by_name("xdp").data()


XDP = _xdp_section()


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(XDP) - 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_fixture_code(edits):
    data = bytearray(XDP)
    for pos, value in edits:
        data[pos] = value
    check(bytes(data))


def test_decoder_rejects_a_truncated_fixture_ld_imm64():
    """The first ld_imm64 of a real program, cut after its first half."""
    insns = Instructions.decode(XDP)
    slot = next(s for s, i in insns.slots() if i.opcode == LD_IMM64)
    try:
        decode(XDP[: 8 * (slot + 1)], where="xdp")
    except InstructionError as exc:
        assert exc.index == slot and "second half" in str(exc)
    else:
        raise AssertionError("truncated ld_imm64 decoded")
