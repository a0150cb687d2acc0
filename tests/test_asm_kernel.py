"""The running kernel as an oracle for which instructions exist.

For every opcode byte (and every atomic op), a tiny socket filter is built
around one instruction with its fields chosen so that the verifier has no
*other* reason to refuse it (initialised registers, an initialised stack
slot, non-zero divisors, reserved fields zero).  The kernel must accept it
exactly when ``bpfnb.asm.decode`` does.  This checks our opcode facts —
including the load-acquire/store-release encodings that llvm-19 cannot
print — against the verifier itself.  libbpf's ``bpf_prog_load`` is used
through ctypes here only as an independent loader (a test oracle).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct

import pytest

from bpfnb.asm import LD_IMM64, AluOp, AtomicOp, InsnClass, Instruction, JmpOp, Mode, decode, format_instruction
from bpfnb.asm.versions import newer_than
from bpfnb.errors import InstructionError
from bpfnb.kernel.version import running_kernel

pytestmark = pytest.mark.kernel

SOCKET_FILTER = 1  # BPF_PROG_TYPE_SOCKET_FILTER

PROLOGUE = [
    Instruction(0xB7, 0, 0, 0, 0),  # r0 = 0
    Instruction(0xBF, 6, 1, 0, 0),  # r6 = r1 (ctx, for LD_ABS/LD_IND)
    Instruction(0xB7, 1, 0, 0, 1),  # r1 = 1
    Instruction(0xB7, 2, 0, 0, 3),  # r2 = 3
    Instruction(0x7B, 10, 2, -8, 0),  # *(u64 *)(r10 - 8) = r2
]
EPILOGUE = [Instruction(0xB7, 0, 0, 0, 0), Instruction.exit()]


@pytest.fixture(scope="module")
def prog_load():
    path = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        lib = ctypes.CDLL(path, use_errno=True)
    except OSError:
        pytest.skip("libbpf.so.1 (test oracle) not installed")
    lib.bpf_prog_load.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_void_p,
    ]
    lib.bpf_prog_load.restype = ctypes.c_int
    # Silence libbpf's own log for the thousands of probe loads, and hand the
    # previous print callback back afterwards: other oracles read that log.
    lib.libbpf_set_print.argtypes = [ctypes.c_void_p]
    lib.libbpf_set_print.restype = ctypes.c_void_p
    previous = lib.libbpf_set_print(None)

    def load(raw: bytes) -> int:
        """0 when the kernel accepts the program, else the errno."""
        fd = lib.bpf_prog_load(SOCKET_FILTER, b"bpfnb_isa", b"GPL", raw, len(raw) // 8, None)
        if fd >= 0:
            os.close(fd)
            return 0
        return -fd

    yield load
    lib.libbpf_set_print(previous)


def probe_fields(opcode: int) -> dict[str, int]:
    """Fields that make ``opcode`` verifiable in PROLOGUE's context, if it exists."""
    cls = opcode & 0x07
    op = opcode & 0xF0
    x = bool(opcode & 0x08)
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        if op == AluOp.END:  # the source bit is the byte order, not a register
            return dict(dst=1, src=0, off=0, imm=16)
        if op == AluOp.NEG:
            return dict(dst=1, src=2 if x else 0, off=0, imm=0)
        return dict(dst=1, src=2 if x else 0, off=0, imm=0 if x else 3)
    if cls in (InsnClass.JMP, InsnClass.JMP32):
        if op == JmpOp.CALL:
            return dict(dst=0, src=0, off=0, imm=5)  # bpf_ktime_get_ns
        if op == JmpOp.JCOND:  # may_goto +1 (over the epilogue's r0 = 0); +0 is newer (asm.versions)
            return dict(dst=0, src=0, off=1, imm=0)
        if op in (JmpOp.JA, JmpOp.EXIT):
            return dict(dst=0, src=0, off=0, imm=0)
        return dict(dst=1, src=2 if x else 0, off=0, imm=0 if x else 3)
    if cls == InsnClass.LD:
        return dict(dst=1 if opcode == LD_IMM64 else 0, src=2 if opcode & 0xE0 == Mode.IND else 0, off=0, imm=0)
    if cls == InsnClass.LDX:
        return dict(dst=1, src=10, off=-8, imm=0)
    if cls == InsnClass.ST:
        return dict(dst=10, src=0, off=-8, imm=3)
    return dict(dst=10, src=2, off=-8, imm=0)


