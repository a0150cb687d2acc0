"""Resolve an object's ``__ksym`` externs against the running kernel.

kfuncs and typed variables are looked up by name in the kernel's BTF:
vmlinux first, then the split BTF of every loaded module
(``/sys/kernel/btf/<module>``, in the kernel's BTF id order when this
process may walk the ids, else by name), as libbpf searches; the pure
look-up is :func:`bpfnb.obj.ksyms.resolve_externs`.  An extern a module
defines needs that module's BTF object at load time: :class:`ModuleBtfFds`
opens one fd per such module (``BPF_BTF_GET_NEXT_ID``,
``BPF_BTF_GET_FD_BY_ID``, ``BPF_OBJ_GET_INFO_BY_FD`` for the name), owns
them and closes them together; a kfunc call then names its module by an
index into the load's ``fd_array``, a typed variable's ``ld_imm64`` by the
fd itself.  Untyped variables need an address: ``/proc/kallsyms`` gives it
to a privileged reader (others see zeros, which are treated as absent).  A
strong extern nobody defines is a :class:`~bpfnb.errors.KsymNotFound`
naming it and the modules searched; a weak one resolves to "not found" and
relocates to 0, as libbpf does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

from ..btf import Btf
from ..errors import BtfError, KernelError, UnknownName
from ..obj.ksyms import (KsymKind, KsymTable, KsymTarget, assign_btf_fds, ksym_externs, ksym_modules, refused,
                         resolve_externs)
from ..obj.object import Object
from .fd import Fd
from .info import btf_info, kernel_btf_objects
from .syscall import btf_get_fd_by_id, btf_get_next_id

__all__ = ["ModuleBtfFds", "SysModuleBtfs", "bind_module_fds", "kallsyms", "module_btf_objects", "resolve_ksyms",
           "running_module_btfs"]

log = logging.getLogger(__name__)

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
    """Symbol → address from kallsyms (first definition wins; zero addresses dropped; a promoted
    static's ``.llvm.<hash>`` suffix dropped, see :func:`_extern_name`).

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
    for line in data.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        addr = int(parts[0], 16)
        name = _extern_name(parts[1], parts[2]).decode(errors="replace")
        if addr and name not in out:
            out[name] = addr
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


#: What clang's LTO appends to a static it promotes to global scope (``name.llvm.<hash>``).
_LLVM_SUFFIX = b".llvm."


def _extern_name(kind: bytes, symbol: bytes) -> bytes:
    """A kallsyms symbol's name as an extern knows it: a static variable a clang-LTO kernel promoted
    (local data, type ``d``) is ``name.llvm.<hash>`` there and ``name`` to the program, as libbpf matches."""
    if kind == b"d" and (cut := symbol.find(_LLVM_SUFFIX)) > 0:
        return symbol[:cut]
    return symbol


def _first_address(data: bytes, name: bytes) -> tuple[int, bool]:
    """The first non-zero address of ``name`` in kallsyms text (lines ``addr type name[\t[module]]``),
    and whether a module defines it."""
    needle, pos = b" " + name, 0
    while (i := data.find(needle, pos)) >= 0:
        end = pos = i + len(needle)
        if end < len(data) and data[end] not in b"\t\r\n" and not data.startswith(_LLVM_SUFFIX, end):
            continue  # a longer name that starts with this one
        stop = data.find(b"\n", end)
        parts = data[data.rfind(b"\n", 0, i) + 1 : stop if stop >= 0 else len(data)].split()
        if len(parts) in (3, 4) and _extern_name(parts[1], parts[2]) == name and (addr := int(parts[0], 16)):
            return addr, len(parts) == 4
    return 0, False


# --- module BTF -------------------------------------------------------------------------


def module_btf_objects() -> list[tuple[int, str]]:
    """(BTF object id, module name) of every loaded module's BTF, in id order (the modules' load order).

    Needs the privilege to open BTF objects by id (CAP_SYS_ADMIN).
    """
    return [(obj_id, name) for obj_id, name in kernel_btf_objects() if name != "vmlinux"]


class SysModuleBtfs(Mapping[str, Btf]):
    """Module name → its split BTF from ``/sys/kernel/btf``, each parsed on first access.

    Iterates in ``order``; without one, in the running kernel's BTF id
    order (the modules' load order, libbpf's search order) when ``by_id``
    and this process may walk the ids, else by name (a dry run), worked
    out on first iteration: an object whose externs are all in vmlinux
    never walks anything.  A module whose file is gone or unreadable is
    absent (``get()`` gives None), with a warning for a malformed one.
    """

    def __init__(self, order: Iterable[str] | None = None, *, by_id: bool = True):
        self._order = list(order) if order is not None else None
        self._by_id = by_id
        self._parsed: dict[str, Btf | None] = {}

    @property
    def order(self) -> list[str]:
        if self._order is None:
            self._order = _running_order(self._by_id)
        return self._order

    def __iter__(self) -> Iterator[str]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, name: str) -> Btf:
        if name not in self._parsed:
            btf = None
            if name in self.order:
                try:
                    btf = Btf.from_sys_fs(name)
                except UnknownName:
                    pass  # unloaded since it was listed
                except BtfError as exc:
                    log.warning("module %s: its BTF does not parse, its __ksyms are not searched: %s", name, exc)
            self._parsed[name] = btf
        btf = self._parsed[name]
        if btf is None:
            raise KeyError(name)
        return btf

    def __repr__(self) -> str:
        listed = "not listed yet" if self._order is None else f"{len(self._order)} modules"
        return f"<SysModuleBtfs {listed}, {sum(b is not None for b in self._parsed.values())} parsed>"


