"""One eBPF instruction: a frozen dataclass, its binary codec and a numpy view.

Wire format (little endian, 8 bytes per slot)::

    u8 opcode | u8 dst:4 (low nibble), src:4 (high nibble) | s16 off | s32 imm

``ld_imm64`` is the only instruction taking two slots: the second slot
carries the upper 32 bits of the immediate in its ``imm`` and must be zero
elsewhere.  We model it as *one* :class:`Instruction` of ``size == 16``
whose ``imm`` is the full signed 64-bit value, because every later stage
(relocation, disassembly) wants the pair as a unit.  Indices used by the
kernel, llvm and relocation records count slots, not instructions: see
:class:`bpfnb.asm.Instructions` for the bookkeeping between the two.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InstructionError
from .opcodes import (
    CLASS_MASK,
    LD_IMM64,
    MODE_MASK,
    OP_MASK,
    SIZE_MASK,
    SOURCE_MASK,
    AluOp,
    AtomicOp,
    InsnClass,
    JmpOp,
    Mode,
    PseudoCall,
    PseudoLdImm64,
    Size,
    Source,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = ["INSN_DTYPE", "Instruction", "as_array", "decode", "encode"]

_SLOT = struct.Struct("<BBhi")
_FIELDS = ("opcode", "dst", "src", "off", "imm")
_MAX_REG = 10  # r0..r9 general purpose, r10 the read-only frame pointer

#: numpy dtype of one 8-byte slot (``regs`` packs dst in the low nibble).
INSN_DTYPE: Any = [("code", "u1"), ("regs", "u1"), ("off", "<i2"), ("imm", "<i4")]


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


@dataclass(frozen=True, slots=True)
class Instruction:
    """One decoded instruction; ``imm`` is 64-bit signed for ld_imm64.

    Immediates are stored signed (as llvm-objdump and the kernel print
    them); the constructor also accepts their unsigned spelling
    (``imm=0xffffffff`` becomes ``-1``) so callers can write masks
    naturally.  Out-of-range fields raise :class:`InstructionError`.
    """

    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def __post_init__(self) -> None:
        for name in _FIELDS:
            value = getattr(self, name)
            if type(value) is not int:  # IntEnum members (FuncId, AtomicOp ...) become plain ints
                if not isinstance(value, int) or isinstance(value, bool):
                    raise InstructionError(f"{name} must be an int, not {type(value).__name__}")
                object.__setattr__(self, name, int(value))
        if not 0 <= self.opcode <= 0xFF:
            raise InstructionError(f"opcode {self.opcode:#x} does not fit in 8 bits")
        if not (0 <= self.dst <= 15 and 0 <= self.src <= 15):
            raise InstructionError(f"registers dst={self.dst} src={self.src} do not fit in 4 bits")
        if not -0x8000 <= self.off <= 0x7FFF:
            raise InstructionError(f"offset {self.off} does not fit in s16")
        bits = 64 if self.opcode == LD_IMM64 else 32
        if not -(1 << (bits - 1)) <= self.imm < (1 << bits):
            raise InstructionError(f"immediate {self.imm:#x} does not fit in {bits} bits")
        if self.imm >> (bits - 1) > 0:
            object.__setattr__(self, "imm", self.imm - (1 << bits))

    # --- construction -----------------------------------------------------

    @classmethod
    def ld_imm64(cls, dst: int, imm: int, src: int | PseudoLdImm64 = PseudoLdImm64.IMM) -> Instruction:
        """``rDST = imm ll``; ``src`` says what the kernel makes of ``imm``."""
        return cls(LD_IMM64, dst, int(src), 0, imm)

    @classmethod
    def call(cls, imm: int, src: int | PseudoCall = PseudoCall.HELPER, off: int = 0) -> Instruction:
        """A helper (``imm`` = id), bpf2bpf (pc-relative) or kfunc (BTF id) call."""
        return cls(int(JmpOp.CALL) | int(InsnClass.JMP), 0, int(src), off, imm)

    @classmethod
    def exit(cls) -> Instruction:
        return cls(int(JmpOp.EXIT) | int(InsnClass.JMP))

    def with_(self, **changes: int) -> Instruction:
        """A copy with some fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    # --- codec ------------------------------------------------------------

    def encode(self) -> bytes:
        """The 8 (or 16, for ld_imm64) little-endian bytes."""
        regs = (self.src << 4) | self.dst
        if self.opcode == LD_IMM64:
            lo = _signed(self.imm, 32)
            hi = _signed(self.imm >> 32, 32)
            return _SLOT.pack(self.opcode, regs, self.off, lo) + _SLOT.pack(0, 0, 0, hi)
        return _SLOT.pack(self.opcode, regs, self.off, self.imm)

    @classmethod
    def from_bytes(cls, data: bytes) -> Instruction:
        """Decode exactly one instruction (8 bytes, or 16 for ld_imm64)."""
        insns = decode(data)
        if len(insns) != 1:
            raise InstructionError(f"expected one instruction, got {len(insns)}")
        return insns[0]

    # --- fields -----------------------------------------------------------

    @property
    def size(self) -> int:
        """Encoded length in bytes: 16 for ld_imm64, else 8."""
        return 16 if self.opcode == LD_IMM64 else 8

    @property
    def slots(self) -> int:
        """How many 8-byte slots this instruction occupies (1 or 2)."""
        return 2 if self.opcode == LD_IMM64 else 1

    @property
    def cls(self) -> InsnClass:
        return InsnClass(self.opcode & CLASS_MASK)

    @property
    def source(self) -> Source:
        """K (immediate) or X (register) operand, for ALU/JMP classes."""
        return Source(self.opcode & SOURCE_MASK)

    @property
    def alu_op(self) -> AluOp | None:
        if self.opcode & CLASS_MASK in (InsnClass.ALU, InsnClass.ALU64):
            return _enum_or_none(AluOp, self.opcode & OP_MASK)
        return None

    @property
    def jmp_op(self) -> JmpOp | None:
        if self.opcode & CLASS_MASK in (InsnClass.JMP, InsnClass.JMP32):
            return _enum_or_none(JmpOp, self.opcode & OP_MASK)
        return None

    @property
    def mode(self) -> Mode | None:
        if self.opcode & CLASS_MASK <= InsnClass.STX:
            return _enum_or_none(Mode, self.opcode & MODE_MASK)
        return None

    @property
    def access_size(self) -> Size | None:
        """Memory access width of load/store classes (``Size.W`` ...)."""
        if self.opcode & CLASS_MASK <= InsnClass.STX:
            return Size(self.opcode & SIZE_MASK)
        return None

    @property
    def atomic_op(self) -> AtomicOp | None:
        if self.opcode & (CLASS_MASK | MODE_MASK) == InsnClass.STX | Mode.ATOMIC:
            return _enum_or_none(AtomicOp, self.imm)
        return None

    @property
    def imm_lo(self) -> int:
        """Low 32 bits of ``imm`` as unsigned (ld_imm64: the first slot's imm)."""
        return self.imm & 0xFFFFFFFF

    @property
    def imm_hi(self) -> int:
        """High 32 bits of an ld_imm64 ``imm`` as unsigned (the second slot's imm)."""
        return (self.imm >> 32) & 0xFFFFFFFF

    # --- predicates used by relocation and analysis -------------------------

    @property
    def is_ld_imm64(self) -> bool:
        return self.opcode == LD_IMM64

    @property
    def is_pseudo_func(self) -> bool:
        """ld_imm64 of a callback's address (``src == BPF_PSEUDO_FUNC``)."""
        return self.opcode == LD_IMM64 and self.src == PseudoLdImm64.FUNC

    @property
    def is_map_load(self) -> bool:
        """ld_imm64 naming a map or an address in a map value."""
        return self.opcode == LD_IMM64 and self.src in _MAP_PSEUDOS

    @property
    def is_call(self) -> bool:
        return self.opcode == _CALL

    @property
    def is_helper_call(self) -> bool:
        return self.opcode == _CALL and self.src == PseudoCall.HELPER

    @property
    def is_pseudo_call(self) -> bool:
        """A bpf-to-bpf call (``src == BPF_PSEUDO_CALL``, imm pc-relative)."""
        return self.opcode == _CALL and self.src == PseudoCall.CALL

    @property
    def is_kfunc_call(self) -> bool:
        return self.opcode == _CALL and self.src == PseudoCall.KFUNC_CALL

    @property
    def is_exit(self) -> bool:
        return self.opcode == _EXIT

    @property
    def is_jump(self) -> bool:
        """A branch with a pc-relative target: goto, gotol, may_goto, if ... goto."""
        return self.jump_offset is not None

    @property
    def is_conditional_jump(self) -> bool:
        return self.is_jump and self.opcode & OP_MASK not in (JmpOp.JA, JmpOp.JCOND)

    @property
    def jump_offset(self) -> int | None:
        """Slots to skip after this one when the branch is taken, else None.

        ``gotol`` (JMP32 | JA) keeps its offset in ``imm``; every other
        branch in ``off``.
        """
        cls = self.opcode & CLASS_MASK
        if cls != InsnClass.JMP and cls != InsnClass.JMP32:
            return None
        op = self.opcode & OP_MASK
        if op in (JmpOp.CALL, JmpOp.EXIT) or op > JmpOp.JCOND:
            return None
        if op == JmpOp.JCOND and cls != InsnClass.JMP:
            return None
        if op == JmpOp.JA and cls == InsnClass.JMP32:
            return self.imm
        return self.off

    def jump_target(self, slot: int) -> int | None:
        """Slot a branch at ``slot`` lands on when taken."""
        offset = self.jump_offset
        return None if offset is None else slot + 1 + offset

    def call_target(self, slot: int) -> int | None:
        """Slot a bpf2bpf call or a pseudo-func ld_imm64 at ``slot`` refers to."""
        if self.is_pseudo_call:
            return slot + 1 + self.imm
        if self.is_pseudo_func:
            return slot + 1 + _signed(self.imm, 32)
        return None

    # --- validity -----------------------------------------------------------

    @property
    def problem(self) -> str | None:
        """Why the ISA has no such instruction, or None when it is valid.

        Checks the opcode and the fields that complete it (atomic op,
        byte-swap width, signed-division/movsx flags, pseudo kinds) and the
        registers an instruction actually uses; unused fields are kept as
        they are so that bytes round-trip exactly.
        """
        return _problem(self)

    def __repr__(self) -> str:
        from .disasm import format_instruction

        return f"<Instruction {format_instruction(self)}>"


