"""Bounded reads of input files: only regular files, only up to a size limit.

``Object.from_file("/dev/zero")`` used to read until memory ran out, and a
FIFO blocked forever.  Every file bpfnb parses (objects, raw BTF, ELF files
with ``.BTF``) is opened here: non-blocking (a FIFO cannot stall the open),
checked with ``fstat`` to be a regular file no larger than ``max_size``, and
only then read.  Refusals are typed (the caller's error class, naming the
file) before a byte is read.
"""

from __future__ import annotations

import os
import stat
from typing import Callable

__all__ = ["DEFAULT_MAX_SIZE", "default_max_size", "describe_mode", "open_regular", "parse_size", "read_bounded"]

#: Default limit for an input file (objects and BTF): 512 MiB.  vmlinux BTF is ~6 MiB,
#: a large .bpf.o a few MiB; ``max_size=`` (``bpfnb --max-size``) raises it.
DEFAULT_MAX_SIZE = 512 << 20


def default_max_size() -> int:
    """:data:`DEFAULT_MAX_SIZE` as set now (``bpfnb --max-size`` sets it), for limits checked outside file reads."""
    return DEFAULT_MAX_SIZE


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def describe_mode(mode: int) -> str:
    for test, what in _KINDS:
        if test(mode):
            return what
    return "not a regular file"


def parse_size(text: str) -> int:
    """``"512M"``, ``"1G"``, ``"4096"`` → bytes (for ``--max-size``)."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1:], 1)
    number = t[:-1] if mult != 1 else t
    value = int(float(number) * mult)
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return value


def open_regular(path: str, error: Callable[[str], Exception], *, max_size: int | None = None) -> tuple[int, int]:
    """Open ``path`` for reading: ``(fd, size)``; ``error(message)`` builds the refusal.

    The caller owns (and closes) the fd.
    """
    limit = DEFAULT_MAX_SIZE if max_size is None else max_size
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: cannot read: {describe_mode(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise error(f"{path}: {st.st_size} bytes is over the {limit}-byte input limit "
                        "(max_size= or bpfnb --max-size raises it)")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_bounded(path: str, error: Callable[[str], Exception], *, max_size: int | None = None) -> bytes:
    """The whole of a regular file of at most ``max_size`` bytes (default :data:`DEFAULT_MAX_SIZE`)."""
    limit = DEFAULT_MAX_SIZE if max_size is None else max_size
    fd, size = open_regular(path, error, max_size=limit)
    try:
        chunks = []
        total = 0
        want = size + 1  # one more: notices a file that grew (sysfs files may report 4096 or 0)
        while True:
            try:
                chunk = os.read(fd, max(want - total, 1 << 16))
            except OSError as exc:
                raise error(f"{path}: cannot read: {exc.strerror}") from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise error(f"{path}: more than the {limit}-byte input limit "
                            "(max_size= or bpfnb --max-size raises it)")
        return b"".join(chunks)
    finally:
        os.close(fd)
