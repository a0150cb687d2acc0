"""libbpf loading one program of a CO-RE self-check with given ``.rodata`` and target, then its test run.

The oracle of tests/test_core_selfcheck.py: ``btf_custom_path`` is the same
target file bpfnb is given, ``.rodata`` the same expectations (written at
each variable's offset, ``bpf_map__set_initial_value``), every other
program's autoload off.  The run itself is the kernel's
(``BPF_PROG_TEST_RUN`` on libbpf's fd).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from oracles.libbpf import _OpenOpts, _load_lib, _log

from bpfnb.obj import Object

__all__ = ["libbpf_run", "rodata_bytes"]


def rodata_bytes(obj: Object, globals: dict[str, object]) -> bytes:
    """The ``.rodata`` bytes for libbpf, written at each variable's offset (little-endian)."""
    section = obj.data[".rodata"]
    data = bytearray(section.data.ljust(section.size, b"\0"))
    for var in section.variables:
        if var.name not in globals:
            continue
        value = globals[var.name]
        raw = bytes(value) if isinstance(value, (bytes, bytearray)) else int(value).to_bytes(
            var.size, "little", signed=int(value) < 0)
        data[var.offset : var.offset + var.size] = raw.ljust(var.size, b"\0")
    return bytes(data)


def libbpf_run(path: Path, program: str, pin_root: str, target: Path | None,
                globals: dict[str, object]) -> tuple[int | None, list[str]]:
    """libbpf loads ``path`` with the same .rodata against ``target`` (btf_custom_path); the run's retval."""
    from bpfnb.kernel import prog_test_run

    lib = _load_lib()
    lib.bpf_object__find_map_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.bpf_object__find_map_by_name.restype = ctypes.c_void_p
    lib.bpf_map__set_initial_value.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    lib.bpf_object__find_program_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.bpf_object__find_program_by_name.restype = ctypes.c_void_p
    lib.bpf_program__set_autoload.argtypes = [ctypes.c_void_p, ctypes.c_bool]
    start = len(_log)
    custom = str(target).encode() if target else None
    opts = _OpenOpts(sz=ctypes.sizeof(_OpenOpts), pin_root_path=pin_root.encode(), btf_custom_path=custom)
    obj = lib.bpf_object__open_file(str(path).encode(), ctypes.byref(opts))
    assert obj and not lib.libbpf_get_error(obj), f"libbpf could not open {path}"
    try:
        data = rodata_bytes(Object.from_file(path), globals)
        rodata = lib.bpf_object__find_map_by_name(obj, b".rodata")
        assert rodata and lib.bpf_map__set_initial_value(rodata, data, len(data)) == 0
        prog = None
        while prog := lib.bpf_object__next_program(obj, prog):
            lib.bpf_program__set_autoload(prog, lib.bpf_program__name(prog).decode() == program)
        if lib.bpf_object__load(obj) != 0:
            return None, [text for _, text in _log[start:]]
        fd = lib.bpf_program__fd(lib.bpf_object__find_program_by_name(obj, program.encode()))
        run = prog_test_run(fd, b"", ctx_in=bytes(8), repeat=0, data_size_out=0)
        return run.retval, [text for _, text in _log[start:]]
    finally:
        lib.bpf_object__close(obj)
