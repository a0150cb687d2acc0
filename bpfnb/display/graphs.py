"""graphviz views: the call graph of an object.

Graphs are built as ``graphviz.Digraph`` (needs the ``notebook`` extra);
notebooks render them as SVG, which nbval does not compare.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._optional import require
from .text import dot_label, printable

if TYPE_CHECKING:
    from ..obj.object import Object

__all__ = ["call_graph"]

_STYLE = {
    "program": {"shape": "box", "style": "filled,rounded", "fillcolor": "#cfe2ff"},
    "function": {"shape": "box", "style": "rounded"},
    "helper": {"shape": "ellipse", "style": "filled", "fillcolor": "#eeeeee", "fontsize": "10"},
    "kfunc": {"shape": "ellipse", "style": "filled", "fillcolor": "#fff3cd", "fontsize": "10"},
}


def _id(kind: str, name: str) -> str:
    # A prefix keeps a helper and a function of the same name apart; no ':'
    # in ids, which graphviz would read as a node:port reference.  Names come
    # from the file: escaped so that none reads as HTML or a backslash escape.
    import graphviz

    return graphviz.escape(printable(f"{kind}__{name}"))


def call_graph(obj: Object, *, helpers: bool = True):
    """Programs → subprograms (calls, dashed callbacks) → helpers and kfuncs.

    Each edge is drawn once per (caller, callee, kind), labelled with how
    many call sites it stands for when more than one.
    """
    from ..obj.callgraph import EdgeKind, call_edges

    graphviz = require("graphviz")
    g = graphviz.Digraph(name=graphviz.escape(printable(obj.name)), graph_attr={"rankdir": "LR", "fontsize": "10"}, node_attr={"fontname": "monospace"})
    for p in obj.programs.values():
        g.node(_id("code", p.name), dot_label(p.name, p.section), **_STYLE["program"])
    for f in obj.functions.values():
        g.node(_id("code", f.name), dot_label(f.name), **_STYLE["function"])
    counts: dict[tuple[str, str, EdgeKind], int] = {}
    for code in (*obj.programs.values(), *obj.functions.values()):
        for e in call_edges(obj, code):
            if e.kind in (EdgeKind.HELPER, EdgeKind.KFUNC) and not helpers:
                continue
            key = (code.name, e.callee, e.kind)
            counts[key] = counts.get(key, 0) + 1
    for (caller, callee, kind), n in counts.items():
        if kind is EdgeKind.HELPER:
            target = _id("helper", callee)
            g.node(target, dot_label(callee), **_STYLE["helper"])
        elif kind is EdgeKind.KFUNC:
            target = _id("kfunc", callee)
            g.node(target, dot_label(callee), **_STYLE["kfunc"])
        else:
            target = _id("code", callee)
        attrs = {"style": "dashed", "label": "callback"} if kind is EdgeKind.CALLBACK else {}
        if n > 1:
            attrs["label"] = (attrs.get("label", "") + f" ×{n}").strip()
        g.edge(_id("code", caller), target, **attrs)
    return g
