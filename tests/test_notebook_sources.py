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


def test_one_sanitizer_rule_masks_kernel_values_and_blocks():
    """Build-dependent spans and ThisKernel blocks go through the notebooks' one Live rule."""
    import configparser
    import re

    from bpfnb.display import build_dependent, this_kernel
    from bpfnb.display.html import Live, cell

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "notebooks" / "sanitize.cfg")
    rules = [(cfg[s]["regex"], cfg[s]["replace"]) for s in cfg.sections() if "bpfnb-live" in cfg[s]["regex"]]
    assert len(rules) == 1
    regex, replace = rules[0]
    masked = '<span class="bpfnb-live">LIVE</span>'

    class View:
        def __init__(self, n):
            self.n = n

        def _repr_html_(self):
            return f"<div><table><tr><td>{self.n}</td></tr></table></div>"

    for a, b in ((cell(Live(1)), cell(Live(2))), (cell(build_dependent(480)), cell(build_dependent(488))),
                 (this_kernel(View(1), "x")._repr_html_(), this_kernel(View(2), "x")._repr_html_()),
                 (this_kernel("EPERM", "fentry")._repr_html_(), this_kernel("loaded", "fentry")._repr_html_())):
        assert a != b
        assert re.sub(regex, replace, a) == re.sub(regex, replace, b)
        assert masked in re.sub(regex, replace, a)
    assert repr(this_kernel(View(1), "x")) == repr(this_kernel(View(2), "x"))
