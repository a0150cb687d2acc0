"""struct_ops in the kernel: the map, its programs' attach ids, registration and unregistration.

The pure layout (which kernel struct, which member gets which program,
the value bytes) is :mod:`bpfnb.obj.struct_ops`; this module finds the
kernel's types (vmlinux first, then module BTF, as libbpf does), creates
the ``BPF_MAP_TYPE_STRUCT_OPS`` map (key 4, value the wrapper struct,
``btf_vmlinux_value_type_id`` its id) and registers it:

* ``.struct_ops``: ``BPF_MAP_UPDATE_ELEM`` of key 0 registers (a TCP
  congestion control appears in ``tcp_available_congestion_control``),
  ``BPF_MAP_DELETE_ELEM`` unregisters — :class:`StructOpsRegistration`;
* ``.struct_ops.link`` (``BPF_F_LINK``, 6.4+): the update only fills the
  map, ``BPF_LINK_CREATE`` with attach type ``BPF_STRUCT_OPS`` registers and
  closing (or detaching) the link unregisters — a :class:`~bpfnb.kernel.links.Link`.
"""

from __future__ import annotations

import errno as _errno
import fcntl
import logging
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import AttachError, KernelError, NotPrivileged, StructOpsError, UnknownName, UnsupportedFeature
from ..obj.struct_ops import KernelStructOps, StructOpsSpec, find_kernel_types, match_struct_ops, unknown_type_error
from ..uapi import AttachType, MapType
from .fd import Fd
from .links import Attachment, Link
from .syscall import map_create, map_delete_elem, map_lookup_elem, map_update_elem, sanitize_name
from .syscall_attach import link_create
from .version import KernelVersion, running_kernel

if TYPE_CHECKING:
    from ..btf import Btf
    from .features import Features
    from .maps import CreatedMap, Map
    from .programs import AttachBtfTarget, Program

__all__ = [
    "BPF_F_VTYPE_BTF_OBJ_FD",
    "StructOps",
    "StructOpsRegistration",
    "attach_targets",
    "create_struct_ops_map",
    "kernel_struct_ops",
    "struct_ops_state",
]

log = logging.getLogger(__name__)

#: ``map_flags``: ``value_type_btf_obj_fd`` names the module BTF holding the wrapper (6.9+).
BPF_F_VTYPE_BTF_OBJ_FD = 1 << 15
_KEY0 = b"\0\0\0\0"
#: ``enum bpf_struct_ops_state``, at offset 4 of every value (after the refcount).
_STATES = {0: "init", 1: "inuse", 2: "tobefree", 3: "ready"}
_STRUCT_OPS_SINCE = "5.6"
_LINK_SINCE = "6.4"


def kernel_struct_ops(spec: StructOpsSpec, obj_btf: Btf, *, vmlinux: Btf | None = None) -> KernelStructOps:
    """``spec`` laid out for the running kernel: vmlinux first, then each module's BTF."""
    from ..btf import Btf
    from .programs import _module_names

    base = vmlinux if vmlinux is not None else Btf.from_sys_fs()
    if find_kernel_types(base, spec.kernel_type_name) is not None:
        return match_struct_ops(spec, obj_btf, base)
    for module in _module_names():
        try:
            mbtf = Btf.from_sys_fs(module)
        except UnknownName:
            continue
        if find_kernel_types(mbtf, spec.kernel_type_name) is not None:
            return match_struct_ops(spec, obj_btf, mbtf, btf_name=module)
    raise unknown_type_error(spec, base, "neither vmlinux nor any module BTF")


def _module_btf_fd(layout: KernelStructOps) -> Fd | None:
    if layout.btf_name == "vmlinux":
        return None
    from .programs import _module_btf_obj_id
    from .syscall import btf_get_fd_by_id

    return btf_get_fd_by_id(_module_btf_obj_id(layout.btf_name))


