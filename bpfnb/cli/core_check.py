"""``bpfnb core-check OBJ --btf FILE [--btf FILE ...] [--json]``: will OBJ load on those kernels?

Each ``--btf`` is a kernel's BTF (a copy of another machine's
``/sys/kernel/btf/vmlinux``, a BTFHub file, an ELF vmlinux) named after
its file; ``--base`` gives the vmlinux a module's split BTF sits on.
Values are compared with the running kernel's when its BTF is readable
(``--no-baseline`` compares with the values compiled into the object).
The exit status is 0 when the object is portable to every kernel given,
1 when some record fails unguarded or cannot be resolved, so the command
can gate a CI job.  :mod:`bpfnb.cli` calls :func:`add_core_parser`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ..btf import Btf
    from ..btf.core_portability import PortabilityReport

__all__ = ["add_core_parser", "run_core_check"]


def _names(paths: list[str]) -> list[str]:
    """File names as kernel names, made unique with their directory when two collide."""
    base = [os.path.basename(p.rstrip("/")) or p for p in paths]
    out = []
    for p, b in zip(paths, base):
        out.append(p if base.count(b) > 1 else b)
    return out


def run_core_check(obj_path: str, btf_paths: list[str], *, base: str | None = None, baseline: bool = True,
                   as_json: bool = False, show_changes: bool = False, out: TextIO | None = None) -> int:
    """The verb's work, callable from Python: print the report, return the exit status.

    ``show_changes`` also lists, per kernel, every record whose value
    differs from the baseline (the text form; JSON always has them all).
    """
    from ..btf import Btf
    from ..obj.core import check_portability
    from ..obj import Object

    out = out if out is not None else sys.stdout
    obj = Object.from_file(obj_path)
    base_btf = Btf.from_file(base) if base else None
    targets = {name: Btf.from_file(path, base_btf) for name, path in zip(_names(btf_paths), btf_paths)}
    if base_btf is not None:
        targets = {name: _with_base(btf, base_btf) for name, btf in targets.items()}
    report: PortabilityReport = check_portability(obj, targets, baseline=baseline)
    if as_json:
        json.dump(report.to_dict(), out, indent=1)
        out.write("\n")
    else:
        out.write(report.summary() + "\n")
        if show_changes:
            out.write(_changes(report))
    return 0 if report.portable else 1


def _changes(report: PortabilityReport) -> str:
    lines = []
    for kernel in report.kernels:
        rows = [e for e in report.entries if e.kernel == kernel and e.status in ("changed", "guarded")]
        lines.append(f"{kernel}: {len(rows)} records differ from {report.baseline or 'the compiled-in values'}")
        for e in rows:
            r, b = e.relocation, e.baseline
            was = "-" if b is None or b.failed else str(b.new_value)
            now = "poisoned" if r.poisoned else str(r.new_value)
            guard = f" (guarded by insn {e.guard.slot})" if e.guard is not None else ""
            lines.append(f"  {r.program} insn {r.slot}: {r.kind_label} {r.local_path}: {was} -> {now}{guard}")
    return "\n".join(lines) + "\n"


def _with_base(btf: Btf, base: Btf) -> list[Btf] | Btf:
    # a module's split BTF is searched after its base, as libbpf searches vmlinux then modules
    return [base, btf] if btf.base is base else btf  # type: ignore[return-value]


def _run(args: argparse.Namespace) -> int:
    return run_core_check(args.object, args.btf, base=args.base, baseline=not args.no_baseline, as_json=args.json,
                          show_changes=args.changes, out=getattr(args, "out", None))


def add_core_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``core-check`` on the main CLI's subparsers."""
    p = subparsers.add_parser("core-check", help="check an object's CO-RE relocations against other kernels' BTF")
    p.add_argument("object", help="path to a .bpf.o file with CO-RE records")
    p.add_argument("--btf", metavar="FILE", action="append", required=True,
                   help="a kernel's BTF (raw, or an ELF with .BTF); repeat for several kernels")
    p.add_argument("--base", metavar="FILE", help="base (vmlinux) BTF when the --btf files are split (modules)")
    p.add_argument("--no-baseline", action="store_true",
                   help="compare with the compiled-in values instead of the running kernel")
    p.add_argument("--changes", action="store_true", help="also list every record whose value differs")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_run)
    return p
