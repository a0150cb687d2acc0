"""Live maps and the *maps* stage of the loader: MapSpec → kernel map.

:class:`Map` is the generic live map: it owns one :class:`~bpfnb.kernel.fd.Fd`
and speaks raw bytes (typed views per map kind and DataFrames build on it).
The creation functions turn the pure specs of :mod:`bpfnb.obj` into maps
the way libbpf's ``bpf_object__create_maps`` does, in small steps that each
return a result object:

* :func:`create_map` — one spec: BTF key/value ids (retried without them
  when the kernel refuses the BTF for this map, and recorded), the inner
  template of a map-in-map, pinning by name under a ``pin_root``.
* :func:`create_data_map` — one global-data section: initial bytes with
  ``set_global`` overrides encoded through the variable's BTF type,
  ``.rodata`` frozen.
* :func:`create_maps` — every map of an object, all or nothing: a failure
  half-way closes what was created and removes the pins this call made.

Names from object files never become paths unchecked: a pinned map's name
must be one safe path component (:class:`~bpfnb.errors.UnsafeName`), and
the path is verified to stay inside ``pin_root``.
"""

from __future__ import annotations

import errno as _errno
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import (
    KernelError,
    MapError,
    NotPrivileged,
    PinMismatch,
    UnknownName,
    UnsafeName,
    UnsupportedFeature,
    ValueEncodingError,
)
from ..obj.maps import MapSpec, PinningType
from ..obj.sections import SectionKind
from ..uapi import MapType
from .fd import Fd
from .info import MapInfo, map_info
from .owned import Pinnable
from .syscall import (
    BPF_ANY,
    BPF_F_RDONLY_PROG,
    BPF_OBJ_NAME_LEN,
    map_create,
    map_delete_elem,
    map_freeze,
    map_get_fd_by_id,
    map_get_next_key,
    map_lookup_elem,
    map_update_elem,
    obj_get,
    possible_cpus,
    sanitize_name,
)

if TYPE_CHECKING:
    import pandas as pd

    from ..btf import Btf
    from ..obj import Object
    from ..obj.data import DataSection
    from .features import Features

__all__ = [
    "CreatedMap",
    "Map",
    "MapsResult",
    "create_data_map",
    "create_map",
    "create_maps",
    "internal_map_name",
    "object_name",
    "pin_path",
]

log = logging.getLogger(__name__)

_PERCPU = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE})
#: Map types created without BTF key/value types, as libbpf does: their values
#: are fds or kernel objects, and the kernel refuses (or ignores) BTF for them.
_NO_BTF_TYPES = frozenset({
    MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY, MapType.STACK_TRACE, MapType.ARRAY_OF_MAPS,
    MapType.HASH_OF_MAPS, MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP, MapType.SOCKMAP,
    MapType.SOCKHASH, MapType.QUEUE, MapType.STACK,
})
#: errnos meaning "this kernel does not know that map type / flag".
_UNSUPPORTED_ERRNOS = frozenset({_errno.EINVAL, _errno.EOPNOTSUPP, 524})


def _type_label(map_type: Any) -> str:
    try:
        return MapType(int(map_type)).name.lower()
    except (ValueError, TypeError):
        return f"type {map_type}"


# --- the live map ------------------------------------------------------------------


