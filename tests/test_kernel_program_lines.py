"""A program opened by id shows its xlated code with the C source lines, as bpftool does.

``Program.from_id(id).xlated()`` attaches the kernel's line info (resolved
through the program's BTF) above the instructions; it must name the same
source line for the same instruction as ``bpftool prog dump xlated id N
linum -j``, and the notebook view must say so.
"""

from __future__ import annotations


import pytest

from oracles.bpftool import bpftool

import bpfnb
from bpfnb.kernel import Program

pytestmark = pytest.mark.kernel

EXAMPLE = "bpfnb/examples/syscall_counter.bpf.o"


def test_xlated_source_lines_equal_bpftool():
    with bpfnb.EbpfLoader().load_file(EXAMPLE) as ebpf:
        prog_id = ebpf.programs["count_syscalls"].id
        with Program.from_id(prog_id) as prog:
            insns = prog.xlated()
            html = prog._repr_html_()
        out = bpftool("prog", "dump", "xlated", "id", str(prog_id), "linum")
    theirs = {i: (e["line_num"], e["src"].strip()) for i, e in enumerate(out) if "src" in e}
    ours = {}
    for index in range(len(insns)):
        line = insns.source_lines.get(insns.slot_of(index))
        if line is not None:
            where, _, text = line.partition(": ")
            assert where.startswith("syscall_counter.bpf.c:")
            ours[index] = (int(where.rsplit(":", 1)[1]), text)
    assert ours == theirs and len(ours) > 10
    assert "xlated instructions with source lines" in html and "bpf_get_current_pid_tgid() &gt;&gt; 32" in html


def test_program_without_line_info_has_none():
    from bpfnb.kernel import prog_load
    from bpfnb.uapi import ProgType

    code = bytes.fromhex("b700000000000000" "9500000000000000")  # r0 = 0; exit
    result = prog_load(ProgType.SOCKET_FILTER, code, name="bpfnb_nolines")
    with Program(result.fd) as prog:
        assert prog.source_lines() == {}
        assert len(prog.xlated()) == 2 and not prog.xlated().source_lines
