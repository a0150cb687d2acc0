"""``BPF_MAP_TYPE_STRUCT_OPS`` as a live map: one value, the kernel's ops struct, registered on attach.

The value decodes through the *kernel's* wrapper type (``struct
bpf_struct_ops_tcp_congestion_ops``: refcount and state, then the ops
struct with the ids of the programs in its callback slots), not through
the object's description of the struct, which has another size.  A map
from a loaded object can :meth:`~StructOpsMap.attach`; one adopted by id
or pin can only be read (registration needs the object's programs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..btf.codec import Codec, RawCodec
from ..errors import BpfnbError, MapError
from ..kernel.struct_ops import struct_ops_state
from ..uapi import MapType
from .codecs import MapCodecs
from .typed import TypedMap

if TYPE_CHECKING:
    from ..btf import Btf
    from ..kernel.links import Attachment
    from ..kernel.maps import Map
    from ..kernel.struct_ops import StructOps

__all__ = ["StructOpsMap"]

_KEY0 = b"\0\0\0\0"


def _kernel_codecs(raw: Map) -> MapCodecs:
    """u32 key; the value as the kernel's wrapper struct (``btf_vmlinux_value_type_id``)."""
    try:
        info = raw.info()
        kbtf = _wrapper_btf(info.btf_vmlinux_id)
        value = Codec(kbtf, info.btf_vmlinux_value_type_id)
        if value.size != raw.value_size:
            raise MapError(f"map {raw.name!r}: wrapper type is {value.size} bytes, the map's value {raw.value_size}")
        return MapCodecs(Codec(kbtf, kbtf.find("__u32", "TYPEDEF").id), value, "kernel", kbtf)
    except (BpfnbError, OSError):
        return MapCodecs(RawCodec(raw.key_size), RawCodec(raw.value_size), "raw")


def _wrapper_btf(btf_obj_id: int) -> Btf:
    """vmlinux's BTF, or the module's whose kernel BTF object holds the wrapper type."""
    from ..btf import Btf
    from ..kernel.info import btf_info
    from ..kernel.syscall import btf_get_fd_by_id

    name = "vmlinux"
    if btf_obj_id:
        with btf_get_fd_by_id(btf_obj_id) as fd:
            name = btf_info(fd).name or "vmlinux"
    return Btf.from_sys_fs(None if name == "vmlinux" else name)


class StructOpsMap(TypedMap):
    """A struct_ops map: ``attach()`` registers the ops struct, ``state`` says whether it is."""

    map_types = (MapType.STRUCT_OPS,)

    def __init__(self, raw: Map, btf: Btf | None = None, *, struct_ops: StructOps | None = None, **kw: Any):
        if "codecs" not in kw and "key_type" not in kw and "value_type" not in kw:
            kw["codecs"] = _kernel_codecs(raw)
        super().__init__(raw, btf, **kw)
        #: The loaded object's view (layout, programs); None for a map adopted by id or pin.
        self.struct_ops = struct_ops

    @property
    def state(self) -> str:
        """``init`` (created), ``inuse`` (registered), ``ready`` (a link map filled), ``tobefree``."""
        return struct_ops_state(self.raw.lookup(_KEY0))

    @property
    def registered(self) -> bool:
        return self.state == "inuse"

    @property
    def layout(self) -> Any:
        """Where each member of the object's struct went in the kernel's (``KernelStructOps``)."""
        return self._live().layout

    def _live(self) -> StructOps:
        if self.struct_ops is None:
            raise MapError(f"struct_ops map {self.name!r} was not created by this process's loader: "
                           "registering it needs its object's programs")
        return self.struct_ops

    def attach(self) -> Attachment:
        """Register the ops struct (a map update; for ``.struct_ops.link`` maps a link as well)."""
        return self._live().attach()

    def detach(self) -> int:
        """Undo what :meth:`attach` registered; how many registrations that was."""
        return self._live().detach()

    def __iter__(self):
        yield from (k for k, _ in self.items())

    def items(self):
        """The one entry (key 0) once the kernel holds a value; the kernel has no key walk for these maps."""
        value = self.raw.lookup(_KEY0)
        if value is not None:
            yield self.decode_key(_KEY0), self.decode_value(value)
