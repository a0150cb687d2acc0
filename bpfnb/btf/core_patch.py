"""Patching instructions with resolved CO-RE values (pure; libbpf's bpf_core_patch_insn).

A CO-RE value lands in one of four places, depending on the instruction
the compiler emitted for the record:

* ``rX = imm`` / ``rX += imm`` (ALU/ALU64 with an immediate): the ``imm``;
* ``rX = *(T *)(rY + off)``, ``*(T *)(rX + off) = rY | imm``
  (LDX/ST/STX): the ``off``, and, for a field whose size differs in the
  target, the access size, but only when the value survives the change
  (pointers, unsigned integers); otherwise the instruction is poisoned;
* ``rX = imm64 ll`` (ld_imm64): the full 64-bit immediate.

Before patching, the instruction must hold the *local* value (the one the
compiler computed from the local type): a mismatch means the record does
not describe this instruction, and patching would corrupt the program, so
it is an error naming the program and slot.  Poisoning replaces the
instruction with ``call 0xbad2310`` (both slots of an ld_imm64), keeping
the slot count so jumps stay valid.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..asm import Instruction, Instructions, InsnClass, Size
from ..asm.opcodes import CLASS_MASK, MODE_MASK, SIZE_MASK, SOURCE_MASK
from ..errors import BpfnbError, CoreRelocationError

if TYPE_CHECKING:
    from .core import CoreRelocation

__all__ = ["POISON_HELPER", "apply_core_relocations", "instruction_value", "patch_one", "poison_instruction"]

#: Helper id libbpf writes into poisoned instructions ("bad relo"); the verifier names it unknown#195896080.
POISON_HELPER = 0xBAD2310

_U64 = (1 << 64) - 1
_SIZE_BYTES = {int(Size.DW): 8, int(Size.W): 4, int(Size.H): 2, int(Size.B): 1}
_BYTES_SIZE = {v: k for k, v in _SIZE_BYTES.items()}
_SHRT_MAX = 0x7FFF


def poison_instruction() -> Instruction:
    """``call 0xbad2310``: the verifier says "invalid func unknown#195896080" if it is reached."""
    return Instruction.call(POISON_HELPER)


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def _fail(res: CoreRelocation, message: str) -> CoreRelocationError:
    return CoreRelocationError(f"relo #{res.index} ({res.kind_label} {res.local_path}): {message}",
                               program=res.program, index=res.slot)


def patch_one(insn: Instruction, res: CoreRelocation) -> tuple[list[Instruction], bool, str]:
    """The instruction(s) replacing ``insn`` per ``res``, whether poisoned, and why.

    Two instructions come back only when an ld_imm64 is poisoned (one call
    per slot).  Raises :class:`CoreRelocationError` when ``insn`` cannot
    carry the value or does not hold the expected original value.
    """
    if res.poisoned:
        return _poison(insn), True, res.poison_reason
    cls = insn.opcode & CLASS_MASK
    old, new = res.old_value & _U64, res.new_value & _U64
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        if insn.opcode & SOURCE_MASK:
            raise _fail(res, "ALU instruction with a register operand cannot take a CO-RE value")
        if res.validate and insn.imm & _U64 != old:
            raise _fail(res, f"instruction holds imm {insn.imm & 0xFFFFFFFF}, expected {old} (-> {new})")
        return [insn.with_(imm=_s32(new))], False, ""
    if cls in (InsnClass.LDX, InsnClass.ST, InsnClass.STX):
        if res.validate and insn.off & _U64 != old:
            raise _fail(res, f"instruction holds off {insn.off & 0xFFFF}, expected {old} (-> {new})")
        if new > _SHRT_MAX:
            raise _fail(res, f"offset {new} does not fit a load/store offset (at most {_SHRT_MAX})")
        if res.size_mismatch:
            why = (f"field size changes {res.old_size} -> {res.new_size} bytes and the value would be wrong "
                   "(only pointers and unsigned integers may be resized)")
            return _poison(insn), True, why
        patched = insn.with_(off=new)
        if res.new_size != res.old_size:
            have = _SIZE_BYTES.get(insn.opcode & SIZE_MASK)
            if have != res.old_size:
                raise _fail(res, f"instruction accesses {have} bytes, expected {res.old_size}")
            size = _BYTES_SIZE.get(res.new_size)
            if size is None:
                raise _fail(res, f"no load/store of {res.new_size} bytes")
            patched = patched.with_(opcode=(insn.opcode & (MODE_MASK | CLASS_MASK)) | size)
        return [patched], False, ""
    if cls == InsnClass.LD:
        if not insn.is_ld_imm64 or insn.src != 0 or insn.off != 0:
            raise _fail(res, "ld_imm64 of an unexpected form (pseudo source or offset set)")
        if res.validate and insn.imm & _U64 != old:
            raise _fail(res, f"instruction holds imm64 {insn.imm & _U64}, expected {old} (-> {new})")
        return [insn.with_(imm=new)], False, ""
    raise _fail(res, f"instruction with opcode {insn.opcode:#04x} cannot carry a CO-RE value")


def instruction_value(insn: Instruction, default: int) -> int:
    """The value a CO-RE patch would overwrite, as libbpf reads it (unsigned 64-bit)."""
    cls = insn.opcode & CLASS_MASK
    if cls in (InsnClass.ALU, InsnClass.ALU64, InsnClass.LD):
        return insn.imm & _U64
    if cls in (InsnClass.LDX, InsnClass.ST, InsnClass.STX):
        return insn.off & _U64
    return default


def _poison(insn: Instruction) -> list[Instruction]:
    return [poison_instruction()] * insn.slots


def _note(res: CoreRelocation, poisoned: bool, reason: str) -> str:
    if poisoned:
        return f"CO-RE {res.kind_label} {res.local_path}: poisoned ({reason})"
    size = f", size {res.old_size} → {res.new_size}" if res.new_size != res.old_size else ""
    return f"CO-RE {res.kind_label} {res.local_path}: {res.old_value} → {res.new_value}{size}"


def apply_core_relocations(instructions: Instructions, resolutions: Iterable[CoreRelocation], *,
                           base_slot: int = 0) -> Instructions:
    """``instructions`` with every resolution patched in and annotated (what changed, why).

    A resolution's ``slot`` is relative to its program or function;
    ``base_slot`` is where that code starts in ``instructions`` (0 when
    patching a program's own instructions, the subprogram's start when
    patching an already assembled program).  The slot count never changes.
    """
    current: dict[int, list[Instruction]] = {}
    notes: dict[int, list[str]] = {}
    for res in resolutions:
        slot = base_slot + res.slot
        if slot in current:
            seq = current[slot]
            insn = seq[0]
            if len(seq) != 1 or insn.is_call and insn.imm == poison_instruction().imm:
                continue  # already poisoned: libbpf would fail validation the same way; keep the poison
        else:
            try:
                insn = instructions.at_slot(slot)
            except BpfnbError as exc:
                raise _fail(res, f"no instruction starts at slot {slot}: {exc}") from None
        after, poisoned, reason = patch_one(insn, res)
        current[slot] = after
        notes.setdefault(slot, []).append(_note(res, poisoned, reason))
    if not current:
        return instructions
    out: list[Instruction] = []
    for slot, insn in instructions.slots():
        out.extend(current.get(slot, (insn,)))
    merged = {s: list(v) for s, v in instructions.annotations.items()}
    for s, v in notes.items():
        merged.setdefault(s, []).extend(v)
    return Instructions(out, annotations=merged, source_lines=instructions.source_lines, name=instructions.name)
