"""Views of a ``__ksym`` resolution: each extern and where the kernel has it.

One row per extern: its kind, where it resolved (vmlinux, which module's
BTF, kallsyms, or nowhere), its BTF id there and, for a module's kfunc, the
``fd_array`` slot its calls name.  Ids and slots are the running kernel's
answer (``build_dependent``): they differ between kernel builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._optional import require
from .html import ROWS_OPTION, build_dependent, table, wrap

if TYPE_CHECKING:
    import pandas as pd

    from ..obj.ksyms import KsymTarget

__all__ = ["KSYM_COLUMNS", "ksyms_frame", "ksyms_html", "ksyms_text"]

KSYM_COLUMNS = ("extern", "kind", "where", "BTF id", "fd_array slot", "note")


def _note(t: KsymTarget) -> str:
    if t.mismatch is not None:
        m = t.mismatch
        fate = "programs using it are refused" if t.required else "weak: relocated to 0"
        return f"the kernel's is `{m.kernel}`, this object's `{m.local}`: {fate}"
    if t.required:
        return "strong and missing: programs using it are refused"
    if not t.found:
        return "weak: relocated to 0"
    if t.module and t.kind.value == "kfunc":
        return "calls name the module's BTF by its fd_array slot"
    if t.module:
        return "ld_imm64 carries the module BTF's fd"
    return ""


def ksyms_text(targets: Mapping[str, KsymTarget]) -> str:
    lines = [f"{len(targets)} __ksym externs"]
    for name, t in targets.items():
        looked_up = f" (as {t.kernel_name})" if t.kernel_name else ""
        lines.append(f"  {name}{looked_up}: {t.kind.value} → {t.where}" + (f" BTF id {t.btf_id}" if t.btf_id else ""))
    return "\n".join(lines)


def ksyms_html(targets: Mapping[str, KsymTarget], *, max_rows: int | None = ROWS_OPTION) -> str:
    rows = [
        (f"{name} (as {t.kernel_name})" if t.kernel_name else name, t.kind.value, t.where,
         build_dependent(t.btf_id) if t.btf_id else "",
         t.btf_fd_index or "", _note(t))
        for name, t in targets.items()
    ]
    body = table(KSYM_COLUMNS, rows, total=len(rows), max_rows=max_rows, what="externs")
    return wrap("__ksym externs", body, text_fallback=ksyms_text(targets))


def ksyms_frame(targets: Mapping[str, KsymTarget]) -> pd.DataFrame:
    pandas = require("pandas")
    columns = ["extern", "kind", "found", "where", "module", "btf_id", "fd_array_index", "address", "required",
               "kernel_name", "kernel_type"]
    rows = [
        {"extern": name, "kind": t.kind.value, "found": t.found, "where": t.where, "module": t.module,
         "btf_id": t.btf_id, "fd_array_index": t.btf_fd_index, "address": t.address, "required": t.required,
         "kernel_name": t.kernel_name or name, "kernel_type": t.mismatch.kernel if t.mismatch else ""}
        for name, t in targets.items()
    ]
    frame = pandas.DataFrame(rows, columns=columns)
    return frame.astype({"found": "bool", "btf_id": "int64", "fd_array_index": "int64", "address": "uint64",
                         "required": "bool"})
