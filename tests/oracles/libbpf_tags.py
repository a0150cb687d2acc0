"""What the kernel says about the programs libbpf loads: tags and xlated code.

Differential oracle for the relocate stage.  libbpf (through
``oracles.libbpf``) opens and loads an object; for each program we ask
the kernel, through bpfnb's own ``BPF_OBJ_GET_INFO_BY_FD`` wrapper on
libbpf's fd, for

* the **tag**: SHA-1 over the instructions as loaded, with map fds and
  value offsets zeroed: equal tags mean the same instructions in the same
  order, whoever relocated them;
* the **xlated** instructions (after the verifier's rewrites), whose
  ld_imm64 map references the kernel reports as map *ids*: ids differ
  between two loads, so :func:`canonical_xlated` renumbers them in order
  of first use and :class:`KernelProgram` keeps each map's shape, which
  makes two loads comparable instruction by instruction.

Everything is copied out before libbpf's object is closed: the results
outlive the programs.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from oracles.libbpf import LibbpfObject, _load_lib

from bpfnb.kernel import map_get_fd_by_id, map_info, prog_info
from bpfnb.kernel.fd import FdLike

__all__ = ["KernelProgram", "MapShape", "canonical_xlated", "kernel_program", "libbpf_programs"]

_LD_IMM64 = 0x18
_PSEUDO_MAP_FD = 1
_PSEUDO_MAP_VALUE = 2


@dataclass(frozen=True)
class MapShape:
    """What makes two maps interchangeable for a program (not their ids or names)."""

    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int


@dataclass(frozen=True)
class KernelProgram:
    """A loaded program as the kernel reports it."""

    name: str
    tag: str
    xlated: bytes
    #: Shapes of the maps in ``map_ids`` order (the kernel's used_maps order).
    map_ids: tuple[int, ...]
    maps: dict[int, MapShape]
    nr_func_info: int
    nr_line_info: int
    #: Raw ``bpf_func_info`` / ``bpf_line_info`` records as the kernel keeps them.
    func_info: bytes = b""
    line_info: bytes = b""

    @property
    def xlated_insn_cnt(self) -> int:
        return len(self.xlated) // 8

    def canonical(self) -> list[tuple[int, int, int, int, object]]:
        return canonical_xlated(self.xlated, self.maps)


def kernel_program(fd: FdLike, name: str) -> KernelProgram:
    """Tag, xlated code and map shapes of the program behind ``fd``."""
    info = prog_info(fd, xlated=True)
    shapes = {}
    for map_id in info.map_ids:
        with map_get_fd_by_id(map_id) as mfd:
            m = map_info(mfd)
        shapes[map_id] = MapShape(int(m.type), m.key_size, m.value_size, m.max_entries, m.map_flags)
    func_info, line_info = btf_records(fd, info.nr_func_info, info.nr_line_info)
    return KernelProgram(name, info.tag, info.xlated or b"", info.map_ids, shapes, info.nr_func_info,
                         info.nr_line_info, func_info, line_info)


def btf_records(fd: FdLike, nr_func_info: int, nr_line_info: int) -> tuple[bytes, bytes]:
    """The func_info and line_info records the kernel stored for a program.

    ``bpfnb.kernel.prog_info`` only reports their counts; the records
    themselves need a second BPF_OBJ_GET_INFO_BY_FD with buffers.
    """
    from bpfnb.kernel._ffi import ffi
    from bpfnb.kernel.info import _get_info

    info = ffi.new("struct bpf_prog_info *")
    fbuf = ffi.new("char[]", max(8 * nr_func_info, 1))
    lbuf = ffi.new("char[]", max(16 * nr_line_info, 1))
    info.nr_func_info, info.func_info_rec_size = nr_func_info, 8
    info.func_info = int(ffi.cast("uintptr_t", fbuf))
    info.nr_line_info, info.line_info_rec_size = nr_line_info, 16
    info.line_info = int(ffi.cast("uintptr_t", lbuf))
    _get_info(fd, "struct bpf_prog_info", info)
    return ffi.buffer(fbuf, 8 * nr_func_info)[:], ffi.buffer(lbuf, 16 * nr_line_info)[:]


def canonical_xlated(xlated: bytes, maps: dict[int, MapShape]) -> list[tuple[int, int, int, int, object]]:
    """Slots as (opcode, regs, off, imm), map ids replaced by (order of first use, shape).

    The kernel dumps a map reference as ``src=MAP_FD/MAP_VALUE, imm=map
    id`` (privileged readers); two loads of the same code get different
    ids, so an id becomes its rank among the maps this program uses, plus
    the map's shape so that pointing at a different map still shows.
    """
    rank: dict[int, int] = {}
    out: list[tuple[int, int, int, int, object]] = []
    slots = list(struct.iter_unpack("<BBhi", xlated))
    i = 0
    while i < len(slots):
        code, regs, off, imm = slots[i]
        if code == _LD_IMM64 and i + 1 < len(slots):
            hi = slots[i + 1][3]
            if regs >> 4 in (_PSEUDO_MAP_FD, _PSEUDO_MAP_VALUE):
                map_id = imm & 0xFFFFFFFF
                r = rank.setdefault(map_id, len(rank))
                out.append((code, regs, off, hi, (r, maps.get(map_id))))  # hi: the value offset
            else:
                out.append((code, regs, off, (hi << 32) | (imm & 0xFFFFFFFF), None))
            i += 2
            continue
        out.append((code, regs, off, imm, None))
        i += 1
    return out


def libbpf_programs(path: str | Path, pin_root: str, *, skip: Iterable[str] = ()) -> dict[str, KernelProgram]:
    """Load ``path`` with libbpf (``skip`` = programs not to load) and describe each program.

    ``pin_root`` must be a fresh directory on bpffs: libbpf pins
    ``LIBBPF_PIN_BY_NAME`` maps there.
    """
    lib = _load_lib()
    lib.bpf_program__set_autoload.argtypes = [ctypes.c_void_p, ctypes.c_bool]
    lib.bpf_object__find_program_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.bpf_object__find_program_by_name.restype = ctypes.c_void_p
    with LibbpfObject(Path(path), pin_root) as obj:
        for name in skip:
            prog = lib.bpf_object__find_program_by_name(obj._handle(), name.encode())
            if not prog:
                raise KeyError(f"libbpf has no program {name!r} in {path}")
            lib.bpf_program__set_autoload(prog, False)
        obj.load()
        skipped = set(skip)
        return {name: kernel_program(p.fd, name) for name, p in obj.programs().items() if name not in skipped}
