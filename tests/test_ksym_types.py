"""``__ksym`` externs checked against the kernel's types, and kfuncs found by their ``___flavour``-less name.

libbpf's rule, which the fixture ``ksym_types.bpf.c`` exercises: a kfunc is
looked up by its essential name and its prototype must be CO-RE compatible
with the kernel's; a weak one that is not reads as absent (so of several
flavours the kernel's is picked), a strong one refuses its programs; a
typed variable of another type refuses its programs even when weak.
Expectations come from each kernel's own BTF (the matrix snapshots, the
examples' snapshot and the running kernel): the kfuncs came with 6.2, and
6.1's BTF lacks them.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from bpfnb import Btf, EbpfLoader, Object, examples
from bpfnb.asm import PseudoCall, PseudoLdImm64
from bpfnb.btf.types import Func, FuncProto, Int, IntEncoding, Linkage, Param
from bpfnb.btf.writer import write_types
from bpfnb.errors import KsymNotFound, KsymTypeMismatch
from bpfnb.kernel.ksyms import resolve_ksyms
from bpfnb.kernel.version import KernelVersion, running_kernel
from bpfnb.obj import placeholder_fds, relocate
from bpfnb.display.ksyms import ksyms_text
from bpfnb.obj.ksyms import KsymExtern, KsymKind, KsymTable, ksym_externs, resolve_externs

from helpers import KFUNC_MIN_KERNEL, fixture_path, needs_libbpf

PATH = fixture_path("ksym_types")
KERNELS = Path(__file__).resolve().parent / "testdata" / "kernels"
LOCK, UNLOCK = "bpf_rcu_read_lock", "bpf_rcu_read_unlock"
TAKES_INT, VOID, TAKES_PTR = f"{LOCK}___takes_int", f"{LOCK}___void", f"{UNLOCK}___takes_ptr"


@pytest.fixture(scope="module")
def obj():
    return Object.from_file(PATH)


def _kernel(name: str) -> Btf:
    if name == "running":
        return Btf.from_sys_fs()
    if name == "examples":
        return examples.kernel_btf()
    return Btf.from_file(KERNELS / name)


def _func(vmlinux: Btf, name: str) -> Func | None:
    found = vmlinux.find_all(name, kind="FUNC")
    return found[0] if found else None


KERNEL_NAMES = [*sorted(p.name for p in KERNELS.glob("*.btf.xz")), "examples", "running"]


def test_kfuncs_are_looked_up_by_their_essential_name(obj):
    externs = {e.name: e for e in ksym_externs(obj)}
    assert {n: (e.kind, e.weak, e.kernel_name) for n, e in externs.items()} == {
        TAKES_INT: (KsymKind.KFUNC, True, LOCK),
        VOID: (KsymKind.KFUNC, True, LOCK),
        UNLOCK: (KsymKind.KFUNC, True, UNLOCK),
        TAKES_PTR: (KsymKind.KFUNC, False, UNLOCK),
        "bpf_prog_active": (KsymKind.TYPED, True, "bpf_prog_active"),  # variables keep their own name
    }


@pytest.mark.parametrize("kernel", KERNEL_NAMES)
def test_each_kernel_gets_libbpfs_answer(obj, kernel):
    vmlinux = _kernel(kernel)
    lock, unlock = _func(vmlinux, LOCK), _func(vmlinux, UNLOCK)
    assert (lock is None) == kernel.startswith("debian-6.1.")  # the kfuncs came with 6.2
    assert vmlinux.find_all("bpf_prog_active", kind="VAR")  # a per-CPU int in every kernel
    targets = resolve_ksyms(obj, vmlinux, symbols={}, strict=False, modules={})

    takes_int, void = targets[TAKES_INT], targets[VOID]
    assert not takes_int.found and not takes_int.required and takes_int.kernel_name == LOCK
    if lock is not None:
        assert vmlinux[lock.type_id].params == ()  # the kernel's is void(void): the fixture's premise
        assert takes_int.mismatch is not None and takes_int.mismatch.where == "vmlinux"
        assert takes_int.mismatch.kernel == f"void {LOCK}(void)"
        assert takes_int.mismatch.local == f"void {TAKES_INT}(int)"
        assert takes_int.where == "incompatible in vmlinux"
        assert void.found and void.btf_id == lock.id and void.source == "vmlinux" and void.kernel_name == LOCK
    else:
        assert takes_int.mismatch is None and takes_int.where == "not found"
        assert not void.found and not void.required

    takes_ptr = targets[TAKES_PTR]
    assert takes_ptr.required and not takes_ptr.found
    err = takes_ptr.error("o", program="p", index=7)
    if unlock is not None:
        assert isinstance(err, KsymTypeMismatch) and err.kernel == f"void {UNLOCK}(void)"
        assert err.local == f"void {TAKES_PTR}(void *)" and err.kernel_name == UNLOCK
    else:
        assert type(err) is KsymNotFound and err.ksym == TAKES_PTR
    assert (err.program, err.index) == ("p", 7)

    var = targets["bpf_prog_active"]  # weak, and still refused: libbpf's rule for variables
    assert var.required and var.mismatch is not None
    assert var.mismatch.kernel == "int bpf_prog_active"
    assert var.mismatch.local == "const struct bpfnb_not_an_int bpf_prog_active"


@pytest.mark.parametrize("kernel", [n for n in KERNEL_NAMES if n.startswith("debian-6.1.")] + ["examples"])
def test_relocation_picks_the_kernels_flavour_and_refuses_the_rest(obj, kernel):
    """With and without the kfuncs (6.1's BTF lacks them, the examples' snapshot has them)."""
    vmlinux = _kernel(kernel)
    lock = _func(vmlinux, LOCK)
    targets = resolve_ksyms(obj, vmlinux, symbols={}, strict=False, modules={})
    fds = placeholder_fds(obj)
    applied = relocate(obj, "flavours", fds, ksyms=targets).applied
    by = {(a.symbol, a.after.is_call): a.after for a in applied if a.symbol in (TAKES_INT, VOID)}
    # the incompatible flavour: bpf_ksym_exists() reads 0, its call is neutralised (dead code)
    assert (by[TAKES_INT, False].src, by[TAKES_INT, False].imm) == (0, 0)
    assert (by[TAKES_INT, True].src, by[TAKES_INT, True].imm) == (PseudoCall.KFUNC_CALL, 0)
    note = next(a.note for a in applied if a.symbol == TAKES_INT and a.after.is_call)
    assert note.startswith(f"weak kfunc {TAKES_INT} " + (f"has another prototype in vmlinux (`void {LOCK}(void)`)"
                                                          if lock is not None else "not in this kernel"))
    want = lock.id if lock is not None else 0
    assert by[VOID, True].imm == want and by[VOID, False].imm_lo == want
    assert by[VOID, False].src == (PseudoLdImm64.BTF_ID if lock is not None else 0)
    with pytest.raises(KsymTypeMismatch if lock is not None else KsymNotFound) as info:
        relocate(obj, "strong_mismatch", fds, ksyms=targets)
    assert (info.value.program, info.value.ksym) == ("strong_mismatch", TAKES_PTR)
    with pytest.raises(KsymTypeMismatch, match=r"var_mismatch insn \d+: typed extern 'bpf_prog_active': "
                                                r"vmlinux BTF defines it as `int bpf_prog_active`") as info:
        relocate(obj, "var_mismatch", fds, ksyms=targets)
    assert info.value.symbol == "bpf_prog_active"
    relocate(obj, "independent", fds, ksyms=targets)


def test_strict_resolution_raises_the_typed_error_which_survives_pickling(obj):
    vmlinux = examples.kernel_btf()
    with pytest.raises(KsymTypeMismatch) as info:
        resolve_ksyms(obj, vmlinux, symbols={}, modules={})
    err = info.value
    assert err.owner == "ksym_types.bpf.o" and str(err).startswith("ksym_types.bpf.o: ")
    assert err.ksym in (TAKES_PTR, "bpf_prog_active")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is KsymTypeMismatch and str(again) == str(err)
    assert (again.ksym, again.kind, again.where, again.local, again.kernel, again.kernel_name) == (
        err.ksym, err.kind, err.where, err.local, err.kernel, err.kernel_name)


def test_views_say_which_name_was_looked_up_and_why_a_type_was_refused(obj):
    targets = KsymTable(resolve_ksyms(obj, examples.kernel_btf(), symbols={}, strict=False, modules={}))
    assert targets.summary() == "5 __ksym externs, 3 with an incompatible type"
    html = targets._repr_html_()
    assert f"{VOID} (as {LOCK})" in html and "incompatible in vmlinux" in html
    assert "the kernel&#x27;s is `int bpf_prog_active`, this object&#x27;s " \
           "`const struct bpfnb_not_an_int bpf_prog_active`: programs using it are refused" in html
    assert f"the kernel&#x27;s is `void {LOCK}(void)`, this object&#x27;s `void {TAKES_INT}(int)`: " \
           "weak: relocated to 0" in html
    assert f"  {VOID} (as {LOCK}): kfunc → vmlinux BTF id" in ksyms_text(targets)
    frame = targets.to_dataframe().set_index("extern")
    assert frame.loc[VOID, "kernel_name"] == LOCK and frame.loc[VOID, "found"]
    assert frame.loc[TAKES_INT, "kernel_type"] == f"void {LOCK}(void)"
    assert frame.loc[UNLOCK, "kernel_type"] == "" and frame.loc[UNLOCK, "kernel_name"] == UNLOCK


# --- module BTF: the first BTF with the name answers, and its type is the one compared ----------------


def _split_kernel() -> tuple[Btf, Btf]:
    base = Btf.from_bytes(write_types([Int(1, "int", 4, IntEncoding.SIGNED, 0, 32), FuncProto(2, "", 0, (), False)]),
                          source="synthetic vmlinux")
    module = Btf.from_bytes(write_types([Func(3, "bpf_mod_kfunc", 2, Linkage.GLOBAL)], base=base), base=base,
                            source="synthetic mod_a")
    return base, module


def _local() -> Btf:
    """An object's BTF declaring bpf_mod_kfunc twice: ___v1 as the module has it, ___v2 with an int parameter."""
    return Btf.from_bytes(write_types([
        Int(1, "int", 4, IntEncoding.SIGNED, 0, 32),
        FuncProto(2, "", 0, (), False),
        FuncProto(3, "", 0, (Param("x", 1),), False),
        Func(4, "bpf_mod_kfunc___v1", 2, Linkage.EXTERN),
        Func(5, "bpf_mod_kfunc___v2", 3, Linkage.EXTERN),
    ]), source="synthetic object")


