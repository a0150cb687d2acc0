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

A kfunc is looked up by its *essential* name: ``bpf_foo___v2`` is the
kernel's ``bpf_foo``, so one object can declare a kfunc once per prototype
it has had and pick the one this kernel has with ``bpf_ksym_exists()``.
What the name finds must also have a compatible type (libbpf's rule, CO-RE
compatibility of the kfunc's prototype or the variable's type): a weak
kfunc whose prototype is not the kernel's is treated as absent, anything
else that does not match is a :class:`~bpfnb.errors.KsymTypeMismatch`.

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

from ..btf.core_spec import core_essential_name, skip_mods, types_compatible
from ..btf.types import Func, Kind, Var
from ..errors import BtfError, KsymNotFound, KsymTypeMismatch

if TYPE_CHECKING:
    from ..btf import Btf
    from .object import Object

__all__ = ["KSYMS_SECTION", "MAX_FD_ARRAY_INDEX", "KsymExtern", "KsymKind", "KsymMismatch", "KsymTable", "KsymTarget",
           "assign_btf_fds", "ksym_externs", "ksym_fd_array", "ksym_modules", "refused", "resolve_externs"]

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

    @property
    def kernel_name(self) -> str:
        """The name looked up in the kernel: a kfunc's without its ``___flavour`` (as libbpf), a variable's own."""
        return core_essential_name(self.name) if self.kind is KsymKind.KFUNC else self.name


