"""Write notebooks 02-04 from their cells (then run tools/refresh_notebooks.sh on them).

Usage: ``.venv/bin/python tools/build_notebooks.py [02|03|04 ...]`` (default: all three).
The cells live here so a notebook can be regenerated after an API change; the
stored outputs come from executing it (as root, for the kernel stages).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nb import code, md, write  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# A guard shared by the notebooks that talk to the kernel: Binder users (no
# CAP_BPF) get a one-line explanation instead of a traceback.
GUARD = '''
from bpfnb import kernel

PRIVILEGED = kernel.can_use_bpf()


def needs_bpf(what: str) -> bool:
    """True when bpf() is usable; otherwise say what this cell would have shown."""
    if not PRIVILEGED:
        print(f"needs CAP_BPF: this is a dry run, so {what} is not shown here.")
    return PRIVILEGED


print("privileged: real syscalls" if PRIVILEGED else "unprivileged: dry run (no CAP_BPF / CAP_SYS_ADMIN)")
'''


# --- 02 · BTF ------------------------------------------------------------------------------

NB02 = [
    md("""
# 2 · BTF: the types behind everything

**BTF** (BPF Type Format) is a compact description of C types: integers, pointers, arrays, structs with their
member offsets, enums, function prototypes, global variables. clang writes one into every object (`.BTF`, with
`.BTF.ext` beside it for per-instruction records), and the kernel carries one describing itself
(`/sys/kernel/btf/vmlinux`). A loader needs both: the object's BTF says what the maps and globals *are*, the
kernel's says where a struct member *is* on this kernel, and the verifier uses the pair to check and explain.

This notebook reads both, renders types as C and as tables, draws their references, lines instructions up with
their source, and rewrites an object's BTF for an older kernel. Nothing here needs privileges.
"""),
    code("""
import difflib
import pandas as pd
import bpfnb
from bpfnb import examples

obj = bpfnb.Object.from_file(examples.path("packet_counter"))
obj.btf
"""),
    md("""
## The object's BTF

An object's BTF is small: the types its code and maps mention, one `FUNC` per function, a `VAR` per global and a
`DATASEC` per data section. `to_dataframe()` gives one row per type, straight from the parsed index.
"""),
    code("""
obj.btf.to_dataframe().tail(12)
"""),
    md("""
## How `.maps` is encoded

A BTF map definition is a global variable in section `.maps` whose type is an anonymous struct. Its members are
not data: libbpf's macros turn every *number* into a type, because types are all BTF can carry.
`__uint(max_entries, 256)` expands to `int (*max_entries)[256]`: a pointer to an array whose **length** is the
value. `__type(key, __u8)` is `__u8 *key`: a pointer to the key type. The loader reads the lengths and pointees back.
"""),
    code("""
from bpfnb.btf.c import render_type_definition

btf = obj.btf
maps_sec = btf.find(".maps", "datasec")
for vs in maps_sec.vars:
    print(render_type_definition(btf, vs.type_id), end="\\n\\n")
"""),
    code("""
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
"""),
    md("""
