"""The parse stage against real objects, with llvm-readelf as the oracle."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bpfnb.errors import ElfError, InvalidRelocationOffset, ParseError, SectionError, UnknownName
from bpfnb.obj import EdgeKind, Object, RelocationKind, SectionKind, call_edges, reachable_functions
from bpfnb.uapi import AttachType, MapType, ProgType

from helpers import READELF, all_fixtures, fixture_path, needs_readelf



def readelf_json(path, *flags):
    out = subprocess.run([READELF, "--elf-output-style=JSON", *flags, str(path)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)[0]


@pytest.fixture(scope="module")
def multi():
    return Object.from_file(fixture_path("multi"))


# --- sections, symbols, relocations versus llvm-readelf -----------------------


@needs_readelf
@pytest.mark.parametrize("path", all_fixtures(), ids=lambda p: p.name)
def test_sections_match_readelf(path):
    obj = Object.from_file(path)
    theirs = [s["Section"] for s in readelf_json(path, "--sections")["Sections"]]
    assert len(obj.sections) == len(theirs)
    for ours, t in zip(obj.sections, theirs):
        assert ours.index == t["Index"]
        assert ours.name == t["Name"]["Name"]
        assert ours.size == t["Size"]
        assert ours.offset == t["Offset"]


@pytest.mark.parametrize("path", all_fixtures(), ids=lambda p: p.name)
def test_section_table_matches_pyelftools(path):
    """The section table is read with struct (fast); pyelftools, the general ELF reader, is its oracle."""
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        theirs = [(s.name, s["sh_type"] if isinstance(s["sh_type"], str) else f"SHT_{s['sh_type']:#x}", s["sh_flags"],
                   s["sh_offset"], s["sh_size"], s["sh_link"], s["sh_info"], s["sh_entsize"])
                  for s in ELFFile(f).iter_sections()]
    ours = [(s.name, s.sh_type, s.flags, s.offset, s.size, s.link, s.info, s.entsize) for s in Object.from_file(path).sections]
    assert ours == theirs


def _with_section_header(data: bytes, index: int, field: str, value: int) -> bytes:
    offsets = {"sh_name": (0, "<I"), "sh_offset": (24, "<Q"), "sh_size": (32, "<Q")}
    shoff, = struct.unpack_from("<Q", data, 0x28)
    at, fmt = offsets[field]
    out = bytearray(data)
    struct.pack_into(fmt, out, shoff + 64 * index + at, value)
    return bytes(out)


def test_a_section_name_outside_the_name_table_is_named():
    data = fixture_path("minimal").read_bytes()
    with pytest.raises(ElfError, match=r"bad\.o: section #1: name offset 4294967295 outside the section-name table"):
        Object.from_bytes(_with_section_header(data, 1, "sh_name", 0xFFFFFFFF), name="bad.o")


def test_a_name_table_past_the_end_of_the_file_is_named():
    data = fixture_path("minimal").read_bytes()
    shstrndx, = struct.unpack_from("<H", data, 0x3E)
    with pytest.raises(ElfError, match=rf"the section-name table \(section #{shstrndx}, .*\) is not within the file"):
        Object.from_bytes(_with_section_header(data, shstrndx, "sh_size", 1 << 40), name="bad.o")


@needs_readelf
@pytest.mark.parametrize("path", all_fixtures(), ids=lambda p: p.name)
def test_symbols_match_readelf(path):
    obj = Object.from_file(path)
    theirs = [s["Symbol"] for s in readelf_json(path, "--symbols")["Symbols"]]
    assert len(obj.symbols) == len(theirs)
    for ours, t in zip(obj.symbols, theirs):
        if ours.type != "STT_SECTION":
            assert ours.name == t["Name"]["Name"]
        assert ours.value == t["Value"]
        assert ours.size == t["Size"]


@needs_readelf
@pytest.mark.parametrize("path", all_fixtures(), ids=lambda p: p.name)
def test_code_relocations_match_readelf(path):
    """Every relocation of every code section is recorded once, on its instruction."""
    obj = Object.from_file(path)
    theirs = set()
    for group in readelf_json(path, "--relocations")["Relocations"]:
        target = obj.sections[obj.sections[group["SectionIndex"]].info].name
        for r in group.get("Relocs", []):
            r = r["Relocation"]
            theirs.add((target, r["Offset"], r["Type"]["Value"], r["Symbol"]["Name"]))
    code_sections = {s.name for s in obj.sections if s.kind in (SectionKind.PROGRAM, SectionKind.TEXT)}
    theirs = {t for t in theirs if t[0] in code_sections}
    ours = set()
    for code in obj.code.values():
        for r in code.relocations:
            assert r.offset == code.offset + r.slot * 8
            ours.add((r.section, r.offset, r.type, r.symbol.name))
    assert ours == theirs


# --- programs and functions ------------------------------------------------------


def test_programs_of_multi(multi):
    expected = {
        "xdp_count": ("xdp", ProgType.XDP),
        "xdp_drop_small": ("xdp", ProgType.XDP),
        "tc_flows": ("tc", ProgType.SCHED_CLS),
        "socket_len": ("socket", ProgType.SOCKET_FILTER),
        "trace_openat": ("tracepoint/syscalls/sys_enter_openat", ProgType.TRACEPOINT),
        "raw_sys_enter": ("raw_tracepoint/sys_enter", ProgType.RAW_TRACEPOINT),
        "cgroup_ingress": ("cgroup_skb/ingress", ProgType.CGROUP_SKB),
    }
    assert {n: (p.section, p.prog_type) for n, p in multi.programs.items()} == expected
    assert multi.programs["cgroup_ingress"].expected_attach_type is AttachType.CGROUP_INET_INGRESS
    assert multi.programs["trace_openat"].attach_target == "syscalls/sys_enter_openat"
    assert multi.license == "GPL"
    # two programs share the xdp section, one after the other
    a, b = multi.programs["xdp_count"], multi.programs["xdp_drop_small"]
    assert a.offset == 0 and b.offset == a.size
    assert set(multi.functions) == {"bump", "global_sample", "loop_cb"}
    assert multi.functions["global_sample"].is_global and not multi.functions["bump"].is_global


def test_instructions_cover_each_symbol_exactly(multi):
    for code in multi.code.values():
        raw = multi.section_data(code.section)[code.offset : code.offset + code.size]
        assert code.instructions.to_bytes() == raw
        assert code.instructions.len_slots * 8 == code.size


def test_relocation_kinds(multi):
    kinds = {(r.kind, r.symbol.name, r.target_section) for r in multi.programs["raw_sys_enter"].relocations}
    assert kinds == {
        (RelocationKind.DATA, "start_value", ".data"),
        (RelocationKind.SUBPROG_ADDR, ".text", ".text"),
        (RelocationKind.MAP, "events", ".maps"),
        (RelocationKind.DATA, "greeting", ".rodata"),
    }
    xdp = multi.programs["xdp_count"]
    calls = [r for r in xdp.relocations if r.kind is RelocationKind.CALL]
    assert [r.slot for r in calls] == [10, 12, 16]
    assert xdp.instructions.annotations[10] == ("call bump",)
    assert xdp.instructions.annotations[12] == ("call global_sample",)


def test_call_graph_edges(multi):
    def edges(name):
        return [(e.kind, e.callee) for e in call_edges(multi, multi.code[name])]

    assert edges("xdp_count") == [(EdgeKind.CALL, "bump"), (EdgeKind.CALL, "global_sample"), (EdgeKind.CALL, "bump")]
    assert (EdgeKind.CALLBACK, "loop_cb") in edges("raw_sys_enter")
    assert (EdgeKind.HELPER, "bpf_loop") in edges("raw_sys_enter")
    assert edges("bump") == [(EdgeKind.HELPER, "bpf_map_lookup_elem")]
    assert [f.name for f in reachable_functions(multi, multi.programs["xdp_count"])] == ["bump", "global_sample"]
    assert [f.name for f in reachable_functions(multi, multi.programs["tc_flows"])] == []
    # the global subprogram is shared by two programs
    assert [f.name for f in reachable_functions(multi, multi.programs["socket_len"])] == ["global_sample"]


def test_call_graph_renders(multi):
    g = multi.call_graph()
    src = g.source
    assert "code__xdp_count -> code__bump" in src
    assert "code__raw_sys_enter -> code__loop_cb [label=callback style=dashed]" in src
    assert "code__xdp_count -> code__bump [label=\"×2\"]" in src
    assert "helper__bpf_map_lookup_elem [label=bpf_map_lookup_elem" in src


# --- maps and data ---------------------------------------------------------------


def test_legacy_maps():
    obj = Object.from_file(fixture_path("legacy_maps"))
    counts, array = obj.maps["legacy_counts"], obj.maps["legacy_array"]
    assert (counts.map_type, counts.key_size, counts.value_size, counts.max_entries, counts.map_flags) == (MapType.HASH, 4, 8, 128, 0)
    assert (array.map_type, array.key_size, array.value_size, array.max_entries, array.map_flags) == (MapType.ARRAY, 4, 4, 4, 0x80)
    assert obj.kernel_version == 0x060C00
    assert obj.license == "Dual BSD/GPL"
    kinds = [r.kind for r in obj.programs["legacy_prog"].relocations]
    assert kinds.count(RelocationKind.MAP) == 3


def test_data_sections(multi):
    assert {n: d.kind for n, d in multi.data.items()} == {
        ".bss": SectionKind.BSS,
        ".data": SectionKind.DATA,
        ".rodata": SectionKind.RODATA,
        ".data.foo": SectionKind.DATA,
    }
    data = multi.data[".data"]
    assert struct.unpack("<Q", data.bytes_of(data.variable("start_value")))[0] == 42
    ro = multi.data[".rodata"]
    assert ro.bytes_of(ro.variable("greeting")) == b"hello\0\0\0"
    foo = multi.data[".data.foo"]
    assert [(v.name, v.offset, v.size) for v in foo.variables] == [("custom_counter", 0, 4), ("custom_zero", 8, 8)]
    assert struct.unpack("<I", foo.bytes_of(foo.variable("custom_counter")))[0] == 7
    assert multi.data[".bss"].data == bytes(8)
    spec = ro.map_spec()
    assert (spec.map_type, spec.key_size, spec.value_size, spec.max_entries) == (MapType.ARRAY, 4, 12, 1)
    assert spec.map_flags & 0x80  # BPF_F_RDONLY_PROG


# --- views -------------------------------------------------------------------------


def test_html_escapes_names_from_the_object():
    obj = Object.from_file(fixture_path("hostile"))
    html = obj._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert ".data.&lt;i&gt;&amp;amp;" in html
    assert "GPL&lt;&amp;&gt;" in html
    for p in obj.programs.values():
        assert "<script>" not in p._repr_html_()
    for d in obj.data.values():
        assert "<i>" not in d._repr_html_()


def test_reprs_are_short_and_deterministic(multi):
    assert repr(multi) == "<Object 'multi.bpf.o' programs=7 functions=3 maps=5 data=4 license='GPL'>"
    assert repr(multi.programs["xdp_count"]).startswith("<ProgramSpec 'xdp_count' xdp section='xdp'")
    assert multi._repr_html_() == Object.from_file(fixture_path("multi"))._repr_html_()


def test_dataframes(multi):
    df = multi.to_dataframe()
    assert set(df["name"]) == set(multi.programs) | set(multi.functions)
    assert df.set_index("name").loc["tc_flows", "type"] == "sched_cls"
    insns = multi.programs["xdp_count"].to_dataframe()
    assert len(insns) == len(multi.programs["xdp_count"].instructions)
    vars_ = multi.data[".rodata"].to_dataframe()
    assert list(vars_["name"]) == ["sample_rate", "greeting"]


# --- errors --------------------------------------------------------------------------


def test_not_elf():
    with pytest.raises(ElfError, match="bad magic"):
        Object.from_bytes(b"\0" * 128, name="zeros.o")


def test_wrong_machine(tmp_path):
    src = tmp_path / "x.c"
    src.write_text("int f(void) { return 1; }\n")
    out = tmp_path / "x.o"
    subprocess.run(["clang-19", "-c", "-O2", str(src), "-o", str(out)], check=True)
    with pytest.raises(ElfError, match="not EM_BPF"):
        Object.from_file(out)


def test_big_endian_object(tmp_path):
    src = tmp_path / "be.c"
    src.write_text('__attribute__((section("socket"), used)) int f(void *ctx) { return 0; }\n')
    out = tmp_path / "be.o"
    subprocess.run(["clang-19", "-target", "bpfeb", "-O2", "-c", str(src), "-o", str(out)], check=True)
    with pytest.raises(ElfError, match="big-endian"):
        Object.from_file(out)


def test_truncated_file_names_section():
    data = fixture_path("multi").read_bytes()
    with pytest.raises(ParseError):
        Object.from_bytes(data[: len(data) // 2], name="half.o")


def test_relocation_inside_ld_imm64_is_refused():
    """Move the first ld_imm64 relocation of raw_sys_enter by 8 bytes."""
    path = fixture_path("multi")
    obj = Object.from_file(path)
    data = bytearray(path.read_bytes())
    rel = obj.section(".relraw_tracepoint/sys_enter")
    r_offset = struct.unpack_from("<Q", data, rel.offset)[0]
    struct.pack_into("<Q", data, rel.offset, r_offset + 8)
    with pytest.raises(InvalidRelocationOffset, match=r"raw_sys_enter insn 1: .*inside an ld_imm64"):
        Object.from_bytes(bytes(data), name="bad.o")


def test_symbol_past_section_end():
    path = fixture_path("minimal")
    obj = Object.from_file(path)
    data = bytearray(path.read_bytes())
    sym = next(s for s in obj.symbols if s.name == "count_packets")
    symtab = obj.section(".symtab")
    struct.pack_into("<Q", data, symtab.offset + sym.index * 24 + 16, 0x100000)  # st_size
    with pytest.raises(SectionError, match=r"section 'xdp', offset 0x0: .*count_packets"):
        Object.from_bytes(bytes(data), name="bad.o")


def test_unknown_program_name(multi):
    with pytest.raises(UnknownName, match="no program 'nope'"):
        multi.program("nope")
    with pytest.raises(KeyError):  # UnknownName is a KeyError too
        multi.program("nope")


def test_fixture_source_names_each_program():
    """Sanity of the oracle itself: every SEC() in the C sources shows up."""
    for path in all_fixtures():
        c_name = path.name.replace(".o", ".c")
        src_path = path.parent / c_name if (path.parent / c_name).exists() else path.parent.parent / c_name
        src = src_path.read_text()
        secs = set(re.findall(r'SEC\("([^"]+)"\)\s*\n\s*int', src))
        obj = Object.from_file(path)
        assert secs <= {p.section for p in obj.programs.values()}, path.name


# --- what BTF adds: .maps definitions, typed globals, line info -----------------------


def test_btf_maps_of_multi(multi):
    def shape(m):
        return (m.map_type, m.key_size, m.value_size, m.max_entries, m.map_flags, m.pinning)

    from bpfnb.obj import PinningType

    assert {n: shape(m) for n, m in multi.maps.items()} == {
        "flows": (MapType.HASH, 16, 16, 1024, 0, PinningType.NONE),
        "counters": (MapType.ARRAY, 4, 8, 8, 0, PinningType.NONE),
        "percpu_hits": (MapType.PERCPU_ARRAY, 4, 8, 4, 0, PinningType.NONE),
        "lru_pids": (MapType.LRU_HASH, 4, 8, 256, 0, PinningType.BY_NAME),
        "events": (MapType.RINGBUF, 0, 0, 4096, 0, PinningType.NONE),
    }
    flows = multi.maps["flows"]
    assert multi.btf.name_of(flows.key_type_id) == "struct flow_key"
    assert multi.btf.name_of(flows.value_type_id) == "struct flow_stats"


def test_typed_global_variables(multi):
    ro = multi.data[".rodata"]
    assert [(v.name, v.type_name, v.value) for v in ro.variables] == [
        ("sample_rate", "const volatile __u32", 1),
        ("greeting", "const volatile char[8]", "hello"),
    ]
    assert multi.data[".data"].variable("start_value").value == 42
    assert multi.data[".data.foo"].variable("custom_counter").value == 7


def test_line_info_above_instructions(multi):
    lines = multi.programs["xdp_count"].instructions.source_lines
    assert lines[2] == "multi.bpf.c:98: packets_seen++;"
    assert any("bump(0, len);" in line for line in lines.values())


def test_inspect_json_reports_btf_maps(multi, capsys):
    from bpfnb.cli import main

    assert main(["inspect", str(fixture_path("multi")), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {p["name"]: (p["type"], p["insns"]) for p in doc["programs"]}["xdp_count"] == ("xdp", multi.programs["xdp_count"].size // 8)
    assert {m["name"]: m for m in doc["maps"]}["flows"] == {
        "name": "flows", "type": "hash", "key_size": 16, "value_size": 16, "max_entries": 1024, "flags": 0,
    }


def test_inspect_text_and_html(tmp_path, capsys):
    from bpfnb.cli import main

    assert main(["inspect", str(fixture_path("legacy_maps"))]) == 0
    out = capsys.readouterr().out
    assert "legacy_prog" in out and "legacy_counts" in out
    report = tmp_path / "r.html"
    assert main(["inspect", str(fixture_path("hostile")), "--html", str(report)]) == 0
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script>alert" not in html


def test_inspect_errors_exit_1(tmp_path, capsys):
    from bpfnb.cli import main

    bad = tmp_path / "bad.o"
    bad.write_bytes(b"not an elf at all" * 8)
    assert main(["inspect", str(bad)]) == 1
    assert "bad magic" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "missing.o")]) == 1


def test_console_script_runs():
    out = subprocess.run(
        [str(Path(sys.executable).parent / "bpfnb"), "inspect", str(fixture_path("minimal")), "--json"],
        capture_output=True, text=True, check=True,
    )
    assert json.loads(out.stdout)["programs"][0]["name"] == "count_packets"


def test_split_static_array_keeps_its_type(tmp_path):
    """clang splits a partly used static array ("hits.0"); parsing must not fail."""
    src = tmp_path / "split.bpf.c"
    src.write_text(
        "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n"
        "__u64 total = 0;\nstatic __u64 hits[8];\n"
        'SEC("socket") int f(struct __sk_buff *skb) { hits[3]++; total++; return 0; }\n'
        'char _l[] SEC("license") = "GPL";\n'
    )
    out = tmp_path / "split.o"
    subprocess.run(["clang-19", "-g", "-O2", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", str(src), "-o", str(out)], check=True)
    bss = Object.from_file(out).data[".bss"]
    total = bss.variable("total")
    assert (total.offset, total.value) == (0, 0)
    split = next(v for v in bss.variables if v.name.startswith("hits"))
    assert split.type_name == "__u64[8]" and split.value is None


def test_object_core_relocations_matches_the_engine():
    """``Object.core_relocations()`` defaults to the running kernel; the engine takes it explicitly."""
    import warnings

    from bpfnb.btf import Btf
    from bpfnb.obj.core import core_relocations

    obj = Object.from_file(fixture_path("core_kinds"))
    ours = obj.core_relocations()
    assert len(ours) > 10
    assert [(r.program, r.slot, r.new_value) for r in ours] == [
        (r.program, r.slot, r.new_value) for r in core_relocations(obj, Btf.from_sys_fs())
    ]
    with pytest.raises(TypeError):
        core_relocations(obj)  # type: ignore[call-arg]  # no default target below the loader
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from bpfnb.btf.core import core_relocations as old
    assert old is core_relocations and caught[0].category is DeprecationWarning


def test_map_in_map_initial_slots():
    """``.values = { [1] = &inner_a }`` lies past the BTF struct (a flexible array)."""
    obj = Object.from_file(fixture_path("map_kinds"))
    outer = obj.maps["outer"]
    assert outer.init_slots == ((1, "inner_a"),)
    assert outer.inner is not None and outer.inner.map_type is obj.maps["inner_a"].map_type
    assert obj.maps["outer_hash"].init_slots == ()


def test_lookups_by_a_wrong_name_say_what_exists(multi):
    """``obj.programs["typo"]`` names the object, the close matches and what there is; still a KeyError."""
    import copy
    import pickle

    name = next(iter(multi.programs))
    with pytest.raises(UnknownName, match=rf"multi\.bpf\.o: no program named '{name[:-1]}'; did you mean '{name}'\?"):
        multi.programs[name[:-1]]
    with pytest.raises(KeyError, match=r"no map named 'nope'; \d+ maps: "):
        multi.maps["nope"]
    with pytest.raises(UnknownName, match="no function named"):
        multi.functions["nope"]
    assert multi.programs.get("nope") is None and "nope" not in multi.maps
    for table in (copy.deepcopy(multi.programs), pickle.loads(pickle.dumps(multi.maps))):
        assert type(table) is type(multi.programs) and table.owner == "multi.bpf.o"
        with pytest.raises(UnknownName):
            table["nope"]
