"""Record the example snapshots shipped for notebooks 06 and 08 (``bpfnb/examples/snapshots/``).

Notebook 08 queries BPF state with DuckDB.  Without privileges (Binder)
there is no state to read, so the notebook falls back to two snapshots
recorded here, on a real kernel: the ``packet_sizes`` and
``packet_counter`` examples loaded, snapshotted, fed packets through test
runs, snapshotted again (``t0/``, ``t1/``).  Notebook 06 analyses what
``syscall_counter`` saw while three commands ran; unprivileged, it reads
``syscall_counter/``: one snapshot of the program and its maps, the
``execve`` events of the ring buffer, and ``recording.json`` (the
commands, their pids, the object's digest and the kernel's tag).  Only
the examples' own programs, maps and links are kept, and of the system
calls only the commands' own, so the files do not depend on what else the
recording machine ran.  Run as root:
``.venv/bin/python tools/record_example_snapshots.py [packets|syscalls]`` (default both).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

from bpfnb import EbpfLoader, examples
from bpfnb.kernel import enable_stats
from bpfnb.snapshot import snapshot

OUT = Path(examples.DIR) / "snapshots"
HOST = "example-host"
RECORDED = ("packet_sizes", "packet_counter")
MANIFEST = "manifest.json"
#: Notebook 06's recording, one level deeper than t0/t1 so that notebook 08's ``*/programs.parquet`` skips it.
SYSCALLS = OUT / "syscall_counter"
#: What ran while syscall_counter counted (notebook 06 runs the same commands live).
WORKLOAD = (["/bin/true"], ["ls", "/"], ["uname", "-a"])


def manifest(tags: dict[str, str]) -> dict:
    """What the snapshots were recorded from: tests check it against the shipped objects.

    Program tags are the kernel's (they differ between kernel builds for the
    same object), so the object files' digests are what any machine can
    compare; the tags are compared only on the release that recorded them.
    """
    return {
        "kernel_release": os.uname().release,
        "objects": {name: hashlib.sha256(examples.path(name).read_bytes()).hexdigest() for name in RECORDED},
        "tags": dict(sorted(tags.items())),
    }


def _udp(length: int) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length - 14, 0, 0, 64, 17, 0, bytes(4), bytes(4))
    return (bytes(12) + struct.pack("!H", 0x0800) + ip).ljust(length, b"\0")


def _only(snap, program_ids: set[int], map_ids: set[int]):
    snap.programs = snap.programs[snap.programs["id"].isin(program_ids)].reset_index(drop=True)
    snap.maps = snap.maps[snap.maps["id"].isin(map_ids)].reset_index(drop=True)
    snap.links = snap.links[snap.links["prog_id"].isin(program_ids)].reset_index(drop=True)
    return snap


def record_packets() -> None:
    """Notebook 08's two snapshots and the manifest the tests check them against."""
    for step in ("t0", "t1"):
        shutil.rmtree(OUT / step, ignore_errors=True)
    (OUT / MANIFEST).unlink(missing_ok=True)
    with enable_stats(), EbpfLoader().load_file(examples.path("packet_sizes")) as sizes, \
            EbpfLoader().load_file(examples.path("packet_counter")) as counter:  # stats: run_cnt counts
        ebpfs = (sizes, counter)
        program_ids = {p.info().id for e in ebpfs for p in e.programs.values()}
        map_ids = {m.id for e in ebpfs for m in e.maps.values()}
        wanted = sorted(map_ids)
        for step, lengths in enumerate(([64, 64, 100, 1500], [64, 700, 1500, 1500, 1500, 3000])):
            for length in lengths:
                sizes.programs["count_lengths"].test_run(_udp(length))
                counter.programs["xdp_count"].test_run(_udp(length))
            _only(snapshot(contents=wanted, host=HOST), program_ids, map_ids).write(OUT / f"t{step}")
        tags = {name: prog.info().tag for e in ebpfs for name, prog in e.programs.items()}
    (OUT / MANIFEST).write_text(json.dumps(manifest(tags), indent=2) + "\n")
    print(f"wrote {OUT}/t0, t1, {MANIFEST}")


def record_syscalls() -> None:
    """Notebook 06's recording: syscall_counter attached while WORKLOAD ran; only those processes kept."""
    from bpfnb.events import define_record

    exec_event = define_record("exec_event", pid="u32", ppid_unused="u32", ts_ns="u64", comm="char[16]")
    shutil.rmtree(SYSCALLS, ignore_errors=True)
    with EbpfLoader().load_file(examples.path("syscall_counter")) as ebpf:
        prog = ebpf.programs["count_syscalls"]
        with ebpf.maps["events"].reader(exec_event) as reader:
            link = prog.attach()
            children = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL) for cmd in WORKLOAD]
            for child in children:
                child.wait()
            time.sleep(0.2)
            link.close()
            events = reader.collect(duration=0.5)
        pids = sorted(child.pid for child in children)
        counted = [ebpf.maps["syscalls"].id, ebpf.maps["comms"].id]
        snap = _only(snapshot(contents=counted, host=HOST), {prog.info().id}, {m.id for m in ebpf.maps.values()})
        for map_id, df in snap.contents.items():  # the commands' own system calls, not the machine's
            pid = "key.pid" if "key.pid" in df.columns else "key"
            snap.contents[map_id] = df[df[pid].isin(pids)].reset_index(drop=True)
        snap.write(SYSCALLS / "t0")
        events = events[events["pid"].isin(pids)].reset_index(drop=True)
        events.to_parquet(SYSCALLS / "events.parquet", index=False)
        recording = {
            "kernel_release": os.uname().release,
            "object": hashlib.sha256(examples.path("syscall_counter").read_bytes()).hexdigest(),
            "tag": prog.info().tag,
            "workload": [" ".join(cmd) for cmd in WORKLOAD],
            "pids": pids,
        }
    (SYSCALLS / "recording.json").write_text(json.dumps(recording, indent=2) + "\n")
    print(f"wrote {SYSCALLS}: {len(events)} execve events of pids {pids}")


def main(argv: list[str]) -> None:
    what = argv[0] if argv else "all"
    if what not in ("packets", "syscalls", "all"):
        raise SystemExit("usage: record_example_snapshots.py [packets|syscalls|all]")
    if what in ("packets", "all"):
        record_packets()
    if what in ("syscalls", "all"):
        record_syscalls()


if __name__ == "__main__":
    main(sys.argv[1:])
