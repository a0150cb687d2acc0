"""bpfnb.obj.section_defs: libbpf's section-name table and matcher.

Three layers of checks:

1. ``CASES``: representative section names with the program type, attach type,
   sleepability and parsed target that libbpf's documentation
   (Documentation/bpf/libbpf/program_types.rst) gives for them.
2. A differential test against the installed libbpf 1.1 through
   ``libbpf_prog_type_by_name()``.  libbpf reports the raw table value, where
   0 means "no expected attach type" for most program types but
   ``BPF_CGROUP_INET_INGRESS`` for ``cgroup_skb/ingress``.  Rule used here: our
   ``None`` compares equal to libbpf's 0, and a non-``None`` attach type whose
   value is 0 is only allowed for a CGROUP_SKB program.
3. Robustness: unknown and odd names give ``None`` or a section, never an
   exception.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest

from bpfnb.errors import SectionError
from bpfnb.obj.section_defs import (
    SECTION_DEFS,
    AttachTarget,
    AutoAttach,
    MatchRule,
    ProgramSection,
    SectionDef,
    find_section_def,
    match_section,
    require_section,
)
from bpfnb.uapi import AttachType as A
from bpfnb.uapi import ProgType as P

K = AutoAttach

# name, prog type, expected attach type, sleepable, parsed target (AttachTarget fields, kind from the row)
CASES: list[tuple[str, P, A | None, bool, dict | None]] = [
    # sockets and reuseport
    ("socket", P.SOCKET_FILTER, None, False, None),
    ("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT, False, None),
    ("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, False, None),
    # kprobes
    ("kprobe", P.KPROBE, None, False, None),
    ("kprobe/do_unlinkat", P.KPROBE, None, False, {"function": "do_unlinkat", "offset": 0}),
    ("kprobe/do_sys_open+0x10", P.KPROBE, None, False, {"function": "do_sys_open", "offset": 16}),
    ("kprobe/__x64_sys_openat+8", P.KPROBE, None, False, {"function": "__x64_sys_openat", "offset": 8}),
    ("kretprobe", P.KPROBE, None, False, None),
    ("kretprobe/do_unlinkat", P.KPROBE, None, False, {"function": "do_unlinkat", "offset": 0}),
    ("kprobe.multi", P.KPROBE, A.TRACE_KPROBE_MULTI, False, None),
    ("kprobe.multi/tcp_*", P.KPROBE, A.TRACE_KPROBE_MULTI, False, {"pattern": "tcp_*"}),
    ("kretprobe.multi/vfs_rea?", P.KPROBE, A.TRACE_KPROBE_MULTI, False, {"pattern": "vfs_rea?"}),
    ("kprobe.session/bpf_fentry_test*", P.KPROBE, A.TRACE_KPROBE_SESSION, False, {"pattern": "bpf_fentry_test*"}),
    ("ksyscall/openat", P.KPROBE, None, False, {"name": "openat"}),
    ("kretsyscall/close", P.KPROBE, None, False, {"name": "close"}),
    ("ksyscall", P.KPROBE, None, False, None),
    # uprobes and USDT
    ("uprobe", P.KPROBE, None, False, None),
    ("uprobe//bin/bash:readline", P.KPROBE, None, False, {"binary": "/bin/bash", "function": "readline", "offset": 0}),
    ("uprobe/libc.so.6:malloc+0x20", P.KPROBE, None, False, {"binary": "libc.so.6", "function": "malloc", "offset": 32}),
    ("uretprobe//proc/self/exe:uprobed_sub", P.KPROBE, None, False,
     {"binary": "/proc/self/exe", "function": "uprobed_sub", "offset": 0}),
    ("uprobe.s//bin/bash:readline", P.KPROBE, None, True, {"binary": "/bin/bash", "function": "readline"}),
    ("uretprobe.s", P.KPROBE, None, True, None),
    ("uprobe.multi//usr/lib/libc.so.6:str*", P.KPROBE, A.TRACE_UPROBE_MULTI, False,
     {"binary": "/usr/lib/libc.so.6", "pattern": "str*"}),
    ("uretprobe.multi/./a.out:uprobe_multi_func_?", P.KPROBE, A.TRACE_UPROBE_MULTI, False,
     {"binary": "./a.out", "pattern": "uprobe_multi_func_?"}),
    ("uprobe.multi.s/./a.out:f", P.KPROBE, A.TRACE_UPROBE_MULTI, True, {"binary": "./a.out", "pattern": "f"}),
    ("uretprobe.multi.s//bin/true:ma*", P.KPROBE, A.TRACE_UPROBE_MULTI, True, {"binary": "/bin/true", "pattern": "ma*"}),
    ("uprobe.session//bin/true:main", P.KPROBE, A.TRACE_UPROBE_SESSION, False, {"binary": "/bin/true", "pattern": "main"}),
    ("uprobe.session.s", P.KPROBE, A.TRACE_UPROBE_SESSION, True, None),
    ("usdt", P.KPROBE, None, False, None),
    ("usdt/./urandom_read:urand:read_without_sema", P.KPROBE, None, False,
     {"binary": "./urandom_read", "provider": "urand", "name": "read_without_sema"}),
    ("usdt.s/libc.so.6:libc:setjmp", P.KPROBE, None, True, {"binary": "libc.so.6", "provider": "libc", "name": "setjmp"}),
    # traffic control
    ("tc", P.SCHED_CLS, None, False, None),
    ("classifier", P.SCHED_CLS, None, False, None),
    ("action", P.SCHED_ACT, None, False, None),
    ("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS, False, None),
    ("tc/egress", P.SCHED_CLS, A.TCX_EGRESS, False, None),
    ("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS, False, None),
    ("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS, False, None),
    ("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY, False, None),
    ("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER, False, None),
    # tracepoints
    ("tracepoint/syscalls/sys_enter_openat", P.TRACEPOINT, None, False,
     {"category": "syscalls", "name": "sys_enter_openat"}),
    ("tp/sched/sched_switch", P.TRACEPOINT, None, False, {"category": "sched", "name": "sched_switch"}),
    ("tracepoint", P.TRACEPOINT, None, False, None),
    ("raw_tracepoint/sched_switch", P.RAW_TRACEPOINT, None, False, {"name": "sched_switch"}),
    ("raw_tp/sys_enter", P.RAW_TRACEPOINT, None, False, {"name": "sys_enter"}),
    ("raw_tp", P.RAW_TRACEPOINT, None, False, None),
    ("raw_tracepoint.w/bpf_testmod_test_writable_bare", P.RAW_TRACEPOINT_WRITABLE, None, False,
     {"name": "bpf_testmod_test_writable_bare"}),
    ("raw_tp.w/bpf_test_finish", P.RAW_TRACEPOINT_WRITABLE, None, False, {"name": "bpf_test_finish"}),
    ("tp_btf/sched_switch", P.TRACING, A.TRACE_RAW_TP, False, {"name": "sched_switch", "module": None}),
    # BTF tracing, extensions, LSM, iterators
    ("fentry/do_unlinkat", P.TRACING, A.TRACE_FENTRY, False, {"name": "do_unlinkat", "module": None}),
    ("fentry/bpf_testmod:bpf_testmod_test_read", P.TRACING, A.TRACE_FENTRY, False,
     {"name": "bpf_testmod_test_read", "module": "bpf_testmod"}),
    ("fexit/do_unlinkat", P.TRACING, A.TRACE_FEXIT, False, {"name": "do_unlinkat"}),
    ("fmod_ret/security_file_open", P.TRACING, A.MODIFY_RETURN, False, {"name": "security_file_open"}),
    ("fentry.s/__x64_sys_getpgid", P.TRACING, A.TRACE_FENTRY, True, {"name": "__x64_sys_getpgid"}),
    ("fexit.s/do_unlinkat", P.TRACING, A.TRACE_FEXIT, True, {"name": "do_unlinkat"}),
    ("fmod_ret.s/bpf_modify_return_test", P.TRACING, A.MODIFY_RETURN, True, {"name": "bpf_modify_return_test"}),
    ("fentry", P.TRACING, A.TRACE_FENTRY, False, None),
    ("freplace/get_constant", P.EXT, None, False, {"name": "get_constant"}),
    ("lsm/file_open", P.LSM, A.LSM_MAC, False, {"name": "file_open"}),
    ("lsm.s/bprm_committed_creds", P.LSM, A.LSM_MAC, True, {"name": "bprm_committed_creds"}),
    ("lsm_cgroup/socket_bind", P.LSM, A.LSM_CGROUP, False, {"name": "socket_bind"}),
    ("iter/task", P.TRACING, A.TRACE_ITER, False, {"name": "task"}),
    ("iter/bpf_map_elem", P.TRACING, A.TRACE_ITER, False, {"name": "bpf_map_elem"}),
    ("iter.s/cgroup", P.TRACING, A.TRACE_ITER, True, {"name": "cgroup"}),
    ("syscall", P.SYSCALL, None, True, None),
    # XDP
    ("xdp", P.XDP, A.XDP, False, None),
    ("xdp.frags", P.XDP, A.XDP, False, None),
    ("xdp/devmap", P.XDP, A.XDP_DEVMAP, False, None),
    ("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, False, None),
    ("xdp/cpumap", P.XDP, A.XDP_CPUMAP, False, None),
    ("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, False, None),
    # misc
    ("perf_event", P.PERF_EVENT, None, False, None),
    ("lwt_in", P.LWT_IN, None, False, None),
    ("lwt_out", P.LWT_OUT, None, False, None),
    ("lwt_xmit", P.LWT_XMIT, None, False, None),
    ("lwt_seg6local", P.LWT_SEG6LOCAL, None, False, None),
    ("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS, False, None),
    ("sk_skb", P.SK_SKB, None, False, None),
    ("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER, False, None),
    ("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT, False, None),
    ("sk_skb/verdict", P.SK_SKB, A.SK_SKB_VERDICT, False, None),
    ("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT, False, None),
    ("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2, False, None),
    ("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR, False, None),
    # cgroups
    ("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS, False, None),
    ("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS, False, None),
    ("cgroup/skb", P.CGROUP_SKB, None, False, None),
    ("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, False, None),
    ("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, False, None),
    ("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, False, None),
    ("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND, False, None),
    ("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND, False, None),
    ("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND, False, None),
    ("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND, False, None),
    ("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT, False, None),
    ("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT, False, None),
    ("cgroup/connect_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT, False, None),
    ("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG, False, None),
    ("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG, False, None),
    ("cgroup/sendmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_SENDMSG, False, None),
    ("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG, False, None),
    ("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG, False, None),
    ("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG, False, None),
    ("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME, False, None),
    ("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME, False, None),
    ("cgroup/getpeername_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME, False, None),
    ("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME, False, None),
    ("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME, False, None),
    ("cgroup/getsockname_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETSOCKNAME, False, None),
    ("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL, False, None),
    ("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, False, None),
    ("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT, False, None),
    ("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, False, None),
    ("struct_ops", P.STRUCT_OPS, None, False, None),
    ("struct_ops/dctcp_init", P.STRUCT_OPS, None, False, None),
    ("struct_ops.s/test_sleepable", P.STRUCT_OPS, None, True, None),
    ("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP, False, None),
    ("netfilter", P.NETFILTER, A.NETFILTER, False, None),
]

CASE_NAMES = [c[0] for c in CASES]

#: Names in CASES that libbpf 1.1 does not know: all added to libbpf after 1.1.
#: Extend deliberately when a newer section name is added to CASES.
NEWER_THAN_LIBBPF_1_1 = {
    "kprobe.session/bpf_fentry_test*",
    "uprobe.multi//usr/lib/libc.so.6:str*",
    "uretprobe.multi/./a.out:uprobe_multi_func_?",
    "uprobe.multi.s/./a.out:f",
    "uretprobe.multi.s//bin/true:ma*",
    "uprobe.session//bin/true:main",
    "uprobe.session.s",
    "usdt.s/libc.so.6:libc:setjmp",
    "tc/ingress",
    "tc/egress",
    "tcx/ingress",
    "tcx/egress",
    "netkit/primary",
    "netkit/peer",
    "sk_skb/verdict",
    "cgroup/connect_unix",
    "cgroup/sendmsg_unix",
    "cgroup/recvmsg_unix",
    "cgroup/getpeername_unix",
    "cgroup/getsockname_unix",
    "struct_ops.s/test_sleepable",
    "netfilter",
}

#: Table rows (prefixes) that libbpf 1.1 lacks.
NEWER_PREFIXES_THAN_LIBBPF_1_1 = {
    "kprobe.session+",
    "uprobe.multi+",
    "uretprobe.multi+",
    "uprobe.session+",
    "uprobe.multi.s+",
    "uretprobe.multi.s+",
    "uprobe.session.s+",
    "usdt.s+",
    "tc/ingress",
    "tc/egress",
    "tcx/ingress",
    "tcx/egress",
    "netkit/primary",
    "netkit/peer",
    "sk_skb/verdict",
    "cgroup/connect_unix",
    "cgroup/sendmsg_unix",
    "cgroup/recvmsg_unix",
    "cgroup/getpeername_unix",
    "cgroup/getsockname_unix",
    "struct_ops.s+",
    "netfilter",
}


def test_case_table_is_big_enough():
    assert len(CASES) >= 60
    assert len(set(CASE_NAMES)) == len(CASE_NAMES)


def test_every_table_row_is_exercised_by_a_case():
    rows = {match_section(name).sec_def.prefix for name in CASE_NAMES}
    assert rows == {d.prefix for d in SECTION_DEFS}


@pytest.mark.parametrize(("name", "prog_type", "attach_type", "sleepable", "target"), CASES, ids=CASE_NAMES)
def test_documented_names(name, prog_type, attach_type, sleepable, target):
    sec = match_section(name)
    assert isinstance(sec, ProgramSection)
    assert sec.name == name
    assert sec.prog_type is prog_type
    assert sec.expected_attach_type is attach_type
    assert sec.sleepable is sleepable
    assert sec.attach_error is None
    if target is None:
        assert sec.attach is None
    else:
        assert isinstance(sec.attach, AttachTarget)
        assert sec.attach.kind is sec.sec_def.auto_attach
        for field, value in target.items():
            assert getattr(sec.attach, field) == value, field


# --- the differential test against libbpf 1.1 --------------------------------


def _libbpf():
    path = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        pytest.skip("libbpf.so.1 is not installed")
    fn = lib.libbpf_prog_type_by_name
    fn.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]
    fn.restype = ctypes.c_int
    version = lib.libbpf_version_string
    version.restype = ctypes.c_char_p
    return fn, version().decode()


@pytest.fixture(scope="module")
def libbpf_by_name():
    fn, version = _libbpf()
    if not version.startswith("v1.1"):
        pytest.skip(f"the differential lists are written for libbpf 1.1, found {version}")

    def query(name: str) -> tuple[int, int] | None:
        prog_type, attach_type = ctypes.c_int(-1), ctypes.c_int(-1)
        if fn(name.encode(), ctypes.byref(prog_type), ctypes.byref(attach_type)) != 0:
            return None
        return prog_type.value, attach_type.value

    return query


def _ours(name: str) -> tuple[int, int] | None:
    """Our answer in libbpf's terms: None for the attach type becomes 0."""
    sec = match_section(name)
    if sec is None:
        return None
    attach = sec.expected_attach_type
    if attach is not None and attach == 0:
        # the only real use of value 0 is BPF_CGROUP_INET_INGRESS on a cgroup skb program
        assert sec.prog_type is P.CGROUP_SKB and attach is A.CGROUP_INET_INGRESS
    return int(sec.prog_type), int(attach) if attach is not None else 0


