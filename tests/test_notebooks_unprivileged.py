"""Every notebook runs top to bottom without privileges, as on Binder.

The stored outputs are the privileged ones (root on this machine), so the
unprivileged child runs nbval in *lax* mode: every cell must execute
without an error, and only cells marked ``# NBVAL_CHECK_OUTPUT`` (outputs
that do not depend on privileges) are compared.  Every capability is
dropped with ``setpriv`` (uid 0 keeps its files but not CAP_BPF, nor
CAP_SYS_ADMIN), as a Binder container has none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="dropping capabilities needs root and setpriv"
)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_unprivileged(notebook, tmp_path):
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "BPFNB_REQUIRE_KERNEL": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    cmd = [
        "setpriv", "--inh-caps=-all", "--bounding-set=-all",
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
        f"--rootdir={ROOT}", "--nbval-sanitize-with", str(ROOT / "notebooks/sanitize.cfg"), str(notebook),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, f"{notebook.name} failed unprivileged:\n{out.stdout[-4000:]}\n{out.stderr[-2000:]}"
    assert " passed" in out.stdout
    assert "kernel: False" in _probe(env), "the child still had bpf() privileges"


def _probe(env) -> str:
    code = "from bpfnb.kernel import can_use_bpf; print('kernel:', can_use_bpf())"
    cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
