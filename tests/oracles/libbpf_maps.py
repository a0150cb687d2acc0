"""The maps libbpf makes of an object: names after open, and what the kernel holds after load.

Differential oracle for the maps stage (``bpfnb.kernel.maps``).  After
``bpf_object__open`` libbpf has named every map, including the internal
global-data maps (``multi.rodata``, ``.data.foo``); after
``bpf_object__load`` each map has an fd, which we hand to bpfnb's own
``BPF_OBJ_GET_INFO_BY_FD`` wrapper to read what the kernel created
(name, type, sizes, flags).  Everything is copied out before libbpf's
object is closed.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from oracles.libbpf import LibbpfObject, _load_lib

from bpfnb.kernel import MapInfo, map_info

__all__ = ["libbpf_array_values", "libbpf_loaded_maps", "libbpf_map_names"]


def _lib() -> ctypes.CDLL:
    lib = _load_lib()
    lib.bpf_object__next_map.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.bpf_object__next_map.restype = ctypes.c_void_p
    lib.bpf_map__name.argtypes = [ctypes.c_void_p]
    lib.bpf_map__name.restype = ctypes.c_char_p
    lib.bpf_map__fd.argtypes = [ctypes.c_void_p]
    lib.bpf_map__fd.restype = ctypes.c_int
    return lib


def _maps(obj: LibbpfObject) -> list[int]:
    lib, out, m = _lib(), [], None
    while m := lib.bpf_object__next_map(obj._handle(), m):
        out.append(m)
    return out


def libbpf_map_names(path: str | Path, pin_root: str) -> list[str]:
    """libbpf's names of every map of ``path`` in its order (open only, no kernel objects)."""
    lib = _lib()
    with LibbpfObject(Path(path), pin_root) as obj:
        return [lib.bpf_map__name(m).decode() for m in _maps(obj)]


def libbpf_loaded_maps(path: str | Path, pin_root: str) -> dict[str, MapInfo]:
    """Load ``path`` with libbpf; libbpf's map name → the kernel's MapInfo of that map.

    ``pin_root`` must be a fresh bpffs directory (maps pinned by name land there).
    """
    lib = _lib()
    with LibbpfObject(Path(path), pin_root) as obj:
        obj.load()
        return {lib.bpf_map__name(m).decode(): map_info(lib.bpf_map__fd(m)) for m in _maps(obj)}


def libbpf_array_values(path: str | Path, pin_root: str) -> dict[str, bytes]:
    """Load ``path`` with libbpf; name → the value at key 0 of each one-entry array (global data, .kconfig)."""
    from bpfnb.kernel import map_lookup_elem

    lib = _lib()
    out = {}
    with LibbpfObject(Path(path), pin_root) as obj:
        obj.load()
        for m in _maps(obj):
            fd = lib.bpf_map__fd(m)
            info = map_info(fd)
            if int(info.type) == 2 and info.max_entries == 1:
                out[lib.bpf_map__name(m).decode()] = map_lookup_elem(fd, b"\0\0\0\0", info.value_size)
    return out