The map specs the parse stage built from those records (type 5 is `BPF_MAP_TYPE_PERCPU_HASH`; `verdicts` has
`max_entries` 2 because `VERDICT_MAX` is the enum's third value):
"""),
    code("""
obj.maps["proto_stats"]
"""),
    md("""
## The kernel's BTF

`Btf.from_sys_fs()` indexes `/sys/kernel/btf/vmlinux` (a few MB, over a hundred thousand types) without decoding
each type: kinds, names and sizes are numpy columns, types are decoded on access. The counts per kind describe
this kernel build; most of the types are function prototypes and a `FUNC` for each kernel function.
"""),
    code("""
vmlinux = bpfnb.Btf.from_sys_fs()
vmlinux
"""),
    code("""
counts = pd.Series({k.name: n for k, n in vmlinux.kind_counts().items()}, name="types").sort_values(ascending=False)
counts.to_frame()
"""),
    md("""
## A struct as C and as a table

`vmlinux[name]` finds a type by name and renders it as C plus a member table (offsets in bytes, bit offsets
for bitfields). `struct iphdr` has both a bitfield pair and an anonymous union wrapping the addresses, which
is why a member path such as `saddr` has to look through anonymous members.
"""),
    code("""
vmlinux["iphdr"]
"""),
    code("""
vmlinux["iphdr"].to_dataframe()
"""),
    md("""
`struct bpf_map_info` is what `BPF_OBJ_GET_INFO_BY_FD` fills for a map; bpfnb's cffi declaration of it is
checked against this very type, member by member, by a test.
"""),
    code("""
vmlinux["bpf_map_info"]
"""),
    md("""
`task_struct` is huge (hundreds of members, several kilobytes): the view stays bounded, and here we look at its
first members only. `member_offset` walks a member path the way CO-RE does, through nested and anonymous structs.
"""),
    code("""
task = vmlinux["task_struct"]
print(f"struct task_struct: {task.size} bytes, {len(task.members)} members")
task.to_dataframe().head(8)
"""),
    code("""
loc = vmlinux.member_offset("task_struct", "se.sum_exec_runtime")
print(f"task_struct->se.sum_exec_runtime: byte offset {loc.offset}")
"""),
    md("""
## A type graph

`type_graph(name, depth)` draws the types a type refers to, `depth` named hops away; pointers, arrays and
qualifiers (`const`, `volatile`) are folded into the edges, typedefs are nodes of their own. (The SVG is not compared by the notebook tests: graphviz versions lay it out differently.)
"""),
    code("""
vmlinux.type_graph("iphdr", depth=2)
"""),
    md("""
## Line info: which source line made which instruction

`.BTF.ext` holds, per program section, `line_info` records: an instruction's byte offset, and the file, line,
column and the text of the C line that produced it (offsets into the BTF string table). The loader re-bases
them when it appends subprograms (notebook 3) and hands them to the kernel, so the verifier log can quote source.
"""),
    code("""
records = obj.btf_ext.line_info["xdp"]
pd.DataFrame(
    [(r.insn_off, r.insn_index, r.line_num, r.column, r.line.strip()) for r in records],
    columns=["byte offset", "insn", "line", "col", "source"],
)
"""),
    md("""
Put beside the instructions, each record labels the run of instructions up to the next record:
"""),
    code("""
from bpfnb.asm.disasm import format_instruction

prog = obj.programs["xdp_count"]
by_slot = {r.insn_index: r for r in records}
rows, slot = [], 0
for insn in prog.instructions:
    r = by_slot.get(slot)
    rows.append((slot, format_instruction(insn), f"{r.line_num}: {r.line.strip()}" if r else ""))
    slot += insn.slots
pd.DataFrame(rows, columns=["slot", "instruction", "source line (when it changes)"]).head(16)
"""),
    md("""
## Fix-up: what clang leaves to the loader

clang cannot know a data section's final size nor where a *global* variable sits in it (a linker would), so every
`DATASEC` comes out with size 0 and its variables at offset 0. The kernel refuses that; the loader fills both in
from the ELF section and symbol tables. `fixup` returns the new BTF and one change per rewritten type.
"""),
    code("""
from bpfnb.btf.sanitize import BtfFeatures, fixup, sanitize

fixed = fixup(obj.btf, obj)
fixed
"""),
    md("""
## Sanitization for an older kernel

A kernel rejects BTF with kinds newer than itself. Before loading, libbpf, Aya and bpfnb probe which kinds the
kernel knows (see the features table in notebook 4) and replace the others **in place**, so every type id the
programs' func_info and the maps refer to stays valid. Here: a kernel without `DATASEC`/`VAR` (before 5.2),
`FLOAT`, `DECL_TAG`, `TYPE_TAG` and `ENUM64`. This object only uses the first two: data sections become structs,
variables become 1-byte ints.
"""),
    code("""
old = BtfFeatures(datasec=False, float=False, decl_tag=False, type_tag=False, enum64=False)
print(old)
clean = sanitize(fixed.btf, old)
clean
"""),
    md("""
The same change as C: `DATASEC`s have no C spelling, so they are absent before; after, `.rodata` is a struct
named `_rodata` (struct names must be identifiers) with a member per variable at the variable's offset. Each
member's type is the old `VAR`, now a 1-byte `INT` that kept the variable's name: the kernel only checks that it
fits, and nothing reads these types any more.
"""),
    code("""
diff = difflib.unified_diff(fixed.btf.to_c().splitlines(), clean.btf.to_c().splitlines(),
                            "fixed-up", "sanitized for the old kernel", n=1, lineterm="")
print("\\n".join(diff))
"""),
    md("""
The other replacements, on a few types built by hand with `bpfnb.btf.writer.write_types`: a `double`
(`FLOAT`), a pointer through a `__user` type tag, a 64-bit enum and a declaration tag on a struct member.
"""),
    code("""
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
"""),
    code("""
san = sanitize(synthetic, old)
san
"""),
    code("""
print(san.btf.to_c(["sample"]))
"""),
    md("""
## C rendering

`to_c(types)` writes the given types and everything they need, in dependency order, as a compilable header (the
same as `bpftool btf dump file ... format c`, which a test compares with). With no argument it renders every type:
that is how `vmlinux.h` is made.
"""),
    code("""
print(vmlinux.to_c(["ethhdr", "iphdr"]))
"""),
    code("""
print(obj.btf.to_c())
"""),
]


# --- 03 · maps and relocation -------------------------------------------------------------

NB03 = [
    md("""
# 3 · Maps and relocation

Between the object file (notebook 1) and a loaded program, a loader does three things the compiler could not:
it loads the object's **BTF** (fixed up), **creates the maps** (and the maps holding global data, writing their
initial values), and **relocates** each program: map references become map file descriptors, calls to
subprograms get their offsets once the subprograms are appended, and the BTF records that point at instructions
move with them.

