"""What this kernel supports, probed once with tiny maps, programs and BTF blobs.

Each probe asks the kernel directly (the way ``bpftool feature probe`` and
Aya's ``Features`` do) instead of comparing version numbers: distributions
backport features and configs compile them out.  A probe has three
outcomes, because a refusal is not always a "no": ``Support.YES``,
``Support.NO`` (the kernel said EINVAL/EOPNOTSUPP: it does not know the
thing) and ``Support.UNKNOWN`` (it refused for another reason, e.g. EPERM
from lockdown, or we are unprivileged and did not ask).

The BTF probes write their few bytes from the one record layout table
(:mod:`bpfnb.uapi.btf_layout`, shared with the parser and the writer), not
through the BTF writer, whose output they help to sanitise.
"""

from __future__ import annotations

import enum
import errno as _errno
import functools
import os
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..errors import KernelError, NotPrivileged, UnsupportedFeature
from ..uapi import AttachType, Cmd, FuncId, MapType, ProgType
from ..uapi.btf_layout import (
    KIND_DATASEC, KIND_DECL_TAG, KIND_ENUM64, KIND_FLOAT, KIND_FUNC, KIND_FUNC_PROTO, KIND_INT, KIND_PTR, KIND_STRUCT,
    KIND_TYPE_TAG, KIND_VAR, btf_blob, int_data, pack_record,
)
from ._ffi import ffi
from .fd import Fd
from .privilege import is_privileged
from .version import KernelVersion, running_kernel
from .syscall import BPF_F_MMAPABLE, BPF_F_NO_PREALLOC, BPF_F_SLEEPABLE, _raw, btf_load, map_create, prog_load

__all__ = ["CONFIG_NEEDED", "FEATURE_NAMES", "MIN_KERNEL", "SOCKMAP_LINK_MIN_VERSION", "Features", "LazySupport",
           "Support", "can_use_bpf", "features", "sockmap_links"]

_ENOTSUPP = 524
#: errnos that mean "this kernel does not know that type/kind/flag".
_NO = frozenset({_errno.EINVAL, _errno.EOPNOTSUPP, _ENOTSUPP})


class Support(enum.Enum):
    """A probe's answer; truthy only for YES."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"

    def __bool__(self) -> bool:
        return self is Support.YES


# --- tiny instruction and BTF encoders ---------------------------------------


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


_RET0 = _insn(0xB7, 0) + _insn(0x95)  # r0 = 0; exit


def _call(helper: int) -> bytes:
    return _insn(0x85, imm=helper)


def _strtab(*names: str) -> tuple[bytes, dict[str, int]]:
    """A BTF string section and each name's offset in it."""
    data, offsets = b"\0", {}
    for name in names:
        offsets[name] = len(data)
        data += name.encode() + b"\0"
    return data, offsets


_STRS, _S = _strtab("int", "x", "a", ".data", "tag", "float", "e")
_INT = pack_record(KIND_INT, _S["int"], 4, fixed=(int_data(1, 0, 32),))  # [1] int: signed, 32 bits
_VAR_X = pack_record(KIND_VAR, _S["x"], 1, fixed=(1,))  # [2] int x (global)
_PROTO = pack_record(KIND_FUNC_PROTO, 0, 1, items=[(_S["a"], 1)])  # [2] int (int a)

#: probe -> the types that follow ``[1] int`` (each blob uses one new kind).
_BTF_PROBES: dict[str, bytes] = {
    "btf": b"",
    "btf_func": _PROTO + pack_record(KIND_FUNC, _S["x"], 2, vlen=0),  # [3] static int x(int a)
    "btf_func_global": _PROTO + pack_record(KIND_FUNC, _S["x"], 2, vlen=1),  # [3] global int x(int a)
    "btf_datasec": _VAR_X + pack_record(KIND_DATASEC, _S[".data"], 4, items=[(2, 0, 4)]),  # [3] .data { x }
    "btf_float": pack_record(KIND_FLOAT, _S["float"], 4),  # [2] float
    "btf_decl_tag": _VAR_X + pack_record(KIND_DECL_TAG, _S["tag"], 2, fixed=(-1,)),  # [3] tag on x itself
    "btf_type_tag": pack_record(KIND_TYPE_TAG, _S["tag"], 1) + pack_record(KIND_PTR, 0, 2),  # [2] tag int, [3] ptr
    "btf_enum64": pack_record(KIND_ENUM64, _S["e"], 8, items=[(_S["a"], 1, 0)]),  # [2] enum64 e { a = 1 }
}


