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
# # 4 · Load and verify
#
# `BPF_PROG_LOAD` hands the relocated instructions, with their BTF func_info and line_info, to the **verifier**.
# It walks every path of the program, tracking what each register and stack slot holds, and either accepts the
# program (then rewrites it: the *xlated* program, and JIT-compiles it) or rejects it with a log saying which
# instruction it could not prove safe, and why.
#
# This notebook asks the kernel what it supports, loads `packet_counter` with the verifier log on, reads back what
# the kernel made of it, and explains a rejected program. Every kernel cell needs CAP_BPF; without it, each says so.
#
# Unlike the other notebooks, this one is about the **running kernel**: which features it has, what its verifier
# logs, how it rewrites a program, whether it allows trampolines all depend on its version and build. Views of
# those answers say so ("this kernel's answer: differs between kernel builds") and the notebook tests mask them;
# what comes from the object file (instructions sent, tags, func and line info counts) is compared as it is.

# %%
import pandas as pd
import bpfnb
from bpfnb import examples
from bpfnb.errors import errno_name

from bpfnb import kernel

PRIVILEGED = kernel.can_use_bpf()


def needs_bpf(what: str) -> bool:
    """True when bpf() is usable; otherwise say what this cell would have shown."""
    if not PRIVILEGED:
        print(f"needs CAP_BPF: this is a dry run, so {what} cannot be shown here.")
    return PRIVILEGED


print("privileged: real syscalls" if PRIVILEGED else "unprivileged: dry run (no CAP_BPF / CAP_SYS_ADMIN)")

# %% [markdown]
# ## What this kernel supports
#
# `kernel.features()` probes once per process, by trying: load a tiny program of each type, create a map of each
# type, load BTF with each newer kind (the answers drive BTF sanitization, notebook 2). Three answers: `yes`, `no`,
# and `unknown` when the kernel refused for another reason (unprivileged: everything is unknown).

# %% tags=["nbval-check-output"]
from bpfnb.display import this_kernel

feats = kernel.features()
this_kernel(feats, "the feature probes")

# %% [markdown]
# As a DataFrame, to query: the features table across, one column per probe.

# %% tags=["nbval-check-output"]
df = feats.to_dataframe()
this_kernel(df[df.group == "feature"].set_index("name")[["support"]].T, "the feature probes")

# %% [markdown]
# ## Load with the verifier log
#
# `verifier_log_level(2)` asks for the full log: every instruction the verifier visits, with the register state
# after it. (At level 1 the kernel keeps only the path that failed, so a successful load logs just the summary
# line; a failed load is retried at level 1 to get the explanation.) The loader keeps the log on the program. bpfnb parses it into rows: instructions, states, branches, with the source line from line_info.

# %%
path = examples.path("packet_counter")
p = bpfnb.EbpfLoader().verifier_log_level(2).pipeline(path).run()
p.results["load"].summary

# %%
if needs_bpf("the verifier log"):
    prog = p.programs["xdp_count"]
    vlog = prog.verifier_log
    print("accepted:", vlog.loaded, "| the log parsed into rows:", len(vlog.to_dataframe()) > 0)
    display(this_kernel(vlog, "the verifier's log"))

# %% [markdown]
# The same log as a DataFrame, e.g. to see which source lines cost the verifier most work (it visits an
# instruction once per path that reaches it):

# %%
if needs_bpf("the verifier log"):
    frame = vlog.to_dataframe()
    insns = frame[(frame.kind == "insn") & frame.line.notna()].astype({"line": int})
    display(this_kernel(insns.groupby(["line", "source"]).size().rename("instructions visited")
                        .sort_values(ascending=False).head(8).to_frame(), "the verifier's work per source line"))

# %% [markdown]
# ## What the kernel made of it
#
# `info()` is `BPF_OBJ_GET_INFO_BY_FD`. Ids and load times change every run; they are left out here. The first
# table is what the object decides, the same on every kernel; the second what this kernel did with it: its
# **tag** (the kernel's SHA-1 of the program, map fds zeroed: the same whichever loader sends the object, as the
# tests check against libbpf, but not across releases: Debian's 6.1 and 6.12 and the 6.18 this was recorded on
# give this object three different tags), how many instructions the verifier left and how many it walked.

# %%
if needs_bpf("program info"):
    sent, verified = {}, {}
    for name, prog in p.programs.items():
        info = prog.info()
        sent[name] = {"type": info.type.name.lower(), "insns sent": p.relocated[name].insn_cnt,
                      "func_info": info.nr_func_info, "line_info": info.nr_line_info, "GPL": info.gpl_compatible}
        verified[name] = {"tag": info.tag, "xlated insns": info.xlated_prog_len // 8,
                          "verified insns": info.verified_insns}
    display(pd.DataFrame(sent).T)
    display(this_kernel(pd.DataFrame(verified).T, "the verifier's result"))

