"""Make an object's ``.BTF`` acceptable to a kernel: fix-up, then sanitization.

Two separate jobs, both pure (bytes and models in, bytes and models out):

:func:`fixup`
    finishes what clang leaves to the loader.  clang cannot know a
    section's final size, nor the offset of a *global* variable inside it
    (it emits a relocation that only a linker resolves), so every DATASEC
    comes out with ``size == 0`` and its global VARs at offset 0.  It also
    describes ``extern`` kernel symbols (``__ksym``) and Kconfig values
    (``__kconfig``) in ``.ksyms``/``.kconfig`` DATASECs with ``extern``
    linkage, which the kernel's BTF checker refuses, and leaves kfunc
    parameters unnamed, which it refuses for any FUNC.  The rules are
    libbpf's (``btf_fixup_datasec``, ``bpf_object__collect_externs``) so the
    result equals what libbpf loads; the tests compare the two.

:func:`sanitize`
    replaces every kind an older kernel does not know with one it does,
    as libbpf's ``bpf_object__sanitize_btf`` and Aya's
    ``fixup_and_sanitize`` do.  Records are replaced *in place* so that
    every type id stays valid: the programs' func_info and the maps'
    key/value type ids point into this table.  Helper types a
    replacement needs are appended after the last id.

String offsets never change: the original string section is kept byte
for byte and new names (``dummy_ksym``, ``param0``, ``_data`` for
``.data``...) are appended after it, so ``.BTF.ext`` line_info and
func_info can be sent as they are against the loaded BTF.  (libbpf
renames ``.data`` to ``_data`` by overwriting the string in place, which
also renames every other user of that string; appending avoids that.)

Both return a result holding the new :class:`~bpfnb.btf.Btf`, its bytes
and one :class:`Change` per touched type, rendered as a before/after
table in a notebook.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import BtfError
from .btf import Btf
from .types import (
    BtfType, Const, Datasec, DeclTag, Enum, Enum64, EnumValue, Float, Func, FuncProto, Int, IntEncoding, Kind,
    Linkage, Member, Param, Ptr, Struct, TypeTag, Typedef, Union, Var, VarSecinfo,
)
from .writer import BtfBuilder

if TYPE_CHECKING:
    import pandas

    from ..obj.sections import Symbol

__all__ = [
    "BtfFeatures", "Change", "ElfLayout", "FixupResult", "SanitizeResult", "fixup", "loadable_btf", "sanitize",
]

KSYMS_SEC = ".ksyms"
KCONFIG_SEC = ".kconfig"
#: libbpf's name for the VAR standing in for kfuncs in ``.ksyms``; reused so
#: the loaded BTF matches libbpf's type for type.
DUMMY_KSYM = "dummy_ksym"
ENUM64_PLACEHOLDER = "enum64_placeholder"
_U32 = 0xFFFFFFFF
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: what a DATASEC name had to be before Linux 6.5 (``__btf_name_valid`` with dots allowed)
OLD_SECTION_NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*\Z")


# --- features ------------------------------------------------------------------


@dataclass(frozen=True)
class BtfFeatures:
    """Which BTF kinds the target kernel accepts (one flag per gated kind).

    The flags are the ones libbpf probes (``FEAT_BTF_*``): each names a kind
    or a flag that appeared in a known kernel release, and each has a
    replacement in :func:`sanitize`.  Build one from a probe with
    :func:`bpfnb.kernel.btf.features_for_btf`; ``BtfFeatures.all()`` is a
    current kernel (nothing to sanitize), ``BtfFeatures.none()`` Linux 4.18.
    """

    func: bool = True           # FUNC, FUNC_PROTO (5.0)
    func_global: bool = True    # FUNC with global linkage (5.6)
    datasec: bool = True        # VAR, DATASEC (5.2)
    float: bool = True          # FLOAT (5.13)
    decl_tag: bool = True       # DECL_TAG (5.16)
    type_tag: bool = True       # TYPE_TAG (5.17)
    enum64: bool = True         # ENUM64, and signed ENUM through kind_flag (6.0)
    #: any printable character in a DATASEC name (6.5; libbpf's FEAT_BTF_QMARK_DATASEC,
    #: named after the ``?`` it fixes).  Before, only ``[A-Za-z0-9_.]``.
    qmark_datasec: bool = True

    @classmethod
    def all(cls) -> BtfFeatures:
        return cls()

    @classmethod
    def none(cls) -> BtfFeatures:
        return cls(**{f.name: False for f in dataclasses.fields(cls)})

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @property
    def missing(self) -> tuple[str, ...]:
        """Names of the flags that are off."""
        return tuple(n for n in self.names() if not getattr(self, n))

    def __repr__(self) -> str:
        missing = self.missing
        return f"<BtfFeatures {'all' if not missing else 'missing ' + ', '.join(missing)}>"


# --- change records and results --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One rewritten (or added, ``kind_before is None``) type.

    ``what`` says what changed in words (``size 0 → 16; var 'x' offset 0 →
    8``); the name is the type's name before the change; ``before`` and
    ``after`` are one-line summaries of the record (``size=0 [x@0 y@0]`` →
    ``size=16 [x@0 y@8]``) for the side-by-side view.
    """

    type_id: int
    kind_before: Kind | None
    kind_after: Kind
    what: str
    name: str = ""
    before: str = ""
    after: str = ""

    @property
    def added(self) -> bool:
        return self.kind_before is None

    def __str__(self) -> str:
        before = "added" if self.kind_before is None else self.kind_before.name
        arrow = before if self.kind_before == self.kind_after else f"{before} → {self.kind_after.name}"
        label = f" {self.name!r}" if self.name else ""
        return f"#{self.type_id}{label} {arrow}: {self.what}"


