"""CO-RE: resolve an object's relocation records against a kernel's BTF (pure).

*Compile once, run everywhere*: clang records, for every access to a kernel
type declared with ``preserve_access_index``, *what* was accessed (root
type + member path) instead of trusting the offsets of the headers it was
compiled with.  At load time each record is resolved against the running
kernel's BTF and the instruction is patched with the kernel's value: the
field's offset, size, signedness, bitfield shifts, whether a field, type or
enumerator exists, a type's size or id, an enumerator's value.

This module follows libbpf (``bpf_core_calc_relo_insn``) step by step,
because the result must be the program libbpf would load:

1. parse the access string against the local type (:mod:`.core_spec`);
2. find candidates: target types whose *essential* name (``___flavor``
   suffix dropped) and kind match, in the main target BTF first and in the
   other (module) BTFs only when the main one has none;
3. match the spec against every candidate; all matching candidates must
   agree on the bit offset and the value, else :class:`ConflictingCandidates`;
   candidates that failed are pruned for later records of the same local
   type (libbpf shares that list across the whole object);
4. no candidate: existence checks resolve to 0, everything else *poisons*
   the instruction (a call to the non-existent helper ``0xbad2310``): fine
   when the code is unreachable behind an existence check, a clear verifier
   error when it is not.

Resolution here takes its targets as an argument and never looks at the
host: walking an ``Object``'s records is :func:`bpfnb.obj.core.core_relocations`,
and choosing the running kernel as the default target is the loader's job
(as in aya's ``EbpfLoader`` and cilium/ebpf's linker).  Patching lives in
:mod:`.core_patch`; explanation views in ``bpfnb.display.core``; the
multi-kernel verdicts in :mod:`.core_portability`.
"""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BpfnbError, ConflictingCandidates, CoreRelocationError, InvalidAccessString
from ..uapi import CoreReloKind
from .core_patch import POISON_HELPER
from .core_spec import (
    EXISTS_KINDS, FIELD_KINDS, TYPE_KINDS, AccessSpec, Step, core_essential_name, kinds_compatible,
    match_spec, parse_spec, resolve_size, skip_mods,
)
from .types import Enum, Enum64, Int, Ptr, Struct

if TYPE_CHECKING:
    import graphviz
    import pandas

    from ..asm import Instruction
    from .btf import Btf
    from .ext import CoreRelo

__all__ = [
    "POISON_HELPER",
    "Candidate",
    "CandidateCache",
    "CoreRelocation",
    "CoreRelocationTable",
    "btf_label",
    "resolve_core_relocations",
    "targets_label",
]

#: libbpf's short names of the kinds, as its debug log prints them.
KIND_LABELS = {
    CoreReloKind.FIELD_BYTE_OFFSET: "byte_off", CoreReloKind.FIELD_BYTE_SIZE: "byte_sz",
    CoreReloKind.FIELD_EXISTS: "field_exists", CoreReloKind.FIELD_SIGNED: "signed",
    CoreReloKind.FIELD_LSHIFT_U64: "lshift_u64", CoreReloKind.FIELD_RSHIFT_U64: "rshift_u64",
    CoreReloKind.TYPE_ID_LOCAL: "local_type_id", CoreReloKind.TYPE_ID_TARGET: "target_type_id",
    CoreReloKind.TYPE_EXISTS: "type_exists", CoreReloKind.TYPE_MATCHES: "type_matches",
    CoreReloKind.TYPE_SIZE: "type_size", CoreReloKind.ENUMVAL_EXISTS: "enumval_exists",
    CoreReloKind.ENUMVAL_VALUE: "enumval_value",
}

_U64 = (1 << 64) - 1


def btf_label(btf: Btf) -> str:
    """A short name for a target BTF: ``vmlinux``, a module name, or a file name."""
    if not btf.source:
        return "btf"
    return os.path.basename(btf.source.rstrip("/")) or btf.source


# --- the result model ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """One target type considered for a record, and what became of it."""

    btf: str
    type_id: int
    name: str
    matched: bool
    #: Why it did not match ("" when it did).
    reason: str = ""
    #: The target access in C when it matched.
    path: str = ""
    bit_offset: int | None = None


