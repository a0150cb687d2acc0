"""Class 1 of issue 13: no interpreter crash when failed loads are kept and collected.

A BTF parse error stored by ``Pipeline.errors`` used to keep frames holding
memoryviews with exported buffers alive in a reference cycle; collecting
that cycle printed ``BufferError: memoryview has 1 exported buffer`` and
then crashed CPython (gh-77894).  The reproduction runs in a child process
under GC stress, so a segfault is a test failure instead of a dead pytest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bpfnb import EbpfLoader, errors
from bpfnb.btf import Btf

from hardening_mutate import bad_string_offset_object, btf_base
from helpers import fixture_path

TESTS = Path(__file__).resolve().parent

CHILD = textwrap.dedent("""
    import gc, sys
    sys.path.insert(0, {tests!r})
    import bpfnb
    from hardening_mutate import bad_string_offset_object
    if {stress}:
        gc.set_threshold(1, 1, 1)  # collect constantly
    data = bad_string_offset_object(open({path!r}, "rb").read())
    kept = []
    for i in range({rounds}):
        loader = bpfnb.EbpfLoader()
        if {dry}:
            loader = loader.dry_run()
        try:
            if {keep}:
                p = loader.pipeline(data)
                kept.append(p)  # a notebook keeps the pipeline and the last exception
                p.run()
            else:
                loader.pipeline(data).run()  # dropped: its cycle is garbage
        except bpfnb.errors.BpfnbError as exc:
            if {keep}:
                kept.append(exc)
        else:
            raise SystemExit("the bad object loaded")
    gc.collect()
    del kept
    gc.collect()
    print("survived")
""")


def _run_child(path: Path, *, dry: bool, stress: bool, keep: bool, rounds: int = 3) -> subprocess.CompletedProcess:
    code = CHILD.format(tests=str(TESTS), path=str(path), rounds=rounds, dry=dry, stress=stress, keep=keep)
    return subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("stress", [False, True], ids=["gc-default", "gc-stress"])
@pytest.mark.parametrize("keep", [False, True], ids=["dropped", "kept"])
@pytest.mark.parametrize("name", ["packet_counter", "multi", "map_types"])
def test_failed_loads_survive_gc_dry_run(name, keep, stress):
    proc = _run_child(fixture_path(name), dry=True, stress=stress, keep=keep)
    assert proc.returncode == 0, f"child died ({proc.returncode}): {proc.stderr[-2000:]}"
    assert "survived" in proc.stdout
    assert "Exception ignored" not in proc.stderr, proc.stderr[-2000:]


@pytest.mark.kernel
@pytest.mark.parametrize("keep", [False, True], ids=["dropped", "kept"])
def test_failed_loads_survive_gc_privileged(keep):
    proc = _run_child(fixture_path("packet_counter"), dry=False, stress=False, keep=keep)
    assert proc.returncode == 0, f"child died ({proc.returncode}): {proc.stderr[-2000:]}"
    assert "Exception ignored" not in proc.stderr, proc.stderr[-2000:]


def test_stored_errors_hold_no_frames():
    data = bad_string_offset_object(fixture_path("packet_counter").read_bytes())
    p = EbpfLoader().dry_run().pipeline(data)
    with pytest.raises(errors.BtfError) as info:
        p.run()
    assert info.value.__traceback__ is not None  # the raised one keeps its traceback for debugging
    stored = next(iter(p.errors.values()))
    assert isinstance(stored, errors.BtfError)
    assert str(stored) == str(info.value) and stored.type_id == info.value.type_id
    assert stored.__traceback__ is None and stored.__context__ is None and stored.__cause__ is None


def test_parsed_btf_keeps_no_memoryview():
    data = fixture_path("packet_counter").read_bytes()
    base = btf_base(data)
    import struct

    hdr_len, _, type_len, str_off, str_len = struct.unpack_from("<IIIII", data, base + 4)
    blob = data[base : base + hdr_len + str_off + str_len]
    btf = Btf.from_bytes(blob)
    assert type(btf._table.words) is bytes


def test_kept_errors_keep_their_attributes() -> None:
    """A frameless copy is the same error: class, message and the attributes set after raising."""
    from bpfnb.errors import VerifierError
    from bpfnb.loader import frameless

    try:
        raise VerifierError(13, "prog", "0: (b7) r0 = 0\ninvalid mem access")
    except VerifierError as exc:
        exc.verifier_log = "the parsed log"
        exc.program = "prog"
        kept, raised = frameless(exc), exc
    assert kept is not raised and kept.__traceback__ is None and str(kept) == str(raised)
    assert kept.verifier_log == "the parsed log" and kept.program == "prog"
