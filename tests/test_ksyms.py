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

from helpers import assert_libbpf_refuses_naming, assert_programs_refuse_missing_ksyms, fixture_path, missing_strong_ksyms


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
        with pytest.raises(UnknownSymbol, match="'bpf_rcu_read_lock' is not in vmlinux BTF"):
            resolve_ksyms(obj, vmlinux, symbols={})
        return
    got = resolve_ksyms(obj, vmlinux, symbols={})
    assert got["bpf_rcu_read_lock"].btf_id == vmlinux.find("bpf_rcu_read_lock", kind="FUNC").id
    assert got["bpf_prog_active"].btf_id == vmlinux.find("bpf_prog_active", kind="VAR").id
    assert not got["bpf_link_fops"].found  # weak, and absent from the (empty) symbol table
    with_addr = resolve_ksyms(obj, vmlinux, symbols={"bpf_link_fops": 0xFFFF0000})
    assert with_addr["bpf_link_fops"].address == 0xFFFF0000


KERNELS = Path(__file__).resolve().parent / "testdata" / "kernels"


@pytest.mark.parametrize("snapshot", sorted(p.name for p in KERNELS.glob("*.btf.xz")))
def test_each_matrix_kernel_gets_the_loader_answer_for_its_kfuncs(obj, snapshot):
    """Against each matrix kernel's real BTF: kfuncs it has relocate, those it lacks (6.1 has no
    bpf_rcu_read_lock) refuse the calling program with an UnknownSymbol naming them."""
    vmlinux = Btf.from_file(KERNELS / snapshot)
    targets = resolve_ksyms(obj, vmlinux, symbols={}, strict=False)
    fds = placeholder_fds(obj)
    lacking = [n for n in ("bpf_rcu_read_lock", "bpf_rcu_read_unlock") if not vmlinux.find_all(n, kind="FUNC")]
    assert bool(lacking) == snapshot.startswith("debian-6.1.")  # the kfuncs came with 6.2
    if not lacking:
        calls = [a.after for a in relocate(obj, "kfunc_only", fds, ksyms=targets).applied if a.kind.value == "kfunc"]
        assert [c.imm for c in calls] == [vmlinux.find(n, kind="FUNC").id for n in ("bpf_rcu_read_lock", "bpf_rcu_read_unlock")]
        return
    assert all(targets[n].required and not targets[n].found for n in lacking)
    with pytest.raises(UnknownSymbol, match=f"kfunc_only insn 0: kfunc extern '{lacking[0]}' is not in vmlinux BTF") as info:
        relocate(obj, "kfunc_only", fds, ksyms=targets)
    assert info.value.ksym == lacking[0]
    relocate(obj, "typed_ksym", fds, ksyms=targets)  # the other programs are not concerned


def test_a_strong_extern_the_kernel_lacks_is_named(obj):
    other = Object.from_file(fixture_path("minimal")).btf  # no kernel functions at all
    with pytest.raises(UnknownSymbol, match="kfunc extern 'bpf_rcu_read_lock' is not in vmlinux BTF"):
        resolve_ksyms(obj, other, symbols={})


def test_kallsyms_by_name_answers_as_the_whole_table(tmp_path):
    """The byte search for a few names finds what the full parse finds: first non-zero
    definition, not a longer name sharing the prefix, module lines, absent names."""
    path = tmp_path / "kallsyms"
    path.write_text(
        "0000000000000000 T zeroed\n"
        "ffffffff81000100 T foo_bar\n"
        "ffffffff81000200 T foo\n"
        "ffffffff81000300 t foo\n"
        "ffffffff81000400 D zeroed\n"
        "ffffffffc0201000 t in_module\t[mod]\n"
        "ffffffffc0201100 t last")
    names = ["foo", "foo_bar", "zeroed", "in_module", "last", "absent", "oo"]
    table = kallsyms(str(path))
    assert kallsyms(str(path), names=names) == {n: table[n] for n in names if n in table}
    assert table["foo"] == 0xffffffff81000200 and table["zeroed"] == 0xffffffff81000400


