"""Maps in the kernel: the live :class:`Map` and the maps stage, under their historical module name.

The code lives in one module per job: :mod:`.map` (the live map),
:mod:`.map_from_spec` (one spec → one map), :mod:`.maps_stage` (every map of an
object, with rollback), and the pure rules in :mod:`bpfnb.obj.map_names`
(kernel names, pin paths) and :mod:`bpfnb.obj.initial_data` (global data).
Every name importable from here before the split still is.
"""

from __future__ import annotations

from ..obj.initial_data import initial_data
from ..obj.map_names import internal_map_name, object_name, pin_path
from .map import Map
from .map_from_spec import CreatedMap, check_sizes, create_data_map, create_map
from .maps_stage import MapsResult, create_maps

__all__ = [
    "CreatedMap",
    "Map",
    "MapsResult",
    "check_sizes",
    "create_data_map",
    "create_map",
    "create_maps",
    "initial_data",
    "internal_map_name",
    "object_name",
    "pin_path",
]