`EbpfLoader.pipeline(path)` runs those stages one call at a time; each call returns a result that renders what
it did. Without CAP_BPF the same pipeline is a **dry run**: no syscalls, placeholder fds, relocation still done.
"""),
    code("""
import pandas as pd
import bpfnb
from bpfnb import examples
"""
         + GUARD),
    md("""
## Parse

`set_global` is applied when the data maps are written: `packet_counter` drops frames shorter than
`min_len`, a `const volatile` global in `.rodata` that user space sets before load.
"""),
    code("""
path = examples.path("packet_counter")
p = bpfnb.EbpfLoader().set_global("min_len", 64).pipeline(path)
p.next()
"""),
    md("""
## BTF: fix-up, then `BPF_BTF_LOAD`

The fix-up gives each `DATASEC` its size and each global variable its offset (notebook 2). The result is
loaded into the kernel, which hands back a BTF object; its kernel id is marked live (it changes every run).
A dry run shows the same fix-up, not loaded.
"""),
    code("""
p.next()
"""),
    md("""
## Maps

Every `.maps` entry becomes a `BPF_MAP_CREATE`, and so does every data section: `.rodata` and `.bss` become
one-entry array maps whose single value is the whole section. Kernel map names are at most 15 characters, so
internal maps are named like libbpf does it: the first 8 characters of the object's name, then the section
(`packet_c.rodata`). Flags: `0x400` is `BPF_F_MMAPABLE`, `0x80` `BPF_F_RDONLY_PROG` (programs may not write
`.rodata`). Ids are assigned by the kernel and masked in the stored output.
"""),
    code("""
p.next()
"""),
    md("""
## Global data, read back

The `.rodata` map was written with the section's initial bytes, `min_len` replaced by 64. Reading its only
value back and decoding each variable through its BTF type (`bpfnb.btf.codec.Codec`) shows what the program
will see. A dry run computes the same bytes without a map.
"""),
    code("""
from bpfnb.btf.codec import Codec
from bpfnb.kernel.maps import initial_data

rodata = p.obj.data[".rodata"]
expected = initial_data(rodata, {"min_len": 64}, btf=p.obj.btf)
if PRIVILEGED:
    raw = p.maps[".rodata"].lookup((0).to_bytes(4, "little"))
    assert raw == expected
else:
    raw = expected
print("bytes:", raw.hex(" "))
pd.DataFrame(
    [(v.name, v.type_name, v.offset, raw[v.offset:v.offset + v.size].hex(" "),
      Codec(p.obj.btf, v.type_id).decode(raw[v.offset:v.offset + v.size])) for v in rodata.variables],
    columns=["variable", "type", "offset", "bytes", "value"],
)
"""),
    md("""
## `.rodata` is frozen