@dataclass(frozen=True)
class CoreRelocation:
    """One resolved CO-RE record: what was asked, what the target answered, what changes.

    ``slot`` counts 8-byte slots from the start of the program or function
    the record belongs to (libbpf's "insn #"); ``index`` is the record's
    number within its ELF section (libbpf's "relo #").  Values are
    unsigned 64-bit, as libbpf computes them.
    """

    program: str
    section: str
    slot: int
    index: int
    kind: CoreReloKind
    local_type_id: int
    local_type_name: str
    access: str
    local_path: str
    old_value: int
    new_value: int
    target_btf: str | None = None
    target_type_id: int | None = None
    target_type_name: str | None = None
    target_path: str | None = None
    candidates: tuple[Candidate, ...] = ()
    poisoned: bool = False
    poison_reason: str = ""
    #: The record is itself an existence check (it answers 0 instead of failing).
    guarded: bool = False
    #: Whether the instruction must hold ``old_value`` before patching.
    validate: bool = True
    #: Memory access size of the field locally / in the target (0: not a load/store offset).
    old_size: int = 0
    new_size: int = 0
    #: A load/store whose size would change in a way that corrupts the value.
    size_mismatch: bool = False
    local_bit_offset: int = 0
    target_bit_offset: int | None = None
    local_steps: tuple[Step, ...] = field(default=(), repr=False)
    target_steps: tuple[Step, ...] = field(default=(), repr=False)
    #: Why the record could not be resolved at all (only with ``errors="collect"``): loading would fail.
    error: str = ""
    #: The instruction before and after patching, when known (``core_relocations``).
    before: Instruction | None = field(default=None, repr=False)
    after: tuple[Instruction, ...] = field(default=(), repr=False)
    local_btf: Btf | None = field(default=None, repr=False, compare=False)
    target: Btf | None = field(default=None, repr=False, compare=False)

    @property
    def kind_label(self) -> str:
        """libbpf's name of the kind (``byte_off``, ``field_exists`` ...)."""
        return KIND_LABELS[self.kind]

    @property
    def changed(self) -> bool:
        return self.poisoned or self.old_value != self.new_value or self.old_size != self.new_size

    @property
    def failed(self) -> bool:
        """Poisoned (no target satisfied it) or unresolvable (``error``)."""
        return self.poisoned or bool(self.error)

    @property
    def resolved(self) -> bool:
        return self.target_type_id is not None

    def describe(self) -> str:
        """One line, like a debug log: ``byte_off task_struct->pid: 44 -> 1264``."""
        if self.error:
            return f"{self.kind_label} {self.local_path}: error ({self.error})"
        if self.poisoned:
            return f"{self.kind_label} {self.local_path}: poisoned ({self.poison_reason})"
        size = f", size {self.old_size} -> {self.new_size}" if self.old_size != self.new_size else ""
        return f"{self.kind_label} {self.local_path}: {self.old_value} -> {self.new_value}{size}"

    def __repr__(self) -> str:
        return f"<CoreRelocation {self.program} insn {self.slot}: {self.describe()}>"

    def _repr_html_(self) -> str:
        from ..display.core import relocation_html

        return relocation_html(self)

    def graph(self) -> graphviz.Digraph:
        """The local access path beside the target path, members labelled with offsets."""
        from ..display.core import relocation_graph

        return relocation_graph(self)


@dataclass(frozen=True)
class CoreRelocationTable(Sequence[CoreRelocation]):
    """Every CO-RE record of an object resolved against one target (a list with views)."""

    object_name: str
    target: str
    relocations: tuple[CoreRelocation, ...]

    def __len__(self) -> int:
        return len(self.relocations)

    def __getitem__(self, index):  # type: ignore[override]
        return self.relocations[index]

    def __iter__(self) -> Iterator[CoreRelocation]:
        return iter(self.relocations)

    def for_program(self, name: str) -> list[CoreRelocation]:
        return [r for r in self.relocations if r.program == name]

    @property
    def poisoned(self) -> list[CoreRelocation]:
        return [r for r in self.relocations if r.poisoned]

    @property
    def changed(self) -> list[CoreRelocation]:
        return [r for r in self.relocations if r.changed]

    def __repr__(self) -> str:
        return (f"<CoreRelocationTable {self.object_name} vs {self.target}: {len(self.relocations)} records, "
                f"{len(self.changed)} changed, {len(self.poisoned)} poisoned>")

    def _repr_html_(self) -> str:
        from ..display.core import table_html

        return table_html(self)

    def to_dataframe(self) -> pandas.DataFrame:
        from ..display.core import table_dataframe

        return table_dataframe(self)


