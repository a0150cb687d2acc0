""".kconfig externs: libbpf's layout and value rules, and the map against libbpf's bytes."""

from __future__ import annotations

import errno
import os

import pytest

from helpers import fixture_path, kernel_feature

from bpfnb.errors import KernelError, UnknownName, UnsupportedFeature, ValueEncodingError
from bpfnb.kernel import kconfig as kernel_kconfig
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
    with kernel_feature("kernel config"):  # a kernel without /proc/config.gz and /boot/config-*: typed
        assert kernel_config()["CONFIG_BPF_SYSCALL"] == "y"
    from bpfnb.kernel.version import running_kernel

    assert linux_kernel_version() == (running_kernel().major << 16) | (running_kernel().minor << 8) | min(
        running_kernel().patch, 255)


# --- virtual externs, weak externs, no configuration file ---------------------------------------

VIRTUAL = Object.from_file(fixture_path("kconfig_virtual"))
WEAK = Object.from_file(fixture_path("kconfig_weak"))


@pytest.fixture
def no_config_file(monkeypatch, tmp_path):
    """Neither /boot/config-$(uname -r) nor /proc/config.gz: both paths point nowhere."""
    monkeypatch.setattr(kernel_kconfig, "BOOT_CONFIG", str(tmp_path / "boot-config-{release}"))
    monkeypatch.setattr(kernel_kconfig, "PROC_CONFIG", str(tmp_path / "proc-config.gz"))
    return tmp_path


VIRTUAL_CONFIG = {"CONFIG_BPF_SYSCALL": "y", "CONFIG_BPF_JIT": "m", "CONFIG_NET": "y", "CONFIG_LOG_BUF_SHIFT": "17",
              "CONFIG_HZ": "300", "CONFIG_NR_CPUS": "8", "CONFIG_DEFAULT_HOSTNAME": '"host"',
                  "CONFIG_CC_VERSION_TEXT": '"clang version 19"',
                  # a config line cannot set a virtual extern
                  "LINUX_HAS_BPF_COOKIE": "y"}


def test_virtual_externs_take_their_values_not_the_config() -> None:
    config = VIRTUAL_CONFIG
    section = kconfig_section(VIRTUAL, config, kernel_version=0x060C05,
                              virtual={"LINUX_HAS_BPF_COOKIE": 0, "LINUX_HAS_SYSCALL_WRAPPER": 1})

    def value(name: str) -> bytes:
        var = section.variable(name)
        return section.data[var.offset : var.offset + var.size]

    assert value("LINUX_KERNEL_VERSION") == (0x060C05).to_bytes(8, "little")
    assert value("LINUX_HAS_BPF_COOKIE") == b"\0" and value("LINUX_HAS_SYSCALL_WRAPPER") == b"\1"
    assert value("LINUX_BPFNB_NOT_VIRTUAL") == bytes(4)  # unknown, weak
    assert value("CONFIG_BPF_JIT") == (2).to_bytes(4, "little") and value("CONFIG_LOG_BUF_SHIFT") == b"\x11\0"
    assert value("CONFIG_CC_VERSION_TEXT") == b"clang\0"
    for name in ("CONFIG_KPROBES", "CONFIG_BPFNB_ABSENT_BOOL", "CONFIG_BPFNB_ABSENT_TRISTATE",
                 "CONFIG_BPFNB_ABSENT_CHAR", "CONFIG_BPFNB_ABSENT_SHORT", "CONFIG_BPFNB_ABSENT_INT",
                 "CONFIG_BPFNB_ABSENT_U64", "CONFIG_BPFNB_ABSENT_STRING"):
        assert value(name) == bytes(section.variable(name).size), name
    with pytest.raises(ValueEncodingError, match="not a bool"):
        kconfig_section(VIRTUAL, config, kernel_version=1, virtual={"LINUX_HAS_BPF_COOKIE": 2})


def test_no_config_file_weak_externs_load_as_zero(no_config_file) -> None:
    from bpfnb.kernel.kconfig import kconfig_data_section

    with pytest.raises(UnsupportedFeature) as info:
        kernel_config()
    assert info.value.feature == "kernel config" and info.value.min_version is None
    section = kconfig_data_section(WEAK)
    raw = {v.name: section.data[v.offset : v.offset + v.size] for v in section.variables}
    assert raw["LINUX_KERNEL_VERSION"] == linux_kernel_version().to_bytes(4, "little")
    for name in ("CONFIG_BPF_SYSCALL", "CONFIG_HZ", "CONFIG_IPV6", "CONFIG_DEFAULT_HOSTNAME"):
        assert raw[name] == bytes(len(raw[name])), name