def test_libbpf_1_1_agrees_on_documented_names(libbpf_by_name):
    unknown = set()
    for name in CASE_NAMES:
        theirs = libbpf_by_name(name)
        if theirs is None:
            unknown.add(name)
            continue
        assert _ours(name) == theirs, name
    assert unknown == NEWER_THAN_LIBBPF_1_1


def _probe_names(sec_def: SectionDef) -> list[str]:
    base = sec_def.base
    names = [base, base + "/", base + "/x", base + "x", base + ".s", base[:-1], base + "//bin/sh:main"]
    return names


def test_libbpf_1_1_agrees_on_every_row_and_near_misses(libbpf_by_name):
    """For names around every prefix, libbpf 1.1 and we agree unless the row is newer."""
    missing_rows = set()
    for sec_def in SECTION_DEFS:
        for name in _probe_names(sec_def):
            theirs = libbpf_by_name(name)
            ours = _ours(name)
            if theirs == ours:
                continue
            # a disagreement is only allowed when libbpf 1.1 lacks the row we matched
            assert theirs is None, (name, theirs, ours)
            missing_rows.add(match_section(name).sec_def.prefix)
    assert missing_rows == NEWER_PREFIXES_THAN_LIBBPF_1_1


def test_libbpf_1_1_agrees_on_odd_names(libbpf_by_name):
    odd = ["", "/", "+", "xdp/", "xdp+", "XDP", " xdp", "xdp ", "kprobe+", "kprobe/+", "tp//", "tracepoint/a/b/c",
           "fentry.s", "fentry.", "iter.s", "lsm.", "cgroup", "cgroup/", "cgroup_skb", "sk_skb/", "sockops/x",
           "uprobe/:x", "socket/x", "tc/", "tcx", "struct_ops+", "perf_event/x", "sk_lookup/x", "é", "kprobe/é",
           "syscall/x", "lsm_cgroup", "raw_tp.w", "raw_tp.wx", "usdt/", "kretprobe/x+1"]
    for name in odd:
        assert _ours(name) == libbpf_by_name(name), name


