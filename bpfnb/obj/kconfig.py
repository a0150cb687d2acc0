"""``.kconfig`` externs: their layout in the kconfig map and their values (pure).

``extern int CONFIG_HZ __kconfig;`` is an undefined ELF symbol plus a BTF
``VAR`` (extern linkage) in a ``.kconfig`` DATASEC; there is no section
data.  The loader lays the externs out in one array map and fills it from
the running kernel's configuration, then programs read them like any
global (an ``ld_imm64`` of the map value plus the extern's offset).

The layout is libbpf's, so that the same object gets the same bytes from
either loader: externs sorted by alignment (largest first), then size
(smallest first), then name, each placed at the next offset aligned for
its type.  Values follow libbpf's rules for each extern type:

=====================  ==============================================
BTF type               config value accepted
=====================  ==============================================
``bool`` (1 byte)      ``y`` → 1, ``n`` → 0 (``m`` is an error)
``enum libbpf_tristate``  ``y`` → 1, ``n`` → 0, ``m`` → 2
``char``               ``y``/``n``/``m`` as that character
integer of 1-8 bytes   a C integer literal (decimal, hex, octal) in range
``char[N]``            a quoted string, cut to N-1 bytes plus NUL
=====================  ==============================================

A ``__weak`` extern the configuration lacks is zero; a strong one is an
error naming it.  ``LINUX_*`` externs are not config options but libbpf's
virtual externs (kernel version, bpf_cookie support, syscall wrappers):
the caller passes their values (:mod:`bpfnb.kernel.kconfig` probes them).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..btf.types import Array, Enum, Int, Var
from ..errors import BtfError, UnknownName, ValueEncodingError
from .data import DataSection, Variable
from .sections import SectionKind

if TYPE_CHECKING:
    from .object import Object

__all__ = ["KCONFIG_SECTION", "KconfigExtern", "KconfigType", "kconfig_externs", "kconfig_section"]

KCONFIG_SECTION = ".kconfig"


class KconfigType(enum.Enum):
    BOOL = "bool"
    TRISTATE = "tristate"
    CHAR = "char"
    INT = "int"
    CHAR_ARRAY = "char_array"


@dataclass(frozen=True, slots=True)
class KconfigExtern:
    """One ``__kconfig`` extern and its place in the kconfig map."""

    name: str
    type_id: int
    kind: KconfigType
    size: int
    align: int
    offset: int
    weak: bool
    signed: bool = False


def _kind_of(obj: Object, name: str, type_id: int) -> tuple[KconfigType, bool]:
    btf = obj.btf
    assert btf is not None
    t = btf[btf.resolve(type_id)]
    if isinstance(t, Int):
        if t.is_bool and t.size == 1:
            return KconfigType.BOOL, False
        if t.size == 1:
            return KconfigType.CHAR, t.is_signed
        if t.size in (2, 4, 8):
            return KconfigType.INT, t.is_signed
    elif isinstance(t, Enum) and t.name == "libbpf_tristate":
        return KconfigType.TRISTATE, False
    elif isinstance(t, Array) and t.nelems:
        elem = btf[btf.resolve(t.type_id)]
        if isinstance(elem, Int) and elem.size == 1 and not elem.is_bool:
            return KconfigType.CHAR_ARRAY, False
    raise UnknownName(f"{obj.name}: extern {name!r} has type {btf.name_of(type_id)}, which .kconfig cannot fill "
                      "(bool, enum libbpf_tristate, char, integers, char arrays)")


def kconfig_externs(obj: Object) -> tuple[KconfigExtern, ...]:
    """The object's ``.kconfig`` externs in libbpf's layout order (empty without any)."""
    btf = obj.btf
    if btf is None:
        return ()
    datasec = btf.datasec(KCONFIG_SECTION)
    if datasec is None:
        return ()
    weak = {s.name for s in obj.symbols if s.bind == "STB_WEAK"}
    found = []
    for info in datasec.vars:
        var = btf[info.type_id]
        if not isinstance(var, Var):  # hostile BTF: the fuzzer found a Void here
            raise BtfError(f"{obj.name}: DATASEC {KCONFIG_SECTION!r} entry is {var.kind.name}, not VAR",
                           type_id=info.type_id)
        kind, signed = _kind_of(obj, var.name, var.type_id)
        found.append((var.name, var.type_id, kind, btf.size_of(var.type_id), btf.align_of(var.type_id), signed))
    found.sort(key=lambda e: (-e[4], e[3], e[0]))
    out, offset = [], 0
    for name, type_id, kind, size, align, signed in found:
        offset = (offset + align - 1) // align * align
        out.append(KconfigExtern(name, type_id, kind, size, align, offset, name in weak, signed))
        offset += size
    return tuple(out)


def _tristate(ext: KconfigExtern, value: str) -> bytes:
    if ext.kind is KconfigType.CHAR:
        return value.encode()
    code = {"n": 0, "y": 1, "m": 2}[value]
    if ext.kind is KconfigType.BOOL:
        if code == 2:
            raise ValueEncodingError("'m' (module) does not fit a bool; declare it enum libbpf_tristate", path=ext.name)
        return bytes([code])
    if ext.kind is KconfigType.TRISTATE:
        return code.to_bytes(4, "little")
    raise ValueEncodingError(f"config value {value!r} does not fit {ext.kind.value}", path=ext.name)


def _string(ext: KconfigExtern, value: str) -> bytes:
    if ext.kind is not KconfigType.CHAR_ARRAY:
        raise ValueEncodingError(f"string config value {value} does not fit {ext.kind.value}", path=ext.name)
    if len(value) < 2 or not value.endswith('"'):
        raise ValueEncodingError(f"invalid string config value {value}", path=ext.name)
    raw = value[1:-1].encode()
    return raw[: ext.size - 1] + b"\0"  # cut like libbpf, always NUL-terminated (the rest stays zero)


def _number(ext: KconfigExtern, value: str) -> bytes:
    if ext.kind is not KconfigType.INT and ext.kind is not KconfigType.CHAR:
        raise ValueEncodingError(f"integer config value {value} does not fit {ext.kind.value}", path=ext.name)
    text = value.strip()
    try:  # C literal rules: 0x.. hex, 0.. octal, else decimal
        number = int(text, 16 if text.lower().startswith(("0x", "-0x")) else 8 if text.lstrip("-").startswith("0")
                     and len(text.lstrip("-")) > 1 else 10)
    except ValueError:
        raise ValueEncodingError(f"invalid integer config value {value!r}", path=ext.name) from None
    bits = ext.size * 8
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if ext.signed else (0, (1 << bits) - 1)
    if not lo <= number <= hi:
        raise ValueEncodingError(f"config value {number} out of range for {ext.size}-byte extern", path=ext.name)
    return number.to_bytes(ext.size, "little", signed=number < 0)


def encode_kconfig_value(ext: KconfigExtern, value: str) -> bytes:
    """One config value (as written in .config, after ``=``) as the extern's bytes."""
    if value in ("y", "n", "m"):
        return _tristate(ext, value)
    if value.startswith('"'):
        return _string(ext, value)
    return _number(ext, value)