@dataclass(frozen=True)
class _Rewrite:
    """What both stages return: the new BTF, its bytes, and what changed."""

    stage: str
    before: Btf
    btf: Btf
    data: bytes = field(repr=False)
    changes: tuple[Change, ...]

    def to_bytes(self) -> bytes:
        return self.data

    @property
    def added_ids(self) -> tuple[int, ...]:
        return tuple(c.type_id for c in self.changes if c.added)

    def __len__(self) -> int:
        return len(self.changes)

    def __iter__(self):
        return iter(self.changes)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self.changes)} changes, {len(self.btf) - 1} types>"

    def _repr_html_(self) -> str:
        from ..display.sanitize import changes_html

        return changes_html(self.changes, title=f"BTF {self.stage}: {len(self.changes)} changes")

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per change: type_id, name, kind_before, kind_after, what."""
        from ..display.sanitize import changes_frame

        return changes_frame(self.changes)


@dataclass(frozen=True, repr=False)
class FixupResult(_Rewrite):
    """:func:`fixup`'s result."""


@dataclass(frozen=True, repr=False)
class SanitizeResult(_Rewrite):
    """:func:`sanitize`'s result; ``features`` is what it sanitized for."""

    features: BtfFeatures = field(default_factory=BtfFeatures)


# --- the ELF facts fix-up needs --------------------------------------------------


class _HasLayout(Protocol):
    sections: Sequence[Any]
    symbols: Sequence[Symbol]


