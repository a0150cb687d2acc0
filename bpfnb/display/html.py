"""Small pure functions that build bounded, escaped HTML for notebook reprs.

Shape borrowed from xarray's repr: strings in, strings out, escaping at the
leaf (``cell``), collapsible sections from ``<details>`` (no JavaScript),
colours from the notebook theme's CSS variables, and deterministic output
(no random ids) so nbval can compare it byte for byte.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "BUILD_NOTE",
    "DEFAULT_MAX_ROWS",
    "LIVE_FIELDS",
    "Live",
    "ROWS_OPTION",
    "Raw",
    "ThisKernel",
    "build_dependent",
    "this_kernel",
    "cell",
    "details",
    "escape",
    "fmt_count",
    "kv_table",
    "live",
    "section",
    "rows_limit",
    "table",
    "wrap",
]

#: Rows shown before a table is truncated with "showing N of M", unless
#: ``bpfnb.set_options(display_max_rows=...)`` says otherwise.
DEFAULT_MAX_ROWS = 50

#: ``max_rows`` when not given: the ``display_max_rows`` option, read at render time.
ROWS_OPTION = -1

_STYLE = (
    "<style>"
    ".bpfnb{font-family:var(--jp-code-font-family,monospace);font-size:12px;"
    "color:var(--jp-content-font-color0,inherit)}"
    ".bpfnb table{border-collapse:collapse;margin:2px 0}"
    # !important: JupyterLab right-aligns output table cells with a more specific selector
    ".bpfnb th,.bpfnb td{text-align:left !important;padding:1px 8px;vertical-align:top !important;"
    "border-bottom:1px solid var(--jp-border-color2,#ddd)}"
    ".bpfnb th{font-weight:600;background:var(--jp-layout-color2,#f5f5f5)}"
    ".bpfnb .bpfnb-title{font-weight:600}"
    ".bpfnb .bpfnb-note{color:var(--jp-content-font-color2,#777)}"
    ".bpfnb .bpfnb-hl{background:var(--jp-warn-color3,#fff3cd)}"
    ".bpfnb .bpfnb-err{color:var(--jp-error-color1,#c00)}"
    ".bpfnb .bpfnb-ok{color:var(--jp-success-color1,#080)}"
    ".bpfnb pre{margin:0;white-space:pre}"
    ".bpfnb .bpfnb-nw{white-space:nowrap}"
    ".bpfnb .bpfnb-wrap{white-space:normal;min-width:18em;max-width:48em}"
    ".bpfnb .bpfnb-text{display:none}"
    ".bpfnb .bpfnb-html{display:block !important}"
    "</style>"
)

#: A nested view's text fallback, removed from the view that embeds it (its text is the outer one's).
_NESTED_FALLBACK = re.compile(r'<pre class="bpfnb-text">[^<]*</pre>')


class Raw(str):
    """A string that is already HTML and must not be escaped again."""

    __slots__ = ()


class Live:
    """A value the kernel assigns anew each time: an id, a load time, a counter.

    Rendered inside ``<span class="bpfnb-live">`` so that one notebook
    sanitizer rule masks every such value (nbval compares the rest), and
    so that readers can tell kernel-assigned values from the object's own.

    ``build=True`` marks a value that is the same on every run but depends
    on the running kernel's build (a feature probe's answer, an instruction
    count after the verifier's rewrites): the same span, with a title
    saying so, and the same sanitizer rule.
    """

    __slots__ = ("value", "build", "style")

    def __init__(self, value: Any, *, build: bool = False, style: str | None = None):
        self.value = value
        self.build = build
        self.style = style

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return f"Live({self.value!r}{', build=True' if self.build else ''})"


#: The tooltip of a build-dependent value.
BUILD_NOTE = "this kernel's answer: differs between kernel builds"


def build_dependent(value: Any, *, style: str | None = None) -> Live:
    """``value`` marked as depending on the running kernel's build."""
    return Live(value, build=True, style=style)


def _live_open(value: Live) -> str:
    attrs = f' title="{escape(BUILD_NOTE)}"' if value.build else ""
    if value.style:
        attrs += f' style="{escape(value.style)}"'
    return f'<span class="bpfnb-live"{attrs}>'


class ThisKernel:
    """A whole view that only the running kernel decides: its verifier log,
    its xlated code, its feature probes, its answer to a request.

    The HTML is the view itself, between ``<!--bpfnb-live-->`` markers that
    the notebooks' one sanitizer rule for kernel values masks as a block (a
    reader sees a note saying the view is this kernel's; nbval compares
    everything around it).  A string becomes one build-dependent span.  The
    plain-text form names what is shown, not its content, so it is the same
    on every kernel.
    """

    __slots__ = ("view", "what", "block")

    def __init__(self, view: Any, what: str, *, block: bool = True):
        self.view = view
        self.what = what
        self.block = block

    def _inner_html(self) -> str:
        if hasattr(self.view, "_repr_html_"):
            inner = self.view._repr_html_()
            if inner is not None:
                return inner
        if hasattr(self.view, "to_html"):
            return self.view.to_html()
        return f"<pre>{escape(self.view)}</pre>"

    def _repr_html_(self) -> str:
        note = f'<div class="bpfnb-note">{escape(self.what)}: {escape(BUILD_NOTE)}</div>'
        if isinstance(self.view, str):
            return wrap("", note + _live_open(build_dependent(None)) + escape(self.view) + "</span>")
        if not self.block:
            return self._inner_html()
        inner = self._inner_html().replace(_STYLE, "")  # its fallback stays: the block is its own view
        return f'<div class="bpfnb">{_STYLE}{note}</div><!--bpfnb-live-->{inner}<!--/bpfnb-live-->'

    def __repr__(self) -> str:
        return f"<{self.what}: this kernel's, differs between kernel builds>"


