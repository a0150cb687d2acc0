"""Where a live map's key and value codecs come from.

A map's bytes mean something only through a type.  In order of preference:

1. the object file's BTF (``MapSpec.key_type_id``/``value_type_id`` with
   the object's — ideally the *loaded*, fixed-up — :class:`~bpfnb.btf.Btf`),
   which is what a map created by :class:`~bpfnb.EbpfLoader` has;
2. the kernel's copy: a map created with BTF remembers ``btf_id`` and its
   key/value type ids, so a map opened by id or pin, created by any other
   tool, decodes the same way (``bpftool map dump`` does exactly this);
3. the map type itself: an array's key *is* a ``u32`` index, a prog array's
   value a program fd (written) or id (read), a stack trace an array of
   ``u64`` addresses — small BTF made here describes those;
4. raw bytes.

A type whose size differs from what the kernel says the map holds is not
used (logged, then the next source is tried): a wrong codec would silently
mis-decode every entry, raw bytes at least are honest.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Union

from ..btf.codec import Codec, PerCpuCodec, RawCodec
from ..errors import BpfnbError, KernelError

if TYPE_CHECKING:
    from ..btf import Btf
    from ..kernel.map import Map

__all__ = ["MapCodecs", "kernel_btf", "resolve_codecs", "u32_codec", "u64_array_codec", "lpm_key_codec", "datasec_codec"]

log = logging.getLogger(__name__)

AnyCodec = Union[Codec, RawCodec]


@dataclass(frozen=True)
class MapCodecs:
    """The key and value codecs of one map and where they came from.

    ``value`` is per *entry*: for per-CPU maps the inner codec (one CPU's
    value); ``per_cpu`` wraps it for the whole lookup buffer.  ``source`` is
    ``"object"``, ``"kernel"``, ``"map type"`` or ``"raw"``.
    """

    key: AnyCodec
    value: AnyCodec
    source: str
    btf: Btf | None = None
    ncpus: int | None = None

    @cached_property
    def per_cpu(self) -> PerCpuCodec | None:
        """The whole lookup buffer of a per-CPU map (built once: every lookup uses it)."""
        return PerCpuCodec(self.value, self.ncpus) if self.ncpus else None

    @property
    def typed(self) -> bool:
        return self.source != "raw"


# --- synthesized BTF for what the map type implies ----------------------------------


@lru_cache(maxsize=1)
def _base_btf() -> Btf:
    from ..btf import Btf, Int, IntEncoding
    from ..btf.writer import write_types

    types = [Int(1, "__u32", 4, IntEncoding.NONE, 0, 32), Int(2, "__u64", 8, IntEncoding.NONE, 0, 64),
             Int(3, "__u8", 1, IntEncoding.NONE, 0, 8)]
    return Btf.from_bytes(write_types(types), source="bpfnb map-type types")


def u32_codec() -> Codec:
    """``__u32``: array indices, prog/map ids, fds."""
    return Codec(_base_btf(), 1)


@lru_cache(maxsize=32)
def u64_array_codec(count: int) -> Codec:
    """``__u64[count]``: one stack trace's instruction pointers."""
    from ..btf import Array, Btf, Int, IntEncoding
    from ..btf.writer import write_types

    types = [Int(1, "__u32", 4, IntEncoding.NONE, 0, 32), Int(2, "__u64", 8, IntEncoding.NONE, 0, 64),
             Array(3, "", 2, 1, count)]
    return Codec(Btf.from_bytes(write_types(types), source="bpfnb stack trace"), 3)


@lru_cache(maxsize=32)
def lpm_key_codec(key_size: int) -> Codec:
    """``struct bpf_lpm_trie_key { __u32 prefixlen; __u8 data[key_size - 4]; }``."""
    from ..btf import Array, Btf, Int, IntEncoding, Member, Struct
    from ..btf.writer import write_types

    n = key_size - 4
    types = [Int(1, "__u32", 4, IntEncoding.NONE, 0, 32), Int(2, "__u8", 1, IntEncoding.NONE, 0, 8),
             Array(3, "", 2, 1, n), Struct(4, "bpf_lpm_trie_key", key_size,
                                           (Member("prefixlen", 1, 0), Member("data", 3, 32)))]
    return Codec(Btf.from_bytes(write_types(types), source="bpfnb lpm key"), 4)


# --- BTF from the kernel ----------------------------------------------------------------

_kernel_btf_cache: dict[tuple[int, int], Btf] = {}
_cache_lock = threading.Lock()


def kernel_btf(btf_id: int) -> Btf:
    """The BTF object the kernel holds under ``btf_id``, parsed (cached by id and size).

    Map BTF is loaded by user space, so it is standalone; split BTF of a
    module (a map with a vmlinux value type) is parsed against vmlinux.
    """
    from ..btf import Btf
    from ..kernel.info import btf_info
    from ..kernel.syscall import btf_get_fd_by_id

    with btf_get_fd_by_id(btf_id) as fd:
        info = btf_info(fd, data=True)
    key = (btf_id, info.btf_size)
    with _cache_lock:
        cached = _kernel_btf_cache.get(key)
    if cached is not None:
        return cached
    data = info.data or b""
    try:
        btf = Btf.from_bytes(data, source=f"kernel BTF id {btf_id}")
    except BpfnbError:
        btf = Btf.from_bytes(data, base=Btf.from_sys_fs(), source=f"kernel BTF id {btf_id}")  # split BTF
    with _cache_lock:
        if len(_kernel_btf_cache) > 64:
            _kernel_btf_cache.clear()
        _kernel_btf_cache[key] = btf
    return btf


