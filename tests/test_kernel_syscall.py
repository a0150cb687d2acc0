"""Every bpf() wrapper exercised against the running kernel.

Oracles: the kernel's own answers (errno, info structs), bpftool's JSON and
a SHA-1 computed here for program tags.  Pins live in a per-test directory
under /sys/fs/bpf that is removed even when a test fails.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import os
import struct

import numpy as np
import pytest

from helpers import kernel_feature
from oracles.bpftool import bpftool

from bpfnb.errors import BtfLoadError, KernelError, NotPrivileged, UnsupportedFeature, VerifierError
from bpfnb.kernel import (
    Fd,
    btf_load,
    map_create,
    map_delete_batch,
    map_delete_elem,
    map_freeze,
    map_get_fd_by_id,
    map_get_next_id,
    map_get_next_key,
    map_info,
    map_lookup_and_delete_batch,
    map_lookup_and_delete_elem,
    map_lookup_batch,
    map_lookup_elem,
    map_update_batch,
    map_update_elem,
    obj_get,
    obj_pin,
    possible_cpus,
    prog_get_fd_by_id,
    prog_info,
    prog_load,
    prog_test_run,
    sanitize_name,
)
from bpfnb.uapi.btf_layout import KIND_INT, btf_blob, int_data, pack_record
from bpfnb.kernel.syscall import BPF_EXIST, BPF_NOEXIST, LOG_SIZE_MIN, PATH_FD_MIN_VERSION, iter_ids, path_fd_supported
from bpfnb.kernel.version import KernelVersion, running_kernel
from bpfnb.uapi import MapType, ProgType

pytestmark = pytest.mark.kernel

RET0 = b"\xb7\x00\x00\x00\x00\x00\x00\x00\x95\x00\x00\x00\x00\x00\x00\x00"  # r0 = 0; exit
EXIT_ONLY = b"\x95" + bytes(7)  # exit with r0 never written
R1_ZERO = b"\xb7\x01" + bytes(6)  # r1 = 0: padding that makes the verifier log longer


def ret(value: int) -> bytes:
    """r0 = value; exit."""
    return struct.pack("<BBhi", 0xB7, 0, 0, value) + struct.pack("<BBhi", 0x95, 0, 0, 0)


def bpftool_json(*args: str):
    return bpftool(*args)


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def u32(i: int) -> bytes:
    return struct.pack("<I", i)


def u64(i: int) -> bytes:
    return struct.pack("<Q", i)


# --- maps --------------------------------------------------------------------------


def test_hash_map_crud_and_iteration() -> None:
    with map_create(MapType.HASH, 4, 8, 32, name="crud") as m:
        for i in range(10):
            map_update_elem(m, u32(i), u64(i * 100))
        assert map_lookup_elem(m, u32(7), 8) == u64(700)
        assert map_lookup_elem(m, u32(99), 8) is None
        with pytest.raises(KernelError) as exc:
            map_update_elem(m, u32(3), u64(0), BPF_NOEXIST)
        assert exc.value.errno == errno.EEXIST and exc.value.command == "BPF_MAP_UPDATE_ELEM"
        with pytest.raises(KernelError) as exc:
            map_update_elem(m, u32(50), u64(0), BPF_EXIST)
        assert exc.value.errno == errno.ENOENT
        assert map_delete_elem(m, u32(3)) is True
        assert map_delete_elem(m, u32(3)) is False
        keys, key = [], None
        while (key := map_get_next_key(m, key, 4)) is not None:
            keys.append(struct.unpack("<I", key)[0])
        assert sorted(keys) == [0, 1, 2, 4, 5, 6, 7, 8, 9]


def test_array_map_bounds() -> None:
    with map_create(MapType.ARRAY, 4, 4, 4) as m:
        assert map_lookup_elem(m, u32(0), 4) == bytes(4)  # arrays are pre-zeroed
        assert map_lookup_elem(m, u32(4), 4) is None
        with pytest.raises(KernelError) as exc:
            map_delete_elem(m, u32(0))
        assert exc.value.errno == errno.EINVAL
        assert map_get_next_key(m, u32(3), 4) is None
        assert map_get_next_key(m, None, 4) == u32(0)


def test_percpu_array_values_per_possible_cpu() -> None:
    ncpu = possible_cpus()
    assert ncpu >= os.cpu_count() or ncpu >= 1
    with map_create(MapType.PERCPU_ARRAY, 4, 4, 2) as m:
        values = np.arange(ncpu, dtype=np.uint64) + 10  # 4-byte values are padded to 8 per CPU
        map_update_elem(m, u32(1), values.tobytes())
        raw = map_lookup_elem(m, u32(1), 8 * ncpu)
        assert np.frombuffer(raw, dtype=np.uint64).tolist() == values.tolist()


def test_queue_push_pop() -> None:
    with map_create(MapType.QUEUE, 0, 8, 4) as q:
        for v in (1, 2, 3):
            map_update_elem(q, None, u64(v))
        assert [map_lookup_and_delete_elem(q, None, 8) for _ in range(4)] == [u64(1), u64(2), u64(3), None]


def test_lookup_and_delete_elem_on_hash() -> None:
    with map_create(MapType.HASH, 4, 4, 4) as m:
        map_update_elem(m, u32(1), u32(11))
        assert map_lookup_and_delete_elem(m, u32(1), 4) == u32(11)
        assert map_lookup_elem(m, u32(1), 4) is None


@pytest.mark.parametrize("map_type", [MapType.HASH, MapType.ARRAY])
def test_batch_ops_with_numpy(map_type: MapType) -> None:
    n = 100
    with map_create(map_type, 4, 8, n) as m:
        keys = np.arange(n, dtype=np.uint32)
        values = keys.astype(np.uint64) * 3
        assert map_update_batch(m, keys, values, n) == n
        seen_k, seen_v, cursor = [], [], None
        kbuf, vbuf = np.zeros(16, np.uint32), np.zeros(16, np.uint64)
        while True:
            r = map_lookup_batch(m, 4, 8, 16, cursor, keys=kbuf, values=vbuf)
            seen_k += kbuf[: r.count].tolist()
            seen_v += vbuf[: r.count].tolist()
            if r.next_batch is None:
                break
            cursor = r.next_batch
        assert sorted(zip(seen_k, seen_v)) == [(k, 3 * k) for k in range(n)]
        if map_type == MapType.HASH:
            assert map_delete_batch(m, keys[:10], 10) == 10
            r = map_lookup_and_delete_batch(m, 4, 8, n)
            assert r.count == n - 10 and r.next_batch is None
            assert sorted(np.frombuffer(r.keys, np.uint32)[: r.count].tolist()) == list(range(10, n))
            assert map_get_next_key(m, None, 4) is None


def test_batch_lookup_on_empty_map_ends_at_once() -> None:
    with map_create(MapType.HASH, 4, 4, 8) as m:
        r = map_lookup_batch(m, 4, 4, 8)
        assert r.count == 0 and r.next_batch is None


def test_freeze_blocks_user_writes() -> None:
    with map_create(MapType.ARRAY, 4, 4, 1) as m:
        map_update_elem(m, u32(0), u32(5))
        map_freeze(m)
        with pytest.raises(KernelError) as exc:
            map_update_elem(m, u32(0), u32(6))
        assert exc.value.errno == errno.EPERM and not isinstance(exc.value, NotPrivileged)
        assert map_lookup_elem(m, u32(0), 4) == u32(5)


def test_map_name_is_sanitised_and_truncated() -> None:
    assert sanitize_name("my-map with.dots_and_more") == b"my_map_with.dot"
    assert sanitize_name("ünï") == b"__n__"  # each non-ASCII UTF-8 byte becomes "_"
    with map_create(MapType.ARRAY, 4, 4, 1, name="my-map with.dots_and_more") as m:
        assert map_info(m).name == "my_map_with.dot"


def test_map_create_error_names_the_map() -> None:
    with pytest.raises(KernelError) as exc:
        map_create(MapType.ARRAY, 4, 0, 1, name="bad")
    assert exc.value.errno == errno.EINVAL and "BPF_MAP_CREATE" in str(exc.value) and "'bad'" in str(exc.value)


def test_pin_and_get(pin_root: str) -> None:
    with map_create(MapType.HASH, 4, 4, 4, name="pinned") as m:
        map_update_elem(m, u32(1), u32(2))
        path = f"{pin_root}/m"
        obj_pin(m, path)
        with pytest.raises(KernelError) as exc:
            obj_pin(m, path)
        assert exc.value.errno == errno.EEXIST
        with obj_get(path) as again:
            assert again.kind == "map"
            assert map_info(again).id == map_info(m).id
            assert map_lookup_elem(again, u32(1), 4) == u32(2)
    with pytest.raises(KernelError) as exc:
        obj_get(f"{pin_root}/missing")
    assert exc.value.errno == errno.ENOENT and "missing" in str(exc.value)


def test_pin_and_get_relative_to_a_directory_fd(pin_root: str) -> None:
    """BPF_F_PATH_FD (6.5): pin and get relative to a directory fd, like openat(2)."""
    assert path_fd_supported() == (running_kernel() >= KernelVersion.parse(PATH_FD_MIN_VERSION))
    with map_create(MapType.HASH, 4, 4, 4, name="pinned") as m:
        dirfd = os.open(pin_root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with kernel_feature("BPF_F_PATH_FD"):
                obj_pin(m, "relative", path_fd=dirfd)
                assert os.path.exists(f"{pin_root}/relative")
                with obj_get("relative", path_fd=dirfd) as rel:
                    assert map_info(rel).id == map_info(m).id
                with pytest.raises(KernelError) as exc:
                    obj_get("missing", path_fd=dirfd)
                assert exc.value.errno == errno.ENOENT and not isinstance(exc.value, UnsupportedFeature)
        finally:
            os.close(dirfd)


def test_ids_and_fd_by_id() -> None:
    with map_create(MapType.ARRAY, 4, 4, 1) as m:
        my_id = map_info(m).id
        assert my_id in set(iter_ids(map_get_next_id))
        with map_get_fd_by_id(my_id) as again:
            assert map_info(again).id == my_id and again.fileno() != m.fileno()
    with pytest.raises(KernelError) as exc:
        map_get_fd_by_id(0xFFFFFFF0)
    assert exc.value.errno == errno.ENOENT


# --- programs ----------------------------------------------------------------------------


def test_socket_filter_tag_matches_bpftool_and_digest() -> None:
    fd, text = prog_load(ProgType.SOCKET_FILTER, RET0, name="tagged")
    with fd:
        info = prog_info(fd, xlated=True)
        assert info.xlated == RET0
        # SHA-256 since Linux 6.18 (it was SHA-1): the first 8 bytes of the digest of the xlated insns
        assert info.tag in (hashlib.sha256(RET0).hexdigest()[:16], hashlib.sha1(RET0).hexdigest()[:16])
        shown = bpftool_json("prog", "show", "id", str(info.id))
        assert shown["tag"] == info.tag and shown["name"] == "tagged" and shown["type"] == "socket_filter"
        assert text == ""


def test_verifier_rejection_carries_log() -> None:
    with pytest.raises(VerifierError) as exc:
        prog_load(ProgType.SOCKET_FILTER, EXIT_ONLY, name="bad", log_level=1)
    assert "R0 !read_ok" in exc.value.log and exc.value.errno == errno.EACCES
    assert exc.value.program == "bad" and not exc.value.truncated
    # without a log level the load is retried with one, so the reason is never lost
    with pytest.raises(VerifierError) as exc:
        prog_load(ProgType.SOCKET_FILTER, EXIT_ONLY)
    assert "R0 !read_ok" in exc.value.log


def test_log_buffer_grows_on_enospc() -> None:
    """A buffer too small for the log grows until the whole log fits (6.4+ says the size it
    needs, older kernels are grown into); the requested 32 bytes become LOG_SIZE_MIN, the
    smallest buffer kernels before 6.4 take."""
    code = R1_ZERO * 8 + RET0
    full = prog_load(ProgType.SOCKET_FILTER, code, log_level=2, log_size=1 << 20)
    small = prog_load(ProgType.SOCKET_FILTER, code, log_level=2, log_size=32)
    try:
        assert len(full.log) > LOG_SIZE_MIN and "processed 10 insns" in full.log
        # same text, modulo the timing the verifier prints at level 2
        strip = lambda s: [line for line in s.splitlines() if "verification time" not in line]  # noqa: E731
        assert strip(small.log) == strip(full.log)
    finally:
        full.fd.close()
        small.fd.close()


def test_log_cap_reports_truncation() -> None:
    """A log longer than the cap: the refusal says it was cut (ENOSPC), on every kernel."""
    code = R1_ZERO * 8 + EXIT_ONLY
    with pytest.raises(VerifierError) as exc:
        prog_load(ProgType.SOCKET_FILTER, code, log_level=2, log_size=16, log_size_cap=32)
    assert exc.value.truncated and exc.value.errno == errno.ENOSPC
    assert 0 < len(exc.value.log) < LOG_SIZE_MIN  # the cap was raised to the kernels' minimum, no further


def test_tiny_btf_log_is_raised_to_the_minimum() -> None:
    """BTF logs follow the same rules (pre-6.4 kernels refuse under 128 bytes and over 16 MiB)."""
    blob = btf_blob(pack_record(KIND_INT, 1, 4, fixed=[int_data(1, 0, 32)]), b"\0int\0")
    fd, text = btf_load(blob, log_level=1, log_size=8, log_size_cap=1 << 30)  # cap: cut to 16 MiB - 1
    full, expected = btf_load(blob, log_level=1, log_size=1 << 20)
    with fd, full:
        assert fd.kind == "btf" and "[1] INT int size=4" in text and text == expected


def test_bad_instruction_buffer_is_rejected_before_the_syscall() -> None:
    with pytest.raises(ValueError):
        prog_load(ProgType.SOCKET_FILTER, RET0[:12])


@pytest.mark.parametrize("value", [0, 7, 0x7FFFFFFF])
def test_prog_test_run_retval(value: int) -> None:
    with prog_load(ProgType.SOCKET_FILTER, ret(value)).fd as fd:
        packet = bytes(range(64))
        result = prog_test_run(fd, packet, repeat=10)
        assert result.retval == value
        # the payload comes back untouched; the kernel rewrites the 14-byte Ethernet header
        assert len(result.data_out) == len(packet) and result.data_out[14:] == packet[14:]
        assert result.duration_ns >= 0


def test_prog_fd_by_id_round_trip() -> None:
    with prog_load(ProgType.SOCKET_FILTER, RET0, name="byid").fd as fd:
        pid = prog_info(fd).id
        with prog_get_fd_by_id(pid) as again:
            assert prog_info(again).name == "byid"


# --- fd hygiene ------------------------------------------------------------------------


def test_no_fd_leak_on_success_and_failure() -> None:
    gc.collect()
    before = open_fds()
    for _ in range(100):
        map_create(MapType.ARRAY, 4, 4, 1).close()
        prog_load(ProgType.SOCKET_FILTER, RET0).fd.close()
    for _ in range(20):
        with pytest.raises(VerifierError):
            prog_load(ProgType.SOCKET_FILTER, EXIT_ONLY)
        with pytest.raises(KernelError):
            map_create(MapType.ARRAY, 4, 0, 1)
        with pytest.raises(BtfLoadError):
            from bpfnb.kernel import btf_load

            btf_load(b"\x9f\xeb\x01\x00" + bytes(20))
    gc.collect()
    assert open_fds() == before


def test_dropped_map_fd_is_closed_by_finalizer() -> None:
    m = map_create(MapType.ARRAY, 4, 4, 1)
    number = m.fileno()
    assert os.readlink(f"/proc/self/fd/{number}") == "anon_inode:bpf-map"
    del m
    gc.collect()
    target = os.readlink(f"/proc/self/fd/{number}") if os.path.exists(f"/proc/self/fd/{number}") else None
    assert target != "anon_inode:bpf-map"


def test_fds_are_close_on_exec() -> None:
    with map_create(MapType.ARRAY, 4, 4, 1) as m:
        assert os.get_inheritable(m.fileno()) is False
        assert isinstance(m, Fd) and m.kind == "map"


def test_batch_count_smaller_than_a_bucket_says_so() -> None:
    """Two keys sharing one of two buckets cannot come back one at a time: ENOSPC, explained."""
    with map_create(MapType.HASH, 4, 4, 2) as m:
        map_update_elem(m, u32(0), u32(0))
        for other in range(1, 40):  # the bucket hash is seeded per map: try keys until two collide
            map_update_elem(m, u32(other), u32(other))
            try:
                r = map_lookup_batch(m, 4, 4, 1)
            except KernelError as exc:
                assert exc.errno == errno.ENOSPC and "smaller than one hash bucket" in str(exc)
                assert "larger count" in str(exc)
                return
            assert r.count == 1
            map_delete_elem(m, u32(other))
        pytest.fail("no two keys ever shared a bucket")


def test_fd_array_resolves_map_indexes() -> None:
    """ld_imm64 with BPF_PSEUDO_MAP_IDX (src 5) names fd_array[imm]: the map is bound by index."""
    ld_idx = struct.pack("<BBhi", 0x18, (5 << 4) | 1, 0, 1) + bytes(8)  # r1 = map fd_array[1]
    with map_create(MapType.ARRAY, 4, 4, 1) as unused, map_create(MapType.HASH, 4, 4, 1) as used:
        with prog_load(ProgType.SOCKET_FILTER, ld_idx + RET0, fd_array=[unused, used]).fd as p:
            assert prog_info(p).map_ids == (map_info(used).id,)
        with pytest.raises(VerifierError) as exc:  # index 1 without an fd_array
            prog_load(ProgType.SOCKET_FILTER, ld_idx + RET0)
        assert "fd_idx without fd_array" in exc.value.log