# %% [markdown]
# The **xlated** program is what the verifier left, and it is not what was sent. Code that can never run is gone:
# `.rodata` is frozen and `min_len` is the constant 0 here, so the test `len < min_len` is known to be false and
# was removed. Helper calls and map lookups are rewritten to kernel-internal forms: the `verdicts` array lookup
# becomes inline pointer arithmetic, and the per-CPU hash lookup calls the hash table's own lookup function, then
# turns the per-CPU pointer into this CPU's with an instruction only the kernel may emit (`movsx` with `off=-1`,
# on kernels since 6.7; older ones call a helper instead). Map references now hold the map's kernel id, and helper
# calls the offset of the helper's code in this kernel image: the whole listing is this kernel's.

# %%
if needs_bpf("the xlated program"):
    xlated = p.programs["xdp_count"].xlated()
    sent = p.relocated["xdp_count"].instructions
    print("the verifier rewrote the program:", list(xlated) != list(sent))
    display(this_kernel(xlated, "the xlated program"))

# %%
p.close()

# %% [markdown]
# ## A rejected program, explained
#
# `bpfnb/examples/rejected.bpf.c` has two XDP programs that differ by one check. `no_bounds_check` verifies that
# the Ethernet header fits in the packet, then reads the IP header's protocol byte without checking that the IP
# header fits too:

# %% tags=["nbval-check-output"]
src = examples.source("rejected")
print(src[src.index('SEC("xdp")'):src.index("SEC(\"fentry")])

# %% [markdown]
# Loading the object loads what it can: the load stage reports each program's outcome, and the failures are
# kept in `program_errors`, each a typed error carrying the parsed verifier log.

# %%
rej = bpfnb.EbpfLoader().pipeline(examples.path("rejected")).run()
if needs_bpf("each program's outcome"):
    for name in ("no_bounds_check", "bounds_checked"):   # on_unlink, the third, is for the fentry section
        exc = rej.program_errors.get(name)
        print(f"{name}: {type(exc).__name__ if exc else 'loaded'}")

# %% [markdown]
# The log view puts the error first, then the source line of the failing instruction, then the instructions
# leading up to it, the failing one highlighted. `r=14` is the range the verifier *knows* is in the packet (the
# 14-byte Ethernet header it saw checked); the read at offset 23 (14 + 9, the IP `protocol` field) is beyond it.

# %%
if needs_bpf("the verifier's rejection"):
    err = rej.program_errors["no_bounds_check"]
    print(f"{type(err).__name__}: errno {errno_name(err.errno)}")
    display(this_kernel(err.verifier_log, "the verifier's log"))

# %%
if needs_bpf("the verifier's rejection"):
    log = err.verifier_log
    row = log.row_of_error()
    print(f"failing instruction {log.error_index}: {row.text}")
    print(f"source line {row.source_line}: {row.source}")
    print("verifier says:", *log.error_lines, sep="\n  ")

# %% [markdown]
# With the check added, the same code loads:

# %%
if needs_bpf("the accepted program"):
    ok = rej.programs["bounds_checked"]
    print(ok.name, "loaded; tag", ok.info().tag)

# %% [markdown]
# ## fentry on this kernel
#
# `on_unlink` is an `fentry` program: it attaches through a **BPF trampoline** to the kernel function
# `do_unlinkat`, found by name in the kernel's BTF (its id is the program's `attach_btf_id`). Some kernels refuse
# trampolines even to a privileged process (lockdown, an LSM, no architecture support): the kernel answers `EPERM`,
# which bpfnb reports as an `UnsupportedFeature` naming the target, not as a missing privilege. Others load it.
# Which one happens is this kernel's decision, so the answer is marked as such; the target is found either way.

# %%
if needs_bpf("the fentry load"):
    target = bpfnb.Btf.from_sys_fs().find("do_unlinkat", "func")
    print(f"on_unlink attaches to {target.name} ({target.kind.name} in vmlinux BTF)")
    exc = rej.program_errors.get("on_unlink")
    if exc is None:
        answer = "accepted: on_unlink loaded"
    else:
        answer = f"refused: {type(exc).__name__} (errno {errno_name(exc.errno)}): {exc}"
    display(this_kernel(answer, "this kernel's answer to fentry"))

# %%
rej.close()

# %% [markdown]
# ## From the command line
#
# `bpfnb load OBJ --json` runs the same pipeline and prints each program's outcome and each map (exit status 1
# when a program failed or nothing was loaded). Kernel ids are masked in the stored output.

# %%
from bpfnb.cli import main

status = main(["load", str(path), "--json"])
print("exit status", status)

# %% [markdown]
# For a program the kernel refuses, `error` holds the end of the verifier log (or the error, when there is no log).
# Here, the entry of the rejected program, with the verifier's own verdict lines from its `error` (the lines around
# them, source and register state, change format between kernel versions):

# %%
import contextlib
import io
import json

out = io.StringIO()
with contextlib.redirect_stdout(out):
    status = main(["load", str(examples.path("rejected")), "--json"])
entry = next(e for e in json.loads(out.getvalue())["programs"] if e["name"] == "no_bounds_check")
if entry["error"]:
    entry["error"] = [line for line in entry["error"].splitlines() if "packet" in line]
print(json.dumps(entry, indent=2))
print("exit status", status)
