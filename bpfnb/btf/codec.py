"""Per-value codecs: Python values ⇄ the bytes a map key or value holds.

``Codec(btf, type_id)`` is what a live map uses for ``map[key] = value``:
it checks a Python value against the BTF type *before* any syscall and
packs it; ``decode`` goes the other way.  Bulk conversion of whole batches
goes through numpy instead (:mod:`bpfnb.btf.frames`); both walk the same
layout (:mod:`bpfnb.btf.dtype`), so a frame row equals ``decode`` of its
bytes.

Python forms:

========================  ==================================  =====================================
BTF                       ``decode`` gives                    ``encode`` accepts
========================  ==================================  =====================================
int, pointer              ``int``                             ``int`` in range (``operator.index``)
``_Bool``                 ``bool``                            ``bool``, 0 or 1
enum                      member name, else ``int``           name, or an ``int`` that fits
float                     ``float``                           any real number
``char[n]``               ``str`` up to the first NUL         ``str``/``bytes`` of ≤ n bytes
other arrays              (nested) ``list``                   list/tuple/array, ≤ n items
struct, union             ``dict`` (all members)              ``dict``: missing members are zero;
                                                              a struct also takes a tuple, in member order
bitfield                  ``int`` (sign-extended), enum name  as its declared type, width-checked
anything                                                      ``bytes`` of exactly its size
========================  ==================================  =====================================

Text is UTF-8 with ``surrogateescape``, so any bytes survive a round trip.
Enum integers are accepted in the union of the signed and unsigned range
of their size (BTF's enum signedness is not always reliable).  A union
``dict`` may name several members — ``decode`` returns them all — but
they must agree on every bit both *define* (padding, the bytes after a
string's NUL and members left out define nothing); the same holds for
anonymous unions flattened into a struct.  Two views read many bit
patterns as one value: a ``_Bool`` reads any non-zero byte as ``True``, a
``float`` any NaN as ``nan`` (Python floats come back quiet).  Such a
member agrees when the other members' bits read as its value, so every
decoded union encodes back to its own bytes (a ``_Bool`` read from 0xA3
beside an ``int`` showing 0xA3; a signalling NaN beside its ``u32``).
"""

from __future__ import annotations

import math
import numbers
import operator
import struct
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ValueEncodingError
from .dtype import ArrayOf, CharArray, Field, Node, Record, Scalar, ScalarKind, layout_of

if TYPE_CHECKING:
    from .btf import Btf

__all__ = ["Codec", "PerCpuCodec", "RawCodec", "per_cpu_stride"]

_BYTES = (bytes, bytearray, memoryview)
_MAX_RAW = (1 << 31) - 1  # numpy's itemsize is a C int
_FLOAT_FORMATS = {2: "e", 4: "f", 8: "d"}


def _nest(items: list, shape: tuple[int, ...]) -> list:
    """``items`` (row-major) as nested lists of ``shape``; zero-length dimensions give empty lists."""
    if len(shape) <= 1:
        return items
    inner = 1
    for dim in shape[1:]:
        inner *= dim
    return [_nest(items[i * inner : (i + 1) * inner], shape[1:]) for i in range(shape[0])]


def per_cpu_stride(size: int) -> int:
    """Bytes per CPU slot of a per-CPU map value: ``size`` rounded up to 8."""
    return (size + 7) & ~7


