"""Classes 5 and 6 of issue 13: the CLI never prints a traceback; reads are bounded.

Every verb, on missing, empty, truncated, garbage, huge (over the input
limit), special (/dev/zero, a FIFO, a directory) and unreadable files:
exactly one line on stderr naming the file, exit status 1, within a
timeout (a FIFO used to block forever, /dev/zero to eat memory).  "Every
verb" is every option that reads a file: the object of inspect, load (real
and dry run), btf dump, core-check, and --btf, --target-btf, --base, both
sides of btf diff; the verbs that write (snapshot OUT, load --pin DIR) get
bad output paths.  maps and progs read no file.  Run as subprocesses, as a
user would.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bpfnb import examples
from bpfnb.errors import BtfError, ElfError
from bpfnb.obj import Object
from bpfnb.btf import Btf

GOOD = str(examples.path("packet_counter"))
CORE = str(examples.path("core_kinds"))
UNREADABLE = "/sys/class/zram-control/hot_remove"  # kernfs file without a read op: EACCES even for root


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("cli_inputs")
    good = Path(GOOD).read_bytes()
    (d / "empty.o").write_bytes(b"")
    (d / "truncated.o").write_bytes(good[:200])
    (d / "garbage.o").write_bytes(os.urandom(4096))
    (d / "headless.o").write_bytes(good[:64] + bytes(1000))
    with open(d / "huge.o", "wb") as f:  # sparse: over the default 512 MiB limit, costs no disk
        f.truncate((512 << 20) + 1)
    os.mkfifo(d / "fifo.o")
    out = {name: str(d / f"{name}.o") for name in ("empty", "truncated", "garbage", "headless", "huge", "fifo")}
    out["missing"] = str(d / "missing.o")
    out["directory"] = str(d)
    out["dev_zero"] = "/dev/zero"
    if os.path.exists(UNREADABLE):
        out["unreadable"] = UNREADABLE
    return out


def bpfnb(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bpfnb.cli", *args], capture_output=True, text=True,
                          timeout=timeout, **kw)


VERBS = {
    "inspect": lambda f: ["inspect", f],
    "inspect_json": lambda f: ["inspect", "--json", f],
    "load_dry": lambda f: ["load", "--dry-run", f],
    "btf_dump": lambda f: ["btf", "dump", f],
    "btf_dump_c": lambda f: ["btf", "dump", "--format", "c", f],
    "btf_dump_base": lambda f: ["btf", "dump", "--base", f, GOOD],
    "core_check_obj": lambda f: ["core-check", f, "--btf", GOOD],
    "core_check_btf": lambda f: ["core-check", CORE, "--btf", f],
    # every other option that reads a file
    "load": lambda f: ["load", f],  # a real load (the kernel marker's privilege), not only the dry run
    "load_target_btf": lambda f: ["load", "--dry-run", "--target-btf", f, CORE],
    "inspect_html_btf": lambda f: ["inspect", "--html", os.devnull, "--btf", f, CORE],
    "btf_diff_old": lambda f: ["btf", "diff", f, GOOD],
    "btf_diff_new": lambda f: ["btf", "diff", GOOD, f],
    "core_check_base": lambda f: ["core-check", CORE, "--btf", GOOD, "--base", f],
}
KINDS = ["missing", "empty", "truncated", "garbage", "headless", "huge", "fifo", "directory", "dev_zero",
         "unreadable"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("verb", VERBS)
def test_bad_input_is_one_line(verb, kind, inputs):
    if kind not in inputs:
        pytest.skip(f"{UNREADABLE} does not exist here")
    path = inputs[kind]
    proc = bpfnb(*VERBS[verb](path))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert lines[0].startswith("bpfnb "), lines[0]
    if kind in ("missing", "huge", "fifo", "directory", "dev_zero", "unreadable"):
        assert path in lines[0], lines[0]
    else:
        assert Path(path).name in lines[0], lines[0]


def test_max_size_option(inputs):
    proc = bpfnb("--max-size", "1K", "inspect", GOOD)
    assert proc.returncode == 1 and "1024-byte input limit" in proc.stderr and GOOD in proc.stderr
    assert bpfnb("--max-size", "1M", "inspect", GOOD).returncode == 0


def test_unwritable_html_report():
    proc = bpfnb("inspect", "--html", "/sys/kernel/btf/report.html", GOOD)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "bpfnb inspect: /sys/kernel/btf/report.html: Permission denied"
    proc = bpfnb("inspect", "--html", "/nonexistent-dir/report.html", GOOD)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "/nonexistent-dir/report.html" in proc.stderr


def test_memory_error_is_one_line(tmp_path):
    big = tmp_path / "big.o"
    with open(big, "wb") as f:
        f.truncate(3 << 30)  # sparse 3 GiB

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = bpfnb("--max-size", "8G", "inspect", str(big), preexec_fn=limit, env=env)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines() == [f"bpfnb inspect: out of memory processing {big}"]


# --- the library refuses before reading ---------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "directory", "huge"])
def test_library_refuses_special_and_huge_files(kind, inputs):
    with pytest.raises(ElfError, match="not a regular file|input limit"):
        Object.from_file(inputs[kind])
    with pytest.raises(BtfError, match="not a regular file|input limit"):
        Btf.from_file(inputs[kind])


def test_huge_bss_is_not_allocated_at_parse(tmp_path):
    from hardening_mutate import section, set_section_header, sections

    data = Path(GOOD).read_bytes()
    bss = next((s for s in sections(data) if s.name == ".bss"), None)
    if bss is None:
        pytest.skip("no .bss in the example")
    big = set_section_header(data, bss.index, "sh_size", (1 << 30) - 8)
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    obj = Object.from_bytes(big)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - usage) / 1024
    assert obj.data[".bss"].size == (1 << 30) - 8
    assert grown_mib < 200, f"parsing grew the process by {grown_mib:.0f} MiB"
    assert obj.data[".bss"].raw == b""


def test_terminal_escapes_in_dump_are_visible(tmp_path):
    from bpfnb.btf import Int, IntEncoding, Struct, Member
    from bpfnb.btf.writer import write_types

    blob = write_types([Int(1, "int", 4, IntEncoding.SIGNED, 0, 32),
                        Struct(2, "evil\x1b[2J\x1b]0;owned\x07\u202eexe", 4, (Member("m\x1b[31m", 1, 0, 0),))])
    f = tmp_path / "evil.btf"
    f.write_bytes(blob)
    for fmt in ("raw", "c", "json"):
        proc = bpfnb("btf", "dump", "--format", fmt, str(f))
        assert proc.returncode == 0, proc.stderr
        assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout and "\u202e" not in proc.stdout, fmt
    assert "\\x1b[2J" in bpfnb("btf", "dump", str(f)).stdout


# --- the verbs that write: their output path of each bad kind --------------------------


@pytest.mark.kernel
@pytest.mark.parametrize("kind", ["regular", "fifo", "dev_zero", "unwritable"])
def test_snapshot_to_a_bad_directory_is_one_line(kind, tmp_path):
    out = {"regular": tmp_path / "file", "fifo": tmp_path / "fifo", "dev_zero": Path("/dev/zero"),
           "unwritable": Path("/sys/kernel/btf/snap")}[kind]
    if kind == "regular":
        out.write_text("x")
    elif kind == "fifo":
        os.mkfifo(out)
    proc = bpfnb("snapshot", str(out))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert lines[0].startswith("bpfnb snapshot: ") and str(out) in lines[0], lines[0]


@pytest.mark.kernel
@pytest.mark.parametrize("kind", ["regular", "missing", "dev_zero"])
def test_load_pin_to_a_non_bpffs_path_is_one_line(kind, tmp_path):
    out = {"regular": tmp_path / "file", "missing": tmp_path / "missing", "dev_zero": Path("/dev/zero")}[kind]
    if kind == "regular":
        out.write_text("x")
    proc = bpfnb("load", "--pin", str(out), GOOD)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert str(out) in lines[0], lines[0]
