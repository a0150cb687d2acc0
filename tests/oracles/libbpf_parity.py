"""libbpf loading an object with per-program options: the oracle for loader parity tests.

``libbpf_load`` opens an object with ``btf_custom_path`` (the CO-RE
target), turns autoload off for some programs, overrides program types
(``bpf_program__set_type``/``set_expected_attach_type``), loads, and
returns what the kernel says about each loaded program plus the
instructions libbpf sent (``bpf_program__insns``).  A failed load is a
result too (``loaded=False`` with libbpf's log), not an exception: tests
compare what both loaders refuse as well as what they load.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from oracles.libbpf import _OpenOpts, _load_lib, _log

from bpfnb.kernel import prog_info

__all__ = ["LibbpfLoad", "libbpf_load"]


@dataclass
class LibbpfLoad:
    loaded: bool
    error: int = 0
    #: name -> kernel tag of each loaded program
    tags: dict[str, str] = field(default_factory=dict)
    #: name -> the instructions libbpf sent (relocated, CO-RE applied)
    insns: dict[str, bytes] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)


def _declare(lib: ctypes.CDLL) -> None:
    lib.bpf_program__set_autoload.argtypes = [ctypes.c_void_p, ctypes.c_bool]
    lib.bpf_program__set_type.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.bpf_program__set_expected_attach_type.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.bpf_object__find_program_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.bpf_object__find_program_by_name.restype = ctypes.c_void_p
    lib.bpf_program__insns.restype = ctypes.c_void_p
    lib.bpf_program__insns.argtypes = [ctypes.c_void_p]
    lib.bpf_program__insn_cnt.restype = ctypes.c_size_t
    lib.bpf_program__insn_cnt.argtypes = [ctypes.c_void_p]


def libbpf_load(path: str | Path, pin_root: str, *, skip: Iterable[str] = (), btf_custom_path: str | None = None,
                types: Mapping[str, tuple[int, int | None]] | None = None) -> LibbpfLoad:
    """Load ``path`` with libbpf; ``types``: program -> (prog type, expected attach type or None)."""
    lib = _load_lib()
    _declare(lib)
    start = len(_log)
    pin = pin_root.encode()
    custom = btf_custom_path.encode() if btf_custom_path else None
    opts = _OpenOpts(sz=ctypes.sizeof(_OpenOpts), pin_root_path=pin, btf_custom_path=custom)
    obj = lib.bpf_object__open_file(str(path).encode(), ctypes.byref(opts))
    err = lib.libbpf_get_error(obj)
    if not obj or err:
        raise OSError(-err, f"libbpf could not open {path}")
    try:
        skipped = set(skip)
        for name in skipped | set(types or {}):
            prog = lib.bpf_object__find_program_by_name(obj, name.encode())
            if not prog:
                raise KeyError(f"libbpf has no program {name!r} in {path}")
            if name in skipped:
                lib.bpf_program__set_autoload(prog, False)
            if types and name in types:
                ptype, attach = types[name]
                lib.bpf_program__set_type(prog, int(ptype))
                if attach is not None:
                    lib.bpf_program__set_expected_attach_type(prog, int(attach))
        rc = lib.bpf_object__load(obj)
        out = LibbpfLoad(loaded=rc == 0, error=-rc)
        if out.loaded:
            prog = None
            while prog := lib.bpf_object__next_program(obj, prog):
                name = lib.bpf_program__name(prog).decode()
                if name in skipped:
                    continue
                out.tags[name] = prog_info(lib.bpf_program__fd(prog)).tag
                ptr, count = lib.bpf_program__insns(prog), lib.bpf_program__insn_cnt(prog)
                out.insns[name] = ctypes.string_at(ptr, 8 * count) if ptr else b""
    finally:
        lib.bpf_object__close(obj)
    out.log = [text for _, text in _log[start:]]
    return out