# --- candidates ------------------------------------------------------------------------

_NAME_INDEX: weakref.WeakKeyDictionary[Any, dict[str, tuple[int, ...]]] = weakref.WeakKeyDictionary()


def _string_offsets(btf: Btf, names: list[str]) -> dict[str, list[int]]:
    """Offsets of the strings equal to each name or starting with ``name___``, in one pass.

    One regular expression over the string section (and its bases) finds
    every name at once: a dozen separate ``bytes.find`` scans of vmlinux's
    2 MB of strings cost ten times more.  Names that themselves contain
    ``___`` are searched on their own, because the alternation would give
    a string to only one of two overlapping names.
    """
    out: dict[str, list[int]] = {n: [] for n in names}
    plain = sorted((n for n in names if "___" not in n), key=len, reverse=True)
    groups = ([plain] if plain else []) + [[n] for n in names if "___" in n]
    table = btf._strings
    while table is not None:
        data, start = table.data, table.start
        for group in groups:
            rx = re.compile(b"\0(" + b"|".join(re.escape(n.encode()) for n in group) + b")(?=\0|___)")
            for m in rx.finditer(data):
                out[m.group(1).decode()].append(start + m.start() + 1)
            for n in group:
                raw = n.encode()
                if data.startswith(raw + b"\0") or data.startswith(raw + b"___"):
                    out[n].append(start)
        table = table.base
    return out


def _prefetch(btf: Btf, names: Sequence[str]) -> None:
    """Fill the per-Btf cache of own ids by essential name for every name not cached yet."""
    cache = _NAME_INDEX.setdefault(btf, {})
    missing = sorted({n for n in names if n and n not in cache})
    if not missing:
        return
    offsets = _string_offsets(btf, missing)
    owner = {off: name for name, offs in offsets.items() for off in offs}
    found: dict[str, list[int]] = {n: [] for n in missing}
    if owner:
        own = btf._table.name_offs
        hits = np.flatnonzero(np.isin(own, np.fromiter(owner, dtype=own.dtype, count=len(owner))))
        for index in hits.tolist():
            tid = index + btf.start_id
            name = owner[int(own[index])]
            if core_essential_name(btf[tid].name) == name:
                found[name].append(tid)
    for n in missing:
        cache[n] = tuple(found[n])


def _own_ids_named(btf: Btf, essential: str) -> tuple[int, ...]:
    """Own ids (not base) whose essential name is ``essential``; cached per Btf."""
    cache = _NAME_INDEX.setdefault(btf, {})
    hit = cache.get(essential)
    if hit is None:
        _prefetch(btf, [essential])
        hit = cache.get(essential, ())
    return hit


def _ids_named(btf: Btf, essential: str) -> list[int]:
    """Ids in ``btf`` and its bases with that essential name."""
    chain = []
    b: Btf | None = btf
    while b is not None:
        chain.append(b)
        b = b.base
    out: list[int] = []
    for b in reversed(chain):
        out.extend(_own_ids_named(b, essential))
    return out


