"""Shared fixtures: compiled BPF objects, the ``kernel`` marker, unique names."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from bpfnb.kernel.privilege import is_privileged

TESTS = Path(__file__).resolve().parent
BPF_DIR = TESTS / "bpf"
BUILD_DIR = BPF_DIR / "build"

REQUIRE_KERNEL = os.environ.get("BPFNB_REQUIRE_KERNEL") == "1"


def build_fixtures() -> None:
    """Build tests/bpf/*.bpf.c with clang-19 (make is incremental)."""
    subprocess.run(["make", "-s", "-C", str(BPF_DIR)], check=True)


def fixture_path(name: str) -> Path:
    """Path of a compiled fixture object, e.g. ``fixture_path("multi")``."""
    path = BUILD_DIR / f"{name}.bpf.o"
    if not path.exists():
        build_fixtures()
    if not path.exists():
        raise FileNotFoundError(f"fixture {name!r} not built: {path}")
    return path


def all_fixtures() -> list[Path]:
    build_fixtures()
    return sorted(BUILD_DIR.glob("*.bpf.o"))


@pytest.fixture(scope="session")
def fixture():
    """``fixture("multi")`` -> Path of tests/bpf/build/multi.bpf.o."""
    return fixture_path


def pytest_runtest_setup(item):
    """Kernel tests skip when unprivileged, or fail when the kernel is required."""
    if item.get_closest_marker("kernel") is None or is_privileged():
        return
    if REQUIRE_KERNEL:
        pytest.fail("BPFNB_REQUIRE_KERNEL=1 but this process lacks CAP_BPF/CAP_SYS_ADMIN", pytrace=False)
    pytest.skip("needs CAP_BPF/CAP_SYS_ADMIN (BPFNB_REQUIRE_KERNEL=1 turns this skip into a failure)")


@pytest.fixture
def unique_name(request) -> str:
    """A short name unique to this test run, safe for pins, netns, cgroups."""
    return f"bpfnb{os.getpid() % 10000}_{uuid.uuid4().hex[:8]}"