class Map(Pinnable):
    """One kernel map: owns its fd; keys and values are raw bytes.

    The shape (type, key and value size) is read from the kernel once at
    construction, because every lookup needs the value size to size its
    buffer; ``info()`` asks again for everything else.  Per-CPU maps return
    one 8-byte-aligned slot per *possible* CPU, concatenated.
    """

    def __init__(self, fd: Fd, *, spec: MapSpec | None = None, name: str | None = None,
                 pinned: str | None = None):
        if not isinstance(fd, Fd):
            raise TypeError(f"Map needs an owned Fd, got {fd!r} (use Map.from_fd for a plain number)")
        self.fd = fd
        self.spec = spec
        info = map_info(fd)
        self.name = name or (spec.name if spec is not None else info.name)
        self.kernel_name = info.name
        self.map_type = info.type
        self.key_size = info.key_size
        self.value_size = info.value_size
        self.max_entries = info.max_entries
        self.map_flags = info.map_flags
        #: Where this map is pinned (set by :meth:`pin`, or when created/reused by name).
        self.pinned = pinned

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def from_id(cls, map_id: int) -> Map:
        """Open the map with this id (``bpftool map show id N``)."""
        return cls._adopt(map_get_fd_by_id(map_id))

    @classmethod
    def from_pin(cls, path: str | os.PathLike[str]) -> Map:
        """Open the map pinned at ``path``; MapError when something else is pinned there."""
        return cls._open_pin(path)

    @classmethod
    def from_fd(cls, fd: Fd | int) -> Map:
        """Wrap an ``Fd`` (ownership passes to the Map) or a plain number (duplicated)."""
        if isinstance(fd, Fd):
            return cls._adopt(fd)
        import fcntl

        return cls._adopt(Fd(fcntl.fcntl(int(fd), fcntl.F_DUPFD_CLOEXEC, 3), "map"))

    _pin_kind = "map"

    @classmethod
    def _wrong_pin(cls, path: str, kind: str) -> MapError:
        return MapError(f"{path} holds a pinned {kind}, not a map")

    # -- state ------------------------------------------------------------------------------

    def info(self) -> MapInfo:
        """What the kernel says about the map now (id, flags, BTF ids...)."""
        return map_info(self.fd)

    @property
    def id(self) -> int:
        return self.info().id

    @property
    def is_per_cpu(self) -> bool:
        return self.map_type in _PERCPU

    @property
    def value_buffer_size(self) -> int:
        """Bytes a lookup returns: ``value_size``, or one aligned slot per possible CPU."""
        if self.is_per_cpu:
            return ((self.value_size + 7) & ~7) * possible_cpus()
        return self.value_size

    # -- raw operations ----------------------------------------------------------------------

    def _raw(self, data: Any, size: int, what: str) -> Any:
        """Check a raw key/value before the syscall: bytes-like and exactly ``size`` bytes."""
        if data is None and size == 0:
            return None  # queue/stack maps have no key
        try:
            n = memoryview(data).nbytes
        except TypeError:
            raise ValueEncodingError(
                f"map {self.name!r}: a raw {what} is {size} bytes (bytes, bytearray, numpy buffer), not "
                f"{type(data).__name__}; typed access: bpfnb.maps.typed(map)"
            ) from None
        if n != size:
            raise ValueEncodingError(f"map {self.name!r}: {what} is {n} bytes, the map's {what} size is {size}")
        return data

    def lookup(self, key: Any, flags: int = 0) -> bytes | None:
        """The value stored under ``key`` (bytes-like), or None when absent."""
        return map_lookup_elem(self.fd, self._raw(key, self.key_size, "key"), self.value_buffer_size, flags)

    def update(self, key: Any, value: Any, flags: int = BPF_ANY) -> None:
        """Store ``value`` under ``key`` (``BPF_ANY``/``BPF_NOEXIST``/``BPF_EXIST``)."""
        map_update_elem(self.fd, self._raw(key, self.key_size, "key"), self._raw(value, self.value_buffer_size, "value"), flags)

    def delete(self, key: Any) -> bool:
        """Remove ``key``; False when it was not there."""
        return map_delete_elem(self.fd, self._raw(key, self.key_size, "key"))

    def keys(self) -> Iterator[bytes]:
        """Every key, by BPF_MAP_GET_NEXT_KEY (a snapshot-free walk, as bpftool's)."""
        key: bytes | None = None
        while (key := map_get_next_key(self.fd, key, self.key_size)) is not None:
            yield key

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs; keys deleted during the walk are skipped."""
        for key in self.keys():
            value = self.lookup(key)
            if value is not None:
                yield key, value

    def freeze(self) -> None:
        """No more writes from user space (programs keep theirs unless RDONLY_PROG)."""
        map_freeze(self.fd)

    # -- pinning and lifetime -----------------------------------------------------------------

    def _not_pinned(self) -> MapError:
        return MapError(f"map {self.name!r} is not pinned (by this object)")

    # -- views ------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        state = " closed" if self.closed else (" pinned" if self.pinned else "")
        flags = f" flags={self.map_flags:#x}" if self.map_flags else ""
        return (f"<Map {self.name!r} {_type_label(self.map_type)} key={self.key_size}B value={self.value_size}B "
                f"max_entries={self.max_entries}{flags}{state}>")

    def _repr_html_(self) -> str:
        from ..display.kernel_maps import map_html

        return map_html(self)


# --- names and paths ---------------------------------------------------------------------


def object_name(obj_name: str) -> str:
    """libbpf's object name: the file's basename up to its first dot (``multi.bpf.o`` → ``multi``)."""
    return os.path.basename(obj_name).split(".", 1)[0]


def internal_map_name(obj_name: str, section: str) -> str:
    """The kernel name libbpf gives a global-data map (``multi.rodata``, ``packet_c.rodata``).

    The rule (libbpf's ``internal_map_name``): the suffix is the section
    name, with at least 7 characters reserved for it and at most 15 used;
    custom sections (a second dot: ``.data.foo``) get no prefix, the others
    as much of the object name as fits before the suffix, all cut at 15
    bytes and sanitised.  ``obj_name`` may be a file name: it is reduced
    with :func:`object_name` first.
    """
    obj = object_name(obj_name).encode()
    real = section.encode()
    limit = BPF_OBJ_NAME_LEN - 1
    sfx_len = min(max(7, len(real)), limit)
    pfx_len = 0 if b"." in real[1:] else min(BPF_OBJ_NAME_LEN - sfx_len - 1, len(obj))
    raw = (obj[:pfx_len] + real[:sfx_len])[:limit]
    return sanitize_name(raw.decode("latin-1")).decode()


_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _safe_component(name: str) -> str:
    """``name`` if it can be one file name under a pin root, else UnsafeName.

    Checked before any path is built: no separators, no ``.``/``..``, no NUL
    or control characters, not empty, at most 255 bytes.
    """
    if not isinstance(name, str) or not name:
        raise UnsafeName(f"map name {name!r} cannot be pinned: empty")
    if name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise UnsafeName(f"map name {name!r} cannot be pinned: not a single path component")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):
        raise UnsafeName(f"map name {name!r} cannot be pinned: control characters")
    if any(c in _BIDI_CONTROLS for c in name):  # "abc\u202etxt.exe" would show reordered in ls and bpftool
        raise UnsafeName(f"map name {name!r} cannot be pinned: bidirectional control characters")
    if len(os.fsencode(name)) > 255:
        raise UnsafeName(f"map name {name[:40]!r}... cannot be pinned: longer than 255 bytes")
    return name


def pin_path(pin_root: str | os.PathLike[str], name: str) -> str:
    """``pin_root/name`` after checking ``name`` and that the result stays inside ``pin_root``.

    A symlink at ``pin_root/name`` is refused: following it would reuse (or
    shadow) an object pinned elsewhere in bpffs without saying so.
    """
    _safe_component(name)
    root = os.path.abspath(os.fsdecode(pin_root))
    path = os.path.join(root, name)
    if os.path.dirname(path) != root:  # belt and braces: the component check already ensures this
        raise UnsafeName(f"map name {name!r} would pin outside {root}")
    if os.path.islink(path):
        raise UnsafeName(f"map {name!r}: {path} is a symlink to {os.readlink(path)!r}; "
                         "pins under the pin root are not followed (remove the link or pin elsewhere)")
    return path


# --- one map ---------------------------------------------------------------------------------


@dataclass
class CreatedMap:
    """One map of the maps stage and how it came to be.

    ``status`` is ``created``, ``reused`` (an existing pin matched the spec)
    or ``skipped`` (unsupported map type, ``allow_unsupported``; ``map`` is
    None).  ``btf_fallback`` holds the kernel's refusal when the map had to
    be created without its BTF key/value types.
    """

    name: str
    spec: MapSpec
    map: Map | None
    status: str
    kernel_name: str = ""
    pin_path: str | None = None
    #: True when this call created the pin (so a failed stage removes it).
    pinned_here: bool = False
    btf_fallback: str | None = None
    #: True when the kernel map carries the spec's BTF key/value type ids.
    with_btf: bool = False
    reason: str | None = None
    #: For a struct_ops map: its layout in this kernel (``bpfnb.obj.struct_ops.KernelStructOps``).
    struct_ops: Any = None

    def close(self) -> None:
        if self.map is not None:
            self.map.close()


def _check_compat(spec: MapSpec, info: MapInfo, path: str) -> None:
    """PinMismatch unless the pinned map has the spec's type, sizes, max_entries and flags."""
    fields = (("type", int(spec.map_type or 0), int(info.type)), ("key_size", spec.key_size, info.key_size),
              ("value_size", spec.value_size, info.value_size), ("max_entries", spec.max_entries, info.max_entries),
              ("map_flags", spec.map_flags, info.map_flags), ("map_extra", spec.map_extra, info.map_extra))
    diffs = [(n, want, have) for n, want, have in fields if want != have]
    if diffs:
        text = ", ".join(f"{n}: spec {want:#x} vs pinned {have:#x}" if n == "map_flags"
                         else f"{n}: spec {want} vs pinned {have}" for n, want, have in diffs)
        err = PinMismatch(f"map {spec.name!r} pinned at {path} (id {info.id}) differs from its spec: {text}")
        err.differences = {n: (want, have) for n, want, have in diffs}  # type: ignore[attr-defined]
        raise err


def _reuse(spec: MapSpec, path: str) -> Map | None:
    """The map pinned at ``path`` when compatible; None when nothing is pinned there."""
    try:
        fd = obj_get(path)
    except KernelError as exc:
        if exc.errno == _errno.ENOENT:
            return None
        raise
    try:
        if fd.kind != "map":
            raise PinMismatch(f"map {spec.name!r}: {path} holds a pinned {fd.kind}, not a map")
        _check_compat(spec, map_info(fd), path)
        return Map(fd, spec=spec, pinned=path)
    except BaseException:
        fd.close()
        raise


# --- sizes checked before BPF_MAP_CREATE ------------------------------------------------------
#
# The kernel's own checks (kernel/bpf/arraymap.c array_map_alloc_check, hashtab.c
# htab_map_alloc_check), run here first so an absurd size is a MapError saying why,
# instead of E2BIG -- or ENOMEM after seconds of the kernel zeroing gigabytes.

_INT_MAX = (1 << 31) - 1
_PCPU_MIN_UNIT_SIZE = 32 << 10  # per-CPU values: round_up(value_size, 8) must fit one unit
_HTAB_ELEM = 48  # sizeof(struct htab_elem) on 64-bit kernels
_ARRAYS = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY,
                     MapType.CGROUP_ARRAY, MapType.ARRAY_OF_MAPS})
