"""BTF types as value layouts and numpy dtypes.

A map holds fixed-size byte strings; BTF says what they mean.  This module
turns a BTF type into a small *layout* tree (:class:`Scalar`,
:class:`CharArray`, :class:`ArrayOf`, :class:`Record`) that both the
per-value codec (:mod:`bpfnb.btf.codec`) and the vectorised DataFrame path
(:mod:`bpfnb.btf.frames`) walk, and into a numpy dtype, so that a whole
batch of map entries is one ``np.frombuffer`` call away from columns.

Choices, and why:

* **Typedefs and qualifiers vanish**; the C spelling survives in
  ``type_name`` for messages.
* **char arrays are strings** (``S<n>``) when the element, after qualifiers
  but *not* typedefs, is a 1-byte INT called ``char`` or with the CHAR
  encoding.  ``unsigned char``/``__u8`` arrays stay numbers: they are MAC
  addresses and hashes far more often than text (bpftool decides the same).
* **Anonymous struct/union members are flattened** into their parent, as C
  code reads them (``ops.lo`` rather than ``ops.<anon>.lo``).  Only when
  flattening would collide with another name does the member keep its
  nesting under the deterministic name ``_anon<index>``; unnamed non-record
  members get that name too.  Unnamed bitfields are padding and skipped.
* **Unions** are structured dtypes whose fields all overlap; a struct that
  flattens an anonymous union therefore has overlapping fields as well.
* **Bitfields cannot be numpy fields.**  The dtype instead carries their
  storage as a raw unsigned field ``_bits_<byte offset>`` (the compiler's
  storage unit when it is a plain 1/2/4/8-byte integer, else the smallest
  byte window, as ``u1`` sub-array); the layout keeps each bitfield's bit
  offset and width so codecs and frames can extract it with masks.
* **Sizes the dtype cannot express as numbers** (``__int128``, ``long
  double``, odd legacy widths) become raw ``V<n>`` fields; the codecs still
  give Python ints for 128-bit integers.
* ``itemsize`` is always the BTF size, so padding and trailing flexible
  arrays (``char name[]`` → shape ``(0,)``) are honoured.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

import numpy as np

from ..errors import BtfError, ValueEncodingError
from .limits import MAX_DEPTH, MAX_LAYOUT_SIZE
from .types import Array, Enum, Float, Int, IntEncoding, Kind, Ptr, Struct, Var
from .types import Union as BtfUnion

if TYPE_CHECKING:
    from .btf import Btf

__all__ = ["ArrayOf", "CharArray", "Field", "LayoutError", "Node", "Record", "Scalar", "ScalarKind", "dtype_of",
           "layout_of"]

_MAX_DEPTH = MAX_DEPTH


class LayoutError(BtfError, ValueEncodingError):
    """BTF that cannot become a value layout; names the type id.

    Both a :class:`BtfError` (the BTF is at fault: too deep, too big, a
    kind without a value) and a :class:`ValueEncodingError` (no value of
    the type can be encoded), so either ``except`` clause catches it.
    """

    def __init__(self, message: str, *, type_id: int | None = None, offset: int | None = None):
        BtfError.__init__(self, message, type_id=type_id, offset=offset)
        self.path = None

    def __reduce__(self):
        return (_rebuild_layout_error, (str(self), self.type_id, self.offset))


def _rebuild_layout_error(text: str, type_id: int | None, offset: int | None) -> LayoutError:
    err = LayoutError.__new__(LayoutError)
    Exception.__init__(err, text)
    err.type_id, err.offset, err.path = type_id, offset, None
    return err
_QUALIFIERS = frozenset({Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG})


class ScalarKind(enum.Enum):
    """What a fixed-size leaf means; decides its Python and pandas form."""

    INT = "int"
    BOOL = "bool"
    ENUM = "enum"
    FLOAT = "float"
    PTR = "ptr"
    RAW = "raw"  # bytes we cannot interpret (long double, odd widths)


@dataclass(frozen=True, slots=True)
class Scalar:
    """A leaf value: integer, bool, enum, float, pointer or raw bytes.

    ``enum_values`` pairs each name with its value as an unsigned
    ``size``-byte number (BTF stores enum values with varying signedness;
    comparing raw bits makes look-ups independent of that).  ``bits`` and
    ``shift`` describe the rare legacy INT whose value occupies fewer bits
    than its storage.
    """

    kind: ScalarKind
    size: int
    dtype: np.dtype
    type_name: str
    signed: bool = False
    enum_values: tuple[tuple[str, int], ...] = ()
    bits: int = 0
    shift: int = 0

    @property
    def numeric(self) -> bool:
        """True when ``dtype`` is a plain numpy number/bool numpy can convert."""
        if self.bits or self.dtype.kind not in "biuf":
            return False
        return self.kind in (ScalarKind.INT, ScalarKind.FLOAT, ScalarKind.PTR) or self.dtype.kind == "b"

    @property
    def width(self) -> int:
        """Bits of information (``bits`` for legacy narrow INTs)."""
        return self.bits or 8 * self.size


@dataclass(frozen=True, slots=True)
class CharArray:
    """``char name[n]``: text, NUL-padded, stored as ``S<n>``."""

    length: int
    dtype: np.dtype
    type_name: str

    @property
    def size(self) -> int:
        return self.length


@dataclass(frozen=True, slots=True)
class ArrayOf:
    """A (multi-dimensional) array of non-char elements: ``int m[2][3]``."""

    shape: tuple[int, ...]
    elem: Node
    dtype: np.dtype
    type_name: str

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.elem.size

    @property
    def count(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class Field:
    """A member of a :class:`Record`, offsets relative to the record start.

    For a bitfield, ``bit_size`` is its width, ``bit_offset`` its first bit
    and ``node`` the declared type (an int, bool or enum :class:`Scalar`).
    """

    name: str
    node: Node
    bit_offset: int
    bit_size: int = 0

    @property
    def offset(self) -> int:
        return self.bit_offset // 8

    @property
    def is_bitfield(self) -> bool:
        return self.bit_size > 0

    @property
    def bit_end(self) -> int:
        return self.bit_offset + (self.bit_size or 8 * self.node.size)


@dataclass(frozen=True, slots=True)
class Record:
    """A struct or union: named fields (anonymous members flattened).

    ``overlapping`` is true for unions and for structs that flattened one:
    encoders then check that overlapping members agree.
    """

    size: int
    fields: tuple[Field, ...]
    is_union: bool
    dtype: np.dtype
    type_name: str
    overlapping: bool = False
    by_name: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name.update((f.name, f) for f in self.fields)


Node = Union[Scalar, CharArray, ArrayOf, Record]


def layout_of(btf: Btf, type_id: int) -> Node:
    """The layout tree of ``type_id`` (cached per ``Btf``)."""
    cache = _cache_of(btf)
    node = cache.get(type_id)
    if node is None:
        node = cache[type_id] = _Builder(btf, cache).node(type_id, 0)
    return node


def dtype_of(btf: Btf, type_id: int) -> np.dtype:
    """numpy dtype of a BTF type: itemsize = BTF size, offsets = BTF offsets."""
    return layout_of(btf, type_id).dtype


def _cache_of(btf: Btf) -> dict[int, Node]:
    # The model is immutable, so a layout computed once stays right; keep it
    # on the Btf instance (no global registry to leak vmlinux-sized caches).
    cache = getattr(btf, "_layouts", None)
    if cache is None:
        cache = {}
        try:
            btf._layouts = cache  # type: ignore[attr-defined]
        except AttributeError:  # a Btf-like object with __slots__
            pass
    return cache


MAX_LAYOUT_DIM = (1 << 31) - 1


def _int_dtype(size: int, signed: bool, order: str) -> np.dtype | None:
    if size not in (1, 2, 4, 8):
        return None
    return np.dtype(f"{order}{'i' if signed else 'u'}{size}")


class _Builder:
    """Walks BTF once per type; memoises shared sub-layouts."""

    def __init__(self, btf: Btf, cache: dict[int, Node]):
        self.btf = btf
        self.cache = cache
        self.order = btf.byteorder
        self.building: set[int] = set()

    def _fail(self, type_id: int, message: str) -> LayoutError:
        try:
            name = self.btf.name_of(type_id)
        except BtfError:  # the name itself is broken: the id says enough
            name = "?"
        return LayoutError(f"({name}) {message}", type_id=type_id)

    def _check_size(self, size: int, type_id: int, what: str) -> None:
        if size > MAX_LAYOUT_SIZE:
            raise self._fail(type_id, f"{what} of {size} bytes exceeds the {MAX_LAYOUT_SIZE}-byte limit of a value layout")

    def _check_scalar(self, t: Int | Enum | Float) -> None:
        """What :func:`~bpfnb.btf.parser.check_scalars` ensures for parsed BTF, for hand-built BTF too."""
        ok = {Kind.INT: range(1, 17), Kind.FLOAT: (2, 4, 8, 12, 16)}.get(t.kind, (1, 2, 4, 8))
        if t.size not in ok:
            raise self._fail(t.id, f"{t.kind.name} of size {t.size} has no value layout")
        if isinstance(t, Int) and (t.bits > 128 or t.bits + t.offset > 8 * t.size):
            raise self._fail(t.id, f"INT of {t.bits} bits at bit offset {t.offset} does not fit its {t.size} bytes")

    def node(self, type_id: int, depth: int) -> Node:
        if depth > _MAX_DEPTH:
            raise self._fail(type_id, f"nested more than {_MAX_DEPTH} levels deep to lay out (a loop, or hostile BTF)")
        hit = self.cache.get(type_id)
        if hit is not None:
            return hit
        if type_id in self.building:
            raise self._fail(type_id, "contains itself by value")
        self.building.add(type_id)
        try:
            node = self._build(type_id, depth)
        except LayoutError:
            raise  # already names the innermost type at fault
        except BtfError as exc:
            raise self._fail(type_id, str(exc)) from exc
        finally:
            self.building.discard(type_id)
        self.cache[type_id] = node
        return node

    def _build(self, type_id: int, depth: int) -> Node:
        btf = self.btf
        name = btf.name_of(type_id)
        tid = btf.resolve(type_id)
        t = btf[tid]
        if isinstance(t, (Int, Enum, Float)):
            self._check_scalar(t)
        if isinstance(t, Int):
            return self._int(t, name)
        if isinstance(t, Enum):  # Enum64 too
            dt = _int_dtype(t.size, t.signed, self.order) or np.dtype(f"V{t.size}")
            mask = (1 << (8 * t.size)) - 1
            values = tuple((v.name, v.value & mask) for v in t.values)
            return Scalar(ScalarKind.ENUM, t.size, dt, name, t.signed, values)
        if isinstance(t, Float):
            dt = np.dtype(f"{self.order}f{t.size}") if t.size in (2, 4, 8) else np.dtype(f"V{t.size}")
            return Scalar(ScalarKind.FLOAT if dt.kind == "f" else ScalarKind.RAW, t.size, dt, name)
        if isinstance(t, Ptr):
            return Scalar(ScalarKind.PTR, 8, np.dtype(f"{self.order}u8"), name)
        if isinstance(t, Array):
            return self._array(t, name, depth)
        if isinstance(t, Struct):  # Union too
            return self._record(t, name, depth)
        if isinstance(t, Var):  # a global variable's value is its type's
            return self.node(t.type_id, depth + 1)
        raise self._fail(type_id, f"a {t.kind.name} has no value layout")

    def _int(self, t: Int, name: str) -> Scalar:
        narrow = bool(t.offset) or (t.bits and t.bits != 8 * t.size)
        if t.is_bool and t.size == 1 and not narrow:
            return Scalar(ScalarKind.BOOL, 1, np.dtype("?"), name)
        dt = _int_dtype(t.size, t.is_signed and not narrow, self.order)
        kind = ScalarKind.BOOL if t.is_bool else ScalarKind.INT
        if dt is None:
            dt = np.dtype(f"V{t.size}")
            if t.size > 16 or not t.size:
                kind = ScalarKind.RAW
        if narrow:
            return Scalar(kind, t.size, dt, name, t.is_signed, bits=t.bits, shift=t.offset)
        return Scalar(kind, t.size, dt, name, t.is_signed)

    def _is_char(self, elem_id: int) -> bool:
        btf = self.btf
        for _ in range(_MAX_DEPTH):
            if btf.kind_of(elem_id) not in _QUALIFIERS:
                break
            elem_id = btf[elem_id].type_id  # type: ignore[attr-defined]
        t = btf[elem_id]
        return isinstance(t, Int) and t.size == 1 and (bool(t.encoding & IntEncoding.CHAR) or t.name == "char")

    def _array(self, t: Array, name: str, depth: int) -> Node:
        if self._is_char(t.type_id):
            self._check_size(t.nelems, t.id, "char array")
            return CharArray(t.nelems, np.dtype(f"S{t.nelems}") if t.nelems else np.dtype(("S1", (0,))), name)
        shape = [t.nelems]
        elem_id = t.type_id
        for _ in range(_MAX_DEPTH):  # int m[2][3] is an array of arrays in BTF
            inner = self.btf[self.btf.resolve(elem_id)]
            if not isinstance(inner, Array) or self._is_char(inner.type_id):
                break
            shape.append(inner.nelems)
            elem_id = inner.type_id
        elem = self.node(elem_id, depth + 1)
        total = elem.size
        for n in shape:
            total *= n
        self._check_size(total, t.id, "array")
        if max(shape) > MAX_LAYOUT_DIM:  # numpy wants every dimension to fit a C int too
            raise self._fail(t.id, f"array dimension {max(shape)} exceeds {MAX_LAYOUT_DIM}")
        dt = np.dtype((elem.dtype, tuple(shape)))
        return ArrayOf(tuple(shape), elem, dt, name)

    def _record(self, t: Struct, name: str, depth: int) -> Record:
        self._check_size(t.size, t.id, "union" if isinstance(t, BtfUnion) else "struct")
        is_union = isinstance(t, BtfUnion)
        # (field, index of the anonymous member it was flattened from, or -1)
        candidates: list[tuple[Field, int]] = []
        anonymous: dict[int, Field] = {}  # the nested fallback per anonymous member
        for index, m in enumerate(t.members):
            if not m.name and m.bitfield_size:
                continue  # unnamed bitfield: padding
            sub = self.node(m.type_id, depth + 1)
            if m.name:
                candidates.append((Field(m.name, sub, m.bit_offset, m.bitfield_size), -1))
            elif isinstance(sub, Record):
                anonymous[index] = Field(f"_anon{index}", sub, m.bit_offset)
                candidates.extend((Field(f.name, f.node, f.bit_offset + m.bit_offset, f.bit_size), index)
                                  for f in sub.fields)
            else:
                candidates.append((Field(f"_anon{index}", sub, m.bit_offset, m.bitfield_size), -1))
        fields = _resolve_collisions(candidates, anonymous)
        overlapping = is_union or _overlap(fields)
        return Record(t.size, tuple(fields), is_union, self._record_dtype(t, fields, is_union), name, overlapping)

    def _record_dtype(self, t: Struct, fields: list[Field], is_union: bool) -> np.dtype:
        names, formats, offsets = [], [], []
        for f in fields:
            if f.is_bitfield:
                continue
            names.append(f.name)
            formats.append(f.node.dtype)
            offsets.append(f.offset)
        for start, length in _bit_storage(self.btf, t, fields, is_union):
            names.append(f"_bits_{start}")
            formats.append(np.dtype(f"{self.order}u{length}") if length in (1, 2, 4, 8) else np.dtype(("u1", (length,))))
            offsets.append(start)
        order = sorted(range(len(names)), key=offsets.__getitem__)  # storage in place, not last
        names, formats, offsets = [names[i] for i in order], [formats[i] for i in order], [offsets[i] for i in order]
        try:
            return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": t.size})
        except (ValueError, TypeError) as exc:
            raise self._fail(t.id, f"numpy cannot lay it out: {exc}") from exc


# --- helpers for records ---------------------------------------------------------

def _resolve_collisions(candidates: list[tuple[Field, int]], anonymous: dict[int, Field]) -> list[Field]:
    """Flattened names must be unique; an anonymous member whose members
    collide goes back under its ``_anon<index>`` name (valid C never needs it)."""
    first: dict[str, int] = {}
    clash: set[int] = set()
    for f, origin in candidates:
        if f.name in first:
            clash.update(o for o in (origin, first[f.name]) if o >= 0)
        else:
            first[f.name] = origin
    out: list[Field] = []
    for f, origin in candidates:
        if origin in clash:
            if anonymous[origin] not in out:
                out.append(anonymous[origin])
            continue
        out.append(f)
    names: set[str] = set()
    result = []
    for i, f in enumerate(out):
        if f.name in names:  # two named members alike (invalid C): a positional suffix
            f = Field(f"{f.name}__{i}", f.node, f.bit_offset, f.bit_size)
        names.add(f.name)
        result.append(f)
    return result


def _overlap(fields: list[Field]) -> bool:
    spans = sorted((f.bit_offset, f.bit_end) for f in fields if f.bit_end > f.bit_offset)
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


def _bit_storage(btf: Btf, t: Struct, fields: list[Field], is_union: bool) -> list[tuple[int, int]]:
    """Byte windows ``(start, length)`` holding the bitfields, as raw fields.

    Preferred: the compiler's storage unit (the aligned unit of the declared
    type that contains the bitfield), merged where units overlap; when that
    would leave the struct, straddle the unit (packed structs) or cover a
    plain member, the minimal byte window of the bits themselves is used.
    """
    bitfields = [f for f in fields if f.is_bitfield]
    if not bitfields:
        return []

    def minimal(f: Field) -> tuple[int, int]:
        return f.bit_offset // 8, -(-(f.bit_offset + f.bit_size) // 8)

    def unit(f: Field) -> tuple[int, int]:
        u = f.node.size
        if u not in (1, 2, 4, 8):
            return minimal(f)
        start = (f.bit_offset // (8 * u)) * u
        if f.bit_offset + f.bit_size > 8 * (start + u) or start + u > t.size:
            return minimal(f)
        return start, start + u

    def merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        out: list[list[int]] = []
        for s, e in sorted(spans):
            if out and s < out[-1][1]:
                out[-1][1] = max(out[-1][1], e)
            else:
                out.append([s, e])
        return [(s, e) for s, e in out]

    plain = [(f.offset, f.offset + f.node.size) for f in fields if not f.is_bitfield and f.node.size]
    windows = merge([unit(f) for f in bitfields])
    if not is_union and any(s < pe and ps < e for s, e in windows for ps, pe in plain):
        windows = merge([minimal(f) for f in bitfields])
    return [(s, e - s) for s, e in windows]
