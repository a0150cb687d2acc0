"""``Btf``: a parsed BTF blob with lazy type objects and look-ups by name.

Loading only indexes the blob (see :mod:`bpfnb.btf.parser`); ``btf[id]``
decodes one record and caches it, and ``find`` searches the string section
for the name and then the name-offset column, so looking up ``task_struct``
in vmlinux never builds 126k Python objects.
"""

from __future__ import annotations

import errno
import mmap
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BtfError, UnknownName, UnsupportedFeature, did_you_mean
from .limits import MAX_DEPTH, check_depth
from .parser import StringTable, TypeTable, check_scalars, decode, parse_header, scan_types
from .types import (
    MODIFIER_KINDS, Array, BtfType, Datasec, Enum, Float, Int, Kind, Ptr, Struct, Var, Void, essential_name,
)

if TYPE_CHECKING:
    import graphviz
    import pandas

    from .diff import BtfDiff

__all__ = ["Btf", "MemberLocation", "essential_name"]

SYS_BTF = Path("/sys/kernel/btf")
POINTER_SIZE = 8  # BPF is a 64-bit target

_CACHE: dict[tuple, Btf] = {}


def _member_names(btf: Btf, t: Struct) -> list[str]:
    """Member names, anonymous members' included (what ``member_offset`` can reach)."""
    names = []
    for m in t.members:
        inner = btf[btf.resolve(m.type_id)]
        if not m.name and isinstance(inner, Struct):
            names += _member_names(btf, inner)
        elif m.name:
            names.append(m.name)
    return names


def _decompress(path: str, data: bytes, limit: int) -> bytes:
    """Kernel BTF captured from other machines is kept gzip'd or xz'd; at most ``limit`` bytes come out."""
    import gzip
    import io
    import lzma

    try:
        with (gzip.GzipFile(fileobj=io.BytesIO(data)) if data[:2] == b"\x1f\x8b"
              else lzma.LZMAFile(io.BytesIO(data))) as f:
            out = f.read(limit + 1)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise BtfError(f"{path}: cannot decompress: {exc}") from None
    if len(out) > limit:
        raise BtfError(f"{path}: decompresses to more than the {limit}-byte input limit")
    return out


def _no_kernel_btf() -> UnsupportedFeature:
    return UnsupportedFeature(
        "kernel BTF", f"there is no {SYS_BTF / 'vmlinux'}: the kernel is older than 5.4 or built without "
        "CONFIG_DEBUG_INFO_BTF (CO-RE, BTF attach targets and kfuncs need it; "
        "pass a target BTF file instead)", err=errno.ENOENT)


_KINDS = tuple(Kind)
_INDEX_AFTER = 64  # name look-ups before building the full name index
_MAX_CHAIN = MAX_DEPTH  # longer typedef/array chains only occur in corrupt (looping) BTF


@dataclass(frozen=True, slots=True)
class MemberLocation:
    """Where a member path lands: bit offset from the outer type's start."""

    path: str
    type_id: int
    bit_offset: int
    bitfield_size: int

    @property
    def offset(self) -> int:
        return self.bit_offset // 8


