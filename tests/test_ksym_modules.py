"""``__ksym`` externs only a kernel module defines: resolved in its split BTF, named to the kernel.

A kfunc in a module is called with ``off`` = the module BTF fd's slot in
``BPF_PROG_LOAD``'s ``fd_array`` (slot 0 is vmlinux's, so modules start at
1, numbered by extern name as libbpf does); a module's typed variable, or a
module kfunc's address (``bpf_ksym_exists``), is an ``ld_imm64`` whose
second half is the module BTF's fd.  The pure rules are checked on split
BTF built here; the kernel tests use nf_conntrack's kfuncs
(``bpf_xdp_ct_lookup``, ``bpf_ct_release``, 5.18+), which Debian's kernels
(the matrix guests) build as a module and this host builds in: there they
resolve in vmlinux and nothing is a module's, which the tests say.  The
tests that need the module absent unload it first where they can
(``modprobe -r``) and are skipped, with the reason, only where the kernel
cannot be without it (built in).
"""

from __future__ import annotations

import errno
import gc
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from bpfnb import Btf, EbpfLoader, Object
from bpfnb.asm import PseudoCall, PseudoLdImm64
from bpfnb.btf.types import Func, FuncProto, Int, IntEncoding, Linkage, Param, Var
from bpfnb.btf.writer import write_types
from bpfnb.errors import KsymNotFound, UnknownName, UnknownSymbol, VerifierError
from bpfnb.kernel.ksyms import ModuleBtfFds, SysModuleBtfs, bind_module_fds, resolve_ksyms
from bpfnb.obj import placeholder_fds, relocate
from bpfnb.obj.ksyms import (
    KsymKind,
    KsymTarget,
    assign_btf_fds,
    ksym_externs,
    ksym_fd_array,
    ksym_modules,
    resolve_externs,
)

from hardening_mutate import bpf_fds
from helpers import assert_libbpf_refuses_naming, fds_made_by, fixture_path, interrupt_at_fd, interrupted_runs

MODULE = "nf_conntrack"
LOOKUP, RELEASE = "bpf_xdp_ct_lookup", "bpf_ct_release"
XDP_DROP, XDP_PASS = 1, 2
#: ld_imm64 of a kfunc (what bpf_ksym_exists() on a kfunc compiles to) is accepted since 6.4.
KFUNC_LD_IMM64_SINCE = "6.4"
PACKET = bytes(14) + bytes(50)  # an Ethernet header's worth and some: XDP test runs want >= ETH_HLEN


# --- synthetic split BTF: the pure rules ----------------------------------------------------


def _base() -> Btf:
    """A tiny "vmlinux": an int, one prototype, one kfunc of its own."""
    types = [
        Int(1, "int", 4, IntEncoding.SIGNED, 0, 32),
        FuncProto(2, "", 1, (), False),
        Func(3, "bpf_vmlinux_kfunc", 2, Linkage.GLOBAL),
    ]
    return Btf.from_bytes(write_types(types), source="synthetic vmlinux")


def _module(base: Btf, name: str, funcs: tuple[str, ...] = (), variables: tuple[str, ...] = ()) -> Btf:
    """Split BTF on ``base`` defining ``funcs`` (FUNCs of base's prototype) and ``variables`` (int VARs)."""
    next_id, types = len(base), []
    for f in funcs:
        types.append(Func(next_id, f, 2, Linkage.GLOBAL))
        next_id += 1
    for v in variables:
        types.append(Var(next_id, v, 1, Linkage.GLOBAL))
        next_id += 1
    return Btf.from_bytes(write_types(types, base=base), base=base, source=f"synthetic {name}")


@pytest.fixture(scope="module")
def strong():
    return Object.from_file(fixture_path("ksym_module"))


@pytest.fixture(scope="module")
def weak():
    return Object.from_file(fixture_path("ksym_module_weak"))


def test_externs_of_the_fixtures(strong, weak):
    assert [(e.name, e.kind, e.weak) for e in ksym_externs(strong)] == [
        (LOOKUP, KsymKind.KFUNC, False), (RELEASE, KsymKind.KFUNC, False)]
    assert [(e.name, e.weak) for e in ksym_externs(weak)] == [(LOOKUP, True), (RELEASE, True)]