# --- resolution ------------------------------------------------------------------------------


_datasec_cache: dict[tuple[int, int], tuple[Btf, Codec]] = {}


def datasec_codec(btf: Btf, type_id: int) -> Codec:
    """A global-data map's value: its DATASEC seen as a struct of its variables.

    A DATASEC has no value layout of its own (it is a list of VARs at
    offsets), so the object's types are re-emitted with one STRUCT appended
    whose members are the variables, named as in C, at their offsets.
    """
    key = (id(btf), type_id)
    cached = _datasec_cache.get(key)
    if cached is not None and cached[0] is btf:  # the Btf is kept alive, so id() is not reused
        return cached[1]
    from ..btf import Btf as _Btf, Member, Struct
    from ..btf.writer import write_types

    sec = btf[type_id]
    members = []
    for v in sec.vars:  # type: ignore[attr-defined]
        var = btf[v.type_id]
        members.append(Member(var.name, getattr(var, "type_id", v.type_id), 8 * v.offset))
    new_id = len(btf)
    struct = Struct(new_id, sec.name, sec.size, tuple(members))  # type: ignore[attr-defined]
    own = [btf[i] for i in range(btf.start_id if btf.base is not None else 1, new_id)]
    data = write_types([*own, struct], base=btf.base)
    merged = _Btf.from_bytes(data, base=btf.base, source=f"{btf.source or 'btf'} with DATASEC #{type_id}")
    codec = Codec(merged, new_id)
    if len(_datasec_cache) > 64:
        _datasec_cache.clear()
    _datasec_cache[key] = (btf, codec)
    return codec


def _try(btf: Btf | None, type_id: int, size: int, what: str) -> Codec | None:
    if btf is None or not type_id:
        return None
    try:
        from ..btf.types import Kind

        if btf[type_id].kind == Kind.DATASEC:
            codec = datasec_codec(btf, type_id)
        else:
            codec = Codec(btf, type_id)
    except BpfnbError as exc:
        log.info("%s: BTF type %d unusable (%s)", what, type_id, exc)
        return None
    if codec.size != size:
        log.warning("%s: BTF type %s is %d bytes but the map holds %d; ignoring it", what, codec.name,
                    codec.size, size)
        return None
    return codec


def resolve_codecs(m: Map, btf: Btf | None = None, *, key_type: Any = None, value_type: Any = None,
                   default_key: AnyCodec | None = None, default_value: AnyCodec | None = None,
                   kernel: bool = True) -> MapCodecs:
    """Key and value codecs for ``m`` (see the module docstring for the order).

    ``key_type``/``value_type`` override: a type id or name in ``btf``, or a
    ready codec.  ``default_key``/``default_value`` are what the map type
    implies (used after the object and kernel BTF).  ``kernel=False`` skips
    asking the kernel for its BTF (a map without ``btf_id`` never asks).
    """
    from ..kernel.syscall import possible_cpus

    ncpus = possible_cpus() if m.is_per_cpu else None
    where = f"map {m.name!r}"
    key = value = None
    source = "raw"
    used_btf: Btf | None = None

    def explicit(t: Any, size: int) -> AnyCodec | None:
        if t is None:
            return None
        if isinstance(t, (Codec, RawCodec)):
            return t
        if btf is None:
            raise BpfnbError(f"{where}: a type {t!r} needs btf= to be looked up in")
        return Codec(btf, t)

    key, value = explicit(key_type, m.key_size), explicit(value_type, m.value_size)
    if key is not None or value is not None:
        source, used_btf = "object", btf
    spec = m.spec
    if btf is not None and spec is not None and (key is None or value is None):
        k = key or _try(btf, spec.key_type_id, m.key_size, where)
        v = value or _try(btf, spec.value_type_id, m.value_size, where)
        if (k is not None and k is not key) or (v is not None and v is not value):
            source, used_btf = "object", btf
        key, value = k, v
    if kernel and (key is None or value is None):
        try:
            info = m.info()
        except KernelError:
            info = None
        if info is not None and info.btf_id and (info.btf_key_type_id or info.btf_value_type_id):
            try:
                kbtf = kernel_btf(info.btf_id)
            except (KernelError, BpfnbError) as exc:
                log.info("%s: kernel BTF id %d unreadable: %s", where, info.btf_id, exc)
                kbtf = None
            k = key or _try(kbtf, info.btf_key_type_id, m.key_size, where)
            v = value or _try(kbtf, info.btf_value_type_id, m.value_size, where)
            if (k is not None and k is not key) or (v is not None and v is not value):
                source = "kernel" if source == "raw" else source
                used_btf = used_btf or kbtf
            key, value = k, v
    if key is None and default_key is not None and default_key.size == m.key_size:
        key = default_key
        source = "map type" if source == "raw" else source
    if value is None and default_value is not None and default_value.size == m.value_size:
        value = default_value
        source = "map type" if source == "raw" else source
    return MapCodecs(key if key is not None else RawCodec(m.key_size),
                     value if value is not None else RawCodec(m.value_size), source, used_btf, ncpus)
