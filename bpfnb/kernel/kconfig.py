"""The running kernel's configuration and libbpf's virtual externs, for ``.kconfig``.

libbpf reads ``/boot/config-$(uname -r)`` first and ``/proc/config.gz``
second; so do we.  The values stay text (``y``, ``250``, ``"-fc"``): how
each becomes bytes depends on the extern's BTF type, which
:mod:`bpfnb.obj.kconfig` decides.

The configuration is read only when a ``CONFIG_*`` extern asks for it.
When neither file exists (a distribution kernel without
``CONFIG_IKCONFIG_PROC`` booted in a VM with no ``/boot``), ``__weak``
``CONFIG_*`` externs keep their zero default and the object loads; a
strong one raises :class:`~bpfnb.errors.UnsupportedFeature` ("kernel
config") naming the extern and both files.  libbpf (1.1 to today) refuses
the whole object instead, weak externs or not ("failed to open system
Kconfig"); bpfnb is deliberately more lenient there, and only there.

The ``LINUX_*`` externs are libbpf's *virtual* externs, never read from the
configuration:

``LINUX_KERNEL_VERSION``       ``KERNEL_VERSION(a, b, c)`` of the running kernel
``LINUX_HAS_BPF_COOKIE``       does a tracepoint program calling ``bpf_get_attach_cookie`` load?
``LINUX_HAS_SYSCALL_WRAPPER``  can a kprobe be created on ``__<arch>_sys_bpf``?

The last is libbpf's ``probe_kern_syscall_wrapper``: a kprobe perf event
through the kprobe PMU (or a legacy tracefs ``kprobe_events`` entry) on the
arch-prefixed ``bpf`` syscall; any failure, including a kernel without
kprobes, answers 0.  Unknown ``LINUX_*`` externs are zero when weak and an
error otherwise, as in libbpf.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import functools
import gzip
import os
import platform
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import KernelError, UnsupportedFeature
from .version import running_kernel

if TYPE_CHECKING:
    from ..obj import Object
    from ..obj.data import DataSection

__all__ = ["PROC_CONFIG", "config_paths", "has_syscall_wrapper", "kconfig_data_section", "kernel_config",
           "linux_kernel_version", "parse_kernel_config", "syscall_prefix", "virtual_externs"]

_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")

#: Where the configuration is looked for, in libbpf's order (``{release}`` is ``uname -r``).
BOOT_CONFIG = "/boot/config-{release}"
PROC_CONFIG = "/proc/config.gz"


def parse_kernel_config(text: str) -> dict[str, str]:
    """``CONFIG_X=value`` lines; comments (including "is not set") are skipped, as libbpf does."""
    out = {}
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def config_paths() -> tuple[str, str]:
    """The two files libbpf reads, in order: ``/boot/config-$(uname -r)``, ``/proc/config.gz``."""
    return BOOT_CONFIG.format(release=os.uname().release), PROC_CONFIG


@functools.cache
def _read_config(boot: str, proc: str) -> Mapping[str, str] | None:
    for path in (boot, proc):
        if os.path.exists(path):
            with open(path, "rb") as f:  # like gzopen(): compressed or not
                raw = f.read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            return parse_kernel_config(raw.decode("utf-8", errors="replace"))
    return None


def _missing(what: str) -> UnsupportedFeature:
    boot, proc = config_paths()
    return UnsupportedFeature(
        "kernel config", f"{what}: neither {boot} nor {proc} exists (the kernel needs CONFIG_IKCONFIG_PROC, or "
        "its config installed in /boot); declare the extern __weak to accept 0, or pass the values explicitly",
        err=_errno.ENOENT)


def kernel_config() -> Mapping[str, str]:
    """This kernel's configuration (cached); UnsupportedFeature ("kernel config") when neither file exists."""
    config = _read_config(*config_paths())
    if config is None:
        raise _missing("no kernel configuration to read")
    return config


def linux_kernel_version() -> int:
    """``KERNEL_VERSION(a, b, c)`` of the running kernel (patch capped at 255, as the macro does)."""
    return running_kernel().code


