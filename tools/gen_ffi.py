#!/usr/bin/env python3
"""Write ``bpfnb/kernel/_ffi_types.py``: the cdef of ``bpfnb.kernel._ffi``, parsed once.

cffi's in-line ABI mode parses the C declarations with pycparser at every
import (~150 ms here, most of a ``bpfnb progs`` run).  Its out-of-line ABI
mode writes the parsed types into a Python module that loads with
``_cffi_backend`` alone: no compiler, no C source, still ``ffi.dlopen``.
Run this after editing ``_CDEF``; ``tests/test_kernel_ffi.py`` fails while
the committed module differs from what this writes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cffi

ROOT = Path(__file__).resolve().parent.parent
MODULE = "bpfnb.kernel._ffi_types"
TARGET = ROOT / "bpfnb" / "kernel" / "_ffi_types.py"


def cdef_source() -> str:
    """``_CDEF`` read from ``_ffi.py``'s syntax tree (importing it needs the module this writes)."""
    tree = ast.parse((ROOT / "bpfnb" / "kernel" / "_ffi.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_CDEF" for t in node.targets):
            return ast.literal_eval(node.value)
    raise SystemExit("no _CDEF in bpfnb/kernel/_ffi.py")


def emit(path: Path = TARGET) -> None:
    """Write the out-of-line module for the current ``_CDEF`` to ``path``."""
    builder = cffi.FFI()
    builder.cdef(cdef_source())
    builder.set_source(MODULE, None)
    builder.emit_python_code(str(path))


if __name__ == "__main__":
    emit()
    print(f"wrote {TARGET.relative_to(ROOT)}")
