"""The notebooks as a reader sees them: rendered to HTML, checked, photographed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import render_notebooks  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_render_as_rich_views(notebook):
    assert render_notebooks.check_notebook(notebook) == []


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (scripts/setup.sh installs it as root)")
def test_screenshots_of_every_notebook(tmp_path):
    reports = render_notebooks.render(NOTEBOOKS, tmp_path)
    assert [r.problems for r in reports] == [[] for _ in reports]
    for r in reports:
        assert r.screenshot is not None and r.screenshot.stat().st_size > 10_000


def test_the_checker_catches_what_a_reader_would(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("obj"),  # expression, never executed
        nbformat.v4.new_code_cell("p.close()"),  # a call may return None: not flagged
        nbformat.v4.new_code_cell("thing"),
        nbformat.v4.new_code_cell("obj.call_graph()"),
    ]
    nb.cells[2].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "<bpfnb.kernel.maps.Map object at 0x7f00aa>"})]
    nb.cells[3].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "<graphviz.graphs.Digraph>"})]
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    problems = render_notebooks.check_notebook(path)
    assert any("cell 0" in p and "no stored output" in p for p in problems)
    assert not any("cell 1" in p for p in problems)
    assert any("cell 2" in p and "raw object repr" in p for p in problems)
    assert any("cell 3" in p and "without an SVG" in p for p in problems)
