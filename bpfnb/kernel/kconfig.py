"""The running kernel's configuration, for ``.kconfig`` externs.

libbpf reads ``/boot/config-$(uname -r)`` first and ``/proc/config.gz``
second; so do we.  The values stay text (``y``, ``250``, ``"-fc"``): how
each becomes bytes depends on the extern's BTF type, which
:mod:`bpfnb.obj.kconfig` decides.
"""

from __future__ import annotations

import functools
import gzip
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import UnknownName
from .version import running_kernel

if TYPE_CHECKING:
    from ..obj import Object
    from ..obj.data import DataSection

__all__ = ["kconfig_data_section", "kernel_config", "linux_kernel_version", "parse_kernel_config"]

_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")


def parse_kernel_config(text: str) -> dict[str, str]:
    """``CONFIG_X=value`` lines; comments (including "is not set") are skipped, as libbpf does."""
    out = {}
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


@functools.cache
def kernel_config() -> Mapping[str, str]:
    """This kernel's configuration (cached); UnknownName when neither file exists."""
    release = os.uname().release
    boot = f"/boot/config-{release}"
    if os.path.exists(boot):
        with open(boot, encoding="utf-8", errors="replace") as f:
            return parse_kernel_config(f.read())
    if os.path.exists("/proc/config.gz"):
        with gzip.open("/proc/config.gz", "rt", encoding="utf-8", errors="replace") as f:
            return parse_kernel_config(f.read())
    raise UnknownName(f"no kernel configuration found ({boot} or /proc/config.gz): .kconfig externs cannot be set")


def linux_kernel_version() -> int:
    """``KERNEL_VERSION(a, b, c)`` of the running kernel (patch capped at 255, as the macro does)."""
    return running_kernel().code


def kconfig_data_section(obj: Object, config: Mapping[str, str] | None = None) -> DataSection | None:
    """The filled ``.kconfig`` section of ``obj``, or None when it has no ``__kconfig`` externs.

    The kernel configuration is read only when an extern other than
    ``LINUX_KERNEL_VERSION`` needs it; ``config`` replaces it (tests, other kernels).
    """
    from ..obj.kconfig import kconfig_externs, kconfig_section

    externs = kconfig_externs(obj)
    if not externs:
        return None
    if config is None:
        needs = any(e.name != "LINUX_KERNEL_VERSION" for e in externs)
        config = kernel_config() if needs else {}
    return kconfig_section(obj, config, kernel_version=linux_kernel_version())