def this_kernel(view: Any, what: str, *, block: bool = True) -> ThisKernel:
    """Show ``view`` marked as the running kernel's (see :class:`ThisKernel`).

    ``block=False`` keeps the view's own HTML (whose build-dependent values
    are already marked one by one) and only makes the plain text stable.
    """
    return ThisKernel(view, what, block=block)


#: Info fields whose values the kernel assigns anew on every load.
LIVE_FIELDS = frozenset({
    "id", "btf_id", "map_ids", "prog_id", "link_id", "target_btf_id_obj", "attach_btf_obj_id", "btf_vmlinux_id",
    "load_time", "loaded_at", "run_cnt", "run_time_ns", "recursion_misses", "netns_dev", "netns_ino", "memlock",
})


def live(key: str, value: Any) -> Any:
    """``value`` marked as kernel-assigned when ``key`` names a volatile field."""
    return Live(value) if key in LIVE_FIELDS and value not in (None, "", 0, ()) else value


def escape(value: Any) -> str:
    """Escape anything for HTML text or attribute context."""
    if isinstance(value, Raw):
        return str(value)
    from .text import printable  # bidi overrides and control characters from the file made visible

    return html.escape(printable("" if value is None else value, keep_lines=True), quote=True)


def cell(value: Any) -> str:
    """Render one table cell value: ints as-is, ``None`` empty, rest escaped."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Live):
        return f"{_live_open(value)}{cell(value.value)}</span>"
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else ""
    return escape(value)


def fmt_count(n: int) -> str:
    """``126,610``: thousands separators make large counts readable."""
    return f"{n:,}"


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    total: int | None = None,
    max_rows: int | None = ROWS_OPTION,
    caption: str | None = None,
    row_classes: Iterable[str | None] | None = None,
    what: str = "rows",
) -> str:
    """An HTML table of at most ``max_rows`` rows.

    ``rows`` may be a generator over a huge input: only ``max_rows`` rows
    are consumed.  Pass ``total`` to print "showing N of M" without having
    to count a generator.  Without ``max_rows``, the ``display_max_rows``
    option decides.
    """
    max_rows = rows_limit(max_rows)
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    classes = iter(row_classes) if row_classes is not None else None
    shown = 0
    for row in rows:
        if max_rows is not None and shown >= max_rows:
            break
        cls = next(classes, None) if classes is not None else None
        attr = f' class="{escape(cls)}"' if cls else ""
        body.append(f"<tr{attr}>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>")
        shown += 1
    note = ""
    if total is not None and total > shown:
        note = f'<div class="bpfnb-note">showing {fmt_count(shown)} of {fmt_count(total)} {escape(what)}</div>'
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"


def kv_table(pairs: Iterable[tuple[str, Any]]) -> str:
    """A two-column key/value table (header-less) for summaries."""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{cell(v)}</td></tr>" for k, v in pairs)
    return f"<table><tbody>{rows}</tbody></table>"


def details(summary: str, body: str, *, open: bool = False) -> str:
    """A collapsible section; ``summary`` is escaped, ``body`` is HTML."""
    flag = " open" if open else ""
    return f"<details{flag}><summary>{escape(summary)}</summary>{body}</details>"


def section(title: str, body: str, *, count: int | None = None, open: bool = True) -> str:
    """A titled collapsible block, with an optional item count in the title."""
    label = title if count is None else f"{title} ({fmt_count(count)})"
    return details(label, body, open=open)


def rows_limit(max_rows: int | None) -> int | None:
    """``max_rows``, or the ``display_max_rows`` option when it is :data:`ROWS_OPTION`."""
    if max_rows != ROWS_OPTION:
        return max_rows
    from .options import option

    return option("display_max_rows")


def _nested(body: str) -> str:
    """``body`` without the stylesheet and text fallbacks of the views nested in it.

    The outer view emits the stylesheet once and its own text stands for
    everything inside it, as xarray's reprs do.
    """
    if "<style>" in body:
        body = body.replace(_STYLE, "")
    if 'class="bpfnb-text"' in body:
        body = _NESTED_FALLBACK.sub("", body)
    return body


def wrap(title: str, body: str, *, text_fallback: str | None = None) -> str:
    """The outer ``<div class="bpfnb">``: the stylesheet once, a text fallback, the view.

    As xarray does it: the fallback ``<pre>`` is visible by default and the
    view hidden by an inline style; the stylesheet swaps them.  A front end
    that drops ``<style>`` (an untrusted notebook, a static renderer) shows
    readable text instead of unstyled tables.  Views nested in ``body`` lose
    their own stylesheet and fallback.  With ``display_style="text"`` a view
    that has a text form shows only that.
    """
    from .options import option

    body = _nested(body)
    if text_fallback is None:
        return f'<div class="bpfnb">{_STYLE}<div class="bpfnb-title">{escape(title)}</div>{body}</div>'
    if option("display_style") == "text":
        return f'<pre class="bpfnb-plain">{escape(text_fallback)}</pre>'
    return (f'<div class="bpfnb">{_STYLE}<pre class="bpfnb-text">{escape(text_fallback)}</pre>'
            f'<div class="bpfnb-html" style="display:none"><div class="bpfnb-title">{escape(title)}</div>'
            f'{body}</div></div>')
