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
from .syscall import obj_pin

__all__ = ["FdOwner", "Pinnable"]

T = TypeVar("T", bound="FdOwner")


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
    """An ``FdOwner`` that can be pinned in bpffs (``pinned`` is the path, or None)."""

    pinned: str | None

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
