"""The committed UAPI enums agree with the running kernel's BTF."""

from __future__ import annotations

import importlib.util
import platform
from pathlib import Path

import pytest

from bpfnb import uapi
from bpfnb.btf import Btf, Kind

ROOT = Path(__file__).resolve().parent.parent
VMLINUX = Path("/sys/kernel/btf/vmlinux")

pytestmark = pytest.mark.skipif(not VMLINUX.exists(), reason="no kernel BTF")


def _gen_uapi():
    spec = importlib.util.spec_from_file_location("gen_uapi", ROOT / "tools" / "gen_uapi.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def vmlinux() -> Btf:
    return Btf.from_sys_fs()


@pytest.mark.parametrize("btf_name", sorted(_gen_uapi().ENUMS))
def test_every_committed_member_matches_kernel(vmlinux, btf_name):
    cls_name, prefix = _gen_uapi().ENUMS[btf_name]
    enum = vmlinux.find(btf_name, kind=Kind.ENUM)
    kernel = {v.name: v.value for v in enum.values}
    committed = getattr(uapi, cls_name)
    assert len(committed.__members__) > 0
    for short, member in committed.__members__.items():
        full = prefix + short.lstrip("_") if short.startswith("_") and short[1].isdigit() else prefix + short
        if full not in kernel:  # names without the prefix are kept as-is
            full = short
        assert kernel[full] == member.value, f"{btf_name}.{full}"


def test_generator_reproduces_committed_file(tmp_path):
    committed = (ROOT / "bpfnb/uapi/enums.py").read_text()
    if platform.release() not in committed.splitlines()[2]:
        pytest.skip("enums.py was generated on another kernel release")
    out = tmp_path / "enums.py"
    assert _gen_uapi().main(["--btf", str(VMLINUX), "-o", str(out)]) == 0
    assert out.read_text() == committed


def test_helper_ids_are_dense_and_known(vmlinux):
    # bpf_func_id has no gaps: every id below __BPF_FUNC_MAX_ID is a helper
    enum = vmlinux.find("bpf_func_id", kind="enum")
    top = {v.name: v.value for v in enum.values}["__BPF_FUNC_MAX_ID"]
    assert sorted(m.value for m in uapi.FuncId) == list(range(top))
    assert uapi.FuncId.map_lookup_elem == 1