class Codec:
    """Encode/decode one BTF type; ``size`` and ``dtype`` describe its bytes."""

    def __init__(self, btf: Btf, type_id: int | str):
        if isinstance(type_id, str):  # a name: "flow_key", "__u32"
            type_id = btf.find(type_id).id
        self.btf = btf
        self.type_id = type_id
        self.layout: Node = layout_of(btf, type_id)
        self.name = self.layout.type_name
        self.size: int = self.layout.size
        self.dtype: np.dtype = self.layout.dtype
        self._order = "little" if btf.byteorder == "<" else "big"

    def __repr__(self) -> str:
        return f"<Codec {self.name} size={self.size}>"

    # -- the two directions -------------------------------------------------------

    def encode(self, value: Any) -> bytes:
        """Pack ``value``; :class:`ValueEncodingError` names the offending member."""
        if isinstance(value, np.void) and value.dtype == self.dtype:
            return value.tobytes()
        buf = bytearray(self.size)
        self._encode(self.layout, buf, 0, value, self.name)
        return bytes(buf)

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        """Unpack exactly ``size`` bytes."""
        data = bytes(data)
        if len(data) != self.size:
            raise ValueEncodingError(f"{len(data)} bytes given, the type is {self.size} bytes", path=self.name)
        return self._decode(self.layout, data, 0)

    # -- decoding -------------------------------------------------------------------

    def _decode(self, node: Node, data: bytes, off: int) -> Any:
        if isinstance(node, Scalar):
            return self._decode_scalar(node, data, off)
        if isinstance(node, CharArray):
            return _text(data[off : off + node.length])
        if isinstance(node, ArrayOf):
            return self._decode_array(node, data, off)
        out: dict[str, Any] = {}
        for f in node.fields:
            if f.is_bitfield:
                out[f.name] = self._decode_bitfield(f, data, off)
            else:
                out[f.name] = self._decode(f.node, data, off + f.offset)
        return out

    def _decode_scalar(self, node: Scalar, data: bytes, off: int) -> Any:
        chunk = data[off : off + node.size]
        kind = node.kind
        if kind is ScalarKind.FLOAT:
            return struct.unpack(("<" if self._order == "little" else ">") + _FLOAT_FORMATS[node.size], chunk)[0]
        if kind is ScalarKind.RAW:
            return bytes(chunk)
        raw = int.from_bytes(chunk, self._order)
        if node.bits:
            raw = (raw >> node.shift) & ((1 << node.bits) - 1)
        return _interpret(node, raw, node.width)

    def _decode_array(self, node: ArrayOf, data: bytes, off: int) -> list:
        elem = node.elem
        if isinstance(elem, Scalar) and elem.numeric:
            flat = np.frombuffer(data, dtype=elem.dtype, count=node.count, offset=off)
            return flat.reshape(node.shape).tolist()
        items = [self._decode(elem, data, off + i * elem.size) for i in range(node.count)]
        return _nest(items, node.shape)

    def _decode_bitfield(self, f: Field, data: bytes, off: int) -> Any:
        self._require_little(f)
        start = off + f.offset
        end = off + (f.bit_offset + f.bit_size + 7) // 8
        raw = (int.from_bytes(data[start:end], "little") >> (f.bit_offset % 8)) & ((1 << f.bit_size) - 1)
        return _interpret(f.node, raw, f.bit_size)  # type: ignore[arg-type]

    # -- encoding -------------------------------------------------------------------

    def _encode(self, node: Node, buf: bytearray, off: int, value: Any, path: str) -> None:
        if isinstance(value, _BYTES) and not isinstance(node, CharArray) and not (
                isinstance(node, Scalar) and node.kind is ScalarKind.RAW):
            raw = bytes(value)
            if len(raw) != node.size:
                raise ValueEncodingError(f"{len(raw)} bytes given for a {node.size}-byte {node.type_name}", path=path)
            buf[off : off + node.size] = raw
            return
        if isinstance(node, Scalar):
            self._encode_scalar(node, buf, off, value, path)
        elif isinstance(node, CharArray):
            buf[off : off + node.length] = _encode_text(node, value, path).ljust(node.length, b"\0")
        elif isinstance(node, ArrayOf):
            self._encode_array(node, buf, off, value, path, node.shape)
        else:
            self._encode_record(node, buf, off, value, path)

    def _encode_scalar(self, node: Scalar, buf: bytearray, off: int, value: Any, path: str) -> None:
        if node.kind is ScalarKind.FLOAT:
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise _type_error(value, node, path)
            fmt = ("<" if self._order == "little" else ">") + _FLOAT_FORMATS[node.size]
            try:
                struct.pack_into(fmt, buf, off, float(value))
            except (OverflowError, struct.error) as exc:
                raise ValueEncodingError(f"{value!r} does not fit {node.type_name}: {exc}", path=path) from None
            return
        if node.kind is ScalarKind.RAW:
            if not isinstance(value, _BYTES) or len(bytes(value)) != node.size:
                raise ValueEncodingError(f"needs exactly {node.size} bytes for {node.type_name}", path=path)
            buf[off : off + node.size] = bytes(value)
            return
        raw = _to_raw(node, value, node.width, path)
        if node.bits:
            raw <<= node.shift
        buf[off : off + node.size] = raw.to_bytes(node.size, self._order)

    def _encode_array(self, node: ArrayOf, buf: bytearray, off: int, value: Any, path: str,
                      shape: tuple[int, ...]) -> None:
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
            raise ValueEncodingError(f"expected a list of {shape[0]} items for {node.type_name}, "
                                     f"got {type(value).__name__}", path=path)
        if len(value) > shape[0]:
            raise ValueEncodingError(f"{len(value)} items given, {node.type_name} holds {shape[0]}", path=path)
        stride = node.elem.size * int(np.prod(shape[1:], dtype=np.int64))
        for i, item in enumerate(value):
            where = f"{path}[{i}]"
            if len(shape) > 1:
                self._encode_array(node, buf, off + i * stride, item, where, shape[1:])
            else:
                self._encode(node.elem, buf, off + i * stride, item, where)

    def _encode_record(self, node: Record, buf: bytearray, off: int, value: Any, path: str) -> None:
        if isinstance(value, tuple) and not node.overlapping:  # (1, 2) or a namedtuple: members in order
            names = list(node.by_name)
            if len(value) > len(names):
                raise ValueEncodingError(f"{len(value)} items for {node.type_name}, which has {len(names)} "
                                         f"members ({', '.join(names)})", path=path)
            value = dict(zip(names, value))
        if not isinstance(value, Mapping):
            raise ValueEncodingError(f"expected a dict of members for {node.type_name}, "
                                     f"got {type(value).__name__}", path=path)
        unknown = [k for k in value if k not in node.by_name]
        if unknown:
            known = ", ".join(node.by_name) or "none"
            raise ValueEncodingError(f"no member{'s' if len(unknown) > 1 else ''} "
                                     f"{', '.join(map(repr, unknown))} in {node.type_name} (members: {known})",
                                     path=path)
        if not node.overlapping:
            for name, item in value.items():
                f = node.by_name[name]
                if f.is_bitfield:
                    self._set_bits(buf, off, f, _bitfield_raw(f, item, f"{path}.{name}"))
                else:
                    self._encode(f.node, buf, off + f.offset, item, f"{path}.{name}")
            return
        # Overlapping members (unions): each is packed alone, then merged.  A
        # member claims only the bits its value defines (not padding, not the
        # bytes after a string's NUL, not members it leaves out), and claimed
        # bits must agree, or the dict contradicts itself.
        acc = written = 0
        owners: list[tuple[int, int, str]] = []
        # lossy views last: a _Bool reads any non-zero byte as True, a float any NaN as nan,
        # so once exact members have set the bits, such a view only has to *read* as its value
        for name, item in sorted(value.items(), key=lambda kv: _lossy(node.by_name[kv[0]])):
            f = node.by_name[name]
            scratch = bytearray(node.size)
            if f.is_bitfield:
                self._set_bits(scratch, 0, f, _bitfield_raw(f, item, f"{path}.{name}"))
            else:
                self._encode(f.node, scratch, f.offset, item, f"{path}.{name}")
            bits = int.from_bytes(scratch, "little")
            if f.is_bitfield:
                mask = ((1 << f.bit_size) - 1) << f.bit_offset
            else:
                mask = _defined(f.node, item) << f.bit_offset
            conflict = (acc ^ bits) & written & mask
            if conflict and _lossy(f) and _reads_as(self._decode(f.node, acc.to_bytes(node.size, "little"),
                                                                   f.offset), item):
                bits = acc  # the exact members' bits stand; the view agrees with them
                conflict = 0
            if conflict:
                low = (conflict & -conflict).bit_length() - 1
                other = next((n for lo, hi, n in owners if lo <= low < hi), "another member")
                raise ValueEncodingError(f"members {other!r} and {name!r} overlap and disagree "
                                         f"at bit {low} (byte {low // 8}) of {node.type_name}", path=path)
            acc |= bits & mask
            written |= mask
            owners.append((f.bit_offset, f.bit_end, name))
        buf[off : off + node.size] = acc.to_bytes(node.size, "little")

    def _set_bits(self, buf: bytearray, off: int, f: Field, raw: int) -> None:
        self._require_little(f)
        start = off + f.offset
        end = off + (f.bit_offset + f.bit_size + 7) // 8
        shift = f.bit_offset % 8
        word = int.from_bytes(buf[start:end], "little")
        word = (word & ~(((1 << f.bit_size) - 1) << shift)) | (raw << shift)
        buf[start:end] = word.to_bytes(end - start, "little")

    def _require_little(self, f: Field) -> None:
        if self._order != "little":
            raise ValueEncodingError("bitfields of big-endian BTF are not supported", path=f"{self.name}.{f.name}")


