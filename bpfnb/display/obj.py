"""Views of the object model: HTML summaries, text summaries, DataFrames."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .html import ROWS_OPTION, Raw, fmt_count, kv_table, section, table, wrap
from .tidy import tidy

if TYPE_CHECKING:
    from ..obj.data import DataSection
    from ..obj.maps import MapSpec
    from ..obj.object import Object
    from ..obj.programs import FunctionSpec, ProgramSpec

__all__ = [
    "code_spec_html",
    "data_section_frame",
    "data_section_html",
    "map_rows",
    "map_spec_html",
    "object_frame",
    "object_html",
    "object_text",
]

PROGRAM_COLUMNS = ("name", "section", "type", "attach type", "insns", "relocations")
MAP_COLUMNS = ("name", "type", "key size", "value size", "max entries", "flags", "pinning", "section")
DATA_COLUMNS = ("section", "kind", "size", "variables", "read-only")
SECTION_COLUMNS = ("#", "name", "kind", "ELF type", "size", "flags")


def _attach(p) -> str:
    t = getattr(p, "expected_attach_type", None)
    return t.name.lower() if t is not None else ""


def program_rows(obj: Object):
    for p in obj.programs.values():
        yield (p.name, p.section, p.type_name, _attach(p), p.instructions.len_slots, len(p.relocations))


def map_rows(maps):
    for m in maps:
        if not m.complete:
            yield (m.name, "?", None, None, None, None, None, m.section)
            continue
        yield (
            m.name,
            m.type_name,
            m.key_size,
            m.value_size,
            m.max_entries,
            f"{m.map_flags:#x}" if m.map_flags else "",
            m.pinning.name.lower() if m.pinning else "",
            m.section,
        )


def data_rows(obj: Object):
    for d in obj.data.values():
        yield (d.name, d.kind.value, d.size, ", ".join(v.name for v in d.variables), d.read_only)


def object_html(obj: Object) -> str:
    summary = kv_table(
        [
            ("license", obj.license or "(none)"),
            ("kernel version", f"{obj.kernel_version:#x}" if obj.kernel_version else "(none)"),
            ("programs", len(obj.programs)),
            ("functions", len(obj.functions)),
            ("maps", len(obj.maps)),
            ("data sections", len(obj.data)),
            ("BTF", f"{fmt_count(len(obj.btf_data))} bytes" if obj.btf_data else "(none)"),
            ("BTF.ext", f"{fmt_count(len(obj.btf_ext_data))} bytes" if obj.btf_ext_data else "(none)"),
        ]
    )
    funcs = (
        (f.name, f.section, "global" if f.is_global else "static", f.instructions.len_slots, len(f.relocations))
        for f in obj.functions.values()
    )
    sections = (
        (s.index, s.name, s.kind.value, s.sh_type, s.size, f"{s.flags:#x}") for s in obj.sections if s.index
    )
    body = (
        summary
        + section("Programs", table(PROGRAM_COLUMNS, program_rows(obj), total=len(obj.programs)), count=len(obj.programs))
        + section(
            "Functions",
            table(("name", "section", "linkage", "insns", "relocations"), funcs, total=len(obj.functions)),
            count=len(obj.functions),
        )
        + section("Maps", table(MAP_COLUMNS, map_rows(obj.maps.values()), total=len(obj.maps)), count=len(obj.maps))
        + _struct_ops_section(obj)
        + section("Data", table(DATA_COLUMNS, data_rows(obj), total=len(obj.data)), count=len(obj.data))
        + section(
            "Sections",
            table(SECTION_COLUMNS, sections, total=len(obj.sections) - 1),
            count=len(obj.sections) - 1,
            open=False,
        )
    )
    return wrap(f"Object {obj.name}", body, text_fallback=object_text(obj))


def _struct_ops_section(obj: Object) -> str:
    """Which program fills which callback of each struct_ops variable (nothing when there are none)."""
    if not obj.struct_ops:
        return ""
    rows = ((s.name, s.type_name, s.section, s.size, ", ".join(f"{m} = {p}" for m, p in s.programs.items()))
            for s in obj.struct_ops.values())
    return section("struct_ops", table(("map", "struct", "section", "size", "callbacks"), rows),
                   count=len(obj.struct_ops))


def object_text(obj: Object) -> str:
    """A readable plain-text summary (the CLI's ``inspect`` output)."""
    lines = [f"{obj.name}: license {obj.license or '(none)'}" + (f", kernel version {obj.kernel_version:#x}" if obj.kernel_version else "")]
    lines.append(f"programs ({len(obj.programs)}):")
    for name, sec, typ, attach, insns, relocs in program_rows(obj):
        lines.append(f"  {name:<24} {typ:<16} {sec}  [{insns} insns, {relocs} relocations]" + (f" attach={attach}" if attach else ""))
    if obj.functions:
        lines.append(f"functions ({len(obj.functions)}):")
        for f in obj.functions.values():
            lines.append(f"  {f.name:<24} {'global' if f.is_global else 'static':<16} {f.section}  [{f.instructions.len_slots} insns]")
    lines.append(f"maps ({len(obj.maps)}):")
    for m in obj.maps.values():
        lines.append(f"  {m!r}")
    if obj.struct_ops:
        from .struct_ops import struct_ops_text

        lines.append(f"struct_ops ({len(obj.struct_ops)}):")
        lines.extend(f"  {struct_ops_text(s)}" for s in obj.struct_ops.values())
    if obj.data:
        lines.append(f"data ({len(obj.data)}):")
        for d in obj.data.values():
            names = ", ".join(v.name for v in d.variables)
            lines.append(f"  {d.name:<24} {d.kind.value:<8} {d.size:>6} bytes  {names}")
    return "\n".join(lines)


def object_frame(obj: Object):
    import pandas as pd

    rows = []
    for c in (*obj.programs.values(), *obj.functions.values()):
        rows.append(
            {
                "name": c.name,
                "kind": "program" if hasattr(c, "prog_type") else "function",
                "section": c.section,
                "type": getattr(c, "type_name", None),
                "attach_type": _attach(c) or None,
                "bind": c.bind,
                "offset": c.offset,
                "insns": c.instructions.len_slots,
                "relocations": len(c.relocations),
            }
        )
    return tidy(pd.DataFrame(rows, columns=["name", "kind", "section", "type", "attach_type", "bind", "offset", "insns",
                                            "relocations"]), categorical=("kind", "type", "attach_type", "bind"))


def map_spec_html(m: MapSpec) -> str:
    rows = [
        ("type", m.type_name),
        ("key size", m.key_size),
        ("value size", m.value_size),
        ("max entries", m.max_entries),
        ("flags", f"{m.map_flags:#x}"),
        ("pinning", m.pinning.name.lower()),
        ("section", m.section),
    ]
    if m.key_type_id or m.value_type_id:
        rows += [("key BTF id", m.key_type_id), ("value BTF id", m.value_type_id)]
    if m.numa_node:
        rows.append(("numa node", m.numa_node))
    if m.map_extra:
        rows.append(("map_extra", f"{m.map_extra:#x}"))
    if m.inner is not None:
        rows.append(("inner map", repr(m.inner)))
    if m.init_slots:
        rows.append(("initial slots", ", ".join(f"[{i}] = {n}" for i, n in m.init_slots)))
    if not m.complete:
        rows = [("section", m.section), ("definition", "in BTF (not decoded yet)")]
    return wrap(f"MapSpec {m.name}", kv_table(rows), text_fallback=repr(m))


def code_spec_html(c: ProgramSpec | FunctionSpec, *, max_rows: int = 200) -> str:
    pairs = [("section", c.section), ("offset", f"{c.offset:#x}"), ("linkage", c.bind.removeprefix("STB_").lower())]
    if hasattr(c, "prog_type"):
        pairs[:0] = [("type", c.type_name), ("attach type", _attach(c) or "(none)")]
        if c.attach_target:
            pairs.append(("attach target", c.attach_target))
        if c.sleepable:
            pairs.append(("sleepable", True))
    pairs.append(("instructions", f"{len(c.instructions)} ({c.instructions.len_slots} slots)"))
    relocs = (
        (r.slot, r.type_name, r.kind.value, r.symbol.name, r.target_section) for r in c.relocations
    )
    title = ("Program " if hasattr(c, "prog_type") else "Function ") + c.name
    body = (
        kv_table(pairs)
        + section("Instructions", Raw(_instructions_html(c, max_rows)), count=len(c.instructions))
        + section(
            "Relocation records",
            table(("slot", "type", "kind", "symbol", "target section"), relocs, total=len(c.relocations)),
            count=len(c.relocations),
        )
    )
    return wrap(title, body, text_fallback=repr(c))


def _instructions_html(c, max_rows: int) -> str:
    return c.instructions.to_html(max_rows=max_rows)


def data_section_html(d: DataSection) -> str:
    rows = ((v.name, v.offset, v.size, v.type_name, "static" if v.is_static else "global", _value_text(d, v)) for v in d.variables)
    body = kv_table([("kind", d.kind.value), ("size", d.size), ("read-only", d.read_only)]) + section(
        "Variables",
        table(("name", "offset", "size", "type", "linkage", "initial value"), rows, total=len(d.variables), max_rows=ROWS_OPTION),
        count=len(d.variables),
    )
    return wrap(f"DataSection {d.name}", body, text_fallback=repr(d))


def _value_text(d: DataSection, v) -> str:
    if v.value is not None:
        return repr(v.value)
    raw = d.bytes_of(v)
    return raw.hex(" ") if len(raw) <= 16 else raw[:16].hex(" ") + f" … ({len(raw)} bytes)"


def data_section_frame(d: DataSection):
    import pandas as pd

    return pd.DataFrame(
        [
            {"name": v.name, "offset": v.offset, "size": v.size, "type": v.type_name or None, "bind": v.bind, "value": v.value if v.value is not None else d.bytes_of(v)}
            for v in d.variables
        ],
        columns=["name", "offset", "size", "type", "bind", "value"],
    )
