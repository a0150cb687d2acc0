"""Pure parts of the syscall layer: syscall numbers, names, error pickling.

Plus one kernel property test: every sanitised name is one the kernel takes.
"""

from __future__ import annotations

import errno
import importlib.util
import pickle
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfnb.errors import BtfLoadError, KernelError, NotPrivileged, UnsupportedFeature, VerifierError
from bpfnb.kernel import map_create, map_info, sanitize_name
from bpfnb.kernel._ffi import nr_bpf
from bpfnb.kernel.syscall import _command_name
from bpfnb.uapi import Cmd, MapType

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("machine", "nr"), [("x86_64", 321), ("aarch64", 280), ("arm64", 280), ("riscv64", 280)])
def test_nr_bpf_per_machine(machine: str, nr: int) -> None:
    assert nr_bpf("Linux", machine) == nr


def test_the_generated_ffi_module_is_current(tmp_path) -> None:
    """``_ffi_types.py`` is what tools/gen_ffi.py writes for today's ``_CDEF`` (run it after an edit)."""
    spec = importlib.util.spec_from_file_location("gen_ffi", ROOT / "tools" / "gen_ffi.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    gen.emit(tmp_path / "_ffi_types.py")
    assert (tmp_path / "_ffi_types.py").read_text() == gen.TARGET.read_text(), "run tools/gen_ffi.py"


def test_nr_bpf_errors_are_clear() -> None:
    with pytest.raises(OSError, match="s390x"):
        nr_bpf("Linux", "s390x")
    with pytest.raises(OSError, match="only on Linux"):
        nr_bpf("Darwin", "arm64")


def test_command_names_come_from_uapi() -> None:
    assert _command_name(Cmd.MAP_CREATE) == "BPF_MAP_CREATE"
    assert _command_name(Cmd.OBJ_GET_INFO_BY_FD) == "BPF_OBJ_GET_INFO_BY_FD"
    assert _command_name(9999) == "bpf cmd 9999"


@pytest.mark.parametrize("exc", [
    KernelError(errno.EINVAL, "BPF_MAP_CREATE", "array map 'x'"),
    NotPrivileged("BPF_PROG_LOAD", "program 'p'"),
    NotPrivileged("BPF_MAP_CREATE", err=errno.EACCES),
    UnsupportedFeature("tcx", "needs 6.6"),
    VerifierError(errno.EACCES, "prog", "0: (95) exit\nR0 !read_ok\n", truncated=True),
    BtfLoadError(errno.EINVAL, "[2] STRUCT pair size=4 vlen=2\n\tb type_id=1 bits_offset=32 Member exceeds struct_size\n"),
])
def test_kernel_errors_survive_pickling(exc: KernelError) -> None:
    """Errors cross process boundaries (multiprocessing, ipyparallel) unchanged."""
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and back.errno == exc.errno and str(back) == str(exc)
    assert getattr(back, "log", None) == getattr(exc, "log", None)
    assert getattr(back, "truncated", None) == getattr(exc, "truncated", None)
    if isinstance(exc, NotPrivileged):
        assert isinstance(back, PermissionError)


ALLOWED = set((string.ascii_letters + string.digits + "_.").encode())


@given(st.text(max_size=40))
def test_sanitize_name_shape(name: str) -> None:
    out = sanitize_name(name)
    assert len(out) <= 15 and set(out) <= ALLOWED
    if name.isascii() and set(name.encode()) <= ALLOWED:
        assert out == name.encode()[:15]


@pytest.mark.kernel
@settings(max_examples=40, deadline=None)
@given(st.text(max_size=30))
def test_kernel_accepts_every_sanitised_name(name: str) -> None:
    with map_create(MapType.ARRAY, 4, 4, 1, name=name) as m:
        assert map_info(m).name.encode() == sanitize_name(name)