_HASHES = frozenset({MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH,
                     MapType.HASH_OF_MAPS})
_PER_CPU = frozenset({MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH,
                      MapType.PERCPU_CGROUP_STORAGE})
_BPF_F_NO_PREALLOC = 1


def _kmalloc_max_size() -> int:
    """KMALLOC_MAX_SIZE: 1 << (MAX_PAGE_ORDER + PAGE_SHIFT), MAX_PAGE_ORDER = 10 (4 MiB with 4 KiB pages)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") << 10
    except (ValueError, OSError):
        return 4 << 20


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


def check_sizes(spec: MapSpec) -> None:
    """MapError when the kernel would refuse ``spec``'s sizes, or could not hold it in memory."""
    try:
        mtype = MapType(int(spec.map_type))
    except ValueError:
        return
    what = f"map {spec.name!r} ({spec.type_name})"
    key, value, entries = spec.key_size, spec.value_size, spec.max_entries
    if mtype in _ARRAYS and value > _INT_MAX:
        raise MapError(f"{what}: value_size {value} is over INT_MAX ({_INT_MAX}), "
                       "which array_map_alloc_check refuses (E2BIG)")
    if mtype in _PER_CPU and ((value + 7) & ~7) > _PCPU_MIN_UNIT_SIZE:
        raise MapError(f"{what}: per-CPU value_size {value} rounds up past PCPU_MIN_UNIT_SIZE "
                       f"({_PCPU_MIN_UNIT_SIZE} bytes), which the kernel refuses (E2BIG)")
    kmax = _kmalloc_max_size()
    if mtype in _HASHES and key + value >= kmax - _HTAB_ELEM:
        raise MapError(f"{what}: key_size {key} + value_size {value} must stay below KMALLOC_MAX_SIZE - "
                       f"sizeof(struct htab_elem) ({kmax - _HTAB_ELEM} bytes), which htab_map_alloc_check "
                       "enforces (E2BIG)")
    # preallocated maps: the kernel allocates (and zeroes) every element at create time
    if mtype in _ARRAYS or (mtype in _HASHES and not spec.map_flags & _BPF_F_NO_PREALLOC):
        elem = (value + 7) & ~7
        if mtype in _HASHES:
            elem += ((key + 7) & ~7) + _HTAB_ELEM
        total = elem * entries * (possible_cpus() if mtype in _PER_CPU else 1)
        available = _mem_available()
        if available is not None and total > available:
            raise MapError(f"{what}: {entries} entries of {value}-byte values need {_gib(total)} of kernel memory "
                           f"up front, more than this machine has available ({_gib(available)})")