class Btf:
    """A BTF type table (a blob, or split BTF on top of ``base``)."""

    def __init__(self, table: TypeTable, strings: StringTable, *, base: Btf | None = None, source: str = "",
                 byteorder: str = "<"):
        self._table = table
        self._strings = strings
        self.base = base
        self.source = source
        self.byteorder = byteorder
        self.start_id = len(base) if base is not None else 1
        self._types: dict[int, BtfType] = {}
        self._names: dict[str, list[int]] | None = None
        self._kinds: bytes | None = None  # one byte per type: its kind code (kind_of)
        self._starts: list[int] | None = None
        self._decoded = 0
        self._materialised = False
        #: the blob, when the writer made it (fix-up's output): writing this Btf again gives these bytes
        self._written: bytes | None = None
        self._lookups = 0
        self._sizes: dict[int, int] = {}
        self._aligns: dict[int, int] = {}
        self._aligning: set[int] = set()

    # -- construction ---------------------------------------------------------

    @classmethod
    def from_bytes(cls, data: bytes, *, base: Btf | None = None, source: str = "") -> Btf:
        """Parse a raw BTF blob (``.BTF`` contents or ``/sys/kernel/btf/*``).

        ``data`` is only read: the sections kept are copied out of it, so a
        read-only mapping (``from_file``'s) can be closed afterwards.
        """
        if not isinstance(data, (bytes, mmap.mmap)):
            data = bytes(data)
        hdr = parse_header(data)
        if base is not None and base.byteorder != hdr.byteorder:
            raise BtfError("split BTF byte order differs from its base", offset=0)
        raw_strings = data[hdr.str_start : hdr.str_start + hdr.str_len]
        StringTable.check(raw_strings, split=base is not None, offset=hdr.str_start)
        strings = StringTable(raw_strings, base._strings if base is not None else None)
        start_id = len(base) if base is not None else 1
        # A copy, not a memoryview: a view kept alive by a traceback in a reference cycle
        # (an error stored by a notebook or Pipeline.errors) with a buffer exported to a
        # struct iterator crashes CPython's garbage collector (gh-77894).  ~1 ms on vmlinux.
        types = data[hdr.type_start : hdr.type_start + hdr.type_len]
        table = scan_types(types, big_endian=hdr.byteorder == ">",
                           offset=hdr.type_start, start_id=start_id)
        check_scalars(table, start_id=start_id, offset=hdr.type_start)
        if table.name_offs.size and int(table.name_offs.max()) >= strings.total:
            bad = int(np.flatnonzero(table.name_offs >= strings.total)[0])
            raise BtfError(f"name offset {int(table.name_offs[bad])} beyond string section ({strings.total} bytes)",
                           type_id=start_id + bad, offset=hdr.type_start + int(table.starts[bad]))
        return cls(table, strings, base=base, source=source, byteorder=hdr.byteorder)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], base: Btf | None = None, *, cache: bool = False,
                  max_size: int | None = None) -> Btf:
        """Raw BTF (gzip'd or xz'd too), or an ELF file's ``.BTF`` section (vmlinux, a ``.bpf.o``).

        Only regular files are read, and at most ``max_size`` bytes of BTF
        (default :data:`bpfnb._files.DEFAULT_MAX_SIZE`; for an ELF file the
        limit applies to its ``.BTF`` section): FIFOs, devices, directories and
        oversized files are a BtfError naming the file, before any read.
        ``cache=True`` reuses an earlier parse of the same file (same device,
        inode, size and mtime) — the model is immutable, so sharing is safe.
        """
        from .._files import DEFAULT_MAX_SIZE, open_regular

        path = os.fspath(path)
        limit = DEFAULT_MAX_SIZE if max_size is None else max_size
        fd, size = open_regular(path, BtfError, max_size=1 << 62)
        with os.fdopen(fd, "rb") as f:
            try:
                st = os.fstat(f.fileno())
                key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, id(base)) if cache else None
                hit = _CACHE.get(key) if key is not None else None
                if hit is not None:
                    return hit
                mapped = _map_raw_btf(f.fileno(), size) if size <= limit and _is_kernel_btf(path) else None
                if mapped is not None:
                    with mapped:
                        btf = _parse_named(cls, mapped, base, path)
                    if key is not None:
                        _CACHE[key] = btf
                    return btf
                magic = f.read(6)
                if magic[:4] == b"\x7fELF":
                    f.seek(0)
                    data = _elf_btf_section(path, f, limit)
                else:
                    if size > limit:
                        raise BtfError(f"{path}: {size} bytes is over the {limit}-byte input limit "
                                       "(max_size= or bpfnb --max-size raises it)")
                    data = magic + f.read(limit + 1 - len(magic))
                    if len(data) > limit:
                        raise BtfError(f"{path}: more than the {limit}-byte input limit")
                    if data[:2] == b"\x1f\x8b" or data[:6] == b"\xfd7zXZ\x00":
                        data = _decompress(path, data, limit)
            except OSError as exc:
                raise BtfError(f"{path}: cannot read: {exc.strerror}") from None
        btf = _parse_named(cls, data, base, path)
        if key is not None:
            _CACHE[key] = btf
        return btf

    @classmethod
    def from_sys_fs(cls, module: str | None = None, *, cache: bool = True) -> Btf:
        """The running kernel's BTF, or a module's split BTF on top of it.

        A kernel without it raises UnsupportedFeature naming the build option
        (``CONFIG_DEBUG_INFO_BTF``), or the version that added the file (5.4).
        """
        if not (SYS_BTF / "vmlinux").exists():
            raise _no_kernel_btf()
        vmlinux = cls.from_file(SYS_BTF / "vmlinux", cache=cache)
        if module is None or module == "vmlinux":
            return vmlinux
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", module):
            raise UnknownName(f"{module!r} is not a kernel module name")
        path = SYS_BTF / module
        if not path.exists():
            raise UnknownName(f"no BTF for kernel module {module!r} under {SYS_BTF}")
        return cls.from_file(path, base=vmlinux, cache=cache)

    @staticmethod
    def clear_cache() -> None:
        """Forget parses kept by ``cache=True`` (e.g. after loading a module)."""
        _CACHE.clear()

    # -- container protocol ---------------------------------------------------

    def __len__(self) -> int:
        """Number of type ids including void (#0) and any base types."""
        return self.start_id + len(self._table.starts)

    def __iter__(self) -> Iterator[BtfType]:
        self.materialise()
        yield self[0]
        if self.base is not None:
            yield from map(self.base.__getitem__, range(1, self.start_id))
        yield from map(self._types.__getitem__, self.own_ids)

    def materialise(self, kinds: Iterable[Kind | str | int] | None = None) -> None:
        """Decode every type (or every type of ``kinds``) now, in bulk (:mod:`bpfnb.btf.bulk`),
        instead of one at a time on access.

        For users of every type: iteration, dumps (a C header needs the
        records, enums and the types they are built from, not vmlinux's 55k
        functions).  Objects already handed out stay the ones ``btf[id]``
        returns.  Malformed BTF is decoded record by record, so the error
        names the first bad type as ``btf[id]`` would.
        """
        if self._materialised:
            return
        wanted = None if kinds is None else frozenset(Kind.parse(k) for k in kinds)
        if self.base is not None:
            self.base.materialise(wanted)
        from .bulk import decode_all

        decoded = decode_all(self._table, self._strings, self.start_id, self, wanted)
        if decoded is None:
            for type_id in (self.own_ids if wanted is None else self.ids_of_kind(*wanted).tolist()):
                self[type_id]
        else:
            decoded.update(self._types)
            self._types = decoded
        self._materialised = wanted is None

    def __getitem__(self, key: int | str) -> BtfType:
        if isinstance(key, str):
            return self.find(key)
        try:
            return self._types[key]
        except KeyError:
            pass
        if key == 0:
            t: BtfType = Void(0, "", self)
        elif key < self.start_id and self.base is not None and key > 0:
            return self.base[key]
        else:
            index = key - self.start_id
            if not 0 <= index < len(self._table.starts):
                raise BtfError(f"type id out of range (0..{len(self) - 1})", type_id=key)
            starts = self._starts
            if starts is None:
                self._decoded += 1
                if self._decoded > 256:  # bulk access: a Python list beats numpy scalar indexing
                    starts = self._starts = self._table.starts.tolist()
            t = decode(self._table, index, key, self._strings, self, None if starts is None else starts[index])
        self._types[key] = t
        return t

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            return bool(self.find_all(key))
        return isinstance(key, int) and 0 <= key < len(self)

    @property
    def own_ids(self) -> range:
        """Ids defined by this blob (not its base)."""
        return range(self.start_id, len(self))

    def kind_of(self, type_id: int) -> Kind:
        """The kind of a type without decoding it."""
        index = type_id - self.start_id
        if index >= 0:
            kinds = self._kinds
            if kinds is None:
                kinds = self._kinds = self._table.kinds.astype(np.uint8).tobytes()  # 0.1 ms, not 4, for vmlinux
            if index < len(kinds):
                return _KINDS[kinds[index]]
        elif type_id == 0:
            return Kind.UNKN
        elif self.base is not None and type_id > 0:
            return self.base.kind_of(type_id)
        raise BtfError(f"type id out of range (0..{len(self) - 1})", type_id=type_id)

    def name_offset(self, type_id: int) -> int:
        """Offset of a type's name in the string section (0: anonymous), no decoding."""
        if type_id < self.start_id:
            return self.base.name_offset(type_id) if self.base is not None and type_id > 0 else 0
        return int(self._table.name_offs[type_id - self.start_id])

    def ids_of_kind(self, *kinds: Kind | str | int) -> np.ndarray:
        """Ids (own, not base) of the given kinds, from the kind column."""
        wanted = [int(Kind.parse(k)) for k in kinds]
        return np.flatnonzero(np.isin(self._table.kinds, wanted)) + self.start_id

    def referenced_ids(self) -> np.ndarray:
        """Every type id some own record refers to (members, params, targets...)."""
        from .parser import referenced_type_ids

        return referenced_type_ids(self._table)

    def kind_counts(self) -> dict[Kind, int]:
        """How many types of each kind this blob defines (base excluded)."""
        counts = np.bincount(self._table.kinds, minlength=len(Kind))
        return {Kind(k): int(c) for k, c in enumerate(counts) if c}

    # -- look-ups -------------------------------------------------------------

    def _ids_named(self, name: str) -> list[int]:
        if self._names is None:
            self._lookups += 1
            if self._lookups > _INDEX_AFTER:  # many look-ups: one index beats a scan each
                self.name_index()
        if self._names is not None:
            return list(self._names.get(name, ()))
        hits = np.flatnonzero(self._strings.matches(self._table.name_offs, name))
        ids = (hits + self.start_id).tolist()
        base = self.base._ids_named(name) if self.base is not None else []
        return base + ids

    def name_index(self) -> dict[str, list[int]]:
        """name → ids, built once (bulk users: C rendering, many ``find`` calls)."""
        if self._names is None:
            names: dict[str, list[int]] = {}
            if self.base is not None:
                for k, v in self.base.name_index().items():
                    names[k] = list(v)
            start = self.start_id
            offs = self._table.name_offs
            named = np.flatnonzero(offs)
            for i, text in zip((named + start).tolist(), self._strings.strings_at(offs[named])):
                entry = names.get(text)
                if entry is None:
                    names[text] = [i]
                else:
                    entry.append(i)
            self._names = names
        return self._names

    def find_all(self, name: str, kind: Kind | str | int | None = None) -> list[BtfType]:
        """Every type called ``name`` (optionally of one kind), in id order."""
        ids = self._ids_named(name)
        if kind is not None:
            k = Kind.parse(kind)
            ids = [i for i in ids if self._kind_fast(i) == k]
        return [self[i] for i in ids]

    def datasec(self, name: str) -> Datasec | None:
        """The DATASEC called ``name`` (``.kconfig``, ``.data.foo``), or None when there is not exactly one.

        For "does the object have this section?": a miss is an answer, not
        an error, and costs no name index.
        """
        found = self.find_all(name, Kind.DATASEC)
        return found[0] if len(found) == 1 else None  # type: ignore[return-value]

    def _kind_fast(self, type_id: int) -> int:
        """kind_of without building the per-type Kind list (one-off look-ups)."""
        index = type_id - self.start_id
        if self._kinds is None and 0 <= index < len(self._table.kinds):
            return int(self._table.kinds[index])
        return self.kind_of(type_id)

    def find(self, name: str, kind: Kind | str | int | None = None) -> BtfType:
        """Exactly one type called ``name``; :class:`UnknownName` lists candidates.

        Without ``kind``, a single definition (struct/union/enum) wins over
        forward declarations of the same name.
        """
        found = self.find_all(name, kind)
        if len(found) > 1 and kind is None:
            defined = [t for t in found if t.kind != Kind.FWD]
            if len(defined) == 1:
                return defined[0]
        if len(found) == 1:
            return found[0]
        what = f"{Kind.parse(kind).name} " if kind is not None else ""
        if not found:
            others = self.find_all(name) if kind is not None else []
            hint = f"; found {', '.join(repr(t) for t in others)}" if others else did_you_mean(name, self.name_index())
            raise UnknownName(f"no {what}type named {name!r} in {self.source or 'BTF'}{hint}")
        raise UnknownName(f"{len(found)} {what}types named {name!r}: "
                          f"{', '.join(repr(t) for t in found[:10])}; pass kind= to choose")

    def resolve(self, type_id: int) -> int:
        """Skip typedef/const/volatile/restrict/type_tag to the underlying id."""
        for _ in range(_MAX_CHAIN):
            if self.kind_of(type_id) not in MODIFIER_KINDS:
                return type_id
            type_id = self[type_id].type_id  # type: ignore[attr-defined]
        raise BtfError(f"modifier chain longer than {_MAX_CHAIN} (a loop, or hostile BTF)", type_id=type_id)

    def size_of(self, type_id: int) -> int:
        """Size in bytes, like ``sizeof``; BtfError for void, functions, fwd."""
        size = self._sizes.get(type_id)
        if size is None:
            size = self._sizes[type_id] = self._size_of(type_id)
        return size

    def _size_of(self, type_id: int) -> int:
        mult = 1
        for _ in range(_MAX_CHAIN):
            t = self[self.resolve(type_id)]
            if isinstance(t, Array):
                mult *= t.nelems
                type_id = t.type_id
            elif isinstance(t, Var):
                type_id = t.type_id
            elif isinstance(t, Ptr):
                return mult * POINTER_SIZE
            elif isinstance(t, (Int, Struct, Enum, Float, Datasec)):
                return mult * t.size
            else:
                raise BtfError(f"{t.kind.name} has no size", type_id=t.id)
        raise BtfError(f"array/var chain longer than {_MAX_CHAIN} (a loop, or hostile BTF)", type_id=type_id)

    def align_of(self, type_id: int) -> int:
        """Natural alignment; 1 for a struct whose member offsets imply ``packed``."""
        return self._align(type_id, 0)

    def _align(self, type_id: int, depth: int) -> int:
        align = self._aligns.get(type_id)
        if align is None:
            if type_id in self._aligning:
                raise BtfError("type contains itself by value", type_id=type_id)
            check_depth(depth, type_id, "alignment: the type")
            self._aligning.add(type_id)
            try:
                align = self._aligns[type_id] = self._align_of(type_id, depth)
            finally:
                self._aligning.discard(type_id)
        return align

    def _align_of(self, type_id: int, depth: int) -> int:
        t = self[self.resolve(type_id)]
        if isinstance(t, Array):
            return self._align(t.type_id, depth + 1)
        if isinstance(t, Ptr):
            return POINTER_SIZE
        if isinstance(t, (Int, Enum, Float)):
            return min(t.size, 8) or 1
        if isinstance(t, Var):
            return self._align(t.type_id, depth + 1)
        if isinstance(t, Struct):
            align = 1
            for m in t.members:
                a = self._align(m.type_id, depth + 1)
                if not m.bitfield_size and m.bit_offset % (8 * a):
                    return 1
                align = max(align, a)
            if t.size % align:
                return 1
            return align
        raise BtfError(f"{t.kind.name} has no alignment", type_id=t.id)

    def name_of(self, type_id: int) -> str:
        """C spelling of a type: ``struct flow_key``, ``__u64 *``, ``char[8]``."""
        from .c import type_name

        return type_name(self, type_id)

    def member_offset(self, type_ref: int | str, path: str) -> MemberLocation:
        """Locate ``"a.b[2].c"`` inside a struct/union (anonymous members see-through)."""
        type_id = type_ref if isinstance(type_ref, int) else self.find(type_ref).id
        bit = 0
        bits = 0
        cur = type_id
        for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
            t = self[self.resolve(cur)]
            if part.startswith("["):
                if not isinstance(t, Array):
                    raise UnknownName(f"{path!r}: {self.name_of(cur)} is not an array")
                idx = int(part[1:-1])
                if idx >= t.nelems and t.nelems:
                    raise UnknownName(f"{path!r}: index {idx} beyond {t.nelems} elements")
                bit += 8 * idx * self.size_of(t.type_id)
                cur, bits = t.type_id, 0
                continue
            if not isinstance(t, Struct):
                raise UnknownName(f"{path!r}: {self.name_of(cur)} has no members")
            hit = self._find_member(t, part)
            if hit is None:
                raise UnknownName(f"{path!r}: {self.name_of(t.id)} has no member {part!r}"
                                  f"{did_you_mean(part, _member_names(self, t))}")
            m_bit, m = hit
            bit += m_bit
            cur, bits = m.type_id, m.bitfield_size
        return MemberLocation(path, cur, bit, bits)

    def _find_member(self, t: Struct, name: str, depth: int = 0):
        check_depth(depth, t.id, "anonymous members: the type")
        for m in t.members:
            if m.name == name:
                return m.bit_offset, m
        for m in t.members:
            if not m.name:
                inner = self[self.resolve(m.type_id)]
                if isinstance(inner, Struct):
                    hit = self._find_member(inner, name, depth + 1)
                    if hit is not None:
                        return m.bit_offset + hit[0], hit[1]
        return None

    # -- views ----------------------------------------------------------------

    def __repr__(self) -> str:
        split = f" split over {len(self.base)} base ids" if self.base is not None else ""
        return f"<Btf {self.source or '(bytes)'!s}: {len(self) - self.start_id} types{split}>"

    def _repr_html_(self) -> str:
        from ..display.btf import btf_html

        return btf_html(self)

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per type defined here: id, kind, name, size, vlen."""
        from ..display.btf import btf_dataframe

        return btf_dataframe(self)

    def type_graph(self, name: str | int, depth: int = 2, *, max_nodes: int | None = 100) -> graphviz.Digraph:
        """The types ``name`` refers to, ``depth`` levels deep, as a graph of at most ``max_nodes`` types."""
        from ..display.btf import type_graph

        return type_graph(self, name, depth=depth, max_nodes=max_nodes)

    def diff(self, other: Btf, *, names: list[str] | None = None) -> BtfDiff:
        """Types added, removed and changed from this BTF to ``other``, matched by kind and name."""
        from .diff import diff_btf

        return diff_btf(self, other, names=names)

    def to_c(self, types: list[int | str] | None = None) -> str:
        """Compilable C: every type (like vmlinux.h) or ``types`` and their dependencies."""
        from .c import render_c

        ids = None if types is None else [t if isinstance(t, int) else self.find(t).id for t in types]
        return render_c(self, ids)

    def to_bytes(self) -> bytes:
        """Serialise back to a raw blob (see :mod:`bpfnb.btf.writer`)."""
        from .writer import write_btf

        return write_btf(self)


def _is_kernel_btf(path: str) -> bool:
    """Is ``path`` one of the kernel's own BTF files?  Only those are mapped: a regular file
    truncated while mapped would kill the process with SIGBUS; the kernel's never shrink."""
    return os.path.dirname(os.path.realpath(path)) == os.fspath(SYS_BTF)


