"""The running kernel's version as libbpf reads it, and the feature gates built on it."""

from __future__ import annotations

import os

import pytest

from helpers import REFUSALS, _gate, kernel_feature

from bpfnb.errors import UnsupportedFeature
from bpfnb.kernel import version as version_mod
from bpfnb.kernel.version import KernelVersion, running_kernel


def test_parse_and_code() -> None:
    assert KernelVersion.parse("6.1.0-44-amd64") == (6, 1, 0)
    assert KernelVersion.parse("6.6") == (6, 6, 0) and str(KernelVersion.parse("6.6")) == "6.6.0"
    assert KernelVersion(5, 10, 300).code == (5 << 16) | (10 << 8) | 255  # KERNEL_VERSION caps the patch
    assert KernelVersion.parse("6.12") > KernelVersion.parse("6.6")  # numeric, not text, order
    with pytest.raises(ValueError):
        KernelVersion.parse("unknown")


def test_debian_version_comes_from_uname_v(monkeypatch) -> None:
    monkeypatch.setattr(version_mod, "open", _no_file, raising=False)
    assert version_mod._distribution_version("#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2025-07-01)") == (6, 1, 176)
    assert version_mod._distribution_version("#1 SMP PREEMPT_DYNAMIC @0") is None


def _no_file(*args, **kwargs):
    raise FileNotFoundError(args[0])


def test_running_kernel_agrees_with_uname() -> None:
    assert running_kernel()[:2] == KernelVersion.parse(os.uname().release)[:2]


def _refused(min_version: str | None) -> UnsupportedFeature:
    return UnsupportedFeature("bpf iterators", "test", min_version=min_version)


def test_gate_skips_below_the_minimum_version() -> None:
    newer = running_kernel()._replace(major=running_kernel().major + 1)
    with pytest.raises(pytest.skip.Exception, match="needs Linux"):
        _gate("iterators", _refused(f"{newer.major}.{newer.minor}"))


def test_gate_fails_at_or_above_the_minimum_version() -> None:
    with pytest.raises(pytest.fail.Exception, match="refused although"):
        _gate("iterators", _refused("4.0"))


def test_gate_accepts_a_typed_refusal_and_lists_it() -> None:
    before = len(REFUSALS)
    with kernel_feature("iterators"):
        raise _refused(None)
    assert len(REFUSALS) == before + 1 and REFUSALS.pop()[0] == "iterators"


def test_gate_lets_other_errors_through() -> None:
    with pytest.raises(UnsupportedFeature):
        with kernel_feature("tcx"):
            raise _refused(None)  # another feature's refusal is a failure
    with pytest.raises(ValueError):
        with kernel_feature("tcx"):
            raise ValueError("not a refusal")
