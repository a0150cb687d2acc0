"""Attachments as objects: :class:`Link` owns a bpf_link fd, the others undo a legacy attach.

Why objects and not bare fds: a link *is* the attachment (closing its last
fd detaches the program unless it is pinned), so whoever holds the fd
decides how long the program runs.  Each attachment here owns exactly what
keeps the program attached and nothing else, and undoes it exactly once:

==========================  ==================================================
:class:`Link`               a bpf_link fd (BPF_LINK_CREATE, RAW_TRACEPOINT_OPEN),
                            plus the perf_event fd a perf link runs on
:class:`SocketAttachment`   ``SO_ATTACH_BPF`` on a socket; undone by ``SO_DETACH_BPF``
:class:`ProgAttachment`     ``BPF_PROG_ATTACH`` on a cgroup/map/netns fd;
                            undone by ``BPF_PROG_DETACH``
:class:`LinkGroup`          several links made by one call (perf events per CPU)
==========================  ==================================================

All share :class:`Attachment`'s interface: ``detach()`` (idempotent),
``attached``, a context manager that detaches on exit, and a notebook view.
``Link`` adds ``pin``/``unpin``, ``info()`` (LinkInfo), ``update(program)``
and the ways to get a link back: :meth:`Link.from_pin`, :meth:`Link.from_id`.

``close()`` and ``detach()`` differ on purpose, as libbpf's
``bpf_link__destroy``/``bpf_link__detach`` do: ``close()`` gives up *our*
fd (a pinned link keeps running), ``detach()`` stops the program running
there (unpinning our pin and asking the kernel with BPF_LINK_DETACH where
the link type supports it).
"""

from __future__ import annotations

import errno as _errno
import logging
import os
import socket as _socket
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..errors import AttachError, KernelError, NotPrivileged
from ..uapi import AttachType, LinkType
from .fd import Fd, FdLike
from .info import LinkInfo, link_info
from .syscall import iter_ids, link_get_fd_by_id, link_get_next_id, obj_get, obj_pin
from .syscall_attach import link_detach, link_update, prog_detach

if TYPE_CHECKING:
    from .programs import Program

__all__ = [
    "Attachment",
    "Link",
    "LinkGroup",
    "ProgAttachment",
    "SO_ATTACH_BPF",
    "SO_DETACH_BPF",
    "SocketAttachment",
    "attach_error",
    "system_links",
]

log = logging.getLogger(__name__)

#: ``setsockopt(SOL_SOCKET, SO_ATTACH_BPF, &prog_fd)`` (asm-generic/socket.h).
SO_ATTACH_BPF = 50
#: ``SO_DETACH_BPF`` is ``SO_DETACH_FILTER``: one socket holds one filter.
SO_DETACH_BPF = 27

#: errnos BPF_LINK_DETACH answers for link types that cannot be detached that way
#: (perf_event, raw_tp, tracing, iter): closing the last fd is their detach.
_NO_LINK_DETACH = frozenset({_errno.EOPNOTSUPP, _errno.EINVAL, 524})


def attach_error(exc: KernelError, program: str, target: str) -> KernelError:
    """The kernel's refusal restated as an AttachError naming program and target.

    NotPrivileged stays what it is (callers catch PermissionError); every
    other KernelError becomes an :class:`~bpfnb.errors.AttachError` with the
    same errno and command, so ``except AttachError`` catches every failed
    attach, whichever syscall refused it.
    """
    if isinstance(exc, (NotPrivileged, AttachError)):
        return exc
    detail = f"program {program!r} -> {target}"
    if exc.detail and exc.detail != target:
        detail += f": {exc.detail}"
    return AttachError(exc.errno or _errno.EINVAL, exc.command, detail, hint=exc.hint)