def create_struct_ops_map(spec: StructOpsSpec, obj_btf: Btf, *, btf_fd: Any = None,
                          features: Features | None = None) -> CreatedMap:
    """The maps stage for one struct_ops variable: laid out for this kernel, then created.

    As libbpf: the object's BTF fd with no key/value type ids, the
    wrapper's id as ``btf_vmlinux_value_type_id`` (plus the module's BTF fd
    for a module's type), ``BPF_F_LINK`` for ``.struct_ops.link``.
    """
    from .features import Support
    from .maps import CreatedMap, Map

    if features is not None and features.map_type_support.get(MapType.STRUCT_OPS) is Support.NO:
        raise UnsupportedFeature("struct_ops maps", f"struct_ops {spec.name!r}: this kernel has no struct_ops maps",
                                 min_version=_STRUCT_OPS_SINCE)
    layout = kernel_struct_ops(spec, obj_btf)
    if btf_fd is None:  # the kernel finds its counterpart through the object's BTF, so it must be loaded
        raise StructOpsError(f"struct_ops {spec.name!r}: the kernel refused the object's BTF, and a struct_ops map "
                             "cannot be created without it (see the btf stage)")
    mspec = layout.map_spec()
    kernel_name = sanitize_name(spec.name).decode()
    mod_fd = _module_btf_fd(layout)
    flags = mspec.map_flags | (BPF_F_VTYPE_BTF_OBJ_FD if mod_fd is not None else 0)
    try:
        fd = map_create(MapType.STRUCT_OPS, mspec.key_size, mspec.value_size, mspec.max_entries, name=kernel_name,
                        map_flags=flags, btf_fd=btf_fd, btf_vmlinux_value_type_id=layout.value_type_id,
                        value_type_btf_obj_fd=mod_fd)
    except NotPrivileged:
        raise
    except KernelError as exc:
        raise _create_refusal(exc, spec, layout) from exc
    finally:
        if mod_fd is not None:
            mod_fd.close()
    try:
        live = Map(fd, spec=mspec)
    except BaseException:
        fd.close()
        raise
    created = CreatedMap(spec.name, mspec, live, "created", live.kernel_name, with_btf=False)
    created.struct_ops = layout
    return created


def _create_refusal(exc: KernelError, spec: StructOpsSpec, layout: KernelStructOps) -> KernelError:
    """EINVAL on a kernel older than the feature is its absence, with the release that added it."""
    if exc.errno not in (_errno.EINVAL, _errno.EOPNOTSUPP, 524):
        return exc
    feature, since = ("struct_ops links", _LINK_SINCE) if spec.link else ("struct_ops maps", _STRUCT_OPS_SINCE)
    if running_kernel() < KernelVersion.parse(since):
        return UnsupportedFeature(feature, f"struct_ops {spec.name!r} ({layout.value_type_name}): this kernel is "
                                  f"{running_kernel()}", err=exc.errno, min_version=since)
    return exc


def attach_targets(layouts: Mapping[str, KernelStructOps]) -> dict[str, tuple[AttachBtfTarget, int]]:
    """program → (kernel struct as attach BTF target, member index) over every struct_ops map.

    A program may serve several maps only for the same member of the same
    kernel struct (libbpf's rule): it is loaded once, for one slot.
    """
    from .programs import AttachBtfTarget, _module_btf_obj_id

    out: dict[str, tuple[AttachBtfTarget, int]] = {}
    for name, layout in layouts.items():
        obj_id = _module_btf_obj_id(layout.btf_name) if layout.btf_name != "vmlinux" else 0
        target = AttachBtfTarget(layout.type_name, "STRUCT", layout.type_id, layout.btf_name, obj_id)
        for program, index in layout.attach.items():
            seen = out.get(program)
            if seen is not None and (seen[0].btf_id, seen[1]) != (target.btf_id, index):
                raise StructOpsError(f"program {program!r} is used by struct_ops {name!r} for struct "
                                     f"{layout.type_name} member #{index}, but already for struct {seen[0].name} "
                                     f"member #{seen[1]}: one program serves one member of one struct")
            out[program] = (target, index)
    return out


def struct_ops_state(value: bytes | None) -> str:
    """``init``, ``inuse`` (registered), ``tobefree`` or ``ready`` (filled, waiting for a link)."""
    if value is None or len(value) < 8:
        return "unknown"
    code = struct.unpack_from("<I", value, 4)[0]
    return _STATES.get(code, f"state {code}")


