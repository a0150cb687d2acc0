"""``__ksym`` externs: kfuncs and kernel variables, resolved and relocated."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from bpfnb import Btf, EbpfLoader, Object, examples
from bpfnb.asm import PseudoCall, PseudoLdImm64
from bpfnb.errors import UnknownSymbol, VerifierError
from bpfnb.kernel.ksyms import kallsyms, resolve_ksyms
from bpfnb.obj import placeholder_fds, relocate
from bpfnb.obj.ksyms import KsymKind, KsymTarget, ksym_externs

from helpers import fixture_path


@pytest.fixture(scope="module")
def obj():
    return Object.from_file(fixture_path("ksym"))


def test_externs_are_classified(obj):
    assert [(e.name, e.kind, e.weak) for e in ksym_externs(obj)] == [
        ("bpf_rcu_read_lock", KsymKind.KFUNC, False),
        ("bpf_rcu_read_unlock", KsymKind.KFUNC, False),
        ("bpf_prog_active", KsymKind.TYPED, False),
        ("bpf_link_fops", KsymKind.UNTYPED, True),
    ]
    assert ksym_externs(Object.from_file(fixture_path("minimal"))) == ()


def _targets(**over):
    base = {
        "bpf_rcu_read_lock": KsymTarget("bpf_rcu_read_lock", KsymKind.KFUNC, True, btf_id=111, source="vmlinux"),
        "bpf_rcu_read_unlock": KsymTarget("bpf_rcu_read_unlock", KsymKind.KFUNC, True, btf_id=112, source="vmlinux"),
        "bpf_prog_active": KsymTarget("bpf_prog_active", KsymKind.TYPED, True, btf_id=222, source="vmlinux"),
        "bpf_link_fops": KsymTarget("bpf_link_fops", KsymKind.UNTYPED, True, address=0xFFFFFFFF81234560, source="kallsyms"),
    }
    base.update(over)
    return base


def test_relocation_of_each_kind(obj):
    fds = placeholder_fds(obj)
    kfunc = relocate(obj, "kfunc_only", fds, ksyms=_targets())
    calls = [a.after for a in kfunc.applied if a.kind.value == "kfunc"]
    assert [(c.src, c.imm, c.off) for c in calls] == [(PseudoCall.KFUNC_CALL, 111, 0), (PseudoCall.KFUNC_CALL, 112, 0)]
    typed = relocate(obj, "typed_ksym", fds, ksyms=_targets())
    ld = next(a.after for a in typed.applied if a.symbol == "bpf_prog_active")
    assert (ld.src, ld.imm) == (PseudoLdImm64.BTF_ID, 222)
    untyped = relocate(obj, "weak_untyped", fds, ksyms=_targets())
    ld = next(a.after for a in untyped.applied if a.symbol == "bpf_link_fops")
    assert (ld.src, ld.imm & 0xFFFFFFFFFFFFFFFF) == (0, 0xFFFFFFFF81234560)
    absent = KsymTarget("bpf_link_fops", KsymKind.UNTYPED, False, source="kallsyms")
    weak = relocate(obj, "weak_untyped", fds, ksyms=_targets(bpf_link_fops=absent))
    ld = next(a.after for a in weak.applied if a.symbol == "bpf_link_fops")
    assert (ld.src, ld.imm) == (0, 0)


def test_unresolved_externs_are_typed_errors(obj):
    fds = placeholder_fds(obj)
    with pytest.raises(UnknownSymbol, match=r"kfunc_only insn 0: .*resolve the object's externs"):
        relocate(obj, "kfunc_only", fds)
    gone = KsymTarget("bpf_rcu_read_lock", KsymKind.KFUNC, False)
    # a weak kfunc the kernel lacks is neutralised as libbpf does (imm 0, off 0): dead code loads, live code
    # is the verifier's to refuse (tests/test_loader_parity.py loads both)
    rel = relocate(obj, "kfunc_only", fds, ksyms=_targets(bpf_rcu_read_lock=gone))
    calls = {a.symbol: a.after for a in rel.applied if a.kind.value == "kfunc"}
    assert (calls["bpf_rcu_read_lock"].src, calls["bpf_rcu_read_lock"].imm, calls["bpf_rcu_read_lock"].off) == (
        PseudoCall.KFUNC_CALL, 0, 0)
    assert calls["bpf_rcu_read_unlock"].imm == 112


@pytest.mark.parametrize("kernel", ["snapshot", "running"])
def test_resolution_against_a_kernels_btf(obj, kernel):
    """Ids are looked up by name in the target BTF: the snapshot's, and whatever this kernel's are."""
    vmlinux = examples.kernel_btf() if kernel == "snapshot" else Btf.from_sys_fs()
    if kernel == "running" and not vmlinux.find_all("bpf_rcu_read_lock", kind="FUNC"):  # kfunc added in 6.2
        with pytest.raises(UnknownSymbol, match="'bpf_rcu_read_lock' is not in the kernel's BTF"):
            resolve_ksyms(obj, vmlinux, symbols={})
        return
    got = resolve_ksyms(obj, vmlinux, symbols={})
    assert got["bpf_rcu_read_lock"].btf_id == vmlinux.find("bpf_rcu_read_lock", kind="FUNC").id
    assert got["bpf_prog_active"].btf_id == vmlinux.find("bpf_prog_active", kind="VAR").id
    assert not got["bpf_link_fops"].found  # weak, and absent from the (empty) symbol table
    with_addr = resolve_ksyms(obj, vmlinux, symbols={"bpf_link_fops": 0xFFFF0000})
    assert with_addr["bpf_link_fops"].address == 0xFFFF0000


def test_a_strong_extern_the_kernel_lacks_is_named(obj):
    other = Object.from_file(fixture_path("minimal")).btf  # no kernel functions at all
    with pytest.raises(UnknownSymbol, match="kfunc extern 'bpf_rcu_read_lock' is not in the kernel's BTF"):
        resolve_ksyms(obj, other, symbols={})


@pytest.mark.kernel
def test_kallsyms_has_function_addresses_for_root():
    table = kallsyms()
    assert table.get("bpf_rcu_read_lock", 0) > 0


@pytest.mark.kernel
def test_load_kfuncs_and_the_kernels_answer_for_a_typed_ksym():
    """CONFIG_KALLSYMS_ALL=n here: the kernel cannot find bpf_prog_active's address."""
    with EbpfLoader().pipeline(fixture_path("ksym")) as p:
        p.run()
        assert set(p.programs) == {"kfunc_only", "weak_untyped"}
        exc = p.program_errors["typed_ksym"]
        assert isinstance(exc, VerifierError) and exc.errno == errno.ENOENT
        assert "failed to find the address for kernel symbol 'bpf_prog_active'" in exc.log


@pytest.mark.kernel
def test_tags_equal_libbpf(unique_name, differential):
    from oracles.libbpf_tags import libbpf_programs

    pin = Path("/sys/fs/bpf") / unique_name
    pin.mkdir()
    try:
        theirs = libbpf_programs(fixture_path("ksym"), str(pin), skip=["typed_ksym"])
        differential["libbpf"] = {n: k.tag for n, k in theirs.items()}
        with EbpfLoader().set_autoload("typed_ksym", False).load_file(fixture_path("ksym")) as ebpf:
            ours = differential["bpfnb"] = {n: p.info().tag for n, p in ebpf.programs.items()}
        assert ours == {n: k.tag for n, k in theirs.items()}
    finally:
        shutil.rmtree(pin, ignore_errors=True)
