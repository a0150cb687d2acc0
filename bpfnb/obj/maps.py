"""Map definitions: ``MapSpec`` and the legacy ``SEC("maps")`` decoder.

A ``MapSpec`` is pure data (cilium/ebpf's split): it renders anywhere and
only becomes a kernel map in the maps stage.  Specs are frozen; loader
options such as ``set_max_entries`` produce modified copies.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field, replace

from ..errors import SectionError
from ..uapi import MapType
from .sections import SectionKind, Symbol

__all__ = ["MapSpec", "PinningType", "parse_legacy_maps", "LEGACY_MAP_DEF_FIELDS"]


class PinningType(enum.IntEnum):
    """``pinning`` of a map definition (libbpf's LIBBPF_PIN_* values)."""

    NONE = 0
    BY_NAME = 1


#: Field order of ``struct bpf_map_def`` and its iproute2 extension
#: (``id``, ``pinning``): each field is a u32, a definition may stop early.
LEGACY_MAP_DEF_FIELDS = ("type", "key_size", "value_size", "max_entries", "map_flags", "id", "pinning")


def map_type_of(value: int) -> MapType | int:
    """A MapType when the kernel's UAPI names ``value``, else the raw int."""
    try:
        return MapType(value)
    except ValueError:
        return value


@dataclass(frozen=True, slots=True)
class MapSpec:
    """Everything needed to create one map, as the object file declares it."""

    name: str
    map_type: MapType | int | None
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int = 0
    numa_node: int = 0
    pinning: PinningType = PinningType.NONE
    map_extra: int = 0
    section: str = ""
    section_kind: SectionKind = SectionKind.OTHER
    symbol_offset: int = 0
    #: BTF type ids of key and value (0 when the object has no BTF for them).
    key_type_id: int = 0
    value_type_id: int = 0
    #: For map-in-map: the spec of the inner map template.
    inner: MapSpec | None = None
    #: Initial contents of a global-data map (``.data``/``.rodata``/...).
    data: bytes | None = field(default=None, repr=False)
    #: Initial slots of a prog array / map-in-map: index -> program or map name.
    init_slots: tuple[tuple[int, str], ...] = ()
    #: Whether the ELF alone described this map fully (False for ``.maps``
    #: entries until their BTF definition is decoded).
    complete: bool = True

    @property
    def type_name(self) -> str:
        """``hash``, ``percpu_array``...: the kernel enum name without prefix."""
        if self.map_type is None:
            return "unknown"
        if isinstance(self.map_type, MapType):
            return self.map_type.name.lower()
        return f"type {self.map_type}"

    @property
    def is_global_data(self) -> bool:
        return self.section_kind in (SectionKind.DATA, SectionKind.RODATA, SectionKind.BSS, SectionKind.KCONFIG)

    def with_(self, **changes) -> MapSpec:
        """A copy with fields changed (loader overrides use this)."""
        return replace(self, **changes)

    def __repr__(self) -> str:
        if not self.complete:
            return f"<MapSpec {self.name!r} in {self.section} (BTF definition not decoded)>"
        return (
            f"<MapSpec {self.name!r} {self.type_name} key={self.key_size}B value={self.value_size}B "
            f"max_entries={self.max_entries}" + (f" flags={self.map_flags:#x}" if self.map_flags else "") + ">"
        )

    def _repr_html_(self) -> str:
        from ..display.obj import map_spec_html

        return map_spec_html(self)


def parse_legacy_maps(section: str, data: bytes, symbols: list[Symbol]) -> list[MapSpec]:
    """Decode ``struct bpf_map_def`` records of a legacy ``maps`` section.

    Each map is an OBJECT symbol in the section.  A definition's size is the
    symbol's size when set, else the section size shared equally among the
    symbols (what old compilers emitted); only the fields that fit are read,
    as iproute2-style definitions may be longer and old ones shorter.
    """
    syms = sorted((s for s in symbols if s.type in ("STT_OBJECT", "STT_NOTYPE") and s.name), key=lambda s: s.value)
    if not syms:
        return []
    default_size = len(data) // len(syms)
    if default_size < 4 * 4:
        raise SectionError(f"{len(syms)} maps in {len(data)} bytes: a definition needs at least 16", section=section)
    maps = []
    for sym in syms:
        size = sym.size or default_size
        if sym.value + size > len(data) or size < 16:
            raise SectionError(f"map {sym.name!r} definition of {size} bytes out of bounds", section=section, offset=sym.value)
        count = min(size // 4, len(LEGACY_MAP_DEF_FIELDS))
        values = dict(zip(LEGACY_MAP_DEF_FIELDS, struct.unpack_from(f"<{count}I", data, sym.value)))
        pinning = values.get("pinning", 0)
        maps.append(
            MapSpec(
                name=sym.name,
                map_type=map_type_of(values["type"]),
                key_size=values["key_size"],
                value_size=values["value_size"],
                max_entries=values["max_entries"],
                map_flags=values.get("map_flags", 0),
                pinning=PinningType(pinning) if pinning in (0, 1) else PinningType.NONE,
                section=section,
                section_kind=SectionKind.MAPS,
                symbol_offset=sym.value,
            )
        )
    return maps
