"""Object BTF into the running kernel: fix-up against libbpf and bpftool, every sanitized variant.

* every fixture's and example's BTF loads after :func:`fixup`, and
  ``bpftool btf dump id N`` of the loaded object shows the ELF section sizes
  and symbol offsets;
* libbpf 1.1 (tests/oracles) loads the same object with every program's
  autoload off, which loads its fixed-up BTF and the maps only; its loaded
  BTF and ours are compared type by type;
* the 2^7 sanitized variants of every fixture's BTF load too (this kernel
  knows every replacement kind);
* refusals raise BtfLoadError with the kernel's log, or give None with
  ``optional=True``.
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools
import os
import shutil
import struct
import uuid
from functools import cache
from pathlib import Path

import pytest
from helpers import (all_fixtures, assert_libbpf_refuses_naming, assert_programs_refuse_missing_ksyms, fixture_path,
                     missing_strong_ksyms)
from oracles.bpftool import bpftool

from bpfnb import kernel
from bpfnb.btf import Btf, Datasec, Enum, EnumValue, Func, FuncProto, Int, Kind, Linkage, Member, Param, Struct, Var
from bpfnb.btf.sanitize import OLD_SECTION_NAME, BtfFeatures, ElfLayout, fixup, sanitize
from bpfnb.btf.writer import BtfBuilder
from bpfnb.errors import BtfError, BtfLoadError
from bpfnb.kernel.btf import (
    QMARK_DATASEC_MIN_KERNEL, LoadedObjectBtf, features_for_btf, load_btf, load_object_btf, probe_qmark_datasec,
)
from bpfnb.kernel.features import Support
from bpfnb.kernel.version import KernelVersion, running_kernel
from bpfnb.obj import Object
from bpfnb.uapi import MapType

pytestmark = pytest.mark.kernel

EXAMPLES = Path(__file__).resolve().parent.parent / "bpfnb" / "examples"
PATHS = [*all_fixtures(), *sorted(EXAMPLES.glob("*.bpf.o"))]
IDS = [p.name.removesuffix(".bpf.o") for p in PATHS]
COMBOS = [BtfFeatures(*bits) for bits in itertools.product((True, False), repeat=7)]
COMBOS += [BtfFeatures(qmark_datasec=False), BtfFeatures.none()]
#: libbpf 1.x refuses to open these ("legacy map definitions in 'maps' section";
#: "program 'twice' is static and not supported"): ours still load, see
#: test_object_btf_loads_and_bpftool_sees_the_fixes.
# parity_strong_ksym: a strong __ksym no kernel has; struct_ops_mismatch: libbpf 1.1 refuses at open a
# struct_ops program shared by two maps ("cannot use prog mm_ssthresh ... for func ptr ssthresh").
#: ksym_types: a weak typed __ksym of another type than the kernel's (libbpf refuses the object, bpfnb the program)
LIBBPF_REFUSES = {"legacy_maps", "section_static", "parity_strong_ksym", "struct_ops_mismatch", "ksym_types"}


@cache
def obj_at(path: Path) -> Object:
    return Object.from_file(path)


def bpftool_dump(btf_id: int) -> dict[int, dict]:
    return {t["id"]: t for t in bpftool("btf", "dump", "id", str(btf_id))["types"]}


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_object_btf_loads_and_bpftool_sees_the_fixes(path):
    obj = obj_at(path)
    sizes = {s.name: s.size for s in obj.sections}
    symbols = {s.name: s.value for s in obj.symbols if s.type == "STT_OBJECT" and s.is_global}
    with load_object_btf(obj, log_level=1) as loaded:
        assert isinstance(loaded, LoadedObjectBtf) and loaded.id > 0
        info = kernel.btf_info(loaded.fd, data=True)
        assert info.id == loaded.id and info.data == loaded.data
        dump = bpftool_dump(loaded.id)
        datasecs = [t for t in dump.values() if t["kind"] == "DATASEC"]
        assert len(datasecs) == len(obj.btf.ids_of_kind(Kind.DATASEC))
        renamed = {c.type_id for c in loaded.sanitized.changes if c.kind_before == Kind.DATASEC}
        for sec in datasecs:
            offsets = [v["offset"] for v in sec["vars"]]
            assert offsets == sorted(offsets)
            # the kernel holds the name as sanitized for it (a kernel before 6.5 gets printable
            # names renamed); the ELF section is still found through the type id
            section = obj.btf[sec["id"]].name
            assert (sec["name"] != section) == (sec["id"] in renamed), (sec["name"], section)
            assert sec["name"] == loaded.btf[sec["id"]].name
            if sec["id"] in renamed:
                assert not loaded.features.qmark_datasec and OLD_SECTION_NAME.match(sec["name"])
            if section in (".ksyms", ".kconfig"):
                assert all(dump[v["type_id"]]["kind"] == "VAR" for v in sec["vars"])
                continue
            assert sec["size"] == sizes[section] > 0, sec
            for v in sec["vars"]:
                var = dump[v["type_id"]]
                if var["linkage"] == "global" or obj.btf[v["type_id"]].linkage == Linkage.GLOBAL:
                    assert v["offset"] == symbols[var["name"]], var
        # the kernel holds exactly the strings of the object plus the appended ones
        assert loaded.strings.startswith(obj.btf._strings.data)
    assert loaded.closed


@pytest.fixture(scope="module")
def pin_root():
    path = f"/sys/fs/bpf/bpfnb_btf_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    os.mkdir(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclasses.dataclass(frozen=True)
class LibbpfBtf:
    """What libbpf made of an object's BTF: its fixed-up BTF, and whether the kernel took it."""

    btf: Btf
    in_kernel: bool


