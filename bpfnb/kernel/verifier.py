"""The verifier's log as data: one row per instruction it walked, the error, the summary.

The kernel's verifier log (``log_level`` 1 and 2) is text meant for
people, but regular enough to tabulate:

``0: R1=ctx() R10=fp0``
    the register state *before* instruction 0 (at the program start and at
    every branch target the verifier switches to);
``; x = y @ file.c:12``
    the source line of the instructions that follow (from ``line_info``);
``5: (18) r1 = 0xffff...      ; R1=map_ptr(...)``
    instruction 5, its opcode byte, its text, and the registers it changed;
``from 8 to 12: R0=... R10=fp0``
    the verifier resumes a pushed branch (``: safe`` when it was pruned);
``processed 14 insns (limit 1000000) max_states_per_insn 0 ... mark_read 0``
    the summary, printed last on success and failure alike.

Anything else is a message; on a failed load the messages after the last
instruction are the error ("R0 invalid mem access 'map_value_or_null'") and
that instruction is the failing one.  Level 2 adds a "Live regs before
insn" listing (indented; kept as messages, not rows) and a state line
after every instruction.

Pure text processing (no syscalls): it lives next to the loader that asks
for the log, and parses logs saved from anywhere.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from ..obj.relocate import RelocatedProgram

__all__ = ["POISON_CALL", "VerifierLog", "VerifierRow", "explain_poisoned"]

#: How the verifier prints the call CO-RE poisons an instruction with (helper 0xbad2310).
POISON_CALL = "unknown#195896080"
_POISONED_AT = re.compile(r"^(\d+): \(85\) call " + POISON_CALL)
_KFUNC_NOT_ELIMINATED = "invalid kernel function call not eliminated in verifier pass"
#: The verifier's words for a register holding a plain number where it needs a pointer.
_SCALAR_USED = re.compile(r"\b(R\d+) (?:type=scalar expected=|invalid mem access 'scalar')")
_MOV_REG = re.compile(r"^(r\d+) = (r\d+)$")

_INSN = re.compile(r"^(\d+): \(([0-9a-f]{2})\) (.*)$")
_STATE = re.compile(r"^(\d+): ((?:R\d+|fp-?\d+|frame\d+|refs=).*)$")
_BRANCH = re.compile(r"^from (\d+) to (\d+): (.*)$")
_SOURCE = re.compile(r"^; (.*)$")
#: Liveness marks after a register's name (older kernels: 6.12 prints them, 6.18 not): read, written, done.
_LIVENESS = re.compile(r"_(?=[rwD])r?w?D?$")
_SOURCE_AT = re.compile(r"^(.*) @ ([^\s@]+):(\d+)$")
_SUMMARY = re.compile(
    r"^processed (\d+) insns \(limit (\d+)\) max_states_per_insn (\d+) total_states (\d+) "
    r"peak_states (\d+) mark_read (\d+)"
)
_SUMMARY_KEYS = ("insns_processed", "insn_limit", "max_states_per_insn", "total_states", "peak_states", "mark_read")


@dataclass(frozen=True, slots=True)
class VerifierRow:
    """One line of the log that is about an instruction.

    ``kind``: ``insn`` (an instruction the verifier walked; ``state`` holds
    what it changed), ``state`` (the full state before ``index``) or
    ``branch`` (the verifier resumes at ``index`` coming from
    ``branch_from``; ``state`` is ``safe`` when pruned).  ``source`` is the
    latest source comment before the row, with its file and line number when
    the kernel printed them.
    """

    index: int
    kind: str
    text: str = ""
    opcode: int | None = None
    state: str = ""
    source: str = ""
    source_file: str = ""
    source_line: int | None = None
    branch_from: int | None = None
    #: 0-based line number in the raw log.
    log_line: int = 0

    @property
    def registers(self) -> dict[str, str]:
        """``R1=ctx() R10=fp0`` as ``{"R1": "ctx()", "R10": "fp0"}`` (also ``fp-8`` slots).

        Names come without the liveness marks older kernels print (6.12 does, 6.18 not)
        (``R0_w=``, ``fp-8_rw=``): see :attr:`written` for those.
        """
        return {_LIVENESS.sub("", name): value for name, value in _split_state(self.state).items()}

    @property
    def written(self) -> frozenset[str]:
        """Registers and slots the log marks as written here (``R0_w``), on kernels that mark them."""
        marked = ((name, _LIVENESS.search(name)) for name in _split_state(self.state))
        return frozenset(name[:m.start()] for name, m in marked if m is not None and "w" in m.group())


def _split_state(state: str) -> dict[str, str]:
    """Split ``R1=scalar(smin=0,smax=3) R10=fp0`` on spaces outside parentheses."""
    out: dict[str, str] = {}
    depth, start = 0, 0
    parts = []
    for i, ch in enumerate(state):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == " " and depth == 0:
            parts.append(state[start:i])
            start = i + 1
    parts.append(state[start:])
    for part in parts:
        name, eq, value = part.partition("=")
        if eq and name:
            out[name] = value
    return out


@dataclass(frozen=True)
class VerifierLog:
    """A parsed verifier log; ``str()`` gives the raw text back.

    ``explanations`` maps instruction indices to what the loader knows and
    the kernel cannot say: a call to ``unknown#195896080`` is an
    instruction CO-RE poisoned, and which relocation failed why (libbpf
    rewrites that log line to "failed to resolve CO-RE relocation ...";
    cilium/ebpf says "instruction poisoned by CO-RE").  See
    :func:`explain_poisoned`.
    """

    text: str
    #: True when the load succeeded (nothing in the log is then an error), None when unknown.
    loaded: bool | None = None
    explanations: Mapping[int, str] = field(default_factory=dict)
    #: The program's line_info as (slot, file, line), for kernels that print no "@ file:line" (before 6.4).
    line_info: Sequence[tuple[int, str, int]] = field(default=(), repr=False, compare=False)
    rows: tuple[VerifierRow, ...] = field(init=False, repr=False)
    messages: tuple[tuple[int, str], ...] = field(init=False, repr=False)
    summary: dict[str, int] = field(init=False, repr=False)
    #: The lines that explain a failure (empty when the load passed or the log says nothing).
    error_lines: tuple[str, ...] = field(init=False, repr=False)
    #: Index of the instruction the verifier stopped at, when it failed on one.
    error_index: int | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rows, messages, summary = _parse(self.text)
        if self.line_info:
            rows = _with_positions(rows, self.line_info)
        object.__setattr__(self, "rows", tuple(rows))
        object.__setattr__(self, "messages", tuple(messages))
        object.__setattr__(self, "summary", summary)
        error_lines, error_index = ((), None) if self.loaded else _error_of(rows, messages)
        object.__setattr__(self, "error_lines", error_lines)
        object.__setattr__(self, "error_index", error_index)

    # -- derived ----------------------------------------------------------------------

    @property
    def error(self) -> str | None:
        """The message that made the load fail (joined lines), or None."""
        if not self.error_lines:
            return None
        return " | ".join([*self.error_lines, *self.error_explanations])

    @property
    def error_explanations(self) -> tuple[str, ...]:
        """The loader's explanation of the failure (a poisoned CO-RE instruction, a missing weak kfunc)."""
        if not self.error_lines:
            return ()
        if self.error_index is not None and self.error_index in self.explanations:
            return (self.explanations[self.error_index],)
        if self.error_index is None:
            return tuple(self.explanations.values())
        return ()

    @property
    def failed(self) -> bool:
        return bool(self.error_lines)

    @property
    def insns_processed(self) -> int | None:
        return self.summary.get("insns_processed")

    @property
    def peak_states(self) -> int | None:
        return self.summary.get("peak_states")

    @property
    def instructions(self) -> tuple[VerifierRow, ...]:
        """Only the ``insn`` rows."""
        return tuple(r for r in self.rows if r.kind == "insn")

    def row_of_error(self) -> VerifierRow | None:
        """The last ``insn`` row of the failing instruction."""
        if self.error_index is None:
            return None
        return next((r for r in reversed(self.rows) if r.kind == "insn" and r.index == self.error_index), None)

    # -- views --------------------------------------------------------------------------

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        what = f"error at insn {self.error_index}: {self.error}" if self.error_index is not None else (
            f"error: {self.error}" if self.failed else "ok")
        if len(what) > 100:
            what = what[:97] + "..."
        processed = f" processed={self.insns_processed}" if self.insns_processed is not None else ""
        return f"<VerifierLog rows={len(self.rows)}{processed} {what}>"

    def to_dataframe(self) -> pd.DataFrame:
        """One row per instruction/state/branch line, with the source comment in force."""
        from ..display.verifier import verifier_frame

        return verifier_frame(self)

    def to_html(self, *, max_rows: int = 200) -> str:
        from ..display.verifier import verifier_html

        return verifier_html(self, max_rows=max_rows)

    def _repr_html_(self) -> str:
        return self.to_html()


