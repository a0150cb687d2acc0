"""How a user starts (issue 14, item 12): ``make lab`` with Jupyter options, Binder, unique names in 07.

``make lab`` passes ``LAB_ARGS`` to ``jupyter lab`` and prints the tour's
URL (checked against a live server: the URL answers); Binder installs the
notebook extras only, never the test tools, and the README links Binder
straight to the tour; notebook 07's namespace and pin are this run's own.
"""

from __future__ import annotations

import ast
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import lab  # noqa: E402  (scripts/lab.py)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lab_command_passes_options_and_opens_the_tour():
    cmd = lab.command(["--port", "8899", "--ip", "0.0.0.0", "--no-browser"])
    assert cmd[1] == "lab"
    assert cmd[-5:] == ["--port", "8899", "--ip", "0.0.0.0", "--no-browser"]
    assert "--LabApp.default_url=/lab/tree/00-tour.ipynb" in cmd
    assert (ROOT / "notebooks" / lab.TOUR).exists()
    line = "[I 2026-12-03 ServerApp]     http://127.0.0.1:8899/lab/tree/00-tour.ipynb?token=ab12"
    assert lab.tour_url(line) == "http://127.0.0.1:8899/lab/tree/00-tour.ipynb?token=ab12"
    assert lab.tour_url("[I ServerApp] Serving notebooks from local directory") is None


def test_makefile_lab_takes_lab_args():
    makefile = (ROOT / "Makefile").read_text()
    rule = makefile[makefile.index("\nlab:"):].split("\n\n")[0]
    assert "scripts/lab.py $(LAB_ARGS)" in rule and "LAB_ARGS ?=" in makefile


@pytest.mark.slow
def test_make_lab_prints_a_tour_url_that_answers():
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "lab.py"), "--port", str(port), "--no-browser",
                             "--ServerApp.port_retries=0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        url, deadline = None, time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            if not sel.select(timeout=5):
                continue
            line = proc.stdout.readline()
            if not line:
                break
            match = re.match(r"lab: the tour: (\S+)$", line.strip())
            url = match.group(1) if match else None
        assert url is not None and url.startswith(f"http://127.0.0.1:{port}/lab/tree/00-tour.ipynb?token=")
        with urllib.request.urlopen(url, timeout=30) as reply:
            assert reply.status == 200 and b"JupyterLab" in reply.read()
        token = url.split("token=")[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/00-tour.ipynb?content=0&token={token}",
                                    timeout=30) as reply:
            assert b'"name": "00-tour.ipynb"' in reply.read().replace(b'":"', b'": "')
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_binder_installs_the_notebook_extras_only():
    post = (ROOT / "binder" / "postBuild").read_text()
    installs = [line for line in post.splitlines() if "pip install" in line]
    assert len(installs) == 1
    extras = re.search(r'\.\[([a-z,]+)\]', installs[0]).group(1).split(",")
    assert "notebook" in extras and "dev" not in extras
    pyproject = (ROOT / "pyproject.toml").read_text()
    for extra in extras:
        assert re.search(rf"^{extra} = \[", pyproject, re.M), extra


def test_readme_links_binder_to_the_tour():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\((https://mybinder\.org/v2/gh/[^)]+)\)", readme)
    assert links, "no Binder link"
    for link in links:
        assert "labpath=notebooks%2F00-tour.ipynb" in link


def test_notebook_07_names_are_unique_per_run():
    source = (ROOT / "notebooks" / "07-attach-and-observe.py").read_text()
    tree = ast.parse(source)
    values = {node.targets[0].id: node.value for node in ast.walk(tree)
              if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    for name in ("NETNS", "PIN"):
        value = values[name]
        assert isinstance(value, ast.JoinedStr), f"{name} is a constant"
        assert "RUN" in ast.unparse(value)
    run = ast.unparse(values["RUN"])
    assert "getpid" in run and "token_hex" in run
    # every netns and pin path in the notebook goes through the names, none is spelt out
    assert not re.search(r'"bpfnb-nb07[^"{]*"', source)
    assert not re.search(r'"/sys/fs/bpf/[^"{]*"', source)
