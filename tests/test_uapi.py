"""The committed UAPI enums (``bpfnb/uapi/enums.py``) against kernels' BTF.

The running kernel may be older or newer than the one ``tools/gen_uapi.py``
read: an older kernel simply lacks the newest enumerators (fine); an
enumerator the running kernel has that enums.py lacks means enums.py is
stale, and one name with two values is a bug.  The generator itself is
checked on the committed BTF snapshot, the same on every machine.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bpfnb import examples, uapi
from bpfnb.btf import Btf, Kind
from bpfnb.btf import btf as btf_module

ROOT = Path(__file__).resolve().parent.parent
VMLINUX = btf_module.SYS_BTF / "vmlinux"


def _gen_uapi():
    spec = importlib.util.spec_from_file_location("gen_uapi", ROOT / "tools" / "gen_uapi.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _gen_uapi()


@pytest.fixture(scope="module")
def vmlinux() -> Btf:
    return Btf.from_sys_fs()  # no kernel BTF: UnsupportedFeature, a failure, not a skip


def _python_names(btf: Btf, btf_name: str) -> dict[str, int]:
    """The enum's enumerators as enums.py would name them (sentinels dropped, prefix stripped)."""
    _, prefix = GEN.ENUMS[btf_name]
    out = {}
    for v in btf.find(btf_name, kind=Kind.ENUM).values:
        if any(v.name.startswith(s) or v.name.endswith(s) for s in GEN.SENTINELS):
            continue
        short = v.name[len(prefix):] if v.name.startswith(prefix) else v.name
        out["_" + short if short[0].isdigit() else short] = v.value
    return out


def _committed(btf_name: str) -> dict[str, int]:
    cls_name, _ = GEN.ENUMS[btf_name]
    return {name: m.value for name, m in getattr(uapi, cls_name).__members__.items()}  # aliases included


@pytest.mark.parametrize("btf_name", sorted(GEN.ENUMS))
def test_committed_enums_agree_with_the_running_kernel(vmlinux, btf_name):
    kernel = _python_names(vmlinux, btf_name)
    committed = _committed(btf_name)
    shared = kernel.keys() & committed.keys()
    assert shared, f"enum {btf_name}: no enumerator in common with this kernel"
    differ = {n: (committed[n], kernel[n]) for n in sorted(shared) if committed[n] != kernel[n]}
    assert differ == {}, f"enum {btf_name}: (enums.py, this kernel) values differ: {differ}"
    missing = sorted(kernel.keys() - committed.keys())
    assert missing == [], f"enum {btf_name}: this kernel has enumerators enums.py lacks (run tools/gen_uapi.py): {missing}"


def test_committed_enums_agree_with_a_kernel_that_differs(tmp_path):
    """The check above catches a changed value, and a new enumerator, on a kernel that has them."""
    from dataclasses import replace

    from bpfnb.btf import EnumValue
    from bpfnb.btf.core_portability import edit_btf

    snap = examples.kernel_btf()
    cmd = snap.find("bpf_cmd", kind=Kind.ENUM)
    values = [replace(v, value=v.value + 1) if v.name == "BPF_PROG_LOAD" else v for v in cmd.values]
    values.append(EnumValue("BPF_BPFNB_FUTURE", 1000))
    other = edit_btf(snap, {cmd.id: replace(cmd, values=tuple(values))})
    with pytest.raises(AssertionError, match=r"values differ: \{'PROG_LOAD': \(5, 6\)\}"):
        test_committed_enums_agree_with_the_running_kernel(other, "bpf_cmd")
    values.pop(-1)
    values = [v if v.name != "BPF_PROG_LOAD" else replace(v, value=5) for v in values] + [EnumValue("BPF_NEW", 99)]
    other = edit_btf(snap, {cmd.id: replace(cmd, values=tuple(values))})
    with pytest.raises(AssertionError, match=r"lacks \(run tools/gen_uapi.py\): \['NEW'\]"):
        test_committed_enums_agree_with_the_running_kernel(other, "bpf_cmd")
    older = edit_btf(snap, {cmd.id: replace(cmd, values=cmd.values[:10])})  # an older kernel: fine
    test_committed_enums_agree_with_the_running_kernel(older, "bpf_cmd")


def test_generator_reproduces_committed_file_from_the_snapshot(tmp_path):
    """enums.py was generated from the kernel the BTF snapshot was taken of: same output but the source line."""
    btf = tmp_path / "vmlinux"
    btf.write_bytes(examples.kernel_btf_bytes())
    out = tmp_path / "enums.py"
    assert GEN.main(["--btf", str(btf), "-o", str(out)]) == 0
    ours, committed = out.read_text().splitlines(), (ROOT / "bpfnb/uapi/enums.py").read_text().splitlines()
    assert ours[2].startswith(f"# Generated from {btf} (Linux ") and committed[2].startswith("# Generated from ")
    assert ours[:2] + ours[3:] == committed[:2] + committed[3:]


def test_helper_ids_are_dense_and_known(vmlinux):
    # bpf_func_id has no gaps: every id below __BPF_FUNC_MAX_ID is a helper, on every kernel
    committed = sorted(m.value for m in uapi.FuncId)
    assert committed == list(range(len(committed))) and uapi.FuncId.map_lookup_elem == 1
    for btf in (examples.kernel_btf(), vmlinux):
        enum = btf.find("bpf_func_id", kind="enum").as_dict()
        top = enum["__BPF_FUNC_MAX_ID"]
        assert sorted(v for n, v in enum.items() if n != "__BPF_FUNC_MAX_ID") == list(range(top))
        assert top <= len(committed)  # this kernel may be older than enums.py, not newer
    assert top == len(_python_names(vmlinux, "bpf_func_id"))