def _parse(text: str) -> tuple[list[VerifierRow], list[tuple[int, str]], dict[str, int]]:
    rows: list[VerifierRow] = []
    messages: list[tuple[int, str]] = []
    summary: dict[str, int] = {}
    source = source_file = ""
    source_line: int | None = None
    for n, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        if line[0].isspace():  # level 2's "Live regs" listing and other indented detail
            messages.append((n, line))
            continue
        m = _SOURCE.match(line)
        if m:
            source, source_file, source_line = _source(m.group(1))
            continue
        m = _INSN.match(line)
        if m:
            body = m.group(3)
            insn_text, sep, state = body.partition(" ; ")
            if not sep and body.endswith(";"):
                insn_text = body[:-1]
            rows.append(VerifierRow(int(m.group(1)), "insn", insn_text.rstrip(), int(m.group(2), 16), state.strip(),
                                    source, source_file, source_line, log_line=n))
            continue
        m = _STATE.match(line)
        if m:
            rows.append(VerifierRow(int(m.group(1)), "state", state=m.group(2).strip(), source=source,
                                    source_file=source_file, source_line=source_line, log_line=n))
            continue
        m = _BRANCH.match(line)
        if m:
            rows.append(VerifierRow(int(m.group(2)), "branch", state=m.group(3).strip(), source=source,
                                    source_file=source_file, source_line=source_line,
                                    branch_from=int(m.group(1)), log_line=n))
            continue
        m = _SUMMARY.match(line)
        if m:
            summary = dict(zip(_SUMMARY_KEYS, (int(g) for g in m.groups())))
            messages.append((n, line))
            continue
        messages.append((n, line))
    return rows, messages, summary


