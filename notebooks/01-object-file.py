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
# # 1 · The object file
#
# `clang -target bpf` turns C into an **ELF relocatable object**: one section per program (named after the program's type),
# `.text` for shared functions, `.maps` for map definitions, `.data`/`.rodata`/`.bss` for globals, `.BTF` for types, and
# `.rel*` sections saying which instructions must be patched at load.
#
# This notebook walks that file the way a loader does in its first stage, **parse**: no syscalls, nothing loaded.
# Every object shown renders itself: try `obj`, `obj.programs["xdp_count"]`, `obj.maps["verdicts"]`.

# %% tags=["nbval-check-output"]
import pandas as pd
import bpfnb
from bpfnb import examples

path = examples.path("packet_counter")
print(examples.source("packet_counter"))

# %% [markdown]
# ## Parse
#
# `Object.from_file` reads the ELF with pyelftools, classifies each section, decodes every program's instructions,
# records relocations against the instruction they patch, and reads the BTF for map definitions and global variables.

# %% tags=["nbval-check-output"]
obj = bpfnb.Object.from_file(path)
obj

# %% [markdown]
# ## Sections and their kinds
#
# A loader decides what a section is for mostly from its **name**: `xdp` and `tc` are program sections,
# `.maps` holds BTF map definitions, `.rodata` becomes a frozen array map, `.rel<name>` relocates `<name>`.

# %% tags=["nbval-check-output"]
pd.DataFrame(
    [(s.index, s.name, s.kind.value, s.sh_type, s.size) for s in obj.sections[1:]],
    columns=["#", "name", "kind", "ELF type", "size"],
).set_index("#")

# %% [markdown]
# ## Programs and section names
#
# Each function symbol in a program section is one program; its section name gives the program type and the
# expected attach type through libbpf's section-name table (`bpfnb.obj.section_defs`).

# %% tags=["nbval-check-output"]
obj.to_dataframe()

# %% tags=["nbval-check-output"]
from bpfnb.obj.section_defs import match_section

names = ["xdp", "tc", "tracepoint/syscalls/sys_enter_openat", "raw_tp/sys_enter", "fentry/do_unlinkat",
         "cgroup_skb/egress", "uprobe//usr/bin/bash:readline", "lsm.s/file_open", "sk_msg", "not-a-program"]
rows = []
for n in names:
    s = match_section(n)
    rows.append({"section": n,
                 "program type": s.prog_type.name.lower() if s else None,
                 "attach type": s.expected_attach_type.name.lower() if s and s.expected_attach_type is not None else None,
                 "sleepable": bool(s and s.sleepable),
                 "target": s.target if s else None})
pd.DataFrame(rows)

# %% [markdown]
# ## Instructions, line info and relocation records
#
# A program renders as its instructions (8-byte slots; `ld_imm64` takes two), with the C source line from `.BTF.ext`
# above the instructions it produced, and a note on each instruction a relocation will patch.

# %% tags=["nbval-check-output"]
prog = obj.programs["xdp_count"]
prog

# %% tags=["nbval-check-output"]
pd.DataFrame(
    [(r.slot, r.type_name, r.kind.value, r.symbol.name, r.target_section) for r in prog.relocations],
    columns=["slot", "ELF type", "kind", "symbol", "target section"],
)

# %% [markdown]
# `account` lives in `.text`: it is a *subprogram*, appended to each program that calls it when the loader relocates.
# Its `ld_imm64` instructions reference the maps and the `.rodata`/`.bss` globals.

# %% tags=["nbval-check-output"]
obj.functions["account"]

# %% tags=["nbval-check-output"]
obj.functions["account"].to_dataframe().head(12)

# %% [markdown]
# ## Maps and global data
#
# `.maps` entries are decoded from BTF (`__uint(max_entries, 256)` is the array length of a pointer type!).
# Each data section becomes a one-entry array map whose value is the whole section; its variables are typed by BTF.

# %% tags=["nbval-check-output"]
obj.maps["proto_stats"]

# %% tags=["nbval-check-output"]
obj.data[".rodata"]

# %% tags=["nbval-check-output"]
obj.data[".rodata"].map_spec()

# %% [markdown]
# ## The call graph
#
# Programs → subprograms → helpers. Callbacks (e.g. for `bpf_loop`) appear as dashed edges.

# %% tags=["nbval-check-output"]
obj.call_graph()

# %% [markdown]
# ## From the command line
#
# `bpfnb inspect OBJ` prints the same summary; `--json` gives programs and maps, `--html FILE` a standalone report.

# %% tags=["nbval-check-output"]
from bpfnb.cli import main
main(["inspect", str(path), "--json"])

# %% [markdown]
# ## Bad input gets a typed error
#
# A truncated or corrupted object raises a `bpfnb.ParseError` subclass that says where, never an `IndexError`.

# %% tags=["nbval-check-output"]
data = path.read_bytes()
try:
    bpfnb.Object.from_bytes(data[:3000], name="truncated.o")
except bpfnb.ParseError as exc:
    print(type(exc).__name__, "-", exc)