@dataclass(frozen=True, slots=True)
class KsymMismatch:
    """The kernel has the name, with a type the extern's declaration is incompatible with."""

    #: Whose BTF answered: "vmlinux" or a module's name.
    where: str
    #: The object's declaration and the kernel's, in C.
    local: str
    kernel: str


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
    #: The name looked up when it is not the extern's (a kfunc's ``___flavour`` dropped).
    kernel_name: str = ""
    #: Found by name with an incompatible type: not found, and why.
    mismatch: KsymMismatch | None = None

    def describe(self) -> str:
        if self.mismatch is not None:
            m = self.mismatch
            return (f"{self.kind.value} {self.name}: {m.where} has `{m.kernel}`, incompatible with `{m.local}`"
                    + ("" if self.required else " (weak: 0)"))
        if not self.found:
            return f"{self.kind.value} {self.name}: not in this kernel (weak: 0)"
        if self.kind is KsymKind.UNTYPED:
            return f"{self.name} → address from {self.source}"
        name = f"{self.name} ({self.kernel_name})" if self.kernel_name else self.name
        if self.module:
            where = f"module {self.module} BTF id {self.btf_id}"
            if self.kind is KsymKind.KFUNC and self.btf_fd_index:
                where += f" (fd_array[{self.btf_fd_index}])"
            return f"{self.kind.value} {name} → {where}"
        return f"{self.kind.value} {name} → {self.source} BTF id {self.btf_id}"

    def error(self, owner: str | None = None, *, program: str | None = None,
              index: int | None = None) -> KsymNotFound | KsymTypeMismatch:
        """The typed error for this extern when it cannot load: nobody defines it, or not with its type."""
        if self.mismatch is not None:
            m = self.mismatch
            return KsymTypeMismatch(self.name, self.kind.value, m.where, m.local, m.kernel,
                                    kernel_name=self.kernel_name, owner=owner, program=program, index=index)
        return KsymNotFound(self.name, self.kind.value, self.searched, owner=owner, program=program, index=index)

    @property
    def where(self) -> str:
        """Where it resolved, in words: "vmlinux", "module nf_conntrack", "kallsyms", "not found", or
        "incompatible in vmlinux" (the name is there, its type is not the extern's)."""
        if self.mismatch is not None:
            where = self.mismatch.where
            return f"incompatible in {where if where == 'vmlinux' else 'module ' + where}"
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
        missing = sum(1 for t in self.values() if not t.found and t.mismatch is None)
        if missing:
            text += f", {missing} not in this kernel"
        mismatched = sum(1 for t in self.values() if t.mismatch is not None)
        if mismatched:
            text += f", {mismatched} with an incompatible type"
        return text

    def __repr__(self) -> str:
        return f"<KsymTable {self.summary()}>"

    def _repr_html_(self) -> str:
        from ..display.ksyms import ksyms_html

        return ksyms_html(self)

    def to_dataframe(self) -> Any:
        """One row per extern: name, kind, found, where, module, BTF id, fd_array index, address, required,
        the name looked up in the kernel and, when it is incompatible, the kernel's declaration."""
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
                    symbols: Mapping[str, int] | None = None, local: Btf | None = None) -> dict[str, KsymTarget]:
    """Where each extern is in a kernel described by ``vmlinux`` and its ``modules`` (pure).

    kfuncs (by :attr:`KsymExtern.kernel_name`) and typed variables are
    looked up in ``vmlinux`` first, then in each module's split BTF in
    ``modules``' order (the kernel's BTF id order, as libbpf searches; a
    lazy mapping parses a module only when asked); the first that has the
    name answers.  With ``local`` (the object's BTF) what answers must also
    have a compatible type, or the target is not found and carries the
    :class:`KsymMismatch`.  Untyped variables take their address from
    ``symbols`` (kallsyms).  Nothing raises: a target not found says where
    it was looked for (``searched``), and whether that is an error or a 0
    is :func:`refused`'s to say.  Module targets come back without fds:
    :func:`assign_btf_fds` numbers them.
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
        name = ext.kernel_name
        renamed = name if name != ext.name else ""
        searched = ["vmlinux"]
        hit: tuple[str, Btf, int] | None = None
        btf_id = _btf_lookup(vmlinux, name, kind)
        if btf_id is not None:
            hit = ("vmlinux", vmlinux, btf_id)
        else:
            for module in modules:
                btf = modules.get(module)  # a lazy mapping may have lost one (unloaded, unreadable)
                if btf is None:
                    continue
                searched.append(module)
                btf_id = _btf_lookup(btf, name, kind, own_only=True)
                if btf_id is not None:
                    hit = (module, btf, btf_id)
                    break
        if hit is None:
            out[ext.name] = KsymTarget(ext.name, ext.kind, False, source="vmlinux", searched=tuple(searched),
                                       kernel_name=renamed)
            continue
        where, btf, btf_id = hit
        mismatch = _mismatch(ext, local, where, btf, btf_id) if local is not None else None
        module = "" if where == "vmlinux" else where
        if mismatch is not None:
            out[ext.name] = KsymTarget(ext.name, ext.kind, False, source=where, searched=tuple(searched),
                                       kernel_name=renamed, mismatch=mismatch)
        else:
            out[ext.name] = KsymTarget(ext.name, ext.kind, True, btf_id=btf_id, source=where, module=module,
                                       kernel_name=renamed)
    return out


def _mismatch(ext: KsymExtern, local: Btf, where: str, kernel: Btf, kernel_id: int) -> KsymMismatch | None:
    """None when the kernel's FUNC/VAR ``kernel_id`` has a type compatible with the extern's, else why not.

    A kfunc compares prototypes; a variable its type, typedefs and
    qualifiers skipped on both sides (``bpf_core_types_are_compat``, as
    libbpf).  A chain too deep to compare is incompatible.
    """
    try:
        lt, kt = local[ext.local_type_id], kernel[kernel_id]
        if ext.kind is KsymKind.KFUNC:
            lid, kid = lt.type_id, kt.type_id  # type: ignore[attr-defined]  # FUNC → its FUNC_PROTO
        else:
            lid, kid = skip_mods(local, lt.type_id), skip_mods(kernel, kt.type_id)  # type: ignore[attr-defined]
        if types_compatible(local, lid, kernel, kid):
            return None
    except BtfError:
        pass
    from ..btf.c import declaration  # only to say why: the C renderer is not a load's business

    try:
        mine, theirs = declaration(local, ext.local_type_id), declaration(kernel, kernel_id)
    except BtfError:
        mine, theirs = f"[{ext.local_type_id}]", f"[{kernel_id}]"
    return KsymMismatch(where, mine, theirs)


def refused(ext: KsymExtern, target: KsymTarget) -> bool:
    """Whether a program using ``ext`` cannot load: a strong extern not found, or a variable whose type
    does not match the kernel's, weak or not (libbpf's rule: only a weak kfunc's mismatch reads as absent)."""
    if target.found:
        return False
    if target.mismatch is not None and ext.kind is KsymKind.TYPED:
        return True
    return not ext.weak


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
