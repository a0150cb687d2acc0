"""Views of attachments, typed programs and test runs.

Deterministic like every view here: kernel-assigned values (link and
program ids, the ids inside link details, run durations) are wrapped in
:class:`~bpfnb.display.html.Live` so the notebook sanitizer masks them;
the rest (kind, target, state, verdicts, byte counts) is stable and is
what a stored notebook output compares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .html import Live, Raw, escape, kv_table, live, section, table, wrap

if TYPE_CHECKING:
    from ..kernel.links import Attachment
    from ..programs.base import TypedProgram
    from ..programs.testrun import TestRun, TestRuns

__all__ = ["attachment_html", "links_table", "test_run_html", "test_runs_html", "typed_program_html"]

#: Link-detail fields the kernel assigns per boot/load (besides LIVE_FIELDS).
_VOLATILE_DETAILS = frozenset({"ifindex", "cgroup_id", "netns_ino", "map_id", "target_obj_id", "target_btf_id",
                               "cookie", "addr", "missed", "netns_dev"})
#: Bytes of data_out shown in hex before eliding.
_HEX_PREVIEW = 64


def _name(value: Any) -> Any:
    if hasattr(value, "name") and isinstance(value, int):
        return value.name.lower()
    return value


def _state_cell(att: Attachment) -> Raw:
    state = att._state()
    cls = "bpfnb-ok" if att.attached else "bpfnb-note"
    return Raw(f'<span class="{cls}">{escape(state)}</span>')


def attachment_html(att: Attachment) -> str:
    """A Link (with its LinkInfo) or another attachment: kind, program, target, state."""
    from ..kernel.links import Link, LinkGroup

    pairs: list[tuple[str, Any]] = [("kind", att.kind), ("program", att.program), ("target", att.target),
                                    ("state", _state_cell(att))]
    body = [kv_table(pairs)]
    if isinstance(att, Link) and not att.closed:
        try:
            info = att.info()
        except Exception as exc:  # a view must not raise
            body.append(f'<div class="bpfnb-err">link info unavailable: {escape(exc)}</div>')
        else:
            rows = [("id", Live(info.id)), ("type", _name(info.type)), ("prog_id", live("prog_id", info.prog_id))]
            rows += [(k, Live(v) if k in _VOLATILE_DETAILS and v else _name(v)) for k, v in info.details.items()]
            if info.unreported is not None:
                rows.append(("details", f"{info.unreported}: not reported by this kernel"))
            body.append(section("link info", kv_table(rows), open=False))
    if isinstance(att, LinkGroup):
        body.append(section("links", links_table(att.links), count=len(att.links), open=False))
    return wrap(f"{type(att).__name__}: {att.kind}", "".join(body), text_fallback=repr(att))


def links_table(links: list[Attachment]) -> str:
    """One row per attachment: kind, target, state."""
    rows = [(a.kind, a.program, a.target, _state_cell(a)) for a in links]
    return table(("kind", "program", "target", "state"), rows, total=len(rows), what="attachments")


def typed_program_html(prog: TypedProgram) -> str:
    """The kernel program view, with the attachments it made underneath."""
    from .kernel_programs import program_html

    base = program_html(prog)
    if not prog._links:
        return base
    extra = section("attachments", links_table(prog.links), count=len(prog._links), open=True)
    # Insert before the outer </div> so it stays inside the same bpfnb block.
    return base[: -len("</div>")] + extra + "</div>" if base.endswith("</div>") else base + extra


def _hex(data: bytes) -> str:
    shown = data[:_HEX_PREVIEW].hex(" ")
    return shown + (f" … (+{len(data) - _HEX_PREVIEW} bytes)" if len(data) > _HEX_PREVIEW else "")


def test_run_html(run: TestRun) -> str:
    """One test run: return value and its verdict, bytes out, duration (masked as live)."""
    pairs: list[tuple[str, Any]] = [("program", run.program), ("type", _name(run.prog_type)),
                                    ("retval", run.signed_retval)]
    if run.verdict is not None:
        pairs.append(("verdict", run.verdict))
    pairs += [("data in", f"{run.data_in_len} bytes"), ("data out", f"{len(run.data_out)} bytes")]
    if run.ctx_out:
        pairs.append(("ctx out", _hex(run.ctx_out)))
    pairs += [("repeat", run.repeat), ("duration", Live(f"{run.duration_ns} ns"))]
    body = kv_table(pairs)
    if run.data_out:
        body += section("data out (hex)", f"<pre>{escape(_hex(run.data_out))}</pre>", open=False)
    return wrap(f"test run of {run.program!r}", body, text_fallback=repr(run))


def test_runs_html(runs: TestRuns) -> str:
    """A table: one row per labelled input with retval, verdict and sizes."""
    rows = []
    for label, r in runs.runs.items():
        rows.append((label, r.signed_retval, r.verdict or "", r.data_in_len, len(r.data_out)))
    body = table(("input", "retval", "verdict", "bytes in", "bytes out"), rows, total=len(rows), what="runs")
    return wrap(f"test runs of {runs.program!r}", body, text_fallback=repr(runs))
