"""Global data sections (``.data``, ``.rodata``, ``.bss``, ``.data.*``, ...).

Each becomes a one-entry array map at load (the value is the whole
section), which is how programs reach global variables: an ``ld_imm64``
with ``BPF_PSEUDO_MAP_VALUE`` and an offset into that value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..uapi import MapType
from .maps import MapSpec
from .sections import SectionKind, Symbol

__all__ = ["BPF_F_MMAPABLE", "BPF_F_RDONLY_PROG", "DataSection", "Variable"]

BPF_F_RDONLY_PROG = 1 << 7
BPF_F_MMAPABLE = 1 << 10


@dataclass(frozen=True, slots=True)
class Variable:
    """A global variable: its place in the section and, with BTF, its type."""

    name: str
    offset: int
    size: int
    bind: str = "STB_GLOBAL"
    type_id: int = 0
    type_name: str = ""
    #: The decoded initial value (with BTF), else None.
    value: object = None

    @property
    def is_static(self) -> bool:
        return self.bind == "STB_LOCAL"


@dataclass(frozen=True, slots=True)
class DataSection:
    """A global-data section and the variables in it.

    ``raw`` holds the bytes the file has: everything for ``.data``/``.rodata``,
    nothing for ``.bss`` (SHT_NOBITS), whose zeros are only made when
    :attr:`data` is asked for, so parsing an object whose ``.bss`` claims a
    gigabyte allocates nothing.
    """

    name: str
    kind: SectionKind
    size: int
    raw: bytes = field(repr=False)
    variables: tuple[Variable, ...] = ()

    @property
    def data(self) -> bytes:
        """The section's initial contents, ``size`` bytes (zeros past ``raw``)."""
        raw = self.raw
        return raw if len(raw) >= self.size else raw.ljust(self.size, b"\0")

    @classmethod
    def from_elf(cls, name: str, kind: SectionKind, size: int, data: bytes, symbols: list[Symbol]) -> DataSection:
        variables = tuple(
            Variable(s.name, s.value, s.size, s.bind)
            for s in sorted(symbols, key=lambda s: (s.value, s.name))
            if s.type == "STT_OBJECT" and s.name
        )
        if kind is SectionKind.BSS:
            data = b""  # zeros on demand (see ``data``)
        return cls(name, kind, size, data, variables)

    @property
    def read_only(self) -> bool:
        return self.kind is SectionKind.RODATA

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)

    def bytes_of(self, var: Variable) -> bytes:
        chunk = self.raw[var.offset : var.offset + var.size]
        if len(chunk) < var.size and var.offset + var.size <= self.size:
            chunk = chunk.ljust(var.size, b"\0")
        return chunk

    def map_spec(self) -> MapSpec:
        """The array map that will hold this section at load.

        ``.rodata`` is read-only for programs (and frozen after its initial
        value is written); every global-data map is mmapable so user space
        can read and write variables without syscalls.
        """
        flags = BPF_F_MMAPABLE | (BPF_F_RDONLY_PROG if self.read_only else 0)
        return MapSpec(
            name=self.name,
            map_type=MapType.ARRAY,
            key_size=4,
            value_size=self.size,
            max_entries=1,
            map_flags=flags,
            section=self.name,
            section_kind=self.kind,
            data=self.raw,  # zeros past it are implied (.bss has none; .kconfig only what was filled)
        )

    def __repr__(self) -> str:
        return f"<DataSection {self.name!r} {self.kind.value} size={self.size} variables={len(self.variables)}>"

    def _repr_html_(self) -> str:
        from ..display.obj import data_section_html

        return data_section_html(self)

    def to_dataframe(self):
        from ..display.obj import data_section_frame

        return data_section_frame(self)
