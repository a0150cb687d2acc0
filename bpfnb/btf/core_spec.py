"""CO-RE access specs: what a relocation reads locally, and where that is in a target BTF.

A CO-RE record names a *local* root type (in the object's BTF) and an
access string such as ``"0:3:0"``: the first number indexes the root as if
it were an array (``&p[0]`` is ``p``), each later one is a member index (in
a struct/union) or an element index (in an array).  Resolving it against a
kernel means finding the *same path by member names* in the kernel's type
of the same essential name.  This module holds the rules that decide what
"the same" means, as libbpf defines them (``relo_core.c``), because a
loader that picks a different field than libbpf would be loading a
different program:

* **parse** (:func:`parse_spec`): walk the access string through the local
  type, recording the *high-level* accessors (named members and array
  indices; anonymous struct/union members are see-through) and the bit
  offset reached;
* **match** (:func:`match_spec`): walk a candidate target type by those
  names, descending into anonymous members, checking each field's type with
  :func:`fields_compatible`, and array bounds (flexible arrays excepted);
* **type relocations** use :func:`types_compatible` (TYPE_EXISTS,
  TYPE_SIZE, TYPE_ID_TARGET) or the stricter :func:`types_match`
  (TYPE_MATCHES): same kind, integers of equal size and signedness, every
  local member present in the target...

Everything is pure: it reads two :class:`~bpfnb.btf.Btf` objects and
returns data.  Malformed input raises :class:`~bpfnb.errors.BpfnbError`
subclasses only (depth limits guard against looping BTF).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BtfError, InvalidAccessString
from ..uapi import CoreReloKind
from .types import Array, Enum, Fwd, FuncProto, Int, Kind, Ptr, Struct

if TYPE_CHECKING:
    from .btf import Btf

__all__ = [
    "ENUMVAL_KINDS",
    "EXISTS_KINDS",
    "FIELD_KINDS",
    "TYPE_KINDS",
    "AccessSpec",
    "Accessor",
    "Step",
    "core_essential_name",
    "fields_compatible",
    "kinds_compatible",
    "match_spec",
    "parse_spec",
    "spec_path",
    "types_compatible",
    "types_match",
]

#: libbpf's BPF_CORE_SPEC_MAX_LEN: deeper access strings are refused.
MAX_SPEC_LEN = 64
#: Recursion budget for type comparisons (libbpf uses 32 as well).
MAX_DEPTH = 32

FIELD_KINDS = frozenset({
    CoreReloKind.FIELD_BYTE_OFFSET, CoreReloKind.FIELD_BYTE_SIZE, CoreReloKind.FIELD_EXISTS,
    CoreReloKind.FIELD_SIGNED, CoreReloKind.FIELD_LSHIFT_U64, CoreReloKind.FIELD_RSHIFT_U64,
})
TYPE_KINDS = frozenset({
    CoreReloKind.TYPE_ID_LOCAL, CoreReloKind.TYPE_ID_TARGET, CoreReloKind.TYPE_EXISTS,
    CoreReloKind.TYPE_MATCHES, CoreReloKind.TYPE_SIZE,
})
ENUMVAL_KINDS = frozenset({CoreReloKind.ENUMVAL_EXISTS, CoreReloKind.ENUMVAL_VALUE})
#: Kinds that ask "is it there?": they resolve to 0 instead of failing.
EXISTS_KINDS = frozenset({
    CoreReloKind.FIELD_EXISTS, CoreReloKind.TYPE_EXISTS, CoreReloKind.TYPE_MATCHES, CoreReloKind.ENUMVAL_EXISTS,
})

_ENUM_KINDS = (Kind.ENUM, Kind.ENUM64)


def core_essential_name(name: str) -> str:
    """The name CO-RE compares: everything before the *last* ``x___y`` flavor separator.

    libbpf looks for the last position where three underscores sit between
    a non-underscore and a non-underscore character, so ``a___b___c`` is
    ``a___b`` and ``foo____bar`` (four underscores) has no flavor at all.
    """
    for i in range(len(name) - 5, -1, -1):
        if name[i] != "_" and name[i + 1 : i + 4] == "___" and name[i + 4] != "_":
            return name[: i + 1]
    return name


@dataclass(frozen=True, slots=True)
class Accessor:
    """A high-level step: a named member of ``type_id``, or index ``index`` of an array.

    For array accessors ``type_id`` is the element type (modifiers skipped);
    for enum relocations ``name`` is the enumerator's.
    """

    type_id: int
    index: int
    name: str | None


@dataclass(frozen=True, slots=True)
class Step:
    """One raw step of the walk, kept for drawing: where it went and at which offset."""

    #: The struct/union/array being indexed (modifiers skipped); for the root step, the root.
    container_id: int
    index: int
    #: Member name ("" for an anonymous member), or None for an array index.
    name: str | None
    #: Bit offset of this member/element inside ``container_id``.
    bit_offset: int
    #: Bit offset from the root after this step.
    total_bit_offset: int
    #: The type reached (member type or element type).
    type_id: int


@dataclass(frozen=True)
class AccessSpec:
    """A parsed (local) or matched (target) access: accessors, raw indices and bit offset."""

    btf: Btf
    root_type_id: int
    kind: CoreReloKind
    raw: tuple[int, ...]
    accessors: tuple[Accessor, ...]
    bit_offset: int
    steps: tuple[Step, ...] = ()

    @property
    def path(self) -> str:
        """The access as C: ``task_struct->se.sum_exec_runtime``, ``arr[3].x``, ``pid_type::PIDTYPE_MAX``."""
        return spec_path(self)

    @property
    def raw_string(self) -> str:
        return ":".join(str(i) for i in self.raw)


# --- small BTF helpers ------------------------------------------------------------


def skip_mods(btf: Btf, type_id: int) -> int:
    """Skip typedef/const/volatile/restrict/type_tag (libbpf's skip_mods_and_typedefs)."""
    return btf.resolve(type_id)


def kind_of(btf: Btf, type_id: int) -> Kind:
    return btf.kind_of(type_id)


def kinds_compatible(a: Kind, b: Kind) -> bool:
    """Same kind, or ENUM versus ENUM64 (both are "an enum" to CO-RE)."""
    return a == b or (a in _ENUM_KINDS and b in _ENUM_KINDS)


def resolve_size(btf: Btf, type_id: int) -> int:
    """``btf__resolve_size``: errors become BtfError naming the type."""
    return btf.size_of(type_id)


def _root_name(btf: Btf, type_id: int) -> str:
    t = btf[type_id]
    return t.name or "(anon)"


# --- parsing the local access string ------------------------------------------------


def parse_spec(btf: Btf, type_id: int, access: str, kind: CoreReloKind) -> AccessSpec:
    """Walk ``access`` through local type ``type_id``; InvalidAccessString when it does not fit.

    Type-based kinds must carry the access string ``"0"``; enum kinds one
    enumerator index; field kinds at least one index.
    """

    def bad(why: str) -> InvalidAccessString:
        return InvalidAccessString(f"access string {access!r} on {_describe(btf, type_id)}: {why}")

    if not access or access.startswith(":"):
        raise bad("empty")
    if not 0 < type_id < len(btf):
        raise bad(f"type id {type_id} out of range")
    if kind in TYPE_KINDS:
        if access != "0":
            raise bad("type-based relocations take the access string '0'")
        return AccessSpec(btf, type_id, kind, (0,), (), 0, ())
    raw = _split(access, bad)
    rid = skip_mods(btf, type_id)
    t = btf[rid]
    first = raw[0]
    if kind in ENUMVAL_KINDS:
        if not isinstance(t, Enum) or len(raw) > 1 or not 0 <= first < len(t.values):
            raise bad("enum relocations take one enumerator index of an enum")
        acc = Accessor(rid, first, t.values[first].name)
        return AccessSpec(btf, type_id, kind, raw, (acc,), 0, ())
    if kind not in FIELD_KINDS:
        raise bad(f"unknown relocation kind {int(kind)}")
    if first < 0:
        raise bad("negative index")
    size = resolve_size(btf, rid)
    bit = first * size * 8
    accessors = [Accessor(rid, first, None)]
    steps = [Step(rid, first, None, first * size * 8, bit, rid)]
    cur = rid
    for i in range(1, len(raw)):
        idx = raw[i]
        cur = skip_mods(btf, cur)
        t = btf[cur]
        if isinstance(t, Struct):
            if not 0 <= idx < len(t.members):
                raise bad(f"member index {idx} beyond the {len(t.members)} members of {_describe(btf, cur)}")
            m = t.members[idx]
            bit += m.bit_offset
            if m.name:
                accessors.append(Accessor(cur, idx, m.name))
            steps.append(Step(cur, idx, m.name, m.bit_offset, bit, m.type_id))
            cur = m.type_id
        elif isinstance(t, Array):
            elem = skip_mods(btf, t.type_id)
            flex = _is_flex(btf, accessors[-1], t)
            if idx < 0 or (not flex and idx >= t.nelems):
                raise bad(f"index {idx} beyond the {t.nelems} elements of {_describe(btf, cur)}")
            esize = resolve_size(btf, elem)
            accessors.append(Accessor(elem, idx, None))
            bit += idx * esize * 8
            steps.append(Step(cur, idx, None, idx * esize * 8, bit, elem))
            cur = elem
        else:
            raise bad(f"step {i} reaches {_describe(btf, cur)}, which has neither members nor elements")
    return AccessSpec(btf, type_id, kind, raw, tuple(accessors), bit, tuple(steps))


def _split(access: str, bad) -> tuple[int, ...]:
    parts = access.split(":")
    out = []
    for p in parts:
        if not p or not (p.isdigit() or (p[0] == "-" and p[1:].isdigit())):
            raise bad(f"{p!r} is not a number")
        out.append(int(p))
    if len(out) > MAX_SPEC_LEN:
        raise bad(f"{len(out)} steps (at most {MAX_SPEC_LEN})")
    if any(not -(1 << 31) <= v < 1 << 31 for v in out):
        raise bad("index out of 32-bit range")
    return tuple(out)


def _is_flex(btf: Btf, prev: Accessor, arr: Array) -> bool:
    """A zero-length array that is the last member of its struct (``char data[]``)."""
    if prev.name is None or arr.nelems > 0:
        return False
    t = btf[prev.type_id]
    return isinstance(t, Struct) and prev.index == len(t.members) - 1


def _describe(btf: Btf, type_id: int) -> str:
    try:
        t = btf[type_id]
    except BtfError:
        return f"type #{type_id}"
    return f"[{type_id}] {t.kind.name.lower()} {t.name or '(anon)'}"


# --- compatibility rules ---------------------------------------------------------------


def fields_compatible(local: Btf, local_id: int, target: Btf, target_id: int) -> bool:
    """May a local field of type ``local_id`` be read from a target field of ``target_id``?

    Structs and unions mix freely; pointers and floats always fit; enums and
    forward declarations need the same essential name (or one anonymous);
    integers fit whatever their size and sign, except the old-style
    bitfield integers with a non-zero bit offset; arrays compare their
    element types, ignoring dimensions.
    """
    for _ in range(MAX_DEPTH):
        lid, tid = skip_mods(local, local_id), skip_mods(target, target_id)
        lk, tk = local.kind_of(lid), target.kind_of(tid)
        if lk in (Kind.STRUCT, Kind.UNION) and tk in (Kind.STRUCT, Kind.UNION):
            return True
        if not kinds_compatible(lk, tk):
            return False
        if lk in (Kind.PTR, Kind.FLOAT):
            return True
        if lk in (Kind.FWD, Kind.ENUM, Kind.ENUM64):
            ln = core_essential_name(local[lid].name)
            tn = core_essential_name(target[tid].name)
            return not ln or not tn or ln == tn
        if lk == Kind.INT:
            lt, tt = local[lid], target[tid]
            return isinstance(lt, Int) and isinstance(tt, Int) and lt.offset == 0 and tt.offset == 0
        if lk == Kind.ARRAY:
            local_id, target_id = local[lid].type_id, target[tid].type_id  # type: ignore[attr-defined]
            continue
        return False
    raise BtfError("array nesting too deep comparing field types", type_id=local_id)


def types_compatible(local: Btf, local_id: int, target: Btf, target_id: int, level: int = MAX_DEPTH) -> bool:
    """libbpf's "types are compatible" (TYPE_EXISTS / TYPE_SIZE / TYPE_ID_TARGET).

    Kinds must agree (after skipping modifiers, and at the root before);
    composites, enums and forward declarations are compatible by name alone
    (the caller matched names); integers unless old-style bitfield ints;
    pointers and arrays by what they point to; function prototypes by
    parameter count, each parameter and the return type.
    """
    if not kinds_compatible(local.kind_of(local_id), target.kind_of(target_id)):
        return False
    for _ in range(MAX_DEPTH):
        lid, tid = skip_mods(local, local_id), skip_mods(target, target_id)
        lk, tk = local.kind_of(lid), target.kind_of(tid)
        if not kinds_compatible(lk, tk):
            return False
        if lk in (Kind.UNKN, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD):
            return True
        if lk == Kind.INT:
            lt, tt = local[lid], target[tid]
            return isinstance(lt, Int) and isinstance(tt, Int) and lt.offset == 0 and tt.offset == 0
        if lk in (Kind.PTR, Kind.ARRAY):
            local_id, target_id = local[lid].type_id, target[tid].type_id  # type: ignore[attr-defined]
            continue
        if lk == Kind.FUNC_PROTO:
            lp, tp = local[lid], target[tid]
            assert isinstance(lp, FuncProto) and isinstance(tp, FuncProto)
            if _proto_len(lp) != _proto_len(tp):
                return False
            for a, b in zip(lp.params, tp.params):
                if level <= 0:
                    raise BtfError("function prototypes nest too deeply", type_id=lid)
                if not types_compatible(local, skip_mods(local, a.type_id), target, skip_mods(target, b.type_id),
                                        level - 1):
                    return False
            local_id, target_id = lp.return_type_id, tp.return_type_id
            continue
        return False
    raise BtfError("type chain too deep comparing types", type_id=local_id)


def _proto_len(p: FuncProto) -> int:
    """Parameter count as BTF stores it (a variadic ``...`` is one more record)."""
    return len(p.params) + int(p.variadic)


def _names_match(local_name: str, target_name: str) -> bool:
    if not target_name:
        return not local_name
    return core_essential_name(local_name) == core_essential_name(target_name)


def types_match(local: Btf, local_id: int, target: Btf, target_id: int, *, behind_ptr: bool = False,
                level: int = MAX_DEPTH) -> bool:
    """libbpf's TYPE_MATCHES relation (stricter than compatibility).

    After skipping modifiers, names must agree (modulo flavors) and kinds
    must be the same, except that behind a pointer a struct/union may match
    a forward declaration of the same flavor.  Integers need equal size and
    signedness; arrays equal length; enums the same size and every local
    enumerator's name in the target; structs/unions every local member
    present by name with a matching type (only kinds and names once behind
    a pointer); function prototypes matching parameters and return type.
    """
    if level <= 0:
        raise BtfError("types nest too deeply to match", type_id=local_id)
    for _ in range(MAX_DEPTH):
        lid, tid = skip_mods(local, local_id), skip_mods(target, target_id)
        lt, tt = local[lid], target[tid]
        if not _names_match(lt.name, tt.name):
            return False
        lk, tk = lt.kind, tt.kind
        if lk == Kind.UNKN:
            return tk == Kind.UNKN
        if isinstance(lt, Fwd):
            if behind_ptr and tk in (Kind.STRUCT, Kind.UNION):
                return (tk == Kind.UNION) == lt.is_union
            return isinstance(tt, Fwd) and lt.is_union == tt.is_union
        if isinstance(lt, Enum):
            return isinstance(tt, Enum) and _enums_match(lt, tt)
        if isinstance(lt, Struct):
            if behind_ptr:
                if lk == tk:
                    return True
                return isinstance(tt, Fwd) and tt.is_union == (lk == Kind.UNION)
            return lk == tk and isinstance(tt, Struct) and _composites_match(local, lt, target, tt, behind_ptr, level)
        if isinstance(lt, Int):
            return isinstance(tt, Int) and lt.size == tt.size and lt.is_signed == tt.is_signed
        if isinstance(lt, Ptr):
            if not isinstance(tt, Ptr):
                return False
            behind_ptr = True
            local_id, target_id = lt.type_id, tt.type_id
            continue
        if isinstance(lt, Array):
            if not isinstance(tt, Array) or lt.nelems != tt.nelems:
                return False
            local_id, target_id = lt.type_id, tt.type_id
            continue
        if isinstance(lt, FuncProto):
            if not isinstance(tt, FuncProto) or _proto_len(lt) != _proto_len(tt):
                return False
            for a, b in zip(lt.params, tt.params):
                if not types_match(local, a.type_id, target, b.type_id, behind_ptr=behind_ptr, level=level - 1):
                    return False
            local_id, target_id = lt.return_type_id, tt.return_type_id
            continue
        return False
    raise BtfError("type chain too deep matching types", type_id=local_id)


def _enums_match(lt: Enum, tt: Enum) -> bool:
    if lt.size != tt.size or len(lt.values) > len(tt.values):
        return False
    return all(any(_names_match(v.name, w.name) for w in tt.values) for v in lt.values)


def _composites_match(local: Btf, lt: Struct, target: Btf, tt: Struct, behind_ptr: bool, level: int) -> bool:
    if len(lt.members) > len(tt.members):
        return False
    for lm in lt.members:
        if not any(_names_match(lm.name, tm.name)
                   and types_match(local, lm.type_id, target, tm.type_id, behind_ptr=behind_ptr, level=level - 1)
                   for tm in tt.members):
            return False
    return True


# --- matching a local spec against one target candidate ------------------------------------


def match_spec(local: AccessSpec, target: Btf, target_id: int) -> tuple[AccessSpec | None, str]:
    """Match ``local`` against candidate ``target_id``: (target spec or None, reason).

    The reason says why a candidate does not match ("no member 'state' in
    struct task_struct", "types differ: ..."), for the explanation views.
    """
    kind = local.kind
    if kind in TYPE_KINDS:
        if kind == CoreReloKind.TYPE_MATCHES:
            ok = types_match(local.btf, local.root_type_id, target, target_id)
            why = "" if ok else "layout does not match (TYPE_MATCHES rules)"
        else:
            ok = types_compatible(local.btf, local.root_type_id, target, target_id)
            why = "" if ok else "type is not compatible"
        spec = AccessSpec(target, target_id, kind, (0,), (), 0, ()) if ok else None
        return spec, why
    if kind in ENUMVAL_KINDS:
        tid = skip_mods(target, target_id)
        t = target[tid]
        if not isinstance(t, Enum):
            return None, f"{_describe(target, tid)} is not an enum"
        want = local.accessors[0].name or ""
        ess = core_essential_name(want)
        for i, v in enumerate(t.values):
            if core_essential_name(v.name) == ess:
                acc = Accessor(tid, i, v.name)
                return AccessSpec(target, target_id, kind, (i,), (acc,), 0, ()), ""
        return None, f"no enumerator {ess!r} in {_describe(target, tid)}"
    return _match_fields(local, target, target_id)


def _match_fields(local: AccessSpec, target: Btf, target_id: int) -> tuple[AccessSpec | None, str]:
    raw: list[int] = []
    accessors: list[Accessor] = []
    steps: list[Step] = []
    bit = 0
    tid = target_id
    for i, lacc in enumerate(local.accessors):
        tid = skip_mods(target, tid)
        if lacc.name is not None:
            found = _match_member(local, lacc, target, tid, raw, steps, bit)
            if isinstance(found, str):
                return None, found
            bit, tid, acc = found
            accessors.append(acc)
            continue
        if i > 0:
            t = target[tid]
            if not isinstance(t, Array):
                return None, f"{_describe(target, tid)} is not an array"
            flex = _is_flex(target, accessors[-1], t)
            if not flex and lacc.index >= t.nelems:
                return None, f"index {lacc.index} beyond the {t.nelems} elements of {_describe(target, tid)}"
            container = tid
            tid = skip_mods(target, t.type_id)
        else:
            container = tid
        if len(raw) >= MAX_SPEC_LEN:
            raise InvalidAccessString(f"target access nests deeper than {MAX_SPEC_LEN} steps")
        accessors.append(Accessor(tid, lacc.index, None))
        raw.append(lacc.index)
        step_bits = lacc.index * resolve_size(target, tid) * 8
        bit += step_bits
        steps.append(Step(container, lacc.index, None, step_bits, bit, tid))
    spec = AccessSpec(target, target_id, local.kind, tuple(raw), tuple(accessors), bit, tuple(steps))
    return spec, ""


_MEMBER_INDEX: weakref.WeakKeyDictionary[Any, dict[int, tuple[dict[str, int], tuple[int, ...]]]] = (
    weakref.WeakKeyDictionary())


def _member_index(target: Btf, tid: int, t: Struct) -> tuple[dict[str, int], tuple[int, ...]]:
    """(first index of each member name, indices of anonymous members) of a composite, cached per Btf.

    task_struct has ~250 members and every record on it searches them by
    name: a dict per composite makes that a look-up.
    """
    per_btf = _MEMBER_INDEX.setdefault(target, {})
    hit = per_btf.get(tid)
    if hit is None:
        names: dict[str, int] = {}
        anon = []
        for i, m in enumerate(t.members):
            if m.name:
                names.setdefault(m.name, i)
            else:
                anon.append(i)
        hit = per_btf[tid] = (names, tuple(anon))
    return hit


def _match_member(local: AccessSpec, lacc: Accessor, target: Btf, tid: int, raw: list[int], steps: list[Step],
                  bit: int, depth: int = 0) -> tuple[int, int, Accessor] | str:
    """Find local member ``lacc`` by name in target composite ``tid`` (anonymous members searched).

    Members are considered in order, as libbpf does: anonymous members
    before the named one are searched first.  Appends raw indices and
    steps as it descends; returns (bit offset, member type id, accessor)
    or the reason for failing.
    """
    if depth > MAX_DEPTH:
        raise BtfError("anonymous members nest too deeply", type_id=tid)
    tid = skip_mods(target, tid)
    t = target[tid]
    lt = local.btf[lacc.type_id]
    if not isinstance(lt, Struct) or not 0 <= lacc.index < len(lt.members):
        raise InvalidAccessString(f"local accessor does not name a member of {_describe(local.btf, lacc.type_id)}")
    lm = lt.members[lacc.index]
    if not isinstance(t, Struct):
        return f"{_describe(target, tid)} has no members"
    if len(raw) >= MAX_SPEC_LEN:
        raise InvalidAccessString(f"target access nests deeper than {MAX_SPEC_LEN} steps")
    names, anon = _member_index(target, tid, t)
    direct = names.get(lm.name)
    incompatible = ""
    for i in anon:
        if direct is not None and i > direct:
            break
        m = t.members[i]
        mark = len(raw)
        raw.append(i)
        steps.append(Step(tid, i, m.name, m.bit_offset, bit + m.bit_offset, m.type_id))
        # libbpf keeps searching the outer struct when an anonymous member
        # does not yield a compatible field
        found = _match_member(local, lacc, target, m.type_id, raw, steps, bit + m.bit_offset, depth + 1)
        if not isinstance(found, str):
            return found
        if not found.startswith("no member"):
            incompatible = found
        del raw[mark:], steps[mark:]
    if direct is None:
        return incompatible or f"no member {lm.name!r} in {_describe(target, tid)}"
    m = t.members[direct]
    if not fields_compatible(local.btf, lm.type_id, target, m.type_id):
        return (f"member {m.name!r} of {_describe(target, tid)} has type {target.name_of(m.type_id)}, "
                f"incompatible with local {local.btf.name_of(lm.type_id)}")
    raw.append(direct)
    steps.append(Step(tid, direct, m.name, m.bit_offset, bit + m.bit_offset, m.type_id))
    return bit + m.bit_offset, m.type_id, Accessor(tid, direct, m.name)


# --- rendering ---------------------------------------------------------------------


def spec_path(spec: AccessSpec) -> str:
    """C spelling of a spec's access (see :attr:`AccessSpec.path`)."""
    btf = spec.btf
    root = btf[spec.root_type_id]
    name = root.name or "(anon)"
    if spec.kind in TYPE_KINDS:
        return btf.name_of(spec.root_type_id)
    if spec.kind in ENUMVAL_KINDS:
        acc = spec.accessors[0] if spec.accessors else None
        return f"{name}::{acc.name}" if acc is not None else name
    out = name
    accs = spec.accessors
    if not accs:
        return out
    first = accs[0].index
    rest = accs[1:]
    if first != 0 or not rest or rest[0].name is None:
        out += f"[{first}]"
        sep = "."
    else:
        sep = "->"
    for acc in rest:
        if acc.name is None:
            out += f"[{acc.index}]"
        else:
            out += f"{sep}{acc.name}"
        sep = "."
    return out
