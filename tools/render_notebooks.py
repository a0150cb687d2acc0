#!/usr/bin/env python3
"""Render the notebooks as a reader sees them, and check what a reader would notice.

For each notebook: nbconvert its *stored* outputs to HTML, check that
every rich object rendered (no raw ``<bpfnb.… object at 0x…>`` reprs, no
expression cell without output, tables present, graphs drawn as SVG),
and, when Chromium is installed, take a full-page screenshot.

Usage: python tools/render_notebooks.py [--out screenshots] [--no-screenshots] [NOTEBOOK ...]
Exit status 1 when a check fails.  Screenshots stay out of git.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAW_REPR = re.compile(r"&lt;bpfnb\.[\w.]+ object at 0x[0-9a-f]+&gt;|<bpfnb\.[\w.]+ object at 0x[0-9a-f]+>")
GRAPH_CALLS = re.compile(r"\b(call_graph|type_graph|graph)\(")


@dataclass
class Report:
    notebook: str
    html: Path | None = None
    screenshot: Path | None = None
    problems: list[str] = field(default_factory=list)


def _last_is_expression(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False  # IPython magics: not ours to judge
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return False
    # A call may return None (``pipeline.close()``): only a bare name,
    # attribute or subscript is sure to display something.
    return isinstance(tree.body[-1].value, (ast.Name, ast.Attribute, ast.Subscript))


def check_notebook(path: Path) -> list[str]:
    """Problems a reader would see in the stored outputs of ``path``."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        outputs = cell.get("outputs", [])
        if any(o.get("output_type") == "error" for o in outputs):
            problems.append(f"cell {i}: stored output is an error")
        if _last_is_expression(cell.source) and not outputs:
            problems.append(f"cell {i}: an expression cell has no stored output (not executed?)")
        for o in outputs:
            data = o.get("data", {})
            text = "".join(o.get("text", "")) + "".join(data.get("text/plain", ""))
            html = "".join(data.get("text/html", ""))
            if RAW_REPR.search(text) and not html and "image/svg+xml" not in data:
                problems.append(f"cell {i}: a raw object repr instead of a rich view: {RAW_REPR.search(text).group(0)}")
            if RAW_REPR.search(html):
                problems.append(f"cell {i}: a raw object repr inside HTML")
        if GRAPH_CALLS.search(cell.source.splitlines()[-1] if cell.source.strip() else ""):
            if not any("image/svg+xml" in o.get("data", {}) for o in outputs):
                problems.append(f"cell {i}: a graph cell without an SVG output")
    return problems


def to_html(path: Path, out_dir: Path) -> Path:
    import nbconvert

    exporter = nbconvert.HTMLExporter()
    body, _ = exporter.from_filename(str(path))
    target = out_dir / (path.stem + ".html")
    target.write_text(body)
    return target


def screenshot(html: Path, png: Path, *, width: int = 1280, height: int = 6000) -> str | None:
    """Headless Chromium screenshot; returns an error text or None."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return "chromium not installed"
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--hide-scrollbars", f"--window-size={width},{height}",
            f"--screenshot={png}", html.resolve().as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if not png.exists() or png.stat().st_size < 10_000:
        return f"no screenshot ({proc.returncode}): {proc.stderr[-300:]}"
    return None


def render(notebooks: list[Path], out_dir: Path, *, screenshots: bool = True) -> list[Report]:
    out_dir.mkdir(parents=True, exist_ok=True)
    reports = []
    for nb in notebooks:
        report = Report(nb.name, problems=check_notebook(nb))
        report.html = to_html(nb, out_dir)
        page = report.html.read_text()
        if "<table" not in page:
            report.problems.append("no table rendered")
        if screenshots:
            png = out_dir / (nb.stem + ".png")
            error = screenshot(report.html, png)
            if error:
                report.problems.append(error)
            else:
                report.screenshot = png
        reports.append(report)
    return reports


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "screenshots")
    ap.add_argument("--no-screenshots", action="store_true")
    args = ap.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    reports = render(notebooks, args.out, screenshots=not args.no_screenshots)
    bad = 0
    for r in reports:
        status = "ok" if not r.problems else "PROBLEMS"
        print(f"{r.notebook}: {status}" + (f" -> {r.screenshot}" if r.screenshot else ""))
        for p in r.problems:
            print(f"  - {p}")
        bad += bool(r.problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
