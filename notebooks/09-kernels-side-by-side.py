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
# # 9 · Kernels side by side: BTF diffs and CO-RE portability
#
# CO-RE exists because kernels move their structs around: a program compiled against one kernel's
# `vmlinux.h` reads `task_struct->mm` at whatever offset *that* kernel had. `Btf.diff` shows the
# moves themselves — types added, removed and changed, member by member — between any two BTFs,
# matched by kind and name as CO-RE matches them (type ids mean nothing across kernels).
#
# The kernels here are real: Debian's packaged kernels, whose `/sys/kernel/btf/vmlinux` the kernel
# matrix (`make test-kernels`) captured into `tests/testdata/kernels/`, and the 6.18 snapshot shipped
# with bpfnb. They are files, so this notebook reads the same on every machine.

# %% tags=["nbval-check-output"]
from pathlib import Path

from bpfnb import examples
from bpfnb.btf import Btf

KERNELS = Path("../tests/testdata/kernels")
debian = {p.name.removesuffix(".btf.xz"): Btf.from_file(p) for p in sorted(KERNELS.glob("debian-*.btf.xz"))}
kernels = {**debian, f"snapshot {examples.KERNEL_BTF_RELEASE}": examples.kernel_btf()}
{name: f"{len(btf) - 1:,} types" for name, btf in kernels.items()}

# %% [markdown]
# ## What changed in the structs programs read most
#
# `names=` limits the comparison to a few types (a whole-kernel diff takes seconds and lists thousands
# of types). Members inside anonymous structs and unions are seen through, so a member that moved
# inside one is reported under its own name.

# %% tags=["nbval-check-output"]
oldest, newest = next(iter(kernels.values())), kernels[f"snapshot {examples.KERNEL_BTF_RELEASE}"]
watched = ["task_struct", "sk_buff", "bpf_attr", "bpf_prog_info", "bpf_map_info", "xdp_md", "__sk_buff"]
diff = oldest.diff(newest, names=watched)
diff

# %% [markdown]
# One type's changes, as text: `bpf_map_info` is what `bpftool map show` reads; new kernels append
# members, which is why the kernel takes the struct's size from user space.

# %% tags=["nbval-check-output"]
print("\n".join(str(change) for change in diff["bpf_map_info"].changes))

# %% [markdown]
# As a DataFrame the changes group and count like any other data: here, what kind of change each
# watched struct went through.

# %% tags=["nbval-check-output"]
df = diff.to_dataframe()
df.groupby(["name", "change"], observed=True).size().unstack(fill_value=0)

# %% [markdown]
# ## A program across kernels
#
# `core-check` (and `check_portability` behind it) resolves an object's CO-RE records against each
# kernel's BTF without loading anything: for every record the value it gets, whether it fails, and
# whether a guard (`bpf_core_field_exists`) protects the failing read. The `core_kinds` example reads
# task_struct, mm_struct and enum values in every way CO-RE can.

# %% tags=["nbval-check-output"]
from bpfnb.obj.core import check_portability
from bpfnb.obj import Object

obj = Object.from_file(examples.path("core_kinds"))
report = check_portability(obj, kernels, baseline=newest)
report

# %% tags=["nbval-check-output"]
report.to_dataframe().groupby(["kernel", "status"], observed=True).size().unstack(fill_value=0)