# --- matching rules ---------------------------------------------------------------


def test_match_rules():
    rules = {d.prefix: d.match for d in SECTION_DEFS}
    assert rules["kprobe+"] is MatchRule.EXACT_OR_TARGET
    assert rules["xdp"] is MatchRule.EXACT
    assert SectionDef("iter/", P.TRACING).match is MatchRule.TARGET_REQUIRED


def test_plus_means_exact_or_slash():
    assert match_section("kprobe").sec_def.prefix == "kprobe+"
    assert match_section("kprobe/f").sec_def.prefix == "kprobe+"
    assert match_section("kprobex") is None
    assert match_section("kprobe.multi").sec_def.prefix == "kprobe.multi+"
    # "uprobe.s" must not be taken by "uprobe+"
    assert match_section("uprobe.s").sec_def.prefix == "uprobe.s+"


def test_plain_prefix_is_exact():
    assert match_section("xdp/foo") is None
    assert match_section("tc/ingress/x") is None
    assert match_section("cgroup/connect4x") is None
    assert match_section("socket1") is None  # libbpf 0.x's sloppy prefixes are gone


def test_slash_prefix_requires_target():
    sec = SectionDef("custom/", P.KPROBE)
    assert sec.matches("custom/x") and sec.matches("custom/")
    assert not sec.matches("custom")
    assert sec.target_of("custom/abc") == "abc"


