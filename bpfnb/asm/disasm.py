"""Instruction text in the C-like syntax of llvm-objdump-19 and the kernel.

The syntax is llvm-objdump's (``r1 = *(u32 *)(r2 + 0x4)``,
``lock *(u64 *)(r1 + 0x0) += r2``, ``r1 = bswap64 r1``), because that is
what people see next to their C source and because it makes llvm-objdump a
usable test oracle.  Deliberate differences, each to say more than llvm can:

* branch offsets are signed decimal slot counts (``goto +3``), as the kernel
  and bpftool print them: they are counts, not addresses;
* loads and stores of 8-32 bits name the 64-bit register (``r3 = *(u8 *)``)
  as the kernel does, because the load zero-extends into all 64 bits
  (llvm prints ``w3`` when it disassembles with alu32 enabled);
* calls say what they call: ``call bpf_map_lookup_elem#1`` for helpers
  (names from :class:`bpfnb.uapi.FuncId`, ``call #N`` for unknown ids),
  ``call pc+N`` for bpf-to-bpf calls, ``call kfunc#ID`` for kernel
  functions (``ID`` is the BTF id; a non-zero ``off`` — the module BTF's
  fd_array index — shows as ``call kfunc#ID btf_idx:OFF``);
* ld_imm64 shows its pseudo kind: ``r1 = map[fd:5] ll``,
  ``r1 = map_value[fd:5]+16 ll``, ``r1 = map[idx:0] ll``,
  ``r1 = map_value[idx:0]+16 ll``, ``r1 = btf_id#123 ll``,
  ``r1 = func pc+7 ll``; in the kernel's dumps (xlated code,
  ``kernel_dump=True``) the immediate is a map id, printed as bpftool
  does: ``r1 = map[id:5] ll``, ``r1 = map[id:5][0]+16 ll``;
* ISA additions llvm-19 cannot print are spelled as later llvm does:
  ``w0 = load_acquire((u8 *)(r1 + 0x0))``,
  ``store_release((u8 *)(r1 + 0x0), w2)``.

A caller that knows more (map names from relocations, function names from
the symbol table) passes ``names``: a callable ``(insn, slot) -> str | None``
whose answer is appended as `` <name>``, the way objdump prints symbols.
:class:`NameTable` is the ready-made one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

from ..uapi import FuncId
from .instruction import Instruction, decode
from .opcodes import (
    CLASS_MASK,
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
)

if TYPE_CHECKING:
    from .instructions import Instructions

__all__ = ["NameTable", "Names", "disassemble", "format_instruction", "helper_name"]

#: ``names(insn, slot)`` returns a name to show after the instruction, or None.
Names = Callable[[Instruction, Union[int, None]], Union[str, None]]

_ALU_OPS = {
    AluOp.ADD: "+=",
    AluOp.SUB: "-=",
    AluOp.MUL: "*=",
    AluOp.DIV: "/=",
    AluOp.OR: "|=",
    AluOp.AND: "&=",
    AluOp.LSH: "<<=",
    AluOp.RSH: ">>=",
    AluOp.MOD: "%=",
    AluOp.XOR: "^=",
    AluOp.MOV: "=",
    AluOp.ARSH: "s>>=",
}
_JMP_CONDS = {
    JmpOp.JEQ: "==",
    JmpOp.JGT: ">",
    JmpOp.JGE: ">=",
    JmpOp.JSET: "&",
    JmpOp.JNE: "!=",
    JmpOp.JSGT: "s>",
    JmpOp.JSGE: "s>=",
    JmpOp.JLT: "<",
    JmpOp.JLE: "<=",
    JmpOp.JSLT: "s<",
    JmpOp.JSLE: "s<=",
}
_LOCK_OPS = {AtomicOp.ADD: "+=", AtomicOp.OR: "|=", AtomicOp.AND: "&=", AtomicOp.XOR: "^="}
_FETCH_OPS = {
    AtomicOp.FETCH_ADD: "add",
    AtomicOp.FETCH_OR: "or",
    AtomicOp.FETCH_AND: "and",
    AtomicOp.FETCH_XOR: "xor",
}
_SIZE_NAMES = {Size.B: "8", Size.H: "16", Size.W: "32", Size.DW: "64"}


def hexnum(value: int) -> str:
    """``0x4`` / ``-0x4``: llvm-objdump's spelling of immediates."""
    return f"-{-value:#x}" if value < 0 else f"{value:#x}"


def _rel(value: int) -> str:
    return f"{value:+d}"


def _mem(reg: int, off: int) -> str:
    return f"(r{reg} - {-off:#x})" if off < 0 else f"(r{reg} + {off:#x})"


def helper_name(helper_id: int) -> str | None:
    """``bpf_map_lookup_elem`` for 1; None for ids this kernel's UAPI lacks."""
    try:
        member = FuncId(helper_id)
    except ValueError:
        return None
    return None if helper_id == 0 else f"bpf_{member.name}"