def _with_positions(rows: list[VerifierRow], line_info: Sequence[tuple[int, str, int]]) -> list[VerifierRow]:
    """Source file and line of rows whose comment came without them, from the program's line_info.

    The kernel prints a line_info record's text when the walk reaches its
    instruction; the record in force for a row is the last one at or before
    it.  Files are named as the kernel names them (the base name).
    """
    if not any(r.source and not r.source_file for r in rows):
        return rows
    records = sorted(line_info)
    slots = [slot for slot, _, _ in records]
    out = []
    for r in rows:
        at = bisect.bisect_right(slots, r.index) - 1
        if r.source and not r.source_file and at >= 0:
            _, path, line = records[at]
            r = dataclasses.replace(r, source_file=os.path.basename(path), source_line=line)
        out.append(r)
    return out


def source_positions(relocated: RelocatedProgram) -> tuple[tuple[int, str, int], ...]:
    """(slot, file, line) of each line_info record of a relocated program, for :class:`VerifierLog`."""
    return tuple((r.slot, r.file_name, r.line_num) for r in relocated.line_info)


def _source(comment: str) -> tuple[str, str, int | None]:
    m = _SOURCE_AT.match(comment)
    if m:
        return m.group(1).strip(), m.group(2), int(m.group(3))
    return comment.strip(), "", None  # kernels before 6.4 print no "@ file:line"


#: Messages that follow a *successful* verification (stats, liveness detail), never errors.
_BENIGN = re.compile(
    r"^(processed \d+ insns|verification time|stack depth|func#\d+ @|Func#\d+|Live regs|Validating |"
    r"\([\d,]+\) frame \d+|\([\d,]+\) live stack|mark_precise|last_idx|regs=|parent |propagating |"
    r"frame \d+: propagating|[\d,]+: safe$|caller:|callee:|returning from callee:|to caller at|Global function)"
)


def _error_of(rows: list[VerifierRow], messages: list[tuple[int, str]]) -> tuple[tuple[str, ...], int | None]:
    """The failure's lines and instruction: messages after the last row, before the summary.

    A log without a summary ended early (BTF/func_info checks run before
    the walk): its last messages are the error.  A successful load's log
    also ends with a summary; the messages before it are statistics, which
    :data:`_BENIGN` recognises.
    """
    last_row = rows[-1].log_line if rows else -1
    summary_at = next((n for n, line in reversed(messages) if _SUMMARY.match(line)), None)
    tail = [line for n, line in messages
            if n > last_row and (summary_at is None or n < summary_at) and not line[0].isspace()]
    errors = [line.strip() for line in tail if not _BENIGN.match(line.strip())]
    if not errors:
        return (), None
    return tuple(errors), (rows[-1].index if rows else None)


