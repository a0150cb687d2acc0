"""Tracing programs: tracepoints, raw tracepoints, BTF-typed tracing, LSM, iterators.

=====================  ============================================================
``TracePoint``         perf_event_open on the tracepoint's tracefs id, then a perf
                       link (BPF_LINK_CREATE with BPF_PERF_EVENT, 5.15+).  The
                       PERF_EVENT_IOC_SET_BPF ioctl older kernels need is not used.
``RawTracePoint``      BPF_RAW_TRACEPOINT_OPEN with the tracepoint's name
``BtfTracePoint``      tp_btf: the target was fixed at load (attach_btf_id);
``FEntry``/``FExit``   RAW_TRACEPOINT_OPEN with no name makes the link
``FModRet``/``Lsm``
``Extension``          freplace: a link to the function it replaces
``Iter``               BPF_LINK_CREATE with BPF_TRACE_ITER; ``read()`` runs it
=====================  ============================================================

fentry/fexit/fmod_ret/lsm/freplace programs go through BPF trampolines; a
kernel that forbids them refuses them at *load* already (EPERM →
:class:`~bpfnb.errors.UnsupportedFeature`), so their classes are mostly
met through :func:`bpfnb.programs.class_for` naming what would have loaded.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import KernelError
from ..kernel.attach import PerfType, perf_event_attr, perf_event_open, tracepoint_id
from ..kernel.fd import Fd
from ..kernel.links import Link, attach_error
from ..kernel.syscall_attach import iter_create
from ..uapi import AttachType, ProgType
from .base import TypedProgram

__all__ = [
    "BtfTracePoint",
    "Extension",
    "FEntry",
    "FExit",
    "FModRet",
    "Iter",
    "IterLink",
    "Lsm",
    "RawTracePoint",
    "SyscallProgram",
    "TracePoint",
]


class TracePoint(TypedProgram):
    """A tracepoint program (``tracepoint/<category>/<name>``, ``tp/...``)."""

    prog_types = (ProgType.TRACEPOINT,)

    def attach(self, category: str | None = None, name: str | None = None, *, cookie: int | None = None) -> Link:
        """Attach to ``category/name`` (default: from the section).

        The perf event is opened on CPU 0 for every process; the program
        runs wherever the tracepoint fires.  ``cookie`` is what
        ``bpf_get_attach_cookie()`` returns in the program.
        """
        if category is None or name is None:
            if category is not None and name is None and "/" in category:
                category, name = category.split("/", 1)
            else:
                target = self._section_target("tracepoint")
                category, name = target.category, target.name
        assert category is not None and name is not None
        label = f"tracepoint {category}/{name}"
        try:
            tp_id = tracepoint_id(category, name)
            event = perf_event_open(perf_event_attr(PerfType.TRACEPOINT, tp_id, sample_period=1), cpu=0,
                                    what=label)
        except KernelError as exc:
            raise attach_error(exc, self.name, label) from exc
        return _perf_link(self, event, label, "perf_event tracepoint", cookie)


def _perf_link(program: TypedProgram, event: Fd, label: str, kind: str, cookie: int | None) -> Link:
    """BPF_LINK_CREATE(BPF_PERF_EVENT) on an open perf event; the link owns the event fd."""
    return program._link_create(event, AttachType.PERF_EVENT, label=label, kind=kind, extra_fds=(event,),
                                bpf_cookie=cookie)


class RawTracePoint(TypedProgram):
    """A raw tracepoint (``raw_tp/<name>``): the tracepoint's raw arguments, no perf event."""

    prog_types = (ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE)

    def attach(self, name: str | None = None) -> Link:
        """Attach to the tracepoint ``name`` (default: from the section)."""
        if name is None:
            name = self._section_target("raw tracepoint").name
        assert name is not None
        return self._raw_tracepoint_open(name, label=f"raw_tp {name}", kind="raw_tracepoint")


class _TrampolineProgram(TypedProgram):
    """Programs whose target was fixed at load by its BTF id: attaching needs no argument."""

    prog_types = (ProgType.TRACING,)
    _kind = "tracing"

    def attach(self) -> Link:
        """Create the link; the attach point is the one the program was loaded for."""
        if self.spec is not None and self.spec.attach_target:
            target = self.spec.attach_target  # as the section spells it (sys_enter, not btf_trace_sys_enter)
        else:
            target = self.attach_target.name if self.attach_target is not None else "?"
        return self._raw_tracepoint_open(None, label=f"{self._kind} {target}", kind=self._kind)


class BtfTracePoint(_TrampolineProgram):
    """``tp_btf/<name>``: a tracepoint with typed (BTF) arguments."""

    _kind = "tp_btf"


class FEntry(_TrampolineProgram):
    """``fentry/<function>``: runs on entry of a kernel function (BPF trampoline)."""

    _kind = "fentry"


class FExit(_TrampolineProgram):
    """``fexit/<function>``: runs on return, with the arguments and the return value."""

    _kind = "fexit"


class FModRet(_TrampolineProgram):
    """``fmod_ret/<function>``: may override the return value of an error-injectable function."""

    _kind = "fmod_ret"


class Lsm(_TrampolineProgram):
    """``lsm/<hook>``: a BPF LSM hook (needs ``bpf`` in the kernel's ``lsm=`` list)."""

    prog_types = (ProgType.LSM,)
    _kind = "lsm"


class Extension(_TrampolineProgram):
    """``freplace/<function>``: replaces a global function of another loaded program."""

    prog_types = (ProgType.EXT,)
    _kind = "freplace"


class IterLink(Link):
    """An iterator link: each :meth:`read` runs the program over the kernel objects once."""

    def read(self, *, chunk: int = 1 << 16) -> str:
        """BPF_ITER_CREATE, then read the new fd to its end: the program's seq_printf output."""
        with iter_create(self.fd) as it:
            parts = []
            while True:
                data = os.read(it.fileno(), chunk)
                if not data:
                    break
                parts.append(data)
        return b"".join(parts).decode("utf-8", errors="replace")

    def lines(self) -> list[str]:
        return self.read().splitlines()


class Iter(TypedProgram):
    """An iterator (``iter/task``, ``iter/bpf_map``...): ``attach()``, then ``link.read()``."""

    prog_types = (ProgType.TRACING,)

    def attach(self, map: Any = None) -> IterLink:
        """Create the iterator link; ``map`` for per-map iterators (``iter/bpf_map_elem``...)."""
        info: bytes | None = None
        if map is not None:
            import struct

            from ..kernel.fd import fd_number

            info = struct.pack("<I4x", fd_number(getattr(map, "fd", map)))  # union bpf_iter_link_info.map
        target = self.attach_target.name.removeprefix("bpf_iter_") if self.attach_target is not None else "?"
        label = f"iter {target}"
        try:
            from ..kernel.syscall_attach import link_create

            fd = link_create(self.fd, 0, AttachType.TRACE_ITER, iter_info=info)
        except KernelError as exc:
            raise attach_error(exc, self.name, label) from exc
        return self._track(IterLink(fd, program=self.name, target=label, kind="iter"))  # type: ignore[return-value]

    def read(self) -> str:
        """Attach, read once, detach: the iterator's output as text."""
        with self.attach() as link:
            return link.read()


class SyscallProgram(TypedProgram):
    """``SEC("syscall")``: runs only through test_run (BPF_PROG_RUN), on a context struct you pass."""

    prog_types = (ProgType.SYSCALL,)

    def run(self, ctx: Any) -> Any:
        """Run once with ``ctx`` (bytes); returns the TestRun with the context as the program left it."""
        return self.test_run(ctx_in=ctx)
