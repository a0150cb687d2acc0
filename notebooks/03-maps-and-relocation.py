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
# # 3 · Maps and relocation
#
# Between the object file (notebook 1) and a loaded program, a loader does three things the compiler could not:
# it loads the object's **BTF** (fixed up), **creates the maps** (and the maps holding global data, writing their
# initial values), and **relocates** each program: map references become map file descriptors, calls to
# subprograms get their offsets once the subprograms are appended, and the BTF records that point at instructions
# move with them.
#
# `EbpfLoader.pipeline(path)` runs those stages one call at a time; each call returns a result that renders what
# it did. Without CAP_BPF the same pipeline is a **dry run**: no syscalls, placeholder fds, relocation still done.

# %%
import pandas as pd
import bpfnb
from bpfnb import examples

from bpfnb import kernel

PRIVILEGED = kernel.can_use_bpf()


def needs_bpf(what: str) -> bool:
    """True when bpf() is usable; otherwise say what this cell would have shown."""
    if not PRIVILEGED:
        print(f"needs CAP_BPF: this is a dry run, so {what} cannot be shown here.")
    return PRIVILEGED


print("privileged: real syscalls" if PRIVILEGED else "unprivileged: dry run (no CAP_BPF / CAP_SYS_ADMIN)")

# %% [markdown]
# ## Parse
#
# `set_global` is applied when the data maps are written: `packet_counter` drops frames shorter than
# `min_len`, a `const volatile` global in `.rodata` that user space sets before load.

# %% tags=["nbval-check-output"]
path = examples.path("packet_counter")
p = bpfnb.EbpfLoader().set_global("min_len", 64).pipeline(path)
p.next()

# %% [markdown]
# ## BTF: fix-up, then `BPF_BTF_LOAD`
#
# The fix-up gives each `DATASEC` its size and each global variable its offset (notebook 2). The result is
# loaded into the kernel, which hands back a BTF object; its kernel id is marked live (it changes every run).
# A dry run shows the same fix-up, not loaded.

# %%
p.next()

# %% [markdown]
# ## Maps
#
# Every `.maps` entry becomes a `BPF_MAP_CREATE`, and so does every data section: `.rodata` and `.bss` become
# one-entry array maps whose single value is the whole section. Kernel map names are at most 15 characters, so
# internal maps are named like libbpf does it: the first 8 characters of the object's name, then the section
# (`packet_c.rodata`). Flags: `0x400` is `BPF_F_MMAPABLE`, `0x80` `BPF_F_RDONLY_PROG` (programs may not write
# `.rodata`). Ids are assigned by the kernel and masked in the stored output.

# %%
p.next()

# %% [markdown]
# ## Global data, read back
#
# The `.rodata` map was written with the section's initial bytes, `min_len` replaced by 64. Reading its only
# value back and decoding each variable through its BTF type (`bpfnb.btf.codec.Codec`) shows what the program
# will see. A dry run computes the same bytes without a map.

# %% tags=["nbval-check-output"]
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

# %% [markdown]
# ## `.rodata` is frozen
#
# After writing it, the loader **freezes** `.rodata` (`BPF_MAP_FREEZE`): from then on user space cannot change it
# either, so the verifier may treat its values as constants, and prune the branches they decide.

# %%
from bpfnb.errors import KernelError, errno_name

if needs_bpf("the frozen map's refusal"):
    try:
        p.maps[".rodata"].update((0).to_bytes(4, "little"), bytes(5))
    except KernelError as exc:
        print(f"{type(exc).__name__}: {errno_name(exc.errno)} — the map is frozen")

# %% [markdown]
# ## Relocate
#
# Each program is relocated on its own: its instructions, then every subprogram it calls (here `account`, from
# `.text`) appended after them. The view lists each patched instruction before and after: `call pc-1` (a call
# whose target was unknown to the compiler) becomes a relative call to where `account` now starts; `r1 = 0x0 ll`
# becomes `map[fd:N]` (`BPF_PSEUDO_MAP_FD`: the kernel swaps the fd for the map) or `map_value[fd:N]+off`
# (`BPF_PSEUDO_MAP_VALUE`: the address of a global inside its data map). fds are masked in the stored output.

