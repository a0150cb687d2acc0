"""``bpfnb btf dump [FILE|--vmlinux] [--format c|raw|json] [--type NAME]`` and ``bpfnb btf diff OLD NEW``.

The formats live in :mod:`bpfnb.display.btf_dump`; this module only reads
the arguments, so building the command line imports no BTF code (``bpfnb
progs`` stays quick).  :mod:`bpfnb.cli` calls :func:`add_btf_parser`.
"""

from __future__ import annotations

import argparse
import json

__all__ = ["add_btf_parser"]


def _run_dump(args: argparse.Namespace) -> int:
    from ..btf import Btf
    from ..display.btf_dump import dump

    if args.vmlinux or not args.file:
        if args.file:
            raise SystemExit("bpfnb btf dump: give FILE or --vmlinux, not both")
        btf = Btf.from_sys_fs()
    else:
        base = Btf.from_file(args.base) if args.base else None
        btf = Btf.from_file(args.file, base)
    dump(btf, args.format, args.type, getattr(args, "out", None))
    return 0


def add_btf_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``btf dump`` on the main CLI's subparsers."""
    p = subparsers.add_parser("btf", help="dump BTF from an object file, a raw BTF file or the kernel")
    verbs = p.add_subparsers(dest="btf_verb", required=True, metavar="VERB")
    d = verbs.add_parser("dump", help="print types as raw lines (bpftool layout), JSON or C")
    d.add_argument("file", nargs="?", help="raw BTF, or an ELF with a .BTF section (default: --vmlinux)")
    d.add_argument("--vmlinux", action="store_true", help="the running kernel's /sys/kernel/btf/vmlinux")
    d.add_argument("--base", metavar="FILE", help="base BTF when FILE is split BTF (a module's)")
    d.add_argument("--format", choices=("raw", "json", "c"), default="raw",
                   help="raw: bpftool's btf dump lines; json: bpftool's -j document; c: compilable C (default raw)")
    d.add_argument("--type", metavar="NAME", action="append",
                   help="only this type (repeatable); with --format c, its dependencies too")
    d.set_defaults(func=_run_dump)
    f = verbs.add_parser("diff", help="types added, removed and changed between two BTFs (e.g. two kernels)")
    f.add_argument("old", help="raw BTF (.gz/.xz too) or an ELF with .BTF; /sys/kernel/btf/vmlinux is this kernel")
    f.add_argument("new", help="the BTF to compare with OLD")
    f.add_argument("--type", metavar="NAME", action="append", help="only types of this name (repeatable)")
    f.add_argument("--format", choices=("text", "json"), default="text",
                   help="text: +/-/~ per type with changes indented; json: one record per change (default text)")
    f.set_defaults(func=_run_diff)
    return p


def _run_diff(args: argparse.Namespace) -> int:
    from ..btf import Btf

    diff = Btf.from_file(args.old).diff(Btf.from_file(args.new), names=args.type)
    if args.format == "json":
        keys = ("status", "kind", "name", "change", "member", "old", "new")
        print(json.dumps({"old": diff.old_source, "new": diff.new_source, "compared": diff.compared,
                          "changes": [dict(zip(keys, row)) for row in diff.rows()]}, indent=1))
    else:
        from ..display.text import printable

        print(printable(diff.to_text(), keep_lines=True))  # type names come from the files
    return 0