def _sys_module_names() -> list[str]:
    try:
        return sorted(n for n in os.listdir("/sys/kernel/btf") if n != "vmlinux")
    except OSError:
        return []


def _running_order(by_id: bool) -> list[str]:
    names = _sys_module_names()
    if not (by_id and names):
        return names
    try:
        ordered = [name for _, name in module_btf_objects()]
    except KernelError:  # not allowed to open BTF objects by id: by name, as a dry run
        return names
    listed = set(names)
    return [n for n in ordered if n in listed] + [n for n in names if n not in set(ordered)]


def running_module_btfs(*, by_id: bool = True) -> SysModuleBtfs:
    """The running kernel's module BTFs, in libbpf's search order (BTF id) when ``by_id`` and this
    process may walk the ids; by name otherwise."""
    return SysModuleBtfs(by_id=by_id)


class ModuleBtfFds:
    """The module BTF objects one load refers to: module name → an owned ``Fd``.

    Opened together (:meth:`open`), closed together (``close()``, ``with``,
    or garbage collection through each ``Fd``); a failure while opening
    closes what it had opened.  The kernel keeps its own references on a
    module's BTF from the loads that use it, so these may close once the
    programs are loaded.
    """

    def __init__(self, fds: Mapping[str, Fd] | None = None):
        self._fds: dict[str, Fd] = dict(fds or {})

    @classmethod
    def open(cls, modules: Iterable[str]) -> ModuleBtfFds:
        """An fd for each of ``modules``' BTF objects; UnknownName naming a module not loaded (any more)."""
        wanted = list(dict.fromkeys(modules))
        out = cls()
        if not wanted:
            return out
        try:
            current = 0
            while len(out._fds) < len(wanted) and (current := btf_get_next_id(current)) is not None:
                try:
                    fd = btf_get_fd_by_id(current)
                except KernelError:
                    continue  # freed meanwhile
                keep = False
                try:
                    info = btf_info(fd)
                    keep = info.kernel_btf and info.name in wanted and info.name not in out._fds
                    if keep:
                        out._fds[info.name] = fd
                finally:
                    if not keep:
                        fd.close()
            missing = [m for m in wanted if m not in out._fds]
            if missing:
                raise UnknownName(f"no loaded kernel BTF object for module {missing[0]!r} "
                                  "(unloaded since its BTF was read?)")
        except BaseException:
            out.close()
            raise
        return out

    def numbers(self) -> dict[str, int]:
        """Module name → fd number, for :func:`bpfnb.obj.ksyms.assign_btf_fds`."""
        return {name: fd.fileno() for name, fd in self._fds.items()}

    @property
    def closed(self) -> bool:
        return all(fd.closed for fd in self._fds.values())

    def close(self) -> None:
        """Close every fd (idempotent)."""
        for fd in self._fds.values():
            fd.close()

    def __enter__(self) -> ModuleBtfFds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __contains__(self, name: object) -> bool:
        return name in self._fds

    def __len__(self) -> int:
        return len(self._fds)

    def __repr__(self) -> str:
        state = " closed" if self._fds and self.closed else ""
        return f"<ModuleBtfFds [{', '.join(self._fds)}]{state}>"


