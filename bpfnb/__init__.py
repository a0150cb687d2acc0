"""bpfnb: a pure-Python eBPF loader and Jupyter exploration kit."""

from __future__ import annotations

import logging

from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .btf import Btf
from .loader import Ebpf, EbpfLoader, Pipeline
from .obj import DataSection, FunctionSpec, MapSpec, Object, ProgramSpec

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"


def __getattr__(name: str):
    """``bpfnb.kernel`` & co. without importing cffi/ipywidgets at ``import bpfnb``."""
    if name in ("kernel", "widgets", "examples", "maps", "programs", "events"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'bpfnb' has no attribute {name!r}")


__all__ = sorted([
    *_errors_all, "Btf", "DataSection", "Ebpf", "EbpfLoader", "FunctionSpec", "MapSpec", "Object", "Pipeline",
    "ProgramSpec",
])
