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

__all__ = ["main"]


def _inspect(args: argparse.Namespace) -> int:
    from ..obj import Object

    obj = Object.from_file(args.object)
    if args.html:
        Path(args.html).write_text(_standalone_html(obj._repr_html_(), f"bpfnb inspect {obj.name}"))
    if args.json:
        json.dump(inspect_json(obj), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not args.html:
        from ..display.text import printable

        print(printable(obj.summary(), keep_lines=True))
    return 0


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


def _load(args: argparse.Namespace) -> int:
    from ..loader import EbpfLoader

    loader = EbpfLoader().verifier_log_level(args.log_level)
    if args.pin_maps:
        loader.map_pin_path(args.pin_maps)
    if args.dry_run:
        loader.dry_run()
    if args.target_btf:
        from ..btf import Btf

        loader.target_btf(Btf.from_file(args.target_btf))
    for item in args.program_type or ():
        name, ptype, attach = _program_type_arg(item)
        loader.set_program_type(name, ptype, attach)
    with loader.pipeline(args.object) as pipeline:
        try:
            pipeline.run("load")
        except BpfnbError:
            if not args.json:
                raise
        doc = load_json(pipeline)
        if args.json:
            json.dump(doc, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            from ..display.text import printable

            print(printable(load_text(doc, dry_run=pipeline.dry_run), keep_lines=True))
    loaded = not pipeline.errors and all(p["loaded"] for p in doc["programs"] if p["autoload"])
    return 0 if loaded and not pipeline.dry_run else 1


def _program_type_arg(text: str) -> tuple[str, str, str | None]:
    """``NAME=TYPE[:ATTACH]`` of ``--program-type``."""
    name, eq, rest = text.partition("=")
    ptype, _, attach = rest.partition(":")
    if not eq or not name or not ptype:
        from ..errors import UnknownName

        raise UnknownName(f"--program-type {text!r}: expected NAME=TYPE[:ATTACH]")
    return name, ptype, attach or None


def _error_json(exc: BaseException) -> dict:
    """A typed error as JSON: its class, message, and where (program, instruction) when it says."""
    out: dict = {"class": type(exc).__name__, "message": str(exc)}
    for key in ("program", "index", "symbol", "errno"):
        value = getattr(exc, key, None)
        if value is not None:
            out[key] = value
    log = getattr(exc, "log", "") or ""
    tail = [line for line in log.strip().splitlines() if line.strip()][-5:]
    if tail:
        out["log_tail"] = tail
    return out


def load_json(pipeline) -> dict:
    """The ``load --json`` document: each program's outcome and each map."""
    programs = []
    failed = bool(pipeline.errors)
    obj_programs = pipeline.obj.programs if pipeline.obj is not None else {}
    for name, spec in obj_programs.items():
        rel = pipeline.relocated.get(name)
        spec = rel.spec if rel is not None else spec
        entry = {"name": name, "section": spec.section, "type": spec.type_name, "loaded": False,
                 "autoload": pipeline.options.autoload.get(name, True),
                 "id": None, "tag": None, "insns": None, "error": None, "error_type": None}
        if rel is not None:
            entry["insns"] = rel.insn_cnt
        prog = pipeline.programs.get(name)
        if prog is not None and not failed:
            info = prog.info()
            entry.update(loaded=True, id=info.id, tag=info.tag)
        elif prog is not None:
            entry["error"] = "loaded, then closed: a later stage failed"
        elif name in pipeline.program_errors:
            exc = pipeline.program_errors[name]
            log = getattr(exc, "log", "") or ""
            tail = [line for line in log.strip().splitlines() if line.strip()][-5:]
            entry["error"] = "\n".join(tail) if tail else str(exc)
            entry["error_type"] = type(exc).__name__
        elif pipeline.dry_run:
            entry["error"] = "dry run: BPF_PROG_LOAD needs CAP_BPF"
        programs.append(entry)
    maps = []
    live = pipeline.maps.maps if pipeline.maps is not None else {}
    obj = pipeline.obj
    specs = [*obj.maps.items(), *((n, d.map_spec()) for n, d in obj.data.items())] if obj is not None else []
    for name, spec in specs:
        m = live.get(name)
        mid = m.info().id if m is not None and not m.closed else None
        maps.append({"name": name, "type": spec.type_name, "key_size": spec.key_size, "value_size": spec.value_size,
                     "max_entries": spec.max_entries, "flags": spec.map_flags, "id": mid,
                     "created": m is not None})
    doc: dict = {"programs": programs, "maps": maps}
    if failed:
        stage, exc = next(iter(pipeline.errors.items()))
        doc["failed"] = {
            "stage": stage, "error": _error_json(exc),
            "stages_done": list(pipeline.results),
            # what the failed run had created; the pipeline closed it all when the stage failed
            "created": {"btf": pipeline.btf is not None, "maps": sorted(live), "programs": sorted(pipeline.programs)},
            "closed": True,
        }
    return doc


def load_text(doc: dict, *, dry_run: bool) -> str:
    lines = ["dry run (no CAP_BPF): nothing was loaded"] if dry_run else []
    for p in doc["programs"]:
        status = f"id {p['id']} tag {p['tag']}" if p["loaded"] else f"FAILED: {p['error']}"
        lines.append(f"{p['name']:<24} {p['type']:<16} {status}")
    for m in doc["maps"]:
        lines.append(f"map {m['name']:<20} {m['type']:<16} id {m['id']}")
    return "\n".join(lines)


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


def _standalone_html(fragment: str, title: str) -> str:
    from ..display.html import escape

    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title></head><body>\n{fragment}\n</body></html>\n"
    )


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
    parser = argparse.ArgumentParser(prog="bpfnb", description="Parse, inspect and load eBPF objects.")
    parser.add_argument("--max-size", type=_size, default=None, metavar="BYTES",
                        help="largest input file read (objects and BTF; default 512M; suffixes K, M, G)")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = sub.add_parser("inspect", help="summarise an eBPF object file (parse only, no syscalls)")
    p.add_argument("object", help="path to a .bpf.o file")
    p.add_argument("--json", action="store_true", help="print programs and maps as JSON")
    p.add_argument("--html", metavar="FILE", help="write a standalone HTML report to FILE")
    p.set_defaults(func=_inspect)

    p = sub.add_parser("load", help="load every program of an object into the kernel and report")
    p.add_argument("object", help="path to a .bpf.o file")
    p.add_argument("--pin-maps", metavar="DIR", help="pin LIBBPF_PIN_BY_NAME maps under DIR (reusing compatible pins)")
    p.add_argument("--log-level", type=int, default=0, metavar="N", help="verifier log level (0, 1, 2)")
    p.add_argument("--dry-run", action="store_true", help="make no syscalls: parse, fix up and relocate only")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON (also when a stage fails)")
    p.add_argument("--target-btf", metavar="FILE",
                   help="BTF (raw or ELF) to resolve CO-RE against instead of this kernel's (libbpf's btf_custom_path); "
                        "attach targets and __ksym externs still resolve against the running kernel")
    p.add_argument("--program-type", action="append", metavar="NAME=TYPE[:ATTACH]",
                   help="load program NAME as TYPE (socket_filter, cgroup_skb...) with expected attach type ATTACH "
                        "(libbpf's bpf_program__set_type); repeatable")
    p.set_defaults(func=_load)

    for verb, what, tool in (("maps", "map", "map"), ("progs", "program", "prog")):
        p = sub.add_parser(verb, help=f"list every {what} of the running kernel (like bpftool {tool} show)")
        p.add_argument("--pinned", action="store_true", help="also find pinned paths under bpffs")
        p.add_argument("--json", action="store_true")
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