def _storage_btf() -> bytes:
    """``struct val { int cnt; struct bpf_spin_lock l; }``: local-storage maps need a BTF value type."""
    strs, off = _strtab("int", "bpf_spin_lock", "val", "cnt", "l")
    types = (
        pack_record(KIND_INT, off["int"], 4, fixed=(int_data(1, 0, 32),))                      # [1] int
        + pack_record(KIND_STRUCT, off["bpf_spin_lock"], 4, items=[(off["val"], 1, 0)])         # [2] { int val; }
        + pack_record(KIND_STRUCT, off["val"], 8, items=[(off["cnt"], 1, 0), (off["l"], 2, 32)])  # [3] struct val
    )
    return btf_blob(types, strs)


# --- probing helpers -----------------------------------------------------------


def _verdict(fn: Callable[[], Any], *, yes_errno: int | None = None, no: frozenset[int] = _NO,
             log_needle: str | None = None) -> Support:
    """Run ``fn``; success (or the errno that proves support) is YES."""
    try:
        result = fn()
    except KernelError as exc:
        if yes_errno is not None and exc.errno == yes_errno:
            if log_needle is None or log_needle in getattr(exc, "log", ""):
                return Support.YES
        return Support.NO if exc.errno in no else Support.UNKNOWN
    _close(result)
    return Support.NO if yes_errno is not None else Support.YES


def _close(result: Any) -> None:
    if isinstance(result, Fd):
        result.close()
    elif isinstance(result, tuple):
        for item in result:
            _close(item)


def _load(prog_type: ProgType, insns: bytes = _RET0, **kw: Any) -> Any:
    return prog_load(prog_type, insns, "GPL", **kw)


_PROG_EXTRA: dict[str, dict[str, Any]] = {
    "CGROUP_SOCK_ADDR": {"expected_attach_type": "CGROUP_INET4_CONNECT"},
    "CGROUP_SOCKOPT": {"expected_attach_type": "CGROUP_GETSOCKOPT"},
    "SK_LOOKUP": {"expected_attach_type": "SK_LOOKUP"},
    "LIRC_MODE2": {"expected_attach_type": "LIRC_MODE2"},
    "NETFILTER": {"expected_attach_type": "NETFILTER"},
    "TRACING": {"expected_attach_type": "TRACE_FENTRY", "attach_btf_id": 1},
    "LSM": {"expected_attach_type": "LSM_MAC", "attach_btf_id": 1},
    "EXT": {"attach_btf_id": 1},
    "SYSCALL": {"prog_flags": BPF_F_SLEEPABLE},
}
#: Types that cannot load without a real target: a known refusal proves support.
_PROG_EXPECT: dict[str, tuple[int, str | None]] = {
    "TRACING": (_errno.EINVAL, "is not a function"),
    "LSM": (_errno.EINVAL, "is not a function"),
    "EXT": (_errno.EINVAL, "Cannot replace kernel functions"),
    "STRUCT_OPS": (_ENOTSUPP, None),
}


def probe_prog_type(prog_type: ProgType) -> Support:
    """Can a trivial program of this type load?  (special attrs as bpftool needs them)"""
    kw: dict[str, Any] = {}
    for key, value in _PROG_EXTRA.get(prog_type.name, {}).items():
        kw[key] = getattr(AttachType, value) if key == "expected_attach_type" else value
    if prog_type == ProgType.KPROBE:
        kw["kern_version"] = running_kernel().code
    yes_errno, needle = _PROG_EXPECT.get(prog_type.name, (None, None))
    return _verdict(lambda: _load(prog_type, **kw), yes_errno=yes_errno, log_needle=needle)