def _map_raw_btf(fd: int, size: int) -> mmap.mmap | None:
    """A read-only private mapping of a raw BTF file, or None (not raw BTF, empty, or not mappable).

    ``/sys/kernel/btf/*`` can be mapped since Linux 6.16, which libbpf
    1.6 uses too: the kernel's pages are mapped instead of copied through
    ``read`` (vmlinux: 5.5 MB, read in 4.4 ms; mapped and its sections
    copied out in ~3).  Older kernels refuse the mapping and the file is read.
    """
    if size < 24:
        return None
    try:
        mapped = mmap.mmap(fd, size, mmap.MAP_PRIVATE, mmap.PROT_READ)
    except (OSError, ValueError):
        return None
    if mapped[:2] not in (b"\x9f\xeb", b"\xeb\x9f"):  # ELF, compressed: read as before
        mapped.close()
        return None
    return mapped


def _parse_named(cls: type[Btf], data: Any, base: Btf | None, path: str) -> Btf:
    try:
        return cls.from_bytes(data, base=base, source=path)
    except BtfError as exc:
        if path in str(exc):
            raise
        raise BtfError(f"{path}: {exc}") from None  # errors name the file


def _elf_btf_section(path: str, f, limit: int) -> bytes:
    """Contents of an ELF file's ``.BTF`` section (pyelftools), at most ``limit`` bytes."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(f)
        sec = elf.get_section_by_name(".BTF")
        if sec is None:
            raise BtfError(f"{path}: ELF file has no .BTF section")
        if sec["sh_type"] == "SHT_NOBITS":
            raise BtfError(f"{path}: the .BTF section has no contents (SHT_NOBITS)")
        if sec["sh_size"] > limit:
            raise BtfError(f"{path}: .BTF section of {sec['sh_size']} bytes is over the {limit}-byte input limit")
        data = sec.data()
    except ELFError as exc:
        raise BtfError(f"{path}: broken ELF: {exc}") from None
    except (ValueError, KeyError, IndexError, AssertionError, UnicodeDecodeError) as exc:
        raise BtfError(f"{path}: broken ELF: {type(exc).__name__}: {exc}") from None
    if len(data) != sec["sh_size"]:
        raise BtfError(f"{path}: .BTF section runs past the end of the file")
    return data
