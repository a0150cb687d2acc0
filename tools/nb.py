"""Tiny helper to write notebooks from a list of cells (markdown / code).

Usage from a build script: ``write("notebooks/01-object-file.ipynb", [md("..."), code("...")])``,
then ``tools/refresh_notebooks.sh`` executes them in place so outputs are stored.
"""

from __future__ import annotations

import nbformat


def md(text: str):
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text: str):
    return nbformat.v4.new_code_cell(text.strip())


def write(path: str, cells) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)
