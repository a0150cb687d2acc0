"""``.struct_ops`` maps: a kernel ops struct filled by an object, matched to the kernel's layout.

An object declares ``SEC(".struct_ops") struct tcp_congestion_ops ca = {
.ssthresh = (void *)prog, .name = "ca" }``: the variable is a map of
type ``BPF_MAP_TYPE_STRUCT_OPS`` whose single value is the kernel's
``struct bpf_struct_ops_tcp_congestion_ops`` wrapper around the struct.
The object's struct is only a *description* (its members may be fewer and
in another order than the kernel's), so everything is matched by member
name, as libbpf's ``bpf_map__init_kern_struct_ops`` does:

* data members are copied from the section into the kernel layout; one the
  kernel lacks is dropped when it is all zeros and refused otherwise;
* function-pointer members set (by a ``.rel.struct_ops`` relocation) to a
  ``SEC("struct_ops/...")`` program get that program's fd at registration,
  and the program is loaded with ``attach_btf_id`` = the kernel struct's id
  and ``expected_attach_type`` = the member's index in the kernel struct.

``.struct_ops.link`` is the same with ``BPF_F_LINK``: registration is a
``BPF_LINK_CREATE`` on the map instead of the map update alone.  Pure:
the kernel's BTF is an argument (:func:`match_struct_ops`); syscalls live
in :mod:`bpfnb.kernel.struct_ops`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..btf.core_spec import core_essential_name
from ..btf.types import FuncProto, Ptr, Struct, Var
from ..errors import BpfnbError, BtfError, SectionError, StructOpsError, UnknownName, did_you_mean
from ..uapi import MapType, ProgType
from .maps import MapSpec
from .sections import SectionKind, Symbol

if TYPE_CHECKING:
    from ..btf import Btf
    from .programs import ProgramSpec

__all__ = [
    "BPF_F_LINK",
    "KernelSlot",
    "KernelStructOps",
    "STRUCT_OPS_VALUE_PREFIX",
    "StructOpsMember",
    "StructOpsSpec",
    "essential_name",
    "match_struct_ops",
    "parse_struct_ops",
    "struct_ops_type_names",
]

#: ``map_flags`` of a ``.struct_ops.link`` map: registered through a bpf_link.
BPF_F_LINK = 1 << 13
#: The kernel wraps each ops struct ``X`` in ``struct bpf_struct_ops_X`` (refcount, state, then X).
STRUCT_OPS_VALUE_PREFIX = "bpf_struct_ops_"
_LINK_SECTION = ".struct_ops.link"
#: ``bpf_struct_ops_*`` structs that are the machinery, not a wrapper of an ops struct.
_NOT_WRAPPERS = frozenset({"arg_info", "desc", "common_value", "value", "map", "link", "bpf_dummy_ops_state"})


def essential_name(name: str) -> str:
    """``tcp_congestion_ops___v2`` → ``tcp_congestion_ops``: a flavour suffix names the same kernel type
    (libbpf strips it as CO-RE does, at the last ``x___y`` separator)."""
    return core_essential_name(name)


@dataclass(frozen=True, slots=True)
class StructOpsMember:
    """One member of the object's ops struct and what the object put in it."""

    name: str
    #: Index and byte offset in the *object's* struct.
    index: int
    offset: int
    size: int
    type_id: int
    #: A pointer to a function prototype (a callback slot).
    func_ptr: bool
    #: The struct_ops program a relocation put here (None: NULL or data).
    program: str | None = None
    bitfield: bool = False


