"""Example eBPF objects shipped with bpfnb (with their C sources).

They let the notebooks and the widget work where there is no clang, e.g.
on Binder: ``bpfnb.examples.path("packet_counter")``.

``kernel_btf()`` is a snapshot of one kernel's BTF (``btf/``): a fixed
target that gives the same type ids, offsets and CO-RE results on every
machine, where ``Btf.from_sys_fs()`` gives whatever this kernel was built
with.  Notebooks show it beside the live kernel; tests assert literals
against it only.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UnknownName

if TYPE_CHECKING:
    from ..btf import Btf

__all__ = ["DIR", "KERNEL_BTF_RELEASE", "SNAPSHOTS", "kernel_btf", "kernel_btf_bytes", "names", "path", "source"]

DIR = Path(__file__).resolve().parent

#: Two snapshots of the examples' programs and maps (``bpfnb.snapshot``), recorded on a real
#: kernel by ``tools/record_example_snapshots.py``: notebook 08's data where nothing can be loaded.
SNAPSHOTS = DIR / "snapshots"

#: ``uname -r`` of the kernel whose BTF ``kernel_btf()`` holds.
KERNEL_BTF_RELEASE = "6.18.44-fc-v1045"
_KERNEL_BTF = DIR / "btf" / f"vmlinux-{KERNEL_BTF_RELEASE}.btf.gz"


def names() -> list[str]:
    """Names of the shipped examples."""
    return sorted(p.name.removesuffix(".bpf.o") for p in DIR.glob("*.bpf.o"))


def path(name: str) -> Path:
    """The compiled object of example ``name``."""
    p = DIR / f"{name}.bpf.o"
    if "/" in name or not p.is_file():
        raise UnknownName(f"no example {name!r} (have: {', '.join(names())})")
    return p


def source(name: str) -> str:
    """The C source of example ``name``."""
    path(name)  # validates the name
    return (DIR / f"{name}.bpf.c").read_text()


def kernel_btf_bytes() -> bytes:
    """The raw BTF of the snapshot kernel, as ``/sys/kernel/btf/vmlinux`` was there."""
    return gzip.decompress(_KERNEL_BTF.read_bytes())


@functools.cache
def kernel_btf() -> Btf:
    """The snapshot kernel's BTF (parsed once): the same on every machine."""
    from ..btf import Btf

    return Btf.from_bytes(kernel_btf_bytes(), source=f"snapshot of Linux {KERNEL_BTF_RELEASE}")