def test_no_config_file_a_strong_extern_is_a_typed_refusal(no_config_file) -> None:
    from bpfnb.kernel.kconfig import kconfig_data_section

    with pytest.raises(UnsupportedFeature) as info:
        kconfig_data_section(OBJ)
    err = info.value
    assert err.feature == "kernel config" and err.min_version is None and err.errno == errno.ENOENT
    text = str(err)
    # the first strong CONFIG_ extern in layout order, and both files libbpf would read
    assert "CONFIG_NR_CPUS" in text and "not __weak" in text
    assert str(no_config_file / f"boot-config-{os.uname().release}") in text
    assert str(no_config_file / "proc-config.gz") in text
    # explicit values need no file
    assert kconfig_data_section(OBJ, CONFIG).variable("CONFIG_HZ").size == 4


def test_a_compressed_or_plain_config_file_is_read(monkeypatch, tmp_path) -> None:
    import gzip

    (tmp_path / "plain").write_text("CONFIG_HZ=100\n# CONFIG_X is not set\n")
    (tmp_path / "config.gz").write_bytes(gzip.compress(b"CONFIG_HZ=300\n"))
    monkeypatch.setattr(kernel_kconfig, "BOOT_CONFIG", str(tmp_path / "plain"))
    assert kernel_config() == {"CONFIG_HZ": "100"}
    monkeypatch.setattr(kernel_kconfig, "BOOT_CONFIG", str(tmp_path / "none-{release}"))
    monkeypatch.setattr(kernel_kconfig, "PROC_CONFIG", str(tmp_path / "config.gz"))
    assert kernel_config() == {"CONFIG_HZ": "300"}


def test_unknown_strong_virtual_and_unprefixed_externs_are_refused(monkeypatch) -> None:
    from dataclasses import replace

    import bpfnb.obj.kconfig as pure

    externs = kconfig_externs(VIRTUAL)
    strong = tuple(replace(e, weak=False) if e.name == "LINUX_BPFNB_NOT_VIRTUAL" else e for e in externs)
    renamed = tuple(replace(e, name="BPFNB_PLAIN") if e.name == "CONFIG_HZ" else e for e in externs)
    virtual = {"LINUX_HAS_BPF_COOKIE": 1, "LINUX_HAS_SYSCALL_WRAPPER": 0}
    assert kconfig_section(VIRTUAL, VIRTUAL_CONFIG, kernel_version=1, virtual=virtual) is not None
    for patched, match in ((strong, "LINUX_BPFNB_NOT_VIRTUAL.*not a virtual extern"),
                           (renamed, "BPFNB_PLAIN.*neither CONFIG_")):
        monkeypatch.setattr(pure, "kconfig_externs", lambda obj, _p=patched: _p)
        with pytest.raises(UnknownName, match=match):
            kconfig_section(VIRTUAL, VIRTUAL_CONFIG, kernel_version=1, virtual=virtual)


def test_syscall_prefixes_are_libbpfs() -> None:
    from bpfnb.kernel.kconfig import syscall_prefix

    assert [syscall_prefix(m) for m in ("x86_64", "aarch64", "s390x", "riscv64", "ppc64le", "armv7l", "sparc64")] \
        == ["x64", "arm64", "s390x", "riscv", "powerpc", "arm", None]


def _kernel_kprobe_on(symbol: str) -> bool:
    """Independent of bpfnb's probe: does the kernel have kprobes, and is ``symbol`` one they can hit?

    Kprobes exist when the kprobe PMU or tracefs's kprobe_events does; the
    functions they can attach to are ftrace's available_filter_functions
    (kallsyms' text symbols where tracefs is absent).  Creating a tracefs
    kprobe is no oracle: in the Debian 6.1 guest the ``p:`` line for a
    listed function got EINVAL (error_log empty) while the PMU attached.
    """
    tracing = next((r for r in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
                    if os.path.exists(os.path.join(r, "available_filter_functions"))), None)
    has_kprobes = os.path.exists("/sys/bus/event_source/devices/kprobe/type") or (
        tracing is not None and os.path.exists(os.path.join(tracing, "kprobe_events")))
    if not has_kprobes:
        return False
    listing = os.path.join(tracing, "available_filter_functions") if tracing else "/proc/kallsyms"
    with open(listing) as f:
        names = {line.split()[-1] if listing == "/proc/kallsyms" else line.split()[0] for line in f if line.strip()}
    return symbol in names