@dataclass(frozen=True)
class NameTable:
    """Names by number, for :func:`format_instruction`'s ``names`` hook.

    ``maps`` is keyed by the fd (or fd_array index) in a map ld_imm64,
    ``functions`` by the *slot* a bpf2bpf call or callback lands on,
    ``kfuncs`` and ``btf_ids`` by BTF id.
    """

    maps: Mapping[int, str] = field(default_factory=dict)
    functions: Mapping[int, str] = field(default_factory=dict)
    kfuncs: Mapping[int, str] = field(default_factory=dict)
    btf_ids: Mapping[int, str] = field(default_factory=dict)

    def __call__(self, insn: Instruction, slot: int | None) -> str | None:
        if insn.is_map_load:
            return self.maps.get(insn.imm_lo)
        if insn.is_kfunc_call:
            return self.kfuncs.get(insn.imm)
        if insn.is_ld_imm64 and insn.src == PseudoLdImm64.BTF_ID:
            return self.btf_ids.get(insn.imm_lo)
        if slot is not None:
            target = insn.call_target(slot)
            if target is not None:
                return self.functions.get(target)
        return None


def format_instruction(insn: Instruction, slot: int | None = None, *, names: Names | None = None,
                       kernel_dump: bool = False) -> str:
    """One instruction as text; never raises (invalid ones say why).

    ``slot`` is where the instruction sits; it only matters to ``names``
    (to resolve pc-relative targets to a function).  ``kernel_dump``: the
    instruction comes from the kernel (xlated code), whose map ld_imm64
    holds a map *id*: ``map[id:N]`` and ``map[id:N][0]+OFF`` as bpftool
    prints them, instead of ``map[fd:N]``.
    """
    text = _format(insn, kernel_dump)
    if names is not None:
        name = names(insn, slot)
        if name:
            text = f"{text} <{name}>"
    return text


def _format(insn: Instruction, kernel_dump: bool = False) -> str:
    problem = insn.problem
    if problem is not None:
        return f"<invalid: {problem}>"
    cls = insn.opcode & CLASS_MASK
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        return _format_alu(insn, cls)
    if cls in (InsnClass.JMP, InsnClass.JMP32):
        return _format_jmp(insn, cls)
    if cls == InsnClass.LD:
        return _format_ld(insn, kernel_dump)
    return _format_mem(insn, cls)


def _format_alu(insn: Instruction, cls: int) -> str:
    op = AluOp(insn.opcode & OP_MASK)
    x = bool(insn.opcode & SOURCE_MASK)
    r = "r" if cls == InsnClass.ALU64 else "w"
    dst = f"{r}{insn.dst}"
    if op == AluOp.END:
        if cls == InsnClass.ALU64:
            kind = "bswap"
        else:
            kind = "be" if x else "le"
        return f"r{insn.dst} = {kind}{insn.imm} r{insn.dst}"
    if op == AluOp.NEG:
        return f"{dst} = -{dst}"
    operand = f"{r}{insn.src}" if x else hexnum(insn.imm)
    if op == AluOp.MOV and insn.off:
        return f"{dst} = (s{insn.off}){operand}"
    sym = _ALU_OPS[op]
    if op in (AluOp.DIV, AluOp.MOD) and insn.off == 1:
        sym = "s" + sym
    return f"{dst} {sym} {operand}"


def _format_jmp(insn: Instruction, cls: int) -> str:
    op = JmpOp(insn.opcode & OP_MASK)
    if op == JmpOp.JA:
        return f"gotol {_rel(insn.imm)}" if cls == InsnClass.JMP32 else f"goto {_rel(insn.off)}"
    if op == JmpOp.EXIT:
        return "exit"
    if op == JmpOp.JCOND:
        return f"may_goto {_rel(insn.off)}"
    if op == JmpOp.CALL:
        if insn.src == PseudoCall.CALL:
            return f"call pc{_rel(insn.imm)}"
        if insn.src == PseudoCall.KFUNC_CALL:
            extra = f" btf_idx:{insn.off}" if insn.off else ""
            return f"call kfunc#{insn.imm}{extra}"
        name = helper_name(insn.imm)
        return f"call {name}#{insn.imm}" if name else f"call #{insn.imm}"
    r = "r" if cls == InsnClass.JMP else "w"
    operand = f"{r}{insn.src}" if insn.opcode & SOURCE_MASK else hexnum(insn.imm)
    return f"if {r}{insn.dst} {_JMP_CONDS[op]} {operand} goto {_rel(insn.off)}"