def test_a_modules_kfunc_is_found_by_essential_name_and_compared_with_the_modules_prototype():
    base, module = _split_kernel()
    externs = [KsymExtern("bpf_mod_kfunc___v1", KsymKind.KFUNC, True, 4),
               KsymExtern("bpf_mod_kfunc___v2", KsymKind.KFUNC, True, 5)]
    got = resolve_externs(externs, base, {"mod_a": module}, local=_local())
    v1, v2 = got["bpf_mod_kfunc___v1"], got["bpf_mod_kfunc___v2"]
    assert v1.found and (v1.module, v1.btf_id, v1.kernel_name) == ("mod_a", 3, "bpf_mod_kfunc")
    assert not v2.found and v2.module == "" and v2.mismatch is not None
    assert (v2.mismatch.where, v2.mismatch.kernel, v2.mismatch.local) == (
        "mod_a", "void bpf_mod_kfunc(void)", "void bpf_mod_kfunc___v2(int x)")
    assert v2.where == "incompatible in module mod_a"
    # without the object's BTF nothing is compared: both resolve (how callers without it behaved)
    unchecked = resolve_externs(externs, base, {"mod_a": module})
    assert unchecked["bpf_mod_kfunc___v2"].found


# --- the running kernel ---------------------------------------------------------------------------------


