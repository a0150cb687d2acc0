"""bpfnb.kernel.memory: the headroom a map may take, the machine's or the memory cgroup's.

Unit tests on fake /proc and /sys/fs/cgroup trees (v1 and v2), then the real
thing: a child process in a memory cgroup of its own, limited to 256 MiB,
asks for a 1 GiB preallocated array and gets the MapError naming the cgroup
before BPF_MAP_CREATE (the kernel would zero 256 MiB first, then ENOMEM).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import NoMemoryCgroup, memory_cgroup

from bpfnb.kernel import memory


def fake(tmp_path: Path, monkeypatch, *, meminfo_kb: int, cgroup: str, files: dict[str, str]) -> None:
    (tmp_path / "meminfo").write_text(f"MemTotal: 99 kB\nMemAvailable: {meminfo_kb} kB\n")
    (tmp_path / "cgroup").write_text(cgroup)
    for rel, text in files.items():
        path = tmp_path / "sys" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.setattr(memory, "PROC_MEMINFO", str(tmp_path / "meminfo"))
    monkeypatch.setattr(memory, "PROC_CGROUP", str(tmp_path / "cgroup"))
    monkeypatch.setattr(memory, "CGROUP_ROOT", str(tmp_path / "sys"))


def test_without_a_limit_the_machine_decides(tmp_path, monkeypatch):
    fake(tmp_path, monkeypatch, meminfo_kb=1024, cgroup="0::/a\n",
         files={"cgroup.controllers": "memory", "a/memory.max": "max\n", "a/memory.current": "5\n"})
    assert memory.available_memory() == memory.Headroom(1 << 20, "this machine")


def test_v2_a_parent_limit_binds_its_child(tmp_path, monkeypatch):
    fake(tmp_path, monkeypatch, meminfo_kb=1 << 30, cgroup="0::/outer/inner\n", files={
        "cgroup.controllers": "cpu memory",
        "outer/memory.max": "1000\n", "outer/memory.current": "400\n",
        "outer/inner/memory.max": "max\n", "outer/inner/memory.current": "100\n"})
    room = memory.available_memory()
    assert room.bytes == 600 and "outer," in room.where and "limit 1000" in room.where


def test_v1_hybrid_reads_the_memory_hierarchy_not_unified(tmp_path, monkeypatch):
    """This VM's layout: cgroup v1 controllers, an empty unified tree; v1 says 'no limit' as LONG_MAX."""
    fake(tmp_path, monkeypatch, meminfo_kb=1 << 30, cgroup="4:memory:/job\n1:cpu:/\n0::/\n", files={
        "memory/memory.limit_in_bytes": "9223372036854771712\n", "memory/memory.usage_in_bytes": "1\n",
        "memory/job/memory.limit_in_bytes": "2048\n", "memory/job/memory.usage_in_bytes": "48\n"})
    room = memory.available_memory()
    assert room.bytes == 2000 and room.where.startswith("this process's memory cgroup (")


def test_nothing_known_is_none(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "PROC_MEMINFO", str(tmp_path / "absent"))
    monkeypatch.setattr(memory, "PROC_CGROUP", str(tmp_path / "absent"))
    assert memory.available_memory() is None


CHILD = """
import sys
from bpfnb.errors import MapError
from bpfnb.kernel.map_from_spec import create_map
from bpfnb.obj.maps import MapSpec
from bpfnb.uapi import MapType
try:
    create_map(MapSpec(name="big", map_type=MapType.ARRAY, key_size=4, value_size=1 << 20, max_entries=1024))
except MapError as exc:
    print(exc)
    sys.exit(0)
sys.exit("created a 1 GiB array inside a 256 MiB cgroup")
"""


def test_a_root_that_refuses_the_memory_controller_is_a_typed_skip(tmp_path, monkeypatch):
    """A container's cgroup-namespace root holds processes, so enabling a controller below it fails."""
    fake(tmp_path, monkeypatch, meminfo_kb=1, cgroup="0::/\n", files={"cgroup.controllers": "cpu memory"})
    (tmp_path / "sys" / "cgroup.subtree_control").symlink_to("/proc/version")  # reads; writing is EIO
    with pytest.raises(NoMemoryCgroup, match=r"cannot enable the memory controller in .*subtree_control"):
        with memory_cgroup("never-made", 1 << 20):
            pass
    assert not (tmp_path / "sys" / "never-made").exists()


@pytest.mark.kernel
def test_a_map_over_the_cgroups_limit_is_refused_before_the_syscall(unique_name):
    with contextlib.ExitStack() as stack:
        try:
            directory = stack.enter_context(memory_cgroup(unique_name, 256 << 20))
        except NoMemoryCgroup as exc:  # a container's cgroup namespace: not the kernel's refusal
            pytest.skip(str(exc))
        if directory is None:
            pytest.skip("no memory cgroup controller mounted (v1 or v2)")
        procs = directory / "cgroup.procs"
        child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, preexec_fn=lambda: procs.write_text(str(os.getpid())))
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert "more than this process's memory cgroup (" in out and unique_name in out, out