def _format_ld(insn: Instruction, kernel_dump: bool = False) -> str:
    if insn.is_ld_imm64:
        dst = f"r{insn.dst}"
        kind = insn.src
        if kind == PseudoLdImm64.IMM:
            value = hexnum(insn.imm)
        elif kernel_dump and kind == PseudoLdImm64.MAP_FD:
            value = f"map[id:{insn.imm_lo}]"
        elif kernel_dump and kind == PseudoLdImm64.MAP_VALUE:
            value = f"map[id:{insn.imm_lo}][0]+{insn.imm_hi}"
        elif kind in (PseudoLdImm64.MAP_FD, PseudoLdImm64.MAP_IDX):
            value = f"map[{'fd' if kind == PseudoLdImm64.MAP_FD else 'idx'}:{insn.imm_lo}]"
        elif kind in (PseudoLdImm64.MAP_VALUE, PseudoLdImm64.MAP_IDX_VALUE):
            tag = "fd" if kind == PseudoLdImm64.MAP_VALUE else "idx"
            value = f"map_value[{tag}:{insn.imm_lo}]+{insn.imm_hi}"
        elif kind == PseudoLdImm64.BTF_ID:
            value = f"btf_id#{insn.imm_lo}" + (f" btf_fd:{insn.imm_hi}" if insn.imm_hi else "")
        else:  # FUNC
            value = f"func pc{_rel(insn.imm_lo - ((insn.imm_lo >> 31) << 32))}"
        return f"{dst} = {value} ll"
    size = _SIZE_NAMES[Size(insn.opcode & SIZE_MASK)]
    if insn.opcode & MODE_MASK == Mode.ABS:
        return f"r0 = *(u{size} *)skb[{hexnum(insn.imm)}]"
    index = f"r{insn.src}" + (f" + {hexnum(insn.imm)}" if insn.imm else "")
    return f"r0 = *(u{size} *)skb[{index}]"


def _format_mem(insn: Instruction, cls: int) -> str:
    size = Size(insn.opcode & SIZE_MASK)
    bits = _SIZE_NAMES[size]
    mode = insn.opcode & MODE_MASK
    if cls == InsnClass.LDX:
        sign = "s" if mode == Mode.MEMSX else "u"
        return f"r{insn.dst} = *({sign}{bits} *){_mem(insn.src, insn.off)}"
    if cls == InsnClass.ST:
        return f"*(u{bits} *){_mem(insn.dst, insn.off)} = {hexnum(insn.imm)}"
    if mode == Mode.MEM:
        return f"*(u{bits} *){_mem(insn.dst, insn.off)} = r{insn.src}"
    # STX | ATOMIC
    op = AtomicOp(insn.imm)
    r = "r" if size == Size.DW else "w"
    addr = _mem(insn.dst, insn.off)
    src = f"{r}{insn.src}"
    if op in _LOCK_OPS:
        return f"lock *(u{bits} *){addr} {_LOCK_OPS[op]} {src}"
    if op in _FETCH_OPS:
        return f"{src} = atomic_fetch_{_FETCH_OPS[op]}((u{bits} *){addr}, {src})"
    inner = addr[1:-1]
    if op == AtomicOp.XCHG:
        fn = "xchg_64" if size == Size.DW else "xchg32_32"
        return f"{src} = {fn}({inner}, {src})"
    if op == AtomicOp.CMPXCHG:
        fn = "cmpxchg_64" if size == Size.DW else "cmpxchg32_32"
        return f"{r}0 = {fn}({inner}, {r}0, {src})"
    if op == AtomicOp.LOAD_ACQ:
        return f"{r}{insn.dst} = load_acquire((u{bits} *){_mem(insn.src, insn.off)})"
    return f"store_release((u{bits} *){addr}, {src})"  # STORE_REL


def disassemble(
    code: bytes | bytearray | memoryview | Instructions | Iterable[Instruction],
    *,
    names: Names | None = None,
    where: str | None = None,
) -> str:
    """A listing of ``slot: text`` lines, like ``llvm-objdump -d``.

    Accepts raw bytes (decoded here; errors name ``where``), an
    :class:`~bpfnb.asm.Instructions` (its source lines and annotations
    become ``;`` comments) or any iterable of :class:`Instruction`.
    """
    from .instructions import Instructions

    if isinstance(code, (bytes, bytearray, memoryview)):
        insns = Instructions(decode(code, where=where))
    elif isinstance(code, Instructions):
        insns = code
    else:
        insns = Instructions(code)
    lines = []
    width = max(4, len(str(max(insns.len_slots - 1, 0))))
    for index, insn in enumerate(insns):
        slot = insns.slot_of(index)
        source = insns.source_lines.get(slot)
        if source is not None:
            lines.append(f"{'':>{width}}  ; {source.strip()}")
        text = format_instruction(insn, slot, names=names, kernel_dump=insns.kernel_dump)
        notes = insns.annotations.get(slot)
        if notes:
            text = f"{text}  ; {'; '.join(notes)}"
        lines.append(f"{slot:>{width}}: {text}")
    return "\n".join(lines)
