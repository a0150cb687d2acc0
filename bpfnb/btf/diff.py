"""What changed between two BTFs: types added, removed and changed, member by member.

The question behind it is the CO-RE question asked ahead of time: "my
program reads ``task_struct->mm`` — where is it on the kernels I ship
to?".  Type ids mean nothing across kernels, so types are matched by kind
and name, as CO-RE matches them, and compared by *shape*: a struct's size
and its members' offsets, bitfield widths and type spellings; an enum's
values; a typedef's target; a function's signature.  Anonymous structs and
unions inside a struct are seen through (``task_struct`` has dozens), so a
member that moved inside one shows as a move of that member.

Pure: two ``Btf`` objects in, a ``BtfDiff`` model out; the views live in
:mod:`bpfnb.display.btf_diff`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import BtfError, UnknownName
from .types import Enum, Float, Func, FuncProto, Fwd, Int, Kind, Struct, Typedef, Var

if TYPE_CHECKING:
    import pandas

    from .btf import Btf

__all__ = ["BtfDiff", "Change", "TypeDiff", "diff_btf"]

#: Kinds compared by name; modifiers, pointers, arrays and protos have no name of their own.
_NAMED_KINDS = (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD, Kind.TYPEDEF, Kind.INT,
                Kind.FLOAT, Kind.FUNC, Kind.VAR)

#: How deep anonymous members are flattened before the walk gives up (kernel BTF nests < 10).
_MAX_NESTING = 64


@dataclass(frozen=True, slots=True)
class Change:
    """One difference inside a type: ``what`` changed at ``member`` ("" for the type itself)."""

    what: str  # "size", "offset", "bitfield", "type", "member added", "member removed", "value", ...
    member: str
    old: str
    new: str

    def __str__(self) -> str:
        where = f"{self.member}: " if self.member else ""
        if self.what.endswith("added"):
            return f"{where}{self.what} ({self.new})"
        if self.what.endswith("removed"):
            return f"{where}{self.what} (was {self.old})"
        return f"{where}{self.what} {self.old} -> {self.new}"


@dataclass(frozen=True, slots=True)
class TypeDiff:
    """A type present in only one BTF, or in both with a different shape."""

    kind: str  # "struct", "union", "enum", "typedef", "func", ...
    name: str
    status: str  # "added", "removed", "changed"
    old_id: int | None
    new_id: int | None
    changes: tuple[Change, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"

    def __repr__(self) -> str:
        return f"<TypeDiff {self.status} {self.label}: {len(self.changes)} changes>"


@dataclass(frozen=True)
class BtfDiff:
    """Every difference from ``old`` to ``new``, types sorted by kind and name.

    ``compared`` counts the named types looked at (both sides), so "no
    changes" can be told apart from "nothing compared".
    """

    old_source: str
    new_source: str
    types: tuple[TypeDiff, ...]
    compared: int

    def __len__(self) -> int:
        return len(self.types)

    def __iter__(self) -> Iterator[TypeDiff]:
        return iter(self.types)

    def __getitem__(self, name: str) -> TypeDiff:
        """The diff of the type named ``name`` (``"task_struct"`` or ``"struct task_struct"``)."""
        hits = [t for t in self.types if name in (t.name, t.label)]
        if len(hits) != 1:
            kinds = f": {', '.join(t.label for t in hits)}" if hits else ""
            raise UnknownName(f"{len(hits)} changed types named {name!r}{kinds}")
        return hits[0]

    def with_status(self, status: str) -> list[TypeDiff]:
        return [t for t in self.types if t.status == status]

    @property
    def added(self) -> list[TypeDiff]:
        return self.with_status("added")

    @property
    def removed(self) -> list[TypeDiff]:
        return self.with_status("removed")

    @property
    def changed(self) -> list[TypeDiff]:
        return self.with_status("changed")

    def rows(self) -> Iterator[tuple[str, str, str, str, str, str, str]]:
        """(status, kind, name, change, member, old, new): one row per change."""
        for t in self.types:
            if t.status != "changed":
                yield (t.status, t.kind, t.name, f"type {t.status}", "", "", "")
            for c in t.changes:
                yield ("changed", t.kind, t.name, c.what, c.member, c.old, c.new)

    def to_text(self, *, max_types: int | None = None) -> str:
        """A diff a terminal can show: ``+``/``-``/``~`` per type, changes indented."""
        lines = [f"--- {self.old_source}", f"+++ {self.new_source}", self.summary()]
        for i, t in enumerate(self.types):
            if max_types is not None and i >= max_types:
                lines.append(f"... {len(self.types) - max_types:,} more types")
                break
            mark = {"added": "+", "removed": "-", "changed": "~"}[t.status]
            lines.append(f"{mark} {t.label}")
            lines += [f"    {c}" for c in t.changes]
        return "\n".join(lines)

    def summary(self) -> str:
        return (f"{self.compared:,} named types compared: {len(self.added):,} added, "
                f"{len(self.removed):,} removed, {len(self.changed):,} changed")

    def to_dataframe(self) -> pandas.DataFrame:
        from ..display.btf_diff import diff_dataframe

        return diff_dataframe(self)

    def _repr_html_(self) -> str:
        from ..display.btf_diff import diff_html

        return diff_html(self)

    def __repr__(self) -> str:
        return f"<BtfDiff {self.old_source} -> {self.new_source}: {self.summary()}>"


def _kind_label(kind: Kind) -> str:
    # ENUM and ENUM64 are one C concept: a kernel moving an enum to 64 bits is a change, not a rename.
    return "enum" if kind == Kind.ENUM64 else kind.name.lower()


def _index(btf: Btf, names: set[str] | None) -> dict[tuple[str, str], int]:
    """(kind label, name) -> the first type id with them (duplicates are rare in vmlinux).

    Built from the name index and the kind column, without decoding a type.
    """
    index = btf.name_index()
    wanted = index.keys() if names is None else names & index.keys()
    labels = {k: _kind_label(k) for k in _NAMED_KINDS}
    out: dict[tuple[str, str], int] = {}
    for name in wanted:
        for type_id in index[name]:
            label = labels.get(btf.kind_of(type_id))
            if label is not None:
                out.setdefault((label, name), type_id)
    return out


class _Names(dict):
    """``btf.name_of`` memoised for one diff: a kernel's members share a few thousand types."""

    def __init__(self, btf: Btf):
        super().__init__()
        self.btf = btf

    def __missing__(self, type_id: int) -> str:
        name = self[type_id] = self.btf.name_of(type_id)
        return name