@dataclass(frozen=True)
class ElfLayout:
    """Section sizes and symbols: all :func:`fixup` needs from the ELF file."""

    section_sizes: Mapping[str, int]
    symbols: Sequence[Symbol] = ()

    @classmethod
    def of(cls, source: ElfLayout | _HasLayout | tuple[Mapping[str, int], Sequence[Symbol]]) -> ElfLayout:
        """From an :class:`~bpfnb.obj.Object`, an ElfLayout, or ``(sizes, symbols)``."""
        if isinstance(source, ElfLayout):
            return source
        if isinstance(source, tuple):
            return cls(dict(source[0]), tuple(source[1]))
        sizes: dict[str, int] = {}
        for s in source.sections:
            sizes.setdefault(s.name, s.size)
        return cls(sizes, tuple(source.symbols))

    def variable(self, name: str, section: str) -> Symbol | None:
        """The ELF symbol of global variable ``name``.

        libbpf's ``find_elf_var_sym``: an object symbol with global or weak
        binding, matched by name (global names are unique in an object); we
        prefer one defined in ``section`` should a hostile file repeat it.
        """
        found = None
        for sym in self.symbols:
            if sym.name == name and sym.type == "STT_OBJECT" and sym.bind in ("STB_GLOBAL", "STB_WEAK"):
                if sym.section == section:
                    return sym
                found = found or sym
        return found

    def hidden_subprogram(self, name: str) -> bool:
        """Is ``name`` a ``__hidden`` (STV_HIDDEN/INTERNAL) global function in ``.text``?

        libbpf marks such subprograms static in BTF: the verifier then checks
        them in their callers' context, as the author asked by hiding them.
        Entry points (functions in program sections) stay global.
        """
        return any(sym.name == name and sym.type == "STT_FUNC" and sym.section == ".text"
                   and sym.bind in ("STB_GLOBAL", "STB_WEAK") and sym.visibility in _HIDDEN for sym in self.symbols)


_HIDDEN = ("STV_HIDDEN", "STV_INTERNAL")


# --- one-line summaries for the before/after view ----------------------------------

_SUMMARY_ITEMS = 6


def _label(lookup, type_id: int) -> str:
    try:
        t = lookup(type_id)
    except BtfError:
        return f"#{type_id}?"
    return t.name or f"#{type_id}"


def _items(parts: list[str]) -> str:
    more = len(parts) - _SUMMARY_ITEMS
    return " ".join(parts[:_SUMMARY_ITEMS]) + (f" …+{more}" if more > 0 else "")


def summary(lookup, t: BtfType) -> str:
    """A short description of one record, enough to see what a fix-up changed.

    ``lookup`` maps ids to types (the BTF before or after), for the names of
    a DATASEC's variables.
    """
    if isinstance(t, Datasec):
        return f"size={t.size} [{_items([f'{_label(lookup, v.type_id)}@{v.offset}' for v in t.vars])}]"
    if isinstance(t, Var):
        return f"{_linkage(t.linkage)} type=#{t.type_id}"
    if isinstance(t, Func):
        return f"{_linkage(t.linkage)} proto=#{t.type_id}"
    if isinstance(t, FuncProto):
        return f"({_items([p.name or '_' for p in t.params])}{', ...' if t.variadic else ''})"
    if isinstance(t, Struct):
        return f"size={t.size} {{{_items([f'{m.name or _label(lookup, m.type_id)}@{m.bit_offset // 8}' for m in t.members])}}}"
    if isinstance(t, Enum):
        return f"size={t.size}{' signed' if t.signed else ''} {{{_items([v.name for v in t.values])}}}"
    if isinstance(t, Int):
        return f"size={t.size} bits={t.bits}"
    if isinstance(t, Float):
        return f"size={t.size}"
    if isinstance(t, DeclTag):
        return f"on #{t.type_id} component={t.component_idx}"
    if isinstance(t, (Typedef, Ptr)):
        return f"→ #{t.type_id}"
    return ""


# --- the in-place rewriter -------------------------------------------------------


