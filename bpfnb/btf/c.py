"""BTF → C: type names, single definitions, and whole headers like ``vmlinux.h``.

C declarators read inside-out (``int (*handlers[4])(void *)``), so a
declaration is built from the outside in: each pointer, array or prototype
wraps the declarator text, and the base type goes in front at the end.

A whole header is ordered so that it compiles:

1. forward declarations of every named struct/union (pointers only need those);
2. every enum (enums cannot be forward-declared in ISO C);
3. typedefs and struct/union definitions in id order, each preceded by what
   it needs *complete*: types used by value (members, array elements,
   typedef chains of those) are defined first, pointers need nothing more.

Names that clash (two different ``struct foo`` in one BTF, or an enumerator
spelled like a typedef) get ``___2``, ``___3`` suffixes, which CO-RE ignores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .._gc import paused_gc
from ..errors import BtfError
from .limits import MAX_DEPTH, check_depth
from .types import (
    Array, BtfType, Const, Enum, Enum64, Func, FuncProto, Fwd, Kind, Ptr, Restrict, Struct,
    Typedef, TypeTag, Union, Var, Void, Volatile,
)

if TYPE_CHECKING:
    from .btf import Btf

__all__ = ["CWriter", "declaration", "render_c", "render_type_definition", "type_name"]

_QUALIFIERS = {Kind.CONST: "const", Kind.VOLATILE: "volatile", Kind.RESTRICT: "restrict"}
_TAG_KINDS = (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD)
_MAX_DEPTH = 256  # iterations along one declarator chain (loops, no recursion)
_MAX_NESTING = MAX_DEPTH  # recursion: nested prototypes, anonymous records, the dependency walk

BaseNamer = Callable[[BtfType, int], str]


def _default_base(t: BtfType, indent: int) -> str:
    if isinstance(t, Void):
        return "void"
    if isinstance(t, Union):
        return f"union {t.name}" if t.name else "union {...}"
    if isinstance(t, Struct):
        return f"struct {t.name}" if t.name else "struct {...}"
    if isinstance(t, Enum):
        return f"enum {t.name}" if t.name else "enum {...}"
    if isinstance(t, Fwd):
        return f"{'union' if t.is_union else 'struct'} {t.name}"
    return t.name or "<anon>"


def declaration(btf: Btf, type_id: int, name: str = "", *, base: BaseNamer = _default_base, indent: int = 0,
                _depth: int = 0) -> str:
    """``int (*name)(void *)``: a C declaration of ``name`` with type ``type_id``."""
    if _depth > _MAX_NESTING:
        raise BtfError("function prototypes nest too deep (a loop?)", type_id=type_id)
    inner = name
    pointer_last = False  # the declarator ends in "*" (or "* const"): [] and () need parentheses
    t = btf[type_id]
    quals: list[str] = []
    for _ in range(_MAX_DEPTH):
        if isinstance(t, TypeTag):
            t = btf[t.type_id]
            continue
        if isinstance(t, (Const, Volatile, Restrict)):
            q = _QUALIFIERS[t.kind]
            target = _skip_quals(btf, t.type_id)
            if isinstance(target, Ptr):
                inner = f"{q} {inner}" if inner else q
                pointer_last = True
            else:
                quals.append(q)
            t = btf[t.type_id]
            continue
        if isinstance(t, Ptr):
            inner = "*" + inner
            pointer_last = True
            t = btf[t.type_id]
            continue
        if isinstance(t, Array):
            if pointer_last:
                inner = f"({inner})"
            inner = f"{inner}[{t.nelems}]"
            pointer_last = False
            t = btf[t.type_id]
            continue
        if isinstance(t, FuncProto):
            if pointer_last:
                inner = f"({inner})"
            params = [declaration(btf, p.type_id, p.name, base=base, indent=indent, _depth=_depth + 1)
                      for p in t.params]
            if t.variadic:
                params.append("...")
            inner = f"{inner}({', '.join(params) or 'void'})"
            pointer_last = False
            t = btf[t.return_type_id]
            continue
        if isinstance(t, Func):
            inner = inner or t.name
            t = btf[t.type_id]
            continue
        if isinstance(t, Var):
            inner = inner or t.name
            t = btf[t.type_id]
            continue
        break
    else:
        raise BtfError("type chain too deep (a loop?)", type_id=type_id)
    head = " ".join(dict.fromkeys(quals)) + " " if quals else ""
    text = head + base(t, indent)
    if not inner:
        return text
    if inner.startswith("["):
        return text + inner
    return f"{text} {inner}" if not text.endswith("*") else text + inner


def _skip_quals(btf: Btf, type_id: int) -> BtfType:
    t = btf[type_id]
    for _ in range(_MAX_DEPTH):
        if isinstance(t, (Const, Volatile, Restrict, TypeTag)):
            t = btf[t.type_id]
        else:
            return t
    raise BtfError("qualifier chain too deep (a loop?)", type_id=type_id)


def type_name(btf: Btf, type_id: int) -> str:
    """The C spelling of a type with no declarator: ``const char *``, ``char[8]``."""
    t = btf[type_id]
    if isinstance(t, Func):
        return declaration(btf, t.type_id, t.name)
    return declaration(btf, type_id, "")


def _int_literal(value: int, size: int, signed: bool) -> str:
    if signed or value < 1 << 31:
        suffix = "LL" if value >= 1 << 31 or value < -(1 << 31) else ""
        return f"{value}{suffix}"
    return f"{value}U" if value < 1 << 32 else f"{value}ULL"


class CWriter:
    """Renders definitions with consistent, clash-free names for one BTF."""

    def __init__(self, btf: Btf):
        self.btf = btf
        self._tag_names: dict[int, str] = {}
        self._ident_names: dict[int, str] = {}
        self._tags_used: dict[str, int] = {}
        self._idents_used: dict[str, int] = {}
        self._enum_value_names: dict[tuple[int, int], str] = {}
        self._inline_refs: dict[int, int] | None = None
        self._declarators: dict[tuple[int, int], tuple[str, str]] = {}
        self._inlined = False  # set by base() when it wrote an anonymous type's definition
        self._sizes: dict[int, int] = {}
        self._aligns: dict[int, int] = {}

    # -- names ----------------------------------------------------------------

    @staticmethod
    def _unique(used: dict[str, int], name: str) -> str:
        n = used.get(name, 0) + 1
        used[name] = n
        return name if n == 1 else f"{name}___{n}"

    def tag_name(self, t: BtfType) -> str:
        """``foo`` or ``foo___2`` for a struct/union/enum/fwd (tag namespace)."""
        name = self._tag_names.get(t.id)
        if name is None:
            if isinstance(t, Fwd):
                # a forward declaration names the same tag as its definition
                for other in self.btf.find_all(t.name):
                    if other.kind == (Kind.UNION if t.is_union else Kind.STRUCT) and other.id in self._tag_names:
                        name = self._tag_names[other.id]
                        break
            if name is None:
                name = self._unique(self._tags_used, t.name)
            self._tag_names[t.id] = name
        return name

    def ident_name(self, t: BtfType) -> str:
        name = self._ident_names.get(t.id)
        if name is None:
            name = self._ident_names[t.id] = self._unique(self._idents_used, t.name)
        return name

    def enum_value_name(self, t: Enum, index: int) -> str:
        key = (t.id, index)
        name = self._enum_value_names.get(key)
        if name is None:
            name = self._enum_value_names[key] = self._unique(self._idents_used, t.values[index].name)
        return name

    def _assign_tag_names(self) -> None:
        """Give clashing tags their suffixes in id order, so output is stable."""
        for b in _chain(self.btf):
            for tid in b.ids_of_kind(Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64).tolist():
                if b.name_offset(tid):
                    self.tag_name(b[tid])

    # -- definitions ------------------------------------------------------------

    def base(self, t: BtfType, indent: int) -> str:
        """Base-type text inside a declaration: anonymous records are inlined."""
        if isinstance(t, Void):
            return "void"
        if isinstance(t, (Struct, Enum)) and not t.name:
            if indent > _MAX_NESTING:
                raise BtfError("anonymous types nest too deep (a loop?)", type_id=t.id)
            text = self.definition(t, indent)
            self._inlined = True  # after: the definition's own members reset it
            return text
        if isinstance(t, Union):
            return f"union {self.tag_name(t)}"
        if isinstance(t, Struct):
            return f"struct {self.tag_name(t)}"
        if isinstance(t, Enum):
            return f"enum {self.tag_name(t)}"
        if isinstance(t, Fwd):
            return f"{'union' if t.is_union else 'struct'} {self.tag_name(t)}"
        if isinstance(t, Typedef):
            return self.ident_name(t)
        return t.name or "<anon>"

    def decl(self, type_id: int, name: str, indent: int = 0) -> str:
        """``declaration`` with this writer's names, its text around ``name`` computed once per type.

        A named declarator is the same text on both sides of the name
        whatever the name (``int (*`` + name + ``)(void *)``), and a header
        declares members of the same few thousand types 60k times.  Not kept
        when an anonymous struct, union or enum was written inline: writing
        it again must give its enumerators fresh names, as it did before.
        """
        if not name:
            return declaration(self.btf, type_id, name, base=self.base, indent=indent)
        key = (type_id, indent)
        around = self._declarators.get(key)
        if around is None:
            self._inlined = False
            before, _, after = declaration(self.btf, type_id, "\0", base=self.base, indent=indent).partition("\0")
            if self._inlined:
                return before + name + after
            around = self._declarators[key] = (before, after)
        return around[0] + name + around[1]

    def definition(self, t: BtfType, indent: int = 0) -> str:
        """The definition text (no trailing ``;``) of a struct/union/enum/typedef."""
        if isinstance(t, Struct):
            return self._record(t, indent)
        if isinstance(t, Enum):
            return self._enum(t, indent)
        if isinstance(t, Typedef) and t.kind == Kind.TYPEDEF:
            return "typedef " + self.decl(t.type_id, self.ident_name(t), indent)
        if isinstance(t, Fwd):
            return f"{'union' if t.is_union else 'struct'} {self.tag_name(t)}"
        if isinstance(t, Func):
            return self.decl(t.type_id, t.name, indent)
        if isinstance(t, Var):
            return self.decl(t.type_id, t.name, indent)
        return self.decl(t.id, "", indent)

    def _enum(self, t: Enum, indent: int) -> str:
        pad = "\t" * (indent + 1)
        head = f"enum {self.tag_name(t)} " if t.name else "enum "
        lines = [f"{pad}{self.enum_value_name(t, i)} = {_int_literal(v.value, t.size, t.signed)}," for i, v in
                 enumerate(t.values)]
        body = "{\n" + "\n".join(lines) + "\n" + "\t" * indent + "}" if lines else "{}"
        attr = {1: " __attribute__((mode(byte)))", 2: " __attribute__((mode(HI)))"}.get(t.size, "")
        if t.size == 8 and not isinstance(t, Enum64):
            attr = " __attribute__((mode(DI)))"
        return head + body + attr

    def _record(self, t: Struct, indent: int) -> str:
        is_union = isinstance(t, Union)
        word = "union" if is_union else "struct"
        head = f"{word} {self.tag_name(t)} " if t.name else f"{word} "
        pad = "\t" * (indent + 1)
        packed = not is_union and self._is_packed(t)
        lines: list[str] = []
        cur = 0  # bit position C has reached
        for m in t.members:
            bits = m.bitfield_size
            if not is_union:
                gap_to = m.bit_offset
                if bits:
                    natural = cur if packed else _bitfield_place(cur, bits, 8 * (self._size(m.type_id) or 1))
                else:
                    align = 1 if packed else self._align(m.type_id)
                    natural = -(-cur // (8 * align)) * 8 * align
                if gap_to > natural:
                    lines += [pad + p for p in _padding(cur, gap_to)]
            text = self.decl(m.type_id, m.name, indent + 1)
            lines.append(f"{pad}{text}: {bits};" if bits else f"{pad}{text};")
            if not is_union:
                cur = max(cur, m.bit_offset + (bits or 8 * self._size(m.type_id)))
        if not is_union and t.members:
            align = 1 if packed else self._align(t.id)
            end = -(-cur // (8 * align)) * 8 * align
            if 8 * t.size > end:
                lines += [pad + p for p in _padding(cur, 8 * t.size)]
        body = "{\n" + "\n".join(lines) + "\n" + "\t" * indent + "}" if lines else "{}"
        return head + body + (" __attribute__((packed))" if packed else "")

    def _is_packed(self, t: Struct) -> bool:
        """Do the member offsets need ``__attribute__((packed))``?"""
        align = 1
        for m in t.members:
            a = self._align(m.type_id)
            align = max(align, a)
            if not m.bitfield_size and m.bit_offset % (8 * a):
                return True
            if m.bitfield_size:
                unit = 8 * (self._size(m.type_id) or 1)
                if m.bit_offset % unit + m.bitfield_size > unit:
                    return True
        return bool(t.members) and t.size % align != 0

    def _size(self, type_id: int) -> int:
        """``sizeof``, 0 for what has none; remembered (members repeat a few thousand types)."""
        size = self._sizes.get(type_id)
        if size is None:
            try:
                size = self.btf.size_of(type_id)
            except BtfError:
                size = 0
            self._sizes[type_id] = size
        return size

    def _align(self, type_id: int) -> int:
        """Alignment, 1 for what has none; remembered."""
        align = self._aligns.get(type_id)
        if align is None:
            try:
                align = self.btf.align_of(type_id)
            except BtfError:
                align = 1
            self._aligns[type_id] = align
        return align

    # -- whole headers ----------------------------------------------------------

    def render(self, ids: Iterable[int] | None = None, *, guard: str | None = "__VMLINUX_H__",
               preserve_access_index: bool = True) -> str:
        """A compilable header with ``ids`` (default: all types) and their dependencies."""
        with paused_gc():  # a whole header decodes and keeps ~100k objects (see bpfnb._gc)
            return self._render(ids, guard, preserve_access_index)

    def _render(self, ids: Iterable[int] | None, guard: str | None, preserve_access_index: bool) -> str:
        btf = self.btf
        if ids is None:  # every record, enum and typedef, and what they are built from: in bulk
            btf.materialise(_HEADER_KINDS)
        self._assign_tag_names()
        if ids is None:
            kinds = (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.TYPEDEF, Kind.FWD)
            roots = [tid for b in _chain(btf) for tid in b.ids_of_kind(*kinds).tolist()]
        else:
            roots = list(ids)
        order = _Orderer(self)
        for tid in roots:
            order.root(tid)
        out: list[str] = []
        if guard:
            out += [f"#ifndef {guard}", f"#define {guard}", ""]
        if preserve_access_index:
            out += ["#ifndef BPF_NO_PRESERVE_ACCESS_INDEX",
                    "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)",
                    "#endif", ""]
        for t in order.fwds:
            out.append(f"{'union' if (isinstance(t, Union) or (isinstance(t, Fwd) and t.is_union)) else 'struct'}"
                       f" {self.tag_name(t)};")
        if order.fwds:
            out.append("")
        for t in order.enums:
            out += [self.definition(t) + ";", ""]
        for t in order.defs:
            out += [self.definition(t) + ";", ""]
        if preserve_access_index:
            out += ["#ifndef BPF_NO_PRESERVE_ACCESS_INDEX", "#pragma clang attribute pop", "#endif", ""]
        if guard:
            out += [f"#endif /* {guard} */", ""]
        return "\n".join(out)


#: What a whole header decodes: all but functions, variables, sections and tags (prototypes only
#: where a pointer needs one: vmlinux has 28k, most of them only functions' types).
_HEADER_KINDS = (Kind.INT, Kind.PTR, Kind.ARRAY, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.FWD, Kind.TYPEDEF,
                 Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.FLOAT, Kind.TYPE_TAG, Kind.ENUM64)


def _chain(btf: Btf) -> list[Btf]:
    """``btf`` and its bases, the first base first (ascending type ids)."""
    chain = []
    while btf is not None:
        chain.append(btf)
        btf = btf.base
    return chain[::-1]


def _bitfield_place(cur: int, bits: int, unit: int) -> int:
    """Where C puts a ``bits``-wide bitfield of a ``unit``-bit type after bit ``cur``."""
    if unit <= 0:
        return cur
    if cur % unit + bits > unit:
        return -(-cur // unit) * unit
    return cur


def _padding(start: int, end: int) -> list[str]:
    """Anonymous bitfields filling bits [start, end) without crossing 64-bit units.

    Gaps of more than 64 KiB (only seen in absurd or corrupt BTF; the kernel's
    largest are page-sized) become one named ``char`` array so that the output
    stays proportional to the type count.
    """
    out = []
    if end - start > 8 * 65536:
        while start % 8:
            chunk = min(end - start, 8 - start % 8)
            out.append(f"char: {chunk};")
            start += chunk
        nbytes = (end - start) // 8
        out.append(f"char __pad_{start // 8}[{nbytes}];")
        start += 8 * nbytes
    while start < end:
        chunk = min(end - start, 64 - start % 64)
        # the narrowest type whose aligned unit holds the chunk (unnamed bitfields never align)
        unit = next(u for u in (8, 16, 32, 64) if start // u == (start + chunk - 1) // u)
        out.append(f"{_PAD_TYPES[unit]}: {chunk};")
        start += chunk
    return out


_PAD_TYPES = {8: "char", 16: "short", 32: "int", 64: "long"}


_SEE_THROUGH, _POINTER, _ARRAY, _PROTO, _TYPED, _TYPEDEF, _RECORD, _ENUM, _FWD = range(9)
#: What ``_Orderer.need`` does with each class of type (exact classes: Union is a Struct, Const a Typedef).
_NEED = {Const: _SEE_THROUGH, Volatile: _SEE_THROUGH, Restrict: _SEE_THROUGH, TypeTag: _SEE_THROUGH,
         Ptr: _POINTER, Array: _ARRAY, FuncProto: _PROTO, Func: _TYPED, Var: _TYPED, Typedef: _TYPEDEF,
         Struct: _RECORD, Union: _RECORD, Enum: _ENUM, Enum64: _ENUM, Fwd: _FWD}


class _Orderer:
    """Collects what a header needs, in an order that compiles."""

    def __init__(self, w: CWriter):
        self.w = w
        self.btf = w.btf
        self.fwds: list[BtfType] = []
        self.enums: list[Enum] = []
        self.defs: list[BtfType] = []
        self._state: dict[int, int] = {}  # 1 in progress, 2 done
        self._seen: set[tuple[int, bool]] = set()
        self._fwd_done: set[str] = set()
        self._enum_done: set[int] = set()
        self._anon_enum_refs = self._count_anon_enum_refs()
        self._decoded = w.btf._types  # already-decoded types, read directly on the hot path (base types: btf[])

    def _count_anon_enum_refs(self) -> set[int]:
        """Anonymous enums something refers to (those are inlined, not standalone)."""
        refs = set(self.btf.referenced_ids().tolist())
        base = self.btf.base
        while base is not None:
            refs.update(base.referenced_ids().tolist())
            base = base.base
        return refs

    def root(self, tid: int) -> None:
        t = self.btf[tid]
        if isinstance(t, (Struct, Typedef)) and t.kind in (Kind.STRUCT, Kind.UNION, Kind.TYPEDEF) and t.name:
            self.need(tid, by_value=True)
        elif isinstance(t, Enum):
            if t.name or tid not in self._anon_enum_refs:
                self._add_enum(t)
        elif isinstance(t, Fwd):
            self._fwd(t)
        elif isinstance(t, (Func, Var, Ptr, Array, FuncProto, Const, Volatile, Restrict, TypeTag)):
            self.need(tid, by_value=False)

    def _fwd(self, t: BtfType) -> None:
        name = self.w.tag_name(t)
        if name not in self._fwd_done:
            self._fwd_done.add(name)
            self.fwds.append(t)

    def _add_enum(self, t: Enum) -> None:
        if t.id not in self._enum_done:
            self._enum_done.add(t.id)
            self.enums.append(t)

    def need(self, tid: int, by_value: bool, depth: int = 0) -> None:
        """Make ``tid`` usable: declared, and complete if ``by_value``.

        Called ~110k times for a vmlinux header: dispatch is one dict
        look-up on the exact class, not a chain of ``isinstance``.
        """
        key = (tid, by_value)
        if key in self._seen:
            return
        if depth > MAX_DEPTH:
            check_depth(depth, tid, "C rendering: the type graph")
        self._seen.add(key)
        t = self._decoded.get(tid) or self.btf[tid]
        what = _NEED.get(type(t))
        if what is None:
            return  # void, ints, floats: nothing to declare
        if what == _SEE_THROUGH:  # const/volatile/restrict/type tag: as the type they qualify
            self.need(t.type_id, by_value, depth + 1)
        elif what == _POINTER:
            self.need(t.type_id, False, depth + 1)
        elif what == _ARRAY:
            self.need(t.type_id, True, depth + 1)
        elif what == _PROTO:
            self.need(t.return_type_id, False, depth + 1)
            for p in t.params:
                self.need(p.type_id, False, depth + 1)
        elif what == _TYPED:  # func, var
            self.need(t.type_id, False, depth + 1)
        elif what == _TYPEDEF:
            if t.name.startswith("__builtin_"):
                return  # compiler built-ins (``__builtin_va_list``) must not be redefined
            self._define(t, depth)
            if by_value:
                self.need(t.type_id, True, depth + 1)
        elif what == _RECORD:
            if not t.name:
                for m in t.members:
                    self.need(m.type_id, True, depth + 1)
            else:
                self._fwd(t)
                if by_value:
                    self._define(t, depth)
        elif what == _ENUM:
            if t.name:
                self._add_enum(t)
        else:
            self._fwd(t)

    def _define(self, t: BtfType, depth: int) -> None:
        state = self._state.get(t.id)
        if state:
            return  # done, or a cycle only pointers could close (already declared)
        self._state[t.id] = 1
        if isinstance(t, Struct):
            for m in t.members:
                self.need(m.type_id, True, depth + 1)
        elif isinstance(t, Typedef):
            self.need(t.type_id, False, depth + 1)
        self._state[t.id] = 2
        self.defs.append(t)


def render_type_definition(btf: Btf, type_id: int) -> str:
    """One type as C: a full definition for named records, enums and typedefs."""
    w = CWriter(btf)
    t = btf[type_id]
    if isinstance(t, (Struct, Enum, Fwd)) or t.kind == Kind.TYPEDEF:
        return w.definition(t) + ";"
    if isinstance(t, (Func, Var)):
        return w.definition(t) + ";"
    return type_name(btf, type_id)


def render_c(btf: Btf, ids: Iterable[int] | None = None, **options) -> str:
    """A whole header (all types, or ``ids`` with their dependencies)."""
    return CWriter(btf).render(ids, **options)



