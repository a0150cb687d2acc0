"""Program type and attach type from an ELF section name, the way libbpf decides.

A BPF object file says what each program is only through the name of the ELF
section it sits in: ``SEC("xdp")``, ``SEC("tracepoint/syscalls/sys_enter_openat")``,
``SEC("uprobe//bin/bash:readline")``.  :data:`SECTION_DEFS` is our own table of
every section-name prefix that current libbpf (the 1.6 era) recognises, in
libbpf's matching order, and :func:`match_section` applies libbpf's matching
rule to it and parses the attach target out of the rest of the name.

Matching rule (first row that matches wins, so the order of the table matters):

* a prefix ending in ``+`` (``"kprobe+"``) matches the bare name (``kprobe``) or
  the name followed by ``/`` and a target (``kprobe/do_unlinkat``), but not
  ``kprobex``;
* a prefix ending in ``/`` matches any name that starts with it (the target is
  required);
* any other prefix (``"xdp"``, ``"cgroup/connect4"``) must equal the whole name.

The expected attach type is what libbpf puts into ``BPF_PROG_LOAD``'s
``expected_attach_type``.  Where libbpf's table holds 0 because the program
type does not use the field, :class:`SectionDef` holds ``None``; the one row
where 0 is meant as ``BPF_CGROUP_INET_INGRESS`` (``cgroup_skb/ingress``) holds
:attr:`AttachType.CGROUP_INET_INGRESS`.  ``None`` goes to the kernel as 0.

Nothing here imports anything but the standard library, :mod:`bpfnb.uapi`
and :mod:`bpfnb.errors`, so the table can be read anywhere.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

from bpfnb.errors import SectionError
from bpfnb.uapi import AttachType, ProgType

__all__ = [
    "SECTION_DEFS",
    "AttachTarget",
    "AutoAttach",
    "MatchRule",
    "ProgramSection",
    "SectionDef",
    "find_section_def",
    "match_section",
    "require_section",
]


class MatchRule(enum.Enum):
    """How a :class:`SectionDef` prefix is compared with a section name."""

    #: plain prefix: the section name must be exactly the prefix
    EXACT = "exact"
    #: prefix ending in ``+``: the bare name, or the name, ``/`` and a target
    EXACT_OR_TARGET = "exact-or-target"
    #: prefix ending in ``/``: the name must start with the prefix; a target follows
    TARGET_REQUIRED = "target-required"


class AutoAttach(enum.Enum):
    """What the rest of a section name says about where the program attaches.

    The kinds up to :attr:`ITER` are the ones libbpf attaches by itself
    ("auto-attach", as a skeleton's ``attach()`` does) when the name carries a
    target.  The last kinds name what the caller must supply instead, since the
    section name cannot: a cgroup, a network interface, a network namespace or
    a sockmap.  :attr:`NONE` is everything else (a socket option, a tc filter,
    a perf event fd, a devmap entry, a struct_ops map...).
    """

    NONE = "none"
    #: ``tp/<category>/<name>``: a perf-event tracepoint
    TRACEPOINT = "tracepoint"
    #: ``raw_tp/<name>``: a raw tracepoint by name
    RAW_TRACEPOINT = "raw_tracepoint"
    #: ``kprobe/<function>[+<offset>]``: a kernel function (offset only for entry probes)
    KPROBE = "kprobe"
    #: ``ksyscall/<syscall>``: a syscall entry point, the arch prefix added at attach time
    KSYSCALL = "ksyscall"
    #: ``kprobe.multi/<glob>``: every kernel function matching a ``*``/``?`` pattern
    KPROBE_MULTI = "kprobe_multi"
    #: ``uprobe/<binary>:<function>[+<offset>]``: a user-space function
    UPROBE = "uprobe"
    #: ``uprobe.multi/<binary>:<glob>``: every user-space function matching a pattern
    UPROBE_MULTI = "uprobe_multi"
    #: ``usdt/<binary>:<provider>:<name>``: a USDT probe
    USDT = "usdt"
    #: ``fentry/<function>`` and friends: a BTF target resolved at load; the link needs nothing more
    BTF = "btf"
    #: ``iter/<name>``: a BPF iterator (BTF type ``bpf_iter_<name>``)
    ITER = "iter"
    #: attached to a cgroup chosen by the caller; the name carries no path
    CGROUP = "cgroup"
    #: attached to a network interface chosen by the caller (XDP, tcx, netkit)
    NETDEV = "netdev"
    #: attached to a network namespace chosen by the caller
    NETNS = "netns"
    #: attached to a sockmap/sockhash chosen by the caller
    SOCKMAP = "sockmap"

    @property
    def from_name(self) -> bool:
        """True when libbpf can attach from the section name alone."""
        return self in _AUTO_FROM_NAME


_AUTO_FROM_NAME = frozenset(
    {
        AutoAttach.TRACEPOINT,
        AutoAttach.RAW_TRACEPOINT,
        AutoAttach.KPROBE,
        AutoAttach.KSYSCALL,
        AutoAttach.KPROBE_MULTI,
        AutoAttach.UPROBE,
        AutoAttach.UPROBE_MULTI,
        AutoAttach.USDT,
        AutoAttach.BTF,
        AutoAttach.ITER,
    }
)

_MULTI_FUNC = frozenset(
    {
        AttachType.TRACE_KPROBE_MULTI,
        AttachType.TRACE_KPROBE_SESSION,
        AttachType.TRACE_UPROBE_MULTI,
        AttachType.TRACE_UPROBE_SESSION,
    }
)


@dataclass(frozen=True, repr=False)
class SectionDef:
    """One row of the table: a section-name prefix and what it means.

    Flags (libbpf's ``SEC_*`` names in brackets, for readers of its source):

    ``sleepable`` [SEC_SLEEPABLE]
        loaded with ``BPF_F_SLEEPABLE``: the program may block (``.s`` variants,
        ``syscall``).
    ``attach_btf`` [SEC_ATTACH_BTF]
        the target after ``/`` is a BTF name that must be resolved to a BTF id
        (``attach_btf_id``) in the kernel's or a module's BTF before loading
        (fentry/fexit/fmod_ret, tp_btf, lsm, lsm_cgroup, iter) or, for
        ``freplace``, in the BTF of the program being replaced.  Without a
        target the loader needs one set explicitly.
    ``xdp_frags`` [SEC_XDP_FRAGS]
        loaded with ``BPF_F_XDP_HAS_FRAGS``: the XDP program handles
        multi-buffer packets.
    ``usdt`` [SEC_USDT]
        a USDT program; loaded as ``BPF_TRACE_UPROBE_MULTI`` when the kernel
        has uprobe_multi links, as a plain kprobe-type program otherwise.
    ``attach_type_optional`` [SEC_EXP_ATTACH_OPT]
        the expected attach type is only a hint: on a kernel too old to accept
        ``expected_attach_type`` for this program type, the loader sends 0.
        Without this flag the attach type is part of what the program *is* and
        must reach the kernel.
    ``legacy_attachable`` [SEC_ATTACHABLE]
        historical marker for programs attached with ``BPF_PROG_ATTACH``; libbpf
        consults it only in ``libbpf_attach_type_by_name()``.  Kept for
        faithful reporting; nothing in loading depends on it.

    Derived: ``extension`` (``freplace``: a BPF_PROG_TYPE_EXT program replacing
    a function of another BPF program), ``multi_func`` (one link attaches to
    many functions: kprobe.multi, kprobe.session, uprobe.multi, uprobe.session),
    ``retprobe`` (a return probe), ``match`` (:class:`MatchRule`).
    """

    prefix: str
    prog_type: ProgType
    expected_attach_type: AttachType | None = None
    sleepable: bool = False
    attach_btf: bool = False
    xdp_frags: bool = False
    usdt: bool = False
    attach_type_optional: bool = False
    legacy_attachable: bool = False
    auto_attach: AutoAttach = AutoAttach.NONE

    @property
    def match(self) -> MatchRule:
        if self.prefix.endswith("+"):
            return MatchRule.EXACT_OR_TARGET
        if self.prefix.endswith("/"):
            return MatchRule.TARGET_REQUIRED
        return MatchRule.EXACT

    @property
    def base(self) -> str:
        """The prefix without its ``+`` marker (``"fentry.s"`` for ``"fentry.s+"``)."""
        return self.prefix[:-1] if self.prefix.endswith("+") else self.prefix

    @property
    def extension(self) -> bool:
        return self.prog_type is ProgType.EXT

    @property
    def multi_func(self) -> bool:
        return self.expected_attach_type in _MULTI_FUNC

    @property
    def retprobe(self) -> bool:
        return self.prefix.startswith(("kret", "uret"))

    @property
    def flags(self) -> tuple[str, ...]:
        """Names of the flags that are set, for display."""
        names = ("sleepable", "attach_btf", "xdp_frags", "usdt", "attach_type_optional", "legacy_attachable")
        return tuple(n for n in names if getattr(self, n)) + (("extension",) if self.extension else ())

    def matches(self, name: str) -> bool:
        """libbpf's rule: see the module docstring."""
        prefix = self.prefix
        if prefix.endswith("/"):
            return name.startswith(prefix)
        if prefix.endswith("+"):
            base = prefix[:-1]
            return name == base or name.startswith(base + "/")
        return name == prefix

    def target_of(self, name: str) -> str | None:
        """The text after the prefix's ``/`` (``None`` for a bare name); assumes :meth:`matches`."""
        if self.prefix.endswith("/"):
            return name[len(self.prefix) :]
        if self.prefix.endswith("+") and len(name) > len(self.prefix) - 1:
            return name[len(self.prefix) :]
        return None

    def load_attach_type(
        self, *, expected_attach_type_supported: bool = True, uprobe_multi_link: bool = False
    ) -> AttachType | None:
        """The expected attach type to send at load, given two kernel features.

        ``attach_type_optional`` rows drop it on kernels that reject
        ``expected_attach_type``; ``usdt`` rows switch to uprobe_multi when the
        kernel has that link type.  (struct_ops programs get the member index
        from the struct_ops map instead; that is the loader's business.)
        """
        if self.usdt and uprobe_multi_link:
            return AttachType.TRACE_UPROBE_MULTI
        if self.attach_type_optional and not expected_attach_type_supported:
            return None
        return self.expected_attach_type

    def __repr__(self) -> str:
        attach = f"/{self.expected_attach_type.name}" if self.expected_attach_type is not None else ""
        flags = "".join(f" {f}" for f in self.flags)
        return f"<SectionDef {self.prefix!r} {self.prog_type.name}{attach}{flags}>"


def _d(
    prefix: str,
    prog_type: ProgType,
    attach: AttachType | None = None,
    auto: AutoAttach = AutoAttach.NONE,
    **flags: bool,
) -> SectionDef:
    return SectionDef(prefix, prog_type, attach, auto_attach=auto, **flags)


P, A, K = ProgType, AttachType, AutoAttach
_SLEEP = {"sleepable": True}
_BTF = {"attach_btf": True}
_BTF_SLEEP = {"attach_btf": True, "sleepable": True}
_ATT = {"legacy_attachable": True}
_ATT_OPT = {"legacy_attachable": True, "attach_type_optional": True}
_FRAGS = {"xdp_frags": True}

#: Every prefix libbpf knows, in its matching order (first match wins).
SECTION_DEFS: tuple[SectionDef, ...] = (
    _d("socket", P.SOCKET_FILTER),
    _d("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, **_ATT),
    _d("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT, **_ATT),
    # kernel and user probes
    _d("kprobe+", P.KPROBE, None, K.KPROBE),
    _d("uprobe+", P.KPROBE, None, K.UPROBE),
    _d("uprobe.s+", P.KPROBE, None, K.UPROBE, **_SLEEP),
    _d("kretprobe+", P.KPROBE, None, K.KPROBE),
    _d("uretprobe+", P.KPROBE, None, K.UPROBE),
    _d("uretprobe.s+", P.KPROBE, None, K.UPROBE, **_SLEEP),
    _d("kprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI, K.KPROBE_MULTI),
    _d("kretprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI, K.KPROBE_MULTI),
    _d("kprobe.session+", P.KPROBE, A.TRACE_KPROBE_SESSION, K.KPROBE_MULTI),
    _d("uprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI, K.UPROBE_MULTI),
    _d("uretprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI, K.UPROBE_MULTI),
    _d("uprobe.session+", P.KPROBE, A.TRACE_UPROBE_SESSION, K.UPROBE_MULTI),
    _d("uprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, K.UPROBE_MULTI, **_SLEEP),
    _d("uretprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, K.UPROBE_MULTI, **_SLEEP),
    _d("uprobe.session.s+", P.KPROBE, A.TRACE_UPROBE_SESSION, K.UPROBE_MULTI, **_SLEEP),
    _d("ksyscall+", P.KPROBE, None, K.KSYSCALL),
    _d("kretsyscall+", P.KPROBE, None, K.KSYSCALL),
    _d("usdt+", P.KPROBE, None, K.USDT, usdt=True),
    _d("usdt.s+", P.KPROBE, None, K.USDT, usdt=True, sleepable=True),
    # traffic control: tcx links (with "tc/..." as aliases), then the legacy tc names
    _d("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS, K.NETDEV),
    _d("tc/egress", P.SCHED_CLS, A.TCX_EGRESS, K.NETDEV),
    _d("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS, K.NETDEV),
    _d("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS, K.NETDEV),
    _d("tc", P.SCHED_CLS),
    _d("classifier", P.SCHED_CLS),
    _d("action", P.SCHED_ACT),
    _d("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY, K.NETDEV),
    _d("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER, K.NETDEV),
    # tracepoints
    _d("tracepoint+", P.TRACEPOINT, None, K.TRACEPOINT),
    _d("tp+", P.TRACEPOINT, None, K.TRACEPOINT),
    _d("raw_tracepoint+", P.RAW_TRACEPOINT, None, K.RAW_TRACEPOINT),
    _d("raw_tp+", P.RAW_TRACEPOINT, None, K.RAW_TRACEPOINT),
    _d("raw_tracepoint.w+", P.RAW_TRACEPOINT_WRITABLE, None, K.RAW_TRACEPOINT),
    _d("raw_tp.w+", P.RAW_TRACEPOINT_WRITABLE, None, K.RAW_TRACEPOINT),
    # BTF-typed tracing, extensions, LSM, iterators
    _d("tp_btf+", P.TRACING, A.TRACE_RAW_TP, K.BTF, **_BTF),
    _d("fentry+", P.TRACING, A.TRACE_FENTRY, K.BTF, **_BTF),
    _d("fmod_ret+", P.TRACING, A.MODIFY_RETURN, K.BTF, **_BTF),
    _d("fexit+", P.TRACING, A.TRACE_FEXIT, K.BTF, **_BTF),
    _d("fentry.s+", P.TRACING, A.TRACE_FENTRY, K.BTF, **_BTF_SLEEP),
    _d("fmod_ret.s+", P.TRACING, A.MODIFY_RETURN, K.BTF, **_BTF_SLEEP),
    _d("fexit.s+", P.TRACING, A.TRACE_FEXIT, K.BTF, **_BTF_SLEEP),
    _d("freplace+", P.EXT, None, K.BTF, **_BTF),
    _d("lsm+", P.LSM, A.LSM_MAC, K.BTF, **_BTF),
    _d("lsm.s+", P.LSM, A.LSM_MAC, K.BTF, **_BTF_SLEEP),
    _d("lsm_cgroup+", P.LSM, A.LSM_CGROUP, K.CGROUP, **_BTF),
    _d("iter+", P.TRACING, A.TRACE_ITER, K.ITER, **_BTF),
    _d("iter.s+", P.TRACING, A.TRACE_ITER, K.ITER, **_BTF_SLEEP),
    _d("syscall", P.SYSCALL, None, **_SLEEP),
    # XDP: the ".frags" and map-entry variants before plain "xdp"
    _d("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, **_FRAGS),
    _d("xdp/devmap", P.XDP, A.XDP_DEVMAP, **_ATT),
    _d("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, **_FRAGS),
    _d("xdp/cpumap", P.XDP, A.XDP_CPUMAP, **_ATT),
    _d("xdp.frags", P.XDP, A.XDP, K.NETDEV, **_FRAGS),
    _d("xdp", P.XDP, A.XDP, K.NETDEV, **_ATT_OPT),
    _d("perf_event", P.PERF_EVENT),
    _d("lwt_in", P.LWT_IN),
    _d("lwt_out", P.LWT_OUT),
    _d("lwt_xmit", P.LWT_XMIT),
    _d("lwt_seg6local", P.LWT_SEG6LOCAL),
    # sockets, sockmaps, netns hooks
    _d("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS, K.CGROUP, **_ATT_OPT),
    _d("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER, K.SOCKMAP, **_ATT_OPT),
    _d("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT, K.SOCKMAP, **_ATT_OPT),
    _d("sk_skb/verdict", P.SK_SKB, A.SK_SKB_VERDICT, K.SOCKMAP, **_ATT_OPT),
    _d("sk_skb", P.SK_SKB, None, K.SOCKMAP),
    _d("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT, K.SOCKMAP, **_ATT_OPT),
    _d("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2, **_ATT_OPT),
    _d("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR, K.NETNS, **_ATT_OPT),
    # cgroup hooks
    _d("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS, K.CGROUP, **_ATT_OPT),
    _d("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS, K.CGROUP, **_ATT_OPT),
    _d("cgroup/skb", P.CGROUP_SKB, None, K.CGROUP),
    _d("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, K.CGROUP, **_ATT),
    _d("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, K.CGROUP, **_ATT),
    _d("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, K.CGROUP, **_ATT_OPT),
    _d("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND, K.CGROUP, **_ATT),
    _d("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND, K.CGROUP, **_ATT),
    _d("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND, K.CGROUP, **_ATT),
    _d("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND, K.CGROUP, **_ATT),
    _d("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT, K.CGROUP, **_ATT),
    _d("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT, K.CGROUP, **_ATT),
    _d("cgroup/connect_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT, K.CGROUP, **_ATT),
    _d("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG, K.CGROUP, **_ATT),
    _d("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG, K.CGROUP, **_ATT),
    _d("cgroup/sendmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_SENDMSG, K.CGROUP, **_ATT),
    _d("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG, K.CGROUP, **_ATT),
    _d("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG, K.CGROUP, **_ATT),
    _d("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG, K.CGROUP, **_ATT),
    _d("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME, K.CGROUP, **_ATT),
    _d("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME, K.CGROUP, **_ATT),
    _d("cgroup/getpeername_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME, K.CGROUP, **_ATT),
    _d("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME, K.CGROUP, **_ATT),
    _d("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME, K.CGROUP, **_ATT),
    _d("cgroup/getsockname_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETSOCKNAME, K.CGROUP, **_ATT),
    _d("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL, K.CGROUP, **_ATT),
    _d("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, K.CGROUP, **_ATT),
    _d("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT, K.CGROUP, **_ATT),
    _d("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, K.CGROUP, **_ATT_OPT),
    # the rest
    _d("struct_ops+", P.STRUCT_OPS),
    _d("struct_ops.s+", P.STRUCT_OPS, None, **_SLEEP),
    _d("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP, K.NETNS, **_ATT),
    _d("netfilter", P.NETFILTER, A.NETFILTER),
)

del P, A, K


# --- attach targets ----------------------------------------------------------


@dataclass(frozen=True)
class AttachTarget:
    """The attach point spelled by the rest of a section name.

    Which fields are set depends on ``kind``:

    ============== ====================================================
    TRACEPOINT     ``category``, ``name``
    RAW_TRACEPOINT ``name``
    KPROBE         ``function``, ``offset``
    KSYSCALL       ``name`` (the syscall, e.g. ``openat``)
    KPROBE_MULTI   ``pattern`` (``*`` and ``?`` globs)
    UPROBE         ``binary``, ``function``, ``offset``
    UPROBE_MULTI   ``binary``, ``pattern``
    USDT           ``binary``, ``provider``, ``name``
    BTF, ITER      ``name`` and, for ``module:name`` targets, ``module``
    CGROUP         ``name``, ``module`` (lsm_cgroup: the LSM hook)
    ============== ====================================================
    """

    kind: AutoAttach
    name: str | None = None
    category: str | None = None
    function: str | None = None
    offset: int = 0
    binary: str | None = None
    provider: str | None = None
    pattern: str | None = None
    module: str | None = None

    def __str__(self) -> str:
        k = self.kind
        if k is AutoAttach.TRACEPOINT:
            return f"{self.category}/{self.name}"
        if k is AutoAttach.KPROBE:
            return f"{self.function}" + (f"+{self.offset:#x}" if self.offset else "")
        if k is AutoAttach.UPROBE:
            return f"{self.binary}:{self.function}" + (f"+{self.offset:#x}" if self.offset else "")
        if k is AutoAttach.UPROBE_MULTI:
            return f"{self.binary}:{self.pattern}"
        if k is AutoAttach.USDT:
            return f"{self.binary}:{self.provider}:{self.name}"
        if k is AutoAttach.KPROBE_MULTI:
            return str(self.pattern)
        return f"{self.module}:{self.name}" if self.module else str(self.name)


class _BadTarget(Exception):
    """Internal: the target text does not have the form auto-attach needs."""


_C_INT = re.compile(r"[ \t\n\r\f\v]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def _c_long(text: str) -> tuple[int, int] | None:
    """Read an integer the way C's ``%li`` does (base from the prefix); (value, length)."""
    m = _C_INT.match(text)
    if m is None:
        return None
    sign, digits = m.groups()
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    elif digits.startswith("0"):
        value = int(digits, 8)
    else:
        value = int(digits)
    return (-value if sign == "-" else value), m.end()


_KPROBE_FUNC = re.compile(r"[A-Za-z0-9_.]+")
_KPROBE_GLOB = re.compile(r"[A-Za-z0-9_.*?]+")


def _parse_kprobe(target: str, retprobe: bool) -> AttachTarget:
    m = _KPROBE_FUNC.match(target)
    if m is None:
        raise _BadTarget(f"invalid kernel function name {target!r}")
    offset = 0
    rest = target[m.end() :]
    if rest.startswith("+"):
        parsed = _c_long(rest[1:])
        if parsed is not None:
            offset = parsed[0]
    if retprobe and offset:
        raise _BadTarget("return probes take no offset")
    return AttachTarget(AutoAttach.KPROBE, function=m.group(), offset=offset)


def _parse_kprobe_multi(target: str) -> AttachTarget:
    m = _KPROBE_GLOB.match(target)
    if m is None:
        raise _BadTarget(f"invalid function pattern {target!r}")
    return AttachTarget(AutoAttach.KPROBE_MULTI, pattern=m.group())


def _split_binary(target: str, expected: str) -> tuple[str, str] | None:
    """``binary:rest`` (``rest`` stops at a newline).

    An empty binary means "no target" (libbpf skips auto-attach without
    complaint); a binary without a non-empty ``rest`` is malformed.
    """
    binary, sep, rest = target.partition(":")
    if not binary:
        return None
    rest = rest.split("\n", 1)[0]
    if not sep or not rest:
        raise _BadTarget(f"expected {expected}")
    return binary, rest


def _parse_uprobe(target: str, retprobe: bool) -> AttachTarget | None:
    parts = _split_binary(target, "<binary>:<function>[+<offset>]")
    if parts is None:
        return None
    binary, function = parts
    offset = 0
    plus = function.rfind("+")
    if plus >= 0:
        parsed = _c_long(function[plus + 1 :])
        if parsed is not None and plus + 1 + parsed[1] == len(function):
            offset, function = parsed[0], function[:plus]
    if retprobe and offset:
        raise _BadTarget("return probes take no offset")
    return AttachTarget(AutoAttach.UPROBE, binary=binary, function=function, offset=offset)


def _parse_uprobe_multi(target: str) -> AttachTarget | None:
    parts = _split_binary(target, "<binary>:<function pattern>")
    if parts is None:
        return None
    return AttachTarget(AutoAttach.UPROBE_MULTI, binary=parts[0], pattern=parts[1])


def _parse_usdt(target: str) -> AttachTarget:
    fields = target.split(":")
    if len(fields) < 3 or not all(fields[:3]):
        raise _BadTarget("expected <binary>:<provider>:<name>")
    return AttachTarget(AutoAttach.USDT, binary=fields[0], provider=fields[1], name=fields[2])


def _parse_tracepoint(target: str) -> AttachTarget:
    category, sep, name = target.partition("/")
    if not sep:
        raise _BadTarget("expected <category>/<name>")
    return AttachTarget(AutoAttach.TRACEPOINT, category=category, name=name)


def _parse_btf_name(kind: AutoAttach, target: str) -> AttachTarget:
    module, sep, name = target.partition(":")
    if not sep:
        module, name = "", target
    if not name:
        raise _BadTarget("empty BTF target name")
    return AttachTarget(kind, name=name, module=module or None)


def _parse_target(sec: SectionDef, target: str) -> AttachTarget | None:
    kind = sec.auto_attach
    if sec.attach_btf:
        return _parse_btf_name(kind, target)
    if kind is AutoAttach.KPROBE:
        return _parse_kprobe(target, sec.retprobe)
    if kind is AutoAttach.KPROBE_MULTI:
        return _parse_kprobe_multi(target)
    if kind is AutoAttach.UPROBE:
        return _parse_uprobe(target, sec.retprobe)
    if kind is AutoAttach.UPROBE_MULTI:
        return _parse_uprobe_multi(target)
    if kind is AutoAttach.USDT:
        return _parse_usdt(target)
    if kind is AutoAttach.TRACEPOINT:
        return _parse_tracepoint(target)
    if kind in (AutoAttach.RAW_TRACEPOINT, AutoAttach.KSYSCALL):
        if not target:
            raise _BadTarget("empty name")
        return AttachTarget(kind, name=target)
    return None


# --- matching ------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ProgramSection:
    """A section name resolved against :data:`SECTION_DEFS`.

    ``target`` is the raw text after the prefix's ``/`` (``None`` for a bare
    name such as ``"kprobe"``).  ``attach`` is that text parsed for the row's
    :class:`AutoAttach` kind, or ``None`` when there is nothing to parse.
    ``attach_error`` says why a target that libbpf would try to auto-attach
    does not have the form it needs (the section itself is still valid: libbpf
    opens and loads it, only auto-attach fails).
    """

    name: str
    sec_def: SectionDef
    target: str | None = None
    attach: AttachTarget | None = None
    attach_error: str | None = None

    @property
    def prog_type(self) -> ProgType:
        return self.sec_def.prog_type

    @property
    def expected_attach_type(self) -> AttachType | None:
        return self.sec_def.expected_attach_type

    @property
    def sleepable(self) -> bool:
        return self.sec_def.sleepable

    @property
    def auto_attachable(self) -> bool:
        """True when libbpf would attach this program from its section name alone."""
        return self.sec_def.auto_attach.from_name and self.attach is not None

    def __repr__(self) -> str:
        attach = f"/{self.expected_attach_type.name}" if self.expected_attach_type is not None else ""
        where = f" -> {self.attach}" if self.attach is not None else ""
        bad = f" (cannot auto-attach: {self.attach_error})" if self.attach_error else ""
        return f"<ProgramSection {self.name!r} {self.prog_type.name}{attach}{where}{bad}>"


def find_section_def(name: str) -> SectionDef | None:
    """The first row of :data:`SECTION_DEFS` that matches ``name``, or ``None``."""
    if not isinstance(name, str):
        raise TypeError(f"section name must be str, not {type(name).__name__}")
    if "\0" in name:  # ELF names end at the first NUL; such a string never came from one
        return None
    for sec in SECTION_DEFS:
        if sec.matches(name):
            return sec
    return None


@functools.lru_cache(maxsize=1024)
def match_section(name: str) -> ProgramSection | None:
    """Resolve an ELF section name the way libbpf does; ``None`` if no prefix matches.

    >>> sec = match_section("tracepoint/syscalls/sys_enter_openat")
    >>> sec.prog_type.name, sec.attach.category, sec.attach.name
    ('TRACEPOINT', 'syscalls', 'sys_enter_openat')
    """
    sec = find_section_def(name)
    if sec is None:
        return None
    target = sec.target_of(name)
    attach: AttachTarget | None = None
    error: str | None = None
    if target is not None:
        try:
            attach = _parse_target(sec, target)
        except _BadTarget as exc:
            error = str(exc)
    return ProgramSection(name, sec, target, attach, error)


def require_section(name: str) -> ProgramSection:
    """:func:`match_section`, raising :class:`~bpfnb.errors.SectionError` for unknown names."""
    found = match_section(name)
    if found is None:
        raise SectionError(
            "no program type is known for this section name; "
            "use a libbpf SEC() name such as 'xdp', 'tc/ingress', 'kprobe/<function>' or 'fentry/<function>'",
            section=name,
        )
    return found