After writing it, the loader **freezes** `.rodata` (`BPF_MAP_FREEZE`): from then on user space cannot change it
either, so the verifier may treat its values as constants, and prune the branches they decide.
"""),
    code("""
from bpfnb.errors import KernelError, errno_name

if needs_bpf("the frozen map's refusal"):
    try:
        p.maps[".rodata"].update((0).to_bytes(4, "little"), bytes(5))
    except KernelError as exc:
        print(f"{type(exc).__name__}: {errno_name(exc.errno)} — the map is frozen")
"""),
    md("""
## Relocate

Each program is relocated on its own: its instructions, then every subprogram it calls (here `account`, from
`.text`) appended after them. The view lists each patched instruction before and after: `call pc-1` (a call
whose target was unknown to the compiler) becomes a relative call to where `account` now starts; `r1 = 0x0 ll`
becomes `map[fd:N]` (`BPF_PSEUDO_MAP_FD`: the kernel swaps the fd for the map) or `map_value[fd:N]+off`
(`BPF_PSEUDO_MAP_VALUE`: the address of a global inside its data map). fds are masked in the stored output.
"""),
    code("""
p.next()
"""),
    code("""
rel = p.relocated["xdp_count"]
rel
"""),
    md("""
As a table, with the slot in the function the relocation came from:
"""),
    code("""
rel.to_dataframe()[["slot", "kind", "symbol", "function", "origin_slot", "before", "note"]]
"""),
    md("""
## Subprograms appended, func_info and line_info re-based

`account` is appended to *each* program that calls it, at a different place: after `xdp_count`'s 29 slots,
after `tc_count`'s 32. Its `func_info` record (the BTF `FUNC` for the subprogram) and its `line_info` records
move with it: the records from `.text` get the subprogram's new start added to their instruction index.
"""),
    code("""
pd.DataFrame(
    [(name, sub, start, r.insn_cnt) for name, r in p.relocated.items() for sub, start in r.subprograms],
    columns=["program", "subprogram", "appended at slot", "total slots"],
)
"""),
    code("""
pd.DataFrame(
    [(name, f.name, f.slot, f.type_id) for name, r in p.relocated.items() for f in r.func_info],
    columns=["program", "function", "slot", "BTF FUNC id"],
)
"""),
    code("""
text_lines = {r.line_num: r.insn_index for r in p.obj.btf_ext.line_info[".text"]}
rows = []
for name, r in p.relocated.items():
    start = dict(r.subprograms)["account"]
    for li in r.line_info:
        if li.slot >= start and li.line_num in text_lines and len(rows) < 8:
            rows.append((name, li.line_num, li.line.strip(), text_lines[li.line_num], li.slot))
pd.DataFrame(rows, columns=["program", "line", "source", "slot in .text", "slot in program"])
"""),
    md("""
The pipeline so far. `close()` releases every kernel object it created (maps, BTF); loading is notebook 4.
"""),
    code("""
p
"""),
    code("""
p.close()
"""),
    md("""
## Without privileges: a dry run, side by side

`dry_run()` forces what Binder gets: no syscalls. BTF is fixed up but not loaded, maps get **placeholder fds**
(1000 and up, obviously not real), relocation runs for real against them, and the load stage says what it
would have sent.
"""),
    code("""
dry = bpfnb.EbpfLoader().set_global("min_len", 64).dry_run().pipeline(path).run()
dry
"""),
    code("""
dry.results["maps"]
"""),
    md("""
The relocated instructions are the same as in the privileged run except for the fd in the immediate: relocation
does not care what the numbers are. An `ld_imm64` carries 64 bits: for `map_value` the low half is the fd and the
high half the variable's offset in its section (`drop_proto` is at 4); for the call, the immediate is the jump to
the appended subprogram. (Here the privileged run is redone, to compare; it is itself a dry run when
this notebook runs without CAP_BPF.)
"""),
    code("""
with bpfnb.EbpfLoader().set_global("min_len", 64).pipeline(path) as real:
    real.run("relocate")
    rows = []
    for a_real, a_dry in zip(real.relocated["xdp_count"].applied, dry.relocated["xdp_count"].applied):
        same_but_imm = a_real.after.with_(imm=0) == a_dry.after.with_(imm=0)
        imm = a_dry.after.imm
        rows.append((a_real.slot, a_real.kind.value, a_real.symbol, imm & 0xFFFFFFFF, imm >> 32, same_but_imm))
