"""ELF objects -> ``Object``: programs, functions, maps, data, relocations (pure)."""

from .callgraph import CallEdge, EdgeKind, call_edges, reachable_functions
from .data import DataSection, Variable
from .maps import MapSpec, PinningType
from .object import Object
from .programs import FunctionSpec, ProgramSpec
from .relocations import R_BPF, RelocationKind, RelocationRecord
from .sections import Section, SectionKind, Symbol

__all__ = [
    "CallEdge",
    "DataSection",
    "EdgeKind",
    "FunctionSpec",
    "MapSpec",
    "Object",
    "PinningType",
    "ProgramSpec",
    "R_BPF",
    "RelocationKind",
    "RelocationRecord",
    "Section",
    "SectionKind",
    "Symbol",
    "Variable",
    "call_edges",
    "reachable_functions",
]
