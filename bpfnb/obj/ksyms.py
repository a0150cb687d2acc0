"""``__ksym`` externs: kernel functions and variables a program names (pure).

Three kinds, each resolved differently from the running kernel:

* a **kfunc** (``extern void bpf_rcu_read_lock(void) __ksym``) becomes a
  call with ``src = BPF_PSEUDO_KFUNC_CALL`` and ``imm`` = the function's
  BTF id in the kernel's BTF;
* a **typed variable** (``extern const int bpf_prog_active __ksym``) becomes
  an ``ld_imm64`` with ``src = BPF_PSEUDO_BTF_ID`` and ``imm`` = the VAR's
  BTF id; the kernel then needs the variable's address from kallsyms;
* an **untyped variable** (``extern const void sym __ksym``) becomes an
  ``ld_imm64`` of its address, read from ``/proc/kallsyms`` by the loader.

A kfunc or typed variable only a kernel module defines lives in that
module's split BTF (``/sys/kernel/btf/<module>``), and the kernel must be
told which BTF the id belongs to: a kfunc call's ``off`` is an index into
the load's ``fd_array`` (index 0 means vmlinux, so module BTF fds start at
1, one slot per module in the order libbpf gives them: by extern name), and
a typed variable's ``ld_imm64`` carries the module BTF's fd in its second
half (``insn[1].imm``).

This module finds the externs and resolves them against BTF it is given
(:func:`resolve_externs`: vmlinux first, then each module in order, as
libbpf searches), numbers the module slots once their fds are known
(:func:`assign_btf_fds`) and builds the ``fd_array`` (:func:`ksym_fd_array`).
Reading the running kernel's BTF and opening the module BTF objects is
``bpfnb.kernel.ksyms``'s job, so relocation stays pure.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..btf.types import Func, Kind, Var
from ..errors import KsymNotFound

if TYPE_CHECKING:
    from ..btf import Btf
    from .object import Object

__all__ = ["KSYMS_SECTION", "MAX_FD_ARRAY_INDEX", "KsymExtern", "KsymKind", "KsymTable", "KsymTarget", "assign_btf_fds",
           "ksym_externs", "ksym_fd_array", "ksym_modules", "resolve_externs"]

KSYMS_SECTION = ".ksyms"
#: A kfunc call's ``off`` is an s16: the last ``fd_array`` index it can name.
MAX_FD_ARRAY_INDEX = (1 << 15) - 1


class KsymKind(enum.Enum):
    KFUNC = "kfunc"
    TYPED = "typed"      # a VAR with a type: resolved by BTF id
    UNTYPED = "untyped"  # ``const void``: resolved by kallsyms address


@dataclass(frozen=True, slots=True)
class KsymExtern:
    """One ``__ksym`` extern of an object."""

    name: str
    kind: KsymKind
    weak: bool
    #: The extern's own BTF type id in the object (the FUNC or VAR).
    local_type_id: int


@dataclass(frozen=True, slots=True)
class KsymTarget:
    """Where an extern lives in the running kernel (or that it does not)."""

    name: str
    kind: KsymKind
    found: bool
    #: BTF id in the kernel (vmlinux or a module) for kfuncs and typed variables.
    btf_id: int = 0
    #: 0 for vmlinux; for a module's kfunc, the index of its BTF fd in ``fd_array`` (a call's ``off``).
    btf_fd_index: int = 0
    #: Kernel address of an untyped variable.
    address: int = 0
    #: Which BTF or table answered ("vmlinux", a module name, "kallsyms").
    source: str = ""
    #: Not found and not weak: a program using it cannot be relocated.
    required: bool = False
    #: The kernel module whose BTF defines it ("" for vmlinux and kallsyms).
    module: str = ""
    #: The module's BTF object fd (an ``ld_imm64``'s ``insn[1].imm``, ``fd_array[btf_fd_index]``);
    #: 0 for vmlinux, and until :func:`assign_btf_fds` numbers it.
    btf_obj_fd: int = 0
    #: Where it was looked for ("vmlinux", then each module), for a not-found extern's message.
    searched: tuple[str, ...] = ()

    def describe(self) -> str:
        if not self.found:
            return f"{self.kind.value} {self.name}: not in this kernel (weak: 0)"
        if self.kind is KsymKind.UNTYPED:
            return f"{self.name} → address from {self.source}"
        if self.module:
            where = f"module {self.module} BTF id {self.btf_id}"
            if self.kind is KsymKind.KFUNC and self.btf_fd_index:
                where += f" (fd_array[{self.btf_fd_index}])"
            return f"{self.kind.value} {self.name} → {where}"
        return f"{self.kind.value} {self.name} → {self.source} BTF id {self.btf_id}"

    def not_found_error(self, owner: str) -> KsymNotFound:
        """The typed error for this extern when it is strong and nobody defines it."""
        return KsymNotFound(self.name, self.kind.value, self.searched, owner=owner)

    @property
    def where(self) -> str:
        """Where it resolved, in words: "vmlinux", "module nf_conntrack", "kallsyms", or "not found"."""
        if not self.found:
            return "not found"
        return f"module {self.module}" if self.module else self.source


class KsymTable(dict):
    """Extern name → :class:`KsymTarget`: a resolution, as a dict that renders as a table
    (extern, kind, where: vmlinux, which module or kallsyms, BTF id, fd_array slot)."""

    @property
    def modules(self) -> list[str]:
        """The modules the externs resolved in, in fd-numbering order."""
        return ksym_modules(self)

    def summary(self) -> str:
        mods = self.modules
        text = f"{len(self)} __ksym externs"
        if mods:
            text += f" ({sum(1 for t in self.values() if t.module)} in modules: {', '.join(mods)})"
        missing = sum(1 for t in self.values() if not t.found)
        if missing:
            text += f", {missing} not in this kernel"
        return text

    def __repr__(self) -> str:
        return f"<KsymTable {self.summary()}>"

    def _repr_html_(self) -> str:
        from ..display.ksyms import ksyms_html

        return ksyms_html(self)

    def to_dataframe(self) -> Any:
        """One row per extern: name, kind, found, where, module, BTF id, fd_array index, address, required."""
        from ..display.ksyms import ksyms_frame

        return ksyms_frame(self)


def ksym_externs(obj: Object) -> tuple[KsymExtern, ...]:
    """The object's ``__ksym`` externs, in the order of the ``.ksyms`` DATASEC."""
    btf = obj.btf
    if btf is None:
        return ()
    datasec = btf.datasec(KSYMS_SECTION)
    if datasec is None:
        return ()
    weak = {s.name for s in obj.symbols if s.bind == "STB_WEAK" and s.is_extern}
    out = []
    for info in datasec.vars:
        t = btf[info.type_id]
        if isinstance(t, Func):
            kind = KsymKind.KFUNC
        elif isinstance(t, Var):
            target = btf[btf.resolve(t.type_id)] if t.type_id else None
            kind = KsymKind.UNTYPED if target is None or target.kind == Kind.UNKN else KsymKind.TYPED
        else:
            continue
        out.append(KsymExtern(t.name, kind, t.name in weak, t.id))
    return tuple(out)