def _kernel_create(spec: MapSpec, kernel_name: str, *, btf_fd: Any, inner: Fd | None,
                   with_btf: bool) -> Fd:
    check_sizes(spec)
    return map_create(
        int(spec.map_type), spec.key_size, spec.value_size, spec.max_entries, name=kernel_name,
        map_flags=spec.map_flags, inner_map_fd=inner, numa_node=spec.numa_node, map_extra=spec.map_extra,
        btf_fd=btf_fd if with_btf else None,
        btf_key_type_id=spec.key_type_id if with_btf else 0,
        btf_value_type_id=spec.value_type_id if with_btf else 0,
    )


def _inner_template(spec: MapSpec) -> Fd:
    inner = spec.inner
    if inner is None:
        raise MapError(f"map {spec.name!r} is a {spec.type_name} without an inner map definition (__array(values, ...))")
    return _kernel_create(inner, sanitize_name(inner.name).decode(), btf_fd=None, inner=None, with_btf=False)


def create_map(spec: MapSpec, *, btf_fd: Any = None, name: str | None = None,
               pin_root: str | os.PathLike[str] | None = None, features: Features | None = None) -> CreatedMap:
    """Create (or reuse from its pin) the map ``spec`` describes.

    ``name`` overrides the kernel name (default: ``spec.name`` sanitised).
    With ``btf_fd`` and BTF type ids in the spec the map carries its key and
    value types (bpftool and the verifier use them); when the kernel refuses
    that, the map is created again without them, as libbpf does, and
    ``btf_fallback`` keeps the reason.  ``pin_root`` applies to specs pinned
    ``BY_NAME``: an existing pin is reused after a compatibility check,
    otherwise the new map is pinned there.
    """
    if spec.map_type is None or not spec.complete:
        raise MapError(f"map {spec.name!r}: its definition was not decoded (no BTF for {spec.section}?)")
    if spec.map_type == MapType.PERF_EVENT_ARRAY and spec.max_entries == 0:
        # one ring per CPU: a definition without max_entries means "every possible CPU", as libbpf reads it
        spec = spec.with_(max_entries=possible_cpus())
    path = None
    if spec.pinning is PinningType.BY_NAME and pin_root is not None:
        path = pin_path(pin_root, spec.name)
    _check_supported(spec, features)
    kernel_name = name if name is not None else sanitize_name(spec.name).decode()
    if path is not None:
        reused = _reuse(spec, path)
        if reused is not None:
            log.debug("map %r reuses the pin at %s", spec.name, path)
            info = reused.info()
            return CreatedMap(spec.name, spec, reused, "reused", reused.kernel_name, path,
                              with_btf=bool(info.btf_key_type_id or info.btf_value_type_id))
    use_btf = (btf_fd is not None and bool(spec.key_type_id or spec.value_type_id)
               and spec.map_type not in _NO_BTF_TYPES)
    inner = _inner_template(spec) if spec.map_type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS) else None
    fallback = None
    try:
        try:
            fd = _kernel_create(spec, kernel_name, btf_fd=btf_fd, inner=inner, with_btf=use_btf)
        except NotPrivileged:
            raise
        except KernelError as exc:
            if not use_btf:
                raise _unsupported_or(exc, spec, features) from None
            log.info("map %r: kernel refused its BTF types (%s); retrying without BTF", spec.name, exc)
            fallback = str(exc)
            try:
                fd = _kernel_create(spec, kernel_name, btf_fd=None, inner=inner, with_btf=False)
            except NotPrivileged:
                raise
            except KernelError as again:
                raise _unsupported_or(again, spec, features) from exc
    finally:
        if inner is not None:
            inner.close()
    try:
        live = Map(fd, spec=spec)
    except BaseException:
        fd.close()
        raise
    created = CreatedMap(spec.name, spec, live, "created", live.kernel_name, path, btf_fallback=fallback,
                         with_btf=use_btf and fallback is None)
    if path is not None:
        try:
            live.pin(path)
        except BaseException:
            live.close()
            raise
        created.pinned_here = True
    return created


