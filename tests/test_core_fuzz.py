"""Random access strings, mutated CO-RE records and mutated BTF: only ``BpfnbError`` may escape."""

from __future__ import annotations

import pytest
from helpers import fixture_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfnb.asm import Instruction, Instructions
from bpfnb.btf import Btf, CoreRelo
from bpfnb.btf.core import resolve_core_relocations
from bpfnb.obj.core import core_relocations
from bpfnb.btf.core_patch import apply_core_relocations
from bpfnb.errors import BpfnbError
from bpfnb.obj import Object
from bpfnb.uapi import CoreReloKind

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

OBJ = Object.from_file(fixture_path("core_kinds"))
LOCAL = OBJ.btf
RECORDS = [r for relos in OBJ.btf_ext.core_relos.values() for r in relos]
#: The object's own BTF doubles as a target: every local name has candidates there.
TARGETS = [LOCAL]

access = st.one_of(
    st.lists(st.integers(-3, 140), min_size=0, max_size=8).map(lambda xs: ":".join(map(str, xs))),
    st.text(alphabet="0123456789:-x ", max_size=12),
)


def _resolve(relos) -> None:
    try:
        res = resolve_core_relocations(LOCAL, relos, TARGETS, program="fuzz")
    except BpfnbError:
        return
    insns = Instructions([Instruction(0x07, 1, 0, 0, 0)] * 4 + [Instruction.ld_imm64(1, 0)])
    for r in res:
        try:
            apply_core_relocations(insns, [r], base_slot=-r.slot + (r.slot % 6))
        except BpfnbError:
            pass


@SETTINGS
@given(type_id=st.integers(-2, len(LOCAL) + 3), access=access, kind=st.sampled_from(list(CoreReloKind)))
def test_random_records_raise_only_bpfnb_errors(type_id: int, access: str, kind: CoreReloKind) -> None:
    _resolve([CoreRelo(0, type_id, access, kind)])


@SETTINGS
@given(data=st.data())
def test_mutated_fixture_records(data) -> None:
    rec = data.draw(st.sampled_from(RECORDS))
    field = data.draw(st.sampled_from(["type_id", "access", "kind", "insn_off"]))
    if field == "type_id":
        rec = CoreRelo(rec.insn_off, data.draw(st.integers(0, len(LOCAL) + 2)), rec.access, rec.kind)
    elif field == "access":
        rec = CoreRelo(rec.insn_off, rec.type_id, data.draw(access), rec.kind)
    elif field == "kind":
        rec = CoreRelo(rec.insn_off, rec.type_id, rec.access, data.draw(st.sampled_from(list(CoreReloKind))))
    else:
        rec = CoreRelo(data.draw(st.integers(-16, 4096)), rec.type_id, rec.access, rec.kind)
    _resolve([rec])


BTF_BYTES = LOCAL.to_bytes()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(data=st.data())
def test_mutated_btf_under_the_records(data) -> None:
    blob = bytearray(BTF_BYTES)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(24, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    try:
        btf = Btf.from_bytes(bytes(blob))
    except BpfnbError:
        return
    try:
        resolve_core_relocations(btf, RECORDS, [btf], program="fuzz")
    except BpfnbError:
        pass


def test_object_against_its_own_btf() -> None:
    """Without flavors, an object's own BTF as target changes nothing; with them, flavors conflict."""
    chains = Object.from_file(fixture_path("core_chains"))
    table = core_relocations(chains, chains.btf)
    assert len(table) > 50 and all(r.old_value == r.new_value and not r.failed for r in table)
    # core_kinds declares task_struct___wide: a second candidate for task_struct with flags elsewhere
    with pytest.raises(BpfnbError, match="task_struct___wide->flags is at bit 32"):
        core_relocations(OBJ, LOCAL)