def test_order_matters_first_match_wins():
    prefixes = [d.prefix for d in SECTION_DEFS]
    assert len(prefixes) == len(set(prefixes))
    assert prefixes.index("xdp.frags/devmap") < prefixes.index("xdp")
    assert prefixes.index("sk_reuseport/migrate") < prefixes.index("sk_reuseport")
    assert prefixes.index("cgroup/sock_create") < prefixes.index("cgroup/sock")
    assert prefixes[0] == "socket" and prefixes[-1] == "netfilter"


def test_target_text():
    assert match_section("kprobe").target is None
    assert match_section("kprobe/").target == ""
    assert match_section("fentry/do_unlinkat").target == "do_unlinkat"
    assert match_section("uprobe//bin/bash:readline").target == "/bin/bash:readline"
    assert match_section("struct_ops/dctcp_init").target == "dctcp_init"
    assert match_section("xdp").target is None


# --- target parsing details ---------------------------------------------------------------


def test_kprobe_offsets_read_like_c():
    assert match_section("kprobe/f+0x10").attach.offset == 16
    assert match_section("kprobe/f+010").attach.offset == 8
    assert match_section("kprobe/f+10").attach.offset == 10
    assert match_section("kprobe/f+zz").attach.offset == 0
    assert match_section("kprobe/f.isra.0").attach.function == "f.isra.0"


