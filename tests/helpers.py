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


# --- kernel feature gates (cilium/ebpf's testutils.SkipIfNotSupported) ----------

#: Typed refusals a test accepted as the kernel's "no", printed at the end of the run.
REFUSALS: list[tuple[str, str]] = []


def _gate(feature: str, exc: Exception) -> None:
    """Skip below the feature's minimum version, fail at or above it; return for a typed refusal."""
    import pytest

    from bpfnb.errors import UnsupportedFeature
    from bpfnb.kernel.version import KernelVersion, running_kernel

    if not isinstance(exc, UnsupportedFeature) or feature.lower() not in exc.feature.lower():
        raise exc
    if exc.min_version is None:
        return
    if running_kernel() >= KernelVersion.parse(exc.min_version):
        pytest.fail(f"{feature}: refused although Linux {running_kernel()} is at least {exc.min_version}: {exc}")
    pytest.skip(f"{feature} needs Linux {exc.min_version}; this kernel is {running_kernel()}")


@contextmanager
def kernel_feature(feature: str, *, errno: int | None = None, mentions: tuple[str, ...] = ()):
    """Run the body, which needs ``feature``; the kernel may say no, in a typed way.

    An ``UnsupportedFeature`` whose ``feature`` contains ``feature``:

    - with ``min_version`` above the running kernel: the test is skipped,
      because the kernel is too old (the reason is listed by ``-ra``);
    - with ``min_version`` at or below it: the test fails, since the kernel
      should have it, so bpfnb misread the kernel's answer;
    - without ``min_version`` (compiled out, lockdown, an LSM): the refusal
      *is* the tested branch; the test passes and the refusal is listed in
      the run's summary.

    Any other error, or an ``UnsupportedFeature`` for another feature,
    propagates: it fails the test.  ``errno`` and ``mentions`` make the
    refusal branch exact: the accepted refusal must carry that errno and
    name each of ``mentions`` (the program, its target, ...).
    """
    from bpfnb.errors import UnsupportedFeature

    try:
        yield
    except UnsupportedFeature as exc:
        _gate(feature, exc)
        if errno is not None and exc.errno != errno:
            raise AssertionError(f"{feature}: refused with errno {exc.errno}, expected {errno}: {exc}") from exc
        missing = [m for m in mentions if m not in str(exc)]
        if missing:
            raise AssertionError(f"{feature}: the refusal does not name {missing}: {exc}") from exc
        REFUSALS.append((feature, str(exc)))


#: Assertions left out because the kernel is older than what they check, printed at the end of the run.
LEFT_OUT: list[tuple[str, str]] = []


@contextmanager
def newer_assertions(feature: str):
    """Assertions about ``feature``, part of a test that checks more than that.

    Unlike :func:`kernel_feature`, a kernel older than the feature's
    minimum release does not skip the test: the rest of this block is left
    out (listed at the end of the run) and the test goes on, so what older
    kernels do support is still checked.  At or above the minimum the
    refusal fails the test; a refusal without a minimum release, or one for
    another feature, propagates.
    """
    import pytest

    from bpfnb.errors import UnsupportedFeature
    from bpfnb.kernel.version import KernelVersion, running_kernel

    try:
        yield
    except UnsupportedFeature as exc:
        if feature.lower() not in exc.feature.lower() or exc.min_version is None:
            raise
        if running_kernel() >= KernelVersion.parse(exc.min_version):
            pytest.fail(f"{feature}: refused although Linux {running_kernel()} is at least {exc.min_version}: {exc}")
        LEFT_OUT.append((feature, f"needs Linux {exc.min_version}; this kernel is {running_kernel()}: {exc}"))


def require_isa(instructions) -> None:
    """Skip a test whose program uses instructions newer than the running kernel (by their release)."""
    import pytest

    from bpfnb.asm.versions import newer_than
    from bpfnb.kernel.version import running_kernel

    for insn in instructions:
        feature = newer_than(insn, running_kernel())
        if feature is not None:
            pytest.skip(f"{feature} needs Linux {feature.min_version}; this kernel is {running_kernel()}")


