"""Views of struct_ops: the object's ops struct member by member, and where each lands in the kernel's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .html import kv_table, section, table, wrap

if TYPE_CHECKING:
    from ..obj.struct_ops import KernelStructOps, StructOpsMember, StructOpsSpec

_SPEC_COLUMNS = ("member", "offset", "size", "kind", "value")
_KERNEL_COLUMNS = ("member", "action", "object offset", "size", "kernel member #", "value offset", "program")


def _member_value(spec: StructOpsSpec, m: StructOpsMember) -> str:
    if m.func_ptr:
        return m.program or "NULL"
    raw = spec.data[m.offset : m.offset + m.size]
    if not any(raw):
        return "0"
    text = raw.split(b"\0", 1)[0]
    if text and all(32 <= b < 127 for b in text) and not any(raw[len(text):]):
        return repr(text.decode())
    if m.size in (1, 2, 4, 8):
        return str(int.from_bytes(raw, "little"))
    return raw.hex()


def _spec_rows(spec: StructOpsSpec) -> list[tuple[Any, ...]]:
    return [(m.name, m.offset, m.size, "callback" if m.func_ptr else "data", _member_value(spec, m))
            for m in spec.members]


def struct_ops_text(spec: StructOpsSpec) -> str:
    """One line per struct_ops variable (the CLI's ``inspect``)."""
    progs = ", ".join(f"{m}={p}" for m, p in spec.programs.items()) or "no programs"
    via = "link" if spec.link else "map update"
    return f"{spec.name}: struct {spec.type_name} ({spec.size} bytes, registered by {via}): {progs}"


def struct_ops_frame(spec: StructOpsSpec):
    import pandas as pd

    return pd.DataFrame(_spec_rows(spec), columns=list(_SPEC_COLUMNS))


def struct_ops_spec_html(spec: StructOpsSpec) -> str:
    summary = kv_table([
        ("struct", spec.type_name), ("section", spec.section), ("size", spec.size),
        ("registered by", "BPF_LINK_CREATE (BPF_F_LINK)" if spec.link else "map update of key 0"),
    ])
    body = summary + section("Members", table(_SPEC_COLUMNS, _spec_rows(spec)), count=len(spec.members))
    return wrap(f"struct_ops {spec.name}", body, text_fallback=struct_ops_text(spec))


def _kernel_rows(k: KernelStructOps) -> list[tuple[Any, ...]]:
    return [(s.member, s.action, s.offset, s.size, "" if s.kernel_index is None else s.kernel_index,
             "" if s.value_offset is None else s.value_offset, s.program or "") for s in k.slots]


def kernel_struct_ops_frame(k: KernelStructOps):
    import pandas as pd

    return pd.DataFrame(_kernel_rows(k), columns=list(_KERNEL_COLUMNS))


def kernel_struct_ops_html(k: KernelStructOps) -> str:
    summary = kv_table([
        ("kernel struct", f"{k.type_name} (BTF id {k.type_id} in {k.btf_name})"),
        ("map value", f"{k.value_type_name} (BTF id {k.value_type_id}), {k.value_size} bytes"),
        ("ops struct at", f"+{k.data_offset}"),
        ("skipped (kernel lacks them, zero here)", ", ".join(k.skipped) or "(none)"),
    ])
    body = summary + section("Members", table(_KERNEL_COLUMNS, _kernel_rows(k)), count=len(k.slots))
    return wrap(f"struct_ops {k.spec.name} in this kernel", body, text_fallback=repr(k))