@dataclass(frozen=True, slots=True)
class StructOpsSpec:
    """A ``.struct_ops`` variable as the object declares it (pure data)."""

    name: str
    section: str
    #: The object's struct as named in its BTF (maybe with a ``___flavour``) and its id there.
    type_name: str
    type_id: int
    offset: int
    data: bytes
    members: tuple[StructOpsMember, ...]

    @property
    def link(self) -> bool:
        """``.struct_ops.link``: registered by BPF_LINK_CREATE, detached by closing the link."""
        return self.section.lstrip("?") == _LINK_SECTION

    @property
    def autocreate(self) -> bool:
        """``SEC("?.struct_ops")``: the map is not created (nor its programs loaded) unless asked."""
        return not self.section.startswith("?")

    @property
    def kernel_type_name(self) -> str:
        return essential_name(self.type_name)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def programs(self) -> dict[str, str]:
        """member → program, for the members a program fills."""
        return {m.name: m.program for m in self.members if m.program is not None}

    def member(self, name: str) -> StructOpsMember:
        for m in self.members:
            if m.name == name:
                return m
        raise UnknownName(f"struct_ops {self.name!r}: struct {self.type_name} has no member {name!r}"
                          f"{did_you_mean(name, (m.name for m in self.members))}")

    def map_spec(self) -> MapSpec:
        """The map libbpf makes of it at open: key 4, value the object's struct, one entry."""
        return MapSpec(
            name=self.name, map_type=MapType.STRUCT_OPS, key_size=4, value_size=self.size, max_entries=1,
            map_flags=BPF_F_LINK if self.link else 0, section=self.section, section_kind=SectionKind.STRUCT_OPS,
            symbol_offset=self.offset, value_type_id=self.type_id, data=self.data,
        )

    def __repr__(self) -> str:
        progs = ", ".join(f"{m}={p}" for m, p in self.programs.items())
        return f"<StructOpsSpec {self.name!r} struct {self.type_name} in {self.section}: {progs or 'no programs'}>"

    def to_dataframe(self):
        """One row per member: offset, size, callback or data, the program or the bytes."""
        from ..display.struct_ops import struct_ops_frame

        return struct_ops_frame(self)

    def _repr_html_(self) -> str:
        from ..display.struct_ops import struct_ops_spec_html

        return struct_ops_spec_html(self)


# --- parse ------------------------------------------------------------------------------


def _is_func_ptr(btf: Btf, type_id: int) -> bool:
    t = btf[btf.resolve(type_id)]
    return isinstance(t, Ptr) and isinstance(btf[btf.resolve(t.type_id)], FuncProto)


def _struct_of(btf: Btf, var: Var, section: str) -> Struct:
    t = btf[btf.resolve(var.type_id)]
    if not isinstance(t, Struct) or t.kind.name != "STRUCT":
        raise SectionError(f"struct_ops {var.name!r} is {btf.name_of(var.type_id)}, not a struct", section=section)
    if not t.name:
        raise SectionError(f"struct_ops {var.name!r}: an anonymous struct names no kernel type", section=section)
    return t


def parse_struct_ops(
    btf: Btf, section: str, data: bytes, symbols: Iterable[Symbol],
    relocations: Iterable[tuple[int, int, Symbol]], programs: Mapping[str, ProgramSpec],
) -> list[StructOpsSpec]:
    """Every variable of one ``.struct_ops``/``.struct_ops.link`` section, with its programs.

    ``symbols`` are the ELF symbols defined in the section (their values
    are the variables' offsets: clang leaves the DATASEC's to the loader),
    ``relocations`` the section's ``.rel`` entries (offset, type, symbol),
    each putting a program into a function-pointer member.
    """
    try:
        datasec = btf.find(section, kind="DATASEC")
    except BpfnbError:
        raise BtfError(f"no DATASEC {section!r} describes the struct_ops variables in {section}") from None
    by_name = {s.name: s for s in symbols if s.name}
    by_location = {(p.section, p.offset): p for p in programs.values()}
    relocs = sorted(relocations, key=lambda r: r[0])
    out = []
    for info in datasec.vars:
        var = btf[info.type_id]
        if not isinstance(var, Var):
            raise BtfError(f"DATASEC {section!r} entry is {var.kind.name}, not VAR", type_id=info.type_id)
        t = _struct_of(btf, var, section)
        sym = by_name.get(var.name)
        offset = sym.value if sym is not None else info.offset
        if offset + t.size > len(data):
            raise SectionError(f"struct_ops {var.name!r} ({t.size} bytes at {offset:#x}) runs past the section's "
                               f"{len(data)} bytes", section=section, offset=offset)
        raw = data[offset : offset + t.size]
        members = []
        by_offset: dict[int, int] = {}
        for i, m in enumerate(t.members):
            try:
                size = btf.size_of(m.type_id)
            except BtfError as exc:
                raise StructOpsError(f"struct_ops {var.name!r}: member {m.name!r} has no size ({exc})") from None
            members.append(StructOpsMember(m.name, i, m.offset, size, m.type_id, _is_func_ptr(btf, m.type_id),
                                           bitfield=bool(m.bitfield_size)))
            if not m.bitfield_size and not m.bit_offset % 8:
                by_offset.setdefault(m.offset, i)
        for r_offset, _rtype, rsym in relocs:
            if not offset <= r_offset < offset + t.size:
                continue
            moff = r_offset - offset
            index = by_offset.get(moff)
            if index is None:
                raise SectionError(f"struct_ops {var.name!r}: relocation at +{moff:#x} is not at a member of "
                                   f"struct {t.name}", section=section, offset=r_offset)
            member = members[index]
            if not member.func_ptr:
                raise StructOpsError(f"struct_ops {var.name!r}: member {member.name!r} is not a function pointer, "
                                     f"but a relocation puts {rsym.name!r} there")
            target = rsym.value
            if rsym.type == "STT_SECTION" and moff + 8 <= len(raw):  # REL: the addend sits in the data
                target += struct.unpack_from("<Q", raw, moff)[0]
            prog = by_location.get((rsym.section, target))
            if prog is None or prog.prog_type != ProgType.STRUCT_OPS:
                what = f"program {prog.name!r} of type {prog.prog_type!r}" if prog is not None else f"{rsym.name!r}"
                raise StructOpsError(f"struct_ops {var.name!r}: member {member.name!r} points to {what}, "
                                     "not a SEC(\"struct_ops/...\") program")
            members[index] = replace(member, program=prog.name)
        out.append(StructOpsSpec(var.name, section, t.name, t.id, offset, bytes(raw), tuple(members)))
    return out


