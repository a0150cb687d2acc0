"""Feature probes against independent oracles.

- program/map types: ``bpftool feature probe kernel -j`` (libbpf's probes);
  every type both decide must agree, disagreements are listed.
- BTF kinds: all exist on any kernel >= 5.16, so on the running one each
  probe must say YES (checked against the version, not hard-coded).
- config-dependent features (netkit, kprobes): the kernel's own config.
"""

from __future__ import annotations

import gzip
import os

import pytest

from oracles.bpftool import bpftool

from bpfnb.kernel import Features, Support, features
from bpfnb.kernel.features import FEATURE_NAMES, _unknown, probe_map_type, probe_prog_type
from bpfnb.kernel.version import KernelVersion, running_kernel
from bpfnb.uapi import MapType, ProgType


def kernel_version() -> tuple[int, int]:
    return running_kernel()[:2]


def kernel_config() -> dict[str, str] | None:
    for path in ("/proc/config.gz", f"/boot/config-{os.uname().release}"):
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                return dict(line.strip().split("=", 1) for line in f if "=" in line and not line.startswith("#"))
    return None


def bpftool_features() -> dict:
    return bpftool("feature", "probe", "kernel")


def _names(enum, value) -> list[str]:
    """All spellings of an enum value (aliases too: CGROUP_STORAGE vs ..._DEPRECATED)."""
    return [name.lower() for name, member in enum.__members__.items() if member == value]


def _disagreements(ours: dict, theirs: dict, enum, suffix: str) -> tuple[list[str], int]:
    bad, compared = [], 0
    for value, support in ours.items():
        keys = [f"have_{n}_{suffix}" for n in _names(enum, value) if f"have_{n}_{suffix}" in theirs]
        if not keys or support is Support.UNKNOWN:
            continue
        compared += 1
        if theirs[keys[0]] != bool(support):
            bad.append(f"{value.name}: bpfnb {support.value}, bpftool {theirs[keys[0]]}")
    return bad, compared


@pytest.mark.kernel
def test_prog_types_agree_with_bpftool() -> None:
    f = features()
    bad, compared = _disagreements(f.prog_type_support, bpftool_features()["program_types"], ProgType, "prog_type")
    assert not bad, "prog type disagreements: " + "; ".join(bad)
    assert compared >= 25
    assert f.prog_types == {t for t, s in f.prog_type_support.items() if s is Support.YES}
    assert ProgType.SOCKET_FILTER in f.prog_types and ProgType.XDP in f.prog_types


@pytest.mark.kernel
def test_map_types_agree_with_bpftool() -> None:
    f = features()
    bad, compared = _disagreements(f.map_type_support, bpftool_features()["map_types"], MapType, "map_type")
    assert not bad, "map type disagreements: " + "; ".join(bad)
    assert compared >= 28


@pytest.mark.kernel
def test_refused_types_are_unknown_not_unsupported() -> None:
    """fentry/LSM/ext are refused with EPERM here: the kernel knows them, so never NO."""
    f = features()
    for t in (ProgType.TRACING, ProgType.LSM, ProgType.EXT, ProgType.STRUCT_OPS):
        assert f.prog_type_support[t] in (Support.YES, Support.UNKNOWN), t
    assert f.prog_type_support[ProgType.STRUCT_OPS] is Support.YES  # proved by its ENOTSUPP


@pytest.mark.kernel
def test_btf_kind_probes_by_version() -> None:
    f = features()
    since = {"btf": (4, 18), "btf_func": (5, 0), "btf_func_global": (5, 6), "btf_datasec": (5, 2),
             "btf_float": (5, 13), "btf_decl_tag": (5, 16), "btf_type_tag": (5, 17), "btf_enum64": (6, 0)}
    for name, version in since.items():
        if kernel_version() >= version:
            assert getattr(f, name) is Support.YES, name


@pytest.mark.kernel
def test_named_features_by_version_and_config() -> None:
    f = features()
    since = {"prog_name": (4, 15), "bpf_global_data": (5, 2), "probe_read_kernel": (5, 5), "perf_link": (5, 15),
             "bpf_cookie": (5, 15), "cpumap_prog_id": (5, 9), "devmap_prog_id": (5, 8), "tcx": (6, 6)}
    for name, version in since.items():
        if kernel_version() >= version:
            assert getattr(f, name) is Support.YES, name
    config = kernel_config()
    if config is None:
        pytest.skip("kernel config not readable")
    assert bool(f.netkit) == (config.get("CONFIG_NETKIT") == "y"), "netkit"
    assert bool(f.kprobe_attach) == (config.get("CONFIG_KPROBES") == "y"), "kprobe_attach"