def _virtual_number(ext: KconfigExtern, value: int) -> bytes:
    """A virtual extern's number, under libbpf's rules: an integer, a char or a bool, in range."""
    if ext.kind not in (KconfigType.INT, KconfigType.CHAR, KconfigType.BOOL):
        raise ValueEncodingError(f"value {value} implies an integer, char or bool extern, not {ext.kind.value}",
                                 path=ext.name)
    if ext.kind is KconfigType.BOOL and value > 1:
        raise ValueEncodingError(f"value {value} is not a bool", path=ext.name)
    bits = ext.size * 8
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if ext.signed else (0, (1 << bits) - 1)
    if not lo <= value <= hi:
        raise ValueEncodingError(f"value {value} out of range for {ext.size}-byte extern", path=ext.name)
    return value.to_bytes(ext.size, "little", signed=value < 0)


def kconfig_section(obj: Object, config: Mapping[str, str], *, kernel_version: int,
                    virtual: Mapping[str, int] | None = None) -> DataSection | None:
    """The ``.kconfig`` map's contents for ``obj`` (None when it has no externs).

    ``config`` maps ``CONFIG_*`` names to their value text as in a
    ``.config`` file (``y``, ``250``, ``"text"``).  ``virtual`` holds the
    values of libbpf's virtual ``LINUX_*`` externs (``LINUX_HAS_BPF_COOKIE``,
    ``LINUX_HAS_SYSCALL_WRAPPER``); ``LINUX_KERNEL_VERSION`` defaults to
    ``kernel_version``.  An unknown ``LINUX_*`` extern is 0 when weak and an
    error otherwise; names with neither prefix are errors (libbpf's rules).
    """
    externs = kconfig_externs(obj)
    if not externs:
        return None
    values = {"LINUX_KERNEL_VERSION": kernel_version, **(virtual or {})}
    size = externs[-1].offset + externs[-1].size
    data = bytearray()  # only up to the last byte written: a char[2 GiB] extern allocates nothing
    variables = []
    for ext in externs:
        if ext.name.startswith("LINUX_"):
            if ext.name in values:
                raw = _virtual_number(ext, values[ext.name])
            elif ext.weak:
                raw = bytes(ext.size)
            else:
                raise UnknownName(f"{obj.name}: extern {ext.name!r} (.kconfig) is not a virtual extern libbpf "
                                  "knows (LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE, LINUX_HAS_SYSCALL_WRAPPER); "
                                  "declare it __weak to accept 0")
        elif not ext.name.startswith("CONFIG_"):
            raise UnknownName(f"{obj.name}: extern {ext.name!r} (.kconfig) is neither CONFIG_* nor LINUX_*")
        elif ext.name in config:
            raw = encode_kconfig_value(ext, config[ext.name])
        elif ext.weak:
            raw = bytes(ext.size)
        else:
            raise UnknownName(f"{obj.name}: extern {ext.name!r} (.kconfig) is not set in the kernel "
                              "configuration; declare it __weak to accept 0")
        if raw.strip(b"\0"):
            if len(data) < ext.offset:
                data.extend(bytes(ext.offset - len(data)))
            data[ext.offset : ext.offset + len(raw)] = raw
        variables.append(Variable(ext.name, ext.offset, ext.size, "STB_WEAK" if ext.weak else "STB_GLOBAL",
                                  ext.type_id, obj.btf.name_of(ext.type_id) if obj.btf is not None else ""))
    return DataSection(KCONFIG_SECTION, SectionKind.KCONFIG, size, bytes(data), tuple(variables))
