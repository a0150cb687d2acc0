"""BPF_OBJ_GET_INFO_BY_FD as dataclasses: ProgInfo, MapInfo, LinkInfo, BtfInfo.

The kernel fills at most ``info_len`` bytes, so the call is made with our
struct size and whatever the kernel knows comes back.  Arrays (a program's
map ids, its translated instructions, a link's tracepoint name, a BTF
blob) take the second-call pattern: the first call reports counts, the
second passes buffers of exactly that size.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from collections.abc import Iterator
from typing import Any, Union

from ..errors import UnsupportedFeature
from ..uapi import AttachType, Cmd, LinkType, MapType, ProgType
from ._ffi import ffi
from .fd import FdLike, fd_number
from .syscall import bpf

__all__ = ["LINK_INFO_MIN_VERSION", "BtfInfo", "LinkInfo", "MapInfo", "ProgInfo", "btf_info", "kernel_btf_objects", "link_info", "map_info", "obj_get_info_by_fd",
           "prog_info"]


def _enum(enum: Any, value: int) -> Any:
    """An enum member, or the plain int for values newer than our tables."""
    try:
        return enum(value)
    except ValueError:
        return int(value)


def _cstr(chars: Any) -> str:
    return ffi.string(chars).decode("utf-8", errors="replace")


def _get_info(fd: FdLike, ctype: str, info: Any = None) -> Any:
    """One BPF_OBJ_GET_INFO_BY_FD call into ``info`` (new zeroed struct if None)."""
    if info is None:
        info = ffi.new(f"{ctype} *")
    attr = ffi.new("struct bpf_attr_info *")
    attr.bpf_fd = fd_number(fd)
    attr.info_len = ffi.sizeof(ctype)
    attr.info = int(ffi.cast("uintptr_t", info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)
    return info


@dataclass(frozen=True)
class ProgInfo:
    """What the kernel says about a loaded program (``bpftool prog show``)."""

    id: int
    type: ProgType | int
    name: str
    tag: str  # 16 hex digits: the first 8 bytes of SHA-1 over the xlated insns
    jited_prog_len: int
    xlated_prog_len: int
    load_time: int  # ns since boot (CLOCK_BOOTTIME)
    created_by_uid: int
    map_ids: tuple[int, ...]
    ifindex: int
    gpl_compatible: bool
    netns_dev: int
    netns_ino: int
    btf_id: int
    nr_func_info: int
    nr_line_info: int
    run_time_ns: int
    run_cnt: int
    recursion_misses: int
    verified_insns: int
    attach_btf_obj_id: int
    attach_btf_id: int
    xlated: bytes | None = field(default=None, repr=False)

    @property
    def loaded_at(self) -> float:
        """Load time as a Unix timestamp (what ``bpftool prog show`` prints).

        The kernel records CLOCK_BOOTTIME; the wall-clock time of boot is
        now minus time since boot, so the result drifts with clock changes
        exactly as bpftool's does.
        """
        boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
        return boot + self.load_time / 1e9

    def _repr_html_(self) -> str:
        from ..display.kernel import info_html

        return info_html(self)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "xlated"}


@dataclass(frozen=True)
class MapInfo:
    """What the kernel says about a map (``bpftool map show``)."""

    id: int
    type: MapType | int
    name: str
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int
    ifindex: int
    btf_vmlinux_value_type_id: int
    netns_dev: int
    netns_ino: int
    btf_id: int
    btf_key_type_id: int
    btf_value_type_id: int
    btf_vmlinux_id: int
    map_extra: int

    def _repr_html_(self) -> str:
        from ..display.kernel import info_html

        return info_html(self)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


#: Link types whose attach-specific info came in a later release than the link type itself,
#: by the name of that info: where the kernel leaves it out, LinkInfo.unreported says which.
LINK_INFO_MIN_VERSION = {"perf_event link info": "6.6", "kprobe_multi link info": "6.6"}


@dataclass(frozen=True)
class LinkInfo:
    """A link: its type, program, and the attach-specific fields in ``details``.

    Some kernels know a link type but do not describe it: perf_event and
    kprobe_multi links exist since 5.15/5.18, their ``bpf_link_info`` part
    since 6.6.  There ``details`` is empty and ``unreported`` names what is
    missing (a key of :data:`LINK_INFO_MIN_VERSION`), so that a zeroed
    struct is never read as "attached to nothing"; :meth:`detail` turns the
    gap into a typed :class:`~bpfnb.errors.UnsupportedFeature`.
    """

    id: int
    type: LinkType | int
    prog_id: int
    details: dict[str, Any] = field(default_factory=dict, hash=False)
    unreported: str | None = None

    def detail(self, key: str) -> Any:
        """One attach-specific field; UnsupportedFeature (with its minimum release) where this
        kernel does not report the fields of this link type, KeyError where the type has none."""
        if key in self.details:
            return self.details[key]
        if self.unreported is not None:
            kind = self.type.name.lower() if isinstance(self.type, LinkType) else f"type {self.type}"
            raise UnsupportedFeature(self.unreported, f"link {self.id} ({kind}): no {key!r} from this kernel",
                                     min_version=LINK_INFO_MIN_VERSION[self.unreported])
        raise KeyError(key)

    def _repr_html_(self) -> str:
        from ..display.kernel import info_html

        return info_html(self)

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "type": self.type, "prog_id": self.prog_id, **self.details}
        if self.unreported is not None:
            out["unreported"] = self.unreported
        return out


@dataclass(frozen=True)
class BtfInfo:
    """A loaded BTF object; ``data`` is the raw blob when it was asked for."""

    id: int
    name: str
    btf_size: int
    kernel_btf: bool
    data: bytes | None = field(default=None, repr=False)

    def _repr_html_(self) -> str:
        from ..display.kernel import info_html

        return info_html(self)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "btf_size": self.btf_size, "kernel_btf": self.kernel_btf}


def prog_info(fd: FdLike, *, xlated: bool = False) -> ProgInfo:
    """ProgInfo for a program fd; ``xlated=True`` also fetches the translated insns."""
    first = _get_info(fd, "struct bpf_prog_info")
    nr_maps = int(first.nr_map_ids)
    xlen = int(first.xlated_prog_len) if xlated else 0
    map_ids: tuple[int, ...] = ()
    xbytes = None
    if nr_maps or xlen:
        second = ffi.new("struct bpf_prog_info *")
        ids = ffi.new("uint32_t[]", max(nr_maps, 1))
        xbuf = ffi.new("char[]", max(xlen, 1))
        second.nr_map_ids = nr_maps
        second.map_ids = int(ffi.cast("uintptr_t", ids))
        if xlen:
            second.xlated_prog_len = xlen
            second.xlated_prog_insns = int(ffi.cast("uintptr_t", xbuf))
        _get_info(fd, "struct bpf_prog_info", second)
        map_ids = tuple(ids[0 : min(nr_maps, int(second.nr_map_ids))])
        if xlen:
            xbytes = ffi.buffer(xbuf, min(xlen, int(second.xlated_prog_len)))[:]
    i = first
    return ProgInfo(
        id=i.id, type=_enum(ProgType, i.type), name=_cstr(i.name), tag=bytes(ffi.buffer(i.tag)).hex(),
        jited_prog_len=i.jited_prog_len, xlated_prog_len=i.xlated_prog_len, load_time=i.load_time,
        created_by_uid=i.created_by_uid, map_ids=map_ids, ifindex=i.ifindex, gpl_compatible=bool(i.gpl_compatible),
        netns_dev=i.netns_dev, netns_ino=i.netns_ino, btf_id=i.btf_id, nr_func_info=i.nr_func_info,
        nr_line_info=i.nr_line_info, run_time_ns=i.run_time_ns, run_cnt=i.run_cnt,
        recursion_misses=i.recursion_misses, verified_insns=i.verified_insns,
        attach_btf_obj_id=i.attach_btf_obj_id, attach_btf_id=i.attach_btf_id, xlated=xbytes,
    )


def map_info(fd: FdLike) -> MapInfo:
    """MapInfo for a map fd."""
    i = _get_info(fd, "struct bpf_map_info")
    return MapInfo(
        id=i.id, type=_enum(MapType, i.type), name=_cstr(i.name), key_size=i.key_size, value_size=i.value_size,
        max_entries=i.max_entries, map_flags=i.map_flags, ifindex=i.ifindex,
        btf_vmlinux_value_type_id=i.btf_vmlinux_value_type_id, netns_dev=i.netns_dev, netns_ino=i.netns_ino,
        btf_id=i.btf_id, btf_key_type_id=i.btf_key_type_id, btf_value_type_id=i.btf_value_type_id,
        btf_vmlinux_id=i.btf_vmlinux_id, map_extra=i.map_extra,
    )


def btf_info(fd: FdLike, *, data: bool = False) -> BtfInfo:
    """BtfInfo for a BTF fd; ``data=True`` also copies the raw BTF blob out."""
    first = _get_info(fd, "struct bpf_btf_info")
    # The name needs a buffer even on the first call; 64 fits module names.
    second = ffi.new("struct bpf_btf_info *")
    name = ffi.new("char[]", 64)
    second.name = int(ffi.cast("uintptr_t", name))
    second.name_len = 64
    blob = None
    if data:
        blob = ffi.new("char[]", max(int(first.btf_size), 1))
        second.btf = int(ffi.cast("uintptr_t", blob))
        second.btf_size = first.btf_size
    _get_info(fd, "struct bpf_btf_info", second)
    return BtfInfo(
        id=second.id, name=ffi.string(name).decode("utf-8", errors="replace"), btf_size=second.btf_size,
        kernel_btf=bool(second.kernel_btf),
        data=ffi.buffer(blob, int(second.btf_size))[:] if blob is not None else None,
    )


def kernel_btf_objects() -> Iterator[tuple[int, str]]:
    """(BTF object id, name) of the kernel's own BTF objects, vmlinux and each module's, in id
    order (the modules' load order), as the walk finds them: a caller looking for one can stop.

    Walks every BTF object (programs' too) and asks each its name; needs the
    privilege to open BTF objects by id (CAP_SYS_ADMIN).
    """
    from ..errors import KernelError
    from .syscall import btf_get_fd_by_id, btf_get_next_id

    current = 0
    while (current := btf_get_next_id(current)) is not None:
        try:
            fd = btf_get_fd_by_id(current)
        except KernelError:
            continue  # freed meanwhile
        with fd:
            info = btf_info(fd)
        if info.kernel_btf and info.name:
            yield info.id, info.name


def _string_field(fd: FdLike, part: str, ptr_field: str, len_field: str, length: int) -> str:
    """Second call for a link's string (tracepoint name, iter target...).

    ``part`` is a dotted path into ``struct bpf_link_info`` such as
    ``"perf_event.tracepoint"``.
    """
    if not length:
        return ""
    info = ffi.new("struct bpf_link_info *")
    buf = ffi.new("char[]", length + 1)
    sub = info
    for name in part.split("."):
        sub = getattr(sub, name)
    setattr(sub, ptr_field, int(ffi.cast("uintptr_t", buf)))
    setattr(sub, len_field, length + 1)
    _get_info(fd, "struct bpf_link_info", info)
    return ffi.string(buf).decode("utf-8", errors="replace")


#: ``enum bpf_perf_event_type``: what a perf_event link is attached to.
PERF_EVENT_KINDS = {1: "uprobe", 2: "uretprobe", 3: "kprobe", 4: "kretprobe", 5: "tracepoint", 6: "event"}


def _perf_event_details(fd: FdLike, pe: Any) -> dict[str, Any]:
    if not int(pe.type):  # BPF_PERF_EVENT_UNSPEC: a kernel before 6.6 fills in nothing
        return {}
    kind = PERF_EVENT_KINDS.get(int(pe.type), str(int(pe.type)))
    d: dict[str, Any] = {"perf_event_type": kind}
    if kind == "tracepoint":
        t = pe.tracepoint
        d.update(tp_name=_string_field(fd, "perf_event.tracepoint", "tp_name", "name_len", t.name_len), cookie=t.cookie)
    elif kind in ("kprobe", "kretprobe"):
        k = pe.kprobe
        d.update(func_name=_string_field(fd, "perf_event.kprobe", "func_name", "name_len", k.name_len),
                 offset=k.offset, addr=k.addr, missed=k.missed, cookie=k.cookie)
    elif kind in ("uprobe", "uretprobe"):
        u = pe.uprobe
        d.update(file_name=_string_field(fd, "perf_event.uprobe", "file_name", "name_len", u.name_len),
                 offset=u.offset, ref_ctr_offset=u.ref_ctr_offset, cookie=u.cookie)
    elif kind == "event":
        d.update(config=pe.event.config, type=pe.event.type, cookie=pe.event.cookie)
    return d


def link_info(fd: FdLike) -> LinkInfo:
    """LinkInfo for a link fd; ``details`` holds the fields of its link type."""
    i = _get_info(fd, "struct bpf_link_info")
    ltype = _enum(LinkType, i.type)
    d: dict[str, Any] = {}
    unreported: str | None = None
    if ltype == LinkType.RAW_TRACEPOINT:
        d["tp_name"] = _string_field(fd, "raw_tracepoint", "tp_name", "tp_name_len", i.raw_tracepoint.tp_name_len)
        d["cookie"] = i.raw_tracepoint.cookie
    elif ltype == LinkType.TRACING:
        t = i.tracing
        d.update(attach_type=_enum(AttachType, t.attach_type), target_obj_id=t.target_obj_id,
                 target_btf_id=t.target_btf_id, cookie=t.cookie)
    elif ltype == LinkType.CGROUP:
        d.update(cgroup_id=i.cgroup.cgroup_id, attach_type=_enum(AttachType, i.cgroup.attach_type))
    elif ltype == LinkType.ITER:
        d["target_name"] = _string_field(fd, "iter", "target_name", "target_name_len", i.iter.target_name_len)
        d["map_id"] = i.iter.map.map_id
    elif ltype == LinkType.NETNS:
        d.update(netns_ino=i.netns.netns_ino, attach_type=_enum(AttachType, i.netns.attach_type))
    elif ltype == LinkType.XDP:
        d["ifindex"] = i.xdp.ifindex
    elif ltype == LinkType.STRUCT_OPS:
        d["map_id"] = i.struct_ops.map_id
    elif ltype == LinkType.NETFILTER:
        n = i.netfilter
        d.update(pf=n.pf, hooknum=n.hooknum, priority=n.priority, flags=n.flags)
    elif ltype == LinkType.KPROBE_MULTI:
        if i.kprobe_multi.count:  # a kprobe_multi link has at least one address; 0: not reported
            d.update(count=i.kprobe_multi.count, flags=i.kprobe_multi.flags, missed=i.kprobe_multi.missed)
        else:
            unreported = "kprobe_multi link info"
    elif ltype == LinkType.UPROBE_MULTI:
        d.update(count=i.uprobe_multi.count, flags=i.uprobe_multi.flags, pid=i.uprobe_multi.pid)
    elif ltype == LinkType.PERF_EVENT:
        d.update(_perf_event_details(fd, i.perf_event))
        if not d:
            unreported = "perf_event link info"
    elif ltype in (LinkType.TCX, LinkType.NETKIT):
        part = i.tcx if ltype == LinkType.TCX else i.netkit
        d.update(ifindex=part.ifindex, attach_type=_enum(AttachType, part.attach_type))
    elif ltype == LinkType.SOCKMAP:
        d.update(map_id=i.sockmap.map_id, attach_type=_enum(AttachType, i.sockmap.attach_type))
    return LinkInfo(id=i.id, type=ltype, prog_id=i.prog_id, details=d, unreported=unreported)


Info = Union[ProgInfo, MapInfo, LinkInfo, BtfInfo]

_BY_INODE_NAME = {"bpf-prog": prog_info, "bpf-map": map_info, "bpf_link": link_info, "btf": btf_info}


def obj_get_info_by_fd(fd: FdLike) -> Info:
    """The info of whatever bpf object ``fd`` is, told apart by its anon inode name.

    ``/proc/self/fd/N`` reads ``anon_inode:bpf-map`` (``bpf-prog``,
    ``bpf_link``, ``btf``), which saves guessing the struct to pass.
    """
    target = os.readlink(f"/proc/self/fd/{fd_number(fd)}")
    kind = target.removeprefix("anon_inode:")
    try:
        return _BY_INODE_NAME[kind](fd)
    except KeyError:
        raise ValueError(f"fd {fd_number(fd)} is not a bpf map/prog/link/btf ({target})") from None