def _check_supported(spec: MapSpec, features: Features | None) -> None:
    """UnsupportedFeature when the probes say this kernel lacks the map type."""
    from .features import Support

    if features is None or not isinstance(spec.map_type, MapType):
        return
    if features.map_type_support.get(spec.map_type) is Support.NO:
        raise UnsupportedFeature(f"{spec.type_name} maps", f"map {spec.name!r}: this kernel has no {spec.type_name} maps")


def _unsupported_or(exc: KernelError, spec: MapSpec, features: Features | None) -> KernelError:
    """An EINVAL for a map type this kernel does not know is UnsupportedFeature; else ``exc``."""
    if exc.errno not in _UNSUPPORTED_ERRNOS:
        return exc
    if not isinstance(spec.map_type, MapType):
        return UnsupportedFeature(f"map type {spec.map_type}", f"map {spec.name!r}: {exc}", err=exc.errno)
    return exc


# --- global data ------------------------------------------------------------------------------


def _encode_global(section: DataSection, var: Any, value: Any, btf: Btf | None) -> bytes:
    """``value`` as the bytes of ``var``: through its BTF type, or raw/int without BTF."""
    from ..errors import ValueEncodingError

    where = f"{section.name} {var.name}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    elif btf is not None and var.type_id:
        from ..btf.codec import Codec

        try:
            raw = Codec(btf, var.type_id).encode(value)
        except ValueEncodingError as exc:  # say which variable, then what the codec said
            raise ValueEncodingError(str(exc), path=where) from exc
    elif isinstance(value, int):
        # no BTF: a plain integer of the variable's size (signed when negative)
        try:
            raw = int(value).to_bytes(var.size, "little", signed=int(value) < 0)
        except OverflowError:
            raise ValueEncodingError(f"{value} does not fit in {var.size} bytes", path=where) from None
    else:
        raise ValueEncodingError(f"without BTF only bytes or ints can be written, not {type(value).__name__}",
                                 path=where)
    if len(raw) != var.size:
        raise ValueEncodingError(f"{len(raw)} bytes given for a {var.size}-byte variable", path=where)
    return raw


