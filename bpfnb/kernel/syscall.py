"""One thin, typed Python function per bpf(2) command that creates or reads objects.

(Commands that attach programs live in :mod:`bpfnb.kernel.syscall_attach`.)

Everything here is a direct translation: fill the command's part of
``union bpf_attr`` (see :mod:`bpfnb.kernel._ffi`), call the syscall, turn a
negative return into a :class:`~bpfnb.errors.KernelError` that names the
command, and hand back :class:`~bpfnb.kernel.fd.Fd` objects or Python
values.  Policy (what to create, when to pin, what to retry) belongs to the
layers above; the two exceptions are the verifier/BTF log buffer, which is
grown and retried here because only this layer sees ``ENOSPC`` and
``log_true_size``, and ``EAGAIN`` on program load, which the kernel uses for
"try again".

Buffers: keys and values are any bytes-like object (``bytes``,
``bytearray``, ``memoryview``, a contiguous numpy array); the kernel reads
from and writes into them in place through ``ffi.from_buffer``.
"""

from __future__ import annotations

import errno as _errno
import functools
import logging
import os
import signal as _signal
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from ..errors import KernelError, NotPrivileged, UnsupportedFeature, VerifierError
from ..uapi import AttachType, Cmd, MapType, ProgType
from ..uapi.names import BPF_OBJ_NAME_LEN, sanitize_name
from . import _ffi
from ._ffi import ffi, lib
from .fd import Fd, FdLike, fd_number
from .privilege import is_privileged

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_AFTER",
    "BPF_F_ALLOW_MULTI",
    "BPF_F_ALLOW_OVERRIDE",
    "BPF_F_BEFORE",
    "BPF_F_ID",
    "BPF_F_LINK",
    "BPF_F_LOCK",
    "BPF_F_MMAPABLE",
    "BPF_F_NO_PREALLOC",
    "BPF_F_PATH_FD",
    "BPF_F_RDONLY",
    "BPF_F_RDONLY_PROG",
    "BPF_F_REPLACE",
    "BPF_F_SLEEPABLE",
    "BPF_F_WRONLY",
    "BPF_NOEXIST",
    "BPF_OBJ_NAME_LEN",
    "BatchResult",
    "BTF_LOG_SIZE_MAX",
    "LOG_SIZE_CAP",
    "LOG_SIZE_MIN",
    "PATH_FD_MIN_VERSION",
    "ProgLoadResult",
    "TestRunResult",
    "bpf",
    "btf_get_fd_by_id",
    "btf_get_next_id",
    "btf_load",
    "iter_ids",
    "link_get_fd_by_id",
    "link_get_next_id",
    "map_create",
    "map_delete_batch",
    "map_delete_elem",
    "map_freeze",
    "map_get_fd_by_id",
    "map_get_next_id",
    "map_get_next_key",
    "map_lookup_and_delete_batch",
    "map_lookup_and_delete_elem",
    "map_lookup_batch",
    "map_lookup_elem",
    "map_update_batch",
    "map_update_elem",
    "obj_get",
    "obj_pin",
    "path_fd_supported",
    "possible_cpus",
    "prog_get_fd_by_id",
    "prog_get_next_id",
    "prog_load",
    "prog_test_run",
    "sanitize_name",
]

log = logging.getLogger(__name__)

# Flags from include/uapi/linux/bpf.h that the wrappers' callers need.
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_RDONLY = 1 << 3
BPF_F_WRONLY = 1 << 4
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_MMAPABLE = 1 << 10
BPF_F_PATH_FD = 1 << 14
BPF_F_SLEEPABLE = 1 << 4  # prog_flags
# attach flags (PROG_ATTACH, LINK_CREATE, LINK_UPDATE); BEFORE/AFTER/ID/LINK are the mprog (tcx, netkit) API
BPF_F_ALLOW_OVERRIDE = 1 << 0
BPF_F_ALLOW_MULTI = 1 << 1
BPF_F_REPLACE = 1 << 2
BPF_F_BEFORE = 1 << 3
BPF_F_AFTER = 1 << 4
BPF_F_ID = 1 << 5
BPF_F_LINK = 1 << 13

#: Largest verifier log buffer bpfnb grows to (the kernel caps at UINT_MAX >> 2).
LOG_SIZE_CAP = 16 * 1024 * 1024
#: Smallest log buffer kernels before 6.4 accept (EINVAL below it); smaller requests are raised to it.
LOG_SIZE_MIN = 128
#: Largest BTF log kernels before 6.4 accept (UINT_MAX >> 8; EINVAL above it): BTF logs stop there.
BTF_LOG_SIZE_MAX = (1 << 24) - 1
_PROG_LOG_SIZE_MAX = 0xFFFFFFFF >> 2
_DEFAULT_LOG_SIZE = 64 * 1024
_EAGAIN_RETRIES = 5


