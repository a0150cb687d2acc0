"""The eBPF opcode byte and the fields that extend it, as IntEnums.

An instruction's 8-bit ``opcode`` packs three fields whose meaning depends
on the class in the low three bits (see the kernel's
``Documentation/bpf/standardization/instruction-set.rst``)::

    ALU / ALU64 / JMP / JMP32:   op (4 bits) | source (1 bit) | class (3 bits)
    LD / LDX / ST / STX:         mode (3 bits) | size (2 bits) | class (3 bits)

Some instructions are only fully named by other fields: atomics by ``imm``,
signed division/modulo and sign-extending moves by ``off``, byte swaps by
``imm`` (the width), ld_imm64 and calls by ``src`` (the "pseudo" kinds that
tell the kernel what the immediate means).  Those live here too, so that
decoding, encoding and disassembly share one table of facts.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "AluOp",
    "AtomicOp",
    "CLASS_MASK",
    "FETCH",
    "InsnClass",
    "JmpOp",
    "LD_IMM64",
    "MODE_MASK",
    "Mode",
    "OP_MASK",
    "PseudoCall",
    "PseudoLdImm64",
    "SIZE_MASK",
    "SOURCE_MASK",
    "Size",
    "Source",
    "alu_opcode",
    "jmp_opcode",
    "mem_opcode",
]

CLASS_MASK = 0x07
SOURCE_MASK = 0x08
OP_MASK = 0xF0
SIZE_MASK = 0x18
MODE_MASK = 0xE0


class InsnClass(IntEnum):
    """Low three bits of the opcode."""

    LD = 0x00  # non-standard loads: ld_imm64, legacy LD_ABS/LD_IND
    LDX = 0x01  # load into register from memory
    ST = 0x02  # store immediate to memory
    STX = 0x03  # store register to memory, and atomics
    ALU = 0x04  # 32-bit arithmetic (upper half of dst zeroed)
    JMP = 0x05  # 64-bit compares, call, exit
    JMP32 = 0x06  # 32-bit compares; JA here is the long jump "gotol"
    ALU64 = 0x07  # 64-bit arithmetic

    @property
    def is_alu(self) -> bool:
        return self in (InsnClass.ALU, InsnClass.ALU64)

    @property
    def is_jmp(self) -> bool:
        return self in (InsnClass.JMP, InsnClass.JMP32)

    @property
    def is_load_store(self) -> bool:
        return self <= InsnClass.STX


class Size(IntEnum):
    """Access width of load/store classes (bits 3-4)."""

    W = 0x00  # 4 bytes
    H = 0x08  # 2 bytes
    B = 0x10  # 1 byte
    DW = 0x18  # 8 bytes

    @property
    def nbytes(self) -> int:
        return _SIZE_BYTES[self]

    @property
    def bits(self) -> int:
        return 8 * _SIZE_BYTES[self]


_SIZE_BYTES = {Size.W: 4, Size.H: 2, Size.B: 1, Size.DW: 8}


class Mode(IntEnum):
    """Addressing mode of load/store classes (bits 5-7)."""

    IMM = 0x00  # ld_imm64 (with Size.DW in class LD)
    ABS = 0x20  # legacy packet load, skb[imm]
    IND = 0x40  # legacy packet load, skb[src + imm]
    MEM = 0x60  # regular *(size *)(reg + off)
    MEMSX = 0x80  # sign-extending load (LDX only, ISA v4)
    ATOMIC = 0xC0  # atomic read-modify-write (STX only; op in imm)


class Source(IntEnum):
    """Bit 3 of ALU/JMP opcodes: immediate or register operand.

    For ``AluOp.END`` in class ALU the same bit picks the byte order
    instead: K converts to little endian, X to big endian.
    """

    K = 0x00
    X = 0x08


class AluOp(IntEnum):
    """Arithmetic operations (bits 4-7 of ALU/ALU64 opcodes)."""

    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30  # off=1: signed division (ISA v4)
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90  # off=1: signed modulo (ISA v4)
    XOR = 0xA0
    MOV = 0xB0  # off=8/16/32: sign-extending move (ISA v4)
    ARSH = 0xC0
    END = 0xD0  # byte swap; imm is the width (16, 32 or 64)


class JmpOp(IntEnum):
    """Jump operations (bits 4-7 of JMP/JMP32 opcodes)."""

    JA = 0x00  # JMP: goto +off; JMP32: gotol +imm
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80  # src says helper / bpf2bpf / kfunc (PseudoCall)
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0
    JCOND = 0xE0  # src=0: may_goto (a loop budget the verifier enforces)


#: The flag that turns an atomic op into its fetching variant.
FETCH = 0x01


class AtomicOp(IntEnum):
    """The ``imm`` of a ``STX | ATOMIC`` instruction.

    W and DW support every op; B and H only the load-acquire/store-release
    pair (kernel 6.15+).
    """

    ADD = 0x00
    OR = 0x40
    AND = 0x50
    XOR = 0xA0
    FETCH_ADD = 0x00 | FETCH
    FETCH_OR = 0x40 | FETCH
    FETCH_AND = 0x50 | FETCH
    FETCH_XOR = 0xA0 | FETCH
    XCHG = 0xE0 | FETCH
    CMPXCHG = 0xF0 | FETCH
    LOAD_ACQ = 0x100
    STORE_REL = 0x110

    @property
    def fetches(self) -> bool:
        """Does the op write the old value back into a register?"""
        return self in _FETCHING


_FETCHING = frozenset(
    {
        AtomicOp.FETCH_ADD,
        AtomicOp.FETCH_OR,
        AtomicOp.FETCH_AND,
        AtomicOp.FETCH_XOR,
        AtomicOp.XCHG,
        AtomicOp.CMPXCHG,
        AtomicOp.LOAD_ACQ,
    }
)


class PseudoLdImm64(IntEnum):
    """``src`` of an ld_imm64: how the kernel interprets the 64-bit immediate."""

    IMM = 0  # a plain constant
    MAP_FD = 1  # imm = map fd -> map pointer
    MAP_VALUE = 2  # imm = map fd, high half = offset -> address in the value
    BTF_ID = 3  # imm = BTF id of a kernel variable (ksym)
    FUNC = 4  # imm = pc-relative offset of a callback function
    MAP_IDX = 5  # like MAP_FD, but an index into fd_array
    MAP_IDX_VALUE = 6  # like MAP_VALUE, but an index into fd_array


class PseudoCall(IntEnum):
    """``src`` of a call: what ``imm`` names."""

    HELPER = 0  # imm = helper id (enum bpf_func_id)
    CALL = 1  # imm = pc-relative offset of a BPF subprogram
    KFUNC_CALL = 2  # imm = BTF id of a kernel function; off = fd_array index of its BTF


def alu_opcode(cls: InsnClass, op: AluOp, source: Source = Source.K) -> int:
    """Opcode byte of an ALU/ALU64 instruction."""
    return int(op) | int(source) | int(cls)


def jmp_opcode(cls: InsnClass, op: JmpOp, source: Source = Source.K) -> int:
    """Opcode byte of a JMP/JMP32 instruction."""
    return int(op) | int(source) | int(cls)


def mem_opcode(cls: InsnClass, mode: Mode, size: Size) -> int:
    """Opcode byte of an LD/LDX/ST/STX instruction."""
    return int(mode) | int(size) | int(cls)


#: ``LD | IMM | DW``: the only two-slot instruction.
LD_IMM64 = mem_opcode(InsnClass.LD, Mode.IMM, Size.DW)