def initial_data(section: DataSection, globals: Mapping[str, Any] = {}, *, btf: Btf | None = None,
                 must_exist: bool = True) -> bytes:
    """The section's bytes with ``globals`` (variable name → value) written in (pure)."""
    data = bytearray(section.data.ljust(section.size, b"\0"))
    for vname, value in globals.items():
        var = section.variable(vname)
        if var is None:
            if must_exist:
                have = ", ".join(v.name for v in section.variables) or "none"
                raise UnknownName(f"{section.name} has no variable {vname!r} (has: {have})")
            continue
        data[var.offset : var.offset + var.size] = _encode_global(section, var, value, btf)
    return bytes(data)


def _freezes(section: DataSection) -> bool:
    """``.rodata``, ``.rodata.*`` and ``.kconfig`` are frozen once written (libbpf does the same)."""
    n = section.name
    return section.read_only or n == ".rodata" or n.startswith(".rodata.") or n == ".kconfig"


def create_data_map(section: DataSection, *, obj_name: str, btf_fd: Any = None, btf: Btf | None = None,
                    globals: Mapping[str, Any] = {}, must_exist: bool = True,
                    features: Features | None = None) -> CreatedMap:
    """The one-entry array holding a global-data section, written and (for .rodata) frozen.

    The kernel name is libbpf's (:func:`internal_map_name`).  With ``btf``
    (the object's parsed BTF) and ``btf_fd`` (the same BTF loaded) the map's
    value type is the section's DATASEC, as libbpf declares it, and
    ``globals`` are encoded through each variable's BTF type; without BTF
    only bytes and ints can be written.
    """
    spec = section.map_spec()
    if section.kind is SectionKind.KCONFIG:  # read-only for programs, like .rodata
        spec = spec.with_(map_flags=spec.map_flags | BPF_F_RDONLY_PROG)
    if btf is not None and btf_fd is not None:
        try:
            spec = spec.with_(value_type_id=btf.find(section.name, kind="DATASEC").id)
        except Exception:  # no DATASEC for this section: the map just has no BTF value type
            pass
    data = initial_data(section, globals, btf=btf, must_exist=must_exist)
    created = create_map(spec, btf_fd=btf_fd, name=internal_map_name(obj_name, section.name), features=features)
    try:
        assert created.map is not None
        created.map.update(b"\0\0\0\0", data)
        if _freezes(section):
            created.map.freeze()
    except BaseException:
        created.close()
        raise
    return created


