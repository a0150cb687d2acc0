"""A throwaway network for the Loader widget: a veth pair in a private namespace.

Attaching XDP or tc to a real interface of a shared machine changes its
traffic; a veth pair inside a namespace of its own changes nothing else.
Names are unique per process and call (two notebooks, a test beside a
notebook never collide), short enough for ``IFNAMSIZ``, and the namespace,
with both veth ends, goes away on :meth:`VethSandbox.remove`, when the
object is collected, or at interpreter exit, whichever comes first.
Made with ``ip`` (iproute2), as a user would by hand.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import subprocess
import weakref
from dataclasses import dataclass, field

from ..errors import KernelError

__all__ = ["VethSandbox"]


def _ip(*args: str) -> None:
    try:
        proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise KernelError(errno.ENOENT, "ip " + " ".join(args), "iproute2's ip is not installed",
                          hint="apt-get install iproute2") from None
    if proc.returncode:
        message = proc.stderr.strip() or f"exit status {proc.returncode}"
        err = errno.EPERM if "Operation not permitted" in message else errno.EINVAL
        raise KernelError(err, "ip " + " ".join(args), message)


def _delete(netns: str) -> None:
    """Remove ``netns`` (and the veth pair inside it); quiet when it is already gone."""
    if shutil.which("ip") is not None:
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=30)


@dataclass
class VethSandbox:
    """``interface`` and ``peer``: the two ends of a veth pair, both up, inside ``netns``."""

    netns: str
    interface: str
    peer: str
    _finalizer: weakref.finalize = field(init=False, repr=False, compare=False)

    @classmethod
    def create(cls) -> VethSandbox:
        token = f"{os.getpid() % 10000:04d}{secrets.token_hex(2)}"
        sandbox = cls(f"bpfnb-widget-{token}", f"bw{token}a", f"bw{token}b")
        sandbox._finalizer = weakref.finalize(sandbox, _delete, sandbox.netns)  # also runs at exit
        try:
            _ip("netns", "add", sandbox.netns)
            _ip("-n", sandbox.netns, "link", "add", sandbox.interface, "type", "veth", "peer", "name", sandbox.peer)
            for name in ("lo", sandbox.interface, sandbox.peer):
                _ip("-n", sandbox.netns, "link", "set", name, "up")
        except BaseException:
            sandbox.remove()
            raise
        return sandbox

    @property
    def removed(self) -> bool:
        return not self._finalizer.alive

    def remove(self) -> None:
        """Delete the namespace and both veth ends (idempotent)."""
        self._finalizer()

    def __str__(self) -> str:
        return f"{self.interface} (veth to {self.peer}) in netns {self.netns}"
