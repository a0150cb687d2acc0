"""The only code that makes syscalls: bpf() via cffi, owned fds, probes, live objects.

``syscall`` (objects: maps, programs, BTF, pins, ids) and ``syscall_attach``
(links, attach/query, stats, iterators) have one typed function per bpf(2)
command; ``fd`` is the owned file descriptor they return, ``info`` the
BPF_OBJ_GET_INFO_BY_FD models and ``features`` what this kernel supports
(probed once, cached).

The names are imported on first use (``__getattr__``): ``bpfnb.kernel.system``
lists the kernel's programs without loading the BTF parser and numpy that
``load_object_btf`` needs.
"""

from __future__ import annotations

import importlib
from typing import Any

# Eager, because ``features`` is a function *and* a submodule: importing the submodule
# later would otherwise rebind ``bpfnb.kernel.features`` to the module.
from .features import Features, Support, can_use_bpf, features

#: submodule -> the public names it defines
_EXPORTS: dict[str, tuple[str, ...]] = {
    "btf": ('LoadedBtf', 'LoadedObjectBtf', 'load_btf', 'load_object_btf',),
    "fd": ('Fd', 'FdLike', 'fd_number',),
    "features": ('Features', 'Support', 'can_use_bpf', 'features',),
    "info": ('BtfInfo', 'LinkInfo', 'MapInfo', 'ProgInfo', 'btf_info', 'link_info', 'map_info', 'obj_get_info_by_fd', 'prog_info',),
    "map": ("Map",),
    "map_from_spec": ("CreatedMap", "create_data_map", "create_map"),
    "maps_stage": ("MapsResult", "create_maps"),
    "programs": ('Program', 'load_program', 'resolve_attach_btf',),
    "verifier": ('VerifierLog',),
    "syscall": ('BatchResult', 'ProgLoadResult', 'TestRunResult', 'bpf', 'btf_get_fd_by_id', 'btf_get_next_id', 'btf_load', 'iter_ids', 'link_get_fd_by_id', 'link_get_next_id', 'map_create', 'map_delete_batch', 'map_delete_elem', 'map_freeze', 'map_get_fd_by_id', 'map_get_next_id', 'map_get_next_key', 'map_lookup_and_delete_batch', 'map_lookup_and_delete_elem', 'map_lookup_batch', 'map_lookup_elem', 'map_update_batch', 'map_update_elem', 'obj_get', 'obj_pin', 'possible_cpus', 'prog_get_fd_by_id', 'prog_get_next_id', 'prog_load', 'prog_test_run', 'sanitize_name',),
    "syscall_attach": ('QueryResult', 'enable_stats', 'iter_create', 'link_create', 'link_detach', 'link_update', 'prog_attach', 'prog_detach', 'prog_query', 'raw_tracepoint_open',),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'bpfnb.kernel' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = sorted(_WHERE)
