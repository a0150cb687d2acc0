"""Every notebook runs top to bottom without privileges, as on Binder.

The stored outputs are the privileged ones (root on this machine), so the
unprivileged child runs nbval in *lax* mode: every cell must execute
without an error, and the cells tagged ``nbval-check-output`` (outputs
measured not to depend on privileges) are compared with the stored ones.  Every capability is
dropped with ``setpriv`` (uid 0 keeps its files but not CAP_BPF, nor
CAP_SYS_ADMIN), as a Binder container has none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

CHECKED = "nbval-check-output"
needs_setpriv = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="dropping capabilities needs root and setpriv"
)


def _checked_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and CHECKED in c.metadata.get("tags", ())]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_compares_some_outputs_unprivileged(notebook):
    """A notebook with no checked cell would make the lax run below a mere execution test."""
    checked = _checked_cells(nbformat.read(notebook, as_version=4))
    assert checked, f"{notebook.name} has no cell tagged {CHECKED}"
    assert all(c.outputs for c in checked), f"{notebook.name}: a checked cell has no stored output to compare"


@needs_setpriv
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_unprivileged(notebook, tmp_path):
    out = _run_unprivileged(notebook, tmp_path)
    assert out.returncode == 0, f"{notebook.name} failed unprivileged:\n{out.stdout[-4000:]}\n{out.stderr[-2000:]}"
    assert " passed" in out.stdout


@needs_setpriv
def test_a_changed_checked_output_fails_the_unprivileged_run(tmp_path):
    """The lax run really compares tagged cells: tamper one stored output and it must fail."""
    source = ROOT / "notebooks/09-kernels-side-by-side.ipynb"
    nb = nbformat.read(source, as_version=4)
    cell = next(c for c in _checked_cells(nb) if any("text" in o or "data" in o for o in c.outputs))
    output = next(o for o in cell.outputs if "text" in o or "data" in o)
    if "text" in output:
        output["text"] = "tampered\n" + output["text"]
    else:
        output["data"]["text/plain"] = "tampered " + str(output["data"].get("text/plain", ""))
        output["data"].pop("text/html", None)
    tampered = tmp_path / "nb" / source.name
    tampered.parent.mkdir()
    nbformat.write(nb, tampered)
    out = _run_unprivileged(tampered, tmp_path)
    assert out.returncode != 0, "a tampered checked output passed the lax run"
    assert "tampered" in out.stdout


def _run_unprivileged(notebook: Path, tmp_path: Path) -> subprocess.CompletedProcess:
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
    assert "kernel: False" in _probe(env), "the child would still have bpf() privileges"
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)


def _probe(env) -> str:
    code = "from bpfnb.kernel import can_use_bpf; print('kernel:', can_use_bpf())"
    cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
