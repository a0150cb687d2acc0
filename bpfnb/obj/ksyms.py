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

This module finds the externs and models a resolution; looking them up in
the kernel is ``bpfnb.kernel.ksyms``'s job, so relocation stays pure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..btf.types import Func, Kind, Var

if TYPE_CHECKING:
    from .object import Object

__all__ = ["KSYMS_SECTION", "KsymExtern", "KsymKind", "KsymTarget", "ksym_externs"]

KSYMS_SECTION = ".ksyms"


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
    #: 0 for vmlinux; for a module, the index of its BTF fd in ``fd_array``.
    btf_fd_index: int = 0
    #: Kernel address of an untyped variable.
    address: int = 0
    #: Which BTF or table answered ("vmlinux", a module name, "kallsyms").
    source: str = ""
    #: Not found and not weak: a program using it cannot be relocated.
    required: bool = False

    def describe(self) -> str:
        if not self.found:
            return f"{self.kind.value} {self.name}: not in this kernel (weak: 0)"
        if self.kind is KsymKind.UNTYPED:
            return f"{self.name} → address from {self.source}"
        return f"{self.kind.value} {self.name} → {self.source} BTF id {self.btf_id}"


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
