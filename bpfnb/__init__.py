"""bpfnb: a pure-Python eBPF loader and Jupyter exploration kit."""

from __future__ import annotations

import logging

from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .obj import DataSection, FunctionSpec, MapSpec, Object, ProgramSpec

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = sorted([*_errors_all, "DataSection", "FunctionSpec", "MapSpec", "Object", "ProgramSpec"])