class Attachment:
    """Something that keeps a program attached; ``detach()`` undoes it once.

    ``kind`` is a short label ("xdp", "tcx ingress", "socket filter"...),
    ``target`` says where (an interface, cgroup path, tracepoint...),
    ``program`` the attached program's name.  Subclasses implement
    ``_undo()`` and ``attached``.
    """

    kind: str = "attachment"

    def __init__(self, *, program: str | None, target: str):
        self.program = program
        self.target = target
        self._owners: list[Any] = []

    @property
    def attached(self) -> bool:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def detach(self) -> None:
        """Stop the program running there; a second call does nothing."""
        if self.attached:
            self._undo()
        self._forget()

    def close(self) -> None:
        """Release what we hold; for non-link attachments that is :meth:`detach`."""
        self.detach()

    def _undo(self) -> None:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def _forget(self) -> None:
        """Leave the lists of the programs that track us (they must not detach us twice)."""
        for owner in self._owners:
            try:
                owner.remove(self)
            except ValueError:
                pass
        self._owners.clear()

    def _owned_by(self, links: list[Any]) -> None:
        links.append(self)
        self._owners.append(links)

    def __enter__(self) -> Attachment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def _state(self) -> str:
        return "attached" if self.attached else "detached"

    def __repr__(self) -> str:
        who = f" {self.program!r}" if self.program else ""
        return f"<{type(self).__name__} {self.kind}{who} -> {self.target} {self._state()}>"

    def _repr_html_(self) -> str:
        from ..display.links import attachment_html

        return attachment_html(self)


class Link(Attachment):
    """One bpf_link: owns its fd (and, for perf links, the perf event's fd).

    Made by the typed programs' ``attach()`` (:mod:`bpfnb.programs`), or
    adopted: :meth:`from_pin`, :meth:`from_id`, :meth:`from_fd`.
    """

    kind = "link"

    def __init__(self, fd: Fd, *, program: str | None = None, target: str = "?", kind: str | None = None,
                 extra_fds: Sequence[Fd] = (), pinned: str | None = None):
        if not isinstance(fd, Fd):
            raise TypeError(f"Link needs an owned Fd, got {fd!r}")
        super().__init__(program=program, target=target)
        self.fd = fd
        if kind is not None:
            self.kind = kind
        #: fds the link runs on and that must live as long as it (a perf event).
        self._extra = list(extra_fds)
        self.pinned = pinned

    # -- adopting existing links -------------------------------------------------------

    @classmethod
    def from_fd(cls, fd: Fd, *, pinned: str | None = None) -> Link:
        """Adopt an owned link fd; program, kind and target are read from its info."""
        try:
            info = link_info(fd)
        except BaseException:
            fd.close()
            raise
        kind = info.type.name.lower() if isinstance(info.type, LinkType) else f"link type {info.type}"
        return cls(fd, program=_prog_name(info.prog_id), target=_describe_target(info), kind=kind, pinned=pinned)

    @classmethod
    def from_pin(cls, path: str | os.PathLike[str]) -> Link:
        """The link pinned at ``path`` (BPF_OBJ_GET); ``detach()`` will also unpin it."""
        fd = obj_get(path)
        if not _is_link_fd(fd):
            fd.close()
            raise KernelError(_errno.EINVAL, "BPF_OBJ_GET", f"{os.fsdecode(path)} holds a pinned {fd.kind}, not a link")
        fd.kind = "link"
        return cls.from_fd(fd, pinned=os.fsdecode(path))

    @classmethod
    def from_id(cls, link_id: int) -> Link:
        """The link with kernel id ``link_id`` (BPF_LINK_GET_FD_BY_ID)."""
        return cls.from_fd(link_get_fd_by_id(link_id))

    # -- state -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.fd.closed

    @property
    def attached(self) -> bool:
        """True while we hold the fd of a link the kernel has not detached."""
        if self.fd.closed:
            return False
        try:
            info = link_info(self.fd)
        except KernelError:
            return False
        # A detached (defunct) link keeps its fd but reports no target any more.
        return not _defunct(info)

    def info(self) -> LinkInfo:
        """LinkInfo now: type, program id and the attach-specific details."""
        return link_info(self.fd)

    @property
    def id(self) -> int:
        return self.info().id

    def fileno(self) -> int:
        return self.fd.fileno()

    # -- operations --------------------------------------------------------------------------

    def pin(self, path: str | os.PathLike[str]) -> None:
        """Pin in bpffs: the link (and its program) outlive this process until unpinned."""
        obj_pin(self.fd, path)
        self.pinned = os.fsdecode(path)

    def unpin(self) -> None:
        if self.pinned is None:
            raise KernelError(_errno.ENOENT, "unpin", f"link {self.kind} -> {self.target} is not pinned (by this object)")
        try:
            os.unlink(self.pinned)
        except FileNotFoundError:
            pass
        self.pinned = None

    def update(self, program: Program | FdLike, *, old_program: Program | FdLike | None = None) -> None:
        """Swap the program this link runs (BPF_LINK_UPDATE), atomically against ``old_program``."""
        new = getattr(program, "fd", program)
        old = getattr(old_program, "fd", old_program) if old_program is not None else None
        link_update(self.fd, new, old_prog_fd=old)
        self.program = getattr(program, "name", self.program)

    def close(self) -> None:
        """Give up our fds.  An unpinned link detaches; a pinned one keeps running."""
        self.fd.close()
        for fd in self._extra:
            fd.close()
        self._forget()

    def _undo(self) -> None:
        if self.pinned is not None:
            self.unpin()
        try:
            link_detach(self.fd)
        except KernelError as exc:
            if exc.errno not in _NO_LINK_DETACH:
                raise
            # perf_event/raw_tp/tracing/iter links: closing the last fd is the detach.

    def detach(self) -> None:
        """Unpin (our pin), BPF_LINK_DETACH where supported, then close."""
        if not self.fd.closed:
            self._undo()
        self.close()

    def _state(self) -> str:
        if self.fd.closed:
            return "closed"
        state = "attached" if self.attached else "detached"
        return state + (f", pinned at {self.pinned}" if self.pinned else "")