def require_feature(name: str) -> None:
    """For tests that *use* probe ``name``: skip below its minimum version, fail above it.

    A build option the kernel lacks (``kprobe_attach`` without CONFIG_KPROBES)
    skips with that reason: a test that only uses the feature has no refusal
    branch to check.
    """
    import pytest

    from bpfnb.errors import UnsupportedFeature
    from bpfnb.kernel.features import features

    try:
        features().require(name)
    except UnsupportedFeature as exc:
        _gate(name, exc)
        pytest.skip(f"{name}: {exc}")


# --- one set of markers for tests that need an external thing -----------------------
#
# As graphviz's ``exe`` marker: the oracle or tool is named, and the test skips without it.

import shutil as _shutil  # noqa: E402

import pytest as _pytest  # noqa: E402

from oracles.bpftool import BPFTOOL  # noqa: E402


def _vmlinux() -> Path:
    """Where ``Btf.from_sys_fs()`` reads the kernel's BTF (``-p mutant_btf`` moves it)."""
    import bpfnb.btf.btf as btf_module

    return btf_module.SYS_BTF / "vmlinux"


CLANG = _shutil.which("clang-19")
READELF = _shutil.which("llvm-readelf-19")
needs_bpftool = _pytest.mark.skipif(BPFTOOL is None, reason="bpftool (test oracle) not installed")
needs_vmlinux = _pytest.mark.skipif(not _vmlinux().exists(), reason="no kernel BTF (/sys/kernel/btf/vmlinux)")
needs_clang = _pytest.mark.skipif(CLANG is None, reason="clang-19 not installed")
needs_readelf = _pytest.mark.skipif(READELF is None, reason="llvm-readelf-19 (llvm-19) not installed")
needs_dot = _pytest.mark.skipif(_shutil.which("dot") is None, reason="graphviz's dot is not installed")
needs_libbpf = _pytest.mark.skipif("not __import__('oracles.libbpf').libbpf.available()",
                                   reason="libbpf.so.1 (test oracle) not installed")


# --- small kernel-test helpers shared by several modules -------------------------------------

#: The cgroup v2 mount (None without one).
CGROUP2 = next((p for p in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
                if os.path.exists(f"{p}/cgroup.procs") and f" {p} cgroup2 " in open("/proc/mounts").read()), None)


@contextmanager
def cgroup_dir(name: str):
    """A fresh cgroup ``name`` under the v2 mount (skips without one), removed after."""
    import time

    import pytest

    if CGROUP2 is None:
        pytest.skip("no cgroup v2 mount")
    path = f"{CGROUP2}/{name}"
    os.mkdir(path)
    try:
        yield path
    finally:
        for _ in range(50):  # a child that just exited may keep the cgroup busy for a moment
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.02)


class NoMemoryCgroup(OSError):
    """The memory controller is mounted but this process cannot give a child cgroup one."""