class _Editor:
    """Replacement records by id, appended types, and the change log."""

    def __init__(self, btf: Btf):
        if btf.base is not None:
            raise BtfError("split BTF cannot be fixed up: an object's .BTF is always standalone")
        self.btf = btf
        self.types: dict[int, BtfType] = {}
        self.appended: list[BtfType] = []
        self._notes: dict[int, list[str]] = {}
        self._before: dict[int, BtfType] = {}

    def get(self, type_id: int) -> BtfType:
        if type_id in self.types:
            return self.types[type_id]
        extra = type_id - len(self.btf)
        if extra >= 0:
            if extra >= len(self.appended):
                raise BtfError(f"type id out of range (0..{len(self.btf) + len(self.appended) - 1})", type_id=type_id)
            return self.appended[extra]
        return self.btf[type_id]

    def put(self, new: BtfType, what: str) -> None:
        old = self.btf[new.id]
        self._before.setdefault(new.id, old)
        self.types[new.id] = new
        self._notes.setdefault(new.id, []).append(what)

    def append(self, make, what: str) -> int:
        """Append ``make(new_id)``; return its id."""
        new_id = len(self.btf) + len(self.appended)
        t = make(new_id)
        self.appended.append(t)
        self._notes[new_id] = [what]
        return new_id

    def first_int32(self) -> int:
        """libbpf's ``find_int_btf_id``: the first 32-bit INT, appended when there is none."""
        for tid in self.btf.ids_of_kind(Kind.INT).tolist():
            t = self.get(tid)
            if isinstance(t, Int) and t.bits == 32:
                return tid
        for t in self.appended:
            if isinstance(t, Int) and t.bits == 32:
                return t.id
        return self.append(lambda i: Int(i, "int", 4, IntEncoding.SIGNED, 0, 32), "no 32-bit INT to type externs with")

    def changes(self) -> tuple[Change, ...]:
        out = []
        for tid in sorted(self._notes):
            after = self.get(tid)
            before = self._before.get(tid)
            out.append(Change(tid, before.kind if before is not None else None, after.kind,
                              "; ".join(self._notes[tid]), before.name if before is not None else after.name,
                              summary(self.btf.__getitem__, before) if before is not None else "",
                              summary(self.get, after)))
        return tuple(out)

    def write(self) -> tuple[bytes, Btf]:
        """The edited BTF's bytes and model, written once.

        Untouched records are re-encoded in bulk (``BtfBuilder.add_records``),
        replaced and appended ones from their objects.  When nothing changed
        and the input is itself the writer's output (the fix-up's result
        handed to sanitize), its bytes are returned as they are: writing
        them again would give the same bytes.
        """
        btf = self.btf
        if not self.types and not self.appended and btf._written is not None:
            return btf._written, btf
        builder = BtfBuilder(strings=btf._strings)
        untouched = btf.start_id
        for tid in [*sorted(self.types), len(btf)]:
            builder.add_records(btf, untouched, tid)
            if tid < len(btf):
                self._add(builder, self.types[tid])
            untouched = tid + 1
        for t in self.appended:
            self._add(builder, t)
        data = builder.to_bytes(btf.byteorder)
        new = Btf.from_bytes(data, source=btf.source)
        new._written = data
        return data, new

    @staticmethod
    def _add(builder: BtfBuilder, t: BtfType) -> None:
        try:
            builder.add(t)
        except struct.error as exc:  # a field the BTF format cannot hold (hostile input)
            raise BtfError(f"cannot encode {t.kind.name}: {exc}", type_id=t.id) from None


def _name_params(ed: _Editor, proto_id: int, namer, why: str) -> None:
    """Give every unnamed, non-variadic parameter of FUNC_PROTO ``proto_id`` a name."""
    proto = ed.get(proto_id)
    if not isinstance(proto, FuncProto):
        return
    if not any(not p.name and p.type_id for p in proto.params):
        return
    params = tuple(Param(namer(i), p.type_id) if not p.name and p.type_id else p for i, p in enumerate(proto.params))
    ed.put(dataclasses.replace(proto, params=params), why)


# --- fix-up ------------------------------------------------------------------------


