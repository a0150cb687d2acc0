"""Every error bpfnb raises on purpose.

Messages name *where*: the object file, section, offset, instruction index,
BTF type id or map name, so that a notebook user can act on them without a
traceback.  Each class also subclasses the builtin it means (``ValueError``
for bad input, ``OSError`` for kernel refusals, ``PermissionError`` for
missing privileges), so generic ``except`` clauses keep working.

::

    BpfnbError
    ├── ParseError (ValueError)            bad bytes in an object or BTF blob
    │   ├── ElfError                       not an eBPF ELF, broken headers
    │   ├── SectionError                   a section's contents are malformed
    │   ├── InstructionError               an undecodable instruction
    │   └── BtfError                       .BTF / .BTF.ext / vmlinux BTF
    ├── RelocationError (ValueError)       a reference cannot be resolved
    │   ├── UnknownSymbol
    │   │   └── KsymNotFound               a strong __ksym no BTF (vmlinux, modules) or kallsyms defines
    │   ├── KsymTypeMismatch               a __ksym whose kernel type is incompatible with the object's
    │   ├── SectionNotFound
    │   ├── UnknownFunction
    │   ├── InvalidRelocationOffset
    │   └── CoreRelocationError
    │       ├── ConflictingCandidates
    │       └── InvalidAccessString
    ├── MapError (ValueError)              a map spec cannot become a map
    │   ├── PinMismatch                    a pinned map differs from its spec
    │   ├── StructOpsError                 a struct_ops value that does not fit the kernel's struct
    │   └── UnsafeName                     a name that must not become a path
    ├── ValueEncodingError (ValueError)    a value or bytes that do not fit a BTF type
    ├── UnknownName (KeyError)             a look-up by name found nothing
    └── KernelError (OSError)              bpf() or another syscall said no
        ├── NotPrivileged (PermissionError)
        ├── UnsupportedFeature             this kernel lacks a feature
        ├── VerifierError                  BPF_PROG_LOAD refused, with its log
        ├── BtfLoadError                   BPF_BTF_LOAD refused, with its log
        └── AttachError                    a program loaded but cannot attach
"""

from __future__ import annotations

import errno as _errno
import functools
import os
from collections.abc import Iterable
from typing import Any

__all__ = [
    "AttachError",
    "BpfnbError",
    "BtfError",
    "BtfLoadError",
    "ConflictingCandidates",
    "CoreRelocationError",
    "ElfError",
    "InstructionError",
    "InvalidAccessString",
    "InvalidRelocationOffset",
    "KernelError",
    "KsymNotFound",
    "KsymTypeMismatch",
    "MapError",
    "NotPrivileged",
    "ParseError",
    "PinMismatch",
    "RelocationError",
    "SectionError",
    "SectionNotFound",
    "StructOpsError",
    "UnknownFunction",
    "UnknownName",
    "UnknownSymbol",
    "UnsafeName",
    "UnsupportedFeature",
    "ValueEncodingError",
    "VerifierError",
    "did_you_mean",
]


class BpfnbError(Exception):
    """Base of every error bpfnb raises deliberately."""


# --- parsing ---------------------------------------------------------------


class ParseError(BpfnbError, ValueError):
    """Input bytes that do not form what they claim to be."""


class ElfError(ParseError):
    """The file is not a usable eBPF ELF object."""