class CandidateCache:
    """Target candidates per local type, pruned as records rule them out (libbpf's cand_cache).

    One cache spans one *object* and one list of targets: libbpf shares
    the candidate list of a local type across all records of the object
    and drops candidates that failed to match once some did, so a later
    record of the same type only sees the survivors.  The name look-ups
    underneath are cached per target ``Btf`` for the life of that object,
    so a second object against the same kernel is fast too.
    """

    def __init__(self, targets: Sequence[Btf]):
        if not targets:
            raise CoreRelocationError("CO-RE needs at least one target BTF")
        self.targets = tuple(targets)
        self._lists: dict[tuple[int, int], list[tuple[Btf, int]]] = {}

    def prefetch(self, local: Btf, type_ids: Sequence[int]) -> None:
        """Look up the essential names of many local types in one pass over each target's strings."""
        names = []
        for tid in type_ids:
            try:
                names.append(core_essential_name(local[tid].name))
            except BpfnbError:
                continue  # reported when the record itself is resolved
        for target in self.targets:
            b: Btf | None = target
            while b is not None:
                _prefetch(b, names)
                b = b.base

    def candidates(self, local: Btf, local_id: int) -> list[tuple[Btf, int]]:
        key = (id(local), local_id)
        found = self._lists.get(key)
        if found is None:
            found = self._lists[key] = self._search(local, local_id)
        return found

    def prune(self, local: Btf, local_id: int, keep: list[tuple[Btf, int]]) -> None:
        self._lists[(id(local), local_id)] = keep

    def _search(self, local: Btf, local_id: int) -> list[tuple[Btf, int]]:
        lt = local[local_id]
        essential = core_essential_name(lt.name)
        main, *modules = self.targets
        found = [(main, i) for i in _ids_named(main, essential) if kinds_compatible(main.kind_of(i), lt.kind)]
        if found:
            return found
        for mod in modules:  # modules only when the main BTF has none, as libbpf
            found += [(mod, i) for i in _own_ids_named(mod, essential) if kinds_compatible(mod.kind_of(i), lt.kind)]
        return found


# --- resolution ------------------------------------------------------------------------


@dataclass(slots=True)
class _Result:
    orig: int = 0
    new: int = 0
    poison: bool = False
    validate: bool = True
    orig_sz: int = 0
    new_sz: int = 0
    memsz_fail: bool = False


class _Poison(Exception):
    """Internal: the target side asks for the instruction to be poisoned."""


