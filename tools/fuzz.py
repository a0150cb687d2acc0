#!/usr/bin/env python3
"""A fuzz campaign over every parser and a privileged load: ``make fuzz MINUTES=N``.

Inputs are field-targeted mutations (tests/hardening_mutate.py) of the C
fixtures and examples, stacked one to three deep.  Each input goes through
the object parser and its views, the BTF parser and walkers (C, layouts,
codecs), the .BTF.ext parser, a dry-run pipeline, and -- with CAP_BPF -- a
real load (closed afterwards).  Inputs run in worker processes, so that:

* a crash (a signal, an interpreter abort) kills only the worker: counted,
  and the input saved under ``tools/fuzz-findings/crash-*.o``;
* a hang (an input taking longer than ``--timeout``) is caught by SIGALRM in
  the worker, or by the parent killing a worker stuck in C: counted, saved;
* an untyped exception (anything but ``BpfnbError``) is counted and saved
  with its traceback;
* an fd leak (bpf fds in /proc/self/fd before vs after a load, after gc) is
  counted and saved.

Workers run in a memory cgroup (``--memory``, 2 GiB): the kernel charges maps
to it, so an input asking for a 10 GB array meets a bounded machine, as in a
container, and the loader's size check refuses it instead of the kernel
zeroing gigabytes past the hang guard.

Prints: inputs tried / typed errors / accepted / untyped / crashes / hangs /
fd leaks, then the same per target (each stage an input reached: tried, typed
refusals, and the findings in it), and exits 1 when any of the last four is
non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

FINDINGS = ROOT / "tools" / "fuzz-findings"


def seeds() -> list[bytes]:
    paths = sorted((ROOT / "tests" / "bpf" / "build").glob("*.bpf.o")) + sorted((ROOT / "bpfnb" / "examples").glob("*.bpf.o"))
    return [p.read_bytes() for p in paths]


def mutate(rng: random.Random, data: bytes) -> bytes:
    from hardening_mutate import FIELD_TARGETS, INTERESTING, apply_field_mutation

    for _ in range(rng.randint(1, 3)):
        target = rng.choice(FIELD_TARGETS)
        r = rng.random()
        value = rng.choice(INTERESTING) if r < 0.5 else rng.getrandbits(32) if r < 0.8 else rng.randint(0, 4096)
        data = apply_field_mutation(data, target, rng.getrandbits(16), rng.getrandbits(16), value)
        if rng.random() < 0.1 and data:  # now and then a plain bit flip too
            buf = bytearray(data)
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
            data = bytes(buf)
    return data


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


#: The stages every input goes through, in order; counted separately.
TARGETS = ("Object.from_bytes", "views", "Btf walkers", "dry-run pipeline", "privileged load", "Btf.from_bytes")

#: Set by the worker: the index of the target an input is in (the parent reads it when the worker dies or hangs).
_current = None
#: Per input: target -> "ok" / "typed", filled as the input goes through.
_reached: dict[str, str] = {}


def _enter(target: str) -> None:
    _reached.setdefault(target, "ok")
    if _current is not None:
        _current.value = TARGETS.index(target)


#: Kinds with a value (a size and a layout), after typedefs and qualifiers: align_of and Codec accept these on
#: valid BTF and refuse every other kind (void, FWD, FUNC, FUNC_PROTO, DATASEC, DECL_TAG) even there.
VALUE_KINDS = frozenset({"INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FLOAT", "ENUM64"})


def has_value(btf, tid: int) -> bool:
    """Whether ``tid`` (through typedefs and qualifiers, and a VAR's type) is of a kind in VALUE_KINDS.

    The walkers that lay a value out are only given these, so that a typed refusal of theirs means the
    mutation broke something, and an untyped one on a valid kind shows, instead of every input counting
    as "typed" for the FUNCs every object has.
    """
    t = btf[btf.resolve(tid)]
    if t.kind.name == "VAR":  # a global's value is its type's (a typeless ksym is a VAR of void)
        t = btf[btf.resolve(t.type_id)]
    return t.kind.name in VALUE_KINDS


def exercise(data: bytes, privileged: bool) -> tuple[str, str, int]:
    """(outcome, detail, leaked fds): 'accepted' (parsed; later stages may still refuse, typed),
    'typed' (the parser refused it with a BpfnbError), 'leak' or 'untyped:<Type>'."""
    import gc

    from bpfnb import EbpfLoader
    from bpfnb.btf import Btf
    from bpfnb.btf.codec import Codec
    from bpfnb.errors import BpfnbError
    from bpfnb.obj import Object
    from hardening_mutate import bpf_fds

    typed = False

    def step(fn, target):
        nonlocal typed
        _enter(target)
        try:
            return fn()
        except BpfnbError:
            typed = True
            _reached[target] = "typed"
            return None

    obj = step(lambda: Object.from_bytes(data, name="fuzz.o"), "Object.from_bytes")
    if obj is not None:
        step(obj.summary, "views")
        step(obj._repr_html_, "views")
        btf = obj.btf
        if btf is not None:
            for tid in range(min(len(btf), 400)):
                step(lambda: btf.name_of(tid), "Btf walkers")  # every kind has a C spelling
                if step(lambda: has_value(btf, tid), "Btf walkers"):
                    step(lambda: btf.align_of(tid), "Btf walkers")
                    step(lambda: Codec(btf, tid), "Btf walkers")
            step(btf.to_c, "Btf walkers")
        step(lambda: EbpfLoader().dry_run().pipeline(data).run(), "dry-run pipeline")
        if privileged:
            before = bpf_fds()
            ebpf = step(lambda: EbpfLoader().dry_run(False).pipeline(data).run_all(), "privileged load")
            if ebpf is not None:
                close = getattr(ebpf, "close", None)
                if close is not None:
                    close()
            del ebpf
            gc.collect()
            leaked = len(bpf_fds() - before)
            if leaked:
                return "leak", f"{leaked} bpf fds left open after a load", leaked
    from hardening_mutate import btf_base

    try:
        base = btf_base(data)
    except Exception:
        base = None
    if base is not None:
        step(lambda: Btf.from_bytes(data[base:]), "Btf.from_bytes")
    return ("accepted" if obj is not None else "typed"), "", 0


def worker(conn, timeout: float, privileged: bool, current=None) -> None:
    global _current
    _current = current
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent ends the campaign
    while True:
        item = conn.recv()
        if item is None:
            return
        data = item
        _reached.clear()
        signal.alarm(int(timeout))
        try:
            outcome, detail, leaked = exercise(data, privileged)
        except Hang:
            outcome, detail, leaked = "hang", "SIGALRM", 0
        except (MemoryError, RecursionError, Exception) as exc:  # noqa: BLE001 - an untyped escape is a finding
            outcome, detail, leaked = f"untyped:{type(exc).__name__}", traceback.format_exc(), 0
        finally:
            signal.alarm(0)
        where = TARGETS[_current.value] if _current is not None else ""
        conn.send((outcome, detail, leaked, dict(_reached), where))


def save(kind: str, data: bytes, detail: str, n: int) -> Path:
    FINDINGS.mkdir(parents=True, exist_ok=True)
    path = FINDINGS / f"{kind}-{os.getpid()}-{n}.o"
    path.write_bytes(data)
    if detail:
        path.with_suffix(".txt").write_text(detail)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=float(os.environ.get("MINUTES", "1")))
    p.add_argument("--timeout", type=float, default=20.0, help="seconds one input may take")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-load", action="store_true", help="skip the privileged load even with CAP_BPF")
    p.add_argument("--memory", default="2G", help="memory cgroup limit of the workers (maps are charged to it)")
    args = p.parse_args(argv)

    from bpfnb.kernel.privilege import is_privileged

    privileged = is_privileged() and not args.no_load
    rng = random.Random(args.seed)
    pool = seeds()
    if not pool:
        print("fuzz: no seeds (run make setup to build tests/bpf)", file=sys.stderr)
        return 2
    ctx = mp.get_context("spawn")
    stats = {"tried": 0, "typed": 0, "accepted": 0, "untyped": 0, "crashes": 0, "hangs": 0, "fd leaks": 0}
    untyped_kinds: dict[str, int] = {}
    per = {t: dict.fromkeys(("tried", "typed", "untyped", "crashes", "hangs", "fd leaks"), 0) for t in TARGETS}
    current = ctx.Value("i", 0, lock=False)
    from bpfnb._files import parse_size

    from helpers import memory_cgroup  # tests/helpers.py: the cgroup tests/test_kernel_memory.py runs its child in

    cgroups = contextlib.ExitStack()
    try:  # None without a memory controller; an OSError without root
        cgroup = cgroups.enter_context(memory_cgroup(f"bpfnb-fuzz-{os.getpid()}", parse_size(args.memory)))
    except OSError as exc:
        print(f"fuzz: no memory cgroup ({exc}); workers run unbounded", file=sys.stderr)
        cgroup = None

    def start():
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(child, args.timeout, privileged, current), daemon=True)
        proc.start()
        if cgroup is not None:  # before it is sent an input
            (cgroup / "cgroup.procs").write_text(str(proc.pid))
        return proc, parent

    proc, conn = start()
    started = time.monotonic()
    deadline = started + 60 * args.minutes
    found = 0
    mutator_errors: dict[str, int] = {}
    interrupted = False
    try:  # Ctrl-C ends the campaign early: the report and the cgroup's removal still happen
        while time.monotonic() < deadline:
            try:
                data = mutate(rng, rng.choice(pool))
            except Exception as exc:  # a bug of the mutator (tests/hardening_mutate.py), not of bpfnb: say so, go on
                mutator_errors[type(exc).__name__] = mutator_errors.get(type(exc).__name__, 0) + 1
                continue
            stats["tried"] += 1
            conn.send(data)
            current.value = 0
            reached: dict[str, str] = {}
            if conn.poll(args.timeout + 10):
                try:
                    outcome, detail, leaked, reached, where = conn.recv()
                except EOFError:
                    outcome, detail, leaked = "crash", "", 0
            elif not proc.is_alive():
                outcome, detail, leaked = "crash", "", 0
            else:
                outcome, detail, leaked = "hang", "stuck past SIGALRM (in C?)", 0
            if not reached:  # the worker died or hung: up to the target it was in
                where = TARGETS[current.value]
                reached = {t: "ok" for t in TARGETS[: current.value + 1]}
            for t, how in reached.items():
                per[t]["tried"] += 1
                per[t]["typed"] += how == "typed"
            if outcome.startswith("untyped") or outcome in ("crash", "hang"):
                key = {"crash": "crashes", "hang": "hangs"}.get(outcome, "untyped")
                per[where][key] += 1
            elif outcome == "leak":
                per["privileged load"]["fd leaks"] += leaked
            if outcome in ("crash", "hang") or not proc.is_alive():
                if outcome == "crash" or proc.exitcode is not None:
                    outcome = "crash"
                    detail = f"worker died with exit code {proc.exitcode}"
                proc.kill()
                proc.join()
                proc, conn = start()
            if outcome == "typed" or outcome == "accepted":
                stats[outcome] += 1
                continue
            found += 1
            if outcome.startswith("untyped"):
                stats["untyped"] += 1
                untyped_kinds[outcome[8:]] = untyped_kinds.get(outcome[8:], 0) + 1
                save("untyped", data, detail, found)
            elif outcome == "leak":
                stats["fd leaks"] += leaked
                save("leak", data, detail, found)
            else:
                stats["crashes" if outcome == "crash" else "hangs"] += 1
                save(outcome, data, detail, found)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if interrupted or not proc.is_alive():
            proc.kill()
        else:
            conn.send(None)
        proc.join(5)
        try:
            cgroups.close()
        except OSError as exc:
            print(f"fuzz: memory cgroup {cgroup} left behind ({exc})", file=sys.stderr)
    if interrupted:
        print("fuzz: interrupted", file=sys.stderr)
    print("fuzz: " + " / ".join(f"{k} {v}" for k, v in stats.items())
          + f" (privileged load: {'yes' if privileged else 'no'}; workers' memory cgroup: "
          f"{args.memory if cgroup is not None else 'none'}; {(time.monotonic() - started) / 60:.1f} minutes,"
          f" {len(pool)} seeds)")
    if mutator_errors:
        print("fuzz: mutator errors (inputs not tried): " + ", ".join(f"{k} {v}" for k, v in mutator_errors.items()))
    width = max(map(len, TARGETS))
    for t in TARGETS:
        print(f"fuzz:   {t:<{width}}  " + " / ".join(f"{k} {v}" for k, v in per[t].items()))
    if untyped_kinds:
        print("fuzz: untyped: " + ", ".join(f"{k} x{v}" for k, v in sorted(untyped_kinds.items())))
    if found:
        print(f"fuzz: inputs saved under {FINDINGS}")
    if stats["untyped"] or stats["crashes"] or stats["hangs"] or stats["fd leaks"]:
        return 1
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