@pytest.mark.kernel
def test_the_kernel_loads_the_picked_flavour_and_bpfnb_refuses_the_mismatches():
    """``flavours`` loads only because the incompatible flavour reads as absent: resolved to the real
    kfunc, its branch would run and leave the RCU read lock held at exit, which the verifier refuses."""
    vmlinux = Btf.from_sys_fs()
    lock = _func(vmlinux, LOCK)
    if lock is None:
        assert running_kernel() < KernelVersion.parse(KFUNC_MIN_KERNEL[LOCK])
    with EbpfLoader().pipeline(PATH) as p:
        p.run()
        assert set(p.programs) == {"flavours", "independent"}
        errors = p.program_errors
        assert set(errors) == {"strong_mismatch", "var_mismatch"}
        assert type(errors["strong_mismatch"]) is (KsymTypeMismatch if lock is not None else KsymNotFound)
        assert type(errors["var_mismatch"]) is KsymTypeMismatch
        assert p.results["load"].summary.startswith("2 of 4 programs loaded")
        calls = {a.symbol: a.after for a in p.relocated["flavours"].applied if a.after.is_call}
        assert calls[TAKES_INT].imm == 0 and calls[VOID].imm == (lock.id if lock is not None else 0)


@pytest.mark.kernel
@needs_libbpf
def test_libbpf_refuses_the_weak_variable_of_another_type_too(unique_name):
    """libbpf checks the same rule, and resolves every extern of the object first (they sort by name,
    so the variable's is the refusal it reports)."""
    from oracles.libbpf import LibbpfObject

    pin = Path("/sys/fs/bpf") / unique_name
    pin.mkdir()
    try:
        seen = len(LibbpfObject.log())
        with pytest.raises(OSError):
            with LibbpfObject(PATH, str(pin)) as o:
                o.load()
        said = " ".join(text for _, text in LibbpfObject.log()[seen:])
        assert "extern (var ksym) 'bpf_prog_active': incompatible types" in said, said[-2000:]
    finally:
        shutil.rmtree(pin, ignore_errors=True)
