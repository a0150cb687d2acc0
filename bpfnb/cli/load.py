"""``bpfnb load OBJ``: run the pipeline, report each program and map, optionally pin.

``--pin DIR`` pins every loaded program at ``DIR/<program name>`` (as
``bpftool prog loadall OBJ DIR`` does), so the load outlives the command:
the programs stay in the kernel, and the maps they use with them, until
the pins are removed.  Pins are all or nothing: every name is checked
before the first pin, and a pin that fails removes the ones this command
made (programs and maps) and the directory it created.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BpfnbError, UnsafeName

if TYPE_CHECKING:
    from ..loader import Pipeline

__all__ = ["Pins", "load_json", "load_text", "pin_programs", "run_load"]

#: Verifier log levels ``BPF_PROG_LOAD`` accepts: 1 (errors and states), 2 (every instruction), 4 (statistics).
LOG_LEVELS = range(0, 8)


def log_level(text: str) -> int:
    """``--log-level``: an int of the kernel's log level bits (0-7)."""
    try:
        level = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (0, 1, 2, 4 or a sum of them)") from None
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{level} is not a verifier log level: 1 (verbose), 2 (every instruction) "
                                         "and 4 (statistics) may be combined, 0-7")
    return level


@dataclass
class Pins:
    """What ``--pin`` pinned: program name → path, and whether it created the directory."""

    root: str
    programs: dict[str, str] = field(default_factory=dict)
    created_root: bool = False


def _on_bpffs(path: str) -> bool:
    from ..kernel.system import bpffs_mounts

    real = os.path.realpath(path)
    return any(real == m or real.startswith(m.rstrip("/") + "/") for m in bpffs_mounts())


def _program_pin_path(root: str, name: str) -> str:
    from ..kernel.maps import pin_path

    try:
        return pin_path(root, name)
    except UnsafeName as exc:  # the rule is the maps' one; the message names the program
        reason = str(exc).split(": ", 1)[-1]
        raise UnsafeName(f"program {name!r} cannot be pinned under {root}: {reason}") from None


def pin_programs(programs: dict[str, Any], root: str) -> Pins:
    """Pin each program at ``root/<name>``: all, or none (see the module docstring)."""
    root = os.path.abspath(root)
    if not _on_bpffs(root):
        raise UnsafeName(f"--pin {root}: not on a bpffs mount (pins live in bpffs, e.g. under /sys/fs/bpf)")
    paths = {name: _program_pin_path(root, name) for name in programs}  # every name checked before any pin
    pins = Pins(root)
    if not os.path.isdir(root):
        os.makedirs(root, mode=0o700)
        pins.created_root = True
    try:
        for name, prog in programs.items():
            prog.pin(paths[name])
            pins.programs[name] = paths[name]
    except BaseException:
        unpin(pins)
        raise
    return pins


def unpin(pins: Pins) -> None:
    """Remove the pins of ``pins`` (and its directory when it made it)."""
    for path in pins.programs.values():
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    pins.programs.clear()
    if pins.created_root:
        try:
            os.rmdir(pins.root)
        except OSError:
            pass


def _unpin_new_maps(pipeline: Pipeline) -> None:
    for record in getattr(pipeline.maps, "records", ()):
        if record.pinned_here and record.pin_path:
            try:
                os.unlink(record.pin_path)
            except FileNotFoundError:
                pass


def run_load(args: argparse.Namespace) -> int:
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
        loaded = not pipeline.errors and all(p["loaded"] for p in doc["programs"] if p["autoload"])
        if args.pin and loaded and not pipeline.dry_run:
            try:
                pins = pin_programs(pipeline.programs, args.pin)
            except BaseException:
                _unpin_new_maps(pipeline)
                raise
            for entry in doc["programs"]:
                entry["pinned"] = pins.programs.get(entry["name"])
        elif args.pin:
            doc["not_pinned"] = ("dry run: nothing was loaded" if pipeline.dry_run
                                 else "not every program loaded: nothing was pinned")
        if args.json:
            json.dump(doc, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            from ..display.text import printable

            print(printable(load_text(doc, dry_run=pipeline.dry_run, pin_maps=args.pin_maps), keep_lines=True))
    return 0 if loaded and not pipeline.dry_run and "not_pinned" not in doc else 1


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


def load_json(pipeline: Pipeline) -> dict:
    """The ``load --json`` document: each program's outcome and each map, with its pin."""
    programs = []
    failed = bool(pipeline.errors)
    obj_programs = pipeline.obj.programs if pipeline.obj is not None else {}
    for name, spec in obj_programs.items():
        rel = pipeline.relocated.get(name)
        spec = rel.spec if rel is not None else spec
        entry = {"name": name, "section": spec.section, "type": spec.type_name, "loaded": False,
                 "autoload": pipeline.options.autoload.get(name, True),
                 "id": None, "tag": None, "insns": None, "error": None, "error_type": None, "pinned": None}
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
    records = {r.name: r for r in getattr(pipeline.maps, "records", ())}
    obj = pipeline.obj
    specs = [*obj.maps.items(), *((n, d.map_spec()) for n, d in obj.data.items())] if obj is not None else []
    for name, spec in specs:
        m = live.get(name)
        mid = m.info().id if m is not None and not m.closed else None
        record = records.get(name)
        pinned = record.pin_path if record is not None and record.status in ("created", "reused") else None
        pin = None if pinned is None else ("reused" if record.status == "reused" else "new")
        maps.append({"name": name, "type": spec.type_name, "key_size": spec.key_size, "value_size": spec.value_size,
                     "max_entries": spec.max_entries, "flags": spec.map_flags, "id": mid,
                     "created": m is not None, "pinned": pinned, "pin": pin})
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


def load_text(doc: dict, *, dry_run: bool, pin_maps: str | None = None) -> str:
    """The human form of :func:`load_json`'s document: one line per program and map, then the pins."""
    lines = ["dry run (no CAP_BPF): nothing was loaded"] if dry_run else []
    for p in doc["programs"]:
        status = f"id {p['id']} tag {p['tag']}" if p["loaded"] else f"FAILED: {p['error']}"
        lines.append(f"{p['name']:<24} {p['type']:<16} {status}")
    for m in doc["maps"]:
        lines.append(f"map {m['name']:<20} {m['type']:<16} id {m['id']}")
    pinned_maps = [m for m in doc["maps"] if m.get("pinned")]
    for m in pinned_maps:
        how = "reused the compatible pin" if m["pin"] == "reused" else "pinned"
        lines.append(f"{how} map {m['name']} at {m['pinned']}")
    if pin_maps and not pinned_maps and not dry_run:
        lines.append(f"no map pinned under {pin_maps}: none is declared with LIBBPF_PIN_BY_NAME")
    for p in doc["programs"]:
        if p.get("pinned"):
            lines.append(f"pinned program {p['name']} at {p['pinned']}")
    if doc.get("not_pinned"):
        lines.append(f"--pin: {doc['not_pinned']}")
    return "\n".join(lines)
