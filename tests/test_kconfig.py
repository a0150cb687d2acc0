""".kconfig externs: libbpf's layout and value rules, and the map against libbpf's bytes."""

from __future__ import annotations

import errno
import os

import pytest

from helpers import fixture_path

from bpfnb.errors import KernelError, UnknownName, ValueEncodingError
from bpfnb.kernel.kconfig import kernel_config, linux_kernel_version, parse_kernel_config
from bpfnb.kernel.maps import create_maps
from bpfnb.obj import Object
from bpfnb.obj.kconfig import KconfigType, encode_kconfig_value, kconfig_externs, kconfig_section

OBJ = Object.from_file(fixture_path("kconfig"))
EXTERNS = {e.name: e for e in kconfig_externs(OBJ)}
CONFIG = {"CONFIG_BPF_SYSCALL": "y", "CONFIG_IPV6": "m", "CONFIG_HZ": "1000", "CONFIG_NR_CPUS": "0x40",
          "CONFIG_NET": "y", "CONFIG_LOCALVERSION": '"-test"', "CONFIG_DEFAULT_HOSTNAME": '"(none)"'}


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_layout_is_libbpfs_alignment_size_name_order() -> None:
    order = [(e.name, e.offset, e.size) for e in kconfig_externs(OBJ)]
    assert order == [
        ("CONFIG_NR_CPUS", 0, 8),
        ("CONFIG_HZ", 8, 4), ("CONFIG_IPV6", 12, 4), ("CONFIG_KPROBES", 16, 4), ("LINUX_KERNEL_VERSION", 20, 4),
        ("CONFIG_BPFNB_NO_SUCH_OPTION", 24, 1), ("CONFIG_BPF_SYSCALL", 25, 1), ("CONFIG_NET", 26, 1),
        ("CONFIG_DEFAULT_HOSTNAME", 27, 4), ("CONFIG_LOCALVERSION", 31, 16),
    ]
    assert EXTERNS["CONFIG_KPROBES"].weak and not EXTERNS["CONFIG_HZ"].weak
    assert EXTERNS["CONFIG_IPV6"].kind is KconfigType.TRISTATE and EXTERNS["CONFIG_NET"].kind is KconfigType.CHAR
    assert EXTERNS["CONFIG_HZ"].signed and not EXTERNS["CONFIG_NR_CPUS"].signed


def test_objects_without_externs() -> None:
    assert kconfig_externs(Object.from_file(fixture_path("multi"))) == ()
    assert kconfig_section(Object.from_file(fixture_path("multi")), {}, kernel_version=0) is None


def test_values_by_type() -> None:
    section = kconfig_section(OBJ, CONFIG, kernel_version=0x061200)
    assert section.size == 47 and section.name == ".kconfig"

    def value(name: str) -> bytes:
        var = section.variable(name)
        return section.data[var.offset : var.offset + var.size]

    assert value("CONFIG_BPF_SYSCALL") == b"\1"
    assert value("CONFIG_IPV6") == (2).to_bytes(4, "little")  # m
    assert value("CONFIG_KPROBES") == bytes(4) and value("CONFIG_BPFNB_NO_SUCH_OPTION") == b"\0"  # weak, absent
    assert value("CONFIG_HZ") == (1000).to_bytes(4, "little")
    assert value("CONFIG_NR_CPUS") == (64).to_bytes(8, "little")
    assert value("CONFIG_NET") == b"y"
    assert value("CONFIG_LOCALVERSION") == b"-test".ljust(16, b"\0")
    assert value("CONFIG_DEFAULT_HOSTNAME") == b"(no\0"  # cut to fit, NUL-terminated
    assert value("LINUX_KERNEL_VERSION") == (0x061200).to_bytes(4, "little")