def test_uprobe_offset_only_when_it_ends_the_name():
    assert match_section("uprobe//bin/sh:main+0x4").attach.offset == 4
    odd = match_section("uprobe//bin/sh:operator+")
    assert odd.attach.function == "operator+" and odd.attach.offset == 0
    sym = match_section("uprobe/libc.so.6:malloc@@GLIBC_2.2.5")
    assert sym.attach.function == "malloc@@GLIBC_2.2.5"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("kretprobe/f+0x10", "return probes take no offset"),
        ("uretprobe//bin/sh:main+4", "return probes take no offset"),
        ("kprobe/+1", "invalid kernel function name"),
        ("kprobe/", "invalid kernel function name"),
        ("uprobe//bin/sh", "expected <binary>:<function>"),
        ("uprobe//bin/sh:", "expected <binary>:<function>"),
        ("uprobe.multi//bin/sh", "expected <binary>:<function pattern>"),
        ("usdt//bin/sh:prov", "expected <binary>:<provider>:<name>"),
        ("tp/sched", "expected <category>/<name>"),
        ("raw_tp/", "empty name"),
        ("fentry/", "empty BTF target name"),
        ("kprobe.multi/!", "invalid function pattern"),
    ],
)
def test_malformed_targets_keep_the_section(name, why):
    sec = match_section(name)
    assert sec is not None and sec.attach is None
    assert sec.attach_error is not None and why in sec.attach_error
    assert not sec.auto_attachable
    assert "cannot auto-attach" in repr(sec)