def probe_map_type(map_type: MapType) -> Support:
    """Can a minimal map of this type be created?  (sizes/flags/BTF as each type needs)"""
    name = map_type.name
    key, value, entries, kw = 4, 4, 1, {}
    yes_errno = None
    if name == "STACK_TRACE":
        value = 8
    elif name == "LPM_TRIE":
        key, value, kw = 8, 8, {"map_flags": BPF_F_NO_PREALLOC}
    elif map_type in (MapType.CGROUP_STORAGE, MapType.PERCPU_CGROUP_STORAGE):
        key, value, entries = 16, 8, 0  # sizeof(struct bpf_cgroup_storage_key), padded
    elif name in ("QUEUE", "STACK", "BLOOM_FILTER"):
        key = 0
    elif name in ("RINGBUF", "USER_RINGBUF"):
        key, value, entries = 0, 0, os.sysconf("SC_PAGE_SIZE")
    elif name == "ARENA":
        key, value, entries, kw = 0, 0, 1, {"map_flags": BPF_F_MMAPABLE}
    elif name == "STRUCT_OPS":
        kw, yes_errno = {"btf_vmlinux_value_type_id": 1}, _ENOTSUPP
    elif name in ("SK_STORAGE", "INODE_STORAGE", "TASK_STORAGE", "CGRP_STORAGE"):
        def create_storage() -> Fd:
            with btf_load(_storage_btf())[0] as btf:
                return map_create(map_type, 4, 8, 0, map_flags=BPF_F_NO_PREALLOC, btf_fd=btf,
                                  btf_key_type_id=1, btf_value_type_id=3)
        return _verdict(create_storage)
    elif name in ("ARRAY_OF_MAPS", "HASH_OF_MAPS"):
        def create_outer() -> Fd:
            with map_create(MapType.HASH, 4, 4, 1) as inner:
                return map_create(map_type, 4, 4, 1, inner_map_fd=inner)
        return _verdict(create_outer)
    return _verdict(lambda: map_create(map_type, key, value, entries, **kw), yes_errno=yes_errno)


def _probe_btf(kind: str) -> Support:
    blob = btf_blob(_INT + _BTF_PROBES[kind], _STRS)
    return _verdict(lambda: btf_load(blob))


def _probe_helper(prog_type: ProgType, body: bytes) -> Support:
    """A program calling one helper: 'invalid/unknown func' in the log means NO."""
    try:
        _close(_load(prog_type, body))
        return Support.YES
    except KernelError as exc:
        text = getattr(exc, "log", "")
        if "invalid func" in text or "unknown func" in text or "cannot use helper" in text:
            return Support.NO
        return Support.NO if exc.errno in _NO and not text else Support.UNKNOWN


def _probe_global_data() -> Support:
    def load() -> Any:
        with map_create(MapType.ARRAY, 4, 8, 1) as m:
            # r1 = map_value(m) + 0 (ld_imm64 with BPF_PSEUDO_MAP_VALUE); *(u64 *)(r1 + 0) = 42
            body = (_insn(0x18, 1, 2, 0, m.fileno()) + _insn(0, imm=0)
                    + _insn(0x7A, 1, 0, 0, 42) + _RET0)
            return _load(ProgType.SOCKET_FILTER, body)
    return _verdict(load)


def _raw_link_create(prog: Fd, target: int, attach_type: int) -> int:
    attr = ffi.new("struct bpf_attr_link_create *")
    attr.prog_fd = prog.fileno()
    attr.target_fd = target
    attr.attach_type = attach_type
    result, err = _raw(Cmd.LINK_CREATE, attr)
    if result >= 0:
        os.close(result)
        return 0
    return err


def _probe_link(prog_type: ProgType, attach_name: str, yes: int) -> Support:
    """Link to a target that cannot exist: ``yes`` (EBADF/ENODEV) proves the attach type is known."""
    attach = getattr(AttachType, attach_name, None)
    if attach is None:
        return Support.NO
    try:
        prog = _load(prog_type, expected_attach_type=attach if prog_type == ProgType.SCHED_CLS else 0).fd
    except KernelError:
        return Support.UNKNOWN
    with prog:
        err = _raw_link_create(prog, 0xFFFFFFFF, int(attach))
    if err == yes:
        return Support.YES
    return Support.NO if err in _NO else Support.UNKNOWN


def _probe_kprobe_attach() -> Support:
    if os.path.exists("/sys/bus/event_source/devices/kprobe/type"):
        return Support.YES
    if os.path.isdir("/sys/bus/event_source/devices"):
        return Support.NO
    return Support.UNKNOWN


#: The release whose BPF_LINK_CREATE makes sockmap links (sk_skb, sk_msg verdicts on a SOCKMAP/SOCKHASH).
SOCKMAP_LINK_MIN_VERSION = "6.10"


@functools.cache
def sockmap_links() -> Support:
    """Can sk_skb/sk_msg programs get a sockmap link?  Probed on first use, not with
    :func:`features`: only a refused sockmap attach needs the answer (to fall back to
    BPF_PROG_ATTACH or say which release it takes).  A link to a map fd that cannot
    exist gets EBADF from kernels that know sockmap links, EINVAL from older ones."""
    if not can_use_bpf():
        return Support.UNKNOWN
    return _probe_link(ProgType.SK_SKB, "SK_SKB_STREAM_VERDICT", _errno.EBADF)


# --- the model -------------------------------------------------------------------