#: libbpf's ``arch_specific_syscall_pfx()``: the prefix of syscall wrapper symbols per architecture.
_SYSCALL_PREFIXES = {
    "x86_64": "x64", "i386": "ia32", "i686": "ia32", "s390x": "s390x", "s390": "s390", "aarch64": "arm64",
    "arm64": "arm64", "mips": "mips", "mips64": "mips", "riscv64": "riscv", "ppc64le": "powerpc",
    "ppc64": "powerpc", "ppc": "powerpc",
}


def syscall_prefix(machine: str | None = None) -> str | None:
    """``x64`` on x86_64 (``__x64_sys_bpf``); None where libbpf knows no prefix."""
    machine = machine or platform.machine()
    if machine.startswith("arm") and machine not in _SYSCALL_PREFIXES:
        return "arm"
    return _SYSCALL_PREFIXES.get(machine)


def _legacy_kprobe(symbol: str) -> bool:
    from .attach import tracefs_root

    try:
        events = os.path.join(tracefs_root(), "kprobe_events")
    except UnsupportedFeature:
        return False
    if not os.path.exists(events):
        return False
    name = f"bpfnb_{os.getpid()}_{symbol}_probe"
    try:
        with open(events, "a") as f:
            f.write(f"p:kprobes/{name} {symbol}\n")
    except OSError:
        return False
    try:
        with open(events, "a") as f:
            f.write(f"-:kprobes/{name}\n")
    except OSError:
        pass
    return True


@functools.cache
def has_syscall_wrapper() -> bool:
    """``LINUX_HAS_SYSCALL_WRAPPER``: can a kprobe on ``__<arch>_sys_bpf`` be created? (cached)"""
    prefix = syscall_prefix()
    if prefix is None:
        return False
    symbol = f"__{prefix}_sys_bpf"
    from .attach import pmu_type, perf_event_attr, perf_event_open

    ptype = pmu_type("kprobe")
    if ptype is None:
        return _legacy_kprobe(symbol)
    name = ctypes.create_string_buffer(symbol.encode())
    attr = perf_event_attr(ptype, 0, sample_period=1, config1=ctypes.addressof(name), config2=0)
    try:
        perf_event_open(attr, pid=os.getpid(), cpu=-1, what=f"kprobe {symbol}").close()
    except KernelError:
        return False
    return True


def _has_bpf_cookie(features: Any = None) -> bool:
    if features is None:
        from .features import features as probe

        features = probe()
    return bool(features.bpf_cookie)


def virtual_externs(names: set[str] | frozenset[str], *, features: Any = None) -> dict[str, int]:
    """Values of the virtual ``LINUX_*`` externs among ``names``; only those asked for are probed."""
    out: dict[str, int] = {}
    if "LINUX_KERNEL_VERSION" in names:
        out["LINUX_KERNEL_VERSION"] = linux_kernel_version()
    if "LINUX_HAS_BPF_COOKIE" in names:
        out["LINUX_HAS_BPF_COOKIE"] = int(_has_bpf_cookie(features))
    if "LINUX_HAS_SYSCALL_WRAPPER" in names:
        out["LINUX_HAS_SYSCALL_WRAPPER"] = int(has_syscall_wrapper())
    return out


def kconfig_data_section(obj: Object, config: Mapping[str, str] | None = None, *,
                         features: Any = None) -> DataSection | None:
    """The filled ``.kconfig`` section of ``obj``, or None when it has no ``__kconfig`` externs.

    The kernel configuration is read only when a ``CONFIG_*`` extern needs
    it; without one on this machine, weak externs are 0 and a strong one
    raises UnsupportedFeature ("kernel config") naming it.  ``config``
    replaces the configuration (tests, other kernels).  ``features``
    answers ``LINUX_HAS_BPF_COOKIE`` (probed when not given).
    """
    from ..obj.kconfig import kconfig_externs, kconfig_section

    externs = kconfig_externs(obj)
    if not externs:
        return None
    if config is None:
        wanted = [e for e in externs if e.name.startswith("CONFIG_")]
        config = _read_config(*config_paths()) if wanted else {}
        if config is None:
            strong = [e.name for e in wanted if not e.weak]
            if strong:
                raise _missing(f"{obj.name}: extern {strong[0]} (.kconfig, not __weak) needs the kernel "
                               "configuration")
            config = {}
    virtual = virtual_externs({e.name for e in externs if e.name.startswith("LINUX_")}, features=features)
    return kconfig_section(obj, config, kernel_version=linux_kernel_version(), virtual=virtual)
