"""PROG_LOAD with BTF: prog_btf_fd, func_info and line_info records reach the kernel.

The BTF (int, FUNC_PROTO, FUNC ``entry``) and the records are written here
by hand; the kernel's answer (ProgInfo.btf_id/nr_func_info/nr_line_info)
and bpftool's annotated dump are the oracles.
"""

from __future__ import annotations

import errno
import struct

import pytest

from oracles.bpftool import BPFTOOL, bpftool

from bpfnb.errors import VerifierError
from bpfnb.kernel import btf_info, btf_load, prog_info, prog_load
from bpfnb.kernel.features import _strtab
from bpfnb.uapi import ProgType
from bpfnb.uapi.btf_layout import KIND_FUNC, KIND_FUNC_PROTO, KIND_INT, btf_blob, int_data, pack_record

pytestmark = pytest.mark.kernel

RET0 = b"\xb7\x00\x00\x00\x00\x00\x00\x00\x95\x00\x00\x00\x00\x00\x00\x00"


def program_btf() -> tuple[bytes, dict[str, int]]:
    strs, off = _strtab("int", "entry", "prog.c", "int entry(void) {", "return 0;")
    types = (
        pack_record(KIND_INT, off["int"], 4, fixed=(int_data(1, 0, 32),))  # [1] int
        + pack_record(KIND_FUNC_PROTO, 0, 1)                                # [2] int (void)
        + pack_record(KIND_FUNC, off["entry"], 2, vlen=1)                   # [3] global func entry
    )
    return btf_blob(types, strs), off


def line(insn: int, off: dict[str, int], text: str, lineno: int, col: int = 1) -> bytes:
    return struct.pack("<IIII", insn, off["prog.c"], off[text], (lineno << 10) | col)


def test_func_and_line_info_are_accepted() -> None:
    blob, off = program_btf()
    btf, _ = btf_load(blob)
    func_info = struct.pack("<II", 0, 3)  # insn 0 is FUNC #3
    lines = line(0, off, "int entry(void) {", 1) + line(1, off, "return 0;", 2, 5)
    with btf, prog_load(ProgType.SOCKET_FILTER, RET0, name="entry", prog_btf_fd=btf, func_info=func_info,
                        func_info_rec_size=8, line_info=lines, line_info_rec_size=16).fd as prog:
        info = prog_info(prog)
        assert info.btf_id == btf_info(btf).id
        assert (info.nr_func_info, info.nr_line_info) == (1, 2)
        if BPFTOOL is not None:
            dump = bpftool("prog", "dump", "xlated", "id", str(info.id))
            assert dump[0]["proto"] == "int entry()"  # bpftool renders FUNC #3 from our BTF
            assert [i["src"] for i in dump] == ["int entry(void) {", "return 0;"]
            linum = bpftool("prog", "dump", "xlated", "id", str(info.id), "linum", json=False)
            assert "[file:prog.c line_num:2 line_col:5]" in linum


def test_bad_line_info_is_a_verifier_error() -> None:
    blob, off = program_btf()
    btf, _ = btf_load(blob)
    with btf, pytest.raises(VerifierError) as exc:
        # line info must start at insn 0: starting at 1 is refused, with the reason in the log
        prog_load(ProgType.SOCKET_FILTER, RET0, prog_btf_fd=btf, func_info=struct.pack("<II", 0, 3),
                  func_info_rec_size=8, line_info=line(1, off, "return 0;", 2), line_info_rec_size=16)
    assert exc.value.errno == errno.EINVAL and "line_info" in exc.value.log


def test_record_sizes_are_checked_before_the_syscall() -> None:
    with pytest.raises(ValueError, match="record size"):
        prog_load(ProgType.SOCKET_FILTER, RET0, func_info=bytes(12), func_info_rec_size=8)
