"""Look-ups that miss suggest the names that were meant."""

from __future__ import annotations

import pytest

from bpfnb import examples
from bpfnb.errors import UnknownName, did_you_mean


def test_did_you_mean_ranks_close_names_and_stays_quiet_otherwise() -> None:
    assert did_you_mean("task_strct", ["task_struct", "mm_struct", "sk_buff"]) == "; did you mean 'task_struct'?"
    assert did_you_mean("zzzz", ["task_struct"]) == ""
    assert did_you_mean("x", []) == ""


@pytest.mark.parametrize("call,hint", [
    (lambda b: b.find("task_strct"), "did you mean 'task_struct'"),
    (lambda b: b.member_offset("task_struct", "pidd"), "did you mean 'pid'"),
    (lambda b: b.find("task_struct", "struct").member("commm"), "did you mean 'comm'"),
    (lambda b: b.member_offset("sk_buff", "tstam"), "did you mean 'tstamp'"),  # inside an anonymous union
])
def test_btf_lookups_suggest(call, hint) -> None:
    with pytest.raises(UnknownName, match=hint):
        call(examples.kernel_btf())
