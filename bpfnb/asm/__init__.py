"""eBPF instructions: decode, encode, disassemble (pure; numpy only for ``as_array``).

>>> from bpfnb.asm import Instructions
>>> insns = Instructions.decode(bytes.fromhex("b700000000000000" "9500000000000000"))
>>> print(insns)
   0: r0 = 0x0
   1: exit
"""

from .disasm import NameTable, Names, disassemble, format_instruction, helper_name
from .instruction import INSN_DTYPE, Instruction, as_array, decode, encode
from .instructions import Instructions
from .opcodes import (
    FETCH,
    LD_IMM64,
    AluOp,
    AtomicOp,
    InsnClass,
    JmpOp,
    Mode,
    PseudoCall,
    PseudoLdImm64,
    Size,
    Source,
    alu_opcode,
    jmp_opcode,
    mem_opcode,
)

__all__ = [
    "AluOp",
    "AtomicOp",
    "FETCH",
    "INSN_DTYPE",
    "InsnClass",
    "Instruction",
    "Instructions",
    "JmpOp",
    "LD_IMM64",
    "Mode",
    "NameTable",
    "Names",
    "PseudoCall",
    "PseudoLdImm64",
    "Size",
    "Source",
    "alu_opcode",
    "as_array",
    "decode",
    "disassemble",
    "encode",
    "format_instruction",
    "helper_name",
    "jmp_opcode",
    "mem_opcode",
]
