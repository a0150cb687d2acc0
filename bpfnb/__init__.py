"""bpfnb: a pure-Python eBPF loader and Jupyter exploration kit.

``import bpfnb`` is cheap: the errors are imported at once, everything else
(numpy, pyelftools, cffi) when first used, through ``__getattr__``, so a
CLI verb that only lists the kernel's programs never pays for BTF parsing.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all

if TYPE_CHECKING:
    from .btf import Btf
    from .display.options import get_options, set_options
    from .loader import Ebpf, EbpfLoader, Pipeline
    from .maps import TypedMap as Map
    from .obj import DataSection, FunctionSpec, MapSpec, Object, ProgramSpec
    from .programs import TypedProgram as Program

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

#: Public names -> (module, attribute), imported on first access.  ``Map`` and ``Program``
#: are the typed live classes every map and program of an ``Ebpf`` is an instance of.
_LAZY = {
    "Btf": (".btf", "Btf"), "Ebpf": (".loader", "Ebpf"), "EbpfLoader": (".loader", "EbpfLoader"),
    "Pipeline": (".loader", "Pipeline"), "DataSection": (".obj", "DataSection"),
    "FunctionSpec": (".obj", "FunctionSpec"), "MapSpec": (".obj", "MapSpec"), "Object": (".obj", "Object"),
    "ProgramSpec": (".obj", "ProgramSpec"), "Map": (".maps", "TypedMap"), "Program": (".programs", "TypedProgram"),
    "set_options": (".display.options", "set_options"), "get_options": (".display.options", "get_options"),
}
_SUBPACKAGES = ("kernel", "widgets", "examples", "maps", "programs", "events", "btf", "obj", "asm", "loader")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module, __name__), attr)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'bpfnb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBPACKAGES})


__all__ = sorted([*_errors_all, *_LAZY])
