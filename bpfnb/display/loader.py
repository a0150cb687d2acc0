"""Views of the loader: the pipeline's progress, each stage's result, Ebpf."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .html import Live, Raw, build_dependent, escape, kv_table, section, table, wrap

from ..btf.sanitize import Change

if TYPE_CHECKING:
    from ..loader import Ebpf, Pipeline, StageResult

__all__ = ["ebpf_html", "pipeline_html", "stage_html"]

_MAX_SECTIONS = 20


def _html_of(value: Any) -> str:
    """A value's own rich view when it has one, else its escaped repr."""
    render = getattr(value, "_repr_html_", None)
    if callable(render):
        try:
            html = render()
        except Exception as exc:  # a view must never break the page
            return f'<div class="bpfnb-err">{escape(type(exc).__name__)}: {escape(exc)}</div>'
        if html:
            return Raw(html)
    if isinstance(value, BaseException):
        log = getattr(value, "verifier_log", None)
        head = f'<div class="bpfnb-err">{escape(type(value).__name__)}: {escape(value)}</div>'
        return Raw(head + (_html_of(log) if log is not None else ""))
    return Raw(f"<pre>{escape(repr(value))}</pre>")


def _detail_html(result: StageResult) -> str:
    detail = result.detail
    if isinstance(detail, dict):
        items = list(detail.items())
        if all(isinstance(v, int) for _, v in items):  # placeholder fds
            return table(("map", "placeholder fd"), items, total=len(items), what="maps")
        parts = [
            section(str(name), _html_of(value) if value is not None else escape("not loaded"), open=False)
            for name, value in items[:_MAX_SECTIONS]
        ]
        more = len(items) - _MAX_SECTIONS
        if more > 0:
            parts.append(f'<div class="bpfnb-note">and {more} more</div>')
        return "".join(parts)
    if isinstance(detail, (list, tuple)) and detail and all(isinstance(c, Change) for c in detail):
        # the dry run's BTF fix-up: the same table as a loaded BTF's, names and kinds in words
        from .sanitize import changes_table

        return changes_table(detail)
    if detail is None:
        return ""
    return _html_of(detail)


def stage_html(result: StageResult) -> str:
    mode = "dry run" if result.dry_run else "done"
    note = f'<div class="bpfnb-note">{escape(result.note)}</div>' if result.note else ""
    extra = "".join(section(title, _html_of(view), open=False) for title, view in result.tables.items())
    body = f"<div>{escape(result.summary)}</div>{note}{_detail_html(result)}{extra}"
    return wrap(f"Stage {result.stage} ({mode})", body, text_fallback=repr(result))


def pipeline_html(p: Pipeline) -> str:
    from ..loader import STAGES

    rows = []
    for stage in STAGES:
        if stage in p.results:
            r = p.results[stage]
            rows.append((stage, "dry run" if r.dry_run else "done", r.summary))
        elif stage in p.errors:
            rows.append((stage, "failed", str(p.errors[stage])))
        else:
            rows.append((stage, "pending", ""))
    mode = "dry run: no privileges, no syscalls" if p.dry_run else "privileged: real syscalls"
    body = kv_table([("object", p._name()), ("mode", mode)]) + table(("stage", "status", "what it did"), rows, max_rows=None)
    return wrap("Loading pipeline", body, text_fallback=repr(p))


def ebpf_html(e: Ebpf) -> str:
    progs = []
    for name, prog in e.programs.items():
        info = prog.info()
        progs.append((name, info.type.name.lower() if hasattr(info.type, "name") else info.type, Live(info.id), info.tag, build_dependent(info.xlated_prog_len // 8)))
    maps = []
    for name, m in e.maps.items():
        info = m.info()
        maps.append((name, info.name, info.type.name.lower() if hasattr(info.type, "name") else info.type, Live(info.id), info.key_size, info.value_size, info.max_entries))
    body = section("Programs", table(("name", "type", "id", "tag", "xlated insns"), progs, total=len(progs)), count=len(progs)) + section(
        "Maps", table(("name", "kernel name", "type", "id", "key size", "value size", "max entries"), maps, total=len(maps)), count=len(maps)
    )
    if e.dry_run:
        body = '<div class="bpfnb-note">dry run: nothing was loaded</div>' + body
    return wrap(repr(e).strip("<>"), body, text_fallback=repr(e))