def _members(btf: Btf, names: _Names, t: Struct, prefix: str, base_bit: int, depth: int,
             out: dict[str, tuple[int, int, str]]) -> None:
    """Flatten ``t``'s members to path -> (bit offset, bitfield size, C type), seeing through anonymous ones."""
    if depth > _MAX_NESTING:
        raise BtfError("anonymous members nested too deep", type_id=t.id)
    for i, m in enumerate(t.members):
        bit = base_bit + m.bit_offset
        inner = btf[m.type_id]  # directly anonymous only: a typedef (kernel_cap_t) is a type of its own
        if isinstance(inner, Struct) and not inner.name:
            # an anonymous struct/union: its members belong to the parent (named: under the member's name)
            if m.name:
                out[f"{prefix}{m.name}"] = (bit, m.bitfield_size, f"{inner.kind.name.lower()} {{...}}")
            _members(btf, names, inner, f"{prefix}{m.name}." if m.name else prefix, bit, depth + 1, out)
            continue
        path = f"{prefix}{m.name or f'<anon {i}>'}"
        if isinstance(inner, Enum) and not inner.name:  # enum { A, B } member: its values are its type
            spelled = ", ".join(f"{v.name}={v.value}" for v in inner.values)
            out[path] = (bit, m.bitfield_size, f"enum {{{spelled}}}")
            continue
        out[path] = (bit, m.bitfield_size, names[m.type_id])


def _shape(names: _Names, type_id: int) -> tuple[str, dict[str, str]]:
    """What is compared of one type: its family ("struct", "enum", "scalar") and a flat
    mapping of display strings, "" holding the type's own line (size, target, signature)."""
    btf = names.btf
    t = btf[type_id]
    if isinstance(t, Struct):
        flat: dict[str, tuple[int, int, str]] = {}
        _members(btf, names, t, "", 0, 0, flat)
        shape = {"": f"size {t.size}"}
        for path, (bit, bits, type_name) in flat.items():
            offset = f"{bit // 8}" if bit % 8 == 0 and not bits else f"{bit // 8}+{bit % 8} bits"
            shape[path] = f"{offset}|{bits}|{type_name}"
        return "struct", shape
    if isinstance(t, Enum):
        shape = {"": f"size {t.size}{' signed' if t.signed else ''}"}
        shape.update({v.name: str(v.value) for v in t.values})
        return "enum", shape
    if isinstance(t, Int):
        return "scalar", {"": f"size {t.size} bits {t.bits} offset {t.offset} {t.encoding!s}"}
    if isinstance(t, Float):
        return "scalar", {"": f"size {t.size}"}
    if isinstance(t, Typedef):
        target = btf[t.type_id]
        if isinstance(target, (Struct, Enum)) and not target.name:
            # typedef struct {...} atomic_t: the anonymous body is the typedef's definition
            family, shape = _shape(names, target.id)
            shape[""] = f"{target.kind.name.lower()} {{...}} {shape['']}"
            return family, shape
        return "scalar", {"": names[t.type_id]}
    if isinstance(t, Func):
        return "scalar", {"": f"{t.linkage.name.lower()} {_signature(names, t)}"}
    if isinstance(t, Var):
        return "scalar", {"": f"{t.linkage.name.lower()} {names[t.type_id]}"}
    if isinstance(t, Fwd):
        return "scalar", {"": "union" if t.is_union else "struct"}
    return "scalar", {"": t.kind.name.lower()}


