"""Fixtures shared by the typed-map tests: tests/bpf/map_types.bpf.c's maps, live.

Test modules import them by name (``from map_types_fixtures import obj, loaded, make``)
so that pytest sees them as the module's own fixtures.
"""

from __future__ import annotations

import pytest

from bpfnb.kernel.btf import load_object_btf
from bpfnb.kernel.maps import create_map
from bpfnb.maps import TypedMap, typed
from bpfnb.obj import Object

from helpers import fixture_path


@pytest.fixture(scope="module")
def obj():
    return Object.from_file(fixture_path("map_types"))


@pytest.fixture(scope="module")
def loaded(obj):
    """The fixture's BTF, fixed up and loaded: maps are created with its type ids."""
    lb = load_object_btf(obj)
    yield lb
    lb.close()


@pytest.fixture
def make(obj, loaded):
    """``make("name")`` creates one of the fixture's maps, typed; all are closed after the test."""
    made = []

    def _make(name: str) -> TypedMap:
        m = typed(create_map(obj.maps[name], btf_fd=loaded.fd).map, loaded.btf)
        made.append(m)
        return m

    yield _make
    for m in made:
        m.close()
