"""``Instructions``: slot bookkeeping, notes, text listing and the notebook views."""

from __future__ import annotations

import pickle
import re

import pytest
from helpers import fixture_path
from elftools.elf.elffile import ELFFile

from bpfnb.asm import Instruction, Instructions, NameTable, PseudoCall, PseudoLdImm64, disassemble, format_instruction
from bpfnb.errors import InstructionError

MOV = Instruction(0xB7, 0, 0, 0, 0)  # r0 = 0
ADD = Instruction(0x07, 1, 0, 0, 1)  # r1 += 1


def program() -> Instructions:
    """slots: 0 mov, 1-2 ld_imm64, 3 call pc+1, 4 exit, 5 add, 6 exit."""
    return Instructions(
        [
            MOV,
            Instruction.ld_imm64(1, 5, PseudoLdImm64.MAP_FD),
            Instruction.call(1, PseudoCall.CALL),
            Instruction.exit(),
            ADD,
            Instruction.exit(),
        ],
        name="xdp/prog",
    )


def test_slot_bookkeeping():
    insns = program()
    assert len(insns) == 6 and insns.len_slots == 7
    assert [insns.slot_of(i) for i in range(6)] == [0, 1, 3, 4, 5, 6]
    assert [insns.index_at_slot(s) for s in (0, 1, 3, 4, 5, 6)] == list(range(6))
    assert insns.slot_of(-1) == 6
    assert insns.at_slot(3).is_pseudo_call
    assert insns.at_slot(insns.at_slot(3).call_target(3)) == ADD
    assert list(insns.slots())[1] == (1, insns[1])
    with pytest.raises(InstructionError, match="second half of the ld_imm64 at slot 1") as info:
        insns.index_at_slot(2)
    assert info.value.index == 2 and info.value.where == "xdp/prog"
    with pytest.raises(InstructionError, match="outside 0..6"):
        insns.at_slot(7)
    with pytest.raises(IndexError):
        insns.slot_of(6)


