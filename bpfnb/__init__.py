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
    from .loader import Ebpf, EbpfLoader, Pipeline
    from .obj import DataSection, FunctionSpec, MapSpec, Object, ProgramSpec

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

#: Public names and the module that defines each, imported on first access.
_LAZY = {
    "Btf": ".btf", "Ebpf": ".loader", "EbpfLoader": ".loader", "Pipeline": ".loader",
    "DataSection": ".obj", "FunctionSpec": ".obj", "MapSpec": ".obj", "Object": ".obj", "ProgramSpec": ".obj",
}
_SUBPACKAGES = ("kernel", "widgets", "examples", "maps", "programs", "events", "btf", "obj", "asm", "loader")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'bpfnb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBPACKAGES})


__all__ = sorted([*_errors_all, *_LAZY])
