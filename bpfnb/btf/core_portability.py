"""Will this object load on *those* kernels?  CO-RE records checked against several BTFs.

A CO-RE object is portable when, on every kernel it targets, each record
either resolves or fails only where the program checked first
(``bpf_core_field_exists``, ``bpf_core_type_exists``,
``bpf_core_enum_value_exists``): a failing record is *poisoned*, and the
verifier rejects the program if a poisoned instruction is reachable.  The
verifier decides reachability; we approximate it the way a reviewer would:
a failing record is **guarded** when the same program has an existence
check for the same thing (the same field access, the same type, the same
enumerator) that answers 0 on that kernel.

:func:`bpfnb.obj.core.check_portability` resolves the object against each
named BTF (a ``/sys/kernel/btf/vmlinux`` copied from other machines, BTFHub
files, or a what-if BTF built with :func:`edit_btf`); :func:`judge_portability`
here compares each record's value with the baseline's (the running kernel's)
and with the value compiled in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BtfError
from ..uapi import CoreReloKind
from .core import CoreRelocation, CoreRelocationTable
from ..uapi.btf_layout import btf_blob

if TYPE_CHECKING:
    import pandas

    from .btf import Btf
    from .types import BtfType

__all__ = ["KernelVerdict", "PortabilityEntry", "PortabilityReport", "edit_btf", "find_guard",
           "judge_portability"]

#: Status of one record on one kernel, from best to worst.
STATUSES = ("same", "changed", "guarded", "failed", "error")


def edit_btf(btf: Btf, replace: Mapping[int, BtfType] | None = None, add: Sequence[BtfType] = (), *,
             source: str = "edited") -> Btf:
    """A copy of ``btf`` with some types replaced (same ids) and others appended.

    For what-if questions ("what if the kernel renamed ``__state``?") and
    for tests that need a second kernel without downloading one.  Records
    other than the replaced ones are copied byte for byte, so even vmlinux
    takes milliseconds; appended types must carry ids ``len(btf)``,
    ``len(btf) + 1``...  Little-endian BTF only.
    """
    from .writer import BtfBuilder

    if btf.byteorder != "<":
        raise BtfError("edit_btf writes little-endian BTF only")
    replace = dict(replace or {})
    table = btf._table
    builder = BtfBuilder(base=btf.base, strings=btf._strings.data)
    words = table.words
    starts = [int(s) for s in table.starts.tolist()] + [len(words)]
    parts: list[bytes] = []
    pos = 0
    for tid in sorted(replace):
        index = tid - btf.start_id
        if not 0 <= index < len(starts) - 1:
            raise BtfError("cannot replace a type this BTF does not define", type_id=tid)
        parts.append(words[pos : starts[index]])
        parts.append(_encode(builder, replace[tid]))
        pos = starts[index + 1]
    parts.append(words[pos:])
    for k, t in enumerate(add):
        if t.id != len(btf) + k:
            raise BtfError(f"appended type must have id {len(btf) + k}", type_id=t.id)
        parts.append(_encode(builder, t))
    types = b"".join(parts)
    strings = bytes(builder._strings)
    from .btf import Btf as _Btf

    return _Btf.from_bytes(btf_blob(types, strings), base=btf.base, source=source)


def _encode(builder: Any, t: BtfType) -> bytes:
    before = len(builder._types)
    builder.add(t)
    return bytes(builder._types[before:])


# --- the report -------------------------------------------------------------------------


@dataclass(frozen=True)
class PortabilityEntry:
    """One record on one kernel, compared with the running kernel and with the compiled-in value."""

    kernel: str
    relocation: CoreRelocation
    #: The same record against the running kernel (None without a baseline).
    baseline: CoreRelocation | None
    status: str
    #: The existence check that makes a failing record harmless, if any.
    guard: CoreRelocation | None = None

    @property
    def changed_vs_local(self) -> bool:
        r = self.relocation
        return not r.failed and (r.old_value != r.new_value or r.old_size != r.new_size)

    @property
    def changed_vs_baseline(self) -> bool:
        b, r = self.baseline, self.relocation
        if b is None:
            return False
        return (b.failed, b.new_value, b.new_size) != (r.failed, r.new_value, r.new_size)


@dataclass(frozen=True)
class KernelVerdict:
    """Counts for one kernel; ``portable`` unless a record fails unguarded or cannot resolve."""

    kernel: str
    records: int
    changed_vs_baseline: int
    changed_vs_local: int
    guarded: int
    failed: int
    errors: int

    @property
    def portable(self) -> bool:
        return self.failed == 0 and self.errors == 0


@dataclass(frozen=True)
class PortabilityReport:
    """Every record of an object on every kernel checked, with per-kernel verdicts."""

    object_name: str
    kernels: tuple[str, ...]
    baseline: str | None
    entries: tuple[PortabilityEntry, ...]
    tables: Mapping[str, CoreRelocationTable] = field(repr=False, default_factory=dict)

    @property
    def verdicts(self) -> dict[str, KernelVerdict]:
        out = {}
        for k in self.kernels:
            rows = [e for e in self.entries if e.kernel == k]
            out[k] = KernelVerdict(
                k, len(rows), sum(e.changed_vs_baseline for e in rows), sum(e.changed_vs_local for e in rows),
                sum(e.status == "guarded" for e in rows), sum(e.status == "failed" for e in rows),
                sum(e.status == "error" for e in rows))
        return out

    @property
    def portable(self) -> bool:
        return all(v.portable for v in self.verdicts.values())

    def problems(self, kernel: str | None = None) -> list[PortabilityEntry]:
        """Entries that would stop the object loading (unguarded failures, errors)."""
        return [e for e in self.entries if e.status in ("failed", "error") and (kernel is None or e.kernel == kernel)]

    def summary(self) -> str:
        lines = [f"{self.object_name}: CO-RE portability vs {self.baseline or 'the compiled-in values'}"]
        for v in self.verdicts.values():
            mark = "ok" if v.portable else "NOT PORTABLE"
            lines.append(f"  {v.kernel}: {mark} - {v.records} records, {v.changed_vs_baseline} differ from "
                         f"{self.baseline or 'local'}, {v.guarded} guarded, {v.failed} fail unguarded, "
                         f"{v.errors} unresolvable")
            for e in self.problems(v.kernel):
                r = e.relocation
                lines.append(f"    {r.program} insn {r.slot}: {r.describe()}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "object": self.object_name,
            "baseline": self.baseline,
            "portable": self.portable,
            "kernels": {k: {"portable": v.portable, "records": v.records,
                            "changed_vs_baseline": v.changed_vs_baseline, "changed_vs_local": v.changed_vs_local,
                            "guarded": v.guarded, "failed": v.failed, "errors": v.errors}
                        for k, v in self.verdicts.items()},
            "records": [_entry_dict(e) for e in self.entries],
        }

    def __repr__(self) -> str:
        bad = [k for k, v in self.verdicts.items() if not v.portable]
        return (f"<PortabilityReport {self.object_name}: {len(self.kernels)} kernels, "
                f"{'portable' if not bad else 'not portable on ' + ', '.join(bad)}>")

    def _repr_html_(self) -> str:
        from ..display.core import portability_html

        return portability_html(self)

    def to_dataframe(self) -> pandas.DataFrame:
        from ..display.core import portability_dataframe

        return portability_dataframe(self)


def _entry_dict(e: PortabilityEntry) -> dict[str, Any]:
    r = e.relocation
    return {"kernel": e.kernel, "program": r.program, "insn": r.slot, "relo": r.index, "kind": r.kind_label,
            "access": r.local_path, "local": r.old_value, "value": None if r.failed else r.new_value,
            "baseline": None if e.baseline is None or e.baseline.failed else e.baseline.new_value,
            "status": e.status, "guard": None if e.guard is None else f"insn {e.guard.slot}: {e.guard.local_path}",
            "error": r.error or (r.poison_reason if r.poisoned else "")}


# --- the check ----------------------------------------------------------------------------

def find_guard(record: CoreRelocation, table: Sequence[CoreRelocation]) -> CoreRelocation | None:
    """An existence check in the same program that answers 0 for what ``record`` reads.

    Field records are guarded by ``field_exists`` on the same type and
    access, or by ``type_exists``/``type_matches`` on their root type;
    enumerator values by ``enumval_exists`` of the same enumerator.
    """
    for g in table:
        if g is record or g.program != record.program or not g.guarded or g.failed or g.new_value != 0:
            continue
        if g.local_type_id != record.local_type_id:
            continue
        if record.kind == CoreReloKind.ENUMVAL_VALUE:
            if g.kind == CoreReloKind.ENUMVAL_EXISTS and g.access == record.access:
                return g
        elif g.kind == CoreReloKind.FIELD_EXISTS and g.access == record.access:
            return g
        elif g.kind in (CoreReloKind.TYPE_EXISTS, CoreReloKind.TYPE_MATCHES):
            return g
    return None


def _status(r: CoreRelocation, baseline: CoreRelocation | None, guard: CoreRelocation | None) -> str:
    if r.error:
        return "error"
    if r.failed:
        return "guarded" if guard is not None else "failed"
    ref = (baseline.new_value, baseline.new_size) if baseline is not None and not baseline.failed else (
        r.old_value, r.old_size)
    return "same" if (r.new_value, r.new_size) == ref else "changed"


def judge_portability(object_name: str, tables: Mapping[str, CoreRelocationTable],
                      baseline: CoreRelocationTable | None = None, baseline_name: str | None = None
                      ) -> PortabilityReport:
    """The verdicts for one object's records resolved on several kernels (``tables`` by kernel name).

    Each record is compared with the same record of ``baseline`` (or with
    the value compiled in when there is none); a poisoned one is guarded
    when :func:`find_guard` finds its existence check.  Resolution itself
    is :func:`bpfnb.obj.core.check_portability`'s.
    """
    base_by_key = {(r.section, r.index): r for r in baseline} if baseline is not None else {}
    entries: list[PortabilityEntry] = []
    for name, table in tables.items():
        for r in table:
            base = base_by_key.get((r.section, r.index))
            guard = find_guard(r, table) if r.poisoned else None
            entries.append(PortabilityEntry(name, r, base, _status(r, base, guard), guard))
    return PortabilityReport(object_name, tuple(tables), baseline_name, tuple(entries), dict(tables))


def __getattr__(name: str) -> Any:
    """``check_portability`` moved to :mod:`bpfnb.obj.core` (it walks an ``Object``); the old name still works."""
    if name == "check_portability":
        import warnings

        warnings.warn("bpfnb.btf.core_portability.check_portability moved to bpfnb.obj.core.check_portability",
                      DeprecationWarning, stacklevel=2)
        from ..obj.core import check_portability

        return check_portability
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