# --- the syscall -----------------------------------------------------------


def _command_name(cmd: int) -> str:
    try:
        return f"BPF_{Cmd(cmd).name}"
    except ValueError:
        return f"bpf cmd {cmd}"


def _error(cmd: int, err: int, detail: str | None = None) -> KernelError:
    """EPERM from an unprivileged process is NotPrivileged; the rest KernelError."""
    name = _command_name(cmd)
    if err == _errno.EPERM and not is_privileged():
        return NotPrivileged(name, detail)
    return KernelError(err, name, detail)


def _raw(cmd: int, attr: Any) -> tuple[int, int]:
    """Call bpf(cmd, attr, sizeof *attr) and return (result, errno)."""
    size = ffi.sizeof(ffi.typeof(attr).item)
    result = lib.syscall(
        ffi.cast("long", _ffi.nr_bpf()), ffi.cast("long", int(cmd)), ffi.cast("void *", attr), ffi.cast("long", size)
    )
    return result, (ffi.errno if result < 0 else 0)


def bpf(cmd: Cmd | int, attr: Any, detail: str | None = None) -> int:
    """bpf(2): ``attr`` is a pointer from ``ffi.new("struct bpf_attr_... *")``.

    Returns the syscall's non-negative result; raises KernelError (or
    NotPrivileged) naming the command, with ``detail`` appended.
    """
    result, err = _raw(cmd, attr)
    if result < 0:
        raise _error(cmd, err, detail)
    return result


# --- fds owned at the point of return ---------------------------------------------
#
# Python runs signal handlers between bytecodes, and a KeyboardInterrupt raised
# after ``lib.syscall`` returned but before ``Fd(...)`` owned the number leaks the
# kernel object (the CALL that returns the int checks for pending signals).  So
# commands that return an fd run with the Python-level handlers of the signals
# that usually raise (SIGINT, SIGALRM) replaced by one that only records them;
# once the Fd exists the handlers are restored and a recorded signal is
# delivered to the original handler.  An exception then (KeyboardInterrupt)
# closes the new Fd before it propagates: the operation is undone, nothing leaks.

_DEFERRED_SIGNALS = tuple(getattr(_signal, n) for n in ("SIGINT", "SIGALRM") if hasattr(_signal, n))

#: Tests only: called with each new Fd at the syscall boundary (raise here to simulate an interrupt).
_fd_boundary_hook: Any = None


class _Deferred:
    __slots__ = ("saved", "pending")

    def __init__(self) -> None:
        self.saved: list[tuple[int, Any]] = []
        self.pending: list[int] = []

    def record(self, signum: int, frame: Any) -> None:
        self.pending.append(signum)


