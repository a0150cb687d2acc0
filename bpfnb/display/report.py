"""One self-contained HTML page about an object: ``bpfnb inspect OBJ --html OUT``.

The page is the notebook views put together (the object summary, each
program and function with its instructions and C source lines, each map,
the CO-RE records, the call graph as inline SVG, the BTF summary) with the
stylesheet once in its head and nothing fetched from elsewhere, so it can
be mailed or attached to a bug report.  Every name from the file is escaped
by the views that show it; the SVG comes from graphviz, which escapes its
labels (and :func:`bpfnb.display.graphs.call_graph` quotes them first).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .html import _STYLE, _nested, escape, section

if TYPE_CHECKING:
    from ..btf import Btf
    from ..obj.object import Object

__all__ = ["object_report"]

#: Instructions shown per program in the report (a listing longer than this says how many it left out).
REPORT_INSNS = 2000

_PAGE_STYLE = (
    "<style>body{margin:16px;font-family:sans-serif}"
    "h1{font-size:18px}h2{font-size:15px;margin-top:18px}"
    ".bpfnb-report>details>summary{font-size:14px;font-weight:600;margin-top:8px}</style>"
)


def _svg(obj: Object) -> str:
    """The call graph as inline SVG, or its DOT source when graphviz cannot draw."""
    try:
        graph = obj.call_graph()
    except ImportError as exc:  # the notebook extra is missing
        return f'<div class="bpfnb-note">call graph not drawn: {escape(exc)}</div>'
    try:
        svg = graph.pipe(format="svg").decode()
    except Exception as exc:  # graphviz.ExecutableNotFound, a dot failure: show the source instead
        return (f'<div class="bpfnb-note">call graph not drawn ({escape(type(exc).__name__)}); '
                f'its DOT source:</div><pre>{escape(graph.source)}</pre>')
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    return re.sub(r"<!--.*?-->", "", svg, flags=re.S)  # graphviz's comments carry node ids and its version


def _core(obj: Object, target: Btf | None, target_note: str) -> str:
    if obj.btf_ext is None or not any(obj.btf_ext.core_relos.values()):
        return '<div class="bpfnb-note">no CO-RE records</div>'
    if target is None:
        return f'<div class="bpfnb-note">CO-RE records not resolved: {escape(target_note)}</div>'
    table = obj.core_relocations(target, errors="collect")
    return f'<div class="bpfnb-note">resolved against {escape(target_note)}</div>' + table._repr_html_()


def _btf(obj: Object) -> str:
    if obj.btf is None:
        return '<div class="bpfnb-note">no .BTF section</div>'
    return obj.btf._repr_html_()


def object_report(obj: Object, *, target: Btf | None = None, target_note: str = "") -> str:
    """The whole HTML document for ``obj``; ``target`` is the BTF its CO-RE records resolve against."""
    from .obj import code_spec_html
    from .options import set_options

    with set_options(display_style="html"):  # a report is HTML whatever the session's option says
        programs = "".join(code_spec_html(p, max_rows=REPORT_INSNS) for p in obj.programs.values())
        functions = "".join(code_spec_html(f, max_rows=REPORT_INSNS) for f in obj.functions.values())
        maps = "".join(m._repr_html_() for m in obj.maps.values())
        data = "".join(d._repr_html_() for d in obj.data.values())
        body = (
            obj._repr_html_()
            + section("Programs", programs, count=len(obj.programs))
            + (section("Functions", functions, count=len(obj.functions)) if obj.functions else "")
            + section("Maps", maps, count=len(obj.maps))
            + (section("Data sections", data, count=len(obj.data)) if obj.data else "")
            + section("CO-RE relocations", _core(obj, target, target_note))
            + section("Call graph", _svg(obj))
            + section("BTF", _btf(obj))
        )
    title = f"bpfnb inspect {obj.name}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>{_STYLE}{_PAGE_STYLE}</head>\n"
        f'<body><h1>{escape(title)}</h1><div class="bpfnb bpfnb-report">{_nested(body)}</div></body></html>\n'
    )