class RawCodec:
    """Bytes in, bytes out: for maps without BTF (``decode`` gives ``bytes``)."""

    def __init__(self, size: int):
        if size < 0 or size > _MAX_RAW:
            raise ValueEncodingError(f"raw value size {size} outside 0..{_MAX_RAW}")
        self.size = size
        self.name = f"raw[{size}]"
        self.type_id = 0
        self.layout: Node = Scalar(ScalarKind.RAW, size, np.dtype(f"V{size}"), self.name)
        self.dtype = self.layout.dtype

    def __repr__(self) -> str:
        return f"<RawCodec size={self.size}>"

    def encode(self, value: Any) -> bytes:
        if isinstance(value, np.void) and value.dtype.itemsize == self.size:
            return value.tobytes()
        if not isinstance(value, _BYTES):
            raise ValueEncodingError(f"needs bytes (no BTF to interpret a {type(value).__name__}), got {value!r}",
                                     path=self.name)
        raw = bytes(value)
        if len(raw) != self.size:
            raise ValueEncodingError(f"{len(raw)} bytes given, the map wants {self.size}", path=self.name)
        return raw

    def decode(self, data: bytes | bytearray | memoryview) -> bytes:
        raw = bytes(data)
        if len(raw) != self.size:
            raise ValueEncodingError(f"{len(raw)} bytes given, the map wants {self.size}", path=self.name)
        return raw


