"""``bpfnb`` command line: inspect objects, dump BTF, load, list maps/programs.

Each verb is a small function over the library API; the CLI adds nothing
the notebooks cannot do.  Errors from bpfnb print as one line on stderr
with exit status 1 (2 for usage errors), never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import BpfnbError
from .load import load_json, load_text, log_level, run_load

__all__ = ["build_parser", "load_json", "load_text", "main"]


def _inspect(args: argparse.Namespace) -> int:
    from ..obj import Object

    obj = Object.from_file(args.object)
    if args.html:
        from ..display.report import object_report

        target, note = _report_target(args.btf)
        Path(args.html).write_text(object_report(obj, target=target, target_note=note), encoding="utf-8")
    if args.json:
        json.dump(inspect_json(obj), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not args.html:
        from ..display.text import printable

        print(printable(obj.summary(), keep_lines=True))
    return 0


def _report_target(path: str | None):
    """The BTF a report resolves CO-RE records against, and how the report names it."""
    from ..btf import Btf

    if path:
        return Btf.from_file(path), path
    try:
        return Btf.from_sys_fs(), "the running kernel's BTF (/sys/kernel/btf/vmlinux)"
    except (BpfnbError, OSError) as exc:
        return None, f"no kernel BTF to resolve against ({exc}); give --btf FILE"


def inspect_json(obj) -> dict:
    """The ``inspect --json`` document: programs and maps of an object."""
    return {
        "programs": [
            {"name": p.name, "section": p.section, "type": p.type_name, "insns": p.instructions.len_slots}
            for p in obj.programs.values()
        ],
        "maps": [
            {
                "name": m.name,
                "type": m.type_name,
                "key_size": m.key_size,
                "value_size": m.value_size,
                "max_entries": m.max_entries,
                "flags": m.map_flags,
            }
            for m in obj.maps.values()
        ],
    }


def _listing(args: argparse.Namespace) -> int:
    from ..kernel import system

    from ..display.listing import bpftool_json, listing_text

    listing = system.maps(pinned=args.pinned) if args.verb == "maps" else system.programs(pinned=args.pinned)
    if args.json:
        json.dump(bpftool_json(listing), sys.stdout)
        sys.stdout.write("\n")
    elif len(listing):
        print(listing_text(listing))
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    from ..snapshot import snapshot

    contents = False if args.contents is None else (args.contents or True)
    snap = snapshot(args.out, contents=contents, host=args.host, pinned=args.pinned)
    print(f"{args.out}: {len(snap.programs)} programs, {len(snap.maps)} maps, {len(snap.links)} links, "
          f"{len(snap.contents)} map contents")
    return 0


def _size(text: str) -> int:
    from .._files import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="bpfnb", description="Parse, inspect and load eBPF objects.")
    parser.add_argument("--version", action="version", version=f"bpfnb {__version__}",
                        help="print bpfnb's version and exit")
    parser.add_argument("--max-size", type=_size, default=None, metavar="BYTES",
                        help="largest input file read (objects and BTF; default 512M; suffixes K, M, G)")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = sub.add_parser("inspect", help="summarise an eBPF object file (parse only, no syscalls)")
    p.add_argument("object", help="path to a .bpf.o file")
    p.add_argument("--json", action="store_true", help="print programs and maps as JSON")
    p.add_argument("--html", metavar="FILE",
                   help="write one self-contained HTML report to FILE: programs with instructions and source lines, "
                        "maps, CO-RE records, the call graph, the BTF summary")
    p.add_argument("--btf", metavar="FILE",
                   help="with --html: resolve CO-RE records against this BTF (default: the running kernel's)")
    p.set_defaults(func=_inspect)

    p = sub.add_parser("load", help="load every program of an object into the kernel and report")
    p.add_argument("object", help="path to a .bpf.o file")
    p.add_argument("--pin-maps", metavar="DIR",
                   help="pin LIBBPF_PIN_BY_NAME maps under DIR (reusing compatible pins); says which it pinned")
    p.add_argument("--pin", metavar="DIR",
                   help="pin every loaded program at DIR/NAME on bpffs (as bpftool prog loadall), so the load "
                        "outlives the command; all or none")
    p.add_argument("--log-level", type=log_level, default=0, metavar="N",
                   help="verifier log level: 1 (verbose), 2 (every instruction), 4 (statistics), or a sum; default 0")
    p.add_argument("--dry-run", action="store_true", help="make no syscalls: parse, fix up and relocate only")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON (also when a stage fails)")
    p.add_argument("--target-btf", metavar="FILE",
                   help="BTF (raw or ELF) to resolve CO-RE against instead of this kernel's (libbpf's btf_custom_path); "
                        "attach targets and __ksym externs still resolve against the running kernel")
    p.add_argument("--program-type", action="append", metavar="NAME=TYPE[:ATTACH]",
                   help="load program NAME as TYPE (socket_filter, cgroup_skb...) with expected attach type ATTACH "
                        "(libbpf's bpf_program__set_type); repeatable")
    p.set_defaults(func=run_load)

    for verb, what, tool in (("maps", "map", "map"), ("progs", "program", "prog")):
        p = sub.add_parser(verb, help=f"list every {what} of the running kernel (like bpftool {tool} show)")
        p.add_argument("--pinned", action="store_true", help="also find pinned paths under bpffs")
        p.add_argument("--json", action="store_true", help=f"print bpftool {tool} show -j's JSON (same keys)")
        p.set_defaults(func=_listing)

    p = sub.add_parser("snapshot", help="write the system's programs, maps and links (and map contents) as Parquet")
    p.add_argument("out", help="directory for programs.parquet, maps.parquet, links.parquet, map_contents/")
    p.add_argument("--contents", nargs="*", metavar="MAP",
                   help="also read map contents: these map ids or names, or every map when none is given")
    p.add_argument("--host", help="the host column's value (default: this host's name)")
    p.add_argument("--pinned", action="store_true", help="also find pinned paths under bpffs")
    p.set_defaults(func=_snapshot)

    try:
        from .btf import add_btf_parser
    except ImportError:
        pass
    else:
        add_btf_parser(sub)
    try:
        from .core_check import add_core_parser
    except ImportError:
        pass
    else:
        add_core_parser(sub)
    return parser


def _inputs(args: argparse.Namespace) -> str:
    """The files a verb was reading, for messages of errors that do not name one (MemoryError)."""
    names = [getattr(args, a, None) for a in ("object", "file", "base")] + list(getattr(args, "btf", None) or [])
    return ", ".join(str(n) for n in names if n)


def one_line(text: str) -> str:
    """An error message as one terminal-safe line (control characters made visible)."""
    from ..display.text import printable

    return printable(" ".join(str(text).split()))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; errors print one line on stderr and exit 1 (usage errors 2), never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "pin", None) and args.dry_run:
        parser.error("load: --pin needs a real load, not --dry-run")
    if args.max_size is not None:
        from .. import _files as files

        files.DEFAULT_MAX_SIZE = args.max_size
    where = f"bpfnb {args.verb}"
    try:
        return args.func(args)
    except BpfnbError as exc:
        message = str(exc)
    except BrokenPipeError:
        return 0
    except OSError as exc:  # writing a report (--html), stdout gone, a pin directory...
        name = f"{exc.filename}: " if exc.filename else ""
        message = f"{name}{exc.strerror or exc}"
    except MemoryError:
        message = f"out of memory processing {_inputs(args) or 'the input'}"
    except RecursionError:
        message = f"input nested too deeply to process: {_inputs(args) or 'the input'}"
    except KeyboardInterrupt:
        print(f"{where}: interrupted", file=sys.stderr)
        return 130
    print(f"{where}: {one_line(message)}", file=sys.stderr)
    return 1


