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

from .errors import BpfnbError

__all__ = ["main"]


def _inspect(args: argparse.Namespace) -> int:
    from .obj import Object

    obj = Object.from_file(args.object)
    if args.html:
        Path(args.html).write_text(_standalone_html(obj._repr_html_(), f"bpfnb inspect {obj.name}"))
    if args.json:
        json.dump(inspect_json(obj), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not args.html:
        print(obj.summary())
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


def _standalone_html(fragment: str, title: str) -> str:
    from .display.html import escape

    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title></head><body>\n{fragment}\n</body></html>\n"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bpfnb", description="Parse, inspect and load eBPF objects.")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = sub.add_parser("inspect", help="summarise an eBPF object file (parse only, no syscalls)")
    p.add_argument("object", help="path to a .bpf.o file")
    p.add_argument("--json", action="store_true", help="print programs and maps as JSON")
    p.add_argument("--html", metavar="FILE", help="write a standalone HTML report to FILE")
    p.set_defaults(func=_inspect)

    try:
        from .btf.cli import add_btf_parser
    except ImportError:
        pass
    else:
        add_btf_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BpfnbError as exc:
        print(f"bpfnb {args.verb}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
