"""A perf_event link with a BPF cookie, end to end.

A tracepoint program stores ``bpf_get_attach_cookie()`` into an array map;
it is attached with LINK_CREATE to a perf event on ``sys_enter_getpid``
opened for this process only, so the cookie read back proves the
``link_create.perf_event.bpf_cookie`` part of the attr reached the kernel,
and link_info shows the tracepoint name and cookie through the second call.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

import pytest

from helpers import newer_assertions

from bpfnb.kernel import Fd, link_create, link_info, map_create, map_lookup_elem, map_update_elem, prog_load
from bpfnb.kernel.version import KernelVersion, running_kernel
from bpfnb.uapi import AttachType, FuncId, LinkType, MapType, ProgType

pytestmark = pytest.mark.kernel

TRACEPOINT = "syscalls/sys_enter_getpid"
NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}.get(platform.machine())
COOKIE = 0xDEADBEEF12345678


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def cookie_program(map_fd: int) -> bytes:
    """map[0] = bpf_get_attach_cookie(ctx); return 0."""
    return b"".join([
        insn(0x85, imm=FuncId.get_attach_cookie),   # r0 = cookie (r1 is still ctx)
        insn(0x7B, 10, 0, -8),                      # *(u64 *)(r10 - 8) = r0
        insn(0x62, 10, 0, -16, 0),                  # *(u32 *)(r10 - 16) = 0
        insn(0x18, 1, 1, 0, map_fd), insn(0),       # r1 = map (BPF_PSEUDO_MAP_FD)
        insn(0xBF, 2, 10), insn(0x07, 2, imm=-16),  # r2 = &key
        insn(0xBF, 3, 10), insn(0x07, 3, imm=-8),   # r3 = &value
        insn(0xB7, 4, imm=0),                       # r4 = BPF_ANY
        insn(0x85, imm=FuncId.map_update_elem),
        insn(0xB7, 0, imm=0), insn(0x95),
    ])


def perf_event_open_tracepoint(name: str) -> Fd:
    """perf_event_open(PERF_TYPE_TRACEPOINT, this process, any CPU) -- test-side ctypes, not bpfnb."""
    path = f"/sys/kernel/tracing/events/{name}/id"
    if NR_PERF_EVENT_OPEN is None or not os.path.exists(path):
        pytest.skip(f"no tracepoint {name} or unknown perf_event_open number")
    with open(path) as f:
        tp_id = int(f.read())
    # struct perf_event_attr, PERF_ATTR_SIZE_VER0 (64 bytes): type, size, config, sample_period ...
    attr = struct.pack("<IIQQQQQIIQ", 2, 64, tp_id, 1, 0, 0, 0, 1, 0, 0)
    buf = ctypes.create_string_buffer(attr, len(attr))
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(NR_PERF_EVENT_OPEN, buf, 0, -1, -1, 8)  # pid 0 = us, cpu -1, PERF_FLAG_FD_CLOEXEC
    if fd < 0:
        raise OSError(ctypes.get_errno(), "perf_event_open")
    return Fd(fd, "perf_event")


def test_perf_event_link_passes_cookie() -> None:
    with map_create(MapType.ARRAY, 4, 8, 1, name="cookie_out") as out, \
            perf_event_open_tracepoint(TRACEPOINT) as event:
        prog = prog_load(ProgType.TRACEPOINT, cookie_program(out.fileno()), name="cookie_prog").fd
        with prog, link_create(prog, event, AttachType.PERF_EVENT, bpf_cookie=COOKIE) as link:
            os.getpid()  # glibc does not cache getpid: one syscall, one tracepoint hit
            assert struct.unpack("<Q", map_lookup_elem(out, struct.pack("<I", 0), 8))[0] == COOKIE
            info = link_info(link)
            assert info.type == LinkType.PERF_EVENT and info.prog_id
            with newer_assertions("perf_event link info"):  # 6.6; before, the kernel describes nothing
                assert info.detail("perf_event_type") == "tracepoint"
                assert info.detail("tp_name") == TRACEPOINT.split("/")[1]
                # the cookie joined the perf_event link info in 6.9; 6.6-6.8 leave it 0
                assert info.detail("cookie") == (COOKIE if running_kernel() >= KernelVersion.parse("6.9") else 0)
        map_update_elem(out, struct.pack("<I", 0), bytes(8))
        os.getpid()
        assert map_lookup_elem(out, struct.pack("<I", 0), 8) == bytes(8)  # link closed: program detached