_CALL = int(JmpOp.CALL) | int(InsnClass.JMP)
_EXIT = int(JmpOp.EXIT) | int(InsnClass.JMP)
_MAP_PSEUDOS = frozenset(
    {PseudoLdImm64.MAP_FD, PseudoLdImm64.MAP_VALUE, PseudoLdImm64.MAP_IDX, PseudoLdImm64.MAP_IDX_VALUE}
)
_LD_LEGACY = frozenset(int(m) | int(s) for m in (Mode.ABS, Mode.IND) for s in (Size.W, Size.H, Size.B))
_NARROW_ATOMICS = frozenset({AtomicOp.LOAD_ACQ, AtomicOp.STORE_REL})
_ATOMIC_IMMS = frozenset(int(op) for op in AtomicOp)


def _enum_or_none(enum: Any, value: int) -> Any:
    try:
        return enum(value)
    except ValueError:
        return None


_Check = Callable[[Instruction], "str | None"]


def _regs_check(*, dst: bool = True, src: bool = False) -> _Check:
    """A checker for the registers an instruction uses (r0..r10)."""

    def check(insn: Instruction) -> str | None:
        if dst and insn.dst > _MAX_REG:
            return f"dst register r{insn.dst} out of range"
        if src and insn.src > _MAX_REG:
            return f"src register r{insn.src} out of range"
        return None

    return check