def _field_value(spec: AccessSpec | None, kind: CoreReloKind, out: _Result | None, where: str) -> tuple[int, int, int]:
    """(value, memory size, field type id) of a field record on one side (libbpf calc_field_relo)."""
    if kind == CoreReloKind.FIELD_EXISTS:
        return (1 if spec is not None else 0), 0, 0
    if spec is None:
        raise _Poison
    btf = spec.btf
    acc = spec.accessors[-1]
    if acc.name is None:  # an array element (or the root itself)
        size = resolve_size(btf, acc.type_id)
        if kind == CoreReloKind.FIELD_BYTE_OFFSET:
            return spec.bit_offset // 8, size, acc.type_id
        if kind == CoreReloKind.FIELD_BYTE_SIZE:
            return size, 0, 0
        raise CoreRelocationError(f"{where}: {KIND_LABELS[kind]} cannot be applied to an array element")
    t = btf[acc.type_id]
    assert isinstance(t, Struct)
    m = t.members[acc.index]
    ftid = skip_mods(btf, m.type_id)
    mt = btf[ftid]
    bit_off = spec.bit_offset
    bit_sz = m.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        byte_sz = getattr(mt, "size", 0)
        if byte_sz <= 0:
            raise CoreRelocationError(f"{where}: bitfield of unsized type {btf.name_of(ftid)}")
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise CoreRelocationError(f"{where}: bitfield cannot be read with one 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = resolve_size(btf, ftid)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    if out is not None:
        out.validate = not bitfield  # the compiler's bitfield choices may differ from ours
    if kind == CoreReloKind.FIELD_BYTE_OFFSET:
        return byte_off, (0 if bitfield else byte_sz), (0 if bitfield else ftid)
    if kind == CoreReloKind.FIELD_BYTE_SIZE:
        return byte_sz, 0, 0
    if kind == CoreReloKind.FIELD_SIGNED:
        if out is not None:
            out.validate = True
        signed = (isinstance(mt, Enum) and mt.signed) or (isinstance(mt, Int) and mt.is_signed)
        return int(signed), 0, 0
    if kind == CoreReloKind.FIELD_LSHIFT_U64:
        return 64 - (bit_off + bit_sz - byte_off * 8), 0, 0
    if kind == CoreReloKind.FIELD_RSHIFT_U64:
        if out is not None:
            out.validate = True
        return 64 - bit_sz, 0, 0
    raise CoreRelocationError(f"{where}: unsupported field relocation kind {int(kind)}")


def _type_value(spec: AccessSpec | None, kind: CoreReloKind) -> int:
    if spec is None:
        return 0
    if kind == CoreReloKind.TYPE_ID_TARGET:
        return spec.root_type_id
    if kind in (CoreReloKind.TYPE_EXISTS, CoreReloKind.TYPE_MATCHES):
        return 1
    return resolve_size(spec.btf, spec.root_type_id)  # TYPE_SIZE


def _enum_value(spec: AccessSpec | None, kind: CoreReloKind) -> int:
    if kind == CoreReloKind.ENUMVAL_EXISTS:
        return 1 if spec is not None else 0
    if spec is None:
        raise _Poison
    acc = spec.accessors[0]
    t = spec.btf[acc.type_id]
    assert isinstance(t, Enum)
    value = t.values[acc.index].value
    if isinstance(t, Enum64):
        return value & _U64
    raw32 = value & 0xFFFFFFFF  # a 32-bit enumerator is sign-extended, whatever the enum's signedness
    return (raw32 - (1 << 32) if raw32 >> 31 else raw32) & _U64


def _calc(local: AccessSpec, target: AccessSpec | None, where: str) -> _Result:
    """Original and new value of one record for one candidate (libbpf bpf_core_calc_relo)."""
    res = _Result()
    kind = local.kind
    try:
        if kind in FIELD_KINDS:
            res.orig, res.orig_sz, orig_tid = _field_value(local, kind, res, where)
            res.new, res.new_sz, new_tid = _field_value(target, kind, None, where)
            if res.orig_sz != res.new_sz:
                res.memsz_fail = not _resize_safe(local.btf, orig_tid, target.btf, new_tid)  # type: ignore[union-attr]
        elif kind in TYPE_KINDS:
            res.orig = _type_value(local, kind)
            res.validate = kind != CoreReloKind.TYPE_ID_TARGET  # ids may change when objects are linked
            res.new = _type_value(target, kind)
        else:
            res.orig = _enum_value(local, kind)
            res.new = _enum_value(target, kind)
    except _Poison:
        res.poison = True
        res.new = 0
    return res


def _resize_safe(local: Btf, orig_tid: int, target: Btf, new_tid: int) -> bool:
    """A load may change width only for pointers, or unsigned integers on both sides."""
    lt, tt = local[orig_tid], target[new_tid]
    if isinstance(lt, Ptr) and isinstance(tt, Ptr):
        return True
    return isinstance(lt, Int) and isinstance(tt, Int) and int(lt.encoding) != 1 and int(tt.encoding) != 1


def _resolve_one(local_btf: Btf, relo: CoreRelo, cache: CandidateCache, *, program: str, section: str,
                 slot: int, index: int) -> CoreRelocation:
    where = f"relo #{index}"
    try:
        local = parse_spec(local_btf, relo.type_id, relo.access, relo.kind)
    except InvalidAccessString as exc:
        raise InvalidAccessString(f"{where}: {exc}", program=program, index=slot) from None
    lt = local_btf[relo.type_id]
    base = dict(program=program, section=section, slot=slot, index=index, kind=relo.kind,
                local_type_id=relo.type_id, local_type_name=local_btf.name_of(relo.type_id), access=relo.access,
                local_path=local.path, guarded=relo.kind in EXISTS_KINDS, local_bit_offset=local.bit_offset,
                local_steps=local.steps, local_btf=local_btf)
    if relo.kind == CoreReloKind.TYPE_ID_LOCAL:
        return CoreRelocation(old_value=relo.type_id, new_value=relo.type_id, validate=False, **base)
    if not lt.name:
        raise CoreRelocationError(f"{where}: {KIND_LABELS[relo.kind]} on an anonymous type: CO-RE finds "
                                  "candidates by name", program=program, index=slot)
    cands = cache.candidates(local_btf, relo.type_id)
    considered: list[Candidate] = []
    survivors: list[tuple[Btf, int]] = []
    chosen: tuple[AccessSpec, _Result, Btf] | None = None
    for tbtf, tid in cands:
        label = btf_label(tbtf)
        tspec, why = match_spec(local, tbtf, tid)
        name = tbtf.name_of(tid)
        if tspec is None:
            considered.append(Candidate(label, tid, name, False, why))
            continue
        res = _calc(local, tspec, f"{program} {where}")
        considered.append(Candidate(label, tid, name, True, "", tspec.path, tspec.bit_offset))
        if chosen is None:
            chosen = (tspec, res, tbtf)
        elif tspec.bit_offset != chosen[0].bit_offset:
            raise ConflictingCandidates(
                f"{where}: {local.path} is at bit {chosen[0].bit_offset} in [{chosen[0].root_type_id}] but at bit "
                f"{tspec.bit_offset} in [{tid}] {name}", program=program, index=slot)
        elif res.poison != chosen[1].poison or res.new != chosen[1].new:
            raise ConflictingCandidates(
                f"{where}: {local.path} resolves to {chosen[1].new} with [{chosen[0].root_type_id}] but to "
                f"{res.new} with [{tid}] {name}", program=program, index=slot)
        survivors.append((tbtf, tid))
    if survivors:
        cache.prune(local_btf, relo.type_id, survivors)
    if chosen is None:
        res = _calc(local, None, f"{program} {where}")
        reason = ""
        if res.poison:
            reason = (f"no candidate for {lt.name!r} in the target" if not cands else
                      f"no candidate matches: {considered[-1].reason}")
        return CoreRelocation(old_value=res.orig, new_value=res.new, candidates=tuple(considered),
                              poisoned=res.poison, poison_reason=reason, validate=res.validate,
                              old_size=res.orig_sz, new_size=res.new_sz, **base)
    tspec, res, tbtf = chosen
    return CoreRelocation(
        old_value=res.orig, new_value=res.new, target_btf=btf_label(tbtf), target_type_id=tspec.root_type_id,
        target_type_name=tbtf.name_of(tspec.root_type_id), target_path=tspec.path, candidates=tuple(considered),
        validate=res.validate, old_size=res.orig_sz, new_size=res.new_sz, size_mismatch=res.memsz_fail,
        target_bit_offset=tspec.bit_offset, target_steps=tspec.steps, target=tbtf, **base)


def resolve_core_relocations(local_btf: Btf, relos: Sequence[CoreRelo], targets: Sequence[Btf] | Btf, *,
                             program: str, section: str = "", offset: int = 0,
                             indices: Sequence[int] | None = None,
                             cache: CandidateCache | None = None) -> list[CoreRelocation]:
    """Resolve ``relos`` (one program's records) against ``targets`` (main BTF first, then modules).

    ``offset`` is the program's byte offset in its section: slots in the
    result are relative to the program, as the instructions the relocate
    stage patches.  ``indices`` are the records' numbers in their section
    (default: their positions here).  Pass one ``cache`` for all programs
    of an object to reproduce libbpf's candidate pruning across programs.
    Errors are :class:`~bpfnb.errors.CoreRelocationError` subclasses naming
    the program and slot.
    """
    from .btf import Btf as _Btf

    if isinstance(targets, _Btf):
        targets = [targets]
    cache = cache if cache is not None else CandidateCache(targets)
    cache.prefetch(local_btf, [r.type_id for r in relos])
    out = []
    for pos, relo in enumerate(relos):
        slot = (relo.insn_off - offset) // 8
        index = indices[pos] if indices is not None else pos
        if relo.insn_off % 8 or slot < 0:
            raise CoreRelocationError(f"relo #{index}: instruction offset {relo.insn_off} is not a slot of the "
                                      "program", program=program, index=slot)
        try:
            out.append(_resolve_one(local_btf, relo, cache, program=program, section=section, slot=slot,
                                    index=index))
        except CoreRelocationError:
            raise
        except BpfnbError as exc:  # malformed BTF under the record
            raise CoreRelocationError(f"relo #{index}: {exc}", program=program, index=slot) from exc
    return out


def targets_label(targets: Sequence[Btf]) -> str:
    """How a table names what it was resolved against: ``vmlinux + bpf_testmod``."""
    return " + ".join(btf_label(t) for t in targets)


def __getattr__(name: str) -> Any:
    """``core_relocations`` moved to :mod:`bpfnb.obj.core` (it walks an ``Object``); the old name still works."""
    if name == "core_relocations":
        import warnings

        warnings.warn("bpfnb.btf.core.core_relocations moved to bpfnb.obj.core.core_relocations",
                      DeprecationWarning, stacklevel=2)
        from ..obj.core import core_relocations

        return core_relocations
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
