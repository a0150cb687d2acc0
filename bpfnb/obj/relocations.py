"""Relocation records of code sections, decoded and classified.

This module only *records* what each ``.rel<section>`` entry asks for and
which instruction it patches; applying relocations is the relocate stage's
job (``bpfnb/obj/relocate.py``).  The classification mirrors what loaders
decide per record: a map reference, a global-data reference, a bpf-to-bpf
call, a callback address, or an extern (kfunc / ksym / kconfig).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .sections import SectionKind, Symbol

__all__ = ["R_BPF", "RelocationKind", "RelocationRecord"]


class R_BPF(enum.IntEnum):
    """ELF relocation types of the BPF target (llvm's BPF ELF relocations)."""

    NONE = 0
    R_BPF_64_64 = 1        # ld_imm64: the 64-bit immediate
    R_BPF_64_ABS64 = 2     # data: 64-bit absolute (BTF, DWARF)
    R_BPF_64_ABS32 = 3     # data: 32-bit absolute (BTF.ext, DWARF)
    R_BPF_64_NODYLD32 = 4  # data: 32-bit, not resolved by a dynamic linker (.BTF)
    R_BPF_64_32 = 10       # call: the 32-bit immediate of a call instruction


class RelocationKind(enum.Enum):
    """What a code relocation refers to."""

    MAP = "map"                # ld_imm64 of a map: becomes BPF_PSEUDO_MAP_FD
    DATA = "data"              # ld_imm64 into .data/.rodata/.bss: BPF_PSEUDO_MAP_VALUE
    CALL = "call"              # bpf-to-bpf call into a subprogram
    SUBPROG_ADDR = "subprog"   # ld_imm64 of a function address: a callback (BPF_PSEUDO_FUNC)
    EXTERN_FUNC = "kfunc"      # call of an extern function: a kfunc
    EXTERN_VAR = "extern"      # ld_imm64 of an extern variable: .kconfig or __ksym
    UNKNOWN = "unknown"        # anything a loader would refuse


@dataclass(frozen=True, slots=True)
class RelocationRecord:
    """One relocation entry against a code section, tied to its instruction.

    ``offset`` is the byte offset in the code section; ``slot`` the
    instruction slot relative to the start of the program or function the
    record belongs to (8-byte slots, as the kernel counts).
    """

    section: str
    offset: int
    slot: int
    type: int
    symbol: Symbol
    kind: RelocationKind
    target_section: str | None
    target_kind: SectionKind | None

    @property
    def type_name(self) -> str:
        try:
            return R_BPF(self.type).name
        except ValueError:
            return f"R_BPF_{self.type}"

    def describe(self) -> str:
        """A one-line annotation shown next to the instruction it patches."""
        sym = self.symbol.name or f"section {self.target_section}"
        if self.kind is RelocationKind.MAP:
            return f"map {sym}"
        if self.kind is RelocationKind.DATA:
            return f"data {self.target_section}" + (f" ({self.symbol.name})" if self.symbol.type != "STT_SECTION" else "")
        if self.kind is RelocationKind.CALL:
            return f"call {sym}"
        if self.kind is RelocationKind.SUBPROG_ADDR:
            return f"callback {sym}"
        if self.kind is RelocationKind.EXTERN_FUNC:
            return f"kfunc {sym}"
        if self.kind is RelocationKind.EXTERN_VAR:
            return f"extern {sym}"
        return f"{self.type_name} {sym}"

    def __repr__(self) -> str:
        return f"<RelocationRecord {self.section}+{self.offset:#x} slot {self.slot} {self.kind.value} {self.symbol.name!r}>"
