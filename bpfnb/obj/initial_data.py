"""The bytes a global-data map starts with: a section's data with ``set_global`` values written in (pure).

libbpf writes ``.data``/``.rodata``/``.bss`` into their one-entry array
maps before any program loads, and freezes the read-only ones; the values
a loader overrides are encoded through each variable's BTF type.  The
maps stage (:mod:`bpfnb.kernel.maps_stage`) only sends what these functions
compute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import UnknownName, ValueEncodingError

if TYPE_CHECKING:
    from ..btf import Btf
    from .data import DataSection
    from .object import Object

__all__ = ["freezes", "initial_contents", "initial_data", "split_globals"]


def _encode_global(section: DataSection, var: Any, value: Any, btf: Btf | None) -> bytes:
    """``value`` as the bytes of ``var``: through its BTF type, or raw/int without BTF."""
    where = f"{section.name} {var.name}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    elif btf is not None and var.type_id:
        from ..btf.codec import Codec

        try:
            raw = Codec(btf, var.type_id).encode(value)
        except ValueEncodingError as exc:  # say which variable, then what the codec said
            raise ValueEncodingError(str(exc), path=where) from exc
    elif isinstance(value, int):
        # no BTF: a plain integer of the variable's size (signed when negative)
        try:
            raw = int(value).to_bytes(var.size, "little", signed=int(value) < 0)
        except OverflowError:
            raise ValueEncodingError(f"{value} does not fit in {var.size} bytes", path=where) from None
    else:
        raise ValueEncodingError(f"without BTF only bytes or ints can be written, not {type(value).__name__}",
                                 path=where)
    if len(raw) != var.size:
        raise ValueEncodingError(f"{len(raw)} bytes given for a {var.size}-byte variable", path=where)
    return raw


def initial_contents(section: DataSection, globals: Mapping[str, Any] = {}, *, btf: Btf | None = None,
                     must_exist: bool = True) -> bytes:
    """The start of the section's initial bytes, ``globals`` written in; zeros up to ``size`` are implied.

    Only the bytes the file holds and the variables written are materialised,
    so a ``.bss`` or ``.kconfig`` that claims gigabytes (hostile BTF, a
    mutated ``sh_size``) costs nothing here: the kernel zeroes an array map
    when it creates it.
    """
    data = bytearray(section.raw[: section.size])
    for vname, value in globals.items():
        var = section.variable(vname)
        if var is None:
            if must_exist:
                have = ", ".join(v.name for v in section.variables) or "none"
                raise UnknownName(f"{section.name} has no variable {vname!r} (has: {have})")
            continue
        raw = _encode_global(section, var, value, btf)
        if len(data) < var.offset + var.size:
            data.extend(bytes(var.offset + var.size - len(data)))
        data[var.offset : var.offset + var.size] = raw
    return bytes(data)


def initial_data(section: DataSection, globals: Mapping[str, Any] = {}, *, btf: Btf | None = None,
                 must_exist: bool = True) -> bytes:
    """The section's ``size`` bytes with ``globals`` (variable name → value) written in (pure)."""
    return initial_contents(section, globals, btf=btf, must_exist=must_exist).ljust(section.size, b"\0")


def freezes(section: DataSection) -> bool:
    """``.rodata``, ``.rodata.*`` and ``.kconfig`` are frozen once written (libbpf does the same)."""
    n = section.name
    return section.read_only or n == ".rodata" or n.startswith(".rodata.") or n == ".kconfig"


def split_globals(obj: Object, globals: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``set_global`` names → {section: {variable: value}}; UnknownName for names no section has."""
    out: dict[str, dict[str, Any]] = {}
    for vname, value in globals.items():
        where = [s for s in obj.data.values() if s.variable(vname) is not None]
        if not where:
            raise UnknownName(f"{obj.name}: no global variable {vname!r} in "
                              f"{', '.join(obj.data) or 'any data section'}")
        out.setdefault(where[0].name, {})[vname] = value
    return out
