"""ELF sections of an eBPF object, classified by what the loader does with them.

The classification follows the loaders' own (Aya's ``EbpfSectionKind``,
libbpf's ``bpf_object__elf_collect``): a section's *name* decides most of
it, its ELF type and flags the rest.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from elftools.elf.constants import SH_FLAGS

__all__ = ["Section", "SectionKind", "Symbol", "classify_section"]


class SectionKind(enum.Enum):
    """What a section is for, from the loader's point of view."""

    PROGRAM = "program"        # executable code whose name says the program type
    TEXT = "text"              # .text: subprograms shared by programs
    MAPS = "maps"              # legacy SEC("maps"): struct bpf_map_def records
    BTF_MAPS = "btf_maps"      # .maps: map definitions described by BTF
    DATA = "data"              # .data, .data.*: writable globals
    RODATA = "rodata"          # .rodata, .rodata.*: const globals (frozen at load)
    BSS = "bss"                # .bss: zero-initialised globals
    KCONFIG = "kconfig"        # .kconfig: extern CONFIG_* values filled in at load
    KSYMS = "ksyms"            # .ksyms: extern kernel symbols
    BTF = "btf"                # .BTF
    BTF_EXT = "btf_ext"        # .BTF.ext
    LICENSE = "license"        # license string, decides GPL-only helpers
    VERSION = "version"        # legacy kernel version (u32)
    STRUCT_OPS = "struct_ops"  # .struct_ops / .struct_ops.link
    RELOCATION = "relocation"  # .rel<section>
    SYMTAB = "symtab"
    STRTAB = "strtab"
    DEBUG = "debug"            # DWARF and friends: ignored by loaders
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Section:
    """One ELF section header plus its classification (data read lazily)."""

    index: int
    name: str
    kind: SectionKind
    sh_type: str
    flags: int
    offset: int
    size: int
    link: int = 0
    info: int = 0
    entsize: int = 0

    @property
    def executable(self) -> bool:
        return bool(self.flags & SH_FLAGS.SHF_EXECINSTR)

    def __repr__(self) -> str:
        return f"<Section #{self.index} {self.name!r} {self.kind.value} size={self.size}>"


@dataclass(frozen=True, slots=True)
class Symbol:
    """An ELF symbol; ``section`` is the name of the section it is defined in."""

    index: int
    name: str
    value: int
    size: int
    type: str      # STT_FUNC, STT_OBJECT, STT_SECTION, STT_NOTYPE, ...
    bind: str      # STB_GLOBAL, STB_LOCAL, STB_WEAK
    visibility: str
    shndx: int | str  # section index, or SHN_UNDEF / SHN_ABS / SHN_COMMON
    section: str | None = field(default=None)

    @property
    def is_extern(self) -> bool:
        """Undefined in this object: a kfunc, ksym or kconfig value."""
        return self.shndx == "SHN_UNDEF" and self.index != 0

    @property
    def is_global(self) -> bool:
        return self.bind in ("STB_GLOBAL", "STB_WEAK")

    def __repr__(self) -> str:
        return f"<Symbol {self.name!r} {self.type} {self.bind} {self.section or self.shndx}+{self.value:#x}>"


#: Sections whose ELF type alone decides.
_BY_TYPE = {
    "SHT_REL": SectionKind.RELOCATION,
    "SHT_RELA": SectionKind.RELOCATION,
    "SHT_SYMTAB": SectionKind.SYMTAB,
    "SHT_STRTAB": SectionKind.STRTAB,
}

#: Sections whose exact name decides (the loaders' reserved names).
_BY_NAME = {
    ".text": SectionKind.TEXT,
    "maps": SectionKind.MAPS,
    ".maps": SectionKind.BTF_MAPS,
    ".BTF": SectionKind.BTF,
    ".BTF.ext": SectionKind.BTF_EXT,
    "license": SectionKind.LICENSE,
    "version": SectionKind.VERSION,
    ".kconfig": SectionKind.KCONFIG,
    ".ksyms": SectionKind.KSYMS,
    ".struct_ops": SectionKind.STRUCT_OPS,
    ".struct_ops.link": SectionKind.STRUCT_OPS,
    "?.struct_ops": SectionKind.STRUCT_OPS,  # "?": not created unless asked (libbpf's autocreate)
    "?.struct_ops.link": SectionKind.STRUCT_OPS,
}

_DATA_PREFIXES = (
    (".rodata", SectionKind.RODATA),
    (".data", SectionKind.DATA),
    (".bss", SectionKind.BSS),
)


def classify_section(name: str, sh_type: str, flags: int) -> SectionKind:
    """Decide a section's kind from its name, type and flags."""
    kind = _BY_TYPE.get(sh_type) or _BY_NAME.get(name)
    if kind is not None:
        return kind
    if name.startswith("maps/"):
        return SectionKind.MAPS
    if name.startswith(".debug") or name in (".llvm_addrsig", ".eh_frame"):
        return SectionKind.DEBUG
    for prefix, kind in _DATA_PREFIXES:
        if name == prefix or name.startswith(prefix + "."):
            if kind is SectionKind.DATA and sh_type == "SHT_NOBITS":
                return SectionKind.BSS
            return kind
    if flags & SH_FLAGS.SHF_EXECINSTR and sh_type == "SHT_PROGBITS":
        return SectionKind.PROGRAM
    return SectionKind.OTHER
