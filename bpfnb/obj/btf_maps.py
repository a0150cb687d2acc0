"""What BTF tells the object model: ``.maps`` definitions and global variables.

A ``.maps`` entry is a variable whose *type* is the definition: each field
is encoded in BTF rather than in bytes.  ``__uint(name, N)`` declares
``int (*name)[N]`` (the number is the array length), ``__type(key, T)``
declares ``T *key`` (the key type is the pointee), and
``__array(values, struct inner)`` declares ``struct inner *values[]``
(the inner map template; initial slots come from ``.rel.maps``).

Variables of ``.data``/``.rodata``/``.bss``/custom sections get their BTF
type and decoded initial value here.  Offsets come from the ELF symbols:
clang leaves DATASEC offsets to the loader (the same fix-up libbpf does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from ..btf.types import Array, FuncProto, Ptr, Struct, Var
from ..btf.values import decode_value
from ..errors import BtfError, MapError
from .data import DataSection, Variable
from .maps import MapSpec, PinningType, map_type_of
from .sections import SectionKind, Symbol

if TYPE_CHECKING:
    from ..btf import Btf

__all__ = ["decode_btf_maps", "type_global_variables"]

_INT_FIELDS = ("type", "max_entries", "map_flags", "numa_node", "pinning", "map_extra", "key_size", "value_size")


_MAX_DECODED_INITIAL = 1 << 20  # bytes of one global's initial value decoded at parse


def _uint_field(btf: Btf, map_name: str, field: str, type_id: int) -> int:
    """``__uint(field, N)`` is ``int (*field)[N]``: N is the array length."""
    ptr = btf[btf.resolve(type_id)]
    arr = btf[btf.resolve(ptr.type_id)] if isinstance(ptr, Ptr) else None
    if not isinstance(arr, Array):
        raise MapError(f"map {map_name!r}: field {field!r} is {btf.name_of(type_id)}, not __uint() (int (*)[N])")
    return arr.nelems


def _definition(btf: Btf, name: str, struct_id: int, section: str, offset: int, *, inner: bool = False) -> tuple[MapSpec, int | None]:
    """Decode one definition; returns the spec and the byte offset of ``values``."""
    t = btf[btf.resolve(struct_id)]
    if not isinstance(t, Struct):
        raise MapError(f"map {name!r}: definition is {btf.name_of(struct_id)}, not a struct")
    fields: dict[str, int] = {}
    key_type = value_type = 0
    inner_spec: MapSpec | None = None
    values_offset = None
    for m in t.members:
        if m.name in _INT_FIELDS:
            fields[m.name] = _uint_field(btf, name, m.name, m.type_id)
        elif m.name in ("key", "value"):
            ptr = btf[btf.resolve(m.type_id)]
            if not isinstance(ptr, Ptr):
                raise MapError(f"map {name!r}: field {m.name!r} is {btf.name_of(m.type_id)}, not __type() (a pointer)")
            if m.name == "key":
                key_type = ptr.type_id
            else:
                value_type = ptr.type_id
        elif m.name == "values":
            if inner:
                raise MapError(f"map {name!r}: an inner map definition cannot have 'values'")
            arr = btf[btf.resolve(m.type_id)]
            elem = btf[btf.resolve(arr.type_id)] if isinstance(arr, Array) else None
            target = btf[btf.resolve(elem.type_id)] if isinstance(elem, Ptr) else None
            if isinstance(target, Struct):
                inner_spec, _ = _definition(btf, f"{name}.inner", target.id, section, offset, inner=True)
            elif not isinstance(target, FuncProto):
                raise MapError(f"map {name!r}: 'values' is {btf.name_of(m.type_id)}, not __array() of maps or programs")
            values_offset = m.bit_offset // 8
        else:
            raise MapError(f"map {name!r}: unknown field {m.name!r} in its {section} definition")
    key_size = btf.size_of(key_type) if key_type else fields.get("key_size", 0)
    value_size = btf.size_of(value_type) if value_type else fields.get("value_size", 0)
    for what, declared, derived in (("key", fields.get("key_size"), key_size), ("value", fields.get("value_size"), value_size)):
        if declared is not None and declared != derived:
            raise MapError(f"map {name!r}: {what}_size {declared} disagrees with its {what} type's size {derived}")
    if values_offset is not None and not value_size:
        value_size = 4  # map-in-map and prog arrays hold u32 fds
    pinning = fields.get("pinning", 0)
    if pinning not in (0, 1):
        raise MapError(f"map {name!r}: pinning {pinning} is neither LIBBPF_PIN_NONE (0) nor LIBBPF_PIN_BY_NAME (1)")
    if "type" not in fields:
        raise MapError(f"map {name!r}: no type in its {section} definition")
    spec = MapSpec(
        name=name,
        map_type=map_type_of(fields["type"]),
        key_size=key_size,
        value_size=value_size,
        max_entries=fields.get("max_entries", 0),
        map_flags=fields.get("map_flags", 0),
        numa_node=fields.get("numa_node", 0),
        pinning=PinningType(pinning),
        map_extra=fields.get("map_extra", 0),
        section=section,
        section_kind=SectionKind.BTF_MAPS,
        symbol_offset=offset,
        key_type_id=key_type,
        value_type_id=value_type,
        inner=inner_spec,
    )
    return spec, values_offset


def decode_btf_maps(
    btf: Btf, section: str, maps: dict[str, MapSpec], relocations: list[tuple[int, int, Symbol]],
    symbol_sizes: Mapping[str, int] | None = None,
) -> dict[str, MapSpec]:
    """Fill in the ``.maps`` specs of ``maps`` from BTF (others pass through).

    ``relocations`` are the ``.rel.maps`` entries (offset, type, symbol):
    each one inside a map's ``values`` array sets an initial slot.  The
    array is flexible (``values[]``), so the BTF struct size stops before
    it; the ELF symbol's size (``symbol_sizes``) covers the initialised
    slots.
    """
    datasec = btf.datasec(section)
    if datasec is None:
        if any(m.section == section for m in maps.values()):
            raise BtfError(f"no DATASEC {section!r} describes the maps in {section}")
        return maps
    out = dict(maps)
    for info in datasec.vars:
        var = btf[info.type_id]
        if not isinstance(var, Var):
            raise BtfError(f"DATASEC {section!r} entry is {var.kind.name}, not VAR", type_id=info.type_id)
        elf = maps.get(var.name)
        if elf is None or elf.section != section:
            raise MapError(f"map {var.name!r} is in the {section} BTF but has no ELF symbol there")
        spec, values_offset = _definition(btf, var.name, var.type_id, section, elf.symbol_offset)
        if values_offset is not None:
            size = max(btf.size_of(btf.resolve(var.type_id)), (symbol_sizes or {}).get(var.name, 0))
            slots = []
            for r_offset, _type, sym in relocations:
                start = elf.symbol_offset + values_offset
                if start <= r_offset < elf.symbol_offset + size:
                    slots.append(((r_offset - start) // 8, sym.name))
            spec = replace(spec, init_slots=tuple(sorted(slots)))
        out[var.name] = spec
    return out


def type_global_variables(btf: Btf, section: DataSection) -> DataSection:
    """Give each variable of a data section its BTF type and initial value."""
    datasec = btf.datasec(section.name)
    if datasec is None:
        return section
    by_name = {v.name: v for v in section.variables}
    typed = []
    for info in datasec.vars:
        var = btf[info.type_id]
        if not isinstance(var, Var):
            raise BtfError(f"DATASEC {section.name!r} entry is {var.kind.name}, not VAR", type_id=info.type_id)
        elf = by_name.pop(var.name, None)
        offset = elf.offset if elf is not None else info.offset
        size = btf.size_of(var.type_id)
        # clang may split a static array it only partly uses ("hits.0"): the
        # BTF variable then has no ELF symbol and may not fit the section.
        # Such a variable keeps its type but has no decodable initial value.
        fits = offset + size <= section.size
        # Huge variables (a .bss claiming a gigabyte) keep no decoded value: decoding would
        # materialise them at parse time.
        fits = fits and size <= _MAX_DECODED_INITIAL
        raw = section.raw[offset : offset + size].ljust(size, b"\0") if fits else b""
        value = decode_value(btf, var.type_id, raw) if fits else None
        typed.append(
            Variable(
                name=var.name,
                offset=offset,
                size=size,
                bind=elf.bind if elf is not None else ("STB_LOCAL" if var.linkage == 0 else "STB_GLOBAL"),
                type_id=var.type_id,
                type_name=btf.name_of(var.type_id),
                value=value,
            )
        )
    typed.extend(by_name.values())  # symbols without BTF keep their ELF view
    typed.sort(key=lambda v: (v.offset, v.name))
    return replace(section, variables=tuple(typed))
