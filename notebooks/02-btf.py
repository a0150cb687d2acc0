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
# # 2 · BTF: the types behind everything
#
# **BTF** (BPF Type Format) is a compact description of C types: integers, pointers, arrays, structs with their
# member offsets, enums, function prototypes, global variables. clang writes one into every object (`.BTF`, with
# `.BTF.ext` beside it for per-instruction records), and the kernel carries one describing itself
# (`/sys/kernel/btf/vmlinux`). A loader needs both: the object's BTF says what the maps and globals *are*, the
# kernel's says where a struct member *is* on this kernel, and the verifier uses the pair to check and explain.
#
# This notebook reads both, renders types as C and as tables, draws their references, lines instructions up with
# their source, and rewrites an object's BTF for an older kernel. Nothing here needs privileges.

# %% tags=["nbval-check-output"]
import difflib
import pandas as pd
import bpfnb
from bpfnb import examples

obj = bpfnb.Object.from_file(examples.path("packet_counter"))
obj.btf

# %% [markdown]
# ## The object's BTF
#
# An object's BTF is small: the types its code and maps mention, one `FUNC` per function, a `VAR` per global and a
# `DATASEC` per data section. `to_dataframe()` gives one row per type, straight from the parsed index.

# %% tags=["nbval-check-output"]
obj.btf.to_dataframe().tail(12)

# %% [markdown]
# ## How `.maps` is encoded
#
# A BTF map definition is a global variable in section `.maps` whose type is an anonymous struct. Its members are
# not data: libbpf's macros turn every *number* into a type, because types are all BTF can carry.
# `__uint(max_entries, 256)` expands to `int (*max_entries)[256]`: a pointer to an array whose **length** is the
# value. `__type(key, __u8)` is `__u8 *key`: a pointer to the key type. The loader reads the lengths and pointees back.

# %% tags=["nbval-check-output"]
from bpfnb.btf.c import render_type_definition

btf = obj.btf
maps_sec = btf.find(".maps", "datasec")
for vs in maps_sec.vars:
    print(render_type_definition(btf, vs.type_id), end="\n\n")

# %% tags=["nbval-check-output"]
from bpfnb.btf import Array

rows = []
for vs in maps_sec.vars:
    var = btf[vs.type_id]
    for m in btf[var.type_id].members:
        target = btf[btf[m.type_id].type_id]          # every member is a pointer
        if isinstance(target, Array):
            rows.append((var.name, m.name, f"PTR → ARRAY[{target.nelems}]", target.nelems))
        else:
            rows.append((var.name, m.name, f"PTR → {target.kind.name} {target.name}", btf.name_of(target.id)))
pd.DataFrame(rows, columns=["map", "member", "BTF", "decoded as"])

# %% [markdown]
# The map specs the parse stage built from those records (type 5 is `BPF_MAP_TYPE_PERCPU_HASH`; `verdicts` has
# `max_entries` 2 because `VERDICT_MAX` is the enum's third value):

# %% tags=["nbval-check-output"]
obj.maps["proto_stats"]

# %% [markdown]
# ## The kernel's BTF
#
# `Btf.from_sys_fs()` indexes `/sys/kernel/btf/vmlinux` (a few MB, over a hundred thousand types) without decoding
# each type: kinds, names and sizes are numpy columns, types are decoded on access.
#
# Everything in a kernel's BTF is particular to its build: type ids, counts, the size and member offsets of
# `task_struct` change with the kernel version, its configuration, even the compiler. So that this page reads the
# same on every machine (and on Binder), it uses a **snapshot**: `examples.kernel_btf()`, the BTF of one Linux 6.18
# kernel shipped with bpfnb (`examples.KERNEL_BTF_RELEASE`), parsed once. Replace it by `Btf.from_sys_fs()` to
# explore your own kernel: the same calls work on both, only the numbers differ.

# %% tags=["nbval-check-output"]
vmlinux = examples.kernel_btf()        # a fixed kernel: the same ids and offsets everywhere
print("snapshot of Linux", examples.KERNEL_BTF_RELEASE)
vmlinux

# %% [markdown]
# The counts per kind describe that kernel build: most of the types are function prototypes and a `FUNC` for each
# kernel function.