@contextmanager
def memory_cgroup(name: str, limit: int):
    """A new memory cgroup ``name`` limited to ``limit`` bytes, removed after: its directory, or None
    when no memory controller is mounted.

    v2 where the root lists the memory controller (enabled in its
    ``cgroup.subtree_control`` first: a fresh cgroup2 mount, as in the matrix
    guests, enables none), else the v1 memory hierarchy.  Inside a container
    the v2 root is the namespace's, whose own processes forbid enabling a
    controller below it: that is :class:`NoMemoryCgroup`, for the caller to
    skip on with its reason.  A process joins by
    writing its pid to ``path / "cgroup.procs"`` (both versions).  Removing it
    waits a moment for processes that just exited, then raises the OSError.
    tests/test_kernel_memory.py and tools/fuzz.py (its workers) use it.
    """
    import time

    from bpfnb.kernel import memory

    root = Path(memory.CGROUP_ROOT)
    controllers = root / "cgroup.controllers"
    if controllers.exists() and "memory" in controllers.read_text().split():
        subtree = root / "cgroup.subtree_control"
        if "memory" not in subtree.read_text().split():
            try:
                subtree.write_text("+memory")
            except OSError as exc:  # a cgroup namespace's root with processes in it (a container): EBUSY
                raise NoMemoryCgroup(f"cannot enable the memory controller in {subtree}: {exc}") from exc
        path, limit_file = root / name, "memory.max"
    elif (root / "memory" / "memory.limit_in_bytes").exists():
        path, limit_file = root / "memory" / name, "memory.limit_in_bytes"
    else:
        yield None
        return
    path.mkdir()
    try:
        (path / limit_file).write_text(str(limit))
        yield path
    finally:
        for attempt in range(50):
            try:
                path.rmdir()
                break
            except OSError:
                if attempt == 49:
                    raise
                time.sleep(0.02)


@contextmanager
def loaded(loader, path):
    """``loader.load_file(path)`` as (ebpf, its typed programs by name); every program and map closed after."""
    ebpf = loader.load_file(path)
    progs = dict(ebpf.programs)
    try:
        yield ebpf, progs
    finally:
        for p in progs.values():
            p.close()
        ebpf.close()


def run_true() -> int:
    """Run /bin/true once (a few syscalls, an exec) and return its pid."""
    child = subprocess.Popen(["/bin/true"])
    child.wait()
    return child.pid


def poll_for_pid(reader, pid: int, timeout: float = 10.0) -> list:
    """Poll an event reader until a record of ``pid`` arrives (or ``timeout``, a bound): that pid's records."""
    import time

    found: list = []
    deadline = time.monotonic() + timeout  # a bound, not a timing assertion
    while not any(r["pid"] == pid for r in found) and time.monotonic() < deadline:
        found += reader.poll(timeout=1.0)
    return [r for r in found if r["pid"] == pid]


# --- kernel symbols the fixtures use (kfuncs come and go between releases) ----------

#: Upstream release that added each kfunc a fixture calls: a kernel at or above it
#: that lacks one is a finding (of bpfnb's BTF reading), not a reason to skip.
#: bpf_rcu_read_lock/unlock: "bpf: Add kfunc bpf_rcu_read_lock/unlock()"; bpf_cast_to_kern_ctx:
#: "bpf: Add a kfunc to type cast from bpf uapi ctx to kernel ctx"; both merged for 6.2.
KFUNC_MIN_KERNEL = {"bpf_rcu_read_lock": "6.2", "bpf_rcu_read_unlock": "6.2", "bpf_cast_to_kern_ctx": "6.2"}


def kernel_btf_has(name: str, kind: str = "FUNC") -> bool:
    """Whether the running kernel's BTF, vmlinux or any loaded module's, has ``kind`` ``name``.

    Modules are read only when vmlinux lacks the name (a host has hundreds;
    a kfunc the fixtures use is in vmlinux where it exists at all).
    """
    from bpfnb import Btf

    vmlinux = Btf.from_sys_fs()
    if vmlinux.find_all(name, kind):
        return True
    for entry in sorted(Path("/sys/kernel/btf").iterdir()):
        if entry.name != "vmlinux" and Btf.from_sys_fs(entry.name).find_all(name, kind):
            return True
    return False