class StructOpsRegistration(Attachment):
    """A ``.struct_ops`` map registered by its map update; ``detach()`` deletes key 0.

    Holds its own duplicate of the map fd, so it can unregister after the
    object's maps were closed (a registered map outlives its fds).
    """

    kind = "struct_ops"

    def __init__(self, map_fd: Fd, *, name: str, type_name: str):
        super().__init__(program=None, target=f"struct {type_name} {name!r}")
        self.fd = map_fd
        self.name = name
        self.type_name = type_name

    @property
    def state(self) -> str:
        if self.fd.closed:
            return "closed"
        try:
            return struct_ops_state(map_lookup_elem(self.fd, _KEY0, self._value_size()))
        except KernelError:
            return "unknown"

    def _value_size(self) -> int:
        from .info import map_info

        return map_info(self.fd).value_size

    @property
    def attached(self) -> bool:
        return not self.fd.closed and self.state == "inuse"

    def _undo(self) -> None:
        try:
            map_delete_elem(self.fd, _KEY0)
        except KernelError as exc:
            raise AttachError(exc.errno or _errno.EINVAL, "BPF_MAP_DELETE_ELEM",
                              f"struct_ops {self.name!r}: unregistering struct {self.type_name}: {exc.detail}") from exc
        finally:
            self.fd.close()

    def detach(self) -> None:
        """Unregister (once), then give up the map fd."""
        try:
            super().detach()
        finally:
            self.fd.close()

    def close(self) -> None:
        self.detach()


def _dup(fd: Fd) -> Fd:
    return Fd(fcntl.fcntl(fd.fileno(), fcntl.F_DUPFD_CLOEXEC, 3), "map")


class StructOps:
    """One struct_ops map of a loaded object: its kernel layout, live map and programs.

    :meth:`attach` registers it and returns what undoes the registration
    (tracked here too: :meth:`detach` undoes them all, and the loader does
    before closing the object).
    """

    def __init__(self, map: Map, layout: KernelStructOps, programs: Mapping[str, Program]):
        self.map = map
        self.layout = layout
        self.programs = dict(programs)
        self.attachments: list[Attachment] = []

    @property
    def name(self) -> str:
        return self.layout.spec.name

    @property
    def link(self) -> bool:
        return self.layout.spec.link

    @property
    def state(self) -> str:
        """The kernel's state of the value: ``init`` before registration, ``inuse`` while registered."""
        return struct_ops_state(self.map.lookup(_KEY0))

    def value(self) -> bytes:
        """The bytes registration writes: data members in the kernel's layout, program fds in their slots."""
        missing = [p for p in self.layout.attach if p not in self.programs]
        if missing:
            raise StructOpsError(f"struct_ops {self.name!r}: program(s) {', '.join(map(repr, missing))} did not "
                                 "load, so the struct cannot be registered")
        return self.layout.value({n: p.fd.fileno() for n, p in self.programs.items()})

    def attach(self) -> Attachment:
        """Register with the kernel: a map update, then for ``.struct_ops.link`` a link."""
        what = f"struct_ops {self.name!r} (struct {self.layout.type_name})"
        value = self.value()
        try:
            map_update_elem(self.map.fd, _KEY0, value)
        except KernelError as exc:
            # a link map keeps its value once written: a second link reuses it (libbpf skips EBUSY too)
            if not (self.link and exc.errno == _errno.EBUSY):
                raise _refusal(exc, "BPF_MAP_UPDATE_ELEM", what) from exc
        attachment: Attachment
        if self.link:
            try:
                fd = link_create(self.map.fd, 0, AttachType.STRUCT_OPS)
            except KernelError as exc:
                raise _refusal(exc, "BPF_LINK_CREATE", what) from exc
            attachment = Link(fd, program=None, target=f"struct {self.layout.type_name} {self.name!r}",
                              kind="struct_ops")
        else:
            attachment = StructOpsRegistration(_dup(self.map.fd), name=self.name, type_name=self.layout.type_name)
        attachment._owned_by(self.attachments)
        log.debug("%s registered", what)
        return attachment

    def detach(self) -> int:
        """Undo every registration made here; how many there were."""
        made = list(self.attachments)
        for a in made:
            a.detach()
        return len(made)

    def __repr__(self) -> str:
        kind = "link" if self.link else "map update"
        return f"<StructOps {self.name!r} struct {self.layout.type_name} ({kind}), {len(self.attachments)} attached>"


def _refusal(exc: KernelError, command: str, what: str) -> KernelError:
    if isinstance(exc, NotPrivileged):
        return exc
    detail = f"{what}: the kernel refused to register it"
    if exc.detail:
        detail += f" ({exc.detail})"
    return AttachError(exc.errno or _errno.EINVAL, command, detail, hint=exc.hint)
