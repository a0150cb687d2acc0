"""Record the example snapshots shipped for notebook 08 (``bpfnb/examples/snapshots/``).

Notebook 08 queries BPF state with DuckDB.  Without privileges (Binder)
there is no state to read, so the notebook falls back to two snapshots
recorded here, on a real kernel: the ``packet_sizes`` and
``packet_counter`` examples loaded, snapshotted, fed packets through test
runs, snapshotted again.  Only the examples' own programs, maps and links
are kept, so the files do not depend on what else the recording machine
ran.  Run as root: ``.venv/bin/python tools/record_example_snapshots.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from pathlib import Path

from bpfnb import EbpfLoader, examples
from bpfnb.kernel import enable_stats
from bpfnb.snapshot import snapshot

OUT = Path(examples.DIR) / "snapshots"
HOST = "example-host"
RECORDED = ("packet_sizes", "packet_counter")
MANIFEST = "manifest.json"


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


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
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
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
