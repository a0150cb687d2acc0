"""``Fd``: exclusive ownership of one file descriptor.

Every map, program, link and BTF object the kernel hands out is a file
descriptor, and a leaked one keeps the object alive in the kernel.  ``Fd``
closes its descriptor exactly once: explicitly (``close()``, ``with``), or
through ``weakref.finalize`` when the owner is dropped or the interpreter
exits.  Using a closed ``Fd`` raises instead of silently passing a number
that may already belong to someone else.
"""

from __future__ import annotations

import os
import weakref
from typing import Union

__all__ = ["Fd", "FdLike", "fd_number"]


def _close(number: int) -> None:
    try:
        os.close(number)
    except OSError:  # already gone (e.g. closed behind our back): nothing to free
        pass


class Fd:
    """An owned file descriptor; ``kind`` is a label for reprs ("map", "prog"...)."""

    __slots__ = ("_number", "_finalizer", "kind", "__weakref__")

    def __init__(self, number: int, kind: str = "fd"):
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise ValueError(f"not a file descriptor: {number!r}")
        self._number = number
        self.kind = kind
        self._finalizer = weakref.finalize(self, _close, number)

    # --- state -----------------------------------------------------------

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def fileno(self) -> int:
        """The descriptor number; ValueError once closed (like a closed file)."""
        if not self._finalizer.alive:
            raise ValueError(f"I/O operation on closed {self.kind} fd")
        return self._number

    __int__ = fileno

    # --- lifetime --------------------------------------------------------

    def close(self) -> None:
        """Close the descriptor; calling it again does nothing."""
        self._finalizer()

    def detach(self) -> int:
        """Give up ownership and return the number (the caller must close it)."""
        number = self.fileno()
        self._finalizer.detach()
        return number

    def dup(self) -> Fd:
        """A new, independently owned descriptor for the same kernel object.

        ``F_DUPFD_CLOEXEC`` with a floor of 3 keeps the copy away from
        stdin/stdout/stderr even when one of them is closed.
        """
        import fcntl

        return Fd(fcntl.fcntl(self.fileno(), fcntl.F_DUPFD_CLOEXEC, 3), self.kind)

    def __enter__(self) -> Fd:
        self.fileno()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"<Fd {self.kind} closed>"
        return f"<Fd {self.kind} {self._number}>"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


FdLike = Union[Fd, int]


def fd_number(fd: FdLike) -> int:
    """The number to put into a syscall attr, from an ``Fd`` or a plain int."""
    if isinstance(fd, Fd):
        return fd.fileno()
    if isinstance(fd, int) and not isinstance(fd, bool) and fd >= 0:
        return fd
    raise TypeError(f"expected an Fd or a non-negative int, got {fd!r}")