# --- resolution against given BTF (pure) ------------------------------------------------


def _btf_lookup(btf: Btf, name: str, kind: str, *, own_only: bool = False) -> int | None:
    """The one FUNC/VAR of that name, or None (not there, or ambiguous).

    ``find_all``, not ``find``: a miss is an answer here, and ``find``'s
    error would build the whole name index for its did-you-mean.  A
    module's split BTF answers with its own types only (``own_only``): the
    base's are vmlinux's, already asked.
    """
    found = btf.find_all(name, kind=kind)
    if own_only:
        found = [t for t in found if t.id >= btf.start_id]
    return found[0].id if len(found) == 1 else None


def resolve_externs(externs: Iterable[KsymExtern], vmlinux: Btf, modules: Mapping[str, Btf] | None = None, *,
                    symbols: Mapping[str, int] | None = None) -> dict[str, KsymTarget]:
    """Where each extern is in a kernel described by ``vmlinux`` and its ``modules`` (pure).

    kfuncs and typed variables are looked up in ``vmlinux`` first, then in
    each module's split BTF in ``modules``' order (the kernel's BTF id
    order, as libbpf searches; a lazy mapping parses a module only when
    asked); the first that has it answers.  Untyped variables take their
    address from ``symbols`` (kallsyms).  Nothing raises: a target not
    found says where it was looked for (``searched``), and whether that is
    an error (strong) or a 0 (weak) is the caller's to decide.  Module
    targets come back without fds: :func:`assign_btf_fds` numbers them.
    """
    modules = modules if modules is not None else {}
    out = {}
    for ext in externs:
        if ext.kind is KsymKind.UNTYPED:
            address = (symbols or {}).get(ext.name, 0)
            out[ext.name] = KsymTarget(ext.name, ext.kind, bool(address), address=address, source="kallsyms",
                                       searched=("kallsyms",))
            continue
        kind = "FUNC" if ext.kind is KsymKind.KFUNC else "VAR"
        btf_id = _btf_lookup(vmlinux, ext.name, kind)
        if btf_id is not None:
            out[ext.name] = KsymTarget(ext.name, ext.kind, True, btf_id=btf_id, source="vmlinux")
            continue
        searched = ["vmlinux"]
        for module in modules:
            btf = modules.get(module)  # a lazy mapping may have lost one (unloaded, unreadable)
            if btf is None:
                continue
            searched.append(module)
            btf_id = _btf_lookup(btf, ext.name, kind, own_only=True)
            if btf_id is not None:
                out[ext.name] = KsymTarget(ext.name, ext.kind, True, btf_id=btf_id, source=module, module=module)
                break
        else:
            out[ext.name] = KsymTarget(ext.name, ext.kind, False, source="vmlinux", searched=tuple(searched))
    return out


