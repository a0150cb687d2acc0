"""Every notebook is one jupytext pair: ``NN-name.py`` (percent format, the
source to edit and review) beside ``NN-name.ipynb`` (the same cells with
their stored outputs, which nbval compares).  The two must say the same.

After editing a ``.py``, ``tools/refresh_notebooks.sh notebooks/NN-name.py``
writes its cells into the ``.ipynb`` and re-executes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOURCES = sorted((ROOT / "notebooks").glob("*.py"))


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_every_notebook_has_a_source_and_every_source_a_notebook():
    assert NOTEBOOKS, "no notebooks found"
    assert [p.stem for p in NOTEBOOKS] == [p.stem for p in SOURCES]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_pair_is_in_sync(notebook):
    source = notebook.with_suffix(".py")
    stored = nbformat.read(notebook, as_version=4)
    text = jupytext.read(source, fmt="py:percent")
    assert stored.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent", "not paired"
    assert text.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent", "not paired"
    want, have = _cells(text), _cells(stored)
    for i, (w, h) in enumerate(zip(want, have)):
        assert w == h, (
            f"{notebook.name} cell {i} differs from {source.name}: "
            f"run tools/refresh_notebooks.sh {source.relative_to(ROOT)}"
        )
    assert len(want) == len(have), f"{source.name} has {len(want)} cells, {notebook.name} {len(have)}"


def test_the_sync_check_sees_an_edit(tmp_path):
    """A cell changed only in the .py is caught (the check is not vacuous)."""
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    text = jupytext.writes(nb, fmt="py:percent")
    edited = jupytext.reads(text.replace("import", "import  ", 1), fmt="py:percent")
    assert _cells(edited) != _cells(nb)
    assert _cells(jupytext.reads(text, fmt="py:percent")) == _cells(nb)
