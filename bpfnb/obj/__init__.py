"""ELF objects -> ``Object``: programs, functions, maps, data, relocations (pure)."""

from .callgraph import CallEdge, EdgeKind, call_edges, reachable_functions
from .data import DataSection, Variable
from .maps import MapSpec, PinningType
from .object import Object
from .programs import FunctionSpec, ProgramSpec
from .relocate import AppliedRelocation, RelocatedProgram, placeholder_fds, relocate, relocate_all
from .relocations import R_BPF, RelocationKind, RelocationRecord
from .sections import Section, SectionKind, Symbol

__all__ = [
    "AppliedRelocation",
    "CallEdge",
    "DataSection",
    "EdgeKind",
    "FunctionSpec",
    "MapSpec",
    "Object",
    "PinningType",
    "ProgramSpec",
    "R_BPF",
    "RelocatedProgram",
    "RelocationKind",
    "RelocationRecord",
    "Section",
    "SectionKind",
    "Symbol",
    "Variable",
    "call_edges",
    "placeholder_fds",
    "reachable_functions",
    "relocate",
    "relocate_all",
]
