"""bpfnb.asm against real compiled objects: byte round trip, llvm-objdump-19
as an oracle for the text, and a coverage check that isa.bpf.o really holds
the whole instruction set it claims to."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from helpers import all_fixtures, fixture_path
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from bpfnb.asm import (
    LD_IMM64,
    AluOp,
    AtomicOp,
    InsnClass,
    Instructions,
    JmpOp,
    Mode,
    Size,
    Source,
    alu_opcode,
    decode,
    format_instruction,
    helper_name,
    jmp_opcode,
    mem_opcode,
)

LLVM_OBJDUMP = "llvm-objdump-19"


@cache
def code_sections(path: Path) -> dict[str, bytes]:
    """Every executable PROGBITS section of an object, by name (pyelftools)."""
    out = {}
    with open(path, "rb") as f:
        for sec in ELFFile(f).iter_sections():
            if sec["sh_type"] == "SHT_PROGBITS" and sec["sh_flags"] & SH_FLAGS.SHF_EXECINSTR:
                out[sec.name] = sec.data()
    return out


FIXTURES = all_fixtures()


def test_fixture_set_includes_isa():
    assert "isa.bpf.o" in {p.name for p in FIXTURES}
    assert sum(len(d) for p in FIXTURES for d in code_sections(p).values()) > 33000 * 8


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_round_trip_every_code_section(path):
    sections = code_sections(path)
    assert sections, f"{path.name} has no code sections"
    for name, data in sections.items():
        insns = decode(data, where=name)
        assert b"".join(i.encode() for i in insns) == data, name
        container = Instructions.decode(data, name=name)
        assert container.to_bytes() == data
        assert container.len_slots * 8 == len(data)
        assert len(container.as_array()) == container.len_slots


# --- the llvm-objdump oracle -----------------------------------------------

_HEX = re.compile(r"0x([0-9a-f]+)")
_SYMBOL = re.compile(r"\s+<[^<>\s]+>$")  # "goto +0x5 <func+0x50>"
# llvm disassembling with alu32 (--mcpu=v4) names sub-64-bit loads and
# stores by their w register; we print the r register like the kernel.
_LLVM_NARROW_LOAD = re.compile(r"^w(\d+) = \*\(u(8|16|32) \*\)")
_LLVM_NARROW_STORE = re.compile(r"^(\*\(u(?:8|16|32) \*\)\(r\d+ [+-] 0x[0-9a-f]+\)) = w(\d+)$")


def _numbers(text: str) -> str:
    return re.sub(r"\s+", " ", _HEX.sub(lambda m: str(int(m.group(1), 16)), text)).strip()


def normalise_llvm(text: str) -> str:
    text = _SYMBOL.sub("", text)
    text = _LLVM_NARROW_LOAD.sub(r"r\1 = *(u\2 *)", text)
    text = _LLVM_NARROW_STORE.sub(r"\1 = r\2", text)
    return _numbers(text)


def normalise_ours(text: str) -> str:
    """Map our call spellings onto llvm's ``call N`` explicitly, checking names."""
    m = re.fullmatch(r"call (?:(bpf_\w+))?#(-?\d+)", text)
    if m:
        name, helper = m.group(1), int(m.group(2))
        assert name == helper_name(helper), f"helper #{helper} printed as {name}"
        return f"call {helper}"
    m = re.fullmatch(r"call pc([+-]\d+)", text)
    if m:
        return f"call {int(m.group(1))}"
    assert not text.startswith("call "), f"unexpected call form {text!r}"
    return _numbers(text)


