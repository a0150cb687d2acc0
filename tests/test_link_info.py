"""LinkInfo without a kernel: what a kernel that does not describe a link type leaves us.

Kernels before 6.6 know perf_event links but fill in no ``bpf_link_info.perf_event``;
``LinkInfo`` then says so instead of reporting a zeroed struct as data.
"""

from __future__ import annotations

import pytest

from bpfnb.errors import KernelError, UnsupportedFeature
from bpfnb.kernel.info import LINK_INFO_MIN_VERSION, LinkInfo
from bpfnb.kernel.links import _describe_target
from bpfnb.uapi import LinkType


def test_unreported_details_raise_a_typed_refusal_with_the_release() -> None:
    info = LinkInfo(id=7, type=LinkType.PERF_EVENT, prog_id=3, details={}, unreported="perf_event link info")
    with pytest.raises(UnsupportedFeature) as exc:
        info.detail("tp_name")
    assert exc.value.feature == "perf_event link info" and exc.value.min_version == "6.6"
    assert isinstance(exc.value, KernelError) and "link 7 (perf_event)" in str(exc.value)
    assert "'tp_name'" in str(exc.value) and "needs Linux 6.6" in str(exc.value)
    assert info.to_dict()["unreported"] == "perf_event link info"
    assert _describe_target(info) == "? (perf_event link info not reported by this kernel)"


def test_reported_details_and_unknown_keys() -> None:
    info = LinkInfo(id=8, type=LinkType.PERF_EVENT, prog_id=3,
                    details={"perf_event_type": "tracepoint", "tp_name": "sys_enter_getppid", "cookie": 0})
    assert info.detail("tp_name") == "sys_enter_getppid" and info.unreported is None
    assert "unreported" not in info.to_dict()
    assert _describe_target(info) == "sys_enter_getppid"
    with pytest.raises(KeyError):
        info.detail("func_name")  # a tracepoint has no function: not a kernel gap


def test_every_unreported_name_has_a_release() -> None:
    assert set(LINK_INFO_MIN_VERSION) == {"perf_event link info", "kprobe_multi link info"}
    assert all(v.count(".") == 1 for v in LINK_INFO_MIN_VERSION.values())