def test_byte_offsets_from_relocations_map_to_slots():
    """A relocation's r_offset // 8 is the slot: check on a real object."""
    path = fixture_path("multi")
    with open(path, "rb") as f:
        elf = ELFFile(f)
        text = elf.get_section_by_name("xdp")
        insns = Instructions.decode(text.data(), name="xdp")
        relocs = elf.get_section_by_name(".relxdp")
        offsets = [r["r_offset"] for r in relocs.iter_relocations()]
    assert offsets
    for off in offsets:
        insn = insns.at_slot(off // 8)
        assert insn.is_ld_imm64 or insn.is_call


def test_annotations_and_source_lines_must_land_on_instruction_starts():
    with pytest.raises(InstructionError, match="annotation at slot 2 points into the second half"):
        Instructions(program(), annotations={2: ["oops"]})
    with pytest.raises(InstructionError, match="source line at slot 9"):
        Instructions(program(), source_lines={9: "x"})


def test_notes_are_immutable_and_accumulate():
    insns = program().annotate(1, "map counters").annotate(1, "fd 5")
    assert insns.annotations == {1: ("map counters", "fd 5")}
    with pytest.raises(TypeError):
        insns.annotations[3] = ("x",)  # type: ignore[index]
    assert program().annotations == {}
    lines = insns.with_source_lines({0: "int x = 0;", 3: "return f();"})
    assert lines.source_lines == {0: "int x = 0;", 3: "return f();"}
    assert lines != insns and lines.annotations == insns.annotations


def test_slicing_rebases_slots_and_notes():
    insns = program().annotate(3, "call f").with_source_lines({1: "m = &map;", 5: "tail"})
    tail = insns[2:]
    assert len(tail) == 4 and tail.len_slots == 4
    assert tail.annotations == {0: ("call f",)}
    assert tail.source_lines == {2: "tail"}
    assert insns[1:2].len_slots == 2 and insns[1:2].source_lines == {0: "m = &map;"}
    with pytest.raises(ValueError):
        insns[::2]


def test_concatenation_shifts_the_right_hand_side():
    main = program()[:4]
    sub = program()[4:].annotate(0, "sub")
    both = main + sub
    assert both.len_slots == 7 and both.annotations == {5: ("sub",)}
    assert both.to_bytes() == program().to_bytes()


def test_replace_at_slot_keeps_slot_count():
    insns = program().annotate(1, "map")
    patched = insns.replace_at_slot(1, insns.at_slot(1).with_(imm=9))
    assert patched.at_slot(1).imm == 9 and patched.annotations == {1: ("map",)}
    assert insns.at_slot(1).imm == 5
    with pytest.raises(InstructionError, match="cannot replace a 2-slot instruction"):
        insns.replace_at_slot(1, MOV)


def test_equality_hash_pickle_repr():
    a, b = program(), program()
    assert a == b and hash(a) == hash(b)
    assert a != a.annotate(0, "x")
    assert pickle.loads(pickle.dumps(a.annotate(0, "x"))) == a.annotate(0, "x")
    assert repr(a) == "<Instructions 'xdp/prog' 6 insns, 7 slots>"
    assert repr(a.annotate(0, "x")) == "<Instructions 'xdp/prog' 6 insns, 7 slots, 1 annotated>"
    assert repr(Instructions()) == "<Instructions 0 insns, 0 slots>"
    with pytest.raises(TypeError):
        Instructions([b"\x95" + bytes(7)])  # type: ignore[list-item]


def test_text_listing_with_notes_and_names():
    insns = program().annotate(1, "reloc: map counters").with_source_lines({0: "  int r = 0;  "})
    names = NameTable(maps={5: "counters"}, functions={5: "sub"})
    listing = insns.text(names=names).splitlines()
    assert listing == [
        "      ; int r = 0;",
        "   0: r0 = 0x0",
        "   1: r1 = map[fd:5] ll <counters>  ; reloc: map counters",
        "   3: call pc+1 <sub>",
        "   4: exit",
        "   5: r1 += 0x1",
        "   6: exit",
    ]
    assert disassemble(insns.to_bytes()) == disassemble(list(insns)) == str(Instructions(list(insns)))
    with pytest.raises(InstructionError, match="^socket insn 0"):
        disassemble(b"\xff" + bytes(7), where="socket")


def test_name_table_kinds():
    names = NameTable(kfuncs={777: "bpf_rcu_read_lock"}, btf_ids={42: "bpf_prog_active"}, functions={13: "cb"})
    kfunc = Instruction.call(777, PseudoCall.KFUNC_CALL)
    assert format_instruction(kfunc, 0, names=names) == "call kfunc#777 <bpf_rcu_read_lock>"
    ksym = Instruction.ld_imm64(1, 42, PseudoLdImm64.BTF_ID)
    assert format_instruction(ksym, 0, names=names) == "r1 = btf_id#42 ll <bpf_prog_active>"
    assert format_instruction(Instruction.ld_imm64(2, 9, PseudoLdImm64.FUNC), 3, names=names) == "r2 = func pc+9 ll <cb>"
    # Without a slot a pc-relative target cannot be resolved: no name, no error.
    assert format_instruction(Instruction.ld_imm64(2, 9, PseudoLdImm64.FUNC), names=names) == "r2 = func pc+9 ll"
    assert format_instruction(MOV, 0, names=lambda insn, slot: None) == "r0 = 0x0"


# --- notebook views -------------------------------------------------------------


def test_html_escapes_everything_from_the_object():
    evil = "<script>alert('x')</script>"
    insns = Instructions([MOV, Instruction.exit()], annotations={0: [evil]}, source_lines={1: "a < b && c"}, name=evil)
    html = insns.to_html(names=lambda insn, slot: "<img src=x>")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "a &lt; b &amp;&amp; c" in html
    assert "r0 = 0x0 &lt;&lt;img src=x&gt;&gt;" in html
    # The source line gets its own row, right before the instruction it starts.
    assert html.index("a &lt; b") < html.index("<td>exit")
    assert insns._repr_html_() == insns._repr_html_()  # deterministic


def test_html_of_a_huge_program_is_bounded():
    body = [Instruction(0x07, 1, 0, 0, i % 1000) for i in range(99_999)] + [Instruction.exit()]
    insns = Instructions(body, annotations={5: ["note"]})
    html = insns._repr_html_()
    assert "showing 200 of 100,000 instructions" in html
    assert html.count("<tr") == 201  # header + 200 rows
    assert len(html) < 60_000
    assert "100,000 insns" in html
    small = insns.to_html(max_rows=3)
    assert small.count("<tr") == 4 and "showing 3 of 100,000" in small
    full = Instructions(body[:5]).to_html(max_rows=None)
    assert "showing" not in full and full.count("<tr") == 6


def test_dataframe_columns_and_values():
    insns = program().annotate(1, "map counters")
    df = insns.to_dataframe()
    assert list(df.columns) == ["slot", "opcode", "dst", "src", "off", "imm", "bytes", "text", "annotation"]
    assert df["slot"].tolist() == [0, 1, 3, 4, 5, 6]
    assert df.loc[1, "bytes"] == "18 11 00 00 05 00 00 00 00 00 00 00 00 00 00 00"
    assert df.loc[1, "text"] == "r1 = map[fd:5] ll" and df.loc[1, "annotation"] == "map counters"
    assert df["annotation"].isna().sum() == 5
    assert str(df["opcode"].dtype) == "uint8" and str(df["imm"].dtype) == "int64"
    assert (df["opcode"] == 0x95).sum() == 2


def test_dataframe_of_a_fixture_program_matches_the_listing():
    path = fixture_path("multi")
    with open(path, "rb") as f:
        data = ELFFile(f).get_section_by_name("tc").data()
    insns = Instructions.decode(data, name="tc")
    df = insns.to_dataframe()
    listing = [re.sub(r"^\s*\d+: ", "", line) for line in insns.text().splitlines()]
    assert df["text"].tolist() == listing
    assert "".join(bytes.fromhex(b).hex() for b in df["bytes"]) == data.hex()