@pytest.mark.kernel
def test_probes_are_cached_and_cheap_to_repeat() -> None:
    assert features() is features()
    assert features().privileged and "probed" in features().note


@pytest.mark.kernel
def test_single_probes_are_consistent_with_the_cached_answer() -> None:
    f = features()
    for t in (ProgType.SOCKET_FILTER, ProgType.LIRC_MODE2, ProgType.SK_LOOKUP):
        assert probe_prog_type(t) is f.prog_type_support[t]
    for t in (MapType.RINGBUF, MapType.SK_STORAGE, MapType.STRUCT_OPS, MapType.HASH_OF_MAPS):
        assert probe_map_type(t) is f.map_type_support[t]


@pytest.mark.kernel
def test_dataframe_and_html() -> None:
    f = features()
    df = f.to_dataframe()
    assert list(df.columns) == ["group", "name", "support"]
    assert len(df) == len(FEATURE_NAMES) + len(f.prog_type_support) + len(f.map_type_support)
    assert set(df["support"]) <= {"yes", "no", "unknown"}
    html = f._repr_html_()
    assert html == f._repr_html_()  # deterministic
    assert "Kernel features" in html and all(name in html for name in FEATURE_NAMES)
    assert f"program types: {len(f.prog_types)} of {len(f.prog_type_support)} supported" in html


def test_unprivileged_features_are_unknown_not_false() -> None:
    f = _unknown("no privileges")
    assert isinstance(f, Features) and not f.privileged
    assert all(s is Support.UNKNOWN for s in f.named().values())
    assert f.prog_types == frozenset() and f.map_types == frozenset()
    assert not f.btf and Support.UNKNOWN != Support.NO
    assert "unprivileged: unknown" in repr(f)
    assert "no privileges" in f._repr_html_()


def test_support_truthiness() -> None:
    assert Support.YES and not Support.NO and not Support.UNKNOWN


def test_require_explains_what_is_missing() -> None:
    from dataclasses import replace

    from bpfnb.errors import NotPrivileged, UnsupportedFeature

    base = _unknown("nothing probed")
    with pytest.raises(NotPrivileged):
        base.require("tcx")
    yes = replace(base, privileged=True, note="test", tcx=Support.YES, netkit=Support.NO, btf=Support.UNKNOWN)
    yes.require("tcx")
    with pytest.raises(UnsupportedFeature) as exc:
        yes.require("netkit")
    assert exc.value.feature == "netkit"
    if running_kernel() >= KernelVersion(6, 7):  # new enough: the build option is what is missing
        assert exc.value.min_version is None and "CONFIG_NETKIT" in str(exc.value)
    else:
        assert exc.value.min_version == "6.7" and "needs Linux 6.7 or later" in str(exc.value)
    old = replace(yes, tcx=Support.NO)
    with pytest.raises(UnsupportedFeature, match="needs Linux 6.6 or later") as exc:
        old.require("tcx")
    assert exc.value.min_version == "6.6"
    with pytest.raises(UnsupportedFeature, match="undecided"):
        yes.require("btf")
    with pytest.raises(KeyError):
        yes.require("warp_drive")


@pytest.mark.kernel
def test_require_on_this_kernel() -> None:
    f = features()
    for name, support in f.named().items():
        if support is Support.YES:
            f.require(name)
        else:
            with pytest.raises(Exception):
                f.require(name)


EXPECTED_KINDS = {
    "btf": ["INT"], "btf_func": ["INT", "FUNC_PROTO", "FUNC"], "btf_func_global": ["INT", "FUNC_PROTO", "FUNC"],
    "btf_datasec": ["INT", "VAR", "DATASEC"], "btf_float": ["INT", "FLOAT"], "btf_decl_tag": ["INT", "VAR", "DECL_TAG"],
    "btf_type_tag": ["INT", "TYPE_TAG", "PTR"], "btf_enum64": ["INT", "ENUM64"],
}


@pytest.mark.parametrize("probe", sorted(EXPECTED_KINDS))
def test_btf_probe_blobs_parse_as_intended(probe: str) -> None:
    """The hand-packed probe blobs hold exactly the kinds they claim (read by bpfnb.btf)."""
    from bpfnb.btf import Btf
    from bpfnb.kernel.features import _BTF_PROBES, _INT, _STRS
    from bpfnb.uapi.btf_layout import btf_blob

    btf = Btf.from_bytes(btf_blob(_INT + _BTF_PROBES[probe], _STRS))
    kinds = [btf[i].kind.name for i in range(1, len(EXPECTED_KINDS[probe]) + 1)]
    assert kinds == EXPECTED_KINDS[probe]
    assert btf[1].name == "int"
