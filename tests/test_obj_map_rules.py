"""The maps stage's pure rules, without privileges: kernel names, pin paths, initial global data.

These are libbpf's rules (``internal_map_name``, pinning by name, writing
``.data``/``.rodata`` before any program loads); :mod:`test_kernel_maps`
checks the same names against bpftool and libbpf on the running kernel.
"""

from __future__ import annotations

import os
import struct

import pytest

from helpers import fixture_path

from bpfnb.btf.codec import Codec
from bpfnb.errors import UnknownName, UnsafeName, ValueEncodingError
from bpfnb.obj import Object
from bpfnb.obj.initial_data import freezes, initial_data, split_globals
from bpfnb.obj.map_names import internal_map_name, object_name, pin_path

MULTI = Object.from_file(fixture_path("multi"))


@pytest.mark.parametrize("obj_name,section,expected", [
    ("multi.bpf.o", ".rodata", "multi.rodata"),
    ("multi", ".bss", "multi.bss"),
    ("packet_counter.bpf.o", ".rodata", "packet_c.rodata"),
    ("packet_counter.bpf.o", ".bss", "packet_c.bss"),
    ("prog_flags.bpf.o", ".bss", "prog_fla.bss"),
    ("multi.bpf.o", ".data.foo", ".data.foo"),
    ("multi.bpf.o", ".rodata.a_very_long_custom_name", ".rodata.a_very_"),
    ("my-obj.bpf.o", ".kconfig", "my_obj.kconfig"),
    ("/some/dir/x.o", ".data", "x.data"),
])
def test_internal_map_name_rule(obj_name: str, section: str, expected: str) -> None:
    assert internal_map_name(obj_name, section) == expected
    assert len(expected) <= 15


def test_object_name_is_basename_up_to_first_dot() -> None:
    assert object_name("/a/b/packet_counter.bpf.o") == "packet_counter"


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "", "x\0y", "tab\there", "/abs", "x" * 256])
def test_hostile_names_never_become_paths(name: str, tmp_path) -> None:
    with pytest.raises(UnsafeName):
        pin_path(tmp_path, name)


def test_pin_path_stays_inside_the_root(tmp_path) -> None:
    assert pin_path(tmp_path, "counts") == os.path.join(os.path.abspath(tmp_path), "counts")


def test_a_symlink_under_the_pin_root_is_not_followed(tmp_path) -> None:
    (tmp_path / "elsewhere").write_text("")
    os.symlink(tmp_path / "elsewhere", tmp_path / "counts")
    with pytest.raises(UnsafeName, match="symlink"):
        pin_path(tmp_path, "counts")


def test_initial_data_writes_globals_through_their_btf_types() -> None:
    rodata = MULTI.data[".rodata"]
    raw = initial_data(rodata, {"sample_rate": 7, "greeting": "hey"}, btf=MULTI.btf)
    assert len(raw) == rodata.size
    for var, expected in (("sample_rate", 7), ("greeting", "hey")):
        v = rodata.variable(var)
        assert Codec(MULTI.btf, v.type_id).decode(raw[v.offset : v.offset + v.size]) == expected
    untouched = initial_data(rodata, btf=MULTI.btf)
    assert untouched == rodata.data.ljust(rodata.size, b"\0")


def test_initial_data_without_btf_takes_bytes_and_ints() -> None:
    data = MULTI.data[".data"]
    v = data.variable("start_value")
    raw = initial_data(data, {"start_value": -2})
    assert struct.unpack_from("<q", raw, v.offset)[0] == -2
    with pytest.raises(ValueEncodingError, match="without BTF"):
        initial_data(data, {"start_value": "text"})


@pytest.mark.parametrize("value,match", [(2**40, "sample_rate"), ("text", "sample_rate"), (b"\1\2", "2 bytes")])
def test_bad_global_values_name_the_variable(value, match: str) -> None:
    with pytest.raises(ValueEncodingError, match=match):
        initial_data(MULTI.data[".rodata"], {"sample_rate": value}, btf=MULTI.btf)


def test_unknown_globals_are_refused_or_skipped() -> None:
    rodata = MULTI.data[".rodata"]
    with pytest.raises(UnknownName, match="nope"):
        initial_data(rodata, {"nope": 1})
    assert initial_data(rodata, {"nope": 1}, must_exist=False) == initial_data(rodata)


def test_split_globals_finds_each_variables_section() -> None:
    split = split_globals(MULTI, {"sample_rate": 1, "start_value": 2, "custom_counter": 3})
    assert split == {".rodata": {"sample_rate": 1}, ".data": {"start_value": 2}, ".data.foo": {"custom_counter": 3}}
    with pytest.raises(UnknownName, match="no global variable 'nope'"):
        split_globals(MULTI, {"nope": 1})


def test_read_only_sections_freeze() -> None:
    assert {name for name, s in MULTI.data.items() if freezes(s)} == {".rodata"}