# %% tags=["nbval-check-output"]
counts = pd.Series({k.name: n for k, n in vmlinux.kind_counts().items()}, name="types").sort_values(ascending=False)
counts.to_frame()

# %% [markdown]
# Your running kernel's BTF, beside the snapshot: the same names, its own ids and layout. Its values are marked as
# this kernel's (the notebook tests mask them), because they differ between kernel builds. A learner's
# check that holds on every kernel: a member path resolves to an offset inside its struct on both.

# %% tags=["nbval-check-output"]
from bpfnb.display import this_kernel

mine = bpfnb.Btf.from_sys_fs()
rows = []
for name, path in (("iphdr", "saddr"), ("task_struct", "pid"), ("sk_buff", "len")):
    theirs, ours = vmlinux.find(name, "struct"), mine.find(name, "struct")
    rows.append({"struct": name, "member": path,
                 "snapshot id": theirs.id, "snapshot size": theirs.size, "snapshot offset": vmlinux.member_offset(name, path).offset,
                 "this kernel id": ours.id, "this kernel size": ours.size, "this kernel offset": mine.member_offset(name, path).offset})
both = pd.DataFrame(rows).set_index(["struct", "member"])
print("inside the struct on both kernels:",
      all(0 <= r["snapshot offset"] < r["snapshot size"] and 0 <= r["this kernel offset"] < r["this kernel size"] for r in rows))
display(both.filter(like="snapshot"))
this_kernel(both.filter(like="this kernel"), "this kernel's ids, sizes and offsets")

# %% [markdown]
# ## A struct as C and as a table
#
# `vmlinux[name]` finds a type by name and renders it as C plus a member table (offsets in bytes, bit offsets
# for bitfields). `struct iphdr` has both a bitfield pair and an anonymous union wrapping the addresses, which
# is why a member path such as `saddr` has to look through anonymous members.

# %% tags=["nbval-check-output"]
vmlinux["iphdr"]

# %% tags=["nbval-check-output"]
vmlinux["iphdr"].to_dataframe()

# %% [markdown]
# `struct bpf_map_info` is what `BPF_OBJ_GET_INFO_BY_FD` fills for a map; bpfnb's cffi declaration of it is
# checked against the running kernel's, member by member, by a test.

# %% tags=["nbval-check-output"]
vmlinux["bpf_map_info"]

# %% [markdown]
# `task_struct` is huge (hundreds of members, several kilobytes): the view stays bounded, and here we look at its
# first members only. `member_offset` walks a member path the way CO-RE does, through nested and anonymous structs.

# %% tags=["nbval-check-output"]
task = vmlinux["task_struct"]
print(f"struct task_struct: {task.size} bytes, {len(task.members)} members")
task.to_dataframe().head(8)

# %% tags=["nbval-check-output"]
loc = vmlinux.member_offset("task_struct", "se.sum_exec_runtime")
print(f"task_struct->se.sum_exec_runtime: byte offset {loc.offset}")

# %% [markdown]
# ## A type graph
#
# `type_graph(name, depth)` draws the types a type refers to, `depth` named hops away; pointers, arrays and
# qualifiers (`const`, `volatile`) are folded into the edges, typedefs are nodes of their own. (The SVG is not compared by the notebook tests: graphviz versions lay it out differently.)

# %% tags=["nbval-check-output"]
vmlinux.type_graph("iphdr", depth=2)

# %% [markdown]
# ## Line info: which source line made which instruction
#
# `.BTF.ext` holds, per program section, `line_info` records: an instruction's byte offset, and the file, line,
# column and the text of the C line that produced it (offsets into the BTF string table). The loader re-bases
# them when it appends subprograms (notebook 3) and hands them to the kernel, so the verifier log can quote source.

# %% tags=["nbval-check-output"]
records = obj.btf_ext.line_info["xdp"]
pd.DataFrame(
    [(r.insn_off, r.insn_index, r.line_num, r.column, r.line.strip()) for r in records],
    columns=["byte offset", "insn", "line", "col", "source"],
)

# %% [markdown]
# Put beside the instructions, each record labels the run of instructions up to the next record:

# %% tags=["nbval-check-output"]
from bpfnb.asm.disasm import format_instruction