def test_vmlinux_first_then_modules_in_order_own_types_only(strong):
    base = _base()
    first = _module(base, "first", funcs=(LOOKUP,))
    second = _module(base, "second", funcs=(LOOKUP, RELEASE))
    targets = resolve_externs(ksym_externs(strong), base, {"first": first, "second": second})
    # the first module that has it answers, with its own (split) id
    assert (targets[LOOKUP].module, targets[LOOKUP].btf_id, targets[LOOKUP].source) == ("first", len(base), "first")
    assert (targets[RELEASE].module, targets[RELEASE].btf_id) == ("second", len(base) + 1)
    assert all(t.found and t.btf_obj_fd == 0 and t.btf_fd_index == 0 for t in targets.values())  # fds come later
    # a module's base types are vmlinux's: a module never answers for them
    in_vmlinux = _module(base, "third", funcs=("bpf_vmlinux_kfunc",))
    ext = ksym_externs(strong)[0].__class__("bpf_vmlinux_kfunc", KsymKind.KFUNC, False, 1)
    got = resolve_externs([ext], base, {"third": in_vmlinux})["bpf_vmlinux_kfunc"]
    assert (got.module, got.btf_id, got.source) == ("", 3, "vmlinux")


def test_fd_array_slots_by_extern_name_and_fds_in_ld_imm64(strong):
    """kfunc modules get slots 1.. in extern-name order (bpf_ct_release < bpf_xdp_ct_lookup);
    one slot per module however many kfuncs it answers for."""
    base = _base()
    modules = {"aa_lookup": _module(base, "aa_lookup", funcs=(LOOKUP,)),
               "zz_release": _module(base, "zz_release", funcs=(RELEASE,))}
    targets = resolve_externs(ksym_externs(strong), base, modules)
    assert ksym_modules(targets) == ["zz_release", "aa_lookup"]
    bound = assign_btf_fds(targets, {"aa_lookup": 41, "zz_release": 42})
    assert (bound[RELEASE].btf_fd_index, bound[RELEASE].btf_obj_fd) == (1, 42)
    assert (bound[LOOKUP].btf_fd_index, bound[LOOKUP].btf_obj_fd) == (2, 41)
    assert ksym_fd_array(bound) == (0, 42, 41)
    rel = relocate(strong, "ct_lookup", placeholder_fds(strong), ksyms=bound)
    calls = {a.symbol: a for a in rel.applied if a.kind.value == "kfunc"}
    assert (calls[LOOKUP].after.src, calls[LOOKUP].after.imm, calls[LOOKUP].after.off) == (
        PseudoCall.KFUNC_CALL, len(base), 2)
    assert calls[RELEASE].after.off == 1
    assert "module aa_lookup BTF id" in calls[LOOKUP].note and "fd_array[2]" in calls[LOOKUP].note
    assert rel.fd_array == (0, 42, 41)
    one = assign_btf_fds(resolve_externs(ksym_externs(strong), base, {"both": _module(base, "both", funcs=(LOOKUP, RELEASE))}),
                         {"both": 7})
    assert {t.btf_fd_index for t in one.values()} == {1} and ksym_fd_array(one) == (0, 7)
    # nothing in a module: no fd_array at all, as for vmlinux-only objects today
    assert ksym_fd_array(resolve_externs(ksym_externs(strong), _module(base, "v", funcs=(LOOKUP, RELEASE)))) == ()