@pytest.mark.kernel
def test_syscall_wrapper_probe_matches_the_kprobe_listing() -> None:
    from bpfnb.kernel.kconfig import has_syscall_wrapper, syscall_prefix

    assert has_syscall_wrapper() == _kernel_kprobe_on(f"__{syscall_prefix()}_sys_bpf")


def _libbpf_load(path, root: str) -> tuple[dict[str, str], bytes]:
    """libbpf loads ``path``: program name -> tag, and the .kconfig map's value."""
    from oracles.libbpf import LibbpfObject
    from oracles.libbpf_maps import _lib, _maps

    from bpfnb.kernel import map_lookup_elem

    lib = _lib()
    with LibbpfObject(path, root) as obj:
        obj.load()
        tags = {name: p.tag for name, p in obj.programs().items()}
        kconfig = [m for m in _maps(obj) if lib.bpf_map__name(m).decode().endswith(".kconfig")]
        assert len(kconfig) == 1
        fd = lib.bpf_map__fd(kconfig[0])
        return tags, map_lookup_elem(fd, bytes(4), map_info_value_size(fd))


def map_info_value_size(fd: int) -> int:
    from bpfnb.kernel import map_info

    return map_info(fd).value_size


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["kconfig_virtual", "kconfig_weak", "kconfig"])
def test_virtual_and_weak_externs_equal_libbpfs(name: str, unique_name: str) -> None:
    """Same object through libbpf and bpfnb: identical program tags, identical .kconfig bytes,
    and the program reads back exactly those bytes."""
    from oracles.libbpf import available

    if not available():
        pytest.skip("libbpf.so.1 not installed")
    import struct

    from bpfnb.loader import EbpfLoader

    externs = {e.name: e for e in kconfig_externs(Object.from_file(fixture_path(name)))}
    if not _config_readable():
        # libbpf refuses any object with a CONFIG_ extern then, weak or not ("failed to open system
        # Kconfig"): nothing to compare.  bpfnb refuses strong ones (typed), loads weak ones as 0.
        with kernel_feature("kernel config"), EbpfLoader().load_file(fixture_path(name)) as ebpf:
            assert all(e.weak for n, e in externs.items() if n.startswith("CONFIG_"))
            mine = ebpf.maps[".kconfig"].raw.lookup(bytes(4))
            assert all(mine[e.offset : e.offset + e.size] == bytes(e.size) for n, e in externs.items()
                       if n.startswith("CONFIG_"))
        return
    root = f"/sys/fs/bpf/{unique_name}"
    os.mkdir(root)
    try:
        tags, theirs = _libbpf_load(fixture_path(name), root)
    finally:
        os.rmdir(root)
    theirs = _with_bpfnb_version(theirs, externs.values())
    with EbpfLoader().load_file(fixture_path(name)) as ebpf:
        mine = ebpf.maps[".kconfig"].raw.lookup(bytes(4))
        assert mine == theirs
        assert {n: p.info().tag for n, p in ebpf.programs.items()} == tags
        next(iter(ebpf.programs.values())).test_run(bytes(64))
        bss = ebpf.maps[".bss"].raw.lookup(bytes(4))
    seen = struct.unpack(f"<{len(bss) // 8}Q", bss)
    version = externs["LINUX_KERNEL_VERSION"]
    # every fixture copies LINUX_KERNEL_VERSION first: the program saw the bytes both loaders wrote
    assert seen[0] == int.from_bytes(theirs[version.offset : version.offset + version.size], "little") > 0


def _with_bpfnb_version(theirs: bytes, externs) -> bytes:
    """libbpf's .kconfig bytes with ``LINUX_KERNEL_VERSION`` as bpfnb fills it.

    libbpf 1.1 takes the version from ``uname -r`` (Ubuntu's
    /proc/version_signature aside), so Debian's "6.1.0-57-amd64" is 6.1.0;
    bpfnb takes the upstream version the distribution states in ``uname -v``
    ("Debian 6.1.1xx-1"), which is the kernel's own LINUX_VERSION_CODE.  Where
    the two differ, libbpf's slot must hold the ``uname -r`` version.
    """
    from bpfnb.kernel.version import KernelVersion, running_kernel

    version = next((e for e in externs if e.name == "LINUX_KERNEL_VERSION"), None)
    if version is None:
        return theirs
    at = slice(version.offset, version.offset + version.size)
    release = KernelVersion.parse(os.uname().release.split("-")[0])
    assert int.from_bytes(theirs[at], "little") in (release.code, running_kernel().code)
    out = bytearray(theirs)
    out[at] = running_kernel().code.to_bytes(version.size, "little")
    return bytes(out)