def missing_strong_ksyms(obj) -> list[str]:
    """The object's strong kfuncs and typed ``__ksym`` variables the running kernel's BTF lacks.

    These are what a loader must refuse: libbpf refuses the whole object,
    bpfnb each program that uses one.  A kernel at or above a kfunc's
    :data:`KFUNC_MIN_KERNEL` release that lacks it fails the calling test.
    """
    import pytest

    from bpfnb.kernel.version import KernelVersion, running_kernel
    from bpfnb.obj.ksyms import KsymKind, ksym_externs

    missing = []
    for ext in ksym_externs(obj):
        if ext.weak or ext.kind is KsymKind.UNTYPED:
            continue
        if not kernel_btf_has(ext.kernel_name, "FUNC" if ext.kind is KsymKind.KFUNC else "VAR"):
            since = KFUNC_MIN_KERNEL.get(ext.kernel_name)
            if since is not None and running_kernel() >= KernelVersion.parse(since):
                pytest.fail(f"kfunc {ext.name} is in every kernel since {since}, but not in this "
                            f"{running_kernel()} kernel's BTF")
            missing.append(ext.name)
    return missing


def assert_libbpf_refuses_naming(load, missing) -> None:
    """``load()`` (a libbpf oracle call) fails, and libbpf's log names one of ``missing``.

    libbpf resolves every extern when it loads an object, so a strong kfunc
    or ksym the kernel lacks refuses the whole object.
    """
    import pytest

    from oracles.libbpf import LibbpfObject

    seen = len(LibbpfObject.log())
    with pytest.raises(OSError):
        load()
    said = " ".join(text for _, text in LibbpfObject.log()[seen:])
    assert any(f"'{name}'" in said for name in missing), said[-2000:]


def assert_programs_refuse_missing_ksyms(path, missing) -> dict:
    """bpfnb's refusal where the kernel lacks strong ``__ksym`` externs: per program, typed, naming them.

    Every program that references one of ``missing`` gets an
    :class:`~bpfnb.errors.UnknownSymbol` naming it (its ``ksym``), and
    every other program is relocated.  Returns the refusals by program.
    """
    from bpfnb import EbpfLoader
    from bpfnb.errors import UnknownSymbol

    with EbpfLoader().pipeline(path) as p:
        p.run("relocate")
        users = {name: sorted({r.symbol.name for r in spec.relocations if r.symbol.name in missing})
                 for name, spec in p.obj.programs.items()}
        users = {n: s for n, s in users.items() if s}
        assert users, f"{path}: no program references {missing}"
        refused = dict(p.program_errors)
    for name, symbols in users.items():
        exc = refused.get(name)
        assert isinstance(exc, UnknownSymbol), (name, exc)
        assert exc.ksym in symbols and repr(exc.ksym) in str(exc) and "not __weak" in str(exc), (name, str(exc))
    assert set(refused) == set(users), refused
    return refused


# --- interrupting a load at each of its fds (test_hardening_fds, test_ksym_modules) ---------------


def fds_made_by(monkeypatch, run) -> int:
    """How many fds one call of ``run`` makes (counted at the syscall layer's fd boundary)."""
    from bpfnb.kernel import syscall

    made = 0

    def count(fd):
        nonlocal made
        made += 1

    monkeypatch.setattr(syscall, "_fd_boundary_hook", count)
    run()
    monkeypatch.setattr(syscall, "_fd_boundary_hook", None)
    return made


def interrupt_at_fd(at: int):
    """A fd-boundary hook raising KeyboardInterrupt at the ``at``-th new fd (0-based) it sees."""
    seen = 0

    def interrupt(fd):
        nonlocal seen
        seen += 1
        if seen > at:
            raise KeyboardInterrupt

    return interrupt


def interrupted_runs(monkeypatch, hook_for, run, runs: int) -> int:
    """``runs`` calls of ``run`` with ``hook_for(i)`` at the fd boundary of call ``i``: how many
    a KeyboardInterrupt ended (the hook removed and garbage collected after)."""
    import gc as _gc

    from bpfnb.kernel import syscall

    interrupted = 0
    for i in range(runs):
        monkeypatch.setattr(syscall, "_fd_boundary_hook", hook_for(i))
        try:
            run()
        except KeyboardInterrupt:
            interrupted += 1
    monkeypatch.setattr(syscall, "_fd_boundary_hook", None)
    _gc.collect()
    return interrupted