def explain_poisoned(text: str, relocated: RelocatedProgram) -> dict[int, str]:
    """Instruction index -> why it fails, for the instructions of ``text`` the loader neutralised.

    * a call to ``unknown#195896080`` at instruction N is a CO-RE record of
      ``relocated`` that no target satisfied (a poisoned field access, or
      both halves of a poisoned ld_imm64): the record, its access path and
      the reason are named;
    * "invalid kernel function call not eliminated" is a weak kfunc the
      kernel lacks, called on a reachable path: each neutralised call is
      named.
    """
    out: dict[int, str] = {}
    poisoned = {int(m.group(1)) for line in text.splitlines() if (m := _POISONED_AT.match(line))}
    if poisoned:
        starts = {name: start for name, start in relocated.subprograms}
        starts[relocated.name] = 0
        for rec in relocated.core_relocations:
            if not rec.poisoned or rec.program not in starts:
                continue
            slot = starts[rec.program] + rec.slot
            where = f" in {rec.program}" if rec.program != relocated.name else ""
            why = (f"failed to resolve CO-RE relocation <{rec.kind_label}> {_libbpf_spec(rec)}"
                   f" (relo #{rec.index}{where}): {rec.poison_reason or 'no target satisfied it'};"
                   " instruction poisoned by CO-RE")
            for s in (slot, slot + 1):
                if s in poisoned:
                    out[s] = why
    out.update(_explain_weak_variables(text, relocated))
    if _KFUNC_NOT_ELIMINATED in text:
        for applied in relocated.applied:
            if applied.kind.value == "kfunc" and applied.after.imm == 0 and applied.after.is_call:
                out[applied.slot] = (f"weak kfunc {applied.symbol!r} is not in this kernel (or not with this "
                                     f"prototype) and its call at insn {applied.slot} is reachable (guard it with "
                                     "bpf_ksym_exists())")
    return out


def _explain_weak_variables(text: str, relocated: RelocatedProgram) -> dict[int, str]:
    """A weak ``__ksym`` variable the kernel lacks reads as address 0: name it where a pointer was needed.

    The verifier only says "R1 type=scalar"; following that register back
    through the walked instructions (and plain register moves) to the
    ``ld_imm64`` the loader neutralised names the variable.
    """
    neutral = {a.slot: a.symbol for a in relocated.applied
               if a.kind.value == "extern" and a.after.is_ld_imm64 and a.after.src == 0 and a.after.imm == 0}
    if not neutral:
        return {}
    vlog = VerifierLog(text, loaded=False)
    m = next((m for line in vlog.error_lines if (m := _SCALAR_USED.search(line))), None)
    if m is None or vlog.error_index is None:
        return {}
    reg = m.group(1).lower()
    insns = [r for r in vlog.rows if r.kind == "insn"]
    at = max((k for k, r in enumerate(insns) if r.index == vlog.error_index), default=len(insns))
    for row in reversed(insns[:at]):
        dst = row.text.split(" ", 1)[0]
        if dst != reg:
            continue
        if row.index in neutral:
            return {vlog.error_index: (f"weak ksym {neutral[row.index]!r} is not in this kernel: its address "
                                       f"(insn {row.index}) is 0, used as a pointer at insn {vlog.error_index} "
                                       "(guard it with bpf_ksym_exists())")}
        mov = _MOV_REG.match(row.text.strip())
        if mov is None:
            return {}
        reg = mov.group(2)
    return {}


def _libbpf_spec(rec) -> str:
    """The local side of a CO-RE record as libbpf's ``bpf_core_format_spec`` prints it.

    ``[7] struct task_struct.pid (0:1 @ offset 4)``,
    ``[14] enum pid_type::PIDTYPE_PID = 0``, ``[9] struct foo``.
    """
    from ..btf.core_spec import FIELD_KINDS, TYPE_KINDS

    head = f"[{rec.local_type_id}] {rec.local_path}"
    btf = rec.local_btf
    if btf is None:
        return head
    try:
        t = btf[rec.local_type_id]
        head = f"[{rec.local_type_id}] {t.kind.name.lower()} {t.name}"
        if rec.kind in TYPE_KINDS:
            return head
        if rec.kind in FIELD_KINDS:
            parts = []
            for i, step in enumerate(rec.local_steps):
                if step.name:
                    parts.append(f".{step.name}")
                elif i > 0 or step.index > 0:
                    parts.append(f"[{step.index}]")
            bits = rec.local_bit_offset
            at = f"{bits // 8}.{bits % 8}" if bits % 8 else f"{bits // 8}"
            return f"{head}{''.join(parts)} ({rec.access} @ offset {at})"
        # an enumerator: its name and local value
        index = int(rec.access.split(":")[0])
        value = t.values[index].value
        return f"{head}::{t.values[index].name} = {value}"
    except Exception:  # an explanation must not raise; the path says enough
        return head
