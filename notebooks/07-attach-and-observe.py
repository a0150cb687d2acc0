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
# # 7 · Attach and observe
#
# A loaded program runs only once it is **attached** somewhere: an XDP program to a network interface, a tracepoint
# program to a tracepoint, a cgroup program to a cgroup directory. Each program type attaches its own way, so
# `bpfnb.programs` has one class per type with its own `attach` signature (as Aya does): `Xdp.attach(interface)`,
# `SchedClassifier.attach(interface, "ingress")`, `TracePoint.attach(category, name)`, `UProbe.attach(binary,
# symbol)`, `CgroupSkb.attach(cgroup_path)`...
#
# An attachment is an object too. Most are **links** (`bpf_link` file descriptors): the program stays attached as
# long as the link lives, `detach()` removes it, and a link can be pinned to outlive the process. This notebook
# attaches a few programs, watches their maps change, runs an XDP program on hand-made packets without any network
# at all (`BPF_PROG_TEST_RUN`), and checks at the end that nothing is left attached. Every kernel cell needs
# CAP_BPF; without it, each says so.

# %%
import atexit
import os
import secrets
import socket
import struct
import subprocess

import pandas as pd
import bpfnb
from bpfnb import examples
from bpfnb.programs import as_typed, auto_attach, class_for_spec, read_globals

from bpfnb import kernel

PRIVILEGED = kernel.can_use_bpf()


def needs_bpf(what: str) -> bool:
    """True when bpf() is usable; otherwise say what this cell would have shown."""
    if not PRIVILEGED:
        print(f"needs CAP_BPF: this is a dry run, so {what} cannot be shown here.")
    return PRIVILEGED


print("privileged: real syscalls" if PRIVILEGED else "unprivileged: dry run (no CAP_BPF / CAP_SYS_ADMIN)")

# The namespace and the pin are this run's own: two runs at once (two users, a test beside a notebook) never
# share or delete each other's.
RUN = f"{os.getpid()}-{secrets.token_hex(3)}"
NETNS = f"bpfnb-nb07-{RUN}"
PIN = f"/sys/fs/bpf/bpfnb-nb07-{RUN}-raw-tp"


@atexit.register
def _clean_up() -> None:
    """Remove the namespace and the pin even when a cell failed half-way (both are absent after a clean run)."""
    if PRIVILEGED:
        subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)
        if os.path.exists(PIN):
            os.unlink(PIN)

# %% [markdown]
# ## One class per program type
#
# The class follows from the program type, and where one type covers several kinds of program (`TRACING` is
# `tp_btf`, `fentry`, `fexit`, `iter`...; `KPROBE` is also uprobes) from the section name. This needs no kernel:
# it reads the object file.

# %% tags=["nbval-check-output"]
rows = []
for name in ("packet_counter", "syscall_counter"):
    obj = bpfnb.Object.from_file(examples.path(name))
    for prog, spec in obj.programs.items():
        rows.append({"object": name, "program": prog, "section": spec.section,
                     "class": class_for_spec(spec).__name__})
pd.DataFrame(rows).set_index(["object", "program"])


# %% [markdown]
# ## Test runs: a program on packets made by hand
#
# `packet_counter`'s XDP program counts packets per IP protocol and drops what two read-only knobs say: frames
# shorter than `min_len`, and the IP protocol `drop_proto`. Set before load (they are `.rodata`), here: drop UDP
# (17) and frames under 60 bytes. The packets are built with `struct`: Ethernet, IPv4, then UDP or TCP.

# %% tags=["nbval-check-output"]
def checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(proto: int, payload: bytes) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                       socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"))
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:] + payload


def ethernet(ethertype: int, payload: bytes) -> bytes:
    return bytes.fromhex("020000000002" "020000000001") + struct.pack("!H", ethertype) + payload


udp = ethernet(0x0800, ipv4(17, struct.pack("!HHHH", 40000, 53, 8 + 32, 0) + bytes(32)))
tcp = ethernet(0x0800, ipv4(6, struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 0x50, 0x02, 65535, 0, 0) + bytes(20)))
packets = {"udp to port 53": udp, "tcp syn to port 80": tcp, "short frame (14 bytes)": udp[:14],
           "tcp, 100 bytes": tcp + bytes(100 - len(tcp))}
{label: len(p) for label, p in packets.items()}

# %%
loader = bpfnb.EbpfLoader().set_global("drop_proto", 17).set_global("min_len", 60)
counter = loader.load_file(examples.path("packet_counter"))
if needs_bpf("the test-run table"):
    xdp = as_typed(counter.programs["xdp_count"])
    print(repr(xdp).split(" tag=")[0] + ">")
    runs = xdp.test_runs(packets)
    display(runs)

