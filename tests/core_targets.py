"""Synthetic "other kernels" for CO-RE tests, built from the committed BTF snapshot with bpfnb's writer.

No downloads: each is a vmlinux BTF with a few edits
(:func:`bpfnb.btf.core_portability.edit_btf`), chosen so that every rule
the fixtures exercise gives a *different* answer than on the unedited
BTF.  The BTF edited is ``bpfnb.examples.kernel_btf()`` unless another is
passed: a snapshot of one kernel, the same on every machine, so the ids,
offsets and counts tests expect from these targets hold whatever kernel
runs the tests (``Btf.from_sys_fs()`` differs build to build).

``older``  ``task_struct.__state`` renamed ``state`` (as before 5.14),
           ``pid``/``tgid`` swapped, ``in_execve`` removed (an unguarded
           bitfield read fails), ``flags`` widened to ``unsigned long``,
           ``enum pid_type`` gains an enumerator before ``PIDTYPE_MAX``,
           and a second, identical ``list_head___2`` flavor (two candidates
           that agree);
``conflict`` a ``task_struct___3`` flavor whose ``pid`` sits elsewhere:
           candidates disagree, so records on ``pid`` cannot be resolved;
``random_kernel(seed)`` random layout changes to every type the fixtures read,
           for the differential test against libbpf.
"""

from __future__ import annotations

from dataclasses import replace

from bpfnb import examples
from bpfnb.btf import Btf, Enum, EnumValue, Member, Struct
from bpfnb.btf.core_portability import edit_btf


def snapshot() -> Btf:
    """The BTF the synthetic kernels derive from by default: ``examples.kernel_btf()``."""
    return examples.kernel_btf()


def _struct(btf: Btf, name: str) -> Struct:
    t = btf.find(name, "struct")
    assert isinstance(t, Struct)
    return t


def older_kernel(vmlinux: Btf | None = None) -> Btf:
    """The ``older`` target described above."""
    vmlinux = vmlinux if vmlinux is not None else snapshot()
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


def conflict_kernel(vmlinux: Btf | None = None) -> Btf:
    """The ``conflict`` target described above."""
    vmlinux = vmlinux if vmlinux is not None else snapshot()
    task = _struct(vmlinux, "task_struct")
    members = tuple(replace(m, bit_offset=m.bit_offset + 32) if m.name == "pid" else m for m in task.members)
    flavor = Struct(len(vmlinux), "task_struct___3", task.size, members)
    return edit_btf(vmlinux, add=[flavor], source="conflict")


def member(btf: Btf, struct: str, name: str) -> Member:
    return _struct(btf, struct).member(name)


#: Types the core_* fixtures read, mutated by :func:`random_kernel`.
FIXTURE_TYPES = ("task_struct", "mm_struct", "sched_entity", "dentry", "qstr", "cred", "pid", "upid", "file",
                 "path", "fs_struct", "files_struct", "fdtable", "nsproxy", "pid_namespace", "signal_struct",
                 "list_head", "callback_head")
FIXTURE_ENUMS = ("pid_type", "perf_event_state", "rpm_status")


def random_kernel(vmlinux: Btf | None, seed: int) -> Btf:
    """``vmlinux`` (default: the snapshot) with random layout changes to the types the fixtures use.

    Deterministic per seed and base BTF.

    Per struct, with some probability: two members trade offsets, a member
    is renamed or removed, an integer member changes width or sign; per
    enum: values shift, an enumerator disappears.  Whatever the result, we
    and libbpf must decide every record the same way.
    """
    import random

    vmlinux = vmlinux if vmlinux is not None else snapshot()
    rng = random.Random(seed)
    ints = [vmlinux.find(n, "int").id for n in ("int", "unsigned int", "long unsigned int", "short int", "char")]
    changes = {}
    for name in FIXTURE_TYPES:
        t = _struct(vmlinux, name)
        members = list(t.members)
        named = [i for i, m in enumerate(members) if m.name and not m.bitfield_size]
        if len(named) >= 2 and rng.random() < 0.6:
            a, b = rng.sample(named, 2)
            members[a], members[b] = (replace(members[a], bit_offset=members[b].bit_offset),
                                      replace(members[b], bit_offset=members[a].bit_offset))
        if named and rng.random() < 0.3:
            i = rng.choice(named)
            members[i] = replace(members[i], name=members[i].name + "_renamed")
        if named and rng.random() < 0.2:
            del members[rng.choice(named)]
        ints_here = [i for i, m in enumerate(members) if vmlinux.kind_of(vmlinux.resolve(m.type_id)).name == "INT"
                     and not m.bitfield_size]
        if ints_here and rng.random() < 0.4:
            i = rng.choice(ints_here)
            members[i] = replace(members[i], type_id=rng.choice(ints))
        changes[t.id] = replace(t, members=tuple(members))
    for name in FIXTURE_ENUMS:
        e = vmlinux.find(name, "enum")
        assert isinstance(e, Enum)
        values = [EnumValue(v.name, v.value + rng.choice((0, 0, 1, -3))) for v in e.values]
        if rng.random() < 0.3:
            del values[rng.randrange(len(values))]
        changes[e.id] = replace(e, values=tuple(values))
    return edit_btf(vmlinux, changes, source=f"random{seed}")
