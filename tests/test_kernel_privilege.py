"""Without capabilities: can_use_bpf() is False, syscalls raise NotPrivileged, features() says unknown.

A child Python runs under ``setpriv`` with every capability dropped from
the inheritable and bounding sets (so even uid 0 has none after exec).
The parent must be privileged to have something to drop, hence ``kernel``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.kernel

CHILD = r"""
import json
import bpfnb.kernel as k
from bpfnb.errors import NotPrivileged
out = {"can_use_bpf": k.can_use_bpf()}
for name, call in (("map_create", lambda: k.map_create(2, 4, 4, 1)),
                   ("prog_load", lambda: k.prog_load(1, bytes.fromhex("b7000000000000009500000000000000")))):
    try:
        call()
        out[name] = "succeeded"
    except NotPrivileged as e:
        out[name] = {"permission_error": isinstance(e, PermissionError), "errno": e.errno, "text": str(e)}
    except Exception as e:
        out[name] = f"{type(e).__name__}: {e}"
f = k.features()
out["privileged"] = f.privileged
out["values"] = sorted({s.value for s in f.named().values()} | {s.value for s in f.prog_type_support.values()})
out["note"] = f.note
print(json.dumps(out))
"""


@pytest.mark.parametrize("user", ["nobody", "root-without-caps"])
def test_unprivileged_child(user: str) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed")
    ids = ["--reuid=65534", "--regid=65534", "--clear-groups"] if user == "nobody" else []
    cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", *ids, sys.executable, "-c", CHILD]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd="/", timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["can_use_bpf"] is False
    for name in ("map_create", "prog_load"):
        assert isinstance(out[name], dict), out[name]
        assert out[name]["permission_error"] and out[name]["errno"] == 1
        assert "CAP_BPF" in out[name]["text"]
    assert out["privileged"] is False and out["values"] == ["unknown"]
    assert "CAP_BPF" in out["note"]


def test_parent_can_use_bpf() -> None:
    from bpfnb.kernel import can_use_bpf

    assert can_use_bpf() is True