def _invalid(message: str) -> _Check:
    return lambda insn: message


def _all(*checks: _Check) -> _Check:
    def check(insn: Instruction) -> str | None:
        for c in checks:
            problem = c(insn)
            if problem is not None:
                return problem
        return None

    return check


def _ld_imm64(insn: Instruction) -> str | None:
    if insn.src not in _PSEUDO_LD:
        return f"ld_imm64 with unknown pseudo src {insn.src}"
    return None


def _atomic(narrow: bool) -> _Check:
    def check(insn: Instruction) -> str | None:
        if insn.imm not in _ATOMIC_IMMS:
            return f"unknown atomic op {insn.imm:#x}"
        if narrow and insn.imm not in _NARROW_ATOMICS:
            return f"atomic op {AtomicOp(insn.imm).name} needs a 32- or 64-bit access"
        return None

    return check


def _end(insn: Instruction) -> str | None:
    if insn.imm not in (16, 32, 64):
        return f"byte swap width {insn.imm} is not 16, 32 or 64"
    return None


def _signed_flag(insn: Instruction) -> str | None:
    if insn.off not in (0, 1):
        return f"div/mod with off={insn.off} (only 0 unsigned, 1 signed)"
    return None


def _movsx(widths: tuple[int, ...], x: bool) -> _Check:
    def check(insn: Instruction) -> str | None:
        if insn.off and (insn.off not in widths or not x):
            return f"movsx with off={insn.off}"
        return None

    return check


