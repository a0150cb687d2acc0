#!/bin/sh
# Runs inside a virtme-ng guest booted by tools/kernel_matrix.py: gives the guest
# the environment the kernel tests expect of a host, then runs them.
#   usage: kernel_guest.sh OUT_DIR TREE_TAR [pytest args...]
# The root filesystem is the host's, read-only over 9p; OUT_DIR is the one
# writable share, so everything this run produces goes there (no pytest cache,
# no bytecode written into the worktree).
out=$1; shift
cut -d' ' -f1 /proc/uptime > "$out/boot-seconds"
uname -r > "$out/release"

# 9p without a cache costs a round trip per stat and read, and emulated (TCG)
# round trips are slow: collecting the tests took ~6 minutes, copying the tree
# file by file longer. So the host packs the worktree (with its .venv) and the
# stdlib into one tar (tools/kernel_matrix.py), read here in large sequential
# reads, unpacked into guest RAM and mounted over the same paths. OUT_DIR
# (under build/, which is not packed) is moved aside first so it stays visible.
tree=$1; shift
mkdir -p /run/out && mount --bind "$out" /run/out && out=/run/out
mkdir -p /run/local && tar -C /run/local -xf "$tree"
worktree=$(pwd)
stdlib=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')
for dir in "$worktree" "$stdlib"; do mount --bind "/run/local$dir" "$dir"; done
cd "$worktree"
cut -d' ' -f1 /proc/uptime > "$out/localized-seconds"

mnt() { mountpoint -q "$2" || mount -t "$1" "$1" "$2" || echo "guest: cannot mount $1 on $2"; }
mnt bpf /sys/fs/bpf
mnt tracefs /sys/kernel/tracing
mnt debugfs /sys/kernel/debug
mnt cgroup2 /sys/fs/cgroup
ip link set lo up
# Debian builds these as modules; the host kernel has them built in.
for m in veth sch_ingress cls_bpf act_bpf; do modprobe "$m" 2>/dev/null || echo "guest: no module $m"; done
cp /sys/kernel/btf/vmlinux "$out/vmlinux.btf"

export BPFNB_REQUIRE_KERNEL=1 BPFNB_DIFF_REPORT="$out/differential.jsonl" PYTHONDONTWRITEBYTECODE=1
# releases of packages that run on the emulated x86-64-v2 CPU (kernel_matrix.py GUEST_PACKAGES)
export PYTHONPATH="$worktree/.venv/guest-site${PYTHONPATH:+:$PYTHONPATH}"
# duckdb 1.x calls DataFrame.drop(inplace=True), which pandas 3.1 deprecates on stderr (2.0 does not):
# in a notebook that is output nbval did not record
export PYTHONWARNINGS="ignore:The inplace keyword in DataFrame.drop is deprecated"
# nbval's Jupyter kernels write runtime files; the host's home is read-only here
export JUPYTER_RUNTIME_DIR=/tmp/jupyter-runtime IPYTHONDIR=/tmp/ipython MPLCONFIGDIR=/tmp/matplotlib
# matplotlib builds its font cache on first use and says so on stderr, which nbval takes for
# output the notebook did not record: build it now, quietly
.venv/bin/python -c "import matplotlib.font_manager" > /dev/null 2>&1 || true
start=$(cut -d' ' -f1 /proc/uptime)
.venv/bin/python -m pytest -p no:cacheprovider -q --junitxml="$out/junit.xml" "$@" > "$out/pytest.log" 2>&1
echo $? > "$out/pytest-rc"
echo "$start $(cut -d' ' -f1 /proc/uptime)" | awk '{print $2 - $1}' > "$out/test-seconds"
