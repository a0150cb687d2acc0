"""``Object``: an eBPF ELF file parsed into programs, functions, maps and data.

This is the *parse* stage (Aya's ``Object::parse``, libbpf's
``bpf_object__open``): pure, no syscalls.  Every byte range read from the
file is bounds-checked first, so a truncated or hostile object raises a
``ParseError`` that says where, never ``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass, field, replace
from os import PathLike, fspath
from pathlib import Path
from typing import Any

from .._gc import paused_gc
from ..asm import Instructions
from ..btf import Btf
from ..btf.ext import BtfExt
from ..errors import BpfnbError, ElfError, InstructionError, InvalidRelocationOffset, NameTable, SectionError, UnknownName
from .btf_maps import decode_btf_maps, type_global_variables
from .callgraph import call_edges
from .data import DataSection
from .maps import MapSpec, parse_legacy_maps
from .programs import FunctionSpec, ProgramSpec
from .relocations import RelocationKind, RelocationRecord
from .section_defs import match_section
from .sections import Section, SectionKind, Symbol, classify_section
from .struct_ops import StructOpsSpec, parse_struct_ops

__all__ = ["Object"]

EM_BPF = 247
_CODE_KINDS = (SectionKind.PROGRAM, SectionKind.TEXT)
_DATA_KINDS = (SectionKind.DATA, SectionKind.RODATA, SectionKind.BSS)
_MAP_KINDS = (SectionKind.MAPS, SectionKind.BTF_MAPS)
#: A .bss larger than this cannot become a map value: refuse before allocating it.
_MAX_NOBITS = 1 << 30
_SHT_NOBITS = 8
_MAX_NOBITS_CONTENTS = 1 << 20  # a NOBITS license, maps or BTF section is junk; zeros beyond this are refused


@dataclass
class Object:
    """A parsed eBPF object file (pure data: renders anywhere, loads nowhere)."""

    name: str
    sections: list[Section]
    symbols: list[Symbol]
    programs: dict[str, ProgramSpec]
    functions: dict[str, FunctionSpec]
    maps: dict[str, MapSpec]
    data: dict[str, DataSection]
    license: str = ""
    kernel_version: int = 0
    btf_data: bytes | None = field(default=None, repr=False)
    btf_ext_data: bytes | None = field(default=None, repr=False)
    #: The object's own BTF and .BTF.ext, parsed (None without them).
    btf: Btf | None = field(default=None, repr=False)
    btf_ext: BtfExt | None = field(default=None, repr=False)
    path: str | None = None
    #: ``.struct_ops``/``.struct_ops.link`` variables by name (each is also a map in ``maps``).
    struct_ops: dict[str, StructOpsSpec] = field(default_factory=dict)

    # --- construction ---------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | PathLike[str], *, max_size: int | None = None) -> Object:
        """Parse an object file: a regular file of at most ``max_size`` bytes
        (default :data:`bpfnb._files.DEFAULT_MAX_SIZE`); anything else is an ElfError."""
        from .._files import read_bounded

        p = Path(fspath(path))
        data = read_bounded(str(p), ElfError, max_size=max_size)
        obj = cls.from_bytes(data, name=p.name)
        obj.path = str(p)
        return obj

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "<bytes>") -> Object:
        return _Parser(bytes(data), name).parse()

    # --- look-ups ---------------------------------------------------------------

    def program(self, name: str) -> ProgramSpec:
        try:
            return self.programs[name]
        except KeyError:
            raise UnknownName(f"{self.name}: no program {name!r} (have: {', '.join(self.programs) or 'none'})") from None

    def section(self, name: str) -> Section:
        for s in self.sections:
            if s.name == name:
                return s
        raise UnknownName(f"{self.name}: no section {name!r}")

    def section_data(self, section: Section | str) -> bytes:
        """Raw bytes of a section (zeros for SHT_NOBITS)."""
        s = self.section(section) if isinstance(section, str) else section
        return self._raw_section(s)

    def _raw_section(self, s: Section) -> bytes:
        if s.sh_type == "SHT_NOBITS":
            return bytes(s.size)  # sizes were bounded at parse time
        return self._bytes[s.offset : s.offset + s.size]

    @property
    def code(self) -> dict[str, ProgramSpec | FunctionSpec]:
        """Programs and functions by name: everything that has instructions."""
        return {**self.functions, **self.programs}

    def function_at(self, section: str, offset: int) -> ProgramSpec | FunctionSpec | None:
        """The program or function starting at ``offset`` bytes into ``section``."""
        return self._by_location.get((section, offset))

    def core_relocations(self, target=None, *, errors: str = "raise", only=None):
        """Every CO-RE record resolved against ``target`` BTF (default: the running kernel's).

        A ``CoreRelocationTable``: renders as a table, ``to_dataframe()``,
        and each record draws its local and target access paths.  ``only``:
        names of the programs/functions whose records to resolve.  A notebook
        convenience: the resolution itself (:func:`bpfnb.obj.core.core_relocations`)
        takes its targets explicitly.
        """
        from ..btf import Btf
        from .core import core_relocations

        return core_relocations(self, Btf.from_sys_fs() if target is None else target, errors=errors, only=only)

    # --- views ---------------------------------------------------------------

    def call_graph(self):
        """A graphviz.Digraph: programs → subprograms/callbacks → helpers/kfuncs."""
        from ..display.graphs import call_graph

        return call_graph(self)

    def summary(self) -> str:
        from ..display.obj import object_text

        return object_text(self)

    def _repr_html_(self) -> str:
        from ..display.obj import object_html

        return object_html(self)

    def to_dataframe(self):
        """One row per program and function (name, section, type, size...)."""
        from ..display.obj import object_frame

        return object_frame(self)

    def __repr__(self) -> str:
        return (
            f"<Object {self.name!r} programs={len(self.programs)} functions={len(self.functions)} "
            f"maps={len(self.maps)} data={len(self.data)} license={self.license!r}>"
        )

    # set by the parser: raw file bytes and (section, offset) -> code index
    _bytes: bytes = field(default=b"", repr=False)
    _by_location: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)


class _Parser:
    """One parse of one file; collects into an Object."""

    def __init__(self, data: bytes, name: str):
        self.data = data
        self.name = name

    def fail(self, message: str) -> ElfError:
        return ElfError(f"{self.name}: {message}")

    def parse(self) -> Object:
        with paused_gc():  # a large program decodes to tens of thousands of instructions, all kept
            return self._parse()

    def _parse(self) -> Object:
        self._check_header()
        sections = self._sections()
        self.sections = sections
        self.symbols = self._symbols(sections)
        by_section: dict[str, list[Symbol]] = {}
        for sym in self.symbols:
            if sym.section is not None:
                by_section.setdefault(sym.section, []).append(sym)
        self.symbols_by_section = by_section

        license_ = self._license()
        version = self._version()
        relocations = self._relocations()
        programs: dict[str, ProgramSpec] = {}
        functions: dict[str, FunctionSpec] = {}
        for sec in sections:
            if sec.kind in _CODE_KINDS:
                self._code_section(sec, relocations.get(sec.index, []), programs, functions, license_, version)
        maps = self._maps()
        data = {
            s.name: DataSection.from_elf(s.name, s.kind, s.size, b"" if s.sh_type == "SHT_NOBITS" else self._section_bytes(s),
                                         by_section.get(s.name, []))
            for s in sections
            if s.kind in _DATA_KINDS
        }
        btf_data = next((self._section_bytes(s) for s in sections if s.kind is SectionKind.BTF), None)
        btf_ext_data = next((self._section_bytes(s) for s in sections if s.kind is SectionKind.BTF_EXT), None)
        btf = btf_ext = None
        if btf_data is not None:
            btf = Btf.from_bytes(btf_data, source=f"{self.name} .BTF")
            for sec in sections:
                if sec.kind is SectionKind.BTF_MAPS:
                    sizes = {s.name: s.size for s in self.symbols_by_section.get(sec.name, [])}
                    maps = decode_btf_maps(btf, sec.name, maps, relocations.get(sec.index, []), sizes)
            data = {n: type_global_variables(btf, d) for n, d in data.items()}
            if btf_ext_data is not None:
                btf_ext = BtfExt.from_bytes(btf_ext_data, btf)
                _add_line_info(btf_ext, programs, functions)
        struct_ops = self._struct_ops(btf, relocations, programs)
        for ops in struct_ops.values():
            if ops.name in maps:
                raise SectionError(f"{self.name}: map {ops.name!r} defined twice", section=ops.section, offset=ops.offset)
            maps[ops.name] = ops.map_spec()
        obj = Object(
            name=self.name,
            sections=sections,
            symbols=self.symbols,
            programs=NameTable(programs, what="program", owner=self.name),
            functions=NameTable(functions, what="function", owner=self.name),
            maps=NameTable(maps, what="map", owner=self.name),
            data=data,
            license=license_,
            kernel_version=version,
            btf_data=btf_data,
            btf_ext_data=btf_ext_data,
            btf=btf,
            btf_ext=btf_ext,
            struct_ops=struct_ops,
        )
        obj._bytes = self.data
        obj._by_location = {(c.section, c.offset): c for c in (*functions.values(), *programs.values())}
        _name_call_targets(obj)
        return obj

    # --- ELF structure ---------------------------------------------------------

    def _check_header(self) -> None:
        d = self.data
        if len(d) < 64:
            raise self.fail(f"{len(d)} bytes is too short for an ELF64 header")
        if d[:4] != b"\x7fELF":
            raise self.fail("not an ELF file (bad magic)")
        if d[4] != 2:
            raise self.fail("not a 64-bit ELF (eBPF objects are ELFCLASS64)")
        if d[5] not in (1, 2):
            raise self.fail(f"unknown ELF data encoding {d[5]}")
        little = d[5] == 1
        if little != (sys.byteorder == "little"):
            order = "little" if little else "big"
            raise self.fail(f"{order}-endian object on a {sys.byteorder}-endian host: the kernel only loads host byte order")
        machine = struct.unpack_from("<H", d, 18)[0]
        if machine != EM_BPF:
            raise self.fail(f"e_machine is {machine}, not EM_BPF ({EM_BPF}): not an eBPF object")
        # Section-header table bounds, checked before the table is read.
        shoff, = struct.unpack_from("<Q", d, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
        if shnum == 0:
            raise self.fail("no section headers")
        if shentsize != 64:
            raise self.fail(f"e_shentsize is {shentsize}, not 64")
        if shoff + shnum * 64 > len(d):
            raise self.fail(f"section headers at {shoff:#x} ({shnum} × 64 bytes) run past the end of the file ({len(d):#x})")
        if shstrndx >= shnum:
            raise self.fail(f"e_shstrndx {shstrndx} is not a section (there are {shnum})")

    def _sections(self) -> list[Section]:
        """The section table, read with ``struct`` (the header checks above fixed its shape).

        An eBPF object is ELF64 in host byte order with 64-byte section
        headers, so each is one ``Elf64_Shdr`` unpack.  pyelftools reads
        any ELF through its construct records at ~30 µs a header, plus
        ~26 ms to import: half of parsing a small object.  It stays the
        reference: ``tests/test_obj.py`` compares every fixture's table
        with pyelftools'.
        """
        d = self.data
        shoff, = struct.unpack_from("<Q", d, 0x28)
        shnum, shstrndx = struct.unpack_from("<HH", d, 0x3C)
        headers = list(struct.iter_unpack("<IIQQQQIIQQ", d[shoff:shoff + 64 * shnum]))
        _, names_type, _, _, names_at, names_size, _, _, _, _ = headers[shstrndx]
        if names_type == _SHT_NOBITS or names_at + names_size > len(d):
            raise self.fail(f"the section-name table (section #{shstrndx}, {names_at:#x}+{names_size:#x}) "
                            f"is not within the file ({len(d):#x} bytes)")
        names = d[names_at:names_at + names_size]
        out = []
        for i, (sh_name, sh_type_value, flags, _, offset, size, link, info, _, entsize) in enumerate(headers):
            name = ""
            if i:
                if sh_name and sh_name >= len(names):
                    raise self.fail(f"section #{i}: name offset {sh_name} outside the section-name table")
                end = names.find(b"\0", sh_name)
                name = names[sh_name:end if end >= 0 else len(names)].decode("utf-8", "replace")
            sh_type = _SHT.get(sh_type_value) or f"SHT_{sh_type_value:#x}"
            sec = Section(
                index=i,
                name=name,
                kind=classify_section(name, sh_type, flags),
                sh_type=sh_type,
                flags=flags,
                offset=offset,
                size=size,
                link=link,
                info=info,
                entsize=entsize,
            )
            if sh_type == "SHT_NOBITS" and sec.size > _MAX_NOBITS:
                raise SectionError(f"{self.name}: {sec.size:#x} zero bytes is beyond any map value size", section=name)
            if sh_type != "SHT_NOBITS" and i and sec.offset + sec.size > len(self.data):
                raise SectionError(
                    f"{self.name}: data {sec.offset:#x}+{sec.size:#x} runs past the end of the file ({len(self.data):#x})",
                    section=name,
                )
            out.append(sec)
        return out

    def _section_bytes(self, s: Section) -> bytes:
        if s.sh_type == "SHT_NOBITS":
            if s.size > _MAX_NOBITS_CONTENTS:  # .bss never comes here: DataSection makes its zeros lazily
                raise SectionError(f"{self.name}: SHT_NOBITS section of {s.size:#x} bytes where contents are expected",
                                   section=s.name)
            return bytes(s.size)
        return self.data[s.offset : s.offset + s.size]

    def _section(self, index: int, what: str) -> Section:
        if not 0 <= index < len(self.sections):
            raise self.fail(f"{what} refers to section #{index}, but there are {len(self.sections)}")
        return self.sections[index]

    def _symbols(self, sections: list[Section]) -> list[Symbol]:
        symtab = next((s for s in sections if s.kind is SectionKind.SYMTAB), None)
        if symtab is None:
            return []
        strtab = self._section(symtab.link, "the symbol table's string link")
        strings = self._section_bytes(strtab)
        raw = self._section_bytes(symtab)
        if len(raw) % 24:
            raise SectionError(f"{self.name}: size {len(raw)} is not a multiple of 24 (Elf64_Sym)", section=symtab.name)
        out = []
        for index, (st_name, st_info, st_other, st_shndx, st_value, st_size) in enumerate(struct.iter_unpack("<IBBHQQ", raw)):
            name = _cstring(strings, st_name, f"symbol #{index} name", self.name, strtab.name)
            typ = _STT.get(st_info & 0xF, f"STT_{st_info & 0xF}")
            bind = _STB.get(st_info >> 4, f"STB_{st_info >> 4}")
            shndx: int | str = _SHN.get(st_shndx, st_shndx)
            section = None
            if isinstance(shndx, int):
                if shndx >= len(sections):
                    raise SectionError(f"{self.name}: symbol #{index} {name!r} in section #{shndx}, which does not exist", section=symtab.name)
                section = sections[shndx].name
                if typ == "STT_SECTION" and not name:
                    name = section
            out.append(Symbol(index, name, st_value, st_size, typ, bind, _STV.get(st_other & 3, "STV_DEFAULT"), shndx, section))
        return out

    def _license(self) -> str:
        sec = next((s for s in self.sections if s.kind is SectionKind.LICENSE), None)
        if sec is None:
            return ""
        raw = self._section_bytes(sec)
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    def _version(self) -> int:
        sec = next((s for s in self.sections if s.kind is SectionKind.VERSION), None)
        if sec is None:
            return 0
        raw = self._section_bytes(sec)
        if len(raw) != 4:
            raise SectionError(f"{self.name}: kernel version must be 4 bytes, not {len(raw)}", section=sec.name)
        return struct.unpack("<I", raw)[0]

    # --- relocations -----------------------------------------------------------

    def _relocations(self) -> dict[int, list[tuple[int, int, Symbol]]]:
        """Relocation entries per target section index: (offset, type, symbol)."""
        out: dict[int, list[tuple[int, int, Symbol]]] = {}
        for sec in self.sections:
            if sec.kind is not SectionKind.RELOCATION:
                continue
            target = self._section(sec.info, f"relocation section {sec.name!r}")
            if target.kind not in (*_CODE_KINDS, SectionKind.BTF_MAPS, SectionKind.STRUCT_OPS):
                continue  # .rel.BTF, .rel.debug_*: for debuggers, not loaders
            entsize = 24 if sec.sh_type == "SHT_RELA" else 16
            raw = self._section_bytes(sec)
            if len(raw) % entsize:
                raise SectionError(f"{self.name}: size {len(raw)} is not a multiple of {entsize}", section=sec.name)
            entries = []
            for i in range(0, len(raw), entsize):
                r_offset, r_info = struct.unpack_from("<QQ", raw, i)
                sym_index = r_info >> 32
                if sym_index >= len(self.symbols):
                    raise SectionError(
                        f"{self.name}: relocation #{i // entsize} uses symbol #{sym_index}, but there are {len(self.symbols)}",
                        section=sec.name,
                    )
                entries.append((r_offset, r_info & 0xFFFFFFFF, self.symbols[sym_index]))
            out.setdefault(target.index, []).extend(entries)
        return out

    def _classify(self, insn, symbol: Symbol) -> tuple[RelocationKind, str | None, SectionKind | None]:
        target = self.sections[symbol.shndx] if isinstance(symbol.shndx, int) else None
        tkind = target.kind if target is not None else None
        tname = target.name if target is not None else None
        if symbol.is_extern:
            kind = RelocationKind.EXTERN_FUNC if insn.is_call else RelocationKind.EXTERN_VAR
        elif insn.is_call:
            kind = RelocationKind.CALL if tkind in _CODE_KINDS else RelocationKind.UNKNOWN
        elif not insn.is_ld_imm64:
            kind = RelocationKind.UNKNOWN
        elif tkind in _CODE_KINDS:
            kind = RelocationKind.SUBPROG_ADDR
        elif tkind in _MAP_KINDS:
            kind = RelocationKind.MAP
        elif tkind in (*_DATA_KINDS, SectionKind.KCONFIG):
            kind = RelocationKind.DATA
        else:
            kind = RelocationKind.UNKNOWN
        return kind, tname, tkind

    # --- code --------------------------------------------------------------------

    def _code_section(self, sec, relocs, programs, functions, license_, version) -> None:
        if sec.sh_type == "SHT_NOBITS":
            return
        raw = self._section_bytes(sec)
        if len(raw) % 8:
            raise SectionError(f"{self.name}: code size {len(raw)} is not a multiple of 8", section=sec.name)
        funcs = sorted(
            (s for s in self.symbols_by_section.get(sec.name, []) if s.type == "STT_FUNC"),
            key=lambda s: s.value,
        )
        info = match_section(sec.name) if sec.kind is SectionKind.PROGRAM else None
        for sym in funcs:
            start, size = sym.value, sym.size
            if start % 8 or size % 8 or start + size > len(raw) or size == 0:
                raise SectionError(
                    f"{self.name}: function {sym.name!r} at {start:#x}+{size:#x} is not a whole run of instructions",
                    section=sec.name,
                    offset=start,
                )
            insns = Instructions.decode(raw[start : start + size], where=f"{self.name} {sec.name}", name=sym.name)
            records = self._records(sec, relocs, start, size, insns, sym.name)
            notes: dict[int, list[str]] = {}
            for r in records:
                notes.setdefault(r.slot, []).append(r.describe())
            instructions = insns.with_annotations(notes) if notes else insns
            common = dict(
                name=sym.name,
                section=sec.name,
                offset=start,
                size=size,
                bind=sym.bind,
                instructions=instructions,
                relocations=tuple(records),
            )
            if sec.kind is SectionKind.TEXT or sym.bind == "STB_LOCAL":
                key = sym.name if sym.name not in functions else f"{sym.name}@{sec.name}"
                functions[key] = FunctionSpec(**common)
            else:
                if sym.name in programs:
                    raise SectionError(f"{self.name}: program {sym.name!r} defined twice", section=sec.name, offset=start)
                programs[sym.name] = ProgramSpec(
                    **common,
                    prog_type=info.prog_type if info else None,
                    expected_attach_type=info.expected_attach_type if info else None,
                    sleepable=bool(info and info.sleepable),
                    attach_target=info.target if info else None,
                    license=license_,
                    kernel_version=version,
                )

    def _records(self, sec, relocs, start, size, insns: Instructions, func: str) -> list[RelocationRecord]:
        out = []
        for r_offset, r_type, symbol in relocs:
            if not start <= r_offset < start + size:
                continue
            slot = (r_offset - start) // 8
            if r_offset % 8:
                raise InvalidRelocationOffset(
                    f"{self.name}: relocation at {sec.name}+{r_offset:#x} is not on an instruction boundary", program=func, index=slot
                )
            try:
                insn = insns.at_slot(slot)
            except InstructionError:
                raise InvalidRelocationOffset(
                    f"{self.name}: relocation at {sec.name}+{r_offset:#x} lands inside an ld_imm64", program=func, index=slot
                ) from None
            kind, tname, tkind = self._classify(insn, symbol)
            out.append(RelocationRecord(sec.name, r_offset, slot, r_type, symbol, kind, tname, tkind))
        return out

    # --- maps ---------------------------------------------------------------------

    def _struct_ops(self, btf: Btf | None, relocations, programs) -> dict[str, StructOpsSpec]:
        """The ``.struct_ops`` variables, whose BTF says which kernel struct each one fills."""
        out: dict[str, StructOpsSpec] = {}
        for sec in self.sections:
            if sec.kind is not SectionKind.STRUCT_OPS:
                continue
            if btf is None:
                raise SectionError(f"{self.name}: struct_ops need the object's BTF to name their kernel struct",
                                   section=sec.name)
            for ops in parse_struct_ops(btf, sec.name, self._section_bytes(sec), self.symbols_by_section.get(sec.name, []),
                                        relocations.get(sec.index, []), programs):
                if ops.name in out:
                    raise SectionError(f"{self.name}: struct_ops {ops.name!r} defined twice", section=sec.name)
                out[ops.name] = ops
        return out

    def _maps(self) -> dict[str, MapSpec]:
        maps: dict[str, MapSpec] = {}
        for sec in self.sections:
            if sec.kind is SectionKind.MAPS:
                found = parse_legacy_maps(sec.name, self._section_bytes(sec), self.symbols_by_section.get(sec.name, []))
            elif sec.kind is SectionKind.BTF_MAPS:
                # Only the ELF view here: the BTF definition fills in the rest.
                found = [
                    MapSpec(
                        name=s.name,
                        map_type=None,
                        key_size=0,
                        value_size=0,
                        max_entries=0,
                        section=sec.name,
                        section_kind=sec.kind,
                        symbol_offset=s.value,
                        complete=False,
                    )
                    for s in sorted(self.symbols_by_section.get(sec.name, []), key=lambda s: s.value)
                    if s.type == "STT_OBJECT" and s.name
                ]
            else:
                continue
            for m in found:
                if m.name in maps:
                    raise SectionError(f"{self.name}: map {m.name!r} defined twice", section=sec.name, offset=m.symbol_offset)
                maps[m.name] = m
        return maps


def _add_line_info(ext: BtfExt, programs: dict, functions: dict) -> None:
    """Put each source line from .BTF.ext above the instruction it starts."""
    for table in (programs, functions):
        for key, code in table.items():
            lines = {}
            for li in ext.line_info.get(code.section, ()):
                if code.offset <= li.insn_off < code.offset + code.size and li.line:
                    lines[(li.insn_off - code.offset) // 8] = f"{li.file_name.rsplit('/', 1)[-1]}:{li.line_num}: {li.line.strip()}"
            if lines:
                table[key] = replace(code, instructions=code.instructions.with_source_lines(lines))


def _name_call_targets(obj: Object) -> None:
    """Annotate relocated calls and callbacks with the function they reach.

    A call into ``.text`` is usually relocated against the section symbol,
    so its record alone says ``.text``; the call graph knows the function.
    """
    for table in (obj.programs, obj.functions):
        for key, code in table.items():
            notes = {slot: list(n) for slot, n in code.instructions.annotations.items()}
            changed = False
            for edge in call_edges(obj, code):
                rec = code.relocation_at(edge.slot)
                if edge.location is not None and rec is not None:
                    notes[edge.slot] = [f"{edge.kind.value} {edge.callee}"]
                    changed = True
            if changed:
                insns = code.instructions
                table[key] = replace(
                    code, instructions=Instructions(insns, annotations=notes, source_lines=insns.source_lines, name=insns.name)
                )
    obj._by_location = {(c.section, c.offset): c for c in (*obj.functions.values(), *obj.programs.values())}


def _cstring(table: bytes, offset: int, what: str, obj: str, section: str) -> str:
    if offset >= len(table) and offset:
        raise SectionError(f"{obj}: {what} at string offset {offset} is outside the table ({len(table)} bytes)", section=section)
    end = table.find(b"\0", offset)
    if end < 0:
        raise SectionError(f"{obj}: {what} at string offset {offset} is not NUL-terminated", section=section)
    return table[offset:end].decode("utf-8", "replace")


#: Section types by value (the gABI's and GNU's names, as pyelftools and readelf spell them); others print as a number.
_SHT = {0: "SHT_NULL", 1: "SHT_PROGBITS", 2: "SHT_SYMTAB", 3: "SHT_STRTAB", 4: "SHT_RELA", 5: "SHT_HASH",
        6: "SHT_DYNAMIC", 7: "SHT_NOTE", 8: "SHT_NOBITS", 9: "SHT_REL", 10: "SHT_SHLIB", 11: "SHT_DYNSYM",
        14: "SHT_INIT_ARRAY", 15: "SHT_FINI_ARRAY", 16: "SHT_PREINIT_ARRAY", 17: "SHT_GROUP",
        18: "SHT_SYMTAB_SHNDX", 19: "SHT_RELR", 20: "SHT_NUM", 0x60000000: "SHT_LOOS",
        0x6FFFFFF5: "SHT_GNU_ATTRIBUTES", 0x6FFFFFF6: "SHT_GNU_HASH", 0x6FFFFFF7: "SHT_GNU_LIBLIST",
        0x6FFFFFFD: "SHT_GNU_verdef", 0x6FFFFFFE: "SHT_GNU_verneed", 0x6FFFFFFF: "SHT_GNU_versym",
        0x6FFFFFF3: "SHT_SUNW_LDYNSYM", 0x6FFFFFFC: "SHT_SUNW_syminfo", 0x80000000: "SHT_LOUSER",
        0xFFFFFFFF: "SHT_HIUSER"}
_STT = {0: "STT_NOTYPE", 1: "STT_OBJECT", 2: "STT_FUNC", 3: "STT_SECTION", 4: "STT_FILE", 5: "STT_COMMON", 6: "STT_TLS"}
_STB = {0: "STB_LOCAL", 1: "STB_GLOBAL", 2: "STB_WEAK"}
_STV = {0: "STV_DEFAULT", 1: "STV_INTERNAL", 2: "STV_HIDDEN", 3: "STV_PROTECTED"}
_SHN = {0: "SHN_UNDEF", 0xFFF1: "SHN_ABS", 0xFFF2: "SHN_COMMON"}