def test_module_typed_variable_and_kfunc_address_carry_the_fd(weak):
    """ld_imm64 of a module's kfunc (bpf_ksym_exists) and of a module's typed variable: BTF_ID, imm = the
    module's type id, insn[1].imm = its BTF fd (not a slot); a typed variable takes no fd_array slot."""
    base = _base()
    targets = resolve_externs(ksym_externs(weak), base, {MODULE: _module(base, MODULE, funcs=(LOOKUP, RELEASE))})
    bound = assign_btf_fds(targets, {MODULE: 33})
    rel = relocate(weak, "ct_exists", placeholder_fds(weak), ksyms=bound)
    ld = next(a.after for a in rel.applied if a.symbol == LOOKUP and a.kind.value == "extern")
    assert (ld.src, ld.imm & 0xFFFFFFFF, ld.imm >> 32) == (PseudoLdImm64.BTF_ID, targets[LOOKUP].btf_id, 33)
    ksym = Object.from_file(fixture_path("ksym"))  # its bpf_prog_active is a typed variable
    var_mod = _module(base, "percpu_mod", variables=("bpf_prog_active",))
    vt = resolve_externs(ksym_externs(ksym), base, {"percpu_mod": var_mod}, symbols={"bpf_link_fops": 0x1000})
    vt = assign_btf_fds(vt, {"percpu_mod": 55})
    assert (vt["bpf_prog_active"].btf_fd_index, vt["bpf_prog_active"].btf_obj_fd) == (0, 55)
    assert ksym_fd_array(vt) == ()  # only kfunc calls index fd_array
    ld = next(a.after for a in relocate(ksym, "typed_ksym", placeholder_fds(ksym), ksyms=vt).applied
              if a.symbol == "bpf_prog_active")
    assert (ld.src, ld.imm & 0xFFFFFFFF, ld.imm >> 32) == (PseudoLdImm64.BTF_ID, len(base), 55)


def test_a_strong_extern_nobody_defines_names_it_and_the_modules(strong, weak):
    base = _base()
    modules = {"mod_a": _module(base, "mod_a"), "mod_b": _module(base, "mod_b", funcs=("other",))}
    with pytest.raises(KsymNotFound) as info:
        resolve_ksyms(strong, base, modules=modules, symbols={})
    exc = info.value
    assert isinstance(exc, UnknownSymbol) and isinstance(exc, ValueError)
    assert (exc.ksym, exc.kind, exc.searched, exc.modules) == (LOOKUP, "kfunc", ("vmlinux", "mod_a", "mod_b"), ("mod_a", "mod_b"))
    assert f"kfunc extern {LOOKUP!r}" in str(exc) and "mod_a, mod_b" in str(exc) and "not __weak" in str(exc)
    assert strong.name in str(exc)
    with pytest.raises(KsymNotFound, match="no kernel module BTF is loaded"):
        resolve_ksyms(strong, base, modules={}, symbols={})
    # not strict: the program using it is refused at relocation, with the same typed error, at the call
    targets = resolve_ksyms(strong, base, modules=modules, symbols={}, strict=False)
    assert all(t.required and not t.found for t in targets.values())
    with pytest.raises(KsymNotFound, match=rf"ct_lookup insn \d+: kfunc extern {LOOKUP!r}.*mod_a, mod_b") as info:
        relocate(strong, "ct_lookup", placeholder_fds(strong), ksyms=targets)
    assert info.value.ksym == info.value.symbol == LOOKUP
    # weak: 0, calls neutralised (imm 0, off 0), no fd_array
    wt = resolve_ksyms(weak, base, modules=modules, symbols={})
    assert not any(t.found or t.required for t in wt.values())
    rel = relocate(weak, "ct_guarded", placeholder_fds(weak), ksyms=wt)
    assert {(a.after.imm, a.after.off) for a in rel.applied if a.kind.value == "kfunc"} == {(0, 0)}
    assert rel.fd_array == ()


def test_sys_module_btfs_is_lazy_and_forgives_a_vanished_module(tmp_path, monkeypatch):
    parsed = []

    def unloaded(cls, module=None, **kw):
        parsed.append(module)
        raise UnknownName(f"no BTF for kernel module {module!r}")

    monkeypatch.setattr(Btf, "from_sys_fs", classmethod(unloaded))
    mods = SysModuleBtfs(["gone", "also_gone"])
    assert list(mods) == ["gone", "also_gone"] and parsed == []
    assert mods.get("gone") is None and parsed == ["gone"]
    assert mods.get("gone") is None and parsed == ["gone"]  # asked once
    assert "not_listed" not in mods
    # without an order it is the running kernel's, worked out only when a look-up gets past vmlinux
    from bpfnb.kernel import ksyms as kmod

    walked = []
    monkeypatch.setattr(kmod, "_sys_module_names", lambda: ["mod_b", "mod_a"])
    monkeypatch.setattr(kmod, "module_btf_objects", lambda: walked.append(1) or [(7, "mod_a"), (9, "mod_b")])
    lazy = kmod.running_module_btfs()
    base = _base()
    ext = Object.from_file(fixture_path("ksym_module"))
    everything = _module(base, "v", funcs=(LOOKUP, RELEASE))
    assert all(t.source == "vmlinux" for t in resolve_externs(ksym_externs(ext), everything, lazy).values())
    assert walked == [] and "not listed yet" in repr(lazy)
    assert list(lazy) == ["mod_a", "mod_b"] and walked == [1]  # BTF id order, not the names'