def _config_readable() -> bool:
    return any(os.path.exists(p) for p in kernel_kconfig.config_paths())


@pytest.mark.kernel
def test_what_the_virtual_fixture_sees() -> None:
    """The values the program reads, each from a source independent of the kconfig code."""
    import struct

    from bpfnb.kernel.features import features
    from bpfnb.kernel.kconfig import has_syscall_wrapper
    from bpfnb.kernel.version import running_kernel
    from bpfnb.loader import EbpfLoader

    with kernel_feature("kernel config"):
        config = kernel_config()
        with EbpfLoader().load_file(fixture_path("kconfig_virtual")) as ebpf:
            ebpf.programs["read_virtual"].test_run(bytes(64))
            seen = struct.unpack("<22Q", ebpf.maps[".bss"].raw.lookup(bytes(4))[:176])
        tri = {"y": 1, "m": 2}
        assert seen[0] == running_kernel().code
        assert seen[1] == int(bool(features().bpf_cookie))
        assert seen[2] == int(has_syscall_wrapper())
        assert seen[3] == 0
        assert seen[4] == 1 and seen[5] == tri[config["CONFIG_BPF_JIT"]] and seen[6] == ord(config["CONFIG_NET"])
        assert seen[7] == int(config["CONFIG_LOG_BUF_SHIFT"]) and seen[8] == int(config["CONFIG_HZ"])
        assert seen[9] == int(config["CONFIG_NR_CPUS"])
        assert seen[10] == ord(config["CONFIG_DEFAULT_HOSTNAME"].strip('"')[0])
        text = config["CONFIG_CC_VERSION_TEXT"].strip('"')
        assert seen[11] == ord(text[4]) and seen[12] == 0  # cut to 5 bytes and a NUL
        assert seen[13] == tri.get(config.get("CONFIG_KPROBES", "n"), 0)
        assert seen[14:] == (0,) * 8  # every weak, absent extern


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
    theirs = _with_bpfnb_version(theirs, kconfig_externs(OBJ))
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


@pytest.mark.kernel
def test_a_kconfig_entry_that_is_not_a_var_is_a_typed_error():
    """Found by `make fuzz`: a mutated .kconfig DATASEC entry resolving to Void was an AttributeError."""
    from pathlib import Path

    from bpfnb import EbpfLoader
    from bpfnb.errors import BtfError

    path = Path(__file__).parent / "testdata" / "fuzz" / "kconfig-void-entry.o"
    with pytest.raises(BtfError, match=r"DATASEC '\.kconfig' entry is \w+, not VAR"):
        EbpfLoader().load_file(path).close()


def test_a_huge_string_extern_allocates_nothing() -> None:
    """Found by `make fuzz` (a load past its 20 s guard): a mutated char[2048250145] extern.

    The section keeps only the bytes values were written to; the zeros up to
    its size are implied, as the kernel creates the map zeroed.
    """
    from pathlib import Path

    obj = Object.from_file(Path(__file__).parent / "testdata" / "fuzz" / "kconfig-huge-string.o")
    section = kconfig_section(obj, CONFIG, kernel_version=0x060C00)
    huge = next(e for e in kconfig_externs(obj) if e.name == "CONFIG_DEFAULT_HOSTNAME")
    assert huge.size == 2048250145 and section.size == huge.offset + huge.size
    assert len(section.raw) == huge.offset + len(b"(none)\0")
    assert section.raw.endswith(b"(none)\0")


@pytest.mark.kernel
def test_a_huge_kconfig_value_is_refused_before_the_map_is_created() -> None:
    """The .kconfig map is read-only for programs, so it can only be written whole: over the input limit, a MapError."""
    from pathlib import Path

    from bpfnb import EbpfLoader
    from bpfnb.errors import MapError

    before = fd_count()
    with pytest.raises(MapError, match=r"map '\.kconfig': its 2048250\d+-byte initial value would be written whole"):
        EbpfLoader().load_file(Path(__file__).parent / "testdata" / "fuzz" / "kconfig-huge-string.o").close()
    assert fd_count() == before