pd.DataFrame(rows, columns=["slot", "kind", "symbol", "dry-run imm (low 32 bits)", "imm high 32 bits",
                            "same instruction but the immediate"])
"""),
    code("""
dry.results["load"]
"""),
]


# --- 04 · load and verify ------------------------------------------------------------------

NB04 = [
    md("""
# 4 · Load and verify

`BPF_PROG_LOAD` hands the relocated instructions, with their BTF func_info and line_info, to the **verifier**.
It walks every path of the program, tracking what each register and stack slot holds, and either accepts the
program (then rewrites it: the *xlated* program, and JIT-compiles it) or rejects it with a log saying which
instruction it could not prove safe, and why.

This notebook asks the kernel what it supports, loads `packet_counter` with the verifier log on, reads back what
the kernel made of it, and explains a rejected program. Every kernel cell needs CAP_BPF; without it, each says so.
"""),
    code("""
import pandas as pd
import bpfnb
from bpfnb import examples
from bpfnb.errors import errno_name
"""
         + GUARD),
    md("""
## What this kernel supports

`kernel.features()` probes once per process, by trying: load a tiny program of each type, create a map of each
type, load BTF with each newer kind (the answers drive BTF sanitization, notebook 2). Three answers: `yes`, `no`,
and `unknown` when the kernel refused for another reason (unprivileged: everything is unknown).
"""),
    code("""
feats = kernel.features()
feats
"""),
    code("""
df = feats.to_dataframe()
df[df.group == "feature"].set_index("name")[["support"]].T
"""),
    md("""
## Load with the verifier log

`verifier_log_level(2)` asks for the full log: every instruction the verifier visits, with the register state
after it. (At level 1 the kernel keeps only the path that failed, so a successful load logs just the summary
line; a failed load is retried at level 1 to get the explanation.) The loader keeps the log on the program. bpfnb parses it into rows: instructions, states, branches, with the source line from line_info.
"""),
    code("""
path = examples.path("packet_counter")
p = bpfnb.EbpfLoader().verifier_log_level(2).pipeline(path).run()
p.results["load"].summary
"""),
    code("""
if needs_bpf("the verifier log"):
    prog = p.programs["xdp_count"]
    vlog = prog.verifier_log
    print(repr(vlog))
    display(vlog)
"""),
    md("""
The same log as a DataFrame, e.g. to see which source lines cost the verifier most work (it visits an
instruction once per path that reaches it):
"""),
    code("""
if needs_bpf("the verifier log"):
    frame = vlog.to_dataframe()
    insns = frame[(frame.kind == "insn") & frame.line.notna()].astype({"line": int})
    display(insns.groupby(["line", "source"]).size().rename("instructions visited")
            .sort_values(ascending=False).head(8).to_frame())
"""),
    md("""
## What the kernel made of it