def test_uprobe_with_empty_binary_has_no_target():
    # libbpf skips auto-attach silently here
    for name in ("uprobe/", "uprobe/:main", "uprobe.multi/:x"):
        sec = match_section(name)
        assert sec.attach is None and sec.attach_error is None


def test_auto_attach_kinds():
    kinds = {d.prefix: d.auto_attach for d in SECTION_DEFS}
    assert kinds["tp+"] is K.TRACEPOINT
    assert kinds["raw_tp.w+"] is K.RAW_TRACEPOINT
    assert kinds["kretprobe+"] is K.KPROBE
    assert kinds["uprobe.s+"] is K.UPROBE
    assert kinds["usdt+"] is K.USDT
    assert kinds["fexit+"] is K.BTF
    assert kinds["iter.s+"] is K.ITER
    assert kinds["cgroup/connect4"] is K.CGROUP
    assert kinds["lsm_cgroup+"] is K.CGROUP
    assert kinds["tcx/ingress"] is K.NETDEV
    assert kinds["xdp/devmap"] is K.NONE
    assert kinds["struct_ops+"] is K.NONE
    assert match_section("tp/sched/sched_switch").auto_attachable
    assert match_section("fentry/f").auto_attachable
    assert not match_section("kprobe").auto_attachable
    assert not match_section("lsm_cgroup/socket_bind").auto_attachable
    assert not match_section("cgroup/skb").auto_attachable


def test_attach_target_str():
    assert str(match_section("tracepoint/syscalls/sys_enter_openat").attach) == "syscalls/sys_enter_openat"
    assert str(match_section("kprobe/do_sys_open+0x10").attach) == "do_sys_open+0x10"
    assert str(match_section("uprobe//bin/bash:readline").attach) == "/bin/bash:readline"
    assert str(match_section("usdt/a:b:c").attach) == "a:b:c"
    assert str(match_section("fentry/mod:fn").attach) == "mod:fn"
    assert str(match_section("kprobe.multi/tcp_*").attach) == "tcp_*"


# --- flags -------------------------------------------------------------------------------