def _defer_signals() -> _Deferred | None:
    """Swap in recording handlers (main thread only: other threads never run handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    state = _Deferred()
    for signum in _DEFERRED_SIGNALS:
        handler = _signal.getsignal(signum)
        if callable(handler) and getattr(handler, "__self__", None).__class__ is not _Deferred:
            state.saved.append((signum, handler))
            _signal.signal(signum, state.record)
    return state


def _restore_signals(state: _Deferred | None) -> None:
    """Put the original handlers back, then hand them what arrived meanwhile (may raise)."""
    if state is None:
        return
    for signum, handler in state.saved:
        _signal.signal(signum, handler)
    for signum in state.pending:
        for saved, handler in state.saved:
            if saved == signum:
                handler(signum, None)


def _raw_fd(cmd: int, attr: Any, kind: str) -> tuple[Fd | None, int]:
    """bpf() for a command returning an fd: ``(Fd or None, errno)``; the fd is owned on return."""
    state = _defer_signals()
    fd: Fd | None = None
    try:
        result, err = _raw(cmd, attr)
        if result >= 0:
            fd = Fd(result, kind)
        if fd is not None and _fd_boundary_hook is not None:
            _fd_boundary_hook(fd)
        _restore_signals(state)
        state = None
    except BaseException:
        if fd is not None:
            fd.close()
        if state is not None:
            for signum, handler in state.saved:
                _signal.signal(signum, handler)
        raise
    return fd, err


def _new_fd(cmd: Cmd, attr: Any, kind: str, detail: str | None = None) -> Fd:
    fd, err = _raw_fd(cmd, attr, kind)
    if fd is None:
        raise _error(cmd, err, detail)
    return fd


# --- small helpers -----------------------------------------------------------


def _addr(cdata: Any) -> int:
    return int(ffi.cast("uintptr_t", cdata))


def _buffer(data: Any, *, writable: bool = False) -> Any:
    """A cdata view of a bytes-like object (no copy); keep it alive during the call."""
    return ffi.from_buffer("char[]", data, require_writable=writable)


def _owned(data: Any) -> Any:
    """A cffi-owned copy of read-only input bytes.

    Borrowing with ``from_buffer`` is zero-copy, but a borrowed view kept
    alive by a traceback frame in a reference cycle (a notebook keeping the
    last exception) can crash the garbage collector.  Inputs of the load
    commands are small next to the work the kernel does: copy them.
    """
    return ffi.new("char[]", bytes(data))


def _cstring(text: str | bytes) -> Any:
    raw = text.encode() if isinstance(text, str) else bytes(text)
    if b"\0" in raw:
        raise ValueError(f"embedded NUL in {raw!r}")
    return ffi.new("char[]", raw)


def _log_sizes(size: int, cap: int, ceiling: int) -> tuple[int, int]:
    """The first log size and the growth cap, both within what every kernel accepts.

    Before 6.4 the kernel refused a log buffer under 128 bytes (and a BTF
    log over 16 MiB) with EINVAL, for the whole load; 6.4 dropped the
    minimum.  Rounding up costs at most 127 bytes and loads the same way
    on both, as libbpf's default buffers, which are never that small, do.
    """
    cap = min(max(cap, LOG_SIZE_MIN), ceiling)
    return min(max(size, LOG_SIZE_MIN), cap), cap


def _decode_log(buf: Any, size: int) -> str:
    raw = ffi.buffer(buf, size)[:]
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


@functools.cache
def possible_cpus() -> int:
    """Number of possible CPUs (``/sys/devices/system/cpu/possible``), read once.

    Per-CPU maps return one value slot per *possible* CPU, not per online
    one, so value buffers must be sized with this.  The set is fixed at
    boot, so every per-CPU lookup can reuse the first answer.
    """
    with open("/sys/devices/system/cpu/possible") as f:
        spec = f.read().strip()
    count = 0
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


# --- maps ------------------------------------------------------------------


def map_create(
    map_type: MapType | int,
    key_size: int,
    value_size: int,
    max_entries: int,
    *,
    name: str = "",
    map_flags: int = 0,
    inner_map_fd: FdLike | None = None,
    numa_node: int = 0,
    map_ifindex: int = 0,
    btf_fd: FdLike | None = None,
    btf_key_type_id: int = 0,
    btf_value_type_id: int = 0,
    btf_vmlinux_value_type_id: int = 0,
    value_type_btf_obj_fd: FdLike | None = None,
    map_extra: int = 0,
) -> Fd:
    """BPF_MAP_CREATE; ``name`` is sanitised with :func:`sanitize_name`."""
    attr = ffi.new("struct bpf_attr_map_create *")
    attr.map_type = int(map_type)
    attr.key_size = key_size
    attr.value_size = value_size
    attr.max_entries = max_entries
    attr.map_flags = map_flags
    attr.numa_node = numa_node
    attr.map_ifindex = map_ifindex
    attr.map_name = sanitize_name(name)
    if inner_map_fd is not None:
        attr.inner_map_fd = fd_number(inner_map_fd)
    if btf_fd is not None:
        attr.btf_fd = fd_number(btf_fd)
    attr.btf_key_type_id = btf_key_type_id
    attr.btf_value_type_id = btf_value_type_id
    attr.btf_vmlinux_value_type_id = btf_vmlinux_value_type_id
    if value_type_btf_obj_fd is not None:
        attr.value_type_btf_obj_fd = fd_number(value_type_btf_obj_fd)
    attr.map_extra = map_extra
    what = f"{_type_name(MapType, map_type)} map {name!r}" if name else f"{_type_name(MapType, map_type)} map"
    return _new_fd(Cmd.MAP_CREATE, attr, "map", what)


def _type_name(enum: Any, value: int) -> str:
    try:
        return enum(value).name.lower()
    except ValueError:
        return f"type {value}"


def _elem_attr(fd: FdLike, key: Any) -> tuple[Any, Any]:
    attr = ffi.new("struct bpf_attr_map_elem *")
    attr.map_fd = fd_number(fd)
    keep = None
    if key is not None:
        keep = _buffer(key)
        attr.key = _addr(keep)
    return attr, keep


def _lookup(cmd: Cmd, fd: FdLike, key: Any, value_size: int, flags: int, out: Any) -> bytes | None:
    """Shared by lookup and lookup-and-delete: fill a value buffer, None on ENOENT."""
    attr, keep = _elem_attr(fd, key)
    value = bytearray(value_size) if out is None else out
    vbuf = _buffer(value, writable=True)
    attr.value = _addr(vbuf)
    attr.flags = flags
    result, err = _raw(cmd, attr)
    if result < 0:
        if err == _errno.ENOENT:
            return None
        raise _error(cmd, err)
    return bytes(value)


def map_lookup_elem(fd: FdLike, key: Any, value_size: int, flags: int = 0, *, out: Any = None) -> bytes | None:
    """BPF_MAP_LOOKUP_ELEM: the value, or None when the key is absent.

    ``value_size`` is the whole buffer the kernel fills: for per-CPU maps
    ``round_up(value_size, 8) * possible_cpus()``.  Pass ``out`` (a writable
    buffer of that size) to avoid the copy; the return value is then
    ``bytes(out)`` anyway for uniformity.
    """
    return _lookup(Cmd.MAP_LOOKUP_ELEM, fd, key, value_size, flags, out)


def map_lookup_and_delete_elem(fd: FdLike, key: Any, value_size: int, flags: int = 0) -> bytes | None:
    """BPF_MAP_LOOKUP_AND_DELETE_ELEM (``key=None`` pops a queue/stack); None if absent."""
    return _lookup(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, fd, key, value_size, flags, None)


def map_update_elem(fd: FdLike, key: Any, value: Any, flags: int = BPF_ANY) -> None:
    """BPF_MAP_UPDATE_ELEM (``key=None`` pushes onto a queue/stack)."""
    attr, keep = _elem_attr(fd, key)
    vbuf = _buffer(value)
    attr.value = _addr(vbuf)
    attr.flags = flags
    bpf(Cmd.MAP_UPDATE_ELEM, attr)


def map_delete_elem(fd: FdLike, key: Any, flags: int = 0) -> bool:
    """BPF_MAP_DELETE_ELEM; False when the key was not there."""
    attr, keep = _elem_attr(fd, key)
    attr.flags = flags
    result, err = _raw(Cmd.MAP_DELETE_ELEM, attr)
    if result < 0:
        if err == _errno.ENOENT:
            return False
        raise _error(Cmd.MAP_DELETE_ELEM, err)
    return True


def map_get_next_key(fd: FdLike, key: Any | None, key_size: int) -> bytes | None:
    """BPF_MAP_GET_NEXT_KEY: the key after ``key`` (the first if None); None at the end."""
    attr, keep = _elem_attr(fd, key)
    nxt = bytearray(key_size)
    nbuf = _buffer(nxt, writable=True)
    attr.next_key = _addr(nbuf)
    result, err = _raw(Cmd.MAP_GET_NEXT_KEY, attr)
    if result < 0:
        if err == _errno.ENOENT:
            return None
        raise _error(Cmd.MAP_GET_NEXT_KEY, err)
    return bytes(nxt)


def map_freeze(fd: FdLike) -> None:
    """BPF_MAP_FREEZE: no more writes from user space (programs may still write)."""
    attr = ffi.new("struct bpf_attr_map_elem *")
    attr.map_fd = fd_number(fd)
    bpf(Cmd.MAP_FREEZE, attr)


class BatchResult(NamedTuple):
    """One batch: ``count`` entries filled in ``keys``/``values``.

    ``next_batch`` is the cursor for the next call, or None once the kernel
    said the map is exhausted (ENOENT).
    """

    keys: Any
    values: Any
    count: int
    next_batch: bytes | None


def _lookup_batch(
    cmd: Cmd, fd: FdLike, key_size: int, value_size: int, count: int, in_batch: bytes | None,
    keys: Any, values: Any, elem_flags: int, flags: int,
) -> BatchResult:
    keys = bytearray(key_size * count) if keys is None else keys
    values = bytearray(value_size * count) if values is None else values
    if len(memoryview(keys).cast("B")) < key_size * count or len(memoryview(values).cast("B")) < value_size * count:
        raise ValueError(f"batch buffers too small for {count} entries")
    # Hash maps use a u32 bucket cursor, array-like maps a key: fit both.
    cursor_size = max(key_size, 4)
    out = bytearray(cursor_size)
    attr = ffi.new("struct bpf_attr_batch *")
    kbuf, vbuf, obuf = _buffer(keys, writable=True), _buffer(values, writable=True), _buffer(out, writable=True)
    ibuf = None
    if in_batch is not None:
        ibuf = _buffer(bytes(in_batch).ljust(cursor_size, b"\0"))
        attr.in_batch = _addr(ibuf)
    attr.out_batch = _addr(obuf)
    attr.keys = _addr(kbuf)
    attr.values = _addr(vbuf)
    attr.count = count
    attr.map_fd = fd_number(fd)
    attr.elem_flags = elem_flags
    attr.flags = flags
    result, err = _raw(cmd, attr)
    if result < 0:
        if err == _errno.ENOENT:  # end of map; attr.count says how many came with it
            return BatchResult(keys, values, attr.count, None)
        if err == _errno.ENOSPC:
            raise KernelError(err, _command_name(cmd), f"count={count} is smaller than one hash bucket",
                              hint="retry with a larger count")
        raise _error(cmd, err, f"after {attr.count} entries")
    return BatchResult(keys, values, attr.count, bytes(out))


def map_lookup_batch(
    fd: FdLike, key_size: int, value_size: int, count: int, in_batch: bytes | None = None, *,
    keys: Any = None, values: Any = None, elem_flags: int = 0, flags: int = 0,
) -> BatchResult:
    """BPF_MAP_LOOKUP_BATCH: up to ``count`` entries after cursor ``in_batch``.

    ``keys``/``values`` may be caller buffers (e.g. numpy arrays) of at least
    ``count`` entries; otherwise bytearrays are allocated.
    """
    return _lookup_batch(Cmd.MAP_LOOKUP_BATCH, fd, key_size, value_size, count, in_batch, keys, values, elem_flags, flags)


def map_lookup_and_delete_batch(
    fd: FdLike, key_size: int, value_size: int, count: int, in_batch: bytes | None = None, *,
    keys: Any = None, values: Any = None, elem_flags: int = 0, flags: int = 0,
) -> BatchResult:
    """BPF_MAP_LOOKUP_AND_DELETE_BATCH: like :func:`map_lookup_batch`, removing what it returns."""
    return _lookup_batch(
        Cmd.MAP_LOOKUP_AND_DELETE_BATCH, fd, key_size, value_size, count, in_batch, keys, values, elem_flags, flags
    )


def _write_batch(cmd: Cmd, fd: FdLike, keys: Any, values: Any | None, count: int, elem_flags: int, flags: int) -> int:
    attr = ffi.new("struct bpf_attr_batch *")
    kbuf = _buffer(keys)
    attr.keys = _addr(kbuf)
    vbuf = None
    if values is not None:
        vbuf = _buffer(values)
        attr.values = _addr(vbuf)
    attr.count = count
    attr.map_fd = fd_number(fd)
    attr.elem_flags = elem_flags
    attr.flags = flags
    result, err = _raw(cmd, attr)
    if result < 0:
        raise _error(cmd, err, f"{attr.count} of {count} entries done")
    return attr.count


def map_update_batch(fd: FdLike, keys: Any, values: Any, count: int, *, elem_flags: int = BPF_ANY, flags: int = 0) -> int:
    """BPF_MAP_UPDATE_BATCH: write ``count`` packed keys/values; returns the count done."""
    return _write_batch(Cmd.MAP_UPDATE_BATCH, fd, keys, values, count, elem_flags, flags)


def map_delete_batch(fd: FdLike, keys: Any, count: int, *, elem_flags: int = 0, flags: int = 0) -> int:
    """BPF_MAP_DELETE_BATCH: delete ``count`` packed keys; returns the count done."""
    return _write_batch(Cmd.MAP_DELETE_BATCH, fd, keys, None, count, elem_flags, flags)


# --- programs and BTF ------------------------------------------------------------


class ProgLoadResult(NamedTuple):
    """A loaded program's fd and the verifier log ("" when log_level was 0)."""

    fd: Fd
    log: str