# %% [markdown]
# `test_run` returns a `TestRun` (return value, the packet as the program left it, the kernel's timing) and names
# the return value the way the program type means it: `XDP_PASS`/`XDP_DROP`/`XDP_TX` for XDP, `TC_ACT_OK`/
# `TC_ACT_SHOT` for tc, "keep N bytes" for a socket filter. The program really ran: its maps counted the packets.

# %%
if needs_bpf("the verdict counter"):
    verdicts = counter.maps["verdicts"]  # an Array: typed keys (indices) and values (u64)
    print("verdicts map: pass =", verdicts[0], "drop =", verdicts[1])
    print("total_packets global:", read_globals(counter)["total_packets"])

# %% [markdown]
# ## XDP on an interface
#
# To attach to a real interface without touching the machine's traffic, make a network namespace with its own
# loopback, and attach there (`netns=` runs the attach inside the namespace: an interface name or index only means
# something within one). Generic (`"skb"`) mode is the one loopback supports. Then send UDP and TCP to the
# namespace's `127.0.0.1` from a socket created inside it.

# %%
if needs_bpf("the XDP attach"):
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
    counter2 = bpfnb.EbpfLoader().load_file(examples.path("packet_counter"))  # default knobs: drop nothing
    xdp2 = as_typed(counter2.programs["xdp_count"])
    link = xdp2.attach("lo", "skb", netns=NETNS)
    display(link)

# %%
from bpfnb.kernel.attach import in_netns

if needs_bpf("the traffic count"):
    with in_netns(NETNS):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    for i in range(10):
        tx.sendto(b"hello %d" % i, rx.getsockname())
    tx.close(), rx.close()
    stats = counter2.maps["proto_stats"]  # a PerCpuHash: one value per CPU, summed by sum()
    udp_packets = stats.sum(17)["packets"]
    print("UDP packets seen by XDP >= 10:", udp_packets >= 10)

# %% [markdown]
# ## Tracing: where the section says
#
# `syscall_counter`'s program sits in `SEC("raw_tracepoint/sys_enter")`: the section names the attach point, so
# `attach()` needs no argument, and `auto_attach` attaches every program whose section says where (as a libbpf
# skeleton's `attach()` does). The `only_pid` knob restricts counting to this process, so the count of the
# `getppid` calls made below is exact.

# %%
if needs_bpf("the syscall counter"):
    tracer = bpfnb.EbpfLoader().set_global("only_pid", os.getpid()).load_file(examples.path("syscall_counter"))
    progs = {name: as_typed(p) for name, p in tracer.programs.items()}
    links = auto_attach(progs)
    for name, attached in links.items():
        print(name, "->", repr(attached))
    for _ in range(7):
        os.getppid()
    syscalls = tracer.maps["syscalls"]  # a HashMap keyed by struct syscall_key {pid, nr}: a tuple works
    print("getppid calls counted:", syscalls.get((os.getpid(), 110), 0))  # 110: getppid on x86_64

# %% [markdown]
# ## Links are objects
#
# `link.info()` is the kernel's view (`BPF_OBJ_GET_INFO_BY_FD`); ids the kernel assigns are masked in stored
# outputs. A link can be pinned in bpffs: then it outlives its program object (and this process) until someone
# unpins it. `Link.from_pin` and `Link.from_id` get it back.

# %%
from bpfnb.kernel.links import Link

if needs_bpf("pinning"):
    raw_link = links["count_syscalls"]
    raw_link.pin(PIN)
    progs["count_syscalls"].close()  # the program object goes; its pinned link stays
    again = Link.from_pin(PIN)
    print(again.kind, again.target, "attached:", again.attached, "program:", again.program)
    again.detach()  # unpins and detaches
    print("pin removed:", not os.path.exists(PIN))

# %% [markdown]
# ## Nothing left behind
#
# Closing a program detaches the links it made (pinned ones excepted). `system_links()` lists every link on the
# system, as `bpftool link show` does (the tests check the two agree): none of this notebook's links remain, and the
# namespace goes away with its interfaces.

# %%
from bpfnb.kernel.links import system_links

if needs_bpf("the clean-up check"):
    ours = {link.id}
    print("our links attached before clean-up:", len(ours & {info.id for info in system_links()}))
    xdp2.close()
    for ebpf in (counter, counter2, tracer):
        ebpf.close()
    subprocess.run(["ip", "netns", "del", NETNS], check=True)
    print("our links still on the system:", ours & {info.id for info in system_links()})
    print("XDP link attached:", link.attached, "| raw_tp link attached:", raw_link.attached)
    print("namespace gone:", NETNS not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout)