def test_dry_run_numbers_placeholder_fds(strong):
    base = _base()
    targets = resolve_externs(ksym_externs(strong), base, {MODULE: _module(base, MODULE, funcs=(LOOKUP, RELEASE))})
    bound, fds = bind_module_fds(targets, placeholder_start=2000)
    assert len(fds) == 0 and {t.btf_obj_fd for t in bound.values()} == {2000}
    assert ksym_fd_array(bound) == (0, 2000)


def test_an_extern_error_survives_the_loaders_copy():
    from bpfnb.loader import frameless

    exc = KsymNotFound(LOOKUP, "kfunc", ("vmlinux", MODULE), program="p", index=3)
    kept = frameless(exc)
    assert kept is not exc and str(kept) == str(exc) and kept.modules == (MODULE,)


# --- the running kernel ------------------------------------------------------------------


def _in_vmlinux() -> bool:
    return bool(Btf.from_sys_fs().find_all(LOOKUP, kind="FUNC"))


def _module_btf_loaded() -> bool:
    return (Path("/sys/kernel/btf") / MODULE).exists()


def _modules_supported() -> bool:
    return Path("/proc/modules").exists()


def _modprobe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["modprobe", *args, MODULE], capture_output=True, text=True, timeout=120)


def _where() -> str:
    """Where this kernel has nf_conntrack's kfuncs now: "vmlinux", "module" or "absent"."""
    if _in_vmlinux():
        return "vmlinux"
    return "module" if _module_btf_loaded() else "absent"


@pytest.fixture
def module_absent():
    """nf_conntrack's kfuncs are nowhere in this kernel (unloaded first when loaded and free)."""
    if _in_vmlinux():
        pytest.skip(f"{MODULE} is built into this kernel: its kfuncs are in vmlinux BTF and cannot be absent")
    if _module_btf_loaded():
        out = _modprobe("-r")
        if out.returncode or _module_btf_loaded():
            pytest.skip(f"{MODULE} is loaded and cannot be unloaded here ({out.stderr.strip()}): "
                        "its kfuncs cannot be made absent")
    Btf.clear_cache()
    yield


@pytest.fixture
def module_present():
    """nf_conntrack's kfuncs are in this kernel: built in, already loaded, or loaded now (and unloaded after)."""
    loaded_here = False
    if not _in_vmlinux() and not _module_btf_loaded():
        if not _modules_supported():
            pytest.skip(f"this kernel has no {MODULE} (not built in) and no loadable modules (/proc/modules absent)")
        if shutil.which("modprobe") is None:
            pytest.fail("this kernel loads modules but modprobe is not installed")
        out = _modprobe()
        if out.returncode and "not found" in out.stderr:
            pytest.skip(f"this kernel has no {MODULE} module to load: {out.stderr.strip()}")
        assert out.returncode == 0 and _module_btf_loaded(), f"modprobe {MODULE}: {out.stderr.strip()}"
        loaded_here = True
        Btf.clear_cache()
    try:
        yield _where()
    finally:
        gc.collect()
        if loaded_here:
            _modprobe("-r")  # best effort: the programs that referred to it are closed
            Btf.clear_cache()


def _kernel_takes_kfunc_ld_imm64() -> bool:
    from bpfnb.kernel.version import KernelVersion, running_kernel

    return running_kernel() >= KernelVersion.parse(KFUNC_LD_IMM64_SINCE)


#: The first libbpf that puts a module kfunc's BTF fd into an ld_imm64 (bpf_ksym_exists on it).
LIBBPF_KFUNC_LD_IMM64_FIXED = (1, 2)


def _libbpf_version() -> tuple[int, ...]:
    from oracles.libbpf import version

    return tuple(int(x) for x in version().lstrip("v").split(".")[:2])


def _lookup_error(ebpf) -> int:
    return struct.unpack("<i", ebpf.maps[".data"].raw.lookup(bytes(4))[:4])[0]