prog = obj.programs["xdp_count"]
by_slot = {r.insn_index: r for r in records}
rows, slot = [], 0
for insn in prog.instructions:
    r = by_slot.get(slot)
    rows.append((slot, format_instruction(insn), f"{r.line_num}: {r.line.strip()}" if r else ""))
    slot += insn.slots
pd.DataFrame(rows, columns=["slot", "instruction", "source line (when it changes)"]).head(16)

# %% [markdown]
# ## Fix-up: what clang leaves to the loader
#
# clang cannot know a data section's final size nor where a *global* variable sits in it (a linker would), so every
# `DATASEC` comes out with size 0 and its variables at offset 0. The kernel refuses that; the loader fills both in
# from the ELF section and symbol tables. `fixup` returns the new BTF and one change per rewritten type.

# %% tags=["nbval-check-output"]
from bpfnb.btf.sanitize import BtfFeatures, fixup, sanitize

fixed = fixup(obj.btf, obj)
fixed

# %% [markdown]
# ## Sanitization for an older kernel
#
# A kernel rejects BTF with kinds newer than itself. Before loading, libbpf, Aya and bpfnb probe which kinds the
# kernel knows (see the features table in notebook 4) and replace the others **in place**, so every type id the
# programs' func_info and the maps refer to stays valid. Here: a kernel without `DATASEC`/`VAR` (before 5.2),
# `FLOAT`, `DECL_TAG`, `TYPE_TAG` and `ENUM64`. This object only uses the first two: data sections become structs,
# variables become 1-byte ints.

# %% tags=["nbval-check-output"]
old = BtfFeatures(datasec=False, float=False, decl_tag=False, type_tag=False, enum64=False)
print(old)
clean = sanitize(fixed.btf, old)
clean

# %% [markdown]
# The same change as C: `DATASEC`s have no C spelling, so they are absent before; after, `.rodata` is a struct
# named `_rodata` (struct names must be identifiers) with a member per variable at the variable's offset. Each
# member's type is the old `VAR`, now a 1-byte `INT` that kept the variable's name: the kernel only checks that it
# fits, and nothing reads these types any more.

# %% tags=["nbval-check-output"]
diff = difflib.unified_diff(fixed.btf.to_c().splitlines(), clean.btf.to_c().splitlines(),
                            "fixed-up", "sanitized for the old kernel", n=1, lineterm="")
print("\n".join(diff))

# %% [markdown]
# The other replacements, on a few types built by hand with `bpfnb.btf.writer.write_types`: a `double`
# (`FLOAT`), a pointer through a `__user` type tag, a 64-bit enum and a declaration tag on a struct member.

# %% tags=["nbval-check-output"]
from bpfnb.btf import Btf, DeclTag, Enum64, EnumValue, Float, Int, IntEncoding, Member, Ptr, Struct, TypeTag
from bpfnb.btf.writer import write_types

types = [
    Int(1, "int", 4, IntEncoding.SIGNED, 0, 32),
    Float(2, "double", 8),
    TypeTag(3, "user", 1),
    Ptr(4, "", 3),
    Enum64(5, "big_flags", 8, False, (EnumValue("LOW", 1), EnumValue("HIGH", 1 << 40))),
    Struct(6, "sample", 24, (Member("value", 2, 0), Member("where", 4, 64), Member("flags", 5, 128))),
    DeclTag(7, "unit:seconds", 6, 0),
]
synthetic = Btf.from_bytes(write_types(types), source="hand-made")
print(synthetic.to_c(["sample"]))

# %% tags=["nbval-check-output"]
san = sanitize(synthetic, old)
san

# %% tags=["nbval-check-output"]
print(san.btf.to_c(["sample"]))

# %% [markdown]
# ## C rendering
#
# `to_c(types)` writes the given types and everything they need, in dependency order, as a compilable header (the
# same as `bpftool btf dump file ... format c`, which a test compares with). With no argument it renders every type:
# that is how `vmlinux.h` is made.

# %% tags=["nbval-check-output"]
print(vmlinux.to_c(["ethhdr", "iphdr"]))

# %% tags=["nbval-check-output"]
print(obj.btf.to_c())