class SocketAttachment(Attachment):
    """A socket filter set with ``SO_ATTACH_BPF``; ``detach()`` sets ``SO_DETACH_BPF``.

    The socket is referenced, not owned: closing the socket also drops the
    filter, which ``attached`` then reports.
    """

    kind = "socket filter"

    def __init__(self, sock: _socket.socket, *, program: str | None, prog_id: int | None = None):
        super().__init__(program=program, target=_socket_label(sock))
        self.socket = sock
        self.prog_id = prog_id
        self._done = False

    @property
    def attached(self) -> bool:
        return not self._done and self.socket.fileno() >= 0

    def _undo(self) -> None:
        try:
            self.socket.setsockopt(_socket.SOL_SOCKET, SO_DETACH_BPF, 0)
        except OSError as exc:
            if exc.errno != _errno.ENOENT:  # ENOENT: nothing attached any more (replaced meanwhile)
                raise KernelError(exc.errno or _errno.EINVAL, "setsockopt(SO_DETACH_BPF)", self.target) from exc
        finally:
            self._done = True


class ProgAttachment(Attachment):
    """A BPF_PROG_ATTACH attachment (the pre-link API); ``detach()`` is BPF_PROG_DETACH.

    Owns a dup of the target fd (cgroup directory, map...) and of the program
    fd, so it can detach exactly this program even after the caller closed
    theirs (multi-attach points need the program to say which one).
    """

    kind = "prog_attach"

    def __init__(self, target_fd: Fd, prog_fd: Fd, attach_type: AttachType | int, *, program: str | None,
                 target: str):
        super().__init__(program=program, target=target)
        self.target_fd = target_fd
        self.prog_fd = prog_fd
        self.attach_type = attach_type
        self.kind = f"legacy {attach_type.name.lower() if isinstance(attach_type, AttachType) else attach_type}"

    @property
    def attached(self) -> bool:
        return not self.target_fd.closed

    def _undo(self) -> None:
        try:
            prog_detach(self.target_fd, self.attach_type, prog_fd=self.prog_fd)
        except KernelError as exc:
            if exc.errno != _errno.ENOENT:  # ENOENT: already gone (the target died)
                raise
        finally:
            self.target_fd.close()
            self.prog_fd.close()