def _libbpf(path: Path, unique_name: str, skip=()):
    from oracles.libbpf_tags import libbpf_programs

    pin = Path("/sys/fs/bpf") / unique_name
    pin.mkdir()
    try:
        return libbpf_programs(path, str(pin), skip=skip)
    finally:
        shutil.rmtree(pin, ignore_errors=True)


@pytest.mark.kernel
def test_strong_module_kfunc_absent_is_refused_naming_it(module_absent, unique_name):
    """Without the module: the typed error names the kfunc and the modules searched, the program is
    refused (alone), libbpf refuses the object naming it too, and no fd stays open."""
    path = fixture_path("ksym_module")
    before = bpf_fds()
    with pytest.raises(KsymNotFound) as info:
        resolve_ksyms(Object.from_file(path))
    assert info.value.ksym == LOOKUP  # the first extern of the object
    assert set(info.value.modules) == set(os.listdir("/sys/kernel/btf")) - {"vmlinux"}  # every module searched
    with EbpfLoader().pipeline(path) as p:
        p.run()
        exc = p.program_errors["ct_lookup"]
        assert isinstance(exc, KsymNotFound) and exc.ksym == LOOKUP and repr(LOOKUP) in str(exc)
        assert not p.programs and p.ksym_fds is not None and len(p.ksym_fds) == 0
    with pytest.raises(KsymNotFound):
        EbpfLoader().load_file(path)
    gc.collect()
    assert bpf_fds() - before == set()
    assert_libbpf_refuses_naming(lambda: _libbpf(path, unique_name), [LOOKUP, RELEASE])


@pytest.mark.kernel
def test_weak_module_kfunc_absent_loads_neutralised(module_absent, unique_name, differential):
    """Without the module the __weak variant loads: its calls neutralised (imm 0, off 0) as dead code,
    bpf_ksym_exists() false; the programs run the "absent" branch, and libbpf gives the same tags."""
    path = fixture_path("ksym_module_weak")
    with EbpfLoader().pipeline(path) as p:
        ebpf = p.run_all()
        assert set(ebpf.programs) == {"ct_guarded", "ct_exists"}
        for name, rel in p.relocated.items():
            assert {(a.after.imm, a.after.off) for a in rel.applied if a.kind.value == "kfunc"} == {(0, 0)}, name
            assert rel.fd_array == ()
        ld = next(a.after for a in p.relocated["ct_exists"].applied if a.kind.value == "extern")
        assert (ld.src, ld.imm) == (0, 0)
        assert {n: prog.test_run(PACKET).retval for n, prog in ebpf.programs.items()} == {
            "ct_guarded": XDP_DROP, "ct_exists": XDP_DROP}
        ours = differential["bpfnb"] = {n: prog.info().tag for n, prog in ebpf.programs.items()}
    theirs = _libbpf(path, unique_name)
    differential["libbpf"] = {n: k.tag for n, k in theirs.items()}
    assert ours == {n: k.tag for n, k in theirs.items()}


@pytest.mark.kernel
def test_module_kfunc_loads_runs_and_matches_libbpf(module_present, unique_name, differential):
    """With nf_conntrack: the strong object loads, its lookup runs (no entry: XDP_PASS, opts.error
    -ENOENT), the calls name the module's BTF through fd_array slot 1 (vmlinux's off 0 where built in),
    the module fd is closed once loaded, and the kernel holds what libbpf's load gives it."""
    path = fixture_path("ksym_module")
    before = bpf_fds()
    in_module = module_present == "module"
    with EbpfLoader().pipeline(path) as p:
        ebpf = p.run_all()
        rel = p.relocated["ct_lookup"]
        offs = {a.symbol: a.after.off for a in rel.applied if a.kind.value == "kfunc"}
        assert offs == ({LOOKUP: 1, RELEASE: 1} if in_module else {LOOKUP: 0, RELEASE: 0})
        assert {p.ksyms[n].module for n in offs} == ({MODULE} if in_module else {""})
        assert len(rel.fd_array) == (2 if in_module else 0) and rel.fd_array[:1] in ((), (0,))
        assert p.ksym_fds is not None and p.ksym_fds.closed and len(p.ksym_fds) == int(in_module)
        run = ebpf.programs["ct_lookup"].test_run(PACKET)
        assert (run.retval, _lookup_error(ebpf)) == (XDP_PASS, -errno.ENOENT)
        mine = ebpf.programs["ct_lookup"]
        ours = differential["bpfnb"] = {"ct_lookup": mine.info().tag}
        from oracles.libbpf_tags import kernel_program

        our_kernel = kernel_program(mine.fd, "ct_lookup")
    # a dry run resolves the same and numbers a placeholder for the module's BTF, opening nothing
    with EbpfLoader().dry_run().pipeline(path) as d:
        d.run()
        assert d.relocated["ct_lookup"].fd_array == ((0, 2000) if in_module else ())
        assert {a.after.off for a in d.relocated["ct_lookup"].applied if a.kind.value == "kfunc"} == {int(in_module)}
        assert len(d.ksym_fds) == 0
    gc.collect()
    assert bpf_fds() - before == set()
    theirs = _libbpf(path, unique_name)
    differential["libbpf"] = {n: k.tag for n, k in theirs.items()}
    assert ours == {"ct_lookup": theirs["ct_lookup"].tag}
    assert our_kernel.canonical() == theirs["ct_lookup"].canonical()