# --- matched to a kernel ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KernelSlot:
    """Where one object member goes in the kernel's value.

    ``action``: ``copy`` (data bytes copied), ``program`` (a program fd goes
    here at registration), ``null`` (a callback left NULL), ``skip`` (the
    kernel lacks the member and the object left it zero).
    """

    member: str
    action: str
    offset: int
    size: int
    kernel_index: int | None = None
    #: Byte offset in the map value (the wrapper), not in the inner struct.
    value_offset: int | None = None
    program: str | None = None


@dataclass(frozen=True)
class KernelStructOps:
    """A struct_ops variable laid out for one kernel: the map to create and the value to write."""

    spec: StructOpsSpec
    #: Where the kernel's types were found: "vmlinux" or a module name.
    btf_name: str
    type_id: int
    value_type_id: int
    value_type_name: str
    value_size: int
    #: Offset of the ops struct inside the wrapper value.
    data_offset: int
    slots: tuple[KernelSlot, ...]
    #: The value with data members copied and every callback still NULL.
    template: bytes

    @property
    def type_name(self) -> str:
        return self.spec.kernel_type_name

    @property
    def attach(self) -> dict[str, int]:
        """program → member index in the kernel struct: its ``expected_attach_type``."""
        return {s.program: s.kernel_index for s in self.slots if s.program is not None and s.kernel_index is not None}

    @property
    def skipped(self) -> list[str]:
        """Members the kernel lacks, dropped because the object left them zero."""
        return [s.member for s in self.slots if s.action == "skip"]

    def value(self, program_fds: Mapping[str, int]) -> bytes:
        """The map value to register: the template with each program's fd in its slot."""
        out = bytearray(self.template)
        for s in self.slots:
            if s.program is None:
                continue
            fd = program_fds.get(s.program)
            if fd is None:
                raise StructOpsError(f"struct_ops {self.spec.name!r}: member {s.member!r} needs program "
                                     f"{s.program!r}, which did not load")
            assert s.value_offset is not None
            struct.pack_into("<Q", out, s.value_offset, fd)
        return bytes(out)

    def map_spec(self) -> MapSpec:
        """The spec as created in this kernel: libbpf's sizes after load (value = the wrapper)."""
        return replace(self.spec.map_spec(), value_size=self.value_size, value_type_id=0, data=None)

    def __repr__(self) -> str:
        return (f"<KernelStructOps {self.spec.name!r} struct {self.type_name} #{self.type_id} "
                f"in {self.btf_name}, value {self.value_type_name} {self.value_size}B>")

    def to_dataframe(self):
        from ..display.struct_ops import kernel_struct_ops_frame

        return kernel_struct_ops_frame(self)

    def _repr_html_(self) -> str:
        from ..display.struct_ops import kernel_struct_ops_html

        return kernel_struct_ops_html(self)


def struct_ops_type_names(kernel: Btf) -> list[str]:
    """Ops structs this kernel BTF can register (the X of every ``struct bpf_struct_ops_X``)."""
    names = []
    for name in kernel.name_index():
        if name.startswith(STRUCT_OPS_VALUE_PREFIX):
            rest = name[len(STRUCT_OPS_VALUE_PREFIX):]
            if rest and rest not in _NOT_WRAPPERS:
                names.append(rest)
    return sorted(names)


def _own(kernel: Btf, name: str) -> list[Any]:
    """Structs named ``name`` in this BTF (for module BTF: its own ids, not the base's)."""
    return [t for t in kernel.find_all(name, "STRUCT") if t.id >= kernel.start_id]


