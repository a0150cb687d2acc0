"""Notebook 06 without privileges analyses the shipped recording (issue 14, item 11).

The recording (``bpfnb.examples.SNAPSHOTS / "syscall_counter"``, made by
``tools/record_example_snapshots.py``) holds what ``syscall_counter`` saw
while three commands ran, and only their processes.  Run with every
capability dropped, the notebook's analysis cells produce their tables
from it, each captioned as recorded, and the cells only a live kernel can
answer say so in a sentence.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bpfnb import examples

ROOT = Path(__file__).resolve().parent.parent
RECORDED = examples.SNAPSHOTS / "syscall_counter"


def test_the_recording_matches_the_shipped_object_and_keeps_only_its_commands():
    recording = json.loads((RECORDED / "recording.json").read_text())
    assert recording["object"] == hashlib.sha256(examples.path("syscall_counter").read_bytes()).hexdigest()
    programs = pd.read_parquet(RECORDED / "t0" / "programs.parquet")
    assert programs["name"].tolist() == ["count_syscalls"] and programs["tag"].tolist() == [recording["tag"]]
    maps = pd.read_parquet(RECORDED / "t0" / "maps.parquet").set_index("name")
    assert {"syscalls", "comms", "events"} <= set(maps.index)
    pids = set(recording["pids"])
    assert len(pids) == len(recording["workload"]) == 3
    calls = pd.read_parquet(RECORDED / "t0" / maps.loc["syscalls", "contents"])
    comms = pd.read_parquet(RECORDED / "t0" / maps.loc["comms", "contents"])
    assert set(calls["key.pid"]) == pids and set(comms["key"]) <= pids  # nothing of the recording machine's
    assert (calls[calls["key.nr"] == 59].groupby("key.pid")["value"].sum() >= 1).all()
    events = pd.read_parquet(RECORDED / "events.parquet")
    assert set(events["pid"]) == pids and list(events.columns) == ["pid", "ppid_unused", "ts_ns", "comm"]
    # notebook 08 globs '*/programs.parquet': the recording sits one level deeper, out of its way
    assert not (RECORDED / "programs.parquet").exists()


def test_the_recording_is_package_data():
    pyproject = (ROOT / "pyproject.toml").read_text()
    globs = re.findall(r'"(examples/snapshots/[^"]+)"', pyproject)
    base = ROOT / "bpfnb"
    shipped = {p for g in globs for p in base.glob(g)}
    for path in RECORDED.rglob("*"):
        if path.is_file():
            assert path in shipped, f"{path.relative_to(base)} is not in the package data"


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="dropping capabilities needs root")
def test_notebook_06_runs_its_analysis_on_the_recording_unprivileged(tmp_path):
    nb = tmp_path / "06.ipynb"
    subprocess.run([str(ROOT / ".venv/bin/jupytext"), "--quiet", "--to", "ipynb", "--output", str(nb),
                    str(ROOT / "notebooks/06-map-analysis.py")], check=True)
    env = {**os.environ, "HOME": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "IPYTHONDIR": str(tmp_path / "ipy")}
    subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-m", "nbconvert",
                    "--to", "notebook", "--execute", "--output", str(tmp_path / "out.ipynb"), str(nb)],
                   check=True, capture_output=True, env=env, timeout=600)
    cells = [c for c in json.loads((tmp_path / "out.ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    texts, captions = [], 0
    for cell in cells:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{cell['source'][:80]}: {out.get('ename')}: {out.get('evalue')}"
            texts.append("".join(out.get("text", "")))
            html = "".join(out.get("data", {}).get("text/html", ""))
            captions += "<caption" in html and "recorded on Linux" in html
    text = "\n".join(texts)
    assert text.startswith("unprivileged (no CAP_BPF): the analysis reads the recording made on Linux")
    for line in ("recorded: attached, ran 3 commands, detached", "each child seen: True",
                 "each child called execve: True", "our execve events arrived: True"):
        assert line in text, f"{line!r} missing from the unprivileged run's output:\n{text}"
    assert captions >= 6  # maps, top pairs, per command, per syscall, the listing, the events
    notes = [line for line in text.splitlines() if "CAP_BPF" in line and not line.startswith("unprivileged")]
    assert len(notes) == 3
    for note in notes:  # one grammatical sentence each
        assert re.fullmatch(r"[A-Z][a-z' ]+(by id|map|source lines) needs CAP_BPF and a live kernel, "
                            r"so it is not shown in this unprivileged run\.", note), note
