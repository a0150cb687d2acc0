# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5 · CO-RE relocations: one object, many kernels
#
# A BPF program that reads kernel memory (`task->pid`, `mm->arg_start`) needs the kernel's **struct layouts**, and
# those differ between kernel versions and configurations: members move, get renamed, change type, disappear.
# Compiling against one kernel's headers would bake in *that* kernel's offsets.
#
# **CO-RE** (*compile once, run everywhere*) moves that decision to load time. Types declared with
# `__attribute__((preserve_access_index))` make clang emit, next to each instruction that depends on a layout, a
# **relocation record** in `.BTF.ext`: *which* type, *which* member path (an access string like `0:3:0`), and *what*
# about it the instruction needs (its offset, size, signedness, bitfield shifts, existence; a type's existence, size
# or id; an enumerator's existence or value). The loader resolves every record against the target kernel's BTF and
# patches the instruction. `bpfnb.btf.core` does that in Python, following libbpf's rules record for record (a test
# compares every decision with libbpf 1.1's debug log).

# %% tags=["nbval-check-output"]
import pandas as pd

import bpfnb
from bpfnb import examples
from bpfnb.btf import Btf
from bpfnb.btf.core_patch import apply_core_relocations
from bpfnb.btf.core_portability import edit_btf, find_guard
from bpfnb.obj.core import check_portability, core_relocations

path = examples.path("core_kinds")     # shipped with bpfnb: no clang needed
src = examples.source("core_kinds")
print(src[src.index("struct task_struct {"):src.index("/* a type no kernel has */")])

# %% [markdown]
# ## The records clang wrote
#
# `tests/bpf/core_kinds.bpf.c` declares a few kernel types itself (no `vmlinux.h`) and uses every kind of CO-RE
# relocation. The records live in `.BTF.ext`, per ELF section, each naming an instruction (by byte offset), a local
# BTF type, an access string and a kind:

# %% tags=["nbval-check-output"]
obj = bpfnb.Object.from_file(path)
records = [
    (section, r.insn_index, r.kind.name, obj.btf.name_of(r.type_id), r.access)
    for section, relos in obj.btf_ext.core_relos.items() for r in relos
]
pd.DataFrame(records, columns=["section", "insn (in section)", "kind", "local type", "access"]).head(12)

# %% tags=["nbval-check-output"]
pd.Series([k for _, _, k, _, _ in records]).value_counts().rename("records per kind").to_frame()

# %% [markdown]
# ## Resolving against a kernel
#
# `core_relocations(obj)` resolves every record against the running kernel's `/sys/kernel/btf/vmlinux`, as a load
# does; pass any `Btf` (or a list: vmlinux first, then module BTFs) to resolve against another kernel. Offsets and
# type ids are exactly what differs between kernel builds, so this notebook resolves against a fixed one, the
# same on every machine: `examples.kernel_btf()`, a snapshot of one Linux 6.18 kernel's BTF shipped with bpfnb
# (`examples.KERNEL_BTF_RELEASE`). Everything below is that kernel's answer; a cell further down checks yours.
#
# For each record: parse the access string against the local type, find the
# kernel types with the same **essential name** (`task_struct___old` → `task_struct`), match the member path by
# *names*, compute the local and the kernel value, and check the instruction holds the local value before patching it.
# Changed rows are highlighted; poisoned ones are red.

# %% tags=["nbval-check-output"]
vmlinux = examples.kernel_btf()       # a fixed kernel; Btf.from_sys_fs() is the one you run
print("target: snapshot of Linux", examples.KERNEL_BTF_RELEASE)
table = core_relocations(obj, vmlinux)
table

# %% [markdown]
# ## Each kind, resolved
#
# One row per kind. `old` is what the compiler put in the instruction (from the local declaration), `new` what that
# kernel needs. Field offsets move (our `struct task_struct` has 11 members, the kernel's several hundred); sizes,
# signedness and the bitfield shift amounts follow the kernel's declaration; existence checks answer 0 or 1; type ids
# point into the kernel's BTF.

# %% tags=["nbval-check-output"]
df = table.to_dataframe()
df.drop_duplicates("kind")[["program", "insn", "kind", "local_path", "target_path", "old", "new", "poisoned"]]

# %% [markdown]
# ### A field reached through nested structs
#
# `prev->se.sum_exec_runtime`: the access string `0:3:0` walks member 3 of our `task_struct` (`se`), then member 0
# of `struct sched_entity`. In the kernel the same names lead elsewhere. The graph draws both walks; shaded cells are
# offsets that differ between the local declaration and the kernel.

# %% tags=["nbval-check-output"]
r = next(r for r in table if r.local_path == "task_struct->se.sum_exec_runtime")
r

# %% tags=["nbval-check-output"]
r.graph()

# %% [markdown]
# ### Anonymous members are see-through
#
# Our `struct mm_struct` wraps `arg_start` in an anonymous struct, and so does the kernel, at a different depth and
# offset. CO-RE matches *named* members, descending into anonymous ones on both sides.

# %% tags=["nbval-check-output"]
next(r for r in table if r.local_path == "mm_struct->arg_start").graph()

# %% [markdown]
# ### Bitfields
#
# `BPF_CORE_READ_BITFIELD(prev, in_execve)` asks for five facts about one bitfield: the byte offset and size of the
# smallest integer load that covers it, whether it is signed, and the two shifts that extract it from a 64-bit
# register. The kernel packs `in_execve` differently from our declaration, so the load width and the left shift change.

# %% tags=["nbval-check-output"]
df[df.local_path == "task_struct->in_execve"][["insn", "kind", "old", "new"]]

