"""The *maps* stage of the loader: every map of an object, all or nothing.

:func:`create_maps` creates the object's map definitions in order, then its
data sections and ``.kconfig``, then fills map-in-map slots; a failure
half-way closes what was created and removes the pins this call made
(:func:`_rollback`).  :class:`MapsResult` owns the maps it returns.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UnknownName, UnsupportedFeature
from ..obj.initial_data import split_globals
from ..uapi import MapType
from .map import Map
from .map_from_spec import CreatedMap, create_data_map, create_map

if TYPE_CHECKING:
    import pandas as pd

    from ..obj import Object
    from .features import Features

__all__ = ["MapsResult", "create_maps"]

log = logging.getLogger(__name__)


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


def create_maps(obj: Object, *, btf_fd: Any = None, pin_root: str | os.PathLike[str] | None = None,
                max_entries: Mapping[str, int] = {}, globals: Mapping[str, Any] = {},
                allow_unsupported: bool = False, features: Features | None = None,
                kconfig: Mapping[str, str] | None = None) -> MapsResult:
    """The maps stage: every map of ``obj`` (definitions in order, then data sections).

    ``max_entries`` overrides (``set_max_entries``) and ``globals``
    (``set_global``) must name things the object has (UnknownName
    otherwise).  Map types the kernel lacks raise UnsupportedFeature unless
    ``allow_unsupported``, which skips and reports them; nothing is probed
    up front (a refused create probes its one map type to say why), unless
    ``features`` are given.  ``.kconfig``
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

    per_section = split_globals(obj, globals)
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
