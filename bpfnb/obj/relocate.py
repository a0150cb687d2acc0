"""The *relocate* stage: a program's instructions made loadable (pure).

Input: a parsed :class:`~bpfnb.obj.Object`, one of its programs and the
file descriptors of the maps it uses (plain ints: a dry run passes
placeholders from :func:`placeholder_fds`).  Output: a
:class:`RelocatedProgram` holding exactly the instructions, ``func_info``
and ``line_info`` that ``BPF_PROG_LOAD`` needs, plus a record of every
instruction that changed and why.

What happens, in libbpf's order (``bpf_object__relocate``):

1. **Calls and callbacks.**  Subprograms are appended after the program
   in the order of libbpf's recursive depth-first walk
   (``bpf_object__reloc_code``): instructions are scanned in order; the
   first call (or callback ``ld_imm64``) reaching a subprogram not yet
   placed appends it at the end and walks *it* before the scan resumes.
   Each subprogram is appended once per program, and each call's ``imm``
   becomes ``callee_start - (caller_slot + 1)``.  The order matters
   beyond aesthetics: the kernel's program tag hashes the instructions,
   so a different order is a different program to ``bpftool``.
2. **Maps and global data.**  A map reference becomes
   ``BPF_PSEUDO_MAP_FD`` with the map's fd; a global-data reference becomes
   ``BPF_PSEUDO_MAP_VALUE`` with the section map's fd and, in the second
   half, the byte offset in the section (symbol value + the instruction's
   own immediate: clang relocates ``static`` variables against the section
   symbol with the offset in ``imm``, globals against their own symbol
   with ``imm`` 0).
3. **func_info / line_info** of the program and of each appended
   subprogram, re-based to their new slots (the kernel counts
   instructions, ``.BTF.ext`` counts bytes within the ELF section).

Slightly more permissive than libbpf: a call may also reach a ``static``
function in the caller's own program section (libbpf refuses such
objects at open); it is appended like any ``.text`` subprogram.

Externs and CO-RE need the target kernel, so they come resolved: CO-RE
records as a table (``core=``), ``__ksym`` externs as targets (``ksyms=``,
from :func:`bpfnb.kernel.ksyms.resolve_ksyms`).  A kfunc call becomes
``src = BPF_PSEUDO_KFUNC_CALL``, ``imm`` = the kfunc's BTF id and ``off`` =
0 for vmlinux or its module BTF fd's slot in ``fd_array``
(:attr:`RelocatedProgram.fd_array`, the whole object's, as libbpf sends
it); an ``ld_imm64`` of a typed variable (or of a kfunc, for
``bpf_ksym_exists``) becomes ``BPF_PSEUDO_BTF_ID`` with the module BTF's
fd (0 for vmlinux) in its second half.  A strong extern the kernel lacks
refuses the program with a typed error (``KsymNotFound``, or
``KsymTypeMismatch`` when the kernel's type is not the extern's); a weak one
relocates to 0 (a call to imm 0, which only dead code may keep).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..asm import Instruction, Instructions, PseudoCall, PseudoLdImm64
from ..errors import (
    CoreRelocationError,
    InstructionError,
    InvalidRelocationOffset,
    RelocationError,
    SectionNotFound,
    UnknownFunction,
    UnknownSymbol,
)
from .kconfig import KCONFIG_SECTION, kconfig_externs
from .ksyms import KsymKind, KsymTarget, ksym_fd_array
from .programs import FunctionSpec, ProgramSpec
from .relocations import RelocationKind, RelocationRecord

if TYPE_CHECKING:
    import pandas as pd

    from ..btf.core import CoreRelocation, CoreRelocationTable
    from .object import Object

__all__ = [
    "FUNC_INFO_REC_SIZE",
    "LINE_INFO_REC_SIZE",
    "AppliedRelocation",
    "FuncInfoRecord",
    "LineInfoRecord",
    "RelocatedProgram",
    "placeholder_fds",
    "relocate",
    "relocate_all",
]

#: ``sizeof(struct bpf_func_info)``: insn_off, type_id.
FUNC_INFO_REC_SIZE = 8
#: ``sizeof(struct bpf_line_info)``: insn_off, file_name_off, line_off, line_col.
LINE_INFO_REC_SIZE = 16

_FUNC_INFO = struct.Struct("<II")
_LINE_INFO = struct.Struct("<IIII")
#: A call, a callback's ld_imm64 or a kfunc call: the only opcode bytes the call layout looks at.
_CALL_SITE_OPCODES = frozenset({0x85, 0x18})

Code = ProgramSpec | FunctionSpec


# --- result model ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FuncInfoRecord:
    """``struct bpf_func_info`` after re-basing: a function starts at ``slot``.

    ``type_id`` is the BTF ``FUNC`` in the object's BTF; the kernel checks
    it against the BTF loaded with the program (``prog_btf_fd``).
    """

    slot: int
    type_id: int
    #: The BTF FUNC's name (for views; the kernel only sees ``type_id``).
    name: str = ""

    def to_bytes(self) -> bytes:
        return _FUNC_INFO.pack(self.slot, self.type_id)


@dataclass(frozen=True, slots=True)
class LineInfoRecord:
    """``struct bpf_line_info`` after re-basing, with its text resolved.

    The kernel takes string *offsets* into the loaded BTF's string table,
    not text: ``file_name_off`` and ``line_off`` keep them, so the record
    can be sent as is with the object's BTF.
    """

    slot: int
    file_name: str
    line: str
    line_num: int
    column: int
    file_name_off: int
    line_off: int

    @property
    def line_col(self) -> int:
        """The packed ``line_col`` field: line number << 10 | column."""
        return (self.line_num << 10) | (self.column & 0x3FF)

    def to_bytes(self) -> bytes:
        return _LINE_INFO.pack(self.slot, self.file_name_off, self.line_off, self.line_col)


@dataclass(frozen=True, slots=True)
class AppliedRelocation:
    """One patched instruction: where, why, and the instruction before/after."""

    #: Slot in the relocated program (subprograms included).
    slot: int
    kind: RelocationKind
    #: What the instruction refers to: a map, a data section, a function.
    symbol: str
    before: Instruction
    after: Instruction
    note: str
    #: The program or subprogram this instruction came from, and its slot there.
    function: str = ""
    origin_slot: int = 0

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class RelocatedProgram:
    """A program ready for ``BPF_PROG_LOAD`` (pure data, renders anywhere)."""

    name: str
    spec: ProgramSpec
    instructions: Instructions
    #: Appended subprograms in order: (name, first slot).
    subprograms: tuple[tuple[str, int], ...]
    func_info: tuple[FuncInfoRecord, ...]
    line_info: tuple[LineInfoRecord, ...]
    applied: tuple[AppliedRelocation, ...]

    #: CO-RE records resolved and patched into this program (and its subprograms).
    core_relocations: tuple[CoreRelocation, ...] = field(default=(), repr=False)
    func_info_rec_size: int = field(default=FUNC_INFO_REC_SIZE, repr=False)
    line_info_rec_size: int = field(default=LINE_INFO_REC_SIZE, repr=False)
    #: ``fd_array`` of ``BPF_PROG_LOAD``: the object's module BTF fds, which kfunc calls'
    #: ``off`` index (slot 0 unused: vmlinux); empty when no kfunc is a module's.  The whole
    #: object's, as libbpf sends it to every program.
    fd_array: tuple[int, ...] = field(default=(), repr=False)

    def to_bytes(self) -> bytes:
        """The raw instructions (``insns`` of ``BPF_PROG_LOAD``)."""
        return self.instructions.to_bytes()

    def func_info_bytes(self) -> bytes:
        """``func_info`` records as the kernel reads them (8 bytes each)."""
        return b"".join(r.to_bytes() for r in self.func_info)

    def line_info_bytes(self) -> bytes:
        """``line_info`` records as the kernel reads them (16 bytes each)."""
        return b"".join(r.to_bytes() for r in self.line_info)

    @property
    def insn_cnt(self) -> int:
        """Slots, as ``BPF_PROG_LOAD``'s ``insn_cnt`` counts them."""
        return self.instructions.len_slots

    def applied_at(self, slot: int) -> AppliedRelocation | None:
        return next((a for a in self.applied if a.slot == slot), None)

    def __repr__(self) -> str:
        subs = ", ".join(n for n, _ in self.subprograms)
        return (
            f"<RelocatedProgram {self.name!r} insns={self.insn_cnt} relocations={len(self.applied)}"
            f" subprograms=[{subs}] func_info={len(self.func_info)} line_info={len(self.line_info)}>"
        )

    def _repr_html_(self) -> str:
        from ..display.relocate import relocated_html

        return relocated_html(self)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per applied relocation (slot, kind, symbol, before, after, note)."""
        from ..display.relocate import relocated_frame

        return relocated_frame(self)


# --- entry points ---------------------------------------------------------------


def placeholder_fds(obj: Object, start: int = 1000) -> dict[str, int]:
    """Fake fds for a dry run: one per map and per data section, in order.

    Relocation only copies fds into immediates, so any distinct ints show
    what would happen; numbers well above what a process usually holds
    make it obvious in a listing that they are not real.
    """
    names = [*obj.maps, *obj.data]
    if kconfig_externs(obj):
        names.append(KCONFIG_SECTION)
    return {name: start + i for i, name in enumerate(names)}


def relocate(obj: Object, program: ProgramSpec | str, map_fds: Mapping[str, int], *,
             core: CoreRelocationTable | None = None, ksyms: Mapping[str, KsymTarget] | None = None) -> RelocatedProgram:
    """Relocate one program of ``obj`` against ``map_fds`` (pure, deterministic).

    ``map_fds`` maps names in ``obj.maps`` and data-section names
    (``.data``, ``.rodata``, ``.bss``, ``.data.foo`` ...) to fds.  ``core``
    holds the object's CO-RE records resolved against a target kernel
    (:func:`bpfnb.btf.core.core_relocations`); a program with CO-RE
    records needs it.  ``ksyms`` holds where the object's ``__ksym``
    externs (kfuncs, kernel variables) are in the target kernel
    (:func:`bpfnb.kernel.ksyms.resolve_ksyms`).  Every error is a
    :class:`~bpfnb.errors.RelocationError` naming the program, the slot
    (in the relocated program) and the symbol.
    """
    spec = obj.program(program) if isinstance(program, str) else program
    return _Relocation(obj, spec, map_fds, core, ksyms).run()


def relocate_all(obj: Object, map_fds: Mapping[str, int], *, core: CoreRelocationTable | None = None,
                 ksyms: Mapping[str, KsymTarget] | None = None) -> dict[str, RelocatedProgram]:
    """Every program of ``obj`` relocated (each with its own subprogram copies)."""
    return {name: relocate(obj, spec, map_fds, core=core, ksyms=ksyms) for name, spec in obj.programs.items()}


# --- the work -------------------------------------------------------------------


@dataclass(slots=True)
class _Piece:
    """One program or subprogram placed in the relocated program."""

    code: Code
    start: int
    records: dict[int, RelocationRecord] = field(init=False)

    def __post_init__(self) -> None:
        self.records = {r.slot: r for r in self.code.relocations}


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _absent(target: KsymTarget) -> str:
    """Why a weak extern relocates to 0: the kernel lacks it, or has it with another type."""
    if target.mismatch is not None:
        return f"has another prototype in {target.mismatch.where} (`{target.mismatch.kernel}`)"
    return "not in this kernel"


def _fail(cls: type[RelocationError], message: str, program: str, slot: int, symbol: str | None) -> RelocationError:
    """A relocation error that also carries the ``symbol`` it is about."""
    err = cls(message, program=program, index=slot)
    err.symbol = symbol  # type: ignore[attr-defined]
    return err


class _Relocation:
    """One relocation of one program: layout, patches, BTF.ext records."""

    def __init__(self, obj: Object, spec: ProgramSpec, map_fds: Mapping[str, int],
                 core: CoreRelocationTable | None = None, ksyms: Mapping[str, KsymTarget] | None = None):
        self.obj = obj
        self.core = core
        self.ksyms = ksyms
        #: piece index -> its instructions after CO-RE patching
        self.core_patched: dict[int, Instructions] = {}
        self.core_applied: list[CoreRelocation] = []
        self.spec = spec
        self.name = spec.name
        self.map_fds = map_fds
        self.pieces: list[_Piece] = [_Piece(spec, 0)]
        self.placed: dict[tuple[str, int], _Piece] = {(spec.section, spec.offset): self.pieces[0]}
        self.total = spec.instructions.len_slots
        #: slot in the final program -> (patched instruction, applied record)
        self.patches: dict[int, tuple[Instruction, AppliedRelocation]] = {}
        self._maps_at = {(m.section, m.symbol_offset): m for m in obj.maps.values()}

    def run(self) -> RelocatedProgram:
        self._layout()
        self._apply_core()
        for piece in self.pieces:
            self._data(piece)
        return self._result()

    # -- 1. calls and callbacks: libbpf's depth-first append order ---------------

    def _layout(self) -> None:
        # An explicit stack instead of recursion: a hostile object could
        # chain more functions than Python's recursion limit.  Placing a
        # callee fixes its start at once, so a call can be patched when
        # first met (libbpf patches after the recursive walk returns, with
        # the same value).
        stack: list[tuple[_Piece, Iterator[tuple[int, Instruction]]]] = [
            (self.pieces[0], self.spec.instructions.slots_of(_CALL_SITE_OPCODES))]
        while stack:
            piece, it = stack[-1]
            callee = self._next_call(piece, it)
            if callee is None:
                stack.pop()
            elif callee is not True:
                stack.append((callee, callee.code.instructions.slots_of(_CALL_SITE_OPCODES)))

    def _next_call(self, piece: _Piece, it: Iterator[tuple[int, Instruction]]) -> _Piece | bool | None:
        """Patch the next call/callback of ``piece``; a newly placed callee, True, or None at the end."""
        code = piece.code
        for slot, insn in it:
            rec = piece.records.get(slot)
            is_callback = rec is not None and rec.kind is RelocationKind.SUBPROG_ADDR
            if not (insn.is_pseudo_call or is_callback or insn.is_pseudo_func):
                continue
            if rec is not None and rec.kind is RelocationKind.EXTERN_FUNC:
                continue  # kfunc: refused in the data pass
            here = piece.start + slot
            section, offset, kind = self._call_target(code, slot, insn, rec, here)
            target = self._function(section, offset, here, rec)
            new = False
            key = (target.section, target.offset)
            callee = self.placed.get(key)
            if callee is None:
                callee = _Piece(target, self.total)
                self.total += target.instructions.len_slots
                self.pieces.append(callee)
                self.placed[key] = callee
                new = True
            rel = callee.start - here - 1
            if kind is RelocationKind.CALL:
                after = insn.with_(imm=rel)
                note = f"call {target.name} → pc{rel:+d}"
            else:
                after = Instruction.ld_imm64(insn.dst, rel, PseudoLdImm64.FUNC)
                note = f"callback {target.name} → pc{rel:+d}"
            self._patch(here, kind, target.name, insn, after, note, code, slot)
            return callee if new else True
        return None

    def _call_target(self, code: Code, slot: int, insn: Instruction, rec: RelocationRecord | None,
                     here: int) -> tuple[str, int, RelocationKind]:
        """(section, byte offset) a call or callback reaches, as libbpf computes it."""
        if rec is not None:
            if rec.kind is RelocationKind.CALL and insn.is_pseudo_call:
                # global callee: symbol = the function, imm = -1; static callee:
                # symbol = the section, imm = (start - 8) / 8 relative to it
                return rec.target_section or "", rec.symbol.value + (insn.imm + 1) * 8, RelocationKind.CALL
            if rec.kind is RelocationKind.SUBPROG_ADDR:
                return rec.target_section or "", rec.symbol.value + _s32(insn.imm), RelocationKind.SUBPROG_ADDR
            raise _fail(
                UnknownFunction,
                f"{'call' if insn.is_call else 'instruction'} relocated against {rec.symbol.name!r}, "
                f"a {rec.kind.value} symbol, not a function",
                self.name, here, rec.symbol.name,
            )
        if insn.is_pseudo_func:
            # llvm always emits a relocation for a callback address
            raise _fail(UnknownFunction, "callback address without a relocation record", self.name, here, None)
        # a call inside one section carries no relocation: imm is relative
        # to the call's own position in the section
        return code.section, code.offset + (slot + insn.imm + 1) * 8, RelocationKind.CALL

    def _function(self, section: str, offset: int, here: int, rec: RelocationRecord | None) -> FunctionSpec:
        symbol = rec.symbol.name if rec is not None else None
        target = self.obj.function_at(section, offset)
        if target is None:
            if not any(s.name == section for s in self.obj.sections):
                raise _fail(SectionNotFound, f"call into section {section!r}, which the object lacks", self.name, here, symbol)
            raise _fail(UnknownFunction, f"no function starts at {section}+{offset:#x}", self.name, here, symbol)
        if not isinstance(target, FunctionSpec):
            # libbpf only appends subprograms (.text functions); calling
            # another program's entry point is refused the same way
            raise _fail(UnknownFunction, f"call into program {target.name!r}, which is not a subprogram",
                        self.name, here, target.name)
        return target

    # -- 2. maps, global data, externs ----------------------------------------------

    def _data(self, piece: _Piece) -> None:
        code = piece.code
        for rec in code.relocations:
            here = piece.start + rec.slot
            insn = code.instructions.at_slot(rec.slot)
            kind = rec.kind
            if kind is RelocationKind.CALL and not insn.is_pseudo_call:
                raise _fail(
                    InvalidRelocationOffset,
                    f"call relocation against {rec.symbol.name!r} on a call that is not a bpf-to-bpf call",
                    self.name, here, rec.symbol.name,
                )
            if kind in (RelocationKind.CALL, RelocationKind.SUBPROG_ADDR):
                continue  # done by _layout
            if kind is RelocationKind.MAP:
                self._map(code, rec, insn, here)
            elif kind is RelocationKind.DATA:
                self._global(code, rec, insn, here)
            elif kind is RelocationKind.EXTERN_FUNC:
                self._kfunc(code, rec, insn, here)
            elif kind is RelocationKind.EXTERN_VAR:
                self._extern_var(code, rec, insn, here)
            elif not (insn.is_ld_imm64 or insn.is_call):
                raise _fail(
                    InvalidRelocationOffset,
                    f"relocation {rec.type_name} against {rec.symbol.name!r} on an instruction that is neither "
                    "ld_imm64 nor call",
                    self.name, here, rec.symbol.name,
                )
            elif rec.target_section is None:
                raise _fail(UnknownSymbol, f"symbol {rec.symbol.name!r} is not defined in any section",
                            self.name, here, rec.symbol.name)
            else:
                raise _fail(
                    SectionNotFound,
                    f"{rec.symbol.name!r} lives in {rec.target_section!r}, which is no map, data or code section",
                    self.name, here, rec.symbol.name,
                )

    def _fd(self, key: str, here: int, symbol: str) -> int:
        try:
            fd = self.map_fds[key]
        except KeyError:
            have = ", ".join(sorted(self.map_fds)) or "nothing"
            raise _fail(UnknownSymbol, f"no fd for map {key!r} (symbol {symbol!r}); map_fds has {have}",
                        self.name, here, symbol) from None
        fd = int(fd)
        if not 0 <= fd < 1 << 31:
            raise _fail(UnknownSymbol, f"fd {fd} for map {key!r} is not a file descriptor", self.name, here, symbol)
        return fd

    def _extern_var(self, code: Code, rec: RelocationRecord, insn: Instruction, here: int) -> None:
        """A ``.kconfig`` extern reads the kconfig map at its laid-out offset."""
        name = rec.symbol.name
        ext = self._kconfig.get(name)
        if ext is None:
            self._ksym_var(code, rec, insn, here)
            return
        if not insn.is_ld_imm64:
            raise _fail(InvalidRelocationOffset, f"kconfig extern {name!r} referenced by a non-ld_imm64 instruction",
                        self.name, here, name)
        fd = self._fd(KCONFIG_SECTION, here, name)
        after = Instruction.ld_imm64(insn.dst, (ext.offset << 32) | fd, PseudoLdImm64.MAP_VALUE)
        self._patch(here, RelocationKind.EXTERN_VAR, name, insn, after,
                    f"kconfig {name} → {KCONFIG_SECTION}+{ext.offset} (fd {fd})", code, rec.slot)

    def _ksym(self, name: str, here: int) -> KsymTarget:
        target = (self.ksyms or {}).get(name)
        if target is None:
            from .ksyms import ksym_externs

            declared = any(e.name == name for e in ksym_externs(self.obj))
            if declared and self.ksyms:  # resolved against a kernel, which lacks it
                text = f"__ksym extern {name!r}: the target kernel's BTF has no such function or variable"
            elif declared:  # a direct relocate() call without the loader's resolution step
                text = (f"__ksym extern {name!r}: resolve the object's externs against a kernel first "
                        "(bpfnb.kernel.ksyms.resolve_ksyms) and pass ksyms= to relocate()")
            else:
                text = (f"undefined extern {name!r}: it is defined nowhere in this object and is not a __ksym "
                        "kernel symbol (declare it __ksym for a kfunc or kernel variable, or link the object "
                        "that defines it with bpftool gen object)")
            raise _fail(UnknownSymbol, text, self.name, here, name)
        if target.required:
            err = target.error(program=self.name, index=here)
            err.symbol = name  # type: ignore[attr-defined]
            raise err
        return target

    def _kfunc(self, code: Code, rec: RelocationRecord, insn: Instruction, here: int) -> None:
        """A kfunc call: ``src = BPF_PSEUDO_KFUNC_CALL``, ``imm`` = its kernel BTF id."""
        name = rec.symbol.name
        if not insn.is_call:
            raise _fail(InvalidRelocationOffset, f"kfunc {name!r} referenced by a non-call instruction",
                        self.name, here, name)
        target = self._ksym(name, here)
        if not target.found:
            # A weak kfunc this kernel lacks: imm 0 and off 0, as libbpf 1.1 writes it.  The
            # verifier accepts such a call only as dead code (behind a bpf_ksym_exists() guard,
            # which reads 0 here), and rejects it when reachable.
            after = Instruction.call(0, PseudoCall.KFUNC_CALL, off=0)
            self._patch(here, RelocationKind.EXTERN_FUNC, name, insn, after,
                        f"weak kfunc {name} {_absent(target)}: call neutralised (imm 0), loads only as dead code",
                        code, rec.slot)
            return
        after = Instruction.call(target.btf_id, PseudoCall.KFUNC_CALL, off=target.btf_fd_index)
        self._patch(here, RelocationKind.EXTERN_FUNC, name, insn, after, target.describe(),
                    code, rec.slot)

    def _ksym_var(self, code: Code, rec: RelocationRecord, insn: Instruction, here: int) -> None:
        """An ld_imm64 of a ``__ksym``: by BTF id when typed (or a kfunc), by kallsyms address when untyped,
        0 when weak and absent."""
        name = rec.symbol.name
        if not insn.is_ld_imm64:
            raise _fail(InvalidRelocationOffset, f"__ksym {name!r} referenced by a non-ld_imm64 instruction",
                        self.name, here, name)
        target = self._ksym(name, here)
        if not target.found:
            after = Instruction.ld_imm64(insn.dst, 0)  # a weak extern this kernel lacks: bpf_ksym_exists() is false
        elif target.kind in (KsymKind.TYPED, KsymKind.KFUNC):
            # a kfunc's address (bpf_ksym_exists(kfunc)) is its BTF id too, as libbpf writes it; the
            # second half names the BTF: 0 for vmlinux, else the module BTF object's fd (not its fd_array slot)
            after = Instruction.ld_imm64(insn.dst, (target.btf_obj_fd << 32) | target.btf_id, PseudoLdImm64.BTF_ID)
        else:
            after = Instruction.ld_imm64(insn.dst, target.address)
        self._patch(here, RelocationKind.EXTERN_VAR, name, insn, after, target.describe(), code, rec.slot)

    @cached_property
    def _kconfig(self) -> dict[str, Any]:
        return {e.name: e for e in kconfig_externs(self.obj)}

    def _map(self, code: Code, rec: RelocationRecord, insn: Instruction, here: int) -> None:
        sym = rec.symbol
        # libbpf finds the map whose definition starts at the symbol; a
        # reference through the section symbol adds the instruction's imm
        offset = sym.value + (_s32(insn.imm) if sym.type == "STT_SECTION" else 0)
        spec = self._maps_at.get((rec.target_section, offset))
        if spec is None:
            raise _fail(UnknownSymbol, f"no map defined at {rec.target_section}+{offset:#x} (symbol {sym.name!r})",
                        self.name, here, sym.name)
        fd = self._fd(spec.name, here, sym.name)
        after = Instruction.ld_imm64(insn.dst, fd, PseudoLdImm64.MAP_FD)
        self._patch(here, RelocationKind.MAP, spec.name, insn, after, f"map {spec.name} → fd {fd}", code, rec.slot)

    def _global(self, code: Code, rec: RelocationRecord, insn: Instruction, here: int) -> None:
        sym = rec.symbol
        section = rec.target_section or ""
        data = self.obj.data.get(section)
        if data is None and section not in self.map_fds:
            raise _fail(SectionNotFound, f"global data {sym.name!r} in {section!r}, which is no data section",
                        self.name, here, sym.name)
        offset = sym.value + _s32(insn.imm)
        size = data.size if data is not None else None
        if offset < 0 or (size is not None and offset >= size):
            raise _fail(
                InvalidRelocationOffset,
                f"{sym.name!r} at offset {offset} is outside {section!r} ({size} bytes)",
                self.name, here, sym.name,
            )
        fd = self._fd(section, here, sym.name)
        after = Instruction.ld_imm64(insn.dst, (offset << 32) | fd, PseudoLdImm64.MAP_VALUE)
        what = section if sym.type == "STT_SECTION" else f"{sym.name} in {section}"
        self._patch(here, RelocationKind.DATA, sym.name if sym.type != "STT_SECTION" else section, insn, after,
                    f"{what} → fd {fd} + {offset}", code, rec.slot)

    def _patch(self, here: int, kind: RelocationKind, symbol: str, before: Instruction, after: Instruction,
               note: str, code: Code, slot: int) -> None:
        applied = AppliedRelocation(here, kind, symbol, before, after, note, code.name, slot)
        self.patches[here] = (after, applied)

    # -- 3. CO-RE (refused for now) and .BTF.ext records -----------------------------

    def _ext_records(self, table: Mapping[str, tuple[Any, ...]], piece: _Piece) -> list[Any]:
        code = piece.code
        return [r for r in table.get(code.section, ()) if code.offset <= r.insn_off < code.offset + code.size]

    def _ext_slot(self, piece: _Piece, insn_off: int, what: str) -> int:
        """The slot of a .BTF.ext record in the relocated program, checked.

        The kernel rejects func/line info that does not start an
        instruction; saying which record and where beats its EINVAL.
        """
        local, rest = divmod(insn_off - piece.code.offset, 8)
        try:
            if rest:
                raise InstructionError("not a multiple of 8")
            piece.code.instructions.index_at_slot(local)
        except InstructionError:
            raise _fail(
                InvalidRelocationOffset,
                f"{what} at {piece.code.section}+{insn_off:#x} does not start an instruction of {piece.code.name!r}",
                self.name, piece.start + local, piece.code.name,
            ) from None
        return piece.start + local

    def _apply_core(self) -> None:
        """Patch each piece's CO-RE records, resolved beforehand against the target."""
        ext = self.obj.btf_ext
        if ext is None or not ext.core_relos:
            return
        found = [(p, r) for p in self.pieces for r in self._ext_records(ext.core_relos, p)]
        if not found:
            return
        if self.core is None:
            where = sorted({p.code.name for p, _ in found})
            first_piece, first = found[0]
            slot = first_piece.start + (first.insn_off - first_piece.code.offset) // 8
            raise _fail(
                CoreRelocationError,
                f"{len(found)} CO-RE relocation record(s) in {', '.join(where)}: resolve them against a target "
                "kernel first (bpfnb.btf.core.core_relocations) and pass core=",
                self.name, slot, None,
            )
        from ..btf.core_patch import apply_core_relocations

        for i, piece in enumerate(self.pieces):
            resolved = self.core.for_program(piece.code.name)
            if resolved:
                self.core_patched[i] = apply_core_relocations(piece.code.instructions, resolved)
                self.core_applied.extend(resolved)

    def _func_info(self) -> tuple[FuncInfoRecord, ...]:
        ext, btf = self.obj.btf_ext, self.obj.btf
        if ext is None or btf is None:
            return ()
        out: list[FuncInfoRecord] = []
        for i, piece in enumerate(self.pieces):
            recs = self._ext_records(ext.func_info, piece)
            if not recs:
                if i == 0:
                    return ()  # as libbpf: no func_info for the program, none at all
                raise _fail(RelocationError, f"subprogram {piece.code.name!r} has no BTF func_info but "
                            f"{self.name!r} has", self.name, piece.start, piece.code.name)
            for r in recs:
                slot = self._ext_slot(piece, r.insn_off, "func_info")
                out.append(FuncInfoRecord(slot, r.type_id, _type_name(btf, r.type_id)))
        out.sort(key=lambda r: r.slot)
        return tuple(out)

    def _line_info(self) -> tuple[LineInfoRecord, ...]:
        ext, btf = self.obj.btf_ext, self.obj.btf
        if ext is None or btf is None:
            return ()
        offsets = _StringOffsets(btf)
        out: list[LineInfoRecord] = []
        for i, piece in enumerate(self.pieces):
            recs = self._ext_records(ext.line_info, piece)
            if not recs:
                if i == 0:
                    return ()  # as libbpf: none for the program, none at all
                raise _fail(RelocationError, f"subprogram {piece.code.name!r} has no BTF line_info but "
                            f"{self.name!r} has", self.name, piece.start, piece.code.name)
            for r in recs:
                slot = self._ext_slot(piece, r.insn_off, "line_info")
                out.append(LineInfoRecord(slot, r.file_name, r.line, r.line_num, r.column,
                                          offsets(r.file_name), offsets(r.line)))
        out.sort(key=lambda r: r.slot)
        return tuple(out)

    # -- assembling the result ----------------------------------------------------

    def _result(self) -> RelocatedProgram:
        insns = self.core_patched.get(0, self.pieces[0].code.instructions)
        for i, piece in enumerate(self.pieces[1:], 1):
            insns = insns + self.core_patched.get(i, piece.code.instructions)
        starts = {p.start: p.code.name for p in self.pieces[1:]}
        patched = list(insns)
        notes = {s: list(v) for s, v in insns.annotations.items()}
        for slot, (after, applied) in self.patches.items():
            patched[insns.index_at_slot(slot)] = after
            notes[slot] = [applied.note]  # replaces the parse-time "map counters"
        for slot, name in starts.items():
            notes.setdefault(slot, []).insert(0, f"subprogram {name}")
        instructions = Instructions(patched, annotations=notes, source_lines=insns.source_lines, name=self.name)
        applied = tuple(a for _, (_, a) in sorted(self.patches.items()))
        return RelocatedProgram(
            name=self.name,
            spec=self.spec,
            instructions=instructions,
            subprograms=tuple((p.code.name, p.start) for p in self.pieces[1:]),
            func_info=self._func_info(),
            line_info=self._line_info(),
            applied=applied,
            core_relocations=tuple(self.core_applied),
            fd_array=ksym_fd_array(self.ksyms),
        )


def _type_name(btf: Any, type_id: int) -> str:
    try:
        return btf[type_id].name or ""
    except Exception:  # a view-only nicety: a bad id is the kernel's to report
        return ""


class _StringOffsets:
    """Text → offset in the object BTF's string table.

    ``bpfnb.btf.ext.LineInfo`` keeps the resolved text only; the kernel
    wants offsets into the BTF loaded with the program.  llvm writes each
    string once, and when a string occurs twice any of its offsets names
    the same bytes, so the first one is as good as the original.
    """

    def __init__(self, btf: Any):
        self._strings = btf._strings
        self._cache: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        off = self._cache.get(text)
        if off is None:
            found = [o for o in self._strings.offsets_of(text) if o >= self._strings.start]
            if not found:
                raise RelocationError(f"line info string {text[:60]!r} is not in the object's BTF string table")
            off = self._cache[text] = found[0]
        return off