@pytest.mark.kernel
def test_weak_module_kfunc_present_is_called(module_present, unique_name, differential):
    """With nf_conntrack the __weak variant calls it: behind use_ct (set) it runs the lookup; behind
    bpf_ksym_exists() too where the kernel takes a kfunc's ld_imm64 (6.4+; its second half is the module
    BTF fd, so the tag, which hashes it, is compared with libbpf's only for vmlinux; the code is compared
    always), and older kernels refuse that program alone, as they refuse libbpf's."""
    path = fixture_path("ksym_module_weak")
    in_module = module_present == "module"
    takes_ld = _kernel_takes_kfunc_ld_imm64()
    with EbpfLoader().set_global("use_ct", 1).pipeline(path) as p:
        p.run()
        assert "ct_guarded" in p.programs, p.program_errors
        assert p.programs["ct_guarded"].test_run(PACKET).retval == XDP_PASS
        ld = next(a.after for a in p.relocated["ct_exists"].applied if a.kind.value == "extern")
        assert (ld.src, ld.imm & 0xFFFFFFFF) == (PseudoLdImm64.BTF_ID, p.ksyms[LOOKUP].btf_id)
        assert (ld.imm >> 32 != 0) == in_module  # the module BTF's fd, 0 for vmlinux
        if takes_ld:
            assert p.programs["ct_exists"].test_run(PACKET).retval == XDP_PASS
        else:
            exc = p.program_errors["ct_exists"]
            assert isinstance(exc, VerifierError) and exc.errno == errno.EINVAL, exc
    skip = [] if takes_ld else ["ct_exists"]
    if takes_ld and in_module and _libbpf_version() < LIBBPF_KFUNC_LD_IMM64_FIXED:
        # libbpf before 1.2 writes a module kfunc's ld_imm64 without the module BTF's fd (fixed by
        # "libbpf: Fix relocation of kfunc ksym in ld_imm64 insn."): the kernel then looks the id up
        # in vmlinux and refuses the object. bpfnb writes the fd (above, and the program ran)
        from oracles.libbpf import LibbpfObject

        seen = len(LibbpfObject.log())
        with pytest.raises(OSError):
            _libbpf(path, unique_name)
        assert "ldimm64 insn specifies invalid btf_id" in " ".join(t for _, t in LibbpfObject.log()[seen:])
        skip = ["ct_exists"]
    loader = EbpfLoader()
    for name in skip:
        loader = loader.set_autoload(name, False)
    from oracles.libbpf_tags import kernel_program

    with loader.load_file(path) as ebpf:
        ours = {n: kernel_program(prog.fd, n) for n, prog in ebpf.programs.items()}
    theirs = _libbpf(path, unique_name, skip=skip)
    differential["bpfnb"] = {n: k.tag for n, k in ours.items()}
    differential["libbpf"] = {n: k.tag for n, k in theirs.items()}
    assert set(ours) == set(theirs) == {"ct_guarded", "ct_exists"} - set(skip)  # (bpfnb's ct_exists: loaded above)
    assert {n: k.canonical() for n, k in ours.items()} == {n: k.canonical() for n, k in theirs.items()}
    same_tag = {"ct_guarded"} | ({"ct_exists"} if takes_ld and not in_module else set())
    assert {n: ours[n].tag for n in same_tag} == {n: theirs[n].tag for n in same_tag}