_K = TypeVar("_K", ProgType, MapType)


class LazySupport(Mapping[_K, Support], Generic[_K]):
    """Support per program or map type, probed the first time each type is asked about.

    A load needs the answer for at most the few types it creates, and only
    to explain a refusal (cilium/ebpf's ``map.go`` probes after a failed
    create); probing all ~70 types up front cost every first load ~100
    bpf() calls.  Iterating (``prog_types``, the features table) probes the
    rest.
    """

    def __init__(self, probe: Callable[[_K], Support], keys: tuple[_K, ...]):
        self._probe = probe
        self._keys = keys
        self._known: dict[_K, Support] = {}

    def __getitem__(self, key: _K) -> Support:
        if key not in self._keys:
            raise KeyError(key)
        if key not in self._known:
            self._known[key] = self._probe(key)
        return self._known[key]

    def __iter__(self) -> Iterator[_K]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def probed(self) -> dict[_K, Support]:
        """The answers so far, without probing anything more."""
        return dict(self._known)

    def __repr__(self) -> str:
        return f"<LazySupport {len(self._known)} of {len(self._keys)} probed>"


#: Named feature probes, in display order.
FEATURE_NAMES: tuple[str, ...] = (
    "prog_name", "probe_read_kernel", "perf_link", "bpf_global_data", "bpf_cookie", "cpumap_prog_id",
    "devmap_prog_id", "btf", "btf_func", "btf_func_global", "btf_datasec", "btf_float", "btf_decl_tag",
    "btf_type_tag", "btf_enum64", "tcx", "netkit", "kprobe_attach",
)


#: Upstream release that introduced each named feature.
MIN_KERNEL: dict[str, str] = {
    "prog_name": "4.15", "probe_read_kernel": "5.5", "perf_link": "5.15", "bpf_global_data": "5.2",
    "bpf_cookie": "5.15", "cpumap_prog_id": "5.9", "devmap_prog_id": "5.8", "btf": "4.18", "btf_func": "5.0",
    "btf_func_global": "5.6", "btf_datasec": "5.2", "btf_float": "5.13", "btf_decl_tag": "5.16",
    "btf_type_tag": "5.17", "btf_enum64": "6.0", "tcx": "6.6", "netkit": "6.7", "kprobe_attach": "4.17",
}

#: Features a kernel of the right version may still lack: they are build options.
CONFIG_NEEDED: dict[str, str] = {"netkit": "CONFIG_NETKIT", "kprobe_attach": "CONFIG_KPROBES"}


@dataclass(frozen=True)
class Features:
    """This kernel's answers; ``prog_types``/``map_types`` hold the supported ones.

    ``prog_type_support``/``map_type_support`` keep all three states, so a
    type the probe could not decide (e.g. fentry refused with EPERM by a
    locked-down kernel) is not reported as missing.
    """

    privileged: bool
    note: str
    prog_name: Support
    probe_read_kernel: Support
    perf_link: Support
    bpf_global_data: Support
    bpf_cookie: Support
    cpumap_prog_id: Support
    devmap_prog_id: Support
    btf: Support
    btf_func: Support
    btf_func_global: Support
    btf_datasec: Support
    btf_float: Support
    btf_decl_tag: Support
    btf_type_tag: Support
    btf_enum64: Support
    tcx: Support
    netkit: Support
    kprobe_attach: Support
    #: Per type, probed on first access when they came from :func:`features` (:class:`LazySupport`).
    prog_type_support: Mapping[ProgType, Support] = field(default_factory=dict, hash=False, repr=False)
    map_type_support: Mapping[MapType, Support] = field(default_factory=dict, hash=False, repr=False)

    @property
    def prog_types(self) -> frozenset[ProgType]:
        return frozenset(t for t, s in self.prog_type_support.items() if s is Support.YES)

    @property
    def map_types(self) -> frozenset[MapType]:
        return frozenset(t for t, s in self.map_type_support.items() if s is Support.YES)

    def require(self, name: str) -> None:
        """Raise unless feature ``name`` is supported: UnsupportedFeature naming
        the minimum kernel, or NotPrivileged when nothing could be probed."""
        support = self.named()[name] if name in FEATURE_NAMES else None
        if support is None:
            raise KeyError(f"unknown feature {name!r}; known: {', '.join(FEATURE_NAMES)}")
        if support is Support.YES:
            return
        if not self.privileged:
            raise NotPrivileged(name, f"cannot probe for {name}: {self.note}")
        if support is Support.NO and name in CONFIG_NEEDED and running_kernel() >= KernelVersion.parse(MIN_KERNEL[name]):
            raise UnsupportedFeature(name, f"this kernel is built without {CONFIG_NEEDED[name]}")
        if support is Support.NO:
            raise UnsupportedFeature(name, f"this kernel is {running_kernel()}", min_version=MIN_KERNEL[name])
        raise UnsupportedFeature(name, "undecided: the kernel refused the probe for a reason other than lack of support")

    def named(self) -> dict[str, Support]:
        """The named probes, in display order."""
        return {name: getattr(self, name) for name in FEATURE_NAMES}

    def rows(self) -> list[tuple[str, str, str]]:
        """(group, name, support) for every probe: features, then prog and map types."""
        out = [("feature", n, s.value) for n, s in self.named().items()]
        out += [("prog_type", t.name.lower(), s.value) for t, s in sorted(self.prog_type_support.items())]
        out += [("map_type", t.name.lower(), s.value) for t, s in sorted(self.map_type_support.items())]
        return out

    def to_dataframe(self) -> Any:
        from ..display.kernel import features_dataframe

        return features_dataframe(self)

    def _repr_html_(self) -> str:
        from ..display.kernel import features_html

        return features_html(self)

    def __repr__(self) -> str:
        yes = sum(1 for s in self.named().values() if s is Support.YES)
        return (f"<Features {yes}/{len(FEATURE_NAMES)} features, {len(self.prog_types)} prog types, "
                f"{len(self.map_types)} map types{'' if self.privileged else ' (unprivileged: unknown)'}>")


