"""VerifierLog on verifier output of the forms the kernel prints (pure: no kernel needed).

The texts below are real logs of this kernel (6.18), cut to what each test
needs; the kernel tests in test_kernel_programs.py parse live ones.
"""

from __future__ import annotations

import pytest

from bpfnb.kernel.verifier import VerifierLog

FAILED_L1 = """\
0: R1=ctx() R10=fp0
; __u32 key = skb->len & 3; @ reject.bpf.c:18
0: (61) r1 = *(u32 *)(r1 +0)          ; R1=scalar(smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff))
1: (54) w1 &= 3                       ; R1=scalar(smin=smin32=0,smax=umax=smax32=umax32=3,var_off=(0x0; 0x3))
2: (63) *(u32 *)(r10 -4) = r1         ; R1=scalar(smin=smin32=0,smax=umax=smax32=umax32=3,var_off=(0x0; 0x3)) R10=fp0 fp-8=mmmm????
3: (bf) r2 = r10                      ; R2=fp0 R10=fp0
4: (07) r2 += -4                      ; R2=fp-4
; __u64 *v = bpf_map_lookup_elem(&values, &key); @ reject.bpf.c:19
5: (18) r1 = 0xffff888100ddde00       ; R1=map_ptr(map=values,ks=4,vs=8)
7: (85) call bpf_map_lookup_elem#1    ; R0=map_value_or_null(id=1,map=values,ks=4,vs=8)
; *v += 1; @ reject.bpf.c:21
8: (79) r1 = *(u64 *)(r0 +0)
R0 invalid mem access 'map_value_or_null'
processed 8 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""

PASSED_L2 = """\
func#0 @0
Live regs before insn:
      0: .1........ (61) r1 = *(u32 *)(r1 +0)
      8: 0......... (15) if r0 == 0x0 goto pc+3
0: R1=ctx() R10=fp0
; if (v) @ reject.bpf.c:31
8: (15) if r0 == 0x0 goto pc+3        ; R0=map_value(map=values,ks=4,vs=8)
; return 0; @ reject.bpf.c:33
12: (b4) w0 = 0                       ; R0=0
13: (95) exit
(0) frame 0 insn 7 +live -8 
(10,30) live stack update done in 2 iterations
mark_precise: frame0: last_idx 10 first_idx 10 subseq_idx -1 
returning from callee:
to caller at 10:
frame 0: propagating r1,r4

