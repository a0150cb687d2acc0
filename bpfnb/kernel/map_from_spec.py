"""Creating one map from its spec, the way libbpf's ``bpf_object__create_map`` does.

* :func:`create_map` — one spec: BTF key/value ids (retried without them
  when the kernel refuses the BTF for this map, and recorded), the inner
  template of a map-in-map, pinning by name under a ``pin_root`` (an
  existing pin is reused after a compatibility check).
* :func:`create_data_map` — one global-data section: initial bytes
  (:mod:`bpfnb.obj.initial_data`) written and ``.rodata`` frozen.
* :func:`check_sizes` — the kernel's own size checks, run first so an
  absurd size is a MapError saying why.
"""

from __future__ import annotations

import enum
import errno as _errno
import logging
import mmap
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import default_max_size
from ..errors import KernelError, MapError, NotPrivileged, PinMismatch, UnsupportedFeature
from ..obj.initial_data import freezes, initial_contents
from ..obj.map_names import internal_map_name, pin_path
from ..obj.maps import MapSpec, PinningType
from ..obj.sections import SectionKind
from ..uapi import MapType
from .fd import Fd
from .info import MapInfo, map_info
from .map import Map
from .memory import available_memory
from .syscall import BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, map_create, obj_get, possible_cpus, sanitize_name

if TYPE_CHECKING:
    from ..btf import Btf
    from ..obj.data import DataSection
    from .features import Features

__all__ = ["CreatedMap", "check_sizes", "create_data_map", "create_map"]

log = logging.getLogger(__name__)

#: Map types created without BTF key/value types, as libbpf does: their values
#: are fds or kernel objects, and the kernel refuses (or ignores) BTF for them.
_NO_BTF_TYPES = frozenset({
    MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY, MapType.STACK_TRACE, MapType.ARRAY_OF_MAPS,
    MapType.HASH_OF_MAPS, MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP, MapType.SOCKMAP,
    MapType.SOCKHASH, MapType.QUEUE, MapType.STACK,
})
#: errnos meaning "this kernel does not know that map type / flag".
_UNSUPPORTED_ERRNOS = frozenset({_errno.EINVAL, _errno.EOPNOTSUPP, 524})


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
        room = available_memory()
        if room is not None and total > room.bytes:
            raise MapError(f"{what}: {entries} entries of {value}-byte values need {_gib(total)} of kernel memory "
                           f"up front, more than {room.where} has available ({_gib(room.bytes)})")


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
    """UnsupportedFeature when ``features`` already know that this kernel lacks the map type.

    Nothing is probed before a create: a type not probed yet is tried, and
    a refusal explained afterwards (:func:`_unsupported_or`).
    """
    from .features import LazySupport, Support

    if features is None or not isinstance(spec.map_type, MapType):
        return
    table = features.map_type_support
    known = table.probed if isinstance(table, LazySupport) else table
    if known.get(spec.map_type) is Support.NO:
        raise UnsupportedFeature(f"{spec.type_name} maps", f"map {spec.name!r}: this kernel has no {spec.type_name} maps")


def _unsupported_or(exc: KernelError, spec: MapSpec, features: Features | None) -> KernelError:
    """Explain a refused create: UnsupportedFeature when the map type is what the kernel lacks, else ``exc``.

    Only an errno that can mean "unknown type" (EINVAL, EOPNOTSUPP,
    ENOTSUPP) is looked into, and then by probing this one map type (cached
    per process), as cilium/ebpf's ``map.go`` does: a load that succeeds
    probes nothing.
    """
    if exc.errno not in _UNSUPPORTED_ERRNOS:
        return exc
    if not isinstance(spec.map_type, MapType):
        return UnsupportedFeature(f"map type {spec.map_type}", f"map {spec.name!r}: {exc}", err=exc.errno)
    from .features import Support
    from .features import features as probe

    known = (features or probe()).map_type_support.get(spec.map_type)
    if known is Support.NO:
        return UnsupportedFeature(f"{spec.type_name} maps", f"map {spec.name!r}: this kernel has no "
                                  f"{spec.type_name} maps (BPF_MAP_CREATE: {exc.strerror})", err=exc.errno)
    return exc


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
    data = initial_contents(section, globals, btf=btf, must_exist=must_exist)
    how = _how_to_write(data, spec.map_flags)
    if how is _Write.WHOLE:
        _check_whole_write(spec.value_size, f"map {spec.name!r}")  # before the kernel spends seconds on it
    created = create_map(spec, btf_fd=btf_fd, name=internal_map_name(obj_name, section.name), features=features)
    try:
        assert created.map is not None
        _write_initial(created.map, data, how)
        if freezes(section):
            created.map.freeze()
    except BaseException:
        created.close()
        raise
    return created


class _Write(enum.Enum):
    """How a data map's initial contents are written, decided once by :func:`_how_to_write`."""

    NOTHING = "nothing"  # all zeros: the kernel created the map zeroed
    MMAP = "mmap"  # a writable mmapable map: through a shared mapping (the whole value if that is refused)
    WHOLE = "whole"  # the whole value through BPF_MAP_UPDATE_ELEM


def _how_to_write(contents: bytes, flags: int) -> _Write:
    """Nothing for all zeros (a ``.bss``, which libbpf skips too), else by the map's flags.

    The zero test neither copies nor allocates: numpy counts over a view of
    the bytes (64 MiB of zeros: 1.6 ms, where ``bytes.strip`` took 100 ms).
    """
    if not np.count_nonzero(np.frombuffer(contents, np.uint8)):
        return _Write.NOTHING
    return _Write.MMAP if _mappable(flags) else _Write.WHOLE


def _mappable(flags: int) -> bool:
    return bool(flags & BPF_F_MMAPABLE) and not flags & BPF_F_RDONLY_PROG


def _check_whole_write(value_size: int, what: str) -> None:
    limit = default_max_size()
    if value_size > limit:
        raise MapError(f"{what}: its {value_size}-byte initial value would be written whole "
                       f"(BPF_MAP_UPDATE_ELEM), over the {limit}-byte input limit "
                       "(bpfnb --max-size, or bpfnb._files.DEFAULT_MAX_SIZE, raises it)")


def _write_initial(m: Map, contents: bytes, how: _Write) -> None:
    """Write a data map's first bytes as ``how`` says; zeros past ``contents`` are free (the map starts zeroed).

    ``MMAP`` writes through a shared mapping of just the pages ``contents``
    covers.  Read-only maps (the kernel refuses to map a ``BPF_F_RDONLY_PROG``
    map writable), kernels without ``BPF_F_MMAPABLE`` and values the kernel
    will not map get the whole value through ``BPF_MAP_UPDATE_ELEM``, which
    costs its full size twice: one over the input size limit is refused
    instead of spending minutes on zeros (a ``.kconfig`` string extern of
    2 GiB was a fuzz input) -- for ``WHOLE`` before the map was created.
    """
    if how is _Write.NOTHING:
        return
    if how is _Write.MMAP:
        length = -(-len(contents) // mmap.PAGESIZE) * mmap.PAGESIZE
        try:
            mem = mmap.mmap(m.fd.fileno(), length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError:  # e.g. a value with special fields (timers, kptrs) cannot be mapped
            pass
        else:
            with mem:
                mem[: len(contents)] = contents
            return
        _check_whole_write(m.value_size, f"map {m.name!r}")
    m.update(b"\0\0\0\0", contents.ljust(m.value_size, b"\0"))
