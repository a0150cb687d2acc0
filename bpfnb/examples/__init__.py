"""Example eBPF objects shipped with bpfnb (with their C sources).

They let the notebooks and the widget work where there is no clang, e.g.
on Binder: ``bpfnb.examples.path("packet_counter")``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UnknownName

__all__ = ["DIR", "names", "path", "source"]

DIR = Path(__file__).resolve().parent


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