class PerCpuCodec:
    """One value per possible CPU, each padded to 8 bytes, as the kernel lays
    out per-CPU map values; ``encode`` takes and ``decode`` gives a list."""

    def __init__(self, inner: Codec | RawCodec, ncpus: int):
        if ncpus < 1:
            raise ValueEncodingError(f"a per-CPU value needs at least one CPU, got {ncpus}")
        self.inner = inner
        self.ncpus = ncpus
        self.stride = per_cpu_stride(inner.size)
        self.size = self.stride * ncpus
        self.name = f"{inner.name} × {ncpus} CPUs"
        padded = np.dtype({"names": ["value"], "formats": [inner.dtype], "offsets": [0], "itemsize": self.stride})
        self.dtype = np.dtype((padded, (ncpus,)))

    def __repr__(self) -> str:
        return f"<PerCpuCodec {self.inner.name} ncpus={self.ncpus} size={self.size}>"

    def encode(self, values: Sequence[Any]) -> bytes:
        if isinstance(values, (str, Mapping, *_BYTES)) or not isinstance(values, Sequence):
            raise ValueEncodingError(f"a per-CPU value needs a list of {self.ncpus} values", path=self.name)
        if len(values) != self.ncpus:
            raise ValueEncodingError(f"{len(values)} values given for {self.ncpus} CPUs", path=self.name)
        pad = b"\0" * (self.stride - self.inner.size)
        return b"".join(self.inner.encode(v) + pad for v in values)

    def decode(self, data: bytes | bytearray | memoryview) -> list[Any]:
        raw = bytes(data)
        if len(raw) != self.size:
            raise ValueEncodingError(f"{len(raw)} bytes given, {self.ncpus} CPUs × {self.stride} is {self.size}",
                                     path=self.name)
        return [self.inner.decode(raw[i : i + self.inner.size]) for i in range(0, self.size, self.stride)]


# --- helpers -------------------------------------------------------------------------


def _span(nbytes: int) -> int:
    return (1 << (8 * nbytes)) - 1


def _lossy(f: Field) -> bool:
    """A member whose decoded value stands for many bit patterns: a _Bool or a float (NaN)."""
    return not f.is_bitfield and isinstance(f.node, Scalar) and f.node.kind in (ScalarKind.BOOL, ScalarKind.FLOAT)


def _reads_as(read: Any, item: Any) -> bool:
    """Whether a lossy view decoded from other members' bits is ``item``: the same bool, or both NaN."""
    if isinstance(read, bool):
        return isinstance(item, (bool, np.bool_, int, np.integer)) and item in (0, 1) and read is bool(item)
    try:
        return math.isnan(read) and math.isnan(float(item))
    except (TypeError, ValueError):
        return False


def _defined(node: Node, value: Any) -> int:
    """Bit mask (from the node's start) of what encoding ``value`` defines."""
    if isinstance(value, _BYTES) and not isinstance(node, CharArray):
        return _span(node.size)
    if isinstance(node, Scalar):
        return ((1 << node.bits) - 1) << node.shift if node.bits else _span(node.size)
    if isinstance(node, CharArray):
        raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
        return _span(min(len(raw) + 1, node.length))
    if isinstance(node, ArrayOf):
        if isinstance(value, np.ndarray):
            value = value.tolist()
        return _defined_items(node, value, node.shape)
    mask = 0
    for name, item in value.items():
        f = node.by_name[name]
        if f.is_bitfield:
            mask |= ((1 << f.bit_size) - 1) << f.bit_offset
        else:
            mask |= _defined(f.node, item) << f.bit_offset
    return mask


def _defined_items(node: ArrayOf, value: Sequence[Any], shape: tuple[int, ...]) -> int:
    stride = 8 * node.elem.size * int(np.prod(shape[1:], dtype=np.int64))
    mask = 0
    for i, item in enumerate(value):
        inner = _defined_items(node, item, shape[1:]) if len(shape) > 1 else _defined(node.elem, item)
        mask |= inner << (i * stride)
    return mask



def _text(chunk: bytes) -> str:
    return chunk.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _encode_text(node: CharArray, value: Any, path: str) -> bytes:
    if isinstance(value, str):
        if "\0" in value:
            raise ValueEncodingError(f"text for {node.type_name} contains a NUL", path=path)
        raw = value.encode("utf-8", "surrogateescape")
    elif isinstance(value, _BYTES):
        raw = bytes(value)
    else:
        raise ValueEncodingError(f"expected str for {node.type_name}, got {type(value).__name__}", path=path)
    if len(raw) > node.length:
        raise ValueEncodingError(f"{len(raw)} bytes of text do not fit {node.type_name}", path=path)
    return raw


def _interpret(node: Scalar, raw: int, width: int) -> Any:
    """Unsigned ``raw`` bits → the Python value (bool, enum name, signed int)."""
    kind = node.kind
    if kind is ScalarKind.BOOL:
        return raw != 0
    if kind is ScalarKind.ENUM:
        for name, value in node.enum_values:
            if value == raw or (width < 8 * node.size and value == raw | _sign_fill(node, raw, width)):
                return name
    if node.signed and raw >> (width - 1):
        raw -= 1 << width
    return raw


def _sign_fill(node: Scalar, raw: int, width: int) -> int:
    # A signed enum bitfield's bits match a negative member only once the
    # bits above the field are filled with its sign.
    if node.signed and raw >> (width - 1):
        return ((1 << (8 * node.size)) - 1) ^ ((1 << width) - 1)
    return 0


def _type_error(value: Any, node: Scalar, path: str) -> ValueEncodingError:
    return ValueEncodingError(f"{type(value).__name__} {value!r} cannot be a {node.type_name}", path=path)


def _to_raw(node: Scalar, value: Any, width: int, path: str) -> int:
    """Check ``value`` against the scalar (``width`` bits) and give its unsigned bits."""
    kind = node.kind
    if kind is ScalarKind.ENUM and isinstance(value, str):
        for name, raw in node.enum_values:
            if name == value:
                number = raw - (1 << 8 * node.size) if node.signed and raw >> (8 * node.size - 1) else raw
                value = number
                break
        else:
            names = ", ".join(n for n, _ in node.enum_values[:12])
            more = "…" if len(node.enum_values) > 12 else ""
            raise ValueEncodingError(f"{value!r} is not a member of {node.type_name} ({names}{more})", path=path)
    if kind is ScalarKind.BOOL:
        if isinstance(value, (bool, np.bool_)):
            return int(bool(value))
        if isinstance(value, (int, np.integer)) and value in (0, 1):
            return int(value)
        raise ValueEncodingError(f"{value!r} is not a bool", path=path)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        value = int(value)  # 3.0 from a float column is 3; 3.5 is not
    try:
        number = operator.index(value)
    except TypeError:
        raise _type_error(value, node, path) from None
    if kind is ScalarKind.ENUM:
        lo, hi = -(1 << (width - 1)), (1 << width) - 1
    elif node.signed:
        lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    else:
        lo, hi = 0, (1 << width) - 1
    if not lo <= number <= hi:
        what = f"{width}-bit bitfield of {node.type_name}" if width < 8 * node.size else node.type_name
        raise ValueEncodingError(f"{number} out of range for {what} ({lo}..{hi})", path=path)
    return number & ((1 << width) - 1)


def _bitfield_raw(f: Field, value: Any, path: str) -> int:
    node = f.node
    if not isinstance(node, Scalar) or node.kind in (ScalarKind.FLOAT, ScalarKind.RAW):
        raise ValueEncodingError(f"bitfield of unsupported type {node.type_name}", path=path)
    return _to_raw(node, value, f.bit_size, path)
