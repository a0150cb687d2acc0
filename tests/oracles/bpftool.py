"""bpftool as a test oracle: the one wrapper every test runs it through.

``bpftool(...)`` runs ``bpftool -j ARGS`` (inside a network namespace with
``netns=``) and returns the parsed JSON, or the text with ``json=False``;
without bpftool the calling test skips, as an oracle that is missing cannot
judge.  bpfnb itself never runs bpftool.
"""

from __future__ import annotations

import json as _json
import os
import shutil
import subprocess
from typing import Any

#: The bpftool binary (Debian installs it in /usr/sbin, often outside a user's PATH).
BPFTOOL = shutil.which("bpftool") or next((p for p in ("/usr/sbin/bpftool",) if os.access(p, os.X_OK)), None)


def bpftool(*args: str, netns: str | None = None, json: bool = True, timeout: float = 120) -> Any:
    """``bpftool -j *args``, parsed (``json=False``: the text output)."""
    import pytest

    if BPFTOOL is None:
        pytest.skip("bpftool (test oracle) not installed: apt-get install bpftool")
    cmd = [BPFTOOL, *(["-j"] if json else []), *args]
    if netns is not None:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout).stdout
    if not json:
        return out
    return _json.loads(out) if out.strip() else []  # bpftool prints nothing for an empty list


def link_ids() -> set[int]:
    """Ids of every link of the system, as ``bpftool link show`` lists them."""
    return {entry["id"] for entry in bpftool("link", "show")}
