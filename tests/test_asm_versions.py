"""Which release added each ISA extension (bpfnb.asm.versions)."""

from __future__ import annotations

import pytest

from bpfnb.asm import AtomicOp, Instruction
from bpfnb.asm.versions import ATOMICS, ISA_V4, JMP32, LOAD_ACQUIRE, MAY_GOTO, MAY_GOTO_ZERO, isa_feature, newer_than


@pytest.mark.parametrize(
    ("insn", "feature"),
    [
        (Instruction(0xB7, 0, 0, 0, 0), None),  # r0 = 0
        (Instruction(0x61, 1, 10, -8, 0), None),  # plain 32-bit load
        (Instruction(0xDB, 10, 2, -8, AtomicOp.ADD), None),  # the old XADD
        (Instruction(0xC3, 10, 2, -8, AtomicOp.FETCH_ADD), ATOMICS),
        (Instruction(0x16, 1, 0, 0, 3), JMP32),  # if w1 == 3
        (Instruction(0x06, 0, 0, 0, 4), ISA_V4),  # gotol
        (Instruction(0x91, 1, 10, -8, 0), ISA_V4),  # r1 = *(s8 *)
        (Instruction(0xBF, 0, 3, 8, 0), ISA_V4),  # r0 = (s8)r3
        (Instruction(0x3F, 1, 2, 1, 0), ISA_V4),  # r1 s/= r2
        (Instruction(0xD7, 1, 0, 0, 16), ISA_V4),  # bswap16
        (Instruction(0xDC, 1, 0, 0, 16), None),  # be16: the classic byte swap
        (Instruction(0xE5, 0, 0, 1, 0), MAY_GOTO),
        (Instruction(0xE5, 0, 0, 0, 0), MAY_GOTO_ZERO),
        (Instruction(0xD3, 1, 10, -8, AtomicOp.LOAD_ACQ), LOAD_ACQUIRE),
    ],
)
def test_each_extension_names_its_first_release(insn, feature) -> None:
    assert isa_feature(insn) == feature
    if feature is not None:
        assert isa_feature(insn).min_version == feature.min_version


@pytest.mark.kernel
def test_a_refused_program_with_newer_instructions_names_the_extension(monkeypatch) -> None:
    """EINVAL on a kernel older than an instruction's extension is UnsupportedFeature with its release.

    The running kernel is made to look like 6.1 and to answer EINVAL, as 6.1
    answers the isa fixture's first signed division.
    """
    import errno

    import bpfnb.kernel.programs as programs
    from bpfnb import EbpfLoader
    from bpfnb.errors import UnsupportedFeature, VerifierError
    from bpfnb.kernel.version import KernelVersion
    from helpers import fixture_path

    def refuse(*args, **kwargs):
        raise VerifierError(errno.EINVAL, "alu_all", "unknown opcode 3c")

    monkeypatch.setattr(programs, "running_kernel", lambda: KernelVersion.parse("6.1"))
    monkeypatch.setattr(programs, "prog_load", refuse)
    with pytest.raises(UnsupportedFeature, match=r"program 'alu_all' insn \d+: w1 s/= .*this kernel is 6\.1") as info:
        # kfunc_user calls kfuncs a real 6.1 lacks (refused at relocation, before any load)
        EbpfLoader().set_autoload("kfunc_user", False).load_file(fixture_path("isa"))
    assert info.value.min_version == ISA_V4.min_version and info.value.feature == ISA_V4
    assert info.value.log == "unknown opcode 3c"  # the verifier's words stay with the error


def test_newer_than_compares_with_a_kernel_version() -> None:
    from bpfnb.kernel.version import KernelVersion

    ldsx = Instruction(0x91, 1, 10, -8, 0)
    assert newer_than(ldsx, KernelVersion(6, 1, 192)) == ISA_V4
    assert newer_than(ldsx, KernelVersion(6, 6, 0)) is None
    assert newer_than(Instruction(0xB7, 0, 0, 0, 0), KernelVersion(4, 19, 0)) is None
