"""The Loader's veth option (issue 14, item 4): XDP and tc on a veth pair in a namespace of its own.

Ticking the box makes the attach step create a private network namespace
with a veth pair (names unique per process and call), attach XDP and tc to
one end, show where, and detach on reset; reset, close, garbage collection
and interpreter exit remove the namespace with both ends.
"""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from bpfnb import examples

pytest.importorskip("ipywidgets")

from bpfnb.display.netns import VethSandbox  # noqa: E402
from bpfnb.widgets import Loader  # noqa: E402


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _link(netns: str, name: str) -> str:
    return subprocess.run(["ip", "-n", netns, "-d", "link", "show", name], capture_output=True, text=True).stdout


@pytest.mark.kernel
def test_sandbox_names_are_unique_and_it_is_removed_however_it_ends():
    a, b = VethSandbox.create(), VethSandbox.create()
    try:
        assert len({a.netns, b.netns}) == 2 and len({a.interface, b.interface, a.peer, b.peer}) == 4
        assert all(len(n) <= 15 for n in (a.interface, a.peer))  # IFNAMSIZ
        assert {a.netns, b.netns} <= _netns()
        assert "state UP" in _link(a.netns, a.interface) or "LOWER_UP" in _link(a.netns, a.interface)
        assert f"{a.interface}@{a.peer}" in _link(a.netns, a.interface)
        a.remove()
        a.remove()  # idempotent
        assert a.removed and a.netns not in _netns()
        name = b.netns
        del b
        gc.collect()
        assert name not in _netns()  # collected: the finalizer removed it
    finally:
        a.remove()
    # at interpreter exit
    code = ("from bpfnb.display.netns import VethSandbox; s = VethSandbox.create(); print(s.netns, flush=True); "
            "")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() and proc.stdout.strip() not in _netns()


@pytest.mark.kernel
def test_loader_attaches_xdp_and_tc_to_the_veth_pair_and_reset_removes_it():
    from helpers import kernel_feature

    w = Loader(examples.path("packet_counter"))
    try:
        w.veth.value = True
        with kernel_feature("tcx"):
            w.attach()
            if "tc_count" in w.attach_errors:
                raise w.attach_errors["tc_count"]
        sandbox = w.sandbox
        assert sandbox is not None and sandbox.netns in _netns()
        assert set(w.attachments) == {"xdp_count", "tc_count"}
        assert w.attach_button.description == "attached 2" and "xdp_count" in w.attach_button.tooltip
        shown = w.attach_output.value
        assert f"XDP and tc attach to {sandbox.interface} (veth to {sandbox.peer}) in netns {sandbox.netns}" in shown
        assert shown.count(f"{sandbox.interface} in netns {sandbox.netns}") == 2  # each program's row says where
        assert "xdp" in _link(sandbox.netns, sandbox.interface)
        w.detach_button.click()
        assert not w.attachments and "prog/xdp" not in _link(sandbox.netns, sandbox.interface)
        assert sandbox.netns in _netns()  # detach keeps the pair for the next attach
        w.attach()
        assert w.sandbox is sandbox and set(w.attachments) == {"xdp_count", "tc_count"}
        w.reset_button.click()
        assert w.sandbox is None and not w.attachments and sandbox.netns not in _netns()
        assert w.attach_output.value == "" and w.attach_button.description == "attach"
    finally:
        w.close()
    assert w.sandbox is None


def test_veth_option_is_in_the_form_and_a_dry_run_makes_no_namespace():
    import os

    ours = f"bpfnb-widget-{os.getpid() % 10000:04d}"  # other engineers' namespaces come and go meanwhile
    w = Loader(examples.path("packet_counter"), dry_run=True)
    w.veth.value = True
    w.attach()
    assert "attaching needs CAP_BPF" in w.attach_output.value and w.sandbox is None
    assert not any(n.startswith(ours) for n in _netns())
    w.close()