def _call(insn: Instruction) -> str | None:
    if insn.src not in _PSEUDO_CALL:
        return f"call with unknown pseudo src {insn.src}"
    return None


def _jcond(insn: Instruction) -> str | None:
    if insn.src != 0:
        return f"jcond with unknown src {insn.src}"
    return None


def _no_check(insn: Instruction) -> None:
    return None


def _checker(code: int) -> _Check:  # noqa: C901 - one branch per class reads best
    """What must hold for an instruction with opcode ``code`` to exist."""
    cls = code & CLASS_MASK
    if cls == InsnClass.LD:
        if code == LD_IMM64:
            return _all(_ld_imm64, _regs_check())
        if code & ~CLASS_MASK in _LD_LEGACY:
            return _regs_check(dst=False, src=(code & MODE_MASK) == Mode.IND)
        return _invalid(f"unknown opcode {code:#04x} in class LD")
    if cls <= InsnClass.STX:
        mode = code & MODE_MASK
        size = code & SIZE_MASK
        if mode == Mode.MEM:
            return _regs_check(src=cls in (InsnClass.LDX, InsnClass.STX))
        if cls == InsnClass.LDX and mode == Mode.MEMSX and size != Size.DW:
            return _regs_check(src=True)
        if cls == InsnClass.STX and mode == Mode.ATOMIC:
            return _all(_atomic(size in (Size.B, Size.H)), _regs_check(src=True))
        return _invalid(f"unknown opcode {code:#04x} in class {InsnClass(cls).name}")
    op = code & OP_MASK
    x = bool(code & SOURCE_MASK)
    regs = _regs_check(src=x)
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        if op > AluOp.END:
            return _invalid(f"unknown ALU op {op:#04x}")
        if op == AluOp.NEG:
            return _invalid("neg takes no source operand") if x else regs
        if op == AluOp.END:
            if cls == InsnClass.ALU64 and x:
                return _invalid("unknown opcode: bswap has no register form")
            return _all(_end, regs)
        if op in (AluOp.DIV, AluOp.MOD):
            return _all(_signed_flag, regs)
        if op == AluOp.MOV:
            return _all(_movsx((8, 16, 32) if cls == InsnClass.ALU64 else (8, 16), x), regs)
        return regs
    # JMP / JMP32
    if op > JmpOp.JCOND:
        return _invalid(f"unknown jump op {op:#04x}")
    if op in (JmpOp.JA, JmpOp.CALL, JmpOp.EXIT, JmpOp.JCOND):
        if x:
            return _invalid(f"{JmpOp(op).name} has no register form")
        if cls == InsnClass.JMP32 and op != JmpOp.JA:
            return _invalid(f"{JmpOp(op).name} does not exist in class JMP32")
        return {JmpOp.CALL: _call, JmpOp.JCOND: _jcond}.get(JmpOp(op), _no_check)
    return regs


