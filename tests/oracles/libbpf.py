"""libbpf.so.1 through ctypes: a *test oracle* for differential tests, never used by bpfnb.

Open and load an object file the way libbpf does, then compare what it
produced (program fds, tags, its debug log) with what bpfnb produces.
``pin_root`` is mandatory: libbpf pins ``LIBBPF_PIN_BY_NAME`` maps under
/sys/fs/bpf by default, a path shared with every other test on the machine.

Only the handful of entry points tests need are declared; the layout of
``struct bpf_object_open_opts`` is the one of libbpf 1.1 (``sz`` lets
newer libbpf versions accept it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LibbpfObject", "LibbpfProgram", "available"]


class _OpenOpts(ctypes.Structure):
    """``struct bpf_object_open_opts`` as of libbpf 1.1 (fields up to kernel_log_level)."""

    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("object_name", ctypes.c_char_p),
        ("relaxed_maps", ctypes.c_bool),
        ("pin_root_path", ctypes.c_char_p),
        ("_removed_attach_prog_fd", ctypes.c_uint32),
        ("kconfig", ctypes.c_char_p),
        ("btf_custom_path", ctypes.c_char_p),
        ("kernel_log_buf", ctypes.c_char_p),
        ("kernel_log_size", ctypes.c_size_t),
        ("kernel_log_level", ctypes.c_uint32),
    ]


_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_lib: ctypes.CDLL | None = None
_libc = ctypes.CDLL(None)
_log: list[tuple[int, str]] = []


def _printer(level: int, fmt: bytes, args: int) -> int:
    """Format libbpf's printf-style message with vsnprintf (va_list passes through as a pointer)."""
    buf = ctypes.create_string_buffer(4096)
    _libc.vsnprintf(buf, ctypes.c_size_t(len(buf)), ctypes.c_char_p(fmt), ctypes.c_void_p(args))
    _log.append((level, buf.value.decode(errors="replace")))
    return 0


_printer_c = _PRINT_FN(_printer)  # kept alive for as long as libbpf may call it


def _load_lib() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(ctypes.util.find_library("bpf") or "libbpf.so.1", use_errno=True)
        lib.libbpf_version_string.restype = ctypes.c_char_p
        lib.bpf_object__open_file.restype = ctypes.c_void_p
        lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.POINTER(_OpenOpts)]
        lib.libbpf_get_error.argtypes = [ctypes.c_void_p]
        lib.libbpf_get_error.restype = ctypes.c_long
        lib.bpf_object__load.argtypes = [ctypes.c_void_p]
        lib.bpf_object__close.argtypes = [ctypes.c_void_p]
        lib.bpf_object__close.restype = None
        lib.bpf_object__next_program.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.bpf_object__next_program.restype = ctypes.c_void_p
        for fn in ("bpf_program__name", "bpf_program__section_name"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p]
            getattr(lib, fn).restype = ctypes.c_char_p
        lib.bpf_program__fd.argtypes = [ctypes.c_void_p]
        lib.bpf_program__type.argtypes = [ctypes.c_void_p]
        lib.bpf_obj_get_info_by_fd.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
        lib.libbpf_set_print.argtypes = [_PRINT_FN]
        lib.libbpf_set_print.restype = ctypes.c_void_p
        lib.libbpf_set_print(_printer_c)
        _lib = lib
    return _lib


def available() -> bool:
    """True when libbpf.so.1 can be loaded."""
    try:
        _load_lib()
    except OSError:
        return False
    return True


def version() -> str:
    return _load_lib().libbpf_version_string().decode()


@dataclass(frozen=True)
class LibbpfProgram:
    """One program as libbpf sees it; ``fd`` is negative before load (owned by the object)."""

    name: str
    section: str
    type: int
    fd: int

    def info_bytes(self, size: int = 256) -> bytes:
        """Raw ``struct bpf_prog_info`` as libbpf's bpf_obj_get_info_by_fd fills it."""
        buf = ctypes.create_string_buffer(size)
        length = ctypes.c_uint32(size)
        if _load_lib().bpf_obj_get_info_by_fd(self.fd, buf, ctypes.byref(length)) != 0:
            raise OSError(ctypes.get_errno(), "bpf_obj_get_info_by_fd")
        return buf.raw[: length.value]

    @property
    def tag(self) -> str:
        """The 8-byte tag, read at the UAPI offset 8 (after ``type`` and ``id``)."""
        return self.info_bytes()[8:16].hex()


@dataclass
class LibbpfObject:
    """An object file opened (and, after ``load()``, loaded) by libbpf.

    Use as a context manager: closing frees every fd libbpf created.
    """

    path: Path
    pin_root: str
    _obj: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not os.path.isdir(self.pin_root):
            raise FileNotFoundError(f"pin_root {self.pin_root!r} must be an existing directory")
        lib = _load_lib()
        self._pin = self.pin_root.encode()
        opts = _OpenOpts(sz=ctypes.sizeof(_OpenOpts), pin_root_path=self._pin)
        obj = lib.bpf_object__open_file(str(self.path).encode(), ctypes.byref(opts))
        err = lib.libbpf_get_error(obj)
        if not obj or err:
            raise OSError(-err if err else errno.EINVAL, f"libbpf could not open {self.path}")
        self._obj = obj

    def load(self) -> None:
        err = _load_lib().bpf_object__load(self._handle())
        if err:
            raise OSError(-err, f"libbpf could not load {self.path}: {self.log_tail()}")

    def programs(self) -> dict[str, LibbpfProgram]:
        lib, out, prog = _load_lib(), {}, None
        while prog := lib.bpf_object__next_program(self._handle(), prog):
            name = lib.bpf_program__name(prog).decode()
            out[name] = LibbpfProgram(name, lib.bpf_program__section_name(prog).decode(),
                                      lib.bpf_program__type(prog), lib.bpf_program__fd(prog))
        return out

    @staticmethod
    def log() -> list[tuple[int, str]]:
        """Every message libbpf printed so far (level, text), process-wide."""
        return list(_log)

    @staticmethod
    def log_tail(n: int = 5) -> str:
        return " | ".join(text.strip() for _, text in _log[-n:])

    def _handle(self) -> int:
        if self._obj is None:
            raise ValueError("libbpf object already closed")
        return self._obj

    def close(self) -> None:
        if self._obj is not None:
            _load_lib().bpf_object__close(self._obj)
            self._obj = None

    def __enter__(self) -> LibbpfObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
