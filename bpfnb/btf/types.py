"""The BTF type model: one small frozen dataclass per ``BTF_KIND_*``.

Types refer to each other by id (``type_id``), never by object, so a type
can be decoded on its own from one record of the type section; the owning
:class:`~bpfnb.btf.Btf` resolves ids.  Each object keeps a hidden back
reference to that ``Btf`` (excluded from equality) only so that notebook
views can render referenced names.

Kinds with the same shape share a class hierarchy, so ``isinstance`` asks
about shape and ``.kind`` about identity: ``Union`` is a ``Struct``,
``Enum64`` an ``Enum``, and ``Volatile``/``Const``/``Restrict``/``TypeTag``
are ``Typedef`` subclasses (each is "a name or qualifier on ``type_id``").
Test ``t.kind == Kind.TYPEDEF`` for a real typedef.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pandas

    from .btf import Btf

__all__ = [
    "Array",
    "BtfType",
    "Const",
    "Datasec",
    "DeclTag",
    "Enum",
    "Enum64",
    "EnumValue",
    "Float",
    "Func",
    "FuncProto",
    "Fwd",
    "Int",
    "IntEncoding",
    "Kind",
    "Linkage",
    "Member",
    "Param",
    "Ptr",
    "Restrict",
    "Struct",
    "TypeTag",
    "Typedef",
    "Union",
    "Var",
    "VarSecinfo",
    "Void",
    "Volatile",
    "essential_name",
]


class Kind(enum.IntEnum):
    """``BTF_KIND_*``, numbered as in ``include/uapi/linux/btf.h``."""

    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19

    @classmethod
    def parse(cls, value: Kind | str | int) -> Kind:
        """Accept ``Kind.STRUCT``, ``"STRUCT"``, ``"struct"``, ``"func_proto"`` or ``4``."""
        if isinstance(value, Kind):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[value.strip().upper().replace("-", "_")]
        except KeyError:
            raise ValueError(f"unknown BTF kind {value!r}; one of {', '.join(k.name for k in cls)}") from None


class Linkage(enum.IntEnum):
    """Linkage of a FUNC or VAR (``BTF_FUNC_*`` / ``BTF_VAR_*``)."""

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


class IntEncoding(enum.IntFlag):
    """``BTF_INT_ENCODING`` bits of an INT (bitwise: a ``char`` may be signed)."""

    NONE = 0
    SIGNED = 1
    CHAR = 2
    BOOL = 4


def essential_name(name: str) -> str:
    """``task_struct___v2`` → ``task_struct``: CO-RE ignores ``___flavor`` suffixes."""
    cut = name.find("___")
    return name if cut <= 0 else name[:cut]


@dataclass(frozen=True, slots=True)
class BtfType:
    """Common base: ``id``, ``name`` ("" when anonymous) and a ``kind`` class constant."""

    kind: ClassVar[Kind] = Kind.UNKN
    id: int
    name: str

    @property
    def anonymous(self) -> bool:
        return not self.name

    def _owner(self) -> Btf:
        btf = getattr(self, "btf", None)
        if btf is None:
            raise ValueError(f"{type(self).__name__} #{self.id} is not attached to a Btf")
        return btf

    def c_decl(self) -> str:
        """This type as C (a full definition for struct/union/enum/typedef)."""
        from .c import render_type_definition

        return render_type_definition(self._owner(), self.id)

    def _repr_html_(self) -> str:
        from ..display.btf import type_html

        return type_html(self._owner(), self)

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<{self.kind.name}{label} #{self.id}>"


# ``btf`` is declared on each concrete class (last, defaulted, excluded from
# equality) because slotted dataclass inheritance wants defaults after
# non-defaults.
def _btf_field() -> Any:
    return field(default=None, compare=False, repr=False, hash=False)


@dataclass(frozen=True, slots=True, repr=False)
class Void(BtfType):
    """Type id 0: ``void``."""

    kind: ClassVar[Kind] = Kind.UNKN
    btf: Btf | None = _btf_field()


@dataclass(frozen=True, slots=True, repr=False)
class Int(BtfType):
    kind: ClassVar[Kind] = Kind.INT
    size: int
    encoding: IntEncoding
    offset: int
    bits: int
    btf: Btf | None = _btf_field()

    @property
    def is_signed(self) -> bool:
        return bool(self.encoding & IntEncoding.SIGNED)

    @property
    def is_char(self) -> bool:
        return bool(self.encoding & IntEncoding.CHAR)

    @property
    def is_bool(self) -> bool:
        return bool(self.encoding & IntEncoding.BOOL)


@dataclass(frozen=True, slots=True, repr=False)
class Ptr(BtfType):
    kind: ClassVar[Kind] = Kind.PTR
    type_id: int
    btf: Btf | None = _btf_field()


@dataclass(frozen=True, slots=True, repr=False)
class Array(BtfType):
    kind: ClassVar[Kind] = Kind.ARRAY
    type_id: int
    index_type_id: int
    nelems: int
    btf: Btf | None = _btf_field()


@dataclass(frozen=True, slots=True)
class Member:
    """A struct/union member; ``bitfield_size`` is 0 unless a bitfield."""

    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int = 0

    @property
    def offset(self) -> int:
        """Byte offset (of the containing storage unit for bitfields)."""
        return self.bit_offset // 8


@dataclass(frozen=True, slots=True, repr=False)
class Struct(BtfType):
    kind: ClassVar[Kind] = Kind.STRUCT
    size: int
    members: tuple[Member, ...]
    btf: Btf | None = _btf_field()

    def member(self, name: str) -> Member:
        """A direct member by name (see ``Btf.member_offset`` for paths)."""
        for m in self.members:
            if m.name == name:
                return m
        from ..errors import UnknownName, did_you_mean

        raise UnknownName(f"{self.kind.name.lower()} {self.name or '(anon)'} #{self.id} has no member {name!r}"
                          f"{did_you_mean(name, (m.name for m in self.members))}")

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per member: name, type, offset, size, bit offset/size."""
        from ..display.btf import members_dataframe

        return members_dataframe(self._owner(), self)