def test_a_static_a_clang_lto_kernel_promoted_is_found_by_its_own_name(tmp_path):
    """kallsyms lists such a variable as ``name.llvm.<hash>``; libbpf matches it for local data
    (type ``d``) only, and so do both readings (whole table, by name), module lines too."""
    path = tmp_path / "kallsyms"
    path.write_text(
        "ffffffff81000100 t helper.llvm.123\n"      # text: not matched
        "ffffffff81000200 d counter.llvm.9876\n"
        "ffffffff81000300 d counter\n"              # a later definition: the first wins
        "ffffffff81000400 D shared.llvm.1\n"        # global data keeps its name
        "ffffffffc0201000 d mod_state.llvm.55\t[mod]\n"
        "ffffffff81000500 d .llvm.7\n")             # no name before the suffix: left alone
    table = kallsyms(str(path))
    assert table["counter"] == 0xffffffff81000200 and table["mod_state"] == 0xffffffffc0201000
    assert "helper" not in table and "shared" not in table and table["shared.llvm.1"] == 0xffffffff81000400
    names = ["counter", "mod_state", "helper", "shared", "helper.llvm.123"]
    assert kallsyms(str(path), names=names) == {n: table[n] for n in names if n in table}


def test_kallsyms_by_name_across_chunks_and_cached_only_for_vmlinux(tmp_path, monkeypatch):
    """Read in chunks that split lines anywhere, the answer is the same; kernel symbols are
    remembered for the process (the file is not read again), module symbols are not."""
    from bpfnb.kernel import ksyms

    path = tmp_path / "kallsyms"
    lines = [f"ffffffff81{i:06x} T sym_{i}" for i in range(300)] + ["ffffffffc0201000 t in_module\t[mod]"]
    path.write_text("\n".join(lines) + "\n")
    names = ["sym_0", "sym_17", "sym_299", "in_module", "sym_3000"]
    table = kallsyms(str(path))
    for chunk in (7, 64, 1000, 1 << 20):
        monkeypatch.setattr(ksyms, "_CHUNK", chunk)
        monkeypatch.setattr(ksyms, "_VMLINUX_ADDRESSES", {})
        assert kallsyms(str(path), names=names) == {n: table[n] for n in names if n in table}, chunk
    assert set(ksyms._VMLINUX_ADDRESSES) == {(str(path), n) for n in ("sym_0", "sym_17", "sym_299")}
    path.write_text("ffffffff82000000 T sym_0\nffffffffc0300000 t in_module\t[mod]\n")  # "modules reloaded"
    assert kallsyms(str(path), names=["sym_0", "in_module"]) == {"sym_0": table["sym_0"], "in_module": 0xffffffffc0300000}


def test_a_kallsyms_miss_is_remembered_until_modules_or_the_file_change(tmp_path, monkeypatch):
    """A name read to the end without being found is not searched again (a weak extern's
    miss cost every load a whole read) until the modules loaded or the file itself change."""
    from bpfnb.kernel import ksyms

    path, modules = tmp_path / "kallsyms", tmp_path / "modules"
    path.write_text("ffffffff81000000 T present\n")
    modules.write_text("")
    monkeypatch.setattr(ksyms, "MODULES", str(modules))
    monkeypatch.setattr(ksyms, "_MISSES", {})
    assert kallsyms(str(path), names=["absent"]) == {}
    reads = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: (reads.append(f), real_open(f, *a, **k))[1])
    assert kallsyms(str(path), names=["absent"]) == {}
    assert str(path) not in reads
    modules.write_text("absent_mod 16384 0 - Live 0xffffffffc0300000\n")  # a module loaded
    path.write_text(path.read_text() + "ffffffffc0300000 t absent\t[absent_mod]\n")
    assert kallsyms(str(path), names=["absent"]) == {"absent": 0xffffffffc0300000}
    assert str(path) in reads
    reads.clear()
    path.write_text("ffffffff81000000 T present\n")  # the file changed, the modules did not
    monkeypatch.setattr(ksyms, "_MISSES", {(str(path), "gone"): ksyms._symbol_state(str(path))})
    path.write_text("ffffffff81000000 T present\nffffffff81000100 T gone\n")
    assert kallsyms(str(path), names=["gone"]) == {"gone": 0xffffffff81000100}