_PSEUDO_LD = frozenset(int(p) for p in PseudoLdImm64)
_PSEUDO_CALL = frozenset(int(p) for p in PseudoCall)
#: One checker per opcode byte, built once: validation is then a table lookup.
_CHECKS: tuple[_Check, ...] = tuple(_checker(code) for code in range(256))


def _problem(insn: Instruction) -> str | None:
    return _CHECKS[insn.opcode](insn)


_new = object.__new__
_SETTERS = tuple(Instruction.__dict__[name].__set__ for name in _FIELDS)


def _unchecked(opcode: int, dst: int, src: int, off: int, imm: int) -> Instruction:
    """Build an Instruction from fields already known to be in range.

    Decoding unpacks fields with ``struct``, so their widths are right by
    construction; skipping ``__post_init__`` makes decoding ~2x faster.
    The slot descriptors' ``__set__`` writes past the frozen ``__setattr__``.
    """
    insn = _new(Instruction)
    s_op, s_dst, s_src, s_off, s_imm = _SETTERS
    s_op(insn, opcode)
    s_dst(insn, dst)
    s_src(insn, src)
    s_off(insn, off)
    s_imm(insn, imm)
    return insn


def decode(data: bytes | bytearray | memoryview, *, where: str | None = None) -> list[Instruction]:
    """Decode a program's bytes into instructions (ld_imm64 as one).

    Raises :class:`InstructionError` naming the slot index and ``where``
    (e.g. the section name) for truncated input, an ld_imm64 without a
    valid second half, or an opcode the ISA does not define.
    """
    view = memoryview(data).cast("B")
    n = len(view)
    if n % 8:
        raise InstructionError(
            f"{n} bytes is not a whole number of 8-byte slots ({n % 8} trailing)", index=n // 8, where=where
        )
    out: list[Instruction] = []
    append = out.append
    slots = list(_SLOT.iter_unpack(view))
    i = 0
    total = len(slots)
    while i < total:
        code, regs, off, imm = slots[i]
        if code == LD_IMM64:
            if i + 1 >= total:
                raise InstructionError("ld_imm64 is missing its second half", index=i, where=where)
            code2, regs2, off2, imm2 = slots[i + 1]
            if code2 or regs2 or off2:
                raise InstructionError(
                    "ld_imm64 second half must be zero apart from imm "
                    f"(opcode {code2:#04x}, regs {regs2:#04x}, off {off2})",
                    index=i,
                    where=where,
                )
            insn = _unchecked(code, regs & 0xF, regs >> 4, off, (imm & 0xFFFFFFFF) | (imm2 << 32))
            step = 2
        else:
            insn = _unchecked(code, regs & 0xF, regs >> 4, off, imm)
            step = 1
        problem = _CHECKS[code](insn)
        if problem is not None:
            raise InstructionError(problem, index=i, where=where)
        append(insn)
        i += step
    return out


def encode(insns: Any) -> bytes:
    """Concatenate the encodings of an iterable of instructions."""
    return b"".join(insn.encode() for insn in insns)


def as_array(data: bytes | bytearray | memoryview) -> np.ndarray:
    """A zero-copy numpy structured view of the slots (``INSN_DTYPE``).

    For bulk work (opcode histograms, finding all calls) without building
    Python objects: ``a["code"] == 0x85`` finds every call slot.  ld_imm64
    shows as its two raw slots here.
    """
    import numpy as np

    view = memoryview(data).cast("B")
    if len(view) % 8:
        raise InstructionError(f"{len(view)} bytes is not a whole number of 8-byte slots", index=len(view) // 8)
    return np.frombuffer(view, dtype=np.dtype(INSN_DTYPE))
