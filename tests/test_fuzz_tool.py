"""tools/fuzz.py (``make fuzz``) ends cleanly on Ctrl-C: a report, exit 130, its memory cgroup removed.

A campaign is minutes long and people interrupt it; before, Ctrl-C skipped
the cgroup's removal and left ``bpfnb-fuzz-<pid>`` under the memory
hierarchy for good.  The whole process group gets the SIGINT, as a
terminal sends it, so the workers see it too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bpfnb.kernel import memory

ROOT = Path(__file__).resolve().parent.parent


def _cgroup_dirs(pid: int) -> list[Path]:
    name = f"bpfnb-fuzz-{pid}"
    root = Path(memory.CGROUP_ROOT)
    return [p for p in (root / name, root / "memory" / name) if p.is_dir()]


def _interruptible() -> None:
    os.setsid()  # its own process group, as a terminal's foreground job
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a non-interactive shell may start us with SIGINT ignored


@pytest.mark.kernel
def test_ctrl_c_reports_and_removes_the_workers_cgroup():
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "fuzz.py"), "--minutes", "5"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_interruptible)
    try:
        deadline = time.monotonic() + 120  # a bound on start-up, not a timing assertion
        while not _cgroup_dirs(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        made = _cgroup_dirs(proc.pid)
        if not made:
            proc.kill()
            out, err = proc.communicate(timeout=60)
            if "no memory cgroup" in err:
                pytest.skip(f"no memory cgroup for the workers: {err.strip()}")
            pytest.fail(f"fuzz made no cgroup: rc {proc.returncode}\n{out}\n{err}")
        time.sleep(3)  # inputs in flight, a worker in the cgroup
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert "fuzz: interrupted" in err and "Traceback" not in err, err
    assert "fuzz: tried " in out and "untyped 0 / crashes 0 / hangs 0 / fd leaks 0" in out, out
    assert not any(p.exists() for p in made), made
