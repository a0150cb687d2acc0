"""Who calls whom: bpf-to-bpf calls, callbacks, helpers and kfuncs.

Pure analysis of an ``Object``: the same edges drive the call-graph view
and, in the relocate stage, the set of subprograms each program needs.
A call's target is found the way loaders find it: through its relocation
record when it has one (calls into ``.text``), else relative to the call
instruction inside its own section.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import UnknownFunction
from ..uapi import FuncId
from .relocations import RelocationKind

if TYPE_CHECKING:
    from .object import Object
    from .programs import FunctionSpec, ProgramSpec

__all__ = ["CallEdge", "EdgeKind", "call_edges", "reachable_functions"]


class EdgeKind(enum.Enum):
    CALL = "call"          # bpf-to-bpf call (BPF_PSEUDO_CALL)
    CALLBACK = "callback"  # function address passed to a helper (bpf_loop, ...)
    HELPER = "helper"      # call of a kernel helper by id
    KFUNC = "kfunc"        # call of an extern kernel function


@dataclass(frozen=True, slots=True)
class CallEdge:
    caller: str
    slot: int
    kind: EdgeKind
    #: Name of the callee: a function, a helper (``bpf_map_lookup_elem``) or a kfunc.
    callee: str
    #: (section, byte offset) of a callee function; None for helpers and kfuncs.
    location: tuple[str, int] | None = None


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


#: Opcode bytes an edge can start at: BPF_JMP|BPF_CALL and ld_imm64.
_EDGE_OPCODES = frozenset({0x85, 0x18})


def call_edges(obj: Object, code: ProgramSpec | FunctionSpec) -> list[CallEdge]:
    """Every outgoing edge of one program or function, in instruction order."""
    edges = []
    records = {r.slot: r for r in code.relocations}
    # every edge is a call instruction or an ld_imm64 (a callback's address)
    for slot, insn in code.instructions.slots_of(_EDGE_OPCODES):
        rec = records.get(slot)
        if rec is not None and rec.kind is RelocationKind.EXTERN_FUNC:
            # clang emits kfunc calls as pseudo calls relocated against the extern
            edges.append(CallEdge(code.name, slot, EdgeKind.KFUNC, rec.symbol.name))
        elif insn.is_pseudo_call:
            if rec is not None and rec.kind is RelocationKind.CALL:
                section, offset = rec.target_section, rec.symbol.value + (insn.imm + 1) * 8
            elif rec is None:
                section, offset = code.section, code.offset + (slot + insn.imm + 1) * 8
            else:
                raise UnknownFunction(f"call relocated against {rec.symbol.name!r} ({rec.kind.value})", program=code.name, index=slot)
            edges.append(_function_edge(obj, code, slot, EdgeKind.CALL, section, offset))
        elif rec is not None and rec.kind is RelocationKind.SUBPROG_ADDR:
            offset = rec.symbol.value + _s32(insn.imm)
            edges.append(_function_edge(obj, code, slot, EdgeKind.CALLBACK, rec.target_section, offset))
        elif insn.is_helper_call:
            try:
                name = "bpf_" + FuncId(insn.imm).name
            except ValueError:
                name = f"helper#{insn.imm}"
            edges.append(CallEdge(code.name, slot, EdgeKind.HELPER, name))
    return edges


def _function_edge(obj: Object, code, slot: int, kind: EdgeKind, section: str | None, offset: int) -> CallEdge:
    target = obj.function_at(section or "", offset)
    if target is None:
        raise UnknownFunction(f"no function starts at {section}+{offset:#x}", program=code.name, index=slot)
    return CallEdge(code.name, slot, kind, target.name, (target.section, target.offset))


def reachable_functions(obj: Object, program: ProgramSpec) -> list[FunctionSpec | ProgramSpec]:
    """Subprograms a program needs, transitively, in breadth-first first-use order."""
    seen: dict[tuple[str, int], FunctionSpec | ProgramSpec] = {}
    queue = [program]
    while queue:
        code = queue.pop(0)
        for edge in call_edges(obj, code):
            loc = edge.location
            if loc is None or loc in seen or loc == (program.section, program.offset):
                continue
            target = obj.function_at(*loc)
            seen[loc] = target
            queue.append(target)
    return list(seen.values())