def _u32_array(fds: Sequence[FdLike]) -> Any:
    return ffi.new("int32_t[]", [fd_number(f) for f in fds])


def prog_load(
    prog_type: ProgType | int,
    insns: Any,
    license: str = "GPL",
    *,
    name: str = "",
    expected_attach_type: AttachType | int = 0,
    kern_version: int = 0,
    prog_flags: int = 0,
    prog_ifindex: int = 0,
    prog_btf_fd: FdLike | None = None,
    func_info: Any = b"",
    func_info_rec_size: int = 0,
    line_info: Any = b"",
    line_info_rec_size: int = 0,
    attach_btf_id: int = 0,
    attach_btf_obj_fd: FdLike | None = None,
    attach_prog_fd: FdLike | None = None,
    fd_array: Sequence[FdLike] | None = None,
    log_level: int = 0,
    log_size: int = _DEFAULT_LOG_SIZE,
    log_size_cap: int = LOG_SIZE_CAP,
) -> ProgLoadResult:
    """BPF_PROG_LOAD, with the verifier log handled.

    ``insns`` are raw 8-byte instructions.  With ``log_level > 0`` the log
    buffer starts at ``log_size`` and grows (up to ``log_size_cap``) when the
    kernel says ENOSPC; with ``log_level == 0`` a failed load is retried
    once with level 1 so that the :class:`VerifierError` always carries the
    verifier's reasons.  Both sizes are at least :data:`LOG_SIZE_MIN`, the
    smallest buffer kernels before 6.4 take.  On those kernels a full log
    fails the load with ENOSPC (success or not) and ``log_true_size`` is not
    reported, so the buffer grows fourfold; 6.4+ says the size it needs.
    """
    code = bytes(memoryview(insns).cast("B"))
    if len(code) % 8 or not code:
        raise ValueError(f"instructions must be a non-empty multiple of 8 bytes, got {len(code)}")
    if attach_btf_obj_fd is not None and attach_prog_fd is not None:
        raise ValueError("attach_btf_obj_fd and attach_prog_fd share one field: pass one")
    label = name or _type_name(ProgType, prog_type)
    ibuf = _owned(code)
    lic = _cstring(license)
    keep: list[Any] = []
    attr = ffi.new("struct bpf_attr_prog_load *")
    attr.prog_type = int(prog_type)
    attr.insn_cnt = len(code) // 8
    attr.insns = _addr(ibuf)
    attr.license = _addr(lic)
    attr.kern_version = kern_version
    attr.prog_flags = prog_flags
    attr.prog_name = sanitize_name(name)
    attr.prog_ifindex = prog_ifindex
    attr.expected_attach_type = int(expected_attach_type)
    if prog_btf_fd is not None:
        attr.prog_btf_fd = fd_number(prog_btf_fd)
    for data, rec_size, field in ((func_info, func_info_rec_size, "func_info"), (line_info, line_info_rec_size, "line_info")):
        raw = bytes(memoryview(data).cast("B"))
        if len(raw):
            if rec_size <= 0 or len(raw) % rec_size:
                raise ValueError(f"{field}: {len(raw)} bytes is not a multiple of record size {rec_size}")
            buf = _owned(raw)
            keep.append(buf)
            setattr(attr, field, _addr(buf))
            setattr(attr, f"{field}_rec_size", rec_size)
            setattr(attr, f"{field}_cnt", len(raw) // rec_size)
    attr.attach_btf_id = attach_btf_id
    if attach_btf_obj_fd is not None:
        attr.attach_btf_obj_fd = fd_number(attach_btf_obj_fd)
    if attach_prog_fd is not None:
        attr.attach_prog_fd = fd_number(attach_prog_fd)
    if fd_array:
        arr = _u32_array(fd_array)
        keep.append(arr)
        attr.fd_array = _addr(arr)

    size, log_size_cap = _log_sizes(log_size, log_size_cap, _PROG_LOG_SIZE_MAX)
    level, retried_with_log, eagain = log_level, False, 0
    while True:
        logbuf = ffi.new("char[]", size) if level else ffi.NULL
        attr.log_level = level
        attr.log_size = size if level else 0
        attr.log_buf = _addr(logbuf) if level else 0
        attr.log_true_size = 0
        fd, err = _raw_fd(Cmd.PROG_LOAD, attr, "prog")
        if fd is not None:
            return ProgLoadResult(fd, _decode_log(logbuf, size) if log_level else "")
        text = _decode_log(logbuf, size) if level else ""
        if err == _errno.EAGAIN and eagain < _EAGAIN_RETRIES:
            eagain += 1
            continue
        if err == _errno.EPERM and not is_privileged():
            raise NotPrivileged("BPF_PROG_LOAD", f"program {label!r}")
        if err == _errno.ENOSPC and level and size < log_size_cap:
            # 6.4+ reports the size it needed; older kernels need guessing.
            size = min(log_size_cap, max(int(attr.log_true_size), size * 4))
            log.debug("verifier log of %r grows to %d bytes", label, size)
            continue
        if not level and not retried_with_log:
            level, retried_with_log = 1, True
            continue
        if text:
            raise VerifierError(err, label, text, truncated=err == _errno.ENOSPC)
        raise KernelError(err, "BPF_PROG_LOAD", f"program {label!r}")


def btf_load(data: Any, *, log_level: int = 0, log_size: int = _DEFAULT_LOG_SIZE, btf_flags: int = 0,
             log_size_cap: int = LOG_SIZE_CAP) -> tuple[Fd, str]:
    """BPF_BTF_LOAD a raw BTF blob: ``(fd, log)``; refusals raise BtfLoadError with the log.

    Same log policy as :func:`prog_load` (grow on ENOSPC, retry a failed
    silent load once with a log).
    """
    from ..errors import BtfLoadError

    raw = bytes(memoryview(data).cast("B"))
    blob = _owned(raw)
    attr = ffi.new("struct bpf_attr_btf_load *")
    attr.btf = _addr(blob)
    attr.btf_size = len(raw)
    attr.btf_flags = btf_flags
    size, log_size_cap = _log_sizes(log_size, log_size_cap, BTF_LOG_SIZE_MAX)
    level, retried = log_level, False
    while True:
        logbuf = ffi.new("char[]", size) if level else ffi.NULL
        attr.btf_log_level = level
        attr.btf_log_size = size if level else 0
        attr.btf_log_buf = _addr(logbuf) if level else 0
        fd, err = _raw_fd(Cmd.BTF_LOAD, attr, "btf")
        if fd is not None:
            return fd, _decode_log(logbuf, size) if log_level else ""
        text = _decode_log(logbuf, size) if level else ""
        if err == _errno.EPERM and not is_privileged():
            raise NotPrivileged("BPF_BTF_LOAD")
        if err == _errno.ENOSPC and level and size < log_size_cap:
            size = min(log_size_cap, max(int(attr.btf_log_true_size), size * 4))
            continue
        if not level and not retried:
            level, retried = 1, True
            continue
        raise BtfLoadError(err, text, truncated=err == _errno.ENOSPC)


# --- pinning ---------------------------------------------------------------------


def obj_pin(fd: FdLike, path: str | os.PathLike[str], *, path_fd: FdLike | None = None) -> None:
    """BPF_OBJ_PIN at ``path`` (bpffs); with ``path_fd`` the path is relative to it."""
    attr = ffi.new("struct bpf_attr_obj *")
    p = _cstring(os.fsencode(path))
    attr.pathname = _addr(p)
    attr.bpf_fd = fd_number(fd)
    if path_fd is not None:
        attr.path_fd = fd_number(path_fd)
        attr.file_flags = BPF_F_PATH_FD
    result, err = _raw(Cmd.OBJ_PIN, attr)
    if result < 0:
        where = os.fsdecode(path)
        fs = fs_type(os.path.dirname(os.path.abspath(where))) if path_fd is None else None
        if err in (_errno.EPERM, _errno.EACCES, _errno.EINVAL) and fs is not None and fs != "bpf":
            # the kernel's EPERM for a path outside bpffs is not about privileges
            raise KernelError(err, "BPF_OBJ_PIN", where, hint=f"pins must be on a bpffs mount; "
                              f"{os.path.dirname(os.path.abspath(where))} is on {fs} "
                              "(mount -t bpf bpf /sys/fs/bpf, or pin under /sys/fs/bpf)")
        if path_fd is not None:
            raise _path_fd_error(Cmd.OBJ_PIN, err, where)
        raise _error(Cmd.OBJ_PIN, err, where)


#: The release whose BPF_OBJ_PIN/BPF_OBJ_GET take a directory fd (BPF_F_PATH_FD + path_fd).
PATH_FD_MIN_VERSION = "6.5"


@functools.cache
def path_fd_supported() -> bool:
    """Does BPF_OBJ_GET know BPF_F_PATH_FD?  Asked once: with path_fd -1 and a relative
    path, a kernel that knows the flag fails the lookup (EBADF); an older one refuses the
    flag itself (EINVAL)."""
    attr = ffi.new("struct bpf_attr_obj *")
    p = _cstring(b"bpfnb-path-fd-probe")
    attr.pathname = _addr(p)
    attr.file_flags = BPF_F_PATH_FD
    attr.path_fd = -1
    result, err = _raw(Cmd.OBJ_GET, attr)
    if result >= 0:  # cannot happen (fd -1 names no directory); do not leak it if it does
        os.close(result)
        return True
    return err != _errno.EINVAL


def _path_fd_error(cmd: int, err: int, where: str) -> KernelError:
    """An EINVAL for a directory-relative pin/get on a kernel without BPF_F_PATH_FD says so."""
    if err == _errno.EINVAL and not path_fd_supported():
        return UnsupportedFeature("BPF_F_PATH_FD", f"{_command_name(cmd)} {where!r} relative to a directory fd",
                                  err=err, min_version=PATH_FD_MIN_VERSION)
    return _error(cmd, err, where)


def fs_type(path: str) -> str | None:
    """The filesystem type of the mount holding ``path`` (from /proc/self/mountinfo), or None."""
    try:
        real = os.path.realpath(path)
        best, kind = "", None
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) < 5 or not right:
                    continue
                mount = fields[4].replace("\\040", " ")
                if (real == mount or real.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
                    best, kind = mount, right.split()[0]
        return kind
    except OSError:
        return None


def obj_get(path: str | os.PathLike[str], *, file_flags: int = 0, path_fd: FdLike | None = None) -> Fd:
    """BPF_OBJ_GET: a new fd for the object pinned at ``path``."""
    attr = ffi.new("struct bpf_attr_obj *")
    p = _cstring(os.fsencode(path))
    attr.pathname = _addr(p)
    attr.file_flags = file_flags
    if path_fd is not None:
        attr.path_fd = fd_number(path_fd)
        attr.file_flags = file_flags | BPF_F_PATH_FD
    fd, err = _raw_fd(Cmd.OBJ_GET, attr, "pinned")
    if fd is None:
        refusal = _path_fd_error if path_fd is not None else _error
        raise refusal(Cmd.OBJ_GET, err, os.fsdecode(path))
    fd.kind = _anon_inode_kind(fd.fileno())
    return fd


_INODE_KINDS = {"anon_inode:bpf-map": "map", "anon_inode:bpf-prog": "prog", "anon_inode:bpf_link": "link",
                "anon_inode:btf": "btf"}


def _anon_inode_kind(number: int) -> str:
    """What a pinned object turned out to be: the kernel names its anon inode."""
    try:
        return _INODE_KINDS.get(os.readlink(f"/proc/self/fd/{number}"), "pinned")
    except OSError:
        return "pinned"


# --- ids ---------------------------------------------------------------------------


def _next_id(cmd: Cmd, start_id: int) -> int | None:
    attr = ffi.new("struct bpf_attr_get_id *")
    attr.start_id = start_id
    result, err = _raw(cmd, attr)
    if result < 0:
        if err == _errno.ENOENT:
            return None
        raise _error(cmd, err)
    return int(attr.next_id)


def prog_get_next_id(start_id: int = 0) -> int | None:
    """The next program id after ``start_id``; None when there is none."""
    return _next_id(Cmd.PROG_GET_NEXT_ID, start_id)


def map_get_next_id(start_id: int = 0) -> int | None:
    return _next_id(Cmd.MAP_GET_NEXT_ID, start_id)


def link_get_next_id(start_id: int = 0) -> int | None:
    return _next_id(Cmd.LINK_GET_NEXT_ID, start_id)


def btf_get_next_id(start_id: int = 0) -> int | None:
    return _next_id(Cmd.BTF_GET_NEXT_ID, start_id)


def iter_ids(next_id: Any) -> Iterator[int]:
    """Every id a ``*_get_next_id`` function yields, e.g. ``iter_ids(prog_get_next_id)``."""
    current = 0
    while (current := next_id(current)) is not None:
        yield current


def _fd_by_id(cmd: Cmd, object_id: int, kind: str, open_flags: int) -> Fd:
    attr = ffi.new("struct bpf_attr_get_id *")
    attr.start_id = object_id
    attr.open_flags = open_flags
    return _new_fd(cmd, attr, kind, f"{kind} id {object_id}")


def prog_get_fd_by_id(prog_id: int, open_flags: int = 0) -> Fd:
    return _fd_by_id(Cmd.PROG_GET_FD_BY_ID, prog_id, "prog", open_flags)


def map_get_fd_by_id(map_id: int, open_flags: int = 0) -> Fd:
    return _fd_by_id(Cmd.MAP_GET_FD_BY_ID, map_id, "map", open_flags)


def link_get_fd_by_id(link_id: int, open_flags: int = 0) -> Fd:
    return _fd_by_id(Cmd.LINK_GET_FD_BY_ID, link_id, "link", open_flags)


def btf_get_fd_by_id(btf_id: int, open_flags: int = 0) -> Fd:
    return _fd_by_id(Cmd.BTF_GET_FD_BY_ID, btf_id, "btf", open_flags)


# --- running -------------------------------------------------------------------------


class TestRunResult(NamedTuple):
    """What BPF_PROG_TEST_RUN reports; ``duration_ns`` is the mean per repeat."""

    retval: int
    data_out: bytes
    ctx_out: bytes
    duration_ns: int


def prog_test_run(
    fd: FdLike, data_in: Any = b"", *, ctx_in: Any = None, repeat: int = 1, data_size_out: int | None = None,
    ctx_size_out: int = 0, flags: int = 0, cpu: int = 0, batch_size: int = 0,
) -> TestRunResult:
    """BPF_PROG_TEST_RUN: run a program on ``data_in``/``ctx_in`` in the kernel.

    ``data_size_out`` defaults to ``len(data_in) + 256`` so programs that
    grow a packet still fit.
    """
    attr = ffi.new("struct bpf_attr_test *")
    attr.prog_fd = fd_number(fd)
    din = bytes(memoryview(data_in).cast("B"))
    keep = []
    if len(din):
        b = _owned(din)
        keep.append(b)
        attr.data_in = _addr(b)
        attr.data_size_in = len(din)
    out_size = (len(din) + 256 if len(din) else 0) if data_size_out is None else data_size_out
    dout = bytearray(out_size)
    if out_size:
        b = _buffer(dout, writable=True)
        keep.append(b)
        attr.data_out = _addr(b)
        attr.data_size_out = out_size
    if ctx_in is not None:
        cin = bytes(memoryview(ctx_in).cast("B"))
        b = _owned(cin)
        keep.append(b)
        attr.ctx_in = _addr(b)
        attr.ctx_size_in = len(cin)
    cout = bytearray(ctx_size_out)
    if ctx_size_out:
        b = _buffer(cout, writable=True)
        keep.append(b)
        attr.ctx_out = _addr(b)
        attr.ctx_size_out = ctx_size_out
    attr.repeat = repeat
    attr.flags = flags
    attr.cpu = cpu
    attr.batch_size = batch_size
    bpf(Cmd.PROG_TEST_RUN, attr)
    return TestRunResult(
        int(attr.retval), bytes(dout[: min(attr.data_size_out, out_size)]),
        bytes(cout[: min(attr.ctx_size_out, ctx_size_out)]), int(attr.duration),
    )
