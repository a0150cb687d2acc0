"""Resolve an object's ``__ksym`` externs against the running kernel.

kfuncs and typed variables are looked up by name in the kernel's BTF
(vmlinux; module BTF would need its fd passed in ``fd_array``, which the
load stage does not do yet — an extern only a module defines is reported
as such).  Untyped variables need an address: ``/proc/kallsyms`` gives it
to a privileged reader (others see zeros, which are treated as absent).
A strong extern the kernel lacks is an error naming it; a weak one
resolves to "not found" and relocates to 0, as libbpf does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import replace

from ..btf import Btf
from ..errors import UnknownSymbol
from ..obj.ksyms import KsymExtern, KsymKind, KsymTarget, ksym_externs
from ..obj.object import Object

__all__ = ["kallsyms", "resolve_ksyms"]

KALLSYMS = "/proc/kallsyms"
MODULES = "/proc/modules"


#: (kallsyms path, name) → address of a vmlinux symbol found there.  The kernel's own
#: symbols keep their addresses for the whole boot (KASLR is chosen once), so a load
#: after the first reads nothing; module symbols are never cached (modules reload elsewhere).
_VMLINUX_ADDRESSES: dict[tuple[str, str], int] = {}

#: (kallsyms path, name) → what :func:`_symbol_state` said when a full read did not find it.  A
#: symbol absent from the kernel stays absent until a module loads (the kernel's own symbols are
#: fixed for the boot), so a miss is answered again without reading kallsyms (~40 ms) while
#: ``/proc/modules`` and the file's identity are what they were.
_MISSES: dict[tuple[str, str], tuple] = {}

#: How much of kallsyms one read takes (the kernel formats it on demand, ~10 MiB in all).
_CHUNK = 1 << 18


def kallsyms(path: str = KALLSYMS, names: Iterable[str] | None = None) -> dict[str, int]:
    """Symbol → address from kallsyms (first definition wins; zero addresses dropped).

    ``names`` restricts the answer to those symbols, found by a byte search
    in chunks that stops once every name is found (the kernel writes
    kallsyms as it is read: ~50 ms for all of it), and remembered for the
    process when they are the kernel's own: splitting all ~120,000 lines
    costs ~300 ms of Python, a load needs a handful of names.  A name not
    there (a weak extern, or a data symbol without ``CONFIG_KALLSYMS_ALL``)
    is remembered as absent until ``/proc/modules`` or the file changes.
    """
    if names is not None:
        return _addresses(path, set(names))
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    out: dict[str, int] = {}
    for line in data.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        addr = int(parts[0], 16)
        if addr and parts[2] not in out:
            out[parts[2]] = addr
    return out


def _symbol_state(path: str) -> tuple:
    """What a kallsyms answer depends on besides the boot: the file's identity and the modules loaded."""
    try:
        st = os.stat(path)
        identity: tuple = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        identity = ()
    try:
        with open(MODULES, "rb") as f:
            modules = f.read()
    except OSError:
        modules = b""
    return identity + (modules,)


def _addresses(path: str, names: set[str]) -> dict[str, int]:
    out = {n: a for n in names if (a := _VMLINUX_ADDRESSES.get((path, n)))}
    pending = {n.encode(): n for n in names if n not in out}
    if not pending:
        return out
    state = _symbol_state(path)
    if all(_MISSES.get((path, n)) == state for n in pending.values()):
        return out
    try:
        with open(path, "rb") as f:
            carry = b""
            while pending:
                chunk = f.read(_CHUNK)
                text = carry + chunk
                cut = text.rfind(b"\n") + 1 if chunk else len(text)  # whole lines; the rest joins the next chunk
                text, carry = text[:cut], text[cut:]
                for raw, name in list(pending.items()):
                    addr, in_module = _first_address(text, raw)
                    if addr:
                        out[name] = addr
                        del pending[raw]
                        if not in_module:
                            _VMLINUX_ADDRESSES[path, name] = addr
                if not chunk:
                    break
    except OSError:
        return out
    for name in pending.values():  # read to the end without finding it
        _MISSES[path, name] = state
    return out


def _first_address(data: bytes, name: bytes) -> tuple[int, bool]:
    """The first non-zero address of ``name`` in kallsyms text (lines ``addr type name[\t[module]]``),
    and whether a module defines it."""
    needle, pos = b" " + name, 0
    while (i := data.find(needle, pos)) >= 0:
        end = pos = i + len(needle)
        if end < len(data) and data[end] not in b"\t\r\n":
            continue  # a longer name that starts with this one
        parts = data[data.rfind(b"\n", 0, i) + 1:end].split()
        if len(parts) == 3 and parts[2] == name and (addr := int(parts[0], 16)):
            return addr, end < len(data) and data[end] == 0x09
    return 0, False


def _btf_lookup(btf: Btf, ext: KsymExtern) -> int | None:
    """The one FUNC/VAR of that name, or None (not there, or ambiguous).

    ``find_all``, not ``find``: a miss is an answer here, and ``find``'s
    error would build the whole name index for its did-you-mean.
    """
    found = btf.find_all(ext.name, kind="FUNC" if ext.kind is KsymKind.KFUNC else "VAR")
    return found[0].id if len(found) == 1 else None


def resolve_ksyms(obj: Object, target_btf: Btf | None = None, *, symbols: Mapping[str, int] | None = None,
                  strict: bool = True) -> dict[str, KsymTarget]:
    """Every ``__ksym`` extern of ``obj`` → where it is in the kernel.

    ``target_btf`` defaults to the running kernel's; ``symbols`` to
    ``/proc/kallsyms`` (read only when the object has untyped externs).
    A strong extern the kernel lacks raises :class:`UnknownSymbol`; with
    ``strict=False`` it comes back not found and ``required``, and
    relocating a program that uses it fails (that program only: the
    loader's per-program isolation).
    """
    externs = ksym_externs(obj)
    if not externs:
        return {}
    btf = target_btf if target_btf is not None else Btf.from_sys_fs()
    if symbols is None and any(e.kind is KsymKind.UNTYPED for e in externs):
        symbols = kallsyms(names={e.name for e in externs if e.kind is KsymKind.UNTYPED})
    out = {}
    for ext in externs:
        if ext.kind is KsymKind.UNTYPED:
            address = (symbols or {}).get(ext.name, 0)
            target = KsymTarget(ext.name, ext.kind, bool(address), address=address, source="kallsyms")
        else:
            btf_id = _btf_lookup(btf, ext)
            target = KsymTarget(ext.name, ext.kind, btf_id is not None, btf_id=btf_id or 0, source="vmlinux")
        if not target.found and not ext.weak:
            if not strict:
                target = replace(target, required=True)
            else:
                where = "/proc/kallsyms" if ext.kind is KsymKind.UNTYPED else "the kernel's BTF"
                raise UnknownSymbol(f"{obj.name}: {ext.kind.value} extern {ext.name!r} is not in {where} (declare it __weak to allow that)")
        out[ext.name] = target
    return out
