"""Probes and perf events: uprobes on user binaries, kprobes, sampling perf events.

All three are perf events with a BPF program on them: perf_event_open
(:mod:`bpfnb.kernel.attach`) then a perf link.  Uprobes and kprobes use the
``uprobe``/``kprobe`` PMUs (``/sys/bus/event_source/devices/<pmu>/type``,
4.17+) — no text written to tracefs ``uprobe_events``, nothing left behind
if the process dies, as libbpf does by default.

A uprobe needs a *file offset*: :func:`symbol_offset` reads the ELF symbol
table (``.symtab``, then ``.dynsym``) with pyelftools and maps the symbol's
virtual address to the file through the PT_LOAD segment that contains it
(``offset = value - p_vaddr + p_offset``), which is right for executables,
PIE and shared libraries alike.

A kernel built without CONFIG_KPROBES has no ``kprobe`` PMU (and no
``kprobe_events`` in tracefs): kprobe programs still load, and
``KProbe.attach`` says why they cannot attach with
:class:`~bpfnb.errors.UnsupportedFeature`.
"""

from __future__ import annotations

import ctypes
import enum
import errno as _errno
import os
import shutil
from typing import Any

from ..errors import KernelError, UnknownName, UnsupportedFeature
from ..kernel.attach import (
    PerfType,
    perf_event_attr,
    perf_event_open,
    pmu_retprobe_bit,
    pmu_type,
    tracefs_root,
)
from ..kernel.links import Link, LinkGroup, attach_error
from ..kernel.syscall import possible_cpus
from ..uapi import ProgType
from .base import TypedProgram
from .trace import _perf_link

__all__ = ["HardwareEvent", "KProbe", "KRetProbe", "PerfEvent", "SoftwareEvent", "UProbe", "URetProbe",
           "resolve_binary", "symbol_offset"]


# --- ELF symbols to file offsets --------------------------------------------------------


def resolve_binary(binary: str) -> str:
    """An absolute path for ``binary``: as given if it has a ``/``, else found on PATH or in lib dirs."""
    if "/" in binary:
        return os.path.abspath(binary)
    found = shutil.which(binary)
    if found:
        return found
    for libdir in ("/lib64", "/usr/lib64", "/lib", "/usr/lib", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                   "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"):
        path = os.path.join(libdir, binary)
        if os.path.exists(path):
            return path
    raise UnknownName(f"binary {binary!r} is not a path and was not found on PATH or in the library directories")


