"""The running kernel's version, read the way libbpf reads it.

One parser for three users: ``LINUX_KERNEL_VERSION`` (the ``.kconfig``
extern), ``kern_version`` of kprobe loads on old kernels, and feature gates
that compare with a feature's minimum version.  ``uname -r`` alone is not
enough: Debian's release is ``6.1.0-44-amd64`` for a 6.1.176 kernel, and
the real version is in ``uname -v`` (Ubuntu keeps it in
``/proc/version_signature``).
"""

from __future__ import annotations

import functools
import os
import re
from typing import NamedTuple

__all__ = ["KernelVersion", "running_kernel"]

_NUMBERS = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


class KernelVersion(NamedTuple):
    """``major.minor.patch``; compares as a tuple, so ``running_kernel() >= KernelVersion.parse("6.6")``."""

    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> KernelVersion:
        """The first ``a.b[.c]`` in ``text``; ValueError when there is none."""
        m = _NUMBERS.search(text)
        if m is None:
            raise ValueError(f"no kernel version in {text!r}")
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))

    @property
    def code(self) -> int:
        """``KERNEL_VERSION(a, b, c)``, the patch capped at 255 as the kernel's macro does."""
        return (self.major << 16) | (self.minor << 8) | min(self.patch, 255)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def _distribution_version(uname_version: str) -> KernelVersion | None:
    """Debian and Ubuntu keep the upstream version outside ``uname -r``."""
    try:
        with open("/proc/version_signature", encoding="ascii", errors="replace") as f:
            # "Ubuntu 5.15.0-91.101-generic 5.15.131": the last field is upstream.
            return KernelVersion.parse(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        pass
    m = re.search(r" Debian (\d+\.\d+\.\d+)", uname_version)
    return KernelVersion.parse(m.group(1)) if m else None


@functools.cache
def running_kernel() -> KernelVersion:
    """The version of the kernel this process runs on (cached)."""
    uname = os.uname()
    found = _distribution_version(uname.version)
    if found is not None:
        return found
    try:
        return KernelVersion.parse(uname.release)
    except ValueError:
        return KernelVersion(0, 0, 0)