def fixup(btf: Btf, elf: ElfLayout | _HasLayout | tuple) -> FixupResult:
    """The loader's share of the BTF: sizes, offsets, extern linkage.

    ``elf`` is the :class:`~bpfnb.obj.Object` the BTF came from (or an
    :class:`ElfLayout`).  Raises :class:`BtfError` where libbpf refuses the
    object: a DATASEC without an ELF section to size it from, a non-VAR
    in a data DATASEC, a global VAR without its symbol.
    """
    layout = ElfLayout.of(elf)
    ed = _Editor(btf)
    for tid in btf.ids_of_kind(Kind.DATASEC).tolist():
        sec = btf[tid]
        assert isinstance(sec, Datasec)
        if sec.name == KSYMS_SEC:
            _fix_ksyms(ed, sec)
        elif sec.name == KCONFIG_SEC:
            _fix_kconfig(ed, sec)
        else:
            _fix_data(ed, sec, layout)
    for tid in btf.ids_of_kind(Kind.FUNC, Kind.VAR, Kind.PTR).tolist():
        t = ed.get(tid)
        if isinstance(t, Func) and t.linkage not in (Linkage.STATIC, Linkage.GLOBAL):
            # The kernel knows static and global functions only (btf_func_check_meta).
            ed.put(dataclasses.replace(t, linkage=Linkage.GLOBAL), f"linkage {_linkage(t.linkage)} → global")
        elif isinstance(t, Func) and t.linkage == Linkage.GLOBAL and layout.hidden_subprogram(t.name):
            ed.put(dataclasses.replace(t, linkage=Linkage.STATIC), "__hidden subprogram → static")
        elif isinstance(t, Var) and t.linkage not in (Linkage.STATIC, Linkage.GLOBAL):
            ed.put(dataclasses.replace(t, linkage=Linkage.GLOBAL), f"linkage {_linkage(t.linkage)} → global")
        elif isinstance(t, Ptr) and t.name:
            # rustc names pointer types; the kernel wants PTRs anonymous (Aya clears them too).
            ed.put(dataclasses.replace(t, name=""), f"name {t.name!r} cleared (PTRs are anonymous)")
        if isinstance(t, Func):
            # btf_func_check: every parameter of a FUNC's prototype needs a name.
            _name_params(ed, t.type_id, lambda i: f"param{i}", "unnamed parameters named param<i>")
    data, new = ed.write()
    return FixupResult("fix-up", btf, new, data, ed.changes())


def _linkage(value: int) -> str:
    try:
        return Linkage(value).name.lower()
    except ValueError:
        return str(value)


def _fix_data(ed: _Editor, sec: Datasec, layout: ElfLayout) -> None:
    """``btf_fixup_datasec`` for a section the ELF file defines."""
    notes: list[str] = []
    size = sec.size
    fix_offsets = size == 0  # an object already through the static linker has both
    if fix_offsets:
        size = layout.section_sizes.get(sec.name, 0)
        if not size:
            raise BtfError(f"DATASEC {sec.name!r}: no ELF section of that name to take its size from", type_id=sec.id)
        if size > _U32:
            raise BtfError(f"DATASEC {sec.name!r}: section size {size} does not fit BTF's 32 bits", type_id=sec.id)
        notes.append(f"size 0 → {size}")
    entries = []
    for vs in sec.vars:
        var = ed.get(vs.type_id) if 0 < vs.type_id < len(ed.btf) else None
        if not isinstance(var, Var):
            raise BtfError(f"DATASEC {sec.name!r} lists type #{vs.type_id}, which is not a VAR", type_id=sec.id)
        if var.linkage in (Linkage.STATIC, Linkage.EXTERN):
            entries.append(vs)  # static: clang wrote the offset (relative to the section symbol)
            continue
        sym = layout.variable(var.name, sec.name)
        if sym is None:
            raise BtfError(f"DATASEC {sec.name!r}: no ELF symbol for global VAR {var.name!r}", type_id=sec.id)
        if sym.value > _U32:
            raise BtfError(f"DATASEC {sec.name!r}: {var.name!r} at {sym.value:#x} does not fit BTF's 32 bits",
                           type_id=sec.id)
        if fix_offsets and vs.offset != sym.value:
            notes.append(f"{var.name} offset {vs.offset} → {sym.value}")
            vs = VarSecinfo(vs.type_id, sym.value, vs.size)
        if sym.visibility in _HIDDEN:
            # __hidden globals are private to the object: libbpf makes them static.
            ed.put(dataclasses.replace(var, linkage=Linkage.STATIC), f"{sym.visibility} symbol → static")
        entries.append(vs)
    ordered = sorted(entries, key=lambda v: v.offset)
    if ordered != entries:
        notes.append("vars sorted by offset")
    if notes:
        ed.put(dataclasses.replace(sec, size=size, vars=tuple(ordered)), "; ".join(notes))