def _signature(names: _Names, func: Func) -> str:
    proto = names.btf[func.type_id]
    if not isinstance(proto, FuncProto):
        return names[func.type_id]
    params = [f"{names[p.type_id]} {p.name}".strip() for p in proto.params]
    if proto.variadic:
        params.append("...")
    return f"{names[proto.return_type_id]} ({', '.join(params) or 'void'})"


def _struct_changes(old: dict[str, str], new: dict[str, str]) -> list[Change]:
    changes: list[Change] = []
    for path in [p for p in old if p] + [p for p in new if p and p not in old]:
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        if a is None:
            changes.append(Change("member added", path, "", _member_text(b)))  # type: ignore[arg-type]
        elif b is None:
            changes.append(Change("member removed", path, _member_text(a), ""))
        else:
            (a_off, a_bits, a_type), (b_off, b_bits, b_type) = a.split("|", 2), b.split("|", 2)
            if a_off != b_off:
                changes.append(Change("offset", path, a_off, b_off))
            if a_bits != b_bits:
                changes.append(Change("bitfield", path, a_bits, b_bits))
            if a_type != b_type:
                changes.append(Change("type", path, a_type, b_type))
    return changes


def _member_text(packed: str) -> str:
    offset, bits, type_name = packed.split("|", 2)
    return f"{type_name} at {offset}" + (f", {bits} bits" if bits != "0" else "")


def _enum_changes(old: dict[str, str], new: dict[str, str]) -> list[Change]:
    changes = []
    for name in [n for n in old if n] + [n for n in new if n and n not in old]:
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        what = "value added" if a is None else "value removed" if b is None else "value"
        changes.append(Change(what, name, a or "", b or ""))
    return changes


#: What the type's own line is called, per kind, when it changes.
_HEADER = {"func": "signature", "typedef": "target", "var": "type"}


def _changes(kind: str, old: tuple[str, dict[str, str]], new: tuple[str, dict[str, str]]) -> list[Change]:
    (old_family, a), (new_family, b) = old, new
    changes = []
    if a[""] != b[""]:
        what = "size" if a[""].startswith("size") and b[""].startswith("size") else _HEADER.get(kind, "definition")
        changes.append(Change(what, "", a[""].removeprefix("size "), b[""].removeprefix("size ")))
    if old_family == new_family == "struct":
        changes += _struct_changes(a, b)
    elif old_family == new_family == "enum":
        changes += _enum_changes(a, b)
    return changes


def diff_btf(old: Btf, new: Btf, *, names: Iterable[str] | None = None) -> BtfDiff:
    """Compare ``old`` with ``new``; ``names`` limits the comparison to types of those names."""
    wanted = set(names) if names is not None else None
    a, b = _index(old, wanted), _index(new, wanted)
    if wanted is not None and not a and not b:
        raise UnknownName(f"no type named {', '.join(sorted(wanted))} in {old.source or 'BTF'} "
                          f"or {new.source or 'BTF'}")
    old_names, new_names = _Names(old), _Names(new)
    out: list[TypeDiff] = []
    for key in sorted(a.keys() | b.keys()):
        kind, name = key
        old_id, new_id = a.get(key), b.get(key)
        if old_id is None:
            out.append(TypeDiff(kind, name, "added", None, new_id))
        elif new_id is None:
            out.append(TypeDiff(kind, name, "removed", old_id, None))
        else:
            changes = _changes(kind, _shape(old_names, old_id), _shape(new_names, new_id))
            if changes:
                out.append(TypeDiff(kind, name, "changed", old_id, new_id, tuple(changes)))
    return BtfDiff(old.source or "old", new.source or "new", tuple(out), compared=len(a.keys() | b.keys()))