def probe_cases() -> list[tuple[int, int | None]]:
    cases: list[tuple[int, int | None]] = []
    for opcode in range(256):
        if opcode & 0xE7 == InsnClass.STX | Mode.ATOMIC:
            cases += [(opcode, int(op)) for op in AtomicOp] + [(opcode, bad) for bad in (0x02, 0x120, 0xB1, 0x101)]
        else:
            cases.append((opcode, None))
    return cases


def probe_instruction(opcode: int, imm: int | None) -> bytes:
    f = probe_fields(opcode)
    if imm is not None:
        f["imm"] = imm
        if imm == AtomicOp.LOAD_ACQ:  # dst receives the value, src holds the address
            f.update(dst=1, src=10)
    raw = struct.pack("<BBhi", opcode, f["src"] << 4 | f["dst"], f["off"], f["imm"])
    return raw + bytes(8) if opcode == LD_IMM64 else raw


def _too_new(insn: Instruction) -> bool:
    """Is ``insn`` from an ISA extension newer than the running kernel?"""
    return newer_than(insn, running_kernel()) is not None


def test_kernel_accepts_exactly_what_we_decode(prog_load):
    """Where they differ, the kernel must be older than the instruction's extension (and say EINVAL)."""
    prologue = b"".join(i.encode() for i in PROLOGUE)
    epilogue = b"".join(i.encode() for i in EPILOGUE)
    disagreements = []
    accepted = 0
    for opcode, imm in probe_cases():
        raw = probe_instruction(opcode, imm)
        try:
            (insn,) = decode(raw)
            ours, text = True, format_instruction(insn)
        except InstructionError as exc:
            insn, ours, text = None, False, str(exc)
        tail = b"" if opcode == JmpOp.EXIT | InsnClass.JMP else epilogue  # code after exit is unreachable
        err = prog_load(prologue + raw + tail)
        if err not in (0, 22, 13):  # EINVAL/EACCES are verifier verdicts; anything else is the harness
            pytest.fail(f"opcode {opcode:#04x}: unexpected errno {err}")
        accepted += err == 0
        if ours and err == 22 and _too_new(insn):
            continue  # e.g. a sign-extending load on 6.1: ISA v4 came with 6.6
        if ours != (err == 0):
            disagreements.append(f"{raw.hex(' ')}: bpfnb {'accepts' if ours else 'rejects'} ({text}), kernel errno {err}")
    assert not disagreements, "\n".join(disagreements)
    if not _too_new(Instruction(0xD3, 1, 10, -8, AtomicOp.LOAD_ACQ)):
        assert accepted > 130  # 128 opcodes, plus every atomic op on W/DW and acquire/release on B/H


def test_kernel_accepts_programs_built_from_our_constructors(prog_load):
    """Load-acquire/store-release of every width and may_goto, assembled by bpfnb."""
    body = [*PROLOGUE, Instruction(0xB7, 3, 0, 0, 0)]  # r3 = 0: set even where the acquires are left out
    for size_bits, code in ((0x10, 0xD3), (0x08, 0xCB), (0x00, 0xC3), (0x18, 0xDB)):
        body.append(Instruction(code, 3, 10, -8, AtomicOp.LOAD_ACQ))
        body.append(Instruction(code, 10, 3, -8, AtomicOp.STORE_REL))
    body += [Instruction(0xE5, 0, 0, 1, 0), Instruction(0x06, 0, 0, 0, 0)]  # may_goto +1 (over gotol +0)
    body += [Instruction.ld_imm64(0, -1), Instruction(0xBF, 0, 3, 8, 0)]  # r0 = (s8)r3
    body += EPILOGUE
    raw = b"".join(i.encode() for i in body)
    assert decode(raw) == body
    newer = [i for i in body if _too_new(i)]
    if not newer:
        assert prog_load(raw) == 0
        return
    # an older kernel: refused as a whole, accepted without what it lacks
    assert prog_load(raw) == 22
    assert prog_load(b"".join(i.encode() for i in body if i not in newer)) == 0