@dataclass(frozen=True, slots=True, repr=False)
class Union(Struct):
    """A union: a ``Struct`` whose members all start at bit 0 (usually)."""

    kind: ClassVar[Kind] = Kind.UNION


@dataclass(frozen=True, slots=True)
class EnumValue:
    name: str
    value: int


@dataclass(frozen=True, slots=True, repr=False)
class Enum(BtfType):
    kind: ClassVar[Kind] = Kind.ENUM
    size: int
    signed: bool
    values: tuple[EnumValue, ...]
    btf: Btf | None = _btf_field()

    def as_dict(self) -> dict[str, int]:
        return {v.name: v.value for v in self.values}


@dataclass(frozen=True, slots=True, repr=False)
class Enum64(Enum):
    """An enum with 64-bit values (``BTF_KIND_ENUM64``); same fields as ``Enum``."""

    kind: ClassVar[Kind] = Kind.ENUM64


@dataclass(frozen=True, slots=True, repr=False)
class Fwd(BtfType):
    kind: ClassVar[Kind] = Kind.FWD
    is_union: bool
    btf: Btf | None = _btf_field()


@dataclass(frozen=True, slots=True, repr=False)
class Typedef(BtfType):
    """``typedef``, and (as subclasses) the qualifiers: all wrap ``type_id``."""

    kind: ClassVar[Kind] = Kind.TYPEDEF
    type_id: int
    btf: Btf | None = _btf_field()


@dataclass(frozen=True, slots=True, repr=False)
class Volatile(Typedef):
    kind: ClassVar[Kind] = Kind.VOLATILE


@dataclass(frozen=True, slots=True, repr=False)
class Const(Typedef):
    kind: ClassVar[Kind] = Kind.CONST


@dataclass(frozen=True, slots=True, repr=False)
class Restrict(Typedef):
    kind: ClassVar[Kind] = Kind.RESTRICT


@dataclass(frozen=True, slots=True, repr=False)
class TypeTag(Typedef):
    """``btf_type_tag``; ``attribute`` (kind_flag) marks an ``__attribute__`` form."""

    kind: ClassVar[Kind] = Kind.TYPE_TAG
    attribute: bool = False


@dataclass(frozen=True, slots=True, repr=False)
class Func(BtfType):
    """A function: ``type_id`` is its FUNC_PROTO."""

    kind: ClassVar[Kind] = Kind.FUNC
    type_id: int
    linkage: Linkage
    btf: Btf | None = _btf_field()

    @property
    def proto_id(self) -> int:
        return self.type_id


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type_id: int


@dataclass(frozen=True, slots=True, repr=False)
class FuncProto(BtfType):
    """A signature; a trailing ``(void)`` parameter in BTF means ``variadic``."""

    kind: ClassVar[Kind] = Kind.FUNC_PROTO
    return_type_id: int
    params: tuple[Param, ...]
    variadic: bool
    btf: Btf | None = _btf_field()


@dataclass(frozen=True, slots=True, repr=False)
class Var(BtfType):
    kind: ClassVar[Kind] = Kind.VAR
    type_id: int
    linkage: Linkage
    btf: Btf | None = _btf_field()


@dataclass(frozen=True, slots=True)
class VarSecinfo:
    type_id: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True, repr=False)
class Datasec(BtfType):
    kind: ClassVar[Kind] = Kind.DATASEC
    size: int
    vars: tuple[VarSecinfo, ...]
    btf: Btf | None = _btf_field()


@dataclass(frozen=True, slots=True, repr=False)
class Float(BtfType):
    kind: ClassVar[Kind] = Kind.FLOAT
    size: int
    btf: Btf | None = _btf_field()


@dataclass(frozen=True, slots=True, repr=False)
class DeclTag(BtfType):
    """A tag on a type (``component_idx == -1``) or on its member/param number."""

    kind: ClassVar[Kind] = Kind.DECL_TAG
    type_id: int
    component_idx: int
    btf: Btf | None = _btf_field()
    attribute: bool = False


#: Concrete class per kind, for the decoder and the writer.
CLASS_OF_KIND: dict[Kind, type[BtfType]] = {
    cls.kind: cls
    for cls in (Int, Ptr, Array, Struct, Union, Enum, Fwd, Typedef, Volatile, Const, Restrict,
                Func, FuncProto, Var, Datasec, Float, DeclTag, TypeTag, Enum64)
}

#: Kinds that merely qualify or rename another type.
MODIFIER_KINDS = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})
