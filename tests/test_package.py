"""The package's manners: a cheap ``import bpfnb``, every public name reachable."""

from __future__ import annotations

import subprocess
import sys

import bpfnb


def test_import_bpfnb_loads_no_heavy_dependency() -> None:
    code = ("import sys, bpfnb; heavy = [m for m in ('numpy', 'pandas', 'cffi', 'elftools', 'graphviz') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == ""


def test_every_public_name_resolves() -> None:
    for name in bpfnb.__all__:
        assert getattr(bpfnb, name) is not None, name
    assert set(bpfnb.__all__) <= set(dir(bpfnb))
    from bpfnb import EbpfLoader, Object

    assert Object.__module__ == "bpfnb.obj.object" and EbpfLoader.__module__ == "bpfnb.loader"


def test_map_and_program_are_the_typed_classes_of_a_load() -> None:
    from bpfnb.maps import HashMap, TypedMap
    from bpfnb.programs import TypedProgram, Xdp

    assert bpfnb.Map is TypedMap and issubclass(HashMap, bpfnb.Map)
    assert bpfnb.Program is TypedProgram and issubclass(Xdp, bpfnb.Program)


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        bpfnb.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
