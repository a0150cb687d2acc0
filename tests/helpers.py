"""Paths and builders for the compiled C fixtures, shared by the tests.

Test modules import these from here (``from helpers import fixture_path``),
not from ``conftest``: pytest imports every ``conftest.py`` under the same
module name, so the notebooks' conftest would shadow this one.
"""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BPF_DIR = TESTS / "bpf"
BUILD_DIR = BPF_DIR / "build"

REQUIRE_KERNEL = os.environ.get("BPFNB_REQUIRE_KERNEL") == "1"


def build_fixtures() -> None:
    """Build tests/bpf/*.bpf.c with clang-19 (make is incremental)."""
    subprocess.run(["make", "-s", "-C", str(BPF_DIR)], check=True)


EXAMPLES_DIR = TESTS.parent / "bpfnb" / "examples"


def fixture_path(name: str) -> Path:
    """Path of a compiled fixture object, e.g. ``fixture_path("multi")``.

    Objects shipped as package examples (``bpfnb/examples``, committed so
    notebooks need no clang) are fixtures too: ``fixture_path("core_kinds")``.
    """
    example = EXAMPLES_DIR / f"{name}.bpf.o"
    if example.exists():
        return example
    path = BUILD_DIR / f"{name}.bpf.o"
    if not path.exists():
        build_fixtures()
    if not path.exists():
        raise FileNotFoundError(f"fixture {name!r} not built: {path}")
    return path


def all_fixtures() -> list[Path]:
    """Every compiled fixture and every shipped example object."""
    build_fixtures()
    return sorted([*BUILD_DIR.glob("*.bpf.o"), *EXAMPLES_DIR.glob("*.bpf.o")], key=lambda p: p.name)


@contextmanager
def hang_guard(seconds: int = 20):
    """Turn a hang into a failure: a guard against endless loops in fuzzing, not a speed test."""

    def _hung(signum, frame):
        raise TimeoutError(f"did not finish within {seconds}s")

    old = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
