"""The CO-RE portability check's prediction against what the running kernel really does.

``check_portability`` (``bpfnb core-check``) says, without loading, which
programs have a CO-RE record that fails unguarded on a kernel.  Here each
CO-RE fixture is judged against the running kernel's BTF and then loaded:
a program predicted to load must load, one predicted to fail must be
refused by the verifier at an instruction CO-RE poisoned, with the failing
record named.  Run in the kernel matrix, this checks the prediction on
Debian's 6.1 and 6.12 as well as on the host (issue 17, item 2).
"""

from __future__ import annotations

import pytest

from helpers import fixture_path

from bpfnb import EbpfLoader
from bpfnb.btf import Btf
from bpfnb.obj.core import check_portability
from bpfnb.errors import VerifierError
from bpfnb.obj import Object

pytestmark = pytest.mark.kernel

#: Objects with CO-RE records; core_unguarded fails wherever the kernel lacks one bitfield.
CORE_OBJECTS = ["core_kinds", "core_enums", "core_min", "core_chains", "core_unguarded"]


@pytest.mark.parametrize("name", CORE_OBJECTS)
def test_the_portability_check_predicts_each_programs_load(name: str) -> None:
    path = fixture_path(name)
    report = check_portability(Object.from_file(path), {"running": Btf.from_sys_fs()}, baseline=False)
    failing: dict[str, list] = {}
    for e in report.problems("running"):
        failing.setdefault(e.relocation.program, []).append(e)
    outcomes = {}
    with EbpfLoader().pipeline(path) as p:
        p.run()
        for prog, relocated in p.relocated.items():
            functions = {prog} | {sub for sub, _ in relocated.subprograms}
            predicted = [e for f in functions for e in failing.get(f, ())]
            outcomes[prog] = "refused" if prog in p.program_errors else "loaded"
            if not predicted:
                assert prog in p.programs, f"{prog}: predicted to load, refused: {p.program_errors.get(prog)}"
                continue
            exc = p.program_errors.get(prog)
            assert isinstance(exc, VerifierError), f"{prog}: predicted to fail on {predicted[0].relocation}, loaded"
            record = exc.core_relocation
            assert record is not None and record.poisoned, exc
            assert (record.program, record.index) in {(e.relocation.program, e.relocation.index) for e in predicted}
            assert "poisoned by CO-RE" in str(exc)
    assert outcomes  # every fixture has programs to judge
    if name == "core_unguarded":
        # the one program that reads nothing optional loads everywhere
        assert outcomes["everywhere"] == "loaded"