# %%
p.next()

# %% tags=["nbval-check-output"]
rel = p.relocated["xdp_count"]
rel

# %% [markdown]
# As a table, with the slot in the function the relocation came from:

# %%
rel.to_dataframe()[["slot", "kind", "symbol", "function", "origin_slot", "before", "note"]]

# %% [markdown]
# ## Subprograms appended, func_info and line_info re-based
#
# `account` is appended to *each* program that calls it, at a different place: after `xdp_count`'s 29 slots,
# after `tc_count`'s 32. Its `func_info` record (the BTF `FUNC` for the subprogram) and its `line_info` records
# move with it: the records from `.text` get the subprogram's new start added to their instruction index.

# %% tags=["nbval-check-output"]
pd.DataFrame(
    [(name, sub, start, r.insn_cnt) for name, r in p.relocated.items() for sub, start in r.subprograms],
    columns=["program", "subprogram", "appended at slot", "total slots"],
)

# %% tags=["nbval-check-output"]
pd.DataFrame(
    [(name, f.name, f.slot, f.type_id) for name, r in p.relocated.items() for f in r.func_info],
    columns=["program", "function", "slot", "BTF FUNC id"],
)

# %% tags=["nbval-check-output"]
text_lines = {r.line_num: r.insn_index for r in p.obj.btf_ext.line_info[".text"]}
rows = []
for name, r in p.relocated.items():
    start = dict(r.subprograms)["account"]
    for li in r.line_info:
        if li.slot >= start and li.line_num in text_lines and len(rows) < 8:
            rows.append((name, li.line_num, li.line.strip(), text_lines[li.line_num], li.slot))
pd.DataFrame(rows, columns=["program", "line", "source", "slot in .text", "slot in program"])

# %% [markdown]
# The pipeline so far. `close()` releases every kernel object it created (maps, BTF); loading is notebook 4.

# %%
p

# %%
p.close()

# %% [markdown]
# ## Without privileges: a dry run, side by side
#
# `dry_run()` forces what Binder gets: no syscalls. BTF is fixed up but not loaded, maps get **placeholder fds**
# (1000 and up, obviously not real), relocation runs for real against them, and the load stage says what it
# would have sent.

# %% tags=["nbval-check-output"]
dry = bpfnb.EbpfLoader().set_global("min_len", 64).dry_run().pipeline(path).run()
dry

# %% tags=["nbval-check-output"]
dry.results["maps"]

# %% [markdown]
# The relocated instructions are the same as in the privileged run except for the fd in the immediate: relocation
# does not care what the numbers are. An `ld_imm64` carries 64 bits: for `map_value` the low half is the fd and the
# high half the variable's offset in its section (`drop_proto` is at 4); for the call, the immediate is the jump to
# the appended subprogram. (Here the privileged run is redone, to compare; it is itself a dry run when
# this notebook runs without CAP_BPF.)

# %% tags=["nbval-check-output"]
with bpfnb.EbpfLoader().set_global("min_len", 64).pipeline(path) as real:
    real.run("relocate")
    rows = []
    for a_real, a_dry in zip(real.relocated["xdp_count"].applied, dry.relocated["xdp_count"].applied):
        same_but_imm = a_real.after.with_(imm=0) == a_dry.after.with_(imm=0)
        imm = a_dry.after.imm
        rows.append((a_real.slot, a_real.kind.value, a_real.symbol, imm & 0xFFFFFFFF, imm >> 32, same_but_imm))
pd.DataFrame(rows, columns=["slot", "kind", "symbol", "dry-run imm (low 32 bits)", "imm high 32 bits",
                            "same instruction but the immediate"])

# %% tags=["nbval-check-output"]
dry.results["load"]