# --- the stage --------------------------------------------------------------------------------


@dataclass
class MapsResult:
    """Every map of an object, live: by name, with what was created, reused or skipped.

    Keys are the names :func:`bpfnb.obj.relocate.relocate` expects in
    ``map_fds``: ``obj.maps`` names and data-section names (``.rodata``...).
    The result owns the maps: ``close()`` (or ``with``) closes them all;
    pins stay.
    """

    records: list[CreatedMap] = field(default_factory=list)

    @property
    def maps(self) -> dict[str, Map]:
        return {r.name: r.map for r in self.records if r.map is not None}

    @property
    def created(self) -> list[str]:
        return [r.name for r in self.records if r.status == "created"]

    @property
    def reused(self) -> list[str]:
        return [r.name for r in self.records if r.status == "reused"]

    @property
    def skipped(self) -> list[str]:
        return [r.name for r in self.records if r.status == "skipped"]

    def fds(self) -> dict[str, int]:
        """Name → fd number, for ``relocate(obj, program, map_fds)``."""
        return {name: m.fd.fileno() for name, m in self.maps.items()}

    def __getitem__(self, name: str) -> Map:
        found = self.maps.get(name)
        if found is None:
            raise UnknownName(f"no live map {name!r} (have: {', '.join(self.maps) or 'none'})")
        return found

    def __contains__(self, name: object) -> bool:
        return name in self.maps

    def __iter__(self) -> Iterator[str]:
        return iter(self.maps)

    def __len__(self) -> int:
        return len(self.maps)

    def close(self) -> None:
        for r in self.records:
            r.close()

    def __enter__(self) -> MapsResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self) -> list[dict[str, Any]]:
        """One dict per map: the table ``_repr_html_`` and ``to_dataframe`` show."""
        out = []
        for r in self.records:
            s, m = r.spec, r.map
            out.append({
                "name": r.name, "type": s.type_name, "kernel_name": r.kernel_name,
                "key_size": s.key_size, "value_size": s.value_size, "max_entries": s.max_entries,
                "flags": s.map_flags, "id": m.info().id if m is not None and not m.closed else None,
                "status": r.status, "pinned": r.pin_path or "",
                "btf": "fallback" if r.btf_fallback else ("yes" if r.with_btf else ""), "reason": r.reason or "",
            })
        return out

    def to_dataframe(self) -> pd.DataFrame:
        from ..display.kernel_maps import maps_frame

        return maps_frame(self)

    def _repr_html_(self) -> str:
        from ..display.kernel_maps import maps_html

        return maps_html(self)

    def __repr__(self) -> str:
        counts = f"created={len(self.created)} reused={len(self.reused)} skipped={len(self.skipped)}"
        return f"<MapsResult {len(self.records)} maps {counts}>"


