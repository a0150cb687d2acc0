"""`TypedProgram`: a loaded :class:`~bpfnb.kernel.programs.Program` that knows how it attaches.

As in Aya, each program type is a class with its own ``attach`` signature
(``Xdp.attach(ifname, flags)``, ``TracePoint.attach(category, name)``...).
They subclass the kernel ``Program`` rather than wrapping it, so a typed
program *is* the loaded program (same fd, info, pin, xlated view) and code
that took a ``Program`` keeps working.  :func:`bpfnb.programs.as_typed`
turns a plain one into the right class; the fd is shared, not copied.

A typed program keeps the attachments it made (``links``) and detaches
them when it closes — pinned links excepted, which is what pinning is for.
That makes ``Ebpf.close()`` leave nothing attached once the loader hands
out typed programs.

With no arguments, ``attach()`` uses the target the section name spells
(``tracepoint/syscalls/sys_enter_openat``, ``raw_tp/sched_switch``,
``uprobe//bin/bash:readline``, ``tp_btf/...``, ``iter/...``) the way
libbpf's auto-attach does.
"""

from __future__ import annotations

import errno as _errno
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import KernelError
from ..kernel.fd import Fd, FdLike
from ..kernel.links import Attachment, Link, attach_error
from ..kernel.programs import Program
from ..kernel.syscall import prog_test_run
from ..kernel.syscall_attach import link_create, raw_tracepoint_open
from ..uapi import AttachType, ProgType
from .testrun import TestRun, TestRuns

if TYPE_CHECKING:
    from ..obj.section_defs import AttachTarget, ProgramSection

__all__ = ["TypedProgram"]


