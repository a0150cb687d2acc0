"""Shared fixtures: compiled BPF objects, the ``kernel`` marker, unique names, the differential record."""

from __future__ import annotations

import json
import os
import shutil
import uuid

import pytest

from bpfnb.kernel.privilege import is_privileged

from helpers import REQUIRE_KERNEL, fixture_path


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


BPFFS_ROOT = "/sys/fs/bpf"


def _root_pins() -> set[str]:
    """What lies at the bpffs root, other than test runs' own directories (``unique_name``)."""
    try:
        names = os.listdir(BPFFS_ROOT)
    except OSError:
        return set()
    return {n for n in names if not (n.startswith("bpfnb") and "_" in n and n[5:n.index("_")].isdigit())}


@pytest.fixture(autouse=True)
def _no_pins_at_the_bpffs_root(request):
    """A kernel test pins under its own ``pin_root``: one that leaves a pin at the bpffs root
    (a ``LIBBPF_PIN_BY_NAME`` map loaded with the default pin path) fails, naming it."""
    if request.node.get_closest_marker("kernel") is None:
        yield
        return
    before = _root_pins()
    yield
    left = _root_pins() - before
    if left:
        for name in left:  # remove it, so that one leak fails one test
            shutil.rmtree(os.path.join(BPFFS_ROOT, name), ignore_errors=True)
            try:
                os.unlink(os.path.join(BPFFS_ROOT, name))
            except OSError:
                pass
        pytest.fail(f"left {sorted(left)} at {BPFFS_ROOT}: pin under the test's pin_root fixture", pytrace=False)


@pytest.fixture
def unique_name(request) -> str:
    """A short name unique to this test run, safe for pins, netns, cgroups."""
    return f"bpfnb{os.getpid() % 10000}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pin_root(unique_name) -> str:
    """A fresh directory on bpffs, unique to this test; removed with its pins even on failure."""
    path = f"/sys/fs/bpf/{unique_name}"
    os.mkdir(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def differential(request):
    """Tags libbpf and bpfnb got for the same object, for the kernel matrix's summary.

    A test fills ``libbpf`` and ``bpfnb`` (program name -> tag) as each side loads;
    a side left ``None`` did not load. With ``BPFNB_DIFF_REPORT=path`` the record is
    appended to ``path`` as a JSON line at teardown (also when the test failed), so
    tools/kernel_matrix.py can say how many programs each loader got into a kernel.
    """
    record = {"test": request.node.nodeid, "libbpf": None, "bpfnb": None}
    yield record
    path = os.environ.get("BPFNB_DIFF_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(record) + "\n")


def pytest_terminal_summary(terminalreporter):
    """List the kernel's typed refusals that tests accepted, so none passes unseen."""
    from helpers import LEFT_OUT, REFUSALS

    if REFUSALS:
        terminalreporter.section("kernel refusals accepted as the tested branch")
        for feature, message in REFUSALS:
            terminalreporter.line(f"{feature}: {message}")
    if LEFT_OUT:
        terminalreporter.section("assertions left out: the kernel is older than the feature they check")
        for feature, message in LEFT_OUT:
            terminalreporter.line(f"{feature}: {message}")


@pytest.fixture(scope="module")
def snapshot():
    """The committed snapshot kernel's BTF, not the running kernel's: literals in tests are its values."""
    from bpfnb import examples

    return examples.kernel_btf()


@pytest.fixture(scope="module")
def older(snapshot):
    """The snapshot edited into an older kernel (core_targets.older_kernel)."""
    from core_targets import older_kernel

    return older_kernel(snapshot)
