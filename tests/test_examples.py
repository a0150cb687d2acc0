"""The example objects shipped in the package match their sources' build."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bpfnb import Object, examples
from bpfnb.errors import UnknownName


def test_every_source_has_its_object():
    sources = sorted(p.name.removesuffix(".bpf.c") for p in examples.DIR.glob("*.bpf.c"))
    assert sources == examples.names() and len(sources) >= 2


@pytest.mark.skipif(shutil.which("clang-19") is None, reason="clang-19 not installed")
def test_shipped_objects_match_a_fresh_build(tmp_path):
    build = tmp_path / "examples"
    shutil.copytree(examples.DIR, build, ignore=shutil.ignore_patterns("*.o", "__pycache__"))
    subprocess.run(["make", "-s", "-C", str(build)], check=True)
    for name in examples.names():
        fresh = (build / f"{name}.bpf.o").read_bytes()
        assert fresh == examples.path(name).read_bytes(), f"{name}: rebuild with `make -C bpfnb/examples -B`"


@pytest.mark.parametrize("name", examples.names())
def test_examples_parse(name):
    obj = Object.from_file(examples.path(name))
    assert obj.programs and obj.license == "GPL"
    assert all(m.complete for m in obj.maps.values())
    assert "SEC(" in examples.source(name)


def test_unknown_example():
    with pytest.raises(UnknownName, match="no example 'nope'"):
        examples.path("nope")
    with pytest.raises(UnknownName):
        examples.path("../../tests/bpf/build/multi")
