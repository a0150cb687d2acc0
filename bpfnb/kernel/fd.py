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


def _close(cell: list[int]) -> None:
    """Close the number in ``cell`` once: shared by ``close()`` and the finalizer.

    The cell is marked closed before ``os.close`` with no call in between, so
    a KeyboardInterrupt can land only before (nothing done: still owned) or
    after (closed): never between "ownership given up" and "closed".
    ``weakref.finalize.__call__`` alone has that gap (it unregisters, then a
    signal handler may raise before it calls us), so ``close()`` calls this
    directly and only then detaches the finalizer, which is a no-op by then.
    """
    number = cell[0]
    if number < 0:
        return
    cell[0] = -1
    try:
        os.close(number)
    except OSError:  # already gone (e.g. closed behind our back): nothing to free
        pass


class Fd:
    """An owned file descriptor; ``kind`` is a label for reprs ("map", "prog"...)."""

    __slots__ = ("_cell", "_number", "_finalizer", "kind", "__weakref__")

    def __init__(self, number: int, kind: str = "fd"):
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise ValueError(f"not a file descriptor: {number!r}")
        self._number = number
        self._cell = [number]  # [-1] once closed or detached
        self.kind = kind
        self._finalizer = weakref.finalize(self, _close, self._cell)

    # --- state -----------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._cell[0] < 0

    def fileno(self) -> int:
        """The descriptor number; ValueError once closed (like a closed file)."""
        if self._cell[0] < 0:
            raise ValueError(f"I/O operation on closed {self.kind} fd")
        return self._number

    __int__ = fileno

    # --- lifetime --------------------------------------------------------

    def close(self) -> None:
        """Close the descriptor; calling it again does nothing."""
        _close(self._cell)
        self._finalizer.detach()

    def detach(self) -> int:
        """Give up ownership and return the number (the caller must close it)."""
        number = self.fileno()
        self._cell[0] = -1  # the finalizer now closes nothing, even if detach() below is interrupted
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
