"""Live programs and the *load* stage: RelocatedProgram → BPF_PROG_LOAD → :class:`Program`.

:func:`load_program` fills everything ``BPF_PROG_LOAD`` wants from the
relocated program and its spec, the way libbpf's ``bpf_object_load_prog``
does: type and expected attach type from the section, the kernel name
(sanitised), license and kernel version, ``func_info``/``line_info``
against the loaded object BTF, ``BPF_F_SLEEPABLE`` for ``.s`` sections and
``BPF_F_XDP_HAS_FRAGS`` for ``xdp.frags``, and for BTF-attached programs
(fentry/fexit/fmod_ret, lsm, tp_btf, iter) the ``attach_btf_id`` of the
target in the kernel's BTF, named as the kernel expects:

===================  ===============================  ==========
section              BTF name looked up               kind
===================  ===============================  ==========
fentry/fexit/fmod_ret  ``<function>``                 FUNC
lsm, lsm_cgroup      ``bpf_lsm_<hook>``               FUNC
tp_btf               ``btf_trace_<tracepoint>``       TYPEDEF
iter                 ``bpf_iter_<target>``            FUNC
===================  ===============================  ==========

Failures raise :class:`~bpfnb.errors.VerifierError` with a parsed
:class:`~bpfnb.kernel.verifier.VerifierLog` in ``.verifier_log``; the
kernel's EPERM for a BTF-attached program from a privileged process becomes
an :class:`~bpfnb.errors.UnsupportedFeature` naming what is refused: "bpf
iterators" for ``iter/``, "BPF trampolines" for fentry/fexit/fmod_ret/lsm/
freplace, with the kernel's lockdown mode when it has one.
"""

from __future__ import annotations

import errno as _errno
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import KernelError, NotPrivileged, UnknownName, UnsupportedFeature, VerifierError
from ..uapi import AttachType, ProgType
from .fd import Fd, FdLike
from .info import ProgInfo, btf_info, kernel_btf_objects, prog_info
from .owned import Pinnable
from .privilege import describe_lockdown, is_privileged
from .syscall import (
    BPF_F_SLEEPABLE,
    TestRunResult,
    btf_get_fd_by_id,
    prog_get_fd_by_id,
    prog_load,
    prog_test_run,
)
from .verifier import VerifierLog, source_positions
from .version import KernelVersion, running_kernel

if TYPE_CHECKING:
    from ..asm import Instructions
    from ..btf import Btf
    from ..obj.programs import ProgramSpec
    from ..obj.relocate import RelocatedProgram

__all__ = ["AttachBtfTarget", "BPF_F_XDP_HAS_FRAGS", "Program", "decode_xlated", "load_program", "resolve_attach_btf",
           "xlated_source_lines"]

log = logging.getLogger(__name__)

#: prog_flags bit for XDP programs that accept multi-buffer packets (``xdp.frags``).
BPF_F_XDP_HAS_FRAGS = 1 << 5

_TRAMPOLINE_TYPES = frozenset({ProgType.TRACING, ProgType.LSM, ProgType.EXT})
#: expected attach type -> (BTF name prefix, BTF kind) of the attach target.
_BTF_TARGETS: dict[AttachType, tuple[str, str]] = {
    AttachType.TRACE_FENTRY: ("", "FUNC"),
    AttachType.TRACE_FEXIT: ("", "FUNC"),
    AttachType.MODIFY_RETURN: ("", "FUNC"),
    AttachType.LSM_MAC: ("bpf_lsm_", "FUNC"),
    AttachType.LSM_CGROUP: ("bpf_lsm_", "FUNC"),
    AttachType.TRACE_RAW_TP: ("btf_trace_", "TYPEDEF"),
    AttachType.TRACE_ITER: ("bpf_iter_", "FUNC"),
}


# --- attach targets in kernel BTF --------------------------------------------------


@dataclass(frozen=True)
class AttachBtfTarget:
    """Where a BTF-attached program's target lives: a type id in vmlinux or a module's BTF."""

    name: str
    kind: str
    btf_id: int
    #: "vmlinux" or the module name.
    btf_name: str = "vmlinux"
    #: Kernel id of the module's BTF object (0 for vmlinux: no attach_btf_obj_fd needed).
    btf_obj_id: int = 0