def libbpf_btf(path: Path, pin_root: str) -> LibbpfBtf:
    """The BTF libbpf fixes up for ``path``, and whether the kernel accepted it.

    Programs are not autoloaded, so only BTF and maps are created (a
    program the verifier refuses cannot hide the BTF).  A prog array
    initialised with programs needs them loaded, so such objects are
    loaded whole on a second try.  When the kernel refuses the BTF,
    libbpf carries on without it ("BTF is optional, ignoring") and keeps
    its fixed-up copy in memory: that copy is returned, ``in_kernel`` False.
    """
    from oracles.libbpf import LibbpfObject, _load_lib, available

    if not available():
        pytest.skip("libbpf.so.1 not installed")
    lib = _load_lib()
    lib.bpf_program__set_autoload.argtypes = [ctypes.c_void_p, ctypes.c_bool]
    lib.bpf_object__btf_fd.argtypes = [ctypes.c_void_p]
    lib.bpf_object__btf.argtypes = [ctypes.c_void_p]
    lib.bpf_object__btf.restype = ctypes.c_void_p
    lib.btf__raw_data.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
    lib.btf__raw_data.restype = ctypes.c_void_p
    pin = os.path.join(pin_root, path.name.split(".")[0])
    os.makedirs(pin, exist_ok=True)
    for autoload in (False, True):
        with LibbpfObject(path, pin) as lo:
            prog = None
            while prog := lib.bpf_object__next_program(lo._handle(), prog):
                lib.bpf_program__set_autoload(prog, autoload)
            try:
                lo.load()
            except OSError:
                if autoload:
                    raise
                continue
            fd = lib.bpf_object__btf_fd(lo._handle())
            if fd >= 0:
                info = kernel.btf_info(fd, data=True)
                return LibbpfBtf(Btf.from_bytes(info.data, source=f"libbpf {path.name}"), True)
            handle = lib.bpf_object__btf(lo._handle())
            assert handle, "libbpf has no BTF for the object"
            size = ctypes.c_uint32()
            raw = ctypes.string_at(lib.btf__raw_data(handle, ctypes.byref(size)), size.value)
            return LibbpfBtf(Btf.from_bytes(raw, source=f"libbpf {path.name} (not in the kernel)"), False)
    raise AssertionError("unreachable")


def assert_libbpf_refuses_missing_ksyms(path: Path, pin_root: str, missing: list[str]) -> None:
    """libbpf resolves every extern of the object first: one the kernel lacks refuses the whole object."""
    assert_libbpf_refuses_naming(lambda: libbpf_btf(path, pin_root), missing)


def needs_qmark_datasec(btf: Btf) -> list[str]:
    """DATASEC names a kernel before 6.5 refuses (only ``[A-Za-z_.][A-Za-z0-9_.]*`` allowed)."""
    return [btf[tid].name for tid in btf.ids_of_kind(Kind.DATASEC).tolist()
            if not OLD_SECTION_NAME.match(btf[tid].name)]