@cache
def llvm_listing(path: Path, mcpu: str | None = "v4") -> dict[str, dict[int, str]]:
    """``{section: {slot: text}}`` from llvm-objdump-19 (alu32 decoding on with v4)."""
    cpu = [f"--mcpu={mcpu}"] if mcpu else []
    out = subprocess.run(
        [LLVM_OBJDUMP, "-d", *cpu, "--no-show-raw-insn", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listing: dict[str, dict[int, str]] = {}
    current: dict[int, str] | None = None
    for line in out.splitlines():
        m = re.match(r"Disassembly of section (.*):$", line)
        if m:
            current = listing.setdefault(m.group(1), {})
            continue
        m = re.match(r"\s*(\d+):\s+(.*)$", line)
        if m and current is not None:
            current[int(m.group(1))] = m.group(2)
    return listing


@pytest.mark.skipif(shutil.which(LLVM_OBJDUMP) is None, reason="llvm-objdump-19 not installed")
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_text_agrees_with_llvm_objdump(path):
    listing = llvm_listing(path)
    mismatches = []
    compared = total = 0
    for name, data in code_sections(path).items():
        insns = Instructions.decode(data, name=name)
        total += len(insns)
        theirs = listing.get(name, {})
        ours = dict(insns.slots())
        assert sorted(theirs) == sorted(ours), f"{name}: llvm and bpfnb disagree on instruction slots"
        for slot, insn in ours.items():
            text = format_instruction(insn, slot)
            assert not text.startswith("<invalid"), f"{name} slot {slot}: {text}"
            a, b = normalise_ours(text), normalise_llvm(theirs[slot])
            compared += 1
            if a != b:
                mismatches.append(f"{name} slot {slot} [{insn.encode().hex(' ')}]: bpfnb {text!r} vs llvm {theirs[slot]!r}")
    assert compared == total
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.skipif(shutil.which(LLVM_OBJDUMP) is None, reason="llvm-objdump-19 not installed")
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_plain_loads_and_stores_match_llvm_without_alu32(path):
    """Backs the one register-name normalisation above with llvm's own default mode,
    which names the 64-bit register for sub-64-bit LDX/STX exactly as we do."""
    listing = llvm_listing(path, None)
    for name, slot, insn in _plain_memory_insns(path):
        assert _numbers(format_instruction(insn)) == _numbers(listing[name][slot]), f"{name} slot {slot}"


def _plain_memory_insns(path):
    for name, data in code_sections(path).items():
        for slot, insn in Instructions.decode(data).slots():
            if insn.mode == Mode.MEM and insn.cls in (InsnClass.LDX, InsnClass.STX):
                yield name, slot, insn


def test_plain_loads_and_stores_are_covered():
    """Some fixtures have no memory access at all; together they have plenty."""
    assert sum(1 for path in FIXTURES for _ in _plain_memory_insns(path)) > 100


def test_normalisers_are_not_vacuous():
    """The normalisation keeps what matters: different instructions stay different."""
    assert normalise_llvm("w3 = *(u32 *)(r2 + 0x4)") == normalise_ours("r3 = *(u32 *)(r2 + 0x4)")
    assert normalise_llvm("w3 = *(u32 *)(r2 + 0x4)") != normalise_ours("r3 = *(u32 *)(r2 + 0x8)")
    assert normalise_llvm("w3 = *(u32 *)(r2 + 0x4)") != normalise_ours("r3 = *(s32 *)(r2 + 0x4)")
    assert normalise_llvm("w1 = w2") != normalise_ours("r1 = r2")  # ALU32 mov keeps its w
    assert normalise_llvm("call 0x1") == normalise_ours("call bpf_map_lookup_elem#1")
    assert normalise_llvm("call 0x1") != normalise_ours("call bpf_map_update_elem#2")
    with pytest.raises(AssertionError):
        normalise_ours("call bpf_map_update_elem#1")
    assert normalise_llvm("call -0x1") == normalise_ours("call pc-1")
    assert normalise_llvm("goto +0xc <natural+0xf8>") == normalise_ours("goto +12")
    assert normalise_llvm("if r1 s< -0x1 goto -0x1 <jmp_all+0x170>") == normalise_ours("if r1 s< -0x1 goto -1")


# --- coverage of the ISA fixture ----------------------------------------------


def _isa_instructions() -> list:
    insns = []
    for name, data in code_sections(fixture_path("isa")).items():
        insns.extend(decode(data, where=name))
    return insns


def expected_isa_coverage() -> set[tuple[int, ...]]:
    """Every (opcode, distinguishing field) the fixture promises to contain."""
    want: set[tuple[int, ...]] = set()
    for cls in (InsnClass.ALU, InsnClass.ALU64):
        for op in AluOp:
            if op in (AluOp.NEG, AluOp.END):
                continue
            for src in Source:
                want.add((alu_opcode(cls, op, src), 0))
        want.add((alu_opcode(cls, AluOp.NEG), 0))
        for op in (AluOp.DIV, AluOp.MOD):  # signed division / modulo
            for src in Source:
                want.add((alu_opcode(cls, op, src), 1))
        for width in (8, 16) + ((32,) if cls == InsnClass.ALU64 else ()):
            want.add((alu_opcode(cls, AluOp.MOV, Source.X), width))  # movsx
    for width in (16, 32, 64):
        want.add((alu_opcode(InsnClass.ALU, AluOp.END, Source.K), width))  # le
        want.add((alu_opcode(InsnClass.ALU, AluOp.END, Source.X), width))  # be
        want.add((alu_opcode(InsnClass.ALU64, AluOp.END, Source.K), width))  # bswap
    for cls in (InsnClass.JMP, InsnClass.JMP32):
        for op in JmpOp:
            if op in (JmpOp.JA, JmpOp.CALL, JmpOp.EXIT, JmpOp.JCOND):
                continue
            for src in Source:
                want.add((jmp_opcode(cls, op, src),))
    for op in (JmpOp.JA, JmpOp.CALL, JmpOp.EXIT, JmpOp.JCOND):
        want.add((jmp_opcode(InsnClass.JMP, op),))
    want.add((jmp_opcode(InsnClass.JMP32, JmpOp.JA),))  # gotol
    for size in Size:
        for cls in (InsnClass.LDX, InsnClass.ST, InsnClass.STX):
            want.add((mem_opcode(cls, Mode.MEM, size),))
        if size != Size.DW:
            want.add((mem_opcode(InsnClass.LDX, Mode.MEMSX, size),))
            want.add((mem_opcode(InsnClass.LD, Mode.ABS, size),))
            want.add((mem_opcode(InsnClass.LD, Mode.IND, size),))
    for size in (Size.W, Size.DW):
        for op in AtomicOp:
            if op not in (AtomicOp.LOAD_ACQ, AtomicOp.STORE_REL):  # clang-19 cannot emit these
                want.add((mem_opcode(InsnClass.STX, Mode.ATOMIC, size), int(op)))
    want.add((LD_IMM64,))
    return want


def _coverage_key(insn) -> tuple[int, ...]:
    op = insn.opcode & 0xF0
    if insn.alu_op is not None:
        if insn.alu_op == AluOp.END:
            return (insn.opcode, insn.imm)
        return (insn.opcode, insn.off if op in (AluOp.DIV, AluOp.MOD, AluOp.MOV) else 0)
    if insn.atomic_op is not None:
        return (insn.opcode, insn.imm)
    return (insn.opcode,)


def test_isa_fixture_covers_the_instruction_set():
    have = {_coverage_key(i) for i in _isa_instructions()}
    missing = expected_isa_coverage() - have
    assert not missing, f"isa.bpf.o lacks: {sorted(missing)}"
    assert len(expected_isa_coverage()) > 150


def test_isa_fixture_has_a_real_long_jump():
    insns = Instructions.decode(code_sections(fixture_path("isa"))["socket"])
    longs = [(s, i) for s, i in insns.slots() if i.opcode == jmp_opcode(InsnClass.JMP32, JmpOp.JA) and i.imm > 0x7FFF]
    assert longs, "no gotol beyond the reach of a 16-bit offset"
    slot, insn = longs[0]
    target = insn.jump_target(slot)
    assert insns.at_slot(target).is_ld_imm64 is False
    assert target < insns.len_slots
    assert format_instruction(insn) == f"gotol +{insn.imm}"


def test_isa_fixture_calls_and_ld_imm64_forms():
    sections = code_sections(fixture_path("isa"))
    socket = Instructions.decode(sections["socket"])
    texts = [format_instruction(i) for i in socket]
    assert "call bpf_map_lookup_elem#1" in texts
    assert "call bpf_loop#181" in texts
    assert any(i.is_pseudo_call for i in socket)  # natural -> isa_sub in .text
    assert "r4 = 0x123456789abcdef0 ll" in texts
    assert "r4 = -0x2 ll" in texts
    big = next(i for i in socket if i.is_ld_imm64 and i.imm == 0x123456789ABCDEF0)
    assert (big.imm_lo, big.imm_hi) == (0x9ABCDEF0, 0x12345678)
    kfunc = Instructions.decode(sections["tp_btf/sched_switch"])
    # Before libbpf-style relocation a kfunc call is a pc-relative call to -1.
    assert [format_instruction(i) for i in kfunc if i.is_call] == ["call pc-1", "call pc-1"]
