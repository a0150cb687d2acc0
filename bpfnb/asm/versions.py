"""The first Linux release whose verifier accepts an instruction.

The decoder knows every encoding of the current ISA; a kernel knows the
encodings of its own release.  This table says which release added each
newer one, so a refusal of, say, a sign-extending load on Linux 6.1 is
explained ("needs Linux 6.6, ISA v4") instead of being a bare EINVAL, and
tests can tell "too old" from "wrong".  Older encodings (the classic ISA
and plain atomic add) return ``None``.
"""

from __future__ import annotations

from .instruction import Instruction
from .opcodes import AluOp, AtomicOp, InsnClass, JmpOp, Mode, Size

__all__ = ["IsaFeature", "isa_feature", "newer_than"]


class IsaFeature(str):
    """An ISA extension's name with the release that added it: ``IsaFeature("ISA v4", "6.6")``."""

    min_version: str
    #: ``min_version`` as ``(major, minor, patch)``: compares with a kernel version tuple.
    since: tuple[int, int, int]

    def __new__(cls, name: str, min_version: str) -> IsaFeature:
        self = super().__new__(cls, name)
        self.min_version = min_version
        major, minor = (int(n) for n in min_version.split("."))
        self.since = (major, minor, 0)
        return self


# Every name starts with "ISA" so that one gate (tests' kernel_feature("ISA")) covers them all.
JMP32 = IsaFeature("ISA v3 32-bit jumps", "5.1")
ATOMICS = IsaFeature("ISA atomics (fetch, and/or/xor, xchg, cmpxchg)", "5.12")
ISA_V4 = IsaFeature("ISA v4 (sign extension, signed div/mod, bswap, gotol)", "6.6")
MAY_GOTO = IsaFeature("ISA may_goto", "6.9")
#: ``may_goto +0`` (a no-op LLVM could emit) was refused until a 2025 verifier change (6.12 refuses it).
MAY_GOTO_ZERO = IsaFeature("ISA may_goto +0", "6.14")
ADDR_SPACE_CAST = IsaFeature("ISA addr_space_cast (arena)", "6.9")
LOAD_ACQUIRE = IsaFeature("ISA load-acquire/store-release", "6.15")


def isa_feature(insn: Instruction) -> IsaFeature | None:
    """The ISA extension ``insn`` belongs to, with its minimum release (None: the classic ISA)."""
    cls = insn.cls
    if cls == InsnClass.JMP32:
        return ISA_V4 if insn.jmp_op == JmpOp.JA else JMP32
    if cls == InsnClass.JMP and insn.jmp_op == JmpOp.JCOND:
        return MAY_GOTO_ZERO if insn.off == 0 else MAY_GOTO
    if cls == InsnClass.LDX and insn.mode == Mode.MEMSX:
        return ISA_V4
    if cls == InsnClass.STX and insn.mode == Mode.ATOMIC:
        op = insn.atomic_op
        if op in (AtomicOp.LOAD_ACQ, AtomicOp.STORE_REL):
            return LOAD_ACQUIRE
        if op != AtomicOp.ADD or insn.access_size not in (Size.W, Size.DW):
            return ATOMICS
        return None
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        op = insn.alu_op
        if op == AluOp.END and cls == InsnClass.ALU64:
            return ISA_V4  # unconditional bswap
        if op in (AluOp.DIV, AluOp.MOD) and insn.off == 1:
            return ISA_V4
        if op == AluOp.MOV and insn.off:
            return ADDR_SPACE_CAST if insn.off == 1 and cls == InsnClass.ALU64 else ISA_V4
    return None


def newer_than(insn: Instruction, kernel: tuple[int, int, int]) -> IsaFeature | None:
    """The extension of ``insn`` if ``kernel`` (a version tuple) predates it, else None."""
    feature = isa_feature(insn)
    return feature if feature is not None and tuple(kernel) < feature.since else None