def test_flags():
    by = {d.prefix: d for d in SECTION_DEFS}
    assert by["freplace+"].extension and by["freplace+"].attach_btf
    assert not by["fentry+"].extension
    assert {p for p, d in by.items() if d.attach_btf} == {
        "tp_btf+", "fentry+", "fmod_ret+", "fexit+", "fentry.s+", "fmod_ret.s+", "fexit.s+", "freplace+",
        "lsm+", "lsm.s+", "lsm_cgroup+", "iter+", "iter.s+",
    }
    assert {p for p, d in by.items() if d.xdp_frags} == {"xdp.frags/devmap", "xdp.frags/cpumap", "xdp.frags"}
    assert {p for p, d in by.items() if d.usdt} == {"usdt+", "usdt.s+"}
    assert {p for p, d in by.items() if d.multi_func} == {
        "kprobe.multi+", "kretprobe.multi+", "kprobe.session+", "uprobe.multi+", "uretprobe.multi+",
        "uprobe.session+", "uprobe.multi.s+", "uretprobe.multi.s+", "uprobe.session.s+",
    }
    assert {p for p, d in by.items() if d.retprobe} == {
        "kretprobe+", "uretprobe+", "uretprobe.s+", "kretprobe.multi+", "uretprobe.multi+",
        "uretprobe.multi.s+", "kretsyscall+",
    }
    assert {p for p, d in by.items() if d.sleepable and not p.endswith(".s+")} == {"syscall"}
    assert by["xdp"].attach_type_optional and by["xdp"].legacy_attachable
    assert not by["xdp.frags"].attach_type_optional
    assert by["cgroup/connect4"].legacy_attachable and not by["cgroup/connect4"].attach_type_optional
    assert by["fentry.s+"].flags == ("sleepable", "attach_btf")


def test_load_attach_type():
    by = {d.prefix: d for d in SECTION_DEFS}
    assert by["usdt+"].load_attach_type() is None
    assert by["usdt+"].load_attach_type(uprobe_multi_link=True) is A.TRACE_UPROBE_MULTI
    assert by["xdp"].load_attach_type(expected_attach_type_supported=False) is None
    assert by["xdp"].load_attach_type() is A.XDP
    assert by["cgroup/connect4"].load_attach_type(expected_attach_type_supported=False) is A.CGROUP_INET4_CONNECT


# --- robustness -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["", "foo", "XDP", ".text", "license", "maps", ".maps", ".rodata", "xdp_prog", "kprobes/x", "tracepoints",
     "\0", "xdp\0", "kprobe\0/x", "\n", "é", "🐝", "kprobe" * 1000, "/" * 100, "\udcff"],
)
def test_unknown_names_return_none(name):
    assert match_section(name) is None
    assert find_section_def(name) is None


@pytest.mark.parametrize(
    "name",
    ["kprobe/\n", "kprobe/é+0x1", "uprobe/\t:x", "uprobe/a:\n", "usdt/::", "usdt/a:b:c:d", "tp/\udcff/x",
     "fentry/::", "kprobe/f+0x" + "f" * 100, "kprobe/f+-1", "uprobe//x:🐝+0x10", "raw_tp/" + "x" * 10000,
     "kprobe.multi/" + "*" * 500, "iter/ ", "lsm/a:b:c"],
)
def test_weird_targets_do_not_crash(name):
    sec = match_section(name)
    assert sec is not None
    repr(sec)
    if sec.attach is not None:
        str(sec.attach)


def test_type_errors():
    with pytest.raises(TypeError):
        match_section(b"xdp")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        find_section_def(None)  # type: ignore[arg-type]


def test_require_section():
    assert require_section("xdp").prog_type is P.XDP
    with pytest.raises(SectionError, match="'xdp_prog'"):
        require_section("xdp_prog")


def test_reprs_are_short_and_deterministic():
    assert repr(match_section("xdp")) == "<ProgramSection 'xdp' XDP/XDP>"
    assert repr(match_section("fentry.s/f")) == "<ProgramSection 'fentry.s/f' TRACING/TRACE_FENTRY -> f>"
    by = {d.prefix: d for d in SECTION_DEFS}
    assert repr(by["xdp"]) == "<SectionDef 'xdp' XDP/XDP attach_type_optional legacy_attachable>"
    assert repr(by["freplace+"]) == "<SectionDef 'freplace+' EXT attach_btf extension>"


def test_module_imports_only_stdlib_uapi_and_errors():
    import ast
    import sys

    import bpfnb.obj.section_defs as mod

    tree = ast.parse(open(mod.__file__, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert name in ("bpfnb.uapi", "bpfnb.errors") or top in sys.stdlib_module_names, name