def find_kernel_types(kernel: Btf, type_name: str) -> tuple[Struct, Struct, int] | None:
    """(ops struct, wrapper struct, offset of the ops struct in the wrapper), or None when absent here."""
    found = _own(kernel, type_name)
    wrappers = _own(kernel, STRUCT_OPS_VALUE_PREFIX + type_name)
    if not found or not wrappers:
        return None
    ktype, wrapper = found[0], wrappers[0]
    for m in wrapper.members:
        if kernel.resolve(m.type_id) == ktype.id:
            return ktype, wrapper, m.offset
    raise StructOpsError(f"struct {wrapper.name} (BTF id {wrapper.id}) holds no struct {type_name} member")


def unknown_type_error(spec: StructOpsSpec, kernel: Btf, where: str) -> UnknownName:
    """UnknownName for an ops struct no kernel BTF wraps, with the close ones the kernel has."""
    name = spec.kernel_type_name
    known = struct_ops_type_names(kernel)
    hint = did_you_mean(name, known)
    if not hint and known:
        hint = f"; this kernel has: {', '.join(known)}"
    has = "the struct but no " if kernel.find_all(name, "STRUCT") else "no "
    return UnknownName(f"struct_ops {spec.name!r}: {where} has {has}struct {STRUCT_OPS_VALUE_PREFIX}{name} "
                       f"to register a struct {name} with{hint}")


def match_struct_ops(spec: StructOpsSpec, obj_btf: Btf, kernel: Btf, *, btf_name: str = "vmlinux") -> KernelStructOps:
    """Lay ``spec`` out as ``kernel`` expects it (libbpf's ``bpf_map__init_kern_struct_ops``).

    UnknownName when ``kernel`` has no ``bpf_struct_ops_<type>`` wrapper;
    StructOpsError for a member that cannot be placed: set but absent from
    the kernel struct, a bitfield, of another kind or size, or a callback
    the kernel declares as data.
    """
    found = find_kernel_types(kernel, spec.kernel_type_name)
    if found is None:
        raise unknown_type_error(spec, kernel, btf_name)
    ktype, wrapper, data_off = found
    where = f"struct_ops {spec.name!r} (struct {ktype.name})"
    template = bytearray(wrapper.size)
    slots = []
    kmembers = {m.name: (i, m) for i, m in enumerate(ktype.members)}
    for m in spec.members:
        mdata = spec.data[m.offset : m.offset + m.size]
        if m.name not in kmembers:
            if m.program is not None or any(mdata):
                what = f"is set to program {m.program!r}" if m.program else "is not zero"
                raise StructOpsError(f"{where}: member {m.name!r} {what}, but this kernel's struct {ktype.name} "
                                     f"has no such member{did_you_mean(m.name, kmembers)}")
            slots.append(KernelSlot(m.name, "skip", m.offset, m.size))
            continue
        kindex, km = kmembers[m.name]
        if m.bitfield or km.bitfield_size:
            raise StructOpsError(f"{where}: member {m.name!r} is a bitfield, which struct_ops values cannot hold")
        local_t = obj_btf[obj_btf.resolve(m.type_id)]
        kernel_t = kernel[kernel.resolve(km.type_id)]
        if local_t.kind != kernel_t.kind:
            raise StructOpsError(f"{where}: member {m.name!r} is {local_t.kind.name} in the object but "
                                 f"{kernel_t.kind.name} in the kernel")
        value_off = data_off + km.offset
        if isinstance(local_t, Ptr):
            if m.program is None:
                slots.append(KernelSlot(m.name, "null", m.offset, m.size, kindex, value_off))
                continue
            if not _is_func_ptr(kernel, km.type_id):
                raise StructOpsError(f"{where}: member {m.name!r} holds program {m.program!r}, but the kernel's "
                                     "member is not a function pointer")
            slots.append(KernelSlot(m.name, "program", m.offset, m.size, kindex, value_off, m.program))
            continue
        ksize = kernel.size_of(km.type_id)
        if ksize != m.size:
            raise StructOpsError(f"{where}: member {m.name!r} is {m.size} bytes in the object, {ksize} in the kernel")
        template[value_off : value_off + m.size] = mdata
        slots.append(KernelSlot(m.name, "copy", m.offset, m.size, kindex, value_off))
    return KernelStructOps(spec, btf_name, ktype.id, wrapper.id, wrapper.name, wrapper.size, data_off,
                           tuple(slots), bytes(template))