# --- resolution ----------------------------------------------------------------------------


def resolve_ksyms(obj: Object, target_btf: Btf | None = None, *, symbols: Mapping[str, int] | None = None,
                  strict: bool = True, modules: Mapping[str, Btf] | None = None) -> KsymTable:
    """Every ``__ksym`` extern of ``obj`` → where it is in the kernel.

    ``target_btf`` defaults to the running kernel's vmlinux BTF, and
    ``modules`` then to its loaded modules' BTF (searched only for externs
    vmlinux lacks); with an explicit ``target_btf`` no module is searched
    unless ``modules`` are given too.  ``symbols`` defaults to
    ``/proc/kallsyms`` (read only when the object has untyped externs).
    Module targets come back without fds (:func:`bind_module_fds` opens
    and numbers them).  A strong extern nobody defines raises
    :class:`~bpfnb.errors.KsymNotFound`, one the kernel defines with an
    incompatible type :class:`~bpfnb.errors.KsymTypeMismatch` (a variable
    even when weak); with ``strict=False`` either comes back not found and
    ``required``, and relocating a program that uses it fails (that program
    only: the loader's per-program isolation).
    """
    externs = ksym_externs(obj)
    if not externs:
        return KsymTable()
    btf = target_btf if target_btf is not None else Btf.from_sys_fs()
    if modules is None:
        modules = running_module_btfs() if target_btf is None else {}
    if symbols is None and any(e.kind is KsymKind.UNTYPED for e in externs):
        symbols = kallsyms(names={e.name for e in externs if e.kind is KsymKind.UNTYPED})
    out = KsymTable(resolve_externs(externs, btf, modules, symbols=symbols, local=obj.btf))
    for ext in externs:
        target = out[ext.name]
        if not refused(ext, target):
            continue
        if strict:
            raise target.error(obj.name)
        out[ext.name] = replace(target, required=True)
    return out


def bind_module_fds(targets: Mapping[str, KsymTarget], *, placeholder_start: int | None = None
                    ) -> tuple[KsymTable, ModuleBtfFds]:
    """``targets`` with their modules' BTF fds and ``fd_array`` slots, and the fds (the caller owns them).

    With ``placeholder_start`` (a dry run) nothing is opened: modules get
    distinct fake numbers from there, as maps get placeholder fds.
    """
    modules = ksym_modules(targets)
    if not modules:
        return KsymTable(targets), ModuleBtfFds()
    if placeholder_start is not None:
        return KsymTable(assign_btf_fds(targets, {m: placeholder_start + i for i, m in enumerate(modules)})), ModuleBtfFds()
    fds = ModuleBtfFds.open(modules)
    try:
        return KsymTable(assign_btf_fds(targets, fds.numbers())), fds
    except BaseException:
        fds.close()
        raise
