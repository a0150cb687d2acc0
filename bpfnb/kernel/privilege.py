"""Does this process have the capabilities that bpf() needs?

Read from ``/proc/self/status`` (``CapEff``) rather than guessed from the
uid: a root process in a container or under ``setpriv`` may lack them, and
an unprivileged process may hold CAP_BPF.
"""

from __future__ import annotations

CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39


def effective_capabilities() -> int:
    """The effective capability mask of this process (0 if unreadable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def has_capability(cap: int) -> bool:
    return bool(effective_capabilities() >> cap & 1)


def is_privileged() -> bool:
    """True when bpf() program/map creation is allowed: CAP_BPF or CAP_SYS_ADMIN."""
    caps = effective_capabilities()
    return bool(caps >> CAP_SYS_ADMIN & 1 or caps >> CAP_BPF & 1)


LOCKDOWN_PATH = "/sys/kernel/security/lockdown"


def lockdown_mode(path: str = LOCKDOWN_PATH) -> str | None:
    """The active kernel lockdown mode (``none``, ``integrity``, ``confidentiality``).

    The file lists every mode with the active one in brackets
    (``none [integrity] confidentiality``).  None when it is absent:
    securityfs is not mounted, or the kernel has no lockdown LSM.
    """
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    if 0 <= start < end:
        return text[start + 1 : end].strip() or None
    return text.strip() or None


def describe_lockdown(path: str = LOCKDOWN_PATH) -> str:
    """One clause for error messages: what lockdown says about an EPERM from a privileged process."""
    mode = lockdown_mode(path)
    if mode is None:
        return (f"{path} is absent (no lockdown LSM, or securityfs not mounted), so another LSM "
                "or the kernel's build refuses it")
    if mode == "none":
        return f"kernel lockdown is 'none' ({path}), so another LSM or the kernel's build refuses it"
    return f"kernel lockdown is '{mode}' ({path})"