@pytest.mark.kernel
def test_module_btf_fds_are_owned_and_never_leak(monkeypatch):
    """ModuleBtfFds opens only what it is asked for and closes what it opened on every way out: a module
    not loaded (UnknownName naming it), an interrupt half way, close(); and a pipeline failing after the
    fds are open (its load refused) leaves none behind."""
    from bpfnb.kernel import ksyms as kmod

    before = bpf_fds()
    with pytest.raises(UnknownName, match="bpfnb_no_such_module"):
        ModuleBtfFds.open(["bpfnb_no_such_module"])
    calls = []

    def interrupted(fd, **kw):
        calls.append(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(kmod, "btf_info", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ModuleBtfFds.open(["bpfnb_no_such_module"])
    assert calls  # it got as far as one BTF object
    monkeypatch.undo()
    gc.collect()
    assert bpf_fds() - before == set()
    if _where() != "module":
        return  # the rest needs a module's BTF to open (the matrix guests load nf_conntrack)
    with ModuleBtfFds.open([MODULE]) as fds:
        assert MODULE in fds and len(bpf_fds() - before) == 1
    assert fds.closed and bpf_fds() - before == set()
    from bpfnb.kernel import programs as kprog

    def refuse(*args, **kw):
        raise VerifierError(errno.EINVAL, "refused for the test", "")

    monkeypatch.setattr(kprog, "prog_load", refuse)
    for _ in range(20):
        with pytest.raises(VerifierError):
            EbpfLoader().load_file(fixture_path("ksym_module"))
    monkeypatch.undo()
    gc.collect()
    assert bpf_fds() - before == set()


def test_the_resolution_renders_which_module_answered(strong):
    """The relocate stage's __ksym table and the relocation notes say which module each extern is in."""
    from bpfnb.obj.ksyms import KsymTable

    base = _base()
    targets = resolve_externs(ksym_externs(strong), base, {MODULE: _module(base, MODULE, funcs=(LOOKUP,))})
    table = KsymTable(assign_btf_fds(targets, {MODULE: 9}))
    assert table.modules == [MODULE]
    assert repr(table) == f"<KsymTable 2 __ksym externs (1 in modules: {MODULE}), 1 not in this kernel>"
    assert (table[LOOKUP].where, table[RELEASE].where) == (f"module {MODULE}", "not found")
    html = table._repr_html_()
    assert f"<td>module {MODULE}</td>" in html and "fd_array slot" in html and "not found" in html
    assert f"{LOOKUP}: kfunc → module {MODULE} BTF id {len(base)}" in html  # the text fallback
    frame = table.to_dataframe()
    assert list(frame["module"]) == [MODULE, ""] and list(frame["fd_array_index"]) == [1, 0]
    assert table[LOOKUP].describe() == f"kfunc {LOOKUP} → module {MODULE} BTF id {len(base)} (fd_array[1])"
    weak_release = {**table, RELEASE: KsymTarget(RELEASE, KsymKind.KFUNC, False)}
    rel = relocate(strong, "ct_lookup", placeholder_fds(strong), ksyms=weak_release)
    assert "fd_array (module BTF fds)</th><td>0, 9" in rel._repr_html_()


@pytest.mark.kernel
def test_interrupted_module_kfunc_loads_leak_nothing(module_present, monkeypatch):
    """The strong object loaded once per fd it makes (the BTF objects walked for module names and
    for the module's fd, its maps, its program), interrupted at a different one each time:
    every fd the load had made is closed, the module BTF's included."""
    path = fixture_path("ksym_module")
    EbpfLoader().load_file(path).close()  # feature probes made and cached: the fds below are the load's
    per_load = fds_made_by(monkeypatch, lambda: EbpfLoader().load_file(path).close())
    assert per_load >= 3 + (2 if module_present == "module" else 0), per_load  # (+ the walks' BTF fds)

    before = bpf_fds()
    interrupted = interrupted_runs(monkeypatch, interrupt_at_fd, lambda: EbpfLoader().load_file(path).close(), per_load)
    assert interrupted == per_load
    assert bpf_fds() - before == set()
