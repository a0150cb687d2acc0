"""BTF as ``bpftool btf dump`` prints it: raw lines, bpftool's JSON, or a compilable C header.

``raw`` prints one line per type plus one per member/value/param, in the
layout ``bpftool btf dump`` uses, so the two can be diffed; ``json`` uses the
same field names as ``bpftool -j``; ``c`` prints a compilable header.
``bpfnb btf dump`` (:mod:`bpfnb.cli.btf`) prints these.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import TextIO

from ..btf.btf import Btf
from ..btf.types import BtfType, IntEncoding, Kind

__all__ = ["dump", "raw_lines", "type_json"]

_ENCODING = {IntEncoding.NONE: "(none)", IntEncoding.SIGNED: "SIGNED", IntEncoding.CHAR: "CHAR",
             IntEncoding.BOOL: "BOOL"}


def _q(name: str) -> str:
    return f"'{name or '(anon)'}'"


def _int_encoding(enc: IntEncoding) -> str:
    return _ENCODING.get(enc, f"{int(enc):#x}")


# One formatter per kind, each returning its lines: a dict dispatch and plain
# string names (``Kind.name`` is a descriptor call) keep the 300k lines of a
# vmlinux dump cheap.
_KIND_NAMES = {k: k.name for k in Kind}
_LINKAGES = {0: "static", 1: "global"}


def _head(t: BtfType) -> str:
    return f"[{t.id}] {_KIND_NAMES[t.kind]} '{t.name or '(anon)'}'"


def _raw_int(btf: Btf, t) -> list[str]:
    return [f"{_head(t)} size={t.size} bits_offset={t.offset} nr_bits={t.bits} encoding={_int_encoding(t.encoding)}"]


def _raw_reference(btf: Btf, t) -> list[str]:
    return [f"{_head(t)} type_id={t.type_id}"]


def _raw_array(btf: Btf, t) -> list[str]:
    return [f"{_head(t)} type_id={t.type_id} index_type_id={t.index_type_id} nr_elems={t.nelems}"]


def _raw_struct(btf: Btf, t) -> list[str]:
    lines = [f"{_head(t)} size={t.size} vlen={len(t.members)}"]
    for m in t.members:
        bits = f" bitfield_size={m.bitfield_size}" if m.bitfield_size else ""
        lines.append(f"\t'{m.name or '(anon)'}' type_id={m.type_id} bits_offset={m.bit_offset}{bits}")
    return lines


def _raw_enum(btf: Btf, t) -> list[str]:
    lines = [f"{_head(t)} encoding={'SIGNED' if t.signed else 'UNSIGNED'} size={t.size} vlen={len(t.values)}"]
    suffix = ("LL" if t.signed else "ULL") if t.kind == Kind.ENUM64 else ""
    lines += [f"\t'{v.name or '(anon)'}' val={v.value}{suffix}" for v in t.values]
    return lines


def _raw_fwd(btf: Btf, t) -> list[str]:
    return [f"{_head(t)} fwd_kind={'union' if t.is_union else 'struct'}"]


def _raw_func(btf: Btf, t) -> list[str]:
    return [f"{_head(t)} type_id={t.type_id} linkage={_LINKAGES.get(int(t.linkage), 'extern')}"]


def _raw_func_proto(btf: Btf, t) -> list[str]:
    lines = [f"{_head(t)} ret_type_id={t.return_type_id} vlen={len(t.params) + t.variadic}"]
    lines += [f"\t'{p.name or '(anon)'}' type_id={p.type_id}" for p in t.params]
    if t.variadic:
        lines.append("\t'(anon)' type_id=0")
    return lines


def _raw_var(btf: Btf, t) -> list[str]:
    return [f"{_head(t)} type_id={t.type_id}, linkage={_LINKAGES.get(int(t.linkage), 'extern')}"]


def _raw_datasec(btf: Btf, t) -> list[str]:
    lines = [f"{_head(t)} size={t.size} vlen={len(t.vars)}"]
    for v in t.vars:
        var = btf[v.type_id] if 0 < v.type_id < len(btf) else None
        label = f" ({var.kind.name} {_q(var.name)})" if var is not None else ""
        lines.append(f"\ttype_id={v.type_id} offset={v.offset} size={v.size}{label}")
    return lines


def _raw_float(btf: Btf, t) -> list[str]:
    return [f"{_head(t)} size={t.size}"]


def _raw_decl_tag(btf: Btf, t) -> list[str]:
    return [f"{_head(t)} type_id={t.type_id} component_idx={t.component_idx}"]


_RAW: dict[Kind, Callable[[Btf, BtfType], list[str]]] = {
    Kind.INT: _raw_int, Kind.PTR: _raw_reference, Kind.TYPEDEF: _raw_reference, Kind.VOLATILE: _raw_reference,
    Kind.CONST: _raw_reference, Kind.RESTRICT: _raw_reference, Kind.TYPE_TAG: _raw_reference,
    Kind.ARRAY: _raw_array, Kind.STRUCT: _raw_struct, Kind.UNION: _raw_struct, Kind.ENUM: _raw_enum,
    Kind.ENUM64: _raw_enum, Kind.FWD: _raw_fwd, Kind.FUNC: _raw_func, Kind.FUNC_PROTO: _raw_func_proto,
    Kind.VAR: _raw_var, Kind.DATASEC: _raw_datasec, Kind.FLOAT: _raw_float, Kind.DECL_TAG: _raw_decl_tag,
}


def raw_lines(btf: Btf, t: BtfType) -> list[str]:
    """The ``[id] KIND 'name' field=value ...`` lines for one type (bpftool's layout)."""
    fmt = _RAW.get(t.kind)
    return fmt(btf, t) if fmt is not None else [_head(t)]  # the parser rejects unknown kinds


def type_json(btf: Btf, t: BtfType) -> dict:
    """One type as a dict with ``bpftool btf dump -j`` field names."""
    d: dict = {"id": t.id, "kind": t.kind.name, "name": t.name or "(anon)"}
    k = t.kind
    if k == Kind.INT:
        d.update(size=t.size, bits_offset=t.offset, nr_bits=t.bits, encoding=_int_encoding(t.encoding))
    elif k in (Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG):
        d["type_id"] = t.type_id
    elif k == Kind.ARRAY:
        d.update(type_id=t.type_id, index_type_id=t.index_type_id, nr_elems=t.nelems)
    elif k in (Kind.STRUCT, Kind.UNION):
        d.update(size=t.size, vlen=len(t.members), members=[
            {"name": m.name or "(anon)", "type_id": m.type_id, "bits_offset": m.bit_offset,
             **({"bitfield_size": m.bitfield_size} if m.bitfield_size else {})} for m in t.members])
    elif k in (Kind.ENUM, Kind.ENUM64):
        d.update(encoding="SIGNED" if t.signed else "UNSIGNED", size=t.size, vlen=len(t.values),
                 values=[{"name": v.name, "val": v.value} for v in t.values])
    elif k == Kind.FWD:
        d["fwd_kind"] = "union" if t.is_union else "struct"
    elif k == Kind.FUNC:
        d.update(type_id=t.type_id, linkage=t.linkage.name.lower())
    elif k == Kind.FUNC_PROTO:
        params = [{"name": p.name or "(anon)", "type_id": p.type_id} for p in t.params]
        if t.variadic:
            params.append({"name": "(anon)", "type_id": 0})
        d.update(ret_type_id=t.return_type_id, vlen=len(params), params=params)
    elif k == Kind.VAR:
        d.update(type_id=t.type_id, linkage={0: "static", 1: "global"}.get(int(t.linkage), "extern"))
    elif k == Kind.DATASEC:
        d.update(size=t.size, vlen=len(t.vars),
                 vars=[{"type_id": v.type_id, "offset": v.offset, "size": v.size} for v in t.vars])
    elif k == Kind.FLOAT:
        d["size"] = t.size
    elif k == Kind.DECL_TAG:
        d.update(type_id=t.type_id, component_idx=t.component_idx)
    return d


_CHUNK_RECORDS = 1 << 13  # types written (and escaped) at once


def _selected(btf: Btf, names: list[str] | None) -> Iterable[BtfType]:
    if not names:
        btf.materialise()
        return (btf[i] for i in btf.own_ids)
    return [btf.find(n) for n in names]


def dump(btf: Btf, fmt: str = "raw", types: list[str] | None = None, out: TextIO | None = None) -> None:
    """Write ``btf`` (or the named ``types``) to ``out`` in ``fmt``."""
    from .text import printable  # names from the file must not drive the terminal

    out = out if out is not None else sys.stdout
    if fmt == "c":
        ids = None if not types else [btf.find(n).id for n in types]
        out.write(printable(btf.to_c(ids), keep_lines=True))
    elif fmt == "json":
        json.dump({"types": [type_json(btf, t) for t in _selected(btf, types)]}, out, indent=1)
        out.write("\n")
    elif fmt == "raw":
        from .btf_raw import raw_records

        records = raw_records(btf) if not types else None  # a whole dump: from the columns
        if records is None:
            records = ("\n".join(raw_lines(btf, t)) for t in _selected(btf, types))
        chunk: list[str] = []
        for text in records:
            chunk.append(text)
            if len(chunk) >= _CHUNK_RECORDS:
                out.write(printable("\n".join(chunk), keep_lines=True) + "\n")
                chunk = []
        if chunk:
            out.write(printable("\n".join(chunk), keep_lines=True) + "\n")
    else:
        raise ValueError(f"unknown format {fmt!r} (c, raw, json)")
