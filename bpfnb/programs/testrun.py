"""BPF_PROG_TEST_RUN results as objects: the return value named as its program type means it.

``TestRunResult`` (kernel layer) is four numbers and two byte strings; what a
reader wants to see is "XDP_DROP" or "TC_ACT_SHOT" or "trimmed to 4 bytes".
:class:`TestRun` keeps the raw result and adds that reading; :class:`TestRuns`
is a labelled batch (one crafted packet per row) that renders as a table.

How each program type is run (the kernel checks these, so we prepare the
attr to match instead of letting it answer EINVAL):

=====================  ==================================================
xdp, tc, socket, cgroup_skb, flow_dissector
                       ``data_in`` is an Ethernet frame; ``repeat`` ≥ 1
raw_tp                 ``ctx_in`` is the u64 args; no data, repeat 0
syscall                ``ctx_in`` is the program's argument struct; the
                       kernel writes it back in place — returned as ``ctx_out``
=====================  ==================================================
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..uapi import ProgType

__all__ = ["TestRun", "TestRuns", "VERDICTS", "verdict_name"]

#: Return value -> name, per program type whose return value is a verdict.
VERDICTS: dict[ProgType, dict[int, str]] = {
    ProgType.XDP: {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"},
    ProgType.SCHED_CLS: {
        -1: "TC_ACT_UNSPEC (TCX_NEXT)", 0: "TC_ACT_OK", 1: "TC_ACT_RECLASSIFY", 2: "TC_ACT_SHOT", 3: "TC_ACT_PIPE",
        4: "TC_ACT_STOLEN", 5: "TC_ACT_QUEUED", 6: "TC_ACT_REPEAT", 7: "TC_ACT_REDIRECT", 8: "TC_ACT_TRAP",
    },
    ProgType.CGROUP_SKB: {0: "drop", 1: "allow"},
    ProgType.FLOW_DISSECTOR: {0: "BPF_OK", 2: "BPF_DROP"},
    ProgType.SK_SKB: {0: "SK_DROP", 1: "SK_PASS"},
    ProgType.SK_MSG: {0: "SK_DROP", 1: "SK_PASS"},
    ProgType.LWT_IN: {0: "BPF_OK", 2: "BPF_DROP", 7: "BPF_REDIRECT"},
}
VERDICTS[ProgType.SCHED_ACT] = VERDICTS[ProgType.SCHED_CLS]


def _signed32(value: int) -> int:
    return struct.unpack("<i", struct.pack("<I", value & 0xFFFFFFFF))[0]


def verdict_name(prog_type: ProgType | int | None, retval: int) -> str | None:
    """What ``retval`` means for ``prog_type`` ("XDP_PASS", "trimmed to 4 bytes"...), or None."""
    if prog_type == ProgType.SOCKET_FILTER:
        return "drop" if retval == 0 else f"keep {retval} bytes"
    table = VERDICTS.get(prog_type) if isinstance(prog_type, ProgType) else None
    if table is None:
        return None
    signed = _signed32(retval)
    return table.get(signed, f"unknown ({signed})")


@dataclass(frozen=True)
class TestRun:
    """One BPF_PROG_TEST_RUN: the program's return value and what it left behind."""

    __test__ = False  # not a pytest test class, despite the name

    program: str
    prog_type: ProgType | int | None
    retval: int
    data_out: bytes = b""
    ctx_out: bytes = b""
    #: Mean run time per repeat as the kernel measured it (ns); varies run to run.
    duration_ns: int = 0
    repeat: int = 1
    data_in_len: int = field(default=0, repr=False)

    @property
    def verdict(self) -> str | None:
        return verdict_name(self.prog_type, self.retval)

    @property
    def signed_retval(self) -> int:
        return _signed32(self.retval)

    @property
    def duration(self) -> int:
        return self.duration_ns

    def row(self) -> dict[str, Any]:
        return {"retval": self.signed_retval, "verdict": self.verdict, "data_in": self.data_in_len,
                "data_out": len(self.data_out), "ctx_out": len(self.ctx_out), "duration_ns": self.duration_ns}

    def __repr__(self) -> str:
        v = f" {self.verdict}" if self.verdict else ""
        return f"<TestRun {self.program!r} retval={self.signed_retval}{v} data_out={len(self.data_out)}B>"

    def _repr_html_(self) -> str:
        from ..display.links import test_run_html

        return test_run_html(self)


class TestRuns:
    """Labelled test runs of one program (one row per input); renders as a table."""

    __test__ = False

    def __init__(self, program: str, runs: Mapping[str, TestRun] | Iterable[tuple[str, TestRun]]):
        self.program = program
        self.runs: dict[str, TestRun] = dict(runs.items() if isinstance(runs, Mapping) else runs)

    def __getitem__(self, label: str) -> TestRun:
        return self.runs[label]

    def __iter__(self):
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def verdicts(self) -> dict[str, str | None]:
        return {label: run.verdict for label, run in self.runs.items()}

    def to_dataframe(self) -> Any:
        from .._optional import require

        pd = require("pandas")
        return pd.DataFrame([{"input": k, **r.row()} for k, r in self.runs.items()]).set_index("input")

    def __repr__(self) -> str:
        return f"<TestRuns {self.program!r} {self.verdicts()}>"

    def _repr_html_(self) -> str:
        from ..display.links import test_runs_html

        return test_runs_html(self)
