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


def test_one_name_per_concept_with_the_old_ones_kept() -> None:
    """``typed``/``open`` for maps and programs alike; ``as_typed`` and ``open_map`` stay as aliases."""
    from bpfnb import maps, programs

    assert programs.as_typed is programs.typed and maps.as_typed is maps.typed and maps.open_map is maps.open
    for module in (maps, programs):
        assert {"typed", "open", "as_typed"} <= set(module.__all__)
    for opener in (maps.open, programs.open):
        for bad in ({}, {"id": 1, "pin": "/sys/fs/bpf/x"}):
            try:
                opener(**bad)
            except TypeError as exc:
                assert "exactly one of id= or pin=" in str(exc)
            else:
                raise AssertionError(f"{opener.__module__}.open({bad}) accepted")


def test_loader_attributes_are_typed() -> None:
    """No ``Any`` left on what a Pipeline and an Ebpf hold."""
    import ast
    import inspect

    from bpfnb import loader

    tree = ast.parse(inspect.getsource(loader))
    untyped = [ast.unparse(n.target) for n in ast.walk(tree) if isinstance(n, ast.AnnAssign)
               and ast.unparse(n.target).startswith("self.")
               and any(isinstance(x, ast.Name) and x.id == "Any" for x in ast.walk(n.annotation))]
    assert untyped == []


def test_loader_options_copy_owns_every_container() -> None:
    """``pipeline()`` copies the options whole: no dict, set or list is shared with the builder."""
    import dataclasses

    from bpfnb.loader import LoaderOptions

    options = LoaderOptions()
    copied = options.copy()
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if isinstance(value, (dict, set, list)):
            assert getattr(copied, f.name) is not value, f.name
        else:
            assert not hasattr(value, "__setitem__") and not hasattr(value, "add"), f"{f.name}: mutable, not copied"