# %% [markdown]
# ### Types and enumerators
#
# `bpf_core_type_size`, `bpf_core_type_id_kernel`, `bpf_core_type_matches` and `bpf_core_enum_value` resolve a whole
# type or one enumerator. `type_matches` is stricter than existence: our `struct callback_head` has a member the
# kernel's lacks, so it does not match, and the explanation lists the candidate and why it was rejected.

# %% tags=["nbval-check-output"]
next(r for r in table if r.kind_label == "type_matches" and "callback_head" in r.local_path)

# %% [markdown]
# ## A failing relocation and its guard
#
# Kernels before 5.14 called `task_struct.__state` `state`. The fixture declares that older layout as a **flavor**,
# `struct task_struct___old`, and reads `state` only if the field exists:
#
# ```c
# if (bpf_core_field_exists(old->state))
#     out[13] = BPF_CORE_READ(old, state);
# ```
#
# On the snapshot kernel (as on every kernel since 5.14, where `state` became `__state`) the existence check resolves to 0, and the read has no candidate: its instruction is **poisoned**,
# replaced by a call to the non-existent helper `0xbad2310`. The verifier never reaches it (the branch before it is
# now `if 0`), so the program loads. Unguarded, the verifier would reject the program and name that instruction.

# %% tags=["nbval-check-output"]
failing = next(r for r in table if r.local_path == "task_struct___old->state" and r.kind_label == "byte_off")
failing

# %% tags=["nbval-check-output"]
guard = find_guard(failing, table)
print(guard.describe(), "at insn", guard.slot, "guards insn", failing.slot)

# %% [markdown]
# `apply_core_relocations` patches a program's instructions and annotates each patched slot (the relocate stage calls
# it for the program and each subprogram). Around the guard:

# %% tags=["nbval-check-output"]
prog = obj.programs["core_kinds"]
patched = apply_core_relocations(prog.instructions, table.for_program("core_kinds"))
patched[patched.index_at_slot(75):patched.index_at_slot(83)]

# %% [markdown]
# ## Your kernel
#
# The same records resolved against the running kernel, as a load here would. Its offsets are its own (the table is
# marked as this kernel's, and the notebook tests mask it); what holds on every kernel is printed above it: each
# field offset the loader would patch in is the one the kernel's BTF gives for that member path.

# %% tags=["nbval-check-output"]
from bpfnb.display import this_kernel

mine = Btf.from_sys_fs()
live = core_relocations(obj, mine, errors="collect")


def kernel_member(r):
    struct, path = r.target_path.split("->", 1)
    return mine.member_offset(struct, path)


plain = [r for r in live if r.kind_label == "byte_off" and not r.poisoned and kernel_member(r).bitfield_size == 0]
agree = all(r.new_value == kernel_member(r).offset for r in plain)
print(f"{len(live)} records resolved against this kernel; each field's byte offset equals "
      f"mine.member_offset(...).offset: {agree}")
this_kernel(live.to_dataframe().drop_duplicates("kind")[["insn", "kind", "local_path", "old", "new", "poisoned"]],
            "CO-RE resolved against this kernel")

# %% [markdown]
# ## Portability: the same object on other kernels
#
# Will the object load on a kernel we do not run? `check_portability` resolves it against any number of BTFs (a
# `/sys/kernel/btf/vmlinux` copied from another machine, BTFHub files) and compares every record with a baseline,
# by default the running kernel, here the snapshot. We build a what-if kernel from the snapshot with `edit_btf`: `__state` renamed back to `state`, `pid` and
# `tgid` swapped, the `in_execve` bitfield removed, `flags` widened, and an enumerator inserted before `PIDTYPE_MAX`.

# %% tags=["nbval-check-output"]
from dataclasses import replace
from bpfnb.btf import EnumValue

task = vmlinux.find("task_struct", "struct")
pid, tgid = task.member("pid"), task.member("tgid")
ulong = vmlinux.find("long unsigned int", "int").id
members = []
for m in task.members:
    if m.name == "in_execve":
        continue
    members.append({
        "__state": lambda: replace(m, name="state"),
        "pid": lambda: replace(m, bit_offset=tgid.bit_offset),
        "tgid": lambda: replace(m, bit_offset=pid.bit_offset),
        "flags": lambda: replace(m, type_id=ulong),
    }.get(m.name, lambda: m)())
pid_type = vmlinux.find("pid_type", "enum")
values = [v if v.name != "PIDTYPE_MAX" else EnumValue("PIDTYPE_NEW", v.value) for v in pid_type.values]
values.append(EnumValue("PIDTYPE_MAX", len(values)))
older = edit_btf(vmlinux, {task.id: replace(task, members=tuple(members)),
                           pid_type.id: replace(pid_type, values=tuple(values))}, source="older")

report = check_portability(obj, {"snapshot": vmlinux, "older": older}, baseline=vmlinux)
report

# %% [markdown]
# The renamed field now *exists*, so the guarded read resolves; `pid` and `tgid` trade places; `PIDTYPE_MAX` is 5.
# But the bitfield read of `in_execve` is not guarded by an existence check: on that kernel the program would be
# rejected. The same report is a DataFrame, and `bpfnb core-check OBJ --btf FILE ...` prints it (or `--json`) with
# a non-zero exit status for CI.

# %% tags=["nbval-check-output"]
rep = report.to_dataframe()
rep[(rep.kernel == "older") & (rep.status != "same")][["insn", "kind", "access", "baseline", "value", "status"]]

# %% tags=["nbval-check-output"]
moved = next(e.relocation for e in report.entries if e.kernel == "older" and e.relocation.local_path == "task_struct->pid")
moved.graph()