def _module_btf_obj_id(module: str) -> int:
    """The kernel's id of a module's BTF object (its name in BPF_OBJ_GET_INFO_BY_FD)."""
    for obj_id, name in kernel_btf_objects():
        if name == module:
            return obj_id
    raise UnknownName(f"no loaded kernel BTF object for module {module!r}")


def resolve_attach_btf(spec: ProgramSpec, *, target_btf: Btf | None = None) -> AttachBtfTarget | None:
    """The attach target of a BTF-attached program, or None for other programs.

    The target name comes from the section (``fentry/do_unlinkat``);
    ``module:function`` looks only in that module.  Without ``module`` the
    kernel's vmlinux BTF is searched first, then every module's split BTF
    (as libbpf does).  A target found nowhere raises UnknownName naming it.
    """
    attach = spec.expected_attach_type
    if attach not in _BTF_TARGETS or spec.prog_type not in (ProgType.TRACING, ProgType.LSM):
        return None
    prefix, kind = _BTF_TARGETS[attach]
    target = spec.attach_target or ""
    module = None
    if ":" in target:
        module, target = target.split(":", 1)
    if not target:
        raise UnknownName(f"program {spec.name!r}: section {spec.section!r} names no attach target")
    btf_name = prefix + target
    from ..btf import Btf

    if module is None:
        vmlinux = target_btf if target_btf is not None else Btf.from_sys_fs()
        found = vmlinux.find_all(btf_name, kind)
        if found:
            return AttachBtfTarget(btf_name, kind, found[0].id)
        modules = _module_names()
    else:
        modules = [module]
    for mod in modules:
        try:
            mbtf = Btf.from_sys_fs(mod)
        except UnknownName:
            continue
        found = [t for t in mbtf.find_all(btf_name, kind) if t.id >= mbtf.start_id]
        if found:
            return AttachBtfTarget(btf_name, kind, found[0].id, mod, _module_btf_obj_id(mod))
    where = f"module {module!r}" if module is not None else "vmlinux or any module BTF"
    raise UnknownName(f"program {spec.name!r}: attach target {target!r} ({kind} {btf_name!r}) is not in {where}")


def _module_names() -> list[str]:
    try:
        return sorted(n for n in os.listdir("/sys/kernel/btf") if n != "vmlinux")
    except OSError:
        return []


def _ext_target(spec: ProgramSpec, attach_prog_fd: FdLike) -> int:
    """``freplace``: the BTF id of the replaced function in the target program's BTF."""
    from ..btf import Btf

    target = spec.attach_target or ""
    info = prog_info(attach_prog_fd)
    if not info.btf_id:
        raise UnknownName(f"program {spec.name!r}: the target program has no BTF to find {target!r} in")
    with btf_get_fd_by_id(info.btf_id) as fd:
        blob = btf_info(fd, data=True).data or b""
    found = Btf.from_bytes(blob, source=f"program {info.name} BTF").find_all(target, "FUNC")
    if not found:
        raise UnknownName(f"program {spec.name!r}: target program {info.name!r} has no function {target!r}")
    return found[0].id


# --- the live program ----------------------------------------------------------------------