class LinkGroup(Attachment):
    """Several links made by one attach call (one perf event per CPU); detached together."""

    kind = "link group"

    def __init__(self, links: Iterable[Link], *, program: str | None, target: str):
        super().__init__(program=program, target=target)
        self.links = list(links)
        if self.links:
            self.kind = f"{self.links[0].kind} x{len(self.links)}"

    @property
    def attached(self) -> bool:
        return any(link.attached for link in self.links)

    def _undo(self) -> None:
        for link in self.links:
            link.detach()

    def close(self) -> None:
        for link in self.links:
            link.close()
        self._forget()

    def __len__(self) -> int:
        return len(self.links)

    def __iter__(self):
        return iter(self.links)


def system_links() -> list[LinkInfo]:
    """Every link on the system now, like ``bpftool link show`` (links freed meanwhile are skipped)."""
    out = []
    for link_id in iter_ids(link_get_next_id):
        try:
            fd = link_get_fd_by_id(link_id)
        except KernelError:
            continue  # gone between the two calls
        with fd:
            out.append(link_info(fd))
    return out


# --- helpers -----------------------------------------------------------------------------


def _is_link_fd(fd: Fd) -> bool:
    """The kernel names a link's anon inode ``bpf_link`` when created, ``bpf-link`` when got from a pin."""
    try:
        return os.readlink(f"/proc/self/fd/{fd.fileno()}") in ("anon_inode:bpf_link", "anon_inode:bpf-link")
    except OSError:
        return False


def _defunct(info: LinkInfo) -> bool:
    """A detached link: the kernel zeroes its target (ifindex, cgroup id...)."""
    d = info.details
    for key in ("ifindex", "cgroup_id", "netns_ino", "map_id"):
        if key in d:
            return not d[key]
    return False


def _prog_name(prog_id: int) -> str | None:
    if not prog_id:
        return None
    from .info import prog_info
    from .syscall import prog_get_fd_by_id

    try:
        with prog_get_fd_by_id(prog_id) as fd:
            return prog_info(fd).name
    except KernelError:
        return None


def _describe_target(info: LinkInfo) -> str:
    """Where a link points, from its info: an interface, a tracepoint, a cgroup..."""
    d = info.details
    if info.unreported is not None:  # the kernel keeps the target to itself (perf_event links before 6.6)
        return f"? ({info.unreported} not reported by this kernel)"
    if "ifindex" in d:
        name = _ifname(d["ifindex"])
        where = name if name else f"ifindex {d['ifindex']}"
        at = d.get("attach_type")
        return f"{where} {at.name.lower()}" if isinstance(at, AttachType) else where
    for key in ("tp_name", "func_name", "file_name", "target_name"):
        if d.get(key):
            return str(d[key])
    if "cgroup_id" in d:
        return f"cgroup id {d['cgroup_id']}"
    if "map_id" in d:
        return f"map id {d['map_id']}"
    if "target_btf_id" in d:
        return f"BTF id {d['target_btf_id']}"
    return "?"


def _ifname(ifindex: int) -> str | None:
    try:
        return _socket.if_indextoname(ifindex) if ifindex else None
    except OSError:
        return None


def _socket_label(sock: _socket.socket) -> str:
    try:
        family = _socket.AddressFamily(sock.family).name
        stype = _socket.SocketKind(sock.type).name
    except (ValueError, OSError):
        return "socket"
    return f"{family}/{stype} socket"