def _fix_ksyms(ed: _Editor, sec: Datasec) -> None:
    """``.ksyms``: every extern becomes a 4-byte slot, kfuncs through one dummy VAR.

    The kernel wants only VARs in a DATASEC, with sizes; a kfunc is a FUNC
    and a typed ksym may be a VAR of an incomplete type.  libbpf therefore
    points every kfunc slot at one appended ``int dummy_ksym``, retypes
    ksym VARs as ``int``, and lays the slots out 4 bytes apart.
    """
    int_id = ed.first_int32()
    dummy = 0
    entries = []
    for i, vs in enumerate(sec.vars):
        t = ed.get(vs.type_id) if 0 < vs.type_id < len(ed.btf) else None
        if isinstance(t, Func):
            if not dummy:
                dummy = ed.append(lambda n: Var(n, DUMMY_KSYM, int_id, Linkage.GLOBAL),
                                  "stands in for the kfuncs of .ksyms")
            _name_params(ed, t.type_id, lambda _i: DUMMY_KSYM, f"unnamed parameters named {DUMMY_KSYM}")
            if t.linkage != Linkage.GLOBAL:
                ed.put(dataclasses.replace(t, linkage=Linkage.GLOBAL), f"kfunc: linkage {_linkage(t.linkage)} → global")
            entries.append(VarSecinfo(dummy, 4 * i, 4))
        elif isinstance(t, Var):
            if t.linkage != Linkage.GLOBAL or t.type_id != int_id:
                ed.put(dataclasses.replace(t, linkage=Linkage.GLOBAL, type_id=int_id),
                       f"ksym: linkage {_linkage(t.linkage)} → global, type #{t.type_id} → int #{int_id}")
            entries.append(VarSecinfo(vs.type_id, 4 * i, 4))
        else:
            raise BtfError(f".ksyms lists type #{vs.type_id}, neither a FUNC nor a VAR", type_id=sec.id)
    size = 4 * len(entries)
    if tuple(entries) != sec.vars or size != sec.size:
        ed.put(dataclasses.replace(sec, size=size, vars=tuple(entries)), f"size {sec.size} → {size}; 4-byte slots")


def _fix_kconfig(ed: _Editor, sec: Datasec) -> None:
    """``.kconfig``: lay the values out as libbpf's kconfig map does.

    libbpf sorts the Kconfig externs by alignment (largest first), then
    size, then name, and places them in that order, each at its alignment.
    """
    btf = ed.btf
    externs = []
    for vs in sec.vars:
        t = ed.get(vs.type_id) if 0 < vs.type_id < len(btf) else None
        if not isinstance(t, Var):
            raise BtfError(f".kconfig lists type #{vs.type_id}, which is not a VAR", type_id=sec.id)
        externs.append((btf.align_of(t.type_id), btf.size_of(t.type_id), t.name, vs, t))
    offsets: dict[int, int] = {}
    off = 0
    for align, size, _name, vs, _t in sorted(externs, key=lambda e: (-e[0], e[1], e[2])):
        off = (off + align - 1) // align * align
        offsets[vs.type_id] = off
        off += size
    entries = []
    for _align, _size, _name, vs, t in externs:
        if t.linkage != Linkage.GLOBAL:
            ed.put(dataclasses.replace(t, linkage=Linkage.GLOBAL), f"kconfig: linkage {_linkage(t.linkage)} → global")
        entries.append(VarSecinfo(vs.type_id, offsets[vs.type_id], vs.size))
    entries.sort(key=lambda v: v.offset)
    if tuple(entries) != sec.vars or off != sec.size:
        ed.put(dataclasses.replace(sec, size=off, vars=tuple(entries)), f"size {sec.size} → {off}; kconfig layout")


