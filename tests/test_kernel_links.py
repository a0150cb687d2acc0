"""Attach-side wrappers: raw tracepoints, links, PROG_ATTACH/QUERY/DETACH, stats, BTF.

The cgroup tests attach to a fresh, empty cgroup v2 directory made for the
test, so no other process's traffic passes through the programs.
"""

from __future__ import annotations

import errno
import gc
import os

import pytest

from helpers import cgroup_dir
from oracles.bpftool import bpftool

from bpfnb.errors import BtfLoadError, KernelError
from bpfnb.kernel import (
    btf_get_fd_by_id,
    btf_get_next_id,
    btf_info,
    btf_load,
    enable_stats,
    iter_ids,
    link_create,
    link_detach,
    link_get_fd_by_id,
    link_get_next_id,
    link_info,
    link_update,
    obj_get_info_by_fd,
    prog_attach,
    prog_detach,
    prog_info,
    prog_load,
    prog_query,
    prog_test_run,
    raw_tracepoint_open,
)
from bpfnb.kernel.features import _strtab
from bpfnb.kernel.syscall_attach import BPF_F_QUERY_EFFECTIVE
from bpfnb.kernel.version import KernelVersion, running_kernel
from bpfnb.uapi import AttachType, LinkType, ProgType
from bpfnb.uapi.btf_layout import KIND_INT, KIND_STRUCT, btf_blob, int_data, pack_record

pytestmark = pytest.mark.kernel

RET0 = b"\xb7\x00\x00\x00\x00\x00\x00\x00\x95\x00\x00\x00\x00\x00\x00\x00"
RET1 = b"\xb7\x00\x00\x00\x01\x00\x00\x00\x95\x00\x00\x00\x00\x00\x00\x00"


def bpftool_links() -> list[dict]:
    return bpftool("link", "show")


@pytest.fixture
def cgroup(unique_name):
    with cgroup_dir(unique_name) as path:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            yield fd
        finally:
            os.close(fd)


def test_raw_tracepoint_link_lifecycle() -> None:
    with prog_load(ProgType.RAW_TRACEPOINT, RET0, name="rtp_probe").fd as prog:
        prog_id = prog_info(prog).id
        link = raw_tracepoint_open("sys_enter", prog)
        info = link_info(link)
        assert info.type == LinkType.RAW_TRACEPOINT and info.prog_id == prog_id
        assert info.details["tp_name"] == "sys_enter"
        assert obj_get_info_by_fd(link) == info
        assert info.id in set(iter_ids(link_get_next_id))
        shown = {entry["id"]: entry for entry in bpftool_links()}
        assert shown[info.id]["prog_id"] == prog_id and shown[info.id]["tp_name"] == "sys_enter"
        link.close()
        gc.collect()
        with pytest.raises(KernelError) as exc:
            link_get_fd_by_id(info.id)
        assert exc.value.errno == errno.ENOENT
        assert info.id not in {entry["id"] for entry in bpftool_links()}


def test_raw_tracepoint_unknown_name() -> None:
    with prog_load(ProgType.RAW_TRACEPOINT, RET0).fd as prog:
        with pytest.raises(KernelError) as exc:
            raw_tracepoint_open("no_such_tracepoint_bpfnb", prog)
        assert exc.value.errno == errno.ENOENT and "no_such_tracepoint_bpfnb" in str(exc.value)


def check_newer_query_fields(q) -> None:
    """BPF_PROG_QUERY fields newer than some kernels: None where the kernel has no such field.

    Per-program attach flags came in 6.0 (for cgroups they repeat the cgroup's flags), link
    ids and the revision in 6.6; cgroups count revisions since 6.17 (some 6.12 builds too).
    """
    kernel = running_kernel()
    if kernel < KernelVersion.parse("6.0"):
        assert q.prog_attach_flags is None
    else:
        assert q.prog_attach_flags == (q.attach_flags,) * len(q.prog_ids)
    if kernel < KernelVersion.parse("6.6"):
        assert q.link_ids is None and q.revision is None
    else:
        assert q.link_ids is not None and len(q.link_ids) == len(q.prog_ids)
        # cgroups count revisions upstream since 6.17; Debian's 6.12 already does (revision 2)
        assert isinstance(q.revision, int) and (q.revision >= 1 if kernel >= KernelVersion.parse("6.17") else q.revision >= 0)


def test_prog_attach_query_detach_on_cgroup(cgroup: int) -> None:
    load = dict(expected_attach_type=AttachType.CGROUP_INET_INGRESS)
    with prog_load(ProgType.CGROUP_SKB, RET1, name="cg_ingress", **load).fd as prog:
        pid = prog_info(prog).id
        assert prog_query(cgroup, AttachType.CGROUP_INET_INGRESS).prog_ids == ()
        prog_attach(prog, cgroup, AttachType.CGROUP_INET_INGRESS)
        try:
            q = prog_query(cgroup, AttachType.CGROUP_INET_INGRESS)
            assert q.prog_ids == (pid,)
            check_newer_query_fields(q)
        finally:
            prog_detach(cgroup, AttachType.CGROUP_INET_INGRESS, prog_fd=prog)
        assert prog_query(cgroup, AttachType.CGROUP_INET_INGRESS).prog_ids == ()
        with pytest.raises(KernelError) as exc:
            prog_detach(cgroup, AttachType.CGROUP_INET_INGRESS, prog_fd=prog)
        assert exc.value.errno == errno.ENOENT