`info()` is `BPF_OBJ_GET_INFO_BY_FD`. The **tag** is a SHA-1 of the instructions as sent, map fds zeroed: the
same for a given object and kernel whichever loader sends them (tests compare bpfnb's with libbpf's; CO-RE may
patch an object's instructions differently on another kernel). Ids and load times change every run; they are
left out here.
"""),
    code("""
if needs_bpf("program info"):
    rows = {}
    for name, prog in p.programs.items():
        info = prog.info()
        rows[name] = {"type": info.type.name.lower(), "tag": info.tag, "insns sent": p.relocated[name].insn_cnt,
                      "xlated insns": info.xlated_prog_len // 8, "verified insns": info.verified_insns,
                      "func_info": info.nr_func_info, "line_info": info.nr_line_info, "GPL": info.gpl_compatible}
    display(pd.DataFrame(rows).T)
"""),
    md("""
The **xlated** program is what the verifier left, and it is not what was sent. Code that can never run is gone:
`.rodata` is frozen and `min_len` is the constant 0 here, so the test `len < min_len` is known to be false and
was removed. Helper calls and map lookups are rewritten to kernel-internal forms: the `verdicts` array lookup
becomes inline pointer arithmetic, and the per-CPU hash lookup calls the hash table's own lookup function, then
turns the per-CPU pointer into this CPU's with an instruction only the kernel may emit (`movsx` with `off=-1`). Map references now hold the map's kernel id, masked here.
"""),
    code("""
if needs_bpf("the xlated program"):
    display(p.programs["xdp_count"].xlated())
"""),
    code("""
p.close()
"""),
    md("""
## A rejected program, explained

`bpfnb/examples/rejected.bpf.c` has two XDP programs that differ by one check. `no_bounds_check` verifies that
the Ethernet header fits in the packet, then reads the IP header's protocol byte without checking that the IP
header fits too:
"""),
    code("""
src = examples.source("rejected")
print(src[src.index('SEC("xdp")'):src.index("SEC(\\"fentry")])
"""),
    md("""
Loading the object loads what it can: the load stage reports each program's outcome, and the failures are
kept in `program_errors`, each a typed error carrying the parsed verifier log.
"""),
    code("""
rej = bpfnb.EbpfLoader().pipeline(examples.path("rejected")).run()
print(rej.results["load"].summary)
for name, exc in rej.program_errors.items():
    print(f"{name}: {type(exc).__name__}")
"""),
    md("""
The log view puts the error first, then the source line of the failing instruction, then the instructions
leading up to it, the failing one highlighted. `r=14` is the range the verifier *knows* is in the packet (the
14-byte Ethernet header it saw checked); the read at offset 23 (14 + 9, the IP `protocol` field) is beyond it.
"""),
    code("""
if needs_bpf("the verifier's rejection"):
    err = rej.program_errors["no_bounds_check"]
    print(f"{type(err).__name__}: errno {errno_name(err.errno)}")
    display(err.verifier_log)
"""),
    code("""
if needs_bpf("the verifier's rejection"):
    log = err.verifier_log
    row = log.row_of_error()
    print(f"failing instruction {log.error_index}: {row.text}")
    print(f"source line {row.source_line}: {row.source}")
    print("verifier says:", *log.error_lines, sep="\\n  ")
"""),
    md("""
With the check added, the same code loads:
"""),
    code("""
if needs_bpf("the accepted program"):
    ok = rej.programs["bounds_checked"]
    print(ok.name, "loaded; tag", ok.info().tag)
"""),
    md("""
## fentry on this kernel

`on_unlink` is an `fentry` program: it attaches through a **BPF trampoline** to the kernel function
`do_unlinkat`, found by name in the kernel's BTF (its id is the program's `attach_btf_id`). Some kernels refuse
trampolines even to a privileged process (lockdown, an LSM, no architecture support): the kernel answers `EPERM`,
which bpfnb reports as an `UnsupportedFeature` naming the target, not as a missing privilege.
"""),
    code("""
if needs_bpf("the fentry load"):
    if "on_unlink" in rej.programs:
        print("this kernel accepts fentry programs: on_unlink loaded")
    else:
        exc = rej.program_errors["on_unlink"]
        print(f"{type(exc).__name__} (errno {errno_name(exc.errno)})")
        print(f"attach target: {exc.attach_target.name} ({exc.attach_target.kind} in vmlinux BTF)")
        print(exc)
"""),
    code("""
rej.close()
"""),
    md("""
## From the command line

`bpfnb load OBJ --json` runs the same pipeline and prints each program's outcome and each map (exit status 1
when a program failed or nothing was loaded). Kernel ids are masked in the stored output.
"""),
    code("""
from bpfnb.cli import main

status = main(["load", str(path), "--json"])
print("exit status", status)
"""),
    md("""
For a program the kernel refuses, `error` holds the end of the verifier log (or the error, when there is no log):
"""),
    code("""
status = main(["load", str(examples.path("rejected")), "--json"])
print("exit status", status)
"""),
]


NOTEBOOKS = {
    "02": ("notebooks/02-btf.ipynb", NB02),
    "03": ("notebooks/03-maps-and-relocation.ipynb", NB03),
    "04": ("notebooks/04-load-and-verify.ipynb", NB04),
}


def main(argv: list[str]) -> None:
    for key in argv or list(NOTEBOOKS):
        path, cells = NOTEBOOKS[key]
        write(str(ROOT / path), cells)
        print("wrote", path)


if __name__ == "__main__":
    main(sys.argv[1:])