def qmark_datasec_supported() -> bool:
    """The probe's answer, checked against the release that brought any printable DATASEC name (6.5)."""
    support = probe_qmark_datasec()
    assert support is not Support.UNKNOWN, "the qmark_datasec probe could not run as root"
    assert (support is Support.YES) == (running_kernel() >= KernelVersion.parse(QMARK_DATASEC_MIN_KERNEL)), (
        f"qmark_datasec probe says {support.value} on Linux {running_kernel()}")
    return support is Support.YES


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_fixup_equals_libbpf(path, pin_root):
    """Type by type: DATASEC sizes and vars, VAR types and linkage, FUNC linkage, appended types.

    Where the kernel lacks a strong kfunc the object calls (``bpf_rcu_read_lock``
    before 6.2), libbpf refuses the whole object and bpfnb each program
    calling it, naming the kfunc: both refusals are asserted instead.  Where
    the kernel refuses the object's DATASEC names (before 6.5), libbpf 1.1
    loads no BTF but keeps its fixed-up copy, which is compared.
    """
    name = path.name.removesuffix(".bpf.o")
    if name in LIBBPF_REFUSES:
        # The oracle's answer for these objects is a refusal: assert it, and let the
        # load tests (every fixture's fixed BTF loads into the kernel) cover bpfnb's side.
        with pytest.raises(OSError):
            libbpf_btf(path, pin_root)
        return
    obj = obj_at(path)
    missing = missing_strong_ksyms(obj)
    if missing:
        assert_libbpf_refuses_missing_ksyms(path, pin_root, missing)
        assert_programs_refuse_missing_ksyms(path, missing)
        return
    result = libbpf_btf(path, pin_root)
    theirs = result.btf
    ours = fixup(obj.btf, obj).btf
    # libbpf 1.1 sanitizes no DATASEC name: the kernel takes its BTF exactly when it takes every name
    assert result.in_kernel == (qmark_datasec_supported() or not needs_qmark_datasec(ours)), name
    assert len(ours) == len(theirs)
    for tid in range(1, len(ours)):
        a, b = ours[tid], theirs[tid]
        assert a.kind == b.kind and a.name == b.name, (a, b)
        if isinstance(a, Datasec):
            assert (a.size, a.vars) == (b.size, b.vars), a.name
        elif isinstance(a, (Var, Func)):
            assert (a.type_id, a.linkage) == (b.type_id, b.linkage), a.name
        else:
            assert a == b, (a, b)
    # nothing else differs either: the very same bytes (strings appended alike)
    assert fixup(obj.btf, obj).data == theirs.to_bytes()


def test_statically_linked_object(tmp_path, pin_root):
    """bpftool's static linker fills sizes and offsets: fix-up leaves data DATASECs alone, still equals libbpf."""
    linked = tmp_path / "linked.bpf.o"
    bpftool("gen", "object", str(linked), str(fixture_path("btf_fixup")), json=False)
    obj = Object.from_file(linked)
    res = fixup(obj.btf, obj)
    touched = {res.btf[c.type_id].name for c in res.changes if c.kind_after == Kind.DATASEC}
    assert touched == {".kconfig", ".ksyms"}  # the linker cannot know these: the loader lays them out
    assert any(c.name == "hidden_data" for c in res.changes)  # visibility is still the loader's business
    missing = missing_strong_ksyms(obj)
    if missing:  # a kernel before 6.2: both loaders refuse what calls the kfuncs it lacks
        assert_libbpf_refuses_missing_ksyms(linked, pin_root, missing)
        assert_programs_refuse_missing_ksyms(linked, missing)
    else:
        theirs = libbpf_btf(linked, pin_root)
        assert theirs.in_kernel and res.data == theirs.btf.to_bytes()
    with load_object_btf(obj) as loaded:
        assert loaded.data == res.data


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_every_sanitized_variant_loads(path):
    """All 130 variants load, except those that keep a DATASEC name the kernel refuses.

    A variant that keeps DATASEC (``datasec``) and claims any printable
    name (``qmark_datasec``) is refused by a kernel whose probe says no,
    when the object has such a name: exactly that, with the kernel's
    "Invalid name".  Every other kind a variant keeps, Linux 6.x knows.
    """
    fixed = fixup(obj_at(path).btf, obj_at(path))
    kernel_feats = features_for_btf()
    assert kernel_feats.missing == (() if qmark_datasec_supported() else ("qmark_datasec",)), kernel_feats
    odd_names = needs_qmark_datasec(fixed.btf)
    for feats in COMBOS:
        res = sanitize(fixed.btf, feats)
        if feats.datasec and feats.qmark_datasec and odd_names and not kernel_feats.qmark_datasec:
            with pytest.raises(BtfLoadError, match="Invalid name") as refused:
                load_btf(res.data, log_level=1).close()
            assert any(f"DATASEC {n}" in refused.value.log for n in odd_names), refused.value.log
            continue
        try:
            loaded = load_btf(res.data, log_level=0)
        except BtfLoadError as exc:
            pytest.fail(f"{path.name} sanitized for {feats}: {exc}\n{exc.log}")
        with loaded:
            kinds = {t["kind"] for t in bpftool_dump(loaded.id).values()} if feats == BtfFeatures.none() else None
        if kinds is not None:
            assert not kinds & {"FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64"}


