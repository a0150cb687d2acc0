"""libbpf's CO-RE decisions, read from its debug log: a test oracle, never used by bpfnb.

libbpf 1.1 prints one block per CO-RE record while ``bpf_object__load``
relocates (``relo_core.c``, ``bpf_core_calc_relo_insn`` and
``bpf_core_patch_insn``), e.g.::

    prog 'core_kinds': relo #0: <byte_off> [6] struct task_struct.pid (0:7 @ offset 44)
    prog 'core_kinds': relo #0: matching candidate #0 <byte_off> [114] struct task_struct.pid (...)
    prog 'core_kinds': relo #0: patched insn #1 (LDX/ST/STX) off 44 -> 1264
    prog 'core_kinds': relo #2: patched insn #11 (LDX/ST/STX) mem_sz 8 -> 4
    prog 'core_kinds': relo #14: substituting insn #80 w/ invalid insn

:func:`core_decisions` opens an object (optionally with ``btf_custom_path``
so that libbpf resolves against a BTF file of ours instead of the running
kernel), loads it, and turns those lines into one :class:`LibbpfCoreRecord`
per record.  The program load itself may fail (a custom BTF describes some
other kernel); the relocation decisions are logged before that.  With
``keep_insns=True`` the final instructions libbpf sent to the kernel
(``bpf_program__insns`` after load) are copied out too.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass, field
from pathlib import Path

from oracles.libbpf import _OpenOpts, _load_lib, _log

__all__ = ["LibbpfCoreRecord", "LibbpfCoreRun", "core_decisions", "parse_core_log"]

_HEAD = re.compile(r"prog '([^']+)': relo #(\d+): <([a-z_0-9]+)> ")
_PATCH = re.compile(r"prog '([^']+)': relo #(\d+): patched insn #(\d+) \(([A-Z0-9/]+)\) (imm64|imm|off) (\d+) -> (\d+)")
_MEMSZ = re.compile(r"prog '([^']+)': relo #(\d+): patched insn #(\d+) \(LDX/ST/STX\) mem_sz (\d+) -> (\d+)")
_POISON = re.compile(r"prog '([^']+)': relo #(\d+): substituting insn #(\d+) w/ invalid insn")


@dataclass
class LibbpfCoreRecord:
    """What libbpf did with one record: the instruction, old/new value, poisoning, size change."""

    program: str
    index: int
    kind: str
    insn: int | None = None
    insn_class: str = ""
    old: int | None = None
    new: int | None = None
    poisoned: bool = False
    mem_sz: tuple[int, int] | None = None


@dataclass
class LibbpfCoreRun:
    records: dict[tuple[str, int], LibbpfCoreRecord]
    loaded: bool
    log: list[str]
    insns: dict[str, bytes] = field(default_factory=dict)


def parse_core_log(lines: list[str]) -> dict[tuple[str, int], LibbpfCoreRecord]:
    """One record per (program, relo #) found in libbpf's debug lines."""
    out: dict[tuple[str, int], LibbpfCoreRecord] = {}
    for line in lines:
        if m := _PATCH.search(line):
            rec = out[(m[1], int(m[2]))]
            rec.insn, rec.insn_class, rec.old, rec.new = int(m[3]), m[4], int(m[6]), int(m[7])
        elif m := _MEMSZ.search(line):
            out[(m[1], int(m[2]))].mem_sz = (int(m[4]), int(m[5]))
        elif m := _POISON.search(line):
            rec = out[(m[1], int(m[2]))]
            rec.poisoned = True
            rec.insn = int(m[3]) if rec.insn is None else min(rec.insn, int(m[3]))
        elif m := _HEAD.search(line):
            key = (m[1], int(m[2]))
            out.setdefault(key, LibbpfCoreRecord(m[1], int(m[2]), m[3]))
    return out


def core_decisions(path: Path | str, pin_root: str, *, btf_custom_path: str | None = None,
                   keep_insns: bool = False) -> LibbpfCoreRun:
    """Open and load ``path`` with libbpf; its CO-RE decisions (and final instructions)."""
    lib = _load_lib()
    lib.bpf_program__insns.restype = ctypes.c_void_p
    lib.bpf_program__insns.argtypes = [ctypes.c_void_p]
    lib.bpf_program__insn_cnt.restype = ctypes.c_size_t
    lib.bpf_program__insn_cnt.argtypes = [ctypes.c_void_p]
    start = len(_log)
    pin = pin_root.encode()
    custom = btf_custom_path.encode() if btf_custom_path else None
    opts = _OpenOpts(sz=ctypes.sizeof(_OpenOpts), pin_root_path=pin, btf_custom_path=custom)
    obj = lib.bpf_object__open_file(str(path).encode(), ctypes.byref(opts))
    if not obj or lib.libbpf_get_error(obj):
        raise OSError(f"libbpf could not open {path}")
    try:
        loaded = lib.bpf_object__load(obj) == 0
        insns: dict[str, bytes] = {}
        if keep_insns and loaded:
            prog = None
            while prog := lib.bpf_object__next_program(obj, prog):
                name = lib.bpf_program__name(prog).decode()
                count = lib.bpf_program__insn_cnt(prog)
                ptr = lib.bpf_program__insns(prog)
                insns[name] = ctypes.string_at(ptr, 8 * count) if ptr else b""
    finally:
        lib.bpf_object__close(obj)
    lines = [text for _, text in _log[start:]]
    return LibbpfCoreRun(parse_core_log(lines), loaded, lines, insns)
