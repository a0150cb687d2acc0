"""tcx through LINK_CREATE and PROG_ATTACH, inside a private network namespace.

The child runs under ``unshare --net``: its ``lo`` belongs to nobody else,
so ordering (BPF_F_BEFORE relative to a link), revisions and detach can be
checked without touching the shared host interfaces.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from helpers import require_feature

from bpfnb.uapi import AttachType, LinkType

pytestmark = pytest.mark.kernel

CHILD = r"""
import errno, json, socket
import bpfnb.kernel as k
from bpfnb.errors import KernelError
from bpfnb.kernel.syscall import BPF_F_BEFORE, BPF_F_LINK
from bpfnb.uapi import AttachType, ProgType

TCX_NEXT = bytes.fromhex("b7000000ffffffff9500000000000000")  # r0 = -1 (TCX_NEXT); exit
lo = socket.if_nametoindex("lo")
out = {}
load = lambda: k.prog_load(ProgType.SCHED_CLS, TCX_NEXT, expected_attach_type=AttachType.TCX_INGRESS).fd
a, b, c = load(), load(), load()
ida, idb, idc = (k.prog_info(p).id for p in (a, b, c))
out["ids"] = [ida, idb, idc]
q0 = k.prog_query(lo, AttachType.TCX_INGRESS)
link_a = k.link_create(a, lo, AttachType.TCX_INGRESS, expected_revision=q0.revision)
info = k.link_info(link_a)
out["link"] = [int(info.type), info.prog_id, info.details["ifindex"], int(info.details["attach_type"])]
# b goes in front of a's link
link_b = k.link_create(b, lo, AttachType.TCX_INGRESS, flags=BPF_F_BEFORE | BPF_F_LINK, relative_fd=link_a)
q1 = k.prog_query(lo, AttachType.TCX_INGRESS)
out["order"] = list(q1.prog_ids)
out["link_ids"] = list(q1.link_ids)
out["revisions"] = [q0.revision, q1.revision]
try:
    k.link_create(c, lo, AttachType.TCX_INGRESS, expected_revision=q0.revision)  # stale revision
    out["stale"] = "accepted"
except KernelError as e:
    out["stale"] = errno.errorcode[e.errno]
# the old API: prog_attach / prog_detach on the same hook, appended last
k.prog_attach(c, lo, AttachType.TCX_INGRESS, expected_revision=q1.revision)
out["after_attach"] = list(k.prog_query(lo, AttachType.TCX_INGRESS).prog_ids)
k.prog_detach(lo, AttachType.TCX_INGRESS, prog_fd=c)
k.link_detach(link_b)
out["after_detach"] = list(k.prog_query(lo, AttachType.TCX_INGRESS).prog_ids)
link_a.close()
out["after_close"] = list(k.prog_query(lo, AttachType.TCX_INGRESS).prog_ids)
print(json.dumps(out))
"""


def test_tcx_links_order_revision_and_detach() -> None:
    require_feature("tcx")  # 6.6: skipped below, a failure at or above
    if shutil.which("unshare") is None:
        pytest.skip("unshare not installed")
    proc = subprocess.run(["unshare", "--net", sys.executable, "-c", CHILD], capture_output=True, text=True,
                          cwd="/", timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    ida, idb, idc = out["ids"]
    assert out["link"] == [LinkType.TCX, ida, 1, AttachType.TCX_INGRESS]  # lo is ifindex 1 in a fresh netns
    assert out["order"] == [idb, ida]  # BPF_F_BEFORE relative to a's link
    assert len(out["link_ids"]) == 2 and all(out["link_ids"])
    assert out["revisions"][1] == out["revisions"][0] + 2
    assert out["stale"] == "ESTALE"
    assert out["after_attach"] == [idb, ida, idc]
    assert out["after_detach"] == [ida]
    assert out["after_close"] == []