class TypedProgram(Program):
    """A loaded program with a type-specific ``attach`` and its attachments tracked."""

    #: The program types this class stands for (checked by :meth:`adopt`).
    prog_types: tuple[ProgType, ...] = ()

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def adopt(cls, program: Program) -> TypedProgram:
        """This class's view of ``program``: the same fd and fields, no copy.

        Afterwards use the typed object: it is the one that tracks links.
        """
        if cls.prog_types and program.prog_type not in cls.prog_types:
            raise TypeError(
                f"program {program.name!r} is {getattr(program.prog_type, 'name', program.prog_type)}, "
                f"not a {cls.__name__} ({', '.join(t.name for t in cls.prog_types)})"
            )
        typed = cls.__new__(cls)
        typed.__dict__.update({k: v for k, v in program.__dict__.items() if k != "_typed_view"})
        typed._links = []
        return typed

    def __init__(self, fd: Fd, **kw: Any):
        super().__init__(fd, **kw)
        self._links: list[Attachment] = []

    # -- where the section says it attaches ----------------------------------------------

    @property
    def section(self) -> ProgramSection | None:
        """The parsed section name (type, expected attach type, attach target), if known."""
        if self.spec is None or not self.spec.section:
            return None
        from ..obj.section_defs import match_section

        return match_section(self.spec.section)

    @property
    def expected_attach_type(self) -> AttachType | None:
        if self.spec is not None and self.spec.expected_attach_type is not None:
            return AttachType(self.spec.expected_attach_type)
        return None

    def _section_target(self, what: str) -> AttachTarget:
        """The section's attach target, or a ValueError saying what to pass instead."""
        sec = self.section
        if sec is not None and sec.attach is not None:
            return sec.attach
        named = f"section {self.spec.section!r}" if self.spec is not None else "a program without a section"
        reason = f" ({sec.attach_error})" if sec is not None and sec.attach_error else ""
        raise ValueError(f"program {self.name!r}: {named} names no {what}{reason}; pass it to attach()")

    # -- attachments ------------------------------------------------------------------------

    @property
    def links(self) -> list[Attachment]:
        """The attachments this program made that are still ours (pinned ones included)."""
        return list(self._links)

    def attach(self, *args: Any, **kwargs: Any) -> Attachment:
        raise NotImplementedError(f"{type(self).__name__} programs ({self.prog_type!r}) have no attach() in bpfnb")

    def _track(self, attachment: Attachment) -> Attachment:
        attachment._owned_by(self._links)
        return attachment

    def _link_create(self, target: FdLike, attach_type: AttachType | int, *, label: str, kind: str,
                     extra_fds: tuple[Fd, ...] = (), **kw: Any) -> Link:
        """BPF_LINK_CREATE as a tracked :class:`Link`; refusals become AttachError."""
        try:
            fd = link_create(self.fd, target, attach_type, **kw)
        except KernelError as exc:
            for extra in extra_fds:
                extra.close()
            raise attach_error(exc, self.name, label) from exc
        link = Link(fd, program=self.name, target=label, kind=kind, extra_fds=extra_fds)
        return self._track(link)  # type: ignore[return-value]

    def _raw_tracepoint_open(self, name: str | None, *, label: str, kind: str) -> Link:
        """BPF_RAW_TRACEPOINT_OPEN (raw_tp by name; tracing/LSM programs with None)."""
        try:
            fd = raw_tracepoint_open(name, self.fd)
        except KernelError as exc:
            raise attach_error(exc, self.name, label) from exc
        return self._track(Link(fd, program=self.name, target=label, kind=kind))  # type: ignore[return-value]

    def detach_all(self) -> int:
        """Detach every attachment this program made (pinned links are only closed). Returns how many."""
        count = 0
        for attachment in list(self._links):
            if isinstance(attachment, Link) and attachment.pinned is not None:
                attachment.close()  # pinned: keeps running, as asked
            else:
                attachment.detach()
            count += 1
        return count

    def close(self) -> None:
        """Detach what this program attached (pinned links stay), then close its fd."""
        try:
            self.detach_all()
        finally:
            super().close()

    # -- test runs --------------------------------------------------------------------------

    def test_run(self, data_in: Any = b"", ctx_in: Any = None, repeat: int = 1, **kw: Any) -> TestRun:  # type: ignore[override]
        """BPF_PROG_TEST_RUN, prepared as this program type needs, as a :class:`TestRun`."""
        data = bytes(memoryview(data_in).cast("B")) if data_in is not None else b""
        ptype = self.prog_type
        if ptype in (ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE):
            # The kernel refuses data, data_out, ctx_out and repeat for raw_tp.
            if data:
                raise ValueError("raw tracepoint programs take ctx_in (the u64 args), not data_in")
            r = prog_test_run(self.fd, b"", ctx_in=ctx_in, repeat=0, data_size_out=0, **kw)
            return TestRun(self.name, ptype, r.retval, duration_ns=r.duration_ns, repeat=0)
        if ptype == ProgType.SYSCALL:
            return _syscall_test_run(self, ctx_in)
        r = prog_test_run(self.fd, data, ctx_in=ctx_in, repeat=repeat, **kw)
        return TestRun(self.name, ptype, r.retval, r.data_out, r.ctx_out, r.duration_ns, repeat, len(data))

    def test_runs(self, inputs: Mapping[str, Any], **kw: Any) -> TestRuns:
        """One test run per labelled input (e.g. crafted packets); a table in a notebook."""
        return TestRuns(self.name, {label: self.test_run(data, **kw) for label, data in inputs.items()})

    # -- views --------------------------------------------------------------------------------

    def __repr__(self) -> str:
        base = super().__repr__()
        live = sum(1 for a in self._links if a.attached)
        extra = f" links={live}" if live else ""
        return base.replace("<Program", f"<{type(self).__name__}", 1)[:-1] + extra + ">"

    def _repr_html_(self) -> str:
        from ..display.links import typed_program_html

        return typed_program_html(self)


def _syscall_test_run(program: TypedProgram, ctx_in: Any) -> TestRun:
    """Run a ``syscall`` program: the kernel copies the (modified) context back into ctx_in.

    The generic wrapper copies ``ctx_in`` into a private buffer and never
    reads it back, so this builds the attr itself to return what the
    program wrote as ``ctx_out``.
    """
    from ..kernel._ffi import ffi
    from ..kernel.syscall import _addr, bpf
    from ..uapi import Cmd

    ctx = bytes(memoryview(ctx_in).cast("B")) if ctx_in is not None else b""
    attr = ffi.new("struct bpf_attr_test *")
    attr.prog_fd = program.fd.fileno()
    buf = ffi.new("char[]", ctx) if ctx else None  # cffi-owned: the kernel writes into it
    if buf is not None:
        attr.ctx_in = _addr(buf)
        attr.ctx_size_in = len(ctx)
    try:
        bpf(Cmd.PROG_TEST_RUN, attr, program.name)
    except KernelError as exc:
        if exc.errno == _errno.EINVAL and not ctx:
            raise KernelError(exc.errno, exc.command, f"{program.name}: syscall programs need ctx_in") from exc
        raise
    return TestRun(program.name, program.prog_type, int(attr.retval), ctx_out=ffi.buffer(buf, len(ctx))[:] if buf is not None else b"",
                   repeat=0)
