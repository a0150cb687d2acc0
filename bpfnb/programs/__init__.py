"""Programs at runtime: one class per program type, each with its own ``attach``.

::

    from bpfnb.programs import as_typed
    ebpf = EbpfLoader().load_file("counter.bpf.o")
    xdp = as_typed(ebpf.programs["xdp_count"])      # -> Xdp
    with xdp.attach("eth0") as link:                 # a Link; detached on exit
        ...
    xdp.test_run(packet).verdict                     # 'XDP_PASS'

:func:`as_typed` picks the class from the program type and, where one type
covers several (TRACING: tp_btf/fentry/fexit/fmod_ret/iter; KPROBE:
kprobe/uprobe and their return probes), from the expected attach type and
the section.  :func:`class_for` answers the same question for a spec that
did not load (e.g. an fentry program this kernel refused).
:func:`auto_attach` attaches every program whose section says where, as a
libbpf skeleton's ``attach()`` does; :func:`detach_all` undoes what a set of
programs attached.  :func:`show` lists every program of the running kernel,
like ``bpftool prog show``.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..kernel.links import Attachment, Link, LinkGroup, ProgAttachment, SocketAttachment
from ..kernel.programs import Program
from ..kernel.system import programs as show
from ..uapi import AttachType, ProgType
from .base import TypedProgram
from .cgroup import (
    CgroupDevice,
    CgroupProgram,
    CgroupSkb,
    CgroupSock,
    CgroupSockAddr,
    CgroupSockopt,
    CgroupSysctl,
    SockOps,
)
from .net import FlowDissector, SchedClassifier, SkMsg, SkSkb, SocketFilter, Xdp, XdpFlags
from .probes import HardwareEvent, KProbe, KRetProbe, PerfEvent, SoftwareEvent, UProbe, URetProbe, symbol_offset
from .struct_ops import StructOpsProgram
from .testrun import TestRun, TestRuns, verdict_name
from .trace import (
    BtfTracePoint,
    Extension,
    FEntry,
    FExit,
    FModRet,
    Iter,
    IterLink,
    Lsm,
    RawTracePoint,
    SyscallProgram,
    TracePoint,
)

if TYPE_CHECKING:
    from ..obj.programs import ProgramSpec

__all__ = [
    "Attachment",
    "show",
    "BtfTracePoint",
    "CgroupDevice",
    "CgroupProgram",
    "CgroupSkb",
    "CgroupSock",
    "CgroupSockAddr",
    "CgroupSockopt",
    "CgroupSysctl",
    "Extension",
    "FEntry",
    "FExit",
    "FModRet",
    "FlowDissector",
    "HardwareEvent",
    "Iter",
    "IterLink",
    "KProbe",
    "KRetProbe",
    "Link",
    "LinkGroup",
    "Lsm",
    "PerfEvent",
    "ProgAttachment",
    "RawTracePoint",
    "SchedClassifier",
    "SkMsg",
    "SkSkb",
    "SockOps",
    "SocketAttachment",
    "SocketFilter",
    "SoftwareEvent",
    "StructOpsProgram",
    "SyscallProgram",
    "TestRun",
    "TestRuns",
    "TracePoint",
    "TypedProgram",
    "UProbe",
    "URetProbe",
    "Xdp",
    "XdpFlags",
    "as_typed",
    "auto_attach",
    "class_for",
    "class_for_spec",
    "detach_all",
    "read_globals",
    "symbol_offset",
    "verdict_name",
]

_BY_TYPE: dict[ProgType, type[TypedProgram]] = {
    ProgType.SOCKET_FILTER: SocketFilter,
    ProgType.KPROBE: KProbe,
    ProgType.SCHED_CLS: SchedClassifier,
    ProgType.SCHED_ACT: SchedClassifier,
    ProgType.TRACEPOINT: TracePoint,
    ProgType.XDP: Xdp,
    ProgType.PERF_EVENT: PerfEvent,
    ProgType.CGROUP_SKB: CgroupSkb,
    ProgType.CGROUP_SOCK: CgroupSock,
    ProgType.CGROUP_SOCK_ADDR: CgroupSockAddr,
    ProgType.SOCK_OPS: SockOps,
    ProgType.CGROUP_DEVICE: CgroupDevice,
    ProgType.CGROUP_SYSCTL: CgroupSysctl,
    ProgType.CGROUP_SOCKOPT: CgroupSockopt,
    ProgType.SK_SKB: SkSkb,
    ProgType.SK_MSG: SkMsg,
    ProgType.RAW_TRACEPOINT: RawTracePoint,
    ProgType.RAW_TRACEPOINT_WRITABLE: RawTracePoint,
    ProgType.FLOW_DISSECTOR: FlowDissector,
    ProgType.LSM: Lsm,
    ProgType.EXT: Extension,
    ProgType.SYSCALL: SyscallProgram,
    ProgType.STRUCT_OPS: StructOpsProgram,
}

_TRACING: dict[AttachType, type[TypedProgram]] = {
    AttachType.TRACE_RAW_TP: BtfTracePoint,
    AttachType.TRACE_FENTRY: FEntry,
    AttachType.TRACE_FEXIT: FExit,
    AttachType.MODIFY_RETURN: FModRet,
    AttachType.TRACE_ITER: Iter,
}


def class_for(prog_type: ProgType | int, expected_attach_type: AttachType | int | None = None,
              section: str | None = None) -> type[TypedProgram]:
    """The typed class for a program type (+ expected attach type and section where one type is many)."""
    if prog_type == ProgType.TRACING:
        if expected_attach_type is not None and expected_attach_type in _TRACING.keys():
            return _TRACING[AttachType(expected_attach_type)]
        return TypedProgram
    if prog_type == ProgType.KPROBE and section:
        from ..obj.section_defs import AutoAttach, match_section

        sec = match_section(section)
        if sec is not None:
            uprobe = sec.sec_def.auto_attach in (AutoAttach.UPROBE, AutoAttach.UPROBE_MULTI, AutoAttach.USDT)
            if uprobe:
                return URetProbe if sec.sec_def.retprobe else UProbe
            return KRetProbe if sec.sec_def.retprobe else KProbe
    try:
        return _BY_TYPE[ProgType(prog_type)]
    except (KeyError, ValueError):
        return TypedProgram


def class_for_spec(spec: ProgramSpec) -> type[TypedProgram]:
    """:func:`class_for` a program spec, loaded or not."""
    return class_for(spec.prog_type or ProgType.UNSPEC, spec.expected_attach_type, spec.section)


def as_typed(program: Program) -> TypedProgram:
    """The typed view of a loaded program (the same object if it already is one).

    The view is remembered on the plain program, so asking twice gives the
    same object (the one that tracks the links), and :func:`detach_all`
    finds it from the plain programs an ``Ebpf`` holds.
    """
    if isinstance(program, TypedProgram):
        return program
    known = program.__dict__.get("_typed_view")
    if isinstance(known, TypedProgram):
        return known
    spec = program.spec
    if spec is not None:
        cls = class_for_spec(spec)
    else:  # adopted by id or pin: only the program type is known
        cls = class_for(program.prog_type)
    typed = cls.adopt(program)
    program._typed_view = typed  # type: ignore[attr-defined]
    return typed


def _typed_view(program: Program) -> TypedProgram | None:
    if isinstance(program, TypedProgram):
        return program
    known = program.__dict__.get("_typed_view")
    return known if isinstance(known, TypedProgram) else None


def detach_all(programs: Iterable[Program] | Mapping[str, Program]) -> int:
    """Detach everything these programs attached (pinned links are closed, not detached).

    Works on the plain programs of an ``Ebpf`` too, through the typed views
    :func:`as_typed` made of them: ``detach_all(ebpf.programs)`` before
    ``ebpf.close()`` leaves nothing attached.  Returns how many attachments
    were undone.
    """
    values = programs.values() if isinstance(programs, Mapping) else programs
    total = 0
    for program in values:
        typed = _typed_view(program)
        if typed is not None:
            total += typed.detach_all()
    return total


def auto_attach(programs: Mapping[str, Program], *, keep_errors: bool = False) -> dict[str, Any]:
    """Attach every program whose section names its target (tracepoint, raw_tp, tp_btf, uprobe, iter...).

    The programs must be typed (``as_typed``) for their links to be
    tracked; plain ones are converted, and the typed objects are the ones
    that hold the links.  Programs whose section says nothing are skipped.
    A refusal detaches what this call attached and is raised — unless
    ``keep_errors``, when the error takes the program's place in the result
    (a kernel without kprobes should not stop the tracepoints).
    """
    from ..errors import KernelError

    out: dict[str, Any] = {}
    for name, program in programs.items():
        typed = as_typed(program)
        sec = typed.section
        if sec is None or not sec.auto_attachable:
            continue
        try:
            out[name] = typed.attach()
        except KernelError as exc:
            if keep_errors:
                out[name] = exc
                continue
            for made in out.values():
                if isinstance(made, Attachment):
                    made.detach()
            raise
    return out


def read_globals(ebpf: Any, section: str = ".bss") -> dict[str, Any]:
    """The current values of an object's globals in ``section`` (.bss/.data/.rodata), read from the map.

    Integers of 1, 2, 4 or 8 bytes come back as ints, anything else as
    bytes — enough to watch counters change from a notebook.
    """
    data = ebpf.obj.data[section]
    live = ebpf.maps[section]
    raw = getattr(live, "raw", live).lookup(b"\0\0\0\0") or b""
    fmt = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}
    out: dict[str, Any] = {}
    for var in data.variables:
        chunk = raw[var.offset : var.offset + var.size]
        out[var.name] = struct.unpack(fmt[var.size], chunk)[0] if var.size in fmt and len(chunk) == var.size else chunk
    return out