@pytest.mark.parametrize("name,text,match", [
    ("CONFIG_BPF_SYSCALL", "m", "libbpf_tristate"),
    ("CONFIG_HZ", "y", "does not fit int"),
    ("CONFIG_HZ", "99999999999", "out of range"),
    ("CONFIG_HZ", "12abc", "invalid integer"),
    ("CONFIG_HZ", '"text"', "does not fit int"),
    ("CONFIG_LOCALVERSION", '"unterminated', "invalid string"),
    ("CONFIG_IPV6", "7", "does not fit tristate"),
])
def test_bad_values_name_the_extern(name: str, text: str, match: str) -> None:
    with pytest.raises(ValueEncodingError, match=match) as info:
        encode_kconfig_value(EXTERNS[name], text)
    assert name in str(info.value)


def test_integer_literals() -> None:
    hz = EXTERNS["CONFIG_HZ"]
    assert encode_kconfig_value(hz, "-5") == (-5).to_bytes(4, "little", signed=True)
    assert encode_kconfig_value(hz, "010") == (8).to_bytes(4, "little")
    assert encode_kconfig_value(hz, "0") == bytes(4)


def test_a_strong_extern_missing_from_the_config() -> None:
    config = {k: v for k, v in CONFIG.items() if k != "CONFIG_HZ"}
    with pytest.raises(UnknownName, match="CONFIG_HZ.*__weak"):
        kconfig_section(OBJ, config, kernel_version=0)


def test_config_parsing_skips_comments() -> None:
    text = 'CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x y"\n\nCONFIG_D=0x10\nnot a line\n'
    assert parse_kernel_config(text) == {"CONFIG_A": "y", "CONFIG_C": '"x y"', "CONFIG_D": "0x10"}
    assert kernel_config()["CONFIG_BPF_SYSCALL"] == "y"
    major, minor = (int(p) for p in os.uname().release.split(".")[:2])
    assert linux_kernel_version() >> 8 == (major << 8) | minor


@pytest.mark.kernel
def test_kconfig_map_equals_libbpfs(unique_name: str) -> None:
    from oracles.libbpf import available

    if not available():
        pytest.skip("libbpf.so.1 not installed")
    from oracles.libbpf_maps import libbpf_array_values, libbpf_loaded_maps

    root = f"/sys/fs/bpf/{unique_name}"
    os.mkdir(root)
    try:
        theirs = libbpf_array_values(fixture_path("kconfig"), root)["kconfig.kconfig"]
        info = libbpf_loaded_maps(fixture_path("kconfig"), root)["kconfig.kconfig"]
    finally:
        os.rmdir(root)
    from bpfnb.kernel.btf import load_object_btf

    before = fd_count()
    with load_object_btf(OBJ) as btf, create_maps(OBJ, btf_fd=btf.fd) as result:
        m = result[".kconfig"]
        assert m.lookup(b"\0" * 4) == theirs
        mine = m.info()
        assert (mine.name, mine.map_flags, mine.value_size) == (info.name, info.map_flags, info.value_size)
        # the BTF stage lays .kconfig out like the map: the kernel takes the DATASEC as value type
        assert result.records[-1].with_btf and mine.btf_value_type_id == info.btf_value_type_id > 0
        with pytest.raises(KernelError) as err:  # frozen like .rodata
            m.update(b"\0" * 4, bytes(mine.value_size))
        assert err.value.errno == errno.EPERM
        assert list(result) == [".bss", ".kconfig"]
    assert fd_count() == before


@pytest.mark.kernel
def test_kconfig_override_and_missing_value_roll_back() -> None:
    with create_maps(OBJ, kconfig=CONFIG) as result:
        raw = result[".kconfig"].lookup(b"\0" * 4)
        hz = EXTERNS["CONFIG_HZ"]
        assert raw[hz.offset : hz.offset + 4] == (1000).to_bytes(4, "little")
    before = fd_count()
    with pytest.raises(UnknownName, match="CONFIG_NET"):
        create_maps(OBJ, kconfig={k: v for k, v in CONFIG.items() if k != "CONFIG_NET"})
    assert fd_count() == before