@pytest.mark.kernel
def test_kallsyms_has_function_addresses_for_root():
    """Root reads real addresses: the fixtures' kfuncs this kernel has, and the BPF syscall's, lie in its text."""
    table = kallsyms()
    vmlinux = Btf.from_sys_fs()
    names = [n for n in ("bpf_rcu_read_lock", "bpf_rcu_read_unlock", "bpf_cast_to_kern_ctx", "bpf_prog_put")
             if vmlinux.find_all(n, kind="FUNC")]
    assert "bpf_prog_put" in names  # exported since BPF was: every kernel's BTF describes it
    assert 0 < table["_stext"] < table["_etext"]
    for name in names:
        assert table["_stext"] <= table.get(name, 0) < table["_etext"], name
    assert kallsyms(names=[*names, "_stext"]) == {n: table[n] for n in [*names, "_stext"]}


def _kernel_can_place(name: str) -> bool:
    """Whether the verifier finds a typed ksym's address: it looks it up in kallsyms, which holds
    data symbols only with CONFIG_KALLSYMS_ALL (Debian's kernels have it, some builds do not)."""
    return name in kallsyms()


@pytest.mark.kernel
def test_load_kfuncs_and_the_kernels_answer_for_a_typed_ksym():
    """Each program loads exactly where this kernel has what it names, else its refusal is typed and exact.

    * ``kfunc_only``: strong kfuncs (6.2); a kernel without them gets an
      UnknownSymbol naming the kfunc, for that program only;
    * ``typed_ksym``: the verifier needs ``bpf_prog_active``'s address from
      kallsyms; without CONFIG_KALLSYMS_ALL it answers ENOENT, naming it;
    * ``weak_untyped``: a weak untyped symbol loads on every kernel.
    """
    obj = Object.from_file(fixture_path("ksym"))
    missing = missing_strong_ksyms(obj)
    placed = _kernel_can_place("bpf_prog_active")
    expected = {"weak_untyped"} | ({"kfunc_only"} if not missing else set()) | ({"typed_ksym"} if placed else set())
    with EbpfLoader().pipeline(fixture_path("ksym")) as p:
        p.run()
        assert set(p.programs) == expected
        assert set(p.program_errors) == {"kfunc_only", "typed_ksym", "weak_untyped"} - expected
        if not placed:
            exc = p.program_errors["typed_ksym"]
            assert isinstance(exc, VerifierError) and exc.errno == errno.ENOENT
            assert "failed to find the address for kernel symbol 'bpf_prog_active'" in exc.log
    if missing:
        assert set(assert_programs_refuse_missing_ksyms(fixture_path("ksym"), missing)) == {"kfunc_only"}


@pytest.mark.kernel
def test_tags_equal_libbpf(unique_name, differential):
    """Where the kernel has the kfuncs, the programs both load have the same tags; else both refuse.

    libbpf resolves every extern of the object up front, so a kfunc the
    kernel lacks refuses the whole object; bpfnb refuses the programs that
    call it.  ``typed_ksym`` is compared where the kernel can place it.
    """
    from oracles.libbpf_tags import libbpf_programs

    path = fixture_path("ksym")
    missing = missing_strong_ksyms(Object.from_file(path))
    skip = [] if _kernel_can_place("bpf_prog_active") else ["typed_ksym"]
    pin = Path("/sys/fs/bpf") / unique_name
    pin.mkdir()
    try:
        if missing:
            assert_libbpf_refuses_naming(lambda: libbpf_programs(path, str(pin), skip=skip), missing)
            assert set(assert_programs_refuse_missing_ksyms(path, missing)) == {"kfunc_only"}
            return
        theirs = libbpf_programs(path, str(pin), skip=skip)
        differential["libbpf"] = {n: k.tag for n, k in theirs.items()}
        loader = EbpfLoader()
        for name in skip:
            loader = loader.set_autoload(name, False)
        with loader.load_file(path) as ebpf:
            ours = differential["bpfnb"] = {n: p.info().tag for n, p in ebpf.programs.items()}
        assert ours == {n: k.tag for n, k in theirs.items()}
        assert set(ours) == {"kfunc_only", "typed_ksym", "weak_untyped"} - set(skip)
    finally:
        shutil.rmtree(pin, ignore_errors=True)
