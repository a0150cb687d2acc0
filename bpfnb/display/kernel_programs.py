"""View of a loaded program: what the kernel reports, then its xlated instructions.

Bounded like every table here (``max_rows``), deterministic except for the
kernel's volatile fields (id, load time, run counters), which sit in the
info table where a notebook sanitizer can mask them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .html import escape, kv_table, live, section, wrap

if TYPE_CHECKING:
    from ..kernel.programs import Program

__all__ = ["program_html"]

_INFO_FIELDS = ("id", "type", "name", "tag", "xlated_prog_len", "jited_prog_len", "verified_insns", "map_ids",
                "btf_id", "nr_func_info", "nr_line_info", "gpl_compatible", "attach_btf_id", "run_cnt")


def _value(value: Any) -> Any:
    if hasattr(value, "name") and isinstance(value, int):
        return f"{value.name.lower()} ({int(value)})"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value) if value else "—"
    return value


def program_html(prog: Program, *, max_rows: int = 100) -> str:
    if prog.closed:
        return wrap(f"program {prog.name!r}", '<div class="bpfnb-note">closed</div>', text_fallback=repr(prog))
    info = prog.info(xlated=True)
    data = info.to_dict()
    pairs = [(k, live(k, _value(data[k]))) for k in _INFO_FIELDS if k in data]
    if prog.pinned:
        pairs.append(("pinned at", prog.pinned))
    if prog.attach_target is not None:
        t = prog.attach_target
        pairs.append(("attach target", f"{t.kind} {t.name} (BTF id {t.btf_id} in {t.btf_name})"))
    parts = [kv_table(pairs)]
    if info.xlated:
        from ..kernel.programs import decode_xlated

        try:
            insns = decode_xlated(info.xlated, name=prog.name)
            try:  # C source above the instructions when the program was loaded with line info
                lines = prog.source_lines()
            except Exception:
                lines = {}
            if lines:
                insns = insns.with_source_lines(lines)
            title = "xlated instructions" + (" with source lines" if lines else "")
            parts.append(section(title, insns.to_html(max_rows=max_rows), count=insns.len_slots, open=True))
        except Exception as exc:  # a view must not raise: show why instead
            parts.append(f'<div class="bpfnb-err">cannot decode xlated code: {escape(exc)}</div>')
    if prog.verifier_log is not None:
        parts.append(section("verifier log", prog.verifier_log.to_html(max_rows=max_rows), open=False))
    return wrap(f"program {prog.name!r}", "".join(parts), text_fallback=repr(prog))