class Program(Pinnable):
    """One loaded program: owns its fd; renders its info and xlated code."""

    def __init__(self, fd: Fd, *, spec: ProgramSpec | None = None, name: str | None = None,
                 verifier_log: VerifierLog | None = None, pinned: str | None = None):
        if not isinstance(fd, Fd):
            raise TypeError(f"Program needs an owned Fd, got {fd!r}")
        self.fd = fd
        self.spec = spec
        info = prog_info(fd)
        self.name = name or (spec.name if spec is not None else info.name)
        self.kernel_name = info.name
        self.prog_type = info.type
        self.tag = info.tag
        #: The log of the successful load, when a log level was asked for.
        self.verifier_log = verifier_log
        self.pinned = pinned
        #: The BTF-attach target it was loaded for (fentry/lsm/tp_btf/iter), if any.
        self.attach_target: AttachBtfTarget | None = None

    @classmethod
    def from_id(cls, prog_id: int) -> Program:
        return cls._adopt(prog_get_fd_by_id(prog_id))

    @classmethod
    def from_pin(cls, path: str | os.PathLike[str]) -> Program:
        return cls._open_pin(path)

    _pin_kind = "prog"

    @classmethod
    def _wrong_pin(cls, path: str, kind: str) -> KernelError:
        return KernelError(_errno.EINVAL, "BPF_OBJ_GET", f"{path} holds a pinned {kind}, not a program")

    # -- kernel views -----------------------------------------------------------------------

    def info(self, *, xlated: bool = False) -> ProgInfo:
        """ProgInfo now (run counters change); ``xlated=True`` also copies the instructions."""
        return prog_info(self.fd, xlated=xlated)

    @property
    def id(self) -> int:
        return self.info().id

    def xlated(self) -> Instructions:
        """The instructions as the kernel keeps them after verification (``bpftool prog dump xlated``),
        with the C source line above each instruction that starts one when the program was
        loaded with BTF line info (``bpftool prog dump xlated linum`` shows the same)."""
        data = self.info(xlated=True).xlated
        if not data:  # the kernel hides them from readers without CAP_SYS_ADMIN/CAP_PERFMON
            raise NotPrivileged("BPF_OBJ_GET_INFO_BY_FD", f"program {self.name!r}: no xlated instructions returned")
        insns = decode_xlated(data, name=self.name)
        try:
            lines = self.source_lines()
        except KernelError as exc:  # line info is a nicety: the code is what was asked for
            log.debug("program %r: no line info: %s", self.name, exc)
            lines = {}
        return insns.with_source_lines(lines) if lines else insns

    def source_lines(self) -> dict[int, str]:
        """xlated slot → ``file:line: source`` from the line info the kernel kept (empty without)."""
        return xlated_source_lines(self.fd)

    def test_run(self, data_in: Any = b"", ctx_in: Any = None, repeat: int = 1, **kw: Any) -> TestRunResult:
        """BPF_PROG_TEST_RUN: retval, data_out, ctx_out and mean duration per run (ns).

        ``syscall`` programs run once on ``ctx_in`` only: the kernel refuses
        any ``repeat`` for them, so the default is dropped.
        """
        if self.prog_type == ProgType.SYSCALL and repeat == 1:
            repeat = 0
        return prog_test_run(self.fd, data_in, ctx_in=ctx_in, repeat=repeat, **kw)

    # -- pins and lifetime (pin, unpin, close, with: Pinnable) ----------------------------------

    def _not_pinned(self) -> KernelError:
        return KernelError(_errno.ENOENT, "unpin", f"program {self.name!r} is not pinned (by this object)")

    def __repr__(self) -> str:
        ptype = self.prog_type.name.lower() if isinstance(self.prog_type, ProgType) else f"type {self.prog_type}"
        state = " closed" if self.closed else (" pinned" if self.pinned else "")
        return f"<Program {self.name!r} {ptype} tag={self.tag}{state}>"

    def _repr_html_(self) -> str:
        from ..display.kernel_programs import program_html

        return program_html(self)


def xlated_source_lines(fd: FdLike) -> dict[int, str]:
    """The kernel's line info for a loaded program, resolved through the program's BTF.

    ``struct bpf_line_info`` records (``insn_off`` in xlated instruction
    slots, offsets of the file name and source line in the program's BTF
    string section, ``line << 10 | column``) come from a second
    BPF_OBJ_GET_INFO_BY_FD with a buffer sized by the first; the strings
    from the BTF object the program was loaded with (``btf_id``).
    """
    import struct

    from ..btf import Btf
    from ._ffi import ffi
    from .info import _get_info

    first = _get_info(fd, "struct bpf_prog_info")
    count, rec_size, btf_id = int(first.nr_line_info), int(first.line_info_rec_size), int(first.btf_id)
    if not count or not btf_id or rec_size < 16:
        return {}
    second = ffi.new("struct bpf_prog_info *")
    buf = ffi.new("char[]", count * rec_size)
    second.nr_line_info = count
    second.line_info_rec_size = rec_size
    second.line_info = int(ffi.cast("uintptr_t", buf))
    _get_info(fd, "struct bpf_prog_info", second)
    raw = ffi.buffer(buf, count * rec_size)[:]
    with btf_get_fd_by_id(btf_id) as bfd:
        blob = btf_info(bfd, data=True).data or b""
    strings = Btf.from_bytes(blob, source=f"program BTF id {btf_id}")._strings
    out: dict[int, str] = {}
    for i in range(min(count, int(second.nr_line_info))):
        insn_off, file_off, line_off, line_col = struct.unpack_from("<IIII", raw, i * rec_size)
        text = strings.get(line_off) if line_off else ""
        if not text:
            continue
        fname = (strings.get(file_off) or "?").rsplit("/", 1)[-1]
        out[insn_off] = f"{fname}:{line_col >> 10}: {text.strip()}"
    return out