def can_use_bpf() -> bool:
    """May this process create maps and load programs?

    CAP_BPF or CAP_SYS_ADMIN in the effective set, *and* a real one-entry
    array map creation succeeds (a seccomp filter or LSM can still say no).
    """
    if not is_privileged():
        return False
    try:
        map_create(MapType.ARRAY, 4, 4, 1).close()
    except (KernelError, OSError):
        return False
    return True


def _unknown(note: str) -> Features:
    values = {name: Support.UNKNOWN for name in FEATURE_NAMES}
    return Features(privileged=False, note=note, **values,
                    prog_type_support={t: Support.UNKNOWN for t in ProgType if t != ProgType.UNSPEC},
                    map_type_support={t: Support.UNKNOWN for t in MapType if t != MapType.UNSPEC})


@functools.cache
def features() -> Features:
    """Probe once per process (``features.cache_clear()`` to probe again).

    The named features are probed here; program and map types when first
    asked about (:class:`LazySupport`).

    Never raises: without privileges every answer is UNKNOWN and ``note``
    says why.
    """
    if not can_use_bpf():
        return _unknown("bpf() is not usable by this process (needs CAP_BPF or CAP_SYS_ADMIN): nothing was probed")
    trace_arg = _insn(0xBF, 1, 10) + _insn(0x07, 1, imm=-8) + _insn(0xB7, 2, imm=8) + _insn(0xB7, 3, imm=0)
    values = {
        "prog_name": _verdict(lambda: _load(ProgType.SOCKET_FILTER, name="bpfnb_probe")),
        "probe_read_kernel": _probe_helper(ProgType.TRACEPOINT, trace_arg + _call(FuncId.probe_read_kernel) + _RET0),
        "perf_link": _probe_link(ProgType.TRACEPOINT, "PERF_EVENT", _errno.EBADF),
        "bpf_global_data": _probe_global_data(),
        "bpf_cookie": _probe_helper(ProgType.TRACEPOINT, _call(FuncId.get_attach_cookie) + _RET0),
        "cpumap_prog_id": _verdict(lambda: map_create(MapType.CPUMAP, 4, 8, 1)),
        "devmap_prog_id": _verdict(lambda: map_create(MapType.DEVMAP, 4, 8, 1)),
        **{kind: _probe_btf(kind) for kind in _BTF_PROBES},
        "tcx": _probe_link(ProgType.SCHED_CLS, "TCX_INGRESS", _errno.ENODEV),
        "netkit": _probe_link(ProgType.SCHED_CLS, "NETKIT_PRIMARY", _errno.ENODEV),
        "kprobe_attach": _probe_kprobe_attach(),
    }
    progs = LazySupport(probe_prog_type, tuple(t for t in ProgType if t != ProgType.UNSPEC))
    maps = LazySupport(probe_map_type, tuple(t for t in MapType if t != MapType.UNSPEC))
    return Features(privileged=True, note="probed with bpf() on this kernel", **values,
                    prog_type_support=progs, map_type_support=maps)