class SectionError(ParseError):
    """A section's contents are malformed (``section`` names it)."""

    def __init__(self, message: str, *, section: str | None = None, offset: int | None = None):
        where = []
        if section is not None:
            where.append(f"section {section!r}")
        if offset is not None:
            where.append(f"offset {offset:#x}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.section = section
        self.offset = offset


class InstructionError(ParseError):
    """An instruction that cannot be decoded or encoded."""

    def __init__(self, message: str, *, index: int | None = None, where: str | None = None):
        prefix = " ".join(p for p in (where, f"insn {index}" if index is not None else None) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.index = index
        self.where = where


class BtfError(ParseError):
    """Malformed BTF; ``type_id`` and ``offset`` say where when known."""

    def __init__(self, message: str, *, type_id: int | None = None, offset: int | None = None):
        where = []
        if type_id is not None:
            where.append(f"BTF type #{type_id}")
        if offset is not None:
            where.append(f"offset {offset:#x}")
        super().__init__(f"{' at '.join(where)}: {message}" if where else message)
        self.type_id = type_id
        self.offset = offset


# --- relocation ------------------------------------------------------------


class RelocationError(BpfnbError, ValueError):
    """A relocation that cannot be applied.

    ``program`` and ``index`` name the instruction being patched.
    """

    def __init__(self, message: str, *, program: str | None = None, index: int | None = None):
        prefix = " ".join(p for p in (program, f"insn {index}" if index is not None else None) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.program = program
        self.index = index


class UnknownSymbol(RelocationError):
    """A relocation refers to a symbol index the symbol table lacks."""


class KsymNotFound(UnknownSymbol):
    """A strong ``__ksym`` extern that neither vmlinux BTF nor any loaded module's BTF defines
    (or, untyped, that kallsyms lacks).

    ``ksym`` is the extern's name, ``kind`` "kfunc", "typed" or "untyped",
    ``searched`` the BTFs looked in ("vmlinux" then each module, in order),
    ``modules`` only the modules among them.
    """

    def __init__(self, ksym: str, kind: str, searched: Iterable[str] = (), *, owner: str | None = None,
                 program: str | None = None, index: int | None = None):
        self.ksym = ksym
        self.kind = kind
        self.searched = tuple(searched)
        self.modules = tuple(s for s in self.searched if s not in ("vmlinux", "kallsyms"))
        self.owner = owner
        if kind == "untyped":
            where = "/proc/kallsyms"
        elif self.modules:
            shown = ", ".join(self.modules[:6]) + (f" and {len(self.modules) - 6} more" if len(self.modules) > 6 else "")
            where = f"vmlinux BTF nor in any loaded module's BTF ({len(self.modules)} searched: {shown})"
        else:
            where = "vmlinux BTF (no kernel module BTF is loaded to search)"
        head = f"{owner}: " if owner else ""
        super().__init__(f"{head}{kind} extern {ksym!r} is not in {where}, and not __weak "
                         "(declare it __weak to load without it, or load the module that defines it)",
                         program=program, index=index)

    def __reduce__(self) -> tuple[Any, ...]:  # copy/pickle with the keyword arguments kept
        return (_ksym_not_found, (self.ksym, self.kind, self.searched, self.owner, self.program, self.index),
                self.__dict__)


def _ksym_not_found(ksym: str, kind: str, searched: tuple[str, ...], owner: str | None, program: str | None,
                    index: int | None) -> KsymNotFound:
    return KsymNotFound(ksym, kind, searched, owner=owner, program=program, index=index)


class KsymTypeMismatch(RelocationError):
    """A ``__ksym`` the kernel defines with a type this object's declaration is incompatible with.

    libbpf's rule: a kfunc's prototype, or a typed variable's type, must be
    CO-RE compatible with the kernel's (:func:`bpfnb.btf.core_spec.types_compatible`).
    A weak kfunc that is not is treated as absent (how ``___flavour``
    variants of one kfunc pick the kernel's); a variable that is not is an
    error even when weak.  ``ksym`` is the extern's name, ``kernel_name`` the
    name looked up (the kfunc's without its ``___flavour``), ``where``
    "vmlinux" or the module, ``local`` and ``kernel`` the two declarations in C.
    """

    def __init__(self, ksym: str, kind: str, where: str, local: str, kernel: str, *, kernel_name: str = "",
                 owner: str | None = None, program: str | None = None, index: int | None = None):
        self.ksym = ksym
        self.kind = kind
        self.where = where
        self.local = local
        self.kernel = kernel
        self.kernel_name = kernel_name or ksym
        self.owner = owner
        what = "prototype" if kind == "kfunc" else "type"
        found = f"{where} BTF defines {self.kernel_name!r}" if self.kernel_name != ksym else f"{where} BTF defines it"
        advice = ("declare it as the kernel does, or __weak (one ___flavour per kernel, picked with "
                  "bpf_ksym_exists()) to load without it") if kind == "kfunc" else "declare it with the kernel's type"
        head = f"{owner}: " if owner else ""
        super().__init__(f"{head}{kind} extern {ksym!r}: {found} as `{kernel}`, a {what} incompatible with this "
                         f"object's `{local}` ({advice})", program=program, index=index)

    def __reduce__(self) -> tuple[Any, ...]:  # copy/pickle with the keyword arguments kept
        return (_ksym_type_mismatch, (self.ksym, self.kind, self.where, self.local, self.kernel, self.kernel_name,
                                      self.owner, self.program, self.index), self.__dict__)


def _ksym_type_mismatch(ksym: str, kind: str, where: str, local: str, kernel: str, kernel_name: str,
                        owner: str | None, program: str | None, index: int | None) -> KsymTypeMismatch:
    return KsymTypeMismatch(ksym, kind, where, local, kernel, kernel_name=kernel_name, owner=owner, program=program,
                            index=index)


class SectionNotFound(RelocationError):
    """A relocation refers to a section that is not in the object."""


class UnknownFunction(RelocationError):
    """A bpf-to-bpf call or callback targets no known function."""


class InvalidRelocationOffset(RelocationError):
    """A relocation offset that does not land on an instruction."""


class CoreRelocationError(RelocationError):
    """A CO-RE record that cannot be resolved against the target BTF."""


class ConflictingCandidates(CoreRelocationError):
    """Several target candidates resolve a CO-RE record to different values."""


class InvalidAccessString(CoreRelocationError):
    """A CO-RE access string that does not walk the local type."""


# --- maps and names ----------------------------------------------------------


class MapError(BpfnbError, ValueError):
    """A map spec that cannot become (or be matched to) a kernel map."""


class PinMismatch(MapError):
    """A pinned map whose type, sizes or flags differ from the spec."""


class StructOpsError(MapError):
    """A ``.struct_ops`` value the kernel's struct cannot take: a set member it lacks,
    a member of another kind or size, a function pointer to no struct_ops program."""


class UnsafeName(MapError):
    """A name from an object file that must not become a file path."""


class ValueEncodingError(BpfnbError, ValueError):
    """A Python value (or a byte string) that does not fit a BTF type.

    Raised by the codecs before any syscall, so a bad key never reaches the
    kernel as garbage.  ``path`` names the member (``struct flow_key.sport``).
    """

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        message = str(self)
        if self.path and message.startswith(f"{self.path}: "):
            message = message[len(self.path) + 2 :]
        return (functools.partial(type(self), path=self.path), (message,))


class UnknownName(BpfnbError, KeyError):
    """A look-up by name (program, map, type, global) found nothing."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def did_you_mean(name: str, candidates: Iterable[str], *, limit: int = 3) -> str:
    """``"; did you mean 'task_struct'?"`` for a misspelt name, or "" when nothing is close.

    Only names within a few characters of ``name``'s length are scored, so
    the kernel's ~70k type names cost milliseconds, not a second.
    """
    import difflib

    near = [c for c in candidates if c and abs(len(c) - len(name)) <= 3]
    close = difflib.get_close_matches(name, near, n=limit, cutoff=0.75)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class NameTable(dict):
    """A dict of named things (programs, maps) whose failed look-up says what was asked for.

    ``obj.programs["xdp_cuont"]`` raises :class:`UnknownName` (still a
    ``KeyError``) naming the table, its owner, the close matches, and, for a
    name that exists but did not get this far (a program the verifier
    refused), why: ``reasons`` maps such names to their error.
    """

    def __init__(self, items=(), *, what: str, owner: str, reasons: dict[str, BaseException] | None = None):
        super().__init__(items)
        self.what = what
        self.owner = owner
        self.reasons = dict(reasons or {})

    def __missing__(self, name):
        if name in self.reasons:
            raise UnknownName(f"{self.owner}: {self.what} {name!r} did not load: {self.reasons[name]}") from None
        hint = did_you_mean(name, self) if isinstance(name, str) else ""
        raise UnknownName(f"{self.owner}: no {self.what} named {name!r}{hint}; "
                          f"{len(self)} {self.what}s: {', '.join(sorted(self)[:12]) or 'none'}"
                          f"{', ...' if len(self) > 12 else ''}")

    def __reduce__(self):  # pickle/copy as a NameTable, not by dict's item protocol alone
        return (_name_table, (dict(self), self.what, self.owner, self.reasons))


def _name_table(items, what, owner, reasons):
    return NameTable(items, what=what, owner=owner, reasons=reasons)


# --- kernel ------------------------------------------------------------------

_HINTS = {
    _errno.EPERM: "needs CAP_BPF (or CAP_SYS_ADMIN), or the kernel forbids this operation here",
    _errno.EACCES: "the verifier or an LSM refused access",
    _errno.E2BIG: "a size or count exceeds what this kernel accepts",
    _errno.EINVAL: "the kernel rejected an argument; the log (if any) says which",
    _errno.ENOSPC: "the verifier log buffer was too small",
    _errno.ENOENT: "no such object (map/program/link id, pin path or kernel symbol)",
    _errno.EEXIST: "already exists (pin path or attachment)",
    _errno.EBADF: "the file descriptor is not valid",
    _errno.ENOTSUPP if hasattr(_errno, "ENOTSUPP") else 524: "this kernel does not support the operation",
    _errno.EOPNOTSUPP: "this kernel does not support the operation",
    _errno.EBUSY: "the target already has a program attached",
    _errno.ENOMEM: "out of memory, or RLIMIT_MEMLOCK too low on an old kernel",
}


def errno_name(code: int) -> str:
    """``EPERM`` for 1, and ``ENOTSUPP`` for the kernel-internal 524."""
    if code == 524:
        return "ENOTSUPP"
    return _errno.errorcode.get(code, f"errno {code}")


class KernelError(BpfnbError, OSError):
    """A syscall failed: carries errno, the command and a hint.

    ``OSError`` semantics are kept (``.errno``, ``.strerror``), so
    ``except PermissionError`` style code sees the usual attributes.
    """

    def __init__(self, err: int, command: str, detail: str | None = None, *, hint: str | None = None):
        self.command = command
        self.detail = detail
        self.hint = hint if hint is not None else _HINTS.get(err)
        strerror = os.strerror(err) if err != 524 else "Operation not supported"
        text = f"{command}: {errno_name(err)} ({strerror})"
        if detail:
            text += f" — {detail}"
        if self.hint:
            text += f" [{self.hint}]"
        OSError.__init__(self, err, strerror)
        self._text = text

    def __str__(self) -> str:
        return self._text

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.errno, self.command, self.detail), {"hint": self.hint})


class NotPrivileged(KernelError, PermissionError):
    """The process lacks CAP_BPF/CAP_SYS_ADMIN (or the kernel said EPERM)."""

    def __init__(self, command: str, detail: str | None = None, *, err: int = _errno.EPERM, hint: str | None = None):
        super().__init__(err, command, detail, hint=hint)

    def __reduce__(self) -> tuple[Any, ...]:  # the positional order differs from KernelError's
        return (functools.partial(type(self), err=self.errno, hint=self.hint), (self.command, self.detail))


class UnsupportedFeature(KernelError):
    """This kernel lacks something the object needs; names the feature.

    ``min_version`` is the upstream release that introduced it (``"6.6"``),
    when being older is the reason; it is None when the kernel refuses for
    another reason (compiled out, lockdown, an LSM). Tests rely on the
    difference: below ``min_version`` a refusal is expected, at or above it
    it is a bug (cilium/ebpf's ``UnsupportedFeatureError.MinimumVersion``).
    """

    def __init__(self, feature: str, detail: str | None = None, *, err: int = _errno.EOPNOTSUPP,
                 min_version: str | None = None):
        self.feature = feature
        self.min_version = min_version
        hint = f"needs Linux {min_version} or later" if min_version else "not supported by the running kernel"
        super().__init__(err, feature, detail, hint=hint)

    def __reduce__(self) -> tuple[Any, ...]:
        return (functools.partial(type(self), err=self.errno, min_version=self.min_version),
                (self.feature, self.detail))


_STATS_PREFIXES = ("processed ", "verification time", "stack depth", "max_states_per_insn")


def _is_stats_line(line: str) -> bool:
    """The verifier's closing statistics, which say nothing about *why*."""
    return line.strip().startswith(_STATS_PREFIXES)


class VerifierError(KernelError):
    """BPF_PROG_LOAD refused a program; ``log`` keeps the verifier's text."""

    def __init__(self, err: int, program: str, log: str, *, truncated: bool = False):
        self.program = program
        self.log = log
        self.truncated = truncated
        last = [line for line in log.strip().splitlines() if line.strip() and not _is_stats_line(line)][-2:]
        detail = f"program {program!r} rejected"
        if last:
            detail += ": " + " | ".join(last)
        super().__init__(err, "BPF_PROG_LOAD", detail)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.errno, self.program, self.log), {"truncated": self.truncated})


class BtfLoadError(KernelError):
    """BPF_BTF_LOAD refused a BTF blob; ``log`` keeps the kernel's BTF log.

    Separate from :class:`BtfError` (a parse error, raised before any
    syscall): here the bytes were well-formed enough to send, and the
    kernel's checker said which type it disliked.
    """

    def __init__(self, err: int, log: str, *, truncated: bool = False):
        self.log = log
        self.truncated = truncated
        last = [line for line in log.strip().splitlines() if line.strip()][-2:]
        super().__init__(err, "BPF_BTF_LOAD", " | ".join(last) or None)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.errno, self.log), {"truncated": self.truncated})


class AttachError(KernelError):
    """A loaded program could not be attached to its target."""
