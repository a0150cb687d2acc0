"""Programs and functions found in code sections.

A *program* is a function symbol in a program section (the section name
says its type, e.g. ``xdp`` or ``tracepoint/syscalls/sys_enter_openat``);
several programs may share one section.  A *function* is a subprogram:
every function in ``.text``, called from programs (bpf-to-bpf calls) or
passed as a callback.  Both keep the instructions and the relocation
records that fall inside them, with slots relative to their own start.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..asm import Instructions
from ..uapi import AttachType, ProgType
from .relocations import RelocationRecord

__all__ = ["FunctionSpec", "ProgramSpec"]


@dataclass(frozen=True, slots=True)
class _CodeSpec:
    name: str
    section: str
    #: Byte offset of the first instruction inside ``section``.
    offset: int
    size: int
    bind: str
    instructions: Instructions
    relocations: tuple[RelocationRecord, ...]

    @property
    def slot_offset(self) -> int:
        """First slot inside the section (the kernel counts 8-byte slots)."""
        return self.offset // 8

    def relocation_at(self, slot: int) -> RelocationRecord | None:
        return next((r for r in self.relocations if r.slot == slot), None)

    def to_dataframe(self):
        """The instructions as a DataFrame (one row per instruction)."""
        return self.instructions.to_dataframe()


@dataclass(frozen=True, slots=True)
class FunctionSpec(_CodeSpec):
    """A subprogram (``.text`` function): appended to the programs that use it."""

    def __repr__(self) -> str:
        return f"<FunctionSpec {self.name!r} in {self.section} insns={self.instructions.len_slots}>"

    @property
    def is_global(self) -> bool:
        """Global functions are verified on their own (BTF func linkage)."""
        return self.bind in ("STB_GLOBAL", "STB_WEAK")

    def _repr_html_(self) -> str:
        from ..display.obj import code_spec_html

        return code_spec_html(self)


@dataclass(frozen=True, slots=True)
class ProgramSpec(_CodeSpec):
    """One program: its type and attach type come from the section name."""

    prog_type: ProgType | None = None
    expected_attach_type: AttachType | None = None
    sleepable: bool = False
    #: The part of the section name after the prefix (``syscalls/sys_enter_openat``).
    attach_target: str | None = None
    license: str = ""
    kernel_version: int = 0

    @property
    def type_name(self) -> str:
        """``xdp``, ``sched_cls``...: the kernel enum name without prefix."""
        return self.prog_type.name.lower() if self.prog_type is not None else "unknown"

    def __repr__(self) -> str:
        return f"<ProgramSpec {self.name!r} {self.type_name} section={self.section!r} insns={self.instructions.len_slots}>"

    def _repr_html_(self) -> str:
        from ..display.obj import code_spec_html

        return code_spec_html(self)