def ksym_modules(targets: Mapping[str, KsymTarget]) -> list[str]:
    """The modules whose BTF the resolved externs need, in the order their fds are numbered."""
    out: list[str] = []
    for t in _by_name(targets):
        if t.found and t.module and t.module not in out:
            out.append(t.module)
    return out


def _by_name(targets: Mapping[str, KsymTarget]) -> list[KsymTarget]:
    # libbpf resolves its ksym externs sorted by name and numbers a module's fd_array slot
    # at the first kfunc found in it: the same order gives the same ``off`` values
    return [targets[n] for n in sorted(targets)]


def assign_btf_fds(targets: Mapping[str, KsymTarget], fds: Mapping[str, int]) -> dict[str, KsymTarget]:
    """``targets`` with each module target's BTF fd, and kfuncs' ``fd_array`` index (pure).

    ``fds`` maps a module name to its BTF object's fd (real, or a dry
    run's placeholder).  Index 0 of ``fd_array`` stands for vmlinux, so a
    module's slot is 1 or more: one per module that a kfunc resolved in,
    numbered in extern-name order as libbpf does; a module only typed
    variables use gets no slot (their ``ld_imm64`` carries the fd itself).
    """
    slots: dict[str, int] = {}
    for t in _by_name(targets):
        if t.found and t.module and t.kind is KsymKind.KFUNC and t.module not in slots:
            slots[t.module] = len(slots) + 1
    if len(slots) > MAX_FD_ARRAY_INDEX:
        raise ValueError(f"{len(slots)} module BTFs do not fit a kfunc call's 16-bit fd_array index")
    out = dict(targets)
    for name, t in targets.items():
        if not (t.found and t.module):
            continue
        if t.module not in fds:
            raise KeyError(f"no BTF fd for module {t.module!r} (extern {name!r})")
        out[name] = replace(t, btf_obj_fd=int(fds[t.module]),
                            btf_fd_index=slots.get(t.module, 0) if t.kind is KsymKind.KFUNC else 0)
    return out


def ksym_fd_array(targets: Mapping[str, KsymTarget] | None) -> tuple[int, ...]:
    """``fd_array`` for ``BPF_PROG_LOAD``: slot 0 unused (vmlinux), then each kfunc module's BTF fd.

    Empty when no kfunc lives in a module: the load then sends none.
    """
    slots: dict[int, int] = {}
    for t in (targets or {}).values():
        if t.found and t.btf_fd_index:
            slots[t.btf_fd_index] = t.btf_obj_fd
    if not slots:
        return ()
    return tuple(slots.get(i, 0) for i in range(max(slots) + 1))