def test_link_create_update_detach_on_cgroup(cgroup: int) -> None:
    load = dict(expected_attach_type=AttachType.CGROUP_INET_EGRESS)
    with prog_load(ProgType.CGROUP_SKB, RET1, name="cg_a", **load).fd as a, \
            prog_load(ProgType.CGROUP_SKB, RET1, name="cg_b", **load).fd as b:
        ida, idb = prog_info(a).id, prog_info(b).id
        with link_create(a, cgroup, AttachType.CGROUP_INET_EGRESS) as link:
            info = link_info(link)
            assert info.type == LinkType.CGROUP and info.prog_id == ida
            assert info.details["attach_type"] == AttachType.CGROUP_INET_EGRESS
            assert info.details["cgroup_id"] == os.fstat(cgroup).st_ino  # cgroup id is the kernfs inode
            q = prog_query(cgroup, AttachType.CGROUP_INET_EGRESS)
            assert q.prog_ids == (ida,)
            check_newer_query_fields(q)
            effective = prog_query(cgroup, AttachType.CGROUP_INET_EGRESS, query_flags=BPF_F_QUERY_EFFECTIVE)
            assert effective.prog_ids == (ida,) and effective.prog_attach_flags is None  # never asked there
            link_update(link, b, old_prog_fd=a)
            assert link_info(link).prog_id == idb
            with pytest.raises(KernelError) as exc:  # a is no longer the old program
                link_update(link, a, old_prog_fd=a)
            assert exc.value.errno == errno.EPERM
            link_detach(link)
            assert prog_query(cgroup, AttachType.CGROUP_INET_EGRESS).prog_ids == ()
            assert link_info(link).prog_id == idb  # a detached link still describes itself


def test_link_create_rejects_mixed_union_groups(cgroup: int) -> None:
    with prog_load(ProgType.CGROUP_SKB, RET1).fd as prog:
        with pytest.raises(ValueError):
            link_create(prog, cgroup, AttachType.CGROUP_INET_EGRESS, bpf_cookie=1, target_btf_id=2)


def test_enable_stats_counts_runs() -> None:
    with prog_load(ProgType.SOCKET_FILTER, RET0).fd as prog:
        with enable_stats() as stats:
            assert stats.kind == "stats"
            prog_test_run(prog, bytes(64), repeat=5)
            info = prog_info(prog)
        assert info.run_cnt >= 5 and info.run_time_ns > 0


def tiny_btf(valid: bool = True) -> bytes:
    strs, off = _strtab("int", "pair", "a", "b")
    int_t = pack_record(KIND_INT, off["int"], 4, fixed=(int_data(1, 0, 32),))
    # struct pair { int a; int b; }; -- the invalid one claims size 4 for 8 bytes of members
    pair = pack_record(KIND_STRUCT, off["pair"], 8 if valid else 4, items=[(off["a"], 1, 0), (off["b"], 1, 32)])
    return btf_blob(int_t + pair, strs)


def test_btf_load_info_and_ids() -> None:
    blob = tiny_btf()
    fd, log = btf_load(blob, log_level=1)
    with fd:
        info = btf_info(fd, data=True)
        assert info.data == blob and info.btf_size == len(blob) and not info.kernel_btf
        assert info.id in set(iter_ids(btf_get_next_id))
        assert obj_get_info_by_fd(fd).id == info.id
    vmlinux = btf_info(btf_get_fd_by_id(1))
    assert vmlinux.kernel_btf and vmlinux.name == "vmlinux"
    assert vmlinux.btf_size == os.path.getsize("/sys/kernel/btf/vmlinux")


def test_btf_load_rejection_carries_log() -> None:
    with pytest.raises(BtfLoadError) as exc:
        btf_load(tiny_btf(valid=False))
    assert exc.value.errno == errno.EINVAL
    assert "pair" in exc.value.log and "[2] STRUCT" in exc.value.log


def test_iter_create_needs_an_iterator_link() -> None:
    """ITER_CREATE reaches the kernel, which refuses a link that is not a bpf_iter link."""
    from bpfnb.kernel import iter_create

    with prog_load(ProgType.RAW_TRACEPOINT, RET0).fd as prog, raw_tracepoint_open("sys_exit", prog) as link:
        with pytest.raises(KernelError) as exc:
            iter_create(link)
        assert exc.value.errno == errno.EINVAL and exc.value.command == "BPF_ITER_CREATE"