def symbol_offset(binary: str | os.PathLike[str], symbol: str) -> int:
    """The file offset of function ``symbol`` in an ELF file (what a uprobe is placed at)."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    path = os.fsdecode(binary)
    with open(path, "rb") as f:
        elf = ELFFile(f)
        value = None
        for section_name in (".symtab", ".dynsym"):
            sec = elf.get_section_by_name(section_name)
            if not isinstance(sec, SymbolTableSection):
                continue
            for sym in sec.get_symbol_by_name(symbol) or ():
                if sym["st_info"]["type"] in ("STT_FUNC", "STT_GNU_IFUNC") and sym["st_shndx"] != "SHN_UNDEF":
                    value = sym["st_value"]
                    break
            if value is not None:
                break
        if value is None:
            raise UnknownName(f"{path}: no defined function symbol {symbol!r} in .symtab or .dynsym")
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD":
                continue
            if seg["p_vaddr"] <= value < seg["p_vaddr"] + seg["p_memsz"]:
                return value - seg["p_vaddr"] + seg["p_offset"]
    raise UnknownName(f"{path}: symbol {symbol!r} at {value:#x} lies in no PT_LOAD segment")


# --- uprobes ---------------------------------------------------------------------------------


def _probe_event(pmu: str, *, retprobe: bool, config1: int, config2: int, pid: int, what: str) -> Any:
    ptype = pmu_type(pmu)
    if ptype is None:
        return None
    config = (1 << pmu_retprobe_bit(pmu)) if retprobe else 0
    attr = perf_event_attr(ptype, config, sample_period=1, config1=config1, config2=config2)
    # Bound to a process, or to CPU 0 for all of them (pid -1 and cpu -1 together are invalid).
    return perf_event_open(attr, pid=pid, cpu=0 if pid == -1 else -1, what=what)


class UProbe(TypedProgram):
    """``uprobe``: runs when any (or one) process executes an instruction of a user binary."""

    prog_types = (ProgType.KPROBE,)
    retprobe = False

    def attach(self, binary: str | os.PathLike[str] | None = None, symbol: str | None = None, offset: int = 0,
               pid: int = -1, *, cookie: int | None = None) -> Link:
        """Attach at ``symbol`` + ``offset`` in ``binary`` (default: from ``uprobe/<binary>:<symbol>``).

        Without ``symbol``, ``offset`` is a file offset.  ``pid=-1`` probes
        every process that maps the binary.
        """
        if binary is None:
            target = self._section_target("binary and function")
            binary, symbol, offset = target.binary, target.function, target.offset
        path = resolve_binary(os.fsdecode(binary))
        file_offset = (symbol_offset(path, symbol) if symbol else 0) + offset
        kind = "uretprobe" if self.retprobe else "uprobe"
        label = f"{kind} {path}:{symbol or ''}{f'+{offset:#x}' if offset else ''}" + (f" pid {pid}" if pid != -1 else "")
        keep = ctypes.create_string_buffer(path.encode())
        try:
            event = _probe_event("uprobe", retprobe=self.retprobe, config1=ctypes.addressof(keep),
                                 config2=file_offset, pid=pid, what=label)
        except KernelError as exc:
            raise attach_error(exc, self.name, label) from exc
        if event is None:
            raise UnsupportedFeature("uprobes", f"program {self.name!r}: this kernel has no uprobe PMU "
                                     "(CONFIG_UPROBE_EVENTS is not set)")
        return _perf_link(self, event, label, f"perf_event {kind}", cookie)


class URetProbe(UProbe):
    """``uretprobe``: runs when the probed user function returns."""

    retprobe = True


# --- kprobes -----------------------------------------------------------------------------


def _kprobes_missing() -> bool:
    if pmu_type("kprobe") is not None:
        return False
    try:
        root = tracefs_root()
    except UnsupportedFeature:
        return True
    return not os.path.exists(os.path.join(root, "kprobe_events"))


class KProbe(TypedProgram):
    """``kprobe/<function>[+offset]``: runs on entry of (or at an offset in) a kernel function."""

    prog_types = (ProgType.KPROBE,)
    retprobe = False

    def attach(self, function: str | None = None, offset: int = 0, *, cookie: int | None = None) -> Link:
        """Attach to ``function`` (default: from the section) through the kprobe PMU."""
        if function is None:
            target = self._section_target("kernel function")
            function, offset = target.function, target.offset
        assert function is not None
        kind = "kretprobe" if self.retprobe else "kprobe"
        label = f"{kind} {function}" + (f"+{offset:#x}" if offset else "")
        if _kprobes_missing():
            raise UnsupportedFeature(
                "kprobes",
                f"program {self.name!r} cannot attach to {function}: this kernel has no kprobes "
                "(CONFIG_KPROBES is not set: no kprobe PMU in /sys/bus/event_source/devices, no kprobe_events "
                "in tracefs); use a tracepoint, raw_tp or tp_btf program instead",
                err=_errno.EOPNOTSUPP,
            )
        keep = ctypes.create_string_buffer(function.encode())
        try:
            event = _probe_event("kprobe", retprobe=self.retprobe, config1=ctypes.addressof(keep), config2=offset,
                                 pid=-1, what=label)
        except KernelError as exc:
            raise attach_error(exc, self.name, label) from exc
        if event is None:  # kprobe_events in tracefs but no PMU: a pre-4.17 kernel
            raise UnsupportedFeature("kprobe PMU", f"program {self.name!r}: kprobes only via tracefs on this kernel",
                                     min_version="4.17")
        return _perf_link(self, event, label, f"perf_event {kind}", cookie)


class KRetProbe(KProbe):
    """``kretprobe/<function>``: runs when the kernel function returns."""

    retprobe = True


# --- perf events ---------------------------------------------------------------------------


class SoftwareEvent(enum.IntEnum):
    """``enum perf_sw_ids``."""

    CPU_CLOCK = 0
    TASK_CLOCK = 1
    PAGE_FAULTS = 2
    CONTEXT_SWITCHES = 3
    CPU_MIGRATIONS = 4
    PAGE_FAULTS_MIN = 5
    PAGE_FAULTS_MAJ = 6
    ALIGNMENT_FAULTS = 7
    EMULATION_FAULTS = 8
    DUMMY = 9
    BPF_OUTPUT = 10
    CGROUP_SWITCHES = 11


class HardwareEvent(enum.IntEnum):
    """``enum perf_hw_id``."""

    CPU_CYCLES = 0
    INSTRUCTIONS = 1
    CACHE_REFERENCES = 2
    CACHE_MISSES = 3
    BRANCH_INSTRUCTIONS = 4
    BRANCH_MISSES = 5
    BUS_CYCLES = 6
    STALLED_CYCLES_FRONTEND = 7
    STALLED_CYCLES_BACKEND = 8
    REF_CPU_CYCLES = 9


_KINDS = {"software": PerfType.SOFTWARE, "hardware": PerfType.HARDWARE}


class PerfEvent(TypedProgram):
    """``perf_event``: runs on each sample of a perf event (a timer, a counter overflow)."""

    prog_types = (ProgType.PERF_EVENT,)

    def attach(self, kind: str | int = "software", config: int = SoftwareEvent.CPU_CLOCK, *,
               sample_period: int | None = None, sample_freq: int | None = None, cpu: int | None = None,
               pid: int = -1, cookie: int | None = None) -> Link | LinkGroup:
        """Sample ``kind`` (``"software"``/``"hardware"`` or a PERF_TYPE_*) event ``config``.

        Exactly one of ``sample_period`` (events per sample) or
        ``sample_freq`` (samples per second).  ``cpu=None`` with ``pid=-1``
        opens one event per possible CPU and returns a :class:`LinkGroup`.
        """
        if (sample_period is None) == (sample_freq is None):
            raise ValueError("give exactly one of sample_period or sample_freq")
        ptype = _KINDS[kind] if isinstance(kind, str) else int(kind)
        attr = perf_event_attr(ptype, int(config), sample_period=sample_period or 0, sample_freq=sample_freq)
        name = _config_name(ptype, int(config))
        if cpu is None and pid == -1:
            links = [self._open_one(attr, name, c, -1, cookie) for c in _online_cpus()]
            group = LinkGroup(links, program=self.name, target=f"{name} on {len(links)} CPUs")
            for link in links:
                link._forget()  # the group is what the program tracks
            return self._track(group)  # type: ignore[return-value]
        return self._open_one(attr, name, -1 if cpu is None else cpu, pid, cookie)

    def _open_one(self, attr: bytes, name: str, cpu: int, pid: int, cookie: int | None) -> Link:
        where = (f" cpu {cpu}" if cpu >= 0 else "") + (f" pid {pid}" if pid >= 0 else "")
        label = f"{name}{where}"
        try:
            event = perf_event_open(attr, pid=pid, cpu=cpu, what=label)
        except KernelError as exc:
            raise attach_error(exc, self.name, label) from exc
        return _perf_link(self, event, label, "perf_event", cookie)


def _config_name(ptype: int, config: int) -> str:
    try:
        if ptype == PerfType.SOFTWARE:
            return f"software {SoftwareEvent(config).name.lower()}"
        if ptype == PerfType.HARDWARE:
            return f"hardware {HardwareEvent(config).name.lower()}"
    except ValueError:
        pass
    return f"perf type {ptype} config {config:#x}"


def _online_cpus() -> list[int]:
    """CPUs to open per-CPU events on (``/sys/devices/system/cpu/online``, e.g. ``0-3,6``)."""
    try:
        with open("/sys/devices/system/cpu/online") as f:
            text = f.read().strip()
    except OSError:
        return list(range(possible_cpus()))
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus
