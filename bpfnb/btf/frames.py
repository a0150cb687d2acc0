"""Batches of map entries ⇄ pandas DataFrames, vectorised through numpy.

``frame_from_batch`` is what ``map.to_dataframe()`` runs on the buffers a
``BPF_MAP_LOOKUP_BATCH`` filled: one ``np.frombuffer`` per side with the
BTF-derived structured dtype, then one numpy expression per *column* —
never a Python loop per entry.  ``batch_from_frame`` is the inverse, for
``BPF_MAP_UPDATE_BATCH``.

Column conventions (the same in both directions):

* **Always prefixed**: key columns start with ``key``, value columns with
  ``value``, whether or not names collide, so code written against one map
  keeps working on the next.  A scalar key/value is the column ``key`` /
  ``value``; members nest with dots (``value.stats.packets``); anonymous
  struct/union members are flattened as in C (``value.lo``).
* **Arrays** of up to ``max_array_columns`` elements (default 16) become one
  column per element, ``value.counts[3]`` (``[i][j]`` for ``int m[2][3]``);
  longer arrays become one column of Python lists (``tolist()``: numbers,
  strings for char elements, tuples for struct elements, enum numbers).
  Zero-length (flexible) arrays have no column.
* ``char[n]`` → ``str`` up to the first NUL (UTF-8, ``surrogateescape``).
* **Enums** → ``pandas.Categorical`` whose categories are the enum names
  (declaration order, first name per value) followed by any unknown values
  seen, kept as their numbers.
* **Bitfields** → derived columns named after the member (shifts and masks
  over the raw bytes; sign-extended when signed); their raw ``_bits_<n>``
  storage fields are not shown.
* ``_Bool`` → bool, pointers → uint64, ``__int128`` → Python ints (object
  column), uninterpretable bytes (no BTF, ``long double``) → ``bytes``.
* **Per-CPU** values (``per_cpu=ncpus``; the kernel returns each value
  padded to 8 bytes, once per possible CPU): ``layout="long"`` gives one row
  per (entry, cpu) with a ``cpu`` column after the key columns;
  ``layout="wide"`` one row per entry with ``<column>@cpu<k>`` columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np

from .codec import Codec, PerCpuCodec, RawCodec, per_cpu_stride
from .dtype import ArrayOf, CharArray, Node, Record, Scalar, ScalarKind
from ..errors import ValueEncodingError

if TYPE_CHECKING:
    import pandas

__all__ = ["batch_from_frame", "frame_from_batch"]

AnyCodec = Union[Codec, RawCodec]
Buffer = Union[bytes, bytearray, memoryview, np.ndarray]
Layout = Literal["long", "wide"]
ColumnData = Union[np.ndarray, "pandas.Categorical", list]

MAX_ARRAY_COLUMNS = 16


@dataclass(frozen=True, slots=True)
class _Slot:
    """One column: where its data sits in the root record and what it is.

    ``steps`` walk the structured array (field names, element index tuples);
    ``bit`` is the absolute bit offset in the root record (bitfields and
    raw leaves are read from the byte matrix there); ``bits`` a bitfield's
    width (0 otherwise).
    """

    name: str
    node: Node
    steps: tuple[str | tuple[int, ...], ...]
    bit: int
    bits: int = 0


def _slots(node: Node, name: str, split: Callable[[ArrayOf, str], bool],
           steps: tuple = (), bit: int = 0) -> Iterator[_Slot]:
    """Columns of ``node`` in layout order; ``split`` decides per-element columns."""
    if isinstance(node, Record):
        for f in node.fields:
            sub = f"{name}.{f.name}"
            if f.is_bitfield:
                yield _Slot(sub, f.node, steps, bit + f.bit_offset, f.bit_size)
            else:
                yield from _slots(f.node, sub, split, (*steps, f.name), bit + f.bit_offset)
    elif isinstance(node, ArrayOf):
        if not node.count:
            return
        if not split(node, name):
            yield _Slot(name, node, steps, bit)
            return
        for flat, index in enumerate(np.ndindex(*node.shape)):
            sub = name + "".join(f"[{i}]" for i in index)
            yield from _slots(node.elem, sub, split, (*steps, index), bit + 8 * flat * node.elem.size)
    elif isinstance(node, CharArray) and not node.length:
        return
    else:
        yield _Slot(name, node, steps, bit)


def _view(rec: np.ndarray, steps: tuple) -> np.ndarray:
    v = rec
    for s in steps:
        v = v[s] if isinstance(s, str) else v[(slice(None), *s)]
    return v


# --- buffers -----------------------------------------------------------------------


def _bytes_of(buf: Buffer) -> np.ndarray:
    if isinstance(buf, np.ndarray):
        return np.ascontiguousarray(buf).reshape(-1).view(np.uint8)
    return np.frombuffer(buf, dtype=np.uint8)


def _entries(buf: Buffer, stride: int, count: int | None, what: str) -> tuple[np.ndarray, int]:
    flat = _bytes_of(buf)
    if count is None:
        if stride == 0 or len(flat) % stride:
            raise ValueEncodingError(f"{len(flat)} bytes of {what} are not a whole number of {stride}-byte entries")
        count = len(flat) // stride
    elif len(flat) < count * stride:
        raise ValueEncodingError(f"{len(flat)} bytes of {what} cannot hold {count} entries of {stride} bytes")
    return flat[: count * stride].reshape(count, stride), count


def _as_records(raw: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """(N, itemsize) bytes → (N,) array of ``dtype`` (a view when contiguous)."""
    raw = np.ascontiguousarray(raw)
    if dtype.itemsize == 0:
        return np.zeros(len(raw), dtype=dtype)
    if dtype.subdtype is not None:  # an array at the root: (N, *shape) of its element
        base, shape = dtype.subdtype
        return raw.view(base).reshape((len(raw), *shape))
    return raw.view(dtype).reshape(len(raw))


def _check_byteorder(*codecs: AnyCodec) -> None:
    """Bit extraction here assumes little-endian bitfield numbering."""
    for codec in codecs:
        btf = getattr(codec, "btf", None)
        if btf is not None and btf.byteorder == ">" and any(s.bits for s in _slots(codec.layout, "", _no_split)):
            raise ValueEncodingError("bitfields of big-endian BTF are not supported", path=codec.name)


def _no_split(node: ArrayOf, name: str) -> bool:
    return False


def _unwrap(value_codec: AnyCodec | PerCpuCodec, per_cpu: int | None) -> tuple[AnyCodec, int | None]:
    if isinstance(value_codec, PerCpuCodec):
        if per_cpu is not None and per_cpu != value_codec.ncpus:
            raise ValueEncodingError(f"per_cpu={per_cpu} but the codec is for {value_codec.ncpus} CPUs")
        return value_codec.inner, value_codec.ncpus
    if per_cpu is not None and per_cpu < 1:
        raise ValueEncodingError(f"per_cpu must be at least 1, got {per_cpu}")
    return value_codec, per_cpu


# --- decoding ----------------------------------------------------------------------


def frame_from_batch(keys: Buffer, values: Buffer, key_codec: AnyCodec, value_codec: AnyCodec | PerCpuCodec, *,
                     per_cpu: int | None = None, layout: Layout = "long", count: int | None = None,
                     max_array_columns: int = MAX_ARRAY_COLUMNS) -> pandas.DataFrame:
    """A DataFrame of ``count`` packed keys and values (all of them by default).

    ``values`` holds ``value_size`` bytes per entry, or for per-CPU maps
    ``per_cpu × roundup(value_size, 8)`` (pass ``per_cpu`` or a
    :class:`~bpfnb.btf.codec.PerCpuCodec`).  See the module docstring for
    the column conventions.
    """
    import pandas as pd

    if layout not in ("long", "wide"):
        raise ValueError(f"layout must be 'long' or 'wide', not {layout!r}")
    value_codec, ncpus = _unwrap(value_codec, per_cpu)
    _check_byteorder(key_codec, value_codec)
    kraw, n = _entries(keys, key_codec.size, count, "keys")
    vstride = per_cpu_stride(value_codec.size) * ncpus if ncpus else value_codec.size
    if count is None and _bytes_of(values).size != n * vstride:
        raise ValueEncodingError(f"{n} keys but {_bytes_of(values).size} bytes of values ({vstride} per entry)")
    vraw, _ = _entries(values, vstride, n, "values")

    def split(node: ArrayOf, name: str) -> bool:
        return node.count <= max_array_columns

    columns: dict[str, ColumnData] = {}
    if ncpus and layout == "long":
        kraw = np.repeat(kraw, ncpus, axis=0)
    krec = _as_records(kraw, key_codec.dtype)
    for slot in _slots(key_codec.layout, "key", split):
        columns[slot.name] = _decode_slot(slot, krec, kraw)
    if not ncpus:
        vrec = _as_records(vraw, value_codec.dtype)
        for slot in _slots(value_codec.layout, "value", split):
            columns[slot.name] = _decode_slot(slot, vrec, vraw)
        return pd.DataFrame(columns)
    # Per-CPU: drop each slot's padding, then decode all n × ncpus values at once.
    per = vraw.reshape(n * ncpus, per_cpu_stride(value_codec.size))[:, : value_codec.size]
    per = np.ascontiguousarray(per)
    vrec = _as_records(per, value_codec.dtype)
    if layout == "long":
        columns["cpu"] = np.tile(np.arange(ncpus, dtype=np.int64), n)
    for slot in _slots(value_codec.layout, "value", split):
        data = _decode_slot(slot, vrec, per)
        if layout == "long":
            columns[slot.name] = data
        else:
            for cpu in range(ncpus):
                columns[f"{slot.name}@cpu{cpu}"] = _every(data, cpu, ncpus)
    return pd.DataFrame(columns)


def _every(data: ColumnData, start: int, step: int) -> ColumnData:
    import pandas as pd

    if isinstance(data, pd.Categorical):
        return pd.Categorical.from_codes(data.codes[start::step], dtype=data.dtype)
    return data[start::step]


def _decode_slot(slot: _Slot, rec: np.ndarray, raw: np.ndarray) -> ColumnData:
    node = slot.node
    if slot.bits:
        return _scalar_column(node, _get_bits(raw, slot.bit, slot.bits), slot.bits)  # type: ignore[arg-type]
    if isinstance(node, CharArray):
        return _string_column(_strings(_view(rec, slot.steps), node.length))
    if isinstance(node, ArrayOf):
        return _list_column(node, _view(rec, slot.steps))
    assert isinstance(node, Scalar)
    if node.dtype.kind == "V":
        chunk = raw[:, slot.bit // 8 : slot.bit // 8 + node.size]
        if node.kind in (ScalarKind.INT, ScalarKind.ENUM, ScalarKind.BOOL) and node.size == 16:
            return _int128(chunk, node.signed)
        return np.ascontiguousarray(chunk).view(f"V{node.size}").reshape(len(chunk)).tolist() if node.size else \
            [b""] * len(chunk)
    v = _view(rec, slot.steps)
    if not v.dtype.isnative:
        v = v.astype(v.dtype.newbyteorder("="))
    if node.bits:  # a legacy narrow INT: bits ``shift`` .. ``shift+bits`` of its storage
        u = (v.astype(np.uint64) >> np.uint64(node.shift)) & np.uint64((1 << node.bits) - 1)
        return _scalar_column(node, u, node.bits)
    if node.kind is ScalarKind.ENUM:
        return _enum_column(node, v.view(np.dtype(f"u{node.size}")), 8 * node.size)  # its own bits, no copy
    if node.kind is ScalarKind.BOOL:  # bytes other than 0/1 must not become invalid numpy bools
        return (v.view(np.uint8) if v.dtype.kind == "b" else v) != 0
    return v


def _get_bits(raw: np.ndarray, bit: int, width: int) -> np.ndarray:
    """Unsigned ``width``-bit field at absolute ``bit`` of each row (little-endian)."""
    start, shift = bit // 8, bit % 8
    nbytes = (shift + width + 7) // 8
    out = np.zeros(len(raw), dtype=np.uint64)
    for j in range(nbytes):
        byte = raw[:, start + j].astype(np.uint64)
        pos = 8 * j - shift
        if pos >= 64:
            break
        out |= byte << np.uint64(pos) if pos >= 0 else byte >> np.uint64(-pos)
    if width < 64:
        out &= np.uint64((1 << width) - 1)
    return out


def _scalar_column(node: Scalar, u: np.ndarray, width: int) -> ColumnData:
    """Unsigned bits (uint64) → bool / enum categories / sign-extended ints."""
    if node.kind is ScalarKind.BOOL:
        return u != 0
    if node.kind is ScalarKind.ENUM:
        full = 8 * node.size
        if node.signed and width < full:  # bring negative members' bits up to the full size
            neg = (u >> np.uint64(width - 1)) & np.uint64(1) == 1
            fill = np.uint64(((1 << full) - 1) ^ ((1 << width) - 1))
            u = np.where(neg, u | fill, u)
        return _enum_column(node, u, full)
    if node.signed:
        return _sign_extend(u, width)
    return u.astype(np.dtype(f"u{max(1, _bytes_for(width))}"))


def _bytes_for(width: int) -> int:
    return next(s for s in (1, 2, 4, 8) if 8 * s >= width)


def _sign_extend(u: np.ndarray, width: int) -> np.ndarray:
    s = u.astype(np.int64) if width == 64 else (u ^ np.uint64(1 << (width - 1))).astype(np.int64) - (1 << (width - 1))
    return s.astype(np.dtype(f"i{_bytes_for(width)}"))


def _enum_column(node: Scalar, u: np.ndarray, width: int) -> pandas.Categorical:
    """Codes through a look-up table (enums of ≤ 2 bytes) or a hash index;
    unknown values become extra categories holding their (signed when the
    enum is) numbers."""
    import pandas as pd

    first: dict[int, str] = {}
    for name, value in node.enum_values:
        first.setdefault(value, name)
    names = list(first.values())
    known = np.array(list(first.keys()), dtype=np.uint64)
    # int32 codes (pandas keeps the smallest that fits): a 4M-row column allocates 16 MB, not 3 x 32
    if width <= 16:
        table = np.full(1 << width, -1, dtype=np.int32)
        table[known.astype(np.intp)] = np.arange(len(known))
        codes = table[u]
    else:
        codes = pd.Index(known).get_indexer(u.astype(np.uint64)).astype(np.int32)
    miss = codes < 0
    categories: list[Any] = list(names)
    if miss.any():
        unknown, inverse = np.unique(u[miss], return_inverse=True)
        codes[miss] = len(names) + inverse.reshape(-1)
        numbers = [int(x) for x in unknown.tolist()]
        if node.signed:
            numbers = [x - (1 << width) if x >> (width - 1) else x for x in numbers]
        categories += numbers
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))


def _strings(v: np.ndarray, length: int) -> np.ndarray:
    """``S<n>`` cells → str, cut at the first NUL (C semantics), vectorised."""
    shape = v.shape
    m = np.ascontiguousarray(v).view(np.uint8).reshape(-1, length)
    zero = m == 0
    first = np.where(zero.any(axis=1), zero.argmax(axis=1), length)
    tail = np.arange(length) >= first[:, None]
    if tail.any():
        m = np.where(tail, np.uint8(0), m)
    s = np.ascontiguousarray(m).view(f"S{length}").reshape(shape)
    if (m >= 0x80).any():
        return np.char.decode(s, "utf-8", "surrogateescape")
    return s.astype(f"U{length}")


def _string_column(cells: np.ndarray) -> Any:
    """Text as pandas' Python-backed string dtype: cells keep non-UTF-8 bytes as surrogate
    escapes (``batch_from_frame`` writes them back), which pyarrow-backed strings refuse."""
    import pandas as pd
    return pd.array(cells, dtype=pd.StringDtype("python")) if cells.ndim == 1 else cells


def _int128(chunk: np.ndarray, signed: bool) -> np.ndarray:
    pair = np.ascontiguousarray(chunk).view("<u8").reshape(len(chunk), 2)
    out = pair[:, 0].astype(object) + (pair[:, 1].astype(object) << 64)
    if signed:
        out = np.where(pair[:, 1] >> np.uint64(63) == 1, out - (1 << 128), out)
    return out


def _list_column(node: ArrayOf, v: np.ndarray) -> list:
    if isinstance(node.elem, CharArray):
        return _strings(v, node.elem.length).tolist()
    if not v.dtype.isnative and v.dtype.kind in "iuf":
        v = v.astype(v.dtype.newbyteorder("="))
    return v.tolist()


# --- encoding ----------------------------------------------------------------------


def batch_from_frame(df: pandas.DataFrame, key_codec: AnyCodec, value_codec: AnyCodec | PerCpuCodec, *,
                     per_cpu: int | None = None, layout: Layout = "long") -> tuple[bytes, bytes]:
    """Packed ``(keys, values)`` for a batch update from a frame shaped like
    :func:`frame_from_batch`'s (either array form is accepted).

    Missing columns are zero, as missing members are; unknown columns raise
    :class:`~bpfnb.errors.ValueEncodingError`.  In the long per-CPU layout
    the rows of one key (first-appearance order) give its per-CPU values;
    CPUs without a row are zero.
    """
    if layout not in ("long", "wide"):
        raise ValueError(f"layout must be 'long' or 'wide', not {layout!r}")
    value_codec, ncpus = _unwrap(value_codec, per_cpu)
    _check_byteorder(key_codec, value_codec)
    columns = {str(c): df[c] for c in df.columns}
    used: set[str] = set()
    rows = len(df)
    if not any(c == "key" or c.startswith(("key.", "key[")) for c in columns):
        raise ValueEncodingError(f"no key columns in the frame (columns: {', '.join(list(columns)[:8])})")
    krec, kraw = _encode_root(key_codec, rows, columns, used, "key", "")
    if not ncpus:
        vrec, vraw = _encode_root(value_codec, rows, columns, used, "value", "")
        _check_unused(columns, used)
        return kraw.tobytes(), vraw.tobytes()
    stride = per_cpu_stride(value_codec.size)
    if layout == "wide":
        out = np.zeros((rows, ncpus, stride), dtype=np.uint8)
        for cpu in range(ncpus):
            _, vraw = _encode_root(value_codec, rows, columns, used, "value", f"@cpu{cpu}")
            out[:, cpu, : value_codec.size] = vraw
        _check_unused(columns, used)
        return kraw.tobytes(), out.tobytes()
    if "cpu" not in columns:
        raise ValueEncodingError("the long per-CPU layout needs a 'cpu' column")
    used.add("cpu")
    cpu = _integers(columns["cpu"], "cpu", 0, ncpus - 1)
    _, vraw = _encode_root(value_codec, rows, columns, used, "value", "")
    _check_unused(columns, used)
    if not rows:
        return b"", b""
    entry, first = _group_rows(kraw)
    pairs = entry.astype(np.int64) * ncpus + cpu.astype(np.int64)
    if np.bincount(pairs, minlength=len(first) * ncpus).max() > 1:
        raise ValueEncodingError("the long per-CPU frame has two rows for the same key and cpu")
    out = np.zeros((len(first), ncpus, stride), dtype=np.uint8)
    out[entry, cpu.astype(np.int64), : value_codec.size] = vraw
    return kraw[first].tobytes(), out.tobytes()


def _group_rows(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group equal byte rows: (group of each row, first row of each group),
    groups numbered in order of first appearance.

    Rows are compared as 8-byte words with a stable ``lexsort`` — integer
    sorting, far faster than sorting ``V<n>`` items.
    """
    rows, width = raw.shape
    padded = np.zeros((rows, max(8, -(-width // 8) * 8)), dtype=np.uint8)
    padded[:, :width] = raw
    words = padded.view("<u8")
    order = np.lexsort(words.T[::-1])
    ranked = words[order]
    starts = np.ones(rows, dtype=bool)
    starts[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
    group_sorted = np.cumsum(starts) - 1
    first = order[starts]  # lexsort is stable: the first of a run is its earliest row
    renumber = np.empty(len(first), dtype=np.int64)
    by_appearance = np.argsort(first, kind="stable")
    renumber[by_appearance] = np.arange(len(first))
    group = np.empty(rows, dtype=np.int64)
    group[order] = renumber[group_sorted]
    return group, first[by_appearance]


def _check_unused(columns: dict[str, Any], used: set[str]) -> None:
    unknown = [c for c in columns if c not in used]
    if unknown:
        raise ValueEncodingError(f"column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown[:10]))} "
                                 f"match no key or value member")


def _encode_root(codec: AnyCodec, rows: int, columns: dict[str, Any], used: set[str], prefix: str,
                 suffix: str) -> tuple[np.ndarray, np.ndarray]:
    rec = np.zeros(rows, dtype=codec.dtype)
    raw = rec.view(np.uint8).reshape(rows, codec.size) if codec.size else np.zeros((rows, 0), np.uint8)

    def split(node: ArrayOf, name: str) -> bool:
        return name + suffix not in columns

    for slot in _slots(codec.layout, prefix, split):
        column = columns.get(slot.name + suffix)
        if column is None:
            continue
        used.add(slot.name + suffix)
        _encode_slot(slot, column, rec, raw, slot.name + suffix)
    return rec, raw


def _encode_slot(slot: _Slot, column: Any, rec: np.ndarray, raw: np.ndarray, name: str) -> None:
    node = slot.node
    if slot.bits:
        _set_bits(raw, slot.bit, slot.bits, _scalar_bits(node, column, slot.bits, name))  # type: ignore[arg-type]
        return
    if isinstance(node, CharArray):
        _view(rec, slot.steps)[...] = _encode_strings(column, node.length, name)
        return
    if isinstance(node, ArrayOf):
        _view(rec, slot.steps)[...] = _encode_lists(node, column, len(rec), name)
        return
    assert isinstance(node, Scalar)
    start = slot.bit // 8
    if node.dtype.kind == "V":
        if node.kind is ScalarKind.RAW or node.size != 16:
            raw[:, start : start + node.size] = _encode_raw(column, node.size, name)
        else:
            raw[:, start : start + 16] = _encode_int128(column, node, name)
        return
    target = _view(rec, slot.steps)
    if node.kind is ScalarKind.FLOAT:
        try:
            target[...] = column.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueEncodingError(f"column is not numeric: {exc}", path=name) from None
        return
    if node.kind in (ScalarKind.INT, ScalarKind.PTR) and not node.bits:
        arr = column.to_numpy()
        if arr.dtype.kind in "iu" and np.can_cast(arr.dtype, target.dtype.newbyteorder("="), "safe"):
            target[...] = arr  # every value fits: no range check needed
            return
    bits = _scalar_bits(node, column, node.width, name)
    if node.bits:
        bits = bits << np.uint64(node.shift)
    if node.kind is ScalarKind.BOOL and target.dtype.kind == "b":
        target[...] = bits != 0
    else:
        target[...] = bits.astype(target.dtype.newbyteorder("=")).astype(target.dtype)


def _integers(column: Any, name: str, lo: int, hi: int) -> np.ndarray:
    """A column as int64/uint64 after checking every value is an integer in [lo, hi]."""
    arr = column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)
    if arr.dtype.kind == "O":
        import pandas as pd

        if pd.api.types.infer_dtype(arr, skipna=False) in ("floating", "mixed-integer-float"):
            arr = arr.astype(np.float64)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    elif arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise ValueEncodingError("column holds non-integer numbers (or NaN)", path=name)
    elif arr.dtype.kind not in "iu":
        import pandas as pd

        inferred = pd.api.types.infer_dtype(arr, skipna=False)
        if inferred == "mixed-integer" and all(isinstance(x, (int, np.integer, np.bool_)) for x in arr):
            inferred = "integer"  # ints mixed with bools: both are integers here
        if inferred not in ("integer", "boolean", "empty"):
            raise ValueEncodingError(f"column holds {inferred} values, not integers", path=name)
        try:
            arr = arr.astype(np.int64)
        except (OverflowError, TypeError, ValueError):
            try:
                arr = arr.astype(np.uint64)
            except (OverflowError, TypeError, ValueError) as exc:
                raise ValueEncodingError(f"column is not integer: {exc}", path=name) from None
    if len(arr):
        low, high = int(arr.min()), int(arr.max())
        if low < lo or high > hi:
            bad = low if low < lo else high
            raise ValueEncodingError(f"{bad} out of range ({lo}..{hi})", path=name)
    return arr.astype(np.int64) if lo < 0 else arr.astype(np.uint64)


def _enum_numbers(node: Scalar, column: Any, name: str) -> np.ndarray:
    """Enum names (Categorical, str or mixed) → integers; numbers pass through."""
    import pandas as pd

    by_name = {}
    for member, raw in node.enum_values:
        by_name.setdefault(member, raw - (1 << 8 * node.size) if node.signed and raw >> (8 * node.size - 1) else raw)
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes, uniques = column.cat.codes.to_numpy(), list(column.cat.categories)
    elif column.dtype.kind in "iufb":
        return column.to_numpy()
    else:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        uniques = list(uniques)
    if (codes < 0).any():
        raise ValueEncodingError("column holds missing values", path=name)
    numbers = []
    for u in uniques:
        if isinstance(u, str):
            if u not in by_name:
                raise ValueEncodingError(f"{u!r} is not a member of {node.type_name}", path=name)
            numbers.append(by_name[u])
        elif isinstance(u, (int, np.integer)) and not isinstance(u, bool):
            numbers.append(int(u))
        else:
            raise ValueEncodingError(f"{u!r} is neither a member name nor a number", path=name)
    table = np.array(numbers, dtype=np.int64 if min(numbers, default=0) < 0 else np.uint64)
    return table[codes]


def _scalar_bits(node: Scalar, column: Any, width: int, name: str) -> np.ndarray:
    """Check a column against an int/bool/enum of ``width`` bits → its unsigned bits (uint64)."""
    if node.kind is ScalarKind.ENUM:
        values = _enum_numbers(node, column, name)
        ints = _integers(values, name, -(1 << (width - 1)), (1 << width) - 1)
    elif node.kind is ScalarKind.BOOL:
        ints = _integers(column, name, 0, 1)
    elif node.signed:
        ints = _integers(column, name, -(1 << (width - 1)), (1 << (width - 1)) - 1)
    elif node.kind in (ScalarKind.INT, ScalarKind.PTR):
        ints = _integers(column, name, 0, (1 << width) - 1)
    else:
        raise ValueEncodingError(f"cannot build {node.type_name} from a column", path=name)
    bits = ints.astype(np.uint64)
    return bits & np.uint64((1 << width) - 1) if width < 64 else bits


def _set_bits(raw: np.ndarray, bit: int, width: int, value: np.ndarray) -> None:
    start, shift = bit // 8, bit % 8
    for j in range((shift + width + 7) // 8):
        pos = 8 * j - shift
        lo_bit, hi_bit = max(pos, 0), min(pos + 8, width)  # field bits landing in this byte
        keep = np.uint8(0xFF ^ ((((1 << (hi_bit - lo_bit)) - 1) << (lo_bit - pos)) & 0xFF))
        part = value << np.uint64(-pos) if pos < 0 else value >> np.uint64(pos)
        raw[:, start + j] = (raw[:, start + j] & keep) | (part & np.uint64(0xFF)).astype(np.uint8)


def _encode_strings(column: Any, length: int, name: str) -> np.ndarray:
    if column.isna().any():
        raise ValueEncodingError("column holds missing values", path=name)
    text = column.to_numpy(dtype=str)
    encoded = np.char.encode(text, "utf-8", "surrogateescape") if text.size else np.zeros(0, dtype="S1")
    if encoded.size and (np.char.str_len(encoded) > length).any():
        bad = int(np.flatnonzero(np.char.str_len(encoded) > length)[0])
        raise ValueEncodingError(f"row {bad}: {str(text[bad])!r} does not fit char[{length}]", path=name)
    return encoded


def _encode_lists(node: ArrayOf, column: Any, rows: int, name: str) -> np.ndarray:
    items = column.tolist()
    elem = node.elem
    try:
        if isinstance(elem, CharArray):
            text = np.array(items, dtype=str)
            arr = np.char.encode(text, "utf-8", "surrogateescape")
            if arr.size and (np.char.str_len(arr) > elem.length).any():
                raise ValueEncodingError(f"text does not fit char[{elem.length}]", path=name)
        else:
            arr = np.array(items, dtype=elem.dtype)
    except (OverflowError, TypeError, ValueError) as exc:
        if isinstance(exc, ValueEncodingError):
            raise
        raise ValueEncodingError(f"lists do not fit {node.type_name}: {exc}", path=name) from None
    if arr.shape != (rows, *node.shape):
        raise ValueEncodingError(f"lists of shape {arr.shape[1:]} given, {node.type_name} is {node.shape}", path=name)
    return arr


def _encode_raw(column: Any, size: int, name: str) -> np.ndarray:
    items = [bytes(x) for x in column.tolist()]
    wrong = next((i for i, x in enumerate(items) if len(x) != size), None)
    if wrong is not None:
        raise ValueEncodingError(f"row {wrong}: {len(items[wrong])} bytes given, {size} wanted", path=name)
    return np.frombuffer(b"".join(items), dtype=np.uint8).reshape(len(items), size)


def _encode_int128(column: Any, node: Scalar, name: str) -> np.ndarray:
    values = column.to_numpy(dtype=object)
    lo, hi = (-(1 << 127), (1 << 127) - 1) if node.signed else (0, (1 << 128) - 1)
    for v in (min(values, default=0), max(values, default=0)):
        if not lo <= int(v) <= hi:
            raise ValueEncodingError(f"{int(v)} out of range for {node.type_name}", path=name)
    mask = (1 << 64) - 1
    pair = np.stack([(values & mask).astype(np.uint64), ((values >> 64) & mask).astype(np.uint64)], axis=1)
    return np.ascontiguousarray(pair.astype("<u8")).view(np.uint8).reshape(len(values), 16)

