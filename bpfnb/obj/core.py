"""CO-RE over an ``Object``: every record of its ``.BTF.ext`` resolved against given targets (pure).

:mod:`bpfnb.btf.core` resolves records of one program against BTF; this
module walks an object the way libbpf does (sections as ``.BTF.ext`` lists
them, records in order, one candidate cache for the whole object), finds
the program or function owning each instruction, and records the
instruction before and after patching.  The targets are always passed in:
the loader (and ``Object.core_relocations()``, for a notebook) choose the
running kernel when nobody names another one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..btf import Btf
from ..btf.core import CandidateCache, CoreRelocation, CoreRelocationTable, resolve_core_relocations, targets_label
from ..btf.core_patch import instruction_value, patch_one
from ..btf.core_portability import PortabilityReport, judge_portability
from ..btf.core_spec import EXISTS_KINDS
from ..errors import BpfnbError, CoreRelocationError

if TYPE_CHECKING:
    from ..asm import Instruction
    from ..btf.ext import CoreRelo
    from .object import Object

__all__ = ["check_portability", "core_relocations"]


def _targets(target: Btf | Sequence[Btf]) -> list[Btf]:
    if isinstance(target, Btf):
        return [target]
    targets = list(target)
    if not targets:
        raise ValueError("CO-RE needs at least one target BTF (the running kernel's: Btf.from_sys_fs())")
    return targets


def core_relocations(obj: Object, target: Btf | Sequence[Btf], *,
                     errors: str = "raise", only: Collection[str] | None = None) -> CoreRelocationTable:
    """Every CO-RE record of ``obj`` resolved against ``target`` (the main BTF first, then modules).

    Records are visited in libbpf's order (sections as ``.BTF.ext`` lists
    them, records in order) with one candidate cache for the object; each
    result carries the instruction before and after patching, and its
    ``old_value`` is what the instruction held (libbpf's log prints the
    same; it differs from the locally computed value only where libbpf
    does not validate it, e.g. bitfields).  Records whose instruction lies
    in no program or function are skipped, as libbpf skips those of
    eliminated weak functions.  ``errors="collect"`` turns a record that
    cannot be resolved into a result with ``error`` set instead of raising
    (the portability check wants every kernel's full picture).  ``only``
    names the programs and functions (``obj.code``) whose records are
    resolved, as libbpf and cilium/ebpf relocate only what they load: a
    record of a program left out cannot fail the others.
    """
    if errors not in ("raise", "collect"):
        raise ValueError(f"errors must be 'raise' or 'collect', not {errors!r}")
    targets = _targets(target)
    if obj.btf is None or obj.btf_ext is None:
        return CoreRelocationTable(obj.name, targets_label(targets), ())
    cache = CandidateCache(targets)
    cache.prefetch(obj.btf, [r.type_id for relos in obj.btf_ext.core_relos.values() for r in relos])
    out: list[CoreRelocation] = []
    code = list(obj.code.values())
    for section, relos in obj.btf_ext.core_relos.items():
        for index, relo in enumerate(relos):
            owner = next((c for c in code if c.section == section and c.offset <= relo.insn_off < c.offset + c.size),
                         None)
            if owner is None or (only is not None and owner.name not in only):
                continue
            try:
                [res] = resolve_core_relocations(obj.btf, [relo], targets, program=owner.name, section=section,
                                                 offset=owner.offset, indices=[index], cache=cache)
                try:
                    insn = owner.instructions.at_slot(res.slot)
                except BpfnbError as exc:
                    raise CoreRelocationError(f"relo #{index}: {exc}", program=owner.name, index=res.slot) from exc
                after, poisoned, reason = patch_one(insn, res)
            except CoreRelocationError as exc:
                if errors == "raise":
                    raise
                out.append(_failed_record(obj.btf, relo, owner.name, section, index, owner.offset, str(exc)))
                continue
            if poisoned and not res.poisoned:
                res = replace(res, poisoned=True, poison_reason=reason)
            if not _is_load_store(insn) and (res.old_size or res.new_size):
                res = replace(res, old_size=0, new_size=0, size_mismatch=False)  # sizes only matter to loads/stores
            old = res.old_value if res.validate else instruction_value(insn, res.old_value)
            out.append(replace(res, old_value=old, before=insn, after=tuple(after)))
    return CoreRelocationTable(obj.name, targets_label(targets), tuple(out))


def check_portability(obj: Object, targets: Mapping[str, Btf | Sequence[Btf]], *,
                      baseline: Btf | None | bool = True) -> PortabilityReport:
    """Resolve ``obj`` against each named BTF and judge whether it would load there.

    ``baseline=True`` compares with the running kernel (when its BTF is
    readable), a ``Btf`` with that one, ``None``/``False`` with the values
    compiled into the object.
    """
    base_btf: Btf | None
    if baseline is True:
        try:
            base_btf = Btf.from_sys_fs()
        except OSError:
            base_btf = None
    elif baseline is False:
        base_btf = None
    else:
        base_btf = baseline
    base_table = core_relocations(obj, base_btf, errors="collect") if base_btf is not None else None
    tables = {name: core_relocations(obj, btf, errors="collect") for name, btf in targets.items()}
    base_name = "running kernel" if baseline is True and base_btf is not None else (
        targets_label([base_btf]) if base_btf is not None else None)
    return judge_portability(obj.name, tables, base_table, base_name)


def _failed_record(btf: Btf, relo: CoreRelo, program: str, section: str, index: int, offset: int,
                   error: str) -> CoreRelocation:
    """A placeholder result for a record that raised: enough to list it with its error."""
    try:
        name = btf.name_of(relo.type_id)
    except BpfnbError:
        name = f"#{relo.type_id}"
    return CoreRelocation(program=program, section=section, slot=(relo.insn_off - offset) // 8, index=index,
                          kind=relo.kind, local_type_id=relo.type_id, local_type_name=name, access=relo.access,
                          local_path=f"{name} {relo.access}", old_value=0, new_value=0,
                          guarded=relo.kind in EXISTS_KINDS, error=error, local_btf=btf)


def _is_load_store(insn: Instruction) -> bool:
    return insn.opcode & 0x07 in (1, 2, 3)  # LDX, ST, STX
