"""Synthetic "other kernels" for CO-RE tests, built from this kernel's BTF with bpfnb's writer.

No downloads: each is the running kernel's vmlinux BTF with a few edits
(:func:`bpfnb.btf.core_portability.edit_btf`), chosen so that every rule
the fixtures exercise gives a *different* answer than on the running
kernel:

``older``  ``task_struct.__state`` renamed ``state`` (as before 5.14),
           ``pid``/``tgid`` swapped, ``in_execve`` removed (an unguarded
           bitfield read fails), ``flags`` widened to ``unsigned long``,
           ``enum pid_type`` gains an enumerator before ``PIDTYPE_MAX``,
           and a second, identical ``list_head___2`` flavor (two candidates
           that agree);
``conflict`` a ``task_struct___3`` flavor whose ``pid`` sits elsewhere:
           candidates disagree, so records on ``pid`` cannot be resolved.
"""

from __future__ import annotations

from dataclasses import replace

from bpfnb.btf import Btf, Enum, EnumValue, Member, Struct
from bpfnb.btf.core_portability import edit_btf


def _struct(btf: Btf, name: str) -> Struct:
    t = btf.find(name, "struct")
    assert isinstance(t, Struct)
    return t


def older_kernel(vmlinux: Btf) -> Btf:
    """The ``older`` target described above."""
    task = _struct(vmlinux, "task_struct")
    ulong = vmlinux.find("long unsigned int", "int").id
    pid = task.member("pid")
    tgid = task.member("tgid")
    members = []
    for m in task.members:
        if m.name == "in_execve":
            continue
        if m.name == "__state":
            m = replace(m, name="state")
        elif m.name == "pid":
            m = replace(m, bit_offset=tgid.bit_offset)
        elif m.name == "tgid":
            m = replace(m, bit_offset=pid.bit_offset)
        elif m.name == "flags":
            m = replace(m, type_id=ulong)
        members.append(m)
    pid_type = vmlinux.find("pid_type", "enum")
    assert isinstance(pid_type, Enum)
    values = [v if v.name != "PIDTYPE_MAX" else EnumValue("PIDTYPE_BPFNB", v.value) for v in pid_type.values]
    values.append(EnumValue("PIDTYPE_MAX", pid_type.values[-1].value + 1))
    list_head = _struct(vmlinux, "list_head")
    flavor = Struct(len(vmlinux), "list_head___2", list_head.size, list_head.members)
    return edit_btf(vmlinux, {task.id: replace(task, members=tuple(members)),
                              pid_type.id: replace(pid_type, values=tuple(values))},
                    [flavor], source="older")


def conflict_kernel(vmlinux: Btf) -> Btf:
    """The ``conflict`` target described above."""
    task = _struct(vmlinux, "task_struct")
    members = tuple(replace(m, bit_offset=m.bit_offset + 32) if m.name == "pid" else m for m in task.members)
    flavor = Struct(len(vmlinux), "task_struct___3", task.size, members)
    return edit_btf(vmlinux, add=[flavor], source="conflict")


def member(btf: Btf, struct: str, name: str) -> Member:
    return _struct(btf, struct).member(name)