def test_data_sections_back_keyless_array_maps():
    """The kernel checks a DATASEC value type against value_size: each data section becomes a map."""
    obj = obj_at(fixture_path("btf_fixup"))
    with load_object_btf(obj) as loaded:
        checked = 0
        for tid in loaded.btf.ids_of_kind(Kind.DATASEC).tolist():
            sec = loaded.btf[tid]
            if not sec.name.startswith((".data", ".bss", ".rodata", ".kconfig")):
                continue
            fd = kernel.map_create(MapType.ARRAY, 4, sec.size, 1, btf_fd=loaded.fd, btf_value_type_id=tid)
            assert kernel.map_info(fd).btf_value_type_id == tid
            fd.close()
            checked += 1
        assert checked == 5  # .bss .data .data.custom .kconfig .rodata


def test_unfixed_btf_is_refused_with_the_kernel_log():
    """Without fix-up the kernel says why (extern linkage / zero-size DATASEC)."""
    obj = obj_at(fixture_path("isa"))
    with pytest.raises(BtfLoadError) as info:
        load_btf(obj.btf_data)
    assert info.value.log and ("linkage" in info.value.log.lower() or "size" in info.value.log)


def test_why_parameters_get_names():
    """The kernel wants named parameters on every FUNC (static too), and named enum values.

    These are the two refusals behind fix-up's ``param<i>``/``dummy_ksym``
    names and sanitization's named ENUM values (libbpf leaves them empty).
    """
    b = BtfBuilder()
    b.add(Int(1, "int", 4, 1, 0, 32))
    b.add(FuncProto(2, "", 1, (Param("", 1),), False))
    b.add(Func(3, "f", 2, Linkage.STATIC))
    raw = Btf.from_bytes(b.to_bytes())
    with pytest.raises(BtfLoadError, match="arg#1"):
        load_btf(raw.to_bytes())
    fixed = fixup(raw, ElfLayout({}))
    load_btf(fixed.data).close()
    as_enum = sanitize(fixed.btf, BtfFeatures(func=False))
    assert [v.name for v in as_enum.btf[2].values] == ["param0"]
    load_btf(as_enum.data).close()
    unnamed = BtfBuilder()
    unnamed.add(Int(1, "int", 4, 1, 0, 32))
    unnamed.add(Enum(2, "", 4, False, (EnumValue("", 1),)))
    with pytest.raises(BtfLoadError, match="Invalid name"):
        load_btf(unnamed.to_bytes())


def _refused_object() -> Object:
    """An object whose BTF fix-up leaves alone but the kernel refuses: a member beyond its struct."""
    b = BtfBuilder()
    b.add(Int(1, "int", 4, 1, 0, 32))
    b.add(Struct(2, "broken", 4, (Member("far", 1, 64),)))
    obj = obj_at(fixture_path("minimal"))
    return dataclasses.replace(obj, btf=Btf.from_bytes(b.to_bytes()))


def test_refusal_raises_or_gives_none(caplog):
    obj = _refused_object()
    with pytest.raises(BtfLoadError) as info:
        load_object_btf(obj)
    assert "broken" in info.value.log or "Member exceeds struct_size" in info.value.log
    assert load_object_btf(obj, optional=True) is None
    assert any("loading without BTF" in r.getMessage() for r in caplog.records)
    no_btf = dataclasses.replace(obj, btf=None)
    with pytest.raises(BtfError):
        load_object_btf(no_btf)
    assert load_object_btf(no_btf, optional=True) is None