# --- sanitization ------------------------------------------------------------------


def _identifier(name: str) -> str:
    """``.data.foo`` → ``_data_foo``: struct names must be C identifiers."""
    if _IDENT.match(name):
        return name
    fixed = re.sub(r"[^A-Za-z0-9_]", "_", name) or "_"
    return fixed if not fixed[0].isdigit() else "_" + fixed


def _old_section_name(name: str) -> str:
    """``?.data`` → ``_.data``: DATASEC names as kernels before 6.5 accept them."""
    if OLD_SECTION_NAME.match(name):
        return name
    fixed = re.sub(r"[^A-Za-z0-9_.]", "_", name) or "_"
    return fixed if not fixed[0].isdigit() else "_" + fixed


def sanitize(btf: Btf, features: BtfFeatures) -> SanitizeResult:
    """Replace every kind ``features`` lacks, keeping every type id and size.

    =====================  ==================================================
    missing                replacement (as libbpf, unless noted)
    =====================  ==================================================
    datasec                VAR → 1-byte INT; DATASEC → STRUCT of its vars
                           (name made an identifier: ``.data`` → ``_data``)
    decl_tag               DECL_TAG → 1-byte INT
    func                   FUNC_PROTO → 4-byte ENUM of its params;
                           FUNC → TYPEDEF of it
    func_global            global FUNC → static
    float                  FLOAT → empty anonymous STRUCT of its size
    type_tag               TYPE_TAG → CONST
    enum64                 ENUM64 → UNION of its size, members of an appended
                           1-byte ``enum64_placeholder`` INT; ENUM loses its
                           signedness flag
    qmark_datasec          DATASEC names: characters other than letters,
                           digits, ``_`` and ``.`` become ``_`` (libbpf only
                           replaces a leading ``?``)
    =====================  ==================================================

    Enum values and struct members need identifier names on current
    kernels, so unnamed parameters become ``param<i>`` (libbpf leaves them
    empty, which only kernels older than 5.0 accepted).
    """
    ed = _Editor(btf)
    placeholder = 0
    for tid in btf.own_ids:
        t = btf[tid]
        k = t.kind
        if (k == Kind.VAR and not features.datasec) or (k == Kind.DECL_TAG and not features.decl_tag):
            ed.put(Int(tid, t.name, 1, IntEncoding.NONE, 0, 8), "→ 1-byte INT")
        elif k == Kind.DATASEC and not features.datasec:
            assert isinstance(t, Datasec)
            members = []
            for vs in t.vars:
                if vs.offset * 8 > _U32:
                    raise BtfError(f"DATASEC {t.name!r}: offset {vs.offset} too large for a STRUCT member", type_id=tid)
                var = btf[vs.type_id] if 0 <= vs.type_id < len(btf) else None
                members.append(Member(var.name if var is not None else "", vs.type_id, vs.offset * 8))
            ed.put(Struct(tid, _identifier(t.name), t.size, tuple(members)), "→ STRUCT of its variables")
        elif k == Kind.DATASEC and not features.qmark_datasec and not OLD_SECTION_NAME.match(t.name):
            new_name = _old_section_name(t.name)
            ed.put(dataclasses.replace(t, name=new_name), f"renamed {new_name!r} for kernels before 6.5")
        elif k == Kind.FUNC_PROTO and not features.func:
            assert isinstance(t, FuncProto)
            values = [EnumValue(p.name or f"param{i}", p.type_id) for i, p in enumerate(t.params)]
            if t.variadic:
                values.append(EnumValue(f"param{len(values)}", 0))
            ed.put(Enum(tid, "", 4, False, tuple(values)), "→ 4-byte ENUM of its parameters")
        elif k == Kind.FUNC and not features.func:
            assert isinstance(t, Func)
            ed.put(Typedef(tid, t.name, t.type_id), "→ TYPEDEF of its prototype")
        elif k == Kind.FUNC and not features.func_global:
            assert isinstance(t, Func)
            if t.linkage != Linkage.STATIC:
                ed.put(dataclasses.replace(t, linkage=Linkage.STATIC), f"linkage {_linkage(t.linkage)} → static")
        elif k == Kind.FLOAT and not features.float:
            assert isinstance(t, Float)
            ed.put(Struct(tid, "", t.size, ()), "→ empty anonymous STRUCT of the same size")
        elif k == Kind.TYPE_TAG and not features.type_tag:
            assert isinstance(t, TypeTag)
            ed.put(Const(tid, "", t.type_id), "→ CONST")
        elif k == Kind.ENUM and not features.enum64:
            assert isinstance(t, Enum)
            if t.signed:
                ed.put(dataclasses.replace(t, signed=False), "signedness flag cleared")
        elif k == Kind.ENUM64 and not features.enum64:
            assert isinstance(t, Enum64)
            if not placeholder:
                placeholder = ed.append(lambda n: Int(n, ENUM64_PLACEHOLDER, 1, IntEncoding.NONE, 0, 8),
                                        "member type of ENUM64 replacements")
            members = tuple(Member(v.name, placeholder, 0) for v in t.values)
            ed.put(Union(tid, t.name, t.size, members), "→ UNION of the same size")
    if features.decl_tag:
        _orphaned_tags(ed)
    data, new = ed.write()
    return SanitizeResult("sanitize", btf, new, data, ed.changes(), features)


