"""Mixins for the live objects that own one kernel file descriptor.

``Map``, ``Program`` and ``LoadedBtf`` each hold exactly one :class:`Fd`;
closing, ``with`` blocks and (for maps and programs) pinning in bpffs work
the same way for all of them, so they are written once here.
"""

from __future__ import annotations

import errno
import os
from typing import TypeVar

from ..errors import BpfnbError, KernelError
from .fd import Fd
from .syscall import obj_get, obj_pin

__all__ = ["FdOwner", "Pinnable"]

T = TypeVar("T", bound="FdOwner")
P = TypeVar("P", bound="Pinnable")


class FdOwner:
    """An object whose kernel side lives exactly as long as its ``fd``."""

    fd: Fd

    @property
    def closed(self) -> bool:
        return self.fd.closed

    def close(self) -> None:
        self.fd.close()

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Pinnable(FdOwner):
    """An ``FdOwner`` that can be pinned in bpffs (``pinned`` is the path, or None).

    Subclasses are constructed as ``cls(fd, pinned=...)`` and name the kind
    of object ``BPF_OBJ_GET`` must report for their pins (``_pin_kind``).
    """

    pinned: str | None
    _pin_kind: str = ""

    @classmethod
    def _adopt(cls: type[P], fd: Fd, pinned: str | None = None) -> P:
        """Wrap ``fd``; if construction fails (info query...), the fd is closed, not leaked."""
        try:
            return cls(fd, pinned=pinned)  # type: ignore[call-arg]
        except BaseException:
            fd.close()
            raise

    @classmethod
    def _open_pin(cls: type[P], path: str | os.PathLike[str]) -> P:
        """Open a pin, refusing one that holds another kind of object."""
        fd = obj_get(path)
        if fd.kind != cls._pin_kind:
            fd.close()
            raise cls._wrong_pin(os.fsdecode(path), fd.kind)
        return cls._adopt(fd, pinned=os.fsdecode(path))

    @classmethod
    def _wrong_pin(cls, path: str, kind: str) -> BpfnbError:
        return KernelError(errno.EINVAL, "BPF_OBJ_GET", f"{path} holds a pinned {kind}, not a {cls._pin_kind}")

    def pin(self, path: str | os.PathLike[str]) -> None:
        """Pin at ``path`` in bpffs: the object outlives this process until unpinned."""
        obj_pin(self.fd, path)
        self.pinned = os.fsdecode(path)

    def unpin(self) -> None:
        """Remove the pin this object made or was opened from (it lives on while open)."""
        if self.pinned is None:
            raise self._not_pinned()
        os.unlink(self.pinned)
        self.pinned = None

    def _not_pinned(self) -> BpfnbError:
        return KernelError(errno.ENOENT, "unpin", f"{self!r} is not pinned (by this object)")