def decode_xlated(data: bytes, *, name: str | None = None) -> Instructions:
    """Decode the kernel's xlated dump, keeping instructions only the kernel may emit.

    The verifier rewrites some instructions into internal forms the ISA
    does not define for programs (e.g. the per-CPU address move, a ``mov``
    with ``off=-1``); :func:`bpfnb.asm.decode` rightly refuses those in an
    object file, but a dump must show them: they are kept as they are and
    annotated "kernel-internal".
    """
    import struct

    from ..asm import Instructions
    from ..asm.instruction import _unchecked, decode
    from ..errors import InstructionError

    raw = bytes(data)
    out: list[Any] = []
    notes: dict[int, list[str]] = {}
    pos = 0
    while pos < len(raw):
        try:
            out.extend(decode(raw[pos:], where=name))
            break
        except InstructionError as exc:
            bad = exc.index or 0
            if pos + bad * 8 + 8 > len(raw):  # a truncated dump: nothing sensible to keep
                raise
            out.extend(decode(raw[pos : pos + bad * 8], where=name))
            code, regs, off, imm = struct.unpack_from("<BBhi", raw, pos + bad * 8)
            notes[pos // 8 + bad] = [f"kernel-internal: {exc}"]
            out.append(_unchecked(code, regs & 0xF, regs >> 4, off, imm))
            pos += (bad + 1) * 8
    return Instructions(out, annotations=notes, name=name, kernel_dump=True)


# --- loading ---------------------------------------------------------------------------------


def _xdp_frags(spec: ProgramSpec) -> bool:
    from ..obj.section_defs import match_section

    sec = match_section(spec.section)
    return bool(sec is not None and sec.sec_def.xdp_frags)


def _kern_version(spec: ProgramSpec, kern_version: int | None) -> int:
    if kern_version is not None:
        return kern_version
    if spec.kernel_version:
        return spec.kernel_version
    if spec.prog_type == ProgType.KPROBE:  # very old kernels checked it for kprobes; libbpf fills it in
        return running_kernel().code
    return 0


def _explain(exc: VerifierError, relocated: RelocatedProgram) -> None:
    """The parsed log, plus what only the loader knows: which CO-RE record poisoned the failing instruction."""
    from .verifier import explain_poisoned

    explanations = explain_poisoned(exc.log, relocated)
    vlog = VerifierLog(exc.log, loaded=False, explanations=explanations, line_info=source_positions(relocated))
    exc.verifier_log = vlog  # type: ignore[attr-defined]
    exc.explanation = None  # type: ignore[attr-defined]
    exc.core_relocation = None  # type: ignore[attr-defined]
    reasons = vlog.error_explanations
    if reasons:
        exc.explanation = "; ".join(reasons)  # type: ignore[attr-defined]
        slot = vlog.error_index
        starts = {n: s for n, s in relocated.subprograms} | {relocated.name: 0}
        exc.core_relocation = next(  # type: ignore[attr-defined]
            (r for r in relocated.core_relocations if r.poisoned and slot is not None and r.program in starts
             and starts[r.program] + r.slot in (slot, slot - 1)), None)
        exc.index = slot  # type: ignore[attr-defined]
        exc._text = f"{exc._text} — {exc.explanation}"


def load_program(relocated: RelocatedProgram, *, btf_fd: FdLike | None = None, log_level: int = 0,
                 kern_version: int | None = None, prog_flags: int = 0, attach_prog_fd: FdLike | None = None,
                 target_btf: Btf | None = None, name: str | None = None,
                 attach_btf: AttachBtfTarget | None = None, expected_attach_type: int | None = None) -> Program:
    """Load one relocated program; the verifier's verdict decides what comes back.

    ``btf_fd`` is the object's BTF as loaded (``BPF_BTF_LOAD``): with it the
    program carries ``func_info``/``line_info`` and the verifier log shows
    source lines.  ``log_level`` > 0 keeps the log of a successful load in
    ``Program.verifier_log``; a failed load always carries one (level 1 is
    asked for on retry).  ``target_btf`` replaces ``/sys/kernel/btf/vmlinux``
    when looking up an attach target; ``attach_prog_fd`` is the program a
    ``freplace`` (EXT) program replaces a function of.  ``attach_btf`` is a
    target the caller resolved (a struct_ops program's kernel struct, which
    its map decides, not its section) and ``expected_attach_type`` then its
    member index, a number the spec's AttachType cannot hold.
    """
    spec = relocated.spec
    label = name or spec.name
    if spec.prog_type is None:
        raise UnknownName(f"program {label!r}: section {spec.section!r} has no known program type "
                          "(give one with EbpfLoader.set_program_type)")
    flags = prog_flags
    if spec.sleepable:
        flags |= BPF_F_SLEEPABLE
    if spec.prog_type == ProgType.XDP and _xdp_frags(spec):
        flags |= BPF_F_XDP_HAS_FRAGS
    target = attach_btf if attach_btf is not None else resolve_attach_btf(spec, target_btf=target_btf)
    attach_type = spec.expected_attach_type if expected_attach_type is None else expected_attach_type
    attach_btf_id = target.btf_id if target is not None else 0
    attach_obj_fd: Fd | None = None
    if spec.prog_type == ProgType.EXT:
        if attach_prog_fd is None:
            raise UnknownName(f"program {label!r}: freplace needs attach_prog_fd (the program it replaces)")
        attach_btf_id = _ext_target(spec, attach_prog_fd)
    kw: dict[str, Any] = {}
    if btf_fd is not None:
        kw.update(prog_btf_fd=btf_fd,
                  func_info=relocated.func_info_bytes(), func_info_rec_size=relocated.func_info_rec_size,
                  line_info=relocated.line_info_bytes(), line_info_rec_size=relocated.line_info_rec_size)
    try:
        if target is not None and target.btf_obj_id:
            attach_obj_fd = btf_get_fd_by_id(target.btf_obj_id)
        result = prog_load(
            spec.prog_type, relocated.to_bytes(), spec.license, name=label,
            expected_attach_type=attach_type or 0, kern_version=_kern_version(spec, kern_version),
            prog_flags=flags, attach_btf_id=attach_btf_id, attach_btf_obj_fd=attach_obj_fd,
            attach_prog_fd=attach_prog_fd, fd_array=relocated.fd_array or None, log_level=log_level, **kw,
        )
    except KernelError as exc:
        if isinstance(exc, VerifierError):
            _explain(exc, relocated)
        if not isinstance(exc, NotPrivileged):
            _refine_eperm(exc, spec, label, target)
            _refine_isa(exc, relocated, label)
        raise
    finally:
        if attach_obj_fd is not None:
            attach_obj_fd.close()
    vlog = VerifierLog(result.log, loaded=True, line_info=source_positions(relocated)) if log_level else None
    try:
        program = Program(result.fd, spec=spec, name=label, verifier_log=vlog)
    except BaseException:
        result.fd.close()
        raise
    program.attach_target = target
    return program


#: expected attach type -> (feature, upstream release) for TRACING programs that use no trampoline.
_TRACING_FEATURES: dict[AttachType, tuple[str, str]] = {
    AttachType.TRACE_ITER: ("bpf iterators", "5.8"),
    AttachType.TRACE_RAW_TP: ("BTF tracepoints (tp_btf)", "5.5"),
}
_TRAMPOLINES = "BPF trampolines (fentry/fexit/fmod_ret/lsm/freplace)"
#: The oldest release of each trampoline attach type (EXT has no expected attach type).
_TRAMPOLINE_SINCE: dict[AttachType, str] = {
    AttachType.TRACE_FENTRY: "5.5", AttachType.TRACE_FEXIT: "5.5", AttachType.MODIFY_RETURN: "5.7",
    AttachType.LSM_MAC: "5.7", AttachType.LSM_CGROUP: "6.0",
}


def _btf_feature(spec: ProgramSpec) -> tuple[str, str]:
    """(feature name, minimum release) of a TRACING/LSM/EXT program, by its expected attach type."""
    attach = spec.expected_attach_type
    if spec.prog_type == ProgType.TRACING and attach in _TRACING_FEATURES:
        return _TRACING_FEATURES[attach]
    if spec.prog_type == ProgType.EXT:
        return _TRAMPOLINES, "5.6"
    return _TRAMPOLINES, _TRAMPOLINE_SINCE.get(attach, "5.5") if attach is not None else "5.5"


def _refine_isa(exc: KernelError, relocated: RelocatedProgram, label: str) -> None:
    """EINVAL for a program with instructions newer than the kernel: that ISA extension is missing.

    The verifier says only "unknown opcode" or "invalid BPF_LD_IMM uses
    reserved fields"; the instruction's extension and the release that
    added it (``bpfnb.asm.versions``) say what to change: the kernel, or
    ``-mcpu`` when compiling.
    """
    if exc.errno != _errno.EINVAL:
        return
    from ..asm import format_instruction
    from ..asm.versions import newer_than

    kernel = running_kernel()
    for slot, insn in relocated.instructions.slots():
        feature = newer_than(insn, kernel)
        if feature is not None:
            err = UnsupportedFeature(
                feature, f"program {label!r} insn {slot}: {format_instruction(insn)}; this kernel is {kernel}",
                err=exc.errno, min_version=feature.min_version)
            err.program = label  # type: ignore[attr-defined]
            err.index = slot  # type: ignore[attr-defined]
            err.log = getattr(exc, "log", "")  # type: ignore[attr-defined]  # kept: a stored error has no __cause__
            raise err from exc


def _refine_eperm(exc: KernelError, spec: ProgramSpec, label: str, target: AttachBtfTarget | None) -> None:
    """A BTF-attached program refused for what it is, not for a bad program.

    EPERM from a privileged process is policy: lockdown, an LSM or the
    build (``min_version`` None, the lockdown mode named when the kernel
    has one).  An iterator (``iter/``) is a "bpf iterators" refusal, a
    ``tp_btf`` program a "BTF tracepoints" one, and only fentry/fexit/
    fmod_ret/lsm/freplace are "BPF trampolines".  EINVAL on a kernel older
    than the feature's release is that feature's absence, with its
    ``min_version``.
    """
    if spec.prog_type not in _TRAMPOLINE_TYPES:
        return
    feature, since = _btf_feature(spec)
    what = f" to {target.name} (BTF id {target.btf_id})" if target is not None else ""
    if exc.errno == _errno.EPERM and is_privileged():
        # struct_ops programs use trampolines too and may load where these do not: name what is refused
        kind = {"bpf iterators": "bpf iterators are",
                _TRAMPOLINES: "fentry/fexit/fmod_ret/lsm/freplace programs are"}.get(
            feature, f"{feature} programs are")
        err = UnsupportedFeature(
            feature,
            f"program {label!r} ({spec.section}){what}: the kernel answered EPERM although this process has "
            f"CAP_BPF — {kind} refused by policy on this kernel: {describe_lockdown()}",
            err=_errno.EPERM,
        )
    elif exc.errno in (_errno.EINVAL, _errno.EOPNOTSUPP, 524) and running_kernel() < KernelVersion.parse(since):
        err = UnsupportedFeature(feature, f"program {label!r} ({spec.section}){what}: this kernel is "
                                 f"{running_kernel()}", err=exc.errno, min_version=since)
    else:
        return
    err.attach_target = target  # type: ignore[attr-defined]
    err.program = label  # type: ignore[attr-defined]
    raise err from exc