_TAG_TARGETS = frozenset({Kind.STRUCT, Kind.UNION, Kind.VAR, Kind.FUNC, Kind.TYPEDEF})


def _orphaned_tags(ed: _Editor) -> None:
    """DECL_TAGs whose target another replacement made untaggable → 1-byte INT.

    The kernel tags only structs, unions, VARs, FUNCs and typedefs, and
    members or parameters only of structs, unions and FUNCs.  A kernel that
    knows DECL_TAG but not FUNC or VAR does not exist, but sanitizing for
    any combination must still give loadable BTF: a tag on a FUNC turned
    TYPEDEF, or on a VAR turned INT, goes the way of its target.
    """
    btf = ed.btf
    for tid in btf.ids_of_kind(Kind.DECL_TAG).tolist():
        tag = btf[tid]
        assert isinstance(tag, DeclTag)
        if not 0 < tag.type_id < len(btf) or tag.type_id not in ed.types:
            continue
        target = ed.get(tag.type_id)
        if target.kind in _TAG_TARGETS and (tag.component_idx == -1 or target.kind in (Kind.STRUCT, Kind.UNION)):
            continue
        ed.put(Int(tid, tag.name, 1, IntEncoding.NONE, 0, 8),
               f"→ 1-byte INT: its target #{tag.type_id} became {target.kind.name}")


# --- both ------------------------------------------------------------------------------


def loadable_btf(obj: _HasLayout, features: BtfFeatures | None = None) -> tuple[bytes, tuple[Change, ...]]:
    """An object's BTF ready for ``BPF_BTF_LOAD``: fix-up, then sanitize.

    ``obj`` is an :class:`~bpfnb.obj.Object` (it needs ``.btf``).  Returns
    the bytes and every change of both stages, fix-up first.
    """
    btf = getattr(obj, "btf", None)
    if btf is None:
        raise BtfError(f"{getattr(obj, 'name', 'object')}: no .BTF section")
    fixed = fixup(btf, obj)
    clean = sanitize(fixed.btf, features or BtfFeatures.all())
    return clean.data, fixed.changes + clean.changes

