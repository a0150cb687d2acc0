"""Synthetic tests of the instruction model: every opcode's encoding and text,
the set of opcodes the decoder accepts, error reporting, predicates."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from bpfnb.asm import (
    INSN_DTYPE,
    LD_IMM64,
    AtomicOp,
    Instruction,
    PseudoCall,
    PseudoLdImm64,
    as_array,
    decode,
    encode,
    format_instruction,
    helper_name,
)
from bpfnb.errors import InstructionError, ParseError
from bpfnb.uapi import FuncId

# (opcode, dst, src, off, imm, text): one row per instruction form.
FORMS = [
    # ALU64 / ALU, K and X
    (0x07, 1, 0, 0, 3, "r1 += 0x3"),
    (0x0F, 1, 2, 0, 0, "r1 += r2"),
    (0x04, 1, 0, 0, -3, "w1 += -0x3"),
    (0x0C, 1, 2, 0, 0, "w1 += w2"),
    (0x17, 1, 0, 0, 3, "r1 -= 0x3"),
    (0x1C, 1, 2, 0, 0, "w1 -= w2"),
    (0x27, 1, 0, 0, 3, "r1 *= 0x3"),
    (0x2C, 1, 2, 0, 0, "w1 *= w2"),
    (0x37, 1, 0, 0, 3, "r1 /= 0x3"),
    (0x3F, 1, 2, 1, 0, "r1 s/= r2"),
    (0x34, 1, 0, 1, 3, "w1 s/= 0x3"),
    (0x47, 1, 0, 0, 3, "r1 |= 0x3"),
    (0x5C, 1, 2, 0, 0, "w1 &= w2"),
    (0x67, 1, 0, 0, 3, "r1 <<= 0x3"),
    (0x7C, 1, 2, 0, 0, "w1 >>= w2"),
    (0x87, 1, 0, 0, 0, "r1 = -r1"),
    (0x84, 1, 0, 0, 0, "w1 = -w1"),
    (0x97, 1, 0, 0, 3, "r1 %= 0x3"),
    (0x9F, 1, 2, 1, 0, "r1 s%= r2"),
    (0x9C, 1, 2, 1, 0, "w1 s%= w2"),
    (0xA7, 1, 0, 0, 3, "r1 ^= 0x3"),
    (0xB7, 1, 0, 0, 0x1234, "r1 = 0x1234"),
    (0xB4, 1, 0, 0, -1, "w1 = -0x1"),
    (0xBF, 1, 2, 0, 0, "r1 = r2"),
    (0xBC, 1, 2, 0, 0, "w1 = w2"),
    (0xBF, 1, 2, 8, 0, "r1 = (s8)r2"),
    (0xBF, 1, 2, 16, 0, "r1 = (s16)r2"),
    (0xBF, 1, 2, 32, 0, "r1 = (s32)r2"),
    (0xBC, 1, 2, 8, 0, "w1 = (s8)w2"),
    (0xBC, 1, 2, 16, 0, "w1 = (s16)w2"),
    (0xC7, 1, 0, 0, 3, "r1 s>>= 0x3"),
    (0xCC, 1, 2, 0, 0, "w1 s>>= w2"),
    (0xD4, 1, 0, 0, 16, "r1 = le16 r1"),
    (0xD4, 1, 0, 0, 64, "r1 = le64 r1"),
    (0xDC, 1, 0, 0, 32, "r1 = be32 r1"),
    (0xD7, 1, 0, 0, 16, "r1 = bswap16 r1"),
    (0xD7, 1, 0, 0, 64, "r1 = bswap64 r1"),
    # JMP / JMP32
    (0x05, 0, 0, 3, 0, "goto +3"),
    (0x05, 0, 0, -1, 0, "goto -1"),
    (0x06, 0, 0, 0, 100000, "gotol +100000"),
    (0x15, 1, 0, 3, 5, "if r1 == 0x5 goto +3"),
    (0x1D, 1, 2, 3, 0, "if r1 == r2 goto +3"),
    (0x16, 1, 0, -4, 5, "if w1 == 0x5 goto -4"),
    (0x25, 1, 0, 3, 5, "if r1 > 0x5 goto +3"),
    (0x3E, 1, 2, 3, 0, "if w1 >= w2 goto +3"),
    (0x45, 1, 0, 3, 5, "if r1 & 0x5 goto +3"),
    (0x5D, 1, 2, 3, 0, "if r1 != r2 goto +3"),
    (0x65, 1, 0, 3, -5, "if r1 s> -0x5 goto +3"),
    (0x7E, 1, 2, 3, 0, "if w1 s>= w2 goto +3"),
    (0xA5, 1, 0, 3, 5, "if r1 < 0x5 goto +3"),
    (0xBD, 1, 2, 3, 0, "if r1 <= r2 goto +3"),
    (0xC6, 1, 0, 3, 5, "if w1 s< 0x5 goto +3"),
    (0xDD, 1, 2, 3, 0, "if r1 s<= r2 goto +3"),
    (0xE5, 0, 0, 7, 0, "may_goto +7"),
    (0x85, 0, 0, 0, 1, "call bpf_map_lookup_elem#1"),
    (0x85, 0, 0, 0, 181, "call bpf_loop#181"),
    (0x85, 0, 0, 0, 99999, "call #99999"),
    (0x85, 0, 0, 0, 0, "call #0"),
    (0x85, 0, 1, 0, 7, "call pc+7"),
    (0x85, 0, 1, 0, -12, "call pc-12"),
    (0x85, 0, 2, 0, 51234, "call kfunc#51234"),
    (0x85, 0, 2, 3, 51234, "call kfunc#51234 btf_idx:3"),
    (0x95, 0, 0, 0, 0, "exit"),
    # LD: ld_imm64 and its pseudo forms, legacy packet loads
    (0x18, 1, 0, 0, 0x1234, "r1 = 0x1234 ll"),
    (0x18, 1, 0, 0, -2, "r1 = -0x2 ll"),
    (0x18, 1, 0, 0, 0x123456789ABCDEF0, "r1 = 0x123456789abcdef0 ll"),
    (0x18, 1, 1, 0, 5, "r1 = map[fd:5] ll"),
    (0x18, 1, 2, 0, 5 | 16 << 32, "r1 = map_value[fd:5]+16 ll"),
    (0x18, 2, 3, 0, 1234, "r2 = btf_id#1234 ll"),
    (0x18, 2, 3, 0, 1234 | 7 << 32, "r2 = btf_id#1234 btf_fd:7 ll"),
    (0x18, 2, 4, 0, 7, "r2 = func pc+7 ll"),
    (0x18, 2, 4, 0, -3 & 0xFFFFFFFF, "r2 = func pc-3 ll"),
    (0x18, 1, 5, 0, 0, "r1 = map[idx:0] ll"),
    (0x18, 1, 6, 0, 2 | 8 << 32, "r1 = map_value[idx:2]+8 ll"),
    (0x30, 0, 0, 0, 1, "r0 = *(u8 *)skb[0x1]"),
    (0x28, 0, 0, 0, 2, "r0 = *(u16 *)skb[0x2]"),
    (0x20, 0, 0, 0, 4, "r0 = *(u32 *)skb[0x4]"),
    (0x50, 0, 7, 0, 0, "r0 = *(u8 *)skb[r7]"),
    (0x40, 0, 7, 0, 4, "r0 = *(u32 *)skb[r7 + 0x4]"),
    # LDX / ST / STX
    (0x61, 1, 2, 4, 0, "r1 = *(u32 *)(r2 + 0x4)"),
    (0x69, 1, 2, -2, 0, "r1 = *(u16 *)(r2 - 0x2)"),
    (0x71, 1, 2, 0, 0, "r1 = *(u8 *)(r2 + 0x0)"),
    (0x79, 1, 10, -8, 0, "r1 = *(u64 *)(r10 - 0x8)"),
    (0x81, 1, 2, 0, 0, "r1 = *(s32 *)(r2 + 0x0)"),
    (0x89, 1, 2, 0, 0, "r1 = *(s16 *)(r2 + 0x0)"),
    (0x91, 1, 2, 0, 0, "r1 = *(s8 *)(r2 + 0x0)"),
    (0x62, 10, 0, -4, 5, "*(u32 *)(r10 - 0x4) = 0x5"),
    (0x6A, 10, 0, -4, 5, "*(u16 *)(r10 - 0x4) = 0x5"),
    (0x72, 10, 0, -4, 5, "*(u8 *)(r10 - 0x4) = 0x5"),
    (0x7A, 10, 0, -8, -5, "*(u64 *)(r10 - 0x8) = -0x5"),
    (0x63, 10, 1, -4, 0, "*(u32 *)(r10 - 0x4) = r1"),
    (0x6B, 10, 1, -4, 0, "*(u16 *)(r10 - 0x4) = r1"),
    (0x73, 10, 1, -4, 0, "*(u8 *)(r10 - 0x4) = r1"),
    (0x7B, 10, 1, -8, 0, "*(u64 *)(r10 - 0x8) = r1"),
    # Atomics
    (0xC3, 1, 2, 0, 0x00, "lock *(u32 *)(r1 + 0x0) += w2"),
    (0xDB, 1, 2, 8, 0x40, "lock *(u64 *)(r1 + 0x8) |= r2"),
    (0xDB, 1, 2, 0, 0x50, "lock *(u64 *)(r1 + 0x0) &= r2"),
    (0xC3, 1, 2, 0, 0xA0, "lock *(u32 *)(r1 + 0x0) ^= w2"),
    (0xDB, 1, 2, 0, 0x01, "r2 = atomic_fetch_add((u64 *)(r1 + 0x0), r2)"),
    (0xC3, 1, 2, 0, 0x41, "w2 = atomic_fetch_or((u32 *)(r1 + 0x0), w2)"),
    (0xDB, 1, 2, 0, 0x51, "r2 = atomic_fetch_and((u64 *)(r1 + 0x0), r2)"),
    (0xC3, 1, 2, 0, 0xA1, "w2 = atomic_fetch_xor((u32 *)(r1 + 0x0), w2)"),
    (0xDB, 1, 2, 0, 0xE1, "r2 = xchg_64(r1 + 0x0, r2)"),
    (0xC3, 1, 2, 0, 0xE1, "w2 = xchg32_32(r1 + 0x0, w2)"),
    (0xDB, 1, 2, 0, 0xF1, "r0 = cmpxchg_64(r1 + 0x0, r0, r2)"),
    (0xC3, 1, 2, 0, 0xF1, "w0 = cmpxchg32_32(r1 + 0x0, w0, w2)"),
    (0xD3, 0, 1, 0, 0x100, "w0 = load_acquire((u8 *)(r1 + 0x0))"),
    (0xCB, 0, 1, 2, 0x100, "w0 = load_acquire((u16 *)(r1 + 0x2))"),
    (0xDB, 3, 1, 0, 0x100, "r3 = load_acquire((u64 *)(r1 + 0x0))"),
    (0xD3, 1, 2, 0, 0x110, "store_release((u8 *)(r1 + 0x0), w2)"),
    (0xDB, 1, 2, -8, 0x110, "store_release((u64 *)(r1 - 0x8), r2)"),
]


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f[-1])
def test_form_encodes_decodes_and_prints(form):
    *fields, text = form
    insn = Instruction(*fields)
    raw = insn.encode()
    assert len(raw) == insn.size == 8 * insn.slots
    opcode, dst, src, off, imm = fields
    lo = struct.unpack_from("<BBhi", raw)
    assert lo[0] == opcode and lo[1] == (src << 4 | dst) and lo[2] == off
    assert decode(raw) == [insn]
    assert Instruction.from_bytes(raw) == insn
    assert insn.problem is None
    assert format_instruction(insn) == text
    assert repr(insn) == f"<Instruction {text}>"


def test_register_nibbles_and_little_endian_fields():
    insn = Instruction.from_bytes(bytes.fromhex("7b 1a f8 ff 00 00 00 00"))
    assert (insn.opcode, insn.dst, insn.src, insn.off, insn.imm) == (0x7B, 10, 1, -8, 0)
    insn = Instruction.from_bytes(bytes.fromhex("18 21 00 00 f0 de bc 9a 00 00 00 00 78 56 34 12"))
    assert (insn.dst, insn.src, insn.imm) == (1, 2, 0x123456789ABCDEF0)
    assert (insn.imm_lo, insn.imm_hi) == (0x9ABCDEF0, 0x12345678)


# Every opcode byte the ISA defines (instruction-set.rst, plus the kernel's
# load-acquire/store-release, may_goto and ISA v4 additions).
VALID_OPCODES = {
    0x18, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50,  # LD
    0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91,  # LDX MEM, MEMSX
    0x62, 0x6A, 0x72, 0x7A,  # ST
    0x63, 0x6B, 0x73, 0x7B, 0xC3, 0xCB, 0xD3, 0xDB,  # STX MEM, ATOMIC
    *(op | 0x04 for op in range(0x00, 0xE0, 0x10)),  # ALU K
    *(op | 0x0C for op in range(0x00, 0xE0, 0x10) if op != 0x80),  # ALU X (no neg)
    *(op | 0x07 for op in range(0x00, 0xE0, 0x10)),  # ALU64 K
    *(op | 0x0F for op in range(0x00, 0xD0, 0x10) if op != 0x80),  # ALU64 X (no neg, no bswap)
    *(op | 0x05 for op in range(0x00, 0xF0, 0x10)),  # JMP K, incl. call, exit, jcond
    *(op | 0x0D for op in range(0x10, 0xE0, 0x10) if op not in (0x80, 0x90)),  # JMP X
    *(op | 0x06 for op in range(0x00, 0xE0, 0x10) if op not in (0x80, 0x90)),  # JMP32 K, incl. gotol
    *(op | 0x0E for op in range(0x10, 0xE0, 0x10) if op not in (0x80, 0x90)),  # JMP32 X
}


def _decodes(opcode: int) -> bool:
    """Does some completion of the other fields make ``opcode`` decode?"""
    for regs in (0x21, 0x01):
        for imm in (0, 16, 0x100):
            raw = struct.pack("<BBhi", opcode, regs, 0, imm) + (bytes(8) if opcode == LD_IMM64 else b"")
            try:
                decode(raw)
                return True
            except InstructionError:
                pass
    return False


def test_exactly_the_isa_opcodes_decode():
    accepted = {op for op in range(256) if _decodes(op)}
    assert sorted(accepted - VALID_OPCODES) == []
    assert sorted(VALID_OPCODES - accepted) == []
    assert len(VALID_OPCODES) == 128  # 26 load/store + 53 ALU + 49 jump


@pytest.mark.parametrize(
    "fields, message",
    [
        ((0xFF, 0, 0, 0, 0), "unknown ALU op 0xf0"),
        ((0xF5, 0, 0, 0, 0), "unknown jump op 0xf0"),
        ((0x00, 0, 0, 0, 0), "unknown opcode 0x00 in class LD"),
        ((0x8C, 1, 2, 0, 0), "neg takes no source"),
        ((0xDF, 1, 0, 0, 16), "bswap has no register form"),
        ((0xD4, 1, 0, 0, 8), "byte swap width 8"),
        ((0x3F, 1, 2, 2, 0), "div/mod with off=2"),
        ((0xBC, 1, 2, 32, 0), "movsx with off=32"),
        ((0xB7, 1, 0, 8, 0), "movsx with off=8"),
        ((0xC3, 1, 2, 0, 0x02), "unknown atomic op 0x2"),
        ((0xD3, 1, 2, 0, 0x01), "FETCH_ADD needs a 32- or 64-bit access"),
        ((0x85, 0, 3, 0, 0), "call with unknown pseudo src 3"),
        ((0x8D, 1, 0, 0, 0), "CALL has no register form"),
        ((0x96, 0, 0, 0, 0), "EXIT does not exist in class JMP32"),
        ((0xE5, 0, 1, 0, 0), "jcond with unknown src 1"),
        ((0x0F, 11, 2, 0, 0), "dst register r11 out of range"),
        ((0x0F, 1, 12, 0, 0), "src register r12 out of range"),
        ((0x99, 0, 0, 0, 0), "unknown opcode 0x99 in class LDX"),
    ],
)
def test_bad_instruction_names_its_slot(fields, message):
    good = Instruction.ld_imm64(1, 42).encode() + Instruction(0xB7, 0, 0, 0, 0).encode()
    bad = struct.pack("<BBhi", fields[0], fields[2] << 4 | fields[1], fields[3], fields[4])
    with pytest.raises(InstructionError, match=re.escape(message)) as info:
        decode(good + bad, where="xdp/prog")
    assert info.value.index == 3  # slots, not instructions: ld_imm64 counts twice
    assert info.value.where == "xdp/prog"
    assert str(info.value).startswith("xdp/prog insn 3: ")
    assert isinstance(info.value, ParseError) and isinstance(info.value, ValueError)
    assert format_instruction(Instruction(*fields)).startswith("<invalid: ")


def test_truncated_input():
    with pytest.raises(InstructionError, match="not a whole number of 8-byte slots") as info:
        decode(bytes(8 * 3 + 5), where=".text")
    assert info.value.index == 3 and info.value.where == ".text"
    with pytest.raises(InstructionError):
        as_array(bytes(7))


def test_ld_imm64_missing_second_half():
    data = Instruction.exit().encode() + Instruction.ld_imm64(1, 1).encode()[:8]
    with pytest.raises(InstructionError, match="missing its second half") as info:
        decode(data, where="socket")
    assert info.value.index == 1


@pytest.mark.parametrize("second", ["95 00 00 00 00 00 00 00", "00 01 00 00 00 00 00 00", "00 00 01 00 00 00 00 00"])
def test_ld_imm64_second_half_must_be_zero(second):
    data = bytes.fromhex("18 01 00 00 01 00 00 00") + bytes.fromhex(second)
    with pytest.raises(InstructionError, match="second half must be zero") as info:
        decode(data)
    assert info.value.index == 0


def test_empty_input_decodes_to_nothing():
    assert decode(b"") == []


@pytest.mark.parametrize(
    "fields",
    [(256, 0, 0, 0, 0), (0x07, 16, 0, 0, 0), (0x07, 0, 0, 0x8000, 0), (0x07, 0, 0, 0, 1 << 32), (0x18, 0, 0, 0, 1 << 64)],
)
def test_constructor_rejects_out_of_range_fields(fields):
    with pytest.raises(InstructionError):
        Instruction(*fields)


def test_enum_fields_become_plain_ints():
    insn = Instruction.call(FuncId.map_lookup_elem)
    assert type(insn.imm) is int and type(insn.src) is int and str(insn.imm) == "1"
    assert Instruction(0xDB, 1, 2, 0, AtomicOp.CMPXCHG).imm.__class__ is int
    with pytest.raises(InstructionError, match="imm must be an int, not float"):
        Instruction(0x07, 1, 0, 0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(InstructionError, match="dst must be an int, not bool"):
        Instruction(0x07, True)  # type: ignore[arg-type]


def test_unsigned_immediates_are_normalised_to_signed():
    assert Instruction(0xB7, 1, 0, 0, 0xFFFFFFFF) == Instruction(0xB7, 1, 0, 0, -1)
    assert Instruction.ld_imm64(1, 0xFFFFFFFFFFFFFFFE).imm == -2
    assert Instruction.ld_imm64(1, -2).encode() == bytes.fromhex("18 01 00 00 fe ff ff ff 00 00 00 00 ff ff ff ff")


def test_predicates():
    helper = Instruction.call(FuncId.map_lookup_elem)
    bpf2bpf = Instruction.call(5, PseudoCall.CALL)
    kfunc = Instruction.call(777, PseudoCall.KFUNC_CALL)
    func = Instruction.ld_imm64(2, 9, PseudoLdImm64.FUNC)
    cond = Instruction(0x15, 1, 0, 4, 0)
    gotol = Instruction(0x06, 0, 0, 0, 70000)
    assert helper.is_call and helper.is_helper_call and not helper.is_pseudo_call
    assert bpf2bpf.is_pseudo_call and not bpf2bpf.is_helper_call and not bpf2bpf.is_kfunc_call
    assert kfunc.is_kfunc_call and not kfunc.is_jump
    assert func.is_pseudo_func and func.is_ld_imm64 and not func.is_map_load and func.slots == 2
    assert Instruction.ld_imm64(1, 3, PseudoLdImm64.MAP_IDX_VALUE).is_map_load
    assert Instruction.exit().is_exit and not Instruction.exit().is_jump
    assert cond.is_jump and cond.is_conditional_jump and cond.jump_offset == 4 and cond.jump_target(10) == 15
    assert gotol.is_jump and not gotol.is_conditional_jump and gotol.jump_offset == 70000
    assert Instruction(0xE5, 0, 0, 2, 0).jump_offset == 2  # may_goto
    assert Instruction(0x07, 1, 0, 0, 1).jump_offset is None
    assert bpf2bpf.call_target(10) == 16 and func.call_target(3) == 13 and helper.call_target(3) is None
    assert Instruction(0xDB, 1, 2, 0, 0xF1).atomic_op == AtomicOp.CMPXCHG and AtomicOp.CMPXCHG.fetches
    assert Instruction(0x07, 1, 0, 0, 0xF1).atomic_op is None
    assert helper.with_(imm=2).imm == 2 and helper.imm == 1
    with pytest.raises(InstructionError):
        helper.with_(dst=99)


def test_encode_many_and_numpy_view():
    insns = [Instruction(0xB7, 0, 0, 0, 7), Instruction.ld_imm64(1, 1 << 40), Instruction.exit()]
    raw = encode(insns)
    assert decode(raw) == insns
    arr = as_array(raw)
    assert arr.dtype.names == tuple(name for name, _ in INSN_DTYPE)
    assert arr["code"].tolist() == [0xB7, 0x18, 0x00, 0x95]
    assert arr["imm"].tolist() == [7, 0, 1 << 8, 0]
    assert (arr["regs"] & 0xF).tolist() == [0, 1, 0, 0]


def _libbpf_helper_ids() -> dict[int, str]:
    """Helper names and ids from libbpf's generated header (an independent oracle)."""
    header = Path("/usr/include/bpf/bpf_helper_defs.h")
    if not header.exists():
        pytest.skip("libbpf headers not installed")
    found = re.findall(r"\(\*\s*(?:const\s+)?(bpf_\w+)\)\(.*?\)\s*=\s*\(void \*\)\s*(\d+);", header.read_text())
    return {int(num): name for name, num in found}


def test_helper_names_agree_with_libbpf_header():
    ids = _libbpf_helper_ids()
    assert len(ids) > 200
    for helper_id, name in ids.items():
        assert helper_name(helper_id) == name
        assert format_instruction(Instruction.call(helper_id)) == f"call {name}#{helper_id}"
    # The kernel UAPI this repo was generated from may know newer helpers.
    assert max(m.value for m in FuncId) >= max(ids)
    assert helper_name(max(m.value for m in FuncId) + 1) is None


def test_public_api_is_sorted_and_importable():
    import bpfnb.asm as asm

    assert asm.__all__ == sorted(asm.__all__)
    for name in asm.__all__:
        assert getattr(asm, name) is not None
