"""BTF as ``bpftool btf dump`` prints it: raw lines, bpftool's JSON, or a compilable C header.

``raw`` prints one line per type plus one per member/value/param, in the
layout ``bpftool btf dump`` uses, so the two can be diffed; ``json`` uses the
same field names as ``bpftool -j``; ``c`` prints a compilable header.
``bpfnb btf dump`` (:mod:`bpfnb.cli.btf`) prints these.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
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


def raw_lines(btf: Btf, t: BtfType) -> Iterator[str]:
    """The ``[id] KIND 'name' field=value ...`` lines for one type."""
    k = t.kind
    head = f"[{t.id}] {k.name} {_q(t.name)}"
    if k == Kind.INT:
        yield f"{head} size={t.size} bits_offset={t.offset} nr_bits={t.bits} encoding={_int_encoding(t.encoding)}"
    elif k in (Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG):
        yield f"{head} type_id={t.type_id}"
    elif k == Kind.ARRAY:
        yield f"{head} type_id={t.type_id} index_type_id={t.index_type_id} nr_elems={t.nelems}"
    elif k in (Kind.STRUCT, Kind.UNION):
        yield f"{head} size={t.size} vlen={len(t.members)}"
        for m in t.members:
            bits = f" bitfield_size={m.bitfield_size}" if m.bitfield_size else ""
            yield f"\t{_q(m.name)} type_id={m.type_id} bits_offset={m.bit_offset}{bits}"
    elif k in (Kind.ENUM, Kind.ENUM64):
        yield f"{head} encoding={'SIGNED' if t.signed else 'UNSIGNED'} size={t.size} vlen={len(t.values)}"
        suffix = ("LL" if t.signed else "ULL") if k == Kind.ENUM64 else ""
        for v in t.values:
            yield f"\t{_q(v.name)} val={v.value}{suffix}"
    elif k == Kind.FWD:
        yield f"{head} fwd_kind={'union' if t.is_union else 'struct'}"
    elif k == Kind.FUNC:
        yield f"{head} type_id={t.type_id} linkage={t.linkage.name.lower()}"
    elif k == Kind.FUNC_PROTO:
        params = [(p.name, p.type_id) for p in t.params] + ([("", 0)] if t.variadic else [])
        yield f"{head} ret_type_id={t.return_type_id} vlen={len(params)}"
        for name, type_id in params:
            yield f"\t{_q(name)} type_id={type_id}"
    elif k == Kind.VAR:
        linkage = {0: "static", 1: "global"}.get(int(t.linkage), "extern")
        yield f"{head} type_id={t.type_id}, linkage={linkage}"
    elif k == Kind.DATASEC:
        yield f"{head} size={t.size} vlen={len(t.vars)}"
        for v in t.vars:
            var = btf[v.type_id] if 0 < v.type_id < len(btf) else None
            label = f" ({var.kind.name} {_q(var.name)})" if var is not None else ""
            yield f"\ttype_id={v.type_id} offset={v.offset} size={v.size}{label}"
    elif k == Kind.FLOAT:
        yield f"{head} size={t.size}"
    elif k == Kind.DECL_TAG:
        yield f"{head} type_id={t.type_id} component_idx={t.component_idx}"
    else:  # pragma: no cover - the parser rejects unknown kinds
        yield head


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


def _selected(btf: Btf, names: list[str] | None) -> Iterable[BtfType]:
    if not names:
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
        write = out.write
        for t in _selected(btf, types):
            for line in raw_lines(btf, t):
                write(printable(line, keep_lines=True) if not line.isascii() or not line.isprintable() else line)
                write("\n")
    else:
        raise ValueError(f"unknown format {fmt!r} (c, raw, json)")