def _split_globals(obj: Object, globals: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``set_global`` names → {section: {variable: value}}; UnknownName for names no section has."""
    out: dict[str, dict[str, Any]] = {}
    for vname, value in globals.items():
        where = [s for s in obj.data.values() if s.variable(vname) is not None]
        if not where:
            raise UnknownName(f"{obj.name}: no global variable {vname!r} in "
                              f"{', '.join(obj.data) or 'any data section'}")
        out.setdefault(where[0].name, {})[vname] = value
    return out


def create_maps(obj: Object, *, btf_fd: Any = None, pin_root: str | os.PathLike[str] | None = None,
                max_entries: Mapping[str, int] = {}, globals: Mapping[str, Any] = {},
                allow_unsupported: bool = False, features: Features | None = None,
                kconfig: Mapping[str, str] | None = None) -> MapsResult:
    """The maps stage: every map of ``obj`` (definitions in order, then data sections).

    ``max_entries`` overrides (``set_max_entries``) and ``globals``
    (``set_global``) must name things the object has (UnknownName
    otherwise).  Map types the kernel lacks raise UnsupportedFeature unless
    ``allow_unsupported``, which skips and reports them.  ``.kconfig``
    externs get their map (named ``.kconfig``) filled from the running
    kernel's configuration, or from ``kconfig`` (``CONFIG_X`` → value text)
    when given.  All or nothing: on
    any error every map created so far is closed and every pin this call
    made is removed before the error propagates.
    """
    for mname in max_entries:
        if mname not in obj.maps:
            raise UnknownName(f"{obj.name}: set_max_entries for unknown map {mname!r} (have: {', '.join(obj.maps)})")
    from .kconfig import kconfig_data_section

    per_section = _split_globals(obj, globals)
    if features is None:
        from .features import features as probe

        features = probe()
    result = MapsResult()
    try:
        for spec in obj.maps.values():
            if spec.name in max_entries:
                spec = spec.with_(max_entries=int(max_entries[spec.name]))
            try:
                if spec.name in obj.struct_ops:  # laid out for this kernel's struct first (kernel/struct_ops.py)
                    from .struct_ops import create_struct_ops_map

                    if not obj.struct_ops[spec.name].autocreate:
                        result.records.append(CreatedMap(spec.name, spec, None, "skipped",
                                                         reason=f"{spec.section}: not created unless asked"))
                        continue

                    result.records.append(create_struct_ops_map(obj.struct_ops[spec.name], obj.btf, btf_fd=btf_fd,
                                                                features=features))
                    continue
                result.records.append(create_map(spec, btf_fd=btf_fd, pin_root=pin_root, features=features))
            except UnsupportedFeature as exc:
                if not allow_unsupported:
                    raise
                log.warning("map %r skipped: %s", spec.name, exc)
                result.records.append(CreatedMap(spec.name, spec, None, "skipped", reason=str(exc)))
        for section in obj.data.values():
            result.records.append(create_data_map(
                section, obj_name=obj.name, btf_fd=btf_fd, btf=obj.btf, globals=per_section.get(section.name, {}),
                features=features))
        kconfig_section = kconfig_data_section(obj, kconfig, features=features)
        if kconfig_section is not None:
            # the value type is the .kconfig DATASEC once the BTF stage has laid it out like
            # this map (bpfnb.btf.sanitize does); a BTF that describes it otherwise is refused
            # by the kernel and the map falls back to no BTF
            result.records.append(create_data_map(kconfig_section, obj_name=obj.name, btf_fd=btf_fd, btf=obj.btf,
                                                  features=features))
        _fill_map_in_map_slots(result)
    except BaseException:
        _rollback(result)
        raise
    return result


def _fill_map_in_map_slots(result: MapsResult) -> None:
    """Initial slots of map-in-map definitions (``.values = { [1] = &inner }``)."""
    maps = result.maps
    for r in result.records:
        if r.map is None or r.status != "created" or not r.spec.init_slots:
            continue
        if r.spec.map_type not in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
            continue  # prog arrays are filled once programs are loaded
        for index, target in r.spec.init_slots:
            inner = maps.get(target)
            if inner is None:
                raise UnknownName(f"map {r.name!r} slot {index}: no map {target!r} was created")
            r.map.update(index.to_bytes(r.map.key_size, "little"), inner.fd.fileno().to_bytes(4, "little"))


def _rollback(result: MapsResult) -> None:
    """Undo a failed stage: remove the pins it made, close every map."""
    for r in result.records:
        if r.pinned_here and r.pin_path is not None:
            try:
                os.unlink(r.pin_path)
            except OSError as exc:  # already gone: nothing to undo
                log.debug("rollback could not unpin %s: %s", r.pin_path, exc)
        r.close()