from 8 to 12: safe
processed 14 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0
"""


def test_failed_log_rows_error_and_summary() -> None:
    log = VerifierLog(FAILED_L1)
    assert str(log) == FAILED_L1
    assert [r.index for r in log.instructions] == [0, 1, 2, 3, 4, 5, 7, 8]
    first = log.rows[0]
    assert first.kind == "state" and first.registers == {"R1": "ctx()", "R10": "fp0"}
    call = log.instructions[6]
    assert call.opcode == 0x85 and call.text == "call bpf_map_lookup_elem#1"
    assert call.registers == {"R0": "map_value_or_null(id=1,map=values,ks=4,vs=8)"}
    assert (call.source, call.source_file, call.source_line) == (
        "__u64 *v = bpf_map_lookup_elem(&values, &key);", "reject.bpf.c", 19)
    # parentheses keep "var_off=(0x0; 0x3)" in one register, stack slots count too
    store = log.instructions[2]
    assert store.registers["R1"].endswith("var_off=(0x0; 0x3))") and store.registers["fp-8"] == "mmmm????"
    assert log.failed and log.error == "R0 invalid mem access 'map_value_or_null'" and log.error_index == 8
    assert log.row_of_error().text == "r1 = *(u64 *)(r0 +0)" and log.row_of_error().state == ""
    assert log.summary == {"insns_processed": 8, "insn_limit": 1000000, "max_states_per_insn": 0,
                           "total_states": 0, "peak_states": 0, "mark_read": 0}
    assert repr(log) == "<VerifierLog rows=9 processed=8 error at insn 8: R0 invalid mem access 'map_value_or_null'>"


def test_passed_level_two_log_has_no_error() -> None:
    for log in (VerifierLog(PASSED_L2), VerifierLog(PASSED_L2, loaded=True)):
        assert not log.failed and log.error is None and log.error_index is None
        assert [(r.index, r.kind) for r in log.rows] == [(0, "state"), (8, "insn"), (12, "insn"), (13, "insn"),
                                                         (12, "branch")]
        branch = log.rows[-1]
        assert branch.branch_from == 8 and branch.state == "safe"
        assert log.instructions[2].source == "return 0;"  # the comment stays in force
        assert log.peak_states == 1 and log.insns_processed == 14
        # the indented liveness listing is not taken for instructions
        assert any("Live regs" in m for _, m in log.messages)


def test_loaded_false_still_finds_the_error_and_true_hides_it() -> None:
    assert VerifierLog(FAILED_L1, loaded=False).error_index == 8
    assert VerifierLog(FAILED_L1, loaded=True).error is None


def test_source_comments_without_file_and_line() -> None:
    """Kernels before 6.4 print '; text' without '@ file:line'."""
    log = VerifierLog("; x = y @ b;\n0: (b7) r0 = 0\n1: (95) exit\nprocessed 2 insns (limit 1000000) "
                      "max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n")
    row = log.instructions[0]
    assert (row.source, row.source_file, row.source_line) == ("x = y @ b;", "", None)
    assert not log.failed


def test_error_before_any_instruction() -> None:
    """BTF and func_info checks fail before the walk: no rows, no summary, still an error."""
    log = VerifierLog("func#0 @0\nInvalid line_info[2]: insn_off 5 is not a valid instruction\n")
    assert log.rows == () and log.failed and log.error_index is None
    assert log.error == "Invalid line_info[2]: insn_off 5 is not a valid instruction"


def test_multi_line_error_and_a_helper_refusal() -> None:
    text = ("0: R1=ctx() R10=fp0\n0: (85) call unknown#999999\ninvalid func unknown#999999\n"
            "processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n")
    log = VerifierLog(text)
    assert log.error == "invalid func unknown#999999" and log.error_index == 0
    text = ("0: (95) exit\nAt program exit the register R0 has unknown scalar value should have been in [0, 1]\n"
            "extra detail line\n")
    log = VerifierLog(text)
    assert log.error_lines == ("At program exit the register R0 has unknown scalar value should have been in [0, 1]",
                               "extra detail line")
    assert log.summary == {}


def test_empty_and_garbage_logs() -> None:
    assert not VerifierLog("").failed and VerifierLog("").rows == ()
    log = VerifierLog("\x00\xff nonsense\n12: not an insn\n")
    assert log.rows == () and log.error_lines == ("\x00\xff nonsense", "12: not an insn")


def test_html_puts_the_error_first_and_highlights_the_row() -> None:
    html = VerifierLog(FAILED_L1)._repr_html_()
    assert html.index("R0 invalid mem access") < html.index("<table")
    assert html.count('class="bpfnb-hl"') == 1
    assert "reject.bpf.c:21" in html and "rejected" in html
    assert "0xffff888100ddde00" in html  # the raw log is there too (collapsed)
    ok = VerifierLog(PASSED_L2)._repr_html_()
    assert "accepted" in ok and 'class="bpfnb-hl"' not in ok


def test_html_is_bounded_but_keeps_the_failing_row() -> None:
    body = "".join(f"{i}: (b7) r0 = {i}      ; R0={i}\n" for i in range(5000))
    log = VerifierLog(body + "5000: (95) exit\nR0 !read_ok\n")
    html = log.to_html(max_rows=50)
    assert html.count("<tr") <= 52 and "showing 50 of 5,001 rows" in html
    assert 'class="bpfnb-hl"' in html and "R0 !read_ok" in html


def test_dataframe_rows() -> None:
    pytest.importorskip("pandas")
    df = VerifierLog(FAILED_L1).to_dataframe()
    assert len(df) == 9 and df["error"].sum() == 1
    assert list(df.loc[df["kind"] == "insn", "index"]) == [0, 1, 2, 3, 4, 5, 7, 8]
    assert df.loc[df["error"], "line"].item() == 21


# --- logs of older kernels ------------------------------------------------------------------------

#: Lines as Linux 6.1 and 6.12 print them: no "@ file:line" after the source (6.1), liveness marks
#: after register names (6.12: R0_w, fp-8_rwD), ctx() with offsets (6.1).
OLDER_LOG = """func#0 @0
0: R1=ctx(off=0,imm=0) R10=fp0
; __u32 key = skb->len & 3;
0: (61) r1 = *(u32 *)(r1 +0)          ; R1_w=scalar(umax=4294967295,var_off=(0x0; 0xffffffff))
; v = bpf_map_lookup_elem(&counts, &key);
5: (85) call bpf_map_lookup_elem#1    ; R0_w=map_value_or_null(id=1,off=0,ks=4,vs=8,imm=0) fp-8_rwD=mmmm
; *v += 1;
6: (79) r1 = *(u64 *)(r0 +0)
R0 invalid mem access 'map_value_or_null'
processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""


def test_older_logs_take_source_positions_from_line_info() -> None:
    line_info = ((0, "./reject.bpf.c", 18), (3, "/src/reject.bpf.c", 20), (6, "/src/reject.bpf.c", 22))
    vlog = VerifierLog(OLDER_LOG, loaded=False, line_info=line_info)
    positions = [(r.index, r.source_file, r.source_line) for r in vlog.rows]
    # the state row before any source comment stays without a position
    assert positions == [(0, "", None), (0, "reject.bpf.c", 18), (5, "reject.bpf.c", 20), (6, "reject.bpf.c", 22)]
    assert vlog.row_of_error().source_line == 22 and vlog.error_index == 6
    assert VerifierLog(OLDER_LOG, loaded=False).row_of_error().source_file == ""  # nothing to take them from


def test_liveness_marks_are_not_part_of_register_names() -> None:
    call = next(r for r in VerifierLog(OLDER_LOG, loaded=False).rows if r.text.startswith("call"))
    assert call.registers == {"R0": "map_value_or_null(id=1,off=0,ks=4,vs=8,imm=0)", "fp-8": "mmmm"}
    assert call.written == {"R0", "fp-8"}