def test_qmark_probe_discriminates():
    """The DATASEC-name probe answers as the kernel's release says, and the kernel does check names.

    ``?.data`` loads exactly when the probe says yes; a control byte is
    refused by every kernel; a name kernels before 6.5 take always loads.
    """
    from bpfnb.kernel.btf import _blob

    supported = qmark_datasec_supported()
    types = (struct.pack("<IIII", 1, 1 << 24, 4, 1 << 24 | 32) + struct.pack("<IIII", 5, 14 << 24, 1, 1)
             + struct.pack("<IIIIII", 7, 15 << 24 | 1, 4, 2, 0, 4))
    if supported:
        load_btf(_blob(types, b"\0int\0x\0?.data\0")).close()
    else:
        with pytest.raises(BtfLoadError, match="Invalid name"):
            load_btf(_blob(types, b"\0int\0x\0?.data\0"), log_level=1)
    load_btf(_blob(types, b"\0int\0x\0_.data\0")).close()
    with pytest.raises(BtfLoadError, match="name"):
        load_btf(_blob(types, b"\0int\0x\0\x01data\0"))


def test_features_for_btf_follows_the_probes():
    probed = kernel.features()
    # Linux 6.x knows every kind; any printable DATASEC name only from 6.5 on
    expected = BtfFeatures() if qmark_datasec_supported() else BtfFeatures(qmark_datasec=False)
    assert features_for_btf(probed) == expected
    old = dataclasses.replace(probed, btf_float=Support.NO, btf_enum64=Support.NO, btf_type_tag=Support.UNKNOWN)
    feats = features_for_btf(old)
    assert feats.missing == ("float", "enum64", *expected.missing)
    obj = obj_at(fixture_path("btf_kinds"))
    with load_object_btf(obj, features=old) as loaded:
        kinds = loaded.btf.kind_counts()
        assert Kind.FLOAT not in kinds and Kind.ENUM64 not in kinds and Kind.TYPE_TAG in kinds
        assert {c.kind_before for c in loaded.changes if c.kind_before != c.kind_after} == {Kind.FLOAT, Kind.ENUM64, None}
        assert [c.name for c in loaded.changes if c.added] == ["enum64_placeholder"]
        html = loaded._repr_html_()
        assert "FLOAT" in html and "float, enum64" in html and f"Sanitization (this kernel) ({len(loaded.sanitized.changes)})" in html
        assert len(loaded.to_dataframe()) == len(loaded.changes)
    assert "closed" in loaded._repr_html_()


def ext_string_offsets(ext: bytes) -> list[int]:
    """Every string offset in .BTF.ext's func_info and line_info: section names, files, lines."""
    hdr_len, func_off, func_len, line_off, line_len = struct.unpack_from("<IIIII", ext, 4)
    out = []
    for off, length, words in ((func_off, func_len, 2), (line_off, line_len, 4)):
        at, end = hdr_len + off, hdr_len + off + length
        rec_size = struct.unpack_from("<I", ext, at)[0]
        at += 4
        while at < end:
            sec_name, count = struct.unpack_from("<II", ext, at)
            out.append(sec_name)
            at += 8
            for _ in range(count):
                rec = struct.unpack_from(f"<{words}I", ext, at)
                if words == 4:
                    out += [rec[1], rec[2]]  # file_name_off, line_off
                at += rec_size
    return out


def test_string_offsets_survive_for_line_info():
    """Offsets from .BTF.ext (section names, files, source lines) read the same strings from the loaded BTF."""
    obj = obj_at(fixture_path("btf_fixup"))
    with load_object_btf(obj) as loaded:
        kernel_strings = Btf.from_bytes(kernel.btf_info(loaded.fd, data=True).data)._strings
        offsets = ext_string_offsets(obj.btf_ext_data)
        assert len(offsets) > 10
        for off in offsets:
            assert kernel_strings.get(off) == obj.btf._strings.get(off)
        off = loaded.string_offset("dummy_ksym")
        assert off >= len(obj.btf._strings.data) and kernel_strings.get(off) == "dummy_ksym"
        assert loaded.string_offset("fixup_user") == obj.btf._strings.offsets_of("fixup_user")[0]
        assert struct.unpack_from("<H", loaded.data)[0] == 0xEB9F
